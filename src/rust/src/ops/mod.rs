//! Tensor operations written in R: the arithmetic, math and `k_*` functions applied to
//! symbolic tensors. R records them as a small graph ([`OpGraph`]) while it runs the user's
//! function once (a `layer_lambda()` body, a loss written in R, an operation on a model's
//! tensors); the engine then runs the graph forward on each batch and takes its
//! vector-Jacobian products backward. Each operation is written once: its output shape
//! ([`Op::shape`], with `None` for an open axis such as the batch), its value
//! ([`Op::forward`]) and the gradients of its inputs ([`Op::backward`]).
//!
//! Tensors here have their full shape, the batch axis included, and axes are 0-based;
//! R turns Keras for R's 1-based and negative axes into these.

mod elementwise;
mod graph;
mod reduce;
mod shape;
#[cfg(test)]
mod tests;

pub use elementwise::{show as show_dims, Binary, Unary};
pub use graph::{OpGraph, OpNode, OpValues};
pub use reduce::Reduction;
pub use shape::CastTo;

use crate::error::{RkError, RkResult};
use crate::layers::Tensor;
use crate::rng::Rng;
use ndarray::IxDyn;
use serde::{Deserialize, Serialize};

/// A shape with `None` where the size is open (the batch axis).
pub type Dims = Vec<Option<usize>>;

/// One operation; its operands are the values its node names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// A constant, row-major.
    Const {
        shape: Vec<usize>,
        values: Vec<f32>,
    },
    Unary {
        #[serde(rename = "fn")]
        f: Unary,
    },
    /// Two operands broadcast against each other as NumPy does.
    Binary {
        #[serde(rename = "fn")]
        f: Binary,
    },
    Clip {
        min: f32,
        max: f32,
    },
    /// A reduction over `axes` (all axes when `None`).
    Reduce {
        kind: Reduction,
        axes: Option<Vec<usize>>,
        keepdims: bool,
    },
    /// The 0-based index of the largest (`max`) or smallest value along `axis`.
    ArgReduce {
        max: bool,
        axis: usize,
    },
    Softmax {
        axis: usize,
    },
    LogSoftmax {
        axis: usize,
    },
    /// `x / sqrt(max(sum(x^2), epsilon))` along `axis` (Keras's `l2_normalize`).
    L2Normalize {
        axis: usize,
        epsilon: f32,
    },
    /// The full new shape; one entry may be -1.
    Reshape {
        shape: Vec<i64>,
    },
    ExpandDims {
        axis: usize,
    },
    Squeeze {
        axis: usize,
    },
    Transpose {
        perm: Vec<usize>,
    },
    /// Its operands joined along `axis`.
    Concat {
        axis: usize,
    },
    /// The entries `indices` along `axis` (R's `[`).
    Take {
        axis: usize,
        indices: Vec<usize>,
    },
    Tile {
        reps: Vec<usize>,
    },
    /// Each entry along `axis` repeated `times` times in place.
    Repeat {
        axis: usize,
        times: usize,
    },
    /// NumPy's `matmul`: the products of the last two axes, the axes before broadcast.
    Matmul,
    /// `a` where the condition (first operand) is non-zero, `b` elsewhere.
    Where,
    /// The one-hot encoding of 0-based class ids, in a new last axis.
    OneHot {
        classes: usize,
    },
    Cast {
        to: CastTo,
    },
    /// Its operand's value, through which no gradient flows.
    StopGradient,
    /// Draws of shape `shape`, where a -1 takes the size of the first operand's axis 0
    /// (the batch): normal (`mean`, `stddev`) or uniform (`min`, `max` as `mean`, `stddev`).
    Random {
        shape: Vec<i64>,
        normal: bool,
        a: f32,
        b: f32,
    },
}

impl Op {
    /// The number of operands the operation takes (`None`: any number, at least one).
    fn arity(&self) -> Option<usize> {
        Some(match self {
            Op::Const { .. } => 0,
            Op::Binary { .. } | Op::Matmul => 2,
            Op::Where => 3,
            Op::Concat { .. } => return None,
            Op::Random { shape, .. } => usize::from(shape.contains(&-1)),
            _ => 1,
        })
    }

    /// The shape of the output given its operands' shapes.
    pub fn shape(&self, ins: &[Dims]) -> RkResult<Dims> {
        match self.arity() {
            Some(n) if ins.len() != n => {
                return Err(op_error(format!(
                    "{} takes {n} operand(s), got {}",
                    self.name(),
                    ins.len()
                )))
            }
            None if ins.is_empty() => {
                return Err(op_error(format!("{} needs an operand", self.name())))
            }
            _ => {}
        }
        match self {
            Op::Const { shape, values } => {
                if shape.iter().product::<usize>() != values.len() {
                    return Err(op_error(format!(
                        "a constant of shape {shape:?} needs {} values, got {}",
                        shape.iter().product::<usize>(),
                        values.len()
                    )));
                }
                Ok(shape.iter().map(|&d| Some(d)).collect())
            }
            Op::Random { shape, .. } => shape
                .iter()
                .map(|&d| match d {
                    -1 => Ok(ins[0].first().copied().flatten()),
                    d if d >= 0 => Ok(Some(d as usize)),
                    d => Err(op_error(format!("random draws of size {d}"))),
                })
                .collect(),
            Op::Binary { .. } => elementwise::broadcast_dims(&ins[0], &ins[1]),
            Op::Where => {
                let ab = elementwise::broadcast_dims(&ins[1], &ins[2])?;
                elementwise::broadcast_dims(&ins[0], &ab)
            }
            Op::Unary { .. } | Op::Clip { .. } | Op::Cast { .. } | Op::StopGradient => {
                Ok(ins[0].clone())
            }
            Op::Reduce { axes, keepdims, .. } => {
                reduce::reduced_dims(&ins[0], axes.as_deref(), *keepdims)
            }
            Op::ArgReduce { axis, .. } => reduce::reduced_dims(&ins[0], Some(&[*axis]), false),
            Op::Softmax { axis } | Op::LogSoftmax { axis } | Op::L2Normalize { axis, .. } => {
                check_axis(*axis, ins[0].len())?;
                Ok(ins[0].clone())
            }
            _ => shape::dims(self, ins),
        }
    }

