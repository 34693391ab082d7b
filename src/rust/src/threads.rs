//! The engine's private rayon pool (never the global one), sized by R's option
//! `rkeras.num_threads`. Worker threads flush denormals to zero: they only slow
//! training down and never change a result that matters.

use rayon::ThreadPool;
use std::sync::{Arc, Mutex, OnceLock};

/// The pool and the thread count it was built for.
type SizedPool = Option<(usize, Arc<ThreadPool>)>;

static POOL: OnceLock<Mutex<SizedPool>> = OnceLock::new();

#[cfg(target_arch = "x86_64")]
pub fn set_flush_to_zero() {
    // MXCSR: FTZ (bit 15) and DAZ (bit 6).
    #[allow(deprecated)]
    unsafe {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        _mm_setcsr(_mm_getcsr() | 0x8040);
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub fn set_flush_to_zero() {}

/// The pool for `n` threads, built on first use and rebuilt when `n` changes.
pub fn pool(n: usize) -> Arc<ThreadPool> {
    let n = n.max(1);
    let cell = POOL.get_or_init(|| Mutex::new(None));
    let mut guard = match cell.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some((k, p)) = guard.as_ref() {
        if *k == n {
            return p.clone();
        }
    }
    let built = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("rkeras-worker-{i}"))
        .start_handler(|_| set_flush_to_zero())
        .build();
    let p = match built {
        Ok(p) => Arc::new(p),
        // Fall back to a single-threaded pool rather than failing the user's fit.
        Err(_) => Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .expect("a one-thread pool can always be built"),
        ),
    };
    *guard = Some((n, p.clone()));
    p
}
