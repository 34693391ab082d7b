//! Models used as layers. The graph runs a model called inside another as the nodes of its
//! own layers, and keeps each call as a [`Nested`] record: Keras shows such a model as one
//! layer (one row of `summary()`, one entry of the JSON with its own config nested).

use super::Graph;
use crate::error::{RkError, RkResult};
use serde::Deserialize;
use serde_json::Value;

/// One call of a model inside the graph: the nodes it reads and returns, and the call it
/// sits in when models nest deeper. The nodes of its layers name it as theirs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nested {
    /// The model's name.
    pub name: String,
    /// `"Sequential"` or `"Functional"`.
    pub class_name: String,
    /// The enclosing call (an index into the graph's records), if the model sits in another
    /// model used as a layer.
    #[serde(default)]
    pub parent: Option<usize>,
    /// The nodes the call reads, in the order of the model's inputs.
    pub inputs: Vec<usize>,
    /// The nodes it returns, in the order of the model's outputs.
    pub outputs: Vec<usize>,
    /// The call's `training` argument (Keras's JSON keeps it with the call).
    #[serde(default)]
    pub training: Option<bool>,
    /// Keras's JSON of the model (`{"class_name", "config", ...}`), sent when the graph is
    /// written as Keras's JSON.
    #[serde(default)]
    pub config: Option<Value>,
}

/// What a node or layer is from the outside: a layer of its own or (an index into the
/// graph's records) part of the first call of a model used as a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    Layer(usize),
    Model(usize),
}

impl Graph {
    /// Check the records against the nodes: indices in range, parents earlier, and every
    /// node that names a record.
    pub(super) fn check_nested(&self, node_records: &[Option<usize>]) -> RkResult<()> {
        let n = self.nodes.len();
        for (r, rec) in self.nested.iter().enumerate() {
            let bad_node = rec.inputs.iter().chain(&rec.outputs).any(|&i| i >= n);
            if bad_node || rec.outputs.is_empty() || rec.parent.is_some_and(|p| p >= r) {
                return Err(RkError::Spec(format!(
                    "the record of model '{}' used as a layer names missing nodes or calls",
                    rec.name
                )));
            }
        }
        if node_records
            .iter()
            .any(|r| r.is_some_and(|r| r >= self.nested.len()))
        {
            return Err(RkError::Spec("a node names a missing model call".into()));
        }
        Ok(())
    }

    /// The outermost record of call `r`.
    pub fn root_record(&self, mut r: usize) -> usize {
        while let Some(p) = self.nested[r].parent {
            r = p;
        }
        r
    }

    /// The first outermost record of the model named like record `r` (its call 0).
    fn first_record(&self, r: usize) -> usize {
        self.model_calls(r).first().copied().unwrap_or(r)
    }

    /// What node `i` belongs to, seen from the model: its layer, or the model it runs in.
    pub fn node_owner(&self, i: usize) -> Owner {
        match self.node_records.get(i).copied().flatten() {
            Some(r) => Owner::Model(self.first_record(self.root_record(r))),
            None => Owner::Layer(self.nodes[i].layer),
        }
    }

    /// What layer `li` belongs to, seen from the model (by its first call).
    pub fn slot_owner(&self, li: usize) -> Owner {
        match self.nodes.iter().position(|n| n.layer == li && n.is_call()) {
            Some(i) => self.node_owner(i),
            None => Owner::Layer(li),
        }
    }

    /// The outermost calls of the model of record `r` (its first), in order.
    pub fn model_calls(&self, r: usize) -> Vec<usize> {
        let name = &self.nested[r].name;
        (0..self.nested.len())
            .filter(|&k| self.nested[k].parent.is_none() && &self.nested[k].name == name)
            .collect()
    }

    /// The layers of the model of record `r` (a first outermost record).
    pub fn model_slots(&self, r: usize) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&li| self.slot_owner(li) == Owner::Model(r))
            .collect()
    }

    /// The name of what node `i` belongs to, seen from the model.
    pub fn owner_name(&self, i: usize) -> &str {
        match self.node_owner(i) {
            Owner::Layer(li) => &self.slots[li].name,
            Owner::Model(r) => &self.nested[r].name,
        }
    }

    /// Keras's `[layer, call, output]` for node `i` when it is an output of an outermost
    /// call of a model used as a layer.
    pub fn nested_history(&self, i: usize) -> Option<(String, usize, usize)> {
        let Owner::Model(r) = self.node_owner(i) else {
            return None;
        };
        self.model_calls(r).iter().enumerate().find_map(|(c, &k)| {
            let out = self.nested[k].outputs.iter().position(|&o| o == i)?;
            Some((self.nested[r].name.clone(), c, out))
        })
    }
}
