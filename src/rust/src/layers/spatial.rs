//! Reshaping of 2-d samples: ZeroPadding2D, Cropping2D and UpSampling2D (nearest).
//!
//! # Shapes
//! ZeroPadding2D: `[batch, h, w, c]` -> `[batch, top + h + bottom, left + w + right, c]`.
//! Cropping2D: `[batch, h, w, c]` -> `[batch, h - top - bottom, w - left - right, c]`.
//! UpSampling2D: `[batch, h, w, c]` -> `[batch, h * sh, w * sw, c]`, each value repeated.

use super::patches::spatial;
use super::{field_or, one_input, shape_error, Cache, Ctx, Layer, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use serde_json::{json, Value};

/// `((top, bottom), (left, right))` from `n`, `(a, b)` (symmetric per axis) or
/// `((top, bottom), (left, right))`.
fn margins(c: &Value, class: &str, key: &str, default: usize) -> RkResult<[usize; 4]> {
    let bad = || {
        RkError::Spec(format!(
            "{class} `{key}` must be an integer, two integers, or two pairs of integers"
        ))
    };
    let num = |v: &Value| v.as_u64().filter(|&n| n < (1 << 24)).map(|n| n as usize);
    let pair = |v: &Value| -> Option<[usize; 2]> {
        match v {
            Value::Array(a) if a.len() == 2 => Some([num(&a[0])?, num(&a[1])?]),
            other => num(other).map(|n| [n, n]),
        }
    };
    match c.get(key) {
        None | Some(Value::Null) => Ok([default; 4]),
        Some(Value::Array(a)) if a.len() == 2 => {
            let (h, w) = (pair(&a[0]).ok_or_else(bad)?, pair(&a[1]).ok_or_else(bad)?);
            Ok([h[0], h[1], w[0], w[1]])
        }
        Some(v) => num(v).map(|n| [n; 4]).ok_or_else(bad),
    }
}

/// ZeroPadding2D and Cropping2D: a sample placed inside a larger one, or cut from it.
#[derive(Clone, Debug)]
pub struct Margin {
    crop: bool,
    /// top, bottom, left, right
    m: [usize; 4],
}

impl Margin {
    pub fn from_config(class: &str, c: &Value) -> RkResult<Margin> {
        super::channels_last(c, class)?;
        let crop = class == "Cropping2D";
        let key = if crop { "cropping" } else { "padding" };
        Ok(Margin {
            crop,
            m: margins(c, class, key, if crop { 0 } else { 1 })?,
        })
    }

    /// Sizes of the large and the small sample, `[h, w, c]` each.
    fn sizes(&self, name: &str, s: &Shape) -> RkResult<([usize; 3], [usize; 3])> {
        let [h, w, c] = spatial(name, 2, s)?;
        let [t, b, l, r] = self.m;
        if self.crop {
            if t + b >= h || l + r >= w {
                return Err(shape_error(
                    name,
                    format!(
                        "crops {t}+{b} rows and {l}+{r} columns from an input of shape {}, leaving nothing",
                        super::shape_string(s)
                    ),
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

impl Layer for Margin {
    fn class_name(&self) -> &'static str {
        if self.crop {
            "Cropping2D"
        } else {
            "ZeroPadding2D"
        }
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let (big, small) = self.sizes(name, one_input(name, inputs)?)?;
        Ok(if self.crop { small } else { big }.to_vec())
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
        json!({ key: [[t, b], [l, r]], "data_format": "channels_last" })
    }
}

#[derive(Clone, Debug)]
pub struct UpSampling {
    size: [usize; 2],
}

impl UpSampling {
    pub fn from_config(c: &Value) -> RkResult<UpSampling> {
        let cls = "UpSampling2D";
        super::channels_last(c, cls)?;
        let interp: String = field_or(c, cls, "interpolation", "nearest".to_string())?;
        if interp != "nearest" {
            return Err(RkError::Unsupported(format!(
                "UpSampling2D `interpolation = \"{interp}\"` is not supported by rkeras yet (only \"nearest\")"
            )));
        }
        let s = super::patches::tuple_field(c, cls, "size", 2, Some(2))?;
        Ok(UpSampling { size: [s[0], s[1]] })
    }
}

impl Layer for UpSampling {
    fn class_name(&self) -> &'static str {
        "UpSampling2D"
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let [h, w, c] = spatial(name, 2, one_input(name, inputs)?)?;
        Ok(vec![h * self.size[0], w * self.size[1], c])
    }

    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        let s = x.shape();
        let (batch, h, w, c) = (s[0], s[1], s[2], s[3]);
        let [sh, sw] = self.size;
        let xsl = x.as_slice().expect("standard");
        let (oh, ow) = (h * sh, w * sw);
        let mut y = super::zeros(batch * oh * ow * c);
        for b in 0..batch {
            for oy in 0..oh {
                for ox in 0..ow {
                    let src = ((b * h + oy / sh) * w + ox / sw) * c;
                    let dst = ((b * oh + oy) * ow + ox) * c;
                    y[dst..dst + c].copy_from_slice(&xsl[src..src + c]);
                }
            }
        }
        Ok((super::tensor(batch, &[oh, ow, c], y)?, None))
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
        let s = x.shape();
        let (batch, h, w, c) = (s[0], s[1], s[2], s[3]);
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
        Ok(vec![super::tensor(batch, &[h, w, c], dx)?])
    }

    fn config(&self) -> Value {
        json!({"size": self.size, "data_format": "channels_last", "interpolation": "nearest"})
    }
}
