//! Normalization (Keras's preprocessing layer): `(x - mean) / max(sqrt(variance), 1e-7)`, or
//! with `invert` `mean + x * max(sqrt(variance), 1e-7)`, with one mean and variance per
//! position of the kept `axis` (Keras's axes, the batch axis 0; `None` keeps none: one mean
//! for everything). The statistics are the config's `mean` and `variance` (constants,
//! broadcast as Keras does: aligned with the last kept axes), or else three untrained
//! weights, `mean`, `variance` and `count`, that `adapt()` sets (zeros, ones and 0 until
//! then).
//!
//! # Shapes
//! Any shape -> the same shape.

use super::{Cache, Ctx, Layer, Param, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use serde_json::{json, Value};

/// Keras's `backend.epsilon()`, the floor of the standard deviation.
const EPSILON: f32 = 1e-7;

/// Statistics given in the config: their shape and values, row-major.
#[derive(Clone, Debug)]
struct Given {
    shape: Vec<usize>,
    mean: Vec<f32>,
    variance: Vec<f32>,
    /// The config's values, written back unchanged.
    raw: (Value, Value),
}

#[derive(Clone, Debug)]
pub struct Normalization {
    /// Keras's axes (0 the batch axis), as the config gave them; empty for `axis = None`.
    axis: Vec<i64>,
    invert: bool,
    given: Option<Given>,
    /// The kept per-sample axes (0 the first axis after the batch), and the samples' rank,
    /// once built.
    keep: Vec<usize>,
    rank: usize,
    params: Vec<Param>,
    /// Constants from `given`, broadcast to the kept axes, once built.
    stats: Option<(Vec<f32>, Vec<f32>)>,
}

/// The shape and row-major values of a number or nested arrays of numbers.
fn nested(class: &str, key: &str, v: &Value) -> RkResult<(Vec<usize>, Vec<f32>)> {
    let bad = || {
        RkError::Spec(format!(
            "{class} `{key}` must be a number or an array of numbers"
        ))
    };
    match v {
        Value::Number(n) => Ok((vec![], vec![n.as_f64().ok_or_else(bad)? as f32])),
        Value::Array(items) if !items.is_empty() => {
            let parts: Vec<(Vec<usize>, Vec<f32>)> = items
                .iter()
                .map(|i| nested(class, key, i))
                .collect::<RkResult<_>>()?;
            if parts.iter().any(|p| p.0 != parts[0].0) {
                return Err(RkError::Spec(format!("{class} `{key}` is a ragged array")));
            }
            let mut shape = vec![items.len()];
            shape.extend_from_slice(&parts[0].0);
            Ok((shape, parts.into_iter().flat_map(|p| p.1).collect()))
        }
        _ => Err(bad()),
    }
}

impl Normalization {
    pub fn from_config(c: &Value) -> RkResult<Normalization> {
        let class = "Normalization";
        let axis = match c.get("axis") {
            None => vec![-1],
            Some(Value::Null) => Vec::new(),
            Some(Value::Number(n)) => vec![n.as_i64().ok_or_else(|| bad_axis(c))?],
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_i64().ok_or_else(|| bad_axis(c)))
                .collect::<RkResult<_>>()?,
            Some(_) => return Err(bad_axis(c)),
        };
        let given = match (c.get("mean"), c.get("variance")) {
            (None | Some(Value::Null), None | Some(Value::Null)) => None,
            (Some(m), Some(v)) if !m.is_null() && !v.is_null() => {
                let (shape, mean) = nested(class, "mean", m)?;
                let (vshape, variance) = nested(class, "variance", v)?;
                if shape != vshape {
                    return Err(RkError::Spec(format!(
                        "{class} `mean` and `variance` must have the same shape, got {shape:?} and {vshape:?}"
                    )));
                }
                if shape.len() > axis.len() {
                    return Err(RkError::Spec(format!(
                        "{class} `mean` has more axes ({}) than `axis` keeps",
                        shape.len()
                    )));
                }
                Some(Given {
                    shape,
                    mean,
                    variance,
                    raw: (m.clone(), v.clone()),
                })
            }
            _ => {
                return Err(RkError::Spec(format!(
                    "{class}: give both `mean` and `variance`, or neither"
                )))
            }
        };
        Ok(Normalization {
            axis,
            invert: super::field_or(c, class, "invert", false)?,
            given,
            keep: Vec::new(),
            rank: 0,
            params: Vec::new(),
            stats: None,
        })
    }

    /// For a sample of shape `s`: the statistic each of its values uses.
    fn stat_index(&self, s: &[usize]) -> Vec<usize> {
        // Each axis's step among the statistics (row-major over the kept axes; 0 elsewhere).
        let mut step = vec![0usize; s.len()];
        let mut acc = 1;
        for &a in self.keep.iter().rev() {
            step[a] = acc;
            acc *= s[a];
        }
        let n: usize = s.iter().product();
        (0..n)
            .map(|i| {
                let (mut rest, mut at) = (i, 0);
                for a in (0..s.len()).rev() {
                    at += (rest % s[a]) * step[a];
                    rest /= s[a];
                }
                at
            })
            .collect()
    }

    /// Mean and divisor (`max(sqrt(variance), epsilon)`) per statistic.
    fn mean_and_divisor(&self) -> (Vec<f32>, Vec<f32>) {
        let (mean, var): (&[f32], &[f32]) = match &self.stats {
            Some((m, v)) => (m, v),
            None => (
                self.params[0].value.as_slice().expect("standard"),
                self.params[1].value.as_slice().expect("standard"),
            ),
        };
        (
            mean.to_vec(),
            var.iter().map(|v| v.sqrt().max(EPSILON)).collect(),
        )
    }

    /// `x` normalized (or, with `invert`, restored) in place, `idx` mapping each value of a
    /// sample to its statistic.
    fn apply(&self, x: &mut [f32], idx: &[usize]) {
        let (mean, div) = self.mean_and_divisor();
        for sample in x.chunks_exact_mut(idx.len()) {
            for (v, &k) in sample.iter_mut().zip(idx) {
                *v = if self.invert {
                    mean[k] + *v * div[k]
                } else {
                    (*v - mean[k]) / div[k]
                };
            }
        }
    }
}

