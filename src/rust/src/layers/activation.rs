//! Activation: `y = act(x)` on the last axis (softmax normalises over it).
//!
//! # Shapes
//! any input `[batch, ..., d]` -> the same shape.

use super::{field, one_input, Cache, Ctx, Layer, Map, Shape, Tensor};
use crate::activations::Act;
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct Activation {
    pub act: Act,
}

impl Activation {
    pub fn from_config(c: &Value) -> RkResult<Activation> {
        let name: String = field(c, "Activation", "activation")?;
        Ok(Activation {
            act: Act::parse(&name)?,
        })
    }
}

fn last_dim(t: &Tensor) -> usize {
    t.shape().last().copied().unwrap_or(1).max(1)
}

impl Layer for Activation {
    fn passes_mask(&self) -> bool {
        true
    }

    fn class_name(&self) -> &'static str {
        "Activation"
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        Ok(one_input(name, inputs)?.clone())
    }

    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        let mut y = Tensor::zeros(x.raw_dim());
        let cols = last_dim(x);
        self.act.forward(
            x.as_slice().expect("standard"),
            y.as_slice_mut().expect("standard"),
            cols,
        );
        Ok((y, None))
    }

    fn elementwise(&self, _training: bool) -> Option<Map> {
        let act = self.act;
        Some(std::sync::Arc::new(
            move |x: &mut [f32], cols: usize| match act {
                Act::Softmax => x
                    .chunks_exact_mut(cols)
                    .for_each(crate::activations::softmax_in_place),
                act => act.apply(x),
            },
        ))
    }

    fn backward(
        &self,
        xs: &[&Tensor],
        y: &Tensor,
        _cache: &Cache,
        mut g: Tensor,
        _pgrads: &mut [Tensor],
        _ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        let cols = last_dim(y);
        let gs = g
            .as_slice_mut()
            .ok_or_else(|| RkError::Internal("gradient not contiguous".into()))?;
        self.act.backward(
            xs[0].as_slice().expect("standard"),
            y.as_slice().expect("standard"),
            gs,
            cols,
        );
        Ok(vec![g])
    }

    fn config(&self) -> Value {
        json!({"activation": self.act.name()})
    }
}

/// The activation layers with parameters: LeakyReLU, ReLU, ELU and Softmax.
#[derive(Clone, Debug)]
pub enum Rectifier {
    /// `x` for `x >= 0`, else `negative_slope * x`.
    LeakyRelu { slope: f32 },
    /// Keras's `relu(x, negative_slope, max_value, threshold)`: `x` above `threshold` (else
    /// 0), clipped to `[0, max_value]`, less `negative_slope * max(threshold - x, 0)`.
    Relu {
        slope: f32,
        max_value: Option<f32>,
        threshold: f32,
    },
    /// `x` for `x > 0`, else `alpha * (exp(x) - 1)`.
    Elu { alpha: f32 },
    /// Softmax over the last axis.
    Softmax,
}

impl Rectifier {
    pub fn from_config(class: &str, c: &Value) -> RkResult<Rectifier> {
        let num = |key: &str, default: f32| -> RkResult<f32> {
            let v: Option<f64> = super::field_or(c, class, key, None)?;
            let v = v.map(|v| v as f32).unwrap_or(default);
            if !v.is_finite() {
                return Err(RkError::Spec(format!(
                    "{class} `{key}` must be a finite number"
                )));
            }
            Ok(v)
        };
        Ok(match class {
            "LeakyReLU" => {
                // Keras 3 names it `negative_slope`; Keras 2 `alpha`.
                let slope = match c.get("negative_slope") {
                    Some(v) if !v.is_null() => num("negative_slope", 0.3)?,
                    _ => num("alpha", 0.3)?,
                };
                Rectifier::LeakyRelu { slope }
            }
            "ReLU" => {
                let max: Option<f64> = super::field_or(c, class, "max_value", None)?;
                if max.is_some_and(|m| m.is_nan() || m < 0.0) {
                    return Err(RkError::Spec("ReLU `max_value` must be >= 0".into()));
                }
                let slope = num("negative_slope", 0.0)?;
                if slope < 0.0 {
                    return Err(RkError::Spec("ReLU `negative_slope` must be >= 0".into()));
                }
                Rectifier::Relu {
                    slope,
                    max_value: max.map(|m| m as f32),
                    threshold: num("threshold", 0.0)?,
                }
            }
            "ELU" => Rectifier::Elu {
                alpha: num("alpha", 1.0)?,
            },
            "Softmax" => {
                let axis = c.get("axis").cloned().unwrap_or(json!(-1));
                if axis != json!(-1) && axis != json!([-1]) {
                    return Err(RkError::Unsupported(format!(
                        "Softmax `axis = {axis}` is not supported by rkeras yet (only -1)"
                    )));
                }
                Rectifier::Softmax
            }
            other => {
                return Err(RkError::Internal(format!(
                    "not an activation layer: {other}"
                )))
            }
        })
    }

