//! Image files as Keras reads and writes them (`keras.utils.load_img`, `save_img`), which is
//! as Pillow does: PNG, JPEG, BMP, GIF and PPM/PGM decoded by the `image` crate, then converted to the
//! asked colour mode with Pillow's formulas and resized with Pillow's resampling filters in
//! Pillow's fixed-point arithmetic, so that 8-bit results equal Pillow's bit for bit.
//!
//! Pixels are kept row-major, `[height, width, channels]`, as integers (0-255; 16-bit
//! grayscale PNGs keep 0-65535, as Pillow's `I;16` mode).

use crate::error::{RkError, RkResult};
use image::{DynamicImage, ExtendedColorType, ImageFormat};
use std::io::Cursor;

/// A decoded image: `data` row-major `[height, width, channels]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Pixels {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    /// Whether the values are 16-bit (a 16-bit grayscale file in grayscale mode).
    pub wide: bool,
    pub data: Vec<u16>,
}

/// Keras's `color_mode`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ColorMode {
    Grayscale,
    Rgb,
    Rgba,
}

impl ColorMode {
    pub fn parse(s: &str) -> RkResult<ColorMode> {
        match s {
            "grayscale" => Ok(ColorMode::Grayscale),
            "rgb" => Ok(ColorMode::Rgb),
            "rgba" => Ok(ColorMode::Rgba),
            other => Err(RkError::Value(format!(
                "`color_mode` must be \"grayscale\", \"rgb\" or \"rgba\", not \"{other}\""
            ))),
        }
    }
}

/// Pillow's luma of an RGB pixel (`L = R 299/1000 + G 587/1000 + B 114/1000`, fixed point).
fn luma(r: u16, g: u16, b: u16) -> u16 {
    ((r as u32 * 19595 + g as u32 * 38470 + b as u32 * 7471 + 0x8000) >> 16) as u16
}

/// Decode an image file's bytes and convert it to `mode` as Keras's `load_img` does.
pub fn decode(bytes: &[u8], mode: ColorMode) -> RkResult<Pixels> {
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| RkError::Value(format!("cannot read the image: {e}")))?;
    if reader.format().is_none() {
        return Err(RkError::Value(
            "not an image file rkeras can read (PNG, JPEG, BMP or GIF)".into(),
        ));
    }
    if reader.format() == Some(ImageFormat::Jpeg) && !jpeg_complete(bytes) {
        return Err(RkError::Value(
            "the JPEG file is truncated (its last scan has no end-of-image marker)".into(),
        ));
    }
    let img = reader
        .decode()
        .map_err(|e| RkError::Value(format!("cannot decode the image: {e}")))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    // The file's own pixels as 8-bit L, LA, RGB or RGBA, or 16-bit L.
    let (channels, src): (usize, Vec<u16>) = match &img {
        DynamicImage::ImageLuma16(b) if mode == ColorMode::Grayscale => {
            return Ok(Pixels {
                height: h,
                width: w,
                channels: 1,
                wide: true,
                data: b.as_raw().clone(),
            });
        }
        // Pillow's `I;16` to RGB(A) clips at 255.
        DynamicImage::ImageLuma16(b) => (1, b.as_raw().iter().map(|&v| v.min(255)).collect()),
        DynamicImage::ImageLuma8(b) => (1, widen(b.as_raw())),
        DynamicImage::ImageLumaA8(b) => (2, widen(b.as_raw())),
        DynamicImage::ImageRgb8(b) => (3, widen(b.as_raw())),
        DynamicImage::ImageRgba8(b) => (4, widen(b.as_raw())),
        other if other.color().has_alpha() => (4, widen(other.to_rgba8().as_raw())),
        other if other.color().has_color() => (3, widen(other.to_rgb8().as_raw())),
        other => (2, widen(other.to_luma_alpha8().as_raw())),
    };
    let out_c = match mode {
        ColorMode::Grayscale => 1,
        ColorMode::Rgb => 3,
        ColorMode::Rgba => 4,
    };
    let mut data = Vec::with_capacity(w * h * out_c);
    for px in src.chunks_exact(channels) {
        let (rgb, alpha) = match channels {
            1 => ([px[0]; 3], 255),
            2 => ([px[0]; 3], px[1]),
            3 => ([px[0], px[1], px[2]], 255),
            _ => ([px[0], px[1], px[2]], px[3]),
        };
        match mode {
            // Pillow takes L and LA's luma as it is, and computes it from colour.
            ColorMode::Grayscale if channels <= 2 => data.push(px[0]),
            ColorMode::Grayscale => data.push(luma(rgb[0], rgb[1], rgb[2])),
            ColorMode::Rgb => data.extend_from_slice(&rgb),
            ColorMode::Rgba => {
                data.extend_from_slice(&rgb);
                data.push(alpha);
            }
        }
    }
    Ok(Pixels {
        height: h,
        width: w,
        channels: out_c,
        wide: false,
        data,
    })
}

