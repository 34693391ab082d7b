//! Element-wise operations: one operand, or two broadcast as NumPy broadcasts them.

use super::{op_error, Dims};
use crate::error::RkResult;
use crate::layers::Tensor;
use ndarray::{Axis, IxDyn, Zip};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unary {
    Neg,
    Exp,
    Log,
    Log1p,
    Expm1,
    Sqrt,
    Square,
    Abs,
    Sign,
    Round,
    Floor,
    Ceil,
    Sigmoid,
    HardSigmoid,
    Tanh,
    Relu,
    Elu,
    Selu,
    Softplus,
    Softsign,
    Sin,
    Cos,
    Not,
}

const SELU_ALPHA: f32 = 1.673_263_2;
const SELU_SCALE: f32 = 1.050_701;

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `$body` with `$u` bound to the constant variant `$f` of enum `$t` (one of `$v`): one
/// loop per variant, the operation chosen once rather than for each value.
macro_rules! for_each_variant {
    ($t:ident, $f:expr, $u:ident, $body:expr; $($v:ident),*) => {
        match $f {
            $($t::$v => {
                const $u: $t = $t::$v;
                $body
            })*
        }
    };
}

/// [`for_each_variant!`] over [`Unary`].
macro_rules! for_each_unary {
    ($f:expr, $u:ident => $body:expr) => {
        for_each_variant!(Unary, $f, $u, $body; Neg, Exp, Log, Log1p, Expm1, Sqrt, Square, Abs,
            Sign, Round, Floor, Ceil, Sigmoid, HardSigmoid, Tanh, Relu, Elu, Selu, Softplus,
            Softsign, Sin, Cos, Not)
    };
}

impl Unary {
    /// The operation on every value of `x`.
    pub fn map(self, x: &Tensor) -> Tensor {
        for_each_unary!(self, U => x.mapv(|v| U.apply(v)))
    }

    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Unary::Neg => -x,
            Unary::Exp => x.exp(),
            Unary::Log => x.ln(),
            Unary::Log1p => x.ln_1p(),
            Unary::Expm1 => x.exp_m1(),
            Unary::Sqrt => x.sqrt(),
            Unary::Square => x * x,
            Unary::Abs => x.abs(),
            Unary::Sign => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
            // Round half to even, as TensorFlow and NumPy do.
            Unary::Round => x.round_ties_even(),
            Unary::Floor => x.floor(),
            Unary::Ceil => x.ceil(),
            Unary::Sigmoid => sigmoid(x),
            Unary::HardSigmoid => (0.2 * x + 0.5).clamp(0.0, 1.0),
            Unary::Tanh => x.tanh(),
            Unary::Relu => x.max(0.0),
            Unary::Elu => {
                if x > 0.0 {
                    x
                } else {
                    x.exp_m1()
                }
            }
            Unary::Selu => SELU_SCALE * if x > 0.0 { x } else { SELU_ALPHA * x.exp_m1() },
            Unary::Softplus => {
                if x > 0.0 {
                    x + (-x).exp().ln_1p()
                } else {
                    x.exp().ln_1p()
                }
            }
            Unary::Softsign => x / (1.0 + x.abs()),
            Unary::Sin => x.sin(),
            Unary::Cos => x.cos(),
            Unary::Not => f32::from(x == 0.0),
        }
    }

    /// The derivative at `x`, whose value is `y`.
    #[inline(always)]
    fn derivative(self, x: f32, y: f32) -> f32 {
        match self {
            Unary::Neg => -1.0,
            Unary::Exp => y,
            Unary::Log => 1.0 / x,
            Unary::Log1p => 1.0 / (1.0 + x),
            Unary::Expm1 => y + 1.0,
            Unary::Sqrt => 0.5 / y,
            Unary::Square => 2.0 * x,
            Unary::Abs => Unary::Sign.apply(x),
            Unary::Sign | Unary::Round | Unary::Floor | Unary::Ceil | Unary::Not => 0.0,
            Unary::Sigmoid => y * (1.0 - y),
            Unary::HardSigmoid => {
                if (-2.5..=2.5).contains(&x) {
                    0.2
                } else {
                    0.0
                }
            }
            Unary::Tanh => 1.0 - y * y,
            Unary::Relu => f32::from(x > 0.0),
            Unary::Elu => {
                if x > 0.0 {
                    1.0
                } else {
                    y + 1.0
                }
            }
            Unary::Selu => {
                if x > 0.0 {
                    SELU_SCALE
                } else {
                    y + SELU_SCALE * SELU_ALPHA
                }
            }
            Unary::Softplus => sigmoid(x),
            Unary::Softsign => 1.0 / ((1.0 + x.abs()) * (1.0 + x.abs())),
            Unary::Sin => x.cos(),
            Unary::Cos => -x.sin(),
        }
    }

    fn differentiable(self) -> bool {
        !matches!(
            self,
            Unary::Sign | Unary::Round | Unary::Floor | Unary::Ceil | Unary::Not
        )
    }

    /// [`Unary::map`] on row-major values: `out[i] = f(x[i])`.
    pub fn map_slice(self, x: &[f32], out: &mut [f32]) {
        for_each_unary!(self, U => out.iter_mut().zip(x).for_each(|(o, &v)| *o = U.apply(v)))
    }

    /// [`Unary::grad`] on row-major values: `out[i] = g[i] f'(x[i])` given `y = f(x)`
    /// (zeros where the operation passes no gradient).
    pub fn grad_slice(self, x: &[f32], y: &[f32], g: &[f32], out: &mut [f32]) {
        if !self.differentiable() {
            out.fill(0.0);
            return;
        }
        for_each_unary!(self, U => {
            for (((o, &x), &y), &g) in out.iter_mut().zip(x).zip(y).zip(g) {
                *o = g * U.derivative(x, y);
            }
        })
    }

    pub fn grad(self, x: &Tensor, y: &Tensor, g: &Tensor) -> Option<Tensor> {
        if !self.differentiable() {
            return None;
        }
        let mut out = g.clone();
        for_each_unary!(self, U => Zip::from(&mut out)
            .and(x)
            .and(y)
            .for_each(|o, &x, &y| *o *= U.derivative(x, y)));
        Some(out)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Maximum,
    Minimum,
    /// R's `%%` and NumPy's `mod`: the remainder takes the divisor's sign.
    Mod,
    /// R's `%/%`.
    FloorDiv,
    Equal,
    NotEqual,
    Greater,
    GreaterEqual,
    Less,
    LessEqual,
    And,
    Or,
}

