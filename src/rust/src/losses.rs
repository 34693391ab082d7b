//! Losses over a batch: predictions `p [batch, cols]`, targets `y [batch, ycols]`
//! (`ycols = 1` holding class ids for the sparse loss), optional sample weights.
//! Reduction is Keras's "sum over batch size": `sum_i w_i l_i / batch`.
//! Probabilities are clipped to `[1e-7, 1 - 1e-7]` before logs, as Keras does.
//! With `from_logits`, the crossentropies take logits and are computed through log-sum-exp
//! (never softmax-then-log); with `label_smoothing` the targets are first moved towards
//! uniform: `y (1 - ls) + ls / classes` (categorical), `y (1 - ls) + ls / 2` (binary).

use crate::activations::Act;
use crate::error::{RkError, RkResult};

pub const EPS: f32 = 1e-7;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Loss {
    CategoricalCrossentropy {
        logits: bool,
        smoothing: f32,
    },
    SparseCategoricalCrossentropy {
        logits: bool,
    },
    BinaryCrossentropy {
        logits: bool,
        smoothing: f32,
    },
    MeanSquaredError,
    MeanAbsoluteError,
    Huber {
        delta: f32,
    },
    KlDivergence,
    Poisson,
    LogCosh,
    /// `binary`: the targets are 0/1 labels, taken as -1/1 (Keras decides this per batch:
    /// see [`Loss::for_batch`]).
    Hinge {
        binary: bool,
    },
    SquaredHinge {
        binary: bool,
    },
    CategoricalHinge,
    CosineSimilarity,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    /// A loss written in R: the compiled model holds its operation graph, and the graph's
    /// executor computes it over the whole batch (`graph/custom_loss.rs`).
    Custom,
}

impl Loss {
    /// From a name, with options after `+`: `"categorical_crossentropy+logits+ls=0.1"`.
    pub fn parse(name: &str) -> RkResult<Loss> {
        let mut parts = name.split('+');
        let base = parts.next().unwrap_or("");
        let (mut logits, mut smoothing, mut delta) = (false, 0.0f32, None);
        for opt in parts {
            match opt.split_once('=') {
                None if opt == "logits" => logits = true,
                Some(("delta", v)) => {
                    delta = Some(
                        v.parse::<f32>()
                            .ok()
                            .filter(|d| d.is_finite() && *d >= 0.0)
                            .ok_or_else(|| RkError::Spec(format!("bad huber delta '{v}'")))?,
                    )
                }
                Some(("ls", v)) => {
                    smoothing = v
                        .parse::<f32>()
                        .ok()
                        .filter(|s| (0.0..1.0).contains(s))
                        .ok_or_else(|| RkError::Spec(format!("bad label smoothing '{v}'")))?
                }
                _ => return Err(RkError::Spec(format!("unknown loss option '{opt}'"))),
            }
        }
        let loss = match base {
            "categorical_crossentropy" => Loss::CategoricalCrossentropy { logits, smoothing },
            "sparse_categorical_crossentropy" => Loss::SparseCategoricalCrossentropy { logits },
            "binary_crossentropy" => Loss::BinaryCrossentropy { logits, smoothing },
            "mse" | "mean_squared_error" => Loss::MeanSquaredError,
            "mae" | "mean_absolute_error" => Loss::MeanAbsoluteError,
            "huber" | "huber_loss" => Loss::Huber {
                delta: delta.take().unwrap_or(1.0),
            },
            "kld" | "kl_divergence" | "kullback_leibler_divergence" => Loss::KlDivergence,
            "poisson" => Loss::Poisson,
            "log_cosh" | "logcosh" => Loss::LogCosh,
            "hinge" => Loss::Hinge { binary: true },
            "squared_hinge" => Loss::SquaredHinge { binary: true },
            "categorical_hinge" => Loss::CategoricalHinge,
            "cosine_similarity" => Loss::CosineSimilarity,
            "mape" | "mean_absolute_percentage_error" => Loss::MeanAbsolutePercentageError,
            "msle" | "mean_squared_logarithmic_error" => Loss::MeanSquaredLogarithmicError,
            "custom" => Loss::Custom,
            other => return Err(RkError::Spec(format!("unknown loss '{other}'"))),
        };
        let (has_logits, has_smoothing) = match loss {
            Loss::CategoricalCrossentropy { .. } | Loss::BinaryCrossentropy { .. } => (true, true),
            Loss::SparseCategoricalCrossentropy { .. } => (true, false),
            _ => (false, false),
        };
        if (logits && !has_logits) || (smoothing != 0.0 && !has_smoothing) || delta.is_some() {
            return Err(RkError::Spec(format!("loss '{name}' takes no such option")));
        }
        Ok(loss)
    }

