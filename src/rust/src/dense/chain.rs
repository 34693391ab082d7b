//! The dense plan's layers (run by `train.rs` and `infer.rs`). Every layer maps `[batch, in_dim]` to `[batch, out_dim]`
//! row-major buffers; the engine (`model.rs`) owns the buffers and calls these kernels.
//!
//! - dense: `a = act(x W + b)`, `W [in, units]`, `b [units]`; backward
//!   `dW = x' dz`, `db = colsum(dz)`, `dx = dz W'`.
//! - dropout: training `a = x * m`, `m_ij ∈ {0, 1 / (1 - rate)}`; identity in inference.
//! - activation: `a = act(x)`; flatten: identity on row-major samples.
//! - function: `a = f(x)`, a recorded function that keeps rows apart (`function.rs`).

use crate::activations::Act;
use crate::error::RkResult;
use crate::ops::OpGraph;
use crate::rng::Rng;
use crate::tensor::{matmul, Trans};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub enum Kind {
    Dense {
        units: usize,
        act: Act,
        use_bias: bool,
        l1: f32,
        l2: f32,
    },
    Dropout {
        rate: f32,
    },
    Activation {
        act: Act,
    },
    Flatten,
    /// A `layer_lambda()` whose function keeps rows apart, giving `out` values per row.
    Function {
        graph: Arc<OpGraph>,
        out: usize,
    },
}

#[derive(Clone, Debug)]
pub struct Layer {
    pub name: String,
    pub kind: Kind,
    /// The graph slot whose layer this is (whose weights a step borrows).
    pub slot: usize,
    pub in_dim: usize,
    pub kernel: Vec<f32>,
    pub bias: Vec<f32>,
    pub grad_kernel: Vec<f32>,
    pub grad_bias: Vec<f32>,
}

impl Layer {
    pub fn new(name: String, kind: Kind) -> Layer {
        Layer {
            name,
            kind,
            slot: 0,
            in_dim: 0,
            kernel: vec![],
            bias: vec![],
            grad_kernel: vec![],
            grad_bias: vec![],
        }
    }

