//! Attention (Luong-style, Keras's `Attention`) and AdditiveAttention (Bahdanau-style):
//! attention of a query sequence over a value sequence, without projections.
//!
//! # Shapes
//! Inputs `query [batch, T, d]`, `value [batch, S, dv]`, `key [batch, S, d]` (the value when
//! the call gives no key); output `[batch, T, dv]`. Scores `[T, S]` per sample:
//! - `Attention`, `score_mode = "dot"`: `q k'`, times the scalar `scale` with `use_scale`;
//! - `Attention`, `score_mode = "concat"`: `c * sum_d tanh(scale * (q_t + k_s))`, with the
//!   scalar weight `concat_score_weight` `c` (and `scale` with `use_scale`);
//! - `AdditiveAttention`: `sum_d scale_d * tanh(q_t + k_s)`, `scale [d]` with `use_scale`.
//!
//! The value's mask and the causal mask (`use_causal_mask`) subtract `1e9` from masked
//! scores; `w = softmax(scores)` over `S`, dropout on `w` in training, `y = w v`, and rows
//! of masked query steps are zero. With `return_attention_scores` the call has a second
//! output, `w` after dropout `[batch, T, S]`, as Keras returns it.

use super::attention_ops::{check_sequences, masked_softmax, pack_outputs, softmax_backward};
use super::patches::{blocks, Shared};
use super::{field_or, shape_error, shape_string, Cache, Ctx, Layer, Param, Shape, Tensor};
use crate::dense::chain::dropout_forward;
use crate::error::{RkError, RkResult};
use crate::initializers::Init;
use crate::rng::Rng;
use crate::tensor::{matmul, Trans};
use serde_json::{json, Value};

/// How scores are made.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Dot,
    Concat,
    Additive,
}

#[derive(Clone, Debug)]
pub struct DotAttention {
    mode: Mode,
    use_scale: bool,
    dropout: f32,
    seed_config: Value,
    causal: bool,
    scores: bool,
    /// Seed of the initial weights (AdditiveAttention's `scale`).
    seed: u64,
    params: Vec<Param>,
}

impl DotAttention {
    pub fn from_config(class: &str, c: &Value, seed: u64) -> RkResult<DotAttention> {
        let (cls, mode, scale_default) = match class {
            "Attention" => {
                let m: String = field_or(c, "Attention", "score_mode", "dot".to_string())?;
                let mode = match m.as_str() {
                    "dot" => Mode::Dot,
                    "concat" => Mode::Concat,
                    other => {
                        return Err(RkError::Spec(format!(
                            "Attention `score_mode` must be \"dot\" or \"concat\", not \"{other}\""
                        )))
                    }
                };
                ("Attention", mode, false)
            }
            "AdditiveAttention" => ("AdditiveAttention", Mode::Additive, true),
            other => {
                return Err(RkError::Internal(format!(
                    "not an attention layer: {other}"
                )))
            }
        };
        let dropout: f32 = field_or(c, cls, "dropout", 0.0)?;
        if !(0.0..1.0).contains(&dropout) {
            return Err(RkError::Spec(format!(
                "{cls} `dropout` must be in [0, 1), got {dropout}"
            )));
        }
        Ok(DotAttention {
            mode,
            use_scale: field_or(c, cls, "use_scale", scale_default)?,
            dropout,
            seed_config: c.get("seed").cloned().unwrap_or(Value::Null),
            causal: field_or(c, cls, "use_causal_mask", false)?,
            scores: field_or(c, cls, "return_attention_scores", false)?,
            seed,
            params: Vec::new(),
        })
    }

    /// `(scale, concat weight)` as scalars (1 when absent); AdditiveAttention's vector scale
    /// is read by [`DotAttention::scale_vec`].
    fn scalars(&self) -> (f32, f32) {
        let mut it = self.params.iter();
        let scale = if self.use_scale && self.mode != Mode::Additive {
            it.next()
                .map(|p| p.value.iter().copied().next().unwrap_or(1.0))
                .unwrap_or(1.0)
        } else {
            1.0
        };
        let c = if self.mode == Mode::Concat {
            it.next()
                .map(|p| p.value.iter().copied().next().unwrap_or(1.0))
                .unwrap_or(1.0)
        } else {
            1.0
        };
        (scale, c)
    }

    fn scale_vec(&self, d: usize) -> Vec<f32> {
        match (self.mode, self.use_scale) {
            (Mode::Additive, true) => self.params[0].value.iter().copied().collect(),
            _ => vec![1.0; d],
        }
    }

