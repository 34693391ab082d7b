//! Epoch metrics: sample-weighted running means (Keras's MeanMetricWrapper) and the
//! confusion-matrix metrics (precision, recall, AUC), which accumulate counts per threshold.

use crate::error::{RkError, RkResult};
use crate::losses::{cosine, Loss};

/// Keras's `NEG_INF`: the default threshold of precision and recall with `top_k`.
const NEG_INF: f32 = -1e10;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Curve {
    Roc,
    Pr,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Summation {
    Interpolation,
    Minoring,
    Majoring,
}

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
    RootMeanSquaredError,
    /// Keras's metric form: the cosine similarity itself (the loss is its negative).
    CosineSimilarity,
    TopK {
        k: usize,
    },
    SparseTopK {
        k: usize,
    },
    /// A loss used as a metric.
    Loss(Loss),
    Precision {
        threshold: f32,
        top_k: Option<usize>,
        class_id: Option<usize>,
    },
    Recall {
        threshold: f32,
        top_k: Option<usize>,
        class_id: Option<usize>,
    },
    Auc {
        num_thresholds: usize,
        curve: Curve,
        summation: Summation,
        from_logits: bool,
    },
    /// Keras's `TruePositives`, `FalsePositives`, `TrueNegatives`, `FalseNegatives`: the
    /// (sample-weighted) count over every prediction, positive above `threshold`.
    Count {
        which: Cell,
        threshold: f32,
    },
    /// The best of one rate where another reaches `value`, over `num_thresholds` evenly
    /// spaced thresholds (Keras's `SensitivitySpecificityBase` metrics).
    AtValue {
        which: AtKind,
        value: f32,
        num_thresholds: usize,
        class_id: Option<usize>,
    },
}

/// A cell of the confusion matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell {
    TruePositives,
    FalsePositives,
    TrueNegatives,
    FalseNegatives,
}

/// Which rate is maximized under which constraint.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AtKind {
    PrecisionAtRecall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
}

/// `name+key=value+flag` into the name and its options.
fn options(spec: &str) -> (&str, Vec<(&str, &str)>) {
    let mut parts = spec.split('+');
    let name = parts.next().unwrap_or("");
    let opts = parts
        .map(|o| o.split_once('=').unwrap_or((o, "")))
        .collect();
    (name, opts)
}

fn bad(spec: &str) -> RkError {
    RkError::Spec(format!("bad metric '{spec}'"))
}