    /// The output's value.
    pub fn forward(&self, ins: &[&Tensor], rng: &mut Rng) -> RkResult<Tensor> {
        match self {
            Op::Const { shape, values } => Tensor::from_shape_vec(IxDyn(shape), values.clone())
                .map_err(|e| op_error(format!("constant: {e}"))),
            Op::Random { normal, a, b, .. } => {
                let dims = self.random_dims(ins).unwrap_or_default();
                let n = dims.iter().product();
                let v: Vec<f32> = (0..n)
                    .map(|_| {
                        if *normal {
                            a + b * rng.normal() as f32
                        } else {
                            a + (b - a) * rng.uniform_f32()
                        }
                    })
                    .collect();
                Ok(Tensor::from_shape_vec(IxDyn(&dims), v).expect("size matches"))
            }
            Op::Unary { f } => Ok(f.map(ins[0])),
            Op::Binary { f } => elementwise::binary(*f, ins[0], ins[1]),
            Op::Where => elementwise::select(ins[0], ins[1], ins[2]),
            Op::Clip { min, max } => Ok(ins[0].mapv(|x| x.max(*min).min(*max))),
            Op::Cast { to } => Ok(ins[0].mapv(|x| to.apply(x))),
            Op::StopGradient => Ok(ins[0].clone()),
            Op::Reduce {
                kind,
                axes,
                keepdims,
            } => reduce::reduce(*kind, ins[0], axes.as_deref(), *keepdims),
            Op::ArgReduce { max, axis } => reduce::arg_reduce(ins[0], *max, *axis),
            Op::Softmax { axis } => Ok(reduce::softmax(ins[0], *axis)),
            Op::LogSoftmax { axis } => Ok(reduce::log_softmax(ins[0], *axis)),
            Op::L2Normalize { axis, epsilon } => Ok(reduce::l2_normalize(ins[0], *axis, *epsilon)),
            _ => shape::forward(self, ins),
        }
    }

    /// The gradients of the operands given the output `y` and its gradient `g`; `None` for
    /// an operand no gradient reaches (an index, a comparison, a constant).
    pub fn backward(
        &self,
        ins: &[&Tensor],
        y: &Tensor,
        g: &Tensor,
    ) -> RkResult<Vec<Option<Tensor>>> {
        Ok(match self {
            Op::Const { .. } | Op::Random { .. } => vec![None; ins.len()],
            Op::Unary { f } => vec![f.grad(ins[0], y, g)],
            Op::Binary { f } => elementwise::binary_grad(*f, ins[0], ins[1], y, g),
            Op::Where => elementwise::select_grad(ins, g),
            Op::Clip { min, max } => vec![Some(elementwise::zip_map(ins[0], g, |x, g| {
                if x >= *min && x <= *max {
                    g
                } else {
                    0.0
                }
            }))],
            Op::Cast { to } => vec![to.differentiable().then(|| g.clone())],
            Op::StopGradient | Op::ArgReduce { .. } => vec![None],
            Op::Reduce {
                kind,
                axes,
                keepdims,
            } => vec![reduce::reduce_grad(
                *kind,
                ins[0],
                y,
                g,
                axes.as_deref(),
                *keepdims,
            )],
            Op::Softmax { axis } => vec![Some(reduce::softmax_grad(y, g, *axis))],
            Op::LogSoftmax { axis } => vec![Some(reduce::log_softmax_grad(y, g, *axis))],
            Op::L2Normalize { axis, epsilon } => {
                vec![Some(reduce::l2_normalize_grad(ins[0], g, *axis, *epsilon))]
            }
            _ => shape::backward(self, ins, g)?,
        })
    }

    /// The operation's name in messages.
    pub fn name(&self) -> String {
        match self {
            Op::Unary { f } => format!("{f:?}").to_lowercase(),
            Op::Binary { f } => format!("{f:?}").to_lowercase(),
            Op::Reduce { kind, .. } => format!("reduce_{kind:?}").to_lowercase(),
            other => {
                let v = serde_json::to_value(other).unwrap_or_default();
                v.get("op")
                    .and_then(|s| s.as_str())
                    .unwrap_or("op")
                    .to_string()
            }
        }
    }

    /// The shape of a random operation's draws on operands `ins` (`None` for other
    /// operations).
    pub fn random_dims(&self, ins: &[&Tensor]) -> Option<Vec<usize>> {
        let Op::Random { shape, .. } = self else {
            return None;
        };
        Some(
            shape
                .iter()
                .map(|&d| if d < 0 { ins[0].shape()[0] } else { d as usize })
                .collect(),
        )
    }

    /// Whether the operation draws random numbers.
    pub fn is_random(&self) -> bool {
        matches!(self, Op::Random { .. })
    }
}

pub(crate) fn op_error(msg: String) -> RkError {
    RkError::Shape(msg)
}

pub(crate) fn check_axis(axis: usize, rank: usize) -> RkResult<()> {
    if axis >= rank {
        return Err(op_error(format!(
            "axis {} is outside a tensor of rank {rank}",
            axis + 1
        )));
    }
    Ok(())
}
