//! Convolutions' configuration (Conv1D/2D/2DTranspose, depthwise and separable): read from
//! Keras's config (or R's), written as Keras 3 writes it.

use super::conv::Conv;
use super::depthwise::Depthwise;
use super::patches::{tuple_field, Padding};
use super::{channels_last, field, field_or, refuse_unsupported};
use crate::activations::Act;
use crate::config::{init_from_value, init_to_value, reg_from_value, reg_to_value};
use crate::error::{RkError, RkResult};
use crate::initializers::Init;
use serde_json::{json, Value};

/// The 2-d form of a 1- or 2-element Keras tuple (1-d layers have height 1).
fn two(v: &[usize]) -> [usize; 2] {
    match v {
        [a] => [1, *a],
        [a, b, ..] => [*a, *b],
        [] => [1, 1],
    }
}

/// A 2-d form written back as Keras's tuple: one value for 1-d layers (the inverse of
/// [`two`]).
fn tuple_value(rank: usize, v: [usize; 2]) -> Value {
    if rank == 1 {
        json!([v[1]])
    } else {
        json!(v)
    }
}

/// The window every convolution reads, in 2-d form: kernel size, strides and dilation, once
/// the layout is checked to be channels-last.
fn window(c: &Value, class: &str, rank: usize) -> RkResult<[[usize; 2]; 3]> {
    channels_last(c, class)?;
    Ok([
        two(&tuple_field(c, class, "kernel_size", rank, None)?),
        two(&tuple_field(c, class, "strides", rank, Some(1))?),
        two(&tuple_field(c, class, "dilation_rate", rank, Some(1))?),
    ])
}

/// Initializer field `key`, or the initializer named `default` when absent.
fn init_field(c: &Value, key: &str, default: &str) -> RkResult<Init> {
    match c.get(key) {
        None | Some(Value::Null) => Init::parse(default, 0.0, 0.0),
        Some(v) => init_from_value(v),
    }
}

impl Conv {
    pub fn from_config(class: &str, c: &Value, seed: u64) -> RkResult<Conv> {
        let (class, rank, transpose) = match class {
            "Conv1D" => ("Conv1D", 1, false),
            "Conv2D" => ("Conv2D", 2, false),
            "Conv1DTranspose" => ("Conv1DTranspose", 1, true),
            "Conv2DTranspose" => ("Conv2DTranspose", 2, true),
            other => return Err(RkError::Internal(format!("not a convolution: {other}"))),
        };
        let filters: usize = field(c, class, "filters")?;
        if filters == 0 || filters > (1 << 24) {
            return Err(RkError::Spec(format!(
                "{class} `filters` must be a positive integer, got {filters}"
            )));
        }
        let [kernel, strides, dilation] = window(c, class, rank)?;
        if strides.iter().any(|&s| s > 1) && dilation.iter().any(|&d| d > 1) {
            return Err(RkError::Spec(format!(
                "{class}: `strides` > 1 together with `dilation_rate` > 1 is not supported (as in Keras)"
            )));
        }
        let padding = Padding::parse(c, class, rank == 1 && !transpose)?;
        let groups: usize = field_or(c, class, "groups", 1)?;
        if groups != 1 {
            return Err(RkError::Unsupported(format!(
                "{class} `groups` other than 1 is not supported by rkeras yet"
            )));
        }
        refuse_unsupported(
            c,
            class,
            &[
                "output_padding",
                "bias_regularizer",
                "kernel_constraint",
                "bias_constraint",
            ],
        )?;
        let act: Option<String> = field_or(c, class, "activation", None)?;
        let init = |key: &str, default: &str| init_field(c, key, default);
        let (l1, l2) = reg_from_value(c.get("kernel_regularizer").unwrap_or(&Value::Null))?;
        Ok(Conv {
            class,
            rank,
            transpose,
            filters,
            kernel,
            strides,
            dilation,
            padding,
            act: Act::parse(act.as_deref().unwrap_or("linear"))?,
            use_bias: field_or(c, class, "use_bias", true)?,
            kernel_init: init("kernel_initializer", "glorot_uniform")?,
            bias_init: init("bias_initializer", "zeros")?,
            l1,
            l2,
            seed,
            params: Vec::new(),
        })
    }