    pub fn class_name(&self) -> &'static str {
        match self.kind {
            Kind::Dense { .. } => "Dense",
            Kind::Dropout { .. } => "Dropout",
            Kind::Activation { .. } => "Activation",
            Kind::Flatten => "Flatten",
            Kind::Function { .. } => "Lambda",
        }
    }

    pub fn out_dim(&self) -> usize {
        match self.kind {
            Kind::Dense { units, .. } => units,
            Kind::Function { out, .. } => out,
            _ => self.in_dim,
        }
    }

    /// The activation applied at the end of this layer, if any.
    pub fn activation(&self) -> Option<Act> {
        match &self.kind {
            Kind::Dense { act, .. } | Kind::Activation { act } => Some(*act),
            _ => None,
        }
    }

    pub fn n_params(&self) -> usize {
        self.kernel.len() + self.bias.len()
    }

    /// Size the gradient buffers for the weights a step borrows.
    pub fn size_grads(&mut self) {
        if let Kind::Dense {
            units, use_bias, ..
        } = self.kind
        {
            self.grad_kernel = vec![0.0; self.in_dim * units];
            self.grad_bias = vec![0.0; if use_bias { units } else { 0 }];
        }
    }

    /// Regularisation penalty `l1 sum|W| + l2 sum W^2`.
    pub fn penalty(&self) -> f64 {
        match self.kind {
            Kind::Dense { l1, l2, .. } if l1 != 0.0 || l2 != 0.0 => {
                penalty_sum(&self.kernel, l1 as f64, l2 as f64)
            }
            _ => 0.0,
        }
    }

    /// Forward pass of `rows` samples: `x [rows, in]` to `z` (pre-activation, dense only)
    /// and `a [rows, out]`. `mask` holds the dropout mask of this step.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        x: &[f32],
        z: &mut [f32],
        a: &mut [f32],
        mask: &mut [f32],
        rows: usize,
        training: bool,
        rng: &mut Rng,
        threads: usize,
    ) -> RkResult<()> {
        let (inp, out) = (self.in_dim, self.out_dim());
        match self.kind {
            Kind::Dense { act, use_bias, .. } => {
                matmul(
                    rows,
                    out,
                    inp,
                    x,
                    Trans::N,
                    &self.kernel,
                    Trans::N,
                    z,
                    false,
                    threads,
                );
                let bias = if use_bias { Some(&self.bias[..]) } else { None };
                act.forward_bias(&mut z[..rows * out], &mut a[..rows * out], bias, out);
            }
            Kind::Dropout { rate } => {
                let n = rows * out;
                if training && rate > 0.0 {
                    dropout_forward(
                        &x[..n],
                        &mut a[..n],
                        &mut mask[..n],
                        1.0 - rate,
                        rng.next_u64() as u32,
                        0,
                    );
                } else {
                    a[..n].copy_from_slice(&x[..n]);
                }
            }
            Kind::Activation { act } => act.forward(&x[..rows * out], &mut a[..rows * out], out),
            Kind::Flatten => a[..rows * out].copy_from_slice(&x[..rows * out]),
            Kind::Function { ref graph, .. } => {
                super::function::forward_rows(graph, x, rows, inp, &mut a[..rows * out])?
            }
        }
        Ok(())
    }

    /// Backward pass. `g_out` holds dL/da (or dL/dz when `fused`) and is used as
    /// scratch; writes parameter gradients and, when `g_in` is given, dL/dx.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &mut self,
        x: &[f32],
        z: &[f32],
        a: &[f32],
        mask: &[f32],
        g_out: &mut [f32],
        g_in: Option<&mut [f32]>,
        rows: usize,
        fused: bool,
        threads: usize,
    ) -> RkResult<()> {
        let (inp, out) = (self.in_dim, self.out_dim());
        let n = rows * out;
        match self.kind {
            Kind::Dense {
                act,
                use_bias,
                l1,
                l2,
                ..
            } => {
                if !fused {
                    act.backward(&z[..n], &a[..n], &mut g_out[..n], out);
                }
                matmul(
                    inp,
                    out,
                    rows,
                    x,
                    Trans::T,
                    g_out,
                    Trans::N,
                    &mut self.grad_kernel,
                    false,
                    threads,
                );
                add_penalty_grad(&mut self.grad_kernel, &self.kernel, l1, l2);
                if use_bias {
                    column_sums(&g_out[..n], out, &mut self.grad_bias);
                }
                if let Some(gi) = g_in {
                    matmul(
                        rows,
                        inp,
                        out,
                        g_out,
                        Trans::N,
                        &self.kernel,
                        Trans::T,
                        gi,
                        false,
                        threads,
                    );
                }
            }
            Kind::Dropout { .. } => {
                if let Some(gi) = g_in {
                    mul_into(&mut gi[..n], &g_out[..n], &mask[..n]);
                }
            }
            Kind::Activation { act } => {
                if !fused {
                    act.backward(&x[..n], &a[..n], &mut g_out[..n], out);
                }
                if let Some(gi) = g_in {
                    gi[..n].copy_from_slice(&g_out[..n]);
                }
            }
            Kind::Flatten => {
                if let Some(gi) = g_in {
                    gi[..n].copy_from_slice(&g_out[..n]);
                }
            }
            Kind::Function { ref graph, .. } => {
                if let Some(gi) = g_in {
                    let gi = &mut gi[..rows * inp];
                    let xy = (x, &a[..n]);
                    super::function::backward_rows(graph, xy, rows, inp, &g_out[..n], gi)?;
                }
            }
        }
        Ok(())
    }
}

/// The penalty `l1 sum|w| + l2 sum w^2` (of weights, or of a layer's output).
pub fn penalty_sum(w: &[f32], l1: f64, l2: f64) -> f64 {
    w.iter()
        .map(|&w| l1 * (w as f64).abs() + l2 * (w as f64) * (w as f64))
        .sum()
}

/// Add the gradient of the penalty `l1 sum|w| + l2 sum w^2` to `g` (nothing when both are 0).
pub fn add_penalty_grad(g: &mut [f32], w: &[f32], l1: f32, l2: f32) {
    if l1 != 0.0 || l2 != 0.0 {
        for (g, &w) in g.iter_mut().zip(w) {
            *g += l1 * w.signum() * (w != 0.0) as u8 as f32 + 2.0 * l2 * w;
        }
    }
}

crate::simd::multiversion! {
    /// Inverted dropout: keep each value with probability `keep`, scaled by `1 / keep`. The
    /// mask is a counter-based hash of (seed, position): vectorisable, and independent of how
    /// work is split between threads. `start` is the position of `x[0]` in the whole batch.
    pub fn dropout_forward(
        x: &[f32],
        a: &mut [f32],
        mask: &mut [f32],
        keep: f32,
        seed: u32,
        start: usize,
    ) {
        let scale = 1.0 / keep;
        let threshold = (keep as f64 * (1u64 << 24) as f64) as u32;
        let seed = hash32(seed ^ 0x9E37_79B9);
        let n = a.len().min(x.len()).min(mask.len());
        for i in 0..n {
            let h = hash32(((start + i) as u32).wrapping_mul(0x9E37_79B9) ^ seed);
            let m = if (h >> 8) < threshold { scale } else { 0.0 };
            mask[i] = m;
            a[i] = x[i] * m;
        }
    }
}

crate::simd::multiversion! {
    /// `out = g * m` elementwise.
    pub fn mul_into(out: &mut [f32], g: &[f32], m: &[f32]) {
        for ((d, &g), &m) in out.iter_mut().zip(g).zip(m) {
            *d = g * m;
        }
    }
}

