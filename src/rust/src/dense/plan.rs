//! The dense plan: when a model's graph is a chain of dense, dropout, activation, flatten and
//! row-wise lambda layers over flat samples, trained as a whole (with a built-in loss or one
//! written in R that reads no other tensor of the model), its steps run on the fused kernels of
//! `chain.rs`, `train.rs` and `infer.rs`. The plan is compiled from the graph and owns no
//! weights: each step borrows the graph's dense weights (moving their buffers, not copying
//! them) and gives them back when it ends, however it ends. The graph stays the model;
//! anything that changes it (`Model::graph_changed`) makes the plan be compiled again.

use crate::activations::Act;
use crate::dense::chain::{Kind, Layer};
use crate::graph::Graph;
use crate::layers::Tensor;
use crate::model::Model;
use ndarray::IxDyn;

/// Which executor runs a model's steps.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum PlanChoice {
    /// The dense plan when the graph allows it, else the graph's executor.
    #[default]
    Auto,
    /// Always the graph's executor (to compare the two).
    General,
}

/// The plan's layers for `g`, or `None` when `g` is not a dense chain the plan runs.
pub fn compile(g: &Graph) -> Option<Vec<Layer>> {
    let n = g.nodes.len();
    if !g.built() || !g.symbolic.is_empty() || n < 2 || g.inputs != [0] || g.outputs != [n - 1] {
        return None;
    }
    if g.slots[g.nodes[0].layer].layer.is_some() || g.is_stateful() {
        return None;
    }
    let mut used = vec![false; g.slots.len()];
    let mut layers = Vec::with_capacity(n - 1);
    for (i, node) in g.nodes.iter().enumerate().skip(1) {
        if !node.is_call() || node.inputs != [i - 1] || used[node.layer] {
            return None;
        }
        used[node.layer] = true;
        let slot = &g.slots[node.layer];
        let layer = slot.layer.as_ref()?;
        if !slot.trainable || slot.activity.is_some() || layer.params().iter().any(|p| !p.trainable)
        {
            return None;
        }
        let input = &g.shapes[i - 1];
        let kind = kind_of(layer.as_ref(), input, &g.shapes[i])?;
        if !matches!(kind, Kind::Flatten) && input.len() != 1 {
            return None;
        }
        let mut l = Layer::new(slot.name.clone(), kind);
        l.slot = node.layer;
        l.in_dim = input.iter().product();
        l.size_grads();
        if l.out_dim() != g.shapes[i].iter().product::<usize>() {
            return None;
        }
        layers.push(l);
    }
    Some(layers)
}

/// The plan's description of a graph layer from `input` to `output` (shapes without the
/// batch axis), for the layers it runs.
fn kind_of(layer: &dyn crate::layers::Layer, input: &[usize], output: &[usize]) -> Option<Kind> {
    if let Some(graph) = layer.row_function() {
        let (&[d], &[out]) = (input, output) else {
            return None;
        };
        return graph
            .row_wise(&[vec![None, Some(d)]])
            .then(|| Kind::Function {
                graph: std::sync::Arc::new(graph.clone()),
                out,
            });
    }
    let c = layer.config();
    Some(match layer.class_name() {
        "Dense" => {
            let d = crate::layers::dense::Dense::from_config(&c, 0).ok()?;
            if d.bias_l1 != 0.0 || d.bias_l2 != 0.0 {
                return None;
            }
            Kind::Dense {
                units: d.units,
                act: d.act,
                use_bias: d.use_bias,
                l1: d.l1 as f32,
                l2: d.l2 as f32,
            }
        }
        "Dropout" if c["noise_shape"].is_null() => Kind::Dropout {
            rate: c["rate"].as_f64()? as f32,
        },
        "Activation" => Kind::Activation {
            act: Act::parse(c["activation"].as_str()?).ok()?,
        },
        "Flatten" => Kind::Flatten,
        _ => return None,
    })
}

impl Model {
    /// Whether this model's steps run on the dense plan (compiled on first use after the
    /// graph changed). Gradient clipping runs on the graph's executor.
    pub(crate) fn uses_plan(&mut self) -> bool {
        if self.plan_choice == PlanChoice::General
            || self.compiled.as_ref().is_some_and(|c| {
                c.optimizer.options.clips()
                    || c.custom.iter().flatten().any(|l| !l.nodes.is_empty())
            })
        {
            return false;
        }
        if !self.planned {
            self.layers = self.graph.as_ref().and_then(compile).unwrap_or_default();
            self.planned = true;
            self.cap = 0;
            self.cap_train = 0;
        }
        !self.layers.is_empty()
    }

    /// The graph changed (layers, shapes, trainable flags or weights): compile the plan
    /// again before its next step, and pack the weights again.
    pub fn graph_changed(&mut self) {
        self.planned = false;
        self.layers.clear();
        self.weights_changed();
    }

    /// The graph's weights changed outside a plan step: the plan's packed copies are stale.
    pub fn weights_changed(&mut self) {
        self.packs.invalidate();
        self.infer_packs = None;
    }

    /// Run `f` with the graph's dense weights lent to the plan's layers; they go back to the
    /// graph when `f` returns or panics.
    pub(crate) fn on_plan<R>(&mut self, f: impl FnOnce(&mut Model) -> R) -> R {
        self.lend(true);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self)));
        self.lend(false);
        match r {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        }
    }

    /// Move each dense layer's kernel and bias from the graph to the plan (`out`) or back.
    fn lend(&mut self, out: bool) {
        let Some(g) = self.graph.as_mut() else {
            return;
        };
        for l in self.layers.iter_mut() {
            let Kind::Dense { units, .. } = l.kind else {
                continue;
            };
            let Some(layer) = g.slots[l.slot].layer.as_mut() else {
                continue;
            };
            let mut params = layer.params_mut().into_iter();
            let shapes = [vec![l.in_dim, units], vec![units]];
            for (p, (buf, shape)) in params
                .by_ref()
                .zip([&mut l.kernel, &mut l.bias].into_iter().zip(shapes))
            {
                if out {
                    let mut t = std::mem::replace(&mut p.value, Tensor::zeros(IxDyn(&[0])));
                    if !t.is_standard_layout() {
                        t = t.as_standard_layout().into_owned();
                    }
                    let (v, offset) = t.into_raw_vec_and_offset();
                    debug_assert_eq!(offset.unwrap_or(0), 0);
                    *buf = v;
                } else {
                    let v = std::mem::take(buf);
                    p.value = Tensor::from_shape_vec(IxDyn(&shape), v)
                        .expect("a lent weight keeps its size");
                }
            }
        }
    }
}
