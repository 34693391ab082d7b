//! BatchNormalization over the last axis (and the part it shares with LayerNormalization,
//! in [`super::layer_norm`]).
//!
//! Both compute `y = gamma * (x - mean) / sqrt(var + epsilon) + beta` with the biased
//! variance. Batch normalization takes mean and variance per channel over the batch (and
//! every leading axis) in training, and its moving averages in inference; each training
//! call moves them: `moving = moving * momentum + batch * (1 - momentum)`. Layer
//! normalization takes them per sample position over the last axis.
//!
//! # Shapes
//! any input `[batch, ..., c]` -> the same shape; `gamma`, `beta`, `moving_mean`,
//! `moving_variance` of length `c` (in that order, as Keras's `get_weights()`).
//!
//! # Backward
//! With `xh` the normalized input, `n` values per statistic and `dxh = g * gamma`:
//! `dx = (n dxh - sum(dxh) - xh sum(dxh xh)) / (n sqrt(var + eps))` in training (statistics
//! depend on `x`), `dx = dxh / sqrt(moving_var + eps)` in inference.

use super::{field_or, one_input, shape_error, Cache, Ctx, Layer, Param, Shape, Tensor};
use crate::config::init_to_value;
use crate::error::{RkError, RkResult};
use crate::initializers::Init;
use crate::rng::Rng;
use serde_json::{json, Value};

/// `axis` must name the last axis (`-1`, or its index counting the batch axis).
pub(super) fn check_axis(c: &Value, class: &str, name: &str, rank: usize) -> RkResult<()> {
    let v = c.get("axis").cloned().unwrap_or(json!(-1));
    let v = match v {
        Value::Array(a) if a.len() == 1 => a[0].clone(),
        other => other,
    };
    match v.as_i64() {
        Some(-1) => Ok(()),
        Some(a) if a == rank as i64 => Ok(()),
        _ => Err(RkError::Unsupported(format!(
            "{class} '{name}': `axis = {v}` is not supported; rkeras normalizes over the last (channels) axis only (-1 or {rank})"
        ))),
    }
}

fn init(c: &Value, key: &str, default: &str) -> RkResult<Init> {
    match c.get(key) {
        None | Some(Value::Null) => Init::parse(default, 0.0, 0.0),
        Some(v) => crate::config::init_from_value(v),
    }
}

/// Normalization's common part: config, and gamma/beta.
#[derive(Clone, Debug)]
pub(super) struct Affine {
    pub(super) epsilon: f64,
    center: bool,
    scale: bool,
    gamma_init: Init,
    beta_init: Init,
    /// The raw config, for `axis` checks at build time.
    pub(super) axis: Value,
}

impl Affine {
    pub(super) fn from_config(c: &Value, class: &str) -> RkResult<Affine> {
        super::refuse_unsupported(
            c,
            class,
            &[
                "beta_regularizer",
                "gamma_regularizer",
                "beta_constraint",
                "gamma_constraint",
            ],
        )?;
        let epsilon: f64 = field_or(c, class, "epsilon", 1e-3)?;
        if epsilon.is_nan() || epsilon <= 0.0 {
            return Err(RkError::Spec(format!("{class} `epsilon` must be positive")));
        }
        Ok(Affine {
            epsilon,
            center: field_or(c, class, "center", true)?,
            scale: field_or(c, class, "scale", true)?,
            gamma_init: init(c, "gamma_initializer", "ones")?,
            beta_init: init(c, "beta_initializer", "zeros")?,
            axis: json!({"axis": c.get("axis").cloned().unwrap_or(json!(-1))}),
        })
    }

    pub(super) fn params(&self, ch: usize) -> RkResult<Vec<Param>> {
        let mut rng = Rng::new(0);
        let mut out = Vec::new();
        for (on, name, init) in [
            (self.scale, "gamma", &self.gamma_init),
            (self.center, "beta", &self.beta_init),
        ] {
            if on {
                let mut v = super::zeros(ch);
                init.fill(&mut v, ch, ch, &mut rng);
                out.push(Param {
                    name,
                    value: super::tensor(ch, &[], v)?,
                    trainable: true,
                });
            }
        }
        Ok(out)
    }

