//! Convolutions' configuration: read from Keras's config (or R's), written as Keras 3
//! writes it.

use super::conv::Conv;
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

impl Conv {
    pub fn from_config(class: &str, c: &Value, seed: u64) -> RkResult<Conv> {
        let (class, rank, transpose) = match class {
            "Conv1D" => ("Conv1D", 1, false),
            "Conv2D" => ("Conv2D", 2, false),
            "Conv2DTranspose" => ("Conv2DTranspose", 2, true),
            other => return Err(RkError::Internal(format!("not a convolution: {other}"))),
        };
        let filters: usize = field(c, class, "filters")?;
        if filters == 0 || filters > (1 << 24) {
            return Err(RkError::Spec(format!(
                "{class} `filters` must be a positive integer, got {filters}"
            )));
        }
        let kernel = two(&tuple_field(c, class, "kernel_size", rank, None)?);
        let strides = two(&tuple_field(c, class, "strides", rank, Some(1))?);
        let dilation = two(&tuple_field(c, class, "dilation_rate", rank, Some(1))?);
        if strides.iter().any(|&s| s > 1) && dilation.iter().any(|&d| d > 1) {
            return Err(RkError::Spec(format!(
                "{class}: `strides` > 1 together with `dilation_rate` > 1 is not supported (as in Keras)"
            )));
        }
        let padding = Padding::parse(c, class, rank == 1 && !transpose)?;
        channels_last(c, class)?;
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
        let init = |key: &str, default: &str| match c.get(key) {
            None | Some(Value::Null) => Init::parse(default, 0.0, 0.0),
            Some(v) => init_from_value(v),
        };
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
        let tuple = |v: [usize; 2]| {
            if self.rank == 1 {
                json!([v[1]])
            } else {
                json!(v)
            }
        };
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
