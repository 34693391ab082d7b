//! RandomRotation, RandomTranslation and RandomZoom (image augmentation layers), as Keras 3
//! computes them with its JAX backend. In training, each image gets its own affine map,
//! drawn uniformly from the layer's factors: an angle of `factor * 360` degrees about the
//! centre; a shift of `height_factor * height` and `width_factor * width` pixels; a zoom of
//! `1 + factor` about the centre (the width's own or the height's). Output pixel `(x, y)`
//! reads the input at `(a0 x + a1 y + a2, b0 x + b1 y + b2)` (Keras's transform vector),
//! bilinearly or at the nearest pixel (ties to even), with `jax.scipy.ndimage`'s boundary
//! modes: `"reflect"`, `"wrap"`, `"nearest"`, `"constant"` (`fill_value`). In inference the
//! images pass unchanged. Backward is the sampling's transpose.
//!
//! # Shapes
//! `[batch, height, width, channels]` -> the same shape.

use super::{Cache, Ctx, Layer, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fill {
    Reflect,
    Wrap,
    Nearest,
    Constant,
}

impl Fill {
    fn parse(class: &str, name: &str) -> RkResult<Fill> {
        Ok(match name {
            "reflect" => Fill::Reflect,
            "wrap" => Fill::Wrap,
            "nearest" => Fill::Nearest,
            "constant" => Fill::Constant,
            other => {
                return Err(RkError::Spec(format!(
                    "{class} `fill_mode` must be \"reflect\", \"wrap\", \"nearest\" or \"constant\", got \"{other}\""
                )))
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            Fill::Reflect => "reflect",
            Fill::Wrap => "wrap",
            Fill::Nearest => "nearest",
            Fill::Constant => "constant",
        }
    }

    /// The pixel that index `n` reads on an axis of `size` (`None`: the fill value), as
    /// `jax.scipy.ndimage.map_coordinates` maps it.
    fn index(self, n: i64, size: i64) -> Option<usize> {
        let mirror = |n: i64, size: i64| {
            let s = size - 1;
            if s == 0 {
                0
            } else {
                ((n + s).rem_euclid(2 * s) - s).abs()
            }
        };
        let i = match self {
            Fill::Constant => return (0..size).contains(&n).then_some(n as usize),
            Fill::Nearest => n.clamp(0, size - 1),
            Fill::Wrap => n.rem_euclid(size),
            Fill::Reflect => (mirror(2 * n + 1, 2 * size + 1) - 1).div_euclid(2),
        };
        Some(i as usize)
    }
}

#[derive(Clone, Debug)]
enum Kind {
    /// Angles in turns (`factor`).
    Rotation([f32; 2]),
    /// Shifts as fractions of the height and the width.
    Translation([f32; 2], [f32; 2]),
    /// Zooms less 1, of the height and (if given) the width.
    Zoom([f32; 2], Option<[f32; 2]>),
}

#[derive(Clone, Debug)]
pub struct RandomAffine {
    kind: Kind,
    fill: Fill,
    nearest: bool,
    fill_value: f32,
    seed: Option<u64>,
    /// The factors as the config gave them, written back unchanged.
    raw: Vec<(&'static str, Value)>,
}

/// Keras's factor: a number `f` gives `(-|f|, |f|)` (with the lower end at least `lo`); a
/// pair gives itself, sorted; each end within `[lo, hi]` (`lo` excluded when `open_lo`).
pub(super) fn factor(
    class: &str,
    key: &str,
    v: &Value,
    (lo, hi, open_lo): (f64, f64, bool),
) -> RkResult<[f32; 2]> {
    let bad = || {
        RkError::Spec(format!(
            "{class} `{key}` must be a number or two numbers between {lo} and {hi}, got {v}"
        ))
    };
    let inside = |x: f64| x.is_finite() && x <= hi && (x > lo || (!open_lo && x == lo));
    let (a, b) = match v {
        Value::Number(n) => {
            let f = n.as_f64().ok_or_else(bad)?;
            if !inside(f) {
                return Err(bad());
            }
            (-(f.abs()).max(lo), f.abs())
        }
        Value::Array(p) if p.len() == 2 => {
            let a = p[0].as_f64().ok_or_else(bad)?;
            let b = p[1].as_f64().ok_or_else(bad)?;
            if !inside(a) || !inside(b) {
                return Err(bad());
            }
            (a.min(b), a.max(b))
        }
        _ => return Err(bad()),
    };
    Ok([a as f32, b as f32])
}

impl RandomAffine {
    pub fn from_config(class: &str, c: &Value) -> RkResult<RandomAffine> {
        super::channels_last(c, class)?;
        let get = |key: &str| c.get(key).cloned().unwrap_or(Value::Null);
        let (kind, raw): (Kind, Vec<(&'static str, Value)>) = match class {
            "RandomRotation" => (
                Kind::Rotation(factor(class, "factor", &get("factor"), (-1.0, 1.0, false))?),
                vec![("factor", get("factor"))],
            ),
            "RandomTranslation" => (
                Kind::Translation(
                    factor(
                        class,
                        "height_factor",
                        &get("height_factor"),
                        (-1.0, 1.0, false),
                    )?,
                    factor(
                        class,
                        "width_factor",
                        &get("width_factor"),
                        (-1.0, 1.0, false),
                    )?,
                ),
                vec![
                    ("height_factor", get("height_factor")),
                    ("width_factor", get("width_factor")),
                ],
            ),
            "RandomZoom" => {
                let w = get("width_factor");
                let wf = if w.is_null() {
                    None
                } else {
                    Some(factor(class, "width_factor", &w, (-1.0, 1.0, true))?)
                };
                (
                    Kind::Zoom(
                        factor(
                            class,
                            "height_factor",
                            &get("height_factor"),
                            (-1.0, 1.0, true),
                        )?,
                        wf,
                    ),
                    vec![("height_factor", get("height_factor")), ("width_factor", w)],
                )
            }
            other => {
                return Err(RkError::Internal(format!(
                    "not an affine augmentation: {other}"
                )))
            }
        };
        let fill_mode: Option<String> = super::field_or(c, class, "fill_mode", None)?;
        let interpolation: Option<String> = super::field_or(c, class, "interpolation", None)?;
        let nearest = match interpolation.as_deref().unwrap_or("bilinear") {
            "bilinear" => false,
            "nearest" => true,
            other => {
                return Err(RkError::Spec(format!(
                    "{class} `interpolation` must be \"bilinear\" or \"nearest\", got \"{other}\""
                )))
            }
        };
        let fill_value: Option<f64> = super::field_or(c, class, "fill_value", None)?;
        Ok(RandomAffine {
            kind,
            fill: Fill::parse(class, fill_mode.as_deref().unwrap_or("reflect"))?,
            nearest,
            fill_value: fill_value.unwrap_or(0.0) as f32,
            seed: super::field_or(c, class, "seed", None)?,
            raw,
        })
    }

    /// One image's transform `[a0, a1, a2, b0, b1, b2]`, drawn for an `h` x `w` image.
    fn draw(&self, rng: &mut Rng, h: usize, w: usize) -> [f32; 6] {
        let mut uniform = |[lo, hi]: [f32; 2]| lo + (hi - lo) * rng.uniform_f32();
        let (hf, wf) = (h as f32, w as f32);
        match &self.kind {
            Kind::Rotation(f) => {
                let angle = uniform([f[0] * 360.0, f[1] * 360.0]) * (std::f32::consts::PI / 180.0);
                let (sin, cos) = angle.sin_cos();
                let (cx, cy) = (0.5 * (wf - 1.0), 0.5 * (hf - 1.0));
                let (a0, a1, b0, b1) = (cos, -sin, sin, cos);
                [
                    a0,
                    a1,
                    cx - cx * a0 - cy * a1,
                    b0,
                    b1,
                    cy - cx * b0 - cy * b1,
                ]
            }
            Kind::Translation(fh, fw) => {
                let th = uniform(*fh) * hf;
                let tw = uniform(*fw) * wf;
                [1.0, 0.0, -tw, 0.0, 1.0, -th]
            }
            Kind::Zoom(fh, fw) => {
                let zh = uniform([1.0 + fh[0], 1.0 + fh[1]]);
                let zw = fw.map_or(zh, |f| uniform([1.0 + f[0], 1.0 + f[1]]));
                let xo = ((wf - 1.0) / 2.0) * (1.0 - zw);
                let yo = ((hf - 1.0) / 2.0) * (1.0 - zh);
                [zw, 0.0, xo, 0.0, zh, yo]
            }
        }
    }

    /// For output pixel `(i, j)` of an `h` x `w` image under transform `t`: the input pixels
    /// it reads with their weights (`None`: the fill value), in JAX's order.
    fn taps(
        &self,
        t: &[f32],
        (i, j): (usize, usize),
        (h, w): (usize, usize),
    ) -> Vec<(Option<usize>, f32)> {
        let (y, x) = (i as f32, j as f32);
        let yc = y * t[4] + x * t[3] + t[5];
        let xc = y * t[1] + x * t[0] + t[2];
        let at = |ny: i64, nx: i64| {
            let iy = self.fill.index(ny, h as i64)?;
            let ix = self.fill.index(nx, w as i64)?;
            Some(iy * w + ix)
        };
        if self.nearest {
            return vec![(
                at(yc.round_ties_even() as i64, xc.round_ties_even() as i64),
                1.0,
            )];
        }
        let (yl, xl) = (yc.floor(), xc.floor());
        let (wyu, wxu) = (yc - yl, xc - xl);
        let (wyl, wxl) = (1.0 - wyu, 1.0 - wxu);
        let (yl, xl) = (yl as i64, xl as i64);
        vec![
            (at(yl, xl), wyl * wxl),
            (at(yl, xl + 1), wyl * wxu),
            (at(yl + 1, xl), wyu * wxl),
            (at(yl + 1, xl + 1), wyu * wxu),
        ]
    }

    /// The images `x` under the transforms `ts` (six values each).
    fn apply(&self, x: &Tensor, ts: &[f32]) -> RkResult<Tensor> {
        let (h, w, c) = (x.shape()[1], x.shape()[2], x.shape()[3]);
        let n = h * w * c;
        let xv = x.as_slice().expect("standard");
        let mut y = super::zeros(xv.len());
        for ((xs, ys), t) in xv
            .chunks_exact(n)
            .zip(y.chunks_exact_mut(n))
            .zip(ts.chunks_exact(6))
        {
            for i in 0..h {
                for j in 0..w {
                    let out = &mut ys[(i * w + j) * c..][..c];
                    for (src, wt) in self.taps(t, (i, j), (h, w)) {
                        match src {
                            Some(p) => out
                                .iter_mut()
                                .zip(&xs[p * c..(p + 1) * c])
                                .for_each(|(o, v)| *o += wt * v),
                            None => out.iter_mut().for_each(|o| *o += wt * self.fill_value),
                        }
                    }
                }
            }
        }
        super::shaped_like(x, y)
    }
}

impl Layer for RandomAffine {
    fn class_name(&self) -> &'static str {
        match self.kind {
            Kind::Rotation(_) => "RandomRotation",
            Kind::Translation(..) => "RandomTranslation",
            Kind::Zoom(..) => "RandomZoom",
        }
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let s = super::image_input(name, inputs)?;
        Ok(s.clone())
    }

    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        if !ctx.training {
            return Ok((x.clone(), None));
        }
        let (b, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let ts: Vec<f32> = (0..b).flat_map(|_| self.draw(&mut ctx.rng, h, w)).collect();
        let y = self.apply(x, &ts)?;
        Ok((y, Some(super::tensor(b, &[6], ts)?)))
    }

    fn elementwise(&self, training: bool) -> Option<super::Map> {
        super::pass_through(training)
    }

    fn backward(
        &self,
        xs: &[&Tensor],
        _y: &Tensor,
        cache: &Cache,
        g: Tensor,
        _pgrads: &mut [Tensor],
        _ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        let Some(ts) = cache else {
            return Ok(vec![g]);
        };
        let x = xs[0];
        let (h, w, c) = (x.shape()[1], x.shape()[2], x.shape()[3]);
        let n = h * w * c;
        let gv = g.as_slice().expect("standard");
        let mut dx = super::zeros(x.len());
        let ts = ts.as_slice().expect("standard");
        for ((ds, gs), t) in dx
            .chunks_exact_mut(n)
            .zip(gv.chunks_exact(n))
            .zip(ts.chunks_exact(6))
        {
            for i in 0..h {
                for j in 0..w {
                    let gp = &gs[(i * w + j) * c..][..c];
                    for (src, wt) in self.taps(t, (i, j), (h, w)) {
                        if let Some(p) = src {
                            ds[p * c..(p + 1) * c]
                                .iter_mut()
                                .zip(gp)
                                .for_each(|(d, v)| *d += wt * v);
                        }
                    }
                }
            }
        }
        Ok(vec![super::shaped_like(x, dx)?])
    }

    fn config(&self) -> Value {
        let mut c = json!({
            "fill_mode": self.fill.name(),
            "interpolation": if self.nearest { "nearest" } else { "bilinear" },
            "seed": self.seed,
            "fill_value": self.fill_value,
            "data_format": "channels_last",
        });
        for (k, v) in &self.raw {
            c[*k] = v.clone();
        }
        c
    }
}
