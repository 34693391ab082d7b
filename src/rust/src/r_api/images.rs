//! `.Call` shims for image files (see `io/image.rs`). Pixels cross the boundary as R integer
//! arrays `(height, width, channels)`, column-major.

use crate::error::{RkError, RkResult};
use crate::io::affine;
use crate::io::image::{self, ColorMode, Filter, Pixels};
use extendr_api::prelude::*;

type Ret = std::result::Result<Robj, RkError>;

/// R's column-major values of an image.
fn to_r(p: &Pixels) -> Robj {
    let (h, w, c) = (p.height, p.width, p.channels);
    let mut out = vec![0i32; h * w * c];
    for i in 0..h {
        for j in 0..w {
            for k in 0..c {
                out[i + h * (j + w * k)] = p.data[(i * w + j) * c + k] as i32;
            }
        }
    }
    let mut r = Robj::from(out);
    let _ = r.set_attrib("dim", Robj::from(vec![h as i32, w as i32, c as i32]));
    r
}

/// An image from R's column-major values and their `dim`.
fn from_r(values: &[i32], dim: &[i32]) -> RkResult<Pixels> {
    let &[h, w, c] = dim else {
        return Err(RkError::Value("an image must have 3 dimensions".into()));
    };
    let (h, w, c) = (h as usize, w as usize, c as usize);
    if values.len() != h * w * c {
        return Err(RkError::Internal(
            "image values do not match their dim".into(),
        ));
    }
    let mut data = vec![0u16; values.len()];
    for i in 0..h {
        for j in 0..w {
            for k in 0..c {
                data[(i * w + j) * c + k] = values[i + h * (j + w * k)].clamp(0, 65535) as u16;
            }
        }
    }
    let wide = data.iter().any(|&v| v > 255);
    Ok(Pixels {
        height: h,
        width: w,
        channels: c,
        wide,
        data,
    })
}

/// The pixels of an image file's bytes in `color_mode` (an integer array).
#[extendr]
fn rk_image_decode(bytes: Raw, color_mode: &str) -> Ret {
    let mode = ColorMode::parse(color_mode)?;
    crate::r_api::model::quiet_panics();
    let p = std::panic::catch_unwind(|| image::decode(bytes.as_slice(), mode))
        .unwrap_or_else(|_| Err(RkError::Value("the image file is damaged".into())))?;
    Ok(to_r(&p))
}

/// An image (integer array) resized to `size` (height, width) with `interpolation`, from
/// the source box `crop` (left, top, right, bottom; empty for the whole image).
#[extendr]
fn rk_image_resize(
    values: &[i32],
    dim: &[i32],
    size: &[i32],
    interpolation: &str,
    crop: &[i32],
) -> Ret {
    let p = from_r(values, dim)?;
    let f = Filter::parse(interpolation)?;
    let crop = match crop {
        [l, t, r, b] => Some([*l as usize, *t as usize, *r as usize, *b as usize]),
        _ => None,
    };
    let out = image::resize(&p, (size[0] as usize, size[1] as usize), f, crop)?;
    Ok(to_r(&out))
}

/// The bytes of an image file of `format` ("png", "jpeg", "bmp", "gif") or of the format
/// that file name `name` implies.
#[extendr]
fn rk_image_encode(values: &[i32], dim: &[i32], name: &str) -> Ret {
    let p = from_r(values, dim)?;
    let bytes = image::encode(&p, image::format_of(name)?)?;
    Ok(Raw::from_bytes(&bytes).into())
}

/// Keras's `array_to_img()` values: with `scale`, shifted to a minimum of 0 and stretched to
/// a maximum of 255, in single precision; then cast to 8 bits as NumPy's `astype("uint8")`
/// (truncation, wrapping out of range) unless above 255 (kept for the caller to refuse).
#[extendr]
fn rk_image_from_array(values: &[f64], dim: &[i32], scale: bool) -> Ret {
    let mut x: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    if scale && !x.is_empty() {
        let min = x.iter().copied().fold(f32::INFINITY, f32::min);
        x.iter_mut().for_each(|v| *v -= min);
        let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if max != 0.0 {
            x.iter_mut().for_each(|v| *v /= max);
        }
        x.iter_mut().for_each(|v| *v *= 255.0);
    }
    // Keras keeps values above 255 (a 32-bit image) for one channel only; colour images
    // are cast to 8 bits, which wraps them.
    let wide = dim.last() == Some(&1) && x.iter().any(|&v| v > 255.0);
    let out: Vec<i32> = x
        .iter()
        .map(|&v| {
            let t = v.clamp(i32::MIN as f32, i32::MAX as f32) as i64;
            if wide {
                t as i32
            } else {
                (t & 0xff) as i32
            }
        })
        .collect();
    let mut r = Robj::from(out);
    let _ = r.set_attrib("dim", Robj::from(dim.to_vec()));
    Ok(r)
}

/// Keras 2's `ImageDataGenerator` resampling of a batch `(samples, height, width,
/// channels)`: image `i` reads its input at `A o + b`, `params` the `samples x 6` matrix of
/// `a00 a01 a10 a11 b0 b1`; images with `skip` set are left as they are.
#[extendr]
fn rk_image_affine(
    values: &[f64],
    dim: &[i32],
    params: &[f64],
    skip: &[Rbool],
    fill_mode: &str,
    cval: f64,
) -> Ret {
    let &[n, h, w, c] = dim else {
        return Err(RkError::Value(
            "a batch of images must have 4 dimensions".into(),
        ));
    };
    let mode = affine::FillMode::parse(fill_mode)?;
    let skip: Vec<bool> = skip.iter().map(|b| b.is_true()).collect();
    let dims = [n as usize, h as usize, w as usize, c as usize];
    let out = affine::affine_batch(values, dims, params, &skip, mode, cval)?;
    let mut r = Robj::from(out);
    let _ = r.set_attrib("dim", Robj::from(dim.to_vec()));
    Ok(r)
}

/// Keras's brightness shift of each image of a batch by `factors` (NaN: unchanged).
#[extendr]
fn rk_image_brightness(values: &[f64], dim: &[i32], factors: &[f64]) -> Ret {
    let &[n, h, w, c] = dim else {
        return Err(RkError::Value(
            "a batch of images must have 4 dimensions".into(),
        ));
    };
    let dims = [n as usize, h as usize, w as usize, c as usize];
    let mut r = Robj::from(affine::brightness_batch(values, dims, factors)?);
    let _ = r.set_attrib("dim", Robj::from(dim.to_vec()));
    Ok(r)
}

extendr_module! {
    mod rk_images_api;
    fn rk_image_brightness;
    fn rk_image_affine;
    fn rk_image_decode;
    fn rk_image_resize;
    fn rk_image_encode;
    fn rk_image_from_array;
}
