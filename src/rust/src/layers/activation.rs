//! Activation: `y = act(x)` on the last axis (softmax normalises over it).
//!
//! # Shapes
//! any input `[batch, ..., d]` -> the same shape.

use super::{field, one_input, Cache, Ctx, Layer, Shape, Tensor};
use crate::activations::Act;
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct Activation {
    pub act: Act,
}

impl Activation {
    pub fn from_config(c: &Value) -> RkResult<Activation> {
        let name: String = field(c, "Activation", "activation")?;
        Ok(Activation {
            act: Act::parse(&name)?,
        })
    }
}

fn last_dim(t: &Tensor) -> usize {
    t.shape().last().copied().unwrap_or(1).max(1)
}

impl Layer for Activation {
    fn class_name(&self) -> &'static str {
        "Activation"
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        Ok(one_input(name, inputs)?.clone())
    }

    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        let mut y = Tensor::zeros(x.raw_dim());
        let cols = last_dim(x);
        self.act.forward(
            x.as_slice().expect("standard"),
            y.as_slice_mut().expect("standard"),
            cols,
        );
        Ok((y, None))
    }

    fn backward(
        &self,
        xs: &[&Tensor],
        y: &Tensor,
        _cache: &Cache,
        mut g: Tensor,
        _pgrads: &mut [Tensor],
        _ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        let cols = last_dim(y);
        let gs = g
            .as_slice_mut()
            .ok_or_else(|| RkError::Internal("gradient not contiguous".into()))?;
        self.act.backward(
            xs[0].as_slice().expect("standard"),
            y.as_slice().expect("standard"),
            gs,
            cols,
        );
        Ok(vec![g])
    }

    fn config(&self) -> Value {
        json!({"activation": self.act.name()})
    }
}
