//! Tests of `train.rs`.
use super::*;
use crate::activations::Act;
use crate::dense::kernel;
use crate::metrics::MetricKind;
use crate::optimizers::Optimizer;

use crate::testing::{dense, weights};

/// A model, its loss, optimizer, input width and batch size: widths that are not whole
/// panels, batches that are not whole micro-tiles, depths past one kernel pass (`KC`),
/// every layer kind, penalties, a layer without bias, and each optimizer with state.
fn cases() -> Vec<(Vec<Layer>, Loss, &'static str, usize, usize)> {
    let drop = |rate| Layer::new("drop".into(), Kind::Dropout { rate });
    vec![
        (
            vec![
                dense("a", 37, Act::Relu, true, 0.0, 0.01),
                drop(0.5),
                dense("b", 10, Act::Softmax, true, 0.0, 0.0),
            ],
            Loss::parse("categorical_crossentropy").unwrap(),
            "adam",
            21,
            37,
        ),
        (
            vec![
                dense("a", 6, Act::Softmax, true, 0.0, 0.0),
                dense("b", 13, Act::Tanh, false, 0.0, 0.0),
                dense("c", 1, Act::Sigmoid, true, 0.0, 0.0),
            ],
            Loss::parse("binary_crossentropy").unwrap(),
            "rmsprop",
            21,
            50,
        ),
        (
            vec![
                drop(0.2),
                Layer::new("t".into(), Kind::Activation { act: Act::Tanh }),
                dense("a", 8, Act::Linear, true, 0.01, 0.0),
                Layer::new("f".into(), Kind::Flatten),
                Layer::new("s".into(), Kind::Activation { act: Act::Elu }),
            ],
            Loss::MeanSquaredError,
            "sgd",
            12,
            9,
        ),
        (
            vec![
                dense("a", 20, Act::Relu, true, 0.0, 0.0),
                dense("b", 3, Act::Softmax, true, 0.0, 0.0),
            ],
            Loss::parse("sparse_categorical_crossentropy").unwrap(),
            "adagrad",
            300,
            300,
        ),
    ]
}

fn model(layers: &[Layer], loss: Loss, opt: &str, d: usize) -> Model {
    let mut m = crate::testing::chain_model(layers, d);
    let p: &[f64] = if opt == "sgd" { &[0.9] } else { &[] };
    m.compile(
        loss,
        vec![MetricKind::MeanSquaredError],
        Optimizer::new(opt, 0.01, p).unwrap(),
    );
    m.fit_seed = 42;
    m
}

/// Inputs, targets for `loss` and sample weights of `rows` rows.
fn batch_data(rows: usize, d: usize, out: usize, loss: Loss) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let x = (0..rows * d)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 40.0)
        .collect();
    let y = match loss {
        Loss::SparseCategoricalCrossentropy { .. } => (0..rows).map(|r| (r % out) as f32).collect(),
        Loss::MeanSquaredError => (0..rows * out).map(|i| (i % 7) as f32 / 7.0).collect(),
        _ => (0..rows * out)
            .map(|i| ((i / out) % out == i % out) as u8 as f32)
            .collect(),
    };
    let w = (0..rows).map(|r| 0.5 + (r % 3) as f32).collect();
    (x, y, w)
}

/// Weights and losses after three steps.
fn train(
    m: &mut Model,
    x: &[f32],
    y: &[f32],
    w: &[f32],
    rows: usize,
    avx2: bool,
    threads: usize,
) -> (Vec<Vec<f32>>, Vec<f64>) {
    m.threads = threads;
    let losses = crate::threads::pool(threads).install(|| {
        (0..3)
            .map(|s| {
                let b = Batch {
                    x,
                    y,
                    w: (s != 1).then_some(w),
                    rows,
                };
                m.train_step_with(&b, avx2).unwrap()
            })
            .collect()
    });
    (weights(m), losses)
}

