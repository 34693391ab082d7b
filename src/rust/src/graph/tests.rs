//! Gradient checks through graphs with fan-out, shared layers and every merge and shape
//! layer, against central finite differences; and training of a graph against the fused
//! chain on the same dense model.

use super::Graph;
use crate::layers::Tensor;
use crate::testing::check_grad;
use serde_json::json;

fn dense(name: &str, units: usize, act: &str, seed: u64) -> serde_json::Value {
    json!({"name": name, "class_name": "Dense", "seed": seed, "config": {"units": units, "activation": act,
           "bias_initializer": {"name": "random_uniform", "args": [-0.5, 0.5]},
           "kernel_regularizer": {"l1": 0.01, "l2": 0.02}}})
}

/// A chain of `layers` after an input of per-sample shape `input`.
pub(super) fn chain(input: serde_json::Value, layers: Vec<serde_json::Value>) -> Graph {
    let mut all = vec![layer("x", "InputLayer", json!({ "shape": input }))];
    all.extend(layers);
    let nodes: Vec<serde_json::Value> = (0..all.len())
        .map(|i| {
            if i == 0 {
                json!({"layer": 0, "inputs": []})
            } else {
                json!({"layer": i, "inputs": [i - 1]})
            }
        })
        .collect();
    let n = all.len() - 1;
    let spec = json!({"layers": all, "nodes": nodes, "inputs": [0], "outputs": [n]});
    Graph::from_json(&spec.to_string()).unwrap()
}

pub(super) fn layer(name: &str, class: &str, config: serde_json::Value) -> serde_json::Value {
    json!({"name": name, "class_name": class, "config": config})
}

/// Two inputs of 4 features; a shared tanh dense applied to both (fan-out of its weights),
/// `s = add(da, db)` read twice, then multiply, concatenate, reshape, permute, flatten,
/// and a softmax dense.
fn fan_out_graph() -> Graph {
    let spec = json!({
        "layers": [
            layer("a", "InputLayer", json!({"shape": [4]})),
            layer("b", "InputLayer", json!({"shape": [4]})),
            dense("shared", 3, "tanh", 1),
            layer("add", "Add", json!({})),
            layer("mul", "Multiply", json!({})),
            layer("cat", "Concatenate", json!({"axis": -1})),
            layer("re", "Reshape", json!({"target_shape": [2, -1]})),
            layer("perm", "Permute", json!({"dims": [2, 1]})),
            layer("flat", "Flatten", json!({})),
            dense("out", 2, "softmax", 2),
        ],
        "nodes": [
            {"layer": 0, "inputs": []}, {"layer": 1, "inputs": []},
            {"layer": 2, "inputs": [0]}, {"layer": 2, "inputs": [1]},
            {"layer": 3, "inputs": [2, 3]},
            {"layer": 4, "inputs": [2, 4]},
            {"layer": 5, "inputs": [5, 4]},
            {"layer": 6, "inputs": [6]}, {"layer": 7, "inputs": [7]}, {"layer": 8, "inputs": [8]},
            {"layer": 9, "inputs": [9]}
        ],
        "inputs": [0, 1], "outputs": [10]
    });
    Graph::from_json(&spec.to_string()).unwrap()
}

/// Subtract, average, maximum, minimum, dot and repeat_vector, in one graph.
fn merge_graph() -> Graph {
    let spec = json!({
        "layers": [
            layer("a", "InputLayer", json!({"shape": [3]})),
            dense("d1", 3, "sigmoid", 3),
            dense("d2", 3, "elu", 4),
            layer("sub", "Subtract", json!({})),
            layer("avg", "Average", json!({})),
            layer("max", "Maximum", json!({})),
            layer("min", "Minimum", json!({})),
            layer("dot", "Dot", json!({"axes": -1})),
            layer("rep", "RepeatVector", json!({"n": 2})),
            layer("flat", "Flatten", json!({})),
            layer("cat", "Concatenate", json!({})),
            dense("out", 2, "linear", 5),
        ],
        "nodes": [
            {"layer": 0, "inputs": []},
            {"layer": 1, "inputs": [0]}, {"layer": 2, "inputs": [0]},
            {"layer": 3, "inputs": [1, 2]},
            {"layer": 4, "inputs": [1, 2, 3]},
            {"layer": 5, "inputs": [3, 4]},
            {"layer": 6, "inputs": [4, 1]},
            {"layer": 7, "inputs": [5, 6]},
            {"layer": 8, "inputs": [5]},
            {"layer": 9, "inputs": [8]},
            {"layer": 10, "inputs": [9, 7]},
            {"layer": 11, "inputs": [10]}
        ],
        "inputs": [0], "outputs": [11]
    });
    Graph::from_json(&spec.to_string()).unwrap()
}

/// L = sum(w * output) + penalties, for fixed output weights w.
pub(super) fn objective(g: &Graph, x: &[f32], rows: usize, w: &[f32], training: bool) -> f64 {
    let pass = g.forward(x, rows, training, [0, 0], 1).unwrap();
    let out = pass.values[g.outputs[0]].as_slice().unwrap();
    out.iter()
        .zip(w)
        .map(|(a, b)| *a as f64 * *b as f64)
        .sum::<f64>()
        + g.penalty()
}

