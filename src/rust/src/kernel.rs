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
const KC: usize = 256;

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
mod avx2 {
    use super::{MR, NR};
    use std::arch::x86_64::*;

    /// `c (+)= a w` for one block: `a` is `kc x MR` (16 rows per step of k), `w` is
    /// `kc x NR`, `c` is `NR` columns of `MR` rows.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn micro(kc: usize, a: *const f32, w: *const f32, c: *mut f32, accumulate: bool) {
        let mut acc = [[_mm256_setzero_ps(); 2]; NR];
        if accumulate {
            for (j, v) in acc.iter_mut().enumerate() {
                v[0] = _mm256_loadu_ps(c.add(j * MR));
                v[1] = _mm256_loadu_ps(c.add(j * MR + 8));
            }
        }
        for p in 0..kc {
            let a0 = _mm256_loadu_ps(a.add(p * MR));
            let a1 = _mm256_loadu_ps(a.add(p * MR + 8));
            let wp = w.add(p * NR);
            for (j, v) in acc.iter_mut().enumerate() {
                let b = _mm256_broadcast_ss(&*wp.add(j));
                v[0] = _mm256_fmadd_ps(a0, b, v[0]);
                v[1] = _mm256_fmadd_ps(a1, b, v[1]);
            }
        }
        for (j, v) in acc.iter().enumerate() {
            _mm256_storeu_ps(c.add(j * MR), v[0]);
            _mm256_storeu_ps(c.add(j * MR + 8), v[1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_matches_naive_with_padding_and_depth_blocks() {
        if !available() {
            return;
        }
        for &(rows, k, n) in &[(37usize, 300usize, 13usize), (16, 5, 6), (3, 784, 10)] {
            let blocks = rows.div_ceil(MR);
            let x: Vec<f32> = (0..rows * k)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 31.0)
                .collect();
            let w: Vec<f32> = (0..k * n)
                .map(|i| ((i * 13 % 29) as f32 - 14.0) / 9.0)
                .collect();
            let mut a = vec![0.0f32; blocks * k * MR];
            from_rows(&x, rows, k, k, &mut a);
            let pw = PackedWeights::new(&w, k, n);
            let mut c = vec![f32::NAN; blocks * pw.padded() * MR];
            dense(blocks, &a, k, &pw, &mut c);
            let mut got = vec![0.0f32; rows * n];
            to_rows(&c, pw.padded(), rows, n, &mut got);
            for r in 0..rows {
                for j in 0..n {
                    let want: f64 = (0..k)
                        .map(|p| x[r * k + p] as f64 * w[p * n + j] as f64)
                        .sum();
                    let g = got[r * n + j] as f64;
                    assert!(
                        (g - want).abs() <= 1e-4 * (1.0 + want.abs()),
                        "{rows}x{k}x{n} [{r},{j}]: {g} vs {want}"
                    );
                }
            }
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
