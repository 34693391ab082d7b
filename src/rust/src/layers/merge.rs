//! Merge layers: several inputs, one output.
//!
//! # Shapes
//! - concatenate: inputs equal but on `axis` -> sizes on `axis` added;
//! - add, subtract (two inputs), multiply, average, maximum, minimum: shapes of one rank that
//!   broadcast as Keras's (a size of 1 stretches to the others') -> the broadcast shape;
//!   maximum and minimum pass the gradient to the input that won (the first on ties), and a
//!   stretched input's gradient is summed over the axes it was stretched along.
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
    /// Whether the inputs' shapes differ (some are stretched to the output's).
    broadcast: bool,
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
        Ok(Elementwise {
            op,
            broadcast: false,
        })
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
        let all = || {
            let all: Vec<String> = inputs.iter().map(|s| shape_string(s)).collect();
            all.join(", ")
        };
        if inputs.iter().any(|s| s.len() != inputs[0].len()) {
            return Err(shape_error(
                name,
                format!("needs inputs of one rank, got {}", all()),
            ));
        }
        // Keras's broadcast: on each axis the sizes agree, or all but one of them are 1.
        let mut out = inputs[0].clone();
        for s in &inputs[1..] {
            for (o, &d) in out.iter_mut().zip(s) {
                if *o == 1 {
                    *o = d;
                } else if d != 1 && d != *o {
                    return Err(shape_error(
                        name,
                        format!("needs inputs of shapes that broadcast, got {}", all()),
                    ));
                }
            }
        }
        self.broadcast = inputs.iter().any(|s| s != &out);
        Ok(out)
    }
    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        if !self.broadcast {
            let mut y = xs[0].clone();
            self.combine(&mut y, &xs[1..]);
            return Ok((y, None));
        }
        let dim = broadcast_dim(xs)?;
        let wide: Vec<Tensor> = xs
            .iter()
            .map(|x| stretch(x, &dim))
            .collect::<RkResult<_>>()?;
        let mut y = wide[0].clone();
        let rest: Vec<&Tensor> = wide[1..].iter().collect();
        self.combine(&mut y, &rest);
        Ok((y, None))
    }

    fn merge_step(&self) -> Option<super::MergeStep> {
        if self.broadcast {
            return None;
        }
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
        if self.broadcast {
            let wide: Vec<Tensor> = xs
                .iter()
                .map(|x| stretch(x, y.shape()))
                .collect::<RkResult<_>>()?;
            let views: Vec<&Tensor> = wide.iter().collect();
            let grads = self.grads(&views, y, g)?;
            return Ok(grads
                .into_iter()
                .zip(xs)
                .map(|(gi, x)| shrink(gi, x.shape()))
                .collect());
        }
        self.grads(xs, y, g)
    }
    fn config(&self) -> Value {
        json!({})
    }
}

/// The output's dims: each axis's largest size among the inputs (they broadcast).
fn broadcast_dim(xs: &[&Tensor]) -> RkResult<Vec<usize>> {
    let mut dim = xs[0].shape().to_vec();
    for x in &xs[1..] {
        for (d, &s) in dim.iter_mut().zip(x.shape()) {
            *d = (*d).max(s);
        }
    }
    Ok(dim)
}

/// `x` stretched along its axes of size 1 to `dim`.
fn stretch(x: &Tensor, dim: &[usize]) -> RkResult<Tensor> {
    let view = x
        .broadcast(ndarray::IxDyn(dim))
        .ok_or_else(|| RkError::Internal("merge: inputs do not broadcast".into()))?;
    Ok(super::standard(view.to_owned()))
}

/// A gradient of the output's shape summed over the axes its input was stretched along.
fn shrink(mut g: Tensor, shape: &[usize]) -> Tensor {
    for (axis, &s) in shape.iter().enumerate() {
        if s == 1 && g.shape()[axis] != 1 {
            g = g.sum_axis(Axis(axis)).insert_axis(Axis(axis));
        }
    }
    g
}

impl Elementwise {
    /// The inputs' gradients when all have the output's shape.
    fn grads(&self, xs: &[&Tensor], y: &Tensor, g: Tensor) -> RkResult<Vec<Tensor>> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each op merging a `[2, 3, 4]` input with `[2, 1, 4]` and `[2, 3, 1]` ones: gradients
    /// of a weighted sum of the output against central differences.
    #[test]
    fn broadcast_merges_match_finite_differences() {
        let shapes = [vec![2, 3, 4], vec![2, 1, 4], vec![2, 3, 1]];
        let sizes: Vec<usize> = shapes.iter().map(|s| s.iter().product()).collect();
        let w: Vec<f32> = (0..24).map(|i| 0.3 + 0.05 * (i % 7) as f32).collect();
        let ctx = || crate::layers::test_ctx(true, Rng::new(0));
        for class in [
            "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
        ] {
            let n = if class == "Subtract" { 2 } else { 3 };
            let mut layer = Elementwise::new(class).unwrap();
            let inner: Vec<Shape> = shapes[..n].iter().map(|s| s[1..].to_vec()).collect();
            let out = layer.build("m", &inner, &mut Rng::new(1)).unwrap();
            assert_eq!(out, vec![3, 4]);
            assert!(layer.broadcast);
            // Distinct values, well apart, so that maximum and minimum have clear winners.
            let mut xv: Vec<f32> = (0..sizes[..n].iter().sum::<usize>())
                .map(|i| ((i * 37 % 53) as f32 - 26.0) * 0.11)
                .collect();
            xv.iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v += 0.001 * i as f32);
            let tensors = |v: &[f32]| -> Vec<Tensor> {
                let mut at = 0;
                shapes[..n]
                    .iter()
                    .map(|s| {
                        let len: usize = s.iter().product();
                        let t =
                            Tensor::from_shape_vec(s.clone(), v[at..at + len].to_vec()).unwrap();
                        at += len;
                        t
                    })
                    .collect()
            };
            let objective = |v: &[f32]| -> f64 {
                let ts = tensors(v);
                let refs: Vec<&Tensor> = ts.iter().collect();
                let y = layer.forward(&refs, &mut ctx()).unwrap().0;
                y.iter()
                    .zip(&w)
                    .map(|(a, b)| (*a as f64) * (*b as f64))
                    .sum()
            };
            let ts = tensors(&xv);
            let refs: Vec<&Tensor> = ts.iter().collect();
            let (y, cache) = layer.forward(&refs, &mut ctx()).unwrap();
            assert_eq!(y.shape(), &[2, 3, 4]);
            let g = Tensor::from_shape_vec(vec![2, 3, 4], w.clone()).unwrap();
            let grads = layer
                .backward(&refs, &y, &cache, g, &mut [], &mut ctx())
                .unwrap();
            let flat: Vec<f32> = grads.iter().flat_map(|t| t.iter().copied()).collect();
            assert_eq!(flat.len(), xv.len());
            crate::testing::check_grad(class, &xv, &flat, objective).unwrap();
        }
        let mut bad = Elementwise::new("Add").unwrap();
        assert!(bad
            .build("m", &[vec![3, 4], vec![2, 4]], &mut Rng::new(1))
            .is_err());
    }
}
