//! Steps on a model: the data check, the choice of executor (the dense plan when the graph
//! allows it, `plan.rs`, else the graph's), and the dense plan's layer-by-layer path (the
//! `gemm` fallback of the AVX2 kernel of `train.rs`). Executors depend on the model
//! (`model.rs`), never the reverse.

use crate::dense::chain::Kind;
use crate::error::RkResult;
use crate::model::{Batch, Model};
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

    /// Forward `b.x` through every layer into the buffers; returns the output slice.
    fn forward(&mut self, x: &[f32], rows: usize, training: bool) -> RkResult<&[f32]> {
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
            // Keyed by the layer's graph node (node 0 is the input), as the graph's executor keys it,
            // so both draw the same dropout masks.
            let mut rng = Rng::keyed(&[self.fit_seed, self.step, i as u64 + 1]);
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
            )?;
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
        Ok(&self.a[nl][..n])
    }

    /// Loss and metrics of the plan's current output (with the penalties of the weights it
    /// borrowed), accumulated into the train or test tracker by the model's one scoring
    /// function; with `want_grad`, also fills the output gradient.
    pub(crate) fn loss_and_metrics(&mut self, b: &Batch, want_grad: bool, training: bool) -> f64 {
        let nl = self.layers.len();
        let penalty: f64 = self.layers.iter().map(|l| l.penalty()).sum();
        let fused = self.loss_fused();
        let n = b.rows * self.output_dim().unwrap_or(0);
        let a = std::mem::take(&mut self.a);
        let scoring = crate::graph::exec::Scoring {
            want_grad,
            training,
            penalty,
            fused,
            nodes: None,
        };
        let scored = self.score_slices(&[&a[nl][..n]], b, scoring);
        self.a = a;
        let scored = scored.expect("checked by graph_check");
        if let Some(g) = scored.grads.first() {
            self.g[nl][..n].copy_from_slice(g);
        }
        scored.loss
    }

    /// One training step on a batch: forward, loss, backward, optimizer update. With AVX2
    /// it runs on the kernel in phases (`train.rs`); otherwise layer by layer through `gemm`.
    pub fn train_step(&mut self, b: &Batch) -> RkResult<f64> {
        self.train_step_with(b, crate::dense::kernel::available())
    }

    /// [`Model::train_step`], on the kernel only when `avx2` (tests run both paths).
    pub(crate) fn train_step_with(&mut self, b: &Batch, avx2: bool) -> RkResult<f64> {
        if !self.uses_plan() {
            return self.graph_train_step(b);
        }
        self.graph_check(b, true)?;
        self.on_plan(|m| m.plan_train_step(b, avx2))
    }

    /// A training step of the dense plan (the graph's weights lent to its layers).
    fn plan_train_step(&mut self, b: &Batch, avx2: bool) -> RkResult<f64> {
        if avx2 && b.rows > 0 {
            return self.train_step_kernel(b);
        }
        self.packs.invalidate();
        self.forward(b.x, b.rows, true)?;
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
            )?;
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
        self.graph_check(b, true)?;
        let d = b.x.len() / b.rows.max(1);
        let fill = crate::dense::infer::row_source(b.x, d);
        self.evaluate_tiled(b.rows, b.rows, fill, b.y, b.w)?;
        Ok(self.test.last_loss)
    }

    /// [`Model::test_step`] through the layers' own forward pass (the tests' reference).
    #[cfg(test)]
    pub fn test_step_layers(&mut self, b: &Batch) -> RkResult<f64> {
        self.graph_check(b, true)?;
        assert!(self.uses_plan());
        self.on_plan(|m| {
            m.forward(b.x, b.rows, false)?;
            Ok(m.loss_and_metrics(b, false, false))
        })
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
        self.graph_check(&b, false)?;
        assert!(self.uses_plan());
        self.on_plan(|m| {
            out.extend_from_slice(m.forward(x, rows, false)?);
            Ok(())
        })
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
