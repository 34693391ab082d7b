//! Gradient checks of the convolution, pooling, normalization, padding and activation
//! layers against central finite differences, each layer behind one with parameters so
//! its input gradient is checked too; and a wrong gradient that must fail.

use super::tests::{chain, check_params, corrupted_grad_fails, layer};
use super::Graph;
use crate::layers::Tensor;
use serde_json::{json, Value};

fn with_seed(mut l: Value, seed: u64) -> Value {
    l["seed"] = json!(seed);
    l
}

/// Distinct values `step` apart in a scrambled order (no ties for max pooling).
fn distinct(n: usize, step: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 37 + 11) % n) as f32 * step - (n as f32 * step) / 2.0)
        .collect()
}

fn random_bias() -> Value {
    json!({"name": "random_uniform", "args": [-0.3, 0.3]})
}

fn cnn_2d() -> Graph {
    chain(json!([7, 6, 2]), cnn_2d_layers())
}

fn cnn_2d_layers() -> Vec<Value> {
    vec![
        with_seed(
            layer(
                "c1",
                "Conv2D",
                json!({"filters": 3, "kernel_size": [3, 2], "padding": "same",
                "activation": "elu", "bias_initializer": random_bias(),
                "kernel_regularizer": {"l1": 0.0, "l2": 0.02}}),
            ),
            1,
        ),
        layer("zp", "ZeroPadding2D", json!({"padding": [[1, 0], [0, 2]]})),
        with_seed(
            layer(
                "c2",
                "Conv2D",
                json!({"filters": 4, "kernel_size": 2, "strides": 2,
                "bias_initializer": random_bias()}),
            ),
            2,
        ),
        layer(
            "bn",
            "BatchNormalization",
            json!({"momentum": 0.5,
                "gamma_initializer": {"name": "random_uniform", "args": [0.5, 1.5]},
                "beta_initializer": random_bias()}),
        ),
        layer(
            "mp",
            "MaxPooling2D",
            json!({"pool_size": 2, "strides": 1, "padding": "same"}),
        ),
        layer("up", "UpSampling2D", json!({"size": [2, 1]})),
        layer("crop", "Cropping2D", json!({"cropping": [[1, 1], [0, 1]]})),
        with_seed(
            layer(
                "ct",
                "Conv2DTranspose",
                json!({"filters": 2, "kernel_size": 3, "strides": 2,
                "padding": "same", "activation": "sigmoid", "bias_initializer": random_bias()}),
            ),
            3,
        ),
        layer(
            "ap",
            "AveragePooling2D",
            json!({"pool_size": 3, "strides": 2, "padding": "same"}),
        ),
        layer(
            "ln",
            "LayerNormalization",
            json!({"beta_initializer": random_bias()}),
        ),
        layer("lr", "LeakyReLU", json!({"negative_slope": 0.2})),
        layer("gap", "GlobalAveragePooling2D", json!({})),
        with_seed(layer("out", "Dense", json!({"units": 2})), 4),
    ]
}

#[test]
fn cnn_layers_have_keras_shapes_and_parameters() {
    let g = cnn_2d();
    let shapes: Vec<Vec<usize>> = g.shapes[1..].to_vec();
    assert_eq!(
        shapes,
        vec![
            vec![7, 6, 3],
            vec![8, 8, 3],
            vec![4, 4, 4],
            vec![4, 4, 4],
            vec![4, 4, 4],
            vec![8, 4, 4],
            vec![6, 3, 4],
            vec![12, 6, 2],
            vec![6, 3, 2],
            vec![6, 3, 2],
            vec![6, 3, 2],
            vec![2],
            vec![2],
        ]
    );
    let names: Vec<String> = g.params().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names[2..8],
        [
            "c2/kernel",
            "c2/bias",
            "bn/gamma",
            "bn/beta",
            "bn/moving_mean",
            "bn/moving_variance"
        ]
    );
    // Keras's layouts: conv kernel [kh, kw, in, out]; transpose [kh, kw, out, in].
    assert_eq!(g.params()[0].1.value.shape(), &[3, 2, 2, 3]);
    assert_eq!(g.params()[8].1.value.shape(), &[3, 3, 2, 4]);
}

#[test]
fn cnn_gradients_match_finite_differences_in_training_and_inference() {
    let g = cnn_2d();
    let x = distinct(3 * 7 * 6 * 2, 0.013);
    let inf = check_params(&g, &x, 3, false);
    let tr = check_params(&g, &x, 3, true);
    assert!(
        inf.clone().unwrap() >= 10,
        "inference {inf:?} training {tr:?}"
    );
    assert!(tr.unwrap() >= 10);
}

