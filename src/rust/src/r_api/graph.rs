//! `.Call` shims for a model's graph: setting and building it, describing it, its weights,
//! trainable flags and states, and Keras's JSON.

use crate::error::{RkError, RkResult};
use crate::graph::Graph;
use crate::layers::{shape_string, Shape, Tensor};
use crate::r_api::handle::Handle;
use crate::r_api::model::{handle, values};
use crate::r_api::shapes::{open_ints, open_shape_list, shape_list};
use extendr_api::prelude::*;
use ndarray::IxDyn;

type Ret = std::result::Result<Robj, RkError>;

/// Give the model the graph described by `json` (see `graph/spec.rs`). Layers of the
/// model's previous graph keep their weights when a layer of the same name and shapes is in
/// the new graph.
#[extendr]
fn rk_model_set_graph(mut model: ExternalPtr<Handle>, json: &str) -> Ret {
    let mut g = Graph::from_json(json)?;
    handle(&mut model)?.with(|m| {
        if let Some(old) = &m.graph {
            g.adopt_weights(old);
        }
        m.graph = Some(g);
        m.graph_changed();
        m.compiled = None;
        Ok(())
    })?;
    Ok(().into())
}

/// Build the graph from the per-sample shapes of the first data (inputs without a shape).
#[extendr]
fn rk_model_build_shapes(mut model: ExternalPtr<Handle>, shapes: List) -> Ret {
    let shapes = shape_list(shapes)?;
    handle(&mut model)?.with(|m| {
        let g = m
            .graph
            .as_mut()
            .ok_or_else(|| RkError::Internal("not a graph model".into()))?;
        g.build_from_inputs(&shapes)?;
        m.graph_changed();
        Ok(())
    })?;
    Ok(().into())
}

/// A graph model as data: its layers (name, class, output shape, parameters, trainable,
/// inbound layers) and the shapes of its inputs and outputs.
#[extendr]
fn rk_graph_info(mut model: ExternalPtr<Handle>) -> Ret {
    let m = handle(&mut model)?.lock()?;
    let g = m
        .graph
        .as_ref()
        .ok_or_else(|| RkError::Internal("not a graph model".into()))?;
    let rows = g.layer_rows();
    let shape_list = |nodes: &[usize]| -> Robj {
        let v: Vec<Robj> = nodes
            .iter()
            .map(|&n| {
                if g.built() {
                    g.shapes[n]
                        .iter()
                        .map(|&d| d as i32)
                        .collect::<Vec<i32>>()
                        .into()
                } else {
                    ().into()
                }
            })
            .collect();
        List::from_values(v).into()
    };
    let param_names: Vec<String> = g.params().into_iter().map(|(n, _)| n).collect();
    // In get_weights() order: whether the optimizer updates each weight.
    let weight_trainable: Vec<bool> = g
        .slots
        .iter()
        .flat_map(|s| {
            s.params()
                .into_iter()
                .map(move |p| s.trainable && p.trainable)
        })
        .collect();
    Ok(list!(
        name = rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
        class = rows.iter().map(|r| r.class.to_string()).collect::<Vec<_>>(),
        shape = rows
            .iter()
            .map(|r| if r.parts.is_empty() {
                match (&r.open, &r.dims) {
                    (Some(o), _) => crate::layers::open_shape_string(o),
                    (None, Some(d)) => shape_string(d),
                    (None, None) => "?".into(),
                }
            } else {
                let p: Vec<String> = r.parts.iter().map(|d| shape_string(d)).collect();
                format!("[{}]", p.join(", "))
            })
            .collect::<Vec<_>>(),
        dims = List::from_values(rows.iter().map(|r| -> Robj {
            match (&r.open, &r.dims) {
                (Some(o), _) => open_ints(o),
                (None, Some(d)) => d.iter().map(|&v| v as i32).collect::<Vec<i32>>().into(),
                (None, None) => ().into(),
            }
        })),
        params = rows.iter().map(|r| r.params as f64).collect::<Vec<_>>(),
        trainable = rows.iter().map(|r| r.trainable).collect::<Vec<_>>(),
        trainable_params = rows
            .iter()
            .map(|r| r.trainable_params as f64)
            .collect::<Vec<_>>(),
        inbound = rows
            .iter()
            .map(|r| r.inbound.join(", "))
            .collect::<Vec<_>>(),
        input_shapes = shape_list(&g.inputs),
        // The inputs' declared shapes, NA on an open axis (NULL where none is declared).
        input_declared = List::from_values(g.inputs.iter().map(|&n| -> Robj {
            let slot = &g.slots[g.nodes[n].layer];
            match (&slot.declared, &slot.input_shape) {
                (Some(d), _) => open_ints(d),
                (None, Some(s)) => s.iter().map(|&v| v as i32).collect::<Vec<i32>>().into(),
                (None, None) => ().into(),
            }
        })),
        output_shapes = shape_list(&g.outputs),
        // The outputs' shapes, NA on the axes that follow an input's open axes.
        output_open = List::from_values(g.outputs.iter().map(|&n| -> Robj {
            match g.symbolic.get(n) {
                Some(open) if g.built() => open_ints(open),
                _ => shape_list(&[n])
                    .as_list()
                    .and_then(|l| l.values().next())
                    .unwrap_or(().into()),
            }
        })),
        node_shapes = shape_list(&(0..g.nodes.len()).collect::<Vec<_>>()),
        built = g.built(),
        weight_names = param_names,
        weight_trainable = weight_trainable
    )
    .into())
}

