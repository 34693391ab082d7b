//! Each operation's gradient against central differences of its forward pass, through a
//! weighted sum of its output (a deliberately wrong rule fails).

use super::*;
use crate::testing::check_grad;
use serde_json::json;

fn tensor(shape: &[usize], seed: u64, positive: bool) -> Tensor {
    let mut rng = Rng::new(seed);
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| {
            let u = rng.uniform_f32();
            if positive {
                0.5 + u
            } else {
                2.0 * u - 1.0
            }
        })
        .collect();
    Tensor::from_shape_vec(IxDyn(shape), v).unwrap()
}

/// Check the gradient of every input of the one-operation graph `op` at inputs of `shapes`.
fn check(op: serde_json::Value, shapes: &[&[usize]], positive: bool) {
    let n = shapes.len();
    let g = OpGraph::from_json(
        &json!({"inputs": n, "nodes": [{"call": op, "args": (0..n).collect::<Vec<_>>()}],
                "outputs": [n]})
        .to_string(),
    )
    .unwrap();
    let ins: Vec<Tensor> = shapes
        .iter()
        .enumerate()
        .map(|(k, s)| tensor(s, 7 + k as u64, positive))
        .collect();
    let refs: Vec<&Tensor> = ins.iter().collect();
    let mut rng = Rng::new(1);
    let vals = g.forward(&refs, &mut rng).unwrap();
    let y = &vals.nodes[0];
    let dims: Vec<Dims> = shapes
        .iter()
        .map(|s| s.iter().map(|&d| Some(d)).collect())
        .collect();
    let declared = g.output_shapes(&dims).unwrap();
    assert_eq!(
        declared[0],
        y.shape().iter().map(|&d| Some(d)).collect::<Dims>(),
        "{op}: declared shape"
    );
    let w = tensor(y.shape(), 99, false);
    let grads = g.backward(&refs, &vals, vec![Some(w.clone())]).unwrap();
    for k in 0..n {
        let f = |xk: &[f32]| {
            let mut ins2 = ins.clone();
            ins2[k] = Tensor::from_shape_vec(ins[k].raw_dim(), xk.to_vec()).unwrap();
            let r: Vec<&Tensor> = ins2.iter().collect();
            let v = g.forward(&r, &mut Rng::new(1)).unwrap();
            v.nodes[0]
                .iter()
                .zip(w.iter())
                .map(|(a, b)| (*a as f64) * (*b as f64))
                .sum::<f64>()
        };
        check_grad(
            &format!("{op} input {k}"),
            ins[k].as_slice().unwrap(),
            grads[k].as_slice().unwrap(),
            f,
        )
        .unwrap();
    }
}

#[test]
fn unary_gradients() {
    for f in [
        "neg", "exp", "log", "log1p", "expm1", "sqrt", "square", "abs", "sigmoid", "tanh", "relu",
        "elu", "selu", "softplus", "softsign", "sin", "cos",
    ] {
        let positive = matches!(f, "log" | "sqrt" | "log1p");
        check(json!({"op": "unary", "fn": f}), &[&[3, 4]], positive);
    }
}

#[test]
fn binary_gradients_broadcast() {
    for f in ["add", "sub", "mul", "div", "pow", "maximum", "minimum"] {
        let positive = matches!(f, "pow" | "div");
        check(
            json!({"op": "binary", "fn": f}),
            &[&[3, 4], &[3, 4]],
            positive,
        );
        check(
            json!({"op": "binary", "fn": f}),
            &[&[2, 3, 4], &[4]],
            positive,
        );
        check(
            json!({"op": "binary", "fn": f}),
            &[&[3, 1], &[1, 4]],
            positive,
        );
    }
}

#[test]
fn reduction_gradients() {
    for kind in [
        "sum",
        "mean",
        "max",
        "min",
        "prod",
        "var",
        "std",
        "logsumexp",
    ] {
        for (axes, keep) in [
            (json!([1]), false),
            (json!([0, 2]), true),
            (json!(null), false),
        ] {
            check(
                json!({"op": "reduce", "kind": kind, "axes": axes, "keepdims": keep}),
                &[&[2, 3, 4]],
                kind == "prod",
            );
        }
    }
    check(json!({"op": "softmax", "axis": 1}), &[&[3, 4]], false);
    check(
        json!({"op": "log_softmax", "axis": 2}),
        &[&[2, 3, 4]],
        false,
    );
    check(
        json!({"op": "l2_normalize", "axis": 1, "epsilon": 1e-12}),
        &[&[3, 4]],
        false,
    );
    check(
        json!({"op": "clip", "min": -0.5, "max": 0.5}),
        &[&[3, 4]],
        false,
    );
}

#[test]
fn shape_gradients() {
    check(
        json!({"op": "reshape", "shape": [-1, 6]}),
        &[&[2, 3, 4]],
        false,
    );
    check(json!({"op": "expand_dims", "axis": 1}), &[&[2, 3]], false);
    check(json!({"op": "squeeze", "axis": 1}), &[&[2, 1, 3]], false);
    check(
        json!({"op": "transpose", "perm": [0, 2, 1]}),
        &[&[2, 3, 4]],
        false,
    );
    check(
        json!({"op": "concat", "axis": 1}),
        &[&[2, 3], &[2, 2], &[2, 1]],
        false,
    );
    check(
        json!({"op": "take", "axis": 1, "indices": [2, 0, 2]}),
        &[&[2, 3]],
        false,
    );
    check(
        json!({"op": "tile", "reps": [1, 2, 3]}),
        &[&[2, 3, 2]],
        false,
    );
    check(
        json!({"op": "repeat", "axis": 1, "times": 3}),
        &[&[2, 2, 2]],
        false,
    );
    check(json!({"op": "matmul"}), &[&[3, 4], &[4, 2]], false);
    check(json!({"op": "matmul"}), &[&[2, 3, 4], &[4, 5]], false);
    check(json!({"op": "matmul"}), &[&[2, 3, 4], &[2, 4, 5]], false);
    check(json!({"op": "cast", "to": "float"}), &[&[2, 3]], false);
}

