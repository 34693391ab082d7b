//! `Embedding`: integer token ids `[batch, ...]` to rows of a trained table, `[batch, ...,
//! output_dim]`. Backward adds each position's gradient into its token's row; the ids get no
//! gradient.

use super::{
    field, field_or, kernel_penalty, refuse_unsupported, zeros, Cache, Ctx, Layer, Param, Shape,
    Tensor,
};
use crate::config::{init_from_value, init_to_value, reg_from_value, reg_to_value};
use crate::error::{RkError, RkResult};
use crate::initializers::Init;
use crate::rng::Rng;
use ndarray::IxDyn;
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct Embedding {
    input_dim: usize,
    output_dim: usize,
    init: Init,
    l1: f64,
    l2: f64,
    seed: u64,
    params: Vec<Param>,
}

impl Embedding {
    pub fn from_config(c: &Value, seed: u64) -> RkResult<Embedding> {
        let cls = "Embedding";
        let input_dim: usize = field(c, cls, "input_dim")?;
        let output_dim: usize = field(c, cls, "output_dim")?;
        if input_dim == 0 || output_dim == 0 {
            return Err(RkError::Spec(
                "Embedding `input_dim` and `output_dim` must be positive".into(),
            ));
        }
        if field_or(c, cls, "mask_zero", false)? {
            return Err(RkError::Unsupported(
                "Embedding `mask_zero = TRUE` is not supported by rkeras yet".into(),
            ));
        }
        refuse_unsupported(
            c,
            cls,
            &["activity_regularizer", "embeddings_constraint", "lora_rank"],
        )?;
        let init = match c.get("embeddings_initializer") {
            None | Some(Value::Null) => Init::parse("uniform", -0.05, 0.05)?,
            Some(v) => init_from_value(v)?,
        };
        let (l1, l2) = reg_from_value(c.get("embeddings_regularizer").unwrap_or(&Value::Null))?;
        Ok(Embedding {
            input_dim,
            output_dim,
            init,
            l1,
            l2,
            seed,
            params: Vec::new(),
        })
    }

    /// Each id as a row number, or an error naming the sample and the id.
    fn rows(&self, x: &Tensor) -> RkResult<Vec<usize>> {
        let per_sample = x.len() / x.shape()[0].max(1);
        x.iter()
            .enumerate()
            .map(|(i, &v)| {
                let id = v.trunc();
                if id >= 0.0 && (id as usize) < self.input_dim {
                    Ok(id as usize)
                } else {
                    Err(RkError::Value(format!(
                        "Embedding: token id {v} in row {} of the batch is outside [0, {}) (`input_dim` is {})",
                        i / per_sample.max(1) + 1,
                        self.input_dim,
                        self.input_dim
                    )))
                }
            })
            .collect()
    }
}

impl Layer for Embedding {
    fn class_name(&self) -> &'static str {
        "Embedding"
    }

    fn build(&mut self, _name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        if inputs.len() != 1 {
            return Err(RkError::Shape("Embedding takes one input".into()));
        }
        if self.params.is_empty() {
            let mut rng = Rng::new(self.seed);
            let mut table = zeros(self.input_dim * self.output_dim);
            self.init
                .fill(&mut table, self.input_dim, self.output_dim, &mut rng);
            self.params = vec![Param {
                name: "embeddings",
                value: Tensor::from_shape_vec(IxDyn(&[self.input_dim, self.output_dim]), table)
                    .map_err(|e| RkError::Internal(e.to_string()))?,
                trainable: true,
            }];
        }
        let mut out = inputs[0].clone();
        out.push(self.output_dim);
        Ok(out)
    }

    fn params(&self) -> Vec<&Param> {
        self.params.iter().collect()
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.params.iter_mut().collect()
    }

    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        let rows = self.rows(x)?;
        let d = self.output_dim;
        let table = self.params[0].value.as_slice().expect("standard layout");
        let mut out = zeros(rows.len() * d);
        for (o, &r) in out.chunks_exact_mut(d).zip(&rows) {
            o.copy_from_slice(&table[r * d..(r + 1) * d]);
        }
        let mut shape = x.shape().to_vec();
        shape.push(d);
        let y = Tensor::from_shape_vec(IxDyn(&shape), out)
            .map_err(|e| RkError::Internal(e.to_string()))?;
        Ok((y, None))
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
        let rows = self.rows(x)?;
        let d = self.output_dim;
        let g = g.as_standard_layout();
        let gs = g.as_slice().expect("standard layout");
        let gt = pgrads[0].as_slice_mut().expect("standard layout");
        for (gr, &r) in gs.chunks_exact(d).zip(&rows) {
            for (t, &v) in gt[r * d..(r + 1) * d].iter_mut().zip(gr) {
                *t += v;
            }
        }
        Ok(vec![Tensor::zeros(x.raw_dim())])
    }

    fn penalty(&self, pgrads: Option<&mut [Tensor]>) -> f64 {
        kernel_penalty(&self.params, self.l1, self.l2, pgrads)
    }

    fn config(&self) -> Value {
        json!({
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": init_to_value(&self.init),
            "embeddings_regularizer": reg_to_value(self.l1, self.l2),
            "activity_regularizer": null,
            "embeddings_constraint": null,
            "mask_zero": false,
        })
    }
}
