//! IntegerLookup (a preprocessing layer), as Keras 3 computes it: each integer (values are
//! truncated) becomes its index in the vocabulary, after the special indices: index 0 for
//! `mask_token` (in `"int"` mode, when there is one), then `num_oov_indices` indices for
//! values out of the vocabulary (one: all of them; several: the value modulo their number,
//! or with `oov_method = "farmhash"` its hash, as [`super::hashing`] computes it), then the
//! vocabulary's tokens in order. The indices are then encoded as `output_mode` says
//! ([`Encoding`]; `"tf_idf"` is the counts times `idf_weights`). With `invert`, indices go
//! back to tokens (the out-of-vocabulary token for an unknown index).
//!
//! The vocabulary comes from the config (`vocabulary`, given, or learnt by R's `adapt()`:
//! Keras's order, by decreasing count). A vocabulary that starts with the special tokens
//! has them removed, as Keras's `set_vocabulary()` does. Not differentiable: the inputs'
//! gradient is zero.
//!
//! # Shapes
//! As [`Encoding::shape`], over the vocabulary's size (or `max_tokens` with
//! `pad_to_max_tokens`).

use super::category::{refuse_sparse, Encoding};
use super::hashing::{check_encoded_rank, number_bucket};
use super::{Cache, Ctx, Layer, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use serde_json::{json, Value};
use std::collections::HashMap;

const CLASS: &str = "IntegerLookup";

#[derive(Clone, Debug)]
pub struct IntegerLookup {
    /// The tokens, without the special ones; `None` before a vocabulary is set.
    vocab: Option<Vec<i64>>,
    /// The vocabulary as the config gave it (special tokens first, or not), which Keras's
    /// config keeps.
    given: Option<Vec<i64>>,
    index: HashMap<i64, usize>,
    mask_token: Option<i64>,
    oov_token: i64,
    num_oov: usize,
    farmhash: bool,
    salt: Option<[i64; 2]>,
    invert: bool,
    /// `None` for `"tf_idf"` (counts, weighted).
    mode: Option<Encoding>,
    max_tokens: Option<usize>,
    pad: bool,
    /// The weights as given (one per token), and padded to the output's width.
    idf_given: Option<Vec<f64>>,
    idf: Vec<f32>,
}

fn spec_error(msg: String) -> RkError {
    RkError::Spec(format!("{CLASS}: {msg}"))
}

impl IntegerLookup {
    pub fn from_config(c: &Value) -> RkResult<IntegerLookup> {
        refuse_sparse(c, CLASS)?;
        let mode: String = super::field_or(c, CLASS, "output_mode", "int".to_string())?;
        let mode = match mode.as_str() {
            "tf_idf" | "tf-idf" => None,
            "binary" => Some(Encoding::MultiHot),
            m => Some(Encoding::parse(CLASS, m, true)?),
        };
        let max_tokens: Option<usize> = super::field_or(c, CLASS, "max_tokens", None)?;
        if max_tokens.is_some_and(|m| m <= 1) {
            return Err(spec_error("`max_tokens` must be more than 1".into()));
        }
        let pad: bool = super::field_or(c, CLASS, "pad_to_max_tokens", false)?;
        if pad && max_tokens.is_none() {
            return Err(spec_error("`pad_to_max_tokens` needs `max_tokens`".into()));
        }
        let invert: bool = super::field_or(c, CLASS, "invert", false)?;
        if invert && mode != Some(Encoding::Int) {
            return Err(spec_error("`invert` needs `output_mode = \"int\"`".into()));
        }
        let oov_method: String = super::field_or(c, CLASS, "oov_method", "floormod".into())?;
        if !matches!(oov_method.as_str(), "floormod" | "farmhash") {
            return Err(spec_error(format!(
                "`oov_method` must be \"floormod\" or \"farmhash\", got \"{oov_method}\""
            )));
        }
        let salt: Option<Vec<i64>> = match c.get("salt") {
            Some(Value::Number(n)) => n.as_i64().map(|k| vec![k, k]),
            _ => super::field_or(c, CLASS, "salt", None)?,
        };
        let salt = match salt.as_deref() {
            None => None,
            Some(&[a, b]) if oov_method == "farmhash" => Some([a, b]),
            Some(&[_, _]) => {
                return Err(spec_error(
                    "`salt` needs `oov_method = \"farmhash\"`".into(),
                ))
            }
            Some(_) => return Err(spec_error("`salt` must be one integer or two".into())),
        };
        let mut layer = IntegerLookup {
            vocab: None,
            given: None,
            index: HashMap::new(),
            mask_token: super::field_or(c, CLASS, "mask_token", None)?,
            oov_token: super::field_or(c, CLASS, "oov_token", -1)?,
            num_oov: super::field_or(c, CLASS, "num_oov_indices", 1)?,
            farmhash: oov_method == "farmhash",
            salt,
            invert,
            mode,
            max_tokens,
            pad,
            idf_given: None,
            idf: Vec::new(),
        };
        let vocab: Option<Vec<i64>> = super::field_or(c, CLASS, "vocabulary", None)?;
        let idf: Option<Vec<f64>> = super::field_or(c, CLASS, "idf_weights", None)?;
        // Keras keeps an adapted vocabulary outside the config (a .keras file's assets); its
        // config then has only the vocabulary's size.
        let size: Option<usize> = super::field_or(c, CLASS, "vocabulary_size", None)?;
        if vocab.is_none() && size.is_some_and(|n| n > layer.token_start()) {
            return Err(RkError::Unsupported(format!(
                "{CLASS}: this layer's vocabulary is kept outside its config (Keras's saved assets), \
                 which rkeras does not read yet"
            )));
        }
        match (vocab, idf) {
            (Some(v), idf) => layer.set_vocabulary(v, idf)?,
            (None, Some(_)) => return Err(spec_error("`idf_weights` needs `vocabulary`".into())),
            (None, None) if layer.mode.is_none() => {
                return Err(spec_error(
                    "output_mode \"tf_idf\" needs `vocabulary` and `idf_weights`, or adapt()"
                        .into(),
                ))
            }
            (None, None) => {}
        }
        Ok(layer)
    }

    fn oov_start(&self) -> usize {
        usize::from(self.mask_token.is_some() && self.mode == Some(Encoding::Int))
    }

    fn token_start(&self) -> usize {
        self.oov_start() + self.num_oov
    }

    /// Keras's `set_vocabulary()`: special tokens at the start are dropped; repeated tokens,
    /// a mask token elsewhere and a vocabulary larger than `max_tokens` are errors.
    fn set_vocabulary(&mut self, vocab: Vec<i64>, idf: Option<Vec<f64>>) -> RkResult<()> {
        if vocab.is_empty() {
            return Err(spec_error("the vocabulary is empty".into()));
        }
        let start = self.token_start();
        let special: Vec<i64> = std::iter::repeat_n(self.mask_token.unwrap_or(0), self.oov_start())
            .chain(std::iter::repeat_n(self.oov_token, self.num_oov))
            .collect();
        let found = vocab.len() >= start && vocab[..start] == special[..];
        let tokens: Vec<i64> = if found {
            vocab[start..].to_vec()
        } else {
            vocab.clone()
        };
        let mut index = HashMap::with_capacity(tokens.len());
        for (i, &t) in tokens.iter().enumerate() {
            if index.insert(t, i).is_some() {
                return Err(spec_error(format!("the vocabulary repeats {t}")));
            }
        }
        if self.mask_token.is_some_and(|m| index.contains_key(&m)) {
            return Err(spec_error(
                "the mask token is in the vocabulary; leave it out, or put the special tokens first".into(),
            ));
        }
        if self.invert && index.contains_key(&self.oov_token) {
            return Err(spec_error(
                "the out-of-vocabulary token is in the vocabulary; leave it out".into(),
            ));
        }
        let size = start + tokens.len();
        if let Some(m) = self.max_tokens.filter(|&m| size > m) {
            return Err(spec_error(format!(
                "a vocabulary of {size} (special tokens included) is larger than `max_tokens` ({m})"
            )));
        }
        match (self.mode, &idf) {
            (None, None) => {
                return Err(spec_error(
                    "output_mode \"tf_idf\" needs `idf_weights`".into(),
                ))
            }
            (Some(_), Some(_)) => {
                return Err(spec_error(
                    "`idf_weights` is only for output_mode \"tf_idf\"".into(),
                ))
            }
            _ => {}
        }
        if let Some(w) = &idf {
            if w.len() != vocab.len() {
                return Err(spec_error(format!(
                    "{} `idf_weights` for a vocabulary of {}",
                    w.len(),
                    vocab.len()
                )));
            }
            // Keras pads the front with the weights' mean (the out-of-vocabulary indices)
            // unless the vocabulary brought its special tokens, the back with zeros.
            let mean = w.iter().sum::<f64>() / w.len() as f64;
            let front = if found { 0 } else { start };
            let mut all: Vec<f32> = std::iter::repeat_n(mean as f32, front)
                .chain(w.iter().map(|&v| v as f32))
                .collect();
            if self.pad {
                let m = self.max_tokens.expect("checked");
                all.resize(m.max(all.len()), 0.0);
            }
            self.idf = all;
        }
        self.vocab = Some(tokens);
        self.given = Some(vocab);
        self.index = index;
        self.idf_given = idf;
        Ok(())
    }

    /// The width of the encodings: the vocabulary's size, or `max_tokens` when padded.
    fn depth(&self) -> usize {
        match (self.pad, self.max_tokens) {
            (true, Some(m)) => m,
            _ => self.token_start() + self.vocab.as_ref().map_or(0, Vec::len),
        }
    }

    /// The index of each value (or with `invert`, the token of each index).
    fn lookup(&self, x: &Tensor) -> RkResult<Tensor> {
        let v = x.as_slice().expect("standard");
        let (oov, start) = (self.oov_start() as i64, self.token_start() as i64);
        let vocab = self.vocab.as_deref().unwrap_or(&[]);
        let key = self.salt.map(|[a, b]| [a as u64, b as u64]);
        let mut out = Vec::with_capacity(v.len());
        for &f in v {
            let t = f.trunc() as i64;
            let y = if self.invert {
                match self.mask_token {
                    Some(m) if t == 0 => m,
                    _ => usize::try_from(t - start)
                        .ok()
                        .and_then(|i| vocab.get(i).copied())
                        .unwrap_or(self.oov_token),
                }
            } else if self.mask_token == Some(t) {
                // Masked: index 0 in "int" mode; elsewhere an index that marks nothing.
                if self.mode == Some(Encoding::Int) {
                    0
                } else {
                    -1
                }
            } else if let Some(&i) = self.index.get(&t) {
                start + i as i64
            } else {
                oov + match self.num_oov {
                    0 => {
                        return Err(RkError::Value(format!(
                            "the integer lookup's input {t} is not in its vocabulary: with \
                             `num_oov_indices = 0` every input must be; set `num_oov_indices = 1`"
                        )))
                    }
                    1 => 0,
                    n if self.farmhash => number_bucket(f, n as u64, key) as i64,
                    n => t.rem_euclid(n as i64),
                }
            };
            out.push(y as f32);
        }
        super::shaped_like(x, out)
    }
}

impl Layer for IntegerLookup {
    fn class_name(&self) -> &'static str {
        CLASS
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let s = super::one_input(name, inputs)?;
        let mode = self.mode.unwrap_or(Encoding::Count);
        check_encoded_rank(name, mode, s)?;
        if mode != Encoding::Int && self.vocab.is_none() && !self.pad {
            return Err(RkError::Value(format!(
                "layer '{name}': output_mode \"{}\" needs a vocabulary: give `vocabulary` or adapt() \
                 the layer before it joins a model",
                self.mode.map_or("tf_idf", Encoding::name)
            )));
        }
        Ok(mode.shape(s, self.depth()))
    }

    fn forward(&self, xs: &[&Tensor], _ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let ids = self.lookup(xs[0])?;
        let y = match self.mode {
            Some(m) => m.encode(&ids, self.depth())?,
            None => {
                let mut y = Encoding::Count.encode(&ids, self.depth())?;
                let w = &self.idf;
                for row in y
                    .as_slice_mut()
                    .expect("standard")
                    .chunks_exact_mut(w.len())
                {
                    row.iter_mut().zip(w).for_each(|(v, &k)| *v *= k);
                }
                y
            }
        };
        Ok((y, None))
    }

    crate::no_input_gradient!();

    fn config(&self) -> Value {
        json!({
            "invert": self.invert,
            "max_tokens": self.max_tokens,
            "num_oov_indices": self.num_oov,
            "oov_token": self.oov_token,
            "mask_token": self.mask_token,
            "output_mode": self.mode.map_or("tf_idf", Encoding::name),
            "sparse": false,
            "pad_to_max_tokens": self.pad,
            "vocabulary_dtype": "int64",
            "idf_weights": self.idf_given,
            "vocabulary": self.given,
            "vocabulary_size": self.vocab.as_ref().map(|v| self.token_start() + v.len()),
            "oov_method": if self.farmhash { "farmhash" } else { "floormod" },
            "salt": self.salt.map(|s| s.to_vec()),
        })
    }
}
