//! ActivityRegularization: the identity, whose output's `l1 sum|y| + l2 sum y^2` the graph
//! adds to the loss (`Slot::activity`, read from this layer's `l1` and `l2`).
//!
//! # Shapes
//! any input `[batch, ...]` -> the same shape.

use super::{field_or, one_input, Cache, Ctx, Layer, Shape, Tensor};
use crate::error::RkResult;
use crate::rng::Rng;
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct ActivityRegularization {
    l1: f64,
    l2: f64,
}

impl ActivityRegularization {
    pub fn from_config(c: &Value) -> RkResult<ActivityRegularization> {
        let cls = "ActivityRegularization";
        Ok(ActivityRegularization {
            l1: field_or(c, cls, "l1", 0.0)?,
            l2: field_or(c, cls, "l2", 0.0)?,
        })
    }
}

impl Layer for ActivityRegularization {
    fn passes_mask(&self) -> bool {
        true
    }

    fn class_name(&self) -> &'static str {
        "ActivityRegularization"
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        Ok(one_input(name, inputs)?.clone())
    }

    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        Ok((xs[0].clone(), None))
    }

    fn backward(
        &self,
        _xs: &[&Tensor],
        _y: &Tensor,
        _cache: &Cache,
        g: Tensor,
        _pgrads: &mut [Tensor],
        _ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        Ok(vec![g])
    }

    fn config(&self) -> Value {
        json!({"l1": self.l1, "l2": self.l2})
    }
}
