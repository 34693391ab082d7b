//! `Bidirectional`: a recurrent layer run forwards and a copy run backwards over the same
//! input, their outputs merged (`concat`, `sum`, `mul`, `ave`). As in Keras, the backward
//! layer's sequence output is put back in time order before merging, and the weights are
//! the forward layer's then the backward layer's.

use super::recurrent::Recurrent;
use super::{Cache, Ctx, Layer, Param, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use ndarray::{Axis, IxDyn};
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Merge {
    Concat,
    Sum,
    Mul,
    Ave,
}

#[derive(Clone, Debug)]
pub struct Bidirectional {
    forward: Recurrent,
    backward: Recurrent,
    merge: Merge,
    names: [String; 2],
}

/// The class and config of a serialized layer (`{"class_name", "config"}`).
fn inner(v: &Value, what: &str) -> RkResult<(String, Value)> {
    let class = v
        .get("class_name")
        .and_then(|c| c.as_str())
        .ok_or_else(|| {
            RkError::Spec(format!("Bidirectional `{what}` must be a recurrent layer"))
        })?;
    Ok((
        class.to_string(),
        v.get("config").cloned().unwrap_or(json!({})),
    ))
}

impl Bidirectional {
    pub fn from_config(c: &Value, seed: u64) -> RkResult<Bidirectional> {
        let merge = match c.get("merge_mode").and_then(|m| m.as_str()) {
            None | Some("concat") => Merge::Concat,
            Some("sum") => Merge::Sum,
            Some("mul") => Merge::Mul,
            Some("ave") => Merge::Ave,
            Some(other) => {
                return Err(RkError::Unsupported(format!(
                    "Bidirectional `merge_mode = \"{other}\"` is not supported by rkeras"
                )))
            }
        };
        if matches!(c.get("merge_mode"), Some(Value::Null)) {
            return Err(RkError::Unsupported(
                "Bidirectional `merge_mode = NULL` (a list of two outputs) is not supported by rkeras yet".into(),
            ));
        }
        let (class, fc) = inner(c.get("layer").unwrap_or(&Value::Null), "layer")?;
        let forward = Recurrent::from_config(&class, &fc, seed)?;
        let (bclass, bc) = match c.get("backward_layer") {
            None | Some(Value::Null) => {
                let mut bc = fc.clone();
                let back = !bc
                    .get("go_backwards")
                    .and_then(|g| g.as_bool())
                    .unwrap_or(false);
                bc["go_backwards"] = json!(back);
                if let Some(n) = fc.get("name").and_then(|n| n.as_str()) {
                    bc["name"] = json!(n.replacen("forward_", "backward_", 1));
                }
                (class.clone(), bc)
            }
            Some(v) => inner(v, "backward_layer")?,
        };
        let backward = Recurrent::from_config(&bclass, &bc, seed.wrapping_add(1))?;
        if forward.return_state() || backward.return_state() {
            return Err(RkError::Unsupported(
                "Bidirectional over a layer with `return_state = TRUE` is not supported by rkeras yet"
                    .into(),
            ));
        }
        let base = fc
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or(&class.to_lowercase())
            .trim_start_matches("forward_")
            .to_string();
        if forward.return_sequences() != backward.return_sequences() {
            return Err(RkError::Spec(
                "Bidirectional's forward and backward layers must agree on `return_sequences`"
                    .into(),
            ));
        }
        Ok(Bidirectional {
            forward,
            backward,
            merge,
            names: [format!("forward_{base}"), format!("backward_{base}")],
        })
    }

    /// A sequence output reversed along time (the backward layer's).
    fn flip(&self, y: Tensor) -> Tensor {
        if self.forward.return_sequences() {
            let mut y = y;
            y.invert_axis(Axis(1));
            y.as_standard_layout().into_owned()
        } else {
            y
        }
    }
}

impl Layer for Bidirectional {
    fn class_name(&self) -> &'static str {
        "Bidirectional"
    }

    fn stateful(&self) -> bool {
        self.forward.stateful() || self.backward.stateful()
    }

    fn reset_state(&self) {
        self.forward.reset_state();
        self.backward.reset_state();
    }

    fn build(&mut self, name: &str, inputs: &[Shape], rng: &mut Rng) -> RkResult<Shape> {
        let a = self.forward.build(name, inputs, rng)?;
        let b = self.backward.build(name, inputs, rng)?;
        // Weight names unique within the wrapper: `forward_layer/kernel`, ...
        for (layer, side) in [(&mut self.forward, 0), (&mut self.backward, 1)] {
            for p in layer.params_mut() {
                p.name = match (side, p.name) {
                    (0, "kernel") => "forward_layer/kernel",
                    (0, "recurrent_kernel") => "forward_layer/recurrent_kernel",
                    (0, "bias") => "forward_layer/bias",
                    (1, "kernel") => "backward_layer/kernel",
                    (1, "recurrent_kernel") => "backward_layer/recurrent_kernel",
                    (1, "bias") => "backward_layer/bias",
                    (_, other) => other,
                };
            }
        }
        if a != b && self.merge != Merge::Concat {
            return Err(RkError::Shape(format!(
                "Bidirectional '{name}': the two layers' outputs differ in shape ({a:?}, {b:?})"
            )));
        }
        let mut out = a.clone();
        if self.merge == Merge::Concat {
            *out.last_mut().expect("rank >= 1") += b.last().copied().unwrap_or(0);
        }
        Ok(out)
    }

    fn params(&self) -> Vec<&Param> {
        let mut p = self.forward.params();
        p.extend(self.backward.params());
        p
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        let mut p = self.forward.params_mut();
        p.extend(self.backward.params_mut());
        p
    }

    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let (yf, cf) = self.forward.forward(xs, ctx)?;
        let (yb, cb) = self.backward.forward(xs, ctx)?;
        let yb = self.flip(yb);
        let y = match self.merge {
            Merge::Concat => ndarray::concatenate(Axis(yf.ndim() - 1), &[yf.view(), yb.view()])
                .map_err(|e| RkError::Internal(e.to_string()))?
                .as_standard_layout()
                .into_owned(),
            Merge::Sum => &yf + &yb,
            Merge::Mul => &yf * &yb,
            Merge::Ave => (&yf + &yb) * 0.5,
        };
        // The cache: both layers' records, then both outputs (for `mul`).
        let mut all: Vec<f32> = Vec::new();
        for c in [&cf, &cb].into_iter().flatten() {
            all.extend(c.iter());
        }
        all.extend(yf.iter());
        all.extend(yb.iter());
        let n = all.len();
        let cache = Tensor::from_shape_vec(IxDyn(&[n]), all)
            .map_err(|e| RkError::Internal(e.to_string()))?;
        Ok((y, Some(cache)))
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
        let x = xs[0];
        let (b, t, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let cache = cache
            .as_ref()
            .ok_or_else(|| RkError::Internal("Bidirectional backward without its record".into()))?;
        let all = cache.as_slice().expect("standard layout");
        let (nf, nb) = (
            self.forward.record_len(b, t, d),
            self.backward.record_len(b, t, d),
        );
        let out_shape: Vec<usize> = if self.forward.return_sequences() {
            vec![b, t, self.forward.units()]
        } else {
            vec![b, self.forward.units()]
        };
        let ny: usize = out_shape.iter().product();
        if all.len() != nf + nb + 2 * ny {
            return Err(RkError::Internal(
                "Bidirectional record has the wrong size".into(),
            ));
        }
        let tensor = |v: &[f32], shape: &[usize]| {
            Tensor::from_shape_vec(IxDyn(shape), v.to_vec())
                .map_err(|e| RkError::Internal(e.to_string()))
        };
        let cf = Some(tensor(&all[..nf], &[nf])?);
        let cb = Some(tensor(&all[nf..nf + nb], &[nb])?);
        let yf = tensor(&all[nf + nb..nf + nb + ny], &out_shape)?;
        let yb = tensor(&all[nf + nb + ny..], &out_shape)?;
        let g = g.as_standard_layout().into_owned();
        let (gf, gb) = match self.merge {
            Merge::Concat => {
                let u = self.forward.units();
                let last = g.ndim() - 1;
                let gf = g
                    .slice_axis(Axis(last), (0..u).into())
                    .as_standard_layout()
                    .into_owned();
                let gb = g
                    .slice_axis(Axis(last), (u..2 * u).into())
                    .as_standard_layout()
                    .into_owned();
                (gf, gb)
            }
            Merge::Sum => (g.clone(), g),
            Merge::Ave => (&g * 0.5, &g * 0.5),
            Merge::Mul => (&g * &yb, &g * &yf),
        };
        let _ = y;
        let (pf, pb) = pgrads.split_at_mut(self.forward.params().len());
        let yf_raw = yf;
        let yb_raw = self.flip(yb);
        let mut dx = self.forward.backward(xs, &yf_raw, &cf, gf, pf, ctx)?;
        let dxb = self
            .backward
            .backward(xs, &yb_raw, &cb, self.flip(gb), pb, ctx)?;
        if ctx.input_grads {
            dx[0] = &dx[0] + &dxb[0];
        }
        Ok(dx)
    }

    fn compute_mask(&self, x: &Tensor, mask: Option<&Tensor>) -> Option<Tensor> {
        self.forward.compute_mask(x, mask)
    }

    fn penalty(&self, pgrads: Option<&mut [Tensor]>) -> f64 {
        match pgrads {
            Some(p) => {
                let (pf, pb) = p.split_at_mut(self.forward.params().len());
                self.forward.penalty(Some(pf)) + self.backward.penalty(Some(pb))
            }
            None => self.forward.penalty(None) + self.backward.penalty(None),
        }
    }

    fn config(&self) -> Value {
        let wrap = |l: &Recurrent, name: &str| {
            let mut c = l.config();
            c["name"] = json!(name);
            c["trainable"] = json!(true);
            c["dtype"] = json!("float32");
            json!({"module": "keras.layers", "class_name": l.class_name(), "config": c, "registered_name": null})
        };
        let merge = match self.merge {
            Merge::Concat => "concat",
            Merge::Sum => "sum",
            Merge::Mul => "mul",
            Merge::Ave => "ave",
        };
        json!({
            "merge_mode": merge,
            "layer": wrap(&self.forward, &self.names[0]),
            "backward_layer": wrap(&self.backward, &self.names[1]),
        })
    }
}
