//! Rescaling (a preprocessing layer): `y = x * scale + offset` in single precision, as Keras 3
//! computes it; `scale` and `offset` are numbers or vectors over the last axis (per channel).
//!
//! # Shapes
//! any input `[batch, ...]` -> the same shape.

use super::{one_input, shape_error, Cache, Ctx, Layer, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct Rescaling {
    scale: Vec<f32>,
    offset: Vec<f32>,
    /// The config's values as given (a number or a list), written back unchanged.
    raw: (Value, Value),
}

/// A number, a list of numbers, or Keras's serialized NumPy array of them.
fn values(v: &Value, key: &str) -> RkResult<Vec<f32>> {
    let bad = || {
        RkError::Spec(format!(
            "Rescaling `{key}` must be a number or a vector of numbers, got {v}"
        ))
    };
    let v = match v.get("config").and_then(|c| c.get("value")) {
        Some(inner) => inner,
        None => v,
    };
    let out: Option<Vec<f32>> = match v {
        Value::Number(n) => n.as_f64().map(|x| vec![x as f32]),
        Value::Array(a) if !a.is_empty() => {
            a.iter().map(|x| x.as_f64().map(|x| x as f32)).collect()
        }
        _ => None,
    };
    out.filter(|v| v.iter().all(|x| x.is_finite()))
        .ok_or_else(bad)
}

impl Rescaling {
    pub fn from_config(c: &Value) -> RkResult<Rescaling> {
        let scale_v = c.get("scale").cloned().unwrap_or(Value::Null);
        if scale_v.is_null() {
            return Err(RkError::Spec("Rescaling needs `scale`".into()));
        }
        let offset_v = match c.get("offset") {
            None | Some(Value::Null) => json!(0.0),
            Some(v) => v.clone(),
        };
        Ok(Rescaling {
            scale: values(&scale_v, "scale")?,
            offset: values(&offset_v, "offset")?,
            raw: (scale_v, offset_v),
        })
    }

    /// The factor and offset of position `i` along the last axis.
    #[inline]
    fn at(v: &[f32], i: usize) -> f32 {
        if v.len() == 1 {
            v[0]
        } else {
            v[i]
        }
    }

    fn last_dim(x: &Tensor) -> usize {
        x.shape()
            .get(1..)
            .and_then(|s| s.last())
            .copied()
            .unwrap_or(1)
            .max(1)
    }

    /// `x = x * scale + offset` in place, the last axis `d` wide.
    fn apply(&self, x: &mut [f32], d: usize) {
        for (i, v) in x.iter_mut().enumerate() {
            *v = *v * Self::at(&self.scale, i % d) + Self::at(&self.offset, i % d);
        }
    }
}

impl Layer for Rescaling {
    fn passes_mask(&self) -> bool {
        true
    }

    fn class_name(&self) -> &'static str {
        "Rescaling"
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let s = one_input(name, inputs)?;
        let last = s.last().copied().unwrap_or(1);
        for (v, key) in [(&self.scale, "scale"), (&self.offset, "offset")] {
            if v.len() != 1 && v.len() != last {
                return Err(shape_error(
                    name,
                    format!(
                        "has a `{key}` of {} values for inputs whose last axis has {last}",
                        v.len()
                    ),
                ));
            }
        }
        Ok(s.clone())
    }

    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        let d = Self::last_dim(x);
        let mut y = x.to_owned();
        self.apply(y.as_slice_mut().expect("standard layout"), d);
        Ok((y, None))
    }

    fn elementwise(&self, _training: bool) -> Option<super::Map> {
        let r = self.clone();
        Some(std::sync::Arc::new(move |x: &mut [f32], d: usize| {
            r.apply(x, d)
        }))
    }

    fn backward(
        &self,
        xs: &[&Tensor],
        _y: &Tensor,
        _cache: &Cache,
        g: Tensor,
        _pgrads: &mut [Tensor],
        _ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        let d = Self::last_dim(xs[0]);
        let gv = g.as_slice().expect("standard layout");
        let dx: Vec<f32> = gv
            .iter()
            .enumerate()
            .map(|(i, &v)| v * Self::at(&self.scale, i % d))
            .collect();
        Ok(vec![super::shaped_like(xs[0], dx)?])
    }

    fn config(&self) -> Value {
        json!({"scale": self.raw.0, "offset": self.raw.1})
    }
}
