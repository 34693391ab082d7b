//! Models as Keras's JSON (`model.to_json()`, `keras.models.model_from_json()`): writing
//! what Keras 3 writes for Sequential and functional models, and reading Keras 3's and
//! Keras 2's (Keras for R 2.x) JSON into the description a graph is built from.

use super::keras_calls::{
    attention_build, attention_inputs, attention_node, is_attention, take_flags, CALL_FLAGS,
};
use super::keras_shapes::{batch_shape, input_shape, open_batch_shape, shape_of};
use super::nested::Owner;
use super::Graph;
use crate::error::{RkError, RkResult};
use serde_json::{json, Map, Value};

impl Graph {
    /// The model as Keras 3 writes it: `Sequential` (a chain from one input) or `Functional`.
    pub fn to_keras(&self, name: &str, sequential: bool) -> Value {
        let built = self.built();
        let node_shape = |n: usize| {
            if !built {
                Value::Null
            } else if let Some(open) = self.symbolic.get(n) {
                open_batch_shape(open)
            } else {
                batch_shape(&self.shapes[n])
            }
        };
        // Each node's call index among its layer's calls (Keras's node index).
        let mut calls = vec![0usize; self.slots.len()];
        let call_of: Vec<usize> = self
            .nodes
            .iter()
            .map(|n| {
                if n.is_call() {
                    calls[n.layer] += 1;
                }
                calls[n.layer].saturating_sub(1)
            })
            .collect();
        // Keras's [layer, call, output]: a part node names output `take` of the call it reads.
        let history = |n: usize| {
            if let Some((name, call, k)) = self.nested_history(n) {
                return json!([name, call, k]);
            }
            let node = &self.nodes[n];
            let (call, k) = match node.take {
                Some(k) => (call_of[node.inputs[0]], k),
                None => (call_of[n], 0),
            };
            json!([self.slots[node.layer].name, call, k])
        };
        let tensor = |j: usize| {
            json!({"class_name": "__keras_tensor__",
                   "config": {"shape": node_shape(j), "dtype": "float32", "keras_history": history(j)}})
        };
        let mut layers = Vec::new();
        let mut emitted = Vec::new();
        for (li, slot) in self.slots.iter().enumerate() {
            if let Owner::Model(r) = self.slot_owner(li) {
                if !emitted.contains(&r) {
                    emitted.push(r);
                    layers.push(self.nested_entry(r, sequential, &tensor));
                }
                continue;
            }
            let nodes: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].layer == li && self.nodes[i].is_call())
                .collect();
            let mut entry = Map::new();
            let mut flags = Map::new();
            let attention = is_attention(slot.class_name());
            // Whether a call's key is its value (written as no key).
            let same_key = |n: usize| self.nodes[n].inputs.get(2) == self.nodes[n].inputs.get(1);
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
                    let batch = match &slot.declared {
                        Some(d) => open_batch_shape(d),
                        None => shape.as_ref().map(batch_shape).unwrap_or(Value::Null),
                    };
                    json!({"batch_shape": batch, "dtype": "float32",
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
                    flags = take_flags(&mut c);
                    let own = layer.class_name() == "ActivityRegularization";
                    if let (Some((l1, l2)), false) = (slot.activity, own) {
                        c.insert(
                            "activity_regularizer".into(),
                            crate::config::reg_to_value(l1, l2),
                        );
                    }
                    Value::Object(c)
                }
            };
            entry.insert("config".into(), config);
            entry.insert("registered_name".into(), Value::Null);
            let states = |n: usize| {
                slot.layer.as_ref().is_some_and(|l| l.takes_initial_state())
                    && self.nodes[n].inputs.len() > 1
            };
            if let (Some(_), true, Some(&first)) = (&slot.layer, built, nodes.first()) {
                let ins: Vec<Value> = self.nodes[first]
                    .inputs
                    .iter()
                    .map(|&j| node_shape(j))
                    .collect();
                let build = if attention {
                    attention_build(slot.class_name(), ins, same_key(first))
                } else if states(first) {
                    // Keras 3's recurrent layers build from their sequences' and states' shapes.
                    json!({"shapes_dict": {"sequences_shape": ins[0],
                                           "initial_state_shape": ins[1..]}})
                } else if ins.len() == 1 {
                    json!({"input_shape": ins[0]})
                } else {
                    json!({"input_shape": ins})
                };
                entry.insert("build_config".into(), build);
            }
            if !sequential {
                entry.insert("name".into(), json!(slot.name));
                let inbound: Vec<Value> = nodes
                    .iter()
                    .filter(|&&n| slot.layer.is_some() || !self.nodes[n].inputs.is_empty())
                    .map(|&n| {
                        let ts: Vec<Value> =
                            self.nodes[n].inputs.iter().map(|&j| tensor(j)).collect();
                        let training = self.nodes[n].training;
                        if attention {
                            attention_node(slot.class_name(), &flags, ts, same_key(n), training)
                        } else if states(n) {
                            let mut ts = ts;
                            let initial = ts.split_off(1);
                            call_node(ts, &initial, training)
                        } else {
                            call_node(ts, &[], training)
                        }
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
                .map(|&n| node_shape(n));
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

impl Graph {
    /// The entry of a model used as a layer (`r`, its first call's record): its own JSON,
    /// and in a functional model the tensors each of its calls reads.
    fn nested_entry(&self, r: usize, sequential: bool, tensor: &dyn Fn(usize) -> Value) -> Value {
        let rec = &self.nested[r];
        let own = rec.config.clone().unwrap_or(Value::Null);
        let functional = rec.class_name != "Sequential";
        let mut entry = Map::new();
        let module = if functional {
            "keras.src.models.functional"
        } else {
            "keras"
        };
        entry.insert("module".into(), json!(module));
        entry.insert("class_name".into(), json!(rec.class_name));
        let config = own
            .get("config")
            .cloned()
            .unwrap_or_else(|| json!({"name": rec.name}));
        entry.insert("config".into(), config);
        let registered = if functional {
            json!("Functional")
        } else {
            Value::Null
        };
        entry.insert("registered_name".into(), registered);
        if let Some(b) = own.get("build_config") {
            entry.insert("build_config".into(), b.clone());
        }
        if !sequential {
            entry.insert("name".into(), json!(rec.name));
            let inbound: Vec<Value> = self
                .model_calls(r)
                .iter()
                .map(|&k| {
                    let ts: Vec<Value> = self.nested[k].inputs.iter().map(|&j| tensor(j)).collect();
                    call_node(ts, &[], self.nested[k].training)
                })
                .collect();
            entry.insert("inbound_nodes".into(), Value::Array(inbound));
        }
        Value::Object(entry)
    }
}

/// One inbound node as Keras 3 writes it: the call's tensors (one, or a list of them), a
/// recurrent layer's initial states, and the call's `training` argument when it has one.
fn call_node(mut ts: Vec<Value>, initial_state: &[Value], training: Option<bool>) -> Value {
    let arg = if ts.len() == 1 {
        ts.remove(0)
    } else {
        Value::Array(ts)
    };
    let mut kwargs = Map::new();
    if !initial_state.is_empty() {
        kwargs.insert("initial_state".into(), json!(initial_state));
    }
    if let Some(t) = training {
        kwargs.insert("training".into(), json!(t));
    }
    json!({"args": [arg], "kwargs": kwargs})
}

/// A model read from Keras's JSON: its class (`"Sequential"` or `"Functional"`), name, and
/// the graph description of `spec.rs` (layers with Keras configs, nodes in order).
pub struct ModelDesc {
    pub class: String,
    pub name: String,
    pub graph: Value,
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
    let trainable = config
        .get("trainable")
        .and_then(|t| t.as_bool())
        .unwrap_or(true);
    if is_model(&class) {
        // A model used as a layer keeps its whole entry: R builds it as a model of its own.
        return Ok((name, model_class(&class).into(), entry.clone(), trainable));
    }
    if let Value::Object(o) = &mut config {
        for k in ["name", "trainable", "dtype"] {
            o.remove(k);
        }
    }
    Ok((name, class, config, trainable))
}

/// Whether a layer entry's class is a model's (a model used as a layer).
pub fn is_model(class: &str) -> bool {
    matches!(class, "Sequential" | "Functional" | "Model")
}

fn model_class(class: &str) -> &'static str {
    if class == "Sequential" {
        "Sequential"
    } else {
        "Functional"
    }
}

fn input_layer(name: &str, shape: Option<Vec<Option<usize>>>) -> Value {
    json!({"name": name, "class_name": "InputLayer", "config": {"shape": shape}})
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
    let mut shape: Option<Vec<Option<usize>>> = None;
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

/// A tensor reference: Keras's `[layer name, call, output]`.
pub(super) type TensorRef = (String, usize, usize);

fn tensor_ref(v: &Value) -> Option<TensorRef> {
    let a = v.as_array()?;
    Some((
        a.first()?.as_str()?.to_string(),
        a.get(1)?.as_u64()? as usize,
        a.get(2).and_then(|t| t.as_u64()).unwrap_or(0) as usize,
    ))
}

/// The tensors of a JSON value of Keras's, in order.
fn collect_tensors(v: &Value, out: &mut Vec<TensorRef>) {
    match v {
        Value::Object(o)
            if o.get("class_name").and_then(|c| c.as_str()) == Some("__keras_tensor__") =>
        {
            if let Some(t) = o
                .get("config")
                .and_then(|c| c.get("keras_history"))
                .and_then(tensor_ref)
            {
                out.push(t);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_tensors(x, out)),
        _ => {}
    }
}

/// The tensors one inbound call reads (Keras 3 or Keras 2 form), a recurrent layer's
/// initial states after its sequence.
fn call_inputs(node: &Value) -> RkResult<Vec<TensorRef>> {
    let tensors = collect_tensors;
    let mut out = Vec::new();
    if let Some(args) = node.get("args") {
        // Keras 3: {"args": [tensor or [tensors]], "kwargs": {"initial_state": [...]}}
        tensors(args, &mut out);
        if let Some(states) = node.get("kwargs").and_then(|k| k.get("initial_state")) {
            tensors(states, &mut out);
        }
    } else if let Some(a) = node.as_array() {
        out.extend(a.iter().filter_map(tensor_ref)); // Keras 2: [["name", node, tensor, {}], ...]
    }
    if out.is_empty() {
        return Err(RkError::Spec(format!(
            "cannot read the inbound node {node}"
        )));
    }
    Ok(out)
}

fn ends(v: Option<&Value>) -> Vec<TensorRef> {
    let Some(Value::Array(a)) = v else {
        return vec![];
    };
    match a.first() {
        Some(Value::String(_)) => tensor_ref(&Value::Array(a.clone())).into_iter().collect(),
        _ => a.iter().filter_map(tensor_ref).collect(),
    }
}

/// The operations Keras 3 computes masks with.
const MASK_OPS: [&str; 12] = [
    "NotEqual",
    "Equal",
    "LogicalOr",
    "LogicalAnd",
    "LogicalNot",
    "ExpandDims",
    "ZerosLike",
    "OnesLike",
    "ConvertToTensor",
    "Any",
    "All",
    "Cast",
];

fn parse_functional(config: &Value, entries: &[Value], name: String) -> RkResult<ModelDesc> {
    let mut layers = Vec::new();
    let mut calls: Vec<Vec<Vec<TensorRef>>> = Vec::new();
    // Each call's `training` argument, if it has one.
    let mut trainings: Vec<Vec<Option<bool>>> = Vec::new();
    // An operation's entry: its module in `.keras` files; in legacy files, which name no
    // module, the operations Keras builds masks with (a concatenation of boolean masks).
    let op = |e: &Value| match e.get("module").and_then(|m| m.as_str()) {
        Some(m) => m.starts_with("keras.src.ops"),
        None => {
            let class = e.get("class_name").and_then(|c| c.as_str()).unwrap_or("");
            let bool_args = e
                .pointer("/inbound_nodes/0/args/0")
                .map(|a| a.to_string().contains("\"dtype\":\"bool\""))
                .unwrap_or(false);
            MASK_OPS.contains(&class) || (class == "Concatenate" && bool_args)
        }
    };
    // The tensors layers read, other than as their `mask` argument.
    let mut read = Vec::new();
    for e in entries.iter().filter(|e| !op(e)) {
        for node in e
            .get("inbound_nodes")
            .and_then(|n| n.as_array())
            .into_iter()
            .flatten()
        {
            collect_tensors(node.get("args").unwrap_or(&Value::Null), &mut read);
            if let Some(Value::Object(kw)) = node.get("kwargs") {
                for (k, v) in kw {
                    if k != "mask" {
                        collect_tensors(v, &mut read);
                    }
                }
            }
        }
    }
    read.extend(ends(config.get("output_layers")));
    for e in entries {
        if op(e) {
            // Keras 3 writes the masks layers pass on (`not_equal(ids, 0)`, merged masks) as
            // operations that masked layers read as their `mask` argument; the engine makes
            // those masks itself. Other operations between layers are not read yet.
            let name = e.get("name").and_then(|n| n.as_str()).unwrap_or("");
            if read.iter().any(|(n, _, _)| n == name) {
                return Err(RkError::Unsupported(format!(
                    "the model computes with Keras operation '{}' ({name}) between its layers, which rkeras cannot read yet",
                    e.get("class_name").and_then(|c| c.as_str()).unwrap_or("?")
                )));
            }
            continue;
        }
        let (lname, class, cfg, trainable) = layer_parts(e)?;
        if class == "InputLayer" {
            layers.push(input_layer(&lname, input_shape(&cfg)));
            calls.push(vec![vec![]]);
            trainings.push(vec![None]);
            continue;
        }
        let inbound = e
            .get("inbound_nodes")
            .and_then(|n| n.as_array())
            .cloned()
            .unwrap_or_default();
        let (c, cfg) = if is_attention(&class) {
            let refs = |v: &Value| {
                let mut out = Vec::new();
                collect_tensors(v, &mut out);
                out
            };
            let mut cfg = cfg;
            let mut c = Vec::new();
            for (i, node) in inbound.iter().enumerate() {
                let (ins, flags) = attention_inputs(&class, node, &refs)?;
                if i == 0 {
                    if let Value::Object(o) = &mut cfg {
                        o.extend(flags);
                    }
                } else if CALL_FLAGS.iter().any(|k| {
                    flags.get(*k).unwrap_or(&json!(false)) != cfg.get(*k).unwrap_or(&json!(false))
                }) {
                    return Err(RkError::Unsupported(format!(
                        "layer '{lname}' is called with different `use_causal_mask` or `return_attention_scores`, which rkeras does not support"
                    )));
                }
                c.push(ins);
            }
            (c, cfg)
        } else {
            let c = inbound
                .iter()
                .map(call_inputs)
                .collect::<RkResult<Vec<_>>>()?;
            (c, cfg)
        };
        layers.push(
            json!({"name": lname, "class_name": class, "config": cfg, "trainable": trainable}),
        );
        calls.push(c);
        trainings.push(
            inbound
                .iter()
                .map(|n| {
                    n.get("kwargs")
                        .and_then(|k| k.get("training"))
                        .and_then(|t| t.as_bool())
                })
                .collect(),
        );
    }
    let names: Vec<String> = layers
        .iter()
        .map(|l| l["name"].as_str().unwrap_or("").to_string())
        .collect();
    // Layers that return several tensors: each output read becomes a part node.
    let several: Vec<bool> = layers
        .iter()
        .map(|l| {
            let c = &l["config"];
            c.get("return_state") == Some(&json!(true))
                || c.get("return_attention_scores") == Some(&json!(true))
                || (is_model(l["class_name"].as_str().unwrap_or(""))
                    && ends(c.get("config").and_then(|c| c.get("output_layers"))).len() > 1)
        })
        .collect();
    let index = |n: &str| {
        names
            .iter()
            .position(|x| x == n)
            .ok_or_else(|| RkError::Spec(format!("no layer named '{n}'")))
    };
    let mut g = Resolver {
        done: std::collections::HashMap::new(),
        parts: std::collections::HashMap::new(),
        nodes: Vec::new(),
        several,
    };
    // Order the calls so that every call comes after the calls it reads.
    let total: usize = calls.iter().map(|c| c.len()).sum();
    let mut placed = 0;
    while placed < total {
        let before = placed;
        for (li, lc) in calls.iter().enumerate() {
            for (ci, ins) in lc.iter().enumerate() {
                if g.done.contains_key(&(li, ci)) {
                    continue;
                }
                let ready = ins
                    .iter()
                    .all(|(n, k, _)| index(n).ok().is_some_and(|j| g.done.contains_key(&(j, *k))));
                if ready {
                    let inputs = ins
                        .iter()
                        .map(|(n, k, t)| g.tensor(index(n)?, *k, *t))
                        .collect::<RkResult<Vec<_>>>()?;
                    g.done.insert((li, ci), g.nodes.len());
                    let mut node = json!({"layer": li, "inputs": inputs});
                    if let Some(t) = trainings[li].get(ci).copied().flatten() {
                        node["training"] = json!(t);
                    }
                    g.nodes.push(node);
                    placed += 1;
                }
            }
        }
        if placed == before {
            return Err(RkError::Spec(
                "the layers' inbound nodes do not form a graph from the inputs".into(),
            ));
        }
    }
    let mut node_of = |(n, k, t): &TensorRef| -> RkResult<usize> {
        let li = index(n)?;
        if !g.done.contains_key(&(li, *k)) {
            return Err(RkError::Spec(format!("layer '{n}' has no call {k}")));
        }
        g.tensor(li, *k, *t)
    };
    let inputs = ends(config.get("input_layers"))
        .iter()
        .map(&mut node_of)
        .collect::<RkResult<Vec<_>>>()?;
    let outputs = ends(config.get("output_layers"))
        .iter()
        .map(&mut node_of)
        .collect::<RkResult<Vec<_>>>()?;
    Ok(ModelDesc {
        class: "Functional".into(),
        name,
        graph: json!({"layers": layers, "nodes": g.nodes, "inputs": inputs, "outputs": outputs}),
    })
}

/// The nodes of a functional model being read: each placed call `(layer, call)`, and the
/// part nodes made for the outputs of layers that return several.
struct Resolver {
    done: std::collections::HashMap<(usize, usize), usize>,
    parts: std::collections::HashMap<(usize, usize, usize), usize>,
    nodes: Vec<Value>,
    several: Vec<bool>,
}

impl Resolver {
    /// The node of output `t` of call `k` of layer `li` (a placed call).
    fn tensor(&mut self, li: usize, k: usize, t: usize) -> RkResult<usize> {
        let call = self.done[&(li, k)];
        if !self.several[li] {
            if t != 0 {
                return Err(RkError::Spec(format!(
                    "output {t} of a layer that returns one tensor is read"
                )));
            }
            return Ok(call);
        }
        if let Some(&n) = self.parts.get(&(li, k, t)) {
            return Ok(n);
        }
        let n = self.nodes.len();
        self.nodes
            .push(json!({"layer": li, "inputs": [call], "take": t}));
        self.parts.insert((li, k, t), n);
        Ok(n)
    }
}
