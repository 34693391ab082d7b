//! Layers written in R: Keras's `Lambda` (a function of tensors) and custom layers
//! (`Layer()`, `new_layer_class()`, R6 `KerasLayer`) whose R code adds weights and applies
//! operations to them. The R code runs once, on symbolic tensors: what it applies is
//! recorded as an operation graph (see `ops`), which this layer runs forward on each batch
//! and differentiates through the operations' vector-Jacobian products. The graph's inputs
//! are the layer's inputs, then its weights. The same layer holds an operation applied to a
//! model's tensors outside a layer (`x * 2`, `k_exp(x)`).
//!
//! A custom layer whose `call()` takes `training` is recorded once in each mode, and runs
//! the function of the mode it is called in. Losses its `call()` adds (`self$add_loss()`)
//! are outputs of the function after the layer's output: each pass adds their sums to the
//! model's loss (through [`Ctx::added_loss`]), and backward adds their gradients.
//!
//! Config: `{"function": {"rkeras_ops": <graph>, "rkeras_losses": <n>},
//! "function_inference": {...} (optional, the same for inference), "rkeras_weights":
//! [{"name", "shape", "initializer", "trainable"}], ...}` (the rest as R wrote it).

use super::{shape_error, Cache, Ctx, Layer, Param, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::initializers::Init;
use crate::ops::{show_dims as show, Dims, OpGraph};
use serde::Deserialize;
use serde_json::Value;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WeightSpec {
    name: String,
    shape: Vec<usize>,
    initializer: Value,
    trainable: bool,
}

/// A recorded function: the layer's output first, then the losses it adds.
#[derive(Clone, Debug)]
struct Function {
    graph: OpGraph,
    losses: usize,
}

impl Function {
    fn from_value(class: &str, f: &Value) -> RkResult<Function> {
        let ops = f.get("rkeras_ops").ok_or_else(|| {
            RkError::Unsupported(format!(
                "a {class} layer written in Python cannot be run by rkeras; write it in R (layer_lambda(), Layer())"
            ))
        })?;
        let graph: OpGraph = serde_json::from_value(ops.clone())
            .map_err(|e| RkError::Spec(format!("{class} function: {e}")))?;
        let losses = match f.get("rkeras_losses") {
            None | Some(Value::Null) => 0,
            Some(v) => v.as_u64().ok_or_else(|| {
                RkError::Spec(format!("{class}: rkeras_losses must be a count, not {v}"))
            })? as usize,
        };
        if graph.outputs.len() != 1 + losses {
            return Err(RkError::Unsupported(format!(
                "a {class} layer returning {} tensors is not supported; return one tensor",
                graph.outputs.len() - losses.min(graph.outputs.len())
            )));
        }
        Ok(Function { graph, losses })
    }

    /// The shape of the layer's output for operands of shapes `dims`.
    fn output_shape(&self, dims: &[Dims], layer: &str) -> RkResult<Dims> {
        self.graph
            .output_shapes(dims)
            .map(|mut s| s.remove(0))
            .map_err(|e| shape_error(layer, e.message().to_string()))
    }
}

#[derive(Clone, Debug)]
pub struct Lambda {
    class: &'static str,
    /// The recorded function (of the training mode when `inference` is given).
    function: Function,
    /// The function recorded for inference, when it differs from the training one.
    inference: Option<Function>,
    weights: Vec<WeightSpec>,
    params: Vec<Param>,
    seed: u64,
    config: Value,
}

/// A name kept for the life of the process (class and weight names are `&'static str`);
/// each distinct name is stored once.
fn intern(s: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut guard = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let set = guard.get_or_insert_with(HashSet::new);
    if let Some(&k) = set.get(s) {
        return k;
    }
    let k: &'static str = Box::leak(s.to_string().into_boxed_str());
    set.insert(k);
    k
}

/// Keras's fans of a weight of `shape`.
fn fans(shape: &[usize]) -> (usize, usize) {
    match shape {
        [] => (1, 1),
        [n] => (*n, *n),
        [a, b] => (*a, *b),
        _ => {
            let n = shape.len();
            let field: usize = shape[..n - 2].iter().product();
            (shape[n - 2] * field, shape[n - 1] * field)
        }
    }
}

impl Lambda {
    pub fn from_config(class: &str, c: &Value, seed: u64) -> RkResult<Lambda> {
        let function = Function::from_value(class, c.get("function").unwrap_or(&Value::Null))?;
        let inference = match c.get("function_inference") {
            None | Some(Value::Null) => None,
            Some(f) => Some(Function::from_value(class, f)?),
        };
        if inference
            .as_ref()
            .is_some_and(|f| f.graph.inputs != function.graph.inputs)
        {
            return Err(RkError::Spec(format!(
                "{class}: the inference function takes {} inputs, the training one {}",
                inference.as_ref().map_or(0, |f| f.graph.inputs),
                function.graph.inputs
            )));
        }
        let weights: Vec<WeightSpec> = match c.get("rkeras_weights") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| RkError::Spec(format!("{class} weights: {e}")))?,
        };
        if weights.len() > function.graph.inputs {
            return Err(RkError::Spec(format!(
                "{class}: {} weights for a function of {} inputs",
                weights.len(),
                function.graph.inputs
            )));
        }
        for w in &weights {
            crate::config::init_from_value(&w.initializer)?;
        }
        Ok(Lambda {
            class: intern(class),
            function,
            inference,
            weights,
            params: Vec::new(),
            seed,
            config: c.clone(),
        })
    }

    fn n_inputs(&self) -> usize {
        self.function.graph.inputs - self.weights.len()
    }

    /// The graph's inputs: the layer's, then its weights.
    fn operands<'a>(&'a self, xs: &[&'a Tensor]) -> Vec<&'a Tensor> {
        xs.iter()
            .copied()
            .chain(self.params.iter().map(|p| &p.value))
            .collect()
    }

    /// The function of the mode a call runs in, and the number of losses it adds.
    fn mode(&self, training: bool) -> (&OpGraph, usize) {
        let f = match (&self.inference, training) {
            (Some(f), false) => f,
            _ => &self.function,
        };
        (&f.graph, f.losses)
    }

    /// The values of a pass of `graph`: drawn afresh, or (`draws`) with the random
    /// operations' values of an earlier pass.
    fn run(
        graph: &OpGraph,
        ins: &[&Tensor],
        ctx: &mut Ctx,
        draws: Option<&Tensor>,
    ) -> RkResult<crate::ops::OpValues> {
        match draws {
            None => graph.forward(ins, &mut ctx.rng),
            Some(d) => graph.forward_replay(ins, d.as_slice().unwrap_or(&[])),
        }
    }

    fn make_params(&mut self) -> RkResult<()> {
        let mut rng = crate::rng::Rng::new(self.seed);
        let mut params = Vec::with_capacity(self.weights.len());
        for w in &self.weights {
            let init: Init = crate::config::init_from_value(&w.initializer)?;
            let n: usize = w.shape.iter().product();
            let mut v = super::zeros(n);
            let (fi, fo) = fans(&w.shape);
            init.fill(&mut v, fi, fo, &mut rng);
            params.push(Param {
                name: intern(&w.name),
                value: Tensor::from_shape_vec(ndarray::IxDyn(&w.shape), v)
                    .map_err(|e| RkError::Internal(e.to_string()))?,
                trainable: w.trainable,
            });
        }
        self.params = params;
        Ok(())
    }
}