#[test]
fn conv_1d_pooling_and_activation_layers_match_finite_differences() {
    let g = chain(
        json!([16, 3]),
        vec![
            with_seed(
                layer(
                    "c1",
                    "Conv1D",
                    json!({"filters": 4, "kernel_size": 3, "dilation_rate": 2,
                "padding": "causal", "activation": "tanh", "bias_initializer": random_bias()}),
                ),
                5,
            ),
            layer("mp", "MaxPooling1D", json!({"pool_size": 2})),
            layer("sd", "SpatialDropout1D", json!({"rate": 0.4})),
            with_seed(
                layer(
                    "c2",
                    "Conv1D",
                    json!({"filters": 3, "kernel_size": 2, "strides": 2,
                "padding": "same", "use_bias": false}),
                ),
                6,
            ),
            layer(
                "ap",
                "AveragePooling1D",
                json!({"pool_size": 2, "padding": "same"}),
            ),
            layer("elu", "ELU", json!({"alpha": 0.5})),
            layer(
                "relu",
                "ReLU",
                json!({"max_value": 5.0, "negative_slope": 0.1, "threshold": -0.05}),
            ),
            layer("gmp", "GlobalMaxPooling1D", json!({})),
            with_seed(layer("d", "Dense", json!({"units": 3})), 7),
            layer("sm", "Softmax", json!({})),
        ],
    );
    assert_eq!(g.shapes[1], vec![16, 4]);
    assert_eq!(g.shapes[4], vec![4, 3]);
    assert_eq!(g.shapes[5], vec![2, 3]);
    let x = distinct(4 * 16 * 3, 0.021);
    check_params(&g, &x, 4, true).unwrap();
    check_params(&g, &x, 4, false).unwrap();
}

#[test]
fn padding_cropping_upsampling_and_transposed_conv_1d_match_finite_differences() {
    let g = chain(
        json!([6, 3]),
        vec![
            with_seed(
                layer(
                    "c",
                    "Conv1D",
                    json!({"filters": 2, "kernel_size": 2, "bias_initializer": random_bias()}),
                ),
                5,
            ),
            layer("zp", "ZeroPadding1D", json!({"padding": [1, 2]})),
            with_seed(
                layer(
                    "ct",
                    "Conv1DTranspose",
                    json!({"filters": 3, "kernel_size": 3, "strides": 2,
                "padding": "same", "bias_initializer": random_bias()}),
                ),
                6,
            ),
            layer("cr", "Cropping1D", json!({"cropping": [3, 2]})),
            layer("up", "UpSampling1D", json!({"size": 2})),
            layer("f", "Flatten", json!({})),
            with_seed(layer("d", "Dense", json!({"units": 2})), 7),
        ],
    );
    assert_eq!(g.shapes[2], vec![8, 2]);
    assert_eq!(g.shapes[3], vec![16, 3]);
    assert_eq!(g.shapes[5], vec![22, 3]);
    let x = distinct(3 * 6 * 3, 0.05);
    assert!(check_params(&g, &x, 3, false).unwrap() >= 5);
}

#[test]
fn dilated_conv_spatial_dropout_and_global_max_match_finite_differences() {
    let g = chain(
        json!([6, 7, 2]),
        vec![
            with_seed(
                layer(
                    "c",
                    "Conv2D",
                    json!({"filters": 3, "kernel_size": 3, "dilation_rate": [2, 1],
                "bias_initializer": random_bias()}),
                ),
                8,
            ),
            layer("sd", "SpatialDropout2D", json!({"rate": 0.3})),
            with_seed(
                layer("c1x1", "Conv2D", json!({"filters": 2, "kernel_size": 1})),
                9,
            ),
            layer("gmp", "GlobalAveragePooling2D", json!({"keepdims": true})),
            layer("flat", "Flatten", json!({})),
            with_seed(layer("d", "Dense", json!({"units": 2})), 10),
        ],
    );
    assert_eq!(g.shapes[1], vec![2, 5, 3]);
    assert_eq!(g.shapes[4], vec![1, 1, 2]);
    let x = distinct(3 * 6 * 7 * 2, 0.017);
    check_params(&g, &x, 3, true).unwrap();
}

