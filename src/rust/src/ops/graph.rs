//! A function of tensors recorded from R: its nodes in order, run forward on a batch and
//! backward to its inputs' gradients.

use super::{op_error, Dims, Op};
use crate::error::{RkError, RkResult};
use crate::layers::Tensor;
use crate::rng::Rng;
use ndarray::{Dimension, IxDyn};
use serde::{Deserialize, Serialize};

/// One node of an [`OpGraph`]: an operation and the values it reads (inputs first, then
/// the nodes' outputs in order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpNode {
    pub call: Op,
    pub args: Vec<usize>,
}

/// A function of tensors recorded from R: values `0..inputs` are its inputs, value
/// `inputs + i` is node `i`'s output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpGraph {
    pub inputs: usize,
    pub nodes: Vec<OpNode>,
    pub outputs: Vec<usize>,
}

/// Every value of one forward pass (the inputs' copies are not kept: see [`OpGraph::value`]).
pub struct OpValues {
    pub nodes: Vec<Tensor>,
}

impl OpGraph {
    pub fn from_json(json: &str) -> RkResult<OpGraph> {
        let g: OpGraph = serde_json::from_str(json)
            .map_err(|e| RkError::Spec(format!("operation graph: {e}")))?;
        g.check()?;
        Ok(g)
    }

    fn check(&self) -> RkResult<()> {
        for (i, n) in self.nodes.iter().enumerate() {
            if n.args.iter().any(|&a| a >= self.inputs + i) {
                return Err(RkError::Spec(format!(
                    "operation {i} ({}) reads a later value",
                    n.call.name()
                )));
            }
        }
        let n = self.inputs + self.nodes.len();
        if self.outputs.is_empty() || self.outputs.iter().any(|&o| o >= n) {
            return Err(RkError::Spec(
                "operation graph outputs name missing values".into(),
            ));
        }
        Ok(())
    }

    /// The shapes of every value, given the inputs' shapes.
    pub fn shapes(&self, ins: &[Dims]) -> RkResult<Vec<Dims>> {
        if ins.len() != self.inputs {
            return Err(op_error(format!(
                "the function takes {} input(s), got {}",
                self.inputs,
                ins.len()
            )));
        }
        let mut all: Vec<Dims> = ins.to_vec();
        for n in &self.nodes {
            let args: Vec<Dims> = n.args.iter().map(|&a| all[a].clone()).collect();
            let s = n.call.shape(&args)?;
            all.push(s);
        }
        Ok(all)
    }

    /// The outputs' shapes.
    pub fn output_shapes(&self, ins: &[Dims]) -> RkResult<Vec<Dims>> {
        let all = self.shapes(ins)?;
        Ok(self.outputs.iter().map(|&o| all[o].clone()).collect())
    }

