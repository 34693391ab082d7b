//! Steps on a model: the data checks, the choice of path (the general engine for graph
//! models; the AVX2 kernel of `train.rs` or the layer-by-layer `gemm` path for the fused
//! dense chain), the layer-by-layer path itself, and scoring. Executors depend on the model
//! (`model.rs`), never the reverse.

use crate::chain::Kind;
use crate::error::{RkError, RkResult};
use crate::metrics::{Acc, MetricKind, Tracker};
use crate::model::{Batch, Compiled, Model};
use crate::rng::Rng;

impl Model {
    /// One buffer per layer output, `cap` rows each; index 0 (the input) stays empty
    /// because layer 0 reads the caller's batch directly and no input gradient is needed.
    fn output_buffers(&self, cap: usize) -> Vec<Vec<f32>> {
        std::iter::once(Vec::new())
            .chain(self.layers.iter().map(|l| vec![0.0; cap * l.out_dim()]))
            .collect()
    }

    /// One buffer per layer (`cap` rows of its output) for the layers `want` selects.
    fn layer_buffers(&self, cap: usize, want: impl Fn(&Kind) -> bool) -> Vec<Vec<f32>> {
        self.layers
            .iter()
            .map(|l| {
                if want(&l.kind) {
                    vec![0.0; cap * l.out_dim()]
                } else {
                    Vec::new()
                }
            })
            .collect()
    }

    /// Forward buffers for `rows` samples (allocated once, grown when a larger batch comes).
    fn ensure_capacity(&mut self, rows: usize) {
        if rows <= self.cap && self.a.len() == self.layers.len() + 1 {
            return;
        }
        let cap = rows.max(self.cap);
        self.a = self.output_buffers(cap);
        self.z = self.layer_buffers(cap, |k| matches!(k, Kind::Dense { .. }));
        self.cap = cap;
    }

    /// Gradient and dropout-mask buffers, needed by training steps only.
    pub(crate) fn ensure_train_capacity(&mut self, rows: usize) {
        self.ensure_capacity(rows);
        if rows <= self.cap_train && self.g.len() == self.layers.len() + 1 {
            return;
        }
        let cap = rows.max(self.cap_train);
        self.g = self.output_buffers(cap);
        self.masks = self.layer_buffers(cap, |k| matches!(k, Kind::Dropout { .. }));
        self.cap_train = cap;
    }

    fn check_batch(&self, b: &Batch, y_needed: bool) -> RkResult<()> {
        if self.graph.is_some() {
            return self.graph_check(b, y_needed);
        }
        self.check_x(b)?;
        if y_needed {
            self.check_targets(b)?;
        }
        Ok(())
    }

    /// The batch's inputs have the model's input width.
    pub(crate) fn check_x(&self, b: &Batch) -> RkResult<()> {
        if self.graph.is_some() {
            return self.graph_check(b, false);
        }
        let d = self
            .input_dim
            .ok_or_else(|| RkError::State("the model is not built".into()))?;
        if b.x.len() != b.rows * d {
            return Err(self.input_width_error(d, b.x.len() / b.rows.max(1)));
        }
        Ok(())
    }

    /// Targets (and, for sparse labels, their values) fit the compiled loss.
    pub(crate) fn check_targets(&self, b: &Batch) -> RkResult<()> {
        let c = self.compiled.as_ref().ok_or_else(|| {
            RkError::State(
                "the model must be compiled before training or evaluation; call compile() first"
                    .into(),
            )
        })?;
        let out = self.output_dim().unwrap_or(0);
        let yc = c.loss.target_cols(out);
        if b.y.len() != b.rows * yc {
            return Err(RkError::Shape(format!(
                "targets have {} columns but the model's output '{}' has {} units (loss expects {} columns)",
                b.y.len() / b.rows.max(1),
                self.layers.last().map(|l| l.name.as_str()).unwrap_or("output"),
                out,
                yc
            )));
        }
        if c.loss.is_sparse() {
            if let Some(bad) =
                b.y.iter()
                    .position(|&v| v < 0.0 || v as usize >= out || v.fract() != 0.0)
            {
                return Err(RkError::Value(format!(
                    "label {} at row {} is not a class id in 0..{}",
                    b.y[bad],
                    bad + 1,
                    out.saturating_sub(1)
                )));
            }
        }
        Ok(())
    }