impl MetricKind {
    /// From a name with options after `+`: `binary_accuracy+t=0`, `top_k_categorical_accuracy+k=3`,
    /// `precision+t=0.3+top_k=2+class_id=1`, `auc+n=200+curve=PR+sum=majoring+logits`,
    /// `loss:huber+delta=2` (a loss as a metric).
    pub fn parse(spec: &str) -> RkResult<MetricKind> {
        if let Some(loss) = spec.strip_prefix("loss:") {
            return Ok(MetricKind::Loss(Loss::parse(loss)?));
        }
        let (name, opts) = options(spec);
        let num = |key: &str| -> RkResult<Option<f64>> {
            opts.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| {
                    v.parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| bad(spec))
                })
                .transpose()
        };
        let count =
            |key: &str| -> RkResult<Option<usize>> { Ok(num(key)?.map(|x| x.max(0.0) as usize)) };
        let known: &[&str] = match name {
            "binary_accuracy" | "precision" | "recall" => &["t", "top_k", "class_id"],
            "top_k_categorical_accuracy" | "sparse_top_k_categorical_accuracy" => &["k"],
            "auc" => &["n", "curve", "sum", "logits"],
            "true_positives" | "false_positives" | "true_negatives" | "false_negatives" => &["t"],
            "precision_at_recall"
            | "recall_at_precision"
            | "sensitivity_at_specificity"
            | "specificity_at_sensitivity" => &["v", "n", "class_id"],
            _ => &[],
        };
        if let Some((k, _)) = opts.iter().find(|(k, _)| !known.contains(k)) {
            return Err(RkError::Spec(format!(
                "metric '{name}' takes no option '{k}'"
            )));
        }
        Ok(match name {
            "categorical_accuracy" => MetricKind::CategoricalAccuracy,
            "sparse_categorical_accuracy" => MetricKind::SparseCategoricalAccuracy,
            "binary_accuracy" => MetricKind::BinaryAccuracy {
                threshold: num("t")?.unwrap_or(0.5) as f32,
            },
            "mean_absolute_error" => MetricKind::MeanAbsoluteError,
            "mean_squared_error" => MetricKind::MeanSquaredError,
            "root_mean_squared_error" => MetricKind::RootMeanSquaredError,
            "cosine_similarity" => MetricKind::CosineSimilarity,
            "top_k_categorical_accuracy" => MetricKind::TopK {
                k: count("k")?.unwrap_or(5),
            },
            "sparse_top_k_categorical_accuracy" => MetricKind::SparseTopK {
                k: count("k")?.unwrap_or(5),
            },
            "precision" | "recall" => {
                let top_k = count("top_k")?;
                let class_id = count("class_id")?;
                let default = if top_k.is_some() { NEG_INF } else { 0.5 };
                let threshold = num("t")?.map(|t| t as f32).unwrap_or(default);
                if name == "precision" {
                    MetricKind::Precision {
                        threshold,
                        top_k,
                        class_id,
                    }
                } else {
                    MetricKind::Recall {
                        threshold,
                        top_k,
                        class_id,
                    }
                }
            }
            "auc" => {
                let pick = |key: &str| opts.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
                MetricKind::Auc {
                    num_thresholds: count("n")?.unwrap_or(200).max(2),
                    curve: match pick("curve").unwrap_or("ROC") {
                        "ROC" => Curve::Roc,
                        "PR" => Curve::Pr,
                        _ => return Err(bad(spec)),
                    },
                    summation: match pick("sum").unwrap_or("interpolation") {
                        "interpolation" => Summation::Interpolation,
                        "minoring" => Summation::Minoring,
                        "majoring" => Summation::Majoring,
                        _ => return Err(bad(spec)),
                    },
                    from_logits: pick("logits").is_some(),
                }
            }
            "true_positives" | "false_positives" | "true_negatives" | "false_negatives" => {
                MetricKind::Count {
                    which: match name {
                        "true_positives" => Cell::TruePositives,
                        "false_positives" => Cell::FalsePositives,
                        "true_negatives" => Cell::TrueNegatives,
                        _ => Cell::FalseNegatives,
                    },
                    threshold: num("t")?.unwrap_or(0.5) as f32,
                }
            }
            "precision_at_recall"
            | "recall_at_precision"
            | "sensitivity_at_specificity"
            | "specificity_at_sensitivity" => MetricKind::AtValue {
                which: match name {
                    "precision_at_recall" => AtKind::PrecisionAtRecall,
                    "recall_at_precision" => AtKind::RecallAtPrecision,
                    "sensitivity_at_specificity" => AtKind::SensitivityAtSpecificity,
                    _ => AtKind::SpecificityAtSensitivity,
                },
                value: num("v")?.ok_or_else(|| bad(spec))? as f32,
                num_thresholds: count("n")?.unwrap_or(200).max(1),
                class_id: count("class_id")?,
            },
            other => return Err(RkError::Spec(format!("unknown metric '{other}'"))),
        })
    }

    /// Whether the metric reads targets as class ids (one column), as the sparse loss does.
    pub fn sparse_targets(self) -> bool {
        match self {
            MetricKind::SparseCategoricalAccuracy | MetricKind::SparseTopK { .. } => true,
            MetricKind::Loss(l) => l.is_sparse(),
            _ => false,
        }
    }

    /// The metric as applied to one batch whose targets are `ys` (see [`Loss::for_batch`]).
    pub fn for_batch(self, ys: impl Iterator<Item = f32>) -> MetricKind {
        match self {
            MetricKind::Loss(l) => MetricKind::Loss(l.for_batch(ys)),
            other => other,
        }
    }

    /// Value of a mean metric for one sample (NaN for the confusion-matrix metrics).
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
            MetricKind::MeanSquaredError | MetricKind::RootMeanSquaredError => {
                p.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / cols
            }
            MetricKind::CosineSimilarity => cosine(p, y),
            MetricKind::TopK { k } => in_top_k(p, argmax(y), k),
            MetricKind::SparseTopK { k } => in_top_k(p, y[0] as usize, k),
            MetricKind::Loss(l) => l.sample(p, y),
            MetricKind::Precision { .. }
            | MetricKind::Recall { .. }
            | MetricKind::Auc { .. }
            | MetricKind::Count { .. }
            | MetricKind::AtValue { .. } => f32::NAN,
        }
    }

    /// An empty accumulator for this metric.
    pub fn acc(self) -> Acc {
        let n = match self {
            MetricKind::Precision { .. } | MetricKind::Recall { .. } | MetricKind::Count { .. } => {
                1
            }
            MetricKind::Auc { num_thresholds, .. } | MetricKind::AtValue { num_thresholds, .. } => {
                num_thresholds
            }
            _ => {
                return Acc::Mean {
                    sum: 0.0,
                    weight: 0.0,
                }
            }
        };
        Acc::Confusion(Box::new(Confusion::new(n)))
    }
}

