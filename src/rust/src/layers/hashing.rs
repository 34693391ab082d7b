//! Hashing (a preprocessing layer), as Keras 3 computes it with TensorFlow's string hashes:
//! each value is truncated to an integer, written in decimal (`"-3"`), and hashed into
//! `num_bins` bins: FarmHash's `Fingerprint64` modulo the bins (`to_hash_bucket_fast`), or
//! with a `salt` SipHash-2-4 keyed by its two numbers (`to_hash_bucket_strong`). With a
//! `mask_value`, bin 0 holds that value and the others hash into bins `1..num_bins`. The
//! bins are then encoded as `output_mode` says ([`Encoding`]). Not differentiable: the
//! inputs' gradient is zero.
//!
//! # Shapes
//! As [`Encoding::shape`], over `num_bins` bins; `"multi_hot"` and `"count"` take samples of
//! one axis (`[batch, n]`), which Keras encodes along that axis.

use super::category::{refuse_sparse, Encoding};
use super::{Cache, Ctx, Layer, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use serde_json::{json, Value};
use std::hash::Hasher;

/// TensorFlow's hash of a string into `bins` buckets: FarmHash's fingerprint, or SipHash-2-4
/// under `key` (its strong hash).
pub fn string_bucket(s: &[u8], bins: u64, key: Option<[u64; 2]>) -> u64 {
    let h = match key {
        None => farmhash::fingerprint64(s),
        Some([k0, k1]) => {
            let mut h = siphasher::sip::SipHasher24::new_with_keys(k0, k1);
            h.write(s);
            h.finish()
        }
    };
    h % bins
}

/// The bucket of a number as Keras hashes it: truncated to an integer, then its decimal
/// string (TensorFlow's `as_string()`).
pub fn number_bucket(v: f32, bins: u64, key: Option<[u64; 2]>) -> u64 {
    // TensorFlow's float-to-int64 cast; R's data are finite here (checked on the way in).
    let i = v.trunc() as i64;
    string_bucket(i.to_string().as_bytes(), bins, key)
}

#[derive(Clone, Debug)]
pub struct Hashing {
    num_bins: usize,
    salt: Option<[i64; 2]>,
    mask_value: Option<f64>,
    mode: Encoding,
}

impl Hashing {
    pub fn from_config(c: &Value) -> RkResult<Hashing> {
        let class = "Hashing";
        let num_bins: usize = super::field(c, class, "num_bins")?;
        if num_bins == 0 || num_bins > 1 << 24 {
            return Err(RkError::Spec(format!(
                "{class} `num_bins` must be a whole number from 1 to 2^24, got {num_bins}"
            )));
        }
        let salt = match c.get("salt") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => {
                let k = n.as_i64().ok_or_else(|| salt_error(class))?;
                Some([k, k])
            }
            Some(v) => {
                let k: Vec<i64> =
                    serde_json::from_value(v.clone()).map_err(|_| salt_error(class))?;
                match k[..] {
                    [a, b] => Some([a, b]),
                    _ => return Err(salt_error(class)),
                }
            }
        };
        refuse_sparse(c, class)?;
        let mode: String = super::field_or(c, class, "output_mode", "int".to_string())?;
        Ok(Hashing {
            num_bins,
            salt,
            mask_value: super::field_or(c, class, "mask_value", None)?,
            mode: Encoding::parse(class, &mode, true)?,
        })
    }

    /// The bin of each value.
    fn bins(&self, x: &Tensor) -> RkResult<Tensor> {
        let key = self.salt.map(|[a, b]| [a as u64, b as u64]);
        let masked = self.mask_value.filter(|_| self.num_bins > 1);
        let bins = (self.num_bins - usize::from(masked.is_some())) as u64;
        let v = x.as_slice().expect("standard");
        let out = v
            .iter()
            .map(|&v| match masked {
                Some(m) if v as f64 == m => 0.0,
                Some(_) => (number_bucket(v, bins, key) + 1) as f32,
                None => number_bucket(v, bins, key) as f32,
            })
            .collect();
        super::shaped_like(x, out)
    }
}

fn salt_error(class: &str) -> RkError {
    RkError::Spec(format!(
        "{class} `salt` must be one integer or two, or null"
    ))
}

/// Keras's `"multi_hot"` and `"count"` encode samples of one axis only (rkeras does not
/// follow its rank-3 path).
pub fn check_encoded_rank(name: &str, mode: Encoding, s: &[usize]) -> RkResult<()> {
    if matches!(mode, Encoding::MultiHot | Encoding::Count) && s.len() > 1 {
        return Err(RkError::Unsupported(format!(
            "layer '{name}': output_mode \"{}\" on samples of shape ({}) is not supported by rkeras; \
             give it samples of one axis",
            mode.name(),
            s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(())
}

impl Layer for Hashing {
    fn class_name(&self) -> &'static str {
        "Hashing"
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let s = super::one_input(name, inputs)?;
        check_encoded_rank(name, self.mode, s)?;
        Ok(self.mode.shape(s, self.num_bins))
    }

    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        Ok((self.mode.encode(&self.bins(xs[0])?, self.num_bins)?, None))
    }

    crate::no_input_gradient!();

    fn config(&self) -> Value {
        // Keras's Hashing outputs int64 ids in "int" mode, and its config says so.
        let dtype = if self.mode == Encoding::Int {
            "int64"
        } else {
            "float32"
        };
        json!({
            "dtype": dtype,
            "num_bins": self.num_bins,
            "salt": self.salt.map(|s| s.to_vec()),
            "mask_value": self.mask_value,
            "output_mode": self.mode.name(),
            "sparse": false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TensorFlow 2.21's `tf.strings.to_hash_bucket_fast` / `_strong` on these strings.
    #[test]
    fn hashes_are_tensorflows() {
        let fast: Vec<u64> = ["0", "1", "-7", "12345", ""]
            .iter()
            .map(|s| string_bucket(s.as_bytes(), 1_000_003, None))
            .collect();
        assert_eq!(fast, [537292, 361198, 985360, 779109, 377723]);
        let strong: Vec<u64> = ["0", "1", "-7", "12345", ""]
            .iter()
            .map(|s| string_bucket(s.as_bytes(), 1_000_003, Some([133, 137])))
            .collect();
        assert_eq!(strong, [876599, 544600, 436702, 87071, 953272]);
    }
}
