//! The inference kernel: dense layers on tiles of rows with AVX2 + FMA.
//!
//! Activations are kept *panel-major*: rows in blocks of `MR` = 16, and inside a block, each
//! column's 16 values are contiguous (`[block][column][16]`). That is R's column-major layout
//! cut into blocks of rows, so the input converts into it with contiguous loads and stores,
//! and it is also what the micro-kernel reads (two 8-lane vectors per column) and writes: a
//! layer's output is the next layer's input as it lies, with no repacking between layers.
//! Weights are packed once per call into panels of `NR` = 6 columns.
//!
//! Each output is a plain sequential sum over `k` of fused multiply-adds, whatever the tile
//! or thread, so results do not depend on the thread count.

use crate::activations::Act;

/// Rows per block (two 8-lane vectors).
pub const MR: usize = 16;
/// Columns per weight panel (broadcast one at a time).
pub const NR: usize = 6;
/// Depth of one pass over the weights (a weight panel of `KC x NR` stays in L1).
pub(crate) const KC: usize = 256;

/// Whether this CPU runs the kernel (otherwise callers use the portable path).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Dense weights `[k, n]` (row-major) packed in panels of `NR` columns: panel `j` holds,
/// for each `p` in `0..k`, the weights `w[p, j*NR..j*NR+NR]` (zero past `n`).
#[derive(Clone, Debug, Default)]
pub struct PackedWeights {
    pub k: usize,
    pub n: usize,
    pub panels: usize,
    pub data: Vec<f32>,
}

impl PackedWeights {
    pub fn new(w: &[f32], k: usize, n: usize) -> PackedWeights {
        let panels = n.div_ceil(NR);
        let mut data = vec![0.0f32; panels * k * NR];
        for (j, panel) in data.chunks_exact_mut(k * NR).enumerate() {
            let c0 = j * NR;
            let w_cols = (n - c0).min(NR);
            for (p, dst) in panel.chunks_exact_mut(NR).enumerate() {
                dst[..w_cols].copy_from_slice(&w[p * n + c0..p * n + c0 + w_cols]);
            }
        }
        PackedWeights { k, n, panels, data }
    }

    /// Columns of the panel-major output (`n` rounded up to whole panels).
    pub fn padded(&self) -> usize {
        self.panels * NR
    }
}

/// Index of row `r`, column `c` in a panel-major buffer with `cols` columns per block.
#[inline(always)]
pub fn at(r: usize, c: usize, cols: usize) -> usize {
    (r / MR) * cols * MR + c * MR + r % MR
}

