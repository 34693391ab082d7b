//! PReLU (Keras's parametric ReLU): `y = max(x, 0) + alpha * min(x, 0)`, `alpha` a trained
//! weight per position of the sample, shared along `shared_axes` (1-based sample axes, as in
//! Keras). Backward: `dx = g * (x > 0 ? 1 : alpha)`, `dalpha = sum of g * min(x, 0)` over the
//! batch and the shared axes.
//!
//! # Shapes
//! any input `[batch, ...]` -> the same shape; `alpha` is the sample shape with the shared
//! axes set to 1.

use super::{field_or, one_input, shape_error, Cache, Ctx, Layer, Param, Shape, Tensor};
use crate::config::{init_from_value, init_to_value, reg_from_value, reg_to_value};
use crate::error::{RkError, RkResult};
use crate::initializers::Init;
use crate::rng::Rng;
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct PRelu {
    init: Init,
    l1: f64,
    l2: f64,
    shared_axes: Vec<usize>,
    seed: u64,
    params: Vec<Param>,
}

impl PRelu {
    pub fn from_config(c: &Value, seed: u64) -> RkResult<PRelu> {
        let init = match c.get("alpha_initializer") {
            None | Some(Value::Null) => Init::Zeros,
            Some(v) => init_from_value(v)?,
        };
        let (l1, l2) = reg_from_value(c.get("alpha_regularizer").unwrap_or(&Value::Null))?;
        if !matches!(c.get("alpha_constraint"), None | Some(Value::Null)) {
            return Err(RkError::Unsupported(
                "PReLU `alpha_constraint` is not supported by rkeras yet".into(),
            ));
        }
        let shared: Option<Value> = field_or(c, "PReLU", "shared_axes", None)?;
        let shared_axes: Vec<usize> = match shared {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_u64().filter(|&k| k >= 1).map(|k| k as usize))
                .collect::<Option<_>>()
                .ok_or_else(|| RkError::Spec("PReLU `shared_axes` must be axes >= 1".into()))?,
            Some(v) => vec![v
                .as_u64()
                .filter(|&k| k >= 1)
                .ok_or_else(|| RkError::Spec("PReLU `shared_axes` must be axes >= 1".into()))?
                as usize],
        };
        Ok(PRelu {
            init,
            l1,
            l2,
            shared_axes,
            seed,
            params: Vec::new(),
        })
    }

    fn alpha(&self) -> &Tensor {
        &self.params[0].value
    }

    /// Index into `alpha` of each value of one sample of shape `sample`.
    fn alpha_index(&self, sample: &[usize]) -> Vec<usize> {
        let ashape = self.alpha().shape();
        let total: usize = sample.iter().product();
        (0..total)
            .map(|mut flat| {
                let mut idx = 0;
                let mut mult = 1;
                for ax in (0..sample.len()).rev() {
                    let i = flat % sample[ax];
                    flat /= sample[ax];
                    let ai = if ashape[ax] == 1 { 0 } else { i };
                    idx += ai * mult;
                    mult *= ashape[ax];
                }
                idx
            })
            .collect()
    }
}

impl Layer for PRelu {
    fn passes_mask(&self) -> bool {
        true
    }

