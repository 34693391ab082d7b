//! A model as a directed acyclic graph of layer calls (the only form of a model). Nodes are kept
//! in topological order; node `i` applies layer `nodes[i].layer` to the outputs of
//! `nodes[i].inputs`. A layer used by several nodes shares its weights, and gradients that
//! reach one output from several consumers add up. A Sequential model on this engine is
//! the chain of its layers.

mod build;
pub mod custom_loss;
pub mod exec;
mod keras_calls;
pub mod keras_json;
mod keras_shapes;
pub mod nested;
mod parts;
pub mod plan;
pub mod spec;
mod table;

pub use build::{open_at, other_size, OPEN_SIZES};
pub use table::LayerRow;

use crate::error::{RkError, RkResult};
use crate::layers::{Ctx, Layer, Param, Shape, Tensor};
use crate::rng::Rng;

/// One layer of the graph: its name, the layer (none for an input), whether training
/// updates it, and (for inputs) the sample shape.
#[derive(Clone, Debug)]
pub struct Slot {
    pub name: String,
    pub layer: Option<Box<dyn Layer>>,
    pub trainable: bool,
    pub input_shape: Option<Shape>,
    /// An input's declared shape when it leaves axes open (`None`: any size); the graph is
    /// then built at sizes standing in for them, and each batch runs at its own.
    pub declared: Option<Vec<Option<usize>>>,
    /// The L1 and L2 factors of the layer's `activity_regularizer`: Keras adds
    /// `l1 sum|y| + l2 sum y^2` over each call's output, divided by the batch's rows, to the loss.
    pub activity: Option<(f64, f64)>,
}

impl Slot {
    /// A copy whose layer is made anew from its config, without weights: for finding which
    /// shapes depend on an input's open axes.
    pub fn shape_only(&self) -> Slot {
        let layer = self.layer.as_ref().map(|l| {
            crate::layers::from_spec(l.class_name(), &l.config(), 0).unwrap_or_else(|_| l.clone())
        });
        Slot {
            name: self.name.clone(),
            layer,
            trainable: self.trainable,
            input_shape: self.input_shape.clone(),
            declared: self.declared.clone(),
            activity: self.activity,
        }
    }

    pub fn class_name(&self) -> &'static str {
        self.layer
            .as_ref()
            .map(|l| l.class_name())
            .unwrap_or("InputLayer")
    }
    pub fn params(&self) -> Vec<&Param> {
        self.layer.as_ref().map(|l| l.params()).unwrap_or_default()
    }
    pub fn n_params(&self) -> usize {
        self.params().iter().map(|p| p.value.len()).sum()
    }
}

/// A call of a layer on the outputs of other nodes; or, with `take`, one output of the
/// call in `inputs[0]` of a layer that returns several (its part node).
#[derive(Clone, Debug)]
pub struct Node {
    pub layer: usize,
    pub inputs: Vec<usize>,
    pub take: Option<usize>,
    /// Keras's `training` argument of the call, kept for Keras's JSON. As in Keras 3, whose
    /// fit(), evaluate() and predict() pass their mode to every call of a functional model
    /// (overriding the argument), the pass decides how the call runs.
    pub training: Option<bool>,
}

impl Node {
    /// Whether the node calls its layer (a part node only picks an output).
    pub fn is_call(&self) -> bool {
        self.take.is_none()
    }
}

#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub slots: Vec<Slot>,
    pub nodes: Vec<Node>,
    /// Nodes fed by the model's inputs, in the order of the data's inputs.
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
    /// Each node's output shape, once built.
    pub shapes: Vec<Shape>,
    /// Each node's output shape with `None` where it follows an input's open axis (empty
    /// when no input leaves an axis open): what `summary()` and saved files show.
    pub symbolic: Vec<Vec<Option<usize>>>,
    /// Calls of models used as layers, whose layers' nodes the graph runs as its own.
    pub nested: Vec<nested::Nested>,
    /// For each node, the innermost call of a model used as a layer it runs in (if any).
    pub node_records: Vec<Option<usize>>,
}

