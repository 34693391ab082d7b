//! Optimizers with Keras's update rules and defaults (Keras >= 2.11 / Keras 3):
//! - SGD: `v = momentum * v - lr * g`; `w += v` (nesterov: `w += momentum * v - lr * g`); plain `w -= lr * g`.
//! - RMSprop: `s = rho * s + (1 - rho) g^2`; `w -= lr * g / sqrt(s + eps)`
//!   (momentum > 0: `m = momentum * m + lr * g / sqrt(s + eps)`; `w -= m`; centered subtracts the
//!   squared mean gradient from `s` first). Epsilon sits inside the root, as in Keras 3.
//! - Adam: `m = b1 m + (1 - b1) g`; `v = b2 v + (1 - b2) g^2`;
//!   `w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`; AdamW first `w -= lr * wd * w`.
//! - Adagrad: `a += g^2` (a starts at 0.1); `w -= lr * g / sqrt(a + eps)`, as in Keras 3.
//! - Adadelta: `a = rho a + (1 - rho) g^2`; `d = -sqrt(u + eps) / sqrt(a + eps) * g`;
//!   `u = rho u + (1 - rho) d^2`; `w += lr * d`.
//! - Adamax: `m += (g - m)(1 - b1)`; `u = max(b2 u, |g|)`; `w -= lr m / ((1 - b1^t)(u + eps))`.
//! - Nadam: Adam's moments with the momentum schedule `u_t = b1 (1 - 0.5 * 0.96^t)`:
//!   `m_hat = u_{t+1} m / (1 - prod u_1..u_{t+1}) + (1 - u_t) g / (1 - prod u_1..u_t)`;
//!   `w -= lr m_hat / (sqrt(v / (1 - b2^t)) + eps)`.
//!
//! Before the update, as Keras 3 does: gradients are clipped (`clipnorm` per parameter,
//! else `global_clipnorm` over all, else `clipvalue`; one of them at most), then every
//! parameter decays (`w -= lr * weight_decay * w`). Keras 2's legacy `decay` divides the
//! learning rate by `1 + decay * (t - 1)` at step `t`.
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
    },
    Adagrad {
        initial_accumulator_value: f32,
        epsilon: f32,
    },
    Adadelta {
        rho: f32,
        epsilon: f32,
    },
    Adamax {
        beta_1: f32,
        beta_2: f32,
        epsilon: f32,
    },
    Nadam {
        beta_1: f32,
        beta_2: f32,
        epsilon: f32,
    },
}

/// What every optimizer takes besides its own hyper-parameters (Keras's base optimizer
/// arguments, and Keras 2's legacy `decay`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    pub clipnorm: Option<f32>,
    pub clipvalue: Option<f32>,
    pub global_clipnorm: Option<f32>,
    pub weight_decay: f32,
    pub decay: f64,
}

impl Options {
    /// From `[clipnorm, clipvalue, global_clipnorm, weight_decay, decay]`, NaN for unset.
    pub fn from_values(v: &[f64]) -> RkResult<Options> {
        let get = |i: usize| v.get(i).copied().filter(|x| !x.is_nan());
        let positive = |i: usize, what: &str| -> RkResult<Option<f32>> {
            match get(i) {
                Some(x) if !(x > 0.0 && x.is_finite()) => Err(RkError::Value(format!(
                    "`{what}` must be a positive number, not {x}"
                ))),
                x => Ok(x.map(|x| x as f32)),
            }
        };
        let o = Options {
            clipnorm: positive(0, "clipnorm")?,
            clipvalue: positive(1, "clipvalue")?,
            global_clipnorm: positive(2, "global_clipnorm")?,
            weight_decay: get(3).unwrap_or(0.0) as f32,
            decay: get(4).unwrap_or(0.0),
        };
        let clips = [o.clipnorm, o.clipvalue, o.global_clipnorm];
        if clips.iter().filter(|c| c.is_some()).count() > 1 {
            return Err(RkError::Value(
                "only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set".into(),
            ));
        }
        if !(o.weight_decay >= 0.0 && o.decay >= 0.0) {
            return Err(RkError::Value(
                "`weight_decay` and `decay` must be non-negative".into(),
            ));
        }
        Ok(o)
    }

    /// Whether gradients are clipped (which needs each step's whole gradients at once).
    pub fn clips(&self) -> bool {
        self.clipnorm.is_some() || self.clipvalue.is_some() || self.global_clipnorm.is_some()
    }
}