    /// Whether this is the sparse categorical crossentropy (targets are class ids).
    pub fn is_sparse(self) -> bool {
        matches!(self, Loss::SparseCategoricalCrossentropy { .. })
    }

    /// The loss as Keras applies it to one batch whose targets are `ys`: the hinge losses
    /// take 0/1 targets as -1/1 only when every target of the batch is 0 or 1.
    pub fn for_batch(self, mut ys: impl Iterator<Item = f32>) -> Loss {
        match self {
            Loss::Hinge { .. } | Loss::SquaredHinge { .. } => {
                let binary = ys.all(|v| v == 0.0 || v == 1.0);
                if matches!(self, Loss::Hinge { .. }) {
                    Loss::Hinge { binary }
                } else {
                    Loss::SquaredHinge { binary }
                }
            }
            other => other,
        }
    }

    /// The targets after label smoothing (`None` when there is none).
    fn smoothed(self, y: &[f32]) -> Option<Vec<f32>> {
        let (ls, uniform) = match self {
            Loss::CategoricalCrossentropy { smoothing, .. } if smoothing > 0.0 => {
                (smoothing, smoothing / y.len().max(1) as f32)
            }
            Loss::BinaryCrossentropy { smoothing, .. } if smoothing > 0.0 => {
                (smoothing, smoothing * 0.5)
            }
            _ => return None,
        };
        Some(y.iter().map(|&v| v * (1.0 - ls) + uniform).collect())
    }

    /// Columns `y` must have for an output of `cols` units.
    pub fn target_cols(self, cols: usize) -> usize {
        match self {
            Loss::SparseCategoricalCrossentropy { .. } => 1,
            _ => cols,
        }
    }

    /// Whether the loss gradient is taken with respect to the pre-activation of an
    /// output layer with activation `act` (softmax + crossentropy, sigmoid + binary).
    pub fn fuses_with(self, act: Act) -> bool {
        matches!(
            (self, act),
            (
                Loss::CategoricalCrossentropy { logits: false, .. },
                Act::Softmax
            ) | (
                Loss::SparseCategoricalCrossentropy { logits: false },
                Act::Softmax
            ) | (Loss::BinaryCrossentropy { logits: false, .. }, Act::Sigmoid)
        )
    }

