//! The graph's executor: training steps, evaluation and inference of any model, and the
//! model's one scoring function. Data arrive as `x [rows, sum of input widths]` with the inputs side by side,
//! `y [rows, sum of target widths]` with the outputs' targets side by side, each sample
//! row-major as Keras lays it out. An output of shape `(..., C)` is scored at each of its
//! positions and the position losses averaged per sample, as Keras's losses reduce.

use super::{Graph, Pass};
use crate::dense::infer::Layout;
use crate::error::{RkError, RkResult};
use crate::layers::Tensor;
use crate::losses::Loss;
use crate::metrics::{Acc, MetricKind, Tracker};
use crate::model::{Batch, Compiled, Model};

/// Rows per forward pass of inference.
const TILE_ROWS: usize = 256;
/// Values of the widest node per forward pass of inference: fewer rows for large images,
/// so that each piece's buffers stay in memory the allocator has mapped already.
const TILE_VALUES: usize = 1 << 22;

/// Per output: its width, its classes (last axis) and positions, and its targets' width.
#[derive(Clone, Copy, Debug)]
struct OutDims {
    width: usize,
    classes: usize,
    positions: usize,
    y_width: usize,
}

/// How a batch's outputs are scored: whether to take the outputs' gradients, the tracker
/// (training or test), the weights' and activities' penalty, whether the last layer is
/// fused with the loss (the dense plan), and the pass's node values (for losses written
/// in R that read the model's tensors).
pub(crate) struct Scoring<'a> {
    pub want_grad: bool,
    pub training: bool,
    pub penalty: f64,
    pub fused: bool,
    pub nodes: Option<&'a [Tensor]>,
}

/// A batch's loss, the gradient of each output, and gradients reaching other nodes (from
/// losses that read them).
pub(crate) struct Scored {
    pub loss: f64,
    pub grads: Vec<Vec<f32>>,
    pub seeds: Vec<(usize, Tensor)>,
}

/// A batch's loss, the gradients of the graph's outputs, and those reaching other nodes.
type Graded = (f64, Vec<Tensor>, Vec<(usize, Tensor)>);

/// The mean of each row's activity-regularization penalty (0 when none was kept).
fn mean(rows: &[f64]) -> f64 {
    rows.iter().sum::<f64>() / rows.len().max(1) as f64
}

fn out_dims(g: &Graph, c: &Compiled) -> Vec<OutDims> {
    g.outputs
        .iter()
        .zip(&c.losses)
        .map(|(&n, loss)| {
            let s = &g.shapes[n];
            let width: usize = s.iter().product();
            let classes = s.last().copied().unwrap_or(1).max(1);
            let positions = width / classes;
            OutDims {
                width,
                classes,
                positions,
                y_width: positions * loss.target_cols(classes),
            }
        })
        .collect()
}

impl Model {
    fn graph(&self) -> RkResult<&Graph> {
        let g = self
            .graph
            .as_ref()
            .ok_or_else(|| RkError::Internal("not a graph model".into()))?;
        if !g.built() {
            return Err(RkError::State("the model is not built".into()));
        }
        Ok(g)
    }

    fn compiled(&self) -> RkResult<&Compiled> {
        self.compiled.as_ref().ok_or_else(|| {
            RkError::State(
                "the model must be compiled before training or evaluation; call compile() first"
                    .into(),
            )
        })
    }

    /// Widths of the model's input rows and target rows (for the data checks).
    pub(crate) fn graph_check(&self, b: &Batch, y_needed: bool) -> RkResult<()> {
        let g = self.graph()?;
        let d: usize = g.input_widths().iter().sum();
        if b.x.len() != b.rows * d && !(b.x.is_empty() && y_needed) {
            return Err(RkError::Shape(format!(
                "the model's inputs take {d} values per sample, got {}",
                b.x.len() / b.rows.max(1)
            )));
        }
        if !y_needed {
            return Ok(());
        }
        let c = self.compiled()?;
        let dims = out_dims(g, c);
        let yc: usize = dims.iter().map(|o| o.y_width).sum();
        if b.y.len() != b.rows * yc {
            return Err(RkError::Shape(format!(
                "targets have {} values per sample but the model's outputs take {yc}",
                b.y.len() / b.rows.max(1)
            )));
        }
        let mut off = 0;
        for (o, (loss, od)) in c.losses.iter().zip(&dims).enumerate() {
            if loss.is_sparse() {
                for r in 0..b.rows {
                    for &v in &b.y[r * yc + off..r * yc + off + od.y_width] {
                        if v < 0.0 || v as usize >= od.classes || v.fract() != 0.0 {
                            return Err(RkError::Value(format!(
                                "label {v} at row {} of output {} is not a class id in 0..{}",
                                r + 1,
                                o + 1,
                                od.classes - 1
                            )));
                        }
                    }
                }
            }
            off += od.y_width;
        }
        Ok(())
    }