#[test]
fn kernel_steps_match_the_layer_path_and_every_thread_count() {
    if !kernel::available() {
        crate::testing::skip(
            "kernel_steps_match_the_layer_path_and_every_thread_count",
            "no AVX2 + FMA",
        );
        return;
    }
    for (layers, loss, opt, d, rows) in cases() {
        let out = layers.last().unwrap().out_dim().max(1);
        let m0 = model(&layers, loss, opt, d);
        let out = m0.output_dim().unwrap_or(out);
        let (x, y, w) = batch_data(rows, d, out, loss);
        let y = &y[..rows * loss.target_cols(out)];
        let (want, want_loss) = train(&mut m0.clone(), &x, y, &w, rows, false, 1);
        let one = train(&mut m0.clone(), &x, y, &w, rows, true, 1);
        let two = train(&mut m0.clone(), &x, y, &w, rows, true, 2);
        assert_eq!(one, two, "{opt}: 1 and 2 threads differ");
        for (a, b) in want_loss.iter().zip(&one.1) {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + a.abs()),
                "{opt}: loss {a} vs {b}"
            );
        }
        for (p, (a, b)) in want.iter().zip(&one.0).enumerate() {
            for (u, v) in a.iter().zip(b) {
                assert!(
                    (u - v).abs() <= 1e-4 * (1.0 + u.abs()),
                    "{opt}: parameter {p}: {u} vs {v}"
                );
            }
        }
        assert_ne!(weights(&m0), one.0, "{opt}: training changed nothing");
    }
}

#[test]
fn kernel_steps_are_the_same_bits_with_and_without_avx512() {
    if !crate::dense::wide::available() {
        // Without AVX-512F the wide tile never runs: there is nothing to compare.
        eprintln!("kernel_steps_are_the_same_bits_with_and_without_avx512: this CPU has no AVX-512F; only the AVX2 tile runs here");
        return;
    }
    for (layers, loss, opt, d, rows) in cases() {
        let out = layers.last().unwrap().out_dim().max(1);
        let m0 = model(&layers, loss, opt, d);
        let out = m0.output_dim().unwrap_or(out);
        let (x, y, w) = batch_data(rows, d, out, loss);
        let y = &y[..rows * loss.target_cols(out)];
        let wide = train(&mut m0.clone(), &x, y, &w, rows, true, 2);
        crate::dense::wide::allow(false);
        let narrow = train(&mut m0.clone(), &x, y, &w, rows, true, 2);
        crate::dense::wide::allow(true);
        assert_eq!(wide, narrow, "{opt}: AVX-512 and AVX2 steps differ");
    }
}

#[test]
fn sgemm_matches_a_naive_product_on_any_thread_count() {
    if !kernel::available() {
        crate::testing::skip(
            "sgemm_matches_a_naive_product_on_any_thread_count",
            "no AVX2 + FMA",
        );
        return;
    }
    for &(m, n, k) in &[(37usize, 13usize, 300usize), (128, 10, 128), (5, 16, 1)] {
        let (a, b) = crate::testing::operands(m, k, n);
        let run = |threads| {
            let mut c = vec![f32::NAN; m * n];
            let mut packed = Vec::new();
            crate::threads::pool(threads).install(|| sgemm(m, n, k, &a, &b, &mut c, &mut packed));
            c
        };
        let c = run(1);
        assert_eq!(c, run(2), "{m}x{n}x{k}: 1 and 2 threads differ");
        crate::testing::assert_product(&a, &b, m, k, n, &c);
    }
}

#[test]
fn packed_weights_follow_weights_set_between_steps() {
    if !kernel::available() {
        crate::testing::skip(
            "packed_weights_follow_weights_set_between_steps",
            "no AVX2 + FMA",
        );
        return;
    }
    let (layers, loss, opt, d, rows) = cases().remove(0);
    let (x, y, w) = batch_data(rows, d, 10, loss);
    let mut a = model(&layers, loss, opt, d);
    train(&mut a, &x, &y, &w, rows, true, 2);
    // Weights set from outside (as `set_weights()` does), then the same steps on both.
    let mut b = model(&layers, loss, opt, d);
    train(&mut b, &x, &y, &w, rows, true, 2);
    let halved: Vec<Vec<f32>> = weights(&b)
        .into_iter()
        .map(|v| v.into_iter().map(|w| w * 0.5).collect())
        .collect();
    crate::testing::set_weights(&mut b, &halved);
    let mut c = model(&layers, loss, opt, d);
    c.compiled = b.compiled.clone();
    c.step = b.step;
    crate::testing::set_weights(&mut c, &halved);
    let after_b = train(&mut b, &x, &y, &w, rows, true, 1);
    let after_c = train(&mut c, &x, &y, &w, rows, true, 1);
    assert_eq!(after_b, after_c);
    assert_ne!(after_b, train(&mut a, &x, &y, &w, rows, true, 1));
}

