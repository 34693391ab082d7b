//! RandomCrop (an image augmentation layer), as Keras 3 computes it in training: when the
//! images are larger than the target in both axes, one window of the target's size is cut
//! from every image of the batch at a position drawn uniformly (one draw per batch, as
//! Keras does); otherwise the window of the target's size starts where the largest centred
//! window of the target's aspect ratio starts, is cut short at the image's edges, and is
//! resized bilinearly to the target. In inference the images are resized as Keras's
//! `smart_resize()` does (the largest centred window of the target's aspect ratio, resized
//! bilinearly), as Keras documents (Keras 3 itself passes them through uncropped, a shape
//! the layer's output shape does not allow). All are linear maps: backward is their
//! transpose.
//!
//! # Shapes
//! `[batch, height, width, channels]` -> `[batch, target height, target width, channels]`.

use super::resizing::{aspect_windows, Resample};
use super::{Cache, Ctx, Layer, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct RandomCrop {
    height: usize,
    width: usize,
    seed: Option<u64>,
}

impl RandomCrop {
    pub fn from_config(c: &Value) -> RkResult<RandomCrop> {
        let class = "RandomCrop";
        super::channels_last(c, class)?;
        let size = |key: &str| -> RkResult<usize> {
            let v: usize = super::field(c, class, key)?;
            if v == 0 || v > 1 << 24 {
                return Err(RkError::Spec(format!(
                    "{class} `{key}` must be a positive integer, got {v}"
                )));
            }
            Ok(v)
        };
        Ok(RandomCrop {
            height: size("height")?,
            width: size("width")?,
            seed: super::field_or(c, class, "seed", None)?,
        })
    }

    /// The map for `h` x `w` images: the window at `start` (a training draw), else Keras's
    /// training fallback (`training`) or the smart resize.
    fn resample(
        &self,
        (h, w): (usize, usize),
        start: Option<(usize, usize)>,
        training: bool,
    ) -> Resample {
        let target = (self.height, self.width);
        match start {
            Some(at) => Resample::crop(at, target, target),
            None if training => {
                let (wh, ww) = aspect_windows((h, w), target);
                let size = (self.height.min(h - wh.0), self.width.min(w - ww.0));
                Resample::crop((wh.0, ww.0), size, target)
            }
            None => Resample::smart((h, w), target),
        }
    }
}

impl Layer for RandomCrop {
    fn class_name(&self) -> &'static str {
        "RandomCrop"
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let s = super::image_input(name, inputs)?;
        Ok(vec![self.height, self.width, s[2]])
    }

    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        let (h, w) = (x.shape()[1], x.shape()[2]);
        let start = (ctx.training && h > self.height && w > self.width).then(|| {
            // Keras: int32(uniform(0, n - target + 1)).
            let mut pick = |n: usize, t: usize| {
                let at = (ctx.rng.uniform_f32() * (n - t + 1) as f32) as usize;
                at.min(n - t)
            };
            let top = pick(h, self.height);
            (top, pick(w, self.width))
        });
        let y = self.resample((h, w), start, ctx.training).forward(x)?;
        // Backward reads the window back: its start, or -1 for the fallback.
        let at = start.map_or([-1.0, -1.0], |(top, left)| [top as f32, left as f32]);
        let cache = ctx
            .training
            .then(|| super::tensor(1, &[2], at.to_vec()))
            .transpose()?;
        Ok((y, cache))
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
        let x = xs[0];
        let at = cache
            .as_ref()
            .map(|t| t.as_slice().expect("standard").to_vec());
        let start = at
            .as_ref()
            .filter(|v| v[0] >= 0.0)
            .map(|v| (v[0] as usize, v[1] as usize));
        let (h, w) = (x.shape()[1], x.shape()[2]);
        Ok(vec![self
            .resample((h, w), start, at.is_some())
            .backward(x, &g)?])
    }

    fn config(&self) -> Value {
        json!({
            "height": self.height,
            "width": self.width,
            "seed": self.seed,
            "data_format": "channels_last",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_window_per_batch_in_training_and_a_smart_resize_otherwise() {
        let layer = RandomCrop::from_config(&json!({"height": 2, "width": 3})).unwrap();
        let (b, h, w) = (3, 5, 6);
        let data: Vec<f32> = (0..b * h * w).map(|v| v as f32).collect();
        let x = super::super::tensor(b, &[h, w, 1], data).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for key in 0..40 {
            let mut ctx = crate::layers::test_ctx(true, Rng::keyed(&[key]));
            let (y, cache) = layer.forward(&[&x], &mut ctx).unwrap();
            let at = cache.as_ref().unwrap().as_slice().unwrap().to_vec();
            let (top, left) = (at[0] as usize, at[1] as usize);
            assert!(top <= h - 2 && left <= w - 3);
            seen.insert((top, left));
            for s in 0..b {
                for i in 0..2 {
                    for j in 0..3 {
                        let want = ((s * h + top + i) * w + left + j) as f32;
                        assert_eq!(y[[s, i, j, 0]], want);
                    }
                }
            }
            // The gradient goes back to the window, zero elsewhere.
            let g = Tensor::ones(y.raw_dim());
            let dx = layer
                .backward(&[&x], &y, &cache, g, &mut [], &mut ctx)
                .unwrap();
            assert_eq!(dx[0].sum(), (b * 6) as f32);
            assert_eq!(dx[0][[0, top, left, 0]], 1.0);
        }
        assert!(seen.len() > 8, "windows drawn: {seen:?}");
        // Inference: the window of aspect 2:3 in 5 x 6 is rows 0-3 (start (5 - 4) / 2 = 0),
        // all columns, resized to 2 x 3.
        let mut ctx = crate::layers::test_ctx(false, Rng::keyed(&[1]));
        let (y, cache) = layer.forward(&[&x], &mut ctx).unwrap();
        assert!(cache.is_none());
        assert_eq!(y.shape(), &[3, 2, 3, 1]);
        // Output (0, 0) samples (0.5, 0.5): the mean of pixels (0, 0), (0, 1), (1, 0), (1, 1).
        assert_eq!(y[[0, 0, 0, 0]], (0.0 + 1.0 + 6.0 + 7.0) / 4.0);
    }
}
