//! The geometry of sliding windows over channels-last samples (convolutions and pooling),
//! and the patch matrices that turn a convolution into one matrix product.
//!
//! A 1-d layer is the 2-d case with height 1. A window of `kh x kw` taps, `dh`/`dw` apart,
//! moves `sh`/`sw` positions per output; `pt`/`pl` zero rows/columns pad the top/left.
//!
//! `im2col` writes, for each output position `(b, oy, ox)`, the row of its window's values
//! in the order `(ky, kx, c)`: exactly the order of a Keras kernel `[kh, kw, in, out]` read
//! as a `[kh * kw * in, out]` matrix, so `patches x kernel` is the convolution.

use super::{field_or, shape_error, Shape};
use crate::error::{RkError, RkResult};
use rayon::prelude::*;
use serde_json::Value;

/// Keras's `padding`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Padding {
    Valid,
    Same,
    /// Conv1D only: pad the start by the window's extent less one.
    Causal,
}

impl Padding {
    pub fn parse(c: &Value, class: &str, causal_ok: bool) -> RkResult<Padding> {
        let p: String = field_or(c, class, "padding", "valid".to_string())?;
        match p.to_ascii_lowercase().as_str() {
            "valid" => Ok(Padding::Valid),
            "same" => Ok(Padding::Same),
            "causal" if causal_ok => Ok(Padding::Causal),
            other => Err(RkError::Spec(format!(
                "{class} `padding` must be \"valid\"{}, got \"{other}\"",
                if causal_ok {
                    ", \"same\" or \"causal\""
                } else {
                    " or \"same\""
                }
            ))),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Padding::Valid => "valid",
            Padding::Same => "same",
            Padding::Causal => "causal",
        }
    }
}

/// `n` positive integers from a config field given as one number or a list of `n`
/// (Keras's `kernel_size = 3` or `(3, 3)`); `default` when absent.
pub fn tuple_field(
    c: &Value,
    class: &str,
    key: &str,
    n: usize,
    default: Option<usize>,
) -> RkResult<Vec<usize>> {
    let bad = || {
        RkError::Spec(format!(
            "{class} `{key}` must be a positive integer or {n} of them"
        ))
    };
    let v = match c.get(key) {
        None | Some(Value::Null) => return default.map(|d| vec![d; n]).ok_or_else(bad),
        Some(v) => v,
    };
    let one = |v: &Value| {
        v.as_u64()
            .filter(|&k| k > 0 && k < (1 << 24))
            .map(|k| k as usize)
    };
    let out: Option<Vec<usize>> = match v {
        Value::Array(a) if a.len() == n => a.iter().map(one).collect(),
        Value::Array(a) if a.len() == 1 => one(&a[0]).map(|k| vec![k; n]),
        other => one(other).map(|k| vec![k; n]),
    };
    out.ok_or_else(bad)
}

/// Output length and padding before, along one axis.
fn axis(
    layer: &str,
    what: &str,
    n: usize,
    k: usize,
    s: usize,
    d: usize,
    padding: Padding,
) -> RkResult<(usize, usize)> {
    let keff = (k - 1) * d + 1;
    Ok(match padding {
        Padding::Valid => {
            if n < keff {
                return Err(shape_error(
                    layer,
                    format!(
                        "has a {what} of extent {keff} with padding \"valid\", larger than its input's size {n}"
                    ),
                ));
            }
            ((n - keff) / s + 1, 0)
        }
        Padding::Same => {
            let out = n.div_ceil(s);
            let total = ((out - 1) * s + keff).saturating_sub(n);
            (out, total / 2)
        }
        Padding::Causal => ((n - 1) / s + 1, keff - 1),
    })
}

