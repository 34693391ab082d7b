//! The layers of a model's graph, one family per file, behind one trait. A layer is built
//! from its inputs' per-sample shapes, maps input tensors `[batch, ...]` forward to one
//! output, and maps the output's gradient backward to its inputs' gradients, adding its
//! parameters' gradients into the buffers the graph hands it. Forward does not change the
//! layer (what backward needs is returned as a [`Cache`]), so one layer object can be called
//! at several places of a graph (shared layers) and its gradients add up.
//!
//! A new layer touches its own file, the table in [`from_spec`], and its R function.

pub mod activation;
pub mod activity_regularization;
pub mod attention;
mod attention_ops;
pub mod bidirectional;
pub mod category;
pub mod conv;
pub mod conv_config;
pub mod dense;
pub mod depthwise;
pub mod discretization;
pub mod dot;
pub mod dot_attention;
pub mod dropout;
pub mod embedding;
pub mod gates;
pub mod group_norm;
pub mod hashing;
pub mod integer_lookup;
pub mod lambda;
pub mod layer_norm;
pub mod masking;
pub mod merge;
pub mod noise;
pub mod normalization;
pub mod normalize;
pub mod patches;
pub mod pooling;
pub mod prelu;
pub mod random_affine;
pub mod random_contrast;
pub mod random_crop;
pub mod random_flip;
pub mod recurrent;
mod recycle;
pub mod rescaling;
pub mod reshape;
pub mod resizing;
pub mod spatial;
pub mod time_distributed;

pub use recycle::{output, recycle, zeros, Recycling};
pub mod unit_norm;

#[cfg(test)]
mod attention_tests;

use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use ndarray::{ArrayD, IxDyn};
use serde_json::Value;

/// The shape of one sample (no batch axis), as Keras's `input_shape`.
pub type Shape = Vec<usize>;
/// A batch of samples: axis 0 is the batch, stored in standard (row-major) layout.
pub type Tensor = ArrayD<f32>;
/// What a forward pass keeps for its backward pass (a mask, a pre-activation), if anything.
pub type Cache = Option<Tensor>;

/// A named weight of a layer (`kernel`, `bias`); its full name is `<layer>/<name>`.
#[derive(Clone, Debug)]
pub struct Param {
    pub name: &'static str,
    pub value: Tensor,
    /// Updated by the optimizer (Keras's trainable weights) or kept (moving statistics).
    pub trainable: bool,
}

/// Per-call context of a forward pass.
pub struct Ctx {
    /// Whether the layer behaves as in training (dropout active, batch statistics).
    pub training: bool,
    /// Whether a backward pass follows this forward pass (keep what it needs).
    pub backward: bool,
    /// Randomness for this call (dropout masks), keyed by (fit seed, step, node).
    pub rng: Rng,
    /// Threads a layer's products may use (inside the engine's pool).
    pub threads: usize,
    /// Whether backward must return the inputs' gradients (false when nothing upstream
    /// trains: a layer may then return empty tensors and skip the work).
    pub input_grads: bool,
    /// Keras's mask of the (first) input's steps, `[batch, steps]` of 0/1 (an embedding's
    /// `mask_zero`), for the layers that use it.
    pub mask: Option<Tensor>,
    /// The masks of all of the call's inputs, for layers that read them
    /// ([`Layer::uses_input_masks`]); empty otherwise.
    pub input_masks: Vec<Option<Tensor>>,
    /// Elementwise steps of the layers the inference plan fused into this call, to run on
    /// each block of the output in order (only for layers that take them).
    pub epilogue: Vec<Map>,
    /// Losses the call adds to the model's loss (a custom layer's `self$add_loss()`), summed;
    /// the layer adds to it, the graph collects it after the call.
    pub added_loss: f64,
}

/// An elementwise step in place on `[rows, channels]` values, given the channels.
pub type Map = std::sync::Arc<dyn Fn(&mut [f32], usize) + Send + Sync>;