/// Weights in Keras's order, as R arrays (values in R's column-major order, with dims).
pub fn graph_get_weights(g: &Graph) -> Robj {
    let mut vals: Vec<Robj> = Vec::new();
    let mut dims: Vec<Robj> = Vec::new();
    for (_, p) in g.params() {
        let t = p.value.view().reversed_axes();
        let v: Vec<f64> = t.as_standard_layout().iter().map(|&x| x as f64).collect();
        vals.push(v.into());
        dims.push(
            p.value
                .shape()
                .iter()
                .map(|&d| d as i32)
                .collect::<Vec<i32>>()
                .into(),
        );
    }
    list!(
        values = List::from_values(vals),
        dims = List::from_values(dims)
    )
    .into()
}

/// Replace the weights (R arrays in `get_weights()` order); all are converted and checked
/// before any is written, so a bad entry leaves the model unchanged.
pub fn graph_set_weights(g: &mut Graph, vals: &[Robj]) -> RkResult<()> {
    let shapes: Vec<(String, Vec<usize>)> = g
        .params()
        .into_iter()
        .map(|(n, p)| (n, p.value.shape().to_vec()))
        .collect();
    if vals.len() != shapes.len() {
        return Err(RkError::Shape(format!(
            "`weights` must be a list of {} arrays, got {}",
            shapes.len(),
            vals.len()
        )));
    }
    let mut new: Vec<Tensor> = Vec::with_capacity(vals.len());
    for (k, ((name, shape), v)) in shapes.iter().zip(vals).enumerate() {
        let rv = values(v, "weights")?;
        let n: usize = shape.iter().product();
        if rv.len() != n {
            return Err(RkError::Shape(format!(
                "weight {} ('{name}') needs {n} values, got {}",
                k + 1,
                rv.len()
            )));
        }
        let data: Vec<f32> = (0..n).map(|i| rv.get(i) as f32).collect();
        if data.iter().any(|x| !x.is_finite()) {
            return Err(RkError::Value(format!(
                "weight {} ('{name}') has missing or infinite values",
                k + 1
            )));
        }
        let rev: Vec<usize> = shape.iter().rev().copied().collect();
        let t = Tensor::from_shape_vec(IxDyn(&rev), data)
            .map_err(|e| RkError::Internal(e.to_string()))?;
        new.push(t.reversed_axes().as_standard_layout().into_owned());
    }
    for (p, t) in g.params_mut().into_iter().zip(new) {
        p.value = t;
    }
    Ok(())
}

