//! Losses over a batch: predictions `p [batch, cols]`, targets `y [batch, ycols]`
//! (`ycols = 1` holding class ids for the sparse loss), optional sample weights.
//! Reduction is Keras's "sum over batch size": `sum_i w_i l_i / batch`.
//! Probabilities are clipped to `[1e-7, 1 - 1e-7]` before logs, as Keras does.

use crate::activations::Act;
use crate::error::{RkError, RkResult};

pub const EPS: f32 = 1e-7;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Loss {
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    BinaryCrossentropy,
    MeanSquaredError,
    MeanAbsoluteError,
}

impl Loss {
    pub fn parse(name: &str) -> RkResult<Loss> {
        Ok(match name {
            "categorical_crossentropy" => Loss::CategoricalCrossentropy,
            "sparse_categorical_crossentropy" => Loss::SparseCategoricalCrossentropy,
            "binary_crossentropy" => Loss::BinaryCrossentropy,
            "mse" | "mean_squared_error" => Loss::MeanSquaredError,
            "mae" | "mean_absolute_error" => Loss::MeanAbsoluteError,
            other => return Err(RkError::Spec(format!("unknown loss '{other}'"))),
        })
    }

    /// Columns `y` must have for an output of `cols` units.
    pub fn target_cols(self, cols: usize) -> usize {
        match self {
            Loss::SparseCategoricalCrossentropy => 1,
            _ => cols,
        }
    }

    /// Whether the loss gradient is taken with respect to the pre-activation of an
    /// output layer with activation `act` (softmax + crossentropy, sigmoid + binary).
    pub fn fuses_with(self, act: Act) -> bool {
        matches!(
            (self, act),
            (Loss::CategoricalCrossentropy, Act::Softmax)
                | (Loss::SparseCategoricalCrossentropy, Act::Softmax)
                | (Loss::BinaryCrossentropy, Act::Sigmoid)
        )
    }

    /// Per-sample loss of row `p` against row `y`.
    pub fn sample(self, p: &[f32], y: &[f32]) -> f32 {
        let cols = p.len() as f32;
        match self {
            Loss::CategoricalCrossentropy => {
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
            Loss::SparseCategoricalCrossentropy => {
                let k = y[0] as usize;
                -p.get(k).copied().unwrap_or(0.0).clamp(EPS, 1.0 - EPS).ln()
            }
            Loss::BinaryCrossentropy => {
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
        }
    }

    /// Gradient of `scale * sample(p, y)` written into `g`: with respect to `p`, or to
    /// the pre-activation when `fused` (see [`Loss::fuses_with`]).
    pub fn sample_grad(self, p: &[f32], y: &[f32], scale: f32, fused: bool, g: &mut [f32]) {
        let cols = p.len() as f32;
        match (self, fused) {
            (Loss::CategoricalCrossentropy, true) => {
                let ysum: f32 = y.iter().sum();
                for ((gi, &pi), &yi) in g.iter_mut().zip(p).zip(y) {
                    *gi = scale * (pi * ysum - yi);
                }
            }
            (Loss::SparseCategoricalCrossentropy, true) => {
                let k = y[0] as usize;
                for (j, (gi, &pi)) in g.iter_mut().zip(p).enumerate() {
                    *gi = scale * (pi - if j == k { 1.0 } else { 0.0 });
                }
            }
            (Loss::BinaryCrossentropy, true) => {
                for ((gi, &pi), &yi) in g.iter_mut().zip(p).zip(y) {
                    *gi = scale * (pi - yi) / cols;
                }
            }
            (Loss::CategoricalCrossentropy, false) => {
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
            (Loss::SparseCategoricalCrossentropy, false) => {
                let k = y[0] as usize;
                for (j, (gi, &pi)) in g.iter_mut().zip(p).enumerate() {
                    *gi = if j == k && (EPS..=1.0 - EPS).contains(&pi) {
                        -scale / pi
                    } else {
                        0.0
                    };
                }
            }
            (Loss::BinaryCrossentropy, false) => {
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
        }
    }
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
        let cases: [(Loss, &[f32]); 5] = [
            (Loss::CategoricalCrossentropy, &y_onehot),
            (Loss::SparseCategoricalCrossentropy, &[1.0]),
            (Loss::BinaryCrossentropy, &y_bin),
            (Loss::MeanSquaredError, &y_reg),
            (Loss::MeanAbsoluteError, &y_reg),
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
            (Loss::CategoricalCrossentropy, vec![0.0f32, 0.0, 1.0]),
            (Loss::SparseCategoricalCrossentropy, vec![2.0f32]),
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
        Loss::BinaryCrossentropy.sample_grad(&sig(&z), &y, 1.0, true, &mut g);
        check_grad("fused sigmoid", &z, &g, |zz| {
            Loss::BinaryCrossentropy.sample(&sig(zz), &y) as f64
        })
        .unwrap();
    }

    #[test]
    fn crossentropy_clips_like_keras() {
        let l = Loss::CategoricalCrossentropy.sample(&[0.0, 1.0], &[1.0, 0.0]);
        assert!((l - 16.118_095).abs() < 1e-3, "{l}"); // -ln(1e-7)
        assert!(Loss::SparseCategoricalCrossentropy.sample(&[0.25, 0.75], &[1.0]) > 0.0);
    }
}