    /// One training step on the graph's executor.
    pub(crate) fn graph_train_step(&mut self, b: &Batch) -> RkResult<f64> {
        self.graph_check(b, true)?;
        let threads = self.threads;
        let keys = [self.fit_seed, self.step];
        let g = self.graph()?;
        let pass = g.forward(b.x, b.rows, true, keys, threads)?;
        let (loss, grads, seeds) = self.graph_score(&pass, b, true, true)?;
        let g = self.graph()?;
        let mut pgrads = g.backward_seeded(&pass, grads, seeds, threads)?;
        let compiled = self.compiled.as_mut().expect("checked");
        let graph = self.graph.as_mut().expect("checked");
        graph.update_state(&pass);
        drop(pass);
        compiled.optimizer.begin_step();
        if compiled.optimizer.options.clips() {
            // Clipping sees every trainable parameter's gradient (frozen layers have none).
            let mut trainable: Vec<&mut [f32]> = Vec::new();
            for (slot, pg) in graph.slots.iter().zip(pgrads.iter_mut()) {
                if let Some(layer) = &slot.layer {
                    for (p, g) in layer.params().iter().zip(pg.iter_mut()) {
                        if p.trainable {
                            trainable.push(g.as_slice_mut().expect("standard layout"));
                        }
                    }
                }
            }
            compiled.optimizer.clip(&mut trainable);
        }
        // Optimizer slots are numbered over every parameter (the order of `get_weights()`);
        // a frozen layer's parameters keep their numbers but get no update (and no gradient).
        let mut k = 0;
        for (slot, pg) in graph.slots.iter_mut().zip(pgrads) {
            let Some(layer) = slot.layer.as_mut() else {
                continue;
            };
            let params = layer.params_mut();
            let n = params.len();
            if slot.trainable {
                for (i, (p, gr)) in params.into_iter().zip(&pg).enumerate() {
                    if p.trainable {
                        let w = p.value.as_slice_mut().expect("standard layout");
                        compiled.optimizer.update(
                            k + i,
                            w,
                            gr.as_slice().expect("standard layout"),
                        );
                    }
                }
            }
            k += n;
        }
        self.weights_changed();
        self.step += 1;
        Ok(loss)
    }

    /// Loss and metrics of a pass's outputs into the train or test tracker; with
    /// `want_grad`, also the gradient of the loss with respect to each output.
    fn graph_score(
        &mut self,
        pass: &Pass,
        b: &Batch,
        want_grad: bool,
        training: bool,
    ) -> RkResult<Graded> {
        let g = self.graph()?;
        let outs: Vec<&[f32]> = g
            .outputs
            .iter()
            .map(|&n| pass.values[n].as_slice().expect("standard layout"))
            .collect();
        let penalty = g.penalty() + mean(&pass.activity);
        let scoring = Scoring {
            want_grad,
            training,
            penalty,
            fused: false,
            nodes: Some(&pass.values),
        };
        let scored = self.score_slices(&outs, b, scoring)?;
        let g = self.graph()?;
        let grads = scored
            .grads
            .into_iter()
            .zip(&g.outputs)
            .map(|(v, &n)| crate::layers::tensor(b.rows, &g.shapes[n], v))
            .collect::<RkResult<Vec<_>>>()?;
        Ok((scored.loss, grads, scored.seeds))
    }