/// One step's scalars, shared by every parameter's update.
#[derive(Clone, Copy, Debug)]
struct Step {
    lr: f32,
    t: i32,
    weight_decay: f32,
    /// Nadam: `u_t`, `u_{t+1}`, `prod u_1..u_t`, `prod u_1..u_{t+1}`.
    nadam: [f32; 4],
}

#[derive(Clone, Debug)]
pub struct Optimizer {
    pub kind: Kind,
    pub learning_rate: f64,
    pub iterations: u64,
    pub options: Options,
    /// A learning-rate schedule, which replaces `learning_rate` when set.
    pub schedule: Option<schedules::Schedule>,
    /// Nadam's running product of its momentum schedule, `prod u_1..u_t`.
    u_product: f64,
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
            },
            "adadelta" => Kind::Adadelta {
                rho: g(0, 0.95),
                epsilon: g(1, 1e-7),
            },
            "adamax" => Kind::Adamax {
                beta_1: g(0, 0.9),
                beta_2: g(1, 0.999),
                epsilon: g(2, 1e-7),
            },
            "nadam" => Kind::Nadam {
                beta_1: g(0, 0.9),
                beta_2: g(1, 0.999),
                epsilon: g(2, 1e-7),
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
        // Adam and AdamW take their weight decay among their own hyper-parameters.
        let weight_decay = match kind {
            Kind::Adam { .. } => g(4, if name == "adamw" { 0.004 } else { 0.0 }),
            _ => 0.0,
        };
        Ok(Optimizer {
            kind,
            learning_rate,
            schedule: None,
            iterations: 0,
            options: Options {
                weight_decay,
                ..Options::default()
            },
            u_product: 1.0,
            slots: Vec::new(),
        })
    }

    /// With the base optimizer's options.
    pub fn with_options(mut self, options: Options) -> Optimizer {
        let weight_decay = if options.weight_decay > 0.0 {
            options.weight_decay
        } else {
            self.options.weight_decay
        };
        self.options = Options {
            weight_decay,
            ..options
        };
        self
    }

    /// The learning rate of the step after `done` steps: the schedule's, or the rate after
    /// legacy decay.
    pub fn rate_after(&self, done: u64) -> f64 {
        match &self.schedule {
            Some(s) => s.at(done as f64),
            None => self.learning_rate / (1.0 + self.options.decay * done as f64),
        }
    }

    /// The scalars of the current step: the learning rate, and Nadam's schedule.
    fn step(&self) -> Step {
        let t = self.iterations.max(1);
        let lr = self.rate_after(t - 1);
        let mut nadam = [0.0; 4];
        if let Kind::Nadam { beta_1, .. } = self.kind {
            let u = |s: u64| beta_1 as f64 * (1.0 - 0.5 * 0.96f64.powf(s as f64));
            let (ut, ut1) = (u(t), u(t + 1));
            nadam = [
                ut as f32,
                ut1 as f32,
                self.u_product as f32,
                (self.u_product * ut1) as f32,
            ];
        }
        Step {
            lr: lr as f32,
            t: t as i32,
            weight_decay: self.options.weight_decay,
            nadam,
        }
    }

    /// Clip a step's gradients (all trainable parameters', in order) as Keras 3 does:
    /// `clipnorm` per parameter, else `global_clipnorm` over all, else `clipvalue`.
    pub fn clip(&self, grads: &mut [&mut [f32]]) {
        let norm = |g: &[f32]| g.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
        let o = &self.options;
        if let Some(c) = o.clipnorm {
            for g in grads.iter_mut() {
                let n = norm(g);
                if n > 0.0 {
                    let scale = (c as f64 / n.max(c as f64)) as f32;
                    g.iter_mut().for_each(|v| *v *= scale);
                }
            }
        } else if let Some(c) = o.global_clipnorm {
            let n = grads.iter().map(|g| norm(g).powi(2)).sum::<f64>().sqrt();
            // Keras: c * min(1 / n, 1 / c), NaN when the norm is not finite.
            let scale = if n.is_finite() {
                (c as f64 * (1.0 / n).min(1.0 / c as f64)) as f32
            } else {
                f32::NAN
            };
            for g in grads.iter_mut() {
                g.iter_mut().for_each(|v| *v *= scale);
            }
        } else if let Some(c) = o.clipvalue {
            for g in grads.iter_mut() {
                g.iter_mut().for_each(|v| *v = v.clamp(-c, c));
            }
        }
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
        if let Kind::Nadam { beta_1, .. } = self.kind {
            let t = self.iterations as f64;
            self.u_product *= beta_1 as f64 * (1.0 - 0.5 * 0.96f64.powf(t));
        }
    }

    /// Update parameter `i` (values `w`, gradient `g`). Large parameters are updated in
    /// chunks on the engine's threads; every element's update is independent, so the result
    /// does not depend on the thread count.
    pub fn update(&mut self, i: usize, w: &mut [f32], g: &[f32]) {
        self.ensure(i, w.len());
        let step = self.step();
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
                .for_each(|((((w, g), a), b), c)| update_slice(&kind, &step, w, g, a, b, c));
        } else {
            update_slice(&kind, &step, w, g, s0, s1, s2);
        }
    }

    /// A handle for updating parameter `i` (of `len` values) in disjoint parts from several
    /// threads at once (see [`Parts::update`]).
    pub(crate) fn parts(&mut self, i: usize, len: usize) -> Parts {
        self.ensure(i, len);
        let step = self.step();
        let [s0, s1, s2] = &mut self.slots[i];
        Parts {
            kind: self.kind.clone(),
            step,
            len,
            s: [s0.as_mut_ptr(), s1.as_mut_ptr(), s2.as_mut_ptr()],
        }
    }

    /// Forget all slot state (a recompile does this).
    pub fn reset(&mut self) {
        self.slots.clear();
        self.iterations = 0;
        self.u_product = 1.0;
    }
}

