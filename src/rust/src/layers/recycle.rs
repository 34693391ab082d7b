//! Layers' output buffers, and their reuse under an inference plan: while a [`Recycling`]
//! scope is open on a thread, the values the plan drops ([`recycle`]) serve the next large
//! buffers that layers ask for ([`zeros`], [`output`]), in memory already mapped rather
//! than fresh pages.

use super::Tensor;

/// Buffers smaller than this are left to the allocator.
const RECYCLE_MIN: usize = 1 << 15;
/// At most this many dropped buffers are kept.
const RECYCLE_MAX: usize = 8;

thread_local! {
    /// Buffers of dropped values, while a [`Recycling`] scope is open on this thread.
    static RECYCLED: std::cell::RefCell<Option<Vec<Vec<f32>>>> = const { std::cell::RefCell::new(None) };
}

/// The smallest kept buffer that holds `n` values, for a large `n` under a scope.
fn reused(n: usize) -> Option<Vec<f32>> {
    if n < RECYCLE_MIN {
        return None;
    }
    RECYCLED.with(|r| {
        let mut r = r.borrow_mut();
        let pool = r.as_mut()?;
        let k = (0..pool.len())
            .filter(|&k| pool[k].capacity() >= n)
            .min_by_key(|&k| pool[k].capacity())?;
        Some(pool.swap_remove(k))
    })
}

/// `n` zeros, written rather than mapped: `vec![0.0; n]` takes fresh zero pages from the
/// system, and a buffer that is read before it is written (`+=`) then pays a copy-on-write
/// fault and a TLB flush on every CPU for each page. Under a [`Recycling`] scope a large
/// buffer is a dropped value's, zeroed.
pub fn zeros(n: usize) -> Vec<f32> {
    let mut v = reused(n).unwrap_or_else(|| Vec::with_capacity(n));
    v.clear();
    v.resize(n, 0.0);
    v
}

/// `n` values for a layer to overwrite entirely before reading them (their contents are
/// unspecified): under a [`Recycling`] scope a dropped value's buffer, not zeroed again.
pub fn output(n: usize) -> Vec<f32> {
    match reused(n) {
        Some(mut v) => {
            v.truncate(n);
            v.resize(n, 0.0);
            v
        }
        None => vec![0.0; n],
    }
}

/// While alive, values given to [`recycle`] on this thread are kept for [`zeros`] and
/// [`output`] to reuse; dropping it frees them. Scopes do not nest (an inner one keeps the
/// outer's buffers).
pub struct Recycling {
    outer: bool,
}

impl Recycling {
    pub fn open() -> Recycling {
        let outer = RECYCLED.with(|r| {
            let mut r = r.borrow_mut();
            let fresh = r.is_none();
            if fresh {
                *r = Some(Vec::new());
            }
            fresh
        });
        Recycling { outer }
    }
}

impl Drop for Recycling {
    fn drop(&mut self) {
        if self.outer {
            RECYCLED.with(|r| *r.borrow_mut() = None);
        }
    }
}

/// Give a value that is no longer read back for [`zeros`] and [`output`] to reuse (dropped
/// when no [`Recycling`] scope is open, when it is small or when enough are kept).
pub fn recycle(t: Tensor) {
    if t.len() < RECYCLE_MIN {
        return;
    }
    let (v, offset) = t.into_raw_vec_and_offset();
    if offset != Some(0) {
        return;
    }
    RECYCLED.with(|r| {
        if let Some(pool) = r.borrow_mut().as_mut() {
            if pool.len() < RECYCLE_MAX {
                pool.push(v);
            }
        }
    });
}
