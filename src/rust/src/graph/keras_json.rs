//! Models as Keras's JSON (`model.to_json()`, `keras.models.model_from_json()`): writing
//! what Keras 3 writes for Sequential and functional models, and reading Keras 3's and
//! Keras 2's (Keras for R 2.x) JSON into the description a graph is built from.

use super::Graph;
use crate::error::{RkError, RkResult};
use crate::layers::Shape;
use serde_json::{json, Map, Value};

fn batch_shape(s: &Shape) -> Value {
    let mut v = vec![Value::Null];
    v.extend(s.iter().map(|&d| json!(d)));
    Value::Array(v)
}

impl Graph {
    /// The model as Keras 3 writes it: `Sequential` (a chain from one input) or `Functional`.
    pub fn to_keras(&self, name: &str, sequential: bool) -> Value {
        let built = self.built();
        let node_shape = |n: usize| {
            if built {
                batch_shape(&self.shapes[n])
            } else {
                Value::Null
            }
        };
        // Each node's call index among its layer's calls (Keras's node index).
        let mut calls = vec![0usize; self.slots.len()];
        let call_of: Vec<usize> = self
            .nodes
            .iter()
            .map(|n| {
                calls[n.layer] += 1;
                calls[n.layer] - 1
            })
            .collect();
        let history = |n: usize| json!([self.slots[self.nodes[n].layer].name, call_of[n], 0]);
        let mut layers = Vec::new();
        for (li, slot) in self.slots.iter().enumerate() {
            let nodes: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].layer == li)
                .collect();
            let mut entry = Map::new();
            entry.insert("module".into(), json!("keras.layers"));
            entry.insert("class_name".into(), json!(slot.class_name()));
            let config = match &slot.layer {
                None => {
                    let shape = slot.input_shape.clone().or_else(|| {
                        nodes
                            .first()
                            .filter(|_| built)
                            .map(|&n| self.shapes[n].clone())
                    });
                    if sequential && shape.is_none() {
                        continue; // an unbuilt Sequential model has no input layer yet
                    }
                    json!({"batch_shape": shape.as_ref().map(batch_shape), "dtype": "float32",
                           "sparse": false, "ragged": false, "name": slot.name})
                }
                Some(layer) => {
                    let mut c = Map::new();
                    c.insert("name".into(), json!(slot.name));
                    if layer.config_has_trainable() {
                        c.insert("trainable".into(), json!(slot.trainable));
                    }
                    c.insert("dtype".into(), json!("float32"));
                    if let Value::Object(o) = layer.config() {
                        c.extend(o);
                    }
                    Value::Object(c)
                }
            };
            entry.insert("config".into(), config);
            entry.insert("registered_name".into(), Value::Null);
            if let (Some(_), true, Some(&first)) = (&slot.layer, built, nodes.first()) {
                let ins: Vec<Value> = self.nodes[first]
                    .inputs
                    .iter()
                    .map(|&j| node_shape(j))
                    .collect();
                let input_shape = if ins.len() == 1 {
                    ins[0].clone()
                } else {
                    Value::Array(ins)
                };
                entry.insert("build_config".into(), json!({"input_shape": input_shape}));
            }
            if !sequential {
                entry.insert("name".into(), json!(slot.name));
                let inbound: Vec<Value> = nodes
                    .iter()
                    .filter(|&&n| slot.layer.is_some() || !self.nodes[n].inputs.is_empty())
                    .map(|&n| {
                        let ts: Vec<Value> = self.nodes[n]
                            .inputs
                            .iter()
                            .map(|&j| {
                                json!({"class_name": "__keras_tensor__",
                                       "config": {"shape": node_shape(j), "dtype": "float32", "keras_history": history(j)}})
                            })
                            .collect();
                        let arg = if ts.len() == 1 { ts[0].clone() } else { Value::Array(ts) };
                        json!({"args": [arg], "kwargs": {}})
                    })
                    .collect();
                entry.insert("inbound_nodes".into(), Value::Array(inbound));
            }
            layers.push(Value::Object(entry));
        }
        let ends = |ids: &[usize]| -> Value {
            let v: Vec<Value> = ids.iter().map(|&n| history(n)).collect();
            if v.len() == 1 {
                v[0].clone()
            } else {
                Value::Array(v)
            }
        };
        if sequential {
            let input = self
                .inputs
                .first()
                .filter(|_| built)
                .map(|&n| batch_shape(&self.shapes[n]));
            let mut config =
                json!({"name": name, "trainable": true, "dtype": "float32", "layers": layers});
            let mut top =
                json!({"module": "keras", "class_name": "Sequential", "registered_name": null});
            if let Some(s) = input {
                config["build_input_shape"] = s.clone();
                top["build_config"] = json!({"input_shape": s});
            }
            top["config"] = config;
            top
        } else {
            json!({"module": "keras.src.models.functional", "class_name": "Functional",
                   "config": {"name": name, "trainable": true, "layers": layers,
                              "input_layers": ends(&self.inputs), "output_layers": ends(&self.outputs)},
                   "registered_name": "Functional", "build_config": {"input_shape": null}})
        }
    }
}

