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
    assert!(
        a.len() >= m * k && b.len() >= k * n && c.len() >= m * n,
        "matmul shapes"
    );
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
    let parts = if threads > 1 && m * n * k >= 1 << 18 {
        threads
    } else {
        1
    };
    // Split the output into `parts` blocks along its larger side and compute each block
    // with a single-threaded kernel: no reduction is split, so every thread count gives
    // bit-identical results, and no kernel-level threads spin between products.
    let along_n = n >= m;
    let extent = if along_n { n } else { m };
    let block = extent.div_ceil(parts).next_multiple_of(16).min(extent);
    let ptrs = Ptrs {
        a: a.as_ptr(),
        b: b.as_ptr(),
        c: c.as_mut_ptr(),
    };
    let run = |lo: usize| {
        let hi = (lo + block).min(extent);
        let p = &ptrs;
        // SAFETY: blocks are disjoint ranges of c's rows or columns; a and b are only read;
        // all offsets stay within the lengths asserted above.
        unsafe {
            if along_n {
                kernel(
                    m,
                    hi - lo,
                    k,
                    p.c.add(lo),
                    n as isize,
                    accumulate,
                    p.a,
                    a_rs,
                    a_cs,
                    p.b.offset(lo as isize * b_cs),
                    b_rs,
                    b_cs,
                );
            } else {
                kernel(
                    hi - lo,
                    n,
                    k,
                    p.c.add(lo * n),
                    n as isize,
                    accumulate,
                    p.a.offset(lo as isize * a_rs),
                    a_rs,
                    a_cs,
                    p.b,
                    b_rs,
                    b_cs,
                );
            }
        }
    };
    if parts == 1 || block >= extent {
        run(0);
    } else {
        use rayon::prelude::*;
        (0..extent)
            .step_by(block)
            .collect::<Vec<_>>()
            .into_par_iter()
            .for_each(run);
    }
}

/// Single-threaded `c = a' b'` (or `c += a' b'`) on matrices stored row-major inside larger
/// buffers, rows `lda`, `ldb` and `ldc` apart (a head's columns of a `[rows, heads * d]`
/// tensor). `a` is stored `[m, k]` (N) or `[k, m]` (T), `b` `[k, n]` (N) or `[n, k]` (T),
/// each slice starting at the matrix's first element.
///
/// # Panics
/// When a matrix reaches past its slice.
#[allow(clippy::too_many_arguments)]
pub fn matmul_ld(
    m: usize,
    n: usize,
    k: usize,
    (a, lda, ta): (&[f32], usize, Trans),
    (b, ldb, tb): (&[f32], usize, Trans),
    (c, ldc): (&mut [f32], usize),
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    let end = |rows: usize, cols: usize, ld: usize| (rows - 1) * ld + cols;
    let (a_rows, a_cols) = if ta == Trans::N { (m, k) } else { (k, m) };
    let (b_rows, b_cols) = if tb == Trans::N { (k, n) } else { (n, k) };
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                c[r * ldc..r * ldc + n].fill(0.0);
            }
        }
        return;
    }
    assert!(
        a.len() >= end(a_rows, a_cols, lda)
            && b.len() >= end(b_rows, b_cols, ldb)
            && c.len() >= end(m, n, ldc)
            && lda >= a_cols
            && ldb >= b_cols
            && ldc >= n,
        "matmul_ld shapes"
    );
    let (a_rs, a_cs) = match ta {
        Trans::N => (lda as isize, 1),
        Trans::T => (1, lda as isize),
    };
    let (b_rs, b_cs) = match tb {
        Trans::N => (ldb as isize, 1),
        Trans::T => (1, ldb as isize),
    };
    // SAFETY: the asserts above keep every element read or written inside its slice.
    unsafe {
        kernel(
            m,
            n,
            k,
            c.as_mut_ptr(),
            ldc as isize,
            accumulate,
            a.as_ptr(),
            a_rs,
            a_cs,
            b.as_ptr(),
            b_rs,
            b_cs,
        );
    }
}

/// Raw operand pointers shared by the blocks of one product.
struct Ptrs {
    a: *const f32,
    b: *const f32,
    c: *mut f32,
}
// SAFETY: each block writes a disjoint part of `c`; `a` and `b` are read-only.
unsafe impl Sync for Ptrs {}

/// Single-threaded `c[m, n] (+)= a b` with arbitrary strides (c row-major with row stride `c_rs`).
#[allow(clippy::too_many_arguments)]
unsafe fn kernel(
    m: usize,
    n: usize,
    k: usize,
    c: *mut f32,
    c_rs: isize,
    accumulate: bool,
    a: *const f32,
    a_rs: isize,
    a_cs: isize,
    b: *const f32,
    b_rs: isize,
    b_cs: isize,
) {
    gemm::gemm(
        m,
        n,
        k,
        c,
        1,
        c_rs,
        accumulate,
        a,
        a_cs,
        a_rs,
        b,
        b_cs,
        b_rs,
        1.0,
        1.0,
        false,
        false,
        false,
        Parallelism::None,
    );
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
                    let av = if ta == Trans::N {
                        a[i * k + p]
                    } else {
                        a[p * m + i]
                    };
                    let bv = if tb == Trans::N {
                        b[p * n + j]
                    } else {
                        b[j * k + p]
                    };
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
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 7.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 3.0)
            .collect();
        for ta in [Trans::N, Trans::T] {
            for tb in [Trans::N, Trans::T] {
                let want = naive(m, n, k, &a, ta, &b, tb);
                let mut one = vec![0.0; m * n];
                matmul(m, n, k, &a, ta, &b, tb, &mut one, false, 1);
                let mut two = vec![0.0; m * n];
                crate::threads::pool(2)
                    .install(|| matmul(m, n, k, &a, ta, &b, tb, &mut two, false, 2));
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
