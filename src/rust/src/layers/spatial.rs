//! Reshaping of 1-d and 2-d samples: ZeroPadding1D/2D, Cropping1D/2D and UpSampling1D/2D
//! (each value repeated; UpSampling2D's other interpolations resample as Keras's
//! `ops.image.resize()` does, through [`super::resizing`]). 1-d samples are 2-d samples of
//! height 1.
//!
//! # Shapes
//! ZeroPadding2D: `[batch, h, w, c]` -> `[batch, top + h + bottom, left + w + right, c]`;
//! ZeroPadding1D: `[batch, steps, c]` -> `[batch, left + steps + right, c]`.
//! Cropping2D: `[batch, h, w, c]` -> `[batch, h - top - bottom, w - left - right, c]`;
//! Cropping1D alike over steps.
//! UpSampling2D: `[batch, h, w, c]` -> `[batch, h * sh, w * sw, c]`; UpSampling1D:
//! `[batch, steps, c]` -> `[batch, steps * size, c]`.

use super::patches::spatial;
use super::resizing::{Filter, Resample};
use super::{field_or, one_input, shape_error, Cache, Ctx, Layer, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use serde_json::{json, Value};

/// `[top, bottom, left, right]` from `n`, `(a, b)` (symmetric per axis) or
/// `((top, bottom), (left, right))`; for 1-d layers (`rank` 1), `[0, 0, left, right]` from
/// `n` or `(left, right)`.
fn margins(c: &Value, class: &str, key: &str, rank: usize, default: usize) -> RkResult<[usize; 4]> {
    let bad = || {
        RkError::Spec(if rank == 1 {
            format!("{class} `{key}` must be an integer or two integers")
        } else {
            format!("{class} `{key}` must be an integer, two integers, or two pairs of integers")
        })
    };
    let num = |v: &Value| v.as_u64().filter(|&n| n < (1 << 24)).map(|n| n as usize);
    let pair = |v: &Value| -> Option<[usize; 2]> {
        match v {
            Value::Array(a) if a.len() == 2 => Some([num(&a[0])?, num(&a[1])?]),
            other => num(other).map(|n| [n, n]),
        }
    };
    if rank == 1 {
        return match c.get(key) {
            None | Some(Value::Null) => Ok([0, 0, default, default]),
            Some(v) => pair(v).map(|[l, r]| [0, 0, l, r]).ok_or_else(bad),
        };
    }
    match c.get(key) {
        None | Some(Value::Null) => Ok([default; 4]),
        Some(Value::Array(a)) if a.len() == 2 => {
            let (h, w) = (pair(&a[0]).ok_or_else(bad)?, pair(&a[1]).ok_or_else(bad)?);
            Ok([h[0], h[1], w[0], w[1]])
        }
        Some(v) => num(v).map(|n| [n; 4]).ok_or_else(bad),
    }
}

/// ZeroPadding1D/2D and Cropping1D/2D: a sample placed inside a larger one, or cut from it.
#[derive(Clone, Debug)]
pub struct Margin {
    crop: bool,
    rank: usize,
    /// top, bottom, left, right
    m: [usize; 4],
}

impl Margin {
    pub fn from_config(class: &str, c: &Value) -> RkResult<Margin> {
        let crop = class.starts_with("Cropping");
        let rank = if class.ends_with("1D") { 1 } else { 2 };
        if rank == 2 || !crop {
            super::channels_last(c, class)?;
        }
        let key = if crop { "cropping" } else { "padding" };
        Ok(Margin {
            crop,
            rank,
            m: margins(
                c,
                class,
                key,
                rank,
                if crop { usize::from(rank == 1) } else { 1 },
            )?,
        })
    }

    /// Sizes of the large and the small sample, `[h, w, c]` each.
    fn sizes(&self, name: &str, s: &Shape) -> RkResult<([usize; 3], [usize; 3])> {
        let [h, w, c] = spatial(name, self.rank, s)?;
        let [t, b, l, r] = self.m;
        if self.crop {
            if (self.rank == 2 && t + b >= h) || l + r >= w {
                return Err(shape_error(
                    name,
                    if self.rank == 1 {
                        format!(
                            "crops {l}+{r} steps from an input of shape {}, leaving nothing",
                            super::shape_string(s)
                        )
                    } else {
                        format!(
                            "crops {t}+{b} rows and {l}+{r} columns from an input of shape {}, leaving nothing",
                            super::shape_string(s)
                        )
                    },
                ));
            }
            Ok(([h, w, c], [h - t - b, w - l - r, c]))
        } else {
            Ok(([h + t + b, w + l + r, c], [h, w, c]))
        }
    }

    /// The small samples `sm` in the large ones `large` (every value written: the margin
    /// zeros).
    fn pad_into(&self, big: [usize; 3], small: [usize; 3], sm: &[f32], large: &mut [f32]) {
        let [hb, wb, c] = big;
        let [hs, ws, _] = small;
        let (t, l) = (self.m[0], self.m[2]);
        let (row, inner) = (wb * c, ws * c);
        for (ls, ss) in large
            .chunks_exact_mut(hb * row)
            .zip(sm.chunks_exact(hs * inner))
        {
            for (i, lr) in ls.chunks_exact_mut(row).enumerate() {
                if i < t || i >= t + hs {
                    lr.fill(0.0);
                    continue;
                }
                let (left, rest) = lr.split_at_mut(l * c);
                let (mid, right) = rest.split_at_mut(inner);
                left.fill(0.0);
                right.fill(0.0);
                mid.copy_from_slice(&ss[(i - t) * inner..][..inner]);
            }
        }
    }

    /// The small samples `sm` cut from the large ones `large`.
    fn crop_into(&self, big: [usize; 3], small: [usize; 3], large: &[f32], sm: &mut [f32]) {
        let [hb, wb, c] = big;
        let [hs, ws, _] = small;
        let (t, l) = (self.m[0], self.m[2]);
        let (row, inner) = (wb * c, ws * c);
        for (ls, ss) in large
            .chunks_exact(hb * row)
            .zip(sm.chunks_exact_mut(hs * inner))
        {
            for (i, sr) in ss.chunks_exact_mut(inner).enumerate() {
                sr.copy_from_slice(&ls[(i + t) * row + l * c..][..inner]);
            }
        }
    }
}

/// The per-sample shape of `[h, w, c]` for a layer of `rank` 1 (no height) or 2.
fn sample_shape(rank: usize, [h, w, c]: [usize; 3]) -> Shape {
    if rank == 1 {
        vec![w, c]
    } else {
        vec![h, w, c]
    }
}

impl Layer for Margin {
    fn class_name(&self) -> &'static str {
        match (self.crop, self.rank) {
            (true, 1) => "Cropping1D",
            (true, _) => "Cropping2D",
            (false, 1) => "ZeroPadding1D",
            (false, _) => "ZeroPadding2D",
        }
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let (big, small) = self.sizes(name, one_input(name, inputs)?)?;
        Ok(sample_shape(self.rank, if self.crop { small } else { big }))
    }

    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        let batch = x.shape()[0];
        let (big, small) = self.sizes(self.class_name(), &x.shape()[1..].to_vec())?;
        let xv = x.as_slice().expect("standard");
        let out = if self.crop { small } else { big };
        let mut y = super::output(batch * out.iter().product::<usize>());
        if self.crop {
            self.crop_into(big, small, xv, &mut y);
        } else {
            self.pad_into(big, small, xv, &mut y);
        }
        Ok((
            super::tensor(batch, &sample_shape(self.rank, out), y)?,
            None,
        ))
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
        let x = xs[0];
        let batch = x.shape()[0];
        let (big, small) = self.sizes(self.class_name(), &x.shape()[1..].to_vec())?;
        let gv = g.as_slice().expect("standard");
        let mut dx = super::output(x.len());
        if self.crop {
            self.pad_into(big, small, gv, &mut dx);
        } else {
            self.crop_into(big, small, gv, &mut dx);
        }
        Ok(vec![super::tensor(batch, &x.shape()[1..], dx)?])
    }

    fn config(&self) -> Value {
        let [t, b, l, r] = self.m;
        let key = if self.crop { "cropping" } else { "padding" };
        match (self.rank, self.crop) {
            (1, true) => json!({ key: [l, r] }),
            (1, false) => json!({ key: [l, r], "data_format": "channels_last" }),
            _ => json!({ key: [[t, b], [l, r]], "data_format": "channels_last" }),
        }
    }
}

