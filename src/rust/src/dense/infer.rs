//! Inference in tiles: each worker thread takes tiles of rows (never crossing a batch
//! boundary) and runs the whole forward pass on them with single-threaded products, in
//! buffers that stay in its cache. No thread waits on another between layers, and every
//! thread count gives bit-identical outputs (a tile is computed the same way by any thread).

use crate::activations::Act;
pub use crate::dense::buffers::{row_source, Layout, Scratch};
use crate::dense::chain::{Kind, Layer};
use crate::dense::kernel::{self, PackedWeights, MR};
use crate::error::{RkError, RkResult};
use crate::model::Model;
use crate::rng::Rng;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Rows per tile: the first layer's input and every activation of a tile fit in L2.
pub const TILE: usize = 128;

/// Where each worker writes its tiles' outputs (disjoint row ranges of one buffer).
struct OutPtr(*mut f32);
// SAFETY: tiles cover disjoint row ranges, so no two workers write the same element.
unsafe impl Sync for OutPtr {}

/// Tiles `(start, end)` of `rows` rows in batches of `batch`: at most `tile` rows each,
/// none crossing a batch boundary.
pub fn tiles(rows: usize, batch: usize, tile: usize) -> Vec<(usize, usize)> {
    let (batch, tile) = (batch.max(1), tile.max(1));
    let mut v = Vec::with_capacity(rows / tile.min(batch) + 2);
    let mut b0 = 0;
    while b0 < rows {
        let b1 = (b0 + batch).min(rows);
        let mut t = b0;
        while t < b1 {
            let e = (t + tile).min(b1);
            v.push((t, e));
            t = e;
        }
        b0 = b1;
    }
    v
}

impl Model {
    /// Inference on `rows` samples in batches of `batch`, appending `[rows, out]` to `out`.
    /// `fill(r0, r1, layout, buf)` writes input rows `r0..r1` into `buf` as f32 in `layout`;
    /// it may fail (bad values), and then the first failure in tile order is returned.
    pub fn predict_tiled<F>(
        &mut self,
        rows: usize,
        batch: usize,
        fill: F,
        out: &mut Vec<f32>,
    ) -> RkResult<()>
    where
        F: Fn(usize, usize, Layout, &mut [f32]) -> RkResult<()> + Sync,
    {
        if !self.uses_plan() {
            return self.graph_predict(rows, batch, fill, out);
        }
        self.on_plan(|m| m.tiled(rows, batch, fill, out, kernel::available()))
    }

