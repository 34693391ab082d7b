//! MultiHeadAttention: Keras's multi-head scaled dot-product attention over sequences.
//!
//! # Shapes
//! Inputs `query [batch, T, dq]`, `value [batch, S, dv]`, `key [batch, S, dk]` and, when the
//! call gives one, `attention_mask [batch, T, S]` (non-zero: attend). With `H` heads:
//! - projections `Q = (query Wq + bq) / sqrt(key_dim)` (`Wq [dq, H, key_dim]`), `K = key Wk + bk`,
//!   `V = value Wv + bv` (`Wv [dv, H, value_dim]`);
//! - per head, `P = softmax(Q K')` over the keys `[T, S]`, where masked scores are set to
//!   `-1e9` before the softmax and their probabilities to 0 after it (Keras's masked
//!   softmax), then dropout on `P` in training;
//! - `O = P V` per head, and `y = O Wo + bo` with `Wo [H, value_dim, out]`: output
//!   `[batch, T, out]`, `out` being `output_shape` or `dq`.
//!
//! The mask of a position `(t, s)` joins the query's mask at `t`, the value's and key's masks
//! at `s` (Keras's masks, as an embedding's `mask_zero` makes them), the causal mask `s <= t`
//! (`use_causal_mask`), the sliding window `|t - s| < w` and the attention mask.
//!
//! With `return_attention_scores`, the call has a second output, `P` before dropout:
//! `[batch, H, T, S]`.
//!
//! # Backward
//! `dWo = O' g`, `dO = g Wo'`; per head `dV = Pd' dO`, `dPd = dO V'`, `dP = dPd * drop
//! (+ the scores' own gradient)`, `dS = P * (dP - rowsum(P * dP))`, `dQ = dS K`,
//! `dK = dS' Q`; then through the projections (`dQ` scaled by `1 / sqrt(key_dim)`).

use super::attention_ops::{
    check_sequences, masked_softmax, pack_outputs, project, softmax_backward, unpack_grads,
};
use super::patches::{blocks, Shared};
use super::{field, field_or, shape_error, shape_string, Cache, Ctx, Layer, Param, Shape, Tensor};
use crate::config::{init_from_value, init_to_value};
use crate::dense::chain::{column_sums, dropout_forward};
use crate::error::{RkError, RkResult};
use crate::initializers::Init;
use crate::rng::Rng;
use crate::tensor::{matmul, matmul_ld, Trans};
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct MultiHeadAttention {
    heads: usize,
    key_dim: usize,
    value_dim: usize,
    dropout: f32,
    use_bias: bool,
    /// `output_shape`: the output's feature size, when not the query's.
    out_dim: Option<usize>,
    sliding_window: Option<usize>,
    kernel_init: Init,
    bias_init: Init,
    /// The dropout seed as configured (Keras's `seed`), for the config.
    seed_config: Value,
    /// The call's `use_causal_mask` and `return_attention_scores` (Keras's call arguments;
    /// rkeras keeps one set per layer).
    causal: bool,
    scores: bool,
    /// Seed of the initial weights.
    seed: u64,
    /// Query, value and key feature sizes, once built.
    dims: [usize; 3],
    params: Vec<Param>,
}

/// One projection's kernel and bias names, their shapes, and the kernel's fans.
type Projection = (
    &'static str,
    &'static str,
    Vec<usize>,
    Vec<usize>,
    (usize, usize),
);

/// The sizes of one call: batch, query steps, key steps.
#[derive(Clone, Copy)]
struct Sizes {
    n: usize,
    t: usize,
    s: usize,
}

