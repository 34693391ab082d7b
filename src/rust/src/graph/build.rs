//! Building a graph: each layer built in node order from the shapes reaching it, a part
//! node given its output's shape, and a layer's several outputs never read as one.

use super::{Graph, Node, Slot};
use crate::error::{RkError, RkResult};
use crate::layers::{shape_string, Shape};
use crate::rng::Rng;

/// The sizes that stand in for an open axis, tried in turn: the graph is built at the first
/// at which every layer accepts its input (a deep stack of strided valid convolutions needs
/// more than 64), and an output axis whose size differs between that size and
/// [`other_size()`] of it follows an open input axis. Far apart and not small, so that
/// strides and pooling up to 32 keep them apart.
pub const OPEN_SIZES: [usize; 4] = [64, 128, 256, 512];

/// The second stand-in size, beside `size`.
pub fn other_size(size: usize) -> usize {
    size * 3 / 2
}

/// A declared shape with its open axes at `size`.
pub fn open_at(declared: &[Option<usize>], size: usize) -> Shape {
    declared.iter().map(|d| d.unwrap_or(size)).collect()
}

impl Graph {
    /// With inputs that leave axes open: which node axes follow them (`symbolic`), found by
    /// building a copy at the other stand-in size. A layer whose weights would depend on an
    /// open axis is an error naming it, as in Keras.
    pub fn find_open_axes(&mut self) -> RkResult<()> {
        self.symbolic.clear();
        if !self.built() || self.slots.iter().all(|s| s.declared.is_none()) {
            return Ok(());
        }
        let mut other = Graph {
            slots: self.slots.iter().map(Slot::shape_only).collect(),
            nodes: self.nodes.clone(),
            inputs: self.inputs.clone(),
            outputs: self.outputs.clone(),
            ..Default::default()
        };
        let size = other_size(self.open_size().unwrap_or(OPEN_SIZES[0]));
        for s in other.slots.iter_mut() {
            if let Some(d) = &s.declared {
                s.input_shape = Some(open_at(d, size));
            }
        }
        other.build().map_err(|e| {
            RkError::Shape(format!(
                "a layer needs a size the model's input leaves open (None): {}",
                e.message()
            ))
        })?;
        for (li, (a, b)) in self.slots.iter().zip(&other.slots).enumerate() {
            let (pa, pb) = (a.params(), b.params());
            if pa.len() != pb.len()
                || pa
                    .iter()
                    .zip(&pb)
                    .any(|(x, y)| x.value.shape() != y.value.shape())
            {
                return Err(RkError::Shape(format!(
                    "layer '{}' needs to know the size of an axis the model's input leaves open \
                     (None): its weights depend on it; give that axis a size in layer_input()",
                    self.slots[li].name
                )));
            }
        }
        self.symbolic = self
            .shapes
            .iter()
            .zip(&other.shapes)
            .map(|(a, b)| {
                a.iter()
                    .zip(b)
                    .map(|(&x, &y)| (x == y).then_some(x))
                    .collect()
            })
            .collect();
        Ok(())
    }

    /// The size standing in for the inputs' open axes (`None` when none is open).
    fn open_size(&self) -> Option<usize> {
        self.slots.iter().find_map(|s| {
            let (d, shape) = (s.declared.as_ref()?, s.input_shape.as_ref()?);
            d.iter()
                .zip(shape)
                .find(|(d, _)| d.is_none())
                .map(|(_, &n)| n)
        })
    }

    /// Build with the inputs' open axes at each of [`OPEN_SIZES`] in turn until every layer
    /// accepts its input, then find which axes follow the open ones. The error is the one
    /// at the largest size.
    pub fn build_open(&mut self) -> RkResult<()> {
        if self.slots.iter().all(|s| s.declared.is_none()) {
            self.build()?;
            return self.find_open_axes();
        }
        let (mut last, unbuilt) = (None, self.slots.clone());
        for size in OPEN_SIZES {
            self.slots = unbuilt.clone();
            for s in self.slots.iter_mut() {
                if let Some(d) = &s.declared {
                    s.input_shape = Some(open_at(d, size));
                }
            }
            self.shapes.clear();
            match self.build().and_then(|_| self.find_open_axes()) {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        (self.slots, self.shapes) = (unbuilt, Vec::new());
        Err(last.expect("OPEN_SIZES is not empty"))
    }

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
        if shapes.len() != self.inputs.len() {
            return Err(RkError::Shape(format!(
                "the model has {} inputs, got data for {}",
                self.inputs.len(),
                shapes.len()
            )));
        }
        for (k, (&n, s)) in self.inputs.iter().zip(shapes).enumerate() {
            if s.contains(&0) {
                return Err(RkError::Shape(format!(
                    "input {} ('{}') got samples of shape {}: an axis of size 0",
                    k + 1,
                    self.slots[self.nodes[n].layer].name,
                    shape_string(s)
                )));
            }
        }
        if self.built() {
            let same = self
                .inputs
                .iter()
                .zip(shapes)
                .all(|(&n, s)| &self.shapes[n] == s);
            return if same { Ok(()) } else { self.reshape(shapes) };
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

    /// Run the built graph at other input shapes (a sequence of another length, an image
    /// of another size): every node's shape is derived again from them, each layer keeping
    /// its weights and checking that they fit. On error the graph is left as it was.
    fn reshape(&mut self, shapes: &[Shape]) -> RkResult<()> {
        let (saved_slots, saved_shapes) = (self.slots.clone(), std::mem::take(&mut self.shapes));
        for (&n, s) in self.inputs.iter().zip(shapes) {
            let layer = self.nodes[n].layer;
            self.slots[layer].input_shape = Some(s.clone());
        }
        let r = self.build();
        if r.is_err() {
            self.slots = saved_slots;
            self.shapes = saved_shapes;
        }
        r
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