/// A 32-bit integer hash with good avalanche (Chris Wellons's lowbias32).
#[inline(always)]
pub fn hash32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

crate::simd::multiversion! {
    /// `out[j] = sum_r g[r, j]` for a row-major `[rows, cols]` buffer.
    pub fn column_sums(g: &[f32], cols: usize, out: &mut [f32]) {
        out.fill(0.0);
        for gr in g.chunks_exact(cols) {
            out.iter_mut().zip(gr).for_each(|(b, g)| *b += g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::check_grad;

    fn dense(act: Act) -> Layer {
        let kind = Kind::Dense {
            units: 3,
            act,
            use_bias: true,
            l1: 0.01,
            l2: 0.02,
        };
        let mut l = Layer::new("dense".into(), kind);
        l.in_dim = 4;
        l.size_grads();
        l.kernel = (0..12).map(|i| ((i * 5 % 7) as f32 - 3.0) / 5.0).collect();
        l.bias = vec![0.1, -0.2, 0.3];
        l
    }

    /// L = sum(w * dense(x)) + penalty, with fixed output weights w.
    fn loss(l: &Layer, x: &[f32], w: &[f32], rows: usize) -> f64 {
        let mut z = vec![0.0; rows * 3];
        let mut a = vec![0.0; rows * 3];
        l.forward(x, &mut z, &mut a, &mut [], rows, false, &mut Rng::new(0), 1)
            .unwrap();
        a.iter()
            .zip(w)
            .map(|(a, w)| *a as f64 * *w as f64)
            .sum::<f64>()
            + l.penalty()
    }

    #[test]
    fn dense_gradients_match_finite_differences() {
        let rows = 5;
        let x: Vec<f32> = (0..rows * 4)
            .map(|i| ((i * 7 % 11) as f32 - 5.0) / 4.0 + 0.01)
            .collect();
        let w: Vec<f32> = (0..rows * 3)
            .map(|i| ((i * 5 % 7) as f32 - 3.0) / 3.0)
            .collect();
        for act in [Act::Linear, Act::Tanh, Act::Sigmoid, Act::Softmax, Act::Elu] {
            let mut l = dense(act);
            let mut z = vec![0.0; rows * 3];
            let mut a = vec![0.0; rows * 3];
            l.forward(
                &x,
                &mut z,
                &mut a,
                &mut [],
                rows,
                false,
                &mut Rng::new(0),
                1,
            )
            .unwrap();
            let mut g = w.clone();
            let mut gx = vec![0.0; rows * 4];
            l.backward(&x, &z, &a, &[], &mut g, Some(&mut gx), rows, false, 1)
                .unwrap();
            let name = format!("dense {act:?}");
            check_grad(&format!("{name} input"), &x, &gx, |xx| {
                loss(&l, xx, &w, rows)
            })
            .unwrap();
            let kernel = l.kernel.clone();
            let gk = l.grad_kernel.clone();
            check_grad(&format!("{name} kernel"), &kernel, &gk, |k| {
                let mut m = l.clone();
                m.kernel = k.to_vec();
                loss(&m, &x, &w, rows)
            })
            .unwrap();
            let bias = l.bias.clone();
            let gb = l.grad_bias.clone();
            check_grad(&format!("{name} bias"), &bias, &gb, |b| {
                let mut m = l.clone();
                m.bias = b.to_vec();
                loss(&m, &x, &w, rows)
            })
            .unwrap();
            // A deliberately wrong kernel gradient fails the same check.
            let mut wrong = gk.clone();
            wrong[2] += 0.05;
            assert!(check_grad("wrong", &kernel, &wrong, |k| {
                let mut m = l.clone();
                m.kernel = k.to_vec();
                loss(&m, &x, &w, rows)
            })
            .is_err());
        }
    }

    #[test]
    fn dropout_keeps_the_expected_fraction_and_scales() {
        let n = 100_000;
        let x = vec![1.0f32; n];
        let mut a = vec![0.0; n];
        let mut m = vec![0.0; n];
        dropout_forward(&x, &mut a, &mut m, 0.6, 12345, 0);
        let kept = m.iter().filter(|&&v| v > 0.0).count() as f64 / n as f64;
        assert!((kept - 0.6).abs() < 0.01, "{kept}");
        assert!(a.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.6).abs() < 1e-6));
        let mean = a.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        assert!(
            (mean - 1.0).abs() < 0.02,
            "inverted dropout keeps the mean: {mean}"
        );
        let mut m2 = vec![0.0; n];
        dropout_forward(&x, &mut a, &mut m2, 0.6, 12346, 0);
        assert_ne!(m, m2, "a new seed gives a new mask");
    }
}
