//! Compare GEMM crates at the seed MLP's shapes: `cargo run --release --example mm_compare`.
use std::time::Instant;

fn main() {
    let shapes = [
        (128usize, 256usize, 784usize),
        (784, 256, 128),
        (128, 128, 256),
        (128, 256, 128),
    ];
    for (m, n, k) in shapes {
        let a = vec![0.5f32; m * k];
        let b = vec![0.25f32; k * n];
        let mut c = vec![0.0f32; m * n];
        let reps = 400;
        let flop = 2.0 * (m * n * k) as f64 * reps as f64;
        for threads in [1, 2] {
            let pool = rkeras::threads::pool(threads);
            let t = Instant::now();
            pool.install(|| {
                for _ in 0..reps {
                    rkeras::tensor::matmul(
                        m,
                        n,
                        k,
                        &a,
                        rkeras::tensor::Trans::N,
                        &b,
                        rkeras::tensor::Trans::N,
                        &mut c,
                        false,
                        threads,
                    );
                }
            });
            let g = flop / t.elapsed().as_secs_f64() / 1e9;
            let t = Instant::now();
            for _ in 0..reps {
                if threads == 1 {
                    unsafe {
                        matrixmultiply::sgemm(
                            m,
                            k,
                            n,
                            1.0,
                            a.as_ptr(),
                            k as isize,
                            1,
                            b.as_ptr(),
                            n as isize,
                            1,
                            0.0,
                            c.as_mut_ptr(),
                            n as isize,
                            1,
                        );
                    }
                } else {
                    let half = (n / 2).next_multiple_of(16);
                    let cp = c.as_mut_ptr() as usize;
                    pool.install(|| {
                        rayon::join(
                            || unsafe {
                                matrixmultiply::sgemm(
                                    m,
                                    k,
                                    half,
                                    1.0,
                                    a.as_ptr(),
                                    k as isize,
                                    1,
                                    b.as_ptr(),
                                    n as isize,
                                    1,
                                    0.0,
                                    cp as *mut f32,
                                    n as isize,
                                    1,
                                )
                            },
                            || unsafe {
                                matrixmultiply::sgemm(
                                    m,
                                    k,
                                    n - half,
                                    1.0,
                                    a.as_ptr(),
                                    k as isize,
                                    1,
                                    b.as_ptr().add(half),
                                    n as isize,
                                    1,
                                    0.0,
                                    (cp as *mut f32).add(half),
                                    n as isize,
                                    1,
                                )
                            },
                        )
                    });
                }
            }
            let g2 = flop / t.elapsed().as_secs_f64() / 1e9;
            println!("{m}x{n}x{k} threads {threads}: gemm {g:.1} GFLOP/s, matrixmultiply {g2:.1} GFLOP/s");
        }
    }
}
