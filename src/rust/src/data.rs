//! Data held by the engine for a fit: R's column-major doubles/integers converted once
//! into row-major f32, checked for NA/NaN/Inf on the way.

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
}

/// Transpose `n x d` column-major values into row-major f32, failing on the first
/// missing or non-finite value (reported 1-based as R users index).
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
    let bad = |idx: usize| {
        let (r, c) = (idx % n.max(1), idx / n.max(1));
        RkError::Value(format!(
            "`{what}` has a missing or non-finite value at row {}, column {}",
            r + 1,
            c + 1
        ))
    };
    // Blocked transpose: a tile of rows stays in cache while columns stream through.
    const TILE: usize = 64;
    for r0 in (0..n).step_by(TILE) {
        let r1 = (r0 + TILE).min(n);
        for c in 0..d {
            let col = c * n;
            match v {
                RValues::Real(s) => {
                    for r in r0..r1 {
                        let x = s[col + r];
                        if !x.is_finite() {
                            return Err(bad(col + r));
                        }
                        out[r * d + c] = x as f32;
                    }
                }
                RValues::Int(s) => {
                    for r in r0..r1 {
                        let x = s[col + r];
                        if x == i32::MIN {
                            return Err(bad(col + r));
                        }
                        out[r * d + c] = x as f32;
                    }
                }
            }
        }
    }
    Ok(out)
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
    pub fn gather(&self, idx: &[usize], x: &mut Vec<f32>, y: &mut Vec<f32>, w: &mut Vec<f32>) {
        x.clear();
        y.clear();
        w.clear();
        for &i in idx {
            x.extend_from_slice(&self.x[i * self.d..(i + 1) * self.d]);
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
