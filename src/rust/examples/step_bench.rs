//! Times training steps of the seed MLP (784-256-128-10, dropout, RMSprop, batch 128)
//! without R, and the kernel's three phases within them:
//! `cargo run --release --example step_bench -- [threads] [steps] [steps]` (a third argument
//! `steps` skips timing the products alone).
mod common;

use rkeras::losses::Loss;
use rkeras::metrics::MetricKind;
use rkeras::model::Batch;
use rkeras::optimizers::Optimizer;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    let steps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(375);
    let mut m = common::seed_mlp(threads);
    m.compile(
        Loss::parse("categorical_crossentropy").unwrap(),
        vec![MetricKind::CategoricalAccuracy],
        Optimizer::new("rmsprop", 0.001, &[]).unwrap(),
    );
    let bs = 128;
    let x: Vec<f32> = (0..bs * 784)
        .map(|i| ((i * 7919) % 255) as f32 / 255.0)
        .collect();
    let mut y = vec![0.0f32; bs * 10];
    for r in 0..bs {
        y[r * 10 + r % 10] = 1.0;
    }
    let pool = rkeras::threads::pool(threads);
    let batch = Batch {
        x: &x,
        y: &y,
        w: None,
        rows: bs,
    };
    if args.get(3).map(String::as_str) == Some("calls") {
        // One `install` per step with a gap between (as when R hands over each batch).
        let gap = std::time::Duration::from_micros(300);
        let mut run = |spawn: bool| {
            let t = Instant::now();
            for _ in 0..steps {
                let spin = Instant::now();
                while spin.elapsed() < gap {}
                if spawn {
                    std::thread::scope(|s| {
                        s.spawn(|| pool.install(|| m.train_step(&batch).unwrap()));
                    });
                } else {
                    pool.install(|| m.train_step(&batch).unwrap());
                }
            }
            (t.elapsed().as_secs_f64() / steps as f64 - gap.as_secs_f64()) * 1e3
        };
        run(false);
        let a = run(false);
        let b = run(true);
        println!(
            "threads {threads}: one install per step {a:.3} ms/step, from a new thread {b:.3}"
        );
        return;
    }
    // Steps before the timed ones (they count in the phase times too).
    const WARMUP: usize = 20;
    pool.install(|| {
        for _ in 0..WARMUP {
            m.train_step(&batch).unwrap();
        }
        let t = Instant::now();
        for _ in 0..steps {
            m.train_step(&batch).unwrap();
        }
        let dt = t.elapsed().as_secs_f64();
        println!(
            "threads {threads}: {:.3} ms/step, {:.3} s per {steps} steps",
            dt / steps as f64 * 1e3,
            dt
        );
        let ph = m.train_phase_secs();
        let per_step = |x: f64| x / (steps + WARMUP) as f64 * 1e6;
        println!(
            "phases, us/step: rows {:.0}, loss {:.0}, weights {:.0}",
            per_step(ph[0]),
            per_step(ph[1]),
            per_step(ph[2])
        );
        if args.get(3).map(String::as_str) == Some("steps") {
            return;
        }
        use rkeras::tensor::{matmul, Trans};
        // The step's products with their transposes: (name, m, n, k, ta, tb).
        let prods = [
            ("fwd1", 128, 256, 784, Trans::N, Trans::N),
            ("fwd2", 128, 128, 256, Trans::N, Trans::N),
            ("fwd3", 128, 10, 128, Trans::N, Trans::N),
            ("dW1 x'dz", 784, 256, 128, Trans::T, Trans::N),
            ("dW2", 256, 128, 128, Trans::T, Trans::N),
            ("dW3", 128, 10, 128, Trans::T, Trans::N),
            ("dx2 dz W'", 128, 256, 128, Trans::N, Trans::T),
            ("dx3", 128, 128, 10, Trans::N, Trans::T),
        ];
        let mut total = 0.0;
        let mut flops = 0.0;
        for (name, mm, nn, kk, ta, tb) in prods {
            let a = vec![0.5f32; mm * kk];
            let b = vec![0.25f32; kk * nn];
            let mut c = vec![0.0f32; mm * nn];
            let t = Instant::now();
            for _ in 0..steps {
                matmul(mm, nn, kk, &a, ta, &b, tb, &mut c, false, threads);
            }
            let dt = t.elapsed().as_secs_f64() / steps as f64;
            total += dt;
            flops += 2.0 * (mm * nn * kk) as f64;
            println!(
                "{name:>10}: {:.3} ms, {:.1} GFLOP/s",
                dt * 1e3,
                2.0 * (mm * nn * kk) as f64 / dt / 1e9
            );
        }
        println!(
            "gemm total: {:.3} ms/step, {:.1} GFLOP/s",
            total * 1e3,
            flops / total / 1e9
        );
    });
}