    /// Forward `b.x` through every layer into the buffers; returns the output slice.
    fn forward(&mut self, x: &[f32], rows: usize, training: bool) -> &[f32] {
        if training {
            self.ensure_train_capacity(rows);
        } else {
            self.ensure_capacity(rows);
        }
        // Layer 0 reads `x` in place; in inference, dropout and flatten are identities and
        // are skipped (the next layer reads their input).
        let nl = self.layers.len();
        let threads = self.threads;
        let mut src: Option<usize> = None;
        for i in 0..nl {
            if !training && matches!(self.layers[i].kind, Kind::Dropout { .. } | Kind::Flatten) {
                continue;
            }
            let mut rng = Rng::keyed(&[self.fit_seed, self.step, i as u64]);
            let (lo, hi) = self.a.split_at_mut(i + 1);
            let input: &[f32] = match src {
                None => x,
                Some(k) => &lo[k],
            };
            let mask: &mut [f32] = match self.masks.get_mut(i) {
                Some(m) if training => m,
                _ => &mut [],
            };
            self.layers[i].forward(
                input,
                &mut self.z[i],
                &mut hi[0],
                mask,
                rows,
                training,
                &mut rng,
                threads,
            );
            src = Some(i + 1);
        }
        let out = self.output_dim().unwrap_or(0);
        let n = rows * out;
        if src != Some(nl) {
            let (lo, hi) = self.a.split_at_mut(nl);
            match src {
                None => hi[0][..n].copy_from_slice(&x[..n]),
                Some(k) => hi[0][..n].copy_from_slice(&lo[k][..n]),
            }
        }
        &self.a[nl][..n]
    }

    /// Loss for each row of the current output (with penalties added once), and
    /// accumulate it with the metrics into the tracker; optionally fill the output gradient.
    pub(crate) fn loss_and_metrics(&mut self, b: &Batch, want_grad: bool, training: bool) -> f64 {
        let nl = self.layers.len();
        let penalty: f64 = self.layers.iter().map(|l| l.penalty()).sum();
        let fused = self.loss_fused();
        let out = self.output_dim().unwrap_or(0);
        let compiled = self.compiled.as_ref().expect("checked by check_batch");
        let g = if want_grad {
            Some(&mut self.g[nl][..])
        } else {
            None
        };
        let t = if training {
            &mut self.train
        } else {
            &mut self.test
        };
        score(compiled, out, fused, penalty, &self.a[nl], b, g, t)
    }

    /// Loss and metrics of outputs `p` (`[b.rows, out]`, computed elsewhere) for the
    /// targets of `b`, accumulated into the test tracker.
    pub(crate) fn score_outputs(&mut self, p: &[f32], b: &Batch) -> f64 {
        let penalty: f64 = self.layers.iter().map(|l| l.penalty()).sum();
        let out = self.output_dim().unwrap_or(0);
        let compiled = self.compiled.as_ref().expect("checked by check_targets");
        score(compiled, out, false, penalty, p, b, None, &mut self.test)
    }

    /// One training step on a batch: forward, loss, backward, optimizer update. With AVX2
    /// it runs on the kernel in phases (`train.rs`); otherwise layer by layer through `gemm`.
    pub fn train_step(&mut self, b: &Batch) -> RkResult<f64> {
        self.train_step_with(b, crate::kernel::available())
    }

    /// [`Model::train_step`], on the kernel only when `avx2` (tests run both paths).
    pub(crate) fn train_step_with(&mut self, b: &Batch, avx2: bool) -> RkResult<f64> {
        if self.graph.is_some() {
            return self.graph_train_step(b);
        }
        self.check_batch(b, true)?;
        if avx2 && b.rows > 0 && !self.layers.is_empty() {
            return Ok(self.train_step_kernel(b));
        }
        self.packs.invalidate();
        self.forward(b.x, b.rows, true);
        let loss = self.loss_and_metrics(b, true, true);
        let nl = self.layers.len();
        let fused = self.loss_fused();
        // The first layer with parameters needs no input gradient.
        let first_param = self
            .layers
            .iter()
            .position(|l| l.n_params() > 0)
            .unwrap_or(nl);
        let threads = self.threads;
        for i in (0..nl).rev() {
            let (g_lo, g_hi) = self.g.split_at_mut(i + 1);
            let g_in = if i > first_param {
                Some(&mut g_lo[i][..])
            } else {
                None
            };
            let input: &[f32] = if i == 0 { b.x } else { &self.a[i] };
            self.layers[i].backward(
                input,
                &self.z[i],
                &self.a[i + 1],
                &self.masks[i],
                &mut g_hi[0],
                g_in,
                b.rows,
                fused && i == nl - 1,
                threads,
            );
            if i <= first_param {
                break;
            }
        }
        let compiled = self.compiled.as_mut().expect("checked");
        compiled.optimizer.begin_step();
        let mut k = 0;
        for l in self.layers.iter_mut() {
            if !l.kernel.is_empty() {
                compiled.optimizer.update(k, &mut l.kernel, &l.grad_kernel);
                k += 1;
            }
            if !l.bias.is_empty() {
                compiled.optimizer.update(k, &mut l.bias, &l.grad_bias);
                k += 1;
            }
        }
        self.step += 1;
        Ok(loss)
    }