/// The output shape of a layer (`{"class_name", "config"}` as JSON) called on inputs of
/// the shapes of its last call in `calls` (a list of its calls' input shapes, in order: a
/// layer with weights is built by the first and must accept the later ones), as Keras
/// checks each call of the functional API where the user makes it. A layer that returns
/// several tensors (`return_state`) gives a list of their shapes.
#[extendr]
fn rk_layer_output_shape(json: &str, name: &str, calls: List) -> Ret {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| RkError::Spec(format!("layer description: {e}")))?;
    let class = v.get("class_name").and_then(|c| c.as_str()).unwrap_or("");
    let config = v.get("config").cloned().unwrap_or(serde_json::Value::Null);
    // Each call's input shapes, None on an open axis (NA from R).
    let calls: Vec<Vec<Vec<Option<usize>>>> = calls
        .values()
        .map(|call| {
            open_shape_list(
                List::try_from(call)
                    .map_err(|_| RkError::Internal("calls must be lists".into()))?,
            )
        })
        .collect::<RkResult<_>>()?;
    let open = calls.iter().flatten().flatten().any(|d| d.is_none());
    // Built at one stand-in size for the open axes, and (when there are some) at another:
    // the output axes that differ follow an open axis.
    let run = |size: usize| -> RkResult<(Vec<Shape>, Vec<Vec<usize>>)> {
        let mut layer = crate::layers::from_spec(class, &config, 0)
            .map_err(|e| RkError::Spec(format!("layer '{name}': {}", e.message())))?;
        let (mut out, mut last) = (Vec::new(), Vec::new());
        for call in &calls {
            let shapes: Vec<Shape> = call
                .iter()
                .map(|s| crate::graph::open_at(s, size))
                .collect();
            out = layer.build(name, &shapes, &mut crate::rng::Rng::new(0))?;
            last = shapes;
        }
        let parts = layer.output_parts(&last);
        let params = layer
            .params()
            .iter()
            .map(|p| p.value.shape().to_vec())
            .collect();
        Ok((if parts.is_empty() { vec![out] } else { parts }, params))
    };
    // The first stand-in size the layer accepts (see `OPEN_SIZES`).
    let mut tried = crate::graph::OPEN_SIZES.iter().map(|&n| (n, run(n)));
    let (size, first) = tried.next().expect("OPEN_SIZES is not empty");
    let (size, (a, pa)) = match first {
        Ok(v) => (size, v),
        Err(e) if open => tried.find_map(|(n, r)| r.ok().map(|v| (n, v))).ok_or(e)?,
        Err(e) => return Err(e),
    };
    let outs: Vec<Vec<Option<usize>>> = if open {
        let (b, pb) = run(crate::graph::other_size(size))?;
        if pa != pb {
            return Err(RkError::Shape(format!(
                "layer '{name}' needs to know the size of an axis its input leaves open (None): \
                 its weights depend on it"
            )));
        }
        a.iter()
            .zip(&b)
            .map(|(x, y)| {
                x.iter()
                    .zip(y)
                    .map(|(&p, &q)| (p == q).then_some(p))
                    .collect()
            })
            .collect()
    } else {
        a.iter()
            .map(|x| x.iter().map(|&d| Some(d)).collect())
            .collect()
    };
    if outs.len() == 1 {
        return Ok(open_ints(&outs[0]));
    }
    // A layer with several outputs: one shape per output, as a list.
    Ok(List::from_values(outs.iter().map(|p| open_ints(p))).into())
}

/// A model description (as for `rk_model_set_graph`) as Keras 3's model JSON.
#[extendr]
fn rk_model_to_json(desc: &str, name: &str, sequential: bool) -> Ret {
    let g = Graph::from_json(desc)?;
    let v = g.to_keras(name, sequential);
    Ok(serde_json::to_string(&v)
        .map_err(|e| RkError::Internal(e.to_string()))?
        .into())
}