/// [`for_each_variant!`] over [`Binary`].
macro_rules! for_each_binary {
    ($f:expr, $u:ident => $body:expr) => {
        for_each_variant!(Binary, $f, $u, $body; Add, Sub, Mul, Div, Pow, Maximum, Minimum, Mod,
            FloorDiv, Equal, NotEqual, Greater, GreaterEqual, Less, LessEqual, And, Or)
    };
}

impl Binary {
    #[inline(always)]
    pub fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            Binary::Add => a + b,
            Binary::Sub => a - b,
            Binary::Mul => a * b,
            Binary::Div => a / b,
            Binary::Pow => a.powf(b),
            Binary::Maximum => a.max(b),
            Binary::Minimum => a.min(b),
            Binary::Mod => a - b * (a / b).floor(),
            Binary::FloorDiv => (a / b).floor(),
            Binary::Equal => f32::from(a == b),
            Binary::NotEqual => f32::from(a != b),
            Binary::Greater => f32::from(a > b),
            Binary::GreaterEqual => f32::from(a >= b),
            Binary::Less => f32::from(a < b),
            Binary::LessEqual => f32::from(a <= b),
            Binary::And => f32::from(a != 0.0 && b != 0.0),
            Binary::Or => f32::from(a != 0.0 || b != 0.0),
        }
    }

    /// The partial derivatives with respect to `a` and `b` at `(a, b)`, whose value is `y`.
    #[inline(always)]
    fn partials(self, a: f32, b: f32, y: f32) -> (f32, f32) {
        match self {
            Binary::Add => (1.0, 1.0),
            Binary::Sub => (1.0, -1.0),
            Binary::Mul => (b, a),
            Binary::Div => (1.0 / b, -a / (b * b)),
            Binary::Pow => (
                if b == 0.0 { 0.0 } else { b * a.powf(b - 1.0) },
                if a > 0.0 { y * a.ln() } else { 0.0 },
            ),
            // Ties send the gradient to the first operand, as TensorFlow does.
            Binary::Maximum => {
                let first = f32::from(a >= b);
                (first, 1.0 - first)
            }
            Binary::Minimum => {
                let first = f32::from(a <= b);
                (first, 1.0 - first)
            }
            Binary::Mod => (1.0, -(a / b).floor()),
            _ => (0.0, 0.0),
        }
    }

    fn differentiable(self) -> bool {
        matches!(
            self,
            Binary::Add
                | Binary::Sub
                | Binary::Mul
                | Binary::Div
                | Binary::Pow
                | Binary::Maximum
                | Binary::Minimum
                | Binary::Mod
        )
    }
}

/// NumPy's broadcast of two shapes with open sizes.
pub fn broadcast_dims(a: &Dims, b: &Dims) -> RkResult<Dims> {
    let n = a.len().max(b.len());
    let at = |s: &Dims, i: usize| {
        if i + s.len() < n {
            Some(1)
        } else {
            s[i + s.len() - n]
        }
    };
    (0..n)
        .map(|i| match (at(a, i), at(b, i)) {
            (Some(1), d) | (d, Some(1)) => Ok(d),
            (Some(x), Some(y)) if x == y => Ok(Some(x)),
            (None, None) => Ok(None),
            (None, Some(d)) | (Some(d), None) => Ok(Some(d)),
            _ => Err(op_error(format!(
                "operands of shapes {} and {} do not broadcast",
                show(a),
                show(b)
            ))),
        })
        .collect()
}

