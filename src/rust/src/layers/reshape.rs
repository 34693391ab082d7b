//! Layers that only move values: Flatten, Reshape, Permute, RepeatVector.
//!
//! # Shapes
//! - flatten: `[batch, d1, ..., dk]` -> `[batch, d1 * ... * dk]` (row-major, as Keras);
//! - reshape: `[batch, ...]` -> `[batch, target_shape...]` (one `-1` is inferred);
//! - permute: `[batch, d1, ..., dk]` -> `[batch, d_dims[0], ...]` (`dims` 1-based, as Keras);
//! - repeat_vector: `[batch, d]` -> `[batch, n, d]`.

use super::{field, one_input, shape_error, standard, Cache, Ctx, Layer, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use ndarray::{Axis, IxDyn};
use serde_json::{json, Value};

fn reshape_to(t: Tensor, batch: usize, shape: &[usize]) -> RkResult<Tensor> {
    let mut dims = vec![batch];
    dims.extend_from_slice(shape);
    standard(t)
        .into_shape_with_order(IxDyn(&dims))
        .map_err(|e| RkError::Internal(format!("reshape to {dims:?}: {e}")))
}

fn batch_of(t: &Tensor) -> usize {
    t.shape()[0]
}

#[derive(Clone, Debug)]
pub struct Flatten;

impl Layer for Flatten {
    fn class_name(&self) -> &'static str {
        "Flatten"
    }
    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        Ok(vec![one_input(name, inputs)?.iter().product()])
    }
    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        let b = batch_of(x);
        let n = x.len() / b.max(1);
        Ok((reshape_to(x.clone(), b, &[n])?, None))
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
        Ok(vec![reshape_to(g, batch_of(xs[0]), &xs[0].shape()[1..])?])
    }
    fn config(&self) -> Value {
        json!({"data_format": "channels_last"})
    }
}

#[derive(Clone, Debug)]
pub struct Reshape {
    /// As given, with at most one `-1`.
    target: Vec<i64>,
    out: Shape,
}

impl Reshape {
    pub fn from_config(c: &Value) -> RkResult<Reshape> {
        let target: Vec<i64> = field(c, "Reshape", "target_shape")?;
        if target.iter().filter(|&&d| d == -1).count() > 1
            || target.iter().any(|&d| d == 0 || d < -1)
        {
            return Err(RkError::Spec(format!(
                "Reshape `target_shape` must hold positive sizes and at most one -1, got {target:?}"
            )));
        }
        Ok(Reshape {
            target,
            out: vec![],
        })
    }
}

impl Layer for Reshape {
    fn class_name(&self) -> &'static str {
        "Reshape"
    }
    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let n: usize = one_input(name, inputs)?.iter().product();
        let known: usize = self
            .target
            .iter()
            .filter(|&&d| d > 0)
            .map(|&d| d as usize)
            .product();
        let out: Shape = if self.target.contains(&-1) {
            if known == 0 || !n.is_multiple_of(known) {
                return Err(shape_error(
                    name,
                    format!("cannot reshape {n} values per sample to {:?}", self.target),
                ));
            }
            self.target
                .iter()
                .map(|&d| if d == -1 { n / known } else { d as usize })
                .collect()
        } else {
            self.target.iter().map(|&d| d as usize).collect()
        };
        if out.iter().product::<usize>() != n {
            return Err(shape_error(
                name,
                format!(
                    "cannot reshape {n} values per sample to target_shape {:?}",
                    self.target
                ),
            ));
        }
        self.out = out.clone();
        Ok(out)
    }
    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        Ok((reshape_to(xs[0].clone(), batch_of(xs[0]), &self.out)?, None))
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
        Ok(vec![reshape_to(g, batch_of(xs[0]), &xs[0].shape()[1..])?])
    }
    fn config(&self) -> Value {
        json!({"target_shape": self.target})
    }
}

#[derive(Clone, Debug)]
pub struct Permute {
    /// 1-based sample axes, as Keras's `dims`.
    dims: Vec<usize>,
}

impl Permute {
    pub fn from_config(c: &Value) -> RkResult<Permute> {
        let dims: Vec<usize> = field(c, "Permute", "dims")?;
        let mut sorted = dims.clone();
        sorted.sort_unstable();
        if sorted != (1..=dims.len()).collect::<Vec<_>>() {
            return Err(RkError::Spec(format!(
                "Permute `dims` must be a permutation of 1..{}, got {dims:?}",
                dims.len()
            )));
        }
        Ok(Permute { dims })
    }
    fn axes(&self) -> Vec<usize> {
        std::iter::once(0)
            .chain(self.dims.iter().copied())
            .collect()
    }
}

impl Layer for Permute {
    fn class_name(&self) -> &'static str {
        "Permute"
    }
    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let s = one_input(name, inputs)?;
        if s.len() != self.dims.len() {
            return Err(shape_error(
                name,
                format!(
                    "permutes {} axes but its input has {} ({})",
                    self.dims.len(),
                    s.len(),
                    super::shape_string(s)
                ),
            ));
        }
        Ok(self.dims.iter().map(|&d| s[d - 1]).collect())
    }
    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        Ok((
            standard(xs[0].clone().permuted_axes(IxDyn(&self.axes()))),
            None,
        ))
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
        let axes = self.axes();
        let mut inv = vec![0; axes.len()];
        for (i, &a) in axes.iter().enumerate() {
            inv[a] = i;
        }
        Ok(vec![standard(g.permuted_axes(IxDyn(&inv)))])
    }
    fn config(&self) -> Value {
        json!({"dims": self.dims})
    }
}

#[derive(Clone, Debug)]
pub struct RepeatVector {
    n: usize,
}

impl RepeatVector {
    pub fn from_config(c: &Value) -> RkResult<RepeatVector> {
        let n: usize = field(c, "RepeatVector", "n")?;
        if n == 0 {
            return Err(RkError::Spec("RepeatVector `n` must be positive".into()));
        }
        Ok(RepeatVector { n })
    }
}

impl Layer for RepeatVector {
    fn class_name(&self) -> &'static str {
        "RepeatVector"
    }
    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let s = one_input(name, inputs)?;
        if s.len() != 1 {
            return Err(shape_error(
                name,
                format!(
                    "expects inputs of shape (None, d), got {}",
                    super::shape_string(s)
                ),
            ));
        }
        Ok(vec![self.n, s[0]])
    }
    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        let (b, d) = (x.shape()[0], x.shape()[1]);
        let y = x
            .view()
            .insert_axis(Axis(1))
            .broadcast(IxDyn(&[b, self.n, d]))
            .ok_or_else(|| RkError::Internal("repeat broadcast".into()))?
            .to_owned();
        Ok((standard(y), None))
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
        Ok(vec![g.sum_axis(Axis(1))])
    }
    fn config(&self) -> Value {
        json!({"n": self.n})
    }
}
