//! Keras's configuration objects (initializers, regularizers) read from and written as
//! the JSON Keras 3 writes; reading also takes Keras 2's forms and the short forms R sends
//! (`"glorot_uniform"`, `{"name": "random_normal", "args": [0, 0.05]}`, `{"l1": 0, "l2": 0.01}`).

use crate::error::{RkError, RkResult};
use crate::initializers::Init;
use serde_json::{json, Value};

fn num(cfg: &Value, key: &str, default: f64) -> RkResult<f64> {
    match cfg.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_f64().ok_or_else(|| {
            RkError::Spec(format!(
                "initializer field `{key}` must be a number, got {v}"
            ))
        }),
    }
}

/// An initializer from any of its JSON forms.
pub fn init_from_value(v: &Value) -> RkResult<Init> {
    match v {
        Value::String(s) => Init::parse(s, 0.0, 0.0),
        Value::Object(o) if o.contains_key("name") && !o.contains_key("class_name") => {
            let name = o["name"].as_str().unwrap_or("");
            let args: Vec<f64> = o
                .get("args")
                .and_then(|a| a.as_array())
                .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
                .unwrap_or_default();
            Init::parse(
                name,
                args.first().copied().unwrap_or(0.0),
                args.get(1).copied().unwrap_or(0.0),
            )
        }
        Value::Object(o) => {
            let class = o.get("class_name").and_then(|c| c.as_str()).unwrap_or("");
            let cfg = o.get("config").cloned().unwrap_or(json!({}));
            let vs = |scale, mode, distribution| Init::VarianceScaling {
                scale,
                mode,
                distribution,
            };
            Ok(match class {
                "Zeros" | "zeros" => Init::Zeros,
                "Ones" | "ones" => Init::Ones,
                "Constant" => Init::Constant(num(&cfg, "value", 0.0)?),
                "RandomNormal" => Init::RandomNormal {
                    mean: num(&cfg, "mean", 0.0)?,
                    stddev: num(&cfg, "stddev", 0.05)?,
                },
                "RandomUniform" => Init::RandomUniform {
                    min: num(&cfg, "minval", -0.05)?,
                    max: num(&cfg, "maxval", 0.05)?,
                },
                "TruncatedNormal" => Init::TruncatedNormal {
                    mean: num(&cfg, "mean", 0.0)?,
                    stddev: num(&cfg, "stddev", 0.05)?,
                },
                "Orthogonal" => Init::Orthogonal {
                    gain: num(&cfg, "gain", 1.0)?,
                },
                "GlorotUniform" => vs(1.0, 2, 1),
                "GlorotNormal" => vs(1.0, 2, 0),
                "HeUniform" => vs(2.0, 0, 1),
                "HeNormal" => vs(2.0, 0, 0),
                "LecunUniform" => vs(1.0, 0, 1),
                "LecunNormal" => vs(1.0, 0, 0),
                "VarianceScaling" => {
                    let mode = match cfg.get("mode").and_then(|m| m.as_str()).unwrap_or("fan_in") {
                        "fan_in" => 0,
                        "fan_out" => 1,
                        "fan_avg" => 2,
                        m => {
                            return Err(RkError::Spec(format!(
                                "VarianceScaling mode '{m}' is not fan_in, fan_out or fan_avg"
                            )))
                        }
                    };
                    let distribution = match cfg
                        .get("distribution")
                        .and_then(|m| m.as_str())
                        .unwrap_or("truncated_normal")
                    {
                        "truncated_normal" | "normal" => 0,
                        "uniform" => 1,
                        "untruncated_normal" => 2,
                        d => {
                            return Err(RkError::Spec(format!(
                                "VarianceScaling distribution '{d}' is not supported"
                            )))
                        }
                    };
                    vs(num(&cfg, "scale", 1.0)?, mode, distribution)
                }
                other => {
                    return Err(RkError::Unsupported(format!(
                        "initializer class '{other}' is not supported by rkeras"
                    )))
                }
            })
        }
        other => Err(RkError::Spec(format!(
            "an initializer must be a name or an object, got {other}"
        ))),
    }
}