#[test]
fn the_dense_plan_and_the_graph_executor_give_the_same_steps() {
    // Dropout included: both executors draw the same masks for the same (seed, step, node).
    for (layers, loss, opt, d, rows) in cases() {
        let m0 = model(&layers, loss, opt, d);
        let out = m0.output_dim().unwrap();
        let (x, y, w) = batch_data(rows, d, out, loss);
        let y = &y[..rows * loss.target_cols(out)];
        let mut general = m0.clone();
        general.plan_choice = crate::dense::plan::PlanChoice::General;
        assert!(!general.uses_plan());
        let mut plan = m0.clone();
        assert!(plan.uses_plan(), "{opt}: a dense chain runs on the plan");
        for avx2 in [kernel::available(), false] {
            let (wg, lg) = train(&mut general.clone(), &x, y, &w, rows, avx2, 2);
            let (wp, lp) = train(&mut plan.clone(), &x, y, &w, rows, avx2, 2);
            for (a, b) in lg.iter().zip(&lp) {
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + a.abs()),
                    "{opt}: loss {a} (graph) vs {b} (plan)"
                );
            }
            for (p, (a, b)) in wg.iter().zip(&wp).enumerate() {
                for (u, v) in a.iter().zip(b) {
                    assert!(
                        (u - v).abs() <= 1e-4 * (1.0 + u.abs()),
                        "{opt}: parameter {p}: {u} (graph) vs {v} (plan)"
                    );
                }
            }
        }
    }
}

/// A recorded function of one input from its operations (JSON as R records them).
fn function(name: &str, ops: &str) -> Layer {
    let g = crate::ops::OpGraph::from_json(ops).unwrap();
    Layer::new(
        name.into(),
        Kind::Function {
            graph: std::sync::Arc::new(g),
            out: 0,
        },
    )
}

/// Categorical crossentropy written with operations, as a loss written in R records it:
/// per sample, or (`batch_mean`) reduced to the batch's mean, one value for all samples.
fn crossentropy_in_r(batch_mean: bool) -> crate::graph::custom_loss::CustomLoss {
    let mut ops: serde_json::Value = serde_json::from_str(
        r#"{"inputs": 2, "outputs": [6], "nodes": [
        {"call": {"op": "clip", "min": 1e-7, "max": 0.9999999}, "args": [1]},
        {"call": {"op": "unary", "fn": "log"}, "args": [2]},
        {"call": {"op": "binary", "fn": "mul"}, "args": [0, 3]},
        {"call": {"op": "reduce", "kind": "sum", "axes": [1], "keepdims": false}, "args": [4]},
        {"call": {"op": "unary", "fn": "neg"}, "args": [5]}]}"#,
    )
    .unwrap();
    if batch_mean {
        ops["nodes"].as_array_mut().unwrap().push(serde_json::json!(
            {"call": {"op": "reduce", "kind": "mean", "axes": null, "keepdims": false}, "args": [6]}
        ));
        ops["outputs"] = serde_json::json!([7]);
    }
    let loss = crate::graph::custom_loss::CustomLoss {
        graph: crate::ops::OpGraph::from_json(&ops.to_string()).unwrap(),
        nodes: vec![],
    };
    assert_eq!(loss.row_wise(&[10]), !batch_mean);
    loss
}

