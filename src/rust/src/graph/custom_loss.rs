//! A loss written in R: its operation graph (recorded from the R function on `y_true` and
//! `y_pred`) run over a whole batch. As Keras reduces a loss function's result, each
//! sample's loss is the mean of its values (a result reduced over the batch counts as every
//! sample's), and the gradient of the weighted mean over the batch flows back to `y_pred`.

use crate::error::{RkError, RkResult};
use crate::layers::Tensor;
use crate::ops::OpGraph;
use crate::rng::Rng;
use ndarray::IxDyn;
use serde::Deserialize;

/// A loss written in R: its operation graph over `y_true`, `y_pred` and then the values of
/// the model's nodes `nodes` it reads (tensors of the model the R function closed over, as
/// Keras for R's variational autoencoder's loss reads `z_mean`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomLoss {
    pub graph: OpGraph,
    #[serde(default)]
    pub nodes: Vec<usize>,
}

/// What a custom loss gives back: each row's loss, and the gradients of the model's nodes it
/// read (added to the graph's backward pass).
pub(crate) struct CustomScore {
    pub rows: Vec<f32>,
    pub node_grads: Vec<(usize, Tensor)>,
}

impl CustomLoss {
    /// Whether each sample's loss depends on that sample's targets and predictions alone
    /// (for outputs of shape `out_shape`): then any block of a batch's rows gives its own
    /// rows' losses and gradients, as the dense plan's shards take them.
    pub fn row_wise(&self, out_shape: &[usize]) -> bool {
        let dims: Vec<Option<usize>> = std::iter::once(None)
            .chain(out_shape.iter().map(|&d| Some(d)))
            .collect();
        self.nodes.is_empty() && self.graph.row_wise(&[dims.clone(), dims])
    }
}

/// Each row's loss given the predictions `p` and targets `y` of `rows` rows; with `grad`,
/// `lw * w_r / of` times the gradient of row `r`'s loss with respect to the predictions
/// added into it, where `of` is the batch's row count (`rows` unless these rows are a block
/// of the batch, which a row-wise loss allows: [`CustomLoss::row_wise`]).
pub(crate) fn custom_loss_rows(
    loss: &CustomLoss,
    (p, y): (&[f32], &[f32]),
    (out_shape, nodes): (&[usize], &[&Tensor]),
    (rows, of): (usize, usize),
    w: Option<&[f32]>,
    lw: f32,
    grad: Option<&mut [f32]>,
) -> RkResult<CustomScore> {
    let graph = &loss.graph;
    let mut dims = vec![rows];
    dims.extend_from_slice(out_shape);
    if y.len() != p.len() {
        return Err(RkError::Shape(format!(
            "a loss written in R takes targets of the output's shape {}; got {} values per sample",
            crate::layers::shape_string(out_shape),
            y.len() / rows.max(1)
        )));
    }
    let pt = Tensor::from_shape_vec(IxDyn(&dims), p.to_vec()).expect("size matches");
    let yt = Tensor::from_shape_vec(IxDyn(&dims), y.to_vec()).expect("size matches");
    let ins: Vec<&Tensor> = [&yt, &pt]
        .into_iter()
        .chain(nodes.iter().copied())
        .collect();
    let vals = graph.forward(&ins, &mut Rng::new(0))?;
    let v = graph.value(&ins, &vals, graph.outputs[0]);
    let weight = |r: usize| w.map_or(1.0, |w| w[r]);
    let (per_row, per_sample) = if v.ndim() == 0 {
        (vec![v.iter().copied().next().unwrap_or(0.0); rows], false)
    } else if v.shape()[0] == rows {
        let k = (v.len() / rows.max(1)).max(1);
        let flat = v.as_standard_layout();
        let s = flat.as_slice().expect("standard");
        (
            (0..rows)
                .map(|r| s[r * k..(r + 1) * k].iter().sum::<f32>() / k as f32)
                .collect(),
            true,
        )
    } else {
        return Err(RkError::Shape(format!(
            "a loss written in R must return a value per sample (shape (None, ...)) or one value; it returned shape {:?}",
            v.shape()
        )));
    };
    let mut node_grads = Vec::new();
    if let Some(grad) = grad {
        let inv = 1.0 / of.max(1) as f32;
        let gv = if per_sample {
            let k = (v.len() / rows.max(1)).max(1);
            let g: Vec<f32> = (0..v.len())
                .map(|i| lw * weight(i / k) * inv / k as f32)
                .collect();
            Tensor::from_shape_vec(v.raw_dim(), g).expect("size matches")
        } else {
            let mean_w = (0..rows).map(weight).sum::<f32>() * inv;
            Tensor::from_elem(v.raw_dim(), lw * mean_w)
        };
        let mut gs = graph.backward(&ins, &vals, vec![Some(gv)])?;
        let gp = gs[1].as_standard_layout();
        for (a, b) in grad.iter_mut().zip(gp.iter()) {
            *a += b;
        }
        node_grads = loss.nodes.iter().copied().zip(gs.drain(2..)).collect();
    }
    Ok(CustomScore {
        rows: per_row,
        node_grads,
    })
}