#[test]
fn a_wrong_convolution_gradient_fails_the_check() {
    let x = distinct(3 * 7 * 6 * 2, 0.013);
    // c2's kernel as if its patches were read one column off.
    assert!(corrupted_grad_fails(&cnn_2d(), &x, 3, true, (3, 0), |w| w.rotate_left(1)));
}

#[test]
fn convolutions_give_identical_results_for_any_thread_count() {
    let g = chain(
        json!([12, 12, 3]),
        vec![
            with_seed(
                layer(
                    "c",
                    "Conv2D",
                    json!({"filters": 8, "kernel_size": 3, "activation": "relu"}),
                ),
                1,
            ),
            layer("mp", "MaxPooling2D", json!({})),
            with_seed(
                layer(
                    "ct",
                    "Conv2DTranspose",
                    json!({"filters": 4, "kernel_size": 3, "strides": 2}),
                ),
                2,
            ),
            layer("gap", "GlobalAveragePooling2D", json!({})),
        ],
    );
    let rows = 128;
    let x = distinct(rows * 12 * 12 * 3, 0.001);
    let run = |threads: usize| {
        crate::threads::pool(threads).install(|| {
            let pass = g.forward(&x, rows, true, [1, 2], threads).unwrap();
            let out = &pass.values[g.outputs[0]];
            let grad = Tensor::ones(out.raw_dim());
            let pg = g.backward(&pass, vec![grad], threads).unwrap();
            (out.clone(), pg)
        })
    };
    let (y1, g1) = run(1);
    let (y2, g2) = run(2);
    assert_eq!(y1, y2);
    assert_eq!(g1, g2);
}

#[test]
fn batch_normalization_moves_its_statistics_and_freezes_to_inference() {
    let mut g = chain(
        json!([2, 3]),
        vec![layer("bn", "BatchNormalization", json!({"momentum": 0.75}))],
    );
    let x: Vec<f32> = (0..4 * 6).map(|i| i as f32 * 0.5).collect();
    let pass = g.forward(&x, 4, true, [0, 0], 1).unwrap();
    g.update_state(&pass);
    let p = g.params();
    // Channel 0 takes x = 0, 1.5, 3, ..., 10.5 (8 values): mean 5.25, biased var 11.8125.
    let mm = p[2].1.value.as_slice().unwrap()[0];
    let mv = p[3].1.value.as_slice().unwrap()[0];
    assert!((mm - 0.25 * 5.25).abs() < 1e-5, "{mm}");
    assert!((mv - (0.75 + 0.25 * 11.8125)).abs() < 1e-4, "{mv}");
    // Frozen: training passes use the moving statistics and keep them.
    g.slots[1].trainable = false;
    let pass = g.forward(&x, 4, true, [0, 0], 1).unwrap();
    let inference = g.forward(&x, 4, false, [0, 0], 1).unwrap();
    assert_eq!(pass.values[1], inference.values[1]);
    g.update_state(&pass);
    assert_eq!(g.params()[2].1.value.as_slice().unwrap()[0], mm);
}

#[test]
fn noise_and_unit_normalization_match_finite_differences() {
    let g = chain(
        json!([5, 4]),
        vec![
            with_seed(
                layer(
                    "d0",
                    "Dense",
                    json!({"units": 6, "bias_initializer": random_bias()}),
                ),
                3,
            ),
            layer("gn", "GaussianNoise", json!({"stddev": 0.3})),
            layer("gd", "GaussianDropout", json!({"rate": 0.25})),
            layer("ad", "AlphaDropout", json!({"rate": 0.2})),
            layer("un", "UnitNormalization", json!({"axis": -1})),
            layer("f", "Flatten", json!({})),
            with_seed(layer("d", "Dense", json!({"units": 2})), 5),
        ],
    );
    let x = distinct(3 * 5 * 4, 0.037);
    check_params(&g, &x, 3, false).unwrap();
    check_params(&g, &x, 3, true).unwrap();
}

/// `[5, 6, 2]` images -> a convolution -> `middle` -> flatten -> dense.
fn between_conv_and_dense(middle: Vec<Value>) -> Graph {
    let mut layers = vec![with_seed(
        layer(
            "c",
            "Conv2D",
            json!({"filters": 2, "kernel_size": 2, "padding": "same",
                   "bias_initializer": random_bias()}),
        ),
        1,
    )];
    layers.extend(middle);
    layers.push(layer("f", "Flatten", json!({})));
    layers.push(with_seed(layer("d", "Dense", json!({"units": 2})), 2));
    chain(json!([5, 6, 2]), layers)
}

