//! A graph from the description R sends (JSON): layers with Keras's class names and
//! configs, nodes in topological order, and the model's input and output nodes.
//!
//! ```json
//! {"layers": [{"name": "in", "class_name": "InputLayer", "config": {"shape": [3]}},
//!             {"name": "d", "class_name": "Dense", "config": {"units": 2}, "trainable": true}],
//!  "nodes": [{"layer": 0, "inputs": []}, {"layer": 1, "inputs": [0]}],
//!  "inputs": [0], "outputs": [1]}
//! ```

use super::{Graph, Node, Slot};
use crate::error::{RkError, RkResult};
use crate::layers::from_spec;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerSpec {
    name: String,
    class_name: String,
    #[serde(default)]
    config: Value,
    #[serde(default = "yes")]
    trainable: bool,
    /// Seed of the initial weights (drawn by R).
    #[serde(default)]
    seed: Option<u64>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeSpec {
    layer: usize,
    inputs: Vec<usize>,
    /// A part node: output `take` of its one input, a call of the same layer that returns
    /// several outputs.
    #[serde(default)]
    take: Option<usize>,
    /// The call's `training` argument (`None`: the pass's mode).
    #[serde(default)]
    training: Option<bool>,
    /// The innermost call of a model used as a layer that the node runs in (an index into
    /// `nested`).
    #[serde(default)]
    nested: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphSpec {
    layers: Vec<LayerSpec>,
    nodes: Vec<NodeSpec>,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
    /// Calls of models used as layers (see `nested.rs`).
    #[serde(default)]
    nested: Vec<super::nested::Nested>,
}

/// A layer's activity regularization: its config's `activity_regularizer`, or an
/// ActivityRegularization layer's `l1` and `l2`; `None` when both factors are 0.
fn activity_of(class: &str, config: &Value) -> RkResult<Option<(f64, f64)>> {
    let (l1, l2) = if class == "ActivityRegularization" {
        crate::config::reg_from_value(config)?
    } else {
        crate::config::reg_from_value(config.get("activity_regularizer").unwrap_or(&Value::Null))?
    };
    if !(l1 >= 0.0 && l2 >= 0.0 && l1.is_finite() && l2.is_finite()) {
        return Err(RkError::Value(format!(
            "activity regularization factors must be non-negative numbers, got l1 = {l1}, l2 = {l2}"
        )));
    }
    Ok((l1 != 0.0 || l2 != 0.0).then_some((l1, l2)))
}

impl Graph {
    /// Parse and check a graph description; builds it when every input shape is known.
    pub fn from_json(json: &str) -> RkResult<Graph> {
        let spec: GraphSpec = serde_json::from_str(json)
            .map_err(|e| RkError::Spec(format!("model description: {e}")))?;
        let mut names = std::collections::HashSet::new();
        let mut slots = Vec::with_capacity(spec.layers.len());
        for l in spec.layers {
            if !names.insert(l.name.clone()) {
                return Err(RkError::Value(format!(
                    "a layer named '{}' is already in the model; layer names must be unique",
                    l.name
                )));
            }
            let (layer, input_shape, declared) = if l.class_name == "InputLayer" {
                let shape: Option<Vec<Option<usize>>> =
                    crate::layers::field_or(&l.config, "InputLayer", "shape", None)?;
                match shape {
                    Some(s) if s.iter().any(|d| d.is_none()) => (
                        None,
                        Some(super::open_at(&s, super::OPEN_SIZES[0])),
                        Some(s),
                    ),
                    Some(s) => (None, Some(s.into_iter().flatten().collect()), None),
                    None => (None, None, None),
                }
            } else {
                let layer = from_spec(&l.class_name, &l.config, l.seed.unwrap_or(0))
                    .map_err(|e| RkError::Spec(format!("layer '{}': {}", l.name, e.message())))?;
                (Some(layer), None, None)
            };
            let activity = activity_of(&l.class_name, &l.config)
                .map_err(|e| RkError::Spec(format!("layer '{}': {}", l.name, e.message())))?;
            slots.push(Slot {
                name: l.name,
                layer,
                trainable: l.trainable,
                input_shape,
                declared,
                activity,
            });
        }
        let mut nodes = Vec::with_capacity(spec.nodes.len());
        let node_records: Vec<Option<usize>> = spec.nodes.iter().map(|n| n.nested).collect();
        for (i, n) in spec.nodes.into_iter().enumerate() {
            let slot = slots.get(n.layer).ok_or_else(|| {
                RkError::Spec(format!(
                    "node {i} names layer {} of {}",
                    n.layer,
                    slots.len()
                ))
            })?;
            if n.inputs.iter().any(|&j| j >= i) {
                return Err(RkError::Spec(format!(
                    "node {i} ('{}') reads a later node: not a DAG in order",
                    slot.name
                )));
            }
            if n.take.is_some() {
                let producer = n.inputs.first().and_then(|&j| nodes.get(j));
                if n.inputs.len() != 1
                    || producer.is_none_or(|p: &Node| p.layer != n.layer || p.take.is_some())
                {
                    return Err(RkError::Spec(format!(
                        "node {i} ('{}') picks an output of a call of another layer",
                        slot.name
                    )));
                }
            } else if slot.layer.is_none() != n.inputs.is_empty() {
                return Err(RkError::Spec(format!(
                    "node {i} ('{}') has the wrong number of inputs",
                    slot.name
                )));
            }
            nodes.push(Node {
                layer: n.layer,
                inputs: n.inputs,
                take: n.take,
                training: n.training,
            });
        }
        let n = nodes.len();
        if spec.inputs.is_empty() || spec.outputs.is_empty() {
            return Err(RkError::Value(
                "a model needs at least one input and one output".into(),
            ));
        }
        if spec.inputs.iter().chain(&spec.outputs).any(|&i| i >= n) {
            return Err(RkError::Spec(
                "model inputs or outputs name missing nodes".into(),
            ));
        }
        if spec
            .inputs
            .iter()
            .any(|&i| slots[nodes[i].layer].layer.is_some())
        {
            return Err(RkError::Spec(
                "model inputs must be InputLayer nodes".into(),
            ));
        }
        let mut g = Graph {
            slots,
            nodes,
            inputs: spec.inputs,
            outputs: spec.outputs,
            nested: spec.nested,
            node_records,
            ..Default::default()
        };
        g.check_nested(&g.node_records)?;
        g.build_open()?;
        Ok(g)
    }

    /// Take the weights of same-named layers of `old` whose shapes agree (a Sequential
    /// model that grows keeps the weights it has).
    pub fn adopt_weights(&mut self, old: &Graph) {
        for s in self.slots.iter_mut() {
            let Some(o) = old.slots.iter().find(|o| o.name == s.name) else {
                continue;
            };
            let (Some(l), Some(ol)) = (s.layer.as_mut(), o.layer.as_ref()) else {
                continue;
            };
            let src = ol.params();
            let mut dst = l.params_mut();
            if src.len() == dst.len()
                && src
                    .iter()
                    .zip(dst.iter())
                    .all(|(a, b)| a.value.shape() == b.value.shape())
            {
                for (d, s) in dst.iter_mut().zip(src) {
                    d.value = s.value.clone();
                }
            }
        }
    }
}
