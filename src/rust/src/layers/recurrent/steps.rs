//! The recurrent layers' steps through time for one row group of a batch: forward's loop
//! over the steps on the group's own record, and backward's loop in reverse. The layer
//! (`super`) prepares the input products and masks, and runs the groups on its threads.

use super::batch::{column_sums, split_columns};
use super::record::{part, Record};
use super::{Cell, Recurrent};
use crate::layers::zeros;
use crate::tensor::{matmul, Trans};

impl Recurrent {
    /// Forward's steps for one row group: `xw` holds its rows' input products
    /// (`[rows * T, GU]`), `step_mask` its rows' step mask, and `keep` its record, whose
    /// dropout masks are already in place.
    pub(super) fn forward_steps(
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
    pub(super) fn backward_steps(
        &self,
        rec: &Record,
        keep: &[f32],
        g: OutGrads,
        step_mask: Option<&[f32]>,
        h_masking: bool,
        dxw: &mut [f32],
    ) -> StepGrads {
        let (b, t, u, gu) = (rec.b, rec.t, rec.u, rec.gu);
        let (gs, last_g) = (g.out, g.last);
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
            ..
        } = StepGrads::zeros(u, gu);
        // The last states' own gradients (`return_state`: per row, h's then LSTM's c's).
        let mut dh_next = zeros(b * u);
        let mut dc_next = zeros(b * u);
        if let Some(gl) = last_g {
            let ns = gl.len() / (b * u).max(1);
            for bi in 0..b {
                let row = &gl[bi * ns * u..(bi + 1) * ns * u];
                dh_next[bi * u..(bi + 1) * u].copy_from_slice(&row[..u]);
                if ns > 1 {
                    dc_next[bi * u..(bi + 1) * u].copy_from_slice(&row[u..2 * u]);
                }
            }
        }
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
            dh0: dh_next,
            dc0: dc_next,
        }
    }
}

/// One row group's output gradients: the output's (every step's or the last's), and with
/// `return_state` the last states' (per row, `h`'s then LSTM's `c`'s).
pub(super) struct OutGrads<'a> {
    pub out: &'a [f32],
    pub last: Option<&'a [f32]>,
}

/// One row group's gradients of the recurrent kernel (GRU without `reset_after`: its two
/// column blocks) and of GRU's recurrent bias; and of its rows' initial states (`h`, and
/// LSTM's `c`), which are not summed over groups.
pub(super) struct StepGrads {
    pub du: Vec<f32>,
    pub du_zr: Vec<f32>,
    pub du_h: Vec<f32>,
    pub db_rec: Vec<f32>,
    pub dh0: Vec<f32>,
    pub dc0: Vec<f32>,
}

impl StepGrads {
    pub fn zeros(u: usize, gu: usize) -> StepGrads {
        StepGrads {
            du: zeros(u * gu),
            du_zr: zeros(u * 2 * u),
            du_h: zeros(u * u),
            db_rec: zeros(gu),
            dh0: Vec::new(),
            dc0: Vec::new(),
        }
    }

    pub fn add(&mut self, o: &StepGrads) {
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
pub(super) fn row_groups(b: usize) -> Vec<(usize, usize)> {
    let n = (b / 64).clamp(1, 8);
    (0..n).map(|i| (i * b / n, (i + 1) * b / n)).collect()
}
