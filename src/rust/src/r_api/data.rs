//! `.Call` shims for data: converting it once, training steps over it, evaluation and
//! prediction, single batches (trained on a worker thread while R prepares the next), and
//! the running loss and metrics.

use crate::data::{to_col_major, to_row_major, Dataset, RValues, RowSource};
use crate::error::{RkError, RkResult};
use crate::model::Batch;
use crate::r_api::handle::Handle;
use crate::r_api::model::{dataset, handle, ok, values};
use extendr_api::prelude::*;

type Ret = std::result::Result<Robj, RkError>;

/// Convert training or evaluation data once, on the engine's own thread pool.
#[extendr]
fn rk_data_new(x: Robj, n: f64, d: f64, y: Robj, yc: f64, w: Robj, threads: f64) -> Ret {
    let (n, d, yc) = (n as usize, d as usize, yc as usize);
    let vals = batch_values(&x, &y, &w)?;
    let (xs, ys, ws) =
        crate::threads::pool(threads as usize).install(|| convert_batch(vals, n, d, yc))?;
    let ds = Dataset {
        x: xs,
        y: ys,
        w: ws,
        n,
        d,
        yc,
    };
    ok(ExternalPtr::new(ds))
}

/// Train `n_steps` batches of an epoch whose sample order is `order` (0-based rows),
/// starting at step `from`. Returns the last batch loss.
#[extendr]
fn rk_fit_steps(
    mut model: ExternalPtr<Handle>,
    data: ExternalPtr<Dataset>,
    order: Robj,
    batch_size: f64,
    from: f64,
    n_steps: f64,
) -> Ret {
    let ds = dataset(&data)?;
    let order: Vec<usize> = order
        .as_integer_slice()
        .ok_or_else(|| RkError::Internal("order must be integer".into()))?
        .iter()
        .map(|&i| i as usize)
        .collect();
    if order.iter().any(|&i| i >= ds.n) {
        return Err(RkError::Internal("row index out of range".into()));
    }
    let bs = batch_size as usize;
    let (mut xb, mut yb, mut wb) = (Vec::new(), Vec::new(), Vec::new());
    let loss = handle(&mut model)?.with(|m| {
        let mut loss = f64::NAN;
        for s in from as usize..(from + n_steps) as usize {
            let lo = s * bs;
            if lo >= order.len() {
                break;
            }
            let idx = &order[lo..(lo + bs).min(order.len())];
            ds.gather(idx, &mut xb, &mut yb, &mut wb);
            let b = Batch {
                x: &xb,
                y: &yb,
                w: ds.w.as_ref().map(|_| &wb[..]),
                rows: idx.len(),
            };
            loss = m.train_step(&b)?;
        }
        Ok(loss)
    })?;
    ok(loss)
}

/// Evaluate rows `from..to` of `data` in batches, accumulating into the test tracker.
#[extendr]
fn rk_data_eval(
    mut model: ExternalPtr<Handle>,
    data: ExternalPtr<Dataset>,
    batch_size: f64,
    from: f64,
    to: f64,
) -> Ret {
    let ds = dataset(&data)?;
    let bs = (batch_size as usize).max(1);
    let from = (from as usize).min(ds.n);
    let to = (to as usize).min(ds.n).max(from);
    handle(&mut model)?.with(|m| {
        let d = ds.d;
        let (x, y) = (&ds.x[from * d..to * d], &ds.y[from * ds.yc..to * ds.yc]);
        let w = ds.w.as_ref().map(|w| &w[from..to]);
        let rows = to.saturating_sub(from);
        m.graph_check(&Batch { x, y, w, rows }, false)?;
        // Whole tiles of the stored rows, then loss and metrics batch by batch.
        m.evaluate_tiled(rows, bs, crate::dense::infer::row_source(x, d), y, w)
    })?;
    ok(())
}