    /// gamma and beta (ones and zeros when absent) from the first parameters.
    pub(super) fn gamma_beta(&self, params: &[Param], ch: usize) -> (Vec<f32>, Vec<f32>) {
        let mut it = params.iter();
        let gamma = if self.scale {
            it.next().expect("gamma").value.iter().copied().collect()
        } else {
            vec![1.0; ch]
        };
        let beta = if self.center {
            it.next().expect("beta").value.iter().copied().collect()
        } else {
            super::zeros(ch)
        };
        (gamma, beta)
    }

    pub(super) fn config(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("axis".into(), self.axis["axis"].clone());
        m.insert("epsilon".into(), json!(self.epsilon));
        m.insert("center".into(), json!(self.center));
        m.insert("scale".into(), json!(self.scale));
        m.insert("beta_initializer".into(), init_to_value(&self.beta_init));
        m.insert("gamma_initializer".into(), init_to_value(&self.gamma_init));
        for k in [
            "beta_regularizer",
            "gamma_regularizer",
            "beta_constraint",
            "gamma_constraint",
        ] {
            m.insert(k.into(), Value::Null);
        }
        m
    }

    /// Add gamma's and beta's gradients (`sum g xh`, `sum g`) to `pgrads`.
    pub(super) fn param_grads(&self, pgrads: &mut [Tensor], dgamma: &[f64], dbeta: &[f64]) {
        let mut k = 0;
        for (on, d) in [(self.scale, dgamma), (self.center, dbeta)] {
            if on {
                if let Some(p) = pgrads.get_mut(k) {
                    p.iter_mut().zip(d).for_each(|(p, &d)| *p += d as f32);
                }
                k += 1;
            }
        }
    }
}

pub(super) fn channels(name: &str, inputs: &[Shape]) -> RkResult<(usize, usize)> {
    let s = one_input(name, inputs)?;
    match s.last() {
        Some(&c) => Ok((c, s.len())),
        None => Err(shape_error(
            name,
            "needs inputs of rank 1 or more, got a scalar per sample".into(),
        )),
    }
}

#[derive(Clone, Debug)]
pub struct BatchNorm {
    affine: Affine,
    momentum: f64,
    moving_mean_init: Init,
    moving_var_init: Init,
    params: Vec<Param>,
}

impl BatchNorm {
    pub fn from_config(c: &Value) -> RkResult<BatchNorm> {
        let cls = "BatchNormalization";
        if field_or(c, cls, "synchronized", false)? {
            return Err(RkError::Unsupported(
                "BatchNormalization `synchronized = TRUE` is not supported".into(),
            ));
        }
        if field_or(c, cls, "renorm", false)? {
            return Err(RkError::Unsupported(
                "BatchNormalization `renorm = TRUE` is not supported by rkeras yet".into(),
            ));
        }
        super::refuse_unsupported(c, cls, &["virtual_batch_size", "adjustment"])?;
        let momentum: f64 = field_or(c, cls, "momentum", 0.99)?;
        if !(0.0..=1.0).contains(&momentum) {
            return Err(RkError::Spec(format!(
                "BatchNormalization `momentum` must be in [0, 1], got {momentum}"
            )));
        }
        Ok(BatchNorm {
            affine: Affine::from_config(c, cls)?,
            momentum,
            moving_mean_init: init(c, "moving_mean_initializer", "zeros")?,
            moving_var_init: init(c, "moving_variance_initializer", "ones")?,
            params: Vec::new(),
        })
    }

    fn moving(&self) -> (&Param, &Param) {
        let n = self.params.len();
        (&self.params[n - 2], &self.params[n - 1])
    }

