//! Training steps on the AVX2 kernel (`kernel.rs`), in three phases with one join each:
//!
//! 1. **Rows, in shards** (one per worker): the forward pass, the loss gradient and the
//!    backward pass down to every dense layer's dL/dz and dL/dx. All of it is row by row
//!    (`x W`, `dz W'`, activations, dropout), so no worker waits on another between layers.
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

use crate::chain::{add_penalty_grad, column_sums, dropout_forward, mul_into, Kind, Layer};
use crate::kernel::{self, avx2, KC, MR, NR};
use crate::losses::Loss;
use crate::model::{Batch, Model};
use crate::optimizers::Parts;
use crate::rng::Rng;
use rayon::prelude::*;

/// Input features per weight block in phase 3 (a multiple of both 16 and 6).
const BLOCK: usize = 48;

/// A dense layer's packed weights and its packed dL/dz (empty for other layers).
#[derive(Clone, Debug, Default)]
pub struct DensePack {
    in_dim: usize,
    out_dim: usize,
    fwd: Vec<f32>,
    bwd: Vec<f32>,
    dzt: Vec<f32>,
}

/// Per-layer packs, and whether they hold the current weights.
#[derive(Clone, Debug, Default)]
pub struct TrainPacks {
    layers: Vec<DensePack>,
    cap: usize,
    fresh: bool,
    /// Seconds spent in each of the three phases by the kernel's steps so far (profiling).
    phase_secs: [f64; 3],
    /// Counts changes of the weights (steps, `invalidate()`): other packed copies of the
    /// weights (inference's) are current while it is unchanged.
    generation: u64,
}

impl TrainPacks {
    /// Forget the packed weights (they are rebuilt from the layers at the next step). Every
    /// change of the weights outside a kernel step must call this.
    pub fn invalidate(&mut self) {
        self.fresh = false;
        self.generation += 1;
    }

    /// The weights' generation (see `generation`).
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// A buffer written by several workers at once, each in its own rows.
#[derive(Clone, Copy)]
pub struct Buf(*mut f32);
// SAFETY: every use below writes disjoint row ranges (phase 1: shards; phase 3: blocks), and
// reads only what an earlier phase finished writing.
unsafe impl Send for Buf {}
unsafe impl Sync for Buf {}

impl Buf {
    pub fn of(v: &mut [f32]) -> Buf {
        Buf(v.as_mut_ptr())
    }

