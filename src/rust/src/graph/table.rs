//! The layer table of a graph (`summary()`, `plot()`).

use super::nested::Owner;
use super::Graph;
use crate::layers::Shape;

/// One row of a graph's layer table (`summary()`).
pub struct LayerRow {
    pub name: String,
    pub class: String,
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
    /// The layer table for `summary()`: a model used as a layer is one row, where its
    /// first layer would be.
    pub fn layer_rows(&self) -> Vec<LayerRow> {
        let mut seen = Vec::new();
        (0..self.slots.len())
            .filter_map(|li| match self.slot_owner(li) {
                Owner::Layer(_) => Some(self.slot_row(li)),
                Owner::Model(r) if !seen.contains(&r) => {
                    seen.push(r);
                    Some(self.model_row(r))
                }
                Owner::Model(_) => None,
            })
            .collect()
    }

    /// The row of a model used as a layer (`r`, its first call's record).
    fn model_row(&self, r: usize) -> LayerRow {
        let rec = &self.nested[r];
        let slots = self.model_slots(r);
        let rows: Vec<LayerRow> = slots.iter().map(|&li| self.slot_row(li)).collect();
        let built = self.built();
        let shape = |i: usize| self.shapes[i].clone();
        let (dims, parts) = match (built, rec.outputs.len()) {
            (false, _) => (None, Vec::new()),
            (true, 1) => (Some(shape(rec.outputs[0])), Vec::new()),
            (true, _) => {
                let parts: Vec<_> = rec.outputs.iter().map(|&i| shape(i)).collect();
                (Some(parts[0].clone()), parts)
            }
        };
        let open = (built && parts.is_empty())
            .then(|| self.symbolic.get(rec.outputs[0]).cloned())
            .flatten();
        LayerRow {
            name: rec.name.clone(),
            class: rec.class_name.clone(),
            dims,
            open,
            params: rows.iter().map(|x| x.params).sum(),
            trainable_params: rows.iter().map(|x| x.trainable_params).sum(),
            trainable: rows.iter().any(|x| x.trainable) || rows.is_empty(),
            inbound: self
                .model_calls(r)
                .iter()
                .flat_map(|&k| self.nested[k].inputs.iter())
                .map(|&j| self.owner_name(j).to_string())
                .collect(),
            parts,
        }
    }

    /// The row of layer `li`.
    fn slot_row(&self, li: usize) -> LayerRow {
        let s = &self.slots[li];
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
                let ins = &self.nodes[i].inputs;
                // An attention call given no key reads its value as the key: listed once.
                let attention = super::keras_calls::is_attention(s.class_name());
                let skip = (attention && ins.get(2) == ins.get(1)).then_some(2);
                ins.iter()
                    .enumerate()
                    .filter(move |&(k, _)| Some(k) != skip)
                    .map(|(_, &j)| self.owner_name(j).to_string())
            })
            .collect();
        let open = nodes
            .first()
            .filter(|_| parts.is_empty())
            .and_then(|&i| self.symbolic.get(i).cloned());
        LayerRow {
            name: s.name.clone(),
            class: s.class_name().to_string(),
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
    }
}
