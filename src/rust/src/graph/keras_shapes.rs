//! Shapes in Keras's model JSON: batch shapes with `null` for the batch axis and for open
//! axes (`None`), and the input shape of an InputLayer config.

use crate::layers::Shape;
use serde_json::{json, Value};

/// A batch shape: `null` for the batch axis, then the sample's sizes.
pub(super) fn batch_shape(s: &Shape) -> Value {
    let mut v = vec![Value::Null];
    v.extend(s.iter().map(|&d| json!(d)));
    Value::Array(v)
}

/// A batch shape with open axes as `null`, as Keras writes `None`.
pub(super) fn open_batch_shape(s: &[Option<usize>]) -> Value {
    let mut v = vec![Value::Null];
    v.extend(s.iter().map(|d| json!(d)));
    Value::Array(v)
}

/// The sample shape of a batch shape; `None` for an open axis (`null`).
pub(super) fn shape_of(batch: &Value) -> Option<Vec<Option<usize>>> {
    let a = batch.as_array()?;
    a.iter()
        .skip(1)
        .map(|d| match d {
            Value::Null => Some(None),
            d => d.as_u64().map(|d| Some(d as usize)),
        })
        .collect()
}
/// Input shape of an InputLayer config (Keras 3 `batch_shape`, Keras 2 `batch_input_shape`).
pub(super) fn input_shape(config: &Value) -> Option<Vec<Option<usize>>> {
    config
        .get("batch_shape")
        .or_else(|| config.get("batch_input_shape"))
        .and_then(shape_of)
        .or_else(|| {
            config
                .get("shape")
                .and_then(|s| s.as_array())
                .and_then(|a| {
                    a.iter()
                        .map(|d| match d {
                            Value::Null => Some(None),
                            d => d.as_u64().map(|d| Some(d as usize)),
                        })
                        .collect()
                })
        })
}
