//! Operations that move values rather than compute them (reshape, transpose, concatenate,
//! slice, tile, repeat), the matrix product, one-hot encoding and casts.

use super::elementwise::{broadcast_dims, unbroadcast};
use super::{check_axis, op_error, Dims, Op};
use crate::error::RkResult;
use crate::layers::Tensor;
use ndarray::{linalg::general_mat_mul, s, ArrayView2, Axis, IxDyn, Slice};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CastTo {
    Float,
    /// Truncated towards zero, as a cast to `int32` does.
    Int,
    Bool,
}

impl CastTo {
    pub fn apply(self, x: f32) -> f32 {
        match self {
            CastTo::Float => x,
            CastTo::Int => x.trunc(),
            CastTo::Bool => f32::from(x != 0.0),
        }
    }
    pub fn differentiable(self) -> bool {
        self == CastTo::Float
    }
}

/// The output shape of the operations of this file.
pub fn dims(op: &Op, ins: &[Dims]) -> RkResult<Dims> {
    let x = &ins[0];
    match op {
        Op::Reshape { shape } => reshape_dims(x, shape),
        Op::ExpandDims { axis } => {
            check_axis(*axis, x.len() + 1)?;
            let mut d = x.clone();
            d.insert(*axis, Some(1));
            Ok(d)
        }
        Op::Squeeze { axis } => {
            check_axis(*axis, x.len())?;
            if x[*axis].is_some_and(|d| d != 1) {
                return Err(op_error(format!(
                    "cannot squeeze axis {} of size {}",
                    axis + 1,
                    x[*axis].unwrap_or(0)
                )));
            }
            let mut d = x.clone();
            d.remove(*axis);
            Ok(d)
        }
        Op::Transpose { perm } => {
            let mut sorted = perm.clone();
            sorted.sort_unstable();
            if sorted != (0..x.len()).collect::<Vec<_>>() {
                return Err(op_error(format!(
                    "a permutation of {} axes, got {perm:?}",
                    x.len()
                )));
            }
            Ok(perm.iter().map(|&p| x[p]).collect())
        }
        Op::Concat { axis } => {
            check_axis(*axis, x.len())?;
            let mut d = x.clone();
            for other in &ins[1..] {
                let agree = other.len() == x.len()
                    && (0..x.len()).all(|i| {
                        i == *axis || x[i].is_none() || other[i].is_none() || x[i] == other[i]
                    });
                if !agree {
                    return Err(op_error(format!(
                        "tensors to concatenate along axis {} must agree on the other axes",
                        axis + 1
                    )));
                }
                d[*axis] = match (d[*axis], other[*axis]) {
                    (Some(a), Some(b)) => Some(a + b),
                    _ => None,
                };
            }
            Ok(d)
        }
        Op::Take { axis, indices } => {
            check_axis(*axis, x.len())?;
            if let (Some(n), Some(&m)) = (x[*axis], indices.iter().max()) {
                if m >= n {
                    return Err(op_error(format!(
                        "index {} is out of bounds for axis {} of size {n}",
                        m + 1,
                        axis + 1
                    )));
                }
            }
            let mut d = x.clone();
            d[*axis] = Some(indices.len());
            Ok(d)
        }
        Op::Tile { reps } => {
            if reps.len() != x.len() {
                return Err(op_error(format!(
                    "`n` must give a repetition for each of the {} axes",
                    x.len()
                )));
            }
            Ok(x.iter().zip(reps).map(|(d, &r)| d.map(|d| d * r)).collect())
        }
        Op::Repeat { axis, times } => {
            check_axis(*axis, x.len())?;
            let mut d = x.clone();
            d[*axis] = d[*axis].map(|v| v * times);
            Ok(d)
        }
        Op::Matmul => {
            let b = &ins[1];
            if x.len() < 2 || b.len() < 2 {
                return Err(op_error(
                    "a matrix product needs operands of rank 2 or more".into(),
                ));
            }
            let (n, m) = (x.len(), b.len());
            if let (Some(k1), Some(k2)) = (x[n - 1], b[m - 2]) {
                if k1 != k2 {
                    return Err(op_error(format!(
                        "a matrix product of shapes with inner sizes {k1} and {k2}"
                    )));
                }
            }
            let mut d = broadcast_dims(&x[..n - 2].to_vec(), &b[..m - 2].to_vec())?;
            d.push(x[n - 2]);
            d.push(b[m - 1]);
            Ok(d)
        }
        Op::OneHot { classes } => {
            let mut d = x.clone();
            d.push(Some(*classes));
            Ok(d)
        }
        _ => Err(op_error(format!("no shape rule for {}", op.name()))),
    }
}

