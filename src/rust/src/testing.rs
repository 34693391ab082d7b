//! Test helpers: central finite differences in f64 around an f32 point.

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