    /// Per-sample loss of row `p` against row `y`.
    pub fn sample(self, p: &[f32], y: &[f32]) -> f32 {
        if let Some(ys) = self.smoothed(y) {
            return self.without_smoothing().sample(p, &ys);
        }
        let cols = p.len() as f32;
        match self {
            Loss::CategoricalCrossentropy { logits: true, .. } => {
                let lse = log_sum_exp(p);
                p.iter().zip(y).map(|(&z, &yi)| yi * (lse - z)).sum()
            }
            Loss::SparseCategoricalCrossentropy { logits: true } => {
                log_sum_exp(p) - p.get(y[0] as usize).copied().unwrap_or(0.0)
            }
            Loss::BinaryCrossentropy { logits: true, .. } => {
                p.iter()
                    .zip(y)
                    .map(|(&z, &yi)| z.max(0.0) - z * yi + (-z.abs()).exp().ln_1p())
                    .sum::<f32>()
                    / cols
            }
            Loss::CategoricalCrossentropy { .. } => {
                let s: f32 = p.iter().sum();
                let s = if s > 0.0 { s } else { 1.0 };
                -p.iter()
                    .zip(y)
                    .map(|(&pi, &yi)| {
                        if yi != 0.0 {
                            yi * (pi / s).clamp(EPS, 1.0 - EPS).ln()
                        } else {
                            0.0
                        }
                    })
                    .sum::<f32>()
            }
            // As Keras, the probabilities are first scaled to sum to 1.
            Loss::SparseCategoricalCrossentropy { .. } => {
                let k = y[0] as usize;
                let s: f32 = p.iter().sum();
                let s = if s > 0.0 { s } else { 1.0 };
                -(p.get(k).copied().unwrap_or(0.0) / s)
                    .clamp(EPS, 1.0 - EPS)
                    .ln()
            }
            Loss::BinaryCrossentropy { .. } => {
                -p.iter()
                    .zip(y)
                    .map(|(&pi, &yi)| {
                        let q = pi.clamp(EPS, 1.0 - EPS);
                        yi * q.ln() + (1.0 - yi) * (1.0 - q).ln()
                    })
                    .sum::<f32>()
                    / cols
            }
            Loss::MeanSquaredError => {
                p.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / cols
            }
            Loss::MeanAbsoluteError => {
                p.iter().zip(y).map(|(a, b)| (a - b).abs()).sum::<f32>() / cols
            }
            Loss::Huber { delta } => {
                p.iter()
                    .zip(y)
                    .map(|(&a, &b)| {
                        let e = (a - b).abs();
                        if e <= delta {
                            0.5 * e * e
                        } else {
                            delta * e - 0.5 * delta * delta
                        }
                    })
                    .sum::<f32>()
                    / cols
            }
            Loss::KlDivergence => p
                .iter()
                .zip(y)
                .map(|(&a, &b)| {
                    let t = b.clamp(EPS, 1.0);
                    t * (t / a.clamp(EPS, 1.0)).ln()
                })
                .sum(),
            Loss::Poisson => {
                p.iter()
                    .zip(y)
                    .map(|(&a, &b)| a - b * (a + EPS).ln())
                    .sum::<f32>()
                    / cols
            }
            Loss::LogCosh => {
                p.iter()
                    .zip(y)
                    .map(|(&a, &b)| {
                        let x = a - b;
                        x + softplus(-2.0 * x) - std::f32::consts::LN_2
                    })
                    .sum::<f32>()
                    / cols
            }
            Loss::Hinge { binary } => {
                p.iter()
                    .zip(y)
                    .map(|(&a, &b)| (1.0 - hinge_label(b, binary) * a).max(0.0))
                    .sum::<f32>()
                    / cols
            }
            Loss::SquaredHinge { binary } => {
                p.iter()
                    .zip(y)
                    .map(|(&a, &b)| (1.0 - hinge_label(b, binary) * a).max(0.0).powi(2))
                    .sum::<f32>()
                    / cols
            }
            Loss::CategoricalHinge => {
                let pos: f32 = p.iter().zip(y).map(|(a, b)| a * b).sum();
                let neg = p
                    .iter()
                    .zip(y)
                    .map(|(a, b)| (1.0 - b) * a)
                    .fold(f32::NEG_INFINITY, f32::max);
                (neg - pos + 1.0).max(0.0)
            }
            Loss::CosineSimilarity => -cosine(p, y),
            Loss::MeanAbsolutePercentageError => {
                100.0
                    * p.iter()
                        .zip(y)
                        .map(|(&a, &b)| ((b - a) / b.abs().max(EPS)).abs())
                        .sum::<f32>()
                    / cols
            }
            Loss::MeanSquaredLogarithmicError => {
                p.iter()
                    .zip(y)
                    .map(|(&a, &b)| ((a.max(EPS) + 1.0).ln() - (b.max(EPS) + 1.0).ln()).powi(2))
                    .sum::<f32>()
                    / cols
            }
            // Computed over the batch by its graph, never per sample.
            Loss::Custom => 0.0,
        }
    }

