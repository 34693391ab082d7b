//! Gradient checks of the embedding and recurrent layers through time against central
//! finite differences (with and without dropout masks), each recurrent layer behind one
//! with parameters so its input gradient is checked too; and a wrong gradient that must fail.

use super::tests::{chain, check_params, corrupted_grad_fails, layer};
use super::Graph;
use crate::layers::Tensor;
use serde_json::{json, Value};

fn seeded(name: &str, class: &str, config: Value, seed: u64) -> Value {
    let mut l = layer(name, class, config);
    l["seed"] = json!(seed);
    l
}

fn bias() -> Value {
    json!({"name": "random_uniform", "args": [-0.3, 0.3]})
}

fn inputs(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0).collect()
}

/// Dense -> LSTM (sequences) -> GRU (backwards, sequences) -> SimpleRNN -> Dense.
fn stack(dropout: f64, recurrent_dropout: f64, reset_after: bool) -> Graph {
    let rates = |mut c: Value| {
        c["dropout"] = json!(dropout);
        c["recurrent_dropout"] = json!(recurrent_dropout);
        c
    };
    chain(
        json!([5, 3]),
        vec![
            seeded("d0", "Dense", json!({"units": 4, "activation": "tanh"}), 1),
            seeded(
                "lstm",
                "LSTM",
                rates(json!({"units": 4, "return_sequences": true, "bias_initializer": bias()})),
                2,
            ),
            seeded(
                "gru",
                "GRU",
                rates(
                    json!({"units": 3, "return_sequences": true, "go_backwards": true,
                             "reset_after": reset_after, "bias_initializer": bias()}),
                ),
                3,
            ),
            seeded(
                "rnn",
                "SimpleRNN",
                rates(json!({"units": 3, "bias_initializer": bias()})),
                4,
            ),
            seeded("out", "Dense", json!({"units": 2}), 5),
        ],
    )
}

#[test]
fn recurrent_gradients_match_finite_differences() {
    for reset_after in [true, false] {
        let g = stack(0.0, 0.0, reset_after);
        let x = inputs(3 * 5 * 3);
        assert!(check_params(&g, &x, 3, false).unwrap() >= 10);
    }
}

#[test]
fn recurrent_gradients_with_dropout_masks_match_finite_differences() {
    for reset_after in [true, false] {
        let g = stack(0.3, 0.4, reset_after);
        let x = inputs(3 * 5 * 3);
        assert!(check_params(&g, &x, 3, true).unwrap() >= 10);
    }
}

#[test]
fn hard_sigmoid_relu_and_no_bias_match_finite_differences() {
    let g = chain(
        json!([4, 2]),
        vec![
            seeded("d0", "Dense", json!({"units": 3, "activation": "tanh"}), 1),
            seeded(
                "lstm",
                "LSTM",
                json!({"units": 3, "return_sequences": true, "use_bias": false, "go_backwards": true,
                       "recurrent_activation": "hard_sigmoid"}),
                2,
            ),
            seeded(
                "gru",
                "GRU",
                json!({"units": 2, "activation": "relu", "bias_initializer": bias()}),
                3,
            ),
            seeded("out", "Dense", json!({"units": 2}), 4),
        ],
    );
    let x = inputs(3 * 4 * 2);
    check_params(&g, &x, 3, false).unwrap();
}

#[test]
fn embedding_gradients_add_up_per_token() {
    let g = chain(
        json!([6]),
        vec![
            seeded(
                "emb",
                "Embedding",
                json!({"input_dim": 7, "output_dim": 3}),
                1,
            ),
            seeded("lstm", "LSTM", json!({"units": 3}), 2),
            seeded("out", "Dense", json!({"units": 2}), 3),
        ],
    );
    // Token 2 appears several times, token 6 never.
    let x: Vec<f32> = vec![2., 0., 2., 5., 1., 2., 3., 4., 2., 0., 0., 1.];
    check_params(&g, &x, 2, false).unwrap();
    // Ids outside the table are an error naming the row, never an out-of-bounds read.
    let bad = vec![2., 0., 2., 5., 1., 2., 3., 4., 7., 0., 0., 1.];
    let err = match g.forward(&bad, 2, false, [0, 0], 1) {
        Err(e) => e,
        Ok(_) => panic!("an id outside the table was accepted"),
    };
    assert!(
        err.message().contains("token id 7 in row 2"),
        "{}",
        err.message()
    );
    assert!(g.forward(&[-1.0; 12], 2, false, [0, 0], 1).is_err());
}

#[test]
fn a_wrong_recurrent_gradient_fails_the_check() {
    let x = inputs(3 * 5 * 3);
    // The LSTM's recurrent kernel gradient one gate off (forget read as input).
    let g = stack(0.0, 0.0, true);
    assert!(corrupted_grad_fails(&g, &x, 3, false, (2, 1), |w| w.rotate_left(4)));
}

