//! `.Call` shims for TensorBoard event files (see `io/tfevents.rs`).

use crate::error::RkError;
use crate::io::tfevents::{read_scalars, EventWriter};
use extendr_api::prelude::*;
use std::path::Path;

type Ret = std::result::Result<Robj, RkError>;

fn writer(w: &mut ExternalPtr<Option<EventWriter>>) -> Result<&mut EventWriter, RkError> {
    w.try_addr_mut()
        .ok()
        .and_then(|o| o.as_mut())
        .ok_or_else(|| RkError::State("this TensorBoard writer is closed".into()))
}

fn io_err(path: &str) -> impl Fn(std::io::Error) -> RkError + '_ {
    move |e| {
        RkError::Io(format!(
            "cannot write TensorBoard events under '{path}': {e}"
        ))
    }
}

/// Open a new event file in `dir` (created if needed).
#[extendr]
fn rk_tb_open(dir: &str, host: &str) -> Ret {
    let w = EventWriter::create(Path::new(dir), host).map_err(io_err(dir))?;
    let path = w.path().to_string_lossy().to_string();
    let mut out: Robj = ExternalPtr::new(Some(w)).into();
    out.set_attrib("path", path)
        .map_err(|e| RkError::Internal(e.to_string()))?;
    Ok(out)
}

/// Write scalars `tags[i] = values[i]` at `step`, then flush.
#[extendr]
fn rk_tb_scalars(
    mut w: ExternalPtr<Option<EventWriter>>,
    tags: Vec<String>,
    step: f64,
    values: Vec<f64>,
) -> Ret {
    let w = writer(&mut w)?;
    for (t, v) in tags.iter().zip(values) {
        w.scalar(t, step as i64, v as f32)
            .map_err(io_err("log_dir"))?;
    }
    w.flush().map_err(io_err("log_dir"))?;
    Ok(().into())
}

#[extendr]
fn rk_tb_histogram(
    mut w: ExternalPtr<Option<EventWriter>>,
    tag: &str,
    step: f64,
    values: Vec<f64>,
) -> Ret {
    let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
    writer(&mut w)?
        .histogram(tag, step as i64, &v)
        .map_err(io_err("log_dir"))?;
    Ok(().into())
}

#[extendr]
fn rk_tb_keras_model(mut w: ExternalPtr<Option<EventWriter>>, json: &str) -> Ret {
    let w = writer(&mut w)?;
    w.keras_model_config(json).map_err(io_err("log_dir"))?;
    w.flush().map_err(io_err("log_dir"))?;
    Ok(().into())
}

/// Flush and close (dropping the writer flushes it).
#[extendr]
fn rk_tb_close(mut w: ExternalPtr<Option<EventWriter>>) -> Ret {
    if let Ok(slot) = w.try_addr_mut() {
        if let Some(mut wr) = slot.take() {
            wr.flush().map_err(io_err("log_dir"))?;
        }
    }
    Ok(().into())
}

/// Read the scalars of one event file, checking framing and CRCs.
#[extendr]
fn rk_tb_read_scalars(path: &str) -> Ret {
    let s = read_scalars(path).map_err(RkError::Io)?;
    let tags: Vec<String> = s.iter().map(|x| x.0.clone()).collect();
    let steps: Vec<f64> = s.iter().map(|x| x.1 as f64).collect();
    let vals: Vec<f64> = s.iter().map(|x| x.2 as f64).collect();
    Ok(list!(tag = tags, step = steps, value = vals).into())
}

extendr_module! {
    mod rk_tensorboard_api;
    fn rk_tb_open;
    fn rk_tb_scalars;
    fn rk_tb_histogram;
    fn rk_tb_keras_model;
    fn rk_tb_close;
    fn rk_tb_read_scalars;
}