/// Whether a JPEG's last scan is followed by its end-of-image marker. (Inside a scan a 0xFF
/// byte is followed by 0x00 or a restart marker, so neither marker occurs by chance.) The
/// decoder fills a truncated file with gray where Pillow refuses it.
fn jpeg_complete(b: &[u8]) -> bool {
    let sos = b.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    let eoi = b.windows(2).rposition(|w| w == [0xFF, 0xD9]);
    matches!((sos, eoi), (Some(s), Some(e)) if e > s)
}

fn widen(v: &[u8]) -> Vec<u16> {
    v.iter().map(|&x| x as u16).collect()
}

/// Pillow's resampling filters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Filter {
    Nearest,
    Box,
    Bilinear,
    Hamming,
    Bicubic,
    Lanczos,
}

impl Filter {
    pub fn parse(s: &str) -> RkResult<Filter> {
        Ok(match s {
            "nearest" => Filter::Nearest,
            "box" => Filter::Box,
            "bilinear" => Filter::Bilinear,
            "hamming" => Filter::Hamming,
            "bicubic" => Filter::Bicubic,
            "lanczos" => Filter::Lanczos,
            other => {
                return Err(RkError::Value(format!(
                "`interpolation` must be one of \"nearest\", \"bilinear\", \"bicubic\", \"hamming\", \"box\" or \"lanczos\", not \"{other}\""
            )))
            }
        })
    }

    fn support(self) -> f64 {
        match self {
            Filter::Nearest | Filter::Box => 0.5,
            Filter::Bilinear | Filter::Hamming => 1.0,
            Filter::Bicubic => 2.0,
            Filter::Lanczos => 3.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        let sinc = |x: f64| {
            if x == 0.0 {
                1.0
            } else {
                let x = x * std::f64::consts::PI;
                x.sin() / x
            }
        };
        match self {
            Filter::Nearest | Filter::Box => {
                if x > -0.5 && x <= 0.5 {
                    1.0
                } else {
                    0.0
                }
            }
            Filter::Bilinear => (1.0 - x.abs()).max(0.0),
            Filter::Hamming => {
                let x = x.abs();
                if x == 0.0 {
                    1.0
                } else if x >= 1.0 {
                    0.0
                } else {
                    let x = x * std::f64::consts::PI;
                    x.sin() / x * (0.54 + 0.46 * x.cos())
                }
            }
            Filter::Bicubic => {
                let (a, x) = (-0.5, x.abs());
                if x < 1.0 {
                    ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * a
                } else {
                    0.0
                }
            }
            Filter::Lanczos => {
                if (-3.0..3.0).contains(&x) {
                    sinc(x) * sinc(x / 3.0)
                } else {
                    0.0
                }
            }
        }
    }
}

/// Pillow's fixed-point precision of 8-bit resampling.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Per output position: the first input position read and the weights (Pillow's
/// `precompute_coeffs`), over the input span `[in0, in1)` of an axis of `in_size`.
fn coefficients(
    in_size: usize,
    (in0, in1): (f64, f64),
    out: usize,
    f: Filter,
) -> Vec<(usize, Vec<f64>)> {
    let scale = (in1 - in0) / out as f64;
    let fscale = scale.max(1.0);
    let support = f.support() * fscale;
    (0..out)
        .map(|xx| {
            let center = in0 + (xx as f64 + 0.5) * scale;
            let ss = 1.0 / fscale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64)
                .min(in_size as i64)
                .max(xmin as i64) as usize;
            let mut k: Vec<f64> = (xmin..xmax)
                .map(|x| f.weight((x as f64 - center + 0.5) * ss))
                .collect();
            let ww: f64 = k.iter().sum();
            if ww != 0.0 {
                k.iter_mut().for_each(|w| *w /= ww);
            }
            (xmin, k)
        })
        .collect()
}