    /// The moving mean and variance, widened.
    fn moving_f64(&self) -> (Vec<f64>, Vec<f64>) {
        let (m, v) = self.moving();
        let f = |p: &Param| p.value.iter().map(|&v| v as f64).collect::<Vec<f64>>();
        (f(m), f(v))
    }

    /// Per channel `a = gamma / sqrt(var + epsilon)` and `b = beta - mean * a`: the layer is
    /// `x * a + b`.
    fn coefficients(&self, mean: &[f64], var: &[f64]) -> (Vec<f32>, Vec<f32>) {
        let ch = mean.len();
        let (gamma, beta) = self.affine.gamma_beta(&self.params, ch);
        let a: Vec<f32> = (0..ch)
            .map(|j| (gamma[j] as f64 / (var[j] + self.affine.epsilon).sqrt()) as f32)
            .collect();
        let b: Vec<f32> = (0..ch).map(|j| beta[j] - (mean[j] as f32) * a[j]).collect();
        (a, b)
    }
}

crate::simd::multiversion! {
    /// `x = x * a + b` per channel (the last axis, as wide as `a`) in place.
    fn scale_shift(x: &mut [f32], a: &[f32], b: &[f32]) {
        for xr in x.chunks_exact_mut(a.len()) {
            for ((x, a), b) in xr.iter_mut().zip(a).zip(b) {
                *x = *x * a + b;
            }
        }
    }
}

impl Layer for BatchNorm {
    fn passes_mask(&self) -> bool {
        true
    }

