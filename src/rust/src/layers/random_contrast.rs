//! RandomContrast (an image augmentation layer), as Keras 3 computes it: in training, each
//! image gets a contrast factor `f` drawn uniformly from `[1 - lower, 1 + upper]` (the
//! config's `factor` pair, sorted; a single number `u` is the pair `(0, u)`), and each value moves away from its channel's mean over the
//! image: `clip((x - mean) * f + mean, value_range)`. In inference the images pass
//! unchanged. Backward: `f` times the gradient, plus `(1 - f) / (h w)` times the channel's
//! summed gradient, where the output was not clipped.
//!
//! # Shapes
//! `[batch, height, width, channels]` -> the same shape.

use super::{Cache, Ctx, Layer, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct RandomContrast {
    /// `(lower, upper)`: factors drawn from `[1 - lower, 1 + upper]`.
    factor: [f32; 2],
    value_range: [f32; 2],
    seed: Option<u64>,
}

impl RandomContrast {
    pub fn from_config(c: &Value) -> RkResult<RandomContrast> {
        let class = "RandomContrast";
        super::channels_last(c, class)?;
        // Keras 3: a number f in [0, 1] is the pair (0, f); a pair is sorted.
        let raw = c.get("factor").unwrap_or(&Value::Null);
        let factor = match raw.as_f64() {
            Some(f) if (0.0..=1.0).contains(&f) => [0.0, f as f32],
            Some(f) => {
                return Err(RkError::Spec(format!(
                    "RandomContrast `factor` must be a number in [0, 1] or two numbers in [-1, 1], got {f}"
                )))
            }
            None => super::random_affine::factor(class, "factor", raw, (-1.0, 1.0, false))?,
        };
        let range: Option<Vec<f64>> = super::field_or(c, class, "value_range", None)?;
        let value_range = match range.as_deref() {
            None => [0.0, 255.0],
            Some(&[lo, hi]) if lo.is_finite() && hi.is_finite() && lo <= hi => {
                [lo as f32, hi as f32]
            }
            Some(other) => {
                return Err(RkError::Spec(format!(
                    "RandomContrast `value_range` must be two increasing numbers, got {other:?}"
                )))
            }
        };
        Ok(RandomContrast {
            factor,
            value_range,
            seed: super::field_or(c, class, "seed", None)?,
        })
    }

    /// Each image's channel means (`c` per image).
    fn means(x: &[f32], (b, n, c): (usize, usize, usize)) -> Vec<f32> {
        let mut m = vec![0.0f32; b * c];
        for (xs, ms) in x.chunks_exact(n * c).zip(m.chunks_exact_mut(c)) {
            for px in xs.chunks_exact(c) {
                ms.iter_mut().zip(px).for_each(|(m, v)| *m += v);
            }
            ms.iter_mut().for_each(|m| *m /= n as f32);
        }
        m
    }
}

/// Batch, pixels per image and channels of an image batch.
fn dims(x: &Tensor) -> (usize, usize, usize) {
    let s = x.shape();
    (s[0], s[1] * s[2], s[3])
}

impl Layer for RandomContrast {
    fn class_name(&self) -> &'static str {
        "RandomContrast"
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        Ok(super::image_input(name, inputs)?.clone())
    }

    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        if !ctx.training {
            return Ok((x.clone(), None));
        }
        let (b, n, c) = dims(x);
        let [lower, upper] = self.factor;
        let (lo, hi) = (1.0 - lower, 1.0 + upper);
        let factors: Vec<f32> = (0..b)
            .map(|_| lo + (hi - lo) * ctx.rng.uniform_f32())
            .collect();
        let xv = x.as_slice().expect("standard");
        let means = Self::means(xv, (b, n, c));
        let [vlo, vhi] = self.value_range;
        let mut y = super::output(xv.len());
        for (((ys, xs), ms), &f) in y
            .chunks_exact_mut(n * c)
            .zip(xv.chunks_exact(n * c))
            .zip(means.chunks_exact(c))
            .zip(&factors)
        {
            for (yp, xp) in ys.chunks_exact_mut(c).zip(xs.chunks_exact(c)) {
                for ((y, &v), &m) in yp.iter_mut().zip(xp).zip(ms) {
                    *y = ((v - m) * f + m).clamp(vlo, vhi);
                }
            }
        }
        Ok((
            super::shaped_like(x, y)?,
            Some(super::tensor(b, &[], factors)?),
        ))
    }

    fn elementwise(&self, training: bool) -> Option<super::Map> {
        super::pass_through(training)
    }

    fn backward(
        &self,
        xs: &[&Tensor],
        _y: &Tensor,
        cache: &Cache,
        g: Tensor,
        _pgrads: &mut [Tensor],
        _ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        let Some(factors) = cache else {
            return Ok(vec![g]);
        };
        let x = xs[0];
        let (b, n, c) = dims(x);
        let xv = x.as_slice().expect("standard");
        let gv = g.as_slice().expect("standard");
        let means = Self::means(xv, (b, n, c));
        let [vlo, vhi] = self.value_range;
        let mut dx = super::output(xv.len());
        let mut kept = vec![0.0f32; c];
        for ((((ds, xs), gs), ms), &f) in dx
            .chunks_exact_mut(n * c)
            .zip(xv.chunks_exact(n * c))
            .zip(gv.chunks_exact(n * c))
            .zip(means.chunks_exact(c))
            .zip(factors.as_slice().expect("standard"))
        {
            // The gradient where the output was not clipped, and its sum per channel.
            kept.fill(0.0);
            for ((dp, xp), gp) in ds
                .chunks_exact_mut(c)
                .zip(xs.chunks_exact(c))
                .zip(gs.chunks_exact(c))
            {
                for k in 0..c {
                    let z = (xp[k] - ms[k]) * f + ms[k];
                    let gk = if (vlo..=vhi).contains(&z) { gp[k] } else { 0.0 };
                    dp[k] = gk;
                    kept[k] += gk;
                }
            }
            let shared: Vec<f32> = kept.iter().map(|s| s * (1.0 - f) / n as f32).collect();
            for dp in ds.chunks_exact_mut(c) {
                for (d, s) in dp.iter_mut().zip(&shared) {
                    *d = *d * f + s;
                }
            }
        }
        Ok(vec![super::shaped_like(x, dx)?])
    }

    fn config(&self) -> Value {
        json!({
            "factor": self.factor,
            "value_range": self.value_range,
            "seed": self.seed,
            "data_format": "channels_last",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_scales_about_each_channel_mean_and_clips() {
        // factor (-0.5, 0.5): Keras's range [1.5, 1.5], a fixed contrast.
        let layer =
            RandomContrast::from_config(&json!({"factor": [-0.5, 0.5], "value_range": [0, 4]}))
                .unwrap();
        // One 1 x 2 image, 2 channels: means (1, 2).
        let x = super::super::tensor(1, &[1, 2, 2], vec![0.0, 1.0, 2.0, 3.0]).unwrap();
        let mut ctx = crate::layers::test_ctx(true, Rng::keyed(&[1]));
        let (y, cache) = layer.forward(&[&x], &mut ctx).unwrap();
        // (0 - 1) * 1.5 + 1 = -0.5 -> 0; (1 - 2) * 1.5 + 2 = 0.5; 2.5; 3.5.
        assert_eq!(y.as_slice().unwrap(), &[0.0, 0.5, 2.5, 3.5]);
        let g = super::super::tensor(1, &[1, 2, 2], vec![1.0, 1.0, 1.0, 1.0]).unwrap();
        let dx = layer
            .backward(&[&x], &y, &cache, g, &mut [], &mut ctx)
            .unwrap();
        // Channel 0: only the second pixel passes: 1.5 * [0, 1] + (1 - 1.5) / 2 * 1.
        // Channel 1: both pass: 1.5 + (1 - 1.5) / 2 * 2 = 1.
        assert_eq!(dx[0].as_slice().unwrap(), &[-0.25, 1.0, 1.25, 1.0]);
        let (same, _) = layer
            .forward(&[&x], &mut crate::layers::test_ctx(false, Rng::keyed(&[1])))
            .unwrap();
        assert_eq!(same, x);
    }
}