/// Resample one axis: `n_outer` runs of `len` positions, `stride` values apart, each
/// position holding `inner` values. `wide` values (16-bit) are computed in floating point.
fn resample_axis(
    src: &[u16],
    (outer, len, inner): (usize, usize, usize),
    coeffs: &[(usize, Vec<f64>)],
    wide: bool,
) -> Vec<u16> {
    let out_len = coeffs.len();
    let mut dst = vec![0u16; outer * out_len * inner];
    let fixed: Vec<(usize, Vec<i64>)> = coeffs
        .iter()
        .map(|(xmin, k)| {
            let one = (1u64 << PRECISION_BITS) as f64;
            let kk = k
                .iter()
                .map(|&w| {
                    if w < 0.0 {
                        (-0.5 + w * one) as i64
                    } else {
                        (0.5 + w * one) as i64
                    }
                })
                .collect();
            (*xmin, kk)
        })
        .collect();
    for o in 0..outer {
        let s = &src[o * len * inner..(o + 1) * len * inner];
        let d = &mut dst[o * out_len * inner..(o + 1) * out_len * inner];
        for (xx, ((xmin, k), (_, kf))) in fixed.iter().zip(coeffs).enumerate() {
            for c in 0..inner {
                let v = if wide {
                    let acc: f64 = kf
                        .iter()
                        .enumerate()
                        .map(|(x, w)| s[(xmin + x) * inner + c] as f64 * w)
                        .sum();
                    acc.round().clamp(0.0, 65535.0) as u16
                } else {
                    let mut acc: i64 = 1 << (PRECISION_BITS - 1);
                    for (x, &w) in k.iter().enumerate() {
                        acc += s[(xmin + x) * inner + c] as i64 * w;
                    }
                    (acc >> PRECISION_BITS).clamp(0, 255) as u16
                };
                d[xx * inner + c] = v;
            }
        }
    }
    dst
}

/// Pillow's `resize((width, height), filter, box)`: `crop` is the source box `(left, top,
/// right, bottom)`, the whole image when `None`.
pub fn resize(
    p: &Pixels,
    (height, width): (usize, usize),
    f: Filter,
    crop: Option<[usize; 4]>,
) -> RkResult<Pixels> {
    if height == 0 || width == 0 {
        return Err(RkError::Value("the target size must be positive".into()));
    }
    let [l, t, r, b] = crop.unwrap_or([0, 0, p.width, p.height]);
    let c = p.channels;
    if f == Filter::Nearest {
        // Pillow's scaling affine map from pixel centres: 8-bit images accumulate the
        // positions step by step in double precision (its rounding decides ties such as
        // 12.5 * 0.64); 16-bit ones (its generic transform) compute each one.
        let (sx, sy) = (
            (r - l) as f64 / width as f64,
            (b - t) as f64 / height as f64,
        );
        let positions = |n: usize, start: usize, step: f64, len: usize| -> Vec<usize> {
            let mut acc = start as f64 + step * 0.5;
            (0..n)
                .map(|i| {
                    let v = if p.wide {
                        (i as f64 + 0.5) * step + start as f64
                    } else {
                        let v = acc;
                        acc += step;
                        v
                    };
                    (v.max(0.0) as usize).min(len - 1)
                })
                .collect()
        };
        let xs = positions(width, l, sx, p.width);
        let ys = positions(height, t, sy, p.height);
        let mut data = Vec::with_capacity(height * width * c);
        for &iy in &ys {
            for &ix in &xs {
                data.extend_from_slice(&p.data[(iy * p.width + ix) * c..][..c]);
            }
        }
        return Ok(Pixels {
            height,
            width,
            data,
            ..p.clone()
        });
    }
    // Pillow resamples RGBA with its colours premultiplied by alpha (mode RGBa).
    if c == 4 && !p.wide {
        let pre = Pixels {
            data: p
                .data
                .chunks_exact(4)
                .flat_map(|px| {
                    let a = px[3] as u32;
                    let m = |v: u16| {
                        let t = v as u32 * a + 128;
                        (((t >> 8) + t) >> 8) as u16
                    };
                    [m(px[0]), m(px[1]), m(px[2]), px[3]]
                })
                .collect(),
            ..p.clone()
        };
        let mut out = resize_filtered(&pre, (height, width), f, [l, t, r, b]);
        for px in out.data.chunks_exact_mut(4) {
            let a = px[3] as u32;
            if a != 0 && a != 255 {
                for v in &mut px[..3] {
                    *v = ((255 * *v as u32) / a).min(255) as u16;
                }
            }
        }
        return Ok(out);
    }
    Ok(resize_filtered(p, (height, width), f, [l, t, r, b]))
}

