//! The attention layers' calls in Keras's JSON. Keras passes their inputs and options as
//! call arguments (`mha(query, value, key = k, attention_mask = m, use_causal_mask = TRUE)`,
//! `attention([q, v, k], return_attention_scores = TRUE)`); the engine's node reads
//! `[query, value, key]` (the value again when the call gives no key) and the attention
//! mask after them, and the layer keeps the call options in its config.

use super::keras_json::TensorRef;
use crate::error::{RkError, RkResult};
use serde_json::{json, Map, Value};

/// The call options the layers keep in their config.
pub const CALL_FLAGS: [&str; 2] = ["use_causal_mask", "return_attention_scores"];

pub fn is_attention(class: &str) -> bool {
    matches!(
        class,
        "MultiHeadAttention" | "Attention" | "AdditiveAttention"
    )
}

/// Move the call options out of a layer's config (Keras has no such config fields).
pub fn take_flags(config: &mut Map<String, Value>) -> Map<String, Value> {
    let mut flags = Map::new();
    for k in CALL_FLAGS {
        if let Some(v) = config.remove(k) {
            if v == json!(true) {
                flags.insert(k.into(), v);
            }
        }
    }
    flags
}

/// One inbound node of an attention call: `ts` are the node's input tensors
/// (`[query, value, key, mask?]`), `same_key` whether the key is the value.
pub fn attention_node(
    class: &str,
    flags: &Map<String, Value>,
    mut ts: Vec<Value>,
    same_key: bool,
    training: Option<bool>,
) -> Value {
    let mask = (ts.len() > 3).then(|| ts.remove(3));
    let key = ts.remove(2);
    let mut kwargs = flags.clone();
    let args = if class == "MultiHeadAttention" {
        if !same_key {
            kwargs.insert("key".into(), key);
        }
        if let Some(m) = mask {
            kwargs.insert("attention_mask".into(), m);
        }
        json!(ts)
    } else {
        if !same_key {
            ts.push(key);
        }
        json!([ts])
    };
    if let Some(t) = training {
        kwargs.insert("training".into(), json!(t));
    }
    json!({"args": args, "kwargs": kwargs})
}

/// Keras's `build_config` of an attention layer from its first call's input shapes.
pub fn attention_build(class: &str, mut shapes: Vec<Value>, same_key: bool) -> Value {
    shapes.truncate(3);
    if same_key {
        shapes.truncate(2);
    }
    if class == "MultiHeadAttention" {
        let mut d = json!({"query_shape": shapes[0], "value_shape": shapes[1]});
        if let Some(k) = shapes.get(2) {
            d["key_shape"] = k.clone();
        }
        json!({"shapes_dict": d})
    } else {
        json!({"input_shape": shapes})
    }
}

/// The inputs `[query, value, key, mask?]` and call options of an attention call read from
/// Keras's inbound node; `refs` lists the tensors of a JSON value in order.
pub fn attention_inputs(
    class: &str,
    node: &Value,
    refs: &dyn Fn(&Value) -> Vec<TensorRef>,
) -> RkResult<(Vec<TensorRef>, Map<String, Value>)> {
    let empty = Map::new();
    let kwargs = node
        .get("kwargs")
        .and_then(|k| k.as_object())
        .unwrap_or(&empty);
    let args = node.get("args").map(refs).unwrap_or_default();
    let kw = |k: &str| kwargs.get(k).map(refs).unwrap_or_default();
    let mut ins = args;
    if class == "MultiHeadAttention" {
        for k in ["query", "value", "key"] {
            ins.extend(kw(k));
        }
    } else {
        ins.extend(kw("inputs"));
    }
    if ins.len() < 2 || ins.len() > 3 {
        return Err(RkError::Spec(format!(
            "cannot read the inputs of a {class} call: {node}"
        )));
    }
    if ins.len() == 2 {
        ins.push(ins[1].clone());
    }
    let mask = kw("attention_mask");
    if class != "MultiHeadAttention" && (kwargs.get("mask").is_some_and(|m| !m.is_null())) {
        return Err(RkError::Unsupported(format!(
            "a {class} call given `mask` is not supported by rkeras: its inputs' own masks are used"
        )));
    }
    ins.extend(mask);
    let mut flags = Map::new();
    for k in CALL_FLAGS {
        if let Some(v) = kwargs.get(k) {
            flags.insert(k.into(), v.clone());
        }
    }
    for k in ["query_mask", "value_mask", "key_mask"] {
        if kwargs.get(k).is_some_and(|m| !m.is_null()) {
            return Err(RkError::Unsupported(format!(
                "a {class} call given `{k}` is not supported by rkeras: its inputs' own masks are used"
            )));
        }
    }
    Ok((ins, flags))
}