    /// Score outputs given as one row-major slice per output: the model's one scoring
    /// function. With `fused`, the gradient of a softmax or sigmoid output's crossentropy is
    /// taken with respect to the activation's input (the dense plan's fused last layer).
    pub(crate) fn score_slices(
        &mut self,
        outs: &[&[f32]],
        b: &Batch,
        s: Scoring,
    ) -> RkResult<Scored> {
        let Scoring {
            want_grad,
            training,
            penalty,
            fused,
            nodes,
        } = s;
        let g = self.graph()?;
        let c = self.compiled()?;
        let dims = out_dims(g, c);
        let yc: usize = dims.iter().map(|o| o.y_width).sum();
        let rows = b.rows;
        let n_out = dims.len();
        let mut grads: Vec<Vec<f32>> = if want_grad {
            dims.iter().map(|o| vec![0.0; rows * o.width]).collect()
        } else {
            Vec::new()
        };
        let mut part_sums = vec![0.0f64; n_out];
        let scale = 1.0 / rows.max(1) as f32;
        // Each output's loss and metrics as Keras applies them to this batch's targets.
        let mut offsets = Vec::with_capacity(n_out);
        let mut yoff = 0;
        for od in &dims {
            offsets.push(yoff);
            yoff += od.y_width;
        }
        let targets = |o: usize| {
            let (off, wd) = (offsets[o], dims[o].y_width);
            (0..rows).flat_map(move |r| b.y[r * yc + off..r * yc + off + wd].iter().copied())
        };
        let losses: Vec<Loss> = (0..n_out)
            .map(|o| c.losses[o].for_batch(targets(o)))
            .collect();
        let kinds: Vec<MetricKind> = c
            .metrics
            .iter()
            .zip(&c.metric_outputs)
            .map(|(k, &o)| k.for_batch(targets(o)))
            .collect();
        let mut accs: Vec<Acc> = kinds.iter().map(|k| k.acc()).collect();
        // Losses written in R run over the whole batch.
        let mut custom_rows: Vec<Option<Vec<f32>>> = vec![None; n_out];
        let mut seeds = Vec::new();
        for (o, loss) in c.custom.iter().enumerate() {
            let Some(loss) = loss else { continue };
            let od = &dims[o];
            let y: Vec<f32> = targets(o).collect();
            let grad = if want_grad {
                Some(&mut grads[o][..])
            } else {
                None
            };
            let read: Vec<&Tensor> = match nodes {
                Some(values) => loss
                    .nodes
                    .iter()
                    .map(|&n| {
                        values.get(n).ok_or_else(|| {
                            RkError::Internal(format!(
                                "a loss reads node {n}, which is not in the model"
                            ))
                        })
                    })
                    .collect::<RkResult<_>>()?,
                None if loss.nodes.is_empty() => Vec::new(),
                None => {
                    return Err(RkError::Internal(
                        "a loss reading the model's tensors needs the graph's pass".into(),
                    ))
                }
            };
            let scored = super::custom_loss::custom_loss_rows(
                loss,
                (&outs[o][..rows * od.width], &y),
                (&g.shapes[g.outputs[o]], &read),
                (rows, rows),
                b.w,
                c.loss_weights[o],
                grad,
            )?;
            seeds.extend(scored.node_grads);
            custom_rows[o] = Some(scored.rows);
        }
        for r in 0..rows {
            let w = b.w.map(|w| w[r]).unwrap_or(1.0);
            let mut yoff = r * yc;
            for (o, od) in dims.iter().enumerate() {
                let loss = losses[o];
                let lw = c.loss_weights[o];
                let p = &outs[o][r * od.width..(r + 1) * od.width];
                let y = &b.y[yoff..yoff + od.y_width];
                yoff += od.y_width;
                let ypos = od.y_width / od.positions;
                let inv = 1.0 / od.positions as f32;
                let custom = custom_rows[o].as_ref();
                let mut l = custom.map_or(0.0, |c| c[r] * od.positions as f32);
                for k in 0..od.positions {
                    let pk = &p[k * od.classes..(k + 1) * od.classes];
                    let yk = &y[k * ypos..(k + 1) * ypos];
                    if custom.is_none() {
                        l += loss.sample(pk, yk);
                    }
                    for (m, acc) in accs.iter_mut().enumerate() {
                        if c.metric_outputs[m] == o {
                            let wm = if c.metric_weighted[m] { w } else { 1.0 };
                            acc.add(kinds[m], pk, yk, wm, inv);
                        }
                    }
                    if want_grad && custom.is_none() {
                        let gk = &mut grads[o]
                            [r * od.width + k * od.classes..r * od.width + (k + 1) * od.classes];
                        loss.sample_grad(pk, yk, lw * w * scale * inv, fused, gk);
                    }
                }
                part_sums[o] += (w * l * inv) as f64;
            }
        }
        let parts: Vec<f64> = part_sums.iter().map(|s| s / rows.max(1) as f64).collect();
        let batch_loss: f64 = parts
            .iter()
            .zip(&c.loss_weights)
            .map(|(p, &lw)| p * lw as f64)
            .sum::<f64>()
            + penalty;
        let t: &mut Tracker = if training {
            &mut self.train
        } else {
            &mut self.test
        };
        t.loss_sum += batch_loss * rows as f64;
        t.loss_count += rows as f64;
        // The trackers were sized by `compile` (one loss part per output when there are
        // several, one sum per metric).
        for (acc, p) in t.loss_parts.iter_mut().zip(&parts) {
            *acc += p * rows as f64;
        }
        t.add_metrics(&accs);
        if t.kept.is_some() && outs.len() == 1 {
            t.keep(
                rows,
                &outs[0][..rows * dims[0].width],
                &b.y[..rows * yc],
                b.w,
            );
        }
        t.last_loss = batch_loss;
        Ok(Scored {
            loss: batch_loss,
            grads,
            seeds,
        })
    }

