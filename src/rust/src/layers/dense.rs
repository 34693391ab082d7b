//! Dense: `y = act(x W + b)` on the last axis.
//!
//! # Shapes
//! input `[batch, ..., in]` -> output `[batch, ..., units]`; `kernel [in, units]`, `bias [units]`.
//! Backward: `dz = act'(z) * g`, `dW = x' dz`, `db = colsum(dz)`, `dx = dz W'` (over all
//! leading axes flattened into rows).

use super::{field, field_or, one_input, shape_error, Cache, Ctx, Layer, Param, Shape, Tensor};
use crate::activations::Act;
use crate::config::{init_from_value, init_to_value, reg_from_value, reg_to_value};
use crate::dense::chain::column_sums;
use crate::error::{RkError, RkResult};
use crate::initializers::Init;
use crate::rng::Rng;
use crate::tensor::{matmul, Trans};
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct Dense {
    pub units: usize,
    pub act: Act,
    pub use_bias: bool,
    pub kernel_init: Init,
    pub bias_init: Init,
    pub l1: f64,
    pub l2: f64,
    /// The bias's L1 and L2 penalty factors (`bias_regularizer`).
    pub bias_l1: f64,
    pub bias_l2: f64,
    /// Seed of the initial weights (drawn by R, so `set.seed()` reproduces them).
    pub seed: u64,
    pub params: Vec<Param>,
}

impl Dense {
    /// From Keras's config (or R's short forms of initializers and regularizers); `seed`
    /// fixes the initial weights.
    pub fn from_config(c: &Value, seed: u64) -> RkResult<Dense> {
        let cls = "Dense";
        let units: usize = field(c, cls, "units")?;
        if units == 0 {
            return Err(RkError::Spec("Dense `units` must be positive".into()));
        }
        let act: Option<String> = field_or(c, cls, "activation", None)?;
        let init = |key: &str, default: &str| match c.get(key) {
            None | Some(Value::Null) => Init::parse(default, 0.0, 0.0),
            Some(v) => init_from_value(v),
        };
        let (l1, l2) = reg_from_value(c.get("kernel_regularizer").unwrap_or(&Value::Null))?;
        let (bias_l1, bias_l2) = reg_from_value(c.get("bias_regularizer").unwrap_or(&Value::Null))?;
        // `activity_regularizer` belongs to the layer's place in the graph (`Slot::activity`).
        for key in ["kernel_constraint", "bias_constraint"] {
            if !matches!(c.get(key), None | Some(Value::Null)) {
                return Err(RkError::Unsupported(format!(
                    "Dense `{key}` is not supported by rkeras yet"
                )));
            }
        }
        Ok(Dense {
            units,
            act: Act::parse(act.as_deref().unwrap_or("linear"))?,
            use_bias: field_or(c, cls, "use_bias", true)?,
            kernel_init: init("kernel_initializer", "glorot_uniform")?,
            bias_init: init("bias_initializer", "zeros")?,
            l1,
            l2,
            bias_l1,
            bias_l2,
            seed,
            params: Vec::new(),
        })
    }

    fn in_dim(&self) -> usize {
        self.params.first().map(|p| p.value.shape()[0]).unwrap_or(0)
    }
}

impl Layer for Dense {
    fn passes_mask(&self) -> bool {
        true
    }