/// Keras's `in_top_k`: the target's prediction has fewer than `k` strictly larger ones (NaN
/// counts as smallest).
fn in_top_k(p: &[f32], target: usize, k: usize) -> f32 {
    let at = p
        .get(target)
        .copied()
        .filter(|v| !v.is_nan())
        .unwrap_or(f32::NEG_INFINITY);
    let larger = p.iter().filter(|&&v| v > at).count();
    (larger < k) as u8 as f32
}

/// Counts per threshold: true and false positives and negatives (sample-weighted).
#[derive(Clone, Debug, PartialEq)]
pub struct Confusion {
    pub tp: Vec<f64>,
    pub fp: Vec<f64>,
    pub tn: Vec<f64>,
    pub fneg: Vec<f64>,
}

impl Confusion {
    fn new(n: usize) -> Confusion {
        Confusion {
            tp: vec![0.0; n],
            fp: vec![0.0; n],
            tn: vec![0.0; n],
            fneg: vec![0.0; n],
        }
    }

    /// Count one prediction: `above[i]` tells whether it exceeds threshold `i`, given as the
    /// number of thresholds it exceeds from the lowest (thresholds ascend).
    fn count(&mut self, label: bool, n_above: usize, w: f64) {
        for i in 0..self.tp.len() {
            match (label, i < n_above) {
                (true, true) => self.tp[i] += w,
                (true, false) => self.fneg[i] += w,
                (false, true) => self.fp[i] += w,
                (false, false) => self.tn[i] += w,
            }
        }
    }
}

/// A metric's running state over an epoch.
#[derive(Clone, Debug, PartialEq)]
pub enum Acc {
    Mean { sum: f64, weight: f64 },
    Confusion(Box<Confusion>),
}

fn no_nan(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
}

impl Acc {
    /// Add one sample (or one of a sample's `1 / share` positions) with sample weight `w`.
    pub fn add(&mut self, kind: MetricKind, p: &[f32], y: &[f32], w: f32, share: f32) {
        match self {
            Acc::Mean { sum, weight } => {
                *sum += (w * share * kind.sample(p, y)) as f64;
                *weight += (w * share) as f64;
            }
            Acc::Confusion(c) => match kind {
                MetricKind::Precision {
                    threshold,
                    top_k,
                    class_id,
                }
                | MetricKind::Recall {
                    threshold,
                    top_k,
                    class_id,
                } => {
                    let kept = top_k.map(|k| top_k_mask(p, k));
                    let pred = |j: usize| match &kept {
                        Some(m) if !m[j] => NEG_INF,
                        _ => p[j],
                    };
                    let mut one =
                        |j: usize| c.count(y[j] != 0.0, (pred(j) > threshold) as usize, w as f64);
                    match class_id {
                        Some(j) if j < p.len() => one(j),
                        Some(_) => {}
                        None => (0..p.len()).for_each(one),
                    }
                }
                MetricKind::Auc {
                    num_thresholds,
                    from_logits,
                    ..
                } => {
                    // Keras's evenly spaced thresholds: bucket ceil(p (n - 1)) - 1, at least 0.
                    let n1 = (num_thresholds - 1) as f32;
                    for (&pj, &yj) in p.iter().zip(y) {
                        let q = if from_logits {
                            crate::activations::sigmoid(pj)
                        } else {
                            pj
                        };
                        let bucket = ((q * n1).ceil() - 1.0).max(0.0) as usize;
                        c.count(yj != 0.0, (bucket + 1).min(num_thresholds), w as f64);
                    }
                }
                MetricKind::Count { threshold, .. } => {
                    for (&pj, &yj) in p.iter().zip(y) {
                        c.count(yj != 0.0, (pj > threshold) as usize, w as f64);
                    }
                }
                MetricKind::AtValue {
                    num_thresholds,
                    class_id,
                    ..
                } => {
                    // One threshold: 0.5. Else 0, 1/(n-1), ..., 1, bucketed as Keras buckets
                    // evenly spaced thresholds (as AUC does).
                    let mut one = |j: usize| {
                        let above = if num_thresholds == 1 {
                            (p[j] > 0.5) as usize
                        } else {
                            let n1 = (num_thresholds - 1) as f32;
                            let bucket = ((p[j] * n1).ceil() - 1.0).max(0.0) as usize;
                            (bucket + 1).min(num_thresholds)
                        };
                        c.count(y[j] != 0.0, above, w as f64);
                    };
                    match class_id {
                        Some(j) if j < p.len() => one(j),
                        Some(_) => {}
                        None => (0..p.len()).for_each(one),
                    }
                }
                _ => {}
            },
        }
    }

