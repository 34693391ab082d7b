//! `.Call` shims for Keras's dataset files (see `io/npy_objects.rs`).

use crate::error::RkError;
use crate::io::npy_objects::{integer_lists, numpy_shuffles, object_npy_payload};
use extendr_api::prelude::*;

type Ret = std::result::Result<Robj, RkError>;

/// The sequences of an object-array `.npy` file: a list of integer vectors.
#[extendr]
fn rk_npy_integer_lists(npy: Raw) -> Ret {
    crate::r_api::model::quiet_panics();
    let lists = std::panic::catch_unwind(|| {
        let payload = object_npy_payload(npy.as_slice())?;
        integer_lists(payload)
    })
    .unwrap_or_else(|_| Err(RkError::Value("the object array is damaged".into())))?;
    let out = lists.into_iter().map(|v| {
        if v.iter()
            .all(|&x| x > i32::MIN as i64 && x <= i32::MAX as i64)
        {
            Robj::from(v.into_iter().map(|x| x as i32).collect::<Vec<i32>>())
        } else {
            Robj::from(v.into_iter().map(|x| x as f64).collect::<Vec<f64>>())
        }
    });
    Ok(List::from_values(out).into())
}

/// NumPy's `RandomState(seed)` shuffling `arange(n)` for each `n` in turn, 1-based.
#[extendr]
fn rk_numpy_shuffle(n: Vec<f64>, seed: f64) -> Ret {
    if n.iter().any(|&v| !(v >= 0.0 && v < 2f64.powi(31))) || !(0.0..2f64.powi(32)).contains(&seed)
    {
        return Err(RkError::Value("n or seed out of range".into()));
    }
    let ns: Vec<usize> = n.iter().map(|&v| v as usize).collect();
    let out = numpy_shuffles(&ns, seed as u32)
        .into_iter()
        .map(|p| Robj::from(p.into_iter().map(|i| i as i32 + 1).collect::<Vec<i32>>()));
    Ok(List::from_values(out).into())
}

extendr_module! {
    mod rk_datasets_api;
    fn rk_npy_integer_lists;
    fn rk_numpy_shuffle;
}