#[test]
fn values() {
    let x = Tensor::from_shape_vec(IxDyn(&[2, 3]), vec![1.0, -2.0, 3.0, 0.5, 4.0, -1.0]).unwrap();
    let run = |op: serde_json::Value| {
        let g = OpGraph::from_json(
            &json!({"inputs": 1, "nodes": [{"call": op, "args": [0]}], "outputs": [1]}).to_string(),
        )
        .unwrap();
        g.forward(&[&x], &mut Rng::new(1)).unwrap().nodes.remove(0)
    };
    let s = run(json!({"op": "reduce", "kind": "sum", "axes": [1], "keepdims": false}));
    assert_eq!(s.as_slice().unwrap(), &[2.0, 3.5]);
    let a = run(json!({"op": "arg_reduce", "max": true, "axis": 1}));
    assert_eq!(a.as_slice().unwrap(), &[2.0, 1.0]);
    let t = run(json!({"op": "tile", "reps": [1, 2]}));
    assert_eq!(t.shape(), &[2, 6]);
    assert_eq!(
        t.index_axis(ndarray::Axis(0), 0)
            .iter()
            .copied()
            .collect::<Vec<f32>>(),
        vec![1.0, -2.0, 3.0, 1.0, -2.0, 3.0]
    );
    let r = run(json!({"op": "repeat", "axis": 1, "times": 2}));
    assert_eq!(
        r.index_axis(ndarray::Axis(0), 1)
            .iter()
            .copied()
            .collect::<Vec<f32>>(),
        vec![0.5, 0.5, 4.0, 4.0, -1.0, -1.0]
    );
    let m = run(json!({"op": "cast", "to": "int"}));
    assert_eq!(m.as_slice().unwrap(), &[1.0, -2.0, 3.0, 0.0, 4.0, -1.0]);
    // A shape error names the operation's problem.
    let g = OpGraph::from_json(
        &json!({"inputs": 2, "nodes": [{"call": {"op": "binary", "fn": "add"}, "args": [0, 1]}],
                "outputs": [2]})
        .to_string(),
    )
    .unwrap();
    let e = g
        .output_shapes(&[vec![None, Some(3)], vec![Some(4)]])
        .unwrap_err();
    assert!(e.message().contains("do not broadcast"), "{}", e.message());
    assert_eq!(
        g.output_shapes(&[vec![None, Some(3)], vec![Some(1)]])
            .unwrap()[0],
        vec![None, Some(3)]
    );
}

#[test]
fn row_wise_functions_are_told_from_those_that_mix_rows() {
    let one = |op: serde_json::Value, consts: Vec<serde_json::Value>| {
        // The input, then constants, then `op` on all of them.
        let mut nodes: Vec<serde_json::Value> = consts
            .iter()
            .map(|c| json!({"call": c, "args": []}))
            .collect();
        let args: Vec<usize> = (0..=consts.len()).collect();
        nodes.push(json!({"call": op, "args": args}));
        let n = nodes.len();
        let g =
            OpGraph::from_json(&json!({"inputs": 1, "nodes": nodes, "outputs": [n]}).to_string())
                .unwrap();
        g.row_wise(&[vec![None, Some(4)]])
    };
    let c = |shape: Vec<usize>| {
        let n: usize = shape.iter().product();
        json!({"op": "const", "shape": shape, "values": vec![1.0; n]})
    };
    assert!(one(json!({"op": "unary", "fn": "relu"}), vec![]));
    assert!(one(json!({"op": "softmax", "axis": 1}), vec![]));
    assert!(!one(json!({"op": "softmax", "axis": 0}), vec![]));
    assert!(one(
        json!({"op": "reduce", "kind": "sum", "axes": [1], "keepdims": true}),
        vec![]
    ));
    assert!(!one(
        json!({"op": "reduce", "kind": "sum", "axes": null, "keepdims": false}),
        vec![]
    ));
    assert!(!one(
        json!({"op": "reduce", "kind": "mean", "axes": [0], "keepdims": true}),
        vec![]
    ));
    assert!(one(json!({"op": "binary", "fn": "add"}), vec![c(vec![4])]));
    assert!(one(
        json!({"op": "binary", "fn": "add"}),
        vec![c(vec![1, 4])]
    ));
    // A constant whose first axis meets the batch axis (it would broadcast over rows).
    assert!(!one(
        json!({"op": "binary", "fn": "add"}),
        vec![c(vec![3, 4])]
    ));
    assert!(!one(
        json!({"op": "random", "shape": [-1, 4], "normal": true, "a": 0.0, "b": 1.0}),
        vec![]
    ));
    assert!(!one(json!({"op": "reshape", "shape": [-1, 2, 2]}), vec![]));
    assert!(one(json!({"op": "transpose", "perm": [0, 1]}), vec![]));
    assert!(!one(json!({"op": "transpose", "perm": [1, 0]}), vec![]));
}
