//! Discretization (a preprocessing layer), as Keras 3 computes it: each value becomes the
//! index of its bin, `i` where `boundaries[i - 1] <= x < boundaries[i]` (NumPy's
//! `digitize()`), then encoded as `output_mode` says ([`Encoding`]). The boundaries are the
//! config's `bin_boundaries`, or learnt by `adapt()` with Keras's approximate quantiles
//! ([`quantile_boundaries`]). Not differentiable: the inputs' gradient is zero.
//!
//! # Shapes
//! As [`Encoding::shape`], over `len(boundaries) + 1` bins.

use super::category::{refuse_sparse, Encoding};
use super::{Cache, Ctx, Layer, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct Discretization {
    boundaries: Option<Vec<f64>>,
    num_bins: Option<usize>,
    epsilon: f64,
    mode: Encoding,
}

impl Discretization {
    pub fn from_config(c: &Value) -> RkResult<Discretization> {
        let class = "Discretization";
        let boundaries: Option<Vec<f64>> = super::field_or(c, class, "bin_boundaries", None)?;
        let num_bins: Option<usize> = super::field_or(c, class, "num_bins", None)?;
        if boundaries.is_none() && num_bins.is_none() {
            return Err(RkError::Spec(format!(
                "{class} needs `bin_boundaries` or `num_bins`"
            )));
        }
        if let Some(b) = &boundaries {
            if b.iter().any(|v| !v.is_finite()) || b.windows(2).any(|w| w[0] > w[1]) {
                return Err(RkError::Spec(format!(
                    "{class} `bin_boundaries` must be finite and increasing"
                )));
            }
        }
        refuse_sparse(c, class)?;
        let mode: String = super::field_or(c, class, "output_mode", "int".to_string())?;
        Ok(Discretization {
            boundaries,
            num_bins,
            epsilon: super::field_or(c, class, "epsilon", 0.01)?,
            mode: Encoding::parse(class, &mode, true)?,
        })
    }

    /// The number of bins: one more than the boundaries (or `num_bins` before `adapt()`).
    fn depth(&self) -> usize {
        match (&self.boundaries, self.num_bins) {
            (Some(b), _) => b.len() + 1,
            (None, Some(n)) => n,
            (None, None) => 1,
        }
    }
}

impl Layer for Discretization {
    fn class_name(&self) -> &'static str {
        "Discretization"
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let s = super::one_input(name, inputs)?;
        Ok(self.mode.shape(s, self.depth()))
    }

    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let Some(bounds) = &self.boundaries else {
            return Err(RkError::State(
                "a Discretization layer needs `bin_boundaries`, or adapt() before it is used"
                    .into(),
            ));
        };
        let x = xs[0];
        let bins: Vec<f32> = x
            .as_slice()
            .expect("standard")
            .iter()
            .map(|&v| bounds.partition_point(|&b| b <= v as f64) as f32)
            .collect();
        let bins = super::shaped_like(x, bins)?;
        Ok((self.mode.encode(&bins, self.depth())?, None))
    }

    crate::no_input_gradient!();

    fn config_has_trainable(&self) -> bool {
        false
    }

    fn config(&self) -> Value {
        json!({
            "bin_boundaries": self.boundaries,
            "num_bins": self.num_bins,
            "epsilon": self.epsilon,
            "output_mode": self.mode.name(),
            "sparse": false,
        })
    }
}

/// Keras's `adapt()` boundaries of `num_bins` bins for `values` (one batch), with its
/// summary of tolerance `epsilon`, in its precisions: the values and the summaries in
/// single precision, the interpolation in double.
pub fn quantile_boundaries(values: &[f64], epsilon: f64, num_bins: usize) -> Vec<f64> {
    // summarize(): every `step`-th sorted value, weighted by the step.
    let mut v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
    v.sort_by(f32::total_cmp);
    let increment = v.len() as f64 / (1.0 / epsilon);
    let step = increment.max(1.0);
    let (start, stride) = ((step - 1.0) as usize, (step as usize).max(1));
    let bounds: Vec<f32> = v.iter().skip(start).step_by(stride).copied().collect();
    let weights = vec![step as f32; bounds.len()];
    // merge_summaries() with the empty summary: a stable sort by value, then compression.
    let summary = compress(bounds, weights, epsilon);
    let (bins, _) = compress(summary.0, summary.1, 1.0 / num_bins as f64);
    bins[..bins.len().saturating_sub(1)]
        .iter()
        .map(|&b| b as f64)
        .collect()
}