    /// Gradient of `scale * sample(p, y)` written into `g`: with respect to `p`, or to
    /// the pre-activation when `fused` (see [`Loss::fuses_with`]).
    pub fn sample_grad(self, p: &[f32], y: &[f32], scale: f32, fused: bool, g: &mut [f32]) {
        if let Some(ys) = self.smoothed(y) {
            return self
                .without_smoothing()
                .sample_grad(p, &ys, scale, fused, g);
        }
        let cols = p.len() as f32;
        match (self, fused) {
            // From logits: the softmax (sigmoid) of the logits against the targets.
            (Loss::CategoricalCrossentropy { logits: true, .. }, _) => {
                let ysum: f32 = y.iter().sum();
                softmax_into(p, g);
                for (gi, &yi) in g.iter_mut().zip(y) {
                    *gi = scale * (*gi * ysum - yi);
                }
            }
            (Loss::SparseCategoricalCrossentropy { logits: true }, _) => {
                let k = y[0] as usize;
                softmax_into(p, g);
                for (j, gi) in g.iter_mut().enumerate() {
                    *gi = scale * (*gi - if j == k { 1.0 } else { 0.0 });
                }
            }
            (Loss::BinaryCrossentropy { logits: true, .. }, _) => {
                for ((gi, &z), &yi) in g.iter_mut().zip(p).zip(y) {
                    *gi = scale * (crate::activations::sigmoid(z) - yi) / cols;
                }
            }
            (Loss::CategoricalCrossentropy { .. }, true) => {
                let ysum: f32 = y.iter().sum();
                for ((gi, &pi), &yi) in g.iter_mut().zip(p).zip(y) {
                    *gi = scale * (pi * ysum - yi);
                }
            }
            (Loss::SparseCategoricalCrossentropy { .. }, true) => {
                let k = y[0] as usize;
                for (j, (gi, &pi)) in g.iter_mut().zip(p).enumerate() {
                    *gi = scale * (pi - if j == k { 1.0 } else { 0.0 });
                }
            }
            (Loss::BinaryCrossentropy { .. }, true) => {
                for ((gi, &pi), &yi) in g.iter_mut().zip(p).zip(y) {
                    *gi = scale * (pi - yi) / cols;
                }
            }
            (Loss::CategoricalCrossentropy { .. }, false) => {
                // L = -sum_i y_i log(clip(q_i)), q = p / sum(p): dL/dp_j = (-y_j [q_j unclipped] / q_j + sum_i y_i [q_i unclipped]) / s.
                let s: f32 = p.iter().sum();
                let s = if s > 0.0 { s } else { 1.0 };
                let inside = |q: f32| (EPS..=1.0 - EPS).contains(&q);
                let ysum: f32 = p
                    .iter()
                    .zip(y)
                    .filter(|(&pi, _)| inside(pi / s))
                    .map(|(_, &yi)| yi)
                    .sum();
                for ((gi, &pi), &yi) in g.iter_mut().zip(p).zip(y) {
                    let q = pi / s;
                    let own = if inside(q) { -yi / q } else { 0.0 };
                    *gi = scale * (own + ysum) / s;
                }
            }
            (Loss::SparseCategoricalCrossentropy { .. }, false) => {
                // The categorical case's gradient with a one-hot target at k.
                let k = y[0] as usize;
                let s: f32 = p.iter().sum();
                let s = if s > 0.0 { s } else { 1.0 };
                let q = p.get(k).copied().unwrap_or(0.0) / s;
                let inside = (EPS..=1.0 - EPS).contains(&q);
                for (j, gi) in g.iter_mut().enumerate() {
                    let own = if j == k && inside { -1.0 / q } else { 0.0 };
                    *gi = if inside { scale * (own + 1.0) / s } else { 0.0 };
                }
            }
            (Loss::BinaryCrossentropy { .. }, false) => {
                for ((gi, &pi), &yi) in g.iter_mut().zip(p).zip(y) {
                    *gi = if (EPS..=1.0 - EPS).contains(&pi) {
                        scale * (-yi / pi + (1.0 - yi) / (1.0 - pi)) / cols
                    } else {
                        0.0
                    };
                }
            }
            (Loss::MeanSquaredError, _) => {
                for ((gi, &pi), &yi) in g.iter_mut().zip(p).zip(y) {
                    *gi = scale * 2.0 * (pi - yi) / cols;
                }
            }
            (Loss::MeanAbsoluteError, _) => {
                for ((gi, &pi), &yi) in g.iter_mut().zip(p).zip(y) {
                    let d = pi - yi;
                    *gi = scale
                        * if d > 0.0 {
                            1.0
                        } else if d < 0.0 {
                            -1.0
                        } else {
                            0.0
                        }
                        / cols;
                }
            }
            (Loss::Huber { delta }, _) => {
                for ((gi, &pi), &yi) in g.iter_mut().zip(p).zip(y) {
                    *gi = scale * (pi - yi).clamp(-delta, delta) / cols;
                }
            }
            (Loss::KlDivergence, _) => {
                for ((gi, &pi), &yi) in g.iter_mut().zip(p).zip(y) {
                    *gi = if (EPS..=1.0).contains(&pi) {
                        -scale * yi.clamp(EPS, 1.0) / pi
                    } else {
                        0.0
                    };
                }
            }
            (Loss::Poisson, _) => {
                for ((gi, &pi), &yi) in g.iter_mut().zip(p).zip(y) {
                    *gi = scale * (1.0 - yi / (pi + EPS)) / cols;
                }
            }
            (Loss::LogCosh, _) => {
                for ((gi, &pi), &yi) in g.iter_mut().zip(p).zip(y) {
                    *gi = scale * (pi - yi).tanh() / cols;
                }
            }
            (Loss::Hinge { binary }, _) => {
                for ((gi, &pi), &yi) in g.iter_mut().zip(p).zip(y) {
                    let t = hinge_label(yi, binary);
                    *gi = if 1.0 - t * pi > 0.0 {
                        -scale * t / cols
                    } else {
                        0.0
                    };
                }
            }
            (Loss::SquaredHinge { binary }, _) => {
                for ((gi, &pi), &yi) in g.iter_mut().zip(p).zip(y) {
                    let t = hinge_label(yi, binary);
                    *gi = -2.0 * scale * t * (1.0 - t * pi).max(0.0) / cols;
                }
            }
            (Loss::CategoricalHinge, _) => {
                g.fill(0.0);
                let pos: f32 = p.iter().zip(y).map(|(a, b)| a * b).sum();
                let neg: Vec<f32> = p.iter().zip(y).map(|(a, b)| (1.0 - b) * a).collect();
                let j = crate::metrics::argmax(&neg);
                if neg[j] - pos + 1.0 > 0.0 {
                    for (gi, &yi) in g.iter_mut().zip(y) {
                        *gi = -scale * yi;
                    }
                    g[j] += scale * (1.0 - y[j]);
                }
            }
            (Loss::CosineSimilarity, _) => {
                // d/dp of -(y/|y|).(p/max(|p|, eps)).
                let (yn, pn) = (norm(y).max(EPS), norm(p));
                let dot: f32 = p.iter().zip(y).map(|(a, b)| a * b).sum::<f32>() / yn;
                let pd = pn.max(EPS);
                for ((gi, &pi), &yi) in g.iter_mut().zip(p).zip(y) {
                    let radial = if pn > EPS { dot * pi / (pd * pd) } else { 0.0 };
                    *gi = -scale * (yi / yn - radial) / pd;
                }
            }
            (Loss::MeanAbsolutePercentageError, _) => {
                for ((gi, &pi), &yi) in g.iter_mut().zip(p).zip(y) {
                    let d = pi - yi;
                    let s = if d > 0.0 {
                        1.0
                    } else if d < 0.0 {
                        -1.0
                    } else {
                        0.0
                    };
                    *gi = scale * 100.0 * s / yi.abs().max(EPS) / cols;
                }
            }
            (Loss::MeanSquaredLogarithmicError, _) => {
                for ((gi, &pi), &yi) in g.iter_mut().zip(p).zip(y) {
                    let a = pi.max(EPS) + 1.0;
                    let d = a.ln() - (yi.max(EPS) + 1.0).ln();
                    *gi = if pi > EPS {
                        scale * 2.0 * d / a / cols
                    } else {
                        0.0
                    };
                }
            }
            (Loss::Custom, _) => {}
        }
    }
}

