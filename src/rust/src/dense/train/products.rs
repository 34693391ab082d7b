//! The AVX2 kernel's products for training steps: row-by-panel products (`x W`, `dz W'`),
//! weight gradients (`dW = x' dz`), and packing weights into panels. See `train.rs` for the
//! layouts.

use super::BLOCK;
use crate::dense::kernel::{self, avx2, KC, MR, NR};
use rayon::prelude::*;

/// A buffer written by several workers at once, each in its own rows.
#[derive(Clone, Copy)]
pub struct Buf(*mut f32);
// SAFETY: every use below writes disjoint row ranges (phase 1: shards; phase 3: blocks), and
// reads only what an earlier phase finished writing.
unsafe impl Send for Buf {}
unsafe impl Sync for Buf {}

impl Buf {
    pub fn of(v: &mut [f32]) -> Buf {
        Buf(v.as_mut_ptr())
    }

    /// Rows `r0..r1` of a row-major buffer with `cols` columns.
    ///
    /// # Safety
    /// The rows exist and no one else uses them while the slice lives.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn rows<'a>(self, cols: usize, r0: usize, r1: usize) -> &'a mut [f32] {
        std::slice::from_raw_parts_mut(self.0.add(r0 * cols), (r1 - r0) * cols)
    }
}

/// `c = x P` for `n` rows: `x [n, k]` and `c [n, m]` row-major, `P [k, m]` packed in panels
/// of 16 columns (`p[(q * k + t) * 16 + i] = P[t, 16 q + i]`, zero past `m`). With `W` as
/// `fwd` this is a dense layer's `z = x W`; with `W` as `bwd`, its `dx = dz W'`.
pub fn rows_by_panels(x: &[f32], n: usize, k: usize, m: usize, p: &[f32], c: &mut [f32]) {
    assert!(
        kernel::available(),
        "the training kernel needs AVX2 and FMA"
    );
    assert!(x.len() >= n * k && c.len() >= n * m && p.len() >= m.div_ceil(MR) * k * MR);
    // SAFETY: AVX2 was checked just above; every tile reads `kc` steps inside a panel of
    // `k * MR` values and rows `j0..j0 + 6` (at most `n`) of `x` and `c`, asserted above.
    let wide = crate::dense::wide::available();
    let cp = c.as_mut_ptr();
    unsafe {
        let mut k0 = 0;
        while k0 < k {
            let kc = KC.min(k - k0);
            for j0 in (0..n).step_by(NR) {
                kernel::panel_tiles(
                    wide,
                    m,
                    NR.min(n - j0),
                    kc,
                    |q| p.as_ptr().add((q * k + k0) * MR),
                    x.as_ptr().add(j0 * k + k0),
                    1,
                    k,
                    |q| cp.add(j0 * m + q * MR),
                    m,
                    k0 > 0,
                );
            }
            k0 += kc;
        }
    }
}

/// Rows `m0..m1` of `dW = x' dz` (`[inp, out]`) into `dw` (those rows only): `x [rows, inp]`
/// row-major, `dz` packed as `dzt` with `cap` rows per panel.
#[allow(clippy::too_many_arguments)]
pub fn weight_grad(
    x: &[f32],
    rows: usize,
    inp: usize,
    out: usize,
    dzt: &[f32],
    cap: usize,
    m0: usize,
    m1: usize,
    dw: &mut [f32],
) {
    assert!(
        kernel::available(),
        "the training kernel needs AVX2 and FMA"
    );
    assert!(x.len() >= rows * inp && m1 <= inp && dw.len() >= (m1 - m0) * out);
    assert!(rows <= cap && dzt.len() >= out.div_ceil(MR) * cap * MR);
    if rows == 0 {
        dw.fill(0.0);
        return;
    }
    // The block's columns of `x`, six at a time, packed contiguously for the broadcasts.
    assert!(
        m1 - m0 <= BLOCK,
        "weight_grad works on blocks of at most BLOCK features"
    );
    // Every value the kernel reads is written first (a group of `nj < 6` columns is read
    // as `nj` columns), so the buffer needs no zeroing.
    let wide = crate::dense::wide::available();
    let dwp = dw.as_mut_ptr();
    let mut buf = std::mem::MaybeUninit::<[f32; KC * BLOCK]>::uninit();
    let panels = buf.as_mut_ptr() as *mut f32;
    let mut k0 = 0;
    while k0 < rows {
        let kc = KC.min(rows - k0);
        for p in 0..kc {
            let row = &x[(k0 + p) * inp + m0..(k0 + p) * inp + m1];
            // Whole groups as fixed-size moves (a copy of variable length is a call to
            // `memmove` per group), then the last partial group value by value.
            let mut groups = row.chunks_exact(NR);
            let full = groups.len();
            for (g, src) in (&mut groups).enumerate() {
                let src: [f32; NR] = src.try_into().expect("chunks_exact gives whole groups");
                // SAFETY: `g < BLOCK / NR` and `p < KC`: inside the buffer.
                unsafe { (panels.add((g * KC + p) * NR) as *mut [f32; NR]).write_unaligned(src) };
            }
            for (j, &v) in groups.remainder().iter().enumerate() {
                // SAFETY: as above, for the group after the whole ones (`j < NR`).
                unsafe { panels.add((full * KC + p) * NR + j).write(v) };
            }
        }
        // Each group of six columns stays in L1 while the panels of dz stream past it.
        for (g, j0) in (m0..m1).step_by(NR).enumerate() {
            // SAFETY: as in `rows_by_panels`: `kc` steps of `cap * MR` panels of `dzt` and
            // of a `KC x NR` panel (written above), and rows `j0..j0 + 6` (at most `m1`)
            // of the block `dw`.
            unsafe {
                kernel::panel_tiles(
                    wide,
                    out,
                    NR.min(m1 - j0),
                    kc,
                    |q| dzt.as_ptr().add((q * cap + k0) * MR),
                    panels.add(g * KC * NR),
                    NR,
                    1,
                    |q| dwp.add((j0 - m0) * out + q * MR),
                    out,
                    k0 > 0,
                );
            }
        }
        k0 += kc;
    }
}