fn reshape_dims(x: &Dims, shape: &[i64]) -> RkResult<Dims> {
    let free = shape.iter().filter(|&&d| d == -1).count();
    if free > 1 || shape.iter().any(|&d| d < -1) {
        return Err(op_error(format!(
            "a new shape may hold one -1 and sizes otherwise, got {shape:?}"
        )));
    }
    let known: usize = shape
        .iter()
        .filter(|&&d| d >= 0)
        .map(|&d| d as usize)
        .product();
    let total: Option<usize> = x.iter().try_fold(1usize, |acc, d| d.map(|d| acc * d));
    let out: Dims = shape
        .iter()
        .map(|&d| {
            if d >= 0 {
                Some(d as usize)
            } else {
                total.and_then(|t| (known > 0).then(|| t / known))
            }
        })
        .collect();
    if let Some(t) = total {
        let n: Option<usize> = out.iter().try_fold(1usize, |acc, d| d.map(|d| acc * d));
        if n != Some(t) {
            return Err(op_error(format!(
                "cannot reshape {t} values into shape {shape:?}"
            )));
        }
    }
    Ok(out)
}

fn concrete(t: &Tensor) -> Dims {
    t.shape().iter().map(|&d| Some(d)).collect()
}

pub fn forward(op: &Op, ins: &[&Tensor]) -> RkResult<Tensor> {
    let x = ins[0];
    Ok(match op {
        Op::Reshape { shape } => {
            let d: Vec<usize> = reshape_dims(&concrete(x), shape)?
                .into_iter()
                .map(|d| d.unwrap_or(0))
                .collect();
            x.to_shape(IxDyn(&d))
                .map_err(|e| op_error(format!("reshape: {e}")))?
                .to_owned()
        }
        Op::ExpandDims { axis } => {
            check_axis(*axis, x.ndim() + 1)?;
            x.clone().insert_axis(Axis(*axis))
        }
        Op::Squeeze { axis } => {
            dims(op, &[concrete(x)])?;
            x.clone().index_axis_move(Axis(*axis), 0)
        }
        Op::Transpose { perm } => {
            dims(op, &[concrete(x)])?;
            x.view()
                .permuted_axes(IxDyn(perm))
                .as_standard_layout()
                .into_owned()
        }
        Op::Concat { axis } => {
            let shapes: Vec<Dims> = ins.iter().map(|t| concrete(t)).collect();
            dims(op, &shapes)?;
            let views: Vec<_> = ins.iter().map(|t| t.view()).collect();
            ndarray::concatenate(Axis(*axis), &views)
                .map_err(|e| op_error(format!("concatenate: {e}")))?
        }
        Op::Take { axis, indices } => {
            dims(op, &[concrete(x)])?;
            x.select(Axis(*axis), indices)
        }
        Op::Tile { reps } => {
            dims(op, &[concrete(x)])?;
            let mut t = x.clone();
            for (ax, &r) in reps.iter().enumerate() {
                if r != 1 {
                    let views = vec![t.view(); r];
                    t = ndarray::concatenate(Axis(ax), &views).expect("same shapes");
                }
            }
            t
        }
        Op::Repeat { axis, times } => {
            check_axis(*axis, x.ndim())?;
            let idx: Vec<usize> = (0..x.shape()[*axis])
                .flat_map(|i| std::iter::repeat_n(i, *times))
                .collect();
            x.select(Axis(*axis), &idx)
        }
        Op::Matmul => matmul(x, ins[1], false, false)?,
        Op::OneHot { classes } => {
            let mut d = x.shape().to_vec();
            d.push(*classes);
            let mut out = Tensor::zeros(IxDyn(&d));
            let flat = out
                .as_slice_mut()
                .expect("standard")
                .chunks_mut((*classes).max(1));
            for (row, &v) in flat.zip(x.iter()) {
                if v >= 0.0 && (v as usize) < *classes {
                    row[v as usize] = 1.0;
                }
            }
            out
        }
        _ => return Err(op_error(format!("no forward rule for {}", op.name()))),
    })
}

