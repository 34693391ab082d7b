//! A model's weights and optimizer state as Keras's files hold them (`io/keras_files.rs`):
//! every weight row-major in `get_weights()` order, and which of them the optimizer updates.

use crate::error::{RkError, RkResult};
use crate::io::hdf5::Stored;
use crate::model::Model;
use crate::optimizers::keras_state::Trainable;

impl Model {
    /// Every weight in `get_weights()` order, with whether the optimizer trains it.
    pub fn stored_weights(&self) -> Vec<(Stored, bool)> {
        let mut out = Vec::new();
        for s in self.graph.iter().flat_map(|g| &g.slots) {
            for p in s.params() {
                let data = p.value.as_standard_layout().iter().copied().collect();
                let stored = Stored {
                    shape: p.value.shape().to_vec(),
                    data,
                };
                out.push((stored, s.trainable && p.trainable));
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