/// Sliding windows over samples `[h, w, c]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Geometry {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub dh: usize,
    pub dw: usize,
    pub pt: usize,
    pub pl: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Geometry {
    /// Windows `k` (strides `s`, dilation `d`) over `[hw[0], hw[1], c]`; `what` names the
    /// window in errors ("kernel", "pool").
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        layer: &str,
        what: &str,
        hw: [usize; 2],
        c: usize,
        k: [usize; 2],
        s: [usize; 2],
        d: [usize; 2],
        padding: Padding,
    ) -> RkResult<Geometry> {
        let (oh, pt) = axis(layer, what, hw[0], k[0], s[0], d[0], padding)?;
        let (ow, pl) = axis(layer, what, hw[1], k[1], s[1], d[1], padding)?;
        Ok(Geometry {
            h: hw[0],
            w: hw[1],
            c,
            kh: k[0],
            kw: k[1],
            sh: s[0],
            sw: s[1],
            dh: d[0],
            dw: d[1],
            pt,
            pl,
            oh,
            ow,
        })
    }

    /// Values per input sample.
    pub fn in_len(&self) -> usize {
        self.h * self.w * self.c
    }
    /// Output positions per sample.
    pub fn positions(&self) -> usize {
        self.oh * self.ow
    }
    /// Length of one patch row: `kh * kw * c`.
    pub fn patch_len(&self) -> usize {
        self.kh * self.kw * self.c
    }
    /// Whether patches are the input itself (a 1x1 window, stride 1, no padding).
    pub fn identity(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.pt == 0 && self.pl == 0
    }

    /// Input row and column of tap `(ky, kx)` of output `(oy, ox)`, if inside the input.
    #[inline]
    pub fn tap(&self, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
        let iy = (oy * self.sh + ky * self.dh).checked_sub(self.pt)?;
        let ix = (ox * self.sw + kx * self.dw).checked_sub(self.pl)?;
        (iy < self.h && ix < self.w).then_some((iy, ix))
    }

    /// The input run read by row `ky` of the window of output `(oy, ox)`: `Some((iy, ix))`
    /// when its `kw` taps are adjacent and all inside the input (one contiguous copy of
    /// `kw * c` values from `(iy, ix)`), else `None` (tap by tap).
    #[inline]
    fn run(&self, oy: usize, ox: usize, ky: usize) -> Option<(usize, usize)> {
        if self.dw != 1 {
            return None;
        }
        let iy = (oy * self.sh + ky * self.dh).checked_sub(self.pt)?;
        let ix = (ox * self.sw).checked_sub(self.pl)?;
        (iy < self.h && ix + self.kw <= self.w).then_some((iy, ix))
    }

    /// Patch rows of `x` (`nb` samples) into `out` (`nb * positions` rows of `patch_len`).
    pub fn im2col(&self, x: &[f32], out: &mut [f32]) {
        let (c, plen, kwc) = (self.c, self.patch_len(), self.kw * self.c);
        let nb = x.len() / self.in_len();
        for b in 0..nb {
            let xs = &x[b * self.in_len()..(b + 1) * self.in_len()];
            for oy in 0..self.oh {
                for ox in 0..self.ow {
                    let row = (b * self.positions() + oy * self.ow + ox) * plen;
                    let row = &mut out[row..row + plen];
                    for ky in 0..self.kh {
                        let seg = &mut row[ky * kwc..(ky + 1) * kwc];
                        if let Some((iy, ix)) = self.run(oy, ox, ky) {
                            copy(seg, &xs[(iy * self.w + ix) * c..][..kwc]);
                            continue;
                        }
                        for kx in 0..self.kw {
                            let dst = &mut seg[kx * c..(kx + 1) * c];
                            match self.tap(oy, ox, ky, kx) {
                                Some((iy, ix)) => copy(dst, &xs[(iy * self.w + ix) * c..][..c]),
                                None => dst.fill(0.0),
                            }
                        }
                    }
                }
            }
        }
    }

    /// Add patch-row gradients `dp` back onto the input positions they were read from.
    pub fn col2im(&self, dp: &[f32], dx: &mut [f32]) {
        let (c, plen, kwc) = (self.c, self.patch_len(), self.kw * self.c);
        let nb = dx.len() / self.in_len();
        let add = |dst: &mut [f32], src: &[f32]| dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
        for b in 0..nb {
            let xs = &mut dx[b * self.in_len()..(b + 1) * self.in_len()];
            for oy in 0..self.oh {
                for ox in 0..self.ow {
                    let row = (b * self.positions() + oy * self.ow + ox) * plen;
                    let row = &dp[row..row + plen];
                    for ky in 0..self.kh {
                        let seg = &row[ky * kwc..(ky + 1) * kwc];
                        if let Some((iy, ix)) = self.run(oy, ox, ky) {
                            add(&mut xs[(iy * self.w + ix) * c..][..kwc], seg);
                            continue;
                        }
                        for kx in 0..self.kw {
                            if let Some((iy, ix)) = self.tap(oy, ox, ky, kx) {
                                add(
                                    &mut xs[(iy * self.w + ix) * c..][..c],
                                    &seg[kx * c..(kx + 1) * c],
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// Samples per block of work, so a block's patch matrix stays near `BLOCK_BYTES`.
    /// Depends on shapes only, so every thread count splits the work alike.
    pub fn block_samples(&self, batch: usize) -> usize {
        const BLOCK_BYTES: usize = 1 << 21;
        let per = (self.positions() * self.patch_len() * 4).max(1);
        (BLOCK_BYTES / per).clamp(1, batch.max(1))
    }
}

/// `dst = src`, inline for the short runs of few-channel inputs (a call to `memcpy` per
/// three values costs more than the copy).
#[inline(always)]
fn copy(dst: &mut [f32], src: &[f32]) {
    macro_rules! fixed {
        ($($n:literal)*) => {
            match dst.len() {
                $($n => {
                    let d: &mut [f32; $n] = dst.try_into().expect("length matched");
                    *d = src[..$n].try_into().expect("length matched");
                })*
                _ => dst.copy_from_slice(src),
            }
        };
    }
    fixed!(1 2 3 4 5 6 7 8 9);
}

thread_local! {
    /// Per-thread scratch buffers for blocks of work (patch matrices, pre-activations),
    /// reused across calls so they are neither allocated nor zeroed each time.
    static SCRATCH: std::cell::RefCell<[Vec<f32>; 2]> = const {
        std::cell::RefCell::new([Vec::new(), Vec::new()])
    };
}

/// Call `f` with two scratch buffers of lengths `n1` and `n2`. Their contents are
/// whatever an earlier call left: `f` must write before it reads. (A nested call on the
/// same thread, as when rayon runs another block while this one waits, gets fresh ones.)
pub fn with_scratch<T>(n1: usize, n2: usize, f: impl FnOnce(&mut [f32], &mut [f32]) -> T) -> T {
    let mut f = Some(f);
    let r = SCRATCH.with(|cell| {
        let Ok(mut bufs) = cell.try_borrow_mut() else {
            return None;
        };
        let [a, b] = &mut *bufs;
        for (v, n) in [(&mut *a, n1), (&mut *b, n2)] {
            if v.len() < n {
                v.resize(n, 0.0);
            }
        }
        let f = f.take().expect("called once");
        Some(f(&mut a[..n1], &mut b[..n2]))
    });
    match r {
        Some(r) => r,
        None => {
            let (mut a, mut b) = (super::zeros(n1), super::zeros(n2));
            (f.take().expect("not called"))(&mut a, &mut b)
        }
    }
}

/// One block's output through its epilogue: `f(scratch, z)` writes the block's
/// pre-activation `z` (with a scratch buffer of `n1` values), then `a = act(z + bias)` with
/// `cols` channels, then the inference plan's `steps` on `a`. `z` is `keep` when backward
/// needs it; otherwise `f` writes into `a`, and the epilogue runs in place.
pub fn with_epilogue(
    (act, bias): (crate::activations::Act, Option<&[f32]>),
    steps: &[super::Map],
    cols: usize,
    a: &mut [f32],
    keep: Option<&mut [f32]>,
    n1: usize,
    f: impl FnOnce(&mut [f32], &mut [f32]),
) {
    with_scratch(n1, 0, |p, _| {
        match keep {
            Some(z) => {
                f(p, z);
                act.forward_bias(z, a, bias, cols);
            }
            None => {
                f(p, a);
                act.bias_in_place(a, bias, cols);
            }
        }
        for step in steps {
            step(a, cols);
        }
    })
}

/// Run `f(first_sample, samples)` over blocks of `bs` samples, on the pool's threads when
/// `threads > 1`, returning the results in block order.
pub fn blocks<T: Send>(
    batch: usize,
    bs: usize,
    threads: usize,
    f: impl Fn(usize, usize) -> T + Sync + Send,
) -> Vec<T> {
    let starts: Vec<usize> = (0..batch).step_by(bs.max(1)).collect();
    let run = |&s: &usize| f(s, bs.min(batch - s));
    if threads > 1 && starts.len() > 1 {
        starts.par_iter().map(run).collect()
    } else {
        starts.iter().map(run).collect()
    }
}

/// A mutable buffer shared by blocks that write disjoint ranges of it.
pub struct Shared(*mut f32, usize);
// SAFETY: blocks write disjoint sample ranges only (see `slice`).
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}
impl Shared {
    pub fn new(v: &mut [f32]) -> Shared {
        Shared(v.as_mut_ptr(), v.len())
    }
    /// # Safety
    /// Callers take disjoint ranges.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, start: usize, len: usize) -> &mut [f32] {
        assert!(start + len <= self.1, "block range");
        std::slice::from_raw_parts_mut(self.0.add(start), len)
    }
}

/// `[h, w, c]` of a 2-d sample or `[1, w, c]` of a 1-d one, or an error naming the layer.
pub fn spatial(layer: &str, rank: usize, shape: &Shape) -> RkResult<[usize; 3]> {
    match (rank, shape.as_slice()) {
        (1, &[w, c]) => Ok([1, w, c]),
        (2, &[h, w, c]) => Ok([h, w, c]),
        _ => Err(shape_error(
            layer,
            format!(
                "expects samples of rank {} ({}), got shape {}",
                rank + 1,
                if rank == 1 {
                    "steps, channels"
                } else {
                    "rows, cols, channels"
                },
                super::shape_string(shape)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_splits_as_keras_and_valid_refuses_large_windows() {
        // in 5, k 3, s 2: out 3, total pad 2, 1 before.
        assert_eq!(
            axis("l", "kernel", 5, 3, 2, 1, Padding::Same).unwrap(),
            (3, 1)
        );
        // in 6, k 2, s 2: out 3, no pad. in 6, k 4, s 1: pad 3, 1 before (more after).
        assert_eq!(
            axis("l", "kernel", 6, 2, 2, 1, Padding::Same).unwrap(),
            (3, 0)
        );
        assert_eq!(
            axis("l", "kernel", 6, 4, 1, 1, Padding::Same).unwrap(),
            (6, 1)
        );
        assert_eq!(
            axis("l", "kernel", 7, 3, 1, 2, Padding::Valid).unwrap(),
            (3, 0)
        );
        assert_eq!(
            axis("l", "kernel", 7, 3, 1, 2, Padding::Causal).unwrap(),
            (7, 4)
        );
        let e = axis("conv", "kernel", 2, 3, 1, 1, Padding::Valid).unwrap_err();
        assert!(
            e.to_string().contains("larger than its input's size 2"),
            "{e}"
        );
    }

    #[test]
    fn im2col_reads_each_tap_of_each_window() {
        for (k, s, d, pad) in [
            ([3, 3], [1, 1], [1, 1], Padding::Valid),
            ([3, 2], [2, 1], [1, 1], Padding::Same),
            ([2, 3], [1, 2], [2, 1], Padding::Same),
            ([1, 3], [1, 1], [1, 2], Padding::Causal),
        ] {
            let g = Geometry::new("l", "k", [6, 7], 3, k, s, d, pad).unwrap();
            let x: Vec<f32> = (0..2 * g.in_len()).map(|i| i as f32 + 1.0).collect();
            let mut p = vec![-1.0; 2 * g.positions() * g.patch_len()];
            g.im2col(&x, &mut p);
            for b in 0..2 {
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        for ky in 0..g.kh {
                            for kx in 0..g.kw {
                                for ch in 0..g.c {
                                    let want = match g.tap(oy, ox, ky, kx) {
                                        Some((iy, ix)) => {
                                            x[b * g.in_len() + (iy * g.w + ix) * g.c + ch]
                                        }
                                        None => 0.0,
                                    };
                                    let row = b * g.positions() + oy * g.ow + ox;
                                    let col = (ky * g.kw + kx) * g.c + ch;
                                    assert_eq!(
                                        p[row * g.patch_len() + col],
                                        want,
                                        "{k:?} {s:?} {d:?}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        let g = Geometry::new("l", "k", [5, 4], 2, [3, 2], [2, 1], [1, 2], Padding::Same).unwrap();
        let x: Vec<f32> = (0..2 * g.in_len()).map(|i| (i % 7) as f32 - 3.0).collect();
        let mut p = vec![0.0; 2 * g.positions() * g.patch_len()];
        g.im2col(&x, &mut p);
        let q: Vec<f32> = (0..p.len()).map(|i| (i % 5) as f32 - 2.0).collect();
        let mut dx = vec![0.0; x.len()];
        g.col2im(&q, &mut dx);
        // <im2col(x), q> == <x, col2im(q)>
        let lhs: f32 = p.iter().zip(&q).map(|(a, b)| a * b).sum();
        let rhs: f32 = x.iter().zip(&dx).map(|(a, b)| a * b).sum();
        assert_eq!(lhs, rhs);
    }
}
