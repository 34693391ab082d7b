//! The activations of recurrent layers' gates: their derivatives follow from their outputs,
//! and `tanh` and `sigmoid` run vectorized (Cephes's formulas, branch-free).

use crate::error::{RkError, RkResult};

/// `e^x` to about 2 ulp, branch-free (Cephes's `expf`), so loops of it vectorize.
#[inline(always)]
pub(crate) fn exp_fast(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let fx = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = x - fx * 0.693_359_4 + fx * 2.121_944_4e-4;
    let z = r * r;
    let y = (((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2)
        * r
        + 1.666_666_5e-1)
        * r
        + 5.0e-1)
        * z
        + r
        + 1.0;
    // 2^fx from fx's bits: adding 1.5 * 2^23 puts the integer fx (|fx| <= 127) in the low
    // bits, without a saturating float-to-int conversion (which does not vectorize).
    let n = (fx + 12_582_912.0).to_bits().wrapping_sub(0x4B40_0000);
    y * f32::from_bits(n.wrapping_add(127) << 23)
}

#[inline(always)]
fn sigmoid_fast(x: f32) -> f32 {
    1.0 / (1.0 + exp_fast(-x))
}

/// `tanh` as Cephes's `tanhf`: a polynomial below 0.625, `1 - 2 / (e^2x + 1)` above.
#[inline(always)]
fn tanh_fast(x: f32) -> f32 {
    let a = x.abs();
    let z = a * a;
    let small =
        ((((-5.704_988_7e-3 * z + 2.063_909e-2) * z - 5.373_971_6e-2) * z + 1.333_144_2e-1) * z
            - 3.333_328e-1)
            * z
            * a
            + a;
    let big = 1.0 - 2.0 / (exp_fast(2.0 * a) + 1.0);
    (if a < 0.625 { small } else { big }).copysign(x)
}

crate::simd::multiversion! {
    fn sigmoid_slice(v: &mut [f32]) {
        for x in v.iter_mut() {
            *x = sigmoid_fast(*x);
        }
    }
}

crate::simd::multiversion! {
    fn tanh_slice(v: &mut [f32]) {
        for x in v.iter_mut() {
            *x = tanh_fast(*x);
        }
    }
}

/// An activation whose derivative follows from its output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Gate {
    Tanh,
    Sigmoid,
    HardSigmoid,
    Relu,
    Linear,
}

impl Gate {
    pub fn parse(name: &str, what: &str) -> RkResult<Gate> {
        Ok(match name {
            "tanh" => Gate::Tanh,
            "sigmoid" => Gate::Sigmoid,
            "hard_sigmoid" => Gate::HardSigmoid,
            "relu" => Gate::Relu,
            "linear" | "" => Gate::Linear,
            other => {
                return Err(RkError::Unsupported(format!(
                    "recurrent layers take `{what}` tanh, sigmoid, hard_sigmoid, relu or linear in rkeras, not '{other}'"
                )))
            }
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Gate::Tanh => "tanh",
            Gate::Sigmoid => "sigmoid",
            Gate::HardSigmoid => "hard_sigmoid",
            Gate::Relu => "relu",
            Gate::Linear => "linear",
        }
    }
    #[inline]
    pub fn f(self, x: f32) -> f32 {
        match self {
            Gate::Tanh => tanh_fast(x),
            Gate::Sigmoid => sigmoid_fast(x),
            // Keras 3: relu6(x + 3) / 6.
            Gate::HardSigmoid => ((x + 3.0).clamp(0.0, 6.0)) / 6.0,
            Gate::Relu => x.max(0.0),
            Gate::Linear => x,
        }
    }
    /// `f` applied to every value of `v` (vectorized for tanh and sigmoid).
    pub fn apply(self, v: &mut [f32]) {
        match self {
            Gate::Tanh => tanh_slice(v),
            Gate::Sigmoid => sigmoid_slice(v),
            _ => v.iter_mut().for_each(|x| *x = self.f(*x)),
        }
    }

    /// The derivative at the input whose output is `y`.
    #[inline]
    pub fn df(self, y: f32) -> f32 {
        match self {
            Gate::Tanh => 1.0 - y * y,
            Gate::Sigmoid => y * (1.0 - y),
            Gate::HardSigmoid => {
                if y > 0.0 && y < 1.0 {
                    1.0 / 6.0
                } else {
                    0.0
                }
            }
            Gate::Relu => (y > 0.0) as u8 as f32,
            Gate::Linear => 1.0,
        }
    }
}