    /// [`Model::predict_tiled`], with the AVX2 kernel only when `avx2` (tests run both paths).
    fn tiled<F>(
        &mut self,
        rows: usize,
        batch: usize,
        fill: F,
        out: &mut Vec<f32>,
        avx2: bool,
    ) -> RkResult<()>
    where
        F: Fn(usize, usize, Layout, &mut [f32]) -> RkResult<()> + Sync,
    {
        let d = self.layers[0].in_dim;
        let od = self.output_dim().unwrap_or(d);
        let layers: Vec<&Layer> = self
            .layers
            .iter()
            .filter(|l| !matches!(l.kind, Kind::Dropout { .. } | Kind::Flatten))
            .collect();
        // With AVX2, stacks of dense layers, each followed by activations and row-wise
        // functions, run on the panel-major kernel; otherwise the layers' own forward pass
        // runs on row-major tiles.
        let fast = avx2
            && layers.first().is_some_and(|l| is_dense(l))
            && layers.iter().all(|l| {
                matches!(
                    l.kind,
                    Kind::Dense { .. } | Kind::Activation { .. } | Kind::Function { .. }
                )
            });
        let n_dense = layers.iter().filter(|l| is_dense(l)).count();
        // The packed weights are kept until the weights change (a training step, set_weights,
        // a rebuild): repeated calls on small inputs need not pack them again.
        let generation = self.packs.generation();
        let packed: Vec<PackedWeights> = match (fast, self.infer_packs.take()) {
            (false, _) => Vec::new(),
            (true, Some((g, p))) if g == generation && p.len() == n_dense => p,
            (true, _) => layers
                .iter()
                .filter(|l| is_dense(l))
                .map(|l| PackedWeights::new(&l.kernel, l.in_dim, l.out_dim()))
                .collect(),
        };
        let layout = if fast { Layout::Panels } else { Layout::Rows };
        // The widest layer output (in whole weight panels): the activation buffers' width.
        let width = layers
            .iter()
            .map(|l| l.out_dim().next_multiple_of(kernel::NR))
            .max()
            .unwrap_or(0);
        // Fewer rows than a tile per thread (a small batch or `predict_on_batch()`): smaller
        // tiles, in whole blocks of rows, so that every thread has one.
        let threads = self.threads.max(1);
        let mut tiles = tiles(rows, batch, TILE);
        if tiles.len() < threads {
            tiles = self::tiles(rows, batch, rows.div_ceil(threads).next_multiple_of(MR));
        }
        let workers = self.threads.clamp(1, tiles.len().max(1));
        let cap = tiles
            .iter()
            .map(|t| t.1 - t.0)
            .max()
            .unwrap_or(0)
            .next_multiple_of(MR);
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.resize_with(workers, Scratch::default);
        for s in scratch.iter_mut() {
            grow(&mut s.x, cap * d);
            grow(&mut s.z, cap * width);
            grow(&mut s.r, cap * width);
            grow(&mut s.a[0], cap * width);
            grow(&mut s.a[1], cap * width);
        }
        let start = out.len();
        out.resize(start + rows * od, 0.0);
        let dst = OutPtr(out[start..].as_mut_ptr());
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let failed: Mutex<Option<(usize, RkError)>> = Mutex::new(None);
        // Keep the first failure in tile order, and stop the workers.
        let fail = |t: usize, e: RkError| {
            let mut f = failed.lock().unwrap_or_else(|p| p.into_inner());
            if f.as_ref().is_none_or(|(ft, _)| t < *ft) {
                *f = Some((t, e));
            }
            stop.store(true, Ordering::Relaxed);
        };
        let work = |s: &mut Scratch| loop {
            let t = next.fetch_add(1, Ordering::Relaxed);
            if t >= tiles.len() || stop.load(Ordering::Relaxed) {
                return;
            }
            let (r0, r1) = tiles[t];
            let n = r1 - r0;
            let len = match layout {
                Layout::Panels => n.next_multiple_of(MR) * d,
                _ => n * d,
            };
            if let Err(e) = fill(r0, r1, layout, &mut s.x[..len]) {
                return fail(t, e);
            }
            let y = match fast {
                true => forward_panels(&layers, &packed, s, n, d),
                false => forward_tile(&layers, s, n, d),
            };
            let y = match y {
                Ok(y) => y,
                Err(e) => return fail(t, e),
            };
            let p = &dst;
            // SAFETY: rows r0..r1 of the output belong to this tile alone, and the
            // destination holds `rows * od` values from `start`.
            unsafe { std::ptr::copy_nonoverlapping(y.as_ptr(), p.0.add(r0 * od), n * od) };
        };
        if workers == 1 {
            work(&mut scratch[0]);
        } else {
            use rayon::prelude::*;
            scratch.par_iter_mut().for_each(work);
        }
        self.scratch = scratch;
        if fast {
            self.infer_packs = Some((generation, packed));
        }
        if let Some((_, e)) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
            out.truncate(start);
            return Err(e);
        }
        Ok(())
    }
}

fn is_dense(l: &Layer) -> bool {
    matches!(l.kind, Kind::Dense { .. })
}

