//! `TimeDistributed`: a layer applied to every step of `[batch, steps, ...]` on its own
//! (the steps become rows of one batch), with the layer's own weights, as Keras's wrapper.

use super::{from_spec, Cache, Ctx, Layer, Param, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use ndarray::IxDyn;
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct TimeDistributed {
    inner: Box<dyn Layer>,
    class: String,
    name: String,
}

impl TimeDistributed {
    pub fn from_config(c: &Value, seed: u64) -> RkResult<TimeDistributed> {
        let l = c
            .get("layer")
            .ok_or_else(|| RkError::Spec("TimeDistributed needs a `layer`".into()))?;
        let class = l
            .get("class_name")
            .and_then(|v| v.as_str())
            .ok_or_else(|| RkError::Spec("TimeDistributed `layer` must be a layer".into()))?;
        if matches!(class, "TimeDistributed") {
            return Err(RkError::Unsupported(format!(
                "TimeDistributed over a {class} layer is not supported by rkeras yet"
            )));
        }
        let config = l.get("config").cloned().unwrap_or(json!({}));
        if config.get("return_state") == Some(&json!(true)) {
            return Err(RkError::Unsupported(format!(
                "TimeDistributed over a {class} layer with `return_state = TRUE` is not supported"
            )));
        }
        Ok(TimeDistributed {
            inner: from_spec(class, &config, seed)?,
            class: class.to_string(),
            name: config
                .get("name")
                .and_then(|n| n.as_str())
                .unwrap_or("layer")
                .to_string(),
        })
    }

    /// `[batch, steps, rest...]` as `[batch * steps, rest...]`.
    fn merged(x: &Tensor) -> RkResult<Tensor> {
        let mut shape = vec![x.shape()[0] * x.shape()[1]];
        shape.extend_from_slice(&x.shape()[2..]);
        x.as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(&shape))
            .map_err(|e| RkError::Internal(e.to_string()))
    }

    fn split(y: Tensor, b: usize, t: usize) -> RkResult<Tensor> {
        let mut shape = vec![b, t];
        shape.extend_from_slice(&y.shape()[1..]);
        y.as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(&shape))
            .map_err(|e| RkError::Internal(e.to_string()))
    }
}

impl Layer for TimeDistributed {
    fn class_name(&self) -> &'static str {
        "TimeDistributed"
    }

    fn stateful(&self) -> bool {
        self.inner.stateful()
    }

    fn reset_state(&self) {
        self.inner.reset_state();
    }

    fn build(&mut self, name: &str, inputs: &[Shape], rng: &mut Rng) -> RkResult<Shape> {
        match inputs {
            [s] if s.len() >= 2 => {
                let out = self.inner.build(name, &[s[1..].to_vec()], rng)?;
                let mut shape = vec![s[0]];
                shape.extend(out);
                Ok(shape)
            }
            _ => Err(RkError::Shape(format!(
                "TimeDistributed '{name}' needs samples of shape (timesteps, ...), got {inputs:?}"
            ))),
        }
    }

    fn params(&self) -> Vec<&Param> {
        self.inner.params()
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.inner.params_mut()
    }

    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let (b, t) = (xs[0].shape()[0], xs[0].shape()[1]);
        let x = Self::merged(xs[0])?;
        let mask = ctx.mask.take();
        let (y, cache) = self.inner.forward(&[&x], ctx)?;
        ctx.mask = mask;
        Ok((Self::split(y, b, t)?, cache))
    }

    fn backward(
        &self,
        xs: &[&Tensor],
        y: &Tensor,
        cache: &Cache,
        g: Tensor,
        pgrads: &mut [Tensor],
        ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        let (b, t) = (xs[0].shape()[0], xs[0].shape()[1]);
        let x = Self::merged(xs[0])?;
        let ym = Self::merged(y)?;
        let gm = Self::merged(&g)?;
        let mask = ctx.mask.take();
        let dx = self.inner.backward(&[&x], &ym, cache, gm, pgrads, ctx)?;
        ctx.mask = mask;
        if !ctx.input_grads {
            return Ok(dx);
        }
        Ok(vec![Self::split(
            dx.into_iter().next().expect("one input"),
            b,
            t,
        )?])
    }

    fn penalty(&self, pgrads: Option<&mut [Tensor]>) -> f64 {
        self.inner.penalty(pgrads)
    }

    fn passes_mask(&self) -> bool {
        true
    }

    fn config(&self) -> Value {
        let mut c = self.inner.config();
        c["name"] = json!(self.name);
        c["trainable"] = json!(true);
        c["dtype"] = json!("float32");
        json!({"layer": {"module": "keras.layers", "class_name": self.class, "config": c, "registered_name": null}})
    }
}
