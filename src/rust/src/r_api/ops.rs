//! `.Call` shims for operations on tensors: the shapes of a recorded operation graph's
//! outputs (while R records it), and its values on R arrays (the `k_*` functions applied to
//! arrays and constants).

use crate::error::{RkError, RkResult};
use crate::layers::Tensor;
use crate::ops::OpGraph;
use crate::r_api::shapes::{open_ints, open_shape_list};
use crate::rng::Rng;
use extendr_api::prelude::*;
use ndarray::IxDyn;

type Ret = std::result::Result<Robj, RkError>;

/// The most values an operation computed on arrays may make (1 GiB in single precision).
const EAGER_LIMIT: usize = 1 << 28;

/// The shapes of the outputs of graph `json` given its inputs' shapes (NA: open).
#[extendr]
fn rk_op_shapes(json: &str, shapes: List) -> Ret {
    let g = OpGraph::from_json(json)?;
    let outs = g.output_shapes(&open_shape_list(shapes)?)?;
    Ok(List::from_values(outs.iter().map(|s| open_ints(s))).into())
}

/// Tensors from row-major values and their dims.
fn tensors(values: List, dims: List) -> RkResult<Vec<Tensor>> {
    let dims = open_shape_list(dims)?;
    values
        .values()
        .zip(&dims)
        .map(|(v, d)| {
            let d: Vec<usize> = d.iter().map(|x| x.unwrap_or(0)).collect();
            let v: Vec<f32> = v
                .as_real_vector()
                .ok_or_else(|| RkError::Internal("operand values must be doubles".into()))?
                .iter()
                .map(|&x| x as f32)
                .collect();
            Tensor::from_shape_vec(IxDyn(&d), v)
                .map_err(|e| RkError::Shape(format!("operand: {e}")))
        })
        .collect()
}

fn r_tensor(t: &Tensor) -> Robj {
    let v: Vec<f64> = t.iter().map(|&x| x as f64).collect();
    let d: Vec<i32> = t.shape().iter().map(|&d| d as i32).collect();
    Robj::from(list!(values = v, dim = d))
}

/// The outputs of graph `json` on inputs given as row-major values with their dims;
/// each output as `list(values, dim)`, row-major.
#[extendr]
fn rk_op_eval(json: &str, values: List, dims: List, seed: f64) -> Ret {
    let g = OpGraph::from_json(json)?;
    let ins = tensors(values, dims)?;
    let refs: Vec<&Tensor> = ins.iter().collect();
    // Every value's size is known before any is computed: refuse what would not fit.
    let shapes: Vec<_> = refs
        .iter()
        .map(|t| t.shape().iter().map(|&d| Some(d)).collect())
        .collect();
    for s in g.shapes(&shapes)? {
        let n = s
            .iter()
            .try_fold(1usize, |acc, d| acc.checked_mul(d.unwrap_or(1)));
        if n.is_none_or(|n| n > EAGER_LIMIT) {
            return Err(RkError::Value(format!(
                "the operation would compute a value of shape {s:?}: more than {EAGER_LIMIT} values"
            )));
        }
    }
    let vals = g.forward(&refs, &mut Rng::new(seed as u64))?;
    let outs = g
        .outputs
        .iter()
        .map(|&o| r_tensor(g.value(&refs, &vals, o)));
    Ok(List::from_values(outs).into())
}

/// The gradients of graph `json`'s inputs given its (one) output's gradient: the engine's
/// vector-Jacobian products, for checking them against Keras.
#[extendr]
fn rk_op_vjp(json: &str, values: List, dims: List, grad: List, grad_dims: List) -> Ret {
    let g = OpGraph::from_json(json)?;
    let ins = tensors(values, dims)?;
    let refs: Vec<&Tensor> = ins.iter().collect();
    let vals = g.forward(&refs, &mut Rng::new(0))?;
    let gout = tensors(grad, grad_dims)?.into_iter().map(Some).collect();
    let grads = g.backward(&refs, &vals, gout)?;
    Ok(List::from_values(grads.iter().map(r_tensor)).into())
}

extendr_module! {
    mod rk_ops_api;
    fn rk_op_shapes;
    fn rk_op_eval;
    fn rk_op_vjp;
}
