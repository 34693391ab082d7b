//! `.Call` shims for saving and loading models in Keras's files (see `io/keras_files.rs`).

use crate::error::{RkError, RkResult};
use crate::io::hdf5::Stored;
use crate::io::keras_files::{self as kf, LayerVars, Legacy, OptimizerVars, Weights};
use crate::model::Model;
use crate::r_api::handle::Handle;
use crate::r_api::model::{handle, ok, values};
use extendr_api::prelude::*;
use std::path::Path;

type Ret = std::result::Result<Robj, RkError>;

/// What R says of a model to save it: names Keras gives its layers' groups, how many
/// weights each layer has, and each weight's names.
struct Layout {
    groups: Vec<String>,
    counts: Vec<usize>,
    weight_names: Vec<String>,
    param_names: Vec<String>,
}

fn layers(m: &Model, l: &Layout) -> RkResult<Vec<LayerVars>> {
    let stored = m.stored_weights();
    let total: usize = l.counts.iter().sum();
    if total != stored.len() || l.weight_names.len() != total {
        return Err(RkError::Internal(format!(
            "the layers list {total} weights, the model has {}",
            stored.len()
        )));
    }
    let mut w = stored.into_iter().map(|(s, _)| s);
    let mut names = l.weight_names.iter().cloned();
    Ok(l.groups
        .iter()
        .zip(&l.counts)
        .map(|(g, &n)| LayerVars {
            group: g.clone(),
            names: names.by_ref().take(n).collect(),
            vars: w.by_ref().take(n).collect(),
        })
        .collect())
}

fn optimizer(m: &Model, l: &Layout, prefix: &str) -> RkResult<Option<OptimizerVars>> {
    let Some(c) = &m.compiled else {
        return Ok(None);
    };
    let o = &c.optimizer;
    let trainables = m.trainables(&l.param_names)?;
    let (names, vars) = o.keras_state(&trainables, prefix);
    let name = opt_name(o);
    Ok(Some(OptimizerVars {
        names: names.into_iter().map(|n| format!("{name}/{n}")).collect(),
        name,
        iterations: o.iterations as i64,
        learning_rate: o.learning_rate as f32,
        vars,
    }))
}

fn opt_name(o: &crate::optimizers::Optimizer) -> String {
    use crate::optimizers::Kind;
    match o.kind {
        Kind::Sgd { .. } => "sgd",
        Kind::RmsProp { .. } => "rmsprop",
        Kind::Adam { .. } => "adam",
        Kind::Adagrad { .. } => "adagrad",
        Kind::Adadelta { .. } => "adadelta",
        Kind::Adamax { .. } => "adamax",
        Kind::Nadam { .. } => "nadam",
    }
    .to_string()
}

/// Save the model as `format` ("keras", "h5", "weights" for `.weights.h5`, "weights_h5"
/// for a legacy weights file) to `path`, or return the bytes when `path` is NULL.
#[extendr]
#[allow(clippy::too_many_arguments)]
fn rk_model_save(
    mut model: ExternalPtr<Handle>,
    path: Nullable<String>,
    format: &str,
    config: &str,
    training_config: &str,
    metadata: &str,
    model_name: &str,
    groups: Vec<String>,
    counts: Vec<i32>,
    weight_names: Vec<String>,
    param_names: Vec<String>,
    include_optimizer: bool,
) -> Ret {
    let layout = Layout {
        groups,
        counts: counts.iter().map(|&c| c.max(0) as usize).collect(),
        weight_names,
        param_names,
    };
    let bytes = {
        let m = handle(&mut model)?.lock()?;
        let layers = layers(&m, &layout)?;
        let opt = if include_optimizer {
            optimizer(&m, &layout, model_name)?
        } else {
            None
        };
        match format {
            "keras" | "weights" => {
                let w = kf::weights_h5(&Weights {
                    model_name: model_name.to_string(),
                    layers,
                    optimizer: opt,
                })?;
                if format == "keras" {
                    kf::keras_archive(config, metadata, &w)?
                } else {
                    w
                }
            }
            "h5" | "weights_h5" => kf::legacy_h5(&Legacy {
                model_config: (format == "h5").then(|| config.to_string()),
                training_config: (!training_config.is_empty()).then(|| training_config.to_string()),
                layers,
                optimizer: opt,
            })?,
            other => return Err(RkError::Internal(format!("unknown file format '{other}'"))),
        }
    };
    match path {
        Nullable::NotNull(p) => {
            kf::write_atomic(Path::new(&p), &bytes)?;
            ok(())
        }
        Nullable::Null => ok(Raw::from_bytes(&bytes)),
    }
}

/// A weight as an R array (column-major, with `dim`).
fn r_array(s: &Stored) -> RkResult<Robj> {
    let view = ndarray::ArrayViewD::from_shape(ndarray::IxDyn(&s.shape), &s.data)
        .map_err(|e| RkError::Internal(e.to_string()))?;
    let v: Vec<f64> = view.reversed_axes().iter().map(|&x| x as f64).collect();
    let mut r: Robj = v.into();
    if !s.shape.is_empty() {
        let dims: Vec<i32> = s.shape.iter().map(|&d| d as i32).collect();
        r.set_attrib("dim", dims)
            .map_err(|e| RkError::Internal(e.to_string()))?;
    }
    Ok(r)
}