/// Node values of one forward pass, with what each layer kept for backward.
pub struct Pass {
    pub values: Vec<Tensor>,
    pub caches: Vec<crate::layers::Cache>,
    /// Each node's output mask (Keras's masks: an embedding's `mask_zero` and what passes it on).
    pub masks: Vec<Option<Tensor>>,
    pub rows: usize,
    /// Each row's activity-regularization penalty (empty when no layer has one); the loss
    /// adds their mean.
    pub activity: Vec<f64>,
}

/// A value dropped or moved by the inference plan.
fn empty() -> Tensor {
    Tensor::zeros(ndarray::IxDyn(&[0]))
}

/// Whether node `i` runs in place on its only input under the inference `plan` (planned,
/// and no mask reaches it).
fn in_place(plan: Option<&plan::Plan>, i: usize, node: &Node, masks: &[Option<Tensor>]) -> bool {
    plan.is_some_and(|p| p.in_place[i].is_some()) && masks[node.inputs[0]].is_none()
}

/// Whether merge node `i` may update its first input in place under the inference `plan`
/// (planned, and no mask reaches it).
fn merge(plan: Option<&plan::Plan>, i: usize, node: &Node, masks: &[Option<Tensor>]) -> bool {
    plan.is_some_and(|p| p.merge[i].is_some()) && node.inputs.iter().all(|&j| masks[j].is_none())
}

impl Graph {
    /// Whether a layer carries state from batch to batch (a stateful recurrent layer).
    pub fn is_stateful(&self) -> bool {
        self.slots
            .iter()
            .any(|s| s.layer.as_ref().is_some_and(|l| l.stateful()))
    }
}

impl Graph {
    /// Values per sample of each input and each output.
    pub fn input_widths(&self) -> Vec<usize> {
        self.inputs
            .iter()
            .map(|&n| self.shapes[n].iter().product())
            .collect()
    }
    pub fn output_widths(&self) -> Vec<usize> {
        self.outputs
            .iter()
            .map(|&n| self.shapes[n].iter().product())
            .collect()
    }

