//! Merge layers: several inputs, one output.
//!
//! # Shapes
//! - concatenate: inputs equal but on `axis` -> sizes on `axis` added;
//! - add, subtract (two inputs), multiply, average, maximum, minimum: equal shapes -> that shape;
//!   maximum and minimum pass the gradient to the input that won (the first on ties).
//!
//! The dot product is in `dot.rs`.

use super::{field_or, shape_error, shape_string, Cache, Ctx, Layer, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use ndarray::{Axis, Zip};
use serde_json::{json, Value};

fn at_least_two(name: &str, inputs: &[Shape]) -> RkResult<()> {
    if inputs.len() < 2 {
        return Err(shape_error(
            name,
            format!("merges a list of at least 2 inputs, got {}", inputs.len()),
        ));
    }
    Ok(())
}

#[derive(Clone, Debug)]
pub struct Concatenate {
    axis: i64,
    /// The concatenated sample axis (0-based, without the batch) and each input's size on it.
    at: usize,
    sizes: Vec<usize>,
}

impl Concatenate {
    pub fn from_config(c: &Value) -> RkResult<Concatenate> {
        Ok(Concatenate {
            axis: field_or(c, "Concatenate", "axis", -1)?,
            at: 0,
            sizes: vec![],
        })
    }
}

/// Keras's merged mask of steps `[batch, steps]`: where any input's mask is set (`or`),
/// with an input without a mask counting as set everywhere when `none_is_set`, else making
/// the whole merge unmasked.
fn or_masks(masks: &[Option<Tensor>], none_is_set: bool) -> Option<Tensor> {
    if masks.iter().all(|m| m.is_none()) || (!none_is_set && masks.iter().any(|m| m.is_none())) {
        return None;
    }
    let mut out: Option<Tensor> = None;
    for m in masks {
        let Some(m) = m else {
            let like = masks.iter().flatten().next()?;
            return Some(Tensor::from_elem(like.raw_dim(), 1.0));
        };
        out = Some(match out {
            None => m.clone(),
            Some(o) => ndarray::Zip::from(&o).and(m).map_collect(|a, b| {
                if *a != 0.0 || *b != 0.0 {
                    1.0
                } else {
                    0.0
                }
            }),
        });
    }
    out
}

impl Layer for Concatenate {
    fn uses_input_masks(&self) -> bool {
        true
    }

    /// Keras's: the inputs' masks (set everywhere for an input without one) joined along
    /// the steps when concatenating steps, else combined with `or`.
    fn merge_masks(&self, xs: &[&Tensor], masks: &[Option<Tensor>]) -> Option<Tensor> {
        if masks.iter().all(|m| m.is_none()) {
            return None;
        }
        if self.at == 0 && xs[0].ndim() > 2 {
            let parts: Vec<Tensor> = xs
                .iter()
                .zip(masks)
                .map(|(x, m)| {
                    m.clone()
                        .unwrap_or_else(|| Tensor::from_elem(ndarray::IxDyn(&x.shape()[..2]), 1.0))
                })
                .collect();
            let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
            return ndarray::concatenate(Axis(1), &views).ok();
        }
        or_masks(masks, true)
    }

    fn class_name(&self) -> &'static str {
        "Concatenate"
    }
    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        at_least_two(name, inputs)?;
        let rank = inputs[0].len() as i64;
        let ax = if self.axis < 0 {
            rank + 1 + self.axis
        } else {
            self.axis
        };
        if ax < 1 || ax > rank {
            return Err(shape_error(
                name,
                format!(
                    "cannot concatenate on axis {} of inputs shaped {}",
                    self.axis,
                    shape_string(&inputs[0])
                ),
            ));
        }
        let at = (ax - 1) as usize;
        for s in inputs {
            let same = s.len() == inputs[0].len()
                && s.iter()
                    .zip(&inputs[0])
                    .enumerate()
                    .all(|(i, (a, b))| i == at || a == b);
            if !same {
                let all: Vec<String> = inputs.iter().map(|s| shape_string(s)).collect();
                return Err(shape_error(
                    name,
                    format!(
                        "needs inputs equal except on axis {}, got {}",
                        self.axis,
                        all.join(", ")
                    ),
                ));
            }
        }
        self.at = at;
        self.sizes = inputs.iter().map(|s| s[at]).collect();
        let mut out = inputs[0].clone();
        out[at] = self.sizes.iter().sum();
        Ok(out)
    }
    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let views: Vec<_> = xs.iter().map(|x| x.view()).collect();
        let y = ndarray::concatenate(Axis(self.at + 1), &views)
            .map_err(|e| RkError::Internal(e.to_string()))?;
        Ok((super::standard(y), None))
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
        let mut start = 0;
        Ok(self
            .sizes
            .iter()
            .map(|&n| {
                let part = g
                    .slice_axis(Axis(self.at + 1), (start..start + n).into())
                    .to_owned();
                start += n;
                super::standard(part)
            })
            .collect())
    }
    fn config(&self) -> Value {
        json!({"axis": self.axis})
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Add,
    Subtract,
    Multiply,
    Average,
    Maximum,
    Minimum,
}

