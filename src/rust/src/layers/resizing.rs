//! Resizing and CenterCrop (image preprocessing layers), as Keras 3 computes them with
//! `jax.image.resize()`: each output pixel samples the input at `(i + 0.5) * in / out - 0.5`
//! through a kernel (triangle for bilinear, Keys's cubic with a = -0.5, Lanczos 3 and 5)
//! whose weights are normalised over the pixels inside the image, widened by the scale
//! when downsampling with `antialias`; nearest takes pixel `floor((i + 0.5) * in / out)`.
//! `crop_to_aspect_ratio` first takes the largest centred window of the target's aspect
//! ratio; `pad_to_aspect_ratio` pads both sides of one axis with `fill_value`, as Keras does.
//! CenterCrop cuts the centred window when the image is at least the target's size in both
//! axes, and otherwise resizes bilinearly with the aspect-ratio crop (Keras's
//! `smart_resize()`). Both are linear maps: backward is their transpose.
//!
//! # Shapes
//! `[batch, height, width, channels]` -> `[batch, target height, target width, channels]`.

use super::{Cache, Ctx, Layer, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Filter {
    Nearest,
    Bilinear,
    Bicubic,
    Lanczos3,
    Lanczos5,
}

impl Filter {
    pub(super) fn parse(class: &str, name: &str) -> RkResult<Filter> {
        Ok(match name {
            "nearest" => Filter::Nearest,
            "bilinear" => Filter::Bilinear,
            "bicubic" => Filter::Bicubic,
            "lanczos3" => Filter::Lanczos3,
            "lanczos5" => Filter::Lanczos5,
            other => {
                return Err(RkError::Unsupported(format!(
                    "{class} `interpolation = \"{other}\"` is not supported by rkeras (one of \"bilinear\", \"nearest\", \"bicubic\", \"lanczos3\", \"lanczos5\")"
                )))
            }
        })
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Filter::Nearest => "nearest",
            Filter::Bilinear => "bilinear",
            Filter::Bicubic => "bicubic",
            Filter::Lanczos3 => "lanczos3",
            Filter::Lanczos5 => "lanczos5",
        }
    }

    /// The kernel's half-width and its value at distance `x >= 0` (JAX's kernels).
    fn support(self) -> f64 {
        match self {
            Filter::Nearest | Filter::Bilinear => 1.0,
            Filter::Bicubic => 2.0,
            Filter::Lanczos3 => 3.0,
            Filter::Lanczos5 => 5.0,
        }
    }

    fn kernel(self, x: f64) -> f64 {
        use std::f64::consts::PI;
        match self {
            Filter::Nearest | Filter::Bilinear => (1.0 - x).max(0.0),
            Filter::Bicubic if x >= 2.0 => 0.0,
            Filter::Bicubic if x >= 1.0 => ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0,
            Filter::Bicubic => ((1.5 * x - 2.5) * x) * x + 1.0,
            Filter::Lanczos3 | Filter::Lanczos5 => {
                let r = self.support();
                if x > r {
                    0.0
                } else if x > 1e-3 {
                    r * (PI * x).sin() * (PI * x / r).sin() / (PI * PI * x * x)
                } else {
                    1.0
                }
            }
        }
    }
}

/// One axis's map: a window of the input (`start`, `len`) with `pad` fill positions on
/// both sides, and for each output position its taps (position in the padded window,
/// weight).
#[derive(Debug)]
struct Axis {
    start: usize,
    len: usize,
    pad: usize,
    taps: Vec<Vec<(usize, f32)>>,
}

impl Axis {
    /// The input position of window position `r`, or `None` in the padding.
    fn source(&self, r: usize) -> Option<usize> {
        (r >= self.pad && r < self.pad + self.len).then(|| self.start + r - self.pad)
    }

    /// Output `o` as window position `o` (a crop).
    fn window(start: usize, len: usize) -> Axis {
        let taps = (0..len).map(|o| vec![(o, 1.0)]).collect();
        Axis {
            start,
            len,
            pad: 0,
            taps,
        }
    }

