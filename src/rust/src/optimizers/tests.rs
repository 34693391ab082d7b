//! The update rules against hand-computed steps and against Keras 3 itself.

use super::*;

fn one_step(name: &str, lr: f64, p: &[f64], steps: usize) -> f32 {
    let mut o = Optimizer::new(name, lr, p).unwrap();
    let mut w = [1.0f32];
    for _ in 0..steps {
        o.begin_step();
        let g = [2.0 * w[0]]; // gradient of w^2
        o.update(0, &mut w, &g);
    }
    w[0]
}

#[test]
fn one_hand_computed_step_of_each_optimizer_matches_keras() {
    // w = 1, g = 2.
    // SGD lr 0.1: 1 - 0.2 = 0.8.
    assert!((one_step("sgd", 0.1, &[], 1) - 0.8).abs() < 1e-6);
    // SGD momentum 0.9: v = -0.2, w = 0.8; step 2: g = 1.6, v = -0.18 - 0.16 = -0.34, w = 0.46.
    assert!((one_step("sgd", 0.1, &[0.9, 0.0], 2) - 0.46).abs() < 1e-6);
    // Nesterov: v = -0.2; w = 1 + 0.9 * -0.2 - 0.2 = 0.62.
    assert!((one_step("sgd", 0.1, &[0.9, 1.0], 1) - 0.62).abs() < 1e-6);
    // RMSprop lr 0.001 rho 0.9: s = 0.1 * 4 = 0.4; w = 1 - 0.001 * 2 / sqrt(0.4 + 1e-7).
    let want = 1.0 - 0.001 * 2.0 / (0.4f64 + 1e-7).sqrt();
    assert!((one_step("rmsprop", 0.001, &[], 1) as f64 - want).abs() < 1e-6);
    // Adam lr 0.001: m = 0.2, v = 0.004, alpha = 0.001 * sqrt(0.001) / 0.1;
    // w = 1 - alpha * 0.2 / (sqrt(0.004) + 1e-7) = 1 - 0.001 (approximately).
    let alpha = 0.001 * 0.001f64.sqrt() / 0.1;
    let want = 1.0 - alpha * 0.2 / (0.004f64.sqrt() + 1e-7);
    assert!((one_step("adam", 0.001, &[], 1) as f64 - want).abs() < 1e-6);
    // AdamW also decays: w = 1 - 0.001 * 0.004 first.
    let want_w = (1.0 - 0.001 * 0.004) - alpha * 0.2 / (0.004f64.sqrt() + 1e-7);
    assert!((one_step("adamw", 0.001, &[], 1) as f64 - want_w).abs() < 1e-6);
    // Adagrad lr 0.01: a = 0.1 + 4 = 4.1; w = 1 - 0.01 * 2 / sqrt(4.1).
    let want = 1.0 - 0.01 * 2.0 / (4.1f64 + 1e-7).sqrt();
    assert!((one_step("adagrad", 0.01, &[], 1) as f64 - want).abs() < 1e-6);
}

#[test]
fn legacy_decay_divides_the_learning_rate_as_keras_2() {
    // Keras 2: lr_t = lr / (1 + decay * iterations), iterations counted from 0.
    let mut o = Optimizer::new("sgd", 0.1, &[])
        .unwrap()
        .with_options(Options::from_values(&[f64::NAN, f64::NAN, f64::NAN, 0.0, 0.5]).unwrap());
    let mut w = [1.0f32];
    let mut want = 1.0f64;
    for t in 0..3 {
        o.begin_step();
        let g = [1.0f32];
        o.update(0, &mut w, &g);
        want -= 0.1 / (1.0 + 0.5 * t as f64);
        assert!(
            (w[0] as f64 - want).abs() < 1e-6,
            "step {t}: {} vs {want}",
            w[0]
        );
    }
    assert!(Options::from_values(&[1.0, 0.5, f64::NAN, 0.0, 0.0]).is_err());
    assert!(Options::from_values(&[-1.0, f64::NAN, f64::NAN, 0.0, 0.0]).is_err());
}

