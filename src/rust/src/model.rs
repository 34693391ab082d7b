//! A model: its layers (the fused dense chain, or a graph on the general engine), the
//! compiled loss/metrics/optimizer, and the step buffers (allocated once per batch capacity,
//! reused by every step). The executors (`step.rs`, `train.rs`, `infer.rs`, `graph/exec.rs`)
//! depend on this file; it depends on none of them.

use crate::chain::Layer;
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
    pub layers: Vec<Layer>,
    pub input_dim: Option<usize>,
    /// The model on the general engine (`graph/`); `None` for a fused dense chain.
    pub graph: Option<crate::graph::Graph>,
    pub compiled: Option<Compiled>,
    pub threads: usize,
    pub train: Tracker,
    pub test: Tracker,
    /// Seed for dropout masks of the current fit, and the step counter that keys them.
    pub fit_seed: u64,
    pub step: u64,
    pub(crate) cap: usize,
    pub(crate) cap_train: usize,
    pub(crate) z: Vec<Vec<f32>>,
    pub(crate) a: Vec<Vec<f32>>,
    pub(crate) g: Vec<Vec<f32>>,
    pub(crate) masks: Vec<Vec<f32>>,
    /// Packed weights of the training kernel (`train.rs`).
    pub(crate) packs: crate::buffers::TrainPacks,
    /// Per-worker buffers of tiled inference (`infer.rs`).
    pub(crate) scratch: Vec<crate::buffers::Scratch>,
    /// The weights packed for inference, with the weights' generation they were packed from.
    pub(crate) infer_packs: Option<(u64, Vec<crate::kernel::PackedWeights>)>,
}

impl Model {
    pub fn new() -> Model {
        Model {
            threads: 1,
            ..Default::default()
        }
    }

    pub fn built(&self) -> bool {
        match &self.graph {
            Some(g) => g.built(),
            None => self.input_dim.is_some(),
        }
    }

    pub fn output_dim(&self) -> Option<usize> {
        if let Some(g) = &self.graph {
            return g.built().then(|| g.output_widths().iter().sum());
        }
        self.input_dim?;
        self.layers.last().map(|l| l.out_dim()).or(self.input_dim)
    }

    /// Add a layer; builds it at once when the input size is known.
    pub fn add(&mut self, mut layer: Layer) -> RkResult<()> {
        if self.layers.iter().any(|l| l.name == layer.name) {
            return Err(RkError::Value(format!(
                "a layer named '{}' is already in the model; layer names must be unique",
                layer.name
            )));
        }
        if let Some(d) = self.output_dim() {
            layer.build(d)?;
        }
        self.layers.push(layer);
        self.packs.invalidate();
        self.cap = 0;
        self.cap_train = 0;
        Ok(())
    }

    /// The number of outputs (the fused chain has one).
    fn n_outputs(&self) -> usize {
        self.graph.as_ref().map(|g| g.outputs.len()).unwrap_or(1)
    }

    /// A shape error for `got` input features where the chain's first layer takes `d`.
    pub(crate) fn input_width_error(&self, d: usize, got: usize) -> RkError {
        let name = self
            .layers
            .first()
            .map(|l| l.name.as_str())
            .unwrap_or("input");
        RkError::Shape(format!(
            "layer '{name}' expects {d} input features, got {got}"
        ))
    }

    /// Fix the input size and build every layer (first use of data, or `input_shape`).
    pub fn build(&mut self, input_dim: usize) -> RkResult<()> {
        if let Some(d) = self.input_dim {
            if d != input_dim {
                return Err(self.input_width_error(d, input_dim));
            }
            return Ok(());
        }
        if input_dim == 0 {
            return Err(RkError::Shape(
                "a model input needs at least one feature".into(),
            ));
        }
        let mut d = input_dim;
        for l in self.layers.iter_mut() {
            l.build(d)?;
            d = l.out_dim();
        }
        self.input_dim = Some(input_dim);
        self.packs.invalidate();
        Ok(())
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
        let o = &optimizer.options;
        if self.graph.is_none() && !self.layers.is_empty() && o.clips() {
            return Err(RkError::Internal(
                "gradient clipping runs on the general engine; the model is on the fused chain"
                    .into(),
            ));
        }
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
        });
    }

    pub fn count_params(&self) -> usize {
        match &self.graph {
            Some(g) => g.count_params(),
            None => self.layers.iter().map(|l| l.n_params()).sum(),
        }
    }
}
