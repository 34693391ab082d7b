//! RandomFlip (an image augmentation layer): in training, each image is flipped with
//! probability 1/2 (one draw per image, `u <= 0.5`): left to right (`"horizontal"`), top to
//! bottom (`"vertical"`), or both at once (`"horizontal_and_vertical"`, Keras 3's single
//! draw for both axes). In inference the images pass unchanged. Draws come from the call's
//! generator, keyed by the training run's seed, the step and the node.
//!
//! # Shapes
//! `[batch, height, width, channels]` -> the same shape.

use super::{Cache, Ctx, Layer, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct RandomFlip {
    horizontal: bool,
    vertical: bool,
    seed: Option<u64>,
}

impl RandomFlip {
    pub fn from_config(c: &Value) -> RkResult<RandomFlip> {
        super::channels_last(c, "RandomFlip")?;
        let mode: Option<String> = super::field_or(c, "RandomFlip", "mode", None)?;
        let (horizontal, vertical) = match mode.as_deref().unwrap_or("horizontal_and_vertical") {
            "horizontal" => (true, false),
            "vertical" => (false, true),
            "horizontal_and_vertical" => (true, true),
            other => {
                return Err(RkError::Spec(format!(
                    "RandomFlip `mode` must be \"horizontal\", \"vertical\" or \"horizontal_and_vertical\", got \"{other}\""
                )))
            }
        };
        Ok(RandomFlip {
            horizontal,
            vertical,
            seed: super::field_or(c, "RandomFlip", "seed", None)?,
        })
    }

    fn mode(&self) -> &'static str {
        match (self.horizontal, self.vertical) {
            (true, false) => "horizontal",
            (false, true) => "vertical",
            _ => "horizontal_and_vertical",
        }
    }

    /// Sample `x` (`h` x `w` x `c`) flipped into `y`.
    fn flip(&self, x: &[f32], y: &mut [f32], (h, w, c): (usize, usize, usize)) {
        for i in 0..h {
            let si = if self.vertical { h - 1 - i } else { i };
            for j in 0..w {
                let sj = if self.horizontal { w - 1 - j } else { j };
                y[(i * w + j) * c..][..c].copy_from_slice(&x[(si * w + sj) * c..][..c]);
            }
        }
    }

    /// Each sample of `x` flipped where `flips` says so.
    fn apply(&self, x: &Tensor, flips: &[f32]) -> RkResult<Tensor> {
        let s = x.shape();
        let (h, w, c) = (s[1], s[2], s[3]);
        let n = h * w * c;
        let xv = x.as_slice().expect("standard");
        let mut y = super::output(xv.len());
        for ((xs, ys), &f) in xv.chunks_exact(n).zip(y.chunks_exact_mut(n)).zip(flips) {
            if f != 0.0 {
                self.flip(xs, ys, (h, w, c));
            } else {
                ys.copy_from_slice(xs);
            }
        }
        super::shaped_like(x, y)
    }
}

impl Layer for RandomFlip {
    fn class_name(&self) -> &'static str {
        "RandomFlip"
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let s = super::image_input(name, inputs)?;
        Ok(s.clone())
    }

    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        if !ctx.training {
            return Ok((x.clone(), None));
        }
        let b = x.shape()[0];
        let flips: Vec<f32> = (0..b)
            .map(|_| f32::from(ctx.rng.uniform_f32() <= 0.5))
            .collect();
        let y = self.apply(x, &flips)?;
        Ok((y, Some(super::tensor(b, &[], flips)?)))
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
        // A flip is its own inverse (and its transpose).
        match cache {
            Some(flips) => Ok(vec![self.apply(&g, flips.as_slice().expect("standard"))?]),
            None => Ok(vec![g]),
        }
    }

    fn config(&self) -> Value {
        json!({"mode": self.mode(), "seed": self.seed, "data_format": "channels_last"})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(training: bool) -> Ctx {
        crate::layers::test_ctx(training, Rng::keyed(&[7, 1, 2]))
    }

    /// Value at (row i, column j, channel k) of sample s: all distinct.
    fn at(s: usize, i: usize, j: usize, k: usize) -> f32 {
        (s * 1000 + i * 100 + j * 10 + k) as f32
    }

    #[test]
    fn each_image_is_flipped_or_kept_and_backward_flips_alike() {
        let (b, h, w, c) = (64, 3, 4, 2);
        let data: Vec<f32> = (0..b * h * w * c)
            .map(|n| at(n / (h * w * c), n / (w * c) % h, n / c % w, n % c))
            .collect();
        let x = super::super::tensor(b, &[h, w, c], data).unwrap();
        for (mode, hz, vt) in [
            ("horizontal", true, false),
            ("vertical", false, true),
            ("horizontal_and_vertical", true, true),
        ] {
            let layer = RandomFlip::from_config(&json!({ "mode": mode })).unwrap();
            let (y, cache) = layer.forward(&[&x], &mut ctx(true)).unwrap();
            let flips = cache.clone().unwrap();
            let ys = y.as_slice().unwrap();
            let mut flipped = 0;
            for s in 0..b {
                let f = flips.as_slice().unwrap()[s] != 0.0;
                flipped += usize::from(f);
                for (i, j, k) in
                    (0..h).flat_map(|i| (0..w).flat_map(move |j| (0..c).map(move |k| (i, j, k))))
                {
                    let (si, sj) = (
                        if f && vt { h - 1 - i } else { i },
                        if f && hz { w - 1 - j } else { j },
                    );
                    assert_eq!(
                        ys[((s * h + i) * w + j) * c + k],
                        at(s, si, sj, k),
                        "{mode}"
                    );
                }
            }
            // About half of the images, by draws of one per image.
            assert!((16..=48).contains(&flipped), "{mode}: {flipped}");
            let g = layer
                .backward(&[&x], &y, &cache, y.clone(), &mut [], &mut ctx(true))
                .unwrap();
            assert_eq!(g[0], x, "{mode}: backward undoes forward's flips");
            let (same, none) = layer.forward(&[&x], &mut ctx(false)).unwrap();
            assert!(none.is_none());
            assert_eq!(same, x, "{mode}: inference passes the images through");
        }
    }
}
