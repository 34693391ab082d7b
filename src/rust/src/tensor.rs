//! Row-major matrix products through the `gemm` crate, reading transposes through
//! strides (no transposing copies).

use gemm::Parallelism;

/// Which operand is read transposed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trans {
    N,
    T,
}

/// `c = a' b'` (or `c += a' b'` when `accumulate`), where `a'` is `a` or its transpose.
/// `a` is stored row-major as `[m, k]` (N) or `[k, m]` (T); `b` as `[k, n]` (N) or `[n, k]` (T);
/// `c` is `[m, n]` row-major.
///
/// # Panics
/// Never for consistent shapes; callers check lengths (asserted in debug builds).
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    ta: Trans,
    b: &[f32],
    tb: Trans,
    c: &mut [f32],
    accumulate: bool,
    threads: usize,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "matmul shapes");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    let (a_rs, a_cs) = match ta {
        Trans::N => (k as isize, 1),
        Trans::T => (1, m as isize),
    };
    let (b_rs, b_cs) = match tb {
        Trans::N => (n as isize, 1),
        Trans::T => (1, k as isize),
    };
    let work = m * n * k;
    let par = if threads > 1 && work >= 1 << 16 { Parallelism::Rayon(threads) } else { Parallelism::None };
    // SAFETY: the asserts above guarantee every index m, n, k reaches stays in bounds
    // for the strides computed from the same m, n, k.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &[f32], ta: Trans, b: &[f32], tb: Trans) -> Vec<f32> {
        let mut c = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    let av = if ta == Trans::N { a[i * k + p] } else { a[p * m + i] };
                    let bv = if tb == Trans::N { b[p * n + j] } else { b[j * k + p] };
                    s += av as f64 * bv as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    #[test]
    fn matmul_matches_naive_for_every_transpose_and_thread_count() {
        let (m, n, k) = (37, 53, 71);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7 % 13) as f32 - 6.0) / 7.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 3.0).collect();
        for ta in [Trans::N, Trans::T] {
            for tb in [Trans::N, Trans::T] {
                let want = naive(m, n, k, &a, ta, &b, tb);
                let mut one = vec![0.0; m * n];
                matmul(m, n, k, &a, ta, &b, tb, &mut one, false, 1);
                let mut two = vec![0.0; m * n];
                crate::threads::pool(2).install(|| matmul(m, n, k, &a, ta, &b, tb, &mut two, false, 2));
                for i in 0..m * n {
                    assert!((one[i] - want[i]).abs() < 1e-3, "{ta:?}{tb:?} at {i}");
                }
                assert_eq!(one, two, "1 and 2 threads agree");
                let mut acc = one.clone();
                matmul(m, n, k, &a, ta, &b, tb, &mut acc, true, 1);
                assert!((acc[5] - 2.0 * one[5]).abs() < 1e-3);
            }
        }
    }
}
