//! The object behind a model's external pointer: the model behind a mutex, plus the
//! training step that may be running on a worker thread while R prepares the next batch.

use crate::error::{RkError, RkResult};
use crate::model::Model;
use extendr_api::Robj;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

pub struct Handle {
    pub model: Arc<Mutex<Model>>,
    pub pending: Option<JoinHandle<RkResult<f64>>>,
    /// R objects a running step reads: kept alive (and never touched) until it is joined.
    keep: Vec<Robj>,
}

impl Handle {
    pub fn new(model: Model) -> Handle {
        Handle {
            model: Arc::new(Mutex::new(model)),
            pending: None,
            keep: Vec::new(),
        }
    }

    /// Wait for a running step; its result (or a panic, as an error) is returned.
    pub fn join(&mut self) -> RkResult<Option<f64>> {
        let pending = self.pending.take();
        let result = match pending {
            None => Ok(None),
            Some(h) => match h.join() {
                Ok(r) => r.map(Some),
                Err(p) => Err(RkError::Internal(format!(
                    "a training step failed: {}",
                    panic_message(&p)
                ))),
            },
        };
        self.keep.clear();
        result
    }

    /// Lock the model after any running step has finished. A step that failed leaves
    /// the weights of the last completed step, so a poisoned lock is still usable.
    pub fn lock(&mut self) -> RkResult<MutexGuard<'_, Model>> {
        self.join()?;
        Ok(match self.model.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        })
    }

    /// Run `f` on the model inside the engine's thread pool, turning panics into errors.
    pub fn with<T: Send>(
        &mut self,
        f: impl FnOnce(&mut Model) -> RkResult<T> + Send,
    ) -> RkResult<T> {
        let mut guard = self.lock()?;
        let m: &mut Model = &mut guard;
        let pool = crate::threads::pool(m.threads);
        let r = catch_unwind(AssertUnwindSafe(|| pool.install(|| f(m))));
        r.unwrap_or_else(|p| {
            Err(RkError::Internal(format!(
                "internal error in rkeras: {}",
                panic_message(&p)
            )))
        })
    }

    /// Start `f` on a worker thread and return at once; `join()` collects it. `keep` holds
    /// the R objects whose memory `f` reads, alive (and untouched by R) until then.
    pub fn spawn(
        &mut self,
        keep: Vec<Robj>,
        f: impl FnOnce(&mut Model) -> RkResult<f64> + Send + 'static,
    ) -> RkResult<()> {
        self.join()?;
        self.keep = keep;
        let model = self.model.clone();
        let h = crate::threads::spawning(|| {
            std::thread::Builder::new()
                .name("rkeras-step".into())
                .spawn(move || {
                    let mut guard = match model.lock() {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    };
                    let m: &mut Model = &mut guard;
                    let pool = crate::threads::pool(m.threads);
                    crate::threads::set_flush_to_zero();
                    crate::threads::block_signals();
                    match catch_unwind(AssertUnwindSafe(|| pool.install(|| f(m)))) {
                        Ok(r) => r,
                        Err(p) => Err(RkError::Internal(format!(
                            "internal error in rkeras: {}",
                            panic_message(&p)
                        ))),
                    }
                })
        })
        .map_err(|e| RkError::Internal(format!("could not start a worker thread: {e}")))?;
        self.pending = Some(h);
        Ok(())
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Never leave a worker running past the model's lifetime.
        let _ = self.join();
    }
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}
