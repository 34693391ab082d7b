//! The optimizer's state as Keras 3 lists its variables (after `iteration` and
//! `learning_rate`), so saved files carry it to and from Keras:
//! - SGD with momentum: `momentum` per parameter;
//! - RMSprop: every `velocity`, then every `momentum` (momentum > 0), then every
//!   `average_gradient` (centered);
//! - Adam: `momentum`, `velocity` per parameter, then every `velocity_hat` (amsgrad);
//! - Adagrad: `accumulator`; Adadelta: `accumulated_grad`, `accumulated_delta_var`;
//!   Adamax: `momentum`, `norm`; Nadam: `momentum`, `velocity`, then its `u_product` scalar.

use super::{Kind, Optimizer};
use crate::error::{RkError, RkResult};
use crate::io::hdf5::Stored;

/// A trainable parameter: its optimizer slot number, shape and name (`dense/kernel`).
pub struct Trainable {
    pub slot: usize,
    pub shape: Vec<usize>,
    pub name: String,
}

impl Optimizer {
    /// Keras's passes over the parameters: each lists the slots every parameter
    /// contributes in that pass, with Keras's names.
    fn passes(&self) -> Vec<Vec<(usize, &'static str)>> {
        match self.kind {
            Kind::Sgd { momentum, .. } if momentum > 0.0 => vec![vec![(0, "momentum")]],
            Kind::Sgd { .. } => vec![],
            Kind::RmsProp {
                momentum, centered, ..
            } => {
                let mut p = vec![vec![(0, "velocity")]];
                if momentum > 0.0 {
                    p.push(vec![(1, "momentum")]);
                }
                if centered {
                    p.push(vec![(2, "average_gradient")]);
                }
                p
            }
            Kind::Adam { amsgrad, .. } => {
                let mut p = vec![vec![(0, "momentum"), (1, "velocity")]];
                if amsgrad {
                    p.push(vec![(2, "velocity_hat")]);
                }
                p
            }
            Kind::Adagrad { .. } => vec![vec![(0, "accumulator")]],
            Kind::Adadelta { .. } => {
                vec![vec![(0, "accumulated_grad"), (1, "accumulated_delta_var")]]
            }
            Kind::Adamax { .. } => vec![vec![(0, "momentum"), (1, "norm")]],
            Kind::Nadam { .. } => vec![vec![(0, "momentum"), (1, "velocity")]],
        }
    }

    /// Keras's variables after `iteration` and `learning_rate`, with names
    /// `<prefix>_<layer>_<weight>_<slot>`.
    pub fn keras_state(&self, params: &[Trainable], prefix: &str) -> (Vec<String>, Vec<Stored>) {
        let mut names = Vec::new();
        let mut vars = Vec::new();
        for pass in self.passes() {
            for p in params {
                for &(s, suffix) in &pass {
                    let len: usize = p.shape.iter().product();
                    let data = match self.slots.get(p.slot) {
                        Some(sl) if sl[s].len() == len => sl[s].clone(),
                        _ => vec![self.slot_init(s); len],
                    };
                    names.push(format!("{prefix}_{}_{suffix}", p.name.replace('/', "_")));
                    vars.push(Stored {
                        shape: p.shape.clone(),
                        data,
                    });
                }
            }
        }
        if let Kind::Nadam { .. } = self.kind {
            names.push("variable".into());
            vars.push(Stored::scalar(self.u_product as f32));
        }
        (names, vars)
    }

    /// A slot's value before any step (Adagrad starts its accumulator above zero).
    fn slot_init(&self, s: usize) -> f32 {
        match self.kind {
            Kind::Adagrad {
                initial_accumulator_value,
                ..
            } if s == 0 => initial_accumulator_value,
            _ => 0.0,
        }
    }

    /// Restore state written by [`Optimizer::keras_state`] (or by Keras); nothing changes
    /// unless every variable fits.
    pub fn set_keras_state(
        &mut self,
        params: &[Trainable],
        iterations: i64,
        learning_rate: f32,
        vars: &[Stored],
    ) -> RkResult<()> {
        let (names, want) = self.keras_state(params, "");
        if vars.len() != want.len() {
            return Err(RkError::Shape(format!(
                "the saved optimizer has {} variables, but this model's optimizer has {}",
                vars.len() + 2,
                want.len() + 2
            )));
        }
        for ((v, w), n) in vars.iter().zip(&want).zip(&names) {
            if v.shape != w.shape {
                return Err(RkError::Shape(format!(
                    "the saved optimizer variable for '{}' has shape ({}), expected ({})",
                    n.trim_start_matches('_'),
                    join(&v.shape),
                    join(&w.shape)
                )));
            }
        }
        if iterations < 0 || !learning_rate.is_finite() || learning_rate < 0.0 {
            return Err(RkError::Value(format!(
                "the saved optimizer's step count ({iterations}) or learning rate ({learning_rate}) is invalid"
            )));
        }
        let mut k = 0;
        for pass in self.passes() {
            for p in params {
                let len: usize = p.shape.iter().product();
                self.ensure(p.slot, len);
                for &(s, _) in &pass {
                    self.slots[p.slot][s].copy_from_slice(&vars[k].data);
                    k += 1;
                }
            }
        }
        if let Kind::Nadam { .. } = self.kind {
            self.u_product = vars[k].data[0] as f64;
        }
        self.iterations = iterations as u64;
        self.learning_rate = learning_rate as f64;
        Ok(())
    }
}

fn join(v: &[usize]) -> String {
    v.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_in_keras_order() {
        let params = vec![
            Trainable {
                slot: 0,
                shape: vec![2, 3],
                name: "dense/kernel".into(),
            },
            Trainable {
                slot: 1,
                shape: vec![3],
                name: "dense/bias".into(),
            },
        ];
        let mut o = Optimizer::new("adam", 0.01, &[0.9, 0.999, 1e-7, 1.0]).unwrap();
        for _ in 0..3 {
            o.begin_step();
            let mut w = vec![1.0; 6];
            o.update(0, &mut w, &[0.5, -1.0, 2.0, 0.1, 0.2, 0.3]);
            let mut b = vec![1.0; 3];
            o.update(1, &mut b, &[1.0, 2.0, 3.0]);
        }
        let (names, vars) = o.keras_state(&params, "sequential");
        assert_eq!(names[0], "sequential_dense_kernel_momentum");
        assert_eq!(names[1], "sequential_dense_kernel_velocity");
        assert_eq!(names[4], "sequential_dense_kernel_velocity_hat");
        assert_eq!(vars.len(), 6);
        let mut fresh = Optimizer::new("adam", 0.5, &[0.9, 0.999, 1e-7, 1.0]).unwrap();
        fresh.set_keras_state(&params, 3, 0.01, &vars).unwrap();
        assert_eq!(fresh.keras_state(&params, "sequential").1, vars);
        assert_eq!((fresh.iterations, fresh.learning_rate as f32), (3, 0.01));
        assert!(fresh.set_keras_state(&params, 3, 0.01, &vars[1..]).is_err());
    }
}