    /// `x = f(x)` in place (not for softmax), the variant chosen once rather than per value.
    fn apply(&self, x: &mut [f32]) {
        match *self {
            Rectifier::Relu {
                slope: 0.0,
                max_value,
                threshold: 0.0,
            } => match max_value {
                // ReLU6 and plain ReLU: what `value()` gives when slope and threshold are 0.
                Some(m) => x.iter_mut().for_each(|v| *v = v.max(0.0).min(m)),
                None => x.iter_mut().for_each(|v| *v = v.max(0.0)),
            },
            Rectifier::LeakyRelu { slope } => {
                let r = Rectifier::LeakyRelu { slope };
                x.iter_mut().for_each(|v| *v = r.value(*v))
            }
            _ => x.iter_mut().for_each(|v| *v = self.value(*v)),
        }
    }

    fn value(&self, x: f32) -> f32 {
        match *self {
            Rectifier::LeakyRelu { slope } => {
                if x >= 0.0 {
                    x
                } else {
                    slope * x
                }
            }
            Rectifier::Relu {
                slope,
                max_value,
                threshold,
            } => {
                let mut y = if threshold != 0.0 {
                    if x > threshold {
                        x
                    } else {
                        0.0
                    }
                } else {
                    x.max(0.0)
                };
                if let Some(m) = max_value {
                    y = y.clamp(0.0, m);
                }
                y - slope * (threshold - x).max(0.0)
            }
            Rectifier::Elu { alpha } => {
                if x > 0.0 {
                    x
                } else {
                    alpha * x.exp_m1()
                }
            }
            Rectifier::Softmax => x,
        }
    }

    fn derivative(&self, x: f32) -> f32 {
        match *self {
            Rectifier::LeakyRelu { slope } => {
                if x >= 0.0 {
                    1.0
                } else {
                    slope
                }
            }
            Rectifier::Relu {
                slope,
                max_value,
                threshold,
            } => {
                let pass = if threshold != 0.0 {
                    x > threshold
                } else {
                    x > 0.0
                };
                let clipped = max_value.is_some_and(|m| x >= m || x < 0.0);
                let d = if pass && !clipped { 1.0 } else { 0.0 };
                d + if threshold - x > 0.0 { slope } else { 0.0 }
            }
            Rectifier::Elu { alpha } => {
                if x > 0.0 {
                    1.0
                } else {
                    alpha * x.exp()
                }
            }
            Rectifier::Softmax => 1.0,
        }
    }
}

impl Layer for Rectifier {
    fn passes_mask(&self) -> bool {
        true
    }

    fn class_name(&self) -> &'static str {
        match self {
            Rectifier::LeakyRelu { .. } => "LeakyReLU",
            Rectifier::Relu { .. } => "ReLU",
            Rectifier::Elu { .. } => "ELU",
            Rectifier::Softmax => "Softmax",
        }
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        Ok(one_input(name, inputs)?.clone())
    }

    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        if let Rectifier::Softmax = self {
            return Activation { act: Act::Softmax }.forward(xs, _ctx);
        }
        let mut y = x.to_owned();
        self.apply(y.as_slice_mut().expect("standard"));
        Ok((y, None))
    }

    fn elementwise(&self, training: bool) -> Option<Map> {
        if let Rectifier::Softmax = self {
            return Activation { act: Act::Softmax }.elementwise(training);
        }
        let r = self.clone();
        Some(std::sync::Arc::new(move |x: &mut [f32], _| r.apply(x)))
    }

    fn backward(
        &self,
        xs: &[&Tensor],
        y: &Tensor,
        cache: &Cache,
        mut g: Tensor,
        pgrads: &mut [Tensor],
        ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        if let Rectifier::Softmax = self {
            return Activation { act: Act::Softmax }.backward(xs, y, cache, g, pgrads, ctx);
        }
        g.zip_mut_with(xs[0], |g, &x| *g *= self.derivative(x));
        Ok(vec![g])
    }

    fn config(&self) -> Value {
        match *self {
            Rectifier::LeakyRelu { slope } => json!({"negative_slope": slope}),
            Rectifier::Relu {
                slope,
                max_value,
                threshold,
            } => json!({
                "max_value": max_value,
                "negative_slope": slope,
                "threshold": threshold,
            }),
            Rectifier::Elu { alpha } => json!({"alpha": alpha}),
            Rectifier::Softmax => json!({"axis": -1}),
        }
    }
}