    /// Add another accumulator of the same metric.
    pub fn merge(&mut self, other: &Acc) {
        match (self, other) {
            (Acc::Mean { sum, weight }, Acc::Mean { sum: s, weight: w }) => {
                *sum += s;
                *weight += w;
            }
            (Acc::Confusion(a), Acc::Confusion(b)) => {
                for (x, y) in [
                    (&mut a.tp, &b.tp),
                    (&mut a.fp, &b.fp),
                    (&mut a.tn, &b.tn),
                    (&mut a.fneg, &b.fneg),
                ] {
                    x.iter_mut().zip(y).for_each(|(x, y)| *x += y);
                }
            }
            _ => {}
        }
    }

    pub fn value(&self, kind: MetricKind) -> f64 {
        match self {
            Acc::Mean { sum, weight } => {
                if *weight <= 0.0 {
                    f64::NAN
                } else if kind == MetricKind::RootMeanSquaredError {
                    (sum / weight).sqrt()
                } else {
                    sum / weight
                }
            }
            Acc::Confusion(c) => match kind {
                MetricKind::Precision { .. } => no_nan(c.tp[0], c.tp[0] + c.fp[0]),
                MetricKind::Recall { .. } => no_nan(c.tp[0], c.tp[0] + c.fneg[0]),
                MetricKind::Auc {
                    curve, summation, ..
                } => auc(c, curve, summation),
                MetricKind::Count { which, .. } => match which {
                    Cell::TruePositives => c.tp[0],
                    Cell::FalsePositives => c.fp[0],
                    Cell::TrueNegatives => c.tn[0],
                    Cell::FalseNegatives => c.fneg[0],
                },
                MetricKind::AtValue { which, value, .. } => at_value(c, which, value as f64),
                _ => f64::NAN,
            },
        }
    }
}

/// Keras's `_find_max_under_constraint`: the largest dependent rate over the thresholds
/// where the constrained rate is at least `value`, 0 when none is.
fn at_value(c: &Confusion, which: AtKind, value: f64) -> f64 {
    (0..c.tp.len())
        .filter_map(|i| {
            let sens = no_nan(c.tp[i], c.tp[i] + c.fneg[i]);
            let spec = no_nan(c.tn[i], c.tn[i] + c.fp[i]);
            let prec = no_nan(c.tp[i], c.tp[i] + c.fp[i]);
            let (constrained, dependent) = match which {
                AtKind::PrecisionAtRecall => (sens, prec),
                AtKind::RecallAtPrecision => (prec, sens),
                AtKind::SensitivityAtSpecificity => (spec, sens),
                AtKind::SpecificityAtSensitivity => (sens, spec),
            };
            (constrained >= value).then_some(dependent)
        })
        .fold(0.0, f64::max)
}

/// Which predictions are among a row's `k` largest (ties to the lower index, as top_k does).
fn top_k_mask(p: &[f32], k: usize) -> Vec<bool> {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[b].partial_cmp(&p[a]).unwrap_or(std::cmp::Ordering::Equal));
    let mut keep = vec![false; p.len()];
    for &i in idx.iter().take(k) {
        keep[i] = true;
    }
    keep
}

