//! The layer table of a graph (`summary()`, `plot()`).

use super::Graph;
use crate::layers::Shape;

/// One row of a graph's layer table (`summary()`).
pub struct LayerRow {
    pub name: String,
    pub class: &'static str,
    /// Output shape of the layer's first call (once built).
    pub dims: Option<Shape>,
    /// The same with `None` on the axes that follow an input's open axes.
    pub open: Option<Vec<Option<usize>>>,
    pub params: usize,
    /// Parameters the optimizer updates: none when the layer is frozen, and never the
    /// moving statistics of a batch normalization (Keras's non-trainable weights).
    pub trainable_params: usize,
    pub trainable: bool,
    /// Names of the layers it reads, over all its calls.
    pub inbound: Vec<String>,
    /// The shapes of its outputs when it returns several (empty otherwise).
    pub parts: Vec<Shape>,
}

impl Graph {
    /// The layer table for `summary()`.
    pub fn layer_rows(&self) -> Vec<LayerRow> {
        self.slots
            .iter()
            .enumerate()
            .map(|(li, s)| {
                let nodes: Vec<usize> = (0..self.nodes.len())
                    .filter(|&i| self.nodes[i].layer == li && self.nodes[i].is_call())
                    .collect();
                let parts = match (&s.layer, self.built(), nodes.first()) {
                    (Some(l), true, Some(&i)) => l.output_parts(&self.call_input_shapes(i)),
                    _ => Vec::new(),
                };
                let dims = nodes
                    .first()
                    .filter(|_| self.built())
                    .map(|&i| parts.first().unwrap_or(&self.shapes[i]).clone());
                let inbound = nodes
                    .iter()
                    .flat_map(|&i| {
                        self.nodes[i]
                            .inputs
                            .iter()
                            .map(|&j| self.slots[self.nodes[j].layer].name.clone())
                    })
                    .collect();
                let open = nodes
                    .first()
                    .filter(|_| parts.is_empty())
                    .and_then(|&i| self.symbolic.get(i).cloned());
                LayerRow {
                    name: s.name.clone(),
                    class: s.class_name(),
                    dims,
                    open,
                    params: s.n_params(),
                    trainable_params: if s.trainable {
                        s.params()
                            .iter()
                            .filter(|p| p.trainable)
                            .map(|p| p.value.len())
                            .sum()
                    } else {
                        0
                    },
                    trainable: s.trainable,
                    inbound,
                    parts,
                }
            })
            .collect()
    }
}