fn bad_axis(c: &Value) -> RkError {
    RkError::Spec(format!(
        "Normalization `axis` must be an integer, a list of integers or null, got {}",
        c.get("axis").unwrap_or(&Value::Null)
    ))
}

impl Layer for Normalization {
    fn class_name(&self) -> &'static str {
        "Normalization"
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let s = super::one_input(name, inputs)?;
        let ndim = s.len() as i64 + 1;
        let mut keep = Vec::new();
        for &a in &self.axis {
            let at = if a < 0 { a + ndim } else { a };
            if at < 0 || at >= ndim {
                return Err(super::shape_error(
                    name,
                    format!("`axis` {a} is outside inputs of rank {ndim}"),
                ));
            }
            if at == 0 {
                return Err(RkError::Unsupported(format!(
                    "{name}: Normalization over the batch axis (`axis` 0) is not supported by rkeras"
                )));
            }
            keep.push(at as usize - 1);
        }
        keep.sort_unstable();
        keep.dedup();
        let dims: Vec<usize> = keep.iter().map(|&a| s[a]).collect();
        let k: usize = dims.iter().product();
        if !self.params.is_empty() || self.stats.is_some() {
            let built = match &self.stats {
                Some((mean, _)) => mean.len(),
                None => self.params[0].value.len(),
            };
            if keep != self.keep || built != k {
                return Err(super::shape_error(
                    name,
                    "was built for inputs of another shape".into(),
                ));
            }
            return Ok(s.clone());
        }
        self.keep = keep;
        self.rank = s.len();
        match &self.given {
            Some(g) => {
                // Keras: the statistics' axes align with the last kept axes; size-1 or
                // missing axes broadcast.
                let off = dims.len() - g.shape.len();
                let mut mean = vec![0.0; k];
                let mut var = vec![0.0; k];
                for i in 0..k {
                    let (mut rest, mut src, mut stride) = (i, 0usize, 1usize);
                    for d in (0..dims.len()).rev() {
                        let c = rest % dims[d];
                        rest /= dims[d];
                        if d >= off {
                            let gd = g.shape[d - off];
                            if gd != 1 && gd != dims[d] {
                                return Err(super::shape_error(
                                    name,
                                    format!(
                                        "`mean` of shape {:?} does not fit the kept axes {:?}",
                                        g.shape, dims
                                    ),
                                ));
                            }
                            src += if gd == 1 { 0 } else { c * stride };
                            stride *= gd;
                        }
                    }
                    mean[i] = g.mean[src];
                    var[i] = g.variance[src];
                }
                self.stats = Some((mean, var));
            }
            None => {
                let tensor = |v: Vec<f32>| Tensor::from_shape_vec(ndarray::IxDyn(&dims), v);
                let scalar = Tensor::from_shape_vec(ndarray::IxDyn(&[]), vec![0.0]);
                let internal = |e: ndarray::ShapeError| RkError::Internal(e.to_string());
                self.params = vec![
                    Param {
                        name: "mean",
                        value: tensor(vec![0.0; k]).map_err(internal)?,
                        trainable: false,
                    },
                    Param {
                        name: "variance",
                        value: tensor(vec![1.0; k]).map_err(internal)?,
                        trainable: false,
                    },
                    Param {
                        name: "count",
                        value: scalar.map_err(internal)?,
                        trainable: false,
                    },
                ];
            }
        }
        Ok(s.clone())
    }

    fn params(&self) -> Vec<&Param> {
        self.params.iter().collect()
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.params.iter_mut().collect()
    }

    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        let idx = self.stat_index(&x.shape()[1..]);
        let mut y = super::output(x.len());
        y.copy_from_slice(x.as_slice().expect("standard"));
        self.apply(&mut y, &idx);
        Ok((super::shaped_like(x, y)?, None))
    }

    fn elementwise(&self, _training: bool) -> Option<super::Map> {
        // On rows of channels: when one statistic serves all, or they follow the last axis.
        let single = self.keep.is_empty();
        if !single && self.keep != [self.rank - 1] {
            return None;
        }
        let me = self.clone();
        Some(std::sync::Arc::new(move |x: &mut [f32], d: usize| {
            let idx: Vec<usize> = if single { vec![0; d] } else { (0..d).collect() };
            me.apply(x, &idx)
        }))
    }

    fn passes_mask(&self) -> bool {
        true
    }

    fn backward(
        &self,
        xs: &[&Tensor],
        _y: &Tensor,
        _cache: &Cache,
        g: Tensor,
        _pgrads: &mut [Tensor],
        _ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        let x = xs[0];
        let idx = self.stat_index(&x.shape()[1..]);
        let (_, div) = self.mean_and_divisor();
        let gv = g.as_slice().expect("standard");
        let mut dx = super::output(gv.len());
        for (ds, gs) in dx
            .chunks_exact_mut(idx.len())
            .zip(gv.chunks_exact(idx.len()))
        {
            for ((d, &v), &k) in ds.iter_mut().zip(gs).zip(&idx) {
                *d = if self.invert { v * div[k] } else { v / div[k] };
            }
        }
        Ok(vec![super::shaped_like(x, dx)?])
    }

    fn config(&self) -> Value {
        let (mean, variance) = match &self.given {
            Some(g) => g.raw.clone(),
            None => (Value::Null, Value::Null),
        };
        json!({
            "axis": self.axis,
            "invert": self.invert,
            "mean": mean,
            "variance": variance,
        })
    }
}
