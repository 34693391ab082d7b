//! The kernel's tile on AVX-512: two 16-row panels of `A` at once, each panel's 16 rows in
//! one 16-lane register per column of `B`. Where the AVX2 tile keeps a panel in two 8-lane
//! registers, this one keeps twice the rows in as many registers, and so does twice the
//! work per instruction.
//!
//! Each output is the same sequential sum over `k` of fused multiply-adds as in the AVX2
//! tile, so the two give bit-identical results: which one runs depends only on the CPU.

use std::sync::atomic::{AtomicBool, Ordering};

static ALLOWED: AtomicBool = AtomicBool::new(true);

/// Whether the kernel runs its AVX-512 tile (the CPU has AVX-512F, and it is allowed).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        ALLOWED.load(Ordering::Relaxed)
            && std::is_x86_feature_detected!("avx512f")
            && super::kernel::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Allow the AVX-512 tile where the CPU has it (the default), or keep to AVX2: benchmarks
/// compare the two. Results are the same either way.
pub fn allow(yes: bool) {
    ALLOWED.store(yes, Ordering::Relaxed);
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use crate::dense::kernel::MR;
    use std::arch::x86_64::*;

    /// The lanes of the first `m` (at most 16) rows.
    #[inline(always)]
    fn lanes(m: usize) -> __mmask16 {
        if m >= MR {
            0xFFFF
        } else {
            ((1u32 << m) - 1) as __mmask16
        }
    }

    /// One `m x N` tile of `C (+)= A B` (`m` up to 32 rows) over `kc` steps of depth:
    /// - `A(i, p)` at `a0[p * 16 + i]` for rows `i < 16`, at `a1[p * 16 + i - 16]` for the
    ///   rest (packed panels, zero-padded to 16 values; `a1` is not read when `m <= 16`);
    /// - `B(p, j)` at `b[p * sbk + j * sbj]` (its values are broadcast);
    /// - `C(i, j)` at `c0[j * scj + i]` for `i < 16`, at `c1[j * scj + i - 16]` for the rest;
    ///   only rows `i < m` are read or written.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub unsafe fn tile<const N: usize>(
        kc: usize,
        a0: *const f32,
        a1: *const f32,
        b: *const f32,
        sbk: usize,
        sbj: usize,
        c0: *mut f32,
        c1: *mut f32,
        scj: usize,
        m: usize,
        accumulate: bool,
    ) {
        let k0 = lanes(m.min(MR));
        let k1 = lanes(m.saturating_sub(MR));
        let two = m > MR;
        let mut acc0 = [_mm512_setzero_ps(); N];
        let mut acc1 = [_mm512_setzero_ps(); N];
        if accumulate {
            for j in 0..N {
                acc0[j] = _mm512_maskz_loadu_ps(k0, c0.add(j * scj));
                if two {
                    acc1[j] = _mm512_maskz_loadu_ps(k1, c1.add(j * scj));
                }
            }
        }
        let mut bp = [b; N];
        for (j, p) in bp.iter_mut().enumerate() {
            *p = b.add(j * sbj);
        }
        if two {
            for p in 0..kc {
                let x0 = _mm512_loadu_ps(a0.add(p * MR));
                let x1 = _mm512_loadu_ps(a1.add(p * MR));
                let off = p * sbk;
                for j in 0..N {
                    let bb = _mm512_set1_ps(*bp[j].add(off));
                    acc0[j] = _mm512_fmadd_ps(x0, bb, acc0[j]);
                    acc1[j] = _mm512_fmadd_ps(x1, bb, acc1[j]);
                }
            }
        } else {
            for p in 0..kc {
                let x0 = _mm512_loadu_ps(a0.add(p * MR));
                let off = p * sbk;
                for j in 0..N {
                    let bb = _mm512_set1_ps(*bp[j].add(off));
                    acc0[j] = _mm512_fmadd_ps(x0, bb, acc0[j]);
                }
            }
        }
        for j in 0..N {
            _mm512_mask_storeu_ps(c0.add(j * scj), k0, acc0[j]);
            if two {
                _mm512_mask_storeu_ps(c1.add(j * scj), k1, acc1[j]);
            }
        }
    }

    /// [`tile`] for `n` (1 to 6) columns of `B` and `C`.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tile_n(
        n: usize,
        kc: usize,
        a0: *const f32,
        a1: *const f32,
        b: *const f32,
        sbk: usize,
        sbj: usize,
        c0: *mut f32,
        c1: *mut f32,
        scj: usize,
        m: usize,
        accumulate: bool,
    ) {
        macro_rules! go {
            ($n:literal) => {
                tile::<$n>(kc, a0, a1, b, sbk, sbj, c0, c1, scj, m, accumulate)
            };
        }
        match n {
            6 => go!(6),
            5 => go!(5),
            4 => go!(4),
            3 => go!(3),
            2 => go!(2),
            1 => go!(1),
            _ => {}
        }
    }
}

/// Off x86-64 the tile is never called ([`available`] is false): an empty stand-in.
#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments, clippy::missing_safety_doc)]
pub(crate) mod x86 {
    pub unsafe fn tile_n(
        _: usize,
        _: usize,
        _: *const f32,
        _: *const f32,
        _: *const f32,
        _: usize,
        _: usize,
        _: *mut f32,
        _: *mut f32,
        _: usize,
        _: usize,
        _: bool,
    ) {
    }
}