/// One parameter's update rule and slot state, to update disjoint ranges of it in parallel.
pub(crate) struct Parts {
    kind: Kind,
    step: Step,
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
        update_slice(&self.kind, &self.step, w, g, s0, s1, s2);
    }
}

crate::simd::multiversion! {
    /// The update rules on one slice, written as straight loops the compiler vectorises.
    fn update_slice(
        kind: &Kind,
        step: &Step,
        w: &mut [f32],
        g: &[f32],
        s0: &mut [f32],
        s1: &mut [f32],
        s2: &mut [f32],
    ) {
        let (lr, t) = (step.lr, step.t);
        // Decoupled weight decay first.
        if step.weight_decay != 0.0 {
            let d = lr * step.weight_decay;
            w.iter_mut().for_each(|w| *w -= d * *w);
        }
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
            } => {
                let alpha = lr * (1.0 - beta_2.powi(t)).sqrt() / (1.0 - beta_1.powi(t));
                if !amsgrad {
                    for (((w, &g), m), v) in w.iter_mut().zip(g).zip(s0.iter_mut()).zip(s1.iter_mut()) {
                        *m += (g - *m) * (1.0 - beta_1);
                        *v += (g * g - *v) * (1.0 - beta_2);
                        *w -= alpha * *m / (v.sqrt() + epsilon);
                    }
                    return;
                }
                for j in 0..w.len() {
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
            Kind::Adadelta { rho, epsilon } => {
                for (((w, &g), a), u) in w.iter_mut().zip(g).zip(s0.iter_mut()).zip(s1.iter_mut()) {
                    *a = rho * *a + (1.0 - rho) * g * g;
                    let d = -((*u + epsilon).sqrt() * g) / (*a + epsilon).sqrt();
                    *u = rho * *u + (1.0 - rho) * d * d;
                    *w += lr * d;
                }
            }
            Kind::Adamax {
                beta_1,
                beta_2,
                epsilon,
            } => {
                let c = 1.0 - beta_1.powi(t);
                for (((w, &g), m), u) in w.iter_mut().zip(g).zip(s0.iter_mut()).zip(s1.iter_mut()) {
                    *m += (g - *m) * (1.0 - beta_1);
                    *u = (beta_2 * *u).max(g.abs());
                    *w -= lr * *m / (c * (*u + epsilon));
                }
            }
            Kind::Nadam {
                beta_1,
                beta_2,
                epsilon,
            } => {
                let [ut, ut1, pt, pt1] = step.nadam;
                let b2t = 1.0 - beta_2.powi(t);
                for (((w, &g), m), v) in w.iter_mut().zip(g).zip(s0.iter_mut()).zip(s1.iter_mut()) {
                    *m += (g - *m) * (1.0 - beta_1);
                    *v += (g * g - *v) * (1.0 - beta_2);
                    let m_hat = ut1 * *m / (1.0 - pt1) + (1.0 - ut) * g / (1.0 - pt);
                    *w -= m_hat * lr / ((*v / b2t).sqrt() + epsilon);
                }
            }
        }
    }
}

pub mod keras_state;
pub mod schedules;
#[cfg(test)]
mod tests;
