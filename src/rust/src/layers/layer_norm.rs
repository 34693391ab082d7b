//! LayerNormalization over the last axis: per sample position, `y = gamma * (x - mean) /
//! sqrt(var + epsilon) + beta` with the biased variance, the same in training and inference.
//!
//! # Shapes
//! any input `[batch, ..., c]` -> the same shape; `gamma`, `beta` of length `c`.
//!
//! # Backward
//! Per row of `n = c` values, with `xh` the normalized input and `dxh = g * gamma`:
//! `dx = (n dxh - sum(dxh) - xh sum(dxh xh)) / (n sqrt(var + eps))`.

use super::normalization::{channels, check_axis, Affine};
use super::{field_or, shape_error, Cache, Ctx, Layer, Param, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct LayerNorm {
    affine: Affine,
    params: Vec<Param>,
}

impl LayerNorm {
    pub fn from_config(c: &Value) -> RkResult<LayerNorm> {
        let cls = "LayerNormalization";
        if field_or(c, cls, "rms_scaling", false)? {
            return Err(RkError::Unsupported(
                "LayerNormalization `rms_scaling = TRUE` is not supported by rkeras yet".into(),
            ));
        }
        Ok(LayerNorm {
            affine: Affine::from_config(c, cls)?,
            params: Vec::new(),
        })
    }
}

impl Layer for LayerNorm {
    fn passes_mask(&self) -> bool {
        true
    }

    fn class_name(&self) -> &'static str {
        "LayerNormalization"
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let (ch, rank) = channels(name, inputs)?;
        check_axis(&self.affine.axis, "LayerNormalization", name, rank)?;
        if self.params.is_empty() {
            self.params = self.affine.params(ch)?;
        } else if self.params.first().is_some_and(|p| p.value.len() != ch) {
            return Err(shape_error(
                name,
                format!("expects {} features, got {ch}", self.params[0].value.len()),
            ));
        }
        Ok(inputs[0].clone())
    }

    fn params(&self) -> Vec<&Param> {
        self.params.iter().collect()
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.params.iter_mut().collect()
    }

    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        let ch = *x.shape().last().expect("rank checked");
        let (gamma, beta) = self.affine.gamma_beta(&self.params, ch);
        let xsl = x.as_slice().expect("standard");
        let mut y = super::zeros(xsl.len());
        for (yr, xr) in y.chunks_exact_mut(ch).zip(xsl.chunks_exact(ch)) {
            let (mean, inv) = row_stats(xr, self.affine.epsilon);
            for j in 0..ch {
                yr[j] = (((xr[j] as f64 - mean) * inv) as f32) * gamma[j] + beta[j];
            }
        }
        Ok((super::tensor(x.shape()[0], &x.shape()[1..], y)?, None))
    }

    fn backward(
        &self,
        xs: &[&Tensor],
        _y: &Tensor,
        _cache: &Cache,
        g: Tensor,
        pgrads: &mut [Tensor],
        _ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        let x = xs[0];
        let ch = *x.shape().last().expect("rank checked");
        let (gamma, _) = self.affine.gamma_beta(&self.params, ch);
        let xsl = x.as_slice().expect("standard");
        let gs = g.as_slice().expect("standard");
        let mut dgamma = vec![0.0f64; ch];
        let mut dbeta = vec![0.0f64; ch];
        let mut dx = super::zeros(xsl.len());
        let n = ch as f64;
        let mut xh = vec![0.0f64; ch];
        for ((dr, xr), gr) in dx
            .chunks_exact_mut(ch)
            .zip(xsl.chunks_exact(ch))
            .zip(gs.chunks_exact(ch))
        {
            let (mean, inv) = row_stats(xr, self.affine.epsilon);
            let (mut s1, mut s2) = (0.0f64, 0.0f64);
            for j in 0..ch {
                xh[j] = (xr[j] as f64 - mean) * inv;
                let dxh = gr[j] as f64 * gamma[j] as f64;
                s1 += dxh;
                s2 += dxh * xh[j];
                dgamma[j] += gr[j] as f64 * xh[j];
                dbeta[j] += gr[j] as f64;
            }
            for j in 0..ch {
                let dxh = gr[j] as f64 * gamma[j] as f64;
                dr[j] = (inv / n * (n * dxh - s1 - xh[j] * s2)) as f32;
            }
        }
        self.affine.param_grads(pgrads, &dgamma, &dbeta);
        Ok(vec![super::tensor(x.shape()[0], &x.shape()[1..], dx)?])
    }

    fn config(&self) -> Value {
        let mut m = self.affine.config();
        m.insert("rms_scaling".into(), json!(false));
        Value::Object(m)
    }
}

/// Mean and `1 / sqrt(var + eps)` of one row.
fn row_stats(x: &[f32], eps: f64) -> (f64, f64) {
    let n = x.len().max(1) as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}