    /// Sample `b`'s scores `[T, S]` into `out`.
    fn scores_of(&self, q: &[f32], k: &[f32], t: usize, s: usize, d: usize, out: &mut [f32]) {
        let (scale, c) = self.scalars();
        match self.mode {
            Mode::Dot => {
                matmul(t, s, d, q, Trans::N, k, Trans::T, out, false, 1);
                if self.use_scale {
                    out.iter_mut().for_each(|v| *v *= scale);
                }
            }
            Mode::Concat | Mode::Additive => {
                let w = self.scale_vec(d);
                for i in 0..t {
                    for j in 0..s {
                        let (qi, kj) = (&q[i * d..(i + 1) * d], &k[j * d..(j + 1) * d]);
                        let sum: f32 = if self.mode == Mode::Concat {
                            qi.iter()
                                .zip(kj)
                                .map(|(a, b)| (scale * (a + b)).tanh())
                                .sum::<f32>()
                                * c
                        } else {
                            qi.iter()
                                .zip(kj)
                                .zip(&w)
                                .map(|((a, b), w)| w * (a + b).tanh())
                                .sum()
                        };
                        out[i * s + j] = sum;
                    }
                }
            }
        }
    }
}

/// A call's sizes `(batch, query steps, features, value steps, value features)` and its
/// query, value and key values.
type Operands<'a> = ((usize, usize, usize, usize, usize), [&'a [f32]; 3]);

fn operands<'a>(xs: &[&'a Tensor]) -> Operands<'a> {
    let (q, v) = (xs[0].shape(), xs[1].shape());
    let values = [0, 1, 2].map(|i| xs[i].as_slice().expect("standard"));
    ((q[0], q[1], q[2], v[1], v[2]), values)
}

/// Mask values of sample `b` (`len` steps), when there is a mask.
fn mask_row(m: Option<&Option<Tensor>>, b: usize, len: usize) -> Option<&[f32]> {
    m.and_then(|m| m.as_ref())
        .map(|m| &m.as_slice().expect("standard")[b * len..(b + 1) * len])
}