/// Resampling with a filter: Pillow's two passes.
fn resize_filtered(
    p: &Pixels,
    (height, width): (usize, usize),
    f: Filter,
    [l, t, r, b]: [usize; 4],
) -> Pixels {
    let c = p.channels;
    // Horizontal pass first, then vertical, each rounded to integers, as Pillow.
    let mut data = p.data.clone();
    let mut cur_w = p.width;
    if width != p.width || l != 0 || r != p.width {
        let k = coefficients(p.width, (l as f64, r as f64), width, f);
        data = resample_axis(&data, (p.height, p.width, c), &k, p.wide);
        cur_w = width;
    }
    if height != p.height || t != 0 || b != p.height {
        let k = coefficients(p.height, (t as f64, b as f64), height, f);
        data = resample_axis(&data, (1, p.height, cur_w * c), &k, p.wide);
    }
    Pixels {
        height,
        width,
        data,
        ..p.clone()
    }
}

/// The file format of `path`'s extension, as Pillow picks it.
pub fn format_of(name: &str) -> RkResult<ImageFormat> {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "png" => Ok(ImageFormat::Png),
        "jpg" | "jpeg" | "jpe" => Ok(ImageFormat::Jpeg),
        "bmp" => Ok(ImageFormat::Bmp),
        "gif" => Ok(ImageFormat::Gif),
        _ => Err(RkError::Value(format!(
            "cannot tell the image format of \"{name}\": use a .png, .jpg, .bmp or .gif file or give `file_format`"
        ))),
    }
}

/// Encode 8-bit pixels (1, 3 or 4 channels) as `format`. JPEG drops an alpha channel (as
/// Keras's `save_img`); GIF stores gray as RGB.
pub fn encode(p: &Pixels, format: ImageFormat) -> RkResult<Vec<u8>> {
    let mut c = p.channels;
    let mut bytes: Vec<u8> = p.data.iter().map(|&v| v.min(255) as u8).collect();
    if format == ImageFormat::Jpeg && c == 4 {
        bytes = bytes
            .chunks_exact(4)
            .flat_map(|px| px[..3].to_vec())
            .collect();
        c = 3;
    }
    if format == ImageFormat::Gif && c == 1 {
        bytes = bytes.iter().flat_map(|&v| [v, v, v]).collect();
        c = 3;
    }
    let color = match c {
        1 => ExtendedColorType::L8,
        3 => ExtendedColorType::Rgb8,
        4 => ExtendedColorType::Rgba8,
        other => {
            return Err(RkError::Value(format!(
                "an image must have 1, 3 or 4 channels, not {other}"
            )))
        }
    };
    let mut out = Cursor::new(Vec::new());
    image::write_buffer_with_format(
        &mut out,
        &bytes,
        p.width as u32,
        p.height as u32,
        color,
        format,
    )
    .map_err(|e| RkError::Value(format!("cannot encode the image: {e}")))?;
    Ok(out.into_inner())
}

#[cfg(test)]
#[path = "image_tests.rs"]
mod tests;