/// A merge in place: the first input's value updated by the others.
pub type MergeStep = std::sync::Arc<dyn Fn(&mut Tensor, &[&Tensor]) + Send + Sync>;

/// One layer of a model's graph.
pub trait Layer: Send + Sync + LayerClone + std::fmt::Debug {
    /// Keras's class name (`"Dense"`).
    fn class_name(&self) -> &'static str;
    /// Check the inputs' shapes, create the parameters, and return the output's shape.
    /// Called once for each place the layer is used; later calls must agree with the first.
    fn build(&mut self, name: &str, inputs: &[Shape], rng: &mut Rng) -> RkResult<Shape>;
    /// The parameters in Keras's order (`get_weights()`, optimizer slots, saved files).
    fn params(&self) -> Vec<&Param> {
        Vec::new()
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        Vec::new()
    }
    /// The output of a batch, and what backward needs.
    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)>;
    /// The call as a step in place on blocks of whole rows of its only input (`[rows,
    /// channels]`, channels last), when the layer is elementwise in this mode (`training`
    /// or not): the inference plan runs it on the input's buffer, or inside the producing
    /// layer's epilogue ([`Layer::takes_epilogue`]). Must give what [`Layer::forward`]
    /// gives. `None` when the layer has no such step.
    fn elementwise(&self, _training: bool) -> Option<Map> {
        None
    }
    /// The call as an update in place of its first input's value by the others (a merge
    /// layer): the inference plan runs it when nothing else reads the first input and no
    /// mask reaches the call. Must give what [`Layer::forward`] gives. `None` when the layer
    /// has no such step.
    fn merge_step(&self) -> Option<MergeStep> {
        None
    }
    /// Whether the layer runs [`Ctx::epilogue`] on blocks of its output while they are in
    /// cache (its output mask is always none).
    fn takes_epilogue(&self) -> bool {
        false
    }
    /// Gradients with respect to each input, given the output's gradient `g`; parameter
    /// gradients are added to `pgrads` (one per parameter, in `params()` order).
    fn backward(
        &self,
        xs: &[&Tensor],
        y: &Tensor,
        cache: &Cache,
        g: Tensor,
        pgrads: &mut [Tensor],
        ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>>;
    /// Regularisation penalty added to the loss, and its gradient added to `pgrads`.
    fn penalty(&self, _pgrads: Option<&mut [Tensor]>) -> f64 {
        0.0
    }
    /// After a training forward pass: update state that is not trained by gradients (batch
    /// normalization's moving statistics) from what forward kept.
    fn update_state(&mut self, _cache: &Cache) {}
    /// Whether the layer adds losses of its own to the model's loss (through
    /// [`Ctx::added_loss`]), whose gradient its backward adds even when its output's
    /// gradient is zero.
    fn adds_loss(&self) -> bool {
        false
    }
    /// The layer as a recorded function of one input and no weights, the same in training
    /// and inference (a `layer_lambda()`): the dense plan runs it on its rows when the
    /// function keeps rows apart ([`crate::ops::OpGraph::row_wise`]). `None` otherwise.
    fn row_function(&self) -> Option<&crate::ops::OpGraph> {
        None
    }
    /// Whether the layer runs in inference mode while frozen, even in training (Keras's
    /// batch normalization with `trainable = FALSE`).
    fn frozen_runs_inference(&self) -> bool {
        false
    }
    /// Whether Keras writes `trainable` into this layer's config (its `from_config()`
    /// refuses the key where it does not, as for spatial dropout).
    fn config_has_trainable(&self) -> bool {
        true
    }
    /// Keras's config fields for this layer, as Keras 3 writes them (without `name`,
    /// `trainable` and `dtype`, which the model adds).
    fn config(&self) -> Value;
    /// Whether the layer passes its input's mask on unchanged (Keras's `supports_masking`
    /// for layers that do not use the mask themselves).
    fn passes_mask(&self) -> bool {
        false
    }
    /// The mask of the output, given the input `x` and its mask: the input's when the
    /// layer passes masks on, none otherwise. Layers that make or consume masks override it.
    fn compute_mask(&self, _x: &Tensor, mask: Option<&Tensor>) -> Option<Tensor> {
        if self.passes_mask() {
            mask.cloned()
        } else {
            None
        }
    }
    /// The shapes of the layer's outputs, called on inputs of shapes `inputs`, when it
    /// returns several (a recurrent layer with `return_state`): its one output tensor then
    /// holds them side by side, each flattened per sample, and the graph's part nodes pick
    /// them out. Empty for one output.
    fn output_parts(&self, _inputs: &[Shape]) -> Vec<Shape> {
        Vec::new()
    }
    /// Whether inputs after the first are initial states (a recurrent layer's
    /// `initial_state`): the layer then sees the first input's mask.
    fn takes_initial_state(&self) -> bool {
        false
    }
    /// Whether the layer reads the masks of all of its inputs (`Ctx::input_masks`: attention's
    /// query, value and key masks); its output then carries its first input's mask.
    fn uses_input_masks(&self) -> bool {
        false
    }
    /// The mask of the output of a layer that reads all of its inputs' masks, given its
    /// inputs and their masks: the first input's by default (attention's query mask).
    fn merge_masks(&self, xs: &[&Tensor], masks: &[Option<Tensor>]) -> Option<Tensor> {
        self.compute_mask(xs[0], masks.first().and_then(|m| m.as_ref()))
    }
    /// Whether the layer makes a mask of its own (an embedding's `mask_zero`).
    fn masks_zero(&self) -> bool {
        false
    }
    /// Whether the layer carries state from one batch to the next (a stateful recurrent
    /// layer): the engine then runs inference in batches of exactly the size asked.
    fn stateful(&self) -> bool {
        false
    }
    /// Forget the state carried between batches (Keras's `reset_states()`).
    fn reset_state(&self) {}
    /// Whether the layer averages its `[batch, steps, features]` input over the steps
    /// (`GlobalAveragePooling1D`): the engine may then fuse it with the layer before.
    fn averages_steps(&self) -> bool {
        false
    }
    /// The layer's output averaged over axis 1, without the full output (`Embedding`):
    /// `None` when the layer has no such path.
    fn step_mean_forward(&self, _x: &Tensor, _ctx: &mut Ctx) -> Option<RkResult<Tensor>> {
        None
    }
    /// The parameters' gradients for [`Layer::step_mean_forward`]'s output gradient `g`.
    fn step_mean_backward(
        &self,
        _x: &Tensor,
        _g: &Tensor,
        _pgrads: &mut [Tensor],
        _ctx: &mut Ctx,
    ) -> Option<RkResult<()>> {
        None
    }
}

