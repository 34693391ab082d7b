//! Recurrent layers: `SimpleRNN`, `LSTM` and `GRU` over `[batch, time, features]`, with
//! Keras 3's weights and gate orders (LSTM: i, f, c, o; GRU: z, r, h, with `reset_after`'s
//! two biases), `return_sequences`, `go_backwards` and Keras's dropout masks (one mask per
//! sample for the inputs and one for the recurrent state, the same at every step).
//!
//! Forward multiplies all steps' inputs by the kernel at once, then runs the steps; it
//! keeps every step's state and gates for backward, which runs through time in reverse and
//! multiplies all steps' input gradients by the kernel at once again.

use super::gates::Gate;
use super::{
    field, field_or, kernel_penalty, refuse_unsupported, zeros, Cache, Ctx, Layer, Param, Shape,
    Tensor,
};
use crate::config::{init_from_value, init_to_value, reg_from_value, reg_to_value};
use crate::error::{RkError, RkResult};
use crate::initializers::Init;
use crate::rng::Rng;
use crate::tensor::{matmul, Trans};
use ndarray::IxDyn;
use serde_json::{json, Value};
use steps::{row_groups, OutGrads, StepGrads};

mod steps;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell {
    Simple,
    Lstm,
    Gru { reset_after: bool },
}

