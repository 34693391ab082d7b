//! The inference plan ([`Graph::infer`]) gives exactly what a plain inference pass gives:
//! convolutions with their normalization and activations fused into the epilogue, layers
//! and sums run in place, values read twice or reaching an output left alone, masks respected.

use super::tests::layer;
use super::Graph;
use serde_json::{json, Value};

fn seeded(name: &str, class: &str, config: Value, seed: u64) -> Value {
    let mut l = layer(name, class, config);
    l["seed"] = json!(seed);
    l
}

fn uniform(lo: f64, hi: f64) -> Value {
    json!({"name": "random_uniform", "args": [lo, hi]})
}

fn bn(name: &str, seed: u64) -> Value {
    seeded(
        name,
        "BatchNormalization",
        json!({"gamma_initializer": uniform(0.5, 1.5), "beta_initializer": uniform(-0.3, 0.3),
               "moving_mean_initializer": uniform(-0.5, 0.5),
               "moving_variance_initializer": uniform(0.5, 2.0)}),
        seed,
    )
}

/// conv -> bn -> relu6 -> depthwise -> bn -> swish (read twice: by dropout and by add) ->
/// dropout -> conv -> add (conv + swish) -> rescaling -> pooling -> dense softmax; and a second branch:
/// conv -> softmax (also an output) -> flatten -> output; and bn3 (an output) -> relu.
fn model() -> Graph {
    let layers = vec![
        layer("x", "InputLayer", json!({"shape": [6, 5, 3]})),
        seeded(
            "c1",
            "Conv2D",
            json!({"filters": 4, "kernel_size": 3, "padding": "same", "use_bias": false}),
            1,
        ),
        bn("bn1", 2),
        layer("r1", "ReLU", json!({"max_value": 6.0})),
        seeded(
            "dw",
            "DepthwiseConv2D",
            json!({"kernel_size": 3, "bias_initializer": uniform(-0.3, 0.3)}),
            3,
        ),
        bn("bn2", 4),
        layer("sw", "Activation", json!({"activation": "swish"})),
        layer("d", "Dropout", json!({"rate": 0.3})),
        seeded("c3", "Conv2D", json!({"filters": 4, "kernel_size": 1}), 5),
        layer("add", "Add", json!({})),
        layer("rs", "Rescaling", json!({"scale": 0.5, "offset": 0.1})),
        layer("gap", "GlobalAveragePooling2D", json!({})),
        seeded(
            "out",
            "Dense",
            json!({"units": 3, "activation": "softmax"}),
            6,
        ),
        seeded(
            "c4",
            "Conv2D",
            json!({"filters": 3, "kernel_size": 2, "activation": "elu"}),
            7,
        ),
        layer("sm", "Softmax", json!({})),
        layer("f", "Flatten", json!({})),
        bn("bn3", 8),
        layer("r3", "LeakyReLU", json!({"negative_slope": 0.2})),
    ];
    let nodes = json!([
        {"layer": 0, "inputs": []},
        {"layer": 1, "inputs": [0]},
        {"layer": 2, "inputs": [1]},
        {"layer": 3, "inputs": [2]},
        {"layer": 4, "inputs": [3]},
        {"layer": 5, "inputs": [4]},
        {"layer": 6, "inputs": [5]},
        {"layer": 7, "inputs": [6]},
        {"layer": 8, "inputs": [7]},
        {"layer": 9, "inputs": [8, 6]},
        {"layer": 10, "inputs": [9]},
        {"layer": 11, "inputs": [10]},
        {"layer": 12, "inputs": [11]},
        {"layer": 13, "inputs": [0]},
        {"layer": 14, "inputs": [13]},
        {"layer": 15, "inputs": [14]},
        {"layer": 16, "inputs": [13]},
        {"layer": 17, "inputs": [16]}
    ]);
    let spec =
        json!({"layers": layers, "nodes": nodes, "inputs": [0], "outputs": [12, 15, 14, 16, 17]});
    Graph::from_json(&spec.to_string()).unwrap()
}

fn inputs(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i * 7 % 23) as f32 - 11.0) / 4.0).collect()
}

#[test]
fn the_inference_plan_fuses_and_runs_in_place_where_nothing_else_reads() {
    let g = model();
    let plan = g.plan();
    let absorbed: Vec<usize> = (0..g.nodes.len()).filter(|&i| plan.absorbed[i]).collect();
    // bn1 and r1 into c1; bn2 and swish into the depthwise convolution. The softmax reaches
    // an output, as does bn3 (read by r3 as well): neither fuses.
    assert_eq!(absorbed, vec![2, 3, 5, 6]);
    assert_eq!(plan.epilogue[1].len(), 2);
    assert_eq!(plan.epilogue[4].len(), 2);
    // The dropout's input is also read by the sum; the rescaling runs in place on the sum.
    let in_place: Vec<usize> = (0..g.nodes.len())
        .filter(|&i| plan.in_place[i].is_some())
        .collect();
    assert_eq!(in_place, vec![10]);
    // The sum adds the swish's value into the 1x1 convolution's, which nothing else reads.
    let merged: Vec<usize> = (0..g.nodes.len())
        .filter(|&i| plan.merge[i].is_some())
        .collect();
    assert_eq!(merged, vec![9]);
}

#[test]
fn the_inference_plan_gives_what_a_plain_inference_pass_gives() {
    let g = model();
    let plan = g.plan();
    for (rows, threads) in [(1, 1), (5, 2), (9, 1)] {
        let x = inputs(rows * 90);
        let plain = g.forward(&x, rows, false, [3, 4], threads).unwrap();
        let planned = g.infer(&plan, &x, rows, [3, 4], threads).unwrap();
        for &o in &g.outputs {
            assert_eq!(
                plain.values[o], planned.values[o],
                "output {o}, {rows} rows"
            );
        }
        // Values nothing reads any more are dropped.
        assert_eq!(planned.values[1].len(), 0);
    }
}

#[test]
fn a_mask_keeps_a_layer_out_of_place() {
    // Embedding (mask_zero) -> dropout: the mask reaches the dropout, which runs as a call.
    let spec = json!({
        "layers": [
            layer("x", "InputLayer", json!({"shape": [4]})),
            seeded("e", "Embedding", json!({"input_dim": 5, "output_dim": 3, "mask_zero": true}), 1),
            layer("d", "Dropout", json!({"rate": 0.5})),
            layer("p", "GlobalAveragePooling1D", json!({})),
        ],
        "nodes": [{"layer": 0, "inputs": []}, {"layer": 1, "inputs": [0]},
                  {"layer": 2, "inputs": [1]}, {"layer": 3, "inputs": [2]}],
        "inputs": [0], "outputs": [3]
    });
    let g = Graph::from_json(&spec.to_string()).unwrap();
    let x = [1.0, 0.0, 3.0, 4.0, 0.0, 0.0, 2.0, 1.0];
    let plain = g.forward(&x, 2, false, [0, 0], 1).unwrap();
    let planned = g.infer(&g.plan(), &x, 2, [0, 0], 1).unwrap();
    assert_eq!(plain.values[3], planned.values[3]);
    // The masked average skips the padded steps: a mask still reached the pooling.
    let v = planned.values[3].as_slice().unwrap();
    assert!(v.iter().all(|v| v.is_finite()));
}
