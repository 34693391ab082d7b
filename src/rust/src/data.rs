//! Data held by the engine for a fit: R's column-major doubles/integers converted once
//! into row-major f32, checked for NA/NaN/Inf on the way.

use crate::dense::infer::Layout;
use crate::dense::kernel::MR;
use crate::error::{RkError, RkResult};

#[derive(Clone, Debug, Default)]
pub struct Dataset {
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub w: Option<Vec<f32>>,
    pub n: usize,
    pub d: usize,
    pub yc: usize,
}

/// Column-major R values (doubles or integers) of an `n x d` matrix.
#[derive(Clone, Copy)]
pub enum RValues<'a> {
    Real(&'a [f64]),
    Int(&'a [i32]),
}

impl RValues<'_> {
    pub fn len(&self) -> usize {
        match self {
            RValues::Real(v) => v.len(),
            RValues::Int(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i` as f64 (an integer NA as NaN).
    pub fn get(&self, i: usize) -> f64 {
        match self {
            RValues::Real(v) => v[i],
            RValues::Int(v) if v[i] == i32::MIN => f64::NAN,
            RValues::Int(v) => v[i] as f64,
        }
    }

    /// Whether every value is finite (no NA, NaN or Inf; no NA for integers).
    pub fn all_finite(&self) -> bool {
        match self {
            RValues::Real(s) => all_finite(s),
            RValues::Int(s) => !s.contains(&i32::MIN),
        }
    }
}

/// Whether `values` values are worth splitting between two threads of the current pool.
fn worth_splitting(values: usize) -> bool {
    values >= 1 << 16 && rayon::current_num_threads() > 1
}

/// Transpose `n x d` column-major values into row-major f32, failing on the first
/// missing or non-finite value (reported 1-based as R users index). Row tiles are converted
/// in parallel on the current rayon pool.
pub fn to_row_major(what: &str, v: RValues, n: usize, d: usize) -> RkResult<Vec<f32>> {
    let total = n
        .checked_mul(d)
        .ok_or_else(|| RkError::Value(format!("`{what}` is too large")))?;
    if v.len() != total {
        return Err(RkError::Shape(format!(
            "`{what}` has {} values, expected {n} x {d}",
            v.len()
        )));
    }
    let mut out = vec![0.0f32; total];
    if total == 0 {
        return Ok(out);
    }
    // Tiles of 256 rows: each column's segment is read whole, and the tile's rows stay
    // in cache while the columns stream through. Each tile checks its values as it converts
    // them; only when one fails is the whole input scanned for the first bad value.
    const TILE: usize = 256;
    let fill = |t: usize, tile: &mut [f32]| {
        let r0 = t * TILE;
        rows_block(v, n, d, r0, r0 + tile.len() / d, tile)
    };
    let finite = if worth_splitting(total) {
        use rayon::prelude::*;
        out.par_chunks_mut(TILE * d)
            .enumerate()
            .map(|(t, tile)| fill(t, tile))
            .reduce(|| true, |a, b| a && b)
    } else {
        out.chunks_mut(TILE * d)
            .enumerate()
            .fold(true, |ok, (t, tile)| fill(t, tile) && ok)
    };
    if !finite {
        check_finite(what, v, n)?;
    }
    Ok(out)
}

crate::simd::multiversion! {
    /// Whether every value is finite (no NA, NaN or Inf), in one vectorised pass: `x * 0` is
    /// zero exactly for finite `x`, summed in 16 independent lanes (one running sum would
    /// wait on each addition).
    fn all_finite_scan(s: &[f64], out: &mut bool) {
        let mut acc = [0.0f64; 16];
        let mut chunks = s.chunks_exact(16);
        for c in &mut chunks {
            for k in 0..16 {
                acc[k] += c[k] * 0.0;
            }
        }
        for (k, &x) in chunks.remainder().iter().enumerate() {
            acc[k] += x * 0.0;
        }
        *out = acc.iter().all(|&a| a == 0.0);
    }
}

/// Whether every value is finite (no NA, NaN or Inf).
pub fn all_finite(s: &[f64]) -> bool {
    let mut ok = true;
    all_finite_scan(s, &mut ok);
    ok
}

/// Rows `r0..r1` of an `n x d` column-major R matrix into row-major f32 `out`; returns
/// whether every value was finite (not NA for integers).
fn rows_block(v: RValues, n: usize, d: usize, r0: usize, r1: usize, out: &mut [f32]) -> bool {
    let rows = r1 - r0;
    match v {
        RValues::Real(s) => {
            let mut finite = true;
            real_rows_block(s, n, d, r0, rows, out, &mut finite);
            finite
        }
        RValues::Int(s) => {
            let mut na = false;
            for c in 0..d {
                let col = c * n + r0;
                for (r, &x) in s[col..col + rows].iter().enumerate() {
                    out[r * d + c] = x as f32;
                    na |= x == i32::MIN;
                }
            }
            !na
        }
    }
}

crate::simd::multiversion! {
    /// Doubles to f32 rows, 8 columns at a time so each row receives one contiguous write,
    /// noting whether every value was finite (`x * 0` is zero exactly for finite `x`).
    fn real_rows_block(s: &[f64], n: usize, d: usize, r0: usize, rows: usize, out: &mut [f32], finite: &mut bool) {
        let mut acc = [0.0f64; 8];
        let mut c0 = 0;
        while c0 + 8 <= d {
            let cols: [&[f64]; 8] = std::array::from_fn(|k| &s[(c0 + k) * n + r0..(c0 + k) * n + r0 + rows]);
            for (r, o) in out.chunks_exact_mut(d).take(rows).enumerate() {
                let o = &mut o[c0..c0 + 8];
                for k in 0..8 {
                    o[k] = cols[k][r] as f32;
                    acc[k] += cols[k][r] * 0.0;
                }
            }
            c0 += 8;
        }
        for c in c0..d {
            let col = c * n + r0;
            for (r, &x) in s[col..col + rows].iter().enumerate() {
                out[r * d + c] = x as f32;
                acc[0] += x * 0.0;
            }
        }
        *finite &= acc.iter().all(|&a| a == 0.0);
    }
}

/// Rows `r0..r1` of an `n x d` column-major R matrix as f32 into `out` in `layout`, checking
/// them on the way. Returns whether every value was finite (the caller locates a bad one
/// with [`check_finite`]).
#[allow(clippy::too_many_arguments)]
pub fn fill_rows(
    v: RValues,
    n: usize,
    d: usize,
    r0: usize,
    r1: usize,
    layout: Layout,
    out: &mut [f32],
) -> bool {
    match layout {
        Layout::Rows => rows_block(v, n, d, r0, r1, out),
        Layout::Panels => {
            let mut finite = true;
            match v {
                RValues::Real(s) => panels_real(s, n, d, r0, r1 - r0, out, &mut finite),
                RValues::Int(s) => panels_int(s, n, d, r0, r1 - r0, out, &mut finite),
            }
            finite
        }
    }
}

/// Rows `from..` of an `n x d` column-major R matrix as the input of tiled inference: each
/// tile is converted and checked when a worker needs it. A bad value fails the tile (the
/// caller locates it with [`check_finite`]).
pub struct RowSource<'a> {
    pub v: RValues<'a>,
    pub n: usize,
    pub d: usize,
    pub from: usize,
}

impl RowSource<'_> {
    /// Rows `r0..r1` (relative to `from`) into `buf` in `layout`.
    pub fn fill(&self, r0: usize, r1: usize, layout: Layout, buf: &mut [f32]) -> RkResult<()> {
        let (a, b) = (self.from + r0, self.from + r1);
        match fill_rows(self.v, self.n, self.d, a, b, layout, buf) {
            true => Ok(()),
            false => Err(RkError::Value(
                "`x` has a missing or non-finite value".into(),
            )),
        }
    }
}

/// How many columns ahead [`panels_real`] prefetches.
const PREFETCH_AHEAD: usize = 4;

crate::simd::multiversion! {
    /// Rows `r0..r0 + rows` of column-major doubles into panel-major f32 (`kernel.rs`), column
    /// by column (contiguous reads), each column's rows cut into blocks of `MR`; rows past
    /// the end of the last block are zero.
    fn panels_real(s: &[f64], n: usize, d: usize, r0: usize, rows: usize, out: &mut [f32], finite: &mut bool) {
        let full = rows / MR;
        let stride = d * MR;
        let mut acc = [0.0f64; MR];
        for c in 0..d {
            let col = &s[c * n + r0..c * n + r0 + rows];
            // Each column's segment starts a new stream (usually on a new page): ask for the
            // segment a few columns ahead while this one converts.
            #[cfg(target_arch = "x86_64")]
            if c + PREFETCH_AHEAD < d {
                let ahead = &s[(c + PREFETCH_AHEAD) * n + r0..(c + PREFETCH_AHEAD) * n + r0 + rows];
                for line in ahead.chunks(8) {
                    // SAFETY: a prefetch is only a hint; the address is inside `s`. (The
                    // block is needed in the baseline copy of this function only.)
                    #[allow(unused_unsafe)]
                    unsafe {
                        std::arch::x86_64::_mm_prefetch(line.as_ptr() as *const i8, std::arch::x86_64::_MM_HINT_T0)
                    };
                }
            }
            for b in 0..full {
                let x = &col[b * MR..b * MR + MR];
                let o = &mut out[b * stride + c * MR..b * stride + c * MR + MR];
                for k in 0..MR {
                    o[k] = x[k] as f32;
                    acc[k] += x[k] * 0.0;
                }
            }
            if full * MR < rows {
                let x = &col[full * MR..];
                let o = &mut out[full * stride + c * MR..full * stride + c * MR + MR];
                for k in 0..MR {
                    let v = x.get(k).copied().unwrap_or(0.0);
                    o[k] = v as f32;
                    acc[k] += v * 0.0;
                }
            }
        }
        *finite &= acc.iter().all(|a| *a == 0.0);
    }
}

crate::simd::multiversion! {
    /// [`panels_real`] for integers, noting whether any was `NA`.
    fn panels_int(s: &[i32], n: usize, d: usize, r0: usize, rows: usize, out: &mut [f32], finite: &mut bool) {
        let stride = d * MR;
        let mut na = false;
        for c in 0..d {
            let col = &s[c * n + r0..c * n + r0 + rows];
            for b in 0..rows.div_ceil(MR) {
                let o = &mut out[b * stride + c * MR..b * stride + c * MR + MR];
                for (k, o) in o.iter_mut().enumerate() {
                    let v = col.get(b * MR + k).copied().unwrap_or(0);
                    *o = v as f32;
                    na |= v == i32::MIN;
                }
            }
        }
        *finite &= !na;
    }
}

/// Check that every value is finite, reporting the first bad one as R users index it.
pub fn check_finite(what: &str, v: RValues, n: usize) -> RkResult<()> {
    if v.all_finite() {
        return Ok(());
    }
    let idx = match v {
        RValues::Real(s) => s.iter().position(|x| !x.is_finite()),
        RValues::Int(s) => s.iter().position(|&x| x == i32::MIN),
    }
    .unwrap_or(0);
    let (r, c) = (idx % n.max(1), idx / n.max(1));
    Err(RkError::Value(format!(
        "`{what}` has a missing or non-finite value at row {}, column {}",
        r + 1,
        c + 1
    )))
}

/// Row-major f32 `[n, d]` to R's column-major f64.
pub fn to_col_major(v: &[f32], n: usize, d: usize) -> Vec<f64> {
    let mut out = vec![0.0f64; n * d];
    for r in 0..n {
        for c in 0..d {
            out[c * n + r] = v[r * d + c] as f64;
        }
    }
    out
}

impl Dataset {
    /// Gather the rows `idx` into `x`, `y`, `w` buffers (reused between steps).
    /// Large batches of `x` are copied by two threads of the current pool, half each.
    pub fn gather(&self, idx: &[usize], x: &mut Vec<f32>, y: &mut Vec<f32>, w: &mut Vec<f32>) {
        let d = self.d;
        x.resize(idx.len() * d, 0.0);
        let copy = |rows: &[usize], out: &mut [f32]| {
            for (&i, o) in rows.iter().zip(out.chunks_exact_mut(d.max(1))) {
                o.copy_from_slice(&self.x[i * d..(i + 1) * d]);
            }
        };
        if worth_splitting(idx.len() * d) {
            let half = idx.len() / 2;
            let (a, b) = x.split_at_mut(half * d);
            rayon::join(|| copy(&idx[..half], a), || copy(&idx[half..], b));
        } else {
            copy(idx, x);
        }
        y.clear();
        w.clear();
        for &i in idx {
            y.extend_from_slice(&self.y[i * self.yc..(i + 1) * self.yc]);
            if let Some(sw) = &self.w {
                w.push(sw[i]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_checks_every_tile_and_column_on_any_thread_count() {
        // 300 x 250: two tiles of rows, 31 groups of 8 columns and 2 columns left over.
        let (n, d) = (300usize, 250usize);
        let v: Vec<f64> = (0..n * d).map(|i| (i % 97) as f64 - 48.0).collect();
        for threads in [1, 2] {
            let pool = crate::threads::pool(threads);
            let ok = pool
                .install(|| to_row_major("x", RValues::Real(&v), n, d))
                .unwrap();
            assert_eq!(ok[299 * d + 249], v[249 * n + 299] as f32);
            for (r, c, bad) in [
                (0, 0, f64::NAN),
                (299, 249, f64::INFINITY),
                (257, 100, f64::NEG_INFINITY),
            ] {
                let mut w = v.clone();
                w[c * n + r] = bad;
                let e = pool
                    .install(|| to_row_major("x", RValues::Real(&w), n, d))
                    .unwrap_err();
                let want = format!("row {}, column {}", r + 1, c + 1);
                assert!(
                    e.message().contains(&want),
                    "{threads} threads: {e} (want {want})"
                );
            }
        }
        let mut ints: Vec<i32> = (0..n as i32 * 3).collect();
        ints[2 * n + 5] = i32::MIN;
        let e = to_row_major("x", RValues::Int(&ints), n, 3).unwrap_err();
        assert!(e.message().contains("row 6, column 3"), "{e}");
    }

    #[test]
    fn gather_copies_the_rows_in_order_on_any_thread_count() {
        let (n, d) = (500usize, 300usize);
        let ds = Dataset {
            x: (0..n * d).map(|i| i as f32).collect(),
            y: (0..n * 2).map(|i| -(i as f32)).collect(),
            w: Some((0..n).map(|i| i as f32 / 2.0).collect()),
            n,
            d,
            yc: 2,
        };
        for idx in [vec![3usize, 499, 0, 7], (0..n).rev().step_by(2).collect()] {
            for threads in [1, 2] {
                let (mut x, mut y, mut w) = (vec![9.0; 5], Vec::new(), Vec::new());
                crate::threads::pool(threads).install(|| ds.gather(&idx, &mut x, &mut y, &mut w));
                assert_eq!(x.len(), idx.len() * d);
                for (k, &i) in idx.iter().enumerate() {
                    assert_eq!(&x[k * d..(k + 1) * d], &ds.x[i * d..(i + 1) * d]);
                    assert_eq!(&y[k * 2..k * 2 + 2], &ds.y[i * 2..i * 2 + 2]);
                    assert_eq!(w[k], i as f32 / 2.0);
                }
            }
        }
    }

    #[test]
    fn all_finite_finds_a_bad_value_in_any_lane_and_the_tail() {
        for n in [0usize, 1, 15, 16, 17, 33, 40] {
            let good: Vec<f64> = (0..n).map(|i| i as f64 * 1e300).collect();
            assert!(all_finite(&good), "n {n}");
            for i in 0..n {
                for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                    let mut v = good.clone();
                    v[i] = bad;
                    assert!(!all_finite(&v), "n {n}, position {i}, {bad}");
                }
            }
        }
    }
    #[test]
    fn transpose_keeps_logical_indices_and_reports_na() {
        // R matrix(1:6, 2): rows (1,3,5), (2,4,6).
        let v: Vec<f64> = (1..=6).map(|x| x as f64).collect();
        assert_eq!(
            to_row_major("x", RValues::Real(&v), 2, 3).unwrap(),
            vec![1.0, 3.0, 5.0, 2.0, 4.0, 6.0]
        );
        let back = to_col_major(&[1.0, 3.0, 5.0, 2.0, 4.0, 6.0], 2, 3);
        assert_eq!(back, v);
        let mut bad = v.clone();
        bad[3] = f64::NAN;
        let e = to_row_major("x", RValues::Real(&bad), 2, 3).unwrap_err();
        assert!(e.message().contains("row 2, column 2"), "{e}");
        assert!(to_row_major("x", RValues::Int(&[1, i32::MIN]), 2, 1).is_err());
    }
}
