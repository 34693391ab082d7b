//! Activation functions applied row-wise to `[batch, units]` buffers, with their
//! gradients. Formulas follow Keras: elu alpha 1; selu alpha 1.6732632423543772,
//! scale 1.0507009873554805; gelu exact (erf); swish x * sigmoid(x).

use crate::error::{RkError, RkResult};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    Linear,
    Relu,
    Softmax,
    Sigmoid,
    Tanh,
    Elu,
    Selu,
    Softplus,
    Softsign,
    Swish,
    Gelu,
}

/// Run `$body` with `$f` bound to the activation's elementwise function for one variant at
/// a time, so that loops over `$f` are compiled per activation (no match per element).
macro_rules! per_act {
    ($act:expr, $f:ident => $body:expr) => {
        match $act {
            Act::Linear | Act::Softmax => {
                let $f = |x: f32| x;
                $body
            }
            Act::Relu => {
                let $f = |x: f32| Act::Relu.scalar(x);
                $body
            }
            Act::Sigmoid => {
                let $f = |x: f32| Act::Sigmoid.scalar(x);
                $body
            }
            Act::Tanh => {
                let $f = |x: f32| Act::Tanh.scalar(x);
                $body
            }
            Act::Elu => {
                let $f = |x: f32| Act::Elu.scalar(x);
                $body
            }
            Act::Selu => {
                let $f = |x: f32| Act::Selu.scalar(x);
                $body
            }
            Act::Softplus => {
                let $f = |x: f32| Act::Softplus.scalar(x);
                $body
            }
            Act::Softsign => {
                let $f = |x: f32| Act::Softsign.scalar(x);
                $body
            }
            Act::Swish => {
                let $f = |x: f32| Act::Swish.scalar(x);
                $body
            }
            Act::Gelu => {
                let $f = |x: f32| Act::Gelu.scalar(x);
                $body
            }
        }
    };
}

const SELU_ALPHA: f32 = 1.673_263_2;
const SELU_SCALE: f32 = 1.050_701;