    fn class_name(&self) -> &'static str {
        "BatchNormalization"
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let (ch, rank) = channels(name, inputs)?;
        check_axis(&self.affine.axis, "BatchNormalization", name, rank)?;
        if !self.params.is_empty() {
            if self.params[self.params.len() - 1].value.len() != ch {
                return Err(shape_error(
                    name,
                    format!(
                        "expects {} channels, got {ch}",
                        self.params[self.params.len() - 1].value.len()
                    ),
                ));
            }
            return Ok(inputs[0].clone());
        }
        let mut params = self.affine.params(ch)?;
        let mut rng = Rng::new(0);
        for (name, init) in [
            ("moving_mean", &self.moving_mean_init),
            ("moving_variance", &self.moving_var_init),
        ] {
            let mut v = super::zeros(ch);
            init.fill(&mut v, ch, ch, &mut rng);
            params.push(Param {
                name,
                value: super::tensor(ch, &[], v)?,
                trainable: false,
            });
        }
        self.params = params;
        Ok(inputs[0].clone())
    }

    fn params(&self) -> Vec<&Param> {
        self.params.iter().collect()
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.params.iter_mut().collect()
    }

    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        let ch = *x.shape().last().expect("rank checked");
        let xsl = x.as_slice().expect("standard");
        let (mean, var, cache) = if ctx.training {
            let (mean, var) = column_moments(xsl, ch);
            let mut stats = mean.clone();
            stats.extend_from_slice(&var);
            let cache = super::tensor(2, &[ch], stats.iter().map(|&v| v as f32).collect())?;
            (mean, var, Some(cache))
        } else {
            let (mean, var) = self.moving_f64();
            (mean, var, None)
        };
        let mut y = x.to_owned();
        let (a, b) = self.coefficients(&mean, &var);
        scale_shift(y.as_slice_mut().expect("standard"), &a, &b);
        Ok((y, cache))
    }

    fn elementwise(&self, training: bool) -> Option<super::Map> {
        if training || self.params.is_empty() {
            return None;
        }
        let (mean, var) = self.moving_f64();
        let (a, b) = self.coefficients(&mean, &var);
        Some(std::sync::Arc::new(move |x: &mut [f32], _| {
            scale_shift(x, &a, &b)
        }))
    }

    fn backward(
        &self,
        xs: &[&Tensor],
        _y: &Tensor,
        cache: &Cache,
        g: Tensor,
        pgrads: &mut [Tensor],
        _ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        let x = xs[0];
        let ch = *x.shape().last().expect("rank checked");
        let xsl = x.as_slice().expect("standard");
        let gs = g.as_slice().expect("standard");
        let (gamma, _) = self.affine.gamma_beta(&self.params, ch);
        let eps = self.affine.epsilon;
        let (mean, var): (Vec<f64>, Vec<f64>) = match cache {
            Some(s) => {
                let s = s.as_slice().expect("standard");
                (
                    s[..ch].iter().map(|&v| v as f64).collect(),
                    s[ch..].iter().map(|&v| v as f64).collect(),
                )
            }
            None => {
                let (m, v) = self.moving();
                (
                    m.value.iter().map(|&v| v as f64).collect(),
                    v.value.iter().map(|&v| v as f64).collect(),
                )
            }
        };
        let inv: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
        let mut dgamma = vec![0.0f64; ch];
        let mut dbeta = vec![0.0f64; ch];
        for (xr, gr) in xsl.chunks_exact(ch).zip(gs.chunks_exact(ch)) {
            for j in 0..ch {
                let xh = (xr[j] as f64 - mean[j]) * inv[j];
                dgamma[j] += gr[j] as f64 * xh;
                dbeta[j] += gr[j] as f64;
            }
        }
        self.affine.param_grads(pgrads, &dgamma, &dbeta);
        let n = (xsl.len() / ch.max(1)) as f64;
        let mut dx = super::zeros(xsl.len());
        for ((dr, xr), gr) in dx
            .chunks_exact_mut(ch)
            .zip(xsl.chunks_exact(ch))
            .zip(gs.chunks_exact(ch))
        {
            for j in 0..ch {
                let gj = gamma[j] as f64;
                dr[j] = if cache.is_some() {
                    // sum(dxh) = gamma dbeta, sum(dxh xh) = gamma dgamma.
                    let xh = (xr[j] as f64 - mean[j]) * inv[j];
                    (gj * inv[j] / n * (n * gr[j] as f64 - dbeta[j] - xh * dgamma[j])) as f32
                } else {
                    (gr[j] as f64 * gj * inv[j]) as f32
                };
            }
        }
        Ok(vec![super::tensor(x.shape()[0], &x.shape()[1..], dx)?])
    }

    fn update_state(&mut self, cache: &Cache) {
        let Some(stats) = cache else { return };
        let stats = stats.as_slice().expect("standard");
        let m = self.momentum as f32;
        let n = self.params.len();
        let ch = stats.len() / 2;
        for (k, p) in self.params[n - 2..].iter_mut().enumerate() {
            let s = &stats[k * ch..(k + 1) * ch];
            p.value
                .iter_mut()
                .zip(s)
                .for_each(|(v, &b)| *v = *v * m + b * (1.0 - m));
        }
    }

    fn frozen_runs_inference(&self) -> bool {
        true
    }

    fn config(&self) -> Value {
        let mut m = self.affine.config();
        m.insert("momentum".into(), json!(self.momentum));
        m.insert(
            "moving_mean_initializer".into(),
            init_to_value(&self.moving_mean_init),
        );
        m.insert(
            "moving_variance_initializer".into(),
            init_to_value(&self.moving_var_init),
        );
        m.insert("synchronized".into(), json!(false));
        Value::Object(m)
    }
}

/// Per-column mean and biased variance of a row-major `[rows, ch]` buffer (two passes, f64).
fn column_moments(x: &[f32], ch: usize) -> (Vec<f64>, Vec<f64>) {
    let n = (x.len() / ch.max(1)).max(1) as f64;
    let mut mean = vec![0.0f64; ch];
    for r in x.chunks_exact(ch) {
        mean.iter_mut().zip(r).for_each(|(m, &v)| *m += v as f64);
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0.0f64; ch];
    for r in x.chunks_exact(ch) {
        for j in 0..ch {
            let d = r[j] as f64 - mean[j];
            var[j] += d * d;
        }
    }
    var.iter_mut().for_each(|v| *v /= n);
    (mean, var)
}