fn grow(v: &mut Vec<f32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

/// The forward pass of one tile of `n` rows (already in `s.x`, panel-major) through dense
/// `layers` with the AVX2 kernel, each dense layer followed by zero or more activations and
/// row-wise functions; returns the row-major output.
fn forward_panels<'s>(
    layers: &[&Layer],
    packed: &[PackedWeights],
    s: &'s mut Scratch,
    n: usize,
    d: usize,
) -> RkResult<&'s [f32]> {
    let blocks = n.div_ceil(MR);
    let starts: Vec<usize> = (0..layers.len()).filter(|&i| is_dense(layers[i])).collect();
    let mut in_cols = d;
    let mut width = d;
    for (q, (&i, w)) in starts.iter().zip(packed).enumerate() {
        let end = starts.get(q + 1).copied().unwrap_or(layers.len());
        let (tail, last) = (&layers[i + 1..end], end == layers.len());
        let (a0, a1) = s.a.split_at_mut(1);
        let (input, output): (&[f32], &mut [f32]) = match q {
            0 => (&s.x, &mut a0[0]),
            _ if q % 2 == 1 => (&a0[0], &mut a1[0]),
            _ => (&a1[0], &mut a0[0]),
        };
        kernel::dense(blocks, input, in_cols, w, output);
        let (act, bias) = match layers[i].kind {
            Kind::Dense { act, use_bias, .. } => (act, use_bias.then_some(&layers[i].bias[..])),
            _ => unreachable!("groups start at dense layers"),
        };
        let (o, cols) = (w.n, w.padded());
        if !last && act != Act::Softmax && tail.is_empty() {
            kernel::bias_act(output, blocks, cols, o, bias, act);
            in_cols = cols;
            continue;
        }
        // Row-wise activations, the steps after the layer and the output go through
        // row-major buffers (`s.r` holds the latest value).
        kernel::to_rows(output, cols, n, o, &mut s.z[..n * o]);
        act.forward_bias(&mut s.z[..n * o], &mut s.r[..n * o], bias, o);
        width = o;
        for t in tail {
            let ow = t.out_dim();
            let (x, y) = (&s.r[..n * width], &mut s.z[..n * ow]);
            match &t.kind {
                Kind::Activation { act } => act.forward(x, y, width),
                Kind::Function { graph, .. } => {
                    crate::dense::function::forward_rows(graph, x, n, width, y)?
                }
                _ => unreachable!("only activations and functions follow a dense layer here"),
            }
            std::mem::swap(&mut s.z, &mut s.r);
            width = ow;
        }
        if !last {
            in_cols = width.next_multiple_of(kernel::NR);
            kernel::from_rows(&s.r[..n * width], n, width, in_cols, output);
        }
    }
    Ok(&s.r[..n * width])
}

/// The forward pass of one tile of `n` rows (already in `s.x`) through `layers`.
fn forward_tile<'s>(
    layers: &[&Layer],
    s: &'s mut Scratch,
    n: usize,
    d: usize,
) -> RkResult<&'s [f32]> {
    let mut rng = Rng::keyed(&[0]); // unused: inference draws no dropout masks
    let mut cur: Option<usize> = None;
    let mut width = d;
    for l in layers {
        let o = l.out_dim();
        let (a0, a1) = s.a.split_at_mut(1);
        let (input, output): (&[f32], &mut [f32]) = match cur {
            None => (&s.x[..n * width], &mut a0[0][..n * o]),
            Some(0) => (&a0[0][..n * width], &mut a1[0][..n * o]),
            Some(_) => (&a1[0][..n * width], &mut a0[0][..n * o]),
        };
        let z = &mut s.z[..n * o];
        l.forward(input, z, output, &mut [], n, false, &mut rng, 1)?;
        cur = Some(match cur {
            None | Some(1) => 0,
            Some(_) => 1,
        });
        width = o;
    }
    Ok(match cur {
        None => &s.x[..n * d],
        Some(k) => &s.a[k][..n * width],
    })
}

#[cfg(test)]
mod tests;