/// UpSampling1D and UpSampling2D: each value repeated `size` times along each axis
/// ("nearest"), or the image resampled to that size.
#[derive(Clone, Debug)]
pub struct UpSampling {
    rank: usize,
    /// Factors for rows and columns (`[1, size]` for 1-d samples).
    size: [usize; 2],
    filter: Filter,
}

impl UpSampling {
    pub fn from_config(class: &str, c: &Value) -> RkResult<UpSampling> {
        if class == "UpSampling1D" {
            let s = super::patches::tuple_field(c, class, "size", 1, Some(2))?;
            return Ok(UpSampling {
                rank: 1,
                size: [1, s[0]],
                filter: Filter::Nearest,
            });
        }
        super::channels_last(c, class)?;
        let interp: String = field_or(c, class, "interpolation", "nearest".to_string())?;
        let s = super::patches::tuple_field(c, class, "size", 2, Some(2))?;
        Ok(UpSampling {
            rank: 2,
            size: [s[0], s[1]],
            filter: Filter::parse(class, &interp)?,
        })
    }

    fn resample(&self, x: &Tensor) -> Resample {
        let (h, w) = (x.shape()[1], x.shape()[2]);
        Resample::new((h, w), (h * self.size[0], w * self.size[1]), self.filter)
    }

