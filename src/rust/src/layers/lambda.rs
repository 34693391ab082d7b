//! Layers written in R: Keras's `Lambda` (a function of tensors) and custom layers
//! (`Layer()`, `new_layer_class()`, R6 `KerasLayer`) whose R code adds weights and applies
//! operations to them. The R code runs once, on symbolic tensors: what it applies is
//! recorded as an operation graph (see `ops`), which this layer runs forward on each batch
//! and differentiates through the operations' vector-Jacobian products. The graph's inputs
//! are the layer's inputs, then its weights. The same layer holds an operation applied to a
//! model's tensors outside a layer (`x * 2`, `k_exp(x)`).
//!
//! Config: `{"function": {"rkeras_ops": <graph>}, "rkeras_weights": [{"name", "shape",
//! "initializer", "trainable"}], ...}` (the rest as R wrote it).

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

#[derive(Clone, Debug)]
pub struct Lambda {
    class: &'static str,
    graph: OpGraph,
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
        let ops = c
            .get("function")
            .and_then(|f| f.get("rkeras_ops"))
            .ok_or_else(|| {
                RkError::Unsupported(format!(
                    "a {class} layer written in Python cannot be run by rkeras; write it in R (layer_lambda(), Layer())"
                ))
            })?;
        let graph: OpGraph = serde_json::from_value(ops.clone())
            .map_err(|e| RkError::Spec(format!("{class} function: {e}")))?;
        if graph.outputs.len() != 1 {
            return Err(RkError::Unsupported(format!(
                "a {class} layer returning {} tensors is not supported; return one tensor",
                graph.outputs.len()
            )));
        }
        let weights: Vec<WeightSpec> = match c.get("rkeras_weights") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| RkError::Spec(format!("{class} weights: {e}")))?,
        };
        if weights.len() > graph.inputs {
            return Err(RkError::Spec(format!(
                "{class}: {} weights for a function of {} inputs",
                weights.len(),
                graph.inputs
            )));
        }
        for w in &weights {
            crate::config::init_from_value(&w.initializer)?;
        }
        Ok(Lambda {
            class: intern(class),
            graph,
            weights,
            params: Vec::new(),
            seed,
            config: c.clone(),
        })
    }

    fn n_inputs(&self) -> usize {
        self.graph.inputs - self.weights.len()
    }

    /// The graph's inputs: the layer's, then its weights.
    fn operands<'a>(&'a self, xs: &[&'a Tensor]) -> Vec<&'a Tensor> {
        xs.iter()
            .copied()
            .chain(self.params.iter().map(|p| &p.value))
            .collect()
    }

    /// The values of a pass: drawn afresh, or (`draws`) with the random operations'
    /// values of an earlier pass.
    fn run(
        &self,
        ins: &[&Tensor],
        ctx: &mut Ctx,
        draws: Option<&Tensor>,
    ) -> RkResult<crate::ops::OpValues> {
        match draws {
            None => self.graph.forward(ins, &mut ctx.rng),
            Some(d) => self.graph.forward_replay(ins, d.as_slice().unwrap_or(&[])),
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
        let out = self
            .graph
            .output_shapes(&dims)
            .map_err(|e| shape_error(name, e.message().to_string()))?
            .remove(0);
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

    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let ins = self.operands(xs);
        let vals = self.run(&ins, ctx, None)?;
        let cache = if ctx.backward && self.graph.is_random() {
            Some(self.graph.draws(&vals))
        } else {
            None
        };
        let y = self.graph.value(&ins, &vals, self.graph.outputs[0]).clone();
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
        let vals = match cache {
            Some(d) => self.run(&ins, ctx, Some(d))?,
            None => self.graph.forward_replay(&ins, &[])?,
        };
        let mut grads = self.graph.backward(&ins, &vals, vec![Some(g)])?;
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
