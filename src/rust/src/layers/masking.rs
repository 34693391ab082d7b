//! `Masking`: steps whose features all equal `mask_value` are masked (set to 0 and flagged
//! for the layers after, which skip them), as Keras's `Masking`.

use super::{field_or, Cache, Ctx, Layer, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use ndarray::{Axis, IxDyn};
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct Masking {
    mask_value: f32,
}

impl Masking {
    pub fn from_config(c: &Value) -> RkResult<Masking> {
        let v: f64 = field_or(c, "Masking", "mask_value", 0.0)?;
        Ok(Masking {
            mask_value: v as f32,
        })
    }

    /// 1 for the steps with some feature other than `mask_value`: `[batch, ...steps]`.
    fn keep(&self, x: &Tensor) -> Tensor {
        let last = x.ndim() - 1;
        x.map_axis(Axis(last), |row| {
            if row.iter().any(|&v| v != self.mask_value) {
                1.0
            } else {
                0.0
            }
        })
    }

    fn times_keep(&self, g: &Tensor, keep: &Tensor) -> RkResult<Tensor> {
        let k = keep.view().insert_axis(Axis(keep.ndim()));
        let out = g * &k;
        out.into_dimensionality::<IxDyn>()
            .map_err(|e| RkError::Internal(e.to_string()))
    }
}

impl Layer for Masking {
    fn class_name(&self) -> &'static str {
        "Masking"
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        match inputs {
            [s] if s.len() >= 2 => Ok(s.clone()),
            _ => Err(RkError::Shape(format!(
                "Masking '{name}' needs samples of shape (timesteps, features), got {inputs:?}"
            ))),
        }
    }

    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let keep = self.keep(xs[0]);
        Ok((self.times_keep(xs[0], &keep)?, None))
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
        let keep = self.keep(xs[0]);
        Ok(vec![self.times_keep(&g, &keep)?])
    }

    fn compute_mask(&self, x: &Tensor, _mask: Option<&Tensor>) -> Option<Tensor> {
        Some(self.keep(x))
    }

    fn config(&self) -> Value {
        json!({"mask_value": self.mask_value as f64})
    }
}