#[test]
fn recurrent_weights_have_keras_shapes() {
    let g = stack(0.0, 0.0, true);
    let shapes: Vec<(String, Vec<usize>)> = g
        .params()
        .into_iter()
        .map(|(n, p)| (n, p.value.shape().to_vec()))
        .collect();
    let want = [
        ("lstm/kernel", vec![4, 16]),
        ("lstm/recurrent_kernel", vec![4, 16]),
        ("lstm/bias", vec![16]),
        ("gru/kernel", vec![4, 9]),
        ("gru/recurrent_kernel", vec![3, 9]),
        ("gru/bias", vec![2, 9]),
        ("rnn/kernel", vec![3, 3]),
        ("rnn/recurrent_kernel", vec![3, 3]),
        ("rnn/bias", vec![3]),
    ];
    for (name, shape) in want {
        let got = shapes.iter().find(|(n, _)| n == name).unwrap();
        assert_eq!(got.1, shape, "{name}");
    }
    // LSTM's forget-gate bias starts at 1 (unit_forget_bias) when the initializer is zeros.
    let l = chain(json!([2, 2]), vec![layer("l", "LSTM", json!({"units": 2}))]);
    let b = l.params()[2].1.value.as_slice().unwrap().to_vec();
    assert_eq!(b, vec![0., 0., 1., 1., 0., 0., 0., 0.]);
}

#[test]
fn fused_embedding_average_equals_the_layers_run_apart() {
    // Embedding -> GlobalAveragePooling1D runs fused; a linear activation between them
    // keeps them apart. Outputs and gradients must be identical.
    let build = |between: bool| {
        let mut layers = vec![seeded(
            "emb",
            "Embedding",
            json!({"input_dim": 50, "output_dim": 5}),
            1,
        )];
        if between {
            layers.push(layer("lin", "Activation", json!({"activation": "linear"})));
        }
        layers.push(layer("gap", "GlobalAveragePooling1D", json!({})));
        layers.push(seeded("out", "Dense", json!({"units": 2}), 2));
        chain(json!([40]), layers)
    };
    let (fused, apart) = (build(false), build(true));
    let x: Vec<f32> = (0..3 * 40).map(|i| ((i * 17 + 3) % 50) as f32).collect();
    for threads in [1, 2] {
        let pf = fused.forward(&x, 3, true, [0, 0], threads).unwrap();
        let pa = apart.forward(&x, 3, true, [0, 0], threads).unwrap();
        let (of, oa) = (&pf.values[fused.outputs[0]], &pa.values[apart.outputs[0]]);
        assert_eq!(of, oa);
        let g =
            Tensor::from_shape_vec(of.raw_dim(), vec![0.5, -1.0, 0.25, 2.0, -0.75, 1.5]).unwrap();
        let gf = fused.backward(&pf, vec![g.clone()], threads).unwrap();
        let ga = apart.backward(&pa, vec![g], threads).unwrap();
        assert_eq!(gf[1], ga[1], "embedding gradient");
        assert_eq!(gf.last(), ga.last(), "dense gradient");
    }
}

#[test]
fn bidirectional_gradients_match_finite_differences_for_every_merge() {
    for merge in ["concat", "sum", "mul", "ave"] {
        for seq in [true, false] {
            let g = chain(
                json!([4, 2]),
                vec![
                    seeded("d0", "Dense", json!({"units": 3, "activation": "tanh"}), 1),
                    seeded(
                        "bi",
                        "Bidirectional",
                        json!({"merge_mode": merge, "layer": {"class_name": "GRU", "config":
                            {"units": 2, "return_sequences": seq, "bias_initializer": bias()}}}),
                        2,
                    ),
                    seeded("out", "Dense", json!({"units": 2}), 3),
                ],
            );
            let x = inputs(3 * 4 * 2);
            check_params(&g, &x, 3, false).unwrap_or_else(|e| panic!("{merge} {seq}: {e}"));
        }
    }
}

