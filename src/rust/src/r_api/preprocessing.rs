//! Preprocessing layers' state learnt in R's `adapt()`.

use crate::error::{RkError, RkResult};
use crate::layers::discretization::quantile_boundaries;
use extendr_api::prelude::*;

type Ret = std::result::Result<Robj, RkError>;

/// Keras's Discretization boundaries of `num_bins` bins learnt from `values`.
#[extendr]
fn rk_discretization_bins(values: &[f64], epsilon: f64, num_bins: f64) -> Ret {
    let check = || -> RkResult<()> {
        let bins_ok = num_bins.is_finite() && num_bins >= 1.0;
        if values.is_empty() || !(epsilon > 0.0 && epsilon <= 1.0) || !bins_ok {
            return Err(RkError::Value(
                "discretization needs values, an epsilon in (0, 1] and at least one bin".into(),
            ));
        }
        Ok(())
    };
    check()?;
    Ok(quantile_boundaries(values, epsilon, num_bins as usize).into())
}

extendr_module! {
    mod rk_preprocessing_api;
    fn rk_discretization_bins;
}