/// `(None, 3)`: a shape with open sizes as Keras prints it.
pub fn show(d: &Dims) -> String {
    let parts: Vec<String> = d
        .iter()
        .map(|v| v.map(|v| v.to_string()).unwrap_or_else(|| "None".into()))
        .collect();
    format!("({})", parts.join(", "))
}

fn concrete(t: &Tensor) -> Dims {
    t.shape().iter().map(|&d| Some(d)).collect()
}

fn broadcast_shape(a: &Tensor, b: &Tensor) -> RkResult<Vec<usize>> {
    Ok(broadcast_dims(&concrete(a), &concrete(b))?
        .into_iter()
        .map(|d| d.unwrap_or(0))
        .collect())
}

pub fn binary(f: Binary, a: &Tensor, b: &Tensor) -> RkResult<Tensor> {
    if a.shape() == b.shape() {
        return Ok(
            for_each_binary!(f, B => Zip::from(a).and(b).map_collect(|&x, &y| B.apply(x, y))),
        );
    }
    let s = broadcast_shape(a, b)?;
    // A number and a tensor: one pass over the tensor's values.
    if b.len() == 1 && a.shape() == &s[..] {
        let v = b.iter().next().copied().unwrap_or(0.0);
        return Ok(for_each_binary!(f, B => a.mapv(|x| B.apply(x, v))));
    }
    if a.len() == 1 && b.shape() == &s[..] {
        let v = a.iter().next().copied().unwrap_or(0.0);
        return Ok(for_each_binary!(f, B => b.mapv(|y| B.apply(v, y))));
    }
    let av = a.broadcast(IxDyn(&s)).expect("broadcasts");
    let bv = b.broadcast(IxDyn(&s)).expect("broadcasts");
    Ok(for_each_binary!(f, B => Zip::from(&av).and(&bv).map_collect(|&x, &y| B.apply(x, y))))
}

pub fn binary_grad(
    f: Binary,
    a: &Tensor,
    b: &Tensor,
    y: &Tensor,
    g: &Tensor,
) -> Vec<Option<Tensor>> {
    if !f.differentiable() {
        return vec![None, None];
    }
    let s = y.raw_dim();
    let av = a.broadcast(s.clone()).expect("broadcasts");
    let bv = b.broadcast(s.clone()).expect("broadcasts");
    let mut ga = g.clone();
    let mut gb = g.clone();
    for_each_binary!(f, B => Zip::from(&mut ga)
    .and(&mut gb)
    .and(&av)
    .and(&bv)
    .and(y)
    .for_each(|ga, gb, &a, &b, &y| {
        let (da, db) = B.partials(a, b, y);
        *ga *= da;
        *gb *= db;
    }));
    vec![
        Some(unbroadcast(ga, a.shape())),
        Some(unbroadcast(gb, b.shape())),
    ]
}

/// A gradient of the broadcast shape summed back to an operand's `shape`.
pub fn unbroadcast(mut g: Tensor, shape: &[usize]) -> Tensor {
    while g.ndim() > shape.len() {
        g = g.sum_axis(Axis(0));
    }
    for (i, &d) in shape.iter().enumerate() {
        if d == 1 && g.shape()[i] != 1 {
            g = g.sum_axis(Axis(i)).insert_axis(Axis(i));
        }
    }
    g
}

/// `f(x, g)` element by element, `x` and `g` of one shape.
pub fn zip_map(x: &Tensor, g: &Tensor, f: impl Fn(f32, f32) -> f32) -> Tensor {
    Zip::from(x).and(g).map_collect(|&x, &g| f(x, g))
}

pub fn select(c: &Tensor, a: &Tensor, b: &Tensor) -> RkResult<Tensor> {
    let ab = broadcast_shape(a, b)?;
    let s: Vec<usize> = broadcast_dims(&concrete(c), &ab.iter().map(|&d| Some(d)).collect())?
        .into_iter()
        .map(|d| d.unwrap_or(0))
        .collect();
    let d = IxDyn(&s);
    let (cv, av, bv) = (
        c.broadcast(d.clone()).expect("broadcasts"),
        a.broadcast(d.clone()).expect("broadcasts"),
        b.broadcast(d).expect("broadcasts"),
    );
    Ok(Zip::from(&cv)
        .and(&av)
        .and(&bv)
        .map_collect(|&c, &a, &b| if c != 0.0 { a } else { b }))
}

pub fn select_grad(ins: &[&Tensor], g: &Tensor) -> Vec<Option<Tensor>> {
    let cv = ins[0].broadcast(g.raw_dim()).expect("broadcasts");
    let mut ga = g.clone();
    let mut gb = g.clone();
    Zip::from(&mut ga)
        .and(&mut gb)
        .and(&cv)
        .for_each(|ga, gb, &c| {
            if c != 0.0 {
                *gb = 0.0;
            } else {
                *ga = 0.0;
            }
        });
    vec![
        None,
        Some(unbroadcast(ga, ins[1].shape())),
        Some(unbroadcast(gb, ins[2].shape())),
    ]
}
