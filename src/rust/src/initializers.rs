//! Weight initializers with Keras's formulas. Variance-scaling "normal" variants draw
//! from a normal truncated at two standard deviations, rescaled by 0.87962566 as Keras does.

use crate::error::{RkError, RkResult};
use crate::rng::Rng;

#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    Zeros,
    Ones,
    Constant(f64),
    RandomNormal {
        mean: f64,
        stddev: f64,
    },
    RandomUniform {
        min: f64,
        max: f64,
    },
    TruncatedNormal {
        mean: f64,
        stddev: f64,
    },
    /// A random orthogonal matrix `[fan_in, fan_out]` (rows or columns orthonormal) times `gain`.
    Orthogonal {
        gain: f64,
    },
    /// scale, mode (0 fan_in, 1 fan_out, 2 fan_avg), distribution (0 truncated normal, 1 uniform, 2 untruncated normal)
    VarianceScaling {
        scale: f64,
        mode: u8,
        distribution: u8,
    },
}

impl Init {
    /// Parse a name with its two numeric parameters (used by the parametrised ones).
    pub fn parse(name: &str, a: f64, b: f64) -> RkResult<Init> {
        let vs = |scale, mode, distribution| Init::VarianceScaling {
            scale,
            mode,
            distribution,
        };
        Ok(match name {
            "zeros" => Init::Zeros,
            "ones" => Init::Ones,
            "constant" => Init::Constant(a),
            "random_normal" | "normal" => Init::RandomNormal { mean: a, stddev: b },
            "random_uniform" | "uniform" => Init::RandomUniform { min: a, max: b },
            "truncated_normal" => Init::TruncatedNormal { mean: a, stddev: b },
            "orthogonal" => Init::Orthogonal {
                gain: if a == 0.0 { 1.0 } else { a },
            },
            "glorot_uniform" => vs(1.0, 2, 1),
            "glorot_normal" => vs(1.0, 2, 0),
            "he_uniform" => vs(2.0, 0, 1),
            "he_normal" => vs(2.0, 0, 0),
            "lecun_uniform" => vs(1.0, 0, 1),
            "lecun_normal" => vs(1.0, 0, 0),
            other => return Err(RkError::Spec(format!("unknown initializer '{other}'"))),
        })
    }

