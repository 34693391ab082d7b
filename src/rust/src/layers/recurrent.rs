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
        for (key, what) in [("return_state", "`return_state = TRUE`")] {
            if field_or(c, class, key, false)? {
                return Err(RkError::Unsupported(format!(
                    "{class} {what} is not supported by rkeras yet"
                )));
            }
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

    /// Forward's steps for one row group: `xw` holds its rows' input products
    /// (`[rows * T, GU]`), `step_mask` its rows' step mask, and `keep` its record, whose
    /// dropout masks are already in place.
    fn forward_steps(
        &self,
        rec: &Record,
        xw: &[f32],
        step_mask: Option<&[f32]>,
        h_masking: bool,
        keep: &mut [f32],
    ) {
        let (b, t, u, gu) = (rec.b, rec.t, rec.u, rec.gu);
        let (_, b_rec) = self.biases();
        let uk = self.w(1);
        // GRU without reset_after multiplies the reset state by the candidate's columns only.
        let (u_zr, u_h) = split_columns(uk, u, gu, 2 * u);
        let mut hp = zeros(b * u);
        let mut h_prev = zeros(b * u);
        let mut z = zeros(b * gu);
        let mut rec_out = zeros(b * gu);
        let mut rh = zeros(b * u);
        let mut rhp = zeros(b * u);
        let mut h_new = zeros(b * u);
        let mut c_new = zeros(b * u);
        let (ra, act) = (self.rec_act, self.act);
        for s in 0..t {
            let ti = self.time(s, t);
            h_prev.copy_from_slice(&part(keep, rec.h())[s * b * u..(s + 1) * b * u]);
            hp.copy_from_slice(&h_prev);
            if h_masking {
                let m = part(keep, rec.h_mask());
                hp.iter_mut().zip(m).for_each(|(h, m)| *h *= m);
            }
            // z = x_t W + b (+ h U for the gates the recurrent product feeds directly).
            for bi in 0..b {
                let src = &xw[(bi * t + ti) * gu..(bi * t + ti + 1) * gu];
                z[bi * gu..(bi + 1) * gu].copy_from_slice(src);
            }
            let gates_o = rec.gates().0 + s * b * gu;
            match self.cell {
                Cell::Simple | Cell::Lstm => {
                    matmul(b, gu, u, &hp, Trans::N, uk, Trans::N, &mut z, true, 1);
                }
                Cell::Gru { reset_after: true } => {
                    // The recurrent product with its bias, kept apart for the candidate.
                    matmul(
                        b,
                        gu,
                        u,
                        &hp,
                        Trans::N,
                        uk,
                        Trans::N,
                        &mut rec_out,
                        false,
                        1,
                    );
                    for bi in 0..b {
                        let rr = &mut rec_out[bi * gu..(bi + 1) * gu];
                        if let Some(br) = b_rec {
                            rr.iter_mut().zip(br).for_each(|(v, b)| *v += b);
                        }
                        let zz = &mut z[bi * gu..(bi + 1) * gu];
                        zz[..2 * u]
                            .iter_mut()
                            .zip(&rr[..2 * u])
                            .for_each(|(a, v)| *a += v);
                        rh[bi * u..(bi + 1) * u].copy_from_slice(&rr[2 * u..]);
                    }
                }
                Cell::Gru { reset_after: false } => {
                    let r = &mut rec_out[..b * 2 * u];
                    matmul(b, 2 * u, u, &hp, Trans::N, &u_zr, Trans::N, r, false, 1);
                    for bi in 0..b {
                        z[bi * gu..bi * gu + 2 * u]
                            .iter_mut()
                            .zip(&r[bi * 2 * u..(bi + 1) * 2 * u])
                            .for_each(|(a, v)| *a += v);
                    }
                }
            }
            match self.cell {
                Cell::Simple => {
                    act.apply(&mut z);
                    h_new.copy_from_slice(&z);
                }
                Cell::Lstm => {
                    let c_prev = &part(keep, rec.c())[s * b * u..(s + 1) * b * u];
                    for bi in 0..b {
                        let zz = &mut z[bi * gu..(bi + 1) * gu];
                        ra.apply(&mut zz[..2 * u]);
                        act.apply(&mut zz[2 * u..3 * u]);
                        ra.apply(&mut zz[3 * u..]);
                        let cn = &mut c_new[bi * u..(bi + 1) * u];
                        let cp = &c_prev[bi * u..(bi + 1) * u];
                        for j in 0..u {
                            cn[j] = zz[u + j] * cp[j] + zz[j] * zz[2 * u + j];
                        }
                    }
                    // act(c), kept for backward, then h = o * act(c).
                    let ao = rec.act_c().0 + s * b * u;
                    keep[ao..ao + b * u].copy_from_slice(&c_new);
                    act.apply(&mut keep[ao..ao + b * u]);
                    for bi in 0..b {
                        for j in 0..u {
                            h_new[bi * u + j] = z[bi * gu + 3 * u + j] * keep[ao + bi * u + j];
                        }
                    }
                    let co = rec.c().0 + (s + 1) * b * u;
                    keep[co..co + b * u].copy_from_slice(&c_new);
                }
                Cell::Gru { reset_after } => {
                    for bi in 0..b {
                        ra.apply(&mut z[bi * gu..bi * gu + 2 * u]);
                    }
                    if !reset_after {
                        for bi in 0..b {
                            for j in 0..u {
                                rhp[bi * u + j] = z[bi * gu + u + j] * hp[bi * u + j];
                            }
                        }
                        matmul(b, u, u, &rhp, Trans::N, &u_h, Trans::N, &mut rh, false, 1);
                    }
                    for bi in 0..b {
                        let zz = &mut z[bi * gu..(bi + 1) * gu];
                        for j in 0..u {
                            let r = zz[u + j];
                            zz[2 * u + j] += if reset_after {
                                r * rh[bi * u + j]
                            } else {
                                rh[bi * u + j]
                            };
                        }
                        act.apply(&mut zz[2 * u..]);
                        for j in 0..u {
                            let (zg, hh) = (zz[j], zz[2 * u + j]);
                            h_new[bi * u + j] = zg * h_prev[bi * u + j] + (1.0 - zg) * hh;
                        }
                    }
                    if reset_after {
                        let ro = rec.rec_h().0 + s * b * u;
                        keep[ro..ro + b * u].copy_from_slice(&rh);
                    }
                }
            }
            if let Some(m) = step_mask {
                // A masked step leaves the state (and LSTM's cell) as it was.
                for bi in 0..b {
                    if m[bi * t + ti] == 0.0 {
                        h_new[bi * u..(bi + 1) * u].copy_from_slice(&h_prev[bi * u..(bi + 1) * u]);
                        if self.cell == Cell::Lstm {
                            let (cp, cn) = (rec.c().0 + s * b * u, rec.c().0 + (s + 1) * b * u);
                            keep.copy_within(cp + bi * u..cp + (bi + 1) * u, cn + bi * u);
                        }
                    }
                }
            }
            if self.cell != Cell::Simple {
                keep[gates_o..gates_o + b * gu].copy_from_slice(&z);
            }
            let ho = (s + 1) * b * u;
            keep[ho..ho + b * u].copy_from_slice(&h_new);
        }
    }

    /// Backward's steps for one row group: its record `keep`, its rows' output gradients
    /// `gs` and step mask; writes its rows' input-product gradients into `dxw`
    /// (`[rows * T, GU]`) and returns its recurrent weights' gradients.
    fn backward_steps(
        &self,
        rec: &Record,
        keep: &[f32],
        gs: &[f32],
        step_mask: Option<&[f32]>,
        h_masking: bool,
        dxw: &mut [f32],
    ) -> StepGrads {
        let (b, t, u, gu) = (rec.b, rec.t, rec.u, rec.gu);
        let hmask = part(keep, rec.h_mask());
        let hs = part(keep, rec.h());
        let uk = self.w(1);
        let (u_zr, u_h) = split_columns(uk, u, gu, 2 * u);
        let (ra, act) = (self.rec_act, self.act);
        let StepGrads {
            mut du,
            mut du_zr,
            mut du_h,
            mut db_rec,
        } = StepGrads::zeros(u, gu);
        let mut dh_next = zeros(b * u);
        let mut dc_next = zeros(b * u);
        let mut dz = zeros(b * gu);
        let mut hp = zeros(b * u);
        for s in (0..t).rev() {
            let ti = self.time(s, t);
            // Rows whose step is masked: their state passes through untouched.
            let skipped: Vec<usize> = match step_mask {
                Some(m) => (0..b).filter(|&bi| m[bi * t + ti] == 0.0).collect(),
                None => Vec::new(),
            };
            let zero_rows = |v: &mut [f32], w: usize| {
                for &bi in &skipped {
                    v[bi * w..(bi + 1) * w].fill(0.0);
                }
            };
            let dc_in = if skipped.is_empty() {
                Vec::new()
            } else {
                dc_next.clone()
            };
            let h_prev = &hs[s * b * u..(s + 1) * b * u];
            let h_cur = &hs[(s + 1) * b * u..(s + 2) * b * u];
            hp.copy_from_slice(h_prev);
            if h_masking {
                hp.iter_mut().zip(hmask).for_each(|(h, m)| *h *= m);
            }
            // The state's gradient: from later steps, and from this step's output.
            let mut dh = dh_next.clone();
            if self.return_sequences {
                for bi in 0..b {
                    let gi = &gs[(bi * t + s) * u..(bi * t + s + 1) * u];
                    dh[bi * u..(bi + 1) * u]
                        .iter_mut()
                        .zip(gi)
                        .for_each(|(a, g)| *a += g);
                }
            } else if s == t - 1 {
                dh.iter_mut().zip(gs).for_each(|(a, g)| *a += g);
            }
            let gates = &part(keep, rec.gates())[s * b * gu..(s + 1) * b * gu];
            let mut dh_prev = zeros(b * u);
            match self.cell {
                Cell::Simple => {
                    for (i, v) in dz.iter_mut().enumerate() {
                        *v = dh[i] * act.df(h_cur[i]);
                    }
                }
                Cell::Lstm => {
                    let cs = part(keep, rec.c());
                    let c_prev = &cs[s * b * u..(s + 1) * b * u];
                    let acs = &part(keep, rec.act_c())[s * b * u..(s + 1) * b * u];
                    for bi in 0..b {
                        let gg = &gates[bi * gu..(bi + 1) * gu];
                        let dzz = &mut dz[bi * gu..(bi + 1) * gu];
                        for j in 0..u {
                            let k = bi * u + j;
                            let (i, f, cg, o) = (gg[j], gg[u + j], gg[2 * u + j], gg[3 * u + j]);
                            let ac = acs[k];
                            let d_o = dh[k] * ac;
                            let dc = dc_next[k] + dh[k] * o * act.df(ac);
                            dzz[j] = dc * cg * ra.df(i);
                            dzz[u + j] = dc * c_prev[k] * ra.df(f);
                            dzz[2 * u + j] = dc * i * act.df(cg);
                            dzz[3 * u + j] = d_o * ra.df(o);
                            dc_next[k] = dc * f;
                        }
                    }
                }
                Cell::Gru { reset_after } => {
                    let rh = &part(keep, rec.rec_h())[s * b * u..(s + 1) * b * u];
                    // Gradients of the recurrent product's columns (drec) and of the inputs' (dz).
                    let mut drec = zeros(b * gu);
                    let mut da_all = zeros(b * u);
                    for bi in 0..b {
                        let gg = &gates[bi * gu..(bi + 1) * gu];
                        for j in 0..u {
                            let k = bi * u + j;
                            let (zg, r, hh) = (gg[j], gg[u + j], gg[2 * u + j]);
                            let dzg = dh[k] * (h_prev[k] - hh) * ra.df(zg);
                            let da = dh[k] * (1.0 - zg) * act.df(hh);
                            dz[bi * gu + j] = dzg;
                            dz[bi * gu + 2 * u + j] = da;
                            drec[bi * gu + j] = dzg;
                            da_all[k] = da;
                            if reset_after {
                                let dr = da * rh[k] * ra.df(r);
                                dz[bi * gu + u + j] = dr;
                                drec[bi * gu + u + j] = dr;
                                drec[bi * gu + 2 * u + j] = da * r;
                            }
                            dh_prev[k] = dh[k] * zg;
                        }
                    }
                    zero_rows(&mut dz, gu);
                    zero_rows(&mut drec, gu);
                    zero_rows(&mut da_all, u);
                    let mut dhp = zeros(b * u);
                    if reset_after {
                        matmul(u, gu, b, &hp, Trans::T, &drec, Trans::N, &mut du, true, 1);
                        for (acc, row) in db_rec.iter_mut().zip(column_sums(&drec, gu)) {
                            *acc += row;
                        }
                        matmul(b, u, gu, &drec, Trans::N, uk, Trans::T, &mut dhp, false, 1);
                    } else {
                        // hh = act(x_h + (r * hp) U_h).
                        let mut rhp = zeros(b * u);
                        for bi in 0..b {
                            for j in 0..u {
                                rhp[bi * u + j] = gates[bi * gu + u + j] * hp[bi * u + j];
                            }
                        }
                        matmul(
                            u,
                            u,
                            b,
                            &rhp,
                            Trans::T,
                            &da_all,
                            Trans::N,
                            &mut du_h,
                            true,
                            1,
                        );
                        let mut drhp = zeros(b * u);
                        matmul(
                            b,
                            u,
                            u,
                            &da_all,
                            Trans::N,
                            &u_h,
                            Trans::T,
                            &mut drhp,
                            false,
                            1,
                        );
                        let mut dzr = zeros(b * 2 * u);
                        for bi in 0..b {
                            for j in 0..u {
                                let k = bi * u + j;
                                let r = gates[bi * gu + u + j];
                                let dr = drhp[k] * hp[k] * ra.df(r);
                                dz[bi * gu + u + j] = dr;
                                dzr[bi * 2 * u + j] = dz[bi * gu + j];
                                dzr[bi * 2 * u + u + j] = dr;
                                dhp[k] = drhp[k] * r;
                            }
                        }
                        matmul(
                            u,
                            2 * u,
                            b,
                            &hp,
                            Trans::T,
                            &dzr,
                            Trans::N,
                            &mut du_zr,
                            true,
                            1,
                        );
                        matmul(
                            b,
                            u,
                            2 * u,
                            &dzr,
                            Trans::N,
                            &u_zr,
                            Trans::T,
                            &mut dhp,
                            true,
                            1,
                        );
                    }
                    // The recurrent path's gradient reaches the unmasked state through the mask.
                    for (k, v) in dhp.iter().enumerate() {
                        dh_prev[k] += if h_masking { v * hmask[k] } else { *v };
                    }
                }
            }
            if !matches!(self.cell, Cell::Gru { .. }) {
                // SimpleRNN and LSTM: every gate takes h U, so dU and dh come from dz alike.
                zero_rows(&mut dz, gu);
                matmul(u, gu, b, &hp, Trans::T, &dz, Trans::N, &mut du, true, 1);
                matmul(
                    b,
                    u,
                    gu,
                    &dz,
                    Trans::N,
                    uk,
                    Trans::T,
                    &mut dh_prev,
                    false,
                    1,
                );
            }
            if h_masking && !matches!(self.cell, Cell::Gru { .. }) {
                dh_prev.iter_mut().zip(hmask).for_each(|(v, m)| *v *= m);
            }
            for &bi in &skipped {
                dh_prev[bi * u..(bi + 1) * u].copy_from_slice(&dh[bi * u..(bi + 1) * u]);
                if self.cell == Cell::Lstm {
                    dc_next[bi * u..(bi + 1) * u].copy_from_slice(&dc_in[bi * u..(bi + 1) * u]);
                }
            }
            for bi in 0..b {
                dxw[(bi * t + ti) * gu..(bi * t + ti + 1) * gu]
                    .copy_from_slice(&dz[bi * gu..(bi + 1) * gu]);
            }
            dh_next = dh_prev;
        }
        StepGrads {
            du,
            du_zr,
            du_h,
            db_rec,
        }
    }
}

