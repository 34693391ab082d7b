//! The engine's private rayon pool (never the global one), sized by R's option
//! `rkeras.num_threads`. Worker threads flush denormals to zero: they only slow
//! training down and never change a result that matters. They also block asynchronous
//! signals, so R's handlers (Ctrl-C's among them) always run on R's own thread: R's handler
//! for an interrupt during `Sys.sleep()` jumps back into R's stack, which from another
//! thread corrupts it.

use rayon::ThreadPool;
use std::sync::{Arc, Mutex, OnceLock};

/// The pool and the thread count it was built for.
type SizedPool = Option<(usize, Arc<ThreadPool>)>;

static POOL: OnceLock<Mutex<SizedPool>> = OnceLock::new();

/// Every signal but the synchronous faults, which must stay with the thread that raised them.
#[cfg(unix)]
fn async_signals() -> libc::sigset_t {
    // SAFETY: the set is initialised by sigfillset before it is read.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        for s in [
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGFPE,
            libc::SIGILL,
            libc::SIGTRAP,
        ] {
            libc::sigdelset(&mut set, s);
        }
        set
    }
}

/// Block asynchronous signals in the calling thread (one of the engine's): the kernel then
/// delivers them to a thread that takes them, R's.
pub fn block_signals() {
    #[cfg(unix)]
    // SAFETY: only the calling thread's signal mask changes.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &async_signals(), std::ptr::null_mut());
    }
}

/// Run `f` (which starts threads) with asynchronous signals blocked in the calling thread,
/// so the threads start with them blocked (a new thread inherits its creator's mask), then
/// restore the caller's mask.
pub fn spawning<T>(f: impl FnOnce() -> T) -> T {
    #[cfg(unix)]
    {
        // SAFETY: the old mask is saved before and restored after, on this thread only.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        unsafe {
            libc::pthread_sigmask(libc::SIG_BLOCK, &async_signals(), &mut old);
        }
        let out = f();
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        }
        out
    }
    #[cfg(not(unix))]
    f()
}

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

/// Keep freed memory for reuse instead of returning it to the system at once. Training
/// allocates and frees tensors of tens of megabytes every step; with glibc's defaults each
/// comes back as fresh pages, paid again in page faults and zeroing (measured 15% of a
/// convolutional network's step). Allocations under 64 MiB stay on the heaps, which keep
/// up to 512 MiB of free memory at their top and grow 64 MiB at a time.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    extern "C" {
        fn mallopt(param: std::os::raw::c_int, value: std::os::raw::c_int) -> std::os::raw::c_int;
    }
    const M_TRIM_THRESHOLD: std::os::raw::c_int = -1;
    const M_TOP_PAD: std::os::raw::c_int = -2;
    const M_MMAP_THRESHOLD: std::os::raw::c_int = -3;
    // SAFETY: mallopt only changes glibc's allocation parameters; it is thread-safe.
    unsafe {
        mallopt(M_MMAP_THRESHOLD, 64 << 20);
        mallopt(M_TRIM_THRESHOLD, 512 << 20);
        mallopt(M_TOP_PAD, 64 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

/// The pool for `n` threads, built on first use and rebuilt when `n` changes.
pub fn pool(n: usize) -> Arc<ThreadPool> {
    let n = n.max(1);
    let cell = POOL.get_or_init(|| {
        keep_freed_memory();
        Mutex::new(None)
    });
    let mut guard = match cell.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some((k, p)) = guard.as_ref() {
        if *k == n {
            return p.clone();
        }
    }
    let built = spawning(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("rkeras-worker-{i}"))
            .start_handler(|_| {
                set_flush_to_zero();
                block_signals();
            })
            .build()
    });
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
