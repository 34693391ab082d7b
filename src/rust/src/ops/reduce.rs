//! Reductions over axes, and the operations that normalize along one axis (softmax,
//! log-softmax, L2 normalization).

use super::{check_axis, op_error, Dims};
use crate::error::RkResult;
use crate::layers::Tensor;
use ndarray::{Axis, Zip};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reduction {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    /// The population variance (divided by n), as Keras's `var`.
    Var,
    Std,
    Logsumexp,
    Any,
    All,
}

/// The reduced axes, sorted and checked: all of them when `axes` is `None`.
fn axes_of(rank: usize, axes: Option<&[usize]>) -> RkResult<Vec<usize>> {
    let mut a: Vec<usize> = match axes {
        None => (0..rank).collect(),
        Some(a) => a.to_vec(),
    };
    a.sort_unstable();
    a.dedup();
    for &ax in &a {
        check_axis(ax, rank)?;
    }
    Ok(a)
}

pub fn reduced_dims(d: &Dims, axes: Option<&[usize]>, keepdims: bool) -> RkResult<Dims> {
    let a = axes_of(d.len(), axes)?;
    Ok(d.iter()
        .enumerate()
        .filter_map(|(i, &v)| match (a.contains(&i), keepdims) {
            (false, _) => Some(v),
            (true, true) => Some(Some(1)),
            (true, false) => None,
        })
        .collect())
}

/// `x`'s shape with the reduced axes kept as size 1.
fn kept_shape(x: &Tensor, axes: &[usize]) -> Vec<usize> {
    x.shape()
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect()
}

/// Fold `f` over each reduced axis, keeping it as size 1.
fn fold_axes(x: &Tensor, axes: &[usize], init: f32, f: impl Fn(f32, f32) -> f32 + Copy) -> Tensor {
    let mut t = x.clone();
    for &ax in axes {
        t = t
            .fold_axis(Axis(ax), init, |&acc, &v| f(acc, v))
            .insert_axis(Axis(ax));
    }
    t
}

fn count(x: &Tensor, axes: &[usize]) -> f32 {
    axes.iter().map(|&a| x.shape()[a]).product::<usize>() as f32
}

/// The reduction with its axes kept (size 1).
fn reduce_kept(kind: Reduction, x: &Tensor, axes: &[usize]) -> Tensor {
    match kind {
        Reduction::Sum => fold_axes(x, axes, 0.0, |a, v| a + v),
        Reduction::Mean => fold_axes(x, axes, 0.0, |a, v| a + v) / count(x, axes),
        Reduction::Max => fold_axes(x, axes, f32::NEG_INFINITY, f32::max),
        Reduction::Min => fold_axes(x, axes, f32::INFINITY, f32::min),
        Reduction::Prod => fold_axes(x, axes, 1.0, |a, v| a * v),
        Reduction::Any => fold_axes(x, axes, 0.0, |a, v| f32::from(a != 0.0 || v != 0.0)),
        Reduction::All => fold_axes(x, axes, 1.0, |a, v| f32::from(a != 0.0 && v != 0.0)),
        Reduction::Var | Reduction::Std => {
            let m = reduce_kept(Reduction::Mean, x, axes);
            let d = x - &m;
            let v = reduce_kept(Reduction::Mean, &d.mapv(|v| v * v), axes);
            if kind == Reduction::Std {
                v.mapv(f32::sqrt)
            } else {
                v
            }
        }
        Reduction::Logsumexp => {
            let m =
                reduce_kept(Reduction::Max, x, axes).mapv(|v| if v.is_finite() { v } else { 0.0 });
            let e = (x - &m).mapv(f32::exp);
            reduce_kept(Reduction::Sum, &e, axes).mapv(f32::ln) + m
        }
    }
}

fn drop_axes(mut t: Tensor, axes: &[usize]) -> Tensor {
    for &ax in axes.iter().rev() {
        t = t.index_axis_move(Axis(ax), 0);
    }
    t
}

pub fn reduce(
    kind: Reduction,
    x: &Tensor,
    axes: Option<&[usize]>,
    keepdims: bool,
) -> RkResult<Tensor> {
    let a = axes_of(x.ndim(), axes)?;
    let t = reduce_kept(kind, x, &a);
    Ok(if keepdims { t } else { drop_axes(t, &a) })
}