#[test]
fn row_wise_lambdas_and_a_loss_written_in_r_run_on_the_plan_as_on_the_graph() {
    let relu = r#"{"inputs": 1, "outputs": [1],
        "nodes": [{"call": {"op": "unary", "fn": "relu"}, "args": [0]}]}"#;
    let softmax = r#"{"inputs": 1, "outputs": [1],
        "nodes": [{"call": {"op": "softmax", "axis": 1}, "args": [0]}]}"#;
    // x * sigmoid(x) + 1: a constant operand and two nodes.
    let swish = r#"{"inputs": 1, "outputs": [4], "nodes": [
        {"call": {"op": "unary", "fn": "sigmoid"}, "args": [0]},
        {"call": {"op": "binary", "fn": "mul"}, "args": [0, 1]},
        {"call": {"op": "const", "shape": [1], "values": [1.0]}, "args": []},
        {"call": {"op": "binary", "fn": "add"}, "args": [2, 3]}]}"#;
    let layers = vec![
        dense("a", 37, Act::Linear, true, 0.0, 0.01),
        function("f1", relu),
        Layer::new("drop".into(), Kind::Dropout { rate: 0.5 }),
        dense("b", 19, Act::Linear, true, 0.0, 0.0),
        function("f2", swish),
        dense("c", 10, Act::Linear, true, 0.0, 0.0),
        function("f3", softmax),
    ];
    let (d, rows) = (21, 37);
    let loss = Loss::parse("categorical_crossentropy").unwrap();
    // Built-in, written in R per sample (taken in the shards), and written in R as one
    // value for the batch (taken between the shards' passes).
    for custom_loss in [None, Some(false), Some(true)] {
        let mut m0 = model(&layers, loss, "adam", d);
        if let Some(batch_mean) = custom_loss {
            let c = m0.compiled.as_mut().unwrap();
            c.losses = vec![Loss::Custom];
            c.loss = Loss::Custom;
            c.custom = vec![Some(crossentropy_in_r(batch_mean))];
        }
        let (x, y, w) = batch_data(rows, d, 10, loss);
        let mut general = m0.clone();
        general.plan_choice = crate::dense::plan::PlanChoice::General;
        let mut plan = m0.clone();
        assert!(plan.uses_plan(), "row-wise lambdas run on the plan");
        assert!(plan
            .layers
            .iter()
            .any(|l| matches!(l.kind, Kind::Function { .. })));
        for avx2 in [kernel::available(), false] {
            for threads in [1, 2] {
                let (wg, lg) = train(&mut general.clone(), &x, &y, &w, rows, avx2, threads);
                let (wp, lp) = train(&mut plan.clone(), &x, &y, &w, rows, avx2, threads);
                for (a, b) in lg.iter().zip(&lp) {
                    assert!(
                        (a - b).abs() <= 1e-5 * (1.0 + a.abs()),
                        "custom loss {custom_loss:?}: loss {a} (graph) vs {b} (plan)"
                    );
                }
                for (a, b) in wg.iter().flatten().zip(wp.iter().flatten()) {
                    assert!((a - b).abs() <= 1e-4 * (1.0 + a.abs()), "{a} vs {b}");
                }
            }
        }
        // Inference on the plan (tiles, the kernel's panels) gives the graph's predictions.
        let mut pg = Vec::new();
        let mut pp = Vec::new();
        let fill = crate::dense::infer::row_source(&x, d);
        general.predict_tiled(rows, 16, &fill, &mut pg).unwrap();
        plan.predict_tiled(rows, 16, &fill, &mut pp).unwrap();
        for (a, b) in pg.iter().zip(&pp) {
            assert!(
                (a - b).abs() <= 1e-5,
                "prediction {a} (graph) vs {b} (plan)"
            );
        }
    }
}

#[test]
fn a_function_that_mixes_rows_or_a_loss_reading_the_model_stays_on_the_graph() {
    // Softmax over the batch axis mixes rows: the plan must not split it.
    let over_batch = r#"{"inputs": 1, "outputs": [1],
        "nodes": [{"call": {"op": "softmax", "axis": 0}, "args": [0]}]}"#;
    let layers = vec![
        dense("a", 5, Act::Linear, true, 0.0, 0.0),
        function("f", over_batch),
    ];
    let loss = Loss::MeanSquaredError;
    let mut m = model(&layers, loss, "sgd", 4);
    assert!(!m.uses_plan());
    let relu = r#"{"inputs": 1, "outputs": [1],
        "nodes": [{"call": {"op": "unary", "fn": "relu"}, "args": [0]}]}"#;
    let layers = vec![
        dense("a", 5, Act::Linear, true, 0.0, 0.0),
        function("f", relu),
    ];
    let mut m = model(&layers, loss, "sgd", 4);
    assert!(m.uses_plan());
    let mut reads = crossentropy_in_r(false);
    reads.nodes = vec![1];
    let c = m.compiled.as_mut().unwrap();
    c.losses = vec![Loss::Custom];
    c.loss = Loss::Custom;
    c.custom = vec![Some(reads)];
    m.graph_changed();
    assert!(!m.uses_plan());
}