/// Keras's model JSON (Keras 3 or 2) as a description R builds a model from: the model's
/// class and name, each layer's name, class, config (JSON), trainable flag and (inputs)
/// shape, and the nodes, inputs and outputs (0-based).
#[extendr]
fn rk_model_from_json(json: &str) -> Ret {
    let d = crate::graph::keras_json::parse_keras(json)?;
    let g = &d.graph;
    let layers = g["layers"].as_array().cloned().unwrap_or_default();
    // Check that the description builds (classes, configs and shapes), as Keras would; R
    // builds a model used as a layer from its own JSON, and checks it then.
    let nested = layers
        .iter()
        .any(|l| crate::graph::keras_json::is_model(l["class_name"].as_str().unwrap_or("")));
    if !nested {
        Graph::from_json(&g.to_string())?;
    }
    let nodes = g["nodes"].as_array().cloned().unwrap_or_default();
    let ints = |v: &serde_json::Value| -> Vec<i32> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_i64())
                    .map(|x| x as i32)
                    .collect()
            })
            .unwrap_or_default()
    };
    // Input shapes, NA on an open (null) axis.
    let shapes: Vec<Robj> = layers
        .iter()
        .map(
            |l| match l["config"].get("shape").and_then(|s| s.as_array()) {
                Some(a) => open_ints(
                    &a.iter()
                        .map(|x| x.as_u64().map(|x| x as usize))
                        .collect::<Vec<_>>(),
                ),
                _ => ().into(),
            },
        )
        .collect();
    let node_inputs: Vec<Robj> = nodes.iter().map(|n| ints(&n["inputs"]).into()).collect();
    Ok(list!(
        class = d.class,
        name = d.name,
        layer_names = layers
            .iter()
            .map(|l| l["name"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>(),
        layer_classes = layers
            .iter()
            .map(|l| l["class_name"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>(),
        layer_configs = layers
            .iter()
            .map(|l| l["config"].to_string())
            .collect::<Vec<_>>(),
        layer_trainable = layers
            .iter()
            .map(|l| l["trainable"].as_bool().unwrap_or(true))
            .collect::<Vec<_>>(),
        input_shapes = List::from_values(shapes),
        node_layers = nodes
            .iter()
            .map(|n| n["layer"].as_i64().unwrap_or(0) as i32)
            .collect::<Vec<_>>(),
        node_inputs = List::from_values(node_inputs),
        node_takes = nodes
            .iter()
            .map(|n| n["take"].as_i64().map(|k| k as i32).unwrap_or(-1))
            .collect::<Vec<_>>(),
        // A call's `training` argument: NA when it has none.
        node_training = nodes
            .iter()
            .map(|n| n["training"].as_bool().map_or(Rbool::na(), Rbool::from))
            .collect::<Vec<Rbool>>(),
        inputs = ints(&g["inputs"]),
        outputs = ints(&g["outputs"])
    )
    .into())
}

/// JSON text as R data: objects as named lists, arrays as lists, scalars as length-1
/// vectors, null as NULL (how `get_config()` returns Keras's configs).
#[extendr]
fn rk_json_parse(json: &str) -> Ret {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| RkError::Value(format!("not valid JSON: {e}")))?;
    Ok(json_to_robj(&v))
}

fn json_to_robj(v: &serde_json::Value) -> Robj {
    use serde_json::Value;
    match v {
        Value::Null => ().into(),
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) if i.unsigned_abs() < (1 << 31) => (i as i32).into(),
            _ => n.as_f64().unwrap_or(f64::NAN).into(),
        },
        Value::String(s) => s.as_str().into(),
        Value::Array(a) => List::from_values(a.iter().map(json_to_robj)).into(),
        Value::Object(o) => {
            let names: Vec<&str> = o.keys().map(|k| k.as_str()).collect();
            let vals: Vec<Robj> = o.values().map(json_to_robj).collect();
            List::from_names_and_values(names, vals)
                .map(|l| l.into())
                .unwrap_or_else(|_| ().into())
        }
    }
}

/// Freeze or unfreeze the named layers.
#[extendr]
fn rk_graph_set_trainable(
    mut model: ExternalPtr<Handle>,
    names: Vec<String>,
    trainable: bool,
) -> Ret {
    handle(&mut model)?.with(|m| {
        let g = m
            .graph
            .as_mut()
            .ok_or_else(|| RkError::Internal("not a graph model".into()))?;
        for s in g.slots.iter_mut().filter(|s| names.contains(&s.name)) {
            s.trainable = trainable;
        }
        m.graph_changed();
        Ok(())
    })?;
    Ok(().into())
}

/// Forget the states stateful layers carry between batches (all layers, or the named ones).
#[extendr]
fn rk_graph_reset_states(mut model: ExternalPtr<Handle>, names: Nullable<Vec<String>>) -> Ret {
    handle(&mut model)?.with(|m| {
        if let Some(g) = m.graph.as_ref() {
            let names = names.into_option();
            for s in &g.slots {
                if names.as_ref().is_none_or(|n| n.contains(&s.name)) {
                    if let Some(l) = &s.layer {
                        l.reset_state();
                    }
                }
            }
        }
        Ok(())
    })?;
    Ok(().into())
}

extendr_module! {
    mod rk_graph_api;
    fn rk_graph_reset_states;
    fn rk_model_set_graph;
    fn rk_model_build_shapes;
    fn rk_graph_info;
    fn rk_graph_set_trainable;
    fn rk_layer_output_shape;
    fn rk_model_to_json;
    fn rk_model_from_json;
    fn rk_json_parse;
}
