//! Optimizers with Keras's update rules and defaults (Keras >= 2.11 / Keras 3):
//! - SGD: `v = momentum * v - lr * g`; `w += v` (nesterov: `w += momentum * v - lr * g`); plain `w -= lr * g`.
//! - RMSprop: `s = rho * s + (1 - rho) g^2`; `w -= lr * g / sqrt(s + eps)`
//!   (momentum > 0: `m = momentum * m + lr * g / sqrt(s + eps)`; `w -= m`; centered subtracts the
//!   squared mean gradient from `s` first). Epsilon sits inside the root, as in Keras 3.
//! - Adam: `m = b1 m + (1 - b1) g`; `v = b2 v + (1 - b2) g^2`;
//!   `w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`; AdamW first `w -= lr * wd * w`.
//! - Adagrad: `a += g^2` (a starts at 0.1); `w -= lr * g / sqrt(a + eps)`, as in Keras 3.
//!
//! Slot state is kept per parameter, in the model's fixed parameter order.

use crate::error::{RkError, RkResult};

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Sgd {
        momentum: f32,
        nesterov: bool,
    },
    RmsProp {
        rho: f32,
        momentum: f32,
        epsilon: f32,
        centered: bool,
    },
    Adam {
        beta_1: f32,
        beta_2: f32,
        epsilon: f32,
        amsgrad: bool,
        weight_decay: f32,
    },
    Adagrad {
        initial_accumulator_value: f32,
        epsilon: f32,
    },
}

#[derive(Clone, Debug)]
pub struct Optimizer {
    pub kind: Kind,
    pub learning_rate: f64,
    pub iterations: u64,
    /// Up to three slot vectors per parameter.
    slots: Vec<[Vec<f32>; 3]>,
}

impl Optimizer {
    /// `p` holds the numeric hyper-parameters in a fixed order per name (see R's `optimizer_*()`).
    pub fn new(name: &str, learning_rate: f64, p: &[f64]) -> RkResult<Optimizer> {
        let g = |i: usize, d: f64| p.get(i).copied().unwrap_or(d) as f32;
        let kind = match name {
            "sgd" => Kind::Sgd {
                momentum: g(0, 0.0),
                nesterov: g(1, 0.0) != 0.0,
            },
            "rmsprop" => Kind::RmsProp {
                rho: g(0, 0.9),
                momentum: g(1, 0.0),
                epsilon: g(2, 1e-7),
                centered: g(3, 0.0) != 0.0,
            },
            "adam" | "adamw" => Kind::Adam {
                beta_1: g(0, 0.9),
                beta_2: g(1, 0.999),
                epsilon: g(2, 1e-7),
                amsgrad: g(3, 0.0) != 0.0,
                weight_decay: g(4, if name == "adamw" { 0.004 } else { 0.0 }),
            },
            "adagrad" => Kind::Adagrad {
                initial_accumulator_value: g(0, 0.1),
                epsilon: g(1, 1e-7),
            },
            other => return Err(RkError::Spec(format!("unknown optimizer '{other}'"))),
        };
        if !(learning_rate.is_finite() && learning_rate >= 0.0) {
            return Err(RkError::Value(format!(
                "learning rate must be a non-negative number, not {learning_rate}"
            )));
        }
        Ok(Optimizer {
            kind,
            learning_rate,
            iterations: 0,
            slots: Vec::new(),
        })
    }

    /// Make sure slot `i` exists for a parameter of `len` values.
    fn ensure(&mut self, i: usize, len: usize) {
        while self.slots.len() <= i {
            self.slots.push([Vec::new(), Vec::new(), Vec::new()]);
        }
        if self.slots[i][0].len() != len {
            let init = match self.kind {
                Kind::Adagrad {
                    initial_accumulator_value,
                    ..
                } => initial_accumulator_value,
                _ => 0.0,
            };
            self.slots[i] = [vec![init; len], vec![0.0; len], vec![0.0; len]];
        }
    }

