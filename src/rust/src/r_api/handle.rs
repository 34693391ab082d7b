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
    pending: Option<Pending>,
    /// R objects a running step reads: kept alive (and never touched) until it is joined.
    keep: Vec<Robj>,
}

/// A training step on a thread of its own: the thread, where its result is left, and the
/// process that started it.
struct Pending {
    thread: JoinHandle<()>,
    result: Arc<Mutex<Option<RkResult<f64>>>>,
    pid: u32,
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
            Some(p) => {
                let joined = if p.pid == std::process::id() {
                    p.thread.join().map_err(|e| {
                        RkError::Internal(format!("a training step failed: {}", panic_message(&e)))
                    })
                } else {
                    // A forked child: the thread stayed in the parent, which waited for it
                    // to finish before forking (threads::before_fork), so its result is here.
                    std::mem::forget(p.thread);
                    Ok(())
                };
                let stored = match p.result.lock() {
                    Ok(mut g) => g.take(),
                    Err(e) => e.into_inner().take(),
                };
                joined
                    .and_then(|_| {
                        stored.unwrap_or_else(|| {
                            Err(RkError::Internal("a training step left no result".into()))
                        })
                    })
                    .map(Some)
            }
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
        // The pool is taken here, on R's thread: threads::pool() is never called elsewhere.
        let threads = match model.lock() {
            Ok(g) => g.threads,
            Err(p) => p.into_inner().threads,
        };
        let pool = crate::threads::pool(threads);
        let result = Arc::new(Mutex::new(None));
        let slot = result.clone();
        crate::threads::step_started();
        let started = crate::threads::spawning(|| {
            std::thread::Builder::new()
                .name("rkeras-step".into())
                .spawn(move || {
                    crate::threads::set_flush_to_zero();
                    crate::threads::block_signals();
                    let r = {
                        let mut guard = match model.lock() {
                            Ok(g) => g,
                            Err(p) => p.into_inner(),
                        };
                        let m: &mut Model = &mut guard;
                        match catch_unwind(AssertUnwindSafe(|| pool.install(|| f(m)))) {
                            Ok(r) => r,
                            Err(p) => Err(RkError::Internal(format!(
                                "internal error in rkeras: {}",
                                panic_message(&p)
                            ))),
                        }
                    };
                    // The model is unlocked and the result stored before the step counts
                    // as finished: a fork after this point copies neither in flight.
                    match slot.lock() {
                        Ok(mut g) => *g = Some(r),
                        Err(p) => *p.into_inner() = Some(r),
                    }
                    crate::threads::step_finished();
                })
        });
        let thread = match started {
            Ok(t) => t,
            Err(e) => {
                crate::threads::step_finished();
                return Err(RkError::Internal(format!(
                    "could not start a worker thread: {e}"
                )));
            }
        };
        self.pending = Some(Pending {
            thread,
            result,
            pid: std::process::id(),
        });
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
