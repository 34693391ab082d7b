//! Training steps on the AVX2 kernel (`kernel.rs`), in three phases with one join each:
//!
//! 1. **Rows, in shards** (one per worker): the forward pass, the loss gradient and the
//!    backward pass down to every dense layer's dL/dz and dL/dx. All of it is row by row
//!    (`x W`, `dz W'`, activations, dropout), so no worker waits on another between layers.
//!    A loss written in R whose samples' losses are independent takes each shard's
//!    gradient in the shard, as a built-in loss does; one that is not (a mean over the
//!    batch) runs over the whole batch: then phase 1 stops after the forward pass, the loss
//!    and its gradient are taken on the calling thread, and the shards go on with the
//!    backward pass.
//! 2. **Loss and metrics** of the batch, row by row in order, on the calling thread.
//! 3. **Weights, in blocks of input features**: `dW = x' dz` for the block, then the
//!    optimizer's update of those weights, then their packed copies for the next step, while
//!    they are in cache. Biases are one block each.
//!
//! Every value is a sequential sum in a fixed order whatever the split (the kernel sums over
//! depth in order; `dW` sums over all rows of the batch), so every thread count gives
//! bit-identical results.
//!
//! The kernel reads a weight matrix in two packed layouts, kept between steps:
//! - `fwd`, for `z = x W`: panels of 16 output units, `fwd[(q * in + m) * 16 + t] = W[m, 16q + t]`;
//! - `bwd`, for `dx = dz W'`: panels of 16 input features, `bwd[(q * out + o) * 16 + t] = W[16q + t, o]`;
//!
//! and `dz` packed as panels of 16 units (`dzt[(q * cap + r) * 16 + t] = dz[r, 16q + t]`) for `dW`.

use crate::dense::buffers::{DensePack, TrainPacks};
use crate::dense::chain::{add_penalty_grad, column_sums, dropout_forward, mul_into, Kind, Layer};
use crate::dense::kernel::{MR, NR};
use crate::error::{RkError, RkResult};
use crate::graph::custom_loss::{custom_loss_rows, CustomLoss};
use crate::losses::Loss;
use crate::model::{Batch, Model};
use crate::optimizers::Parts;
use crate::rng::Rng;
use rayon::prelude::*;

mod products;
pub use products::{pack_bwd, pack_panels, rows_by_panels, sgemm, weight_grad, Buf};

/// Input features per weight block in phase 3 (a multiple of both 16 and 6).
pub(crate) const BLOCK: usize = 48;

/// What phase 1 needs: the layers (read only), and the step buffers as raw row buffers.
struct Rows<'a> {
    layers: &'a [Layer],
    packs: &'a [DensePack],
    b: &'a Batch<'a>,
    z: Vec<Buf>,
    a: Vec<Buf>,
    g: Vec<Buf>,
    masks: Vec<Buf>,
    dzt: Vec<Buf>,
    seeds: Vec<u32>,
    loss: Loss,
    fused: bool,
    first_param: usize,
    cap: usize,
    /// A row-wise loss written in R and its weight, taken in place of `loss`.
    custom: Option<(&'a CustomLoss, f32)>,
    /// The first error of a shard (a recorded function's); the step stops before the update.
    failed: std::sync::Mutex<Option<RkError>>,
}