/// Keras's AUC from the counts: a Riemann sum over the thresholds, or for PR with
/// interpolation, the integral of precision with linear interpolation of P = TP + FP.
fn auc(c: &Confusion, curve: Curve, summation: Summation) -> f64 {
    let n = c.tp.len();
    if curve == Curve::Pr && summation == Summation::Interpolation {
        let p: Vec<f64> = c.tp.iter().zip(&c.fp).map(|(a, b)| a + b).collect();
        return (0..n - 1)
            .map(|i| {
                let dtp = c.tp[i] - c.tp[i + 1];
                let dp = p[i] - p[i + 1];
                let slope = no_nan(dtp, dp.max(0.0));
                let intercept = c.tp[i + 1] - slope * p[i + 1];
                let ratio = if p[i] > 0.0 && p[i + 1] > 0.0 {
                    no_nan(p[i], p[i + 1].max(0.0))
                } else {
                    1.0
                };
                no_nan(
                    slope * (dtp + intercept * ratio.ln()),
                    (c.tp[i + 1] + c.fneg[i + 1]).max(0.0),
                )
            })
            .sum();
    }
    let recall: Vec<f64> = (0..n)
        .map(|i| no_nan(c.tp[i], c.tp[i] + c.fneg[i]))
        .collect();
    let (x, y): (Vec<f64>, Vec<f64>) = match curve {
        Curve::Roc => (
            (0..n).map(|i| no_nan(c.fp[i], c.fp[i] + c.tn[i])).collect(),
            recall,
        ),
        Curve::Pr => (
            recall,
            (0..n).map(|i| no_nan(c.tp[i], c.tp[i] + c.fp[i])).collect(),
        ),
    };
    (0..n - 1)
        .map(|i| {
            let h = match summation {
                Summation::Interpolation => (y[i] + y[i + 1]) / 2.0,
                Summation::Minoring => y[i].min(y[i + 1]),
                Summation::Majoring => y[i].max(y[i + 1]),
            };
            (x[i] - x[i + 1]) * h
        })
        .sum()
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
    pub kinds: Vec<MetricKind>,
    pub metrics: Vec<Acc>,
    pub last_loss: f64,
    /// Per-output losses (row-weighted sums) of a model with several outputs.
    pub loss_parts: Vec<f64>,
    /// The batches scored since R last took them, kept when metrics written in R need
    /// each batch's predictions (`None`: not kept).
    pub kept: Option<Vec<KeptBatch>>,
}

/// One scored batch as metrics written in R see it: predictions `p [rows, p_cols]`, targets
/// `y [rows, y_cols]` (row-major) and the sample weights.
#[derive(Clone, Debug, Default)]
pub struct KeptBatch {
    pub rows: usize,
    pub p: Vec<f32>,
    pub y: Vec<f32>,
    pub w: Option<Vec<f32>>,
}

impl Tracker {
    /// Keep a copy of a scored batch when batches are kept.
    pub fn keep(&mut self, rows: usize, p: &[f32], y: &[f32], w: Option<&[f32]>) {
        if let Some(kept) = &mut self.kept {
            kept.push(KeptBatch {
                rows,
                p: p.to_vec(),
                y: y.to_vec(),
                w: w.map(|w| w[..rows].to_vec()),
            });
        }
    }

    pub fn new(kinds: &[MetricKind]) -> Self {
        Tracker {
            kinds: kinds.to_vec(),
            metrics: kinds.iter().map(|k| k.acc()).collect(),
            ..Default::default()
        }
    }
    pub fn reset(&mut self) {
        let (parts, keep) = (self.loss_parts.len(), self.kept.is_some());
        *self = Tracker::new(&self.kinds);
        self.loss_parts = vec![0.0; parts];
        self.kept = keep.then(Vec::new);
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
        self.metrics[i].value(self.kinds[i])
    }
    /// Add a batch's metric accumulators.
    pub fn add_metrics(&mut self, batch: &[Acc]) {
        for (acc, b) in self.metrics.iter_mut().zip(batch) {
            acc.merge(b);
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