    /// Rows, columns and channels of `x`'s samples (`[1, steps, c]` for 1-d samples).
    fn dims(&self, x: &Tensor) -> (usize, usize, usize, usize) {
        let s = x.shape();
        match self.rank {
            1 => (s[0], 1, s[1], s[2]),
            _ => (s[0], s[1], s[2], s[3]),
        }
    }
}

impl Layer for UpSampling {
    fn class_name(&self) -> &'static str {
        if self.rank == 1 {
            "UpSampling1D"
        } else {
            "UpSampling2D"
        }
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let [h, w, c] = spatial(name, self.rank, one_input(name, inputs)?)?;
        Ok(sample_shape(
            self.rank,
            [h * self.size[0], w * self.size[1], c],
        ))
    }

    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        if self.filter != Filter::Nearest {
            return Ok((self.resample(x).forward(x)?, None));
        }
        let (batch, h, w, c) = self.dims(x);
        let [sh, sw] = self.size;
        let xsl = x.as_slice().expect("standard");
        let (oh, ow) = (h * sh, w * sw);
        let mut y = super::output(batch * oh * ow * c);
        for b in 0..batch {
            for oy in 0..oh {
                for ox in 0..ow {
                    let src = ((b * h + oy / sh) * w + ox / sw) * c;
                    let dst = ((b * oh + oy) * ow + ox) * c;
                    y[dst..dst + c].copy_from_slice(&xsl[src..src + c]);
                }
            }
        }
        let out = sample_shape(self.rank, [oh, ow, c]);
        Ok((super::tensor(batch, &out, y)?, None))
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
        let x = xs[0];
        if self.filter != Filter::Nearest {
            return Ok(vec![self.resample(x).backward(x, &g)?]);
        }
        let (batch, h, w, c) = self.dims(x);
        let [sh, sw] = self.size;
        let (oh, ow) = (h * sh, w * sw);
        let gs = g.as_slice().expect("standard");
        let mut dx = super::zeros(x.len());
        for b in 0..batch {
            for oy in 0..oh {
                for ox in 0..ow {
                    let d = ((b * h + oy / sh) * w + ox / sw) * c;
                    let src = ((b * oh + oy) * ow + ox) * c;
                    dx[d..d + c]
                        .iter_mut()
                        .zip(&gs[src..src + c])
                        .for_each(|(d, &v)| *d += v);
                }
            }
        }
        Ok(vec![super::tensor(batch, &x.shape()[1..], dx)?])
    }

    fn config(&self) -> Value {
        if self.rank == 1 {
            return json!({ "size": self.size[1] });
        }
        json!({"size": self.size, "data_format": "channels_last", "interpolation": self.filter.name()})
    }
}