impl Act {
    pub fn parse(name: &str) -> RkResult<Act> {
        Ok(match name {
            "linear" | "" => Act::Linear,
            "relu" => Act::Relu,
            "softmax" => Act::Softmax,
            "sigmoid" => Act::Sigmoid,
            "tanh" => Act::Tanh,
            "elu" => Act::Elu,
            "selu" => Act::Selu,
            "softplus" => Act::Softplus,
            "softsign" => Act::Softsign,
            "swish" | "silu" => Act::Swish,
            "gelu" => Act::Gelu,
            other => return Err(RkError::Spec(format!("unknown activation '{other}'"))),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Act::Linear => "linear",
            Act::Relu => "relu",
            Act::Softmax => "softmax",
            Act::Sigmoid => "sigmoid",
            Act::Tanh => "tanh",
            Act::Elu => "elu",
            Act::Selu => "selu",
            Act::Softplus => "softplus",
            Act::Softsign => "softsign",
            Act::Swish => "swish",
            Act::Gelu => "gelu",
        }
    }

    /// `a = f(z)` for a `[rows, cols]` buffer (softmax is per row).
    pub fn forward(self, z: &[f32], a: &mut [f32], cols: usize) {
        match self {
            Act::Softmax => {
                for (zr, ar) in z.chunks_exact(cols).zip(a.chunks_exact_mut(cols)) {
                    softmax_row(zr, ar);
                }
            }
            _ => per_act!(self, f => a.iter_mut().zip(z).for_each(|(ai, &zi)| *ai = f(zi))),
        }
    }

    /// `x = f(x)` in place (not for softmax, which is per row: see [`Act::forward`]).
    pub fn apply(self, x: &mut [f32]) {
        per_act!(self, f => x.iter_mut().for_each(|v| *v = f(*v)))
    }

    #[inline(always)]
    pub fn scalar(self, x: f32) -> f32 {
        match self {
            Act::Linear | Act::Softmax => x,
            Act::Relu => x.max(0.0),
            Act::Sigmoid => sigmoid(x),
            Act::Tanh => x.tanh(),
            Act::Elu => {
                if x > 0.0 {
                    x
                } else {
                    x.exp_m1()
                }
            }
            Act::Selu => {
                if x > 0.0 {
                    SELU_SCALE * x
                } else {
                    SELU_SCALE * SELU_ALPHA * x.exp_m1()
                }
            }
            Act::Softplus => softplus(x),
            Act::Softsign => x / (1.0 + x.abs()),
            Act::Swish => x * sigmoid(x),
            Act::Gelu => 0.5 * x * (1.0 + erf(x as f64 / std::f64::consts::SQRT_2) as f32),
        }
    }

    /// Whether backward needs the pre-activation `z`: only when the derivative does not
    /// follow from the output `a` alone.
    pub fn backward_needs_z(self) -> bool {
        !matches!(
            self,
            Act::Linear | Act::Relu | Act::Sigmoid | Act::Tanh | Act::Softmax
        )
    }

    /// Elementwise derivative f'(z) given z and a = f(z) (not for softmax).
    #[inline]
    pub fn derivative(self, z: f32, a: f32) -> f32 {
        match self {
            Act::Linear | Act::Softmax => 1.0,
            Act::Relu => {
                if z > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Act::Sigmoid => a * (1.0 - a),
            Act::Tanh => 1.0 - a * a,
            Act::Elu => {
                if z > 0.0 {
                    1.0
                } else {
                    a + 1.0
                }
            }
            Act::Selu => {
                if z > 0.0 {
                    SELU_SCALE
                } else {
                    a + SELU_SCALE * SELU_ALPHA
                }
            }
            Act::Softplus => sigmoid(z),
            Act::Softsign => {
                let d = 1.0 + z.abs();
                1.0 / (d * d)
            }
            Act::Swish => {
                let s = sigmoid(z);
                s + z * s * (1.0 - s)
            }
            Act::Gelu => {
                let zf = z as f64;
                let cdf = 0.5 * (1.0 + erf(zf / std::f64::consts::SQRT_2));
                let pdf = (-0.5 * zf * zf).exp() / (2.0 * std::f64::consts::PI).sqrt();
                (cdf + zf * pdf) as f32
            }
        }
    }

    /// Fused dense epilogue in one pass: `z += bias` (per row), then `a = f(z)`.
    pub fn forward_bias(self, z: &mut [f32], a: &mut [f32], bias: Option<&[f32]>, cols: usize) {
        match (self, bias) {
            (Act::Relu, Some(b)) => bias_relu(z, a, b, cols),
            (Act::Linear, Some(b)) => bias_linear(z, a, b, cols),
            (Act::Softmax, _) => {
                map_bias(z, a, bias, cols, |v| v);
                for ar in a.chunks_exact_mut(cols) {
                    softmax_in_place(ar);
                }
            }
            (Act::Linear, None) => a.copy_from_slice(z),
            (other, _) => per_act!(other, f => map_bias(z, a, bias, cols, f)),
        }
    }

    /// [`Act::forward_bias`] in place, when the pre-activation is not kept: `a = f(a + bias)`.
    pub fn bias_in_place(self, a: &mut [f32], bias: Option<&[f32]>, cols: usize) {
        match (self, bias) {
            (Act::Linear, None) => {}
            (Act::Relu, Some(b)) => map_bias_in_place(a, b, cols, |v| v.max(0.0)),
            (Act::Linear, Some(b)) => add_bias(a, b, cols),
            (Act::Softmax, _) => {
                if let Some(b) = bias {
                    add_bias(a, b, cols);
                }
                a.chunks_exact_mut(cols).for_each(softmax_in_place);
            }
            (other, None) => other.apply(a),
            (other, Some(b)) => per_act!(other, f => map_bias_in_place(a, b, cols, f)),
        }
    }

    /// Turn `g = dL/da` into `dL/dz` in place.
    pub fn backward(self, z: &[f32], a: &[f32], g: &mut [f32], cols: usize) {
        match self {
            Act::Relu => relu_backward(a, g),
            _ => self.backward_inner(z, a, g, cols),
        }
    }

    #[inline(always)]
    fn backward_inner(self, z: &[f32], a: &[f32], g: &mut [f32], cols: usize) {
        match self {
            Act::Linear => {}
            Act::Relu => g
                .iter_mut()
                .zip(a)
                .for_each(|(g, &a)| *g = if a > 0.0 { *g } else { 0.0 }),
            Act::Sigmoid => g.iter_mut().zip(a).for_each(|(g, &a)| *g *= a * (1.0 - a)),
            Act::Tanh => g.iter_mut().zip(a).for_each(|(g, &a)| *g *= 1.0 - a * a),
            Act::Softmax => {
                for (ar, gr) in a.chunks_exact(cols).zip(g.chunks_exact_mut(cols)) {
                    let dot: f32 = ar.iter().zip(gr.iter()).map(|(p, q)| p * q).sum();
                    for (gi, &ai) in gr.iter_mut().zip(ar) {
                        *gi = ai * (*gi - dot);
                    }
                }
            }
            _ => {
                for ((gi, &zi), &ai) in g.iter_mut().zip(z).zip(a) {
                    *gi *= self.derivative(zi, ai);
                }
            }
        }
    }
}

#[inline]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

#[inline]
fn softplus(x: f32) -> f32 {
    if x > 20.0 {
        x
    } else {
        x.exp().ln_1p()
    }
}

crate::simd::multiversion! {
    /// `z += bias` per row, `a = max(z, 0)`.
    fn bias_relu(z: &mut [f32], a: &mut [f32], bias: &[f32], cols: usize) {
        for (zr, ar) in z.chunks_exact_mut(cols).zip(a.chunks_exact_mut(cols)) {
            for ((zi, ai), bi) in zr.iter_mut().zip(ar.iter_mut()).zip(bias) {
                let v = *zi + bi;
                *zi = v;
                *ai = v.max(0.0);
            }
        }
    }
}

crate::simd::multiversion! {
    /// `a += bias` per row.
    fn add_bias(a: &mut [f32], bias: &[f32], cols: usize) {
        for ar in a.chunks_exact_mut(cols) {
            ar.iter_mut().zip(bias).for_each(|(a, b)| *a += b);
        }
    }
}

/// `a = f(a + bias)` per row.
#[inline(always)]
fn map_bias_in_place(a: &mut [f32], bias: &[f32], cols: usize, f: impl Fn(f32) -> f32) {
    for ar in a.chunks_exact_mut(cols) {
        ar.iter_mut().zip(bias).for_each(|(a, b)| *a = f(*a + b));
    }
}

crate::simd::multiversion! {
    /// `z += bias` per row, `a = z`.
    fn bias_linear(z: &mut [f32], a: &mut [f32], bias: &[f32], cols: usize) {
        for (zr, ar) in z.chunks_exact_mut(cols).zip(a.chunks_exact_mut(cols)) {
            for ((zi, ai), bi) in zr.iter_mut().zip(ar.iter_mut()).zip(bias) {
                let v = *zi + bi;
                *zi = v;
                *ai = v;
            }
        }
    }
}

crate::simd::multiversion! {
    /// `g *= [a > 0]` (relu's derivative from its output).
    fn relu_backward(a: &[f32], g: &mut [f32]) {
        for (gi, &ai) in g.iter_mut().zip(a) {
            *gi = if ai > 0.0 { *gi } else { 0.0 };
        }
    }
}

/// `z += bias` per row and `a = f(z)`, in one pass over each row.
#[inline(always)]
fn map_bias(
    z: &mut [f32],
    a: &mut [f32],
    bias: Option<&[f32]>,
    cols: usize,
    f: impl Fn(f32) -> f32,
) {
    match bias {
        Some(b) => {
            for (zr, ar) in z.chunks_exact_mut(cols).zip(a.chunks_exact_mut(cols)) {
                for ((zi, ai), bi) in zr.iter_mut().zip(ar.iter_mut()).zip(b) {
                    let v = *zi + bi;
                    *zi = v;
                    *ai = f(v);
                }
            }
        }
        None => a.iter_mut().zip(z.iter()).for_each(|(ai, &zi)| *ai = f(zi)),
    }
}

#[inline(always)]
pub(crate) fn softmax_in_place(a: &mut [f32]) {
    let mx = a.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0.0f32;
    for v in a.iter_mut() {
        *v = (*v - mx).exp();
        s += *v;
    }
    let inv = 1.0 / s;
    a.iter_mut().for_each(|v| *v *= inv);
}

/// Numerically stable softmax of one row.
pub fn softmax_row(z: &[f32], a: &mut [f32]) {
    let mx = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0.0f32;
    for (ai, &zi) in a.iter_mut().zip(z) {
        let e = (zi - mx).exp();
        *ai = e;
        s += e;
    }
    let inv = 1.0 / s;
    for ai in a.iter_mut() {
        *ai *= inv;
    }
}

/// erf with |error| < 1.2e-7 (Numerical Recipes erfc Chebyshev fit).
pub fn erf(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        1.0 - r
    } else {
        r - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::check_grad;

    const ALL: [Act; 11] = [
        Act::Linear,
        Act::Relu,
        Act::Softmax,
        Act::Sigmoid,
        Act::Tanh,
        Act::Elu,
        Act::Selu,
        Act::Softplus,
        Act::Softsign,
        Act::Swish,
        Act::Gelu,
    ];

    /// L = sum(w * f(z)) for fixed weights w, so dL/dz = backward(w).
    fn loss(act: Act, z: &[f32], w: &[f32], cols: usize) -> f64 {
        let mut a = vec![0.0; z.len()];
        act.forward(z, &mut a, cols);
        a.iter().zip(w).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    #[test]
    fn every_activation_gradient_matches_finite_differences() {
        let cols = 4;
        // Keep away from relu's kink at 0.
        let z: Vec<f32> = (0..12).map(|i| ((i as f32) * 0.37 - 2.1) + 0.013).collect();
        let w: Vec<f32> = (0..12).map(|i| ((i * 5 % 7) as f32 - 3.0) / 2.0).collect();
        for act in ALL {
            let mut a = vec![0.0; z.len()];
            act.forward(&z, &mut a, cols);
            let mut g = w.clone();
            act.backward(&z, &a, &mut g, cols);
            check_grad(&format!("{act:?}"), &z, &g, |zz| loss(act, zz, &w, cols)).unwrap();
        }
    }

    #[test]
    fn fused_bias_forward_matches_separate_steps() {
        let z0: Vec<f32> = (0..12).map(|i| i as f32 * 0.3 - 1.7).collect();
        let bias = [0.1f32, -0.2, 0.3, 0.05];
        for act in ALL {
            let mut zb = z0.clone();
            for r in zb.chunks_mut(4) {
                r.iter_mut().zip(&bias).for_each(|(v, b)| *v += b);
            }
            let mut want = vec![0.0; 12];
            act.forward(&zb, &mut want, 4);
            let mut z = z0.clone();
            let mut a = vec![0.0; 12];
            act.forward_bias(&mut z, &mut a, Some(&bias), 4);
            assert_eq!(z, zb);
            for (x, y) in a.iter().zip(&want) {
                assert!((x - y).abs() < 1e-6, "{act:?}");
            }
        }
    }

    #[test]
    fn a_wrong_gradient_fails_the_check() {
        let z = vec![0.5f32, -0.3, 1.2];
        let w = vec![1.0f32, 1.0, 1.0];
        let mut a = vec![0.0; 3];
        Act::Tanh.forward(&z, &mut a, 3);
        let mut g = w.clone();
        Act::Tanh.backward(&z, &a, &mut g, 3);
        g[1] *= 1.1;
        assert!(check_grad("wrong", &z, &g, |zz| loss(Act::Tanh, zz, &w, 3)).is_err());
    }

    #[test]
    fn softmax_rows_sum_to_one_and_values_match_keras() {
        let z = [1000.0f32, 1001.0, 999.0, -5.0, 0.0, 5.0];
        let mut a = [0.0; 6];
        Act::Softmax.forward(&z, &mut a, 3);
        for r in a.chunks(3) {
            assert!((r.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        assert!((Act::Selu.scalar(-1.0) - (-1.111_330_7)).abs() < 1e-5);
        assert!((Act::Gelu.scalar(1.0) - 0.841_344_7).abs() < 1e-5);
        assert!((erf(0.5) - 0.520_499_877_813_046_5).abs() < 2e-7);
    }
}
