//! A model: its graph of layers (the only representation of its layers and weights), the
//! compiled loss/metrics/optimizer, the dense plan compiled from the graph when the graph
//! allows it (`plan.rs`), and that plan's step buffers (allocated once per batch capacity,
//! reused by every step). The executors (`step.rs`, `dense/`, `graph/exec.rs`)
//! depend on this file; it depends on none of them.

use crate::dense::chain::Layer;
use crate::error::{RkError, RkResult};
use crate::losses::Loss;
use crate::metrics::{MetricKind, Tracker};
use crate::optimizers::Optimizer;

#[derive(Clone, Debug)]
pub struct Compiled {
    pub loss: Loss,
    /// One loss per output and its weight in the total (the chain has one output).
    pub losses: Vec<Loss>,
    pub loss_weights: Vec<f32>,
    pub metrics: Vec<MetricKind>,
    /// The output each metric is computed on (all 0 for one output).
    pub metric_outputs: Vec<usize>,
    /// Whether each metric is weighted by the sample weights (Keras's `weighted_metrics`);
    /// plain `metrics` are not.
    pub metric_weighted: Vec<bool>,
    pub optimizer: Optimizer,
    /// For each output, the operation graph of its loss when the loss is written in R
    /// ([`Loss::Custom`]).
    pub custom: Vec<Option<crate::graph::custom_loss::CustomLoss>>,
}

/// A batch of samples in row-major f32: `x [rows, x_cols]`, `y [rows, y_cols]`, optional weights.
pub struct Batch<'a> {
    pub x: &'a [f32],
    pub y: &'a [f32],
    pub w: Option<&'a [f32]>,
    pub rows: usize,
}

#[derive(Clone, Debug, Default)]
pub struct Model {
    /// The layers of the dense plan (`plan.rs`) when the graph is a dense chain, empty
    /// otherwise; they hold no weights between steps (each step borrows the graph's).
    pub layers: Vec<Layer>,
    /// Whether `layers` was compiled from the current graph.
    pub(crate) planned: bool,
    /// Which executor runs the steps (tests compare them).
    pub plan_choice: crate::dense::plan::PlanChoice,
    /// The model's layers and weights (`None` until its first layer).
    pub graph: Option<crate::graph::Graph>,
    pub compiled: Option<Compiled>,
    pub threads: usize,
    pub train: Tracker,
    pub test: Tracker,
    /// Seed for dropout masks of the current fit, and the step counter that keys them.
    pub fit_seed: u64,
    pub step: u64,
    /// Inference calls so far: keys the random operations' draws of each.
    pub infer_calls: u64,
    pub(crate) cap: usize,
    pub(crate) cap_train: usize,
    pub(crate) z: Vec<Vec<f32>>,
    pub(crate) a: Vec<Vec<f32>>,
    pub(crate) g: Vec<Vec<f32>>,
    pub(crate) masks: Vec<Vec<f32>>,
    /// Packed weights of the dense plan's training kernel (`dense/train.rs`).
    pub(crate) packs: crate::dense::buffers::TrainPacks,
    /// Per-worker buffers of the dense plan's tiled inference (`dense/infer.rs`).
    pub(crate) scratch: Vec<crate::dense::buffers::Scratch>,
    /// The weights packed for inference, with the weights' generation they were packed from.
    pub(crate) infer_packs: Option<(u64, Vec<crate::dense::kernel::PackedWeights>)>,
}

impl Model {
    pub fn new() -> Model {
        Model {
            threads: 1,
            ..Default::default()
        }
    }

    /// A model of the layers of `graph`.
    pub fn with_graph(graph: crate::graph::Graph) -> Model {
        let mut m = Model::new();
        m.graph = Some(graph);
        m.graph_changed();
        m
    }

    pub fn built(&self) -> bool {
        self.graph.as_ref().is_some_and(|g| g.built())
    }

    /// Values per sample of the outputs together.
    pub fn output_dim(&self) -> Option<usize> {
        let g = self.graph.as_ref()?;
        g.built().then(|| g.output_widths().iter().sum())
    }

    /// The number of outputs.
    fn n_outputs(&self) -> usize {
        self.graph.as_ref().map(|g| g.outputs.len()).unwrap_or(1)
    }

    /// Set one loss for every output (as Keras does with a single loss), the metrics and the
    /// optimizer.
    pub fn compile(&mut self, loss: Loss, metrics: Vec<MetricKind>, optimizer: Optimizer) {
        let n_out = self.n_outputs();
        let outputs = (0..n_out)
            .flat_map(|o| std::iter::repeat_n(o, metrics.len()))
            .collect();
        let metrics = metrics.repeat(n_out);
        let weighted = vec![false; metrics.len()];
        self.set_compiled(
            vec![loss; n_out],
            vec![1.0; n_out],
            (metrics, outputs, weighted),
            optimizer,
        );
    }

    /// Set the losses (one per output, with their weights), the metrics with the output
    /// each is computed on and whether it is weighted (in the order of the logs), and the
    /// optimizer.
    pub fn compile_outputs(
        &mut self,
        losses: Vec<Loss>,
        loss_weights: Vec<f32>,
        metrics: (Vec<MetricKind>, Vec<usize>, Vec<bool>),
        optimizer: Optimizer,
    ) -> RkResult<()> {
        let (kinds, metric_outputs, weighted) = &metrics;
        let n_out = self.n_outputs();
        if losses.len() != n_out || loss_weights.len() != n_out {
            return Err(RkError::Value(format!(
                "the model has {n_out} outputs but {} losses and {} loss weights were given",
                losses.len(),
                loss_weights.len()
            )));
        }
        if metric_outputs.len() != kinds.len()
            || weighted.len() != kinds.len()
            || metric_outputs.iter().any(|&o| o >= n_out)
        {
            return Err(RkError::Internal(
                "each metric needs the output it is computed on".into(),
            ));
        }
        for (kind, &o) in kinds.iter().zip(metric_outputs) {
            if kind.sparse_targets() != losses[o].is_sparse() {
                let ids = |sparse| {
                    if sparse {
                        "class ids"
                    } else {
                        "one column per unit"
                    }
                };
                return Err(RkError::Value(format!(
                    "metric {kind:?} takes targets as {} but the loss takes {}",
                    ids(!losses[o].is_sparse()),
                    ids(losses[o].is_sparse())
                )));
            }
        }
        self.set_compiled(losses, loss_weights, metrics, optimizer);
        Ok(())
    }

    fn set_compiled(
        &mut self,
        losses: Vec<Loss>,
        loss_weights: Vec<f32>,
        (metrics, metric_outputs, metric_weighted): (Vec<MetricKind>, Vec<usize>, Vec<bool>),
        optimizer: Optimizer,
    ) {
        // A loss per output is logged only when there are several outputs.
        let parts = if losses.len() > 1 { losses.len() } else { 0 };
        self.train = Tracker::new(&metrics);
        self.train.loss_parts = vec![0.0; parts];
        self.test = self.train.clone();
        self.compiled = Some(Compiled {
            loss: losses[0],
            losses,
            loss_weights,
            metrics,
            metric_outputs,
            metric_weighted,
            optimizer,
            custom: vec![None; parts.max(1)],
        });
    }

    pub fn count_params(&self) -> usize {
        self.graph.as_ref().map_or(0, |g| g.count_params())
    }
}