    /// Inference on the graph's executor: `rows` samples in batches of `batch`, appending
    /// each sample's outputs side by side (`[rows, sum of output widths]`) to `out`.
    pub(crate) fn graph_predict<F>(
        &mut self,
        rows: usize,
        batch: usize,
        fill: F,
        out: &mut Vec<f32>,
    ) -> RkResult<()>
    where
        F: Fn(usize, usize, Layout, &mut [f32]) -> RkResult<()> + Sync,
    {
        self.graph_predict_with(rows, batch, fill, out, None)
    }

    /// [`Model::graph_predict`], also appending each row's activity-regularization penalty
    /// to `activity` when given.
    fn graph_predict_with<F>(
        &mut self,
        rows: usize,
        batch: usize,
        fill: F,
        out: &mut Vec<f32>,
        mut activity: Option<&mut Vec<f64>>,
    ) -> RkResult<()>
    where
        F: Fn(usize, usize, Layout, &mut [f32]) -> RkResult<()> + Sync,
    {
        // Random operations (`k_random_normal()` in a layer_lambda()) draw anew in each
        // call and each batch, as in Keras.
        self.infer_calls = self.infer_calls.wrapping_add(1);
        let call = self.infer_calls | 1 << 63;
        let g = self.graph()?;
        let d: usize = g.input_widths().iter().sum();
        let widths = g.output_widths();
        let total: usize = widths.iter().sum();
        out.reserve(rows * total);
        let mut buf = Vec::new();
        // Inference has no batch semantics (pieces of at most TILE_ROWS rows keep the
        // activations in cache), except where a layer carries state from batch to batch.
        // The inputs are read from R in chunks of several pieces (fewer passes over R's
        // columns).
        let (chunk, piece) = if g.is_stateful() {
            (batch.max(1), batch.max(1))
        } else {
            let widest = g
                .shapes
                .iter()
                .map(|s| s.iter().product::<usize>())
                .max()
                .unwrap_or(1);
            let most = batch.clamp(1, TILE_ROWS);
            let piece = most.min((TILE_VALUES / widest.max(1)).max(1));
            let chunk = most.min((4 * TILE_VALUES / d.max(1)).max(piece));
            (chunk, piece)
        };
        // The values each piece drops are reused by the next.
        let _recycling = crate::layers::Recycling::open();
        let plan = g.plan();
        for c0 in (0..rows).step_by(chunk) {
            let c1 = (c0 + chunk).min(rows);
            buf.resize((c1 - c0) * d, 0.0);
            fill(c0, c1, Layout::Rows, &mut buf)?;
            for b0 in (c0..c1).step_by(piece) {
                let b1 = (b0 + piece).min(c1);
                let x = &buf[(b0 - c0) * d..(b1 - c0) * d];
                let pass = g.infer(&plan, x, b1 - b0, [call, b0 as u64], self.threads)?;
                if let Some(a) = activity.as_deref_mut() {
                    a.extend(pass.activity.iter().copied());
                    a.resize(b1, 0.0);
                }
                let outs: Vec<&[f32]> = g
                    .outputs
                    .iter()
                    .map(|&n| pass.values[n].as_slice().expect("standard"))
                    .collect();
                for r in 0..b1 - b0 {
                    for (o, w) in outs.iter().zip(&widths) {
                        out.extend_from_slice(&o[r * w..(r + 1) * w]);
                    }
                }
                pass.values.into_iter().for_each(crate::layers::recycle);
            }
        }
        Ok(())
    }