    /// The window (`start`, `len`, `pad` each side) resampled to `out` positions.
    fn resample(
        (start, len, pad): (usize, usize, usize),
        out: usize,
        filter: Filter,
        antialias: bool,
    ) -> Axis {
        let m = len + 2 * pad;
        let taps = match filter {
            Filter::Nearest => (0..out)
                .map(|i| {
                    let at = ((i as f32 + 0.5) * m as f32 / out as f32).floor() as usize;
                    vec![(at.min(m - 1), 1.0)]
                })
                .collect(),
            _ => {
                let scale = out as f64 / m as f64;
                let widen = if antialias {
                    (1.0 / scale).max(1.0)
                } else {
                    1.0
                };
                let reach = filter.support() * widen;
                (0..out)
                    .map(|i| {
                        let at = (i as f64 + 0.5) / scale - 0.5;
                        let lo = (at - reach).floor().max(0.0) as usize;
                        let hi = ((at + reach).ceil() as usize).min(m - 1);
                        let w: Vec<(usize, f64)> = (lo..=hi)
                            .map(|j| (j, filter.kernel((at - j as f64).abs() / widen)))
                            .filter(|&(_, w)| w != 0.0)
                            .collect();
                        let total: f64 = w.iter().map(|&(_, w)| w).sum();
                        if total.abs() <= 1000.0 * f32::EPSILON as f64 {
                            return Vec::new();
                        }
                        w.into_iter()
                            .map(|(j, w)| (j, (w / total) as f32))
                            .collect()
                    })
                    .collect()
            }
        };
        Axis {
            start,
            len,
            pad,
            taps,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Resizing {
    class: &'static str,
    height: usize,
    width: usize,
    filter: Filter,
    crop_to_aspect_ratio: bool,
    pad_to_aspect_ratio: bool,
    fill_value: f32,
    antialias: bool,
}

fn flag(c: &Value, class: &str, key: &str) -> RkResult<bool> {
    super::field_or(c, class, key, Some(false)).map(|v| v.unwrap_or(false))
}

impl Resizing {
    pub fn from_config(class: &str, c: &Value) -> RkResult<Resizing> {
        let class: &'static str = if class == "CenterCrop" {
            "CenterCrop"
        } else {
            "Resizing"
        };
        super::channels_last(c, class)?;
        let size = |key: &str| -> RkResult<usize> {
            let v: usize = super::field(c, class, key)?;
            if v == 0 {
                return Err(RkError::Spec(format!("{class} `{key}` must be at least 1")));
            }
            Ok(v)
        };
        let (height, width) = (size("height")?, size("width")?);
        if class == "CenterCrop" {
            return Ok(Resizing {
                class,
                height,
                width,
                filter: Filter::Bilinear,
                crop_to_aspect_ratio: true,
                pad_to_aspect_ratio: false,
                fill_value: 0.0,
                antialias: false,
            });
        }
        let interpolation: Option<String> = super::field_or(c, class, "interpolation", None)?;
        let fill_mode: Option<String> = super::field_or(c, class, "fill_mode", None)?;
        if fill_mode.as_deref().is_some_and(|m| m != "constant") {
            return Err(RkError::Unsupported(format!(
                "Resizing `fill_mode = \"{}\"` is not supported (Keras pads with \"constant\" only)",
                fill_mode.unwrap_or_default()
            )));
        }
        let fill_value: Option<f64> = super::field_or(c, class, "fill_value", None)?;
        let r = Resizing {
            class,
            height,
            width,
            filter: Filter::parse(class, interpolation.as_deref().unwrap_or("bilinear"))?,
            crop_to_aspect_ratio: flag(c, class, "crop_to_aspect_ratio")?,
            pad_to_aspect_ratio: flag(c, class, "pad_to_aspect_ratio")?,
            fill_value: fill_value.unwrap_or(0.0) as f32,
            antialias: flag(c, class, "antialias")?,
        };
        if r.crop_to_aspect_ratio && r.pad_to_aspect_ratio {
            return Err(RkError::Spec(
                "Resizing takes only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio`"
                    .into(),
            ));
        }
        Ok(r)
    }

    /// The map for an input of `h` x `w`.
    fn resample(&self, h: usize, w: usize) -> Resample {
        let (th, tw) = (self.height, self.width);
        let fill = self.fill_value;
        if self.class == "CenterCrop" && h >= th && w >= tw {
            return Resample {
                ay: Axis::window((h - th) / 2, th),
                ax: Axis::window((w - tw) / 2, tw),
                fill,
            };
        }
        // Keras's windows: (start, len, pad) per axis.
        let (mut wh, mut ww) = ((0, h, 0), (0, w, 0));
        if self.crop_to_aspect_ratio {
            (wh, ww) = aspect_windows((h, w), (th, tw));
        } else if self.pad_to_aspect_ratio {
            let ph = (((w * th) as f64 / tw as f64) as usize).max(h);
            let pw = (((h * tw) as f64 / th as f64) as usize).max(w);
            let (bh, bw) = ((ph - h) / 2, (pw - w) / 2);
            // Keras pads the height when it needs padding, else the width.
            if bh > 0 {
                wh.2 = bh;
            } else {
                ww.2 = bw;
            }
        }
        Resample {
            ay: Axis::resample(wh, th, self.filter, self.antialias),
            ax: Axis::resample(ww, tw, self.filter, self.antialias),
            fill,
        }
    }
}

/// A resampling of images: the maps of both axes, and the value of padded positions.
#[derive(Debug)]
pub(super) struct Resample {
    ay: Axis,
    ax: Axis,
    fill: f32,
}

impl Resample {
    /// Images of `h` x `w` resampled to `oh` x `ow` (Keras's `ops.image.resize()` without
    /// antialiasing).
    pub(super) fn new(
        (h, w): (usize, usize),
        (oh, ow): (usize, usize),
        filter: Filter,
    ) -> Resample {
        Resample {
            ay: Axis::resample((0, h, 0), oh, filter, false),
            ax: Axis::resample((0, w, 0), ow, filter, false),
            fill: 0.0,
        }
    }

    /// Keras's `smart_resize()` from `h` x `w` to `th` x `tw`: the largest centred window of
    /// the target's aspect ratio, resized bilinearly (no antialiasing).
    pub(super) fn smart((h, w): (usize, usize), (th, tw): (usize, usize)) -> Resample {
        let (wh, ww) = aspect_windows((h, w), (th, tw));
        Resample::crop((wh.0, ww.0), (wh.1, ww.1), (th, tw))
    }

    /// The `ch` x `cw` window at (`top`, `left`), resized bilinearly to `th` x `tw` (copied
    /// when the sizes are equal).
    pub(super) fn crop(
        (top, left): (usize, usize),
        (ch, cw): (usize, usize),
        (th, tw): (usize, usize),
    ) -> Resample {
        let axis = |start, len, out| {
            if len == out {
                Axis::window(start, len)
            } else {
                Axis::resample((start, len, 0), out, Filter::Bilinear, false)
            }
        };
        Resample {
            ay: axis(top, ch, th),
            ax: axis(left, cw, tw),
            fill: 0.0,
        }
    }

    /// The resampled images of `x` (`[batch, h, w, c]`).
    pub(super) fn forward(&self, x: &Tensor) -> RkResult<Tensor> {
        let (b, h, w, c) = dims(x);
        let (ay, ax) = (&self.ay, &self.ax);
        let xv = x.as_slice().expect("standard");
        let (oh, ow) = (ay.taps.len(), ax.taps.len());
        let rw = ax.len + 2 * ax.pad;
        let mut y = super::zeros(b * oh * ow * c);
        let mut row = vec![0.0f32; rw * c];
        for s in 0..b {
            let xs = &xv[s * h * w * c..(s + 1) * h * w * c];
            for (oy, ty) in ay.taps.iter().enumerate() {
                // The window's row at `oy`: the height taps summed, fill where padded.
                row.fill(0.0);
                for &(ry, wy) in ty {
                    for rx in 0..rw {
                        let dst = &mut row[rx * c..(rx + 1) * c];
                        match (ay.source(ry), ax.source(rx)) {
                            (Some(iy), Some(ix)) => {
                                let src = &xs[(iy * w + ix) * c..][..c];
                                dst.iter_mut().zip(src).for_each(|(d, v)| *d += wy * v);
                            }
                            _ => dst.iter_mut().for_each(|d| *d += wy * self.fill),
                        }
                    }
                }
                let out = &mut y[((s * oh + oy) * ow) * c..((s * oh + oy + 1) * ow) * c];
                for (ox, tx) in ax.taps.iter().enumerate() {
                    let dst = &mut out[ox * c..(ox + 1) * c];
                    for &(rx, wx) in tx {
                        let src = &row[rx * c..(rx + 1) * c];
                        dst.iter_mut().zip(src).for_each(|(d, v)| *d += wx * v);
                    }
                }
            }
        }
        super::tensor(b, &[oh, ow, c], y)
    }

    /// The gradient with respect to the input `x` of the output gradient `g` (the
    /// transpose of [`Resample::forward`]).
    pub(super) fn backward(&self, x: &Tensor, g: &Tensor) -> RkResult<Tensor> {
        let (b, h, w, c) = dims(x);
        let (ay, ax) = (&self.ay, &self.ax);
        let gv = g.as_slice().expect("standard");
        let (oh, ow) = (ay.taps.len(), ax.taps.len());
        let rw = ax.len + 2 * ax.pad;
        let mut dx = super::zeros(x.len());
        let mut row = vec![0.0f32; rw * c];
        for s in 0..b {
            let ds = &mut dx[s * h * w * c..(s + 1) * h * w * c];
            for (oy, ty) in ay.taps.iter().enumerate() {
                // The width taps, then the height taps.
                row.fill(0.0);
                let gr = &gv[((s * oh + oy) * ow) * c..((s * oh + oy + 1) * ow) * c];
                for (ox, tx) in ax.taps.iter().enumerate() {
                    let src = &gr[ox * c..(ox + 1) * c];
                    for &(rx, wx) in tx {
                        let dst = &mut row[rx * c..(rx + 1) * c];
                        dst.iter_mut().zip(src).for_each(|(d, v)| *d += wx * v);
                    }
                }
                for &(ry, wy) in ty {
                    let Some(iy) = ay.source(ry) else {
                        continue;
                    };
                    for rx in 0..rw {
                        if let Some(ix) = ax.source(rx) {
                            let dst = &mut ds[(iy * w + ix) * c..][..c];
                            let src = &row[rx * c..(rx + 1) * c];
                            dst.iter_mut().zip(src).for_each(|(d, v)| *d += wy * v);
                        }
                    }
                }
            }
        }
        super::tensor(b, &[h, w, c], dx)
    }
}

impl Layer for Resizing {
    fn class_name(&self) -> &'static str {
        self.class
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let s = super::image_input(name, inputs)?;
        Ok(vec![self.height, self.width, s[2]])
    }

    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let (_, h, w, _) = dims(xs[0]);
        Ok((self.resample(h, w).forward(xs[0])?, None))
    }

