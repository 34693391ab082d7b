//! `.Call` shims for models. The R API checks arguments first; these convert, call the
//! engine, and return `Result`s that R raises as classed conditions.

use crate::data::{Dataset, RValues};
use crate::error::{RkError, RkResult};
use crate::model::Model;
use crate::r_api::handle::Handle;
use extendr_api::prelude::*;

type Ret = std::result::Result<Robj, RkError>;

pub(crate) fn handle(ptr: &mut ExternalPtr<Handle>) -> RkResult<&mut Handle> {
    ptr.try_addr_mut().map_err(|_| {
        RkError::State("this model was read back without its saved state and no longer exists in memory; keep models with save_model() or saveRDS()".into())
    })
}

pub(crate) fn dataset(ptr: &ExternalPtr<Dataset>) -> RkResult<&Dataset> {
    ptr.try_addr()
        .map_err(|_| RkError::State("training data is no longer in memory".into()))
}

pub fn values(x: &Robj, what: &str) -> RkResult<RValues<'static>> {
    if let Some(s) = x.as_real_slice() {
        // SAFETY of the lifetime: the R object outlives the `.Call` that borrows it.
        Ok(RValues::Real(unsafe {
            std::mem::transmute::<&[f64], &'static [f64]>(s)
        }))
    } else if let Some(s) = x.as_integer_slice() {
        Ok(RValues::Int(s))
    } else {
        Err(RkError::Value(format!("`{what}` must be a numeric array")))
    }
}

/// Panics are caught and returned to R as errors carrying their message; the default
/// hook would also print a backtrace on stderr, which R users should never see.
pub(crate) fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

pub(crate) fn ok<T: Into<Robj>>(v: T) -> Ret {
    Ok(v.into())
}

/// The constructor of model snapshots (an ALTREP class registered in C, `src/snapshot.c`).
static SNAPSHOT_CTOR: std::sync::OnceLock<
    unsafe extern "C" fn(extendr_api::SEXP) -> extendr_api::SEXP,
> = std::sync::OnceLock::new();

/// Called once by the package's C initialisation.
#[no_mangle]
pub extern "C" fn rk_set_snapshot_ctor(
    ctor: unsafe extern "C" fn(extendr_api::SEXP) -> extendr_api::SEXP,
) {
    let _ = SNAPSHOT_CTOR.set(ctor);
}

/// A snapshot that R serializes as the model's `.keras` bytes (see `src/snapshot.c`).
#[extendr]
fn rk_snapshot_new(env: Robj) -> Robj {
    match SNAPSHOT_CTOR.get() {
        // SAFETY: the constructor is R's own R_new_altrep on a valid object, on R's thread.
        Some(ctor) => unsafe { Robj::from_sexp(ctor(env.get())) },
        None => ().into(),
    }
}

/// Whether `ptr` is a live model pointer (after `readRDS()` its address is NULL).
#[extendr]
fn rk_ptr_alive(ptr: Robj) -> bool {
    match ExternalPtr::<Handle>::try_from(&ptr) {
        Ok(p) => p.try_addr().is_ok(),
        Err(_) => false,
    }
}

/// Whether a numeric vector holds a missing or non-finite value (NA, NaN, Inf; NA for
/// integers and logicals), in one vectorised pass.
#[extendr]
fn rk_any_nonfinite(x: Robj) -> bool {
    if let Ok(v) = values(&x, "x") {
        !v.all_finite()
    } else if let Some(s) = x.as_logical_slice() {
        s.iter().any(|l| l.is_na())
    } else {
        false
    }
}

#[extendr]
fn rk_model_new() -> Robj {
    quiet_panics();
    ExternalPtr::new(Handle::new(Model::new())).into()
}

/// Compile the model as the JSON description `json` says (see `compile.rs`).
#[extendr]
fn rk_model_compile(mut model: ExternalPtr<Handle>, json: &str) -> Ret {
    let spec = crate::compile::CompileSpec::from_json(json)?;
    handle(&mut model)?.with(|m| m.compile_spec(&spec))?;
    ok(())
}

/// Weights in Keras order, as R arrays.
#[extendr]
fn rk_model_get_weights(mut model: ExternalPtr<Handle>) -> Ret {
    let m = handle(&mut model)?.lock()?;
    let g = m
        .graph
        .as_ref()
        .ok_or_else(|| RkError::State("the model has no layers".into()))?;
    ok(crate::r_api::graph::graph_get_weights(g))
}

#[extendr]
fn rk_model_set_weights(mut model: ExternalPtr<Handle>, weights: List) -> Ret {
    let vals: Vec<Robj> = weights.values().collect();
    let mut m = handle(&mut model)?.lock()?;
    let g = m
        .graph
        .as_mut()
        .ok_or_else(|| RkError::State("the model has no layers".into()))?;
    crate::r_api::graph::graph_set_weights(g, &vals)?;
    m.weights_changed();
    ok(())
}