impl MultiHeadAttention {
    pub fn from_config(c: &Value, seed: u64) -> RkResult<MultiHeadAttention> {
        let cls = "MultiHeadAttention";
        let positive = |key: &str, v: Option<usize>| -> RkResult<usize> {
            v.filter(|&v| v > 0)
                .ok_or_else(|| RkError::Spec(format!("{cls} `{key}` must be a positive integer")))
        };
        let heads = positive("num_heads", field(c, cls, "num_heads")?)?;
        let key_dim = positive("key_dim", field(c, cls, "key_dim")?)?;
        let value_dim: Option<usize> = field_or(c, cls, "value_dim", None)?;
        let value_dim = match value_dim {
            None | Some(0) => key_dim,
            Some(v) => v,
        };
        let dropout: f32 = field_or(c, cls, "dropout", 0.0)?;
        if !(0.0..1.0).contains(&dropout) {
            return Err(RkError::Spec(format!(
                "{cls} `dropout` must be in [0, 1), got {dropout}"
            )));
        }
        let out_dim = match c.get("output_shape") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let dims: Vec<usize> = match v {
                    Value::Array(_) => field(c, cls, "output_shape")?,
                    _ => vec![field(c, cls, "output_shape")?],
                };
                match dims.as_slice() {
                    [d] if *d > 0 => Some(*d),
                    _ => {
                        return Err(RkError::Unsupported(format!(
                            "{cls} `output_shape` {v} is not supported: rkeras takes one positive size (the output's last axis)"
                        )))
                    }
                }
            }
        };
        // Attention over the steps of (batch, steps, features) inputs: Keras's default axes.
        let axes_ok = match c.get("attention_axes") {
            None | Some(Value::Null) => true,
            Some(Value::Array(a)) => a.len() == 1 && matches!(a[0].as_i64(), Some(1) | Some(-2)),
            Some(v) => matches!(v.as_i64(), Some(1) | Some(-2)),
        };
        if !axes_ok {
            return Err(RkError::Unsupported(format!(
                "{cls} `attention_axes` {} is not supported: rkeras attends over the steps of (batch, steps, features) inputs",
                c["attention_axes"]
            )));
        }
        let sliding_window: Option<usize> = field_or(c, cls, "sliding_window", None)?;
        if sliding_window == Some(0) {
            return Err(RkError::Spec(format!(
                "{cls} `sliding_window` must be a positive integer"
            )));
        }
        if field_or(c, cls, "use_gate", false)? {
            return Err(RkError::Unsupported(format!(
                "{cls} `use_gate` is not supported by rkeras yet"
            )));
        }
        super::refuse_unsupported(
            c,
            cls,
            &[
                "kernel_regularizer",
                "bias_regularizer",
                "activity_regularizer",
                "kernel_constraint",
                "bias_constraint",
            ],
        )?;
        let init = |key: &str, default: &str| match c.get(key) {
            None | Some(Value::Null) => Init::parse(default, 0.0, 0.0),
            Some(v) => init_from_value(v),
        };
        Ok(MultiHeadAttention {
            heads,
            key_dim,
            value_dim,
            dropout,
            use_bias: field_or(c, cls, "use_bias", true)?,
            out_dim,
            sliding_window,
            kernel_init: init("kernel_initializer", "glorot_uniform")?,
            bias_init: init("bias_initializer", "zeros")?,
            seed_config: c.get("seed").cloned().unwrap_or(Value::Null),
            causal: field_or(c, cls, "use_causal_mask", false)?,
            scores: field_or(c, cls, "return_attention_scores", false)?,
            seed,
            dims: [0; 3],
            params: Vec::new(),
        })
    }

    fn out(&self) -> usize {
        self.out_dim.unwrap_or(self.dims[0])
    }

    /// Kernel `k` (query, key, value, output) and its bias.
    fn weights(&self, k: usize) -> (&[f32], Option<&[f32]>) {
        let per = if self.use_bias { 2 } else { 1 };
        let w = self.params[k * per].value.as_slice().expect("standard");
        let b = self
            .use_bias
            .then(|| self.params[k * per + 1].value.as_slice().expect("standard"));
        (w, b)
    }

    fn create_params(&mut self) -> RkResult<()> {
        let (h, kd, vd) = (self.heads, self.key_dim, self.value_dim);
        let [dq, dv, dk] = self.dims;
        let out = self.out();
        // Keras's EinsumDense fans: the contracted axes in, the produced axes out.
        let shapes: [Projection; 4] = [
            (
                "query/kernel",
                "query/bias",
                vec![dq, h, kd],
                vec![h, kd],
                (dq, h * kd),
            ),
            (
                "key/kernel",
                "key/bias",
                vec![dk, h, kd],
                vec![h, kd],
                (dk, h * kd),
            ),
            (
                "value/kernel",
                "value/bias",
                vec![dv, h, vd],
                vec![h, vd],
                (dv, h * vd),
            ),
            (
                "attention_output/kernel",
                "attention_output/bias",
                vec![h, vd, out],
                vec![out],
                (h * vd, out),
            ),
        ];
        let mut rng = Rng::new(self.seed);
        let mut params = Vec::new();
        for (kname, bname, kshape, bshape, (fi, fo)) in shapes {
            let mut k = super::zeros(kshape.iter().product());
            self.kernel_init.fill(&mut k, fi, fo, &mut rng);
            params.push(Param {
                name: kname,
                value: Tensor::from_shape_vec(ndarray::IxDyn(&kshape), k)
                    .map_err(|e| RkError::Internal(e.to_string()))?,
                trainable: true,
            });
            if self.use_bias {
                let mut b = super::zeros(bshape.iter().product());
                self.bias_init.fill(&mut b, fi, fo, &mut rng);
                params.push(Param {
                    name: bname,
                    value: Tensor::from_shape_vec(ndarray::IxDyn(&bshape), b)
                        .map_err(|e| RkError::Internal(e.to_string()))?,
                    trainable: true,
                });
            }
        }
        self.params = params;
        Ok(())
    }

    /// Whether position `(t, s)` of sample `b` is attended, or `None` when nothing masks.
    fn keep_mask(
        &self,
        sz: Sizes,
        b: usize,
        xs: &[&Tensor],
        masks: &[Option<Tensor>],
    ) -> Option<Vec<bool>> {
        let (t, s) = (sz.t, sz.s);
        let q_mask = masks.first().and_then(|m| m.as_ref());
        let v_mask = masks.get(1).and_then(|m| m.as_ref());
        let k_mask = masks.get(2).and_then(|m| m.as_ref());
        let attn = xs.get(3);
        if q_mask.is_none()
            && v_mask.is_none()
            && k_mask.is_none()
            && attn.is_none()
            && !self.causal
            && self.sliding_window.is_none()
        {
            return None;
        }
        fn row(m: Option<&Tensor>, b: usize, len: usize) -> Option<&[f32]> {
            m.map(|m| &m.as_slice().expect("standard")[b * len..(b + 1) * len])
        }
        let (qm, vm, km) = (row(q_mask, b, t), row(v_mask, b, s), row(k_mask, b, s));
        let am = attn.map(|a| &a.as_slice().expect("standard")[b * t * s..(b + 1) * t * s]);
        let mut keep = vec![true; t * s];
        for i in 0..t {
            for j in 0..s {
                let mut k = qm.is_none_or(|m| m[i] != 0.0)
                    && vm.is_none_or(|m| m[j] != 0.0)
                    && km.is_none_or(|m| m[j] != 0.0)
                    && am.is_none_or(|m| m[i * s + j] != 0.0);
                if self.causal {
                    k &= j <= i;
                }
                if let Some(w) = self.sliding_window {
                    k &= i.abs_diff(j) < w;
                }
                keep[i * s + j] = k;
            }
        }
        Some(keep)
    }

    fn sizes(xs: &[&Tensor]) -> Sizes {
        Sizes {
            n: xs[0].shape()[0],
            t: xs[0].shape()[1],
            s: xs[1].shape()[1],
        }
    }
}