/// A model read from Keras's JSON: its class (`"Sequential"` or `"Functional"`), name, and
/// the graph description of `spec.rs` (layers with Keras configs, nodes in order).
pub struct ModelDesc {
    pub class: String,
    pub name: String,
    pub graph: Value,
}

fn shape_of(batch: &Value) -> Option<Vec<usize>> {
    let a = batch.as_array()?;
    a.iter()
        .skip(1)
        .map(|d| d.as_u64().map(|d| d as usize))
        .collect()
}

/// Split a layer entry into (name, class, config without name/trainable/dtype, trainable).
fn layer_parts(entry: &Value) -> RkResult<(String, String, Value, bool)> {
    let class = entry
        .get("class_name")
        .and_then(|c| c.as_str())
        .ok_or_else(|| RkError::Spec("a layer entry has no class_name".into()))?
        .to_string();
    let mut config = entry.get("config").cloned().unwrap_or(json!({}));
    let name = config
        .get("name")
        .or_else(|| entry.get("name"))
        .and_then(|n| n.as_str())
        .ok_or_else(|| RkError::Spec(format!("a {class} layer has no name")))?
        .to_string();
    if matches!(class.as_str(), "Sequential" | "Functional" | "Model") {
        return Err(RkError::Unsupported(format!(
            "layer '{name}' is a model used as a layer, which rkeras cannot read from JSON yet"
        )));
    }
    let trainable = config
        .get("trainable")
        .and_then(|t| t.as_bool())
        .unwrap_or(true);
    if let Value::Object(o) = &mut config {
        for k in ["name", "trainable", "dtype"] {
            o.remove(k);
        }
    }
    Ok((name, class, config, trainable))
}

fn input_layer(name: &str, shape: Option<Vec<usize>>) -> Value {
    json!({"name": name, "class_name": "InputLayer", "config": {"shape": shape}})
}

/// Input shape of an InputLayer config (Keras 3 `batch_shape`, Keras 2 `batch_input_shape`).
fn input_shape(config: &Value) -> Option<Vec<usize>> {
    config
        .get("batch_shape")
        .or_else(|| config.get("batch_input_shape"))
        .and_then(shape_of)
        .or_else(|| {
            config
                .get("shape")
                .and_then(|s| s.as_array())
                .and_then(|a| a.iter().map(|d| d.as_u64().map(|d| d as usize)).collect())
        })
}

/// Read Keras's model JSON (Keras 3 or Keras 2).
pub fn parse_keras(json: &str) -> RkResult<ModelDesc> {
    let top: Value =
        serde_json::from_str(json).map_err(|e| RkError::Spec(format!("not valid JSON: {e}")))?;
    let class = top
        .get("class_name")
        .and_then(|c| c.as_str())
        .unwrap_or("")
        .to_string();
    let config = top.get("config").cloned().unwrap_or(Value::Null);
    let name = config
        .get("name")
        .and_then(|n| n.as_str())
        .unwrap_or("model")
        .to_string();
    let entries = config
        .get("layers")
        .and_then(|l| l.as_array())
        .ok_or_else(|| RkError::Spec(format!("a {class} config needs a list of layers")))?;
    match class.as_str() {
        "Sequential" => parse_sequential(&top, &config, entries, name),
        "Functional" | "Model" => parse_functional(&config, entries, name),
        other => Err(RkError::Unsupported(format!(
            "model class '{other}' cannot be read: rkeras reads Sequential and functional models"
        ))),
    }
}

fn parse_sequential(
    top: &Value,
    config: &Value,
    entries: &[Value],
    name: String,
) -> RkResult<ModelDesc> {
    let mut layers = Vec::new();
    let mut shape: Option<Vec<usize>> = None;
    let mut input_name = format!("{name}_input");
    for (i, e) in entries.iter().enumerate() {
        let (lname, class, cfg, trainable) = layer_parts(e)?;
        if class == "InputLayer" {
            if i != 0 {
                return Err(RkError::Spec(
                    "an InputLayer must come first in a Sequential model".into(),
                ));
            }
            shape = input_shape(&cfg);
            input_name = lname;
            continue;
        }
        if i == 0 && shape.is_none() {
            shape = input_shape(&cfg); // Keras 2 put batch_input_shape on the first layer
        }
        let mut cfg = cfg;
        if let Value::Object(o) = &mut cfg {
            o.remove("batch_input_shape");
        }
        layers.push(
            json!({"name": lname, "class_name": class, "config": cfg, "trainable": trainable}),
        );
    }
    let build = config
        .get("build_input_shape")
        .or_else(|| top.get("build_config").and_then(|b| b.get("input_shape")));
    if shape.is_none() {
        shape = build.and_then(shape_of);
    }
    let n = layers.len();
    let mut all = vec![input_layer(&input_name, shape)];
    all.extend(layers);
    let nodes: Vec<Value> = (0..=n)
        .map(|i| {
            if i == 0 {
                json!({"layer": 0, "inputs": []})
            } else {
                json!({"layer": i, "inputs": [i - 1]})
            }
        })
        .collect();
    Ok(ModelDesc {
        class: "Sequential".into(),
        name,
        graph: json!({"layers": all, "nodes": nodes, "inputs": [0], "outputs": [n]}),
    })
}

