//! GroupNormalization: the channels split into `groups` groups, each sample normalized over
//! each group's channels and all positions, `y = gamma * (x - mean) / sqrt(var + epsilon) +
//! beta` with the biased variance and per-channel `gamma`, `beta`; the same in training and
//! inference. `groups = -1` puts each channel in a group of its own (instance normalization).
//!
//! # Shapes
//! any input `[batch, ..., c]` (`c` a multiple of `groups`) -> the same shape; `gamma`,
//! `beta` of length `c`.
//!
//! # Backward
//! Per sample and group of `n` values, with `xh` the normalized input and `dxh = g * gamma`:
//! `dx = (n dxh - sum(dxh) - xh sum(dxh xh)) / (n sqrt(var + eps))`.

use super::normalization::{channels, check_axis, Affine};
use super::{field_or, shape_error, Cache, Ctx, Layer, Param, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct GroupNorm {
    /// As configured (`-1`: one group per channel).
    groups: i64,
    affine: Affine,
    params: Vec<Param>,
}

impl GroupNorm {
    pub fn from_config(c: &Value) -> RkResult<GroupNorm> {
        let cls = "GroupNormalization";
        let groups: i64 = field_or(c, cls, "groups", 32)?;
        if groups == 0 || groups < -1 {
            return Err(RkError::Spec(format!(
                "{cls} `groups` must be a positive integer or -1 (one group per channel), not {groups}"
            )));
        }
        Ok(GroupNorm {
            groups,
            affine: Affine::from_config(c, cls)?,
            params: Vec::new(),
        })
    }

    fn group_count(&self, ch: usize) -> usize {
        if self.groups < 0 {
            ch
        } else {
            self.groups as usize
        }
    }

    /// Each sample's groups: `(positions, channels per group)` and, for group `k` of sample
    /// `b`, the mean and `1 / sqrt(var + eps)`.
    fn stats(&self, x: &[f32], batch: usize, ch: usize) -> Vec<(f64, f64)> {
        let groups = self.group_count(ch);
        let per = ch / groups;
        let rows = x.len() / batch.max(1) / ch.max(1);
        let n = (rows * per).max(1) as f64;
        let mut out = Vec::with_capacity(batch * groups);
        for b in 0..batch {
            let xs = &x[b * rows * ch..(b + 1) * rows * ch];
            for k in 0..groups {
                let vals = || {
                    xs.chunks_exact(ch)
                        .flat_map(|r| r[k * per..(k + 1) * per].iter())
                };
                let mean = vals().map(|&v| v as f64).sum::<f64>() / n;
                let var = vals().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
                out.push((mean, 1.0 / (var + self.affine.epsilon).sqrt()));
            }
        }
        out
    }
}

impl Layer for GroupNorm {
    fn passes_mask(&self) -> bool {
        true
    }

    fn class_name(&self) -> &'static str {
        "GroupNormalization"
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let (ch, rank) = channels(name, inputs)?;
        check_axis(&self.affine.axis, "GroupNormalization", name, rank)?;
        let groups = self.group_count(ch);
        if groups > ch || ch % groups != 0 {
            return Err(shape_error(
                name,
                format!("needs a number of channels divisible by `groups` = {groups}, got {ch}"),
            ));
        }
        if self.params.is_empty() {
            self.params = self.affine.params(ch)?;
        } else if self.params.first().is_some_and(|p| p.value.len() != ch) {
            return Err(shape_error(
                name,
                format!("expects {} channels, got {ch}", self.params[0].value.len()),
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
        let batch = x.shape()[0];
        let ch = *x.shape().last().expect("rank checked");
        let per = ch / self.group_count(ch);
        let (gamma, beta) = self.affine.gamma_beta(&self.params, ch);
        let xsl = x.as_slice().expect("standard");
        let stats = self.stats(xsl, batch, ch);
        let rows = xsl.len() / batch.max(1) / ch.max(1);
        let mut y = super::zeros(xsl.len());
        for (i, (yr, xr)) in y.chunks_exact_mut(ch).zip(xsl.chunks_exact(ch)).enumerate() {
            let b = i / rows.max(1);
            for j in 0..ch {
                let (mean, inv) = stats[b * (ch / per) + j / per];
                yr[j] = (((xr[j] as f64 - mean) * inv) as f32) * gamma[j] + beta[j];
            }
        }
        Ok((super::shaped_like(x, y)?, None))
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
        let batch = x.shape()[0];
        let ch = *x.shape().last().expect("rank checked");
        let groups = self.group_count(ch);
        let per = ch / groups;
        let (gamma, _) = self.affine.gamma_beta(&self.params, ch);
        let xsl = x.as_slice().expect("standard");
        let g = super::standard(g);
        let gs = g.as_slice().expect("standard");
        let stats = self.stats(xsl, batch, ch);
        let rows = xsl.len() / batch.max(1) / ch.max(1);
        let n = (rows * per) as f64;
        let mut dgamma = vec![0.0f64; ch];
        let mut dbeta = vec![0.0f64; ch];
        // Value `i` (row-major): its sample's group, the normalized input and `g * gamma`.
        let at = |i: usize| {
            let j = i % ch;
            let k = (i / ch / rows.max(1)) * groups + j / per;
            let (mean, inv) = stats[k];
            (
                k,
                j,
                inv,
                (xsl[i] as f64 - mean) * inv,
                gs[i] as f64 * gamma[j] as f64,
            )
        };
        // Per sample and group: sum(dxh) and sum(dxh xh).
        let mut sums = vec![(0.0f64, 0.0f64); batch * groups];
        for (i, &gi) in gs.iter().enumerate() {
            let (k, j, _, xh, dxh) = at(i);
            sums[k].0 += dxh;
            sums[k].1 += dxh * xh;
            dgamma[j] += gi as f64 * xh;
            dbeta[j] += gi as f64;
        }
        let dx: Vec<f32> = (0..xsl.len())
            .map(|i| {
                let (k, _, inv, xh, dxh) = at(i);
                (inv / n * (n * dxh - sums[k].0 - xh * sums[k].1)) as f32
            })
            .collect();
        self.affine.param_grads(pgrads, &dgamma, &dbeta);
        Ok(vec![super::shaped_like(x, dx)?])
    }

    fn config(&self) -> Value {
        let mut m = self.affine.config();
        m.insert("groups".into(), json!(self.groups));
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::check_grad;

    #[test]
    fn group_normalization_gradients() {
        for groups in [2, -1] {
            let mut layer = GroupNorm::from_config(&json!({"groups": groups})).unwrap();
            layer.build("g", &[vec![3, 4]], &mut Rng::new(1)).unwrap();
            let mut rng = Rng::new(4);
            for p in layer.params_mut() {
                p.value.mapv_inplace(|v| v + rng.uniform_f32() - 0.5);
            }
            let xv: Vec<f32> = (0..24).map(|_| rng.uniform_f32() * 2.0 - 1.0).collect();
            let r: Vec<f32> = (0..24).map(|_| rng.uniform_f32() - 0.5).collect();
            let ctx = || Ctx {
                training: false,
                backward: true,
                rng: Rng::new(0),
                threads: 1,
                input_grads: true,
                mask: None,
                input_masks: Vec::new(),
                epilogue: Vec::new(),
                added_loss: 0.0,
            };
            let objective = |l: &GroupNorm, v: &[f32]| -> f64 {
                let x = super::super::tensor(2, &[3, 4], v.to_vec()).unwrap();
                let (y, _) = l.forward(&[&x], &mut ctx()).unwrap();
                y.iter()
                    .zip(&r)
                    .map(|(a, b)| (*a as f64) * (*b as f64))
                    .sum()
            };
            let x = super::super::tensor(2, &[3, 4], xv.clone()).unwrap();
            let (y, c) = layer.forward(&[&x], &mut ctx()).unwrap();
            let g = super::super::shaped_like(&y, r.clone()).unwrap();
            let mut pg: Vec<Tensor> = layer
                .params()
                .iter()
                .map(|p| super::super::zeros_like(&p.value.raw_dim()))
                .collect();
            let dx = layer
                .backward(&[&x], &y, &c, g, &mut pg, &mut ctx())
                .unwrap();
            check_grad("x", &xv, dx[0].as_slice().unwrap(), |v| {
                objective(&layer, v)
            })
            .unwrap();
            for (k, gk) in pg.iter().enumerate() {
                let base = layer.params[k].value.as_slice().unwrap().to_vec();
                check_grad("param", &base, gk.as_slice().unwrap(), |v| {
                    let mut l = layer.clone();
                    l.params[k].value.as_slice_mut().unwrap().copy_from_slice(v);
                    objective(&l, &xv)
                })
                .unwrap();
            }
        }
    }
}