pub fn reduce_grad(
    kind: Reduction,
    x: &Tensor,
    y: &Tensor,
    g: &Tensor,
    axes: Option<&[usize]>,
    _keepdims: bool,
) -> Option<Tensor> {
    let a = axes_of(x.ndim(), axes).ok()?;
    let kept = kept_shape(x, &a);
    let gk = g.to_shape(kept.clone()).ok()?.to_owned();
    let yk = y.to_shape(kept).ok()?.to_owned();
    let gb = gk.broadcast(x.raw_dim())?;
    let yb = yk.broadcast(x.raw_dim())?;
    let n = count(x, &a);
    Some(match kind {
        Reduction::Sum => gb.to_owned(),
        Reduction::Mean => gb.mapv(|g| g / n),
        Reduction::Max | Reduction::Min => {
            // Ties share the gradient equally, as TensorFlow does.
            let hit = Zip::from(x)
                .and(&yb)
                .map_collect(|&x, &y| f32::from(x == y));
            let ties = reduce_kept(Reduction::Sum, &hit, &a);
            let tb = ties.broadcast(x.raw_dim())?;
            Zip::from(&hit)
                .and(&gb)
                .and(&tb)
                .map_collect(|&h, &g, &t| h * g / t)
        }
        Reduction::Prod => Zip::from(x)
            .and(&gb)
            .and(&yb)
            .map_collect(|&x, &g, &y| g * y / x),
        Reduction::Var | Reduction::Std => {
            let m = reduce_kept(Reduction::Mean, x, &a);
            let mb = m.broadcast(x.raw_dim())?;
            Zip::from(x)
                .and(&mb)
                .and(&gb)
                .and(&yb)
                .map_collect(|&x, &m, &g, &y| {
                    let dv = 2.0 * (x - m) / n;
                    if kind == Reduction::Std {
                        g * dv / (2.0 * y)
                    } else {
                        g * dv
                    }
                })
        }
        Reduction::Logsumexp => Zip::from(x)
            .and(&gb)
            .and(&yb)
            .map_collect(|&x, &g, &y| g * (x - y).exp()),
        Reduction::Any | Reduction::All => return None,
    })
}

pub fn arg_reduce(x: &Tensor, max: bool, axis: usize) -> RkResult<Tensor> {
    check_axis(axis, x.ndim())?;
    if x.shape()[axis] == 0 {
        return Err(op_error(
            "the index of the largest value of an empty axis".into(),
        ));
    }
    Ok(x.map_axis(Axis(axis), |lane| {
        let mut best = 0;
        for (i, &v) in lane.iter().enumerate() {
            let b = lane[best];
            if (max && v > b) || (!max && v < b) {
                best = i;
            }
        }
        best as f32
    }))
}

pub fn softmax(x: &Tensor, axis: usize) -> Tensor {
    let m = reduce_kept(Reduction::Max, x, &[axis]);
    let e = (x - &m).mapv(f32::exp);
    let s = reduce_kept(Reduction::Sum, &e, &[axis]);
    e / s
}

pub fn softmax_grad(y: &Tensor, g: &Tensor, axis: usize) -> Tensor {
    let gy = g * y;
    let s = reduce_kept(Reduction::Sum, &gy, &[axis]);
    (g - &s) * y
}

pub fn log_softmax(x: &Tensor, axis: usize) -> Tensor {
    x - &reduce_kept(Reduction::Logsumexp, x, &[axis])
}

pub fn log_softmax_grad(y: &Tensor, g: &Tensor, axis: usize) -> Tensor {
    let s = reduce_kept(Reduction::Sum, g, &[axis]);
    g - &(y.mapv(f32::exp) * s)
}

pub fn l2_normalize(x: &Tensor, axis: usize, eps: f32) -> Tensor {
    let s = reduce_kept(Reduction::Sum, &x.mapv(|v| v * v), &[axis]);
    x * &s.mapv(|s| 1.0 / s.max(eps).sqrt())
}

pub fn l2_normalize_grad(x: &Tensor, g: &Tensor, axis: usize, eps: f32) -> Tensor {
    let s = reduce_kept(Reduction::Sum, &x.mapv(|v| v * v), &[axis]);
    let gx = reduce_kept(Reduction::Sum, &(g * x), &[axis]);
    let sb = s.broadcast(x.raw_dim()).expect("kept axes");
    let gxb = gx.broadcast(x.raw_dim()).expect("kept axes");
    Zip::from(x)
        .and(g)
        .and(&sb)
        .and(&gxb)
        .map_collect(|&x, &g, &s, &gx| {
            if s > eps {
                g / s.sqrt() - x * gx / (s * s.sqrt())
            } else {
                g / eps.sqrt()
            }
        })
}
