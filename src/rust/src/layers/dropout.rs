//! Dropout: in training `y = x * m`, `m` 0 with probability `rate` and `1 / (1 - rate)`
//! otherwise (inverted dropout); in inference `y = x`. Backward: `dx = g * m`.
//!
//! # Shapes
//! any input `[batch, ...]` -> the same shape.

use super::{field, field_or, one_input, Cache, Ctx, Layer, Shape, Tensor};
use crate::chain::dropout_forward;
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct Dropout {
    pub rate: f32,
    seed: Option<u64>,
}

impl Dropout {
    pub fn from_config(c: &Value) -> RkResult<Dropout> {
        let rate: f32 = field(c, "Dropout", "rate")?;
        if !(0.0..1.0).contains(&rate) {
            return Err(RkError::Spec(format!(
                "Dropout `rate` must be in [0, 1), got {rate}"
            )));
        }
        if !matches!(c.get("noise_shape"), None | Some(Value::Null)) {
            return Err(RkError::Unsupported(
                "Dropout `noise_shape` is not supported by rkeras yet".into(),
            ));
        }
        Ok(Dropout {
            rate,
            seed: field_or(c, "Dropout", "seed", None)?,
        })
    }
}

impl Layer for Dropout {
    fn class_name(&self) -> &'static str {
        "Dropout"
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        Ok(one_input(name, inputs)?.clone())
    }

    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        if !ctx.training || self.rate == 0.0 {
            return Ok((x.clone(), None));
        }
        let xsl = x.as_slice().expect("standard");
        let mut a = vec![0.0; xsl.len()];
        let mut m = vec![0.0; xsl.len()];
        let seed = ctx.rng.next_u64() as u32;
        dropout_forward(xsl, &mut a, &mut m, 1.0 - self.rate, seed, 0);
        let shape = x.shape().to_vec();
        let y = Tensor::from_shape_vec(shape.clone(), a)
            .map_err(|e| RkError::Internal(e.to_string()))?;
        let m = Tensor::from_shape_vec(shape, m).map_err(|e| RkError::Internal(e.to_string()))?;
        Ok((y, Some(m)))
    }

    fn backward(
        &self,
        _xs: &[&Tensor],
        _y: &Tensor,
        cache: &Cache,
        g: Tensor,
        _pgrads: &mut [Tensor],
        _ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        Ok(vec![match cache {
            Some(m) => g * m,
            None => g,
        }])
    }

    fn config(&self) -> Value {
        json!({"rate": self.rate, "noise_shape": null, "seed": self.seed})
    }
}
