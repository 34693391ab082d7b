//! Epoch metrics as sample-weighted running means (Keras's MeanMetricWrapper).

use crate::error::{RkError, RkResult};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MetricKind {
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    /// Keras 3: `y == (p > threshold)`, averaged over the outputs.
    BinaryAccuracy {
        threshold: f32,
    },
    MeanAbsoluteError,
    MeanSquaredError,
}

impl MetricKind {
    /// From a name, with a threshold after `+t=` for binary accuracy (`binary_accuracy+t=0`).
    pub fn parse(name: &str) -> RkResult<MetricKind> {
        if let Some(t) = name.strip_prefix("binary_accuracy+t=") {
            let threshold = t
                .parse::<f32>()
                .ok()
                .filter(|t| t.is_finite())
                .ok_or_else(|| RkError::Spec(format!("bad threshold in metric '{name}'")))?;
            return Ok(MetricKind::BinaryAccuracy { threshold });
        }
        Ok(match name {
            "categorical_accuracy" => MetricKind::CategoricalAccuracy,
            "sparse_categorical_accuracy" => MetricKind::SparseCategoricalAccuracy,
            "binary_accuracy" => MetricKind::BinaryAccuracy { threshold: 0.5 },
            "mean_absolute_error" => MetricKind::MeanAbsoluteError,
            "mean_squared_error" => MetricKind::MeanSquaredError,
            other => return Err(RkError::Spec(format!("unknown metric '{other}'"))),
        })
    }

    /// Value of the metric for one sample.
    pub fn sample(self, p: &[f32], y: &[f32]) -> f32 {
        let cols = p.len() as f32;
        match self {
            MetricKind::CategoricalAccuracy => (argmax(p) == argmax(y)) as u8 as f32,
            MetricKind::SparseCategoricalAccuracy => (argmax(p) == y[0] as usize) as u8 as f32,
            MetricKind::BinaryAccuracy { threshold } => {
                p.iter()
                    .zip(y)
                    .filter(|(&a, &b)| b == (a > threshold) as u8 as f32)
                    .count() as f32
                    / cols
            }
            MetricKind::MeanAbsoluteError => {
                p.iter().zip(y).map(|(a, b)| (a - b).abs()).sum::<f32>() / cols
            }
            MetricKind::MeanSquaredError => {
                p.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / cols
            }
        }
    }
}

/// Index of the first maximum, as argmax does.
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Running sums for the loss and each metric over an epoch (f64 for stable means).
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    pub loss_sum: f64,
    pub loss_count: f64,
    pub metric_sums: Vec<f64>,
    pub weight_sum: f64,
    pub last_loss: f64,
    /// Per-output losses (row-weighted sums) of a model with several outputs.
    pub loss_parts: Vec<f64>,
}

impl Tracker {
    pub fn new(n_metrics: usize) -> Self {
        Tracker {
            metric_sums: vec![0.0; n_metrics],
            ..Default::default()
        }
    }
    pub fn reset(&mut self) {
        let (n, parts) = (self.metric_sums.len(), self.loss_parts.len());
        *self = Tracker::new(n);
        self.loss_parts = vec![0.0; parts];
    }
    /// Mean loss of output `i` (models with several outputs).
    pub fn loss_part(&self, i: usize) -> f64 {
        if self.loss_count > 0.0 {
            self.loss_parts[i] / self.loss_count
        } else {
            f64::NAN
        }
    }
    pub fn loss(&self) -> f64 {
        if self.loss_count > 0.0 {
            self.loss_sum / self.loss_count
        } else {
            f64::NAN
        }
    }
    pub fn metric(&self, i: usize) -> f64 {
        if self.weight_sum > 0.0 {
            self.metric_sums[i] / self.weight_sum
        } else {
            f64::NAN
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn accuracies_follow_keras() {
        assert_eq!(
            MetricKind::CategoricalAccuracy.sample(&[0.1, 0.7, 0.2], &[0.0, 1.0, 0.0]),
            1.0
        );
        assert_eq!(
            MetricKind::SparseCategoricalAccuracy.sample(&[0.1, 0.7, 0.2], &[2.0]),
            0.0
        );
        assert_eq!(
            MetricKind::parse("binary_accuracy")
                .unwrap()
                .sample(&[0.6, 0.4], &[1.0, 1.0]),
            0.5
        );
        // Keras 3 compares the targets with the thresholded predictions as they are.
        let t0 = MetricKind::parse("binary_accuracy+t=0").unwrap();
        assert_eq!(t0.sample(&[0.3, -0.2, 1.5], &[1.0, 0.0, 0.9]), 2.0 / 3.0);
        assert!(MetricKind::parse("binary_accuracy+t=x").is_err());
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
    }
}
