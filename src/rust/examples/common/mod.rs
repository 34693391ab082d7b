//! Shared by the examples: the seed MLP's layers and a timer.
#![allow(dead_code)]

use rkeras::activations::Act;
use rkeras::chain::{Kind, Layer};
use rkeras::initializers::Init;
use rkeras::model::Model;
use std::time::Instant;

pub fn dense(name: &str, units: usize, act: Act, seed: u64) -> Layer {
    let kind = Kind::Dense {
        units,
        act,
        use_bias: true,
        kernel_init: Init::parse("glorot_uniform", 0.0, 0.0).unwrap(),
        bias_init: Init::Zeros,
        l1: 0.0,
        l2: 0.0,
    };
    Layer::new(name.into(), kind, seed)
}

/// The seed's MLP (784-256-128-10 with dropout 0.4 and 0.3), built.
pub fn seed_mlp(threads: usize) -> Model {
    let mut m = Model::new();
    m.threads = threads;
    m.add(dense("dense", 256, Act::Relu, 1)).unwrap();
    m.add(Layer::new("dropout".into(), Kind::Dropout { rate: 0.4 }, 2))
        .unwrap();
    m.add(dense("dense_1", 128, Act::Relu, 3)).unwrap();
    m.add(Layer::new(
        "dropout_1".into(),
        Kind::Dropout { rate: 0.3 },
        4,
    ))
    .unwrap();
    m.add(dense("dense_2", 10, Act::Softmax, 5)).unwrap();
    m.build(784).unwrap();
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