#[test]
fn resizing_and_center_crop_match_finite_differences() {
    for (resize, crop) in [
        (
            json!({"height": 4, "width": 7, "antialias": true}),
            json!({"height": 3, "width": 5}),
        ),
        (
            json!({"height": 6, "width": 6, "interpolation": "bicubic", "pad_to_aspect_ratio": true, "fill_value": 0.5}),
            json!({"height": 8, "width": 4}),
        ),
        (
            json!({"height": 5, "width": 3, "interpolation": "nearest", "crop_to_aspect_ratio": true}),
            json!({"height": 2, "width": 2}),
        ),
    ] {
        let g = between_conv_and_dense(vec![
            layer("rs", "Resizing", resize),
            layer("cc", "CenterCrop", crop),
            layer(
                "up",
                "UpSampling2D",
                json!({"size": [2, 1], "interpolation": "bilinear"}),
            ),
        ]);
        let x = distinct(2 * 5 * 6 * 2, 0.05);
        assert!(check_params(&g, &x, 2, false).unwrap() >= 3);
    }
}

#[test]
fn augmentation_layers_match_finite_differences_in_training() {
    // The draws are keyed by the pass, so each evaluation of the objective sees the same
    // transforms: the gradient through them is the sampling's transpose.
    for aug in [
        layer(
            "a",
            "RandomRotation",
            json!({"factor": 0.2, "fill_mode": "reflect"}),
        ),
        layer(
            "a",
            "RandomRotation",
            json!({"factor": [0.1, 0.3], "fill_mode": "constant", "interpolation": "nearest"}),
        ),
        layer(
            "a",
            "RandomTranslation",
            json!({"height_factor": 0.3, "width_factor": [-0.2, 0.4], "fill_mode": "wrap"}),
        ),
        layer(
            "a",
            "RandomZoom",
            json!({"height_factor": 0.3, "fill_mode": "nearest"}),
        ),
        layer(
            "a",
            "RandomFlip",
            json!({"mode": "horizontal_and_vertical"}),
        ),
        layer(
            "a",
            "RandomContrast",
            json!({"factor": [0.2, 0.5], "value_range": [-50, 50]}),
        ),
        layer("a", "RandomCrop", json!({"height": 3, "width": 4})),
        layer("a", "RandomCrop", json!({"height": 7, "width": 4})),
    ] {
        let g = between_conv_and_dense(vec![aug]);
        let x = distinct(3 * 5 * 6 * 2, 0.05);
        check_params(&g, &x, 3, true).unwrap();
    }
}

/// Six strided valid 3x3 convolutions on an image of open size: too deep for the first
/// stand-in size (64 shrinks to 1 before the last one), so the graph is built at the next;
/// the spatial axes still follow the open input, and any large enough image runs.
#[test]
fn open_inputs_build_at_a_size_every_layer_accepts() {
    let convs = (0..6)
        .map(|i| {
            layer(
                &format!("c{i}"),
                "Conv2D",
                json!({"filters": 2, "kernel_size": 3, "strides": 2}),
            )
        })
        .collect();
    let mut g = chain(json!([null, null, 1]), convs);
    assert_eq!(g.shapes[6], vec![1, 1, 2]);
    assert_eq!(g.symbolic[6], vec![None, None, Some(2)]);
    g.build_from_inputs(&[vec![200, 150, 1]]).unwrap();
    assert_eq!(g.shapes[6], vec![2, 1, 2]);
    // A model that cannot fit any stand-in size keeps the error of the largest.
    let too_deep = (0..10)
        .map(|i| {
            layer(
                &format!("c{i}"),
                "Conv2D",
                json!({"filters": 1, "kernel_size": 3, "strides": 2}),
            )
        })
        .collect::<Vec<_>>();
    let mut all = vec![layer(
        "x",
        "InputLayer",
        json!({ "shape": [null, null, 1] }),
    )];
    all.extend(too_deep);
    let nodes: Vec<_> = (0..all.len())
        .map(|i| json!({"layer": i, "inputs": if i == 0 { vec![] } else { vec![i - 1] }}))
        .collect();
    let spec = json!({"layers": all, "nodes": nodes, "inputs": [0], "outputs": [10]});
    let Err(e) = Graph::from_json(&spec.to_string()) else {
        panic!("too deep for any size")
    };
    assert!(e.message().contains("'c8'"), "{}", e.message());
}