pub fn backward(op: &Op, ins: &[&Tensor], g: &Tensor) -> RkResult<Vec<Option<Tensor>>> {
    let x = ins[0];
    Ok(match op {
        Op::Reshape { .. } | Op::ExpandDims { .. } | Op::Squeeze { .. } => vec![Some(
            g.to_shape(x.raw_dim())
                .map_err(|e| op_error(format!("reshape: {e}")))?
                .to_owned(),
        )],
        Op::Transpose { perm } => {
            let mut inv = vec![0; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                inv[p] = i;
            }
            vec![Some(
                g.view()
                    .permuted_axes(IxDyn(&inv))
                    .as_standard_layout()
                    .into_owned(),
            )]
        }
        Op::Concat { axis } => {
            let mut at = 0;
            ins.iter()
                .map(|t| {
                    let n = t.shape()[*axis];
                    let piece = g
                        .slice_axis(Axis(*axis), Slice::from(at..at + n))
                        .to_owned();
                    at += n;
                    Some(piece)
                })
                .collect()
        }
        Op::Take { axis, indices } => {
            let mut gx = Tensor::zeros(x.raw_dim());
            for (k, &i) in indices.iter().enumerate() {
                let mut dst = gx.index_axis_mut(Axis(*axis), i);
                dst += &g.index_axis(Axis(*axis), k);
            }
            vec![Some(gx)]
        }
        Op::Tile { reps } => {
            let mut t = g.clone();
            for (ax, &r) in reps.iter().enumerate() {
                if r != 1 {
                    let d = x.shape()[ax];
                    let mut split = t.shape().to_vec();
                    split[ax] = d;
                    split.insert(ax, r);
                    t = t
                        .to_shape(IxDyn(&split))
                        .expect("whole tiles")
                        .sum_axis(Axis(ax));
                }
            }
            vec![Some(t)]
        }
        Op::Repeat { axis, times } => {
            let mut split = x.shape().to_vec();
            split.insert(axis + 1, *times);
            vec![Some(
                g.to_shape(IxDyn(&split))
                    .expect("whole repeats")
                    .sum_axis(Axis(axis + 1)),
            )]
        }
        Op::Matmul => {
            let b = ins[1];
            let ga = matmul(g, b, false, true)?;
            let gb = matmul(x, g, true, false)?;
            vec![
                Some(unbroadcast(ga, x.shape())),
                Some(unbroadcast(gb, b.shape())),
            ]
        }
        Op::OneHot { .. } => vec![None],
        _ => return Err(op_error(format!("no gradient rule for {}", op.name()))),
    })
}

/// NumPy's `matmul` of `a` (transposed in its last two axes with `ta`) and `b` (with `tb`),
/// the leading axes broadcast.
fn matmul(a: &Tensor, b: &Tensor, ta: bool, tb: bool) -> RkResult<Tensor> {
    let (n, m) = (a.ndim(), b.ndim());
    if n < 2 || m < 2 {
        return Err(op_error(
            "a matrix product needs operands of rank 2 or more".into(),
        ));
    }
    let mat = |t: &Tensor, tr: bool| {
        let d = t.ndim();
        let (r, c) = (t.shape()[d - 2], t.shape()[d - 1]);
        if tr {
            (c, r)
        } else {
            (r, c)
        }
    };
    let ((ar, ac), (br, bc)) = (mat(a, ta), mat(b, tb));
    if ac != br {
        return Err(op_error(format!(
            "a matrix product of shapes {:?} and {:?}: inner sizes {ac} and {br} differ",
            a.shape(),
            b.shape()
        )));
    }
    let lead: Vec<usize> = broadcast_dims(
        &concrete(a)[..n - 2].to_vec(),
        &concrete(b)[..m - 2].to_vec(),
    )?
    .into_iter()
    .map(|d| d.unwrap_or(0))
    .collect();
    let mut ad = lead.clone();
    ad.extend_from_slice(&a.shape()[n - 2..]);
    let mut bd = lead.clone();
    bd.extend_from_slice(&b.shape()[m - 2..]);
    let av = a.broadcast(IxDyn(&ad)).expect("broadcasts");
    let bv = b.broadcast(IxDyn(&bd)).expect("broadcasts");
    let count: usize = lead.iter().product();
    let mut out_d = lead.clone();
    out_d.extend_from_slice(&[ar, bc]);
    let mut out = Tensor::zeros(IxDyn(&out_d));
    let a3 = av
        .to_shape((count, a.shape()[n - 2], a.shape()[n - 1]))
        .expect("reshape");
    let b3 = bv
        .to_shape((count, b.shape()[m - 2], b.shape()[m - 1]))
        .expect("reshape");
    let mut o3 = out
        .view_mut()
        .into_shape_with_order((count, ar, bc))
        .expect("standard");
    for k in 0..count {
        let am: ArrayView2<f32> = a3.slice(s![k, .., ..]);
        let bm: ArrayView2<f32> = b3.slice(s![k, .., ..]);
        let am = if ta { am.t() } else { am };
        let bm = if tb { bm.t() } else { bm };
        let mut om = o3.slice_mut(s![k, .., ..]);
        general_mat_mul(1.0, &am, &bm, 0.0, &mut om);
    }
    Ok(out)
}