/// Offsets of a forward pass's kept values in its cache: the projected query (scaled), key and
/// value `[rows, heads * d]`, the probabilities, the heads' outputs `O [n*T, H*vd]`, and the
/// dropout multipliers.
struct Layout {
    q: usize,
    k: usize,
    v: usize,
    p: usize,
    o: usize,
    drop: usize,
    end: usize,
}

impl Layout {
    fn new(sz: Sizes, h: usize, kd: usize, vd: usize, dropout: bool) -> Layout {
        let q = 0;
        let k = q + sz.n * h * sz.t * kd;
        let v = k + sz.n * h * sz.s * kd;
        let p = v + sz.n * h * sz.s * vd;
        let o = p + sz.n * h * sz.t * sz.s;
        let drop = o + sz.n * sz.t * h * vd;
        let end = drop + if dropout { sz.n * h * sz.t * sz.s } else { 0 };
        Layout {
            q,
            k,
            v,
            p,
            o,
            drop,
            end,
        }
    }
}

impl Layer for MultiHeadAttention {
    fn class_name(&self) -> &'static str {
        "MultiHeadAttention"
    }

    fn passes_mask(&self) -> bool {
        true
    }

    fn uses_input_masks(&self) -> bool {
        true
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let (q, v, k, mask) = match inputs {
            [q, v, k] => (q, v, k, None),
            [q, v, k, m] => (q, v, k, Some(m)),
            _ => {
                return Err(shape_error(
                    name,
                    format!(
                    "takes a query, a value, a key and optionally an attention mask, got {} inputs",
                    inputs.len()
                ),
                ))
            }
        };
        check_sequences(name, &[("query", q), ("value", v), ("key", k)])?;
        if v[0] != k[0] {
            return Err(shape_error(
                name,
                format!(
                    "needs a value and a key of the same steps, got value {} and key {}",
                    shape_string(v),
                    shape_string(k)
                ),
            ));
        }
        if let Some(m) = mask {
            if m.as_slice() != [q[0], v[0]] {
                return Err(shape_error(
                    name,
                    format!(
                        "expects an attention mask of shape (None, {}, {}) (query steps, value steps), got {}",
                        q[0],
                        v[0],
                        shape_string(m)
                    ),
                ));
            }
        }
        let dims = [q[1], v[1], k[1]];
        if self.params.is_empty() {
            self.dims = dims;
            self.create_params()?;
        } else if dims != self.dims {
            return Err(shape_error(
                name,
                format!(
                    "was built for query, value and key features {:?}, got {:?}",
                    self.dims, dims
                ),
            ));
        }
        if self.scores {
            // The output and the scores side by side (see `output_parts`).
            return Ok(vec![q[0] * self.out() + self.heads * q[0] * v[0]]);
        }
        Ok(vec![q[0], self.out()])
    }

    fn output_parts(&self, inputs: &[Shape]) -> Vec<Shape> {
        if !self.scores {
            return Vec::new();
        }
        let t = inputs.first().and_then(|s| s.first()).copied().unwrap_or(1);
        let s = inputs.get(1).and_then(|s| s.first()).copied().unwrap_or(1);
        vec![vec![t, self.out()], vec![self.heads, t, s]]
    }

    fn params(&self) -> Vec<&Param> {
        self.params.iter().collect()
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.params.iter_mut().collect()
    }

    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let sz = Self::sizes(xs);
        let (h, kd, vd, out) = (self.heads, self.key_dim, self.value_dim, self.out());
        let (q_in, v_in, k_in) = (
            xs[0].as_slice().expect("standard"),
            xs[1].as_slice().expect("standard"),
            xs[2].as_slice().expect("standard"),
        );
        let threads = ctx.threads;
        let (wq, bq) = self.weights(0);
        let (wk, bk) = self.weights(1);
        let (wv, bv) = self.weights(2);
        let (wo, bo) = self.weights(3);
        let mut qp = project(q_in, sz.n * sz.t, wq, bq, h * kd, threads);
        let scale = 1.0 / (kd as f32).sqrt();
        qp.iter_mut().for_each(|v| *v *= scale);
        let kp = project(k_in, sz.n * sz.s, wk, bk, h * kd, threads);
        let vp = project(v_in, sz.n * sz.s, wv, bv, h * vd, threads);
        let (hk, hv) = (h * kd, h * vd);
        let drop = ctx.training && self.dropout > 0.0;
        let seed = if drop { ctx.rng.next_u64() as u32 } else { 0 };
        let (tt, ss) = (sz.t, sz.s);
        let pn = h * tt * ss;
        // The probabilities of every sample are kept for backward and for the scores output;
        // otherwise each block of samples reuses one buffer.
        let keep_all = ctx.backward || self.scores;
        let mut p = if keep_all {
            super::zeros(sz.n * pn)
        } else {
            Vec::new()
        };
        let mut dm = if drop {
            super::zeros(sz.n * pn)
        } else {
            Vec::new()
        };
        // The heads' outputs side by side, `[n * T, H * vd]`, as the output projection reads them.
        let mut o = super::zeros(sz.n * tt * hv);
        let masks = &ctx.input_masks;
        {
            let (ps, ds, os) = (
                Shared::new(&mut p),
                Shared::new(&mut dm),
                Shared::new(&mut o),
            );
            let keep_rate = 1.0 - self.dropout;
            let chunk = sz.n.div_ceil(threads.max(1)).max(1);
            blocks(sz.n, chunk, threads, |b0, nb| {
                let mut scratch = if keep_all {
                    Vec::new()
                } else {
                    super::zeros(pn)
                };
                let mut pd = if drop { super::zeros(pn) } else { Vec::new() };
                for b in b0..b0 + nb {
                    // SAFETY: each block writes its own samples' ranges.
                    let pb: &mut [f32] = if keep_all {
                        unsafe { ps.slice(b * pn, pn) }
                    } else {
                        &mut scratch
                    };
                    let ob = unsafe { os.slice(b * tt * hv, tt * hv) };
                    let keep = self.keep_mask(sz, b, xs, masks);
                    let (qb, kb, vb) = (&qp[b * tt * hk..], &kp[b * ss * hk..], &vp[b * ss * hv..]);
                    for k in 0..h {
                        let pk = &mut pb[k * tt * ss..(k + 1) * tt * ss];
                        matmul_ld(
                            tt,
                            ss,
                            kd,
                            (&qb[k * kd..], hk, Trans::N),
                            (&kb[k * kd..], hk, Trans::T),
                            (pk, ss),
                            false,
                        );
                        masked_softmax(pk, ss, keep.as_deref());
                    }
                    let used: &[f32] = if drop {
                        let db = unsafe { ds.slice(b * pn, pn) };
                        dropout_forward(pb, &mut pd, db, keep_rate, seed, b * pn);
                        &pd
                    } else {
                        pb
                    };
                    for k in 0..h {
                        matmul_ld(
                            tt,
                            vd,
                            ss,
                            (&used[k * tt * ss..], ss, Trans::N),
                            (&vb[k * vd..], hv, Trans::N),
                            (&mut ob[k * vd..], hv),
                            false,
                        );
                    }
                }
            });
        }
        let y = project(&o, sz.n * tt, wo, bo, out, threads);
        let cache = if ctx.backward {
            let lay = Layout::new(sz, h, kd, vd, drop);
            let mut c = Vec::with_capacity(lay.end);
            c.extend_from_slice(&qp);
            c.extend_from_slice(&kp);
            c.extend_from_slice(&vp);
            c.extend_from_slice(&p);
            c.extend_from_slice(&o);
            c.extend_from_slice(&dm);
            Some(
                Tensor::from_shape_vec(ndarray::IxDyn(&[c.len()]), c)
                    .map_err(|e| RkError::Internal(e.to_string()))?,
            )
        } else {
            None
        };
        let y = if self.scores {
            pack_outputs(sz.n, &y, tt * out, &p, pn)?
        } else {
            super::tensor(sz.n, &[tt, out], y)?
        };
        Ok((y, cache))
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
        let sz = Self::sizes(xs);
        let (h, kd, vd, out) = (self.heads, self.key_dim, self.value_dim, self.out());
        let (tt, ss) = (sz.t, sz.s);
        let pn = h * tt * ss;
        let threads = ctx.threads;
        let c = cache
            .as_ref()
            .ok_or_else(|| RkError::Internal("attention backward without its forward".into()))?;
        let c = c.as_slice().expect("standard");
        let drop = c.len() > Layout::new(sz, h, kd, vd, false).end;
        let lay = Layout::new(sz, h, kd, vd, drop);
        let (qp, kp, vp) = (&c[lay.q..lay.k], &c[lay.k..lay.v], &c[lay.v..lay.p]);
        let (p, o, dm) = (&c[lay.p..lay.o], &c[lay.o..lay.drop], &c[lay.drop..lay.end]);
        let g = super::standard(g);
        let gs = g.as_slice().expect("standard");
        // The output's gradient, and the scores' when they are an output too.
        let (gy, gp): (Vec<f32>, Option<Vec<f32>>) = if self.scores {
            let (gy, gp) = unpack_grads(gs, tt * out, pn);
            (gy, Some(gp))
        } else {
            (gs.to_vec(), None)
        };
        let per = if self.use_bias { 2 } else { 1 };
        let rows_t = sz.n * tt;
        let rows_s = sz.n * ss;
        // Output projection.
        let (wo, _) = self.weights(3);
        {
            let gw = pgrads[3 * per].as_slice_mut().expect("standard");
            matmul(
                h * vd,
                out,
                rows_t,
                o,
                Trans::T,
                &gy,
                Trans::N,
                gw,
                true,
                threads,
            );
        }
        if self.use_bias {
            let mut cs = vec![0.0; out];
            column_sums(&gy, out, &mut cs);
            let gb = pgrads[3 * per + 1].as_slice_mut().expect("standard");
            gb.iter_mut().zip(&cs).for_each(|(a, b)| *a += b);
        }
        let mut d_o = super::zeros(rows_t * h * vd);
        matmul(
            rows_t,
            h * vd,
            out,
            &gy,
            Trans::N,
            wo,
            Trans::T,
            &mut d_o,
            false,
            threads,
        );
        // Per sample and head: through the attention, on `[rows, heads * d]` layouts.
        let (hk, hv) = (h * kd, h * vd);
        let mut dq = super::zeros(sz.n * tt * hk);
        let mut dk = super::zeros(sz.n * ss * hk);
        let mut dv = super::zeros(sz.n * ss * hv);
        {
            let (qs, ks, vs) = (
                Shared::new(&mut dq),
                Shared::new(&mut dk),
                Shared::new(&mut dv),
            );
            let chunk = sz.n.div_ceil(threads.max(1)).max(1);
            blocks(sz.n, chunk, threads, |b0, nb| {
                let mut used = if drop { super::zeros(pn) } else { Vec::new() };
                let mut dp = super::zeros(tt * ss);
                for b in b0..b0 + nb {
                    // SAFETY: each block writes its own samples' ranges.
                    let dqb = unsafe { qs.slice(b * tt * hk, tt * hk) };
                    let dkb = unsafe { ks.slice(b * ss * hk, ss * hk) };
                    let dvb = unsafe { vs.slice(b * ss * hv, ss * hv) };
                    let (qb, kb, vb) = (&qp[b * tt * hk..], &kp[b * ss * hk..], &vp[b * ss * hv..]);
                    let dob = &d_o[b * tt * hv..];
                    let pb = &p[b * pn..(b + 1) * pn];
                    if drop {
                        used.iter_mut()
                            .zip(pb.iter().zip(&dm[b * pn..(b + 1) * pn]))
                            .for_each(|(u, (a, m))| *u = a * m);
                    }
                    for k in 0..h {
                        let pk = &pb[k * tt * ss..(k + 1) * tt * ss];
                        let uk = if drop {
                            &used[k * tt * ss..(k + 1) * tt * ss]
                        } else {
                            pk
                        };
                        // dV = Pd' dO
                        matmul_ld(
                            ss,
                            vd,
                            tt,
                            (uk, ss, Trans::T),
                            (&dob[k * vd..], hv, Trans::N),
                            (&mut dvb[k * vd..], hv),
                            false,
                        );
                        // dPd = dO V'
                        matmul_ld(
                            tt,
                            ss,
                            vd,
                            (&dob[k * vd..], hv, Trans::N),
                            (&vb[k * vd..], hv, Trans::T),
                            (&mut dp, ss),
                            false,
                        );
                        if drop {
                            let mk = &dm[b * pn + k * tt * ss..b * pn + (k + 1) * tt * ss];
                            dp.iter_mut().zip(mk).for_each(|(d, m)| *d *= m);
                        }
                        if let Some(gp) = &gp {
                            let gk = &gp[b * pn + k * tt * ss..b * pn + (k + 1) * tt * ss];
                            dp.iter_mut().zip(gk).for_each(|(d, g)| *d += g);
                        }
                        softmax_backward(pk, &mut dp, ss);
                        // dQ = dS K, dK = dS' Q
                        matmul_ld(
                            tt,
                            kd,
                            ss,
                            (&dp, ss, Trans::N),
                            (&kb[k * kd..], hk, Trans::N),
                            (&mut dqb[k * kd..], hk),
                            false,
                        );
                        matmul_ld(
                            ss,
                            kd,
                            tt,
                            (&dp, ss, Trans::T),
                            (&qb[k * kd..], hk, Trans::N),
                            (&mut dkb[k * kd..], hk),
                            false,
                        );
                    }
                }
            });
        }
        let scale = 1.0 / (kd as f32).sqrt();
        dq.iter_mut().for_each(|v| *v *= scale);
        let grads = [
            (dq, 0usize, rows_t, hk),
            (dk, 2, rows_s, hk),
            (dv, 1, rows_s, hv),
        ];
        // The projections: query (input 0, weights 0), key (input 2, weights 1), value
        // (input 1, weights 2).
        let mut din: Vec<Option<Tensor>> = vec![None, None, None];
        for (wi, (dproj, input, rows, width)) in grads.into_iter().enumerate() {
            let x = xs[input].as_slice().expect("standard");
            let d_in = x.len() / rows.max(1);
            {
                let gw = pgrads[wi * per].as_slice_mut().expect("standard");
                matmul(
                    d_in,
                    width,
                    rows,
                    x,
                    Trans::T,
                    &dproj,
                    Trans::N,
                    gw,
                    true,
                    threads,
                );
            }
            if self.use_bias {
                let mut cs = vec![0.0; width];
                column_sums(&dproj, width, &mut cs);
                let gb = pgrads[wi * per + 1].as_slice_mut().expect("standard");
                gb.iter_mut().zip(&cs).for_each(|(a, b)| *a += b);
            }
            if ctx.input_grads {
                let (w, _) = self.weights(wi);
                let mut dx = super::zeros(rows * d_in);
                matmul(
                    rows,
                    d_in,
                    width,
                    &dproj,
                    Trans::N,
                    w,
                    Trans::T,
                    &mut dx,
                    false,
                    threads,
                );
                din[input] = Some(super::shaped_like(xs[input], dx)?);
            }
        }
        let mut res: Vec<Tensor> = din
            .into_iter()
            .enumerate()
            .map(|(i, d)| d.unwrap_or_else(|| super::zeros_like(&xs[i].raw_dim())))
            .collect();
        if let Some(m) = xs.get(3) {
            res.push(super::zeros_like(&m.raw_dim()));
        }
        Ok(res)
    }

    fn config(&self) -> Value {
        json!({
            "num_heads": self.heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "use_gate": false,
            "output_shape": self.out_dim.map(|d| json!([d])),
            "attention_axes": [1],
            "sliding_window": self.sliding_window,
            "kernel_initializer": init_to_value(&self.kernel_init),
            "bias_initializer": init_to_value(&self.bias_init),
            "kernel_regularizer": null,
            "bias_regularizer": null,
            "activity_regularizer": null,
            "kernel_constraint": null,
            "bias_constraint": null,
            "seed": self.seed_config,
            "use_causal_mask": self.causal,
            "return_attention_scores": self.scores,
        })
    }
}
