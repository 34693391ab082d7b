//! Building a graph: each layer built in node order from the shapes reaching it, a part
//! node given its output's shape, and a layer's several outputs never read as one.

use super::{Graph, Node};
use crate::error::{RkError, RkResult};
use crate::layers::{shape_string, Shape};
use crate::rng::Rng;

impl Graph {
    pub fn built(&self) -> bool {
        !self.nodes.is_empty() && self.shapes.len() == self.nodes.len()
    }

    /// Build every layer in node order once all input shapes are known; on error the graph
    /// is left unbuilt and unchanged.
    pub fn build(&mut self) -> RkResult<()> {
        if self.built()
            || self
                .slots
                .iter()
                .any(|s| s.layer.is_none() && s.input_shape.is_none())
        {
            return Ok(());
        }
        let mut slots = self.slots.clone();
        let mut shapes: Vec<Shape> = Vec::with_capacity(self.nodes.len());
        let mut rng = Rng::new(0);
        let call_inputs = |n: &Node, shapes: &[Shape]| -> Vec<Shape> {
            n.inputs.iter().map(|&j| shapes[j].clone()).collect()
        };
        for (i, node) in self.nodes.iter().enumerate() {
            let slot = &mut slots[node.layer];
            let shape = match slot.layer.as_mut() {
                None => slot.input_shape.clone().expect("checked above"),
                Some(layer) if node.take.is_some() => {
                    let k = node.take.expect("part node");
                    let parts =
                        layer.output_parts(&call_inputs(&self.nodes[node.inputs[0]], &shapes));
                    parts.get(k).cloned().ok_or_else(|| {
                        RkError::Spec(format!(
                            "layer '{}' has {} outputs, not {}",
                            slot.name,
                            parts.len().max(1),
                            k + 1
                        ))
                    })?
                }
                Some(layer) => {
                    let ins: Vec<Shape> = node.inputs.iter().map(|&i| shapes[i].clone()).collect();
                    layer.build(&slot.name, &ins, &mut rng)?
                }
            };
            if shape.iter().product::<usize>() == 0 {
                return Err(RkError::Shape(format!(
                    "layer '{}' would output the empty shape {}",
                    slot.name,
                    shape_string(&shape)
                )));
            }
            shapes.push(shape);
            let several = |j: usize| {
                let n = &self.nodes[j];
                n.is_call()
                    && slots[n.layer]
                        .layer
                        .as_ref()
                        .is_some_and(|l| !l.output_parts(&call_inputs(n, &shapes)).is_empty())
            };
            if node.take.is_none() {
                if let Some(&j) = node.inputs.iter().find(|&&j| several(j)) {
                    return Err(several_outputs(&slots[self.nodes[j].layer].name, true));
                }
            }
            if self.outputs.contains(&i) && several(i) {
                return Err(several_outputs(&slots[node.layer].name, false));
            }
        }
        self.slots = slots;
        self.shapes = shapes;
        Ok(())
    }

    /// Give the (unknown) input shapes from the first data seen, then build.
    pub fn build_from_inputs(&mut self, shapes: &[Shape]) -> RkResult<()> {
        if self.built() {
            return self.check_input_shapes(shapes);
        }
        if shapes.len() != self.inputs.len() {
            return Err(RkError::Shape(format!(
                "the model has {} inputs, got data for {}",
                self.inputs.len(),
                shapes.len()
            )));
        }
        let saved = self.slots.clone();
        for (&n, s) in self.inputs.iter().zip(shapes) {
            let slot = &mut self.slots[self.nodes[n].layer];
            if slot.input_shape.is_none() {
                slot.input_shape = Some(s.clone());
            }
        }
        let r = self.build();
        if r.is_err() {
            self.slots = saved;
        }
        r?;
        self.check_input_shapes(shapes)
    }

    fn check_input_shapes(&self, shapes: &[Shape]) -> RkResult<()> {
        for (k, (&n, s)) in self.inputs.iter().zip(shapes).enumerate() {
            let want = &self.shapes[n];
            if want.iter().product::<usize>() != s.iter().product::<usize>() {
                return Err(RkError::Shape(format!(
                    "input {} ('{}') expects samples of shape {}, got {}",
                    k + 1,
                    self.slots[self.nodes[n].layer].name,
                    shape_string(want),
                    shape_string(s)
                )));
            }
        }
        Ok(())
    }
}

/// A layer that returns several tensors read as one (by a layer, or as the model's output).
fn several_outputs(name: &str, read: bool) -> RkError {
    let by = if read {
        "read as one tensor by the next layer"
    } else {
        "used as one model output"
    };
    RkError::Value(format!(
        "layer '{name}' returns a list of tensors (output and states, `return_state = TRUE`), {by}; \
         pick one, e.g. `out[[1]]`, in the functional API"
    ))
}