/// `c = a b` on the kernel (`a [m, k]`, `b [k, n]`, `c [m, n]`, row-major), for benchmarks:
/// `b` packed into `packed` (a block of its rows per worker), then `a`'s rows in shards.
pub fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    packed: &mut Vec<f32>,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n && n > 0 && k > 0);
    packed.resize(n.div_ceil(MR) * k * MR, 0.0);
    let dst = Buf::of(packed);
    let threads = rayon::current_num_threads().max(1);
    let kb = k.div_ceil(threads);
    let blocks: Vec<usize> = (0..k).step_by(kb).collect();
    blocks
        .par_iter()
        .for_each(|&k0| pack_panels(&b[k0 * n..(k0 + kb).min(k) * n], n, k0, k, dst));
    let shard = m.div_ceil(threads).next_multiple_of(NR).max(NR);
    let packed = &packed[..];
    c[..m * n]
        .par_chunks_mut(shard * n)
        .zip(a[..m * k].par_chunks(shard * k))
        .for_each(|(c, a)| rows_by_panels(a, a.len() / k, k, n, packed, c));
}

/// `d = src` padded with zeros: one row of a 16-wide panel.
#[inline(always)]
fn put(d: &mut [f32], src: &[f32]) {
    if let (Ok(d), Ok(src)) = (
        <&mut [f32; MR]>::try_from(&mut d[..]),
        <&[f32; MR]>::try_from(src),
    ) {
        *d = *src;
    } else {
        for (i, x) in d.iter_mut().enumerate() {
            *x = src.get(i).copied().unwrap_or(0.0);
        }
    }
}

/// Rows `r0..` of a row-major matrix with `cols` columns (given as those rows, `src`) into
/// panels of 16 columns holding `stride` rows each: `dst[(q * stride + r) * 16 + i] =
/// M[r, 16 q + i]`, zero past `cols`. Weights `[inp, out]` with `stride = inp` give the `fwd`
/// layout; a batch's dL/dz with `stride = cap` gives `dzt`.
pub fn pack_panels(src: &[f32], cols: usize, r0: usize, stride: usize, dst: Buf) {
    let r1 = r0 + src.len() / cols;
    for q in 0..cols.div_ceil(MR) {
        let c0 = q * MR;
        let n = (cols - c0).min(MR);
        // SAFETY: rows r0..r1 of panel q (`stride * MR` values) belong to this caller.
        let d = unsafe { Buf(dst.0.add(q * stride * MR)).rows(MR, r0, r1) };
        for (row, d) in src.chunks_exact(cols).zip(d.chunks_exact_mut(MR)) {
            put(d, &row[c0..c0 + n]);
        }
    }
}

/// Rows `m0..` of `w [inp, out]` (given as those rows; `m0` a multiple of 16, and the rows
/// whole panels of 16 or the last ones) into the `bwd` layout.
pub fn pack_bwd(w: &[f32], inp: usize, out: usize, m0: usize, bwd: Buf) {
    assert!(
        kernel::available(),
        "the training kernel needs AVX2 and FMA"
    );
    let m1 = m0 + w.len() / out;
    debug_assert!(m0.is_multiple_of(MR) && (m1.is_multiple_of(MR) || m1 == inp));
    // SAFETY: panels m0/16..ceil(m1/16) (`out * MR` values each) belong to this block.
    let dst = unsafe { bwd.rows(out * MR, m0 / MR, m1.div_ceil(MR)) };
    for (k, panel) in dst.chunks_exact_mut(out * MR).enumerate() {
        let rows = (m1 - m0 - k * MR).min(MR);
        let src = &w[k * MR * out..(k * MR + rows) * out];
        // SAFETY: `transpose_panel` reads `rows` rows of `out` values (the slice `src`) and
        // writes `out * MR` values (the slice `panel`); AVX2 was checked above.
        unsafe { avx2::transpose_panel(src.as_ptr(), out, rows, out, panel.as_mut_ptr()) };
    }
}