#[test]
fn masked_steps_are_skipped_and_gradients_match_finite_differences() {
    let g = chain(
        json!([6]),
        vec![
            seeded(
                "emb",
                "Embedding",
                json!({"input_dim": 9, "output_dim": 3, "mask_zero": true}),
                1,
            ),
            seeded(
                "lstm",
                "LSTM",
                json!({"units": 3, "return_sequences": true, "bias_initializer": bias()}),
                2,
            ),
            seeded(
                "gru",
                "GRU",
                json!({"units": 2, "return_sequences": true, "go_backwards": true, "bias_initializer": bias()}),
                3,
            ),
            layer("gap", "GlobalAveragePooling1D", json!({})),
            seeded("out", "Dense", json!({"units": 2}), 4),
        ],
    );
    // Padding in front, and a zero inside the second sequence.
    let x: Vec<f32> = vec![
        0., 0., 3., 5., 1., 2., 0., 4., 7., 0., 8., 6., 0., 0., 0., 2., 2., 1.,
    ];
    check_params(&g, &x, 3, false).unwrap();
    // A masked step changes nothing: the same sequence without the inner zero's step, but
    // shifted, gives the same last state.
    let last = chain(
        json!([4]),
        vec![
            seeded(
                "emb",
                "Embedding",
                json!({"input_dim": 9, "output_dim": 3, "mask_zero": true}),
                1,
            ),
            seeded("lstm", "LSTM", json!({"units": 3}), 2),
        ],
    );
    let a = last
        .forward(&[0., 5., 0., 7.], 1, false, [0, 0], 1)
        .unwrap();
    let b = last
        .forward(&[0., 0., 5., 7.], 1, false, [0, 0], 1)
        .unwrap();
    assert_eq!(a.values[last.outputs[0]], b.values[last.outputs[0]]);
}

#[test]
fn masking_and_time_distributed_match_finite_differences() {
    let g = chain(
        json!([5, 3]),
        vec![
            layer("m", "Masking", json!({"mask_value": 0.0})),
            layer(
                "td",
                "TimeDistributed",
                json!({"layer": {"class_name": "Dense", "config": {"units": 4, "activation": "tanh",
                    "bias_initializer": bias()}}}),
            ),
            seeded(
                "gru",
                "GRU",
                json!({"units": 3, "bias_initializer": bias()}),
                2,
            ),
            seeded("out", "Dense", json!({"units": 2}), 3),
        ],
    );
    let mut x = inputs(3 * 5 * 3);
    // The first two steps of the first sample, and the fourth of the third, are masked.
    x[..6].fill(0.0);
    x[2 * 15 + 9..2 * 15 + 12].fill(0.0);
    check_params(&g, &x, 3, false).unwrap();
}

#[test]
fn time_distributed_recurrent_layers_match_finite_differences() {
    // [4 frames, 3 steps, 2 features] per sample: an LSTM reads each frame, then a GRU the
    // frames' summaries.
    let g = chain(
        json!([4, 3, 2]),
        vec![
            layer(
                "td",
                "TimeDistributed",
                json!({"layer": {"class_name": "LSTM", "config": {"units": 3, "bias_initializer": bias(),
                    "seed": 7}}}),
            ),
            seeded(
                "gru",
                "GRU",
                json!({"units": 2, "bias_initializer": bias()}),
                2,
            ),
            seeded("out", "Dense", json!({"units": 2}), 3),
        ],
    );
    let x = inputs(3 * 4 * 3 * 2);
    assert!(check_params(&g, &x, 3, false).unwrap() >= 6);
}

#[test]
fn row_groups_give_the_rows_results_and_the_same_on_any_thread_count() {
    // 130 rows: each recurrent layer runs its steps in two row groups of 65; without
    // dropout, each row's output equals the row's alone, and the weight gradients are the
    // sums over the rows (here: over two batches of 65, each one group).
    for reset_after in [true, false] {
        // The output, and the parameters' gradients for an output gradient of 0.5 everywhere.
        let run = |g: &Graph, x: &[f32], rows: usize, threads: usize, training: bool| {
            let pass = g.forward(x, rows, training, [0, 0], threads).unwrap();
            let out = pass.values[g.outputs[0]].clone();
            let grad = Tensor::from_elem(out.raw_dim(), 0.5);
            (out, g.backward(&pass, vec![grad], threads).unwrap())
        };
        let g = stack(0.0, 0.0, reset_after);
        let rows = 130;
        let per_row = 5 * 3;
        let x = inputs(rows * per_row);
        let (out, grads) = run(&g, &x, rows, 1, false);
        let (a, ga) = run(&g, &x[..65 * per_row], 65, 1, false);
        let (b, gb) = run(&g, &x[65 * per_row..], 65, 1, false);
        let whole = out.as_slice().unwrap();
        let parts: Vec<f32> = a.iter().chain(b.iter()).copied().collect();
        for (p, q) in whole.iter().zip(&parts) {
            assert!((p - q).abs() <= 1e-6 * (1.0 + q.abs()), "{p} vs {q}");
        }
        for ((g0, g1), g2) in grads
            .iter()
            .flatten()
            .zip(ga.iter().flatten())
            .zip(gb.iter().flatten())
        {
            for ((p, q), r) in g0.iter().zip(g1.iter()).zip(g2.iter()) {
                let want = q + r;
                assert!(
                    (p - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "{p} vs {want}"
                );
            }
        }
        // With dropout too, the groups run on threads without changing a bit.
        let g = stack(0.3, 0.4, reset_after);
        assert_eq!(run(&g, &x, rows, 1, true), run(&g, &x, rows, 2, true));
    }
}