/// `Box<dyn Layer>` is `Clone` (models are cloned by `clone_model()`).
pub trait LayerClone {
    fn clone_box(&self) -> Box<dyn Layer>;
}

impl<T: 'static + Layer + Clone> LayerClone for T {
    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn Layer> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// A layer from its Keras class name and config (Keras's field names); `seed` fixes the
/// initial weights of layers that have some.
pub fn from_spec(class_name: &str, config: &Value, seed: u64) -> RkResult<Box<dyn Layer>> {
    Ok(match class_name {
        "Dense" => Box::new(dense::Dense::from_config(config, seed)?),
        "Dropout" => Box::new(dropout::Dropout::from_config(config)?),
        "Activation" => Box::new(activation::Activation::from_config(config)?),
        "ActivityRegularization" => {
            Box::new(activity_regularization::ActivityRegularization::from_config(config)?)
        }
        "Flatten" => Box::new(reshape::Flatten),
        "Reshape" => Box::new(reshape::Reshape::from_config(config)?),
        "Permute" => Box::new(reshape::Permute::from_config(config)?),
        "RepeatVector" => Box::new(reshape::RepeatVector::from_config(config)?),
        "Concatenate" => Box::new(merge::Concatenate::from_config(config)?),
        "Dot" => Box::new(dot::Dot::from_config(config)?),
        "Conv1D" | "Conv2D" | "Conv1DTranspose" | "Conv2DTranspose" => {
            Box::new(conv::Conv::from_config(class_name, config, seed)?)
        }
        "DepthwiseConv1D" | "DepthwiseConv2D" | "SeparableConv1D" | "SeparableConv2D" => {
            Box::new(depthwise::Depthwise::from_config(class_name, config, seed)?)
        }
        "MaxPooling1D" | "MaxPooling2D" | "AveragePooling1D" | "AveragePooling2D" => {
            Box::new(pooling::Pool::from_config(class_name, config)?)
        }
        "GlobalMaxPooling1D"
        | "GlobalMaxPooling2D"
        | "GlobalAveragePooling1D"
        | "GlobalAveragePooling2D" => {
            Box::new(pooling::GlobalPool::from_config(class_name, config)?)
        }
        "Embedding" => Box::new(embedding::Embedding::from_config(config, seed)?),
        "Masking" => Box::new(masking::Masking::from_config(config)?),
        "TimeDistributed" => Box::new(time_distributed::TimeDistributed::from_config(
            config, seed,
        )?),
        "Bidirectional" => Box::new(bidirectional::Bidirectional::from_config(config, seed)?),
        "SimpleRNN" | "LSTM" | "GRU" => {
            Box::new(recurrent::Recurrent::from_config(class_name, config, seed)?)
        }
        "BatchNormalization" => Box::new(normalization::BatchNorm::from_config(config)?),
        "LayerNormalization" => Box::new(layer_norm::LayerNorm::from_config(config)?),
        "GroupNormalization" => Box::new(group_norm::GroupNorm::from_config(config)?),
        "ZeroPadding1D" | "ZeroPadding2D" | "Cropping1D" | "Cropping2D" => {
            Box::new(spatial::Margin::from_config(class_name, config)?)
        }
        "UpSampling1D" | "UpSampling2D" => {
            Box::new(spatial::UpSampling::from_config(class_name, config)?)
        }
        "SpatialDropout1D" | "SpatialDropout2D" => {
            Box::new(dropout::SpatialDropout::from_config(class_name, config)?)
        }
        "LeakyReLU" | "ReLU" | "ELU" | "Softmax" => {
            Box::new(activation::Rectifier::from_config(class_name, config)?)
        }
        "GaussianNoise" | "GaussianDropout" | "AlphaDropout" => {
            Box::new(noise::Noise::from_config(class_name, config)?)
        }
        "MultiHeadAttention" => Box::new(attention::MultiHeadAttention::from_config(config, seed)?),
        "Attention" | "AdditiveAttention" => Box::new(dot_attention::DotAttention::from_config(
            class_name, config, seed,
        )?),
        "Lambda" => Box::new(lambda::Lambda::from_config(class_name, config, seed)?),
        "PReLU" => Box::new(prelu::PRelu::from_config(config, seed)?),
        "UnitNormalization" => Box::new(unit_norm::UnitNorm::from_config(config)?),
        "Rescaling" => Box::new(rescaling::Rescaling::from_config(config)?),
        "RandomFlip" => Box::new(random_flip::RandomFlip::from_config(config)?),
        "Normalization" => Box::new(normalize::Normalization::from_config(config)?),
        "Discretization" => Box::new(discretization::Discretization::from_config(config)?),
        "CategoryEncoding" => Box::new(category::CategoryEncoding::from_config(config)?),
        "Hashing" => Box::new(hashing::Hashing::from_config(config)?),
        "IntegerLookup" => Box::new(integer_lookup::IntegerLookup::from_config(config)?),
        "RandomContrast" => Box::new(random_contrast::RandomContrast::from_config(config)?),
        "RandomCrop" => Box::new(random_crop::RandomCrop::from_config(config)?),
        "RandomRotation" | "RandomTranslation" | "RandomZoom" => Box::new(
            random_affine::RandomAffine::from_config(class_name, config)?,
        ),
        "Resizing" | "CenterCrop" => Box::new(resizing::Resizing::from_config(class_name, config)?),
        "Add" | "Subtract" | "Multiply" | "Average" | "Maximum" | "Minimum" => {
            Box::new(merge::Elementwise::new(class_name)?)
        }
        // A custom layer written in R carries its recorded function.
        other
            if config
                .get("function")
                .is_some_and(|f| f.get("rkeras_ops").is_some()) =>
        {
            Box::new(lambda::Lambda::from_config(other, config, seed)?)
        }
        other => return Err(RkError::Spec(format!("unknown layer class '{other}'"))),
    })
}