#[extendr]
fn rk_model_clone(mut model: ExternalPtr<Handle>) -> Ret {
    let m = handle(&mut model)?.lock()?.clone();
    ok(ExternalPtr::new(Handle::new(m)))
}

#[extendr]
fn rk_model_set(mut model: ExternalPtr<Handle>, what: &str, value: f64) -> Ret {
    handle(&mut model)?.with(|m| {
        match what {
            "threads" => m.threads = (value as usize).max(1),
            "fit_seed" => m.fit_seed = value as u64,
            // 1: the dense plan where the graph allows it; 0: always the graph's executor.
            "dense_plan" => {
                m.plan_choice = if value != 0.0 {
                    crate::dense::plan::PlanChoice::Auto
                } else {
                    crate::dense::plan::PlanChoice::General
                }
            }
            "learning_rate" => match m.compiled.as_mut() {
                Some(c) if c.optimizer.schedule.is_some() => {
                    return Err(RkError::State(
                        "the optimizer's learning rate follows a schedule and cannot be set".into(),
                    ))
                }
                Some(c) => c.optimizer.learning_rate = value,
                None => {
                    return Err(RkError::State(
                        "the model has no optimizer yet; call compile() first".into(),
                    ))
                }
            },
            other => return Err(RkError::Internal(format!("unknown setting {other}"))),
        }
        Ok(())
    })?;
    ok(())
}

#[extendr]
fn rk_model_get(mut model: ExternalPtr<Handle>, what: &str) -> Ret {
    let m = handle(&mut model)?.lock()?;
    let v = match what {
        "learning_rate" => m
            .compiled
            .as_ref()
            .map(|c| match c.optimizer.schedule {
                Some(ref s) => s.at(c.optimizer.iterations as f64),
                None => c.optimizer.learning_rate,
            })
            .unwrap_or(f64::NAN),
        "iterations" => m
            .compiled
            .as_ref()
            .map(|c| c.optimizer.iterations as f64)
            .unwrap_or(0.0),
        "params" => m.count_params() as f64,
        "threads" => m.threads as f64,
        "dense_plan" => {
            let mut m = m;
            m.uses_plan() as i32 as f64
        }
        other => return Err(RkError::Internal(format!("unknown setting {other}"))),
    };
    ok(v)
}

/// Benchmark hook: seconds per `[m, k] x [k, n]` product on `threads` threads (median of
/// `reps` timed calls after a warm-up), through the `gemm` crate (split as `tensor::matmul`
/// splits it) and through the engine's AVX2 kernel (`NA` without AVX2).
#[extendr]
fn rk_bench_gemm(m: f64, n: f64, k: f64, reps: f64, threads: f64) -> Ret {
    use crate::tensor::{matmul, Trans};
    let (m, n, k, reps, threads) = (
        m as usize,
        n as usize,
        k as usize,
        (reps as usize).max(1),
        (threads as usize).max(1),
    );
    if m.saturating_mul(k)
        .max(k.saturating_mul(n))
        .max(m.saturating_mul(n))
        > 1 << 28
        || m == 0
        || n == 0
        || k == 0
    {
        return Err(RkError::Value(
            "matrix empty or too large for the benchmark".into(),
        ));
    }
    let a: Vec<f32> = (0..m * k).map(|i| (i % 17) as f32 / 17.0).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 13) as f32 / 13.0).collect();
    let mut c = vec![0.0f32; m * n];
    let mut packed = Vec::new();
    let median = |f: &mut dyn FnMut()| {
        f();
        let mut t: Vec<f64> = (0..reps)
            .map(|_| {
                let t = std::time::Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .collect();
        t.sort_by(|x, y| x.total_cmp(y));
        t[t.len() / 2]
    };
    let pool = crate::threads::pool(threads);
    let (crate_s, kernel_s) = pool.install(|| {
        let crate_s =
            median(&mut || matmul(m, n, k, &a, Trans::N, &b, Trans::N, &mut c, false, threads));
        let kernel_s = if crate::dense::kernel::available() {
            median(&mut || crate::dense::train::sgemm(m, n, k, &a, &b, &mut c, &mut packed))
        } else {
            f64::NAN
        };
        (crate_s, kernel_s)
    });
    ok(vec![crate_s, kernel_s])
}

/// Test hook: a panic inside a shim must reach R as an error, never a crash.
#[extendr]
fn rk_test_panic(mut model: ExternalPtr<Handle>) -> Ret {
    handle(&mut model)?.with(|_| -> RkResult<()> { panic!("deliberate test panic") })?;
    ok(())
}

extendr_module! {
    mod rk_model_api;
    fn rk_ptr_alive;
    fn rk_snapshot_new;
    fn rk_any_nonfinite;
    fn rk_model_new;
    fn rk_model_compile;
    fn rk_model_get_weights;
    fn rk_model_set_weights;
    fn rk_model_clone;
    fn rk_model_set;
    fn rk_model_get;
    fn rk_test_panic;
    fn rk_bench_gemm;
}
