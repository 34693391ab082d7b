//! Preprocessing layers' state learnt in R's `adapt()`, and the string hashes of the layers
//! that run in R.

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

/// TensorFlow's hash buckets of the UTF-8 strings `x` (FarmHash's fingerprint, or SipHash
/// keyed by the two numbers of `salt` when it has them), as Keras's string lookup and hashing
/// layers compute them; `NA` strings hash as `""`.
#[extendr]
fn rk_string_buckets(x: Strings, bins: f64, salt: &[f64]) -> Ret {
    if !(bins.is_finite() && bins >= 1.0) || !(salt.is_empty() || salt.len() == 2) {
        return Err(RkError::Value(
            "hashing needs at least one bin and no salt or two numbers".into(),
        ));
    }
    let key = (salt.len() == 2).then(|| [salt[0] as i64 as u64, salt[1] as i64 as u64]);
    let out: Vec<f64> = x
        .iter()
        .map(|s| {
            let s: &str = if s.is_na() { "" } else { s.as_ref() };
            crate::layers::hashing::string_bucket(s.as_bytes(), bins as u64, key) as f64
        })
        .collect();
    Ok(out.into())
}

/// Python's `int(hashlib.md5(s).hexdigest(), 16) % bins` of the UTF-8 strings `x` (Keras 2's
/// `hashing_trick(hash_function = "md5")`); `NA` strings hash as `""`.
#[extendr]
fn rk_md5_buckets(x: Strings, bins: f64) -> Ret {
    if !(bins.is_finite() && bins >= 1.0) {
        return Err(RkError::Value("hashing needs at least one bin".into()));
    }
    let out: Vec<f64> = x
        .iter()
        .map(|s| {
            let s: &str = if s.is_na() { "" } else { s.as_ref() };
            (u128::from_be_bytes(md5::compute(s.as_bytes()).0) % bins as u128) as f64
        })
        .collect();
    Ok(out.into())
}

extendr_module! {
    mod rk_preprocessing_api;
    fn rk_discretization_bins;
    fn rk_string_buckets;
    fn rk_md5_buckets;
}