/// An initializer as Keras 3 writes it.
pub fn init_to_value(init: &Init) -> Value {
    let (class, cfg) = match *init {
        Init::Zeros => ("Zeros", json!({})),
        Init::Ones => ("Ones", json!({})),
        Init::Constant(c) => ("Constant", json!({"value": c})),
        Init::RandomNormal { mean, stddev } => (
            "RandomNormal",
            json!({"mean": mean, "stddev": stddev, "seed": null}),
        ),
        Init::RandomUniform { min, max } => (
            "RandomUniform",
            json!({"minval": min, "maxval": max, "seed": null}),
        ),
        Init::TruncatedNormal { mean, stddev } => (
            "TruncatedNormal",
            json!({"mean": mean, "stddev": stddev, "seed": null}),
        ),
        Init::Orthogonal { gain } => ("Orthogonal", json!({"gain": gain, "seed": null})),
        Init::VarianceScaling {
            scale,
            mode,
            distribution,
        } => {
            let named = match (scale, mode, distribution) {
                (1.0, 2, 1) => Some("GlorotUniform"),
                (1.0, 2, 0) => Some("GlorotNormal"),
                (2.0, 0, 1) => Some("HeUniform"),
                (2.0, 0, 0) => Some("HeNormal"),
                (1.0, 0, 1) => Some("LecunUniform"),
                (1.0, 0, 0) => Some("LecunNormal"),
                _ => None,
            };
            match named {
                Some(n) => (n, json!({"seed": null})),
                None => {
                    let mode = ["fan_in", "fan_out", "fan_avg"][mode.min(2) as usize];
                    let dist = ["truncated_normal", "uniform", "untruncated_normal"]
                        [distribution.min(2) as usize];
                    (
                        "VarianceScaling",
                        json!({"scale": scale, "mode": mode, "distribution": dist, "seed": null}),
                    )
                }
            }
        }
    };
    json!({"module": "keras.initializers", "class_name": class, "config": cfg, "registered_name": null})
}

/// `(l1, l2)` of a kernel regularizer (null: none).
pub fn reg_from_value(v: &Value) -> RkResult<(f64, f64)> {
    let get = |o: &Value, k: &str| o.get(k).and_then(|x| x.as_f64()).unwrap_or(0.0);
    match v {
        Value::Null => Ok((0.0, 0.0)),
        Value::Object(o) if !o.contains_key("class_name") => Ok((get(v, "l1"), get(v, "l2"))),
        Value::Object(o) => {
            let cfg = o.get("config").cloned().unwrap_or(json!({}));
            match o.get("class_name").and_then(|c| c.as_str()).unwrap_or("") {
                "L1L2" => Ok((get(&cfg, "l1"), get(&cfg, "l2"))),
                "L1" => Ok((get(&cfg, "l1"), 0.0)),
                "L2" => Ok((0.0, get(&cfg, "l2"))),
                other => Err(RkError::Unsupported(format!(
                    "regularizer class '{other}' is not supported by rkeras"
                ))),
            }
        }
        other => Err(RkError::Spec(format!(
            "a regularizer must be an object or null, got {other}"
        ))),
    }
}

/// A kernel regularizer as Keras 3 writes it (null when both factors are 0).
pub fn reg_to_value(l1: f64, l2: f64) -> Value {
    if l1 == 0.0 && l2 == 0.0 {
        return Value::Null;
    }
    json!({"module": "keras.regularizers", "class_name": "L1L2",
           "config": {"l1": l1, "l2": l2}, "registered_name": null})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initializers_and_regularizers_round_trip_through_keras_json() {
        for name in [
            "zeros",
            "ones",
            "glorot_uniform",
            "glorot_normal",
            "he_uniform",
            "he_normal",
            "lecun_uniform",
            "lecun_normal",
        ] {
            let init = Init::parse(name, 0.0, 0.0).unwrap();
            assert_eq!(
                init_from_value(&init_to_value(&init)).unwrap(),
                init,
                "{name}"
            );
        }
        for init in [
            Init::Constant(0.5),
            Init::RandomNormal {
                mean: 0.1,
                stddev: 0.2,
            },
            Init::RandomUniform {
                min: -0.3,
                max: 0.3,
            },
            Init::TruncatedNormal {
                mean: 0.0,
                stddev: 0.1,
            },
            Init::VarianceScaling {
                scale: 3.0,
                mode: 1,
                distribution: 2,
            },
        ] {
            assert_eq!(init_from_value(&init_to_value(&init)).unwrap(), init);
        }
        // Keras 2's form (no module) and R's short form.
        let k2 = json!({"class_name": "RandomUniform", "config": {"minval": -1.0, "maxval": 2.0, "seed": null}});
        assert_eq!(
            init_from_value(&k2).unwrap(),
            Init::RandomUniform {
                min: -1.0,
                max: 2.0
            }
        );
        assert_eq!(
            init_from_value(&json!({"name": "random_normal", "args": [1.0, 2.0]})).unwrap(),
            Init::RandomNormal {
                mean: 1.0,
                stddev: 2.0
            }
        );
        assert!(init_from_value(&json!({"class_name": "Identity", "config": {}})).is_err());
        let o =
            init_from_value(&json!({"class_name": "Orthogonal", "config": {"gain": 2.0}})).unwrap();
        assert_eq!(o, Init::Orthogonal { gain: 2.0 });
        assert_eq!(init_from_value(&init_to_value(&o)).unwrap(), o);
        assert_eq!(
            reg_from_value(&reg_to_value(0.25, 0.5)).unwrap(),
            (0.25, 0.5)
        );
        assert_eq!(
            reg_from_value(&json!({"class_name": "L2", "config": {"l2": 0.5}})).unwrap(),
            (0.0, 0.5)
        );
        assert_eq!(reg_to_value(0.0, 0.0), Value::Null);
    }
}