fn r_layers(layers: &[LayerVars]) -> RkResult<Robj> {
    let mut out = Vec::new();
    for l in layers {
        let w = l.vars.iter().map(r_array).collect::<RkResult<Vec<_>>>()?;
        out.push(Robj::from(list!(
            group = l.group.clone(),
            names = l.names.clone(),
            weights = List::from_values(w)
        )));
    }
    Ok(List::from_values(out).into())
}

fn r_optimizer(o: &Option<OptimizerVars>) -> Robj {
    match o {
        None => ().into(),
        Some(o) => {
            list!(
                name = o.name.clone(),
                iterations = o.iterations as f64,
                learning_rate = o.learning_rate as f64,
                vars =
                    List::from_values(o.vars.iter().map(|s| Robj::from(
                        s.data.iter().map(|&x| x as f64).collect::<Vec<f64>>()
                    ))),
                shapes = List::from_values(o.vars.iter().map(|s| {
                    Robj::from(s.shape.iter().map(|&d| d as i32).collect::<Vec<i32>>())
                }))
            )
            .into()
        }
    }
}

/// Read a model or weights file (from `path`, or the bytes `raw`): which format it is,
/// its configuration, each layer's weights and the optimizer's state.
#[extendr]
fn rk_read_model_file(path: Nullable<String>, raw: Nullable<Raw>) -> Ret {
    let (bytes, label) = match (path, raw) {
        (Nullable::NotNull(p), _) => (kf::read_file(Path::new(&p))?, format!("'{p}'")),
        (_, Nullable::NotNull(r)) => (r.as_slice().to_vec(), "the serialized model".to_string()),
        _ => return Err(RkError::Internal("no file to read".into())),
    };
    // A damaged file must be an error, whatever the format reader makes of it.
    crate::r_api::model::quiet_panics();
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        parse_model_file(bytes, &label)
    }));
    match read {
        Ok(r) => r,
        Err(_) => Err(RkError::Value(format!(
            "{label} is damaged: its contents are not a valid Keras model or weights file"
        ))),
    }
}

fn parse_model_file(bytes: Vec<u8>, label: &str) -> Ret {
    let label = label.to_string();
    if bytes.starts_with(b"PK") {
        let (config, w) = kf::read_keras_archive(bytes, &label)?;
        let w = kf::read_weights_h5(w, &format!("{label} (model.weights.h5)"))?;
        return ok(list!(
            format = "keras",
            config = config,
            training_config = (),
            model_name = w.model_name,
            layers = r_layers(&w.layers)?,
            optimizer = r_optimizer(&w.optimizer)
        ));
    }
    let r = crate::io::hdf5::Reader::from_bytes(bytes, &label)?;
    if r.has_group("layers") && r.strings_attr("", "layer_names")?.is_none() {
        let w = kf::weights_from(&r)?;
        return ok(list!(
            format = "weights",
            config = (),
            training_config = (),
            model_name = w.model_name,
            layers = r_layers(&w.layers)?,
            optimizer = r_optimizer(&w.optimizer)
        ));
    }
    let l = kf::legacy_from(&r)?;
    let format = if l.model_config.is_some() {
        "h5"
    } else {
        "weights_h5"
    };
    let text = |s: &Option<String>| -> Robj {
        match s {
            Some(s) => s.clone().into(),
            None => ().into(),
        }
    };
    ok(list!(
        format = format,
        config = text(&l.model_config),
        training_config = text(&l.training_config),
        model_name = "",
        layers = r_layers(&l.layers)?,
        optimizer = r_optimizer(&l.optimizer)
    ))
}

/// Restore the compiled optimizer's state (`vars`: row-major values with `shapes`, in
/// Keras's order) for weights named `param_names`.
#[extendr]
fn rk_model_set_optimizer_state(
    mut model: ExternalPtr<Handle>,
    param_names: Vec<String>,
    iterations: f64,
    learning_rate: f64,
    vars: List,
    shapes: List,
) -> Ret {
    let mut stored = Vec::new();
    for (v, s) in vars.values().zip(shapes.values()) {
        let data: Vec<f32> = {
            let rv = values(&v, "optimizer state")?;
            (0..rv.len()).map(|i| rv.get(i) as f32).collect()
        };
        let shape: Vec<usize> = s
            .as_integer_slice()
            .ok_or_else(|| RkError::Internal("optimizer shapes must be integers".into()))?
            .iter()
            .map(|&d| d.max(0) as usize)
            .collect();
        if data.len() != shape.iter().product::<usize>() {
            return Err(RkError::Shape(
                "an optimizer variable's values do not fill its shape".into(),
            ));
        }
        stored.push(Stored { shape, data });
    }
    let mut m = handle(&mut model)?.lock()?;
    let trainables = m.trainables(&param_names)?;
    let Some(c) = m.compiled.as_mut() else {
        return Err(RkError::State(
            "the model must be compiled before its optimizer state is restored".into(),
        ));
    };
    c.optimizer.set_keras_state(
        &trainables,
        iterations as i64,
        learning_rate as f32,
        &stored,
    )?;
    m.step = iterations.max(0.0) as u64;
    ok(())
}

extendr_module! {
    mod rk_saving_api;
    fn rk_model_save;
    fn rk_read_model_file;
    fn rk_model_set_optimizer_state;
}
