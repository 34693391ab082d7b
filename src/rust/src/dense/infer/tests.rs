//! Tests of `infer.rs`.
use super::*;
use crate::data::{fill_rows, RValues};
use crate::model::Batch;

fn dense(name: &str, units: usize, act: Act, _seed: u64) -> Layer {
    crate::testing::dense(name, units, act, true, 0.0, 0.0)
}

/// Models covering the AVX2 kernel (dense stacks, a hidden softmax, widths that are not
/// whole panels) and the portable path (an activation layer first).
fn models() -> Vec<Model> {
    let specs: Vec<Vec<Layer>> = vec![
        vec![
            dense("a", 37, Act::Relu, 1),
            Layer::new("d".into(), Kind::Dropout { rate: 0.5 }),
            dense("b", 10, Act::Softmax, 2),
        ],
        vec![
            dense("a", 6, Act::Softmax, 3),
            dense("b", 13, Act::Tanh, 4),
            dense("c", 1, Act::Sigmoid, 5),
        ],
        vec![
            Layer::new("t".into(), Kind::Activation { act: Act::Tanh }),
            dense("a", 8, Act::Linear, 7),
        ],
    ];
    specs
        .into_iter()
        .map(|layers| crate::testing::chain_model(&layers, 21))
        .collect()
}

/// Test inputs: `n x d` values as R holds them (column-major doubles) and row-major f32.
fn inputs(n: usize, d: usize, mul: usize, modulo: usize) -> (Vec<f64>, Vec<f32>) {
    let h = modulo as f64 / 2.0;
    let x: Vec<f64> = (0..n * d)
        .map(|i| ((i * mul % modulo) as f64 - h) / 40.0)
        .collect();
    let mut rows = vec![0.0f32; n * d];
    for r in 0..n {
        for c in 0..d {
            rows[r * d + c] = x[c * n + r] as f32;
        }
    }
    (x, rows)
}

/// A tile source over column-major doubles.
fn source(
    x: &[f64],
    n: usize,
    d: usize,
) -> impl Fn(usize, usize, Layout, &mut [f32]) -> RkResult<()> + Sync + '_ {
    move |r0, r1, layout, buf| match fill_rows(RValues::Real(x), n, d, r0, r1, layout, buf) {
        true => Ok(()),
        false => Err(RkError::Value("bad".into())),
    }
}

fn predict(
    m: &mut Model,
    x: &[f64],
    n: usize,
    batch: usize,
    threads: usize,
    avx2: bool,
) -> RkResult<Vec<f32>> {
    m.threads = threads;
    let d = crate::testing::input_dim(m);
    let mut out = Vec::new();
    let fill = source(x, n, d);
    assert!(m.uses_plan());
    crate::threads::pool(threads)
        .install(|| m.on_plan(|m| m.tiled(n, batch, fill, &mut out, avx2)))?;
    Ok(out)
}

#[test]
fn tiled_inference_matches_the_forward_pass_for_every_batch_and_thread_count() {
    // Three tiles, and one batch of fewer rows than a tile (split between the threads).
    for n in [2 * TILE + 37, TILE - 21] {
        check_tiled_inference(n);
    }
}

fn check_tiled_inference(n: usize) {
    for mut m in models() {
        let d = crate::testing::input_dim(&m);
        let (x, rows) = inputs(n, d, 31, 97);
        let mut want = Vec::new();
        m.predict_into(&rows, n, &mut want).unwrap();
        // The AVX2 kernel (where the CPU has it) and the portable path.
        for avx2 in [kernel::available(), false] {
            let one = predict(&mut m, &x, n, 32, 1, avx2).unwrap();
            for (w, g) in want.iter().zip(&one) {
                assert!(
                    (w - g).abs() <= 1e-5 * (1.0 + w.abs()),
                    "avx2 {avx2}: {w} vs {g}"
                );
            }
            for batch in [1, 7, 32, 1000] {
                let a = predict(&mut m, &x, n, batch, 1, avx2).unwrap();
                let b = predict(&mut m, &x, n, batch, 2, avx2).unwrap();
                assert_eq!(a, b, "avx2 {avx2}, batch {batch}: 1 and 2 threads differ");
                assert_eq!(
                    a, one,
                    "avx2 {avx2}, batch {batch}: results depend on the batch size"
                );
            }
        }
    }
}