/// Field `key` of a config, deserialized, or an error naming the layer class and field.
pub fn field<T: serde::de::DeserializeOwned>(
    config: &Value,
    class: &str,
    key: &str,
) -> RkResult<T> {
    let v = config.get(key).cloned().unwrap_or(Value::Null);
    serde_json::from_value(v)
        .map_err(|e| RkError::Spec(format!("{class} config field `{key}`: {e}")))
}

/// Field `key`, or `default` when absent or null.
pub fn field_or<T: serde::de::DeserializeOwned>(
    config: &Value,
    class: &str,
    key: &str,
    default: T,
) -> RkResult<T> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(_) => field(config, class, key),
    }
}

/// Errors for config fields rkeras does not implement (a value other than the default).
pub fn refuse_unsupported(c: &Value, class: &str, keys: &[&str]) -> RkResult<()> {
    for key in keys {
        if !matches!(c.get(*key), None | Some(Value::Null)) {
            return Err(RkError::Unsupported(format!(
                "{class} `{key}` is not supported by rkeras yet"
            )));
        }
    }
    Ok(())
}

/// `data_format` must be channels-last.
pub fn channels_last(c: &Value, class: &str) -> RkResult<()> {
    let f: Option<String> = field_or(c, class, "data_format", None)?;
    match f.as_deref() {
        None | Some("channels_last") => Ok(()),
        Some(other) => Err(RkError::Unsupported(format!(
            "{class} `data_format = \"{other}\"` is not supported: rkeras lays samples out channels-last"
        ))),
    }
}

