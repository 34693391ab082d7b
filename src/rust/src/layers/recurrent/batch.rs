//! A recurrent layer's forward and backward over a batch: dropout masks, every step's input
//! product at once, initial or carried states, the row groups' steps (`steps.rs`) on the
//! engine's threads, and the output (with `return_state`, the last states after it).

use super::record::{group_records, on_groups, part, part_mut};
use super::steps::{OutGrads, StepGrads};
use super::{Cell, Recurrent, State};
use crate::error::{RkError, RkResult};
use crate::layers::{zeros, Cache, Ctx, Layer, Tensor};
use crate::rng::Rng;
use crate::tensor::{matmul, Trans};
use ndarray::IxDyn;

impl Recurrent {
    pub(super) fn forward_batch(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
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
        // The states the steps start from (h, then LSTM's c): those a stateful layer carries,
        // or those given as inputs (`initial_state`); zeros when there are none.
        let start: Vec<&[f32]> = match &carried {
            Some(st) => [&st.h[..], &st.c[..]][..self.n_states()].to_vec(),
            None => xs[1..]
                .iter()
                .map(|s0| s0.as_slice().expect("standard layout"))
                .collect(),
        };
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
            for (k, s0) in start.iter().enumerate() {
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
        // The states after the last step (rows in order): the next batch's start for a
        // stateful layer, and the states returned with `return_state`.
        let last_states = (self.stateful || self.return_state).then(|| {
            let (mut h, mut c) = (Vec::with_capacity(b * u), Vec::new());
            for (_, rec, kg) in group_records(&keep, &records) {
                let last = |(o, _): (usize, usize)| o + t * rec.b * u..o + (t + 1) * rec.b * u;
                h.extend_from_slice(&kg[last(rec.h())]);
                if self.cell == Cell::Lstm {
                    c.extend_from_slice(&kg[last(rec.c())]);
                }
            }
            State { rows: b, h, c }
        });
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
            }
        }
        if let (true, Some(st)) = (self.return_state, &last_states) {
            // Each row's last h (and c) after its output.
            for (row, o) in out.chunks_exact_mut(row_w).enumerate() {
                o[ow..ow + u].copy_from_slice(&st.h[row * u..(row + 1) * u]);
                if self.cell == Cell::Lstm {
                    o[ow + u..ow + 2 * u].copy_from_slice(&st.c[row * u..(row + 1) * u]);
                }
            }
        }
        if self.stateful {
            self.state.set(last_states);
        }
        let (seq, flat) = ([b, t, u], [b, row_w]);
        let shape: &[usize] = if self.return_sequences && !self.return_state {
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

    pub(super) fn backward_batch(
        &self,
        xs: &[&Tensor],
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
}

/// The first `k` columns and the rest of a row-major `[rows, cols]` matrix, as two
/// row-major matrices (empty when `k` is not inside).
pub(super) fn split_columns(m: &[f32], rows: usize, cols: usize, k: usize) -> (Vec<f32>, Vec<f32>) {
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

pub(super) fn column_sums(m: &[f32], cols: usize) -> Vec<f32> {
    let mut s = vec![0.0f32; cols];
    for row in m.chunks_exact(cols) {
        s.iter_mut().zip(row).for_each(|(a, v)| *a += v);
    }
    s
}

/// Multiply every step of each sample (`[b, t, d]` row-major) by that sample's mask row.
pub(super) fn times_step_mask(v: &mut [f32], mask: &[f32], t: usize, d: usize) {
    for (bi, row) in v.chunks_exact_mut(t * d).enumerate() {
        for step in row.chunks_exact_mut(d) {
            step.iter_mut()
                .zip(&mask[bi * d..(bi + 1) * d])
                .for_each(|(a, m)| *a *= m);
        }
    }
}
