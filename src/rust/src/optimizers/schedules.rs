//! Keras 3's learning-rate schedules (`keras.optimizers.schedules`): the rate as a function
//! of the optimizer's step count before the update (0 at the first step).

use crate::error::{RkError, RkResult};
use std::f64::consts::PI;

#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    Exponential {
        initial: f64,
        decay_steps: f64,
        decay_rate: f64,
        staircase: bool,
    },
    InverseTime {
        initial: f64,
        decay_steps: f64,
        decay_rate: f64,
        staircase: bool,
    },
    Piecewise {
        boundaries: Vec<f64>,
        values: Vec<f64>,
    },
    Polynomial {
        initial: f64,
        decay_steps: f64,
        end: f64,
        power: f64,
        cycle: bool,
    },
    Cosine {
        initial: f64,
        decay_steps: f64,
        alpha: f64,
        warmup: Option<(f64, f64)>,
    },
    CosineRestarts {
        initial: f64,
        first_decay_steps: f64,
        t_mul: f64,
        m_mul: f64,
        alpha: f64,
    },
}

impl Schedule {
    /// From R's encoding: a kind code, then the schedule's numbers in Keras's argument order
    /// (piecewise: the count of boundaries, the boundaries, then the values; cosine: NaN
    /// `warmup_target` for none).
    pub fn from_values(v: &[f64]) -> RkResult<Schedule> {
        let bad = || RkError::Value(format!("bad learning-rate schedule {v:?}"));
        let at = |i: usize| v.get(i).copied().ok_or_else(bad);
        let s = match at(0)? as i32 {
            1 | 2 => {
                let (initial, decay_steps, decay_rate, staircase) =
                    (at(1)?, at(2)?, at(3)?, at(4)? != 0.0);
                if at(0)? == 1.0 {
                    Schedule::Exponential {
                        initial,
                        decay_steps,
                        decay_rate,
                        staircase,
                    }
                } else {
                    Schedule::InverseTime {
                        initial,
                        decay_steps,
                        decay_rate,
                        staircase,
                    }
                }
            }
            3 => {
                let n = at(1)? as usize;
                if v.len() != 2 + 2 * n + 1 {
                    return Err(bad());
                }
                Schedule::Piecewise {
                    boundaries: v[2..2 + n].to_vec(),
                    values: v[2 + n..].to_vec(),
                }
            }
            4 => Schedule::Polynomial {
                initial: at(1)?,
                decay_steps: at(2)?,
                end: at(3)?,
                power: at(4)?,
                cycle: at(5)? != 0.0,
            },
            5 => Schedule::Cosine {
                initial: at(1)?,
                decay_steps: at(2)?,
                alpha: at(3)?,
                warmup: Some((at(4)?, at(5)?)).filter(|(target, _)| !target.is_nan()),
            },
            6 => Schedule::CosineRestarts {
                initial: at(1)?,
                first_decay_steps: at(2)?,
                t_mul: at(3)?,
                m_mul: at(4)?,
                alpha: at(5)?,
            },
            _ => return Err(bad()),
        };
        Ok(s)
    }

    /// The learning rate at step `step` (0-based, as Keras's `optimizer.iterations`).
    pub fn at(&self, step: f64) -> f64 {
        match *self {
            Schedule::Exponential {
                initial,
                decay_steps,
                decay_rate,
                staircase,
            } => initial * decay_rate.powf(fraction(step, decay_steps, staircase)),
            Schedule::InverseTime {
                initial,
                decay_steps,
                decay_rate,
                staircase,
            } => initial / (1.0 + decay_rate * fraction(step, decay_steps, staircase)),
            Schedule::Piecewise {
                ref boundaries,
                ref values,
            } => {
                let i = boundaries.iter().take_while(|&&b| step > b).count();
                values[i]
            }
            Schedule::Polynomial {
                initial,
                decay_steps,
                end,
                power,
                cycle,
            } => {
                let (step, steps) = if cycle {
                    let m = if step == 0.0 {
                        1.0
                    } else {
                        (step / decay_steps).ceil()
                    };
                    (step, decay_steps * m)
                } else {
                    (step.min(decay_steps), decay_steps)
                };
                (initial - end) * (1.0 - step / steps).powf(power) + end
            }
            Schedule::Cosine {
                initial,
                decay_steps,
                alpha,
                warmup,
            } => {
                let decayed = |s: f64, from: f64| {
                    let cos = 0.5 * (1.0 + (PI * s / decay_steps).cos());
                    from * ((1.0 - alpha) * cos + alpha)
                };
                match warmup {
                    None => decayed(step.min(decay_steps), initial),
                    Some((target, steps)) => {
                        let s = step.min(decay_steps + steps);
                        if s < steps {
                            (target - initial) * (s / steps) + initial
                        } else {
                            decayed(s - steps, target)
                        }
                    }
                }
            }
            Schedule::CosineRestarts {
                initial,
                first_decay_steps,
                t_mul,
                m_mul,
                alpha,
            } => {
                let mut done = step / first_decay_steps;
                let restart = if t_mul == 1.0 {
                    let i = done.floor();
                    done -= i;
                    i
                } else {
                    let i = ((1.0 - done * (1.0 - t_mul)).ln() / t_mul.ln()).floor();
                    let sum = (1.0 - t_mul.powf(i)) / (1.0 - t_mul);
                    done = (done - sum) / t_mul.powf(i);
                    i
                };
                let cos = 0.5 * m_mul.powf(restart) * (1.0 + (PI * done).cos());
                initial * ((1.0 - alpha) * cos + alpha)
            }
        }
    }
}

fn fraction(step: f64, steps: f64, staircase: bool) -> f64 {
    let p = step / steps;
    if staircase {
        p.floor()
    } else {
        p
    }
}