    /// Value `i` of a pass over `ins`.
    pub fn value<'a>(&self, ins: &[&'a Tensor], vals: &'a OpValues, i: usize) -> &'a Tensor {
        if i < self.inputs {
            ins[i]
        } else {
            &vals.nodes[i - self.inputs]
        }
    }

    /// Run every node on `ins`, drawing the random operations' values from `rng`.
    pub fn forward(&self, ins: &[&Tensor], rng: &mut Rng) -> RkResult<OpValues> {
        self.run(ins, &mut Draws::Fresh(rng))
    }

    /// Run every node on `ins`, the random operations taking their values from `draws`
    /// (what [`OpGraph::draws`] kept of an earlier pass).
    pub fn forward_replay(&self, ins: &[&Tensor], draws: &[f32]) -> RkResult<OpValues> {
        self.run(ins, &mut Draws::Kept(draws))
    }

    /// The random operations' values of a pass, one after another.
    pub fn draws(&self, vals: &OpValues) -> Tensor {
        let v: Vec<f32> = self
            .nodes
            .iter()
            .zip(&vals.nodes)
            .filter(|(n, _)| n.call.is_random())
            .flat_map(|(_, t)| t.iter().copied())
            .collect();
        Tensor::from_shape_vec(IxDyn(&[v.len()]), v).expect("one axis")
    }

    fn run(&self, ins: &[&Tensor], draws: &mut Draws) -> RkResult<OpValues> {
        if ins.len() != self.inputs {
            return Err(op_error(format!(
                "the function takes {} input(s), got {}",
                self.inputs,
                ins.len()
            )));
        }
        let mut vals = OpValues {
            nodes: Vec::with_capacity(self.nodes.len()),
        };
        for n in &self.nodes {
            let args: Vec<&Tensor> = n.args.iter().map(|&a| self.value(ins, &vals, a)).collect();
            let y = match draws {
                Draws::Fresh(rng) => n.call.forward(&args, rng)?,
                Draws::Kept(kept) if n.call.is_random() => {
                    let shape = IxDyn(&n.call.random_dims(&args).unwrap_or_default());
                    let k = shape.size();
                    if kept.len() < k {
                        return Err(RkError::Internal(
                            "random draws of a pass were not kept".into(),
                        ));
                    }
                    let (now, rest) = kept.split_at(k);
                    *kept = rest;
                    Tensor::from_shape_vec(shape, now.to_vec()).expect("size matches")
                }
                Draws::Kept(_) => n.call.forward(&args, &mut Rng::new(0))?,
            };
            vals.nodes.push(y);
        }
        Ok(vals)
    }

    /// The gradients of the inputs, given the outputs' gradients (`None`: the output does
    /// not reach the loss). An input no gradient reaches gets zeros.
    pub fn backward(
        &self,
        ins: &[&Tensor],
        vals: &OpValues,
        out_grads: Vec<Option<Tensor>>,
    ) -> RkResult<Vec<Tensor>> {
        let n = self.inputs + self.nodes.len();
        let mut grads: Vec<Option<Tensor>> = vec![None; n];
        for (&o, g) in self.outputs.iter().zip(out_grads) {
            if let Some(g) = g {
                accumulate(&mut grads[o], g);
            }
        }
        for (i, node) in self.nodes.iter().enumerate().rev() {
            let Some(g) = grads[self.inputs + i].take() else {
                continue;
            };
            let args: Vec<&Tensor> = node
                .args
                .iter()
                .map(|&a| self.value(ins, vals, a))
                .collect();
            let gs = node.call.backward(&args, &vals.nodes[i], &g)?;
            for (&a, ga) in node.args.iter().zip(gs) {
                if let Some(ga) = ga {
                    accumulate(&mut grads[a], ga);
                }
            }
        }
        Ok(grads
            .into_iter()
            .take(self.inputs)
            .zip(ins)
            .map(|(g, x)| g.unwrap_or_else(|| Tensor::zeros(x.raw_dim())))
            .collect())
    }

    /// Whether any node draws random numbers.
    pub fn is_random(&self) -> bool {
        self.nodes.iter().any(|n| n.call.is_random())
    }

    /// Whether each row of the outputs (axis 0, the batch) depends on the same row of the
    /// inputs alone, for inputs of shapes `ins` whose batch axis is open: then the function
    /// may run on any split of a batch's rows (as the dense plan's shards run it) and give
    /// the values it gives on the whole batch. Conservative: an operation that could mix
    /// rows (a reduction or softmax over the batch axis, a reshape, a product, random
    /// draws) makes it `false`.
    pub fn row_wise(&self, ins: &[Dims]) -> bool {
        if self.is_random() || ins.iter().any(|d| d.first() != Some(&None)) {
            return false;
        }
        let Ok(dims) = self.shapes(ins) else {
            return false;
        };
        // Which values the inputs reach; the others are constants.
        let mut reached: Vec<bool> = (0..dims.len()).map(|i| i < self.inputs).collect();
        for (k, n) in self.nodes.iter().enumerate() {
            let i = self.inputs + k;
            reached[i] = n.args.iter().any(|&a| reached[a]);
            if !reached[i] {
                continue;
            }
            let rank = dims[i].len();
            let batched = |a: usize| dims[a].first() == Some(&None);
            // A constant operand broadcasts along the rows without meeting the batch axis.
            let operands = n.args.iter().all(|&a| match reached[a] {
                true => batched(a),
                false => dims[a].len() < rank || dims[a].first() == Some(&Some(1)),
            });
            let keeps_rows = match &n.call {
                Op::Unary { .. }
                | Op::Binary { .. }
                | Op::Clip { .. }
                | Op::Cast { .. }
                | Op::StopGradient
                | Op::Where
                | Op::OneHot { .. } => true,
                Op::Reduce { axes, .. } => axes.as_ref().is_some_and(|a| !a.contains(&0)),
                Op::ArgReduce { axis, .. }
                | Op::Softmax { axis }
                | Op::LogSoftmax { axis }
                | Op::L2Normalize { axis, .. }
                | Op::ExpandDims { axis }
                | Op::Squeeze { axis }
                | Op::Concat { axis }
                | Op::Take { axis, .. }
                | Op::Repeat { axis, .. } => *axis > 0,
                Op::Transpose { perm } => perm.first() == Some(&0),
                Op::Tile { reps } => reps.first() == Some(&1),
                _ => false,
            };
            if !(operands && keeps_rows && batched(i)) {
                return false;
            }
        }
        self.outputs.iter().all(|&o| reached[o])
    }
}

/// Where a pass takes its random operations' values from.
enum Draws<'a> {
    Fresh(&'a mut Rng),
    Kept(&'a [f32]),
}

fn accumulate(slot: &mut Option<Tensor>, g: Tensor) {
    match slot {
        Some(s) if s.shape() == g.shape() => *s += &g,
        Some(s) => {
            let sum = &*s + &g;
            *s = sum;
        }
        None => *slot = Some(g),
    }
}