/// `[name, node, tensor]` triples of one inbound call (Keras 3 or Keras 2 form).
fn call_inputs(node: &Value) -> RkResult<Vec<(String, usize)>> {
    fn triple(v: &Value) -> Option<(String, usize)> {
        let a = v.as_array()?;
        Some((
            a.first()?.as_str()?.to_string(),
            a.get(1)?.as_u64()? as usize,
        ))
    }
    fn tensors(v: &Value, out: &mut Vec<(String, usize)>) {
        match v {
            Value::Object(o)
                if o.get("class_name").and_then(|c| c.as_str()) == Some("__keras_tensor__") =>
            {
                if let Some(t) = o
                    .get("config")
                    .and_then(|c| c.get("keras_history"))
                    .and_then(triple)
                {
                    out.push(t);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| tensors(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(args) = node.get("args") {
        tensors(args, &mut out); // Keras 3: {"args": [tensor or [tensors]], "kwargs": {}}
    } else if let Some(a) = node.as_array() {
        out.extend(a.iter().filter_map(triple)); // Keras 2: [["name", node, tensor, {}], ...]
    }
    if out.is_empty() {
        return Err(RkError::Spec(format!(
            "cannot read the inbound node {node}"
        )));
    }
    Ok(out)
}

fn ends(v: Option<&Value>) -> Vec<(String, usize)> {
    let Some(Value::Array(a)) = v else {
        return vec![];
    };
    let one = |x: &Value| -> Option<(String, usize)> {
        let t = x.as_array()?;
        Some((
            t.first()?.as_str()?.to_string(),
            t.get(1)?.as_u64()? as usize,
        ))
    };
    match a.first() {
        Some(Value::String(_)) => one(&Value::Array(a.clone())).into_iter().collect(),
        _ => a.iter().filter_map(one).collect(),
    }
}

fn parse_functional(config: &Value, entries: &[Value], name: String) -> RkResult<ModelDesc> {
    let mut layers = Vec::new();
    let mut calls: Vec<Vec<Vec<(String, usize)>>> = Vec::new();
    for e in entries {
        let (lname, class, cfg, trainable) = layer_parts(e)?;
        if class == "InputLayer" {
            layers.push(input_layer(&lname, input_shape(&cfg)));
            calls.push(vec![vec![]]);
            continue;
        }
        let inbound = e
            .get("inbound_nodes")
            .and_then(|n| n.as_array())
            .cloned()
            .unwrap_or_default();
        let c = inbound
            .iter()
            .map(call_inputs)
            .collect::<RkResult<Vec<_>>>()?;
        layers.push(
            json!({"name": lname, "class_name": class, "config": cfg, "trainable": trainable}),
        );
        calls.push(c);
    }
    let names: Vec<String> = layers
        .iter()
        .map(|l| l["name"].as_str().unwrap_or("").to_string())
        .collect();
    let index = |n: &str| {
        names
            .iter()
            .position(|x| x == n)
            .ok_or_else(|| RkError::Spec(format!("no layer named '{n}'")))
    };
    // Order the calls so that every call comes after the calls it reads.
    let mut done: std::collections::HashMap<(usize, usize), usize> =
        std::collections::HashMap::new();
    let mut nodes = Vec::new();
    let total: usize = calls.iter().map(|c| c.len()).sum();
    while nodes.len() < total {
        let before = nodes.len();
        for (li, lc) in calls.iter().enumerate() {
            for (ci, ins) in lc.iter().enumerate() {
                if done.contains_key(&(li, ci)) {
                    continue;
                }
                let resolved: Option<Vec<usize>> = ins
                    .iter()
                    .map(|(n, k)| index(n).ok().and_then(|j| done.get(&(j, *k)).copied()))
                    .collect();
                if let Some(inputs) = resolved {
                    done.insert((li, ci), nodes.len());
                    nodes.push(json!({"layer": li, "inputs": inputs}));
                }
            }
        }
        if nodes.len() == before {
            return Err(RkError::Spec(
                "the layers' inbound nodes do not form a graph from the inputs".into(),
            ));
        }
    }
    let node_of = |(n, k): &(String, usize)| -> RkResult<usize> {
        let li = index(n)?;
        done.get(&(li, *k))
            .copied()
            .ok_or_else(|| RkError::Spec(format!("layer '{n}' has no call {k}")))
    };
    let inputs = ends(config.get("input_layers"))
        .iter()
        .map(node_of)
        .collect::<RkResult<Vec<_>>>()?;
    let outputs = ends(config.get("output_layers"))
        .iter()
        .map(node_of)
        .collect::<RkResult<Vec<_>>>()?;
    Ok(ModelDesc {
        class: "Functional".into(),
        name,
        graph: json!({"layers": layers, "nodes": nodes, "inputs": inputs, "outputs": outputs}),
    })
}
