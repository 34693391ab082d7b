//! UnitNormalization: each sample scaled to unit L2 norm over the last axis, as Keras 3 does
//! it: `y = x / sqrt(max(sum(x^2), 1e-12))`. Backward, with `r = 1 / sqrt(s)` where the sum
//! `s` is above the floor: `dx = r g - r^3 x sum(g x)` (`dx = r g` where it is floored).
//!
//! # Shapes
//! any input `[batch, ..., d]` -> the same shape.

use super::{one_input, shape_error, Cache, Ctx, Layer, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use serde_json::{json, Value};

const FLOOR: f64 = 1e-12;

#[derive(Clone, Debug)]
pub struct UnitNorm;

impl UnitNorm {
    pub fn from_config(c: &Value) -> RkResult<UnitNorm> {
        match c.get("axis") {
            None | Some(Value::Null) => Ok(UnitNorm),
            Some(v) if v == &json!(-1) || v == &json!([-1]) => Ok(UnitNorm),
            Some(v) => Err(RkError::Unsupported(format!(
                "UnitNormalization `axis` {v} is not supported by rkeras yet (only -1)"
            ))),
        }
    }
}

impl Layer for UnitNorm {
    fn passes_mask(&self) -> bool {
        true
    }

    fn class_name(&self) -> &'static str {
        "UnitNormalization"
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let s = one_input(name, inputs)?;
        if s.is_empty() {
            return Err(shape_error(name, "needs inputs of rank 1 or more".into()));
        }
        Ok(s.clone())
    }

    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        let d = *x.shape().last().unwrap_or(&1);
        let xv = x.as_slice().expect("standard layout");
        let mut y = super::zeros(xv.len());
        for (xr, yr) in xv.chunks(d.max(1)).zip(y.chunks_mut(d.max(1))) {
            let s: f64 = xr.iter().map(|&v| (v as f64) * (v as f64)).sum();
            let r = 1.0 / s.max(FLOOR).sqrt();
            for (o, &v) in yr.iter_mut().zip(xr) {
                *o = (v as f64 * r) as f32;
            }
        }
        let y = super::shaped_like(x, y)?;
        Ok((y, None))
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
        let d = (*x.shape().last().unwrap_or(&1)).max(1);
        let xv = x.as_slice().expect("standard layout");
        let gv = g.as_slice().expect("standard layout");
        let mut dx = super::zeros(xv.len());
        for ((xr, gr), dr) in xv.chunks(d).zip(gv.chunks(d)).zip(dx.chunks_mut(d)) {
            let s: f64 = xr.iter().map(|&v| (v as f64) * (v as f64)).sum();
            let r = 1.0 / s.max(FLOOR).sqrt();
            let gx: f64 = if s > FLOOR {
                xr.iter().zip(gr).map(|(&a, &b)| a as f64 * b as f64).sum()
            } else {
                0.0
            };
            for ((o, &v), &gk) in dr.iter_mut().zip(xr).zip(gr) {
                *o = (r * gk as f64 - r * r * r * v as f64 * gx) as f32;
            }
        }
        let dx = super::shaped_like(x, dx)?;
        Ok(vec![dx])
    }

    fn config(&self) -> Value {
        json!({"axis": -1})
    }
}
