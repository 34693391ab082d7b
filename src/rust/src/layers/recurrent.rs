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
use ndarray::IxDyn;
use record::Record;
use serde_json::{json, Value};
use steps::row_groups;

mod batch;
mod record;
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
        if let Some(k) = self.params.first() {
            if k.value.shape()[0] != d {
                return Err(RkError::Shape(format!(
                    "{} '{name}' expects {} input features, got {d}",
                    self.class_name(),
                    k.value.shape()[0]
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
        self.forward_batch(xs, ctx)
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
        self.backward_batch(xs, cache, g, pgrads, ctx)
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