#[test]
fn tiled_evaluation_matches_batch_steps_and_thread_counts() {
    use crate::losses::Loss;
    use crate::metrics::MetricKind;
    use crate::optimizers::Optimizer;
    let n = TILE + 45;
    let mut m = models().remove(0);
    let metrics = vec![MetricKind::CategoricalAccuracy];
    m.compile(
        Loss::parse("categorical_crossentropy").unwrap(),
        metrics,
        Optimizer::new("sgd", 0.01, &[]).unwrap(),
    );
    let d = crate::testing::input_dim(&m);
    let (x, rows) = inputs(n, d, 13, 89);
    let mut y = vec![0.0f32; n * 10];
    for r in 0..n {
        y[r * 10 + r % 10] = 1.0;
    }
    let w: Vec<f32> = (0..n).map(|r| 0.5 + (r % 3) as f32).collect();
    let logs = |m: &Model| (m.test.loss(), m.test.metric(0));
    let bs = 32;
    m.test.reset();
    for b0 in (0..n).step_by(bs) {
        let b1 = (b0 + bs).min(n);
        let b = Batch {
            x: &rows[b0 * d..b1 * d],
            y: &y[b0 * 10..b1 * 10],
            w: Some(&w[b0..b1]),
            rows: b1 - b0,
        };
        m.test_step_layers(&b).unwrap();
    }
    let want = logs(&m);
    let mut got = Vec::new();
    for threads in [1, 2] {
        m.threads = threads;
        m.test.reset();
        let fill = source(&x, n, d);
        crate::threads::pool(threads)
            .install(|| m.evaluate_tiled(n, bs, fill, &y, Some(&w)))
            .unwrap();
        got.push(logs(&m));
    }
    assert_eq!(got[0], got[1], "1 and 2 threads differ");
    assert!(
        (got[0].0 - want.0).abs() < 1e-5 * (1.0 + want.0.abs()),
        "{got:?} vs {want:?}"
    );
    assert_eq!(got[0].1, want.1);
    // Targets that do not fit the loss are refused before anything runs.
    let err = m.evaluate_tiled(n, bs, |_, _, _, _: &mut [f32]| Ok(()), &y[..n * 9], None);
    assert_eq!(err.unwrap_err().kind(), "shape");
}

#[test]
fn tiled_inference_reports_bad_values_and_predicts_again_afterwards() {
    let mut m = models().remove(0);
    let n = 300;
    let mut x = vec![0.5f64; n * 21];
    x[20 * n + 299] = f64::NAN;
    let err = predict(&mut m, &x, n, 32, 2, kernel::available()).unwrap_err();
    assert_eq!(err.kind(), "value");
    x[20 * n + 299] = 0.5;
    assert_eq!(
        predict(&mut m, &x, n, 32, 2, kernel::available())
            .unwrap()
            .len(),
        n * 10
    );
}

#[test]
fn packed_weights_are_reused_only_while_the_weights_are_unchanged() {
    use crate::losses::Loss;
    use crate::optimizers::Optimizer;
    let n = 40;
    let mut m = models().remove(0);
    m.compile(
        Loss::parse("categorical_crossentropy").unwrap(),
        vec![],
        Optimizer::new("adam", 0.01, &[]).unwrap(),
    );
    let d = crate::testing::input_dim(&m);
    let (x, rows) = inputs(n, d, 7, 61);
    let avx2 = kernel::available();
    // What a model with the same weights and nothing cached predicts.
    let fresh = |m: &Model| {
        let mut c = m.clone();
        c.infer_packs = None;
        predict(&mut c, &x, n, 16, 1, avx2).unwrap()
    };
    let first = predict(&mut m, &x, n, 16, 1, avx2).unwrap();
    assert_eq!(predict(&mut m, &x, n, 16, 2, avx2).unwrap(), first);
    // A training step changes the weights.
    let mut y = vec![0.0f32; n * 10];
    (0..n).for_each(|r| y[r * 10 + r % 10] = 1.0);
    let b = Batch {
        x: &rows,
        y: &y,
        w: None,
        rows: n,
    };
    m.train_step(&b).unwrap();
    let after_step = predict(&mut m, &x, n, 16, 1, avx2).unwrap();
    assert_ne!(after_step, first);
    assert_eq!(after_step, fresh(&m));
    // So does setting them (`set_weights()` marks the packs stale).
    let mut w = crate::testing::weights(&m);
    w[0].iter_mut().for_each(|w| *w *= -1.0);
    crate::testing::set_weights(&mut m, &w);
    assert_eq!(predict(&mut m, &x, n, 16, 1, avx2).unwrap(), fresh(&m));
}

#[test]
fn tiles_cover_rows_and_respect_batches() {
    assert_eq!(tiles(70, 32, TILE), vec![(0, 32), (32, 64), (64, 70)]);
    let t = tiles(300, 1000, TILE);
    assert_eq!(t.first(), Some(&(0, TILE)));
    assert_eq!(t.last().map(|x| x.1), Some(300));
    let t = tiles(2 * TILE + 6, TILE + 3, TILE);
    assert!(t.iter().all(|&(a, b)| b > a && b - a <= TILE));
    assert!(t.contains(&(TILE, TILE + 3)));
    assert!(tiles(0, 8, TILE).is_empty());
    assert_eq!(tiles(100, 100, 64), vec![(0, 64), (64, 100)]);
}