    /// Keras 3's config fields.
    pub(super) fn config_value(&self) -> Value {
        let tuple = |v: [usize; 2]| tuple_value(self.rank, v);
        let mut c = json!({
            "filters": self.filters,
            "kernel_size": tuple(self.kernel),
            "strides": tuple(self.strides),
            "padding": self.padding.name(),
            "data_format": "channels_last",
            "dilation_rate": tuple(self.dilation),
        });
        let m = c.as_object_mut().expect("object");
        if self.transpose {
            m.insert("output_padding".into(), Value::Null);
        } else {
            m.insert("groups".into(), json!(1));
        }
        for (k, v) in [
            ("activation", json!(self.act.name())),
            ("use_bias", json!(self.use_bias)),
            ("kernel_initializer", init_to_value(&self.kernel_init)),
            ("bias_initializer", init_to_value(&self.bias_init)),
            ("kernel_regularizer", reg_to_value(self.l1, self.l2)),
            ("bias_regularizer", Value::Null),
            ("activity_regularizer", Value::Null),
            ("kernel_constraint", Value::Null),
            ("bias_constraint", Value::Null),
        ] {
            m.insert(k.into(), v);
        }
        c
    }
}

impl Depthwise {
    pub fn from_config(class: &str, c: &Value, seed: u64) -> RkResult<Depthwise> {
        let (class, rank, separable) = match class {
            "DepthwiseConv1D" => ("DepthwiseConv1D", 1, false),
            "DepthwiseConv2D" => ("DepthwiseConv2D", 2, false),
            "SeparableConv1D" => ("SeparableConv1D", 1, true),
            "SeparableConv2D" => ("SeparableConv2D", 2, true),
            other => {
                return Err(RkError::Internal(format!(
                    "not a depthwise convolution: {other}"
                )))
            }
        };
        let count = |key: &str, default: Option<usize>| -> RkResult<usize> {
            let v: usize = match default {
                Some(d) => field_or(c, class, key, d)?,
                None => field(c, class, key)?,
            };
            if v == 0 || v > (1 << 24) {
                return Err(RkError::Spec(format!(
                    "{class} `{key}` must be a positive integer, got {v}"
                )));
            }
            Ok(v)
        };
        let multiplier = count("depth_multiplier", Some(1))?;
        let filters = if separable {
            Some(count("filters", None)?)
        } else {
            None
        };
        let [kernel, strides, dilation] = window(c, class, rank)?;
        refuse_unsupported(
            c,
            class,
            &[
                "bias_regularizer",
                "depthwise_constraint",
                "pointwise_constraint",
                "bias_constraint",
            ],
        )?;
        let act: Option<String> = field_or(c, class, "activation", None)?;
        let init = |key: &str, default: &str| init_field(c, key, default);
        let reg = |key: &str| reg_from_value(c.get(key).unwrap_or(&Value::Null));
        Ok(Depthwise {
            class,
            rank,
            multiplier,
            filters,
            kernel,
            strides,
            dilation,
            padding: Padding::parse(c, class, false)?,
            act: Act::parse(act.as_deref().unwrap_or("linear"))?,
            use_bias: field_or(c, class, "use_bias", true)?,
            depthwise_init: init("depthwise_initializer", "glorot_uniform")?,
            pointwise_init: init("pointwise_initializer", "glorot_uniform")?,
            bias_init: init("bias_initializer", "zeros")?,
            depthwise_reg: reg("depthwise_regularizer")?,
            pointwise_reg: reg("pointwise_regularizer")?,
            seed,
            params: Vec::new(),
        })
    }

    /// Keras 3's config fields.
    pub(super) fn config_value(&self) -> Value {
        let tuple = |v: [usize; 2]| tuple_value(self.rank, v);
        let mut c = json!({"depth_multiplier": self.multiplier});
        let m = c.as_object_mut().expect("object");
        if let Some(f) = self.filters {
            m.insert("filters".into(), json!(f));
        }
        for (k, v) in [
            ("kernel_size", tuple(self.kernel)),
            ("strides", tuple(self.strides)),
            ("padding", json!(self.padding.name())),
            ("data_format", json!("channels_last")),
            ("dilation_rate", tuple(self.dilation)),
            ("activation", json!(self.act.name())),
            ("use_bias", json!(self.use_bias)),
            ("depthwise_initializer", init_to_value(&self.depthwise_init)),
        ] {
            m.insert(k.into(), v);
        }
        let separable = self.filters.is_some();
        if separable {
            m.insert(
                "pointwise_initializer".into(),
                init_to_value(&self.pointwise_init),
            );
        }
        m.insert("bias_initializer".into(), init_to_value(&self.bias_init));
        let (l1, l2) = self.depthwise_reg;
        m.insert("depthwise_regularizer".into(), reg_to_value(l1, l2));
        if separable {
            let (l1, l2) = self.pointwise_reg;
            m.insert("pointwise_regularizer".into(), reg_to_value(l1, l2));
        }
        m.insert("bias_regularizer".into(), Value::Null);
        m.insert("activity_regularizer".into(), Value::Null);
        m.insert("depthwise_constraint".into(), Value::Null);
        if separable {
            m.insert("pointwise_constraint".into(), Value::Null);
        }
        m.insert("bias_constraint".into(), Value::Null);
        c
    }
}
