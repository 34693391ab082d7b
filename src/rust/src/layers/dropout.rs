//! Dropout: in training `y = x * m`, `m` 0 with probability `rate` and `1 / (1 - rate)`
//! otherwise (inverted dropout); in inference `y = x`. Backward: `dx = g * m`. With
//! `noise_shape`, the mask is drawn at that shape (an axis of size 1 shares one draw along
//! the input's axis; an open axis, or the batch's, takes the input's size) and broadcast.
//!
//! # Shapes
//! any input `[batch, ...]` -> the same shape.

use super::{field, field_or, one_input, Cache, Ctx, Layer, Shape, Tensor};
use crate::dense::chain::dropout_forward;
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct Dropout {
    pub rate: f32,
    seed: Option<u64>,
    /// Keras's `noise_shape` (with the batch axis), `None` on open axes.
    noise_shape: Option<Vec<Option<usize>>>,
}

impl Dropout {
    pub fn from_config(c: &Value) -> RkResult<Dropout> {
        let rate: f32 = field(c, "Dropout", "rate")?;
        if !(0.0..1.0).contains(&rate) {
            return Err(RkError::Spec(format!(
                "Dropout `rate` must be in [0, 1), got {rate}"
            )));
        }
        let noise_shape: Option<Vec<Option<usize>>> = field_or(c, "Dropout", "noise_shape", None)?;
        if noise_shape.as_ref().is_some_and(|n| n.len() < 2) {
            return Err(RkError::Spec(
                "Dropout `noise_shape` must give the batch axis and each axis of a sample".into(),
            ));
        }
        Ok(Dropout {
            rate,
            seed: field_or(c, "Dropout", "seed", None)?,
            noise_shape,
        })
    }
}

impl Layer for Dropout {
    fn passes_mask(&self) -> bool {
        true
    }

    fn class_name(&self) -> &'static str {
        "Dropout"
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let s = one_input(name, inputs)?;
        if let Some(ns) = &self.noise_shape {
            let fits = ns.len() == s.len() + 1
                && ns[1..]
                    .iter()
                    .zip(s)
                    .all(|(n, &d)| n.is_none_or(|n| n == 1 || n == d));
            if !fits {
                let shown: Vec<String> = ns
                    .iter()
                    .map(|d| d.map_or("None".to_string(), |d| d.to_string()))
                    .collect();
                return Err(super::shape_error(
                    name,
                    format!(
                        "has `noise_shape` ({}), which does not broadcast to its input {}",
                        shown.join(", "),
                        super::shape_string(s)
                    ),
                ));
            }
        }
        Ok(s.clone())
    }

    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        if !ctx.training || self.rate == 0.0 {
            return Ok((x.clone(), None));
        }
        if let Some(ns) = &self.noise_shape {
            // The mask at the noise shape (the batch axis always the batch's), broadcast.
            let mut dims: Vec<usize> = ns
                .iter()
                .zip(x.shape())
                .map(|(n, &d)| n.map_or(d, |n| n.min(d)))
                .collect();
            dims[0] = x.shape()[0];
            let n: usize = dims.iter().product();
            let ones = vec![1.0f32; n];
            let (mut a, mut m) = (super::zeros(n), super::zeros(n));
            dropout_forward(
                &ones,
                &mut a,
                &mut m,
                1.0 - self.rate,
                ctx.rng.next_u64() as u32,
                0,
            );
            let small = Tensor::from_shape_vec(ndarray::IxDyn(&dims), m)
                .map_err(|e| RkError::Internal(e.to_string()))?;
            let full = small
                .broadcast(x.raw_dim())
                .ok_or_else(|| RkError::Internal("noise shape does not broadcast".into()))?
                .to_owned();
            return Ok((x * &full, Some(full)));
        }
        let xsl = x.as_slice().expect("standard");
        let mut a = super::zeros(xsl.len());
        let mut m = super::zeros(xsl.len());
        let seed = ctx.rng.next_u64() as u32;
        // The mask hashes each value's position, so splitting the work cannot change it.
        const CHUNK: usize = 1 << 16;
        let keep = 1.0 - self.rate;
        if ctx.threads > 1 && xsl.len() > CHUNK {
            use rayon::prelude::*;
            a.par_chunks_mut(CHUNK)
                .zip(m.par_chunks_mut(CHUNK))
                .zip(xsl.par_chunks(CHUNK))
                .enumerate()
                .for_each(|(i, ((a, m), x))| dropout_forward(x, a, m, keep, seed, i * CHUNK));
        } else {
            dropout_forward(xsl, &mut a, &mut m, keep, seed, 0);
        }
        Ok((super::shaped_like(x, a)?, Some(super::shaped_like(x, m)?)))
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
        json!({"rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed})
    }
}

/// SpatialDropout1D/2D: in training, whole channels of a sample are dropped together
/// (Keras's noise shape `[batch, 1, ..., 1, channels]`), the rest scaled by `1 / (1 - rate)`.
#[derive(Clone, Debug)]
pub struct SpatialDropout {
    class: &'static str,
    rank: usize,
    pub rate: f32,
}

impl SpatialDropout {
    pub fn from_config(class: &str, c: &Value) -> RkResult<SpatialDropout> {
        let (class, rank) = match class {
            "SpatialDropout1D" => ("SpatialDropout1D", 1),
            "SpatialDropout2D" => ("SpatialDropout2D", 2),
            other => return Err(RkError::Internal(format!("not spatial dropout: {other}"))),
        };
        super::channels_last(c, class)?;
        let rate: f32 = field(c, class, "rate")?;
        if !(0.0..1.0).contains(&rate) {
            return Err(RkError::Spec(format!(
                "{class} `rate` must be in [0, 1), got {rate}"
            )));
        }
        Ok(SpatialDropout { class, rank, rate })
    }
}

impl Layer for SpatialDropout {
    fn passes_mask(&self) -> bool {
        true
    }

    fn class_name(&self) -> &'static str {
        self.class
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let s = one_input(name, inputs)?;
        super::patches::spatial(name, self.rank, s)?;
        Ok(s.clone())
    }

    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        if !ctx.training || self.rate == 0.0 {
            return Ok((x.clone(), None));
        }
        let batch = x.shape()[0];
        let c = *x.shape().last().expect("rank checked");
        let per = x.len() / batch.max(1);
        let keep = 1.0 - self.rate;
        let mut m = super::zeros(x.len());
        for b in 0..batch {
            let chans: Vec<f32> = (0..c)
                .map(|_| {
                    if ctx.rng.uniform_f32() < keep {
                        1.0 / keep
                    } else {
                        0.0
                    }
                })
                .collect();
            for row in m[b * per..(b + 1) * per].chunks_exact_mut(c) {
                row.copy_from_slice(&chans);
            }
        }
        let m = super::shaped_like(x, m)?;
        Ok((x * &m, Some(m)))
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

    fn config_has_trainable(&self) -> bool {
        false
    }

    fn config(&self) -> Value {
        if self.rank == 2 {
            json!({"rate": self.rate, "seed": null, "data_format": "channels_last"})
        } else {
            json!({"rate": self.rate, "seed": null})
        }
    }
}