    /// Count one step (call once per batch, before updating the parameters).
    pub fn begin_step(&mut self) {
        self.iterations += 1;
    }

    /// Update parameter `i` (values `w`, gradient `g`). Large parameters are updated in
    /// chunks on the engine's threads; every element's update is independent, so the result
    /// does not depend on the thread count.
    pub fn update(&mut self, i: usize, w: &mut [f32], g: &[f32]) {
        self.ensure(i, w.len());
        let lr = self.learning_rate as f32;
        let t = self.iterations.max(1) as i32;
        let kind = self.kind.clone();
        let [s0, s1, s2] = &mut self.slots[i];
        const CHUNK: usize = 1 << 14;
        if w.len() >= 4 * CHUNK && rayon::current_num_threads() > 1 {
            use rayon::prelude::*;
            w.par_chunks_mut(CHUNK)
                .zip(g.par_chunks(CHUNK))
                .zip(s0.par_chunks_mut(CHUNK))
                .zip(s1.par_chunks_mut(CHUNK))
                .zip(s2.par_chunks_mut(CHUNK))
                .for_each(|((((w, g), a), b), c)| update_slice(&kind, lr, t, w, g, a, b, c));
        } else {
            update_slice(&kind, lr, t, w, g, s0, s1, s2);
        }
    }

    /// A handle for updating parameter `i` (of `len` values) in disjoint parts from several
    /// threads at once (see [`Parts::update`]).
    pub(crate) fn parts(&mut self, i: usize, len: usize) -> Parts {
        self.ensure(i, len);
        let [s0, s1, s2] = &mut self.slots[i];
        Parts {
            kind: self.kind.clone(),
            lr: self.learning_rate as f32,
            t: self.iterations.max(1) as i32,
            len,
            s: [s0.as_mut_ptr(), s1.as_mut_ptr(), s2.as_mut_ptr()],
        }
    }

    /// Forget all slot state (a recompile does this).
    pub fn reset(&mut self) {
        self.slots.clear();
        self.iterations = 0;
    }
}

/// One parameter's update rule and slot state, to update disjoint ranges of it in parallel.
pub(crate) struct Parts {
    kind: Kind,
    lr: f32,
    t: i32,
    len: usize,
    s: [*mut f32; 3],
}

// SAFETY: callers of `Parts::update` promise disjoint ranges, so threads never share a slot value.
unsafe impl Sync for Parts {}
unsafe impl Send for Parts {}

impl Parts {
    /// Update values `off..off + w.len()` of the parameter (`g` their gradient). Every
    /// element's update is independent, so any split gives the same result as one call.
    ///
    /// # Safety
    /// The optimizer this came from must be alive and otherwise untouched, and no two calls
    /// running at the same time may overlap in their ranges.
    pub(crate) unsafe fn update(&self, off: usize, w: &mut [f32], g: &[f32]) {
        let n = w.len();
        assert!(off + n <= self.len && g.len() == n, "optimizer range");
        let [s0, s1, s2] = self
            .s
            .map(|p| std::slice::from_raw_parts_mut(p.add(off), n));
        update_slice(&self.kind, self.lr, self.t, w, g, s0, s1, s2);
    }
}