    /// Rows `r0..r1` of a row-major buffer with `cols` columns.
    ///
    /// # Safety
    /// The rows exist and no one else uses them while the slice lives.
    #[allow(clippy::mut_from_ref)]
    unsafe fn rows<'a>(self, cols: usize, r0: usize, r1: usize) -> &'a mut [f32] {
        std::slice::from_raw_parts_mut(self.0.add(r0 * cols), (r1 - r0) * cols)
    }
}

/// `c = x P` for `n` rows: `x [n, k]` and `c [n, m]` row-major, `P [k, m]` packed in panels
/// of 16 columns (`p[(q * k + t) * 16 + i] = P[t, 16 q + i]`, zero past `m`). With `W` as
/// `fwd` this is a dense layer's `z = x W`; with `W` as `bwd`, its `dx = dz W'`.
pub fn rows_by_panels(x: &[f32], n: usize, k: usize, m: usize, p: &[f32], c: &mut [f32]) {
    assert!(
        kernel::available(),
        "the training kernel needs AVX2 and FMA"
    );
    assert!(x.len() >= n * k && c.len() >= n * m && p.len() >= m.div_ceil(MR) * k * MR);
    // SAFETY: AVX2 was checked just above; every tile reads `kc` steps inside a panel of
    // `k * MR` values and rows `j0..j0 + 6` (at most `n`) of `x` and `c`, asserted above.
    unsafe {
        let mut k0 = 0;
        while k0 < k {
            let kc = KC.min(k - k0);
            for j0 in (0..n).step_by(NR) {
                for q in 0..m.div_ceil(MR) {
                    avx2::tile_n(
                        NR.min(n - j0),
                        kc,
                        p.as_ptr().add((q * k + k0) * MR),
                        x.as_ptr().add(j0 * k + k0),
                        1,
                        k,
                        c.as_mut_ptr().add(j0 * m + q * MR),
                        m,
                        m - q * MR,
                        k0 > 0,
                    );
                }
            }
            k0 += kc;
        }
    }
}

/// Rows `m0..m1` of `dW = x' dz` (`[inp, out]`) into `dw` (those rows only): `x [rows, inp]`
/// row-major, `dz` packed as `dzt` with `cap` rows per panel.
#[allow(clippy::too_many_arguments)]
pub fn weight_grad(
    x: &[f32],
    rows: usize,
    inp: usize,
    out: usize,
    dzt: &[f32],
    cap: usize,
    m0: usize,
    m1: usize,
    dw: &mut [f32],
) {
    assert!(
        kernel::available(),
        "the training kernel needs AVX2 and FMA"
    );
    assert!(x.len() >= rows * inp && m1 <= inp && dw.len() >= (m1 - m0) * out);
    assert!(rows <= cap && dzt.len() >= out.div_ceil(MR) * cap * MR);
    if rows == 0 {
        dw.fill(0.0);
        return;
    }
    // The block's columns of `x`, six at a time, packed contiguously for the broadcasts.
    assert!(
        m1 - m0 <= BLOCK,
        "weight_grad works on blocks of at most BLOCK features"
    );
    // Every value the kernel reads is written first (a group of `nj < 6` columns is read
    // as `nj` columns), so the buffer needs no zeroing.
    let mut buf = std::mem::MaybeUninit::<[f32; KC * BLOCK]>::uninit();
    let panels = buf.as_mut_ptr() as *mut f32;
    let mut k0 = 0;
    while k0 < rows {
        let kc = KC.min(rows - k0);
        for p in 0..kc {
            let row = &x[(k0 + p) * inp + m0..(k0 + p) * inp + m1];
            // Whole groups as fixed-size moves (a copy of variable length is a call to
            // `memmove` per group), then the last partial group value by value.
            let mut groups = row.chunks_exact(NR);
            let full = groups.len();
            for (g, src) in (&mut groups).enumerate() {
                let src: [f32; NR] = src.try_into().expect("chunks_exact gives whole groups");
                // SAFETY: `g < BLOCK / NR` and `p < KC`: inside the buffer.
                unsafe { (panels.add((g * KC + p) * NR) as *mut [f32; NR]).write_unaligned(src) };
            }
            for (j, &v) in groups.remainder().iter().enumerate() {
                // SAFETY: as above, for the group after the whole ones (`j < NR`).
                unsafe { panels.add((full * KC + p) * NR + j).write(v) };
            }
        }
        // Each group of six columns stays in L1 while the panels of dz stream past it.
        for (g, j0) in (m0..m1).step_by(NR).enumerate() {
            for q in 0..out.div_ceil(MR) {
                // SAFETY: as in `rows_by_panels`: `kc` steps of a `cap * MR` panel of `dzt` and
                // of a `KC x NR` panel (written above), and rows `j0..j0 + 6` (at most `m1`)
                // of the block `dw`.
                unsafe {
                    avx2::tile_n(
                        NR.min(m1 - j0),
                        kc,
                        dzt.as_ptr().add((q * cap + k0) * MR),
                        panels.add(g * KC * NR),
                        NR,
                        1,
                        dw.as_mut_ptr().add((j0 - m0) * out + q * MR),
                        out,
                        out - q * MR,
                        k0 > 0,
                    );
                }
            }
        }
        k0 += kc;
    }
}

/// `c = a b` on the kernel (`a [m, k]`, `b [k, n]`, `c [m, n]`, row-major), for benchmarks:
/// `b` packed into `packed` (a block of its rows per worker), then `a`'s rows in shards.
pub fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    packed: &mut Vec<f32>,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n && n > 0 && k > 0);
    packed.resize(n.div_ceil(MR) * k * MR, 0.0);
    let dst = Buf::of(packed);
    let threads = rayon::current_num_threads().max(1);
    let kb = k.div_ceil(threads);
    let blocks: Vec<usize> = (0..k).step_by(kb).collect();
    blocks
        .par_iter()
        .for_each(|&k0| pack_panels(&b[k0 * n..(k0 + kb).min(k) * n], n, k0, k, dst));
    let shard = m.div_ceil(threads).next_multiple_of(NR).max(NR);
    let packed = &packed[..];
    c[..m * n]
        .par_chunks_mut(shard * n)
        .zip(a[..m * k].par_chunks(shard * k))
        .for_each(|(c, a)| rows_by_panels(a, a.len() / k, k, n, packed, c));
}