impl Loss {
    fn without_smoothing(self) -> Loss {
        match self {
            Loss::CategoricalCrossentropy { logits, .. } => Loss::CategoricalCrossentropy {
                logits,
                smoothing: 0.0,
            },
            Loss::BinaryCrossentropy { logits, .. } => Loss::BinaryCrossentropy {
                logits,
                smoothing: 0.0,
            },
            other => other,
        }
    }
}

/// `log(sum(exp(z)))`, stable for large logits.
fn log_sum_exp(z: &[f32]) -> f32 {
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !m.is_finite() {
        return m;
    }
    m + z.iter().map(|&v| (v - m).exp()).sum::<f32>().ln()
}

/// `log(1 + exp(z))`, stable for large `|z|`.
fn softplus(z: f32) -> f32 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

/// A hinge target: 0/1 labels as -1/1 when the batch's targets are all 0 or 1.
fn hinge_label(y: f32, binary: bool) -> f32 {
    if binary {
        2.0 * y - 1.0
    } else {
        y
    }
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|a| a * a).sum::<f32>().sqrt()
}

/// Keras's cosine similarity of two rows: each divided by `max(norm, 1e-7)`.
pub fn cosine(p: &[f32], y: &[f32]) -> f32 {
    let dot: f32 = p.iter().zip(y).map(|(a, b)| a * b).sum();
    dot / (norm(p).max(EPS) * norm(y).max(EPS))
}

