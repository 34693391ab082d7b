//! Dot: the dot product of two inputs' samples along one axis of each (Keras's `Dot`, its
//! `batch_dot`), optionally of their L2-normalized values (cosine similarity).
//!
//! # Shapes
//! Axes count the batch as 0, as Keras's do (`axes = 1` is a sample's first axis; negative
//! ones count from the end). `a [batch, ...]` and `b [batch, ...]` with `a`'s axis `i` and
//! `b`'s axis `j` of one size `k` give `a`'s other axes then `b`'s: `[batch, d] . [batch, d]`
//! -> `[batch, 1]`, `[batch, n, d] . [batch, m, d]` (axes 2) -> `[batch, n, m]`.
//!
//! Per sample, `a` with axis `i` moved last is a `p x k` matrix `A`, `b` with axis `j` moved
//! first a `k x q` matrix `B`; `y = A B`, `dA = g B'`, `dB = A' g`. With `normalize`, each
//! input is first divided by its norm along the axis, `n = x / sqrt(max(sum x^2, 1e-12))`,
//! whose backward is `dx = (g - n sum(g n)) / norm` (where the norm is not clamped).

use super::{field_or, shape_error, shape_string, Cache, Ctx, Layer, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use ndarray::{Array2, ArrayView2, Axis, Ix3, IxDyn};
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct Dot {
    /// As configured (an integer or two), for the config.
    axes: Value,
    normalize: bool,
    /// The contracted sample axes (0-based, without the batch) of each input, once built.
    at: [usize; 2],
}

/// Keras's l2_normalize floor on the squared norm.
const NORM_EPS: f32 = 1e-12;

impl Dot {
    pub fn from_config(c: &Value) -> RkResult<Dot> {
        let normalize = field_or(c, "Dot", "normalize", false)?;
        let axes = c.get("axes").cloned().unwrap_or(json!(-1));
        let int = |v: &Value| v.as_i64().filter(|&a| a != 0);
        let valid = int(&axes).is_some()
            || axes
                .as_array()
                .is_some_and(|a| a.len() == 2 && a.iter().all(|v| int(v).is_some()));
        if !valid {
            return Err(RkError::Spec(format!(
                "Dot `axes` must be a non-zero axis or two (the batch is axis 0), not {axes}"
            )));
        }
        Ok(Dot {
            axes,
            normalize,
            at: [0, 0],
        })
    }

    fn axis(&self, k: usize) -> i64 {
        match self.axes.as_array() {
            Some(a) => a[k].as_i64().unwrap_or(-1),
            None => self.axes.as_i64().unwrap_or(-1),
        }
    }
}

/// The axes of a rank-`r` batch with sample axis `at` moved last (`last`) or right after the
/// batch.
fn batched_order(r: usize, at: usize, last: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..r).filter(|&d| d != at + 1).collect();
    if last {
        order.push(at + 1);
    } else {
        order.insert(1, at + 1);
    }
    order
}

/// `x` (a batch) as `[batch, p, k]` with sample axis `at` moved last (`last`) or, for the
/// second input, as `[batch, k, q]` with it moved first.
fn as_batched(x: &Tensor, at: usize, last: bool) -> ndarray::Array3<f32> {
    let order = batched_order(x.ndim(), at, last);
    let p = x.view().permuted_axes(IxDyn(&order));
    let k = x.shape()[at + 1];
    let rest = x.len() / x.shape()[0].max(1) / k.max(1);
    let (d1, d2) = if last { (rest, k) } else { (k, rest) };
    p.as_standard_layout()
        .into_owned()
        .into_shape_with_order((x.shape()[0], d1, d2))
        .expect("sizes agree")
}

/// Undo `as_batched` on a gradient of its shape: back to `like`'s layout.
fn from_batched(g: ndarray::Array3<f32>, like: &Tensor, at: usize, last: bool) -> Tensor {
    let r = like.ndim();
    let order = batched_order(r, at, last);
    let permuted_shape: Vec<usize> = order.iter().map(|&d| like.shape()[d]).collect();
    let t = g
        .into_shape_with_order(IxDyn(&permuted_shape))
        .expect("sizes agree");
    // Inverse permutation.
    let mut inv = vec![0; r];
    for (i, &d) in order.iter().enumerate() {
        inv[d] = i;
    }
    t.permuted_axes(IxDyn(&inv))
        .as_standard_layout()
        .into_owned()
}

/// Normalize each `[p, k]` row (`last`) or `[k, q]` column over `k`; also returns the norms.
fn normalize(m: &ndarray::Array3<f32>, last: bool) -> (ndarray::Array3<f32>, ndarray::Array3<f32>) {
    let ax = if last { Axis(2) } else { Axis(1) };
    let norms = m
        .mapv(|v| v * v)
        .sum_axis(ax)
        .mapv(|s| s.max(NORM_EPS).sqrt())
        .insert_axis(ax);
    (m / &norms, norms)
}

fn matmul(a: ArrayView2<f32>, b: ArrayView2<f32>) -> Array2<f32> {
    a.dot(&b)
}