    fn class_name(&self) -> &'static str {
        "Dense"
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let s = one_input(name, inputs)?;
        let Some(&inp) = s.last() else {
            return Err(shape_error(
                name,
                "needs inputs of rank 1 or more, got a scalar per sample".into(),
            ));
        };
        if !self.params.is_empty() {
            if self.in_dim() != inp {
                return Err(shape_error(
                    name,
                    format!("expects {} input features, got {inp}", self.in_dim()),
                ));
            }
        } else {
            inp.checked_mul(self.units)
                .filter(|&n| n <= (1usize << 31))
                .ok_or_else(|| {
                    shape_error(
                        name,
                        format!(
                            "would need {inp} x {} weights, more than rkeras supports",
                            self.units
                        ),
                    )
                })?;
            self.params = super::kernel_and_bias(
                &[inp, self.units],
                self.use_bias.then_some(self.units),
                (inp, self.units),
                &self.kernel_init,
                &self.bias_init,
                self.seed,
            )?;
        }
        let mut out = s.clone();
        *out.last_mut().expect("rank checked") = self.units;
        Ok(out)
    }

    fn params(&self) -> Vec<&Param> {
        self.params.iter().collect()
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.params.iter_mut().collect()
    }

    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        let inp = self.in_dim();
        let rows = x.len() / inp.max(1);
        let xs = x
            .as_slice()
            .ok_or_else(|| RkError::Internal("dense input not contiguous".into()))?;
        let w = self.params[0]
            .value
            .as_slice()
            .expect("owned standard layout");
        let mut z = super::zeros(rows * self.units);
        let mut a = super::zeros(rows * self.units);
        matmul(
            rows,
            self.units,
            inp,
            xs,
            Trans::N,
            w,
            Trans::N,
            &mut z,
            false,
            ctx.threads,
        );
        let bias = self
            .params
            .get(1)
            .map(|b| b.value.as_slice().expect("standard"));
        self.act.forward_bias(&mut z, &mut a, bias, self.units);
        let mut shape = x.shape().to_vec();
        *shape.last_mut().expect("rank >= 2") = self.units;
        let y = Tensor::from_shape_vec(shape.clone(), a)
            .map_err(|e| RkError::Internal(e.to_string()))?;
        let cache = if self.act.backward_needs_z() {
            Some(Tensor::from_shape_vec(shape, z).map_err(|e| RkError::Internal(e.to_string()))?)
        } else {
            None
        };
        Ok((y, cache))
    }

    fn backward(
        &self,
        xs: &[&Tensor],
        y: &Tensor,
        cache: &Cache,
        mut g: Tensor,
        pgrads: &mut [Tensor],
        ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        let x = xs[0];
        let inp = self.in_dim();
        let rows = x.len() / inp.max(1);
        let a = y.as_slice().expect("standard");
        let z = cache
            .as_ref()
            .map(|z| z.as_slice().expect("standard"))
            .unwrap_or(a);
        let gs = g.as_slice_mut().expect("standard");
        self.act.backward(z, a, gs, self.units);
        let xsl = x.as_slice().expect("standard");
        let (gk, rest) = pgrads.split_first_mut().expect("kernel gradient");
        matmul(
            inp,
            self.units,
            rows,
            xsl,
            Trans::T,
            gs,
            Trans::N,
            gk.as_slice_mut().expect("standard"),
            true,
            ctx.threads,
        );
        if let Some(gb) = rest.first_mut() {
            let mut sums = super::zeros(self.units);
            column_sums(gs, self.units, &mut sums);
            gb.iter_mut().zip(&sums).for_each(|(b, s)| *b += s);
        }
        if !ctx.input_grads {
            return Ok(vec![Tensor::zeros(ndarray::IxDyn(&[0]))]);
        }
        let w = self.params[0].value.as_slice().expect("standard");
        let mut dx = super::zeros(rows * inp);
        matmul(
            rows,
            inp,
            self.units,
            gs,
            Trans::N,
            w,
            Trans::T,
            &mut dx,
            false,
            ctx.threads,
        );
        let dx = super::shaped_like(x, dx)?;
        Ok(vec![dx])
    }

    fn penalty(&self, mut pgrads: Option<&mut [Tensor]>) -> f64 {
        let kernel = super::kernel_penalty(&self.params, self.l1, self.l2, pgrads.as_deref_mut());
        let bias = match (self.use_bias, self.params.get(1)) {
            (true, Some(b)) => super::kernel_penalty(
                std::slice::from_ref(b),
                self.bias_l1,
                self.bias_l2,
                pgrads.map(|g| &mut g[1..]),
            ),
            _ => 0.0,
        };
        kernel + bias
    }

    fn config(&self) -> Value {
        json!({
            "units": self.units,
            "activation": self.act.name(),
            "use_bias": self.use_bias,
            "kernel_initializer": init_to_value(&self.kernel_init),
            "bias_initializer": init_to_value(&self.bias_init),
            "kernel_regularizer": reg_to_value(self.l1, self.l2),
            "bias_regularizer": reg_to_value(self.bias_l1, self.bias_l2),
            "kernel_constraint": null,
            "bias_constraint": null,
        })
    }
}