/// `c = a w` for `blocks` blocks of rows: `a` panel-major with `a_cols` columns per block (the
/// first `w.k` are used), `c` panel-major with `w.padded()` columns per block.
pub fn dense(blocks: usize, a: &[f32], a_cols: usize, w: &PackedWeights, c: &mut [f32]) {
    let cols = w.padded();
    assert!(a_cols >= w.k && a.len() >= blocks * a_cols * MR && c.len() >= blocks * cols * MR);
    assert!(available(), "the AVX2 kernel needs AVX2 and FMA");
    if super::wide::available() {
        // SAFETY: as below; the AVX-512 tile reads and writes the same places, two blocks
        // of rows at a time (the second only when it exists).
        unsafe { dense_wide(blocks, a, a_cols, w, c) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the features were checked just above; every pointer below stays inside the
    // lengths asserted above (blocks of `a_cols * MR` and `cols * MR`, panels of `k * NR`).
    unsafe {
        let mut k0 = 0;
        while k0 < w.k {
            let kc = KC.min(w.k - k0);
            for i in 0..blocks {
                let ap = a.as_ptr().add(i * a_cols * MR + k0 * MR);
                for j in 0..w.panels {
                    let wp = w.data.as_ptr().add((j * w.k + k0) * NR);
                    let cp = c.as_mut_ptr().add(i * cols * MR + j * NR * MR);
                    avx2::micro(kc, ap, wp, cp, k0 > 0);
                }
            }
            k0 += kc;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (blocks, a, c);
}

/// [`dense`] on the AVX-512 tile: two blocks of rows per tile, over half the depth at a time
/// (two blocks of `A` and the weight panel stay in L1).
///
/// # Safety
/// The CPU has AVX-512F, and the lengths are those [`dense`] asserts.
unsafe fn dense_wide(blocks: usize, a: &[f32], a_cols: usize, w: &PackedWeights, c: &mut [f32]) {
    let cols = w.padded();
    let mut k0 = 0;
    while k0 < w.k {
        let kc = (KC / 2).min(w.k - k0);
        for i in (0..blocks).step_by(2) {
            let two = i + 1 < blocks;
            let a0 = a.as_ptr().add(i * a_cols * MR + k0 * MR);
            let a1 = if two { a0.add(a_cols * MR) } else { a0 };
            for j in 0..w.panels {
                let wp = w.data.as_ptr().add((j * w.k + k0) * NR);
                let c0 = c.as_mut_ptr().add(i * cols * MR + j * NR * MR);
                let c1 = if two { c0.add(cols * MR) } else { c0 };
                let rows = if two { 2 * MR } else { MR };
                super::wide::x86::tile_n(NR, kc, a0, a1, wp, NR, 1, c0, c1, MR, rows, k0 > 0);
            }
        }
        k0 += kc;
    }
}

/// `C (+)= A B` over the 16-row panels of `A` (`rows` rows in all; `a(q)` is where panel `q`
/// starts, `c(q)` where its rows go in `C`, whose columns are `scj` apart), for `n` (at most
/// `NR`) columns of `B` at `b[p * sbk + j * sbj]`: on AVX-512, two panels per tile.
///
/// # Safety
/// The CPU has AVX2 and FMA (and AVX-512F when `wide`), and every panel, row and column named
/// lies inside its buffer.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn panel_tiles(
    wide: bool,
    rows: usize,
    n: usize,
    kc: usize,
    a: impl Fn(usize) -> *const f32,
    b: *const f32,
    sbk: usize,
    sbj: usize,
    c: impl Fn(usize) -> *mut f32,
    scj: usize,
    accumulate: bool,
) {
    let panels = rows.div_ceil(MR);
    if wide {
        for q in (0..panels).step_by(2) {
            let m = (rows - q * MR).min(2 * MR);
            let two = m > MR;
            let (a1, c1) = if two {
                (a(q + 1), c(q + 1))
            } else {
                (a(q), c(q))
            };
            super::wide::x86::tile_n(n, kc, a(q), a1, b, sbk, sbj, c(q), c1, scj, m, accumulate);
        }
    } else {
        for q in 0..panels {
            avx2::tile_n(
                n,
                kc,
                a(q),
                b,
                sbk,
                sbj,
                c(q),
                scj,
                rows - q * MR,
                accumulate,
            );
        }
    }
}

/// Add `bias` and apply an elementwise `act` in place on the first `n` columns of a
/// panel-major buffer (`cols` columns per block).
pub fn bias_act(
    c: &mut [f32],
    blocks: usize,
    cols: usize,
    n: usize,
    bias: Option<&[f32]>,
    act: Act,
) {
    for blk in c.chunks_exact_mut(cols * MR).take(blocks) {
        for (col, v) in blk.chunks_exact_mut(MR).take(n).enumerate() {
            let b = bias.map_or(0.0, |b| b[col]);
            match act {
                Act::Relu => v.iter_mut().for_each(|x| *x = (*x + b).max(0.0)),
                Act::Linear => v.iter_mut().for_each(|x| *x += b),
                _ => v.iter_mut().for_each(|x| *x = act.scalar(*x + b)),
            }
        }
    }
}

/// Rows `0..rows` of the first `n` columns of a panel-major buffer into row-major `out`.
pub fn to_rows(c: &[f32], cols: usize, rows: usize, n: usize, out: &mut [f32]) {
    for (r, o) in out.chunks_exact_mut(n).take(rows).enumerate() {
        for (col, x) in o.iter_mut().enumerate() {
            *x = c[at(r, col, cols)];
        }
    }
}

crate::simd::multiversion! {
    /// Row-major `src` (`rows x n`) into the first `n` columns of a panel-major buffer with
    /// `cols` columns per block; rows past `rows` in the last block are zero.
    pub fn from_rows(src: &[f32], rows: usize, n: usize, cols: usize, c: &mut [f32]) {
        for (b, blk) in c.chunks_exact_mut(cols * MR).take(rows.div_ceil(MR)).enumerate() {
            for r in 0..MR {
                let row = b * MR + r;
                if row < rows {
                    for (col, &x) in src[row * n..row * n + n].iter().enumerate() {
                        blk[col * MR + r] = x;
                    }
                } else {
                    (0..n).for_each(|col| blk[col * MR + r] = 0.0);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use super::{MR, NR};
    use std::arch::x86_64::*;

    /// `c (+)= a w` for one block: `a` is `kc x MR` (16 rows per step of k), `w` is
    /// `kc x NR`, `c` is `NR` columns of `MR` rows.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn micro(kc: usize, a: *const f32, w: *const f32, c: *mut f32, accumulate: bool) {
        tile::<NR>(kc, a, w, NR, 1, c, MR, MR, accumulate);
    }

    /// One `16 x N` tile of `C (+)= A B` over `kc` steps of depth, each output a sequential
    /// sum of fused multiply-adds in the order of `p`:
    /// - `A(i, p)` at `a[p * 16 + i]` (a packed panel, zero-padded to 16 values);
    /// - `B(p, j)` at `b[p * sbk + j * sbj]` (any layout: its values are broadcast);
    /// - `C(i, j)` at `c[j * scj + i]`; only `i < m` is read or written.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub unsafe fn tile<const N: usize>(
        kc: usize,
        a: *const f32,
        b: *const f32,
        sbk: usize,
        sbj: usize,
        c: *mut f32,
        scj: usize,
        m: usize,
        accumulate: bool,
    ) {
        let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let m = m.min(MR) as i32;
        let mask0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(m), lane);
        let mask1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(m - 8), lane);
        let full = m == MR as i32;
        let mut acc = [[_mm256_setzero_ps(); 2]; N];
        if accumulate {
            for (j, v) in acc.iter_mut().enumerate() {
                let cj = c.add(j * scj);
                if full {
                    v[0] = _mm256_loadu_ps(cj);
                    v[1] = _mm256_loadu_ps(cj.add(8));
                } else {
                    v[0] = _mm256_maskload_ps(cj, mask0);
                    v[1] = _mm256_maskload_ps(cj.add(8), mask1);
                }
            }
        }
        let mut bp = [b; N];
        for (j, p) in bp.iter_mut().enumerate() {
            *p = b.add(j * sbj);
        }
        for p in 0..kc {
            let a0 = _mm256_loadu_ps(a.add(p * MR));
            let a1 = _mm256_loadu_ps(a.add(p * MR + 8));
            let off = p * sbk;
            for (j, v) in acc.iter_mut().enumerate() {
                let bb = _mm256_broadcast_ss(&*bp[j].add(off));
                v[0] = _mm256_fmadd_ps(a0, bb, v[0]);
                v[1] = _mm256_fmadd_ps(a1, bb, v[1]);
            }
        }
        for (j, v) in acc.iter().enumerate() {
            let cj = c.add(j * scj);
            if full {
                _mm256_storeu_ps(cj, v[0]);
                _mm256_storeu_ps(cj.add(8), v[1]);
            } else {
                _mm256_maskstore_ps(cj, mask0, v[0]);
                _mm256_maskstore_ps(cj.add(8), mask1, v[1]);
            }
        }
    }

    /// `dst[o * 16 + t] = w[t * ld + o]` for `o < n`, `t < rows` (at most 16), and zero for
    /// `rows <= t < 16`: 16 rows of a row-major matrix into one column-interleaved panel.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn transpose_panel(w: *const f32, ld: usize, rows: usize, n: usize, dst: *mut f32) {
        let mut o0 = 0;
        while o0 + 8 <= n {
            for h in 0..2 {
                let mut r = [_mm256_setzero_ps(); 8];
                for (t, v) in r.iter_mut().enumerate() {
                    if h * 8 + t < rows {
                        *v = _mm256_loadu_ps(w.add((h * 8 + t) * ld + o0));
                    }
                }
                let t0 = _mm256_unpacklo_ps(r[0], r[1]);
                let t1 = _mm256_unpackhi_ps(r[0], r[1]);
                let t2 = _mm256_unpacklo_ps(r[2], r[3]);
                let t3 = _mm256_unpackhi_ps(r[2], r[3]);
                let t4 = _mm256_unpacklo_ps(r[4], r[5]);
                let t5 = _mm256_unpackhi_ps(r[4], r[5]);
                let t6 = _mm256_unpacklo_ps(r[6], r[7]);
                let t7 = _mm256_unpackhi_ps(r[6], r[7]);
                let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
                let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
                let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
                let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
                let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
                let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
                let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
                let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
                let cols = [
                    _mm256_permute2f128_ps::<0x20>(u0, u4),
                    _mm256_permute2f128_ps::<0x20>(u1, u5),
                    _mm256_permute2f128_ps::<0x20>(u2, u6),
                    _mm256_permute2f128_ps::<0x20>(u3, u7),
                    _mm256_permute2f128_ps::<0x31>(u0, u4),
                    _mm256_permute2f128_ps::<0x31>(u1, u5),
                    _mm256_permute2f128_ps::<0x31>(u2, u6),
                    _mm256_permute2f128_ps::<0x31>(u3, u7),
                ];
                for (u, c) in cols.iter().enumerate() {
                    _mm256_storeu_ps(dst.add((o0 + u) * MR + h * 8), *c);
                }
            }
            o0 += 8;
        }
        for o in o0..n {
            for t in 0..MR {
                *dst.add(o * MR + t) = if t < rows { *w.add(t * ld + o) } else { 0.0 };
            }
        }
    }

    /// [`tile`] for `n` (1 to 6) columns of `B` and `C`.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tile_n(
        n: usize,
        kc: usize,
        a: *const f32,
        b: *const f32,
        sbk: usize,
        sbj: usize,
        c: *mut f32,
        scj: usize,
        m: usize,
        accumulate: bool,
    ) {
        match n {
            6 => tile::<6>(kc, a, b, sbk, sbj, c, scj, m, accumulate),
            5 => tile::<5>(kc, a, b, sbk, sbj, c, scj, m, accumulate),
            4 => tile::<4>(kc, a, b, sbk, sbj, c, scj, m, accumulate),
            3 => tile::<3>(kc, a, b, sbk, sbj, c, scj, m, accumulate),
            2 => tile::<2>(kc, a, b, sbk, sbj, c, scj, m, accumulate),
            1 => tile::<1>(kc, a, b, sbk, sbj, c, scj, m, accumulate),
            _ => {}
        }
    }
}

/// Off x86-64 the kernel is never called ([`available`] is false): empty stand-ins.
#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments, clippy::missing_safety_doc)]
pub(crate) mod avx2 {
    pub unsafe fn transpose_panel(_: *const f32, _: usize, _: usize, _: usize, _: *mut f32) {}
    pub unsafe fn tile_n(
        _: usize,
        _: usize,
        _: *const f32,
        _: *const f32,
        _: usize,
        _: usize,
        _: *mut f32,
        _: usize,
        _: usize,
        _: bool,
    ) {
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_matches_naive_with_padding_and_depth_blocks() {
        if !available() {
            crate::testing::skip(
                "dense_matches_naive_with_padding_and_depth_blocks",
                "no AVX2 + FMA",
            );
            return;
        }
        for &(rows, k, n) in &[(37usize, 300usize, 13usize), (16, 5, 6), (3, 784, 10)] {
            let blocks = rows.div_ceil(MR);
            let (x, w) = crate::testing::operands(rows, k, n);
            let mut a = vec![0.0f32; blocks * k * MR];
            from_rows(&x, rows, k, k, &mut a);
            let pw = PackedWeights::new(&w, k, n);
            let mut c = vec![f32::NAN; blocks * pw.padded() * MR];
            dense(blocks, &a, k, &pw, &mut c);
            let mut got = vec![0.0f32; rows * n];
            to_rows(&c, pw.padded(), rows, n, &mut got);
            crate::testing::assert_product(&x, &w, rows, k, n, &got);
        }
    }

    #[test]
    fn the_avx512_tile_gives_the_avx2_bits() {
        if !crate::dense::wide::available() {
            // Without AVX-512F the wide tile never runs: there is nothing to compare.
            eprintln!("the_avx512_tile_gives_the_avx2_bits: this CPU has no AVX-512F; only the AVX2 tile runs here");
            return;
        }
        for &(rows, k, n) in &[
            (37usize, 300usize, 13usize),
            (16, 5, 6),
            (3, 784, 10),
            (64, 513, 128),
        ] {
            let blocks = rows.div_ceil(MR);
            let (x, w) = crate::testing::operands(rows, k, n);
            let mut a = vec![0.0f32; blocks * k * MR];
            from_rows(&x, rows, k, k, &mut a);
            let pw = PackedWeights::new(&w, k, n);
            let run = || {
                let mut c = vec![f32::NAN; blocks * pw.padded() * MR];
                dense(blocks, &a, k, &pw, &mut c);
                let mut got = vec![0.0f32; rows * n];
                to_rows(&c, pw.padded(), rows, n, &mut got);
                got
            };
            let wide = run();
            crate::dense::wide::allow(false);
            let narrow = run();
            crate::dense::wide::allow(true);
            assert_eq!(wide, narrow, "{rows}x{k}x{n}");
            crate::testing::assert_product(&x, &w, rows, k, n, &wide);
        }
    }

    #[test]
    fn bias_act_touches_only_real_columns() {
        let cols = 12;
        let mut c = vec![-1.0f32; cols * MR];
        bias_act(&mut c, 1, cols, 10, Some(&[2.0; 10]), Act::Relu);
        assert!(c[..10 * MR].iter().all(|&v| v == 1.0));
        assert!(c[10 * MR..].iter().all(|&v| v == -1.0));
    }
}

#[cfg(test)]
mod speed {
    use super::*;

    /// `cargo test --release dense_speed -- --ignored --nocapture`: GFLOP/s of [`dense`] on one
    /// thread, at the seed MLP's first layer, for tiles of 128 rows.
    #[test]
    #[ignore]
    fn dense_speed() {
        if !available() {
            return;
        }
        let (rows, k, n) = (128usize, 784usize, 128usize);
        let blocks = rows.div_ceil(MR);
        let (x, w) = crate::testing::operands(rows, k, n);
        let mut a = vec![0.0f32; blocks * k * MR];
        from_rows(&x, rows, k, k, &mut a);
        let pw = PackedWeights::new(&w, k, n);
        let mut c = vec![0.0f32; blocks * pw.padded() * MR];
        for wide in [false, true] {
            crate::dense::wide::allow(wide);
            let reps = 2000;
            let t = std::time::Instant::now();
            for _ in 0..reps {
                dense(blocks, &a, k, &pw, &mut c);
            }
            let s = t.elapsed().as_secs_f64();
            let gf = 2.0 * (rows * k * n * reps) as f64 / s / 1e9;
            eprintln!("wide {wide}: {gf:.1} GFLOP/s");
        }
        crate::dense::wide::allow(true);
    }
}