impl Layer for Dot {
    fn class_name(&self) -> &'static str {
        "Dot"
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let [a, b] = inputs else {
            return Err(shape_error(
                name,
                format!("takes two inputs, got {}", inputs.len()),
            ));
        };
        let mut at = [0usize; 2];
        for (k, s) in [a, b].iter().enumerate() {
            let r = s.len() as i64 + 1; // with the batch
            let ax = self.axis(k);
            let ax = if ax < 0 { ax + r } else { ax };
            if ax < 1 || ax >= r {
                return Err(shape_error(
                    name,
                    format!(
                        "`axes` {} is not a sample axis of input {} {}",
                        self.axis(k),
                        k + 1,
                        shape_string(s)
                    ),
                ));
            }
            at[k] = (ax - 1) as usize;
        }
        if a[at[0]] != b[at[1]] {
            return Err(shape_error(
                name,
                format!(
                    "multiplies axes of different sizes: {} of {} and {} of {}",
                    a[at[0]],
                    shape_string(a),
                    b[at[1]],
                    shape_string(b)
                ),
            ));
        }
        self.at = at;
        Ok(out_shape(a, b, at))
    }

    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let mut a = as_batched(xs[0], self.at[0], true);
        let mut b = as_batched(xs[1], self.at[1], false);
        if self.normalize {
            a = normalize(&a, true).0;
            b = normalize(&b, false).0;
        }
        let n = a.shape()[0];
        let (p, q) = (a.shape()[1], b.shape()[2]);
        let mut y = ndarray::Array3::<f32>::zeros((n, p, q));
        for i in 0..n {
            y.index_axis_mut(Axis(0), i)
                .assign(&matmul(a.index_axis(Axis(0), i), b.index_axis(Axis(0), i)));
        }
        let mut shape = vec![n];
        shape.extend(out_shape(&xs[0].shape()[1..], &xs[1].shape()[1..], self.at));
        let y = y
            .into_shape_with_order(IxDyn(&shape))
            .map_err(|e| RkError::Internal(e.to_string()))?;
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
        let a0 = as_batched(xs[0], self.at[0], true);
        let b0 = as_batched(xs[1], self.at[1], false);
        let (a, na) = if self.normalize {
            normalize(&a0, true)
        } else {
            (a0.clone(), a0.mapv(|_| 1.0))
        };
        let (b, nb) = if self.normalize {
            normalize(&b0, false)
        } else {
            (b0.clone(), b0.mapv(|_| 1.0))
        };
        let n = a.shape()[0];
        let (p, q) = (a.shape()[1], b.shape()[2]);
        let g = g
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order((n, p, q))
            .map_err(|e| RkError::Internal(e.to_string()))?
            .into_dimensionality::<Ix3>()
            .map_err(|e| RkError::Internal(e.to_string()))?;
        let mut da = ndarray::Array3::<f32>::zeros(a.raw_dim());
        let mut db = ndarray::Array3::<f32>::zeros(b.raw_dim());
        for i in 0..n {
            let gi = g.index_axis(Axis(0), i);
            da.index_axis_mut(Axis(0), i)
                .assign(&matmul(gi, b.index_axis(Axis(0), i).t()));
            db.index_axis_mut(Axis(0), i)
                .assign(&matmul(a.index_axis(Axis(0), i).t(), gi));
        }
        if self.normalize {
            // Through x / norm: (g - n * sum(g * n)) / norm, over the contracted axis; where
            // the norm was clamped, the division is by a constant.
            let back = |d: ndarray::Array3<f32>,
                        nrm: &ndarray::Array3<f32>,
                        norms: &ndarray::Array3<f32>,
                        raw: &ndarray::Array3<f32>,
                        ax: Axis| {
                let dot = (&d * nrm).sum_axis(ax).insert_axis(ax);
                let clamped = raw
                    .mapv(|v| v * v)
                    .sum_axis(ax)
                    .mapv(|s| if s < NORM_EPS { 0.0 } else { 1.0 })
                    .insert_axis(ax);
                (&d - &(nrm * &(&dot * &clamped))) / norms
            };
            da = back(da, &a, &na, &a0, Axis(2));
            db = back(db, &b, &nb, &b0, Axis(1));
        }
        Ok(vec![
            from_batched(da, xs[0], self.at[0], true),
            from_batched(db, xs[1], self.at[1], false),
        ])
    }

    fn config(&self) -> Value {
        json!({"axes": self.axes, "normalize": self.normalize})
    }
}

/// The output's sample shape: `a`'s axes but `at[0]`, then `b`'s but `at[1]` (at least one).
fn out_shape(a: &[usize], b: &[usize], at: [usize; 2]) -> Shape {
    let skip = |s: &[usize], k: usize| -> Vec<usize> {
        s.iter()
            .enumerate()
            .filter(|&(i, _)| i != k)
            .map(|(_, &d)| d)
            .collect()
    };
    let mut out = skip(a, at[0]);
    out.extend(skip(b, at[1]));
    if out.is_empty() {
        out.push(1);
    }
    out
}