crate::simd::multiversion! {
    /// The update rules on one slice, written as straight loops the compiler vectorises.
    fn update_slice(
        kind: &Kind,
        lr: f32,
        t: i32,
        w: &mut [f32],
        g: &[f32],
        s0: &mut [f32],
        s1: &mut [f32],
        s2: &mut [f32],
    ) {
        match *kind {
            Kind::Sgd { momentum, nesterov } => {
                if momentum == 0.0 {
                    w.iter_mut().zip(g).for_each(|(w, g)| *w -= lr * g);
                } else {
                    for ((w, g), v) in w.iter_mut().zip(g).zip(s0.iter_mut()) {
                        *v = momentum * *v - lr * g;
                        *w += if nesterov { momentum * *v - lr * g } else { *v };
                    }
                }
            }
            Kind::RmsProp {
                rho,
                momentum,
                epsilon,
                centered,
            } => {
                if !centered && momentum == 0.0 {
                    for ((w, &g), s) in w.iter_mut().zip(g).zip(s0.iter_mut()) {
                        *s = rho * *s + (1.0 - rho) * g * g;
                        *w -= lr * g / (*s + epsilon).sqrt();
                    }
                    return;
                }
                for j in 0..w.len() {
                    let gj = g[j];
                    s0[j] = rho * s0[j] + (1.0 - rho) * gj * gj;
                    let mut denom = s0[j];
                    if centered {
                        s2[j] = rho * s2[j] + (1.0 - rho) * gj;
                        denom -= s2[j] * s2[j];
                    }
                    let inc = lr * gj / (denom + epsilon).sqrt();
                    if momentum > 0.0 {
                        s1[j] = momentum * s1[j] + inc;
                        w[j] -= s1[j];
                    } else {
                        w[j] -= inc;
                    }
                }
            }
            Kind::Adam {
                beta_1,
                beta_2,
                epsilon,
                amsgrad,
                weight_decay,
            } => {
                let alpha = lr * (1.0 - beta_2.powi(t)).sqrt() / (1.0 - beta_1.powi(t));
                let decay = lr * weight_decay;
                if !amsgrad {
                    for (((w, &g), m), v) in w.iter_mut().zip(g).zip(s0.iter_mut()).zip(s1.iter_mut()) {
                        *w -= decay * *w;
                        *m += (g - *m) * (1.0 - beta_1);
                        *v += (g * g - *v) * (1.0 - beta_2);
                        *w -= alpha * *m / (v.sqrt() + epsilon);
                    }
                    return;
                }
                for j in 0..w.len() {
                    w[j] -= decay * w[j];
                    let gj = g[j];
                    s0[j] += (gj - s0[j]) * (1.0 - beta_1);
                    s1[j] += (gj * gj - s1[j]) * (1.0 - beta_2);
                    s2[j] = s2[j].max(s1[j]);
                    w[j] -= alpha * s0[j] / (s2[j].sqrt() + epsilon);
                }
            }
            Kind::Adagrad { epsilon, .. } => {
                for ((w, &g), a) in w.iter_mut().zip(g).zip(s0.iter_mut()) {
                    *a += g * g;
                    *w -= lr * g / (*a + epsilon).sqrt();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_step(name: &str, lr: f64, p: &[f64], steps: usize) -> f32 {
        let mut o = Optimizer::new(name, lr, p).unwrap();
        let mut w = [1.0f32];
        for _ in 0..steps {
            o.begin_step();
            let g = [2.0 * w[0]]; // gradient of w^2
            o.update(0, &mut w, &g);
        }
        w[0]
    }

    #[test]
    fn one_hand_computed_step_of_each_optimizer_matches_keras() {
        // w = 1, g = 2.
        // SGD lr 0.1: 1 - 0.2 = 0.8.
        assert!((one_step("sgd", 0.1, &[], 1) - 0.8).abs() < 1e-6);
        // SGD momentum 0.9: v = -0.2, w = 0.8; step 2: g = 1.6, v = -0.18 - 0.16 = -0.34, w = 0.46.
        assert!((one_step("sgd", 0.1, &[0.9, 0.0], 2) - 0.46).abs() < 1e-6);
        // Nesterov: v = -0.2; w = 1 + 0.9 * -0.2 - 0.2 = 0.62.
        assert!((one_step("sgd", 0.1, &[0.9, 1.0], 1) - 0.62).abs() < 1e-6);
        // RMSprop lr 0.001 rho 0.9: s = 0.1 * 4 = 0.4; w = 1 - 0.001 * 2 / sqrt(0.4 + 1e-7).
        let want = 1.0 - 0.001 * 2.0 / (0.4f64 + 1e-7).sqrt();
        assert!((one_step("rmsprop", 0.001, &[], 1) as f64 - want).abs() < 1e-6);
        // Adam lr 0.001: m = 0.2, v = 0.004, alpha = 0.001 * sqrt(0.001) / 0.1;
        // w = 1 - alpha * 0.2 / (sqrt(0.004) + 1e-7) = 1 - 0.001 (approximately).
        let alpha = 0.001 * 0.001f64.sqrt() / 0.1;
        let want = 1.0 - alpha * 0.2 / (0.004f64.sqrt() + 1e-7);
        assert!((one_step("adam", 0.001, &[], 1) as f64 - want).abs() < 1e-6);
        // AdamW also decays: w = 1 - 0.001 * 0.004 first.
        let want_w = (1.0 - 0.001 * 0.004) - alpha * 0.2 / (0.004f64.sqrt() + 1e-7);
        assert!((one_step("adamw", 0.001, &[], 1) as f64 - want_w).abs() < 1e-6);
        // Adagrad lr 0.01: a = 0.1 + 4 = 4.1; w = 1 - 0.01 * 2 / sqrt(4.1).
        let want = 1.0 - 0.01 * 2.0 / (4.1f64 + 1e-7).sqrt();
        assert!((one_step("adagrad", 0.01, &[], 1) as f64 - want).abs() < 1e-6);
    }

    #[test]
    fn sgd_and_adam_reach_the_minimum_of_a_quadratic() {
        // Plain SGD on w^2 with lr 0.1 multiplies w by 0.8 each step: 0.8^50 ~ 1.4e-5.
        assert!((one_step("sgd", 0.1, &[], 50) - 0.8f32.powi(50)).abs() < 1e-7);
        assert!(one_step("adam", 0.05, &[], 500).abs() < 0.05);
    }

    #[test]
    fn zero_gradient_leaves_weights_unchanged() {
        for name in ["sgd", "rmsprop", "adam", "adagrad"] {
            let mut o = Optimizer::new(name, 0.1, &[]).unwrap();
            let mut w = [0.5f32, -2.0];
            o.begin_step();
            o.update(0, &mut w, &[0.0, 0.0]);
            assert_eq!(w, [0.5, -2.0], "{name}");
        }
    }

    /// Weights after each of 6 steps with fixed gradients, from Keras 3 itself
    /// (`tests/testthat/oracle/keras_optimizers.py` wrote the file). The gradients include
    /// values of 1e-6..1e-3, where putting epsilon outside the root, or forgetting the bias
    /// correction or the momentum, moves the weights by far more than the tolerance.
    #[test]
    fn every_optimizer_follows_keras_step_by_step() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("optimizers/keras_steps.json")).unwrap();
        let f = |x: &serde_json::Value| -> Vec<f32> {
            x.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        };
        let w0 = f(&v["w0"]);
        let grads: Vec<Vec<f32>> = v["grads"].as_array().unwrap().iter().map(f).collect();
        let cases = v["cases"].as_array().unwrap();
        assert!(cases.len() >= 12);
        for c in cases {
            let name = c["name"].as_str().unwrap();
            let params: Vec<f64> = c["params"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            let mut o =
                Optimizer::new(name, c["learning_rate"].as_f64().unwrap(), &params).unwrap();
            let mut w = w0.clone();
            for (k, (g, want)) in grads.iter().zip(c["steps"].as_array().unwrap()).enumerate() {
                o.begin_step();
                o.update(0, &mut w, g);
                for (j, (a, b)) in w.iter().zip(f(want)).enumerate() {
                    let tol = 2e-6 * (1.0 + b.abs());
                    assert!(
                        (a - b).abs() <= tol,
                        "{name} {params:?} step {} value {j}: rkeras {a}, Keras {b}",
                        k + 1
                    );
                }
            }
        }
    }
}
