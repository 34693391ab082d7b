//! The inference plan: how [`Graph::infer`] runs a model for its outputs alone. Each value
//! is dropped, its buffer kept for reuse ([`crate::layers::recycle`]), once its last reader
//! has run. An elementwise layer (activation, batch normalization in inference, rescaling,
//! dropout) whose input nothing else reads rewrites that input in place, or, when the input
//! comes from a layer that takes an epilogue (a convolution), runs inside that layer's call
//! on each block of its output while the block is in cache: a convolution, its batch
//! normalization and its ReLU are one pass over memory.

use super::Graph;
use crate::layers::{Map, MergeStep};

pub struct Plan {
    /// For each node, the last node that reads its value (`usize::MAX` for the outputs).
    pub last: Vec<usize>,
    /// For each node, whether a call's epilogue computes it (its value is that call's).
    pub absorbed: Vec<bool>,
    /// For each call, the elementwise steps of the nodes its epilogue computes, in order.
    pub epilogue: Vec<Vec<Map>>,
    /// For each elementwise node that runs in place on its input, its step.
    pub in_place: Vec<Option<Map>>,
    /// For each merge node that updates its first input in place, its step.
    pub merge: Vec<Option<MergeStep>>,
}

impl Graph {
    /// The inference plan of this graph with its layers' current weights.
    pub fn plan(&self) -> Plan {
        let n = self.nodes.len();
        let fused = self.fused_step_means();
        let mut last: Vec<usize> = (0..n).collect();
        let mut readers = vec![0usize; n];
        for i in 0..n {
            for &j in self.reads(i, &fused) {
                last[j] = last[j].max(i);
                readers[j] += 1;
            }
        }
        for &o in &self.outputs {
            last[o] = usize::MAX;
        }
        let mut plan = Plan {
            absorbed: vec![false; n],
            epilogue: vec![Vec::new(); n],
            in_place: vec![None; n],
            merge: vec![None; n],
            last,
        };
        // Calls that are neither parts of another call nor in a fused pair.
        let mut plain: Vec<bool> = (0..n)
            .map(|i| self.nodes[i].take.is_none() && fused[i].is_none())
            .collect();
        for j in fused.iter().flatten() {
            plain[*j] = false;
        }
        // The call whose epilogue computes each node so far.
        let mut producer: Vec<Option<usize>> = vec![None; n];
        for (i, node) in self.nodes.iter().enumerate() {
            let slot = &self.slots[node.layer];
            let Some(layer) = slot.layer.as_ref() else {
                continue;
            };
            let Some(&j) = node.inputs.first() else {
                continue;
            };
            if !plain[i] || readers[j] != 1 || plan.last[j] == usize::MAX {
                continue;
            }
            if node.inputs.len() > 1 {
                plan.merge[i] = layer.merge_step();
                continue;
            }
            if layer.uses_input_masks() {
                continue;
            }
            let Some(step) = layer.elementwise(self.call_training(i, false, layer.as_ref())) else {
                continue;
            };
            let p = producer[j].or_else(|| (plain[j] && self.takes_epilogue(j)).then_some(j));
            match p {
                Some(p) if slot.activity.is_none() => {
                    producer[i] = Some(p);
                    plan.absorbed[i] = true;
                    plan.epilogue[p].push(step);
                }
                _ => plan.in_place[i] = Some(step),
            }
        }
        plan
    }

    /// Whether node `j` is a layer's call that runs an epilogue in inference.
    fn takes_epilogue(&self, j: usize) -> bool {
        let slot = &self.slots[self.nodes[j].layer];
        slot.layer.as_ref().is_some_and(|l| {
            slot.activity.is_none()
                && l.takes_epilogue()
                && !self.call_training(j, false, l.as_ref())
        })
    }

    /// The nodes whose values node `i` reads (a fused pooling node reads its pair's input).
    pub(super) fn reads<'a>(&'a self, i: usize, fused: &[Option<usize>]) -> &'a [usize] {
        match fused[i] {
            Some(j) => &self.nodes[j].inputs,
            None => &self.nodes[i].inputs,
        }
    }
}
