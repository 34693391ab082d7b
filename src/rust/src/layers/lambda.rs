//! Keras's `Lambda` layer: a function of tensors written in R, recorded once as an
//! operation graph (see `ops`), run forward on each batch and differentiated through the
//! operations' vector-Jacobian products. The same layer holds an operation applied to a
//! model's tensors outside a `layer_lambda()` (`x * 2`, `k_exp(x)`).
//!
//! Config: `{"function": {"rkeras_ops": <graph>}, "output_shape": ..., "arguments": {}}`.

use super::{shape_error, Cache, Ctx, Layer, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::ops::{Dims, OpGraph};
use serde_json::Value;

#[derive(Clone, Debug)]
pub struct Lambda {
    graph: OpGraph,
    config: Value,
}

impl Lambda {
    pub fn from_config(c: &Value) -> RkResult<Lambda> {
        let ops = c
            .get("function")
            .and_then(|f| f.get("rkeras_ops"))
            .ok_or_else(|| {
                RkError::Unsupported(
                    "a Lambda layer's function written in Python cannot be run by rkeras; rebuild the layer with layer_lambda() and an R function".into(),
                )
            })?;
        let graph: OpGraph = serde_json::from_value(ops.clone())
            .map_err(|e| RkError::Spec(format!("Lambda function: {e}")))?;
        if graph.outputs.len() != 1 {
            return Err(RkError::Unsupported(format!(
                "a Lambda function returning {} tensors is not supported; return one tensor",
                graph.outputs.len()
            )));
        }
        Ok(Lambda {
            graph,
            config: c.clone(),
        })
    }

    /// The values of a pass: drawn afresh, or (`draws`) with the random operations'
    /// values of an earlier pass.
    fn run(
        &self,
        xs: &[&Tensor],
        ctx: &mut Ctx,
        draws: Option<&Tensor>,
    ) -> RkResult<crate::ops::OpValues> {
        match draws {
            None => self.graph.forward(xs, &mut ctx.rng),
            Some(d) => self.graph.forward_replay(xs, d.as_slice().unwrap_or(&[])),
        }
    }
}

impl Layer for Lambda {
    fn class_name(&self) -> &'static str {
        "Lambda"
    }

    fn build(
        &mut self,
        name: &str,
        inputs: &[Shape],
        _rng: &mut crate::rng::Rng,
    ) -> RkResult<Shape> {
        let dims: Vec<Dims> = inputs
            .iter()
            .map(|s| {
                std::iter::once(None)
                    .chain(s.iter().map(|&d| Some(d)))
                    .collect()
            })
            .collect();
        let out = self
            .graph
            .output_shapes(&dims)
            .map_err(|e| shape_error(name, e.message().to_string()))?
            .remove(0);
        match out.split_first() {
            Some((None, rest)) if rest.iter().all(|d| d.is_some()) => {
                Ok(rest.iter().map(|d| d.unwrap_or(0)).collect())
            }
            _ => Err(shape_error(
                name,
                format!(
                    "must return a tensor that keeps the batch axis first, shape (None, ...); its function returns shape {}",
                    show(&out)
                ),
            )),
        }
    }

    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let mut vals = self.run(xs, ctx, None)?;
        let cache = if ctx.backward && self.graph.is_random() {
            Some(self.graph.draws(&vals))
        } else {
            None
        };
        let o = self.graph.outputs[0];
        let y = if o < self.graph.inputs {
            xs[o].clone()
        } else {
            std::mem::replace(
                &mut vals.nodes[o - self.graph.inputs],
                Tensor::zeros(ndarray::IxDyn(&[0])),
            )
        };
        Ok((super::standard(y), cache))
    }

    fn backward(
        &self,
        xs: &[&Tensor],
        _y: &Tensor,
        cache: &Cache,
        g: Tensor,
        _pgrads: &mut [Tensor],
        ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        let draws = cache.as_ref().map(|d| d as &Tensor);
        let vals = match draws {
            Some(_) => self.run(xs, ctx, draws)?,
            None => self.graph.forward_replay(xs, &[])?,
        };
        let grads = self.graph.backward(xs, &vals, vec![Some(g)])?;
        Ok(grads.into_iter().map(super::standard).collect())
    }

    fn config(&self) -> Value {
        let mut c = self.config.clone();
        if let Some(o) = c.as_object_mut() {
            o.remove("name");
            o.remove("trainable");
            o.remove("dtype");
        }
        c
    }
}

fn show(d: &Dims) -> String {
    let parts: Vec<String> = d
        .iter()
        .map(|v| v.map(|v| v.to_string()).unwrap_or_else(|| "None".into()))
        .collect();
    format!("({})", parts.join(", "))
}
