//! Shared by the examples: the seed MLP's layers and a timer.
#![allow(dead_code)]

use rkeras::graph::Graph;
use rkeras::model::Model;
use serde_json::json;
use std::time::Instant;

/// The seed's MLP (784-256-128-10 with dropout 0.4 and 0.3), built.
pub fn seed_mlp(threads: usize) -> Model {
    let layer = |name: &str, class: &str, config: serde_json::Value, seed: u64| json!({"name": name, "class_name": class, "config": config, "seed": seed});
    let layers = vec![
        layer("x", "InputLayer", json!({"shape": [784]}), 0),
        layer(
            "dense",
            "Dense",
            json!({"units": 256, "activation": "relu"}),
            1,
        ),
        layer("dropout", "Dropout", json!({"rate": 0.4}), 2),
        layer(
            "dense_1",
            "Dense",
            json!({"units": 128, "activation": "relu"}),
            3,
        ),
        layer("dropout_1", "Dropout", json!({"rate": 0.3}), 4),
        layer(
            "dense_2",
            "Dense",
            json!({"units": 10, "activation": "softmax"}),
            5,
        ),
    ];
    let nodes: Vec<_> = (0..layers.len())
        .map(|i| json!({"layer": i, "inputs": if i == 0 { vec![] } else { vec![i - 1] }}))
        .collect();
    let spec = json!({"layers": layers, "nodes": nodes, "inputs": [0], "outputs": [5]});
    let mut m = Model::with_graph(Graph::from_json(&spec.to_string()).unwrap());
    m.threads = threads;
    m
}

/// Fastest of `reps` runs of `f`, in seconds (after one warm-up run).
pub fn best_of(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}
