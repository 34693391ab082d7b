//! Noise layers, active in training only (the identity in inference), as Keras 3 defines them:
//! - `GaussianNoise(stddev)`: `y = x + n`, `n ~ N(0, stddev^2)`; `dx = g`.
//! - `GaussianDropout(rate)`: `y = x * n`, `n ~ N(1, rate / (1 - rate))`; `dx = g * n`.
//! - `AlphaDropout(rate)`: each value kept with probability `1 - rate`, a dropped one set to
//!   SELU's saturation `-alpha * scale`, then `a * x' + b` with `a = ((1 - rate) (1 + rate
//!   alpha_p^2))^(-1/2)`, `b = -a alpha_p rate`, which keeps a self-normalizing network's mean
//!   and variance; `dx = g * a * kept`.
//!
//! # Shapes
//! any input `[batch, ...]` -> the same shape.

use super::{field, field_or, one_input, Cache, Ctx, Layer, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    GaussianNoise { stddev: f32 },
    GaussianDropout { rate: f32 },
    AlphaDropout { rate: f32 },
}

#[derive(Clone, Debug)]
pub struct Noise {
    kind: Kind,
    seed: Option<u64>,
}

/// SELU's constants (Keras's `AlphaDropout`).
const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

impl Noise {
    pub fn from_config(class: &str, c: &Value) -> RkResult<Noise> {
        let rate = |c: &Value| -> RkResult<f32> {
            let r: f32 = field(c, class, "rate")?;
            if !(0.0..1.0).contains(&r) {
                return Err(RkError::Spec(format!(
                    "{class} `rate` must be in [0, 1), got {r}"
                )));
            }
            Ok(r)
        };
        let kind = match class {
            "GaussianNoise" => {
                let stddev: f32 = field(c, class, "stddev")?;
                if !(stddev >= 0.0 && stddev.is_finite()) {
                    return Err(RkError::Spec(format!(
                        "GaussianNoise `stddev` must be a number >= 0, got {stddev}"
                    )));
                }
                Kind::GaussianNoise { stddev }
            }
            "GaussianDropout" => Kind::GaussianDropout { rate: rate(c)? },
            "AlphaDropout" => {
                if !matches!(c.get("noise_shape"), None | Some(Value::Null)) {
                    return Err(RkError::Unsupported(
                        "AlphaDropout `noise_shape` is not supported by rkeras yet".into(),
                    ));
                }
                Kind::AlphaDropout { rate: rate(c)? }
            }
            other => return Err(RkError::Internal(format!("not a noise layer: {other}"))),
        };
        Ok(Noise {
            kind,
            seed: field_or(c, class, "seed", None)?,
        })
    }

    /// The factor `dy/dx` of each value (`None`: 1 everywhere) and `y`, for a training pass.
    fn draw(&self, x: &[f32], rng: &mut Rng) -> (Vec<f32>, Option<Vec<f32>>) {
        match self.kind {
            Kind::GaussianNoise { stddev } => {
                let y = x
                    .iter()
                    .map(|&v| v + (rng.normal() * stddev as f64) as f32)
                    .collect();
                (y, None)
            }
            Kind::GaussianDropout { rate } => {
                let sd = (rate as f64 / (1.0 - rate as f64)).sqrt();
                let n: Vec<f32> = x.iter().map(|_| (1.0 + rng.normal() * sd) as f32).collect();
                (x.iter().zip(&n).map(|(a, b)| a * b).collect(), Some(n))
            }
            Kind::AlphaDropout { rate } => {
                let r = rate as f64;
                let alpha_p = -SELU_ALPHA * SELU_SCALE;
                let a = ((1.0 - r) * (1.0 + r * alpha_p * alpha_p)).powf(-0.5);
                let b = -a * alpha_p * r;
                let mut d = Vec::with_capacity(x.len());
                let y = x
                    .iter()
                    .map(|&v| {
                        let kept = rng.uniform_f64() >= r;
                        d.push(if kept { a as f32 } else { 0.0 });
                        let v = if kept { v as f64 } else { alpha_p };
                        (a * v + b) as f32
                    })
                    .collect();
                (y, Some(d))
            }
        }
    }
}