/// `d = src` padded with zeros: one row of a 16-wide panel.
#[inline(always)]
fn put(d: &mut [f32], src: &[f32]) {
    if let (Ok(d), Ok(src)) = (
        <&mut [f32; MR]>::try_from(&mut d[..]),
        <&[f32; MR]>::try_from(src),
    ) {
        *d = *src;
    } else {
        for (i, x) in d.iter_mut().enumerate() {
            *x = src.get(i).copied().unwrap_or(0.0);
        }
    }
}

/// Rows `r0..` of a row-major matrix with `cols` columns (given as those rows, `src`) into
/// panels of 16 columns holding `stride` rows each: `dst[(q * stride + r) * 16 + i] =
/// M[r, 16 q + i]`, zero past `cols`. Weights `[inp, out]` with `stride = inp` give the `fwd`
/// layout; a batch's dL/dz with `stride = cap` gives `dzt`.
pub fn pack_panels(src: &[f32], cols: usize, r0: usize, stride: usize, dst: Buf) {
    let r1 = r0 + src.len() / cols;
    for q in 0..cols.div_ceil(MR) {
        let c0 = q * MR;
        let n = (cols - c0).min(MR);
        // SAFETY: rows r0..r1 of panel q (`stride * MR` values) belong to this caller.
        let d = unsafe { Buf(dst.0.add(q * stride * MR)).rows(MR, r0, r1) };
        for (row, d) in src.chunks_exact(cols).zip(d.chunks_exact_mut(MR)) {
            put(d, &row[c0..c0 + n]);
        }
    }
}

/// Rows `m0..` of `w [inp, out]` (given as those rows; `m0` a multiple of 16, and the rows
/// whole panels of 16 or the last ones) into the `bwd` layout.
pub fn pack_bwd(w: &[f32], inp: usize, out: usize, m0: usize, bwd: Buf) {
    assert!(
        kernel::available(),
        "the training kernel needs AVX2 and FMA"
    );
    let m1 = m0 + w.len() / out;
    debug_assert!(m0 % MR == 0 && (m1 % MR == 0 || m1 == inp));
    // SAFETY: panels m0/16..ceil(m1/16) (`out * MR` values each) belong to this block.
    let dst = unsafe { bwd.rows(out * MR, m0 / MR, m1.div_ceil(MR)) };
    for (k, panel) in dst.chunks_exact_mut(out * MR).enumerate() {
        let rows = (m1 - m0 - k * MR).min(MR);
        let src = &w[k * MR * out..(k * MR + rows) * out];
        // SAFETY: `transpose_panel` reads `rows` rows of `out` values (the slice `src`) and
        // writes `out * MR` values (the slice `panel`); AVX2 was checked above.
        unsafe { avx2::transpose_panel(src.as_ptr(), out, rows, out, panel.as_mut_ptr()) };
    }
}

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
}