/// A kernel of `shape` and, with `bias_len`, a bias, drawn in that order from `seed`.
pub fn kernel_and_bias(
    shape: &[usize],
    bias_len: Option<usize>,
    (fan_in, fan_out): (usize, usize),
    kernel_init: &crate::initializers::Init,
    bias_init: &crate::initializers::Init,
    seed: u64,
) -> RkResult<Vec<Param>> {
    let mut rng = Rng::new(seed);
    let mut k = zeros(shape.iter().product());
    kernel_init.fill(&mut k, fan_in, fan_out, &mut rng);
    let mut params = vec![Param {
        name: "kernel",
        value: tensor(shape[0], &shape[1..], k)?,
        trainable: true,
    }];
    if let Some(n) = bias_len {
        let mut b = zeros(n);
        bias_init.fill(&mut b, fan_in, fan_out, &mut rng);
        params.push(Param {
            name: "bias",
            value: tensor(n, &[], b)?,
            trainable: true,
        });
    }
    Ok(params)
}

/// A dropout mask kept by forward applied to the output's gradient (none in inference).
pub fn masked(g: Tensor, mask: &Cache) -> Tensor {
    match mask {
        Some(m) => g * m,
        None => g,
    }
}

/// The penalty `l1 sum|w| + l2 sum w^2` of a layer's kernel (its first parameter), with its
/// gradient added to the kernel's in `pgrads` when given.
pub fn kernel_penalty(params: &[Param], l1: f64, l2: f64, pgrads: Option<&mut [Tensor]>) -> f64 {
    if l1 == 0.0 && l2 == 0.0 {
        return 0.0;
    }
    let w = params[0].value.as_slice().expect("standard");
    if let Some(g) = pgrads {
        let g = g[0].as_slice_mut().expect("standard");
        crate::dense::chain::add_penalty_grad(g, w, l1 as f32, l2 as f32);
    }
    crate::dense::chain::penalty_sum(w, l1, l2)
}

