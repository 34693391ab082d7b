//! The pieces the attention layers share: the projections, Keras's masked softmax (vectorized)
//! and its backward pass, the check of sequence inputs, and a call's output packed with its
//! attention scores.

use super::{shape_error, shape_string, Shape, Tensor};
use crate::error::RkResult;
use crate::tensor::{matmul, Trans};

/// Keras's large negative score of a masked position (float32).
const MASKED: f32 = -1e9;

/// `x [rows, din] w [din, dout] (+ b)`.
pub(super) fn project(
    x: &[f32],
    rows: usize,
    w: &[f32],
    b: Option<&[f32]>,
    dout: usize,
    threads: usize,
) -> Vec<f32> {
    let din = w.len() / dout.max(1);
    let mut y = super::zeros(rows * dout);
    matmul(
        rows,
        dout,
        din,
        x,
        Trans::N,
        w,
        Trans::N,
        &mut y,
        false,
        threads,
    );
    if let Some(b) = b {
        for r in y.chunks_exact_mut(dout) {
            r.iter_mut().zip(b).for_each(|(v, b)| *v += b);
        }
    }
    y
}

/// Each of `items` (an input's name and per-sample shape) is `(steps, features)`, or an
/// error naming the layer and the input.
pub(super) fn check_sequences(name: &str, items: &[(&str, &Shape)]) -> RkResult<()> {
    for (what, s) in items {
        if s.len() != 2 {
            return Err(shape_error(
                name,
                format!(
                    "expects a {what} of shape (batch, steps, features), got {}",
                    shape_string(s)
                ),
            ));
        }
    }
    Ok(())
}

/// A call's output (`wy` values per sample) and its attention scores (`wp`) side by side
/// per sample, as a call with two outputs holds them.
pub(super) fn pack_outputs(
    n: usize,
    y: &[f32],
    wy: usize,
    p: &[f32],
    wp: usize,
) -> RkResult<Tensor> {
    let mut packed = super::zeros(n * (wy + wp));
    for (b, dst) in packed.chunks_exact_mut(wy + wp).enumerate() {
        dst[..wy].copy_from_slice(&y[b * wy..(b + 1) * wy]);
        dst[wy..].copy_from_slice(&p[b * wp..(b + 1) * wp]);
    }
    super::tensor(n, &[wy + wp], packed)
}

/// The gradient of a packed output split into the output's and the scores'.
pub(super) fn unpack_grads(g: &[f32], wy: usize, wp: usize) -> (Vec<f32>, Vec<f32>) {
    let n = g.len() / (wy + wp).max(1);
    let (mut gy, mut gp) = (Vec::with_capacity(n * wy), Vec::with_capacity(n * wp));
    for r in g.chunks_exact(wy + wp) {
        gy.extend_from_slice(&r[..wy]);
        gp.extend_from_slice(&r[wy..]);
    }
    (gy, gp)
}

/// Softmax of each row of `p [rows, s]` in place, with Keras's masking when `keep` is given.
pub(super) fn masked_softmax(p: &mut [f32], s: usize, keep: Option<&[bool]>) {
    for (i, row) in p.chunks_exact_mut(s).enumerate() {
        let keep = keep.map(|k| &k[i * s..(i + 1) * s]);
        if let Some(k) = keep {
            row.iter_mut().zip(k).for_each(|(v, &k)| {
                if !k {
                    *v = MASKED;
                }
            });
        }
        softmax_row_fast(row);
        if let Some(k) = keep {
            row.iter_mut().zip(k).for_each(|(v, &k)| {
                if !k {
                    *v = 0.0;
                }
            });
        }
    }
}

/// Softmax of one row in place, `exp(x - max) / sum`, in 16 lanes: with AVX-512 where the CPU
/// has it (one register per 16 lanes), else with AVX2 or the baseline.
fn softmax_row_fast(row: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") && crate::dense::wide::available() {
            // SAFETY: the feature was detected on this CPU just above.
            unsafe { softmax_row_avx512(row) };
            return;
        }
    }
    softmax_row_v3(row);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn softmax_row_avx512(row: &mut [f32]) {
    softmax_row_body(row)
}

crate::simd::multiversion! {
    fn softmax_row_v3(row: &mut [f32]) {
        softmax_row_body(row)
    }
}

#[inline(always)]
fn softmax_row_body(row: &mut [f32]) {
    const L: usize = 16;
    // The last partial chunk is padded to a whole one, so every lane runs vectorized.
    let pad = |rem: &[f32], fill: f32| {
        let mut buf = [fill; L];
        buf[..rem.len()].copy_from_slice(rem);
        buf
    };
    let mut mx = [f32::NEG_INFINITY; L];
    let mut chunks = row.chunks_exact(L);
    for c in &mut chunks {
        for i in 0..L {
            if c[i] > mx[i] {
                mx[i] = c[i];
            }
        }
    }
    let last = pad(chunks.remainder(), f32::NEG_INFINITY);
    for i in 0..L {
        if last[i] > mx[i] {
            mx[i] = last[i];
        }
    }
    let mut m = f32::NEG_INFINITY;
    for v in mx {
        if v > m {
            m = v;
        }
    }
    let mut acc = [0.0f32; L];
    let mut chunks = row.chunks_exact_mut(L);
    for c in &mut chunks {
        for i in 0..L {
            let e = crate::layers::gates::exp_fast(c[i] - m);
            c[i] = e;
            acc[i] += e;
        }
    }
    let rem = chunks.into_remainder();
    let r = rem.len();
    if r > 0 {
        let x = pad(rem, m);
        let mut e = [0.0f32; L];
        for i in 0..L {
            e[i] = crate::layers::gates::exp_fast(x[i] - m);
        }
        e[r..].fill(0.0);
        for i in 0..L {
            acc[i] += e[i];
        }
        rem.copy_from_slice(&e[..r]);
    }
    let inv = 1.0 / acc.iter().sum::<f32>();
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// Softmax backward in place: `dp [rows, s]` becomes `p * (dp - rowsum(p * dp))`.
pub(super) fn softmax_backward(p: &[f32], dp: &mut [f32], s: usize) {
    for (pr, dr) in p.chunks_exact(s).zip(dp.chunks_exact_mut(s)) {
        let dot: f32 = pr.iter().zip(dr.iter()).map(|(a, b)| a * b).sum();
        dr.iter_mut()
            .zip(pr)
            .for_each(|(d, &p)| *d = p * (*d - dot));
    }
}
