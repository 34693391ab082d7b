//! The engine's private rayon pool (never the global one), sized by R's option
//! `rkeras.num_threads`. Worker threads flush denormals to zero: they only slow
//! training down and never change a result that matters. They also block asynchronous
//! signals, so R's handlers (Ctrl-C's among them) always run on R's own thread: R's handler
//! for an interrupt during `Sys.sleep()` jumps back into R's stack, which from another
//! thread corrupts it.
//!
//! A forked process (`parallel::mclapply()`, `future::plan(multicore)`) inherits the pool's
//! bookkeeping but none of its threads: `fork()` copies only the thread that called it. The
//! pool therefore records the process it was built in, and a child builds a fresh one on
//! first use instead of queueing work for threads that do not exist. Training steps that run
//! beside R (`fit()` overlapping an R generator) are counted, and a fork waits for the
//! running ones to finish, so the child never inherits a model locked by a step in flight.

use rayon::ThreadPool;
use std::sync::{Arc, Condvar, Mutex, Once, OnceLock};

/// The pool, the thread count it was built for and the process it was built in.
type SizedPool = Option<(usize, u32, Arc<ThreadPool>)>;

static POOL: OnceLock<Mutex<SizedPool>> = OnceLock::new();

/// Training steps running on threads of their own (`Handle::spawn`), and the signal that
/// one has finished.
static RUNNING: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());
static AT_FORK: Once = Once::new();

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// A training step starts on a thread of its own; pair with `step_finished()`.
pub fn step_started() {
    watch_forks();
    *lock(&RUNNING.0) += 1;
}

/// A training step has released its model and stored its result.
pub fn step_finished() {
    let mut n = lock(&RUNNING.0);
    *n = n.saturating_sub(1);
    RUNNING.1.notify_all();
}

/// Before any fork of this process: wait for the running training steps. They only compute
/// (they never call R nor wait for R's thread, which is the one forking), so the wait is short
/// and cannot deadlock; the forking thread cannot start another one meanwhile.
#[cfg(unix)]
extern "C" fn before_fork() {
    let mut n = lock(&RUNNING.0);
    while *n > 0 {
        n = match RUNNING.1.wait(n) {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
    }
}

/// Register `before_fork()` with the C library, once.
fn watch_forks() {
    AT_FORK.call_once(|| {
        #[cfg(unix)]
        // SAFETY: registers a handler that only takes a Rust mutex and waits on a condvar.
        unsafe {
            libc::pthread_atfork(Some(before_fork), None, None);
        }
    });
}

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

/// The pool for `n` threads, built on first use and rebuilt when `n` changes or in a new
/// (forked) process. Called from R's thread only (a step thread is handed its pool), so a
/// fork, which R's thread makes, never copies this lock held.
pub fn pool(n: usize) -> Arc<ThreadPool> {
    let n = n.max(1);
    watch_forks();
    let cell = POOL.get_or_init(|| {
        keep_freed_memory();
        Mutex::new(None)
    });
    let mut guard = lock(cell);
    let pid = std::process::id();
    if let Some((k, built_in, p)) = guard.take() {
        if built_in != pid {
            // Inherited through fork(): its threads stayed in the parent. Dropping it would
            // signal and wait for them, so it is left as it is.
            std::mem::forget(p);
        } else if k == n {
            *guard = Some((k, built_in, p.clone()));
            return p;
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
    *guard = Some((n, pid, p.clone()));
    p
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn sum_on(pool: &ThreadPool) -> i64 {
        use rayon::prelude::*;
        pool.install(|| (0..100_000i64).into_par_iter().sum())
    }

    /// Wait for `pid` at most `secs` seconds; a child still running then is killed and
    /// counts as hung.
    fn wait_for(pid: libc::pid_t, secs: u64) -> Option<i32> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        let mut status = 0;
        loop {
            // SAFETY: waits only for our own child.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                return Some(libc::WEXITSTATUS(status));
            }
            if std::time::Instant::now() > deadline {
                // SAFETY: kills only our own child.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut status, 0);
                }
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    #[test]
    fn a_forked_child_and_grandchild_compute_on_pools_of_their_own() {
        let want: i64 = (0..100_000i64).sum();
        assert_eq!(sum_on(&pool(2)), want);
        // SAFETY: the child only computes on a new pool and leaves with _exit.
        let child = unsafe { libc::fork() };
        if child == 0 {
            let ok = sum_on(&pool(2)) == want;
            let grandchild = unsafe { libc::fork() };
            if grandchild == 0 {
                let ok = sum_on(&pool(2)) == want;
                unsafe { libc::_exit(if ok { 0 } else { 1 }) };
            }
            let ok = ok && wait_for(grandchild, 30) == Some(0) && sum_on(&pool(2)) == want;
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        assert_eq!(
            wait_for(child, 60),
            Some(0),
            "the child hung or computed wrongly"
        );
        assert_eq!(sum_on(&pool(2)), want, "the parent keeps its pool");
    }

    #[test]
    fn a_fork_waits_for_running_steps() {
        step_started();
        let t = std::thread::spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(200));
            step_finished();
        });
        let start = std::time::Instant::now();
        // SAFETY: the child leaves at once with _exit.
        let child = unsafe { libc::fork() };
        if child == 0 {
            unsafe { libc::_exit(0) };
        }
        assert!(start.elapsed() >= std::time::Duration::from_millis(150));
        assert_eq!(wait_for(child, 30), Some(0));
        t.join().unwrap();
    }
}
