//! `.Call` shims for losses and metrics called on data from R (`loss_huber(y, p)`,
//! `metric_auc(y, p)`): the engine's own formulas, so R and training agree.
use crate::data::to_row_major;
use crate::error::RkError;
use crate::metrics::{Acc, MetricKind};
use crate::r_api::model::values;
use extendr_api::prelude::*;

type Ret = std::result::Result<Robj, RkError>;

/// Per-sample values of a loss (`loss:<name>`) or of a mean metric, on R matrices `y [n, yc]`
/// and `p [n, pc]`; a confusion-matrix metric (precision, recall, AUC) gives its one value
/// over all rows, weighted by `w` when it is given.
#[extendr]
fn rk_metric_values(spec: &str, y: Robj, p: Robj, n: f64, yc: f64, pc: f64, w: Robj) -> Ret {
    let (n, yc, pc) = (n as usize, yc as usize, pc as usize);
    let kind = MetricKind::parse(spec)?;
    let y = to_row_major("y_true", values(&y, "y_true")?, n, yc)?;
    let p = to_row_major("y_pred", values(&p, "y_pred")?, n, pc)?;
    let w: Option<Vec<f64>> = if w.is_null() {
        None
    } else {
        Some(
            w.as_real_vector()
                .ok_or_else(|| RkError::Value("`sample_weight` must be numeric".into()))?,
        )
    };
    let kind = kind.for_batch(y.iter().copied());
    let row = |r: usize| (&p[r * pc..(r + 1) * pc], &y[r * yc..(r + 1) * yc]);
    let mut acc = kind.acc();
    if let Acc::Mean { .. } = acc {
        let v: Vec<f64> = (0..n)
            .map(|r| {
                let (pr, yr) = row(r);
                kind.sample(pr, yr) as f64
            })
            .collect();
        return Ok(v.into());
    }
    for r in 0..n {
        let (pr, yr) = row(r);
        acc.add(kind, pr, yr, w.as_ref().map_or(1.0, |w| w[r] as f32), 1.0);
    }
    Ok(acc.value(kind).into())
}

/// Checks a metric or loss specification, as `compile()` will read it.
#[extendr]
fn rk_metric_check(spec: &str) -> Ret {
    MetricKind::parse(spec).map(|_| ().into())
}

extendr_module! {
    mod rk_metrics_api;
    fn rk_metric_values;
    fn rk_metric_check;
}