impl Rows<'_> {
    /// Phase 1 for rows `r0..r1`.
    fn run(&self, r0: usize, r1: usize) {
        let nl = self.layers.len();
        let n = r1 - r0;
        // SAFETY (every `rows` call below): this shard alone touches rows r0..r1 of every
        // buffer, and each buffer was allocated for at least `cap >= r1` rows.
        let input = |i: usize, d: usize| -> &[f32] {
            if i == 0 {
                &self.b.x[r0 * d..r1 * d]
            } else {
                unsafe { self.a[i].rows(d, r0, r1) }
            }
        };
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
            }
        }
        // The loss gradient, scaled by each row's weight over the batch's row count.
        let out = self.layers[nl - 1].out_dim();
        let yc = self.loss.target_cols(out);
        let scale = 1.0 / self.b.rows as f32;
        let p = unsafe { self.a[nl].rows(out, r0, r1) };
        let g = unsafe { self.g[nl].rows(out, r0, r1) };
        for (k, (pr, gr)) in p.chunks_exact(out).zip(g.chunks_exact_mut(out)).enumerate() {
            let r = r0 + k;
            let w = self.b.w.map_or(1.0, |w| w[r]);
            let y = &self.b.y[r * yc..(r + 1) * yc];
            self.loss.sample_grad(pr, y, w * scale, self.fused, gr);
        }
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
            }
        }
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
    pub(crate) fn train_step_kernel(&mut self, b: &Batch) -> f64 {
        let rows = b.rows;
        self.ensure_train_capacity(rows);
        self.ensure_packs(rows);
        let nl = self.layers.len();
        let fused = self.loss_fused();
        let first_param = self.first_param();
        let loss = self.compiled.as_ref().expect("checked by check_batch").loss;
        let seeds = (0..nl)
            .map(|i| Rng::keyed(&[self.fit_seed, self.step, i as u64]).next_u64() as u32)
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
        {
            let job = Rows {
                layers: &self.layers,
                packs: &self.packs.layers,
                b,
                z,
                a: a.clone(),
                g: g.clone(),
                masks,
                dzt: dzt.clone(),
                seeds,
                loss,
                fused,
                first_param,
                cap,
            };
            let starts: Vec<usize> = (0..rows).step_by(shard).collect();
            if starts.len() <= 1 {
                job.run(0, rows);
            } else {
                starts
                    .par_iter()
                    .for_each(|&r0| job.run(r0, (r0 + shard).min(rows)));
            }
        }
        lap(&mut self.packs, 0);
        // Phase 2: loss and metrics in row order (penalties of the weights before the update).
        let batch_loss = self.loss_and_metrics(b, false, true);
        lap(&mut self.packs, 1);
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
        batch_loss
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activations::Act;
    use crate::metrics::MetricKind;
    use crate::optimizers::Optimizer;

    fn dense(name: &str, units: usize, act: Act, use_bias: bool, l1: f32, l2: f32) -> Layer {
        let seed = name.len() as u64 * 7 + units as u64;
        crate::testing::dense(name, units, act, use_bias, l1, l2, seed)
    }

    /// A model, its loss, optimizer, input width and batch size: widths that are not whole
    /// panels, batches that are not whole micro-tiles, depths past one kernel pass (`KC`),
    /// every layer kind, penalties, a layer without bias, and each optimizer with state.
    fn cases() -> Vec<(Vec<Layer>, Loss, &'static str, usize, usize)> {
        let drop = |rate| Layer::new("drop".into(), Kind::Dropout { rate }, 5);
        vec![
            (
                vec![
                    dense("a", 37, Act::Relu, true, 0.0, 0.01),
                    drop(0.5),
                    dense("b", 10, Act::Softmax, true, 0.0, 0.0),
                ],
                Loss::CategoricalCrossentropy,
                "adam",
                21,
                37,
            ),
            (
                vec![
                    dense("a", 6, Act::Softmax, true, 0.0, 0.0),
                    dense("b", 13, Act::Tanh, false, 0.0, 0.0),
                    dense("c", 1, Act::Sigmoid, true, 0.0, 0.0),
                ],
                Loss::BinaryCrossentropy,
                "rmsprop",
                21,
                50,
            ),
            (
                vec![
                    drop(0.2),
                    Layer::new("t".into(), Kind::Activation { act: Act::Tanh }, 6),
                    dense("a", 8, Act::Linear, true, 0.01, 0.0),
                    Layer::new("f".into(), Kind::Flatten, 7),
                    Layer::new("s".into(), Kind::Activation { act: Act::Elu }, 8),
                ],
                Loss::MeanSquaredError,
                "sgd",
                12,
                9,
            ),
            (
                vec![
                    dense("a", 20, Act::Relu, true, 0.0, 0.0),
                    dense("b", 3, Act::Softmax, true, 0.0, 0.0),
                ],
                Loss::SparseCategoricalCrossentropy,
                "adagrad",
                300,
                300,
            ),
        ]
    }

    fn model(layers: &[Layer], loss: Loss, opt: &str, d: usize) -> Model {
        let mut m = Model::new();
        for l in layers {
            m.add(l.clone()).unwrap();
        }
        m.build(d).unwrap();
        let p: &[f64] = if opt == "sgd" { &[0.9] } else { &[] };
        m.compile(
            loss,
            vec![MetricKind::MeanSquaredError],
            Optimizer::new(opt, 0.01, p).unwrap(),
        );
        m.fit_seed = 42;
        m
    }

    /// Inputs, targets for `loss` and sample weights of `rows` rows.
    fn batch_data(rows: usize, d: usize, out: usize, loss: Loss) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let x = (0..rows * d)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 40.0)
            .collect();
        let y = match loss {
            Loss::SparseCategoricalCrossentropy => (0..rows).map(|r| (r % out) as f32).collect(),
            Loss::MeanSquaredError => (0..rows * out).map(|i| (i % 7) as f32 / 7.0).collect(),
            _ => (0..rows * out)
                .map(|i| ((i / out) % out == i % out) as u8 as f32)
                .collect(),
        };
        let w = (0..rows).map(|r| 0.5 + (r % 3) as f32).collect();
        (x, y, w)
    }

    /// Weights and losses after three steps.
    fn train(
        m: &mut Model,
        x: &[f32],
        y: &[f32],
        w: &[f32],
        rows: usize,
        avx2: bool,
        threads: usize,
    ) -> (Vec<Vec<f32>>, Vec<f64>) {
        m.threads = threads;
        let losses = crate::threads::pool(threads).install(|| {
            (0..3)
                .map(|s| {
                    let b = Batch {
                        x,
                        y,
                        w: (s != 1).then_some(w),
                        rows,
                    };
                    m.train_step_with(&b, avx2).unwrap()
                })
                .collect()
        });
        let weights = m
            .layers
            .iter()
            .flat_map(|l| [l.kernel.clone(), l.bias.clone()])
            .collect();
        (weights, losses)
    }

    #[test]
    fn kernel_steps_match_the_layer_path_and_every_thread_count() {
        if !kernel::available() {
            return;
        }
        for (layers, loss, opt, d, rows) in cases() {
            let out = layers.last().unwrap().out_dim().max(1);
            let m0 = model(&layers, loss, opt, d);
            let out = m0.output_dim().unwrap_or(out);
            let (x, y, w) = batch_data(rows, d, out, loss);
            let y = &y[..rows * loss.target_cols(out)];
            let (want, want_loss) = train(&mut m0.clone(), &x, y, &w, rows, false, 1);
            let one = train(&mut m0.clone(), &x, y, &w, rows, true, 1);
            let two = train(&mut m0.clone(), &x, y, &w, rows, true, 2);
            assert_eq!(one, two, "{opt}: 1 and 2 threads differ");
            for (a, b) in want_loss.iter().zip(&one.1) {
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + a.abs()),
                    "{opt}: loss {a} vs {b}"
                );
            }
            for (p, (a, b)) in want.iter().zip(&one.0).enumerate() {
                for (u, v) in a.iter().zip(b) {
                    assert!(
                        (u - v).abs() <= 1e-4 * (1.0 + u.abs()),
                        "{opt}: parameter {p}: {u} vs {v}"
                    );
                }
            }
            assert_ne!(
                m0.layers
                    .iter()
                    .map(|l| l.kernel.clone())
                    .collect::<Vec<_>>(),
                one.0.iter().step_by(2).cloned().collect::<Vec<_>>(),
                "{opt}: training changed nothing"
            );
        }
    }

    #[test]
    fn sgemm_matches_a_naive_product_on_any_thread_count() {
        if !kernel::available() {
            return;
        }
        for &(m, n, k) in &[(37usize, 13usize, 300usize), (128, 10, 128), (5, 16, 1)] {
            let (a, b) = crate::testing::operands(m, k, n);
            let run = |threads| {
                let mut c = vec![f32::NAN; m * n];
                let mut packed = Vec::new();
                crate::threads::pool(threads)
                    .install(|| sgemm(m, n, k, &a, &b, &mut c, &mut packed));
                c
            };
            let c = run(1);
            assert_eq!(c, run(2), "{m}x{n}x{k}: 1 and 2 threads differ");
            crate::testing::assert_product(&a, &b, m, k, n, &c);
        }
    }

    #[test]
    fn packed_weights_follow_weights_set_between_steps() {
        if !kernel::available() {
            return;
        }
        let (layers, loss, opt, d, rows) = cases().remove(0);
        let (x, y, w) = batch_data(rows, d, 10, loss);
        let mut a = model(&layers, loss, opt, d);
        train(&mut a, &x, &y, &w, rows, true, 2);
        // Weights set from outside (as `set_weights()` does), then the same steps on both.
        let mut b = model(&layers, loss, opt, d);
        train(&mut b, &x, &y, &w, rows, true, 2);
        for l in b.layers.iter_mut() {
            l.kernel.iter_mut().for_each(|v| *v *= 0.5);
        }
        b.packs.invalidate();
        let mut c = model(&layers, loss, opt, d);
        c.compiled = b.compiled.clone();
        c.step = b.step;
        for (lc, lb) in c.layers.iter_mut().zip(&b.layers) {
            lc.kernel = lb.kernel.clone();
            lc.bias = lb.bias.clone();
        }
        let after_b = train(&mut b, &x, &y, &w, rows, true, 1);
        let after_c = train(&mut c, &x, &y, &w, rows, true, 1);
        assert_eq!(after_b, after_c);
        assert_ne!(after_b, train(&mut a, &x, &y, &w, rows, true, 1));
    }
}