fn check_all_params(g: &Graph, x: &[f32], rows: usize) {
    check_params(g, x, rows, false).unwrap();
}

/// The fixed output weights `w` of the objective `sum(w * output)`.
fn out_weights(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i * 5 % 7) as f32 - 3.0) / 3.0).collect()
}

/// Whether the finite-difference check rejects the gradient of parameter `p` of layer `k`
/// once `corrupt` has changed it: each gradient check must be able to fail.
pub(super) fn corrupted_grad_fails(
    g: &Graph,
    x: &[f32],
    rows: usize,
    training: bool,
    (k, p): (usize, usize),
    corrupt: impl Fn(&mut Vec<f32>),
) -> bool {
    let pass = g.forward(x, rows, training, [0, 0], 1).unwrap();
    let out = &pass.values[g.outputs[0]];
    let w = out_weights(out.len());
    let grad = Tensor::from_shape_vec(out.raw_dim(), w.clone()).unwrap();
    let pgrads = g.backward(&pass, vec![grad], 1).unwrap();
    let mut wrong = pgrads[k][p].as_slice().unwrap().to_vec();
    corrupt(&mut wrong);
    let values = g.slots[k].params()[p].value.as_slice().unwrap().to_vec();
    check_grad("wrong", &values, &wrong, |v| {
        let mut h = g.clone();
        h.slots[k].layer.as_mut().unwrap().params_mut()[p]
            .value
            .as_slice_mut()
            .unwrap()
            .copy_from_slice(v);
        objective(&h, x, rows, &w, training)
    })
    .is_err()
}

/// Check every trainable parameter's gradient of `sum(w * output)` (training or inference
/// mode); the number of parameters checked, or the first mismatch.
pub(super) fn check_params(
    g: &Graph,
    x: &[f32],
    rows: usize,
    training: bool,
) -> Result<usize, String> {
    let pass = g.forward(x, rows, training, [0, 0], 1).unwrap();
    let out = &pass.values[g.outputs[0]];
    let w = out_weights(out.len());
    let grad = Tensor::from_shape_vec(out.raw_dim(), w.clone()).unwrap();
    let pgrads = g.backward(&pass, vec![grad], 1).unwrap();
    let mut checked = 0;
    for (li, slot) in g.slots.iter().enumerate() {
        for (pi, p) in slot.params().iter().enumerate() {
            if !p.trainable || !slot.trainable {
                continue;
            }
            let values = p.value.as_slice().unwrap().to_vec();
            let analytic = pgrads[li][pi].as_slice().unwrap().to_vec();
            check_grad(
                &format!("{}/{}", slot.name, p.name),
                &values,
                &analytic,
                |v| {
                    let mut h = g.clone();
                    let layer = h.slots[li].layer.as_mut().unwrap();
                    layer.params_mut()[pi]
                        .value
                        .as_slice_mut()
                        .unwrap()
                        .copy_from_slice(v);
                    objective(&h, x, rows, &w, training)
                },
            )?;
            checked += 1;
        }
    }
    assert!(checked >= 4, "every parameter was checked");
    Ok(checked)
}

fn inputs(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) / 4.0 + 0.01 * i as f32)
        .collect()
}

#[test]
fn gradients_through_shared_layers_and_fan_out_match_finite_differences() {
    let g = fan_out_graph();
    assert_eq!(g.shapes[g.outputs[0]], vec![2]);
    assert_eq!(g.shapes[7], vec![2, 3]);
    assert_eq!(g.shapes[8], vec![3, 2]);
    // The shared layer has one set of weights, used by two nodes.
    assert_eq!(g.params().len(), 4);
    check_all_params(&g, &inputs(5 * 8), 5);
}

#[test]
fn gradients_through_every_merge_layer_match_finite_differences() {
    let g = merge_graph();
    assert_eq!(g.shapes[g.outputs[0]], vec![2]);
    assert_eq!(g.shapes[8], vec![2, 3]);
    check_all_params(&g, &inputs(6 * 3), 6);
}

#[test]
fn a_wrong_gradient_fails_the_same_check() {
    let g = fan_out_graph();
    // As if one of the shared layer's two uses were dropped.
    assert!(corrupted_grad_fails(
        &g,
        &inputs(5 * 8),
        5,
        false,
        (2, 0),
        |w| {
            w[1] *= 0.5;
            w[1] += 0.01;
        }
    ));
}

#[test]
fn bad_shapes_name_both_layers_shapes() {
    let spec = json!({
        "layers": [
            layer("a", "InputLayer", json!({"shape": [4]})),
            layer("b", "InputLayer", json!({"shape": [5]})),
            layer("add", "Add", json!({})),
        ],
        "nodes": [{"layer": 0, "inputs": []}, {"layer": 1, "inputs": []}, {"layer": 2, "inputs": [0, 1]}],
        "inputs": [0, 1], "outputs": [2]
    });
    let e = Graph::from_json(&spec.to_string()).unwrap_err();
    assert!(
        e.message().contains("'add'") && e.message().contains("(None, 4), (None, 5)"),
        "{}",
        e.message()
    );
}
