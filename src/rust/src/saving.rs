//! A model's weights and optimizer state as Keras's files hold them (`io/keras_files.rs`):
//! every weight row-major in `get_weights()` order, and which of them the optimizer updates.

use crate::error::{RkError, RkResult};
use crate::io::hdf5::Stored;
use crate::model::Model;
use crate::optimizers::keras_state::Trainable;

impl Model {
    /// Every weight in `get_weights()` order, with whether the optimizer trains it.
    pub fn stored_weights(&self) -> Vec<(Stored, bool)> {
        if let Some(g) = &self.graph {
            let mut out = Vec::new();
            for s in &g.slots {
                for p in s.params() {
                    let data = p.value.as_standard_layout().iter().copied().collect();
                    let stored = Stored {
                        shape: p.value.shape().to_vec(),
                        data,
                    };
                    out.push((stored, s.trainable && p.trainable));
                }
            }
            return out;
        }
        let mut out = Vec::new();
        for l in &self.layers {
            if !l.kernel.is_empty() {
                let shape = vec![l.in_dim, l.out_dim()];
                out.push((
                    Stored {
                        shape,
                        data: l.kernel.clone(),
                    },
                    true,
                ));
            }
            if !l.bias.is_empty() {
                out.push((
                    Stored {
                        shape: vec![l.bias.len()],
                        data: l.bias.clone(),
                    },
                    true,
                ));
            }
        }
        out
    }

    /// The trainable weights as the optimizer numbers them, named by `names` (one per weight).
    pub fn trainables(&self, names: &[String]) -> RkResult<Vec<Trainable>> {
        let w = self.stored_weights();
        if names.len() != w.len() {
            return Err(RkError::Internal(format!(
                "{} weight names for {} weights",
                names.len(),
                w.len()
            )));
        }
        Ok(w.into_iter()
            .zip(names)
            .enumerate()
            .filter(|(_, ((_, trainable), _))| *trainable)
            .map(|(slot, ((s, _), name))| Trainable {
                slot,
                shape: s.shape,
                name: name.clone(),
            })
            .collect())
    }
}