    /// Evaluate a batch in inference mode, accumulating into the test tracker. The outputs
    /// are computed on tiles as `evaluate()` computes them, so both give the same figures.
    pub fn test_step(&mut self, b: &Batch) -> RkResult<f64> {
        self.check_batch(b, true)?;
        if b.rows == 0 && self.graph.is_none() {
            return Ok(self.score_outputs(&[], b));
        }
        let d = b.x.len() / b.rows.max(1);
        let fill = crate::infer::row_source(b.x, d);
        self.evaluate_tiled(b.rows, b.rows, fill, b.y, b.w)?;
        Ok(self.test.last_loss)
    }

    /// [`Model::test_step`] through the layers' own forward pass (the tests' reference).
    #[cfg(test)]
    pub fn test_step_layers(&mut self, b: &Batch) -> RkResult<f64> {
        self.check_batch(b, true)?;
        self.forward(b.x, b.rows, false);
        Ok(self.loss_and_metrics(b, false, false))
    }

    /// Predict a batch in inference mode through the step buffers; appends the outputs to
    /// `out`. (The reference the tiled inference of `infer.rs` is tested against.)
    #[cfg(test)]
    pub fn predict_into(&mut self, x: &[f32], rows: usize, out: &mut Vec<f32>) -> RkResult<()> {
        let b = Batch {
            x,
            y: &[],
            w: None,
            rows,
        };
        self.check_batch(&b, false)?;
        out.extend_from_slice(self.forward(x, rows, false));
        Ok(())
    }

    /// Whether the loss gradient is taken through the output activation in one step
    /// (softmax or sigmoid with crossentropy).
    pub(crate) fn loss_fused(&self) -> bool {
        match (
            &self.compiled,
            self.layers.last().and_then(|l| l.activation()),
        ) {
            (Some(c), Some(a)) => c.loss.fuses_with(a),
            _ => false,
        }
    }
}

/// Loss for each row of outputs `p` (with penalties added once) and the metrics, accumulated
/// into `t`; with `g`, also dL/d(output) (or dL/dz when `fused`). Returns the batch loss.
#[allow(clippy::too_many_arguments)]
fn score(
    compiled: &Compiled,
    out: usize,
    fused: bool,
    penalty: f64,
    p: &[f32],
    b: &Batch,
    mut g: Option<&mut [f32]>,
    t: &mut Tracker,
) -> f64 {
    let yc = compiled.loss.target_cols(out);
    let loss = compiled.loss.for_batch(b.y[..b.rows * yc].iter().copied());
    let scale_base = 1.0 / b.rows as f32;
    let mut loss_sum = 0.0f64;
    let kinds: Vec<MetricKind> = compiled
        .metrics
        .iter()
        .map(|k| k.for_batch(b.y[..b.rows * yc].iter().copied()))
        .collect();
    let mut accs: Vec<Acc> = kinds.iter().map(|k| k.acc()).collect();
    for r in 0..b.rows {
        let pr = &p[r * out..(r + 1) * out];
        let y = &b.y[r * yc..(r + 1) * yc];
        let w = b.w.map(|w| w[r]).unwrap_or(1.0);
        loss_sum += (w * loss.sample(pr, y)) as f64;
        for ((acc, &kind), &weighted) in accs.iter_mut().zip(&kinds).zip(&compiled.metric_weighted)
        {
            acc.add(kind, pr, y, if weighted { w } else { 1.0 }, 1.0);
        }
        if let Some(g) = g.as_deref_mut() {
            loss.sample_grad(pr, y, w * scale_base, fused, &mut g[r * out..(r + 1) * out]);
        }
    }
    let batch_loss = loss_sum / b.rows as f64 + penalty;
    t.loss_sum += batch_loss * b.rows as f64;
    t.loss_count += b.rows as f64;
    t.add_metrics(&accs);
    t.keep(b.rows, &p[..b.rows * out], &b.y[..b.rows * yc], b.w);
    t.last_loss = batch_loss;
    batch_loss
}
