//! Times inference of the seed MLP on 10000 rows of R-style column-major doubles, and its
//! parts: `cargo run --release --example predict_bench -- [threads]`.
mod common;

use rkeras::data::{fill_rows, RValues};
use rkeras::dense::infer::Layout;
use rkeras::dense::kernel::{self, PackedWeights, MR};
use rkeras::tensor::{matmul, Trans};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    let (n, d) = (10000usize, 784usize);
    let flop_per_row = 2.0 * (784.0 * 256.0 + 256.0 * 128.0 + 128.0 * 10.0);
    let mut m = common::seed_mlp(threads);
    let x: Vec<f64> = (0..n * d)
        .map(|i| ((i * 7919) % 255) as f64 / 255.0)
        .collect();
    let v = RValues::Real(&x);
    let pool = rkeras::threads::pool(threads);
    for bs in [32usize, 10000] {
        let mut out = Vec::with_capacity(n * 10);
        let t = pool.install(|| {
            common::best_of(7, || {
                out.clear();
                let fill = |r0, r1, layout, buf: &mut [f32]| {
                    assert!(fill_rows(v, n, d, r0, r1, layout, buf));
                    Ok(())
                };
                m.predict_tiled(n, bs, fill, &mut out).unwrap();
            })
        });
        println!(
            "predict, {threads} thread(s), batch {bs:5}: {:.2} ms, {:.0} rows/s, {:.0} GFLOP/s",
            t * 1e3,
            n as f64 / t,
            flop_per_row * n as f64 / t / 1e9
        );
    }
    // The same predict with the conversion left out (each tile keeps what its buffer held):
    // the engine's compute alone.
    let mut out = Vec::with_capacity(n * 10);
    let t = pool.install(|| {
        common::best_of(7, || {
            out.clear();
            let keep = |_, _, _, _: &mut [f32]| Ok(());
            m.predict_tiled(n, 10000, keep, &mut out).unwrap();
        })
    });
    println!(
        "predict without conversion, batch 10000: {:.2} ms, {:.0} GFLOP/s",
        t * 1e3,
        flop_per_row * n as f64 / t / 1e9
    );
    // Conversion alone (one thread), tiles of 128 rows into the kernel's layout.
    let mut buf = vec![0.0f32; 128 * d];
    let t = common::best_of(5, || {
        for r0 in (0..n).step_by(128) {
            let r1 = (r0 + 128).min(n);
            let len = (r1 - r0).next_multiple_of(MR) * d;
            fill_rows(v, n, d, r0, r1, Layout::Panels, &mut buf[..len]);
        }
    });
    println!("conversion of 10000 rows, 1 thread: {:.2} ms", t * 1e3);
    // Products at the first layer's shape, one thread: the kernel in L1 (its peak), the kernel
    // on a tile of 128 rows, and the gemm crate on the same tile.
    if kernel::available() {
        let gflops = |rows: usize, k: usize, nn: usize, reps: usize, t: f64| {
            2.0 * (rows * k * nn * reps) as f64 / t / 1e9
        };
        let (k, nn) = (128usize, 12usize);
        let pw = PackedWeights::new(&vec![0.01f32; k * nn], k, nn);
        let a = vec![0.5f32; MR * k];
        let mut c = vec![0.0f32; MR * pw.padded()];
        let t = common::best_of(3, || {
            for _ in 0..20000 {
                kernel::dense(1, &a, k, &pw, &mut c);
            }
        });
        println!("kernel in L1: {:.1} GFLOP/s", gflops(MR, k, nn, 20000, t));
        let (rows, k, nn) = (128usize, 784usize, 256usize);
        let w: Vec<f32> = (0..k * nn).map(|i| (i % 7) as f32 * 0.01).collect();
        let pw = PackedWeights::new(&w, k, nn);
        let a = vec![0.5f32; rows * k];
        let mut c = vec![0.0f32; rows * pw.padded()];
        let t = common::best_of(3, || {
            for _ in 0..50 {
                kernel::dense(rows / MR, &a, k, &pw, &mut c);
            }
        });
        println!(
            "kernel, {rows} x {k} x {nn}: {:.1} GFLOP/s",
            gflops(rows, k, nn, 50, t)
        );
        let mut c = vec![0.0f32; rows * nn];
        let t = common::best_of(3, || {
            for _ in 0..50 {
                matmul(rows, nn, k, &a, Trans::T, &w, Trans::N, &mut c, false, 1);
            }
        });
        println!(
            "gemm crate, {rows} x {k} x {nn}: {:.1} GFLOP/s",
            gflops(rows, k, nn, 50, t)
        );
    }
}