    fn backward(
        &self,
        xs: &[&Tensor],
        _y: &Tensor,
        _cache: &Cache,
        g: Tensor,
        _pgrads: &mut [Tensor],
        _ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        let (_, h, w, _) = dims(xs[0]);
        Ok(vec![self.resample(h, w).backward(xs[0], &g)?])
    }

    fn config(&self) -> Value {
        if self.class == "CenterCrop" {
            return json!({"height": self.height, "width": self.width, "data_format": "channels_last"});
        }
        json!({
            "height": self.height,
            "width": self.width,
            "interpolation": self.filter.name(),
            "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
            "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
            "fill_mode": "constant",
            "fill_value": self.fill_value,
            "antialias": self.antialias,
            "data_format": "channels_last",
        })
    }
}

/// Keras's largest centred window of an `h` x `w` image with the aspect ratio of `th` x
/// `tw`, as `(start, len, 0)` per axis.
type Window = (usize, usize, usize);
pub(super) fn aspect_windows((h, w): (usize, usize), (th, tw): (usize, usize)) -> (Window, Window) {
    let ch = (((w * th) as f64 / tw as f64) as usize).clamp(1, h);
    let cw = (((h * tw) as f64 / th as f64) as usize).clamp(1, w);
    (((h - ch) / 2, ch, 0), ((w - cw) / 2, cw, 0))
}

/// Batch, height, width and channels of an image batch.
fn dims(x: &Tensor) -> (usize, usize, usize, usize) {
    let s = x.shape();
    (s[0], s[1], s[2], s[3])
}