    pub fn fill(&self, out: &mut [f32], fan_in: usize, fan_out: usize, rng: &mut Rng) {
        let trunc = |rng: &mut Rng| loop {
            let v = rng.normal();
            if v.abs() <= 2.0 {
                break v;
            }
        };
        match *self {
            Init::Zeros => out.fill(0.0),
            Init::Ones => out.fill(1.0),
            Init::Constant(c) => out.fill(c as f32),
            Init::RandomNormal { mean, stddev } => out
                .iter_mut()
                .for_each(|v| *v = (mean + stddev * rng.normal()) as f32),
            Init::RandomUniform { min, max } => out
                .iter_mut()
                .for_each(|v| *v = (min + (max - min) * rng.uniform_f64()) as f32),
            Init::TruncatedNormal { mean, stddev } => out
                .iter_mut()
                .for_each(|v| *v = (mean + stddev * trunc(rng)) as f32),
            Init::Orthogonal { gain } => orthogonal(out, fan_in, fan_out, gain, rng),
            Init::VarianceScaling {
                scale,
                mode,
                distribution,
            } => {
                let fan = match mode {
                    0 => fan_in as f64,
                    1 => fan_out as f64,
                    _ => (fan_in + fan_out) as f64 / 2.0,
                }
                .max(1.0);
                let var = scale / fan;
                match distribution {
                    1 => {
                        let limit = (3.0 * var).sqrt();
                        out.iter_mut()
                            .for_each(|v| *v = (limit * (2.0 * rng.uniform_f64() - 1.0)) as f32)
                    }
                    0 => {
                        let sd = var.sqrt() / 0.879_625_661_034_239_8;
                        out.iter_mut().for_each(|v| *v = (sd * trunc(rng)) as f32)
                    }
                    _ => {
                        let sd = var.sqrt();
                        out.iter_mut().for_each(|v| *v = (sd * rng.normal()) as f32)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn glorot_uniform_stays_within_keras_limit_and_has_its_variance() {
        let mut rng = Rng::new(3);
        let mut w = vec![0.0f32; 784 * 256];
        Init::parse("glorot_uniform", 0.0, 0.0)
            .unwrap()
            .fill(&mut w, 784, 256, &mut rng);
        let limit = (6.0f32 / (784.0 + 256.0)).sqrt();
        assert!(w.iter().all(|v| v.abs() <= limit));
        let var = w.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / w.len() as f64;
        assert!((var - 2.0 / 1040.0).abs() < 1e-4, "{var}");
        let mut h = vec![0.0f32; 20000];
        Init::parse("he_normal", 0.0, 0.0)
            .unwrap()
            .fill(&mut h, 100, 200, &mut rng);
        let var = h.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / h.len() as f64;
        assert!((var - 0.02).abs() < 0.002, "{var}");
    }
}

/// Keras's orthogonal initializer: the Q of a QR decomposition of a normal matrix of shape
/// `(max(rows, cols), min(rows, cols))` with R's diagonal made positive (what Gram-Schmidt
/// gives), transposed when `rows < cols`, times `gain`; `out` is `[rows, cols]` row-major.
fn orthogonal(out: &mut [f32], rows: usize, cols: usize, gain: f64, rng: &mut Rng) {
    let (n, m) = (rows.max(cols), rows.min(cols));
    if n * m != out.len() || m == 0 {
        out.fill(0.0);
        return;
    }
    // Columns of an n x m normal matrix, made orthonormal in order (modified Gram-Schmidt).
    let mut q: Vec<Vec<f64>> = (0..m)
        .map(|_| (0..n).map(|_| rng.normal()).collect())
        .collect();
    for j in 0..m {
        for i in 0..j {
            let (done, rest) = q.split_at_mut(j);
            let dot: f64 = done[i].iter().zip(&rest[0]).map(|(a, b)| a * b).sum();
            rest[0]
                .iter_mut()
                .zip(&done[i])
                .for_each(|(v, a)| *v -= dot * a);
        }
        let norm = q[j].iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-300);
        q[j].iter_mut().for_each(|v| *v /= norm);
    }
    for r in 0..rows {
        for c in 0..cols {
            // Q is n x m with column j = q[j]; rows < cols takes its transpose.
            let v = if rows >= cols { q[c][r] } else { q[r][c] };
            out[r * cols + c] = (gain * v) as f32;
        }
    }
}

#[cfg(test)]
mod orthogonal_tests {
    use super::*;

    #[test]
    fn orthogonal_rows_or_columns_are_orthonormal_times_gain() {
        for (rows, cols) in [(4, 12), (12, 4), (5, 5)] {
            let mut w = vec![0.0f32; rows * cols];
            Init::Orthogonal { gain: 2.0 }.fill(&mut w, rows, cols, &mut Rng::new(3));
            // The shorter side's vectors: dot products 4 (gain^2) on the diagonal, 0 off it.
            let (n, m, stride_vec, stride_el) = if rows <= cols {
                (rows, cols, cols, 1)
            } else {
                (cols, rows, 1, cols)
            };
            for a in 0..n {
                for b in 0..n {
                    let dot: f32 = (0..m)
                        .map(|k| {
                            w[a * stride_vec + k * stride_el] * w[b * stride_vec + k * stride_el]
                        })
                        .sum();
                    let want = if a == b { 4.0 } else { 0.0 };
                    assert!((dot - want).abs() < 1e-4, "{rows}x{cols} {a},{b}: {dot}");
                }
            }
        }
    }
}