impl Layer for Lambda {
    fn class_name(&self) -> &'static str {
        self.class
    }

    fn build(
        &mut self,
        name: &str,
        inputs: &[Shape],
        _rng: &mut crate::rng::Rng,
    ) -> RkResult<Shape> {
        if inputs.len() != self.n_inputs() {
            return Err(shape_error(
                name,
                format!(
                    "was recorded on {} input(s), got {}",
                    self.n_inputs(),
                    inputs.len()
                ),
            ));
        }
        if self.params.len() != self.weights.len() {
            self.make_params()?;
        }
        let dims: Vec<Dims> = inputs
            .iter()
            .map(|s| {
                std::iter::once(None)
                    .chain(s.iter().map(|&d| Some(d)))
                    .collect()
            })
            .chain(
                self.weights
                    .iter()
                    .map(|w| w.shape.iter().map(|&d| Some(d)).collect()),
            )
            .collect();
        let out = self.function.output_shape(&dims, name)?;
        if let Some(f) = &self.inference {
            let other = f.output_shape(&dims, name)?;
            if other != out {
                return Err(shape_error(
                    name,
                    format!(
                        "returns shape {} in training and {} in inference; both must agree",
                        show(&out),
                        show(&other)
                    ),
                ));
            }
        }
        match out.split_first() {
            Some((None, rest)) if rest.iter().all(|d| d.is_some()) => {
                Ok(rest.iter().map(|d| d.unwrap_or(0)).collect())
            }
            _ => Err(shape_error(
                name,
                format!(
                    "must return a tensor that keeps the batch axis first, shape (None, ...); its function returns shape {}",
                    show(&out)
                ),
            )),
        }
    }

    fn params(&self) -> Vec<&Param> {
        self.params.iter().collect()
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.params.iter_mut().collect()
    }

    fn adds_loss(&self) -> bool {
        self.function.losses > 0 || self.inference.as_ref().is_some_and(|f| f.losses > 0)
    }

    fn row_function(&self) -> Option<&OpGraph> {
        let f = &self.function;
        (self.weights.is_empty() && self.inference.is_none() && f.losses == 0).then_some(&f.graph)
    }

    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let ins = self.operands(xs);
        let (graph, losses) = self.mode(ctx.training);
        let vals = Self::run(graph, &ins, ctx, None)?;
        let cache = if ctx.backward && graph.is_random() {
            Some(graph.draws(&vals))
        } else {
            None
        };
        for &o in &graph.outputs[1..=losses] {
            let l = graph.value(&ins, &vals, o);
            ctx.added_loss += l.iter().map(|&v| v as f64).sum::<f64>();
        }
        // The output moves out of the pass's values (a copy only when it is an input).
        let o = graph.outputs[0];
        let mut vals = vals;
        let y = match o.checked_sub(graph.inputs) {
            Some(k) => std::mem::replace(&mut vals.nodes[k], Tensor::zeros(ndarray::IxDyn(&[0]))),
            None => graph.value(&ins, &vals, o).clone(),
        };
        Ok((super::standard(y), cache))
    }

    fn backward(
        &self,
        xs: &[&Tensor],
        _y: &Tensor,
        cache: &Cache,
        g: Tensor,
        pgrads: &mut [Tensor],
        ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        let ins = self.operands(xs);
        let (graph, losses) = self.mode(ctx.training);
        let vals = match cache {
            Some(d) => Self::run(graph, &ins, ctx, Some(d))?,
            None => graph.forward_replay(&ins, &[])?,
        };
        // Each added loss enters the model's loss as the sum of its values.
        let seeds = std::iter::once(Some(g))
            .chain(
                graph.outputs[1..=losses]
                    .iter()
                    .map(|&o| Some(Tensor::ones(graph.value(&ins, &vals, o).raw_dim()))),
            )
            .collect();
        let mut grads = graph.backward(&ins, &vals, seeds)?;
        let wgrads = grads.split_off(xs.len());
        for (pg, wg) in pgrads.iter_mut().zip(wgrads) {
            *pg += &wg;
        }
        Ok(grads.into_iter().map(super::standard).collect())
    }

    fn config(&self) -> Value {
        let mut c = self.config.clone();
        if let Some(o) = c.as_object_mut() {
            o.remove("name");
            o.remove("trainable");
            o.remove("dtype");
        }
        c
    }
}
