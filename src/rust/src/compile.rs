//! What `compile()` gives the engine, as one typed structure (JSON from R): the loss of each
//! output with its weight, the metrics with the output each is computed on, and the
//! optimizer with its options and learning rate or schedule.

use crate::error::{RkError, RkResult};
use crate::losses::Loss;
use crate::metrics::MetricKind;
use crate::model::Model;
use crate::optimizers::schedules::Schedule;
use crate::optimizers::{Optimizer, Options};
use serde::Deserialize;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct CompileSpec {
    /// One loss per output (Keras's names, `"mean_squared_error"`).
    pub losses: Vec<String>,
    pub loss_weights: Vec<f64>,
    pub metrics: Vec<MetricSpec>,
    pub optimizer: OptimizerSpec,
    /// For each output whose loss is `"custom"` (written in R), its operation graph over
    /// `(y_true, y_pred)`; `null` for the others.
    #[serde(default)]
    pub custom_losses: Vec<Option<crate::graph::custom_loss::CustomLoss>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    /// The engine's name of the metric (`"categorical_accuracy"`).
    pub kind: String,
    /// The output it is computed on (0-based).
    pub output: usize,
    /// Weighted by the sample weights (Keras's `weighted_metrics`).
    pub weighted: bool,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct OptimizerSpec {
    pub name: String,
    pub learning_rate: f64,
    /// A learning-rate schedule's encoding (see `Schedule::from_values`), which replaces
    /// `learning_rate`.
    pub schedule: Option<Vec<f64>>,
    /// The optimizer's own hyper-parameters in the order of its R function's arguments.
    pub params: Vec<f64>,
    pub clipnorm: Option<f64>,
    pub clipvalue: Option<f64>,
    pub global_clipnorm: Option<f64>,
    pub weight_decay: f64,
    /// Keras 2's legacy `decay`.
    pub decay: f64,
}

impl CompileSpec {
    pub fn from_json(json: &str) -> RkResult<CompileSpec> {
        serde_json::from_str(json)
            .map_err(|e| RkError::Internal(format!("compile description: {e}")))
    }

    pub fn optimizer(&self) -> RkResult<Optimizer> {
        let o = &self.optimizer;
        let unset = f64::NAN;
        let options = Options::from_values(&[
            o.clipnorm.unwrap_or(unset),
            o.clipvalue.unwrap_or(unset),
            o.global_clipnorm.unwrap_or(unset),
            o.weight_decay,
            o.decay,
        ])?;
        let mut opt = Optimizer::new(&o.name, o.learning_rate, &o.params)?.with_options(options);
        if let Some(s) = &o.schedule {
            let s = Schedule::from_values(s)?;
            opt.learning_rate = s.at(0.0);
            opt.schedule = Some(s);
        }
        Ok(opt)
    }
}

impl Model {
    /// Compile the model as `spec` says.
    pub fn compile_spec(&mut self, spec: &CompileSpec) -> RkResult<()> {
        let losses = spec
            .losses
            .iter()
            .map(|s| Loss::parse(s))
            .collect::<RkResult<Vec<_>>>()?;
        let kinds = spec
            .metrics
            .iter()
            .map(|m| MetricKind::parse(&m.kind))
            .collect::<RkResult<Vec<_>>>()?;
        let outputs = spec.metrics.iter().map(|m| m.output).collect();
        let weighted = spec.metrics.iter().map(|m| m.weighted).collect();
        let loss_weights = spec.loss_weights.iter().map(|&w| w as f32).collect();
        let optimizer = spec.optimizer()?;
        let custom = &spec.custom_losses;
        for (o, l) in losses.iter().enumerate() {
            let graph = custom.get(o).and_then(|g| g.as_ref());
            if (*l == Loss::Custom) != graph.is_some() {
                return Err(RkError::Internal(format!(
                    "output {o}: a loss written in R needs its operation graph"
                )));
            }
            if graph
                .is_some_and(|g| g.graph.inputs != 2 + g.nodes.len() || g.graph.outputs.len() != 1)
            {
                return Err(RkError::Internal(format!(
                    "output {o}: a loss graph takes y_true and y_pred and returns one tensor"
                )));
            }
        }
        self.compile_outputs(losses, loss_weights, (kinds, outputs, weighted), optimizer)?;
        if let Some(c) = self.compiled.as_mut() {
            c.custom = (0..c.losses.len())
                .map(|o| custom.get(o).cloned().flatten())
                .collect();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compile_description_reads_and_refuses_unknown_fields() {
        let json = r#"{"losses": ["mse"], "loss_weights": [1], "metrics": [
            {"kind": "mae", "output": 0, "weighted": true}],
            "optimizer": {"name": "adam", "learning_rate": 0.01, "schedule": null,
            "params": [0.8, 0.99, 1e-7, 0], "clipnorm": 1.5, "clipvalue": null,
            "global_clipnorm": null, "weight_decay": 0, "decay": 0}}"#;
        let spec = CompileSpec::from_json(json).unwrap();
        assert!(spec.metrics[0].weighted);
        let opt = spec.optimizer().unwrap();
        assert_eq!(opt.options.clipnorm, Some(1.5));
        assert_eq!(opt.learning_rate, 0.01);
        let bad = json.replace("\"decay\": 0", "\"decay\": 0, \"lr\": 1");
        assert!(CompileSpec::from_json(&bad).is_err());
    }
}