/// `out = softmax(z)`.
fn softmax_into(z: &[f32], out: &mut [f32]) {
    crate::activations::softmax_row(z, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::check_grad;

    fn probs(z: &[f32]) -> Vec<f32> {
        let mut a = vec![0.0; z.len()];
        Act::Softmax.forward(z, &mut a, z.len());
        a
    }

    #[test]
    fn every_loss_gradient_matches_finite_differences() {
        let p = [0.2f32, 0.5, 0.3];
        let y_onehot = [0.0f32, 1.0, 0.0];
        let y_bin = [1.0f32, 0.0, 1.0];
        let y_reg = [0.1f32, 0.9, -0.4];
        let y_pm = [1.0f32, -1.0, 0.5];
        let parse = |s: &str| Loss::parse(s).unwrap();
        let cases: Vec<(Loss, &[f32])> = vec![
            (parse("categorical_crossentropy"), &y_onehot),
            (parse("sparse_categorical_crossentropy"), &[1.0]),
            (parse("binary_crossentropy"), &y_bin),
            (Loss::MeanSquaredError, &y_reg),
            (Loss::MeanAbsoluteError, &y_reg),
            (parse("huber+delta=0.25"), &y_reg),
            (parse("kl_divergence"), &[0.3, 0.6, 0.1]),
            (parse("poisson"), &[1.0, 0.0, 2.0]),
            (parse("log_cosh"), &y_reg),
            (parse("hinge").for_batch(y_bin.into_iter()), &y_bin),
            (parse("hinge").for_batch(y_pm.into_iter()), &y_pm),
            (parse("squared_hinge").for_batch(y_bin.into_iter()), &y_bin),
            (parse("categorical_hinge"), &y_onehot),
            (parse("cosine_similarity"), &y_reg),
            (parse("mape"), &y_reg),
            (parse("msle"), &y_reg),
        ];
        for (loss, y) in cases {
            let mut g = [0.0f32; 3];
            loss.sample_grad(&p, y, 0.5, false, &mut g);
            // Small step: probabilities must stay inside (0, 1).
            check_grad(&format!("{loss:?}"), &p, &g, |pp| {
                0.5 * loss.sample(pp, y) as f64
            })
            .unwrap();
        }
    }

    #[test]
    fn fused_gradients_match_finite_differences_through_the_activation() {
        let z = [0.3f32, -1.2, 0.8];
        for (loss, y) in [
            (
                Loss::parse("categorical_crossentropy").unwrap(),
                vec![0.0f32, 0.0, 1.0],
            ),
            (
                Loss::parse("sparse_categorical_crossentropy").unwrap(),
                vec![2.0f32],
            ),
        ] {
            let p = probs(&z);
            let mut g = [0.0f32; 3];
            loss.sample_grad(&p, &y, 1.0, true, &mut g);
            check_grad("fused softmax", &z, &g, |zz| {
                loss.sample(&probs(zz), &y) as f64
            })
            .unwrap();
        }
        let y = [1.0f32, 0.0, 1.0];
        let sig = |zz: &[f32]| {
            zz.iter()
                .map(|&v| crate::activations::sigmoid(v))
                .collect::<Vec<_>>()
        };
        let mut g = [0.0f32; 3];
        Loss::parse("binary_crossentropy")
            .unwrap()
            .sample_grad(&sig(&z), &y, 1.0, true, &mut g);
        check_grad("fused sigmoid", &z, &g, |zz| {
            Loss::parse("binary_crossentropy")
                .unwrap()
                .sample(&sig(zz), &y) as f64
        })
        .unwrap();
    }

    #[test]
    fn from_logits_and_label_smoothing_match_their_definitions_and_gradients() {
        let z = [0.3f32, -1.2, 0.8];
        let p = probs(&z);
        let parse = |s: &str| Loss::parse(s).unwrap();
        // From logits: the same loss as on the softmax (sigmoid) of the logits.
        let y = [0.0f32, 0.0, 1.0];
        let l = parse("categorical_crossentropy+logits").sample(&z, &y);
        assert!((l - parse("categorical_crossentropy").sample(&p, &y)).abs() < 1e-6);
        let l = parse("sparse_categorical_crossentropy+logits").sample(&z, &[2.0]);
        assert!((l + p[2].ln()).abs() < 1e-6);
        let yb = [1.0f32, 0.0, 1.0];
        let sig: Vec<f32> = z.iter().map(|&v| crate::activations::sigmoid(v)).collect();
        let l = parse("binary_crossentropy+logits").sample(&z, &yb);
        assert!((l - parse("binary_crossentropy").sample(&sig, &yb)).abs() < 1e-6);
        // Label smoothing: targets moved towards uniform first.
        let ls = parse("categorical_crossentropy+ls=0.3").sample(&p, &y);
        let smoothed = [0.1f32, 0.1, 0.8];
        assert!((ls - parse("categorical_crossentropy").sample(&p, &smoothed)).abs() < 1e-6);
        let ls = parse("binary_crossentropy+logits+ls=0.2").sample(&z, &yb);
        let smoothed = [0.9f32, 0.1, 0.9];
        assert!((ls - parse("binary_crossentropy+logits").sample(&z, &smoothed)).abs() < 1e-6);
        // Logits far beyond exp's range stay finite (log-sum-exp, not softmax-then-log).
        let big = parse("categorical_crossentropy+logits").sample(&[1000.0, 0.0], &[0.0, 1.0]);
        assert!((big - 1000.0).abs() < 1e-3, "{big}");
        let big = parse("binary_crossentropy+logits").sample(&[-200.0], &[1.0]);
        assert!((big - 200.0).abs() < 1e-3, "{big}");
        // Gradients with respect to the logits.
        for (name, y) in [
            (
                "categorical_crossentropy+logits+ls=0.1",
                vec![0.0f32, 1.0, 0.0],
            ),
            ("sparse_categorical_crossentropy+logits", vec![1.0f32]),
            ("binary_crossentropy+logits+ls=0.2", vec![1.0f32, 0.0, 1.0]),
            ("categorical_crossentropy+ls=0.2", vec![0.0f32, 0.0, 1.0]),
        ] {
            let loss = parse(name);
            // (Probabilities away from 0, where the finite difference of a log is accurate.)
            let x: Vec<f32> = if name.contains("logits") {
                z.to_vec()
            } else {
                vec![0.2, 0.5, 0.3]
            };
            let mut g = [0.0f32; 3];
            loss.sample_grad(&x, &y, 0.5, false, &mut g);
            check_grad(name, &x, &g, |xx| 0.5 * loss.sample(xx, &y) as f64).unwrap();
        }
        assert!(Loss::parse("mean_squared_error+logits").is_err());
        assert!(Loss::parse("sparse_categorical_crossentropy+ls=0.1").is_err());
        assert!(Loss::parse("categorical_crossentropy+ls=1.5").is_err());
    }

    #[test]
    fn crossentropy_clips_like_keras() {
        let l = Loss::parse("categorical_crossentropy")
            .unwrap()
            .sample(&[0.0, 1.0], &[1.0, 0.0]);
        assert!((l - 16.118_095).abs() < 1e-3, "{l}"); // -ln(1e-7)
        assert!(
            Loss::parse("sparse_categorical_crossentropy")
                .unwrap()
                .sample(&[0.25, 0.75], &[1.0])
                > 0.0
        );
    }
}