/// Evaluate rows `from..to` of the `n x d` R matrix `x` against the targets (and weights)
/// held in `targets` (a dataset of the same rows without inputs): `x` is converted tile by
/// tile as it is predicted, as in `rk_predict_rows`.
#[extendr]
#[allow(clippy::too_many_arguments)]
fn rk_evaluate_rows(
    mut model: ExternalPtr<Handle>,
    x: Robj,
    n: f64,
    d: f64,
    targets: ExternalPtr<Dataset>,
    from: f64,
    to: f64,
    batch_size: f64,
) -> Ret {
    let ds = dataset(&targets)?;
    let (n, d, bs) = (n as usize, d as usize, (batch_size as usize).max(1));
    let xv = values(&x, "x")?;
    if xv.len() != n * d || ds.n != n {
        return Err(RkError::Shape(format!(
            "`x` has {} values and the targets {} rows, expected {n} x {d} and {n}",
            xv.len(),
            ds.n
        )));
    }
    let from = (from as usize).min(n);
    let to = (to as usize).min(n).max(from);
    let y = &ds.y[from * ds.yc..to * ds.yc];
    let w = ds.w.as_ref().map(|w| &w[from..to]);
    handle(&mut model)?.with(|m| {
        let src = RowSource { v: xv, n, d, from };
        let fill = |r0, r1, layout, buf: &mut [f32]| src.fill(r0, r1, layout, buf);
        let done = m.evaluate_tiled(to - from, bs, fill, y, w);
        if done.is_err() {
            crate::data::check_finite("x", xv, n)?;
        }
        done
    })?;
    ok(())
}

/// Predict rows `from..to` of the `n x d` R matrix `x`, converting it piece by piece into
/// a reused buffer (no full copy of the data). Returns R's column-major outputs.
#[extendr]
fn rk_predict_rows(
    mut model: ExternalPtr<Handle>,
    x: Robj,
    n: f64,
    d: f64,
    from: f64,
    to: f64,
    batch_size: f64,
) -> Ret {
    let (n, d) = (n as usize, d as usize);
    let (from, to, bs) = (
        from as usize,
        (to as usize).min(n),
        (batch_size as usize).max(1),
    );
    let xv = values(&x, "x")?;
    if xv.len() != n * d {
        return Err(RkError::Shape(format!(
            "`x` has {} values, expected {n} x {d}",
            xv.len()
        )));
    }
    let mut out = Vec::new();
    let out_dim = handle(&mut model)?.with(|m| {
        // Each worker converts and checks its own tiles of rows as it predicts them.
        let src = RowSource { v: xv, n, d, from };
        let fill = |r0, r1, layout, buf: &mut [f32]| src.fill(r0, r1, layout, buf);
        let done = m.predict_tiled(to.saturating_sub(from), bs, fill, &mut out);
        if done.is_err() {
            crate::data::check_finite("x", xv, n)?;
        }
        done?;
        Ok(m.output_dim().unwrap_or(0))
    })?;
    ok(to_col_major(&out, to.saturating_sub(from), out_dim))
}

/// Running loss and metrics of the train (or test) tracker, optionally resetting it.
#[extendr]
fn rk_tracker(mut model: ExternalPtr<Handle>, training: bool, reset: bool) -> Ret {
    let v = handle(&mut model)?.with(|m| {
        let t = if training { &mut m.train } else { &mut m.test };
        let mut v = vec![t.loss()];
        v.extend((0..t.loss_parts.len()).map(|i| t.loss_part(i)));
        v.extend((0..t.metrics.len()).map(|i| t.metric(i)));
        if reset {
            t.reset();
        }
        Ok(v)
    })?;
    ok(v)
}

/// Whether the trackers keep each scored batch for metrics written in R.
#[extendr]
fn rk_tracker_keep(mut model: ExternalPtr<Handle>, keep: bool) -> Ret {
    handle(&mut model)?.with(|m| {
        for t in [&mut m.train, &mut m.test] {
            t.kept = keep.then(Vec::new);
        }
        Ok(())
    })?;
    ok(())
}

/// The batches the train (or test) tracker kept since the last call, each as
/// `list(y_pred, y_true, sample_weight)` with R matrices.
#[extendr]
fn rk_tracker_take(mut model: ExternalPtr<Handle>, training: bool) -> Ret {
    let kept = handle(&mut model)?.with(|m| {
        let t = if training { &mut m.train } else { &mut m.test };
        Ok(t.kept.as_mut().map(std::mem::take).unwrap_or_default())
    })?;
    let matrix = |v: &[f32], rows: usize| -> Robj {
        let cols = v.len() / rows.max(1);
        let mut r: Robj = to_col_major(v, rows, cols).into();
        let _ = r.set_attrib("dim", [rows as i32, cols as i32]);
        r
    };
    let out: Vec<Robj> = kept
        .iter()
        .map(|b| {
            let w: Robj = match &b.w {
                Some(w) => w.iter().map(|&x| x as f64).collect::<Vec<f64>>().into(),
                None => ().into(),
            };
            List::from_values([matrix(&b.p, b.rows), matrix(&b.y, b.rows), w]).into()
        })
        .collect();
    ok(List::from_values(out))
}