/// A batch tensor `[batch, shape...]` from row-major data.
pub fn tensor(batch: usize, shape: &[usize], data: Vec<f32>) -> RkResult<Tensor> {
    let mut dims = vec![batch];
    dims.extend_from_slice(shape);
    ArrayD::from_shape_vec(IxDyn(&dims), data)
        .map_err(|e| RkError::Internal(format!("tensor of shape {dims:?}: {e}")))
}

/// A tensor of `x`'s shape from row-major data (a layer's output or input gradient).
pub fn shaped_like(x: &Tensor, data: Vec<f32>) -> RkResult<Tensor> {
    Tensor::from_shape_vec(x.raw_dim(), data)
        .map_err(|e| RkError::Internal(format!("tensor of shape {:?}: {e}", x.shape())))
}

/// A tensor of zeros of shape `dim`, written (see [`zeros`]).
pub fn zeros_like(dim: &ndarray::IxDyn) -> Tensor {
    let n = ndarray::Dimension::size(dim);
    Tensor::from_shape_vec(dim.clone(), zeros(n)).expect("size matches")
}

/// `t` in standard layout (a copy only when it is not).
pub fn standard(t: Tensor) -> Tensor {
    if t.is_standard_layout() {
        t
    } else {
        t.as_standard_layout().into_owned()
    }
}

/// `(None, 26, 26, 8)`: a per-sample shape as Keras prints it.
/// A shape with open axes, as Keras prints it: `(None, None, 16)`.
pub fn open_shape_string(shape: &[Option<usize>]) -> String {
    let mut s = String::from("(None");
    for d in shape {
        match d {
            Some(d) => s.push_str(&format!(", {d}")),
            None => s.push_str(", None"),
        }
    }
    s.push(')');
    s
}

pub fn shape_string(shape: &[usize]) -> String {
    let mut s = String::from("(None");
    for d in shape {
        s.push_str(&format!(", {d}"));
    }
    s.push(')');
    s
}

/// A shape error naming the layer: `layer 'dense_1' expects ..., got ...`.
pub fn shape_error(layer: &str, msg: String) -> RkError {
    RkError::Shape(format!("layer '{layer}' {msg}"))
}

/// Exactly one input, or an error naming the layer.
/// The one input of an image layer: `(height, width, channels)`.
pub fn image_input<'a>(layer: &str, inputs: &'a [Shape]) -> RkResult<&'a Shape> {
    let s = one_input(layer, inputs)?;
    if s.len() != 3 {
        return Err(shape_error(
            layer,
            format!(
                "expects images (height, width, channels), got inputs shaped {}",
                shape_string(s)
            ),
        ));
    }
    Ok(s)
}

/// The elementwise step of a layer that passes its input through when not `training`
/// (dropout, noise, augmentation): nothing to do.
pub fn pass_through(training: bool) -> Option<Map> {
    (!training).then(|| std::sync::Arc::new(|_: &mut [f32], _: usize| {}) as Map)
}

/// A layer call's context for the layers' own tests.
#[cfg(test)]
pub fn test_ctx(training: bool, rng: Rng) -> Ctx {
    Ctx {
        training,
        backward: training,
        rng,
        threads: 1,
        input_grads: true,
        mask: None,
        input_masks: Vec::new(),
        epilogue: Vec::new(),
        added_loss: 0.0,
    }
}

pub fn one_input<'a>(layer: &str, inputs: &'a [Shape]) -> RkResult<&'a Shape> {
    match inputs {
        [s] => Ok(s),
        _ => Err(shape_error(
            layer,
            format!("takes one input, got {}", inputs.len()),
        )),
    }
}