impl Rows<'_> {
    /// Run `f` on every shard of rows (of `shard` rows each) of the batch, in parallel.
    fn shards(&self, shard: usize, f: impl Fn(&Self, usize, usize) -> RkResult<()> + Sync) {
        let rows = self.b.rows;
        let one = |r0: usize| {
            if let Err(e) = f(self, r0, (r0 + shard).min(rows)) {
                let mut slot = self.failed.lock().unwrap_or_else(|p| p.into_inner());
                slot.get_or_insert(e);
            }
        };
        if shard >= rows {
            one(0);
        } else {
            let starts: Vec<usize> = (0..rows).step_by(shard).collect();
            starts.par_iter().for_each(|&r0| one(r0));
        }
    }

    /// The shards' first error, if any.
    fn result(self) -> RkResult<()> {
        match self.failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Phase 1 for rows `r0..r1`: forward, loss gradient, backward.
    fn run(&self, r0: usize, r1: usize) -> RkResult<()> {
        self.forward(r0, r1)?;
        self.loss_grad(r0, r1)?;
        self.backward(r0, r1)
    }

    /// The input of layer `i` (`d` values per row) for rows `r0..r1`.
    fn input(&self, i: usize, d: usize, r0: usize, r1: usize) -> &[f32] {
        if i == 0 {
            &self.b.x[r0 * d..r1 * d]
        } else {
            // SAFETY: as in `forward`.
            unsafe { self.a[i].rows(d, r0, r1) }
        }
    }

    /// The forward pass of rows `r0..r1`.
    fn forward(&self, r0: usize, r1: usize) -> RkResult<()> {
        let n = r1 - r0;
        // SAFETY (every `rows` call below and in `loss_grad`, `backward`): this shard alone
        // touches rows r0..r1 of every buffer, and each buffer was allocated for at least
        // `cap >= r1` rows.
        let input = |i: usize, d: usize| self.input(i, d, r0, r1);
        for (i, l) in self.layers.iter().enumerate() {
            let (inp, out) = (l.in_dim, l.out_dim());
            let x = input(i, inp);
            let a = unsafe { self.a[i + 1].rows(out, r0, r1) };
            match l.kind {
                Kind::Dense { act, use_bias, .. } => {
                    let z = unsafe { self.z[i].rows(out, r0, r1) };
                    rows_by_panels(x, n, inp, out, &self.packs[i].fwd, z);
                    act.forward_bias(z, a, use_bias.then_some(&l.bias[..]), out);
                }
                Kind::Dropout { rate } if rate > 0.0 => {
                    let mask = unsafe { self.masks[i].rows(out, r0, r1) };
                    dropout_forward(x, a, mask, 1.0 - rate, self.seeds[i], r0 * out);
                }
                Kind::Activation { act } => act.forward(x, a, out),
                Kind::Dropout { .. } | Kind::Flatten => a.copy_from_slice(x),
                Kind::Function { ref graph, .. } => {
                    super::function::forward_rows(graph, x, n, inp, a)?
                }
            }
        }
        Ok(())
    }

    /// The loss gradient of rows `r0..r1`, scaled by each row's weight over the batch's
    /// row count.
    fn loss_grad(&self, r0: usize, r1: usize) -> RkResult<()> {
        let nl = self.layers.len();
        let out = self.layers[nl - 1].out_dim();
        let yc = self.loss.target_cols(out);
        let scale = 1.0 / self.b.rows as f32;
        let p = unsafe { self.a[nl].rows(out, r0, r1) };
        let g = unsafe { self.g[nl].rows(out, r0, r1) };
        if let Some((loss, lw)) = self.custom {
            // A row-wise loss written in R: its gradient on these rows (added into `g`).
            g.fill(0.0);
            let y = &self.b.y[r0 * yc..r1 * yc];
            let w = self.b.w.map(|w| &w[r0..r1]);
            let rows = (r1 - r0, self.b.rows);
            custom_loss_rows(loss, (p, y), (&[out], &[]), rows, w, lw, Some(g))?;
            return Ok(());
        }
        for (k, (pr, gr)) in p.chunks_exact(out).zip(g.chunks_exact_mut(out)).enumerate() {
            let r = r0 + k;
            let w = self.b.w.map_or(1.0, |w| w[r]);
            let y = &self.b.y[r * yc..(r + 1) * yc];
            self.loss.sample_grad(pr, y, w * scale, self.fused, gr);
        }
        Ok(())
    }

    /// The backward pass of rows `r0..r1`, from the output's gradient down to the first
    /// layer with parameters.
    fn backward(&self, r0: usize, r1: usize) -> RkResult<()> {
        let nl = self.layers.len();
        let n = r1 - r0;
        let input = |i: usize, d: usize| self.input(i, d, r0, r1);
        for i in (self.first_param..nl).rev() {
            let l = &self.layers[i];
            let (inp, out) = (l.in_dim, l.out_dim());
            let g = unsafe { self.g[i + 1].rows(out, r0, r1) };
            let through_act = !(self.fused && i == nl - 1);
            let g_in = (i > self.first_param).then(|| unsafe { self.g[i].rows(inp, r0, r1) });
            match l.kind {
                Kind::Dense { act, .. } => {
                    if through_act {
                        let z = unsafe { self.z[i].rows(out, r0, r1) };
                        let a = unsafe { self.a[i + 1].rows(out, r0, r1) };
                        act.backward(z, a, g, out);
                    }
                    pack_panels(g, out, r0, self.cap, self.dzt[i]);
                    if let Some(gi) = g_in {
                        rows_by_panels(g, n, out, inp, &self.packs[i].bwd, gi);
                    }
                }
                Kind::Dropout { rate } if rate > 0.0 => {
                    if let Some(gi) = g_in {
                        mul_into(gi, g, unsafe { self.masks[i].rows(out, r0, r1) });
                    }
                }
                Kind::Activation { act } => {
                    if through_act {
                        let a = unsafe { self.a[i + 1].rows(out, r0, r1) };
                        act.backward(input(i, inp), a, g, out);
                    }
                    if let Some(gi) = g_in {
                        gi.copy_from_slice(g);
                    }
                }
                Kind::Dropout { .. } | Kind::Flatten => {
                    if let Some(gi) = g_in {
                        gi.copy_from_slice(g);
                    }
                }
                Kind::Function { ref graph, .. } => {
                    if let Some(gi) = g_in {
                        let y = unsafe { self.a[i + 1].rows(out, r0, r1) };
                        let xy = (input(i, inp), &*y);
                        super::function::backward_rows(graph, xy, n, inp, g, gi)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// One unit of phase 3.
enum Job {
    /// Kernel rows `m0..m1` of layer `i`.
    Kernel { i: usize, m0: usize, m1: usize },
    /// The bias of layer `i`.
    Bias { i: usize },
}

/// A dense layer's parameters as raw buffers for phase 3, with their optimizer slots.
struct Params {
    inp: usize,
    out: usize,
    kernel: Buf,
    grad_kernel: Buf,
    bias: Buf,
    grad_bias: Buf,
    fwd: Buf,
    bwd: Buf,
    bwd_needed: bool,
    kernel_parts: Option<Parts>,
    bias_parts: Option<Parts>,
    l1: f32,
    l2: f32,
}

impl Model {
    /// The first layer with parameters (the backward pass stops there).
    fn first_param(&self) -> usize {
        self.layers
            .iter()
            .position(|l| l.n_params() > 0)
            .unwrap_or(self.layers.len())
    }

    /// Packs sized for the layers and `rows` rows; packs the weights when they are stale.
    fn ensure_packs(&mut self, rows: usize) {
        let same = self.packs.layers.len() == self.layers.len()
            && self.packs.layers.iter().zip(&self.layers).all(|(p, l)| {
                let dense = matches!(l.kind, Kind::Dense { .. });
                (p.in_dim, p.out_dim)
                    == if dense {
                        (l.in_dim, l.out_dim())
                    } else {
                        (0, 0)
                    }
            });
        if !same {
            // The first layer with parameters passes no gradient down: no `bwd` copy.
            let first_param = self.first_param();
            self.packs.layers = self
                .layers
                .iter()
                .enumerate()
                .map(|(i, l)| match l.kind {
                    Kind::Dense { units, .. } => DensePack {
                        in_dim: l.in_dim,
                        out_dim: units,
                        fwd: vec![0.0; units.div_ceil(MR) * l.in_dim * MR],
                        bwd: match i > first_param {
                            true => vec![0.0; l.in_dim.div_ceil(MR) * units * MR],
                            false => Vec::new(),
                        },
                        dzt: Vec::new(),
                    },
                    _ => DensePack::default(),
                })
                .collect();
            self.packs.cap = 0;
            self.packs.fresh = false;
        }
        if rows > self.packs.cap {
            for p in self.packs.layers.iter_mut().filter(|p| p.out_dim > 0) {
                p.dzt = vec![0.0; p.out_dim.div_ceil(MR) * rows * MR];
            }
            self.packs.cap = rows;
        }
        if !self.packs.fresh {
            for (l, p) in self.layers.iter().zip(self.packs.layers.iter_mut()) {
                if p.out_dim > 0 {
                    let (inp, out) = (p.in_dim, p.out_dim);
                    pack_panels(&l.kernel, out, 0, inp, Buf::of(&mut p.fwd));
                    if !p.bwd.is_empty() {
                        pack_bwd(&l.kernel, inp, out, 0, Buf::of(&mut p.bwd));
                    }
                }
            }
            self.packs.fresh = true;
        }
    }

    /// Seconds spent so far in each phase of the kernel's training steps: the rows' forward
    /// and backward passes, loss and metrics, and the weight blocks (for profiling).
    pub fn train_phase_secs(&self) -> [f64; 3] {
        self.packs.phase_secs
    }

    /// A training step on the kernel (the caller checked the batch and the CPU); returns
    /// the batch loss. Runs its phases on the current rayon pool.
    pub(crate) fn train_step_kernel(&mut self, b: &Batch) -> RkResult<f64> {
        let rows = b.rows;
        self.ensure_train_capacity(rows);
        self.ensure_packs(rows);
        let nl = self.layers.len();
        let fused = self.loss_fused();
        let first_param = self.first_param();
        // The loss as Keras applies it to this batch's targets (see `Loss::for_batch`).
        let loss = self.compiled.as_ref().expect("checked by check_batch").loss;
        let out = self.layers[nl - 1].out_dim();
        let loss = loss.for_batch(b.y[..rows * loss.target_cols(out)].iter().copied());
        // Keyed by each layer's graph node, as the graph's executor keys its dropout masks.
        let seeds: Vec<u32> = (0..nl)
            .map(|i| Rng::keyed(&[self.fit_seed, self.step, i as u64 + 1]).next_u64() as u32)
            .collect();
        let cap = self.packs.cap;
        let bufs = |v: &mut Vec<Vec<f32>>| v.iter_mut().map(|b| Buf::of(b)).collect::<Vec<_>>();
        let (z, a, g, masks) = (
            bufs(&mut self.z),
            bufs(&mut self.a),
            bufs(&mut self.g),
            bufs(&mut self.masks),
        );
        let dzt: Vec<Buf> = self
            .packs
            .layers
            .iter_mut()
            .map(|p| Buf::of(&mut p.dzt))
            .collect();
        let mut clock = std::time::Instant::now();
        let mut lap = |packs: &mut TrainPacks, phase: usize| {
            let now = std::time::Instant::now();
            packs.phase_secs[phase] += (now - clock).as_secs_f64();
            clock = now;
        };
        // Phase 1: shards of whole micro-tiles of rows, one per thread.
        let threads = rayon::current_num_threads().max(1);
        let shard = rows.div_ceil(threads).next_multiple_of(NR).max(NR);
        // A loss written in R: per shard when it is row-wise, else between the passes.
        let (custom, custom_rows) = match self.compiled.as_ref().and_then(|c| c.custom.first()) {
            Some(Some(l)) => (true, l.row_wise(&[out])),
            _ => (false, false),
        };
        // Each phase borrows the model anew (the loss between the passes needs it mutably).
        macro_rules! job {
            () => {
                Rows {
                    layers: &self.layers,
                    packs: &self.packs.layers,
                    b,
                    z: z.clone(),
                    a: a.clone(),
                    g: g.clone(),
                    masks: masks.clone(),
                    dzt: dzt.clone(),
                    seeds: seeds.clone(),
                    loss,
                    fused,
                    first_param,
                    cap,
                    custom: match custom_rows {
                        true => self.compiled.as_ref().and_then(|c| {
                            let l = c.custom.first()?.as_ref()?;
                            Some((l, c.loss_weights.first().copied().unwrap_or(1.0)))
                        }),
                        false => None,
                    },
                    failed: std::sync::Mutex::new(None),
                }
            };
        }
        let batch_loss = if custom && !custom_rows {
            // The loss written in R runs on the whole batch between the two passes.
            let rows_job = job!();
            rows_job.shards(shard, Rows::forward);
            rows_job.result()?;
            let batch_loss = self.loss_and_metrics(b, true, true);
            let rows_job = job!();
            rows_job.shards(shard, Rows::backward);
            rows_job.result()?;
            lap(&mut self.packs, 0);
            batch_loss
        } else {
            let rows_job = job!();
            rows_job.shards(shard, Rows::run);
            rows_job.result()?;
            lap(&mut self.packs, 0);
            // Phase 2: loss and metrics in row order (penalties of the weights before the
            // update).
            let batch_loss = self.loss_and_metrics(b, false, true);
            lap(&mut self.packs, 1);
            batch_loss
        };
        // Phase 3: weight gradients, updates and repacking, in blocks.
        let compiled = self.compiled.as_mut().expect("checked");
        compiled.optimizer.begin_step();
        let mut params = Vec::with_capacity(nl);
        let mut jobs = Vec::new();
        let mut slot = 0;
        for (i, (l, p)) in self
            .layers
            .iter_mut()
            .zip(self.packs.layers.iter_mut())
            .enumerate()
        {
            let (l1, l2) = match l.kind {
                Kind::Dense { l1, l2, .. } => (l1, l2),
                _ => (0.0, 0.0),
            };
            let mut parts = |v: &[f32]| {
                (!v.is_empty()).then(|| {
                    slot += 1;
                    compiled.optimizer.parts(slot - 1, v.len())
                })
            };
            let kernel_parts = parts(&l.kernel);
            let bias_parts = parts(&l.bias);
            if kernel_parts.is_some() {
                let mut m0 = 0;
                while m0 < l.in_dim {
                    let m1 = (m0 + BLOCK).min(l.in_dim);
                    jobs.push(Job::Kernel { i, m0, m1 });
                    m0 = m1;
                }
            }
            if bias_parts.is_some() {
                jobs.push(Job::Bias { i });
            }
            params.push(Params {
                inp: l.in_dim,
                out: l.out_dim(),
                kernel: Buf::of(&mut l.kernel),
                grad_kernel: Buf::of(&mut l.grad_kernel),
                bias: Buf::of(&mut l.bias),
                grad_bias: Buf::of(&mut l.grad_bias),
                fwd: Buf::of(&mut p.fwd),
                bwd_needed: !p.bwd.is_empty(),
                bwd: Buf::of(&mut p.bwd),
                kernel_parts,
                bias_parts,
                l1,
                l2,
            });
        }
        // The weights and packs change block by block from here: stale until every block is
        // done (and inference's packed copy from now on, whatever happens next).
        self.packs.fresh = false;
        self.packs.generation += 1;
        let run = |job: &Job| {
            let (i, p) = match *job {
                Job::Kernel { i, .. } | Job::Bias { i } => (i, &params[i]),
            };
            let (inp, out) = (p.inp, p.out);
            // SAFETY: phase 1 has finished writing the activations and dL/dz read here, and
            // each job owns its own rows of the kernel, gradient, slots and packs (blocks of
            // `BLOCK` input features are whole `bwd` panels) or the whole bias.
            unsafe {
                match *job {
                    Job::Kernel { m0, m1, .. } => {
                        let x: &[f32] = if i == 0 { b.x } else { a[i].rows(inp, 0, rows) };
                        let dzt = dzt[i].rows(MR, 0, out.div_ceil(MR) * cap);
                        let gk = p.grad_kernel.rows(out, m0, m1);
                        weight_grad(x, rows, inp, out, dzt, cap, m0, m1, gk);
                        let w = p.kernel.rows(out, m0, m1);
                        add_penalty_grad(gk, w, p.l1, p.l2);
                        if let Some(parts) = &p.kernel_parts {
                            parts.update(m0 * out, w, gk);
                        }
                        pack_panels(w, out, m0, inp, p.fwd);
                        if p.bwd_needed {
                            pack_bwd(w, inp, out, m0, p.bwd);
                        }
                    }
                    Job::Bias { .. } => {
                        let gb = p.grad_bias.rows(out, 0, 1);
                        column_sums(g[i + 1].rows(out, 0, rows), out, gb);
                        if let Some(parts) = &p.bias_parts {
                            parts.update(0, p.bias.rows(out, 0, 1), gb);
                        }
                    }
                }
            }
        };
        if threads > 1 {
            jobs.par_iter().for_each(run);
        } else {
            jobs.iter().for_each(run);
        }
        self.packs.fresh = true;
        lap(&mut self.packs, 2);
        self.step += 1;
        Ok(batch_loss)
    }
}

#[cfg(test)]
mod tests;