    /// [`Model::evaluate_tiled`] for a model whose loss reads its nodes' values (a loss
    /// written in R over the model's tensors): each batch is run forward and scored on its
    /// pass.
    fn evaluate_by_pass<F>(
        &mut self,
        rows: usize,
        batch: usize,
        fill: F,
        y: &[f32],
        w: Option<&[f32]>,
    ) -> RkResult<()>
    where
        F: Fn(usize, usize, Layout, &mut [f32]) -> RkResult<()> + Sync,
    {
        let batch = batch.max(1);
        let yc = y.len() / rows.max(1);
        let mut buf = Vec::new();
        for b0 in (0..rows).step_by(batch) {
            let b1 = (b0 + batch).min(rows);
            let g = self.graph()?;
            let d: usize = g.input_widths().iter().sum();
            buf.resize((b1 - b0) * d, 0.0);
            fill(b0, b1, Layout::Rows, &mut buf)?;
            self.infer_calls = self.infer_calls.wrapping_add(1);
            let keys = [self.infer_calls | 1 << 63, b0 as u64];
            let g = self.graph()?;
            let pass = g.forward(&buf, b1 - b0, false, keys, self.threads)?;
            let bt = Batch {
                x: &[],
                y: &y[b0 * yc..b1 * yc],
                w: w.map(|w| &w[b0..b1]),
                rows: b1 - b0,
            };
            self.graph_score(&pass, &bt, false, false)?;
        }
        Ok(())
    }

    /// Evaluate `rows` samples in batches of `batch` into the test tracker: the outputs by
    /// [`Model::predict_tiled`] (on the dense plan or the graph), then loss and metrics batch
    /// by batch, in order. `y` holds the targets row-major, `w` optional sample weights.
    pub fn evaluate_tiled<F>(
        &mut self,
        rows: usize,
        batch: usize,
        fill: F,
        y: &[f32],
        w: Option<&[f32]>,
    ) -> RkResult<()>
    where
        F: Fn(usize, usize, Layout, &mut [f32]) -> RkResult<()> + Sync,
    {
        self.graph_check(&Batch { x: &[], y, w, rows }, true)?;
        let reads_nodes = self
            .compiled()?
            .custom
            .iter()
            .flatten()
            .any(|l| !l.nodes.is_empty());
        // Losses that layers add are losses of whole batches (a sum over the batch is not
        // the sum of its pieces').
        let adds_losses = self
            .graph()?
            .slots
            .iter()
            .any(|s| s.layer.as_ref().is_some_and(|l| l.adds_loss()));
        if reads_nodes || adds_losses {
            return self.evaluate_by_pass(rows, batch, fill, y, w);
        }
        let mut out = Vec::new();
        // Layers with activity regularization add each batch's penalty to its loss.
        let regularized = self.graph()?.slots.iter().any(|s| s.activity.is_some());
        let mut activity = Vec::new();
        if regularized {
            self.graph_predict_with(rows, batch, fill, &mut out, Some(&mut activity))?;
        } else {
            self.predict_tiled(rows, batch, fill, &mut out)?;
        }
        let g = self.graph()?;
        let widths = g.output_widths();
        let total: usize = widths.iter().sum();
        let yc = y.len() / rows.max(1);
        let penalty = g.penalty();
        let batch = batch.max(1);
        for b0 in (0..rows).step_by(batch) {
            let b1 = (b0 + batch).min(rows);
            // Regroup this batch's outputs per output.
            let mut per: Vec<Vec<f32>> = widths
                .iter()
                .map(|w| Vec::with_capacity((b1 - b0) * w))
                .collect();
            for r in b0..b1 {
                let mut off = r * total;
                for (p, &wd) in per.iter_mut().zip(&widths) {
                    p.extend_from_slice(&out[off..off + wd]);
                    off += wd;
                }
            }
            let slices: Vec<&[f32]> = per.iter().map(|v| &v[..]).collect();
            let bt = Batch {
                x: &[],
                y: &y[b0 * yc..b1 * yc],
                w: w.map(|w| &w[b0..b1]),
                rows: b1 - b0,
            };
            let act = activity.get(b0..b1).map_or(0.0, mean);
            let scoring = Scoring {
                want_grad: false,
                training: false,
                penalty: penalty + act,
                fused: false,
                nodes: None,
            };
            self.score_slices(&slices, &bt, scoring)?;
        }
        Ok(())
    }
}
