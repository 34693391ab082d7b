//! Times the training kernel's pieces against the inference kernel, interleaved (the clock of
//! a shared VM drifts): `cargo run --release --example train_parts`.
use rkeras::dense::kernel::{dense, from_rows, PackedWeights};
use rkeras::dense::train::*;
use std::time::Instant;

fn time<F: FnMut()>(reps: usize, f: &mut F) -> f64 {
    let s = Instant::now();
    for _ in 0..reps {
        f();
    }
    s.elapsed().as_secs_f64() / reps as f64
}

/// Median over rounds of (reference time, candidate time), alternating the two.
fn versus<R: FnMut(), F: FnMut()>(mut r: R, mut f: F) -> (f64, f64) {
    r();
    f();
    let (mut a, mut b) = (vec![], vec![]);
    for _ in 0..15 {
        a.push(time(40, &mut r));
        b.push(time(40, &mut f));
    }
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    (a[7], b[7])
}

fn main() {
    let cap = 128;
    let rows = 64;
    for &(inp, out) in &[(784usize, 256usize), (256, 128), (128, 10)] {
        let w: Vec<f32> = (0..inp * out).map(|i| (i % 7) as f32 * 0.1).collect();
        let x: Vec<f32> = (0..cap * inp).map(|i| (i % 5) as f32 * 0.1).collect();
        let mut fwd = vec![0.0; out.div_ceil(16) * inp * 16];
        let mut bwd = vec![0.0; inp.div_ceil(16) * out * 16];
        pack_panels(&w, out, 0, inp, Buf::of(&mut fwd));
        pack_bwd(&w, inp, out, 0, Buf::of(&mut bwd));
        let mut z = vec![0.0; cap * out];
        let mut dx = vec![0.0; cap * inp];
        let mut dzt = vec![0.0; out.div_ceil(16) * cap * 16];
        pack_panels(&z[..cap * out], out, 0, cap, Buf::of(&mut dzt));
        let mut dw = vec![0.0; inp * out];
        let mut a = vec![0.0f32; 4 * inp * 16];
        from_rows(&x, rows, inp, inp, &mut a);
        let pw = PackedWeights::new(&w, inp, out);
        let mut c = vec![0.0f32; 4 * pw.padded() * 16];
        let flops = 2.0 * (rows * inp * out) as f64;
        let gf = |t: f64, f: f64| f / t / 1e9;
        let mut reference = || dense(4, &a, inp, &pw, &mut c);
        println!("{inp} x {out} (64 rows; dW over 128), GFLOP/s: inference kernel vs part");
        let (r, t) = versus(&mut reference, || {
            rows_by_panels(&x, rows, inp, out, &fwd, &mut z)
        });
        println!("  forward   {:6.1} {:6.1}", gf(r, flops), gf(t, flops));
        let (r, t) = versus(&mut reference, || {
            rows_by_panels(&z, rows, out, inp, &bwd, &mut dx)
        });
        println!("  backward  {:6.1} {:6.1}", gf(r, flops), gf(t, flops));
        let (r, t) = versus(&mut reference, || {
            let mut m0 = 0;
            while m0 < inp {
                let m1 = (m0 + 48).min(inp);
                weight_grad(
                    &x,
                    cap,
                    inp,
                    out,
                    &dzt,
                    cap,
                    m0,
                    m1,
                    &mut dw[m0 * out..m1 * out],
                );
                m0 = m1;
            }
        });
        println!(
            "  dW        {:6.1} {:6.1}",
            gf(r, flops),
            gf(t, 2.0 * flops)
        );
        let (r, t) = versus(&mut reference, || {
            pack_panels(&w, out, 0, inp, Buf::of(&mut fwd))
        });
        println!("  pack fwd  ms {:.3} vs {:.3}", r * 1e3, t * 1e3);
        let (r, t) = versus(&mut reference, || {
            pack_bwd(&w, inp, out, 0, Buf::of(&mut bwd))
        });
        println!("  pack_bwd  ms {:.3} vs {:.3}", r * 1e3, t * 1e3);
    }
}
