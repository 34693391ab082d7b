//! CategoryEncoding (a preprocessing layer), and the encodings it shares with Discretization,
//! as Keras 3 computes them (`encode_categorical_inputs()`): the inputs are category ids
//! (cast to integers by truncation); `"one_hot"` gives each id a row of `depth` values (a last
//! axis of size 1 replaced by the row), `"multi_hot"` marks and `"count"` counts the ids along
//! the first axis after the batch. An id outside `[0, depth)` marks nothing, as JAX's
//! `one_hot()` does. Not differentiable: the inputs' gradient is zero.
//!
//! # Shapes
//! `"one_hot"`: `[batch, ..., 1]` -> `[batch, ..., depth]`, else `[batch, ...]` -> `[batch,
//! ..., depth]`. `"multi_hot"`, `"count"`: `[batch, n, rest...]` -> `[batch, rest...,
//! depth]` (`[batch]` samples of one id give `[batch, depth]`).

use super::{Cache, Ctx, Layer, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Encoding {
    Int,
    OneHot,
    MultiHot,
    Count,
}

impl Encoding {
    pub fn parse(class: &str, name: &str, int_ok: bool) -> RkResult<Encoding> {
        Ok(match name {
            "int" if int_ok => Encoding::Int,
            "one_hot" => Encoding::OneHot,
            "multi_hot" => Encoding::MultiHot,
            "count" => Encoding::Count,
            other => {
                return Err(RkError::Spec(format!(
                    "{class} `output_mode` must be {}\"one_hot\", \"multi_hot\" or \"count\", got \"{other}\"",
                    if int_ok { "\"int\", " } else { "" }
                )))
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Int => "int",
            Encoding::OneHot => "one_hot",
            Encoding::MultiHot => "multi_hot",
            Encoding::Count => "count",
        }
    }

    /// The per-sample shape of the encoding of samples of shape `s` over `depth` ids.
    pub fn shape(self, s: &[usize], depth: usize) -> Shape {
        let mut out: Shape = match self {
            Encoding::Int => return s.to_vec(),
            Encoding::OneHot if s.last() == Some(&1) => s[..s.len() - 1].to_vec(),
            Encoding::OneHot => s.to_vec(),
            _ if s.is_empty() => Vec::new(),
            _ => s[1..].to_vec(),
        };
        out.push(depth);
        out
    }

    /// The encoding of the ids `x` (`[batch, ...]`).
    pub fn encode(self, x: &Tensor, depth: usize) -> RkResult<Tensor> {
        let s = &x.shape()[1..];
        let out = self.shape(s, depth);
        let xv = x.as_slice().expect("standard");
        if self == Encoding::Int {
            return super::shaped_like(x, xv.to_vec());
        }
        let id = |v: f32| -> Option<usize> {
            let i = v.trunc();
            (i >= 0.0 && i < depth as f32).then_some(i as usize)
        };
        let mut y = super::zeros(x.shape()[0] * out.iter().product::<usize>());
        match self {
            Encoding::OneHot => {
                for (row, &v) in y.chunks_exact_mut(depth).zip(xv) {
                    if let Some(i) = id(v) {
                        row[i] = 1.0;
                    }
                }
            }
            _ => {
                // Reduce over the first axis after the batch: `n` ids for each of `rest`.
                let n = s.first().copied().unwrap_or(1);
                let rest: usize = s.iter().skip(1).product();
                let per = n * rest;
                for (ys, xs) in y.chunks_exact_mut(rest * depth).zip(xv.chunks_exact(per)) {
                    for (k, &v) in xs.iter().enumerate() {
                        if let Some(i) = id(v) {
                            let at = (k % rest) * depth + i;
                            ys[at] = if self == Encoding::Count {
                                ys[at] + 1.0
                            } else {
                                1.0
                            };
                        }
                    }
                }
            }
        }
        super::tensor(x.shape()[0], &out, y)
    }
}

#[derive(Clone, Debug)]
pub struct CategoryEncoding {
    num_tokens: usize,
    mode: Encoding,
}

impl CategoryEncoding {
    pub fn from_config(c: &Value) -> RkResult<CategoryEncoding> {
        let class = "CategoryEncoding";
        let num_tokens: usize = super::field(c, class, "num_tokens")?;
        if num_tokens == 0 || num_tokens > 1 << 24 {
            return Err(RkError::Spec(format!(
                "{class} `num_tokens` must be a positive integer, got {num_tokens}"
            )));
        }
        let mode: String = super::field_or(c, class, "output_mode", "multi_hot".to_string())?;
        refuse_sparse(c, class)?;
        Ok(CategoryEncoding {
            num_tokens,
            mode: Encoding::parse(class, &mode, false)?,
        })
    }
}

/// Keras's `sparse = True` (sparse outputs), which rkeras does not have.
pub fn refuse_sparse(c: &Value, class: &str) -> RkResult<()> {
    if c.get("sparse").and_then(Value::as_bool) == Some(true) {
        return Err(RkError::Unsupported(format!(
            "{class} `sparse = TRUE` is not supported by rkeras (outputs are dense)"
        )));
    }
    Ok(())
}

/// The inputs' gradient of a layer that is not differentiable: zeros.
pub fn no_gradient(x: &Tensor) -> Vec<Tensor> {
    vec![super::zeros_like(&x.raw_dim())]
}

/// [`Layer::backward`] of a layer that is not differentiable (the encoding and lookup
/// layers): zeros for its input, nothing for parameters.
#[macro_export]
macro_rules! no_input_gradient {
    () => {
        fn backward(
            &self,
            xs: &[&$crate::layers::Tensor],
            _y: &$crate::layers::Tensor,
            _cache: &$crate::layers::Cache,
            _g: $crate::layers::Tensor,
            _pgrads: &mut [$crate::layers::Tensor],
            _ctx: &mut $crate::layers::Ctx,
        ) -> $crate::error::RkResult<Vec<$crate::layers::Tensor>> {
            Ok($crate::layers::category::no_gradient(xs[0]))
        }
    };
}

impl Layer for CategoryEncoding {
    fn class_name(&self) -> &'static str {
        "CategoryEncoding"
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let s = super::one_input(name, inputs)?;
        Ok(self.mode.shape(s, self.num_tokens))
    }

    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        Ok((self.mode.encode(xs[0], self.num_tokens)?, None))
    }

    crate::no_input_gradient!();

    fn config(&self) -> Value {
        json!({"num_tokens": self.num_tokens, "output_mode": self.mode.name(), "sparse": false})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_mark_count_and_skip_ids_out_of_range() {
        let x = super::super::tensor(2, &[3], vec![0.0, 2.0, 2.0, 3.0, -1.0, 1.9]).unwrap();
        let multi = Encoding::MultiHot.encode(&x, 3).unwrap();
        assert_eq!(multi.shape(), &[2, 3]);
        assert_eq!(multi.as_slice().unwrap(), &[1.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
        let count = Encoding::Count.encode(&x, 3).unwrap();
        assert_eq!(count.as_slice().unwrap(), &[1.0, 0.0, 2.0, 0.0, 1.0, 0.0]);
        let one = Encoding::OneHot.encode(&x, 3).unwrap();
        assert_eq!(one.shape(), &[2, 3, 3]);
        // 3 and -1 are outside [0, 3): no mark; 1.9 is id 1.
        let second = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0];
        assert_eq!(&one.as_slice().unwrap()[9..], &second);
        // [batch, 2, 2] ids: multi-hot over the first axis keeps the second.
        let x = super::super::tensor(1, &[2, 2], vec![0.0, 1.0, 1.0, 1.0]).unwrap();
        let multi = Encoding::Count.encode(&x, 2).unwrap();
        assert_eq!(multi.shape(), &[1, 2, 2]);
        assert_eq!(multi.as_slice().unwrap(), &[1.0, 1.0, 0.0, 2.0]);
    }
}