#[derive(Clone, Debug)]
pub struct Elementwise {
    op: Op,
}

impl Elementwise {
    pub fn new(class_name: &str) -> RkResult<Elementwise> {
        let op = match class_name {
            "Add" => Op::Add,
            "Subtract" => Op::Subtract,
            "Multiply" => Op::Multiply,
            "Average" => Op::Average,
            "Maximum" => Op::Maximum,
            "Minimum" => Op::Minimum,
            other => return Err(RkError::Spec(format!("unknown merge layer '{other}'"))),
        };
        Ok(Elementwise { op })
    }
}

impl Elementwise {
    /// `y = y op x` for each of `rest` in turn (then the mean's division).
    fn combine(&self, y: &mut Tensor, rest: &[&Tensor]) {
        for x in rest {
            match self.op {
                Op::Add | Op::Average => *y += *x,
                Op::Subtract => *y -= *x,
                Op::Multiply => *y *= *x,
                Op::Maximum => Zip::from(&mut *y).and(*x).for_each(|a, &b| *a = a.max(b)),
                Op::Minimum => Zip::from(&mut *y).and(*x).for_each(|a, &b| *a = a.min(b)),
            }
        }
        if self.op == Op::Average {
            *y /= (rest.len() + 1) as f32;
        }
    }
}

impl Layer for Elementwise {
    fn uses_input_masks(&self) -> bool {
        true
    }

    /// Keras's: where any input's mask is set, none when an input has no mask.
    fn merge_masks(&self, _xs: &[&Tensor], masks: &[Option<Tensor>]) -> Option<Tensor> {
        or_masks(masks, false)
    }

    fn class_name(&self) -> &'static str {
        match self.op {
            Op::Add => "Add",
            Op::Subtract => "Subtract",
            Op::Multiply => "Multiply",
            Op::Average => "Average",
            Op::Maximum => "Maximum",
            Op::Minimum => "Minimum",
        }
    }
    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        at_least_two(name, inputs)?;
        if self.op == Op::Subtract && inputs.len() != 2 {
            return Err(shape_error(
                name,
                format!("subtracts exactly 2 inputs, got {}", inputs.len()),
            ));
        }
        if inputs.iter().any(|s| s != &inputs[0]) {
            let all: Vec<String> = inputs.iter().map(|s| shape_string(s)).collect();
            return Err(shape_error(
                name,
                format!("needs inputs of one shape, got {}", all.join(", ")),
            ));
        }
        Ok(inputs[0].clone())
    }
    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let mut y = xs[0].clone();
        self.combine(&mut y, &xs[1..]);
        Ok((y, None))
    }

    fn merge_step(&self) -> Option<super::MergeStep> {
        let op = self.clone();
        Some(std::sync::Arc::new(
            move |acc: &mut Tensor, rest: &[&Tensor]| op.combine(acc, rest),
        ))
    }

    fn backward(
        &self,
        xs: &[&Tensor],
        y: &Tensor,
        _cache: &Cache,
        g: Tensor,
        _pgrads: &mut [Tensor],
        _ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        let n = xs.len();
        Ok(match self.op {
            Op::Add => vec![g; n],
            Op::Average => vec![g / n as f32; n],
            Op::Subtract => vec![g.clone(), -g],
            Op::Multiply => (0..n)
                .map(|i| {
                    let mut gi = g.clone();
                    for (j, x) in xs.iter().enumerate() {
                        if j != i {
                            gi *= *x;
                        }
                    }
                    gi
                })
                .collect(),
            Op::Maximum | Op::Minimum => {
                // The first input equal to the output takes the whole gradient.
                let mut taken = ndarray::ArrayD::from_elem(y.raw_dim(), false);
                xs.iter()
                    .map(|x| {
                        let mut gi = Tensor::zeros(y.raw_dim());
                        Zip::from(&mut gi)
                            .and(&mut taken)
                            .and(*x)
                            .and(y)
                            .and(&g)
                            .for_each(|gi, t, &x, &y, &g| {
                                if !*t && x == y {
                                    *gi = g;
                                    *t = true;
                                }
                            });
                        gi
                    })
                    .collect()
            }
        })
    }
    fn config(&self) -> Value {
        json!({})
    }
}
