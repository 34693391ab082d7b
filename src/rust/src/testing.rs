//! Test helpers: central finite differences in f64 around an f32 point, a dense layer, and
//! matrix operands with a check of a product against a naive one.

use crate::activations::Act;
use crate::dense::chain::{Kind, Layer};
use crate::model::Model;
use serde_json::json;

/// Compare an analytic gradient `grad` of `f` at `x` with central differences.
/// Relative tolerance fits f32 forward passes evaluated in f64 sums.
pub fn check_grad<F: Fn(&[f32]) -> f64>(
    what: &str,
    x: &[f32],
    grad: &[f32],
    f: F,
) -> Result<(), String> {
    let h = 1e-2f32;
    let mut xp = x.to_vec();
    for i in 0..x.len() {
        let orig = xp[i];
        xp[i] = orig + h;
        let fp = f(&xp);
        xp[i] = orig - h;
        let fm = f(&xp);
        xp[i] = orig;
        let num = (fp - fm) / (2.0 * h as f64);
        let ana = grad[i] as f64;
        let tol = 2e-3 * (1.0 + num.abs().max(ana.abs()));
        if (num - ana).abs() > tol {
            return Err(format!(
                "{what}: gradient {i}: analytic {ana}, numeric {num}"
            ));
        }
    }
    Ok(())
}

/// A dense layer of the dense plan (its weights come from the graph [`chain_model`] makes).
pub fn dense(name: &str, units: usize, act: Act, use_bias: bool, l1: f32, l2: f32) -> Layer {
    let kind = Kind::Dense {
        units,
        act,
        use_bias,
        l1,
        l2,
    };
    Layer::new(name.into(), kind)
}

/// A model whose graph is the chain of `layers` after an input of `d` features: dense
/// layers with Glorot-uniform kernels and uniform(-0.5, 0.5) biases, seeded by position.
pub fn chain_model(layers: &[Layer], d: usize) -> Model {
    let mut specs =
        vec![json!({"name": "x", "class_name": "InputLayer", "config": {"shape": [d]}})];
    for (i, l) in layers.iter().enumerate() {
        let (class, config) = match &l.kind {
            Kind::Dense {
                units,
                act,
                use_bias,
                l1,
                l2,
            } => (
                "Dense",
                json!({"units": units, "activation": act.name(), "use_bias": use_bias,
                       "bias_initializer": {"name": "random_uniform", "args": [-0.5, 0.5]},
                       "kernel_regularizer": {"l1": l1, "l2": l2}}),
            ),
            Kind::Dropout { rate } => ("Dropout", json!({ "rate": rate })),
            Kind::Activation { act } => ("Activation", json!({"activation": act.name()})),
            Kind::Flatten => ("Flatten", json!({})),
            Kind::Function { graph, .. } => {
                ("Lambda", json!({"function": {"rkeras_ops": &**graph}}))
            }
        };
        specs.push(
            json!({"name": l.name, "class_name": class, "config": config,
                          "seed": 7 * i as u64 + 3}),
        );
    }
    let nodes: Vec<_> = (0..specs.len())
        .map(|i| json!({"layer": i, "inputs": if i == 0 { vec![] } else { vec![i - 1] }}))
        .collect();
    let n = specs.len() - 1;
    let spec = json!({"layers": specs, "nodes": nodes, "inputs": [0], "outputs": [n]});
    Model::with_graph(crate::graph::Graph::from_json(&spec.to_string()).unwrap())
}

/// The model's input width.
pub fn input_dim(m: &Model) -> usize {
    m.graph.as_ref().unwrap().input_widths()[0]
}

/// Every weight of the model, flattened, in `get_weights()` order.
pub fn weights(m: &Model) -> Vec<Vec<f32>> {
    let g = m.graph.as_ref().unwrap();
    g.params()
        .iter()
        .map(|(_, p)| p.value.iter().copied().collect())
        .collect()
}

/// Replace every weight (as `set_weights()` does).
pub fn set_weights(m: &mut Model, w: &[Vec<f32>]) {
    let g = m.graph.as_mut().unwrap();
    for (p, v) in g.params_mut().into_iter().zip(w) {
        p.value.as_slice_mut().unwrap().copy_from_slice(v);
    }
    m.weights_changed();
}

/// Operands `a [m, k]` and `b [k, n]` (row-major) of varied values.
pub fn operands(m: usize, k: usize, n: usize) -> (Vec<f32>, Vec<f32>) {
    let a = (0..m * k)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 31.0)
        .collect();
    let b = (0..k * n)
        .map(|i| ((i * 13 % 29) as f32 - 14.0) / 9.0)
        .collect();
    (a, b)
}

/// `c` (row-major `[m, n]`) is `a b` within f32 rounding of a depth-`k` sum.
pub fn assert_product(a: &[f32], b: &[f32], m: usize, k: usize, n: usize, c: &[f32]) {
    for i in 0..m {
        for j in 0..n {
            let want: f64 = (0..k)
                .map(|p| a[i * k + p] as f64 * b[p * n + j] as f64)
                .sum();
            let got = c[i * n + j] as f64;
            assert!(
                (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                "{m}x{k}x{n} [{i},{j}]: {got} vs {want}"
            );
        }
    }
}

/// Say that a test could not run on this machine: the line `SKIPPED: name (why)` on stderr,
/// which the README's test command counts as a failure (a skip must never pass unseen).
pub fn skip(name: &str, why: &str) {
    eprintln!("SKIPPED: {name} ({why})");
}