    fn class_name(&self) -> &'static str {
        "PReLU"
    }

    fn build(&mut self, name: &str, inputs: &[Shape], rng: &mut Rng) -> RkResult<Shape> {
        let s = one_input(name, inputs)?;
        if let Some(&bad) = self.shared_axes.iter().find(|&&a| a > s.len()) {
            return Err(shape_error(
                name,
                format!(
                    "`shared_axes` names axis {bad}, but a sample has {} axes",
                    s.len()
                ),
            ));
        }
        let mut shape = s.clone();
        for &a in &self.shared_axes {
            shape[a - 1] = 1;
        }
        if let Some(p) = self.params.first() {
            if p.value.shape() != shape.as_slice() {
                return Err(shape_error(
                    name,
                    format!(
                        "was built for samples of shape {:?}, got {s:?}",
                        p.value.shape()
                    ),
                ));
            }
            return Ok(s.clone());
        }
        let _ = rng;
        let mut r = Rng::new(self.seed);
        let mut v = super::zeros(shape.iter().product());
        let fan = shape.iter().product();
        self.init.fill(&mut v, fan, fan, &mut r);
        let value =
            Tensor::from_shape_vec(shape, v).map_err(|e| RkError::Internal(e.to_string()))?;
        self.params = vec![Param {
            name: "alpha",
            value,
            trainable: true,
        }];
        Ok(s.clone())
    }

    fn params(&self) -> Vec<&Param> {
        self.params.iter().collect()
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.params.iter_mut().collect()
    }

    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        let idx = self.alpha_index(&x.shape()[1..]);
        let a = self.alpha().as_slice().expect("standard layout");
        let xs = x.as_slice().expect("standard layout");
        let y: Vec<f32> = xs
            .chunks(idx.len().max(1))
            .flat_map(|row| {
                row.iter()
                    .zip(&idx)
                    .map(|(&v, &i)| v.max(0.0) + a[i] * v.min(0.0))
            })
            .collect();
        let y = super::shaped_like(x, y)?;
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
        let idx = self.alpha_index(&x.shape()[1..]);
        let a = self.alpha().as_slice().expect("standard layout");
        let xv = x.as_slice().expect("standard layout");
        let gv = g.as_slice().expect("standard layout");
        let da = pgrads[0].as_slice_mut().expect("standard layout");
        let n = idx.len().max(1);
        let mut dx = super::zeros(xv.len());
        for ((xr, gr), dr) in xv.chunks(n).zip(gv.chunks(n)).zip(dx.chunks_mut(n)) {
            for (k, &i) in idx.iter().enumerate() {
                let (v, gk) = (xr[k], gr[k]);
                if v > 0.0 {
                    dr[k] = gk;
                } else {
                    dr[k] = gk * a[i];
                    da[i] += gk * v;
                }
            }
        }
        let dx = super::shaped_like(x, dx)?;
        Ok(vec![dx])
    }

    fn penalty(&self, pgrads: Option<&mut [Tensor]>) -> f64 {
        super::kernel_penalty(&self.params, self.l1, self.l2, pgrads)
    }

    fn config(&self) -> Value {
        let shared: Value = if self.shared_axes.is_empty() {
            Value::Null
        } else {
            json!(self.shared_axes)
        };
        json!({"alpha_initializer": init_to_value(&self.init),
               "alpha_regularizer": reg_to_value(self.l1, self.l2),
               "alpha_constraint": null, "shared_axes": shared})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prelu_gradients_match_finite_differences() {
        let config = json!({"alpha_initializer": {"class_name": "RandomUniform",
                                                  "config": {"minval": 0.1, "maxval": 0.4}},
                            "shared_axes": [1]});
        let mut layer = PRelu::from_config(&config, 7).unwrap();
        layer.build("p", &[vec![3, 4]], &mut Rng::new(1)).unwrap();
        assert_eq!(layer.alpha().shape(), &[1, 4]);
        // Values at least 0.1 away from the kink at 0.
        let xv: Vec<f32> = (0..24)
            .map(|i| (if i % 3 == 0 { -1.0 } else { 1.0 }) * (0.1 + 0.07 * i as f32))
            .collect();
        let w: Vec<f32> = (0..24).map(|i| 0.3 + 0.05 * (i % 7) as f32).collect();
        let ctx = || crate::layers::test_ctx(true, Rng::new(0));
        let objective = |l: &PRelu, x: &[f32]| -> f64 {
            let t = Tensor::from_shape_vec(vec![2, 3, 4], x.to_vec()).unwrap();
            let y = l.forward(&[&t], &mut ctx()).unwrap().0;
            y.iter()
                .zip(&w)
                .map(|(a, b)| (*a as f64) * (*b as f64))
                .sum()
        };
        let t = Tensor::from_shape_vec(vec![2, 3, 4], xv.clone()).unwrap();
        let (y, cache) = layer.forward(&[&t], &mut ctx()).unwrap();
        let g = Tensor::from_shape_vec(vec![2, 3, 4], w.clone()).unwrap();
        let mut pgrads = vec![Tensor::zeros(layer.alpha().raw_dim())];
        let dx = layer
            .backward(&[&t], &y, &cache, g, &mut pgrads, &mut ctx())
            .unwrap();
        crate::testing::check_grad("x", &xv, dx[0].as_slice().unwrap(), |v| {
            objective(&layer, v)
        })
        .unwrap();
        let alpha = layer.alpha().as_slice().unwrap().to_vec();
        crate::testing::check_grad("alpha", &alpha, pgrads[0].as_slice().unwrap(), |a| {
            let mut l = layer.clone();
            l.params[0].value.as_slice_mut().unwrap().copy_from_slice(a);
            objective(&l, &xv)
        })
        .unwrap();
    }
}
