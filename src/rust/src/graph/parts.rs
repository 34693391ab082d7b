//! Part nodes: a layer that returns several tensors (a recurrent layer's output and last
//! states) holds them side by side in its one output; each part node picks one out, and
//! its gradient goes back into its place. Also the mask each call sees.

use super::{Graph, Node};
use crate::error::RkResult;
use crate::layers::{Layer, Shape, Tensor};

impl Graph {
    /// The mask a call sees: its input's, or its first input's when the others are initial
    /// states; none for other layers of several inputs.
    pub(super) fn input_mask(&self, node: &Node, masks: &[Option<Tensor>]) -> Option<Tensor> {
        let layer = self.slots[node.layer].layer.as_ref()?;
        match node.inputs.as_slice() {
            [j] => masks[*j].clone(),
            [j, ..] if layer.takes_initial_state() || layer.uses_input_masks() => masks[*j].clone(),
            _ => None,
        }
    }

    /// The masks of all of a call's inputs, for a layer that reads them (empty otherwise).
    pub(super) fn input_masks(&self, node: &Node, masks: &[Option<Tensor>]) -> Vec<Option<Tensor>> {
        match self.slots[node.layer].layer.as_ref() {
            Some(l) if l.uses_input_masks() => {
                node.inputs.iter().map(|&j| masks[j].clone()).collect()
            }
            _ => Vec::new(),
        }
    }

    /// The shapes of the inputs of call `j` (once built).
    pub(super) fn call_input_shapes(&self, j: usize) -> Vec<Shape> {
        self.nodes[j]
            .inputs
            .iter()
            .map(|&i| self.shapes[i].clone())
            .collect()
    }

    /// Where output `k` of a layer's outputs lies in each row of its packed output: the
    /// offset and width, and the part's shape.
    pub(super) fn part_span(&self, j: usize, layer: &dyn Layer, k: usize) -> (usize, usize, Shape) {
        let parts = layer.output_parts(&self.call_input_shapes(j));
        let width = |s: &Shape| s.iter().product::<usize>();
        let off = parts[..k].iter().map(width).sum();
        (off, width(&parts[k]), parts[k].clone())
    }

    /// A part node's value (output `k` of node `j`'s packed output) and mask.
    pub(super) fn part_forward(
        &self,
        j: usize,
        k: usize,
        layer: &dyn Layer,
        values: &[Tensor],
        masks: &[Option<Tensor>],
        rows: usize,
    ) -> RkResult<(Tensor, Option<Tensor>)> {
        let (off, w, shape) = self.part_span(j, layer, k);
        let packed = values[j].as_slice().expect("standard layout");
        let all = packed.len() / rows.max(1);
        let mut data = Vec::with_capacity(rows * w);
        for r in 0..rows {
            data.extend_from_slice(&packed[r * all + off..r * all + off + w]);
        }
        // The first output carries the call's mask; the states carry none.
        let mask = if k == 0 { masks[j].clone() } else { None };
        Ok((crate::layers::tensor(rows, &shape, data)?, mask))
    }

    /// The gradient of node `j`'s packed output from its part `k`'s gradient `g`.
    pub(super) fn part_backward(
        &self,
        j: usize,
        k: usize,
        layer: &dyn Layer,
        g: Tensor,
        rows: usize,
    ) -> RkResult<Tensor> {
        let (off, w, _) = self.part_span(j, layer, k);
        let all: usize = self.shapes[j].iter().product();
        let g = crate::layers::standard(g);
        let gs = g.as_slice().expect("standard layout");
        let mut out = vec![0.0f32; rows * all];
        for r in 0..rows {
            out[r * all + off..r * all + off + w].copy_from_slice(&gs[r * w..(r + 1) * w]);
        }
        crate::layers::tensor(rows, &self.shapes[j], out)
    }
}