impl Cell {
    fn gates(self) -> usize {
        match self {
            Cell::Simple => 1,
            Cell::Lstm => 4,
            Cell::Gru { .. } => 3,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Recurrent {
    cell: Cell,
    units: usize,
    act: Gate,
    rec_act: Gate,
    use_bias: bool,
    return_sequences: bool,
    /// `return_state`: the output is followed by the last states (`h`, and LSTM's `c`).
    return_state: bool,
    go_backwards: bool,
    unit_forget_bias: bool,
    kernel_init: Init,
    rec_init: Init,
    bias_init: Init,
    l1: f64,
    l2: f64,
    dropout: f32,
    recurrent_dropout: f32,
    seed: u64,
    params: Vec<Param>,
    /// `stateful`: each batch starts from the states the previous batch ended with.
    stateful: bool,
    state: Carried,
}

/// A stateful layer's states after the last batch: `h` (and LSTM's `c`), `rows x units`.
#[derive(Clone, Debug)]
struct State {
    rows: usize,
    h: Vec<f32>,
    c: Vec<f32>,
}

/// The carried state, behind a lock (forward takes `&self`); a copy of the layer copies it.
#[derive(Debug, Default)]
struct Carried(std::sync::Mutex<Option<State>>);

impl Clone for Carried {
    fn clone(&self) -> Carried {
        Carried(std::sync::Mutex::new(self.get()))
    }
}

impl Carried {
    fn get(&self) -> Option<State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    fn set(&self, s: Option<State>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = s;
    }
}

/// Where each piece of forward's record sits in the cache's one flat tensor.
struct Record {
    b: usize,
    t: usize,
    u: usize,
    gu: usize,
    d: usize,
}

impl Record {
    /// States `h` (and LSTM's `c`) before and after every step: `(T + 1) x B x U` each.
    fn h(&self) -> (usize, usize) {
        (0, (self.t + 1) * self.b * self.u)
    }
    fn c(&self) -> (usize, usize) {
        let (o, n) = self.h();
        (o + n, (self.t + 1) * self.b * self.u)
    }
    /// Every step's gate outputs: `T x B x GU`.
    fn gates(&self) -> (usize, usize) {
        let (o, n) = self.c();
        (o + n, self.t * self.b * self.gu)
    }
    /// GRU's recurrent candidate part before the reset gate: `T x B x U`.
    fn rec_h(&self) -> (usize, usize) {
        let (o, n) = self.gates();
        (o + n, self.t * self.b * self.u)
    }
    /// LSTM's `act(c)` after every step: `T x B x U`.
    fn act_c(&self) -> (usize, usize) {
        let (o, n) = self.rec_h();
        (o + n, self.t * self.b * self.u)
    }
    fn x_mask(&self) -> (usize, usize) {
        let (o, n) = self.act_c();
        (o + n, self.b * self.d)
    }
    fn h_mask(&self) -> (usize, usize) {
        let (o, n) = self.x_mask();
        (o + n, self.b * self.u)
    }
    fn len(&self) -> usize {
        let (o, n) = self.h_mask();
        o + n
    }
}

fn part(v: &[f32], (o, n): (usize, usize)) -> &[f32] {
    &v[o..o + n]
}

fn part_mut(v: &mut [f32], (o, n): (usize, usize)) -> &mut [f32] {
    &mut v[o..o + n]
}

/// Each row group's first row, record layout and record, from the cache of all groups'
/// records laid end to end.
fn group_records<'a>(
    keep: &'a [f32],
    records: &'a [(usize, Record)],
) -> impl Iterator<Item = (usize, &'a Record, &'a [f32])> {
    records.iter().scan(0, move |at, (r0, rec)| {
        let kg = &keep[*at..*at + rec.len()];
        *at += rec.len();
        Some((*r0, rec, kg))
    })
}

/// `f` on every row group's job, on the engine's threads when there are several.
fn on_groups<J: Send, R: Send>(threads: usize, jobs: Vec<J>, f: impl Fn(J) -> R + Sync) -> Vec<R> {
    if threads > 1 && jobs.len() > 1 {
        use rayon::prelude::*;
        jobs.into_par_iter().map(&f).collect()
    } else {
        jobs.into_iter().map(f).collect()
    }
}

impl Recurrent {
    pub fn from_config(class: &str, c: &Value, seed: u64) -> RkResult<Recurrent> {
        let cell = match class {
            "SimpleRNN" => Cell::Simple,
            "LSTM" => Cell::Lstm,
            "GRU" => Cell::Gru {
                reset_after: field_or(c, class, "reset_after", true)?,
            },
            other => return Err(RkError::Spec(format!("unknown recurrent layer '{other}'"))),
        };
        let units: usize = field(c, class, "units")?;
        if units == 0 {
            return Err(RkError::Spec(format!("{class} `units` must be positive")));
        }
        refuse_unsupported(
            c,
            class,
            &[
                "recurrent_regularizer",
                "bias_regularizer",
                "activity_regularizer",
                "kernel_constraint",
                "recurrent_constraint",
                "bias_constraint",
            ],
        )?;
        let act: Option<String> = field_or(c, class, "activation", None)?;
        let rec_act: Option<String> = field_or(c, class, "recurrent_activation", None)?;
        let init = |key: &str, default: &str| match c.get(key) {
            None | Some(Value::Null) => Init::parse(default, 0.0, 0.0),
            Some(v) => init_from_value(v),
        };
        let rate = |key: &str| -> RkResult<f32> {
            let r: f64 = field_or(c, class, key, 0.0)?;
            if !(0.0..1.0).contains(&r) {
                return Err(RkError::Spec(format!("{class} `{key}` must be in [0, 1)")));
            }
            Ok(r as f32)
        };
        let (l1, l2) = reg_from_value(c.get("kernel_regularizer").unwrap_or(&Value::Null))?;
        Ok(Recurrent {
            cell,
            units,
            act: Gate::parse(act.as_deref().unwrap_or("tanh"), "activation")?,
            rec_act: Gate::parse(
                rec_act.as_deref().unwrap_or("sigmoid"),
                "recurrent_activation",
            )?,
            use_bias: field_or(c, class, "use_bias", true)?,
            return_sequences: field_or(c, class, "return_sequences", false)?,
            return_state: field_or(c, class, "return_state", false)?,
            go_backwards: field_or(c, class, "go_backwards", false)?,
            unit_forget_bias: field_or(c, class, "unit_forget_bias", true)?,
            kernel_init: init("kernel_initializer", "glorot_uniform")?,
            rec_init: init("recurrent_initializer", "orthogonal")?,
            bias_init: init("bias_initializer", "zeros")?,
            l1,
            l2,
            dropout: rate("dropout")?,
            recurrent_dropout: rate("recurrent_dropout")?,
            seed,
            params: Vec::new(),
            stateful: field_or(c, class, "stateful", false)?,
            state: Carried::default(),
        })
    }

    fn in_dim(&self) -> usize {
        self.params.first().map(|p| p.value.shape()[0]).unwrap_or(0)
    }

    pub fn return_sequences(&self) -> bool {
        self.return_sequences
    }

    pub fn units(&self) -> usize {
        self.units
    }

    pub fn return_state(&self) -> bool {
        self.return_state
    }

    /// The number of states: `h`, and LSTM's `c`.
    fn n_states(&self) -> usize {
        if self.cell == Cell::Lstm {
            2
        } else {
            1
        }
    }

    /// Values per sample of the output (without the states).
    fn out_width(&self, t: usize) -> usize {
        if self.return_sequences {
            t * self.units
        } else {
            self.units
        }
    }

    /// The length of forward's record for a `[b, t, d]` input (one record per row group).
    pub fn record_len(&self, b: usize, t: usize, d: usize) -> usize {
        self.records(b, t, d).iter().map(|(_, r)| r.len()).sum()
    }

    /// Each row group's first row and record (see [`row_groups`]).
    fn records(&self, b: usize, t: usize, d: usize) -> Vec<(usize, Record)> {
        let (u, gu) = (self.units, self.units * self.cell.gates());
        row_groups(b)
            .into_iter()
            .map(|(r0, r1)| {
                (
                    r0,
                    Record {
                        b: r1 - r0,
                        t,
                        u,
                        gu,
                        d,
                    },
                )
            })
            .collect()
    }

    fn w(&self, i: usize) -> &[f32] {
        self.params[i].value.as_slice().expect("standard layout")
    }

    /// The input bias (added to every step's input product) and GRU's recurrent bias.
    fn biases(&self) -> (Option<&[f32]>, Option<&[f32]>) {
        if !self.use_bias {
            return (None, None);
        }
        let b = self.w(2);
        match self.cell {
            Cell::Gru { reset_after: true } => {
                let gu = 3 * self.units;
                (Some(&b[..gu]), Some(&b[gu..]))
            }
            _ => (Some(b), None),
        }
    }

    /// The input's step mask `[b, t]` (0: skip the step), when it fits.
    fn step_mask(&self, ctx: &Ctx, b: usize, t: usize) -> Option<Vec<f32>> {
        let m = ctx.mask.as_ref()?;
        (m.len() == b * t).then(|| m.iter().copied().collect())
    }

    /// Time index of processing step `s`.
    fn time(&self, s: usize, t: usize) -> usize {
        if self.go_backwards {
            t - 1 - s
        } else {
            s
        }
    }

    /// One mask per sample of `n` values kept with probability `1 - rate`, scaled.
    fn mask(rng: &mut Rng, b: usize, n: usize, rate: f32, out: &mut [f32]) {
        let keep = 1.0 - rate;
        for v in out.iter_mut().take(b * n) {
            *v = if rng.uniform_f32() < keep {
                1.0 / keep
            } else {
                0.0
            };
        }
    }
}

impl Layer for Recurrent {
    fn class_name(&self) -> &'static str {
        match self.cell {
            Cell::Simple => "SimpleRNN",
            Cell::Lstm => "LSTM",
            Cell::Gru { .. } => "GRU",
        }
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        if inputs.is_empty() || inputs[0].len() != 2 {
            return Err(RkError::Shape(format!(
                "{} '{name}' needs samples of shape (timesteps, features), got {:?}",
                self.class_name(),
                inputs
            )));
        }
        let (t, d) = (inputs[0][0], inputs[0][1]);
        let (u, gu) = (self.units, self.units * self.cell.gates());
        let states = &inputs[1..];
        if !states.is_empty() {
            if states.len() != self.n_states() || states.iter().any(|s| s[..] != [u]) {
                return Err(RkError::Shape(format!(
                    "{} '{name}' takes {} initial state{} of shape (None, {u}), got {}",
                    self.class_name(),
                    self.n_states(),
                    if self.n_states() > 1 { "s" } else { "" },
                    states
                        .iter()
                        .map(|s| super::shape_string(s))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            if self.stateful {
                return Err(RkError::Unsupported(format!(
                    "{} '{name}': `initial_state` with `stateful = TRUE` is not supported by rkeras",
                    self.class_name()
                )));
            }
        }
        if self.params.is_empty() {
            let mut rng = Rng::new(self.seed);
            let mut k = zeros(d * gu);
            self.kernel_init.fill(&mut k, d, gu, &mut rng);
            let mut r = zeros(u * gu);
            self.rec_init.fill(&mut r, u, gu, &mut rng);
            let tensor = |shape: &[usize], v: Vec<f32>| {
                Tensor::from_shape_vec(IxDyn(shape), v)
                    .map_err(|e| RkError::Internal(e.to_string()))
            };
            self.params = vec![
                Param {
                    name: "kernel",
                    value: tensor(&[d, gu], k)?,
                    trainable: true,
                },
                Param {
                    name: "recurrent_kernel",
                    value: tensor(&[u, gu], r)?,
                    trainable: true,
                },
            ];
            if self.use_bias {
                let reset_after = matches!(self.cell, Cell::Gru { reset_after: true });
                let n = if reset_after { 2 * gu } else { gu };
                let mut b = zeros(n);
                self.bias_init.fill(&mut b, d, gu, &mut rng);
                if self.cell == Cell::Lstm && self.unit_forget_bias {
                    b[u..2 * u].fill(1.0);
                }
                let shape: Vec<usize> = if reset_after { vec![2, gu] } else { vec![gu] };
                self.params.push(Param {
                    name: "bias",
                    value: tensor(&shape, b)?,
                    trainable: true,
                });
            }
        } else if self.in_dim() != d {
            return Err(RkError::Shape(format!(
                "{} '{name}' was built for {} features, got {d}",
                self.class_name(),
                self.in_dim()
            )));
        }
        Ok(if self.return_state {
            vec![self.out_width(t) + self.n_states() * u]
        } else if self.return_sequences {
            vec![t, u]
        } else {
            vec![u]
        })
    }

    fn output_parts(&self, inputs: &[Shape]) -> Vec<Shape> {
        if !self.return_state {
            return Vec::new();
        }
        let t = inputs.first().and_then(|s| s.first()).copied().unwrap_or(1);
        let out = if self.return_sequences {
            vec![t, self.units]
        } else {
            vec![self.units]
        };
        let mut parts = vec![out];
        parts.extend((0..self.n_states()).map(|_| vec![self.units]));
        parts
    }

    fn takes_initial_state(&self) -> bool {
        true
    }

    fn params(&self) -> Vec<&Param> {
        self.params.iter().collect()
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.params.iter_mut().collect()
    }

    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        let (b, t, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let (u, gu) = (self.units, self.units * self.cell.gates());
        let training = ctx.training;
        let step_mask = self.step_mask(ctx, b, t);
        let xs_ = x.as_slice().expect("standard layout");
        // Dropout masks, one per sample and the same at every step, drawn for the whole batch.
        let draw = |rng: &mut Rng, n: usize, rate: f32| {
            let mut m = zeros(b * n);
            Self::mask(rng, b, n, rate, &mut m);
            m
        };
        let x_mask = (training && self.dropout > 0.0).then(|| draw(&mut ctx.rng, d, self.dropout));
        let h_mask = (training && self.recurrent_dropout > 0.0)
            .then(|| draw(&mut ctx.rng, u, self.recurrent_dropout));
        let x_masked;
        let xin: &[f32] = match &x_mask {
            Some(m) => {
                let mut v = xs_.to_vec();
                times_step_mask(&mut v, m, t, d);
                x_masked = v;
                &x_masked
            }
            None => xs_,
        };
        // All steps' input products at once: [B * T, GU].
        let mut xw = zeros(b * t * gu);
        matmul(
            b * t,
            gu,
            d,
            xin,
            Trans::N,
            self.w(0),
            Trans::N,
            &mut xw,
            false,
            ctx.threads,
        );
        let (b_in, _) = self.biases();
        if let Some(bias) = b_in {
            for row in xw.chunks_exact_mut(gu) {
                row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
            }
        }
        // A stateful layer starts from the states the last batch ended with.
        let carried = if self.stateful {
            self.state.get()
        } else {
            None
        };
        if let Some(st) = &carried {
            if st.rows != b {
                return Err(RkError::Value(format!(
                    "a stateful {} layer carries states for batches of {} rows, but got a batch of {b}; \
                     use batches of one size (and reset_states() to start afresh)",
                    self.class_name(),
                    st.rows
                )));
            }
        }
        // The steps, on each row group's own record (groups run on the engine's threads).
        let records = self.records(b, t, d);
        let mut keep = zeros(records.iter().map(|(_, r)| r.len()).sum());
        let mut jobs = Vec::with_capacity(records.len());
        let mut rest = &mut keep[..];
        for (r0, rec) in &records {
            let (kg, tail) = std::mem::take(&mut rest).split_at_mut(rec.len());
            rest = tail;
            let r1 = r0 + rec.b;
            if let Some(m) = &x_mask {
                part_mut(kg, rec.x_mask()).copy_from_slice(&m[r0 * d..r1 * d]);
            }
            if let Some(m) = &h_mask {
                part_mut(kg, rec.h_mask()).copy_from_slice(&m[r0 * u..r1 * u]);
            }
            if let Some(st) = &carried {
                part_mut(kg, rec.h())[..rec.b * u].copy_from_slice(&st.h[r0 * u..r1 * u]);
                if self.cell == Cell::Lstm {
                    part_mut(kg, rec.c())[..rec.b * u].copy_from_slice(&st.c[r0 * u..r1 * u]);
                }
            }
            // Initial states given as inputs (`initial_state`): h, then LSTM's c.
            for (k, s0) in xs[1..].iter().enumerate() {
                let s0 = s0.as_slice().expect("standard layout");
                let at = if k == 0 { rec.h() } else { rec.c() };
                part_mut(kg, at)[..rec.b * u].copy_from_slice(&s0[r0 * u..r1 * u]);
            }
            let xw_g = &xw[r0 * t * gu..r1 * t * gu];
            let mask_g = step_mask.as_ref().map(|m| &m[r0 * t..r1 * t]);
            jobs.push((rec, xw_g, mask_g, kg));
        }
        let h_masking = h_mask.is_some();
        on_groups(ctx.threads, jobs, |(rec, xw_g, mask_g, kg)| {
            self.forward_steps(rec, xw_g, mask_g, h_masking, kg)
        });
        if self.stateful {
            // The states after the last step, for the next batch.
            let (mut h, mut c) = (Vec::with_capacity(b * u), Vec::new());
            for (_, rec, kg) in group_records(&keep, &records) {
                let last = |(o, _): (usize, usize)| o + t * rec.b * u..o + (t + 1) * rec.b * u;
                h.extend_from_slice(&kg[last(rec.h())]);
                if self.cell == Cell::Lstm {
                    c.extend_from_slice(&kg[last(rec.c())]);
                }
            }
            self.state.set(Some(State { rows: b, h, c }));
        }
        // Outputs: every step's state in processing order, or the last; with
        // `return_state`, the last states follow in each row.
        let ow = self.out_width(t);
        let row_w = if self.return_state {
            ow + self.n_states() * u
        } else {
            ow
        };
        let mut out = zeros(b * row_w);
        for (r0, rec, kg) in group_records(&keep, &records) {
            let hs = part(kg, rec.h());
            let bg = rec.b;
            let last = |bi: usize| (t * bg + bi) * u..(t * bg + bi + 1) * u;
            for bi in 0..bg {
                let o = &mut out[(r0 + bi) * row_w..(r0 + bi + 1) * row_w];
                if self.return_sequences {
                    for s in 0..t {
                        o[s * u..(s + 1) * u].copy_from_slice(
                            &hs[((s + 1) * bg + bi) * u..((s + 1) * bg + bi + 1) * u],
                        );
                    }
                } else {
                    o[..u].copy_from_slice(&hs[last(bi)]);
                }
                if self.return_state {
                    o[ow..ow + u].copy_from_slice(&hs[last(bi)]);
                    if self.cell == Cell::Lstm {
                        o[ow + u..ow + 2 * u].copy_from_slice(&part(kg, rec.c())[last(bi)]);
                    }
                }
            }
        }
        let (seq, flat) = ([b, t, u], [b, row_w]);
        let shape: &[usize] = if self.return_state {
            &flat
        } else if self.return_sequences {
            &seq
        } else {
            &flat
        };
        let y = Tensor::from_shape_vec(IxDyn(shape), out)
            .map_err(|e| RkError::Internal(e.to_string()))?;
        let cache = Tensor::from_shape_vec(IxDyn(&[keep.len()]), keep)
            .map_err(|e| RkError::Internal(e.to_string()))?;
        Ok((y, Some(cache)))
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
        let x = xs[0];
        let (b, t, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let (u, gu) = (self.units, self.units * self.cell.gates());
        let keep = cache
            .as_ref()
            .ok_or_else(|| RkError::Internal("recurrent backward without its record".into()))?;
        let keep = keep.as_slice().expect("standard layout");
        let g = g.as_standard_layout();
        let gs = g.as_slice().expect("standard layout");
        let x_masking = ctx.training && self.dropout > 0.0;
        let h_masking = ctx.training && self.recurrent_dropout > 0.0;
        let step_mask = self.step_mask(ctx, b, t);
        // With `return_state`, each row's gradient is the output's, then the last states'.
        let ow = self.out_width(t);
        let (gs_out, g_last) = if self.return_state {
            let row_w = ow + self.n_states() * u;
            let mut go = Vec::with_capacity(b * ow);
            let mut gl = Vec::with_capacity(b * (row_w - ow));
            for row in gs.chunks_exact(row_w) {
                go.extend_from_slice(&row[..ow]);
                gl.extend_from_slice(&row[ow..]);
            }
            (std::borrow::Cow::Owned(go), Some(gl))
        } else {
            (std::borrow::Cow::Borrowed(gs), None)
        };
        let ns = self.n_states();
        // Back through time on each row group's record, then the groups' gradients summed.
        let records = self.records(b, t, d);
        let mut dxw = zeros(b * t * gu);
        let mut jobs = Vec::with_capacity(records.len());
        let mut rest = &mut dxw[..];
        for (r0, rec, kg) in group_records(keep, &records) {
            let (dg, tail) = std::mem::take(&mut rest).split_at_mut(rec.b * t * gu);
            rest = tail;
            let r1 = r0 + rec.b;
            let mask_g = step_mask.as_ref().map(|m| &m[r0 * t..r1 * t]);
            let last_g = g_last.as_ref().map(|gl| &gl[r0 * ns * u..r1 * ns * u]);
            jobs.push((rec, kg, &gs_out[r0 * ow..r1 * ow], last_g, mask_g, dg));
        }
        let parts: Vec<StepGrads> =
            on_groups(ctx.threads, jobs, |(rec, kg, gs_g, last_g, mask_g, dg)| {
                let g = OutGrads {
                    out: gs_g,
                    last: last_g,
                };
                self.backward_steps(rec, kg, g, mask_g, h_masking, dg)
            });
        let mut sum = StepGrads::zeros(u, gu);
        for p in &parts {
            sum.add(p);
        }
        // The initial states' gradients (inputs after the first), rows in group order.
        let state_grads: Vec<Tensor> = (0..xs.len() - 1)
            .map(|k| {
                let v: Vec<f32> = parts
                    .iter()
                    .flat_map(|p| if k == 0 { &p.dh0 } else { &p.dc0 })
                    .copied()
                    .collect();
                Tensor::from_shape_vec(IxDyn(&[b, u]), v)
                    .map_err(|e| RkError::Internal(e.to_string()))
            })
            .collect::<RkResult<_>>()?;
        let StepGrads {
            mut du,
            du_zr,
            du_h,
            db_rec,
            ..
        } = sum;
        if matches!(self.cell, Cell::Gru { reset_after: false }) {
            // Reassemble the recurrent kernel's gradient from its two column blocks.
            for r in 0..u {
                du[r * gu..r * gu + 2 * u].copy_from_slice(&du_zr[r * 2 * u..(r + 1) * 2 * u]);
                du[r * gu + 2 * u..(r + 1) * gu].copy_from_slice(&du_h[r * u..(r + 1) * u]);
            }
        }
        // Input-side gradients, all steps at once.
        let xs_ = x.as_slice().expect("standard layout");
        let mut xmask = Vec::new();
        if x_masking {
            for (_, rec, kg) in group_records(keep, &records) {
                xmask.extend_from_slice(part(kg, rec.x_mask()));
            }
        }
        let xmask = &xmask[..];
        let x_masked: Vec<f32>;
        let xin: &[f32] = if x_masking {
            let mut v = xs_.to_vec();
            times_step_mask(&mut v, xmask, t, d);
            x_masked = v;
            &x_masked
        } else {
            xs_
        };
        matmul(
            d,
            gu,
            b * t,
            xin,
            Trans::T,
            &dxw,
            Trans::N,
            pgrads[0].as_slice_mut().expect("standard"),
            true,
            ctx.threads,
        );
        pgrads[1]
            .as_slice_mut()
            .expect("standard")
            .iter_mut()
            .zip(&du)
            .for_each(|(a, v)| *a += v);
        if self.use_bias {
            let sums = column_sums(&dxw, gu);
            let gb = pgrads[2].as_slice_mut().expect("standard");
            gb[..gu].iter_mut().zip(&sums).for_each(|(a, v)| *a += v);
            if matches!(self.cell, Cell::Gru { reset_after: true }) {
                gb[gu..].iter_mut().zip(&db_rec).for_each(|(a, v)| *a += v);
            }
        }
        if !ctx.input_grads {
            let mut none = vec![Tensor::zeros(IxDyn(&[0]))];
            none.extend(state_grads);
            return Ok(none);
        }
        let mut dx = zeros(b * t * d);
        matmul(
            b * t,
            d,
            gu,
            &dxw,
            Trans::N,
            self.w(0),
            Trans::T,
            &mut dx,
            false,
            ctx.threads,
        );
        if x_masking {
            times_step_mask(&mut dx, xmask, t, d);
        }
        let dx = Tensor::from_shape_vec(IxDyn(&[b, t, d]), dx)
            .map_err(|e| RkError::Internal(e.to_string()))?;
        let mut grads = vec![dx];
        grads.extend(state_grads);
        Ok(grads)
    }

    fn penalty(&self, pgrads: Option<&mut [Tensor]>) -> f64 {
        kernel_penalty(&self.params, self.l1, self.l2, pgrads)
    }

    /// Keras: the mask goes on with the sequence output, and ends with the last state.
    fn stateful(&self) -> bool {
        self.stateful
    }

    fn reset_state(&self) {
        self.state.set(None);
    }

    fn compute_mask(&self, _x: &Tensor, mask: Option<&Tensor>) -> Option<Tensor> {
        if self.return_sequences {
            mask.cloned()
        } else {
            None
        }
    }

    fn config(&self) -> Value {
        let mut c = json!({
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": false,
            "zero_output_for_mask": self.return_sequences,
            "units": self.units,
            "activation": self.act.name(),
            "use_bias": self.use_bias,
            "kernel_initializer": init_to_value(&self.kernel_init),
            "recurrent_initializer": init_to_value(&self.rec_init),
            "bias_initializer": init_to_value(&self.bias_init),
            "kernel_regularizer": reg_to_value(self.l1, self.l2),
            "recurrent_regularizer": null,
            "bias_regularizer": null,
            "activity_regularizer": null,
            "kernel_constraint": null,
            "recurrent_constraint": null,
            "bias_constraint": null,
            "dropout": self.dropout as f64,
            "recurrent_dropout": self.recurrent_dropout as f64,
            "seed": null,
        });
        let o = c.as_object_mut().expect("object");
        match self.cell {
            Cell::Simple => {}
            Cell::Lstm => {
                o.insert("recurrent_activation".into(), json!(self.rec_act.name()));
                o.insert("unit_forget_bias".into(), json!(self.unit_forget_bias));
            }
            Cell::Gru { reset_after } => {
                o.insert("recurrent_activation".into(), json!(self.rec_act.name()));
                o.insert("reset_after".into(), json!(reset_after));
            }
        }
        c
    }
}

/// The first `k` columns and the rest of a row-major `[rows, cols]` matrix, as two
/// row-major matrices (empty when `k` is not inside).
fn split_columns(m: &[f32], rows: usize, cols: usize, k: usize) -> (Vec<f32>, Vec<f32>) {
    if k >= cols {
        return (Vec::new(), Vec::new());
    }
    let mut a = Vec::with_capacity(rows * k);
    let mut b = Vec::with_capacity(rows * (cols - k));
    for r in 0..rows {
        a.extend_from_slice(&m[r * cols..r * cols + k]);
        b.extend_from_slice(&m[r * cols + k..(r + 1) * cols]);
    }
    (a, b)
}

fn column_sums(m: &[f32], cols: usize) -> Vec<f32> {
    let mut s = vec![0.0f32; cols];
    for row in m.chunks_exact(cols) {
        s.iter_mut().zip(row).for_each(|(a, v)| *a += v);
    }
    s
}

/// Multiply every step of each sample (`[b, t, d]` row-major) by that sample's mask row.
fn times_step_mask(v: &mut [f32], mask: &[f32], t: usize, d: usize) {
    for (bi, row) in v.chunks_exact_mut(t * d).enumerate() {
        for step in row.chunks_exact_mut(d) {
            step.iter_mut()
                .zip(&mask[bi * d..(bi + 1) * d])
                .for_each(|(a, m)| *a *= m);
        }
    }
}
