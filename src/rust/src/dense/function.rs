//! A recorded function that keeps rows apart (a `layer_lambda()` of element-wise and
//! per-row operations, see [`OpGraph::row_wise`]) as a step of the dense plan: it runs on
//! any block of rows, `[rows, d]` row-major in, `[rows, out]` row-major out, through the
//! operations' own forward pass and vector-Jacobian products. Backward runs the forward
//! pass of its rows again (the operations' intermediate values are not kept between the
//! passes: they are cheap next to the dense layers' products). A function that is one
//! element-wise operation (`k_relu(x)`) runs on the buffers themselves, its backward from
//! the step's kept input and output.

use crate::error::{RkError, RkResult};
use crate::layers::Tensor;
use crate::ops::{Op, OpGraph, OpValues, Unary};
use crate::rng::Rng;
use ndarray::IxDyn;

/// The function's values on `rows` rows of `d` features (`x`), and the input tensor.
fn pass(graph: &OpGraph, x: &[f32], rows: usize, d: usize) -> RkResult<(Tensor, OpValues)> {
    let t = Tensor::from_shape_vec(IxDyn(&[rows, d]), x[..rows * d].to_vec())
        .map_err(|e| RkError::Internal(e.to_string()))?;
    // Row-wise functions draw no random numbers: the generator is never read.
    let vals = graph.forward(&[&t], &mut Rng::new(0))?;
    Ok((t, vals))
}

/// Copy `t` (in row-major order) into `out`, which must hold exactly its values.
fn write(t: ndarray::ArrayViewD<f32>, out: &mut [f32]) -> RkResult<()> {
    if t.len() != out.len() {
        return Err(RkError::Internal(format!(
            "a recorded function gave {} values for a block of {}",
            t.len(),
            out.len()
        )));
    }
    match t.as_slice() {
        Some(s) => out.copy_from_slice(s),
        None => out.iter_mut().zip(t.iter()).for_each(|(o, v)| *o = *v),
    }
    Ok(())
}

/// The operation when the function is one element-wise operation of its input.
fn single_unary(graph: &OpGraph) -> Option<Unary> {
    match (&graph.nodes[..], &graph.outputs[..]) {
        ([node], [1]) if graph.inputs == 1 && node.args == [0] => match node.call {
            Op::Unary { f } => Some(f),
            _ => None,
        },
        _ => None,
    }
}

/// `out = f(x)` for `rows` rows: `x` holds `rows * d` values, `out` `rows * out_dim`.
pub fn forward_rows(
    graph: &OpGraph,
    x: &[f32],
    rows: usize,
    d: usize,
    out: &mut [f32],
) -> RkResult<()> {
    if let Some(u) = single_unary(graph) {
        u.map_slice(&x[..rows * d], out);
        return Ok(());
    }
    let (t, vals) = pass(graph, x, rows, d)?;
    write(graph.value(&[&t], &vals, graph.outputs[0]).view(), out)
}

/// `g_in = g f'(x)` for `rows` rows: the gradient of the input given the output's `g`;
/// `y` holds the function's output `f(x)`.
pub fn backward_rows(
    graph: &OpGraph,
    (x, y): (&[f32], &[f32]),
    rows: usize,
    d: usize,
    g: &[f32],
    g_in: &mut [f32],
) -> RkResult<()> {
    if let Some(u) = single_unary(graph) {
        u.grad_slice(&x[..rows * d], &y[..rows * d], g, g_in);
        return Ok(());
    }
    let (t, vals) = pass(graph, x, rows, d)?;
    let shape = graph.value(&[&t], &vals, graph.outputs[0]).raw_dim();
    let gt =
        Tensor::from_shape_vec(shape, g.to_vec()).map_err(|e| RkError::Internal(e.to_string()))?;
    let grads = graph.backward(&[&t], &vals, vec![Some(gt)])?;
    write(grads[0].view(), g_in)
}