impl Layer for Noise {
    fn passes_mask(&self) -> bool {
        true
    }

    fn class_name(&self) -> &'static str {
        match self.kind {
            Kind::GaussianNoise { .. } => "GaussianNoise",
            Kind::GaussianDropout { .. } => "GaussianDropout",
            Kind::AlphaDropout { .. } => "AlphaDropout",
        }
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        Ok(one_input(name, inputs)?.clone())
    }

    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        let idle = match self.kind {
            Kind::GaussianNoise { stddev } => stddev == 0.0,
            Kind::GaussianDropout { rate } | Kind::AlphaDropout { rate } => rate == 0.0,
        };
        if !ctx.training || idle {
            return Ok((x.clone(), None));
        }
        let xsl = x.as_slice().expect("standard layout");
        let (y, d) = self.draw(xsl, &mut ctx.rng);
        let t = |v| super::shaped_like(x, v);
        Ok((t(y)?, d.map(t).transpose()?))
    }

    fn elementwise(&self, training: bool) -> Option<super::Map> {
        super::pass_through(training)
    }

    fn backward(
        &self,
        _xs: &[&Tensor],
        _y: &Tensor,
        cache: &Cache,
        g: Tensor,
        _pgrads: &mut [Tensor],
        _ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        Ok(vec![super::masked(g, cache)])
    }

    fn config(&self) -> Value {
        match self.kind {
            Kind::GaussianNoise { stddev } => json!({"stddev": stddev, "seed": self.seed}),
            Kind::GaussianDropout { rate } => json!({"rate": rate, "seed": self.seed}),
            Kind::AlphaDropout { rate } => {
                json!({"rate": rate, "noise_shape": null, "seed": self.seed})
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(training: bool) -> Ctx {
        crate::layers::test_ctx(training, Rng::keyed(&[3, 4, 5]))
    }

    fn run(class: &str, config: Value, x: &[f32], training: bool) -> Vec<f32> {
        let layer = Noise::from_config(class, &config).unwrap();
        let t = Tensor::from_shape_vec(vec![x.len(), 1], x.to_vec()).unwrap();
        layer
            .forward(&[&t], &mut ctx(training))
            .unwrap()
            .0
            .into_raw_vec_and_offset()
            .0
    }

    fn moments(v: &[f32]) -> (f64, f64) {
        let n = v.len() as f64;
        let m = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        (
            m,
            v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / n,
        )
    }

    #[test]
    fn noise_layers_are_the_identity_in_inference_and_have_keras_moments_in_training() {
        let n = 200_000;
        let ones = vec![1.0f32; n];
        for (class, config) in [
            ("GaussianNoise", json!({"stddev": 0.5})),
            ("GaussianDropout", json!({"rate": 0.2})),
            ("AlphaDropout", json!({"rate": 0.2})),
        ] {
            assert_eq!(run(class, config.clone(), &ones, false), ones, "{class}");
        }
        // x + N(0, 0.25): mean 1, variance 0.25.
        let (m, v) = moments(&run("GaussianNoise", json!({"stddev": 0.5}), &ones, true));
        assert!((m - 1.0).abs() < 0.01 && (v - 0.25).abs() < 0.01, "{m} {v}");
        // x * N(1, 0.2 / 0.8): mean 1, variance 0.25.
        let (m, v) = moments(&run("GaussianDropout", json!({"rate": 0.2}), &ones, true));
        assert!((m - 1.0).abs() < 0.01 && (v - 0.25).abs() < 0.01, "{m} {v}");
        // Standard normal inputs keep mean 0 and variance 1 (self-normalizing).
        let mut rng = Rng::new(9);
        let z: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
        let (m, v) = moments(&run("AlphaDropout", json!({"rate": 0.3}), &z, true));
        assert!(m.abs() < 0.01 && (v - 1.0).abs() < 0.02, "{m} {v}");
    }
}