/// A batch converted from R: x, y and optional sample weights, row-major f32.
type BatchData = (Vec<f32>, Vec<f32>, Option<Vec<f32>>);

/// Borrow the values of x, y (NULL allowed) and sample weights (NULL allowed).
fn batch_values(x: &Robj, y: &Robj, w: &Robj) -> RkResult<BatchValues> {
    let opt = |r: &Robj, what: &str| {
        if r.is_null() {
            Ok(None)
        } else {
            values(r, what).map(Some)
        }
    };
    Ok((values(x, "x")?, opt(y, "y")?, opt(w, "sample_weight")?))
}

/// Values of x, optional y and optional sample weights, borrowed from R.
type BatchValues = (
    RValues<'static>,
    Option<RValues<'static>>,
    Option<RValues<'static>>,
);

/// Convert a batch to row-major f32: x is `n x d`, y `n x yc`, weights length n.
fn convert_batch((xv, yv, wv): BatchValues, n: usize, d: usize, yc: usize) -> RkResult<BatchData> {
    let xs = to_row_major("x", xv, n, d)?;
    let ys = match yv {
        Some(v) => to_row_major("y", v, n, yc)?,
        None => Vec::new(),
    };
    let ws = match wv {
        Some(v) => Some(to_row_major("sample_weight", v, n, 1)?),
        None => None,
    };
    Ok((xs, ys, ws))
}

/// One batch: "train" (optionally on a worker thread, collected by `rk_model_join`) or
/// "test" (accumulates into the test tracker). Predictions go through `rk_predict_rows`.
#[extendr]
#[allow(clippy::too_many_arguments)]
fn rk_batch(
    mut model: ExternalPtr<Handle>,
    mode: &str,
    x: Robj,
    n: f64,
    d: f64,
    y: Robj,
    yc: f64,
    w: Robj,
    background: bool,
) -> Ret {
    let (n, d, yc) = (n as usize, d as usize, yc as usize);
    if mode == "train" && background {
        // The worker converts the batch itself, so R goes on at once; the R objects stay
        // alive in the handle until the step is joined.
        let vals = batch_values(&x, &y, &w)?;
        handle(&mut model)?.spawn(vec![x, y, w], move |m| {
            let (xs, ys, ws) = convert_batch(vals, n, d, yc)?;
            m.train_step(&Batch {
                x: &xs,
                y: &ys,
                w: ws.as_deref(),
                rows: n,
            })
        })?;
        return ok(());
    }
    let vals = batch_values(&x, &y, &w)?;
    let train = match mode {
        "train" => true,
        "test" => false,
        other => return Err(RkError::Internal(format!("unknown batch mode {other}"))),
    };
    // Converted inside the engine's pool (its parallel parts must not wake rayon's global
    // pool, whose threads would then compete with the step's).
    ok(handle(&mut model)?.with(|m| {
        let (xs, ys, ws) = convert_batch(vals, n, d, yc)?;
        let b = Batch {
            x: &xs,
            y: &ys,
            w: ws.as_deref(),
            rows: n,
        };
        match train {
            true => m.train_step(&b),
            false => m.test_step(&b),
        }
    })?)
}

/// Wait for a background step; returns its loss, or NULL when none was running.
#[extendr]
fn rk_model_join(mut model: ExternalPtr<Handle>) -> Ret {
    match handle(&mut model)?.join()? {
        Some(l) => ok(l),
        None => ok(()),
    }
}

extendr_module! {
    mod rk_data_api;
    fn rk_data_new;
    fn rk_fit_steps;
    fn rk_data_eval;
    fn rk_evaluate_rows;
    fn rk_tracker;
    fn rk_tracker_keep;
    fn rk_tracker_take;
    fn rk_predict_rows;
    fn rk_batch;
    fn rk_model_join;
}