/// One row group's gradients of the recurrent kernel (GRU without `reset_after`: its two
/// column blocks) and of GRU's recurrent bias.
struct StepGrads {
    du: Vec<f32>,
    du_zr: Vec<f32>,
    du_h: Vec<f32>,
    db_rec: Vec<f32>,
}

impl StepGrads {
    fn zeros(u: usize, gu: usize) -> StepGrads {
        StepGrads {
            du: zeros(u * gu),
            du_zr: zeros(u * 2 * u),
            du_h: zeros(u * u),
            db_rec: zeros(gu),
        }
    }

    fn add(&mut self, o: &StepGrads) {
        for (a, v) in [
            (&mut self.du, &o.du),
            (&mut self.du_zr, &o.du_zr),
            (&mut self.du_h, &o.du_h),
            (&mut self.db_rec, &o.db_rec),
        ] {
            a.iter_mut().zip(v).for_each(|(a, v)| *a += v);
        }
    }
}

/// The row groups `(first, end)` a batch of `b` rows runs its steps in: about 64 rows each,
/// at most 8, chosen by the batch size alone so that results never depend on the thread
/// count (the groups' weight gradients are summed in group order).
fn row_groups(b: usize) -> Vec<(usize, usize)> {
    let n = (b / 64).clamp(1, 8);
    (0..n).map(|i| (i * b / n, (i + 1) * b / n)).collect()
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
        if inputs.len() != 1 || inputs[0].len() != 2 {
            return Err(RkError::Shape(format!(
                "{} '{name}' needs samples of shape (timesteps, features), got {:?}",
                self.class_name(),
                inputs
            )));
        }
        let (t, d) = (inputs[0][0], inputs[0][1]);
        let (u, gu) = (self.units, self.units * self.cell.gates());
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
        Ok(if self.return_sequences {
            vec![t, u]
        } else {
            vec![u]
        })
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
            let xw_g = &xw[r0 * t * gu..r1 * t * gu];
            let mask_g = step_mask.as_ref().map(|m| &m[r0 * t..r1 * t]);
            jobs.push((rec, xw_g, mask_g, kg));
        }
        let h_masking = h_mask.is_some();
        let run = |(rec, xw_g, mask_g, kg): (&Record, &[f32], Option<&[f32]>, &mut [f32])| {
            self.forward_steps(rec, xw_g, mask_g, h_masking, kg)
        };
        if ctx.threads > 1 && jobs.len() > 1 {
            use rayon::prelude::*;
            jobs.into_par_iter().for_each(run);
        } else {
            jobs.into_iter().for_each(run);
        }
        if self.stateful {
            // The states after the last step, for the next batch.
            let (mut h, mut c) = (Vec::with_capacity(b * u), Vec::new());
            let mut at = 0;
            for (_, rec) in &records {
                let kg = &keep[at..at + rec.len()];
                at += rec.len();
                let last = |(o, _): (usize, usize)| o + t * rec.b * u..o + (t + 1) * rec.b * u;
                h.extend_from_slice(&kg[last(rec.h())]);
                if self.cell == Cell::Lstm {
                    c.extend_from_slice(&kg[last(rec.c())]);
                }
            }
            self.state.set(Some(State { rows: b, h, c }));
        }
        // Outputs: every step's state in processing order, or the last.
        let mut out = zeros(b * if self.return_sequences { t * u } else { u });
        let mut at = 0;
        for (r0, rec) in &records {
            let hs = part(&keep[at..at + rec.len()], rec.h());
            at += rec.len();
            let bg = rec.b;
            for bi in 0..bg {
                let row = r0 + bi;
                if self.return_sequences {
                    for s in 0..t {
                        out[(row * t + s) * u..(row * t + s + 1) * u].copy_from_slice(
                            &hs[((s + 1) * bg + bi) * u..((s + 1) * bg + bi + 1) * u],
                        );
                    }
                } else {
                    out[row * u..(row + 1) * u]
                        .copy_from_slice(&hs[(t * bg + bi) * u..(t * bg + bi + 1) * u]);
                }
            }
        }
        let shape: &[usize] = if self.return_sequences {
            &[b, t, u]
        } else {
            &[b, u]
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
        // Back through time on each row group's record, then the groups' gradients summed.
        let records = self.records(b, t, d);
        let mut dxw = zeros(b * t * gu);
        let mut jobs = Vec::with_capacity(records.len());
        let (mut at, mut rest) = (0, &mut dxw[..]);
        let per_row = if self.return_sequences { t * u } else { u };
        for (r0, rec) in &records {
            let (dg, tail) = std::mem::take(&mut rest).split_at_mut(rec.b * t * gu);
            rest = tail;
            let r1 = r0 + rec.b;
            let kg = &keep[at..at + rec.len()];
            at += rec.len();
            let mask_g = step_mask.as_ref().map(|m| &m[r0 * t..r1 * t]);
            jobs.push((rec, kg, &gs[r0 * per_row..r1 * per_row], mask_g, dg));
        }
        type Job<'a> = (
            &'a Record,
            &'a [f32],
            &'a [f32],
            Option<&'a [f32]>,
            &'a mut [f32],
        );
        let run = |(rec, kg, gs_g, mask_g, dg): Job| {
            self.backward_steps(rec, kg, gs_g, mask_g, h_masking, dg)
        };
        let parts: Vec<StepGrads> = if ctx.threads > 1 && jobs.len() > 1 {
            use rayon::prelude::*;
            jobs.into_par_iter().map(run).collect()
        } else {
            jobs.into_iter().map(run).collect()
        };
        let mut sum = StepGrads::zeros(u, gu);
        for p in &parts {
            sum.add(p);
        }
        let StepGrads {
            mut du,
            du_zr,
            du_h,
            db_rec,
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
            let mut at = 0;
            for (_, rec) in &records {
                xmask.extend_from_slice(part(&keep[at..at + rec.len()], rec.x_mask()));
                at += rec.len();
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
            return Ok(vec![Tensor::zeros(IxDyn(&[0]))]);
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
        Ok(vec![dx])
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
            "return_state": false,
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
