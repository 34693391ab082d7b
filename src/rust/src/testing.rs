//! Test helpers: central finite differences in f64 around an f32 point, a dense layer, and
//! matrix operands with a check of a product against a naive one.

use crate::activations::Act;
use crate::chain::{Kind, Layer};
use crate::initializers::Init;

/// Compare an analytic gradient `grad` of `f` at `x` with central differences.
/// Relative tolerance fits f32 forward passes evaluated in f64 sums.
pub fn check_grad<F: Fn(&[f32]) -> f64>(
    what: &str,
    x: &[f32],
    grad: &[f32],
    f: F,
) -> Result<(), String> {
    let h = 1e-2f32;
    let mut xp = x.to_vec();
    for i in 0..x.len() {
        let orig = xp[i];
        xp[i] = orig + h;
        let fp = f(&xp);
        xp[i] = orig - h;
        let fm = f(&xp);
        xp[i] = orig;
        let num = (fp - fm) / (2.0 * h as f64);
        let ana = grad[i] as f64;
        let tol = 2e-3 * (1.0 + num.abs().max(ana.abs()));
        if (num - ana).abs() > tol {
            return Err(format!(
                "{what}: gradient {i}: analytic {ana}, numeric {num}"
            ));
        }
    }
    Ok(())
}

/// A dense layer with Glorot-uniform weights and uniform(-0.5, 0.5) biases.
pub fn dense(
    name: &str,
    units: usize,
    act: Act,
    use_bias: bool,
    l1: f32,
    l2: f32,
    seed: u64,
) -> Layer {
    let kind = Kind::Dense {
        units,
        act,
        use_bias,
        kernel_init: Init::parse("glorot_uniform", 0.0, 0.0).unwrap(),
        bias_init: Init::parse("random_uniform", -0.5, 0.5).unwrap(),
        l1,
        l2,
    };
    Layer::new(name.into(), kind, seed)
}

/// Operands `a [m, k]` and `b [k, n]` (row-major) of varied values.
pub fn operands(m: usize, k: usize, n: usize) -> (Vec<f32>, Vec<f32>) {
    let a = (0..m * k)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 31.0)
        .collect();
    let b = (0..k * n)
        .map(|i| ((i * 13 % 29) as f32 - 14.0) / 9.0)
        .collect();
    (a, b)
}

/// `c` (row-major `[m, n]`) is `a b` within f32 rounding of a depth-`k` sum.
pub fn assert_product(a: &[f32], b: &[f32], m: usize, k: usize, n: usize, c: &[f32]) {
    for i in 0..m {
        for j in 0..n {
            let want: f64 = (0..k)
                .map(|p| a[i * k + p] as f64 * b[p * n + j] as f64)
                .sum();
            let got = c[i * n + j] as f64;
            assert!(
                (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                "{m}x{k}x{n} [{i},{j}]: {got} vs {want}"
            );
        }
    }
}

/// Say that a test could not run on this machine: the line `SKIPPED: name (why)` on stderr,
/// which the README's test command counts as a failure (a skip must never pass unseen).
pub fn skip(name: &str, why: &str) {
    eprintln!("SKIPPED: {name} ({why})");
}