/// Keras's `compress_summary()`: the summary resampled at cumulative-weight fractions
/// `epsilon, 2 epsilon, ...` (NumPy's `interp()`), unless it is already small enough.
fn compress(values: Vec<f32>, weights: Vec<f32>, epsilon: f64) -> (Vec<f32>, Vec<f32>) {
    if (values.len() as f64) * epsilon < 1.0 {
        return (values, weights);
    }
    // np.arange(0.0, 1.0, epsilon): ceil(1 / epsilon) values.
    let n = (1.0 / epsilon).ceil() as usize;
    let percents: Vec<f64> = (0..n).map(|i| epsilon + i as f64 * epsilon).collect();
    let mut cum = Vec::with_capacity(weights.len());
    let mut acc = 0.0f32;
    for &w in &weights {
        acc += w;
        cum.push(acc);
    }
    let total = *cum.last().expect("non-empty");
    let cum_pct: Vec<f64> = cum.iter().map(|&c| (c / total) as f64).collect();
    let xs: Vec<f64> = values.iter().map(|&v| v as f64).collect();
    let cum64: Vec<f64> = cum.iter().map(|&c| c as f64).collect();
    let new_bins: Vec<f64> = percents.iter().map(|&p| interp(p, &cum_pct, &xs)).collect();
    let new_cum: Vec<f64> = percents
        .iter()
        .map(|&p| interp(p, &cum_pct, &cum64))
        .collect();
    let new_weights: Vec<f32> = new_cum
        .iter()
        .enumerate()
        .map(|(i, &c)| (c - if i == 0 { 0.0 } else { new_cum[i - 1] }) as f32)
        .collect();
    (new_bins.iter().map(|&b| b as f32).collect(), new_weights)
}

/// NumPy's `interp(x, xp, fp)` for increasing `xp`.
fn interp(x: f64, xp: &[f64], fp: &[f64]) -> f64 {
    let n = xp.len();
    if x < xp[0] {
        return fp[0];
    }
    if x >= xp[n - 1] {
        return fp[n - 1];
    }
    // The last j with xp[j] <= x (so xp[j + 1] > x).
    let j = xp.partition_point(|&v| v <= x) - 1;
    if xp[j] == x {
        return fp[j];
    }
    let slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    let y = slope * (x - xp[j]) + fp[j];
    if y.is_nan() {
        slope * (x - xp[j + 1]) + fp[j + 1]
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_follow_numpy_digitize() {
        let layer =
            Discretization::from_config(&json!({"bin_boundaries": [0.0, 1.0, 2.5]})).unwrap();
        let x = super::super::tensor(1, &[6], vec![-1.0, 0.0, 0.5, 1.0, 2.5, 9.0]).unwrap();
        let mut ctx = crate::layers::test_ctx(false, Rng::keyed(&[1]));
        let (y, _) = layer.forward(&[&x], &mut ctx).unwrap();
        assert_eq!(y.as_slice().unwrap(), &[0.0, 1.0, 1.0, 2.0, 3.0, 3.0]);
    }

    #[test]
    fn quantiles_of_a_uniform_grid() {
        // 1..=100 in 4 bins: Keras's summary keeps every value; the quartiles interpolate
        // in single precision (NumPy gives 24.999983, 49.99998, 74.999985).
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let b = quantile_boundaries(&v, 0.01, 4);
        assert_eq!(
            b,
            vec![24.999982833862305, 49.99998092651367, 74.99998474121094]
        );
    }
}