impl Layer for DotAttention {
    fn class_name(&self) -> &'static str {
        match self.mode {
            Mode::Additive => "AdditiveAttention",
            _ => "Attention",
        }
    }

    fn passes_mask(&self) -> bool {
        true
    }

    fn uses_input_masks(&self) -> bool {
        true
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let [q, v, k] = inputs else {
            return Err(shape_error(
                name,
                format!(
                    "takes a list of a query, a value and optionally a key, got {} inputs",
                    inputs.len()
                ),
            ));
        };
        check_sequences(name, &[("query", q), ("value", v), ("key", k)])?;
        if v[0] != k[0] || q[1] != k[1] {
            return Err(shape_error(
                name,
                format!(
                    "needs a key of the value's steps and the query's features, got query {}, value {} and key {}",
                    shape_string(q),
                    shape_string(v),
                    shape_string(k)
                ),
            ));
        }
        if self.params.is_empty() {
            let scalar = |name: &'static str| Param {
                name,
                value: Tensor::from_elem(ndarray::IxDyn(&[]), 1.0),
                trainable: true,
            };
            match self.mode {
                Mode::Additive if self.use_scale => {
                    let d = q[1];
                    let mut w = super::zeros(d);
                    Init::parse("glorot_uniform", 0.0, 0.0)?.fill(
                        &mut w,
                        d,
                        d,
                        &mut Rng::new(self.seed),
                    );
                    self.params.push(Param {
                        name: "scale",
                        value: super::tensor(d, &[], w)?,
                        trainable: true,
                    });
                }
                Mode::Additive => {}
                _ => {
                    if self.use_scale {
                        self.params.push(scalar("scale"));
                    }
                    if self.mode == Mode::Concat {
                        self.params.push(scalar("concat_score_weight"));
                    }
                }
            }
        } else if self.mode == Mode::Additive
            && self.use_scale
            && self.params[0].value.len() != q[1]
        {
            return Err(shape_error(
                name,
                format!(
                    "was built for {} query features, got {}",
                    self.params[0].value.len(),
                    q[1]
                ),
            ));
        }
        if self.scores {
            // The output and the scores side by side (see `output_parts`).
            return Ok(vec![q[0] * v[1] + q[0] * v[0]]);
        }
        Ok(vec![q[0], v[1]])
    }

    fn output_parts(&self, inputs: &[Shape]) -> Vec<Shape> {
        if !self.scores {
            return Vec::new();
        }
        let t = inputs.first().and_then(|s| s.first()).copied().unwrap_or(1);
        let s = inputs.get(1).and_then(|s| s.first()).copied().unwrap_or(1);
        let dv = inputs.get(1).and_then(|s| s.get(1)).copied().unwrap_or(1);
        vec![vec![t, dv], vec![t, s]]
    }

    fn params(&self) -> Vec<&Param> {
        self.params.iter().collect()
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.params.iter_mut().collect()
    }

    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let ((n, t, d, s, dv), [q, v, k]) = operands(xs);
        let drop = ctx.training && self.dropout > 0.0;
        let seed = if drop { ctx.rng.next_u64() as u32 } else { 0 };
        let pn = t * s;
        let mut w = super::zeros(n * pn);
        let mut wd = if drop {
            super::zeros(n * pn)
        } else {
            Vec::new()
        };
        let mut dm = if drop {
            super::zeros(n * pn)
        } else {
            Vec::new()
        };
        let mut y = super::zeros(n * t * dv);
        let masks = &ctx.input_masks;
        {
            let (ws, wds, dms, ys) = (
                Shared::new(&mut w),
                Shared::new(&mut wd),
                Shared::new(&mut dm),
                Shared::new(&mut y),
            );
            blocks(n, 1, ctx.threads, |b, _| {
                // SAFETY: each block writes its own sample's ranges.
                let wb = unsafe { ws.slice(b * pn, pn) };
                let yb = unsafe { ys.slice(b * t * dv, t * dv) };
                self.scores_of(&q[b * t * d..], &k[b * s * d..], t, s, d, wb);
                let vm = mask_row(masks.get(1), b, s);
                for i in 0..t {
                    for j in 0..s {
                        let masked = vm.is_some_and(|m| m[j] == 0.0) || (self.causal && j > i);
                        if masked {
                            wb[i * s + j] -= 1e9;
                        }
                    }
                }
                masked_softmax(wb, s, None);
                let used: &[f32] = if drop {
                    let (wdb, dmb) = unsafe { (wds.slice(b * pn, pn), dms.slice(b * pn, pn)) };
                    dropout_forward(wb, wdb, dmb, 1.0 - self.dropout, seed, b * pn);
                    wdb
                } else {
                    wb
                };
                matmul(
                    t,
                    dv,
                    s,
                    used,
                    Trans::N,
                    &v[b * s * dv..],
                    Trans::N,
                    yb,
                    false,
                    1,
                );
                if let Some(qm) = mask_row(masks.first(), b, t) {
                    for (i, r) in yb.chunks_exact_mut(dv).enumerate() {
                        if qm[i] == 0.0 {
                            r.fill(0.0);
                        }
                    }
                }
            });
        }
        let shown = if drop { &wd } else { &w };
        let out = if self.scores {
            pack_outputs(n, &y, t * dv, shown, pn)?
        } else {
            super::tensor(n, &[t, dv], y)?
        };
        let cache = if ctx.backward {
            let mut c = w;
            c.extend_from_slice(&dm);
            Some(super::tensor(c.len(), &[], c)?)
        } else {
            None
        };
        Ok((out, cache))
    }

    fn backward(
        &self,
        xs: &[&Tensor],
        _y: &Tensor,
        cache: &Cache,
        g: Tensor,
        pgrads: &mut [Tensor],
        ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        let ((n, t, d, s, dv), [q, v, k]) = operands(xs);
        let pn = t * s;
        let c = cache
            .as_ref()
            .ok_or_else(|| RkError::Internal("attention backward without its forward".into()))?;
        let c = c.as_slice().expect("standard");
        let drop = c.len() > n * pn;
        let (w, dm) = (&c[..n * pn], &c[n * pn..]);
        let g = super::standard(g);
        let gs = g.as_slice().expect("standard");
        let wy = t * dv;
        let width = if self.scores { wy + pn } else { wy };
        let (scale, cw) = self.scalars();
        let svec = self.scale_vec(d);
        let masks = &ctx.input_masks;
        let mut dq = super::zeros(n * t * d);
        let mut dk = super::zeros(n * s * d);
        let mut dv_ = super::zeros(n * s * dv);
        let partials = {
            let (qs, ks, vs) = (
                Shared::new(&mut dq),
                Shared::new(&mut dk),
                Shared::new(&mut dv_),
            );
            blocks(n, 1, ctx.threads, |b, _| {
                // SAFETY: each block writes its own sample's ranges.
                let dqb = unsafe { qs.slice(b * t * d, t * d) };
                let dkb = unsafe { ks.slice(b * s * d, s * d) };
                let dvb = unsafe { vs.slice(b * s * dv, s * dv) };
                let row = &gs[b * width..(b + 1) * width];
                let mut gy = row[..wy].to_vec();
                if let Some(qm) = mask_row(masks.first(), b, t) {
                    for (i, r) in gy.chunks_exact_mut(dv).enumerate() {
                        if qm[i] == 0.0 {
                            r.fill(0.0);
                        }
                    }
                }
                let wb = &w[b * pn..(b + 1) * pn];
                let used: Vec<f32> = if drop {
                    wb.iter()
                        .zip(&dm[b * pn..(b + 1) * pn])
                        .map(|(a, m)| a * m)
                        .collect()
                } else {
                    wb.to_vec()
                };
                let (qb, kb, vb) = (
                    &q[b * t * d..(b + 1) * t * d],
                    &k[b * s * d..(b + 1) * s * d],
                    &v[b * s * dv..(b + 1) * s * dv],
                );
                matmul(s, dv, t, &used, Trans::T, &gy, Trans::N, dvb, false, 1);
                let mut dw = super::zeros(pn);
                matmul(t, s, dv, &gy, Trans::N, vb, Trans::T, &mut dw, false, 1);
                if self.scores {
                    dw.iter_mut().zip(&row[wy..]).for_each(|(a, g)| *a += g);
                }
                if drop {
                    dw.iter_mut()
                        .zip(&dm[b * pn..(b + 1) * pn])
                        .for_each(|(a, m)| *a *= m);
                }
                softmax_backward(wb, &mut dw, s);
                // Through the scores: parameter gradients of this sample.
                let mut pg = vec![0.0f32; self.params.iter().map(|p| p.value.len()).sum()];
                match self.mode {
                    Mode::Dot => {
                        if self.use_scale {
                            let mut raw = super::zeros(pn);
                            matmul(t, s, d, qb, Trans::N, kb, Trans::T, &mut raw, false, 1);
                            pg[0] = raw.iter().zip(&dw).map(|(a, b)| a * b).sum();
                        }
                        matmul(t, d, s, &dw, Trans::N, kb, Trans::N, dqb, false, 1);
                        matmul(s, d, t, &dw, Trans::T, qb, Trans::N, dkb, false, 1);
                        if self.use_scale {
                            dqb.iter_mut().for_each(|x| *x *= scale);
                            dkb.iter_mut().for_each(|x| *x *= scale);
                        }
                    }
                    Mode::Concat | Mode::Additive => {
                        dqb.fill(0.0);
                        dkb.fill(0.0);
                        let concat = self.mode == Mode::Concat;
                        for i in 0..t {
                            for j in 0..s {
                                let ds = dw[i * s + j];
                                if ds == 0.0 {
                                    continue;
                                }
                                for e in 0..d {
                                    let sum = qb[i * d + e] + kb[j * d + e];
                                    let (u, wgt) = if concat {
                                        (scale * sum, cw)
                                    } else {
                                        (sum, svec[e])
                                    };
                                    let th = u.tanh();
                                    let du = ds * wgt * (1.0 - th * th);
                                    if concat {
                                        let mut at = 0;
                                        if self.use_scale {
                                            pg[0] += du * sum;
                                            at = 1;
                                        }
                                        pg[at] += ds * th;
                                        dqb[i * d + e] += du * scale;
                                        dkb[j * d + e] += du * scale;
                                    } else {
                                        if self.use_scale {
                                            pg[e] += ds * th;
                                        }
                                        dqb[i * d + e] += du;
                                        dkb[j * d + e] += du;
                                    }
                                }
                            }
                        }
                    }
                }
                pg
            })
        };
        let mut off = 0;
        for (p, gp) in self.params.iter().zip(pgrads.iter_mut()) {
            let len = p.value.len();
            let gs = gp.as_slice_mut().expect("standard");
            for part in &partials {
                gs.iter_mut()
                    .zip(&part[off..off + len])
                    .for_each(|(a, b)| *a += b);
            }
            off += len;
        }
        Ok(vec![
            super::shaped_like(xs[0], dq)?,
            super::shaped_like(xs[1], dv_)?,
            super::shaped_like(xs[2], dk)?,
        ])
    }

    fn config(&self) -> Value {
        let mut c = json!({
            "use_scale": self.use_scale,
            "dropout": self.dropout,
            "use_causal_mask": self.causal,
            "return_attention_scores": self.scores,
        });
        c["seed"] = self.seed_config.clone();
        if self.mode != Mode::Additive {
            c["score_mode"] = json!(if self.mode == Mode::Concat {
                "concat"
            } else {
                "dot"
            });
        }
        c
    }
}