#[test]
fn global_clipnorm_scales_all_gradients_by_their_joint_norm() {
    let o = Optimizer::new("sgd", 0.1, &[])
        .unwrap()
        .with_options(Options::from_values(&[f64::NAN, f64::NAN, 2.5, 0.0, 0.0]).unwrap());
    let (mut a, mut b) = ([3.0f32, 0.0], [4.0f32]);
    o.clip(&mut [&mut a[..], &mut b[..]]);
    // Joint norm 5 > 2.5: everything halves.
    assert_eq!((a, b), ([1.5, 0.0], [2.0]));
}

#[test]
fn sgd_reaches_the_minimum_of_a_quadratic_as_computed_by_hand() {
    // Plain SGD on w^2 with lr 0.1 multiplies w by 0.8 each step: 0.8^50 ~ 1.4e-5.
    assert!((one_step("sgd", 0.1, &[], 50) - 0.8f32.powi(50)).abs() < 1e-7);
    // (Adam's trajectory is checked against Keras's own in `every_optimizer_follows_keras_step_by_step`
    // and over 100 training steps in tests/testthat/test-optimizers-keras.R.)
}

#[test]
fn large_parameters_update_in_chunks_on_threads_exactly_as_on_one_thread() {
    // Above 4 chunks of 2^14 values the update runs on the engine's threads.
    let n = 4 * (1 << 14) + 123;
    let g: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    for name in [
        "sgd", "rmsprop", "adam", "adamw", "adagrad", "adadelta", "adamax", "nadam",
    ] {
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut o = Optimizer::new(name, 0.01, &[]).unwrap();
                let mut w = vec![0.5f32; n];
                for _ in 0..3 {
                    o.begin_step();
                    o.update(0, &mut w, &g);
                }
                w
            })
        };
        let (one, two) = (run(1), run(2));
        assert!(one.iter().any(|&v| v != 0.5), "{name} did not move");
        assert_eq!(one, two, "{name}");
    }
}

#[test]
fn zero_gradient_leaves_weights_unchanged() {
    for name in ["sgd", "rmsprop", "adam", "adagrad"] {
        let mut o = Optimizer::new(name, 0.1, &[]).unwrap();
        let mut w = [0.5f32, -2.0];
        o.begin_step();
        o.update(0, &mut w, &[0.0, 0.0]);
        assert_eq!(w, [0.5, -2.0], "{name}");
    }
}

/// Weights after each of 6 steps with fixed gradients, from Keras 3 itself
/// (`tests/testthat/oracle/keras_optimizers.py` wrote the file). The gradients include
/// values of 1e-6..1e-3, where putting epsilon outside the root, or forgetting the bias
/// correction or the momentum, moves the weights by far more than the tolerance.
#[test]
fn every_optimizer_follows_keras_step_by_step() {
    let v: serde_json::Value = serde_json::from_str(include_str!("keras_steps.json")).unwrap();
    let f = |x: &serde_json::Value| -> Vec<f32> {
        x.as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect()
    };
    let w0 = f(&v["w0"]);
    let grads: Vec<Vec<f32>> = v["grads"].as_array().unwrap().iter().map(f).collect();
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 26);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let params: Vec<f64> = c["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let options: Vec<f64> = c["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap_or(f64::NAN))
            .collect();
        let mut o = Optimizer::new(name, c["learning_rate"].as_f64().unwrap(), &params)
            .unwrap()
            .with_options(Options::from_values(&options).unwrap());
        let mut w = w0.clone();
        for (k, (g, want)) in grads.iter().zip(c["steps"].as_array().unwrap()).enumerate() {
            o.begin_step();
            let mut g = g.clone();
            o.clip(&mut [&mut g[..]]);
            o.update(0, &mut w, &g);
            for (j, (a, b)) in w.iter().zip(f(want)).enumerate() {
                let tol = 2e-6 * (1.0 + b.abs());
                assert!(
                    (a - b).abs() <= tol,
                    "{name} {params:?} {options:?} step {} value {j}: rkeras {a}, Keras {b}",
                    k + 1
                );
            }
        }
    }
}