    /// Every parameter with its full name (`dense_1/kernel`), in layer order: the order of
    /// `get_weights()`, the optimizer's slots and saved files.
    pub fn params(&self) -> Vec<(String, &Param)> {
        self.slots
            .iter()
            .flat_map(|s| {
                s.params()
                    .into_iter()
                    .map(move |p| (format!("{}/{}", s.name, p.name), p))
            })
            .collect()
    }

    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        self.slots
            .iter_mut()
            .filter_map(|s| s.layer.as_mut())
            .flat_map(|l| l.params_mut())
            .collect()
    }

    pub fn count_params(&self) -> usize {
        self.slots.iter().map(|s| s.n_params()).sum()
    }

    /// Forward `rows` samples whose inputs lie row-major and side by side in `x`
    /// (`[rows, sum of input widths]`).
    pub fn forward(
        &self,
        x: &[f32],
        rows: usize,
        training: bool,
        keys: [u64; 2],
        threads: usize,
    ) -> RkResult<Pass> {
        self.run(x, rows, training, keys, threads, None)
    }

    /// Inference for the outputs alone under `plan` ([`Graph::plan`]): [`Graph::forward`]
    /// not in training, keeping only the outputs' values (and the activity penalty).
    pub fn infer(
        &self,
        plan: &plan::Plan,
        x: &[f32],
        rows: usize,
        keys: [u64; 2],
        threads: usize,
    ) -> RkResult<Pass> {
        self.run(x, rows, false, keys, threads, Some(plan))
    }

    /// A layer's call on its inputs' values, pushing its output's mask onto `masks`.
    fn call(
        &self,
        node: &Node,
        layer: &dyn crate::layers::Layer,
        values: &[Tensor],
        masks: &mut Vec<Option<Tensor>>,
        mut ctx: Ctx,
    ) -> RkResult<(Tensor, crate::layers::Cache, f64)> {
        let in_mask = self.input_mask(node, masks);
        let xs: Vec<&Tensor> = node.inputs.iter().map(|&j| &values[j]).collect();
        ctx.mask = in_mask.clone();
        ctx.input_masks = self.input_masks(node, masks);
        let (y, cache) = layer.forward(&xs, &mut ctx)?;
        // A call with several outputs keeps its first output's mask, which that output's
        // part node passes on (nothing else reads the call).
        masks.push(if layer.uses_input_masks() {
            layer.merge_masks(&xs, &ctx.input_masks)
        } else {
            layer.compute_mask(xs[0], in_mask.as_ref())
        });
        Ok((y, cache, ctx.added_loss))
    }

    fn run(
        &self,
        x: &[f32],
        rows: usize,
        training: bool,
        keys: [u64; 2],
        threads: usize,
        plan: Option<&plan::Plan>,
    ) -> RkResult<Pass> {
        let widths = self.input_widths();
        let d: usize = widths.iter().sum();
        if x.len() != rows * d {
            return Err(RkError::Shape(format!(
                "expected {rows} x {d} input values, got {}",
                x.len()
            )));
        }
        let mut values: Vec<Tensor> = Vec::with_capacity(self.nodes.len());
        let mut caches = Vec::with_capacity(self.nodes.len());
        let mut masks: Vec<Option<Tensor>> = Vec::with_capacity(self.nodes.len());
        let fused = self.fused_step_means();
        let mut activity = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let slot = &self.slots[node.layer];
            let ctx_for = |layer: &dyn crate::layers::Layer| Ctx {
                training: self.call_training(i, training, layer),
                backward: training,
                rng: Rng::keyed(&[keys[0], keys[1], i as u64]),
                threads,
                input_grads: true,
                mask: None,
                input_masks: Vec::new(),
                epilogue: Vec::new(),
                added_loss: 0.0,
            };
            if let Some(j) = fused[i] {
                // The pooling node of a fused pair: computed from the pair's first input.
                let first = &self.nodes[j];
                let layer = self.slots[first.layer].layer.as_ref().expect("fused layer");
                let mut ctx = ctx_for(layer.as_ref());
                let x = &values[first.inputs[0]];
                let y = layer.step_mean_forward(x, &mut ctx).unwrap_or_else(|| {
                    Err(RkError::Internal(
                        "a fused layer lost its averaged path".into(),
                    ))
                })?;
                values.push(y);
                caches.push(None);
                masks.push(None);
                continue;
            }
            if fused.contains(&Some(i)) {
                // The first node of a fused pair: its output is never materialised.
                values.push(Tensor::zeros(ndarray::IxDyn(&[0])));
                caches.push(None);
                masks.push(None);
                continue;
            }
            if let Some(k) = node.take {
                // A part node: output k of the call it reads, and that call's mask for the
                // first output (states carry none).
                let j = node.inputs[0];
                let layer = slot.layer.as_ref().expect("part of a layer");
                let (v, m) = self.part_forward(j, k, layer.as_ref(), &values, &masks, rows)?;
                values.push(v);
                caches.push(None);
                masks.push(m);
                continue;
            }
            let (v, c) = match &slot.layer {
                None => {
                    let k = self
                        .inputs
                        .iter()
                        .position(|&n| n == i)
                        .expect("input node");
                    let off: usize = widths[..k].iter().sum();
                    let mut data = Vec::with_capacity(rows * widths[k]);
                    for r in 0..rows {
                        data.extend_from_slice(&x[r * d + off..r * d + off + widths[k]]);
                    }
                    masks.push(None);
                    (crate::layers::tensor(rows, &self.shapes[i], data)?, None)
                }
                Some(_) if plan.is_some_and(|p| p.absorbed[i]) => {
                    // Computed by the epilogue of the call it reads.
                    let v = std::mem::replace(&mut values[node.inputs[0]], empty());
                    masks.push(None);
                    (v, None)
                }
                Some(_) if in_place(plan, i, node, &masks) => {
                    let step = plan.and_then(|p| p.in_place[i].as_ref()).expect("planned");
                    let j = node.inputs[0];
                    let mut v = crate::layers::standard(std::mem::replace(&mut values[j], empty()));
                    let cols = v.shape().last().copied().unwrap_or(1).max(1);
                    step(v.as_slice_mut().expect("standard"), cols);
                    masks.push(None);
                    (v, None)
                }
                Some(_) if merge(plan, i, node, &masks) => {
                    let step = plan.and_then(|p| p.merge[i].as_ref()).expect("planned");
                    let j = node.inputs[0];
                    let mut v = crate::layers::standard(std::mem::replace(&mut values[j], empty()));
                    let rest: Vec<&Tensor> = node.inputs[1..].iter().map(|&k| &values[k]).collect();
                    step(&mut v, &rest);
                    masks.push(None);
                    (v, None)
                }
                Some(layer) => {
                    let mut ctx = ctx_for(layer.as_ref());
                    if let Some(p) = plan {
                        ctx.epilogue = p.epilogue[i].clone();
                    }
                    let (v, c, added) =
                        self.call(node, layer.as_ref(), &values, &mut masks, ctx)?;
                    if layer.adds_loss() {
                        // A loss of the batch: each row carries it (the batch's mean is it).
                        activity.resize(rows, 0.0);
                        activity.iter_mut().for_each(|a| *a += added);
                    }
                    (v, c)
                }
            };
            if let (Some((l1, l2)), true) = (slot.activity, node.is_call()) {
                add_activity(&mut activity, &v, rows, l1, l2);
            }
            values.push(v);
            caches.push(c);
            if let Some(p) = plan {
                for &j in self.reads(i, &fused) {
                    if p.last[j] == i {
                        crate::layers::recycle(std::mem::replace(&mut values[j], empty()));
                    }
                }
            }
        }
        if training {
            if let Some(&o) = self.outputs.iter().find(|&&o| masks[o].is_some()) {
                return Err(RkError::Unsupported(format!(
                    "a mask reaches the model's output '{}' (a loss per unmasked step), which rkeras does not support yet",
                    self.slots[self.nodes[o].layer].name
                )));
            }
        }
        Ok(Pass {
            values,
            caches,
            masks,
            rows,
            activity,
        })
    }

    /// Update the layers' non-gradient state (moving statistics) from a training pass.
    pub fn update_state(&mut self, pass: &Pass) {
        for (node, cache) in self.nodes.iter().zip(&pass.caches) {
            if let Some(layer) = self.slots[node.layer].layer.as_mut() {
                layer.update_state(cache);
            }
        }
    }

    /// Backward from the outputs' gradients; returns each layer's parameter gradients
    /// (empty for layers without parameters or not trainable), penalties included.
    pub fn backward(
        &self,
        pass: &Pass,
        out_grads: Vec<Tensor>,
        threads: usize,
    ) -> RkResult<Vec<Vec<Tensor>>> {
        self.backward_seeded(pass, out_grads, Vec::new(), threads)
    }

    /// [`Graph::backward`], with gradients `seeds` reaching other nodes as well (a loss
    /// written in R that reads them).
    pub fn backward_seeded(
        &self,
        pass: &Pass,
        out_grads: Vec<Tensor>,
        seeds: Vec<(usize, Tensor)>,
        threads: usize,
    ) -> RkResult<Vec<Vec<Tensor>>> {
        let mut pgrads: Vec<Vec<Tensor>> = self
            .slots
            .iter()
            .map(|s| {
                if s.trainable {
                    s.params()
                        .iter()
                        .map(|p| crate::layers::zeros_like(&p.value.raw_dim()))
                        .collect()
                } else {
                    Vec::new()
                }
            })
            .collect();
        let mut grads: Vec<Option<Tensor>> = vec![None; self.nodes.len()];
        for (&o, g) in self.outputs.iter().zip(out_grads) {
            add_grad(&mut grads[o], g);
        }
        for (n, g) in seeds {
            if n < grads.len() {
                add_grad(&mut grads[n], g);
            }
        }
        // Nodes that need a gradient: those upstream of a trainable parameter.
        let needs = self.needs_grad();
        let fused = self.fused_step_means();
        let mut scratch: Vec<Tensor>;
        for i in (0..self.nodes.len()).rev() {
            let node = &self.nodes[i];
            let slot = &self.slots[node.layer];
            if let (Some((l1, l2)), true, true) = (slot.activity, node.is_call(), needs[i]) {
                // The activity penalty's gradient (a mean over the batch's rows) joins the
                // output's.
                let v = &pass.values[i];
                let per_row = |f: f64| (f / pass.rows as f64) as f32;
                let g = grads[i].get_or_insert_with(|| Tensor::zeros(v.raw_dim()));
                crate::dense::chain::add_penalty_grad(
                    g.as_slice_mut().expect("standard"),
                    v.as_slice().expect("standard"),
                    per_row(l1),
                    per_row(l2),
                );
            }
            if let (Some(layer), true) = (&slot.layer, needs[i]) {
                if layer.adds_loss() && node.is_call() {
                    // The losses the call adds reach the model's loss even when its output
                    // does not.
                    grads[i].get_or_insert_with(|| Tensor::zeros(pass.values[i].raw_dim()));
                }
            }
            let Some(g) = grads[i].take() else { continue };
            let Some(layer) = &slot.layer else { continue };
            if !needs[i] {
                continue;
            }
            if let Some(k) = node.take {
                let j = node.inputs[0];
                let gj = self.part_backward(j, k, layer.as_ref(), g, pass.rows)?;
                add_grad(&mut grads[j], gj);
                continue;
            }
            if let Some(j) = fused[i] {
                let first = &self.nodes[j];
                let fslot = &self.slots[first.layer];
                if fslot.trainable {
                    let flayer = fslot.layer.as_ref().expect("fused layer");
                    let mut ctx = Ctx {
                        training: true,
                        backward: true,
                        rng: Rng::new(0),
                        threads,
                        input_grads: false,
                        mask: None,
                        input_masks: Vec::new(),
                        epilogue: Vec::new(),
                        added_loss: 0.0,
                    };
                    flayer
                        .step_mean_backward(
                            &pass.values[first.inputs[0]],
                            &g,
                            &mut pgrads[first.layer],
                            &mut ctx,
                        )
                        .unwrap_or_else(|| {
                            Err(RkError::Internal(
                                "a fused layer lost its averaged path".into(),
                            ))
                        })?;
                }
                continue;
            }
            let xs: Vec<&Tensor> = node.inputs.iter().map(|&j| &pass.values[j]).collect();
            let mut ctx = Ctx {
                training: self.call_training(i, true, layer.as_ref()),
                backward: true,
                rng: Rng::new(0),
                threads,
                input_grads: node.inputs.iter().any(|&j| needs[j]),
                mask: self.input_mask(node, &pass.masks),
                input_masks: self.input_masks(node, &pass.masks),
                epilogue: Vec::new(),
                added_loss: 0.0,
            };
            let pg: &mut [Tensor] = if slot.trainable {
                &mut pgrads[node.layer]
            } else {
                scratch = layer
                    .params()
                    .iter()
                    .map(|p| crate::layers::zeros_like(&p.value.raw_dim()))
                    .collect();
                &mut scratch
            };
            let gin = layer.backward(&xs, &pass.values[i], &pass.caches[i], g, pg, &mut ctx)?;
            for (&j, gj) in node.inputs.iter().zip(gin) {
                if needs[j] {
                    add_grad(&mut grads[j], gj);
                }
            }
        }
        for (s, pg) in self.slots.iter().zip(pgrads.iter_mut()) {
            if let (Some(l), true) = (&s.layer, s.trainable) {
                l.penalty(Some(pg));
            }
        }
        Ok(pgrads)
    }

    /// Whether each node's output gradient is needed: it feeds (directly or not) a layer
    /// with trainable parameters.
    /// For each node that averages its input over the steps and whose input comes from a
    /// layer that can give that average directly (an embedding feeding only this node, and
    /// not an output, on ids nothing upstream needs gradients for): the input's node.
    /// Forward and backward then skip the `[batch, steps, features]` tensor between them.
    fn fused_step_means(&self) -> Vec<Option<usize>> {
        let mut consumers = vec![0usize; self.nodes.len()];
        for n in &self.nodes {
            for &j in &n.inputs {
                consumers[j] += 1;
            }
        }
        self.nodes
            .iter()
            .map(|n| {
                let layer = self.slots[n.layer].layer.as_ref()?;
                if !layer.averages_steps() || n.inputs.len() != 1 {
                    return None;
                }
                let j = n.inputs[0];
                let first = &self.nodes[j];
                let fl = self.slots[first.layer].layer.as_ref()?;
                let single =
                    consumers[j] == 1 && !self.outputs.contains(&j) && first.inputs.len() == 1;
                // Embeddings have the averaged path, and their ids take no gradient; a
                // masked average is left to the pooling layer.
                let plain = self.slots[first.layer].activity.is_none();
                (single && plain && fl.class_name() == "Embedding" && !fl.masks_zero()).then_some(j)
            })
            .collect()
    }

    /// Whether node `i`'s layer runs in training mode in a pass that is (`pass`) or is not
    /// a training pass: as the pass, except a frozen layer that runs in inference mode while
    /// frozen (batch normalization).
    fn call_training(&self, i: usize, pass: bool, layer: &dyn crate::layers::Layer) -> bool {
        let slot = &self.slots[self.nodes[i].layer];
        pass && (slot.trainable || !layer.frozen_runs_inference())
    }

    fn needs_grad(&self) -> Vec<bool> {
        let mut needs = vec![false; self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            let slot = &self.slots[node.layer];
            let own = slot.trainable && slot.n_params() > 0;
            needs[i] = own || node.inputs.iter().any(|&j| needs[j]);
        }
        needs
    }

    /// Sum of the trainable layers' regularisation penalties (Keras regularises trainable
    /// weights only).
    pub fn penalty(&self) -> f64 {
        self.slots
            .iter()
            .filter(|s| s.trainable)
            .filter_map(|s| s.layer.as_ref())
            .map(|l| l.penalty(None))
            .sum()
    }
}

/// Add each row's `l1 sum|y| + l2 sum y^2` over the output `v` to `acc` (sized on first use).
fn add_activity(acc: &mut Vec<f64>, v: &Tensor, rows: usize, l1: f64, l2: f64) {
    acc.resize(rows, 0.0);
    let v = v.as_slice().expect("standard");
    for (a, row) in acc
        .iter_mut()
        .zip(v.chunks(v.len().div_ceil(rows.max(1)).max(1)))
    {
        *a += crate::dense::chain::penalty_sum(row, l1, l2);
    }
}

fn add_grad(slot: &mut Option<Tensor>, g: Tensor) {
    match slot {
        Some(acc) => *acc += &g,
        None => *slot = Some(g),
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_cnn;
#[cfg(test)]
mod tests_plan;
#[cfg(test)]
mod tests_rnn;
#[cfg(test)]
mod tests_states;
