//! `Embedding`: integer token ids `[batch, ...]` to rows of a trained table, `[batch, ...,
//! output_dim]`. Backward adds each position's gradient into its token's row; the ids get no
//! gradient.

use super::{
    field, field_or, kernel_penalty, refuse_unsupported, zeros, Cache, Ctx, Layer, Param, Shape,
    Tensor,
};
use crate::config::{init_from_value, init_to_value, reg_from_value, reg_to_value};
use crate::error::{RkError, RkResult};
use crate::initializers::Init;
use crate::rng::Rng;
use ndarray::IxDyn;
use serde_json::{json, Value};

#[derive(Clone, Debug)]
pub struct Embedding {
    input_dim: usize,
    output_dim: usize,
    init: Init,
    l1: f64,
    l2: f64,
    mask_zero: bool,
    seed: u64,
    params: Vec<Param>,
}

impl Embedding {
    pub fn from_config(c: &Value, seed: u64) -> RkResult<Embedding> {
        let cls = "Embedding";
        let input_dim: usize = field(c, cls, "input_dim")?;
        let output_dim: usize = field(c, cls, "output_dim")?;
        if input_dim == 0 || output_dim == 0 {
            return Err(RkError::Spec(
                "Embedding `input_dim` and `output_dim` must be positive".into(),
            ));
        }
        refuse_unsupported(c, cls, &["embeddings_constraint", "lora_rank"])?;
        let init = match c.get("embeddings_initializer") {
            None | Some(Value::Null) => Init::parse("uniform", -0.05, 0.05)?,
            Some(v) => init_from_value(v)?,
        };
        let (l1, l2) = reg_from_value(c.get("embeddings_regularizer").unwrap_or(&Value::Null))?;
        Ok(Embedding {
            input_dim,
            output_dim,
            init,
            l1,
            l2,
            mask_zero: field_or(c, cls, "mask_zero", false)?,
            seed,
            params: Vec::new(),
        })
    }

    /// Each id as a row number, or an error naming the sample and the id.
    fn rows(&self, x: &Tensor) -> RkResult<Vec<u32>> {
        let xs = x.as_slice().expect("standard layout");
        let lim = self.input_dim as f32;
        let mut out = Vec::with_capacity(xs.len());
        for &v in xs {
            if !(v >= 0.0 && v < lim) {
                break;
            }
            out.push(v as u32);
        }
        if out.len() == xs.len() {
            return Ok(out);
        }
        let i = out.len();
        let per_sample = xs.len() / x.shape()[0].max(1);
        Err(RkError::Value(format!(
            "Embedding: token id {} in row {} of the batch is outside [0, {}) (`input_dim` is {})",
            xs[i],
            i / per_sample.max(1) + 1,
            self.input_dim,
            self.input_dim
        )))
    }
}

/// Rows of the table gathered in order, `d` values each, on the engine's threads.
fn gather(table: &[f32], rows: &[u32], d: usize, threads: usize) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::with_capacity(rows.len() * d);
    {
        let spare = &mut out.spare_capacity_mut()[..rows.len() * d];
        let fill = |o: &mut [std::mem::MaybeUninit<f32>], r: &[u32]| {
            for (dst, &row) in o.chunks_exact_mut(d).zip(r) {
                let src = &table[row as usize * d..(row as usize + 1) * d];
                for (a, &b) in dst.iter_mut().zip(src) {
                    a.write(b);
                }
            }
        };
        const CHUNK: usize = 4096;
        if threads > 1 && rows.len() > 2 * CHUNK {
            use rayon::prelude::*;
            spare
                .par_chunks_mut(CHUNK * d)
                .zip(rows.par_chunks(CHUNK))
                .for_each(|(o, r)| fill(o, r));
        } else {
            fill(spare, rows);
        }
    }
    // SAFETY: every one of the rows.len() * d values was written just above.
    unsafe { out.set_len(rows.len() * d) };
    out
}

/// Add each position's gradient row into its token's row of `table`. The table's rows are
/// split into fixed parts by id, each part taking its positions in order: every row sums
/// its gradients in position order, whatever the thread count.
fn scatter_add(table: &mut [f32], rows: &[u32], g: &[f32], d: usize, threads: usize) {
    scatter_rows(table, rows, d, threads, |i| &g[i * d..(i + 1) * d]);
}

/// [`scatter_add`] with position `i`'s gradient row given by `grad(i)`. Past 8192 positions
/// the first and second halves of the positions add into two tables (the second a zeroed
/// copy, added in at the end), one per thread when there are two: the split depends on the
/// position count alone, so every thread count gives the same sums.
fn scatter_rows<'a, F>(table: &mut [f32], rows: &[u32], d: usize, threads: usize, grad: F)
where
    F: Fn(usize) -> &'a [f32] + Sync,
{
    let run = |lo: usize, hi: usize, t: &mut [f32]| {
        for (i, &r) in rows.iter().enumerate().take(hi).skip(lo) {
            let r = r as usize;
            t[r * d..(r + 1) * d]
                .iter_mut()
                .zip(grad(i))
                .for_each(|(a, &v)| *a += v);
        }
    };
    let n = rows.len();
    if n <= 8192 {
        run(0, n, table);
        return;
    }
    let half = n / 2;
    let mut other = zeros(table.len());
    if threads > 1 {
        rayon::join(|| run(0, half, table), || run(half, n, &mut other));
    } else {
        run(0, half, table);
        run(half, n, &mut other);
    }
    table.iter_mut().zip(&other).for_each(|(a, &v)| *a += v);
}

impl Layer for Embedding {
    fn class_name(&self) -> &'static str {
        "Embedding"
    }

    fn build(&mut self, _name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        if inputs.len() != 1 {
            return Err(RkError::Shape("Embedding takes one input".into()));
        }
        if self.params.is_empty() {
            let mut rng = Rng::new(self.seed);
            let mut table = zeros(self.input_dim * self.output_dim);
            self.init
                .fill(&mut table, self.input_dim, self.output_dim, &mut rng);
            self.params = vec![Param {
                name: "embeddings",
                value: Tensor::from_shape_vec(IxDyn(&[self.input_dim, self.output_dim]), table)
                    .map_err(|e| RkError::Internal(e.to_string()))?,
                trainable: true,
            }];
        }
        let mut out = inputs[0].clone();
        out.push(self.output_dim);
        Ok(out)
    }

    fn params(&self) -> Vec<&Param> {
        self.params.iter().collect()
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.params.iter_mut().collect()
    }

    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        let rows = self.rows(x)?;
        let d = self.output_dim;
        let table = self.params[0].value.as_slice().expect("standard layout");
        let out = gather(table, &rows, d, ctx.threads);
        let mut shape = x.shape().to_vec();
        shape.push(d);
        let y = Tensor::from_shape_vec(IxDyn(&shape), out)
            .map_err(|e| RkError::Internal(e.to_string()))?;
        Ok((y, None))
    }

    fn backward(
        &self,
        xs: &[&Tensor],
        _y: &Tensor,
        _cache: &Cache,
        g: Tensor,
        pgrads: &mut [Tensor],
        ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        let x = xs[0];
        // Forward checked these ids.
        let rows: Vec<u32> = x.iter().map(|&v| v as u32).collect();
        let d = self.output_dim;
        let g = g.as_standard_layout();
        let gs = g.as_slice().expect("standard layout");
        let gt = pgrads[0].as_slice_mut().expect("standard layout");
        scatter_add(gt, &rows, gs, d, ctx.threads);
        if !ctx.input_grads {
            return Ok(vec![Tensor::zeros(IxDyn(&[0]))]);
        }
        Ok(vec![Tensor::zeros(x.raw_dim())])
    }

    fn penalty(&self, pgrads: Option<&mut [Tensor]>) -> f64 {
        kernel_penalty(&self.params, self.l1, self.l2, pgrads)
    }

    /// With `mask_zero`, the steps whose id is not 0.
    fn compute_mask(&self, x: &Tensor, _mask: Option<&Tensor>) -> Option<Tensor> {
        self.mask_zero
            .then(|| x.mapv(|v| if v != 0.0 { 1.0 } else { 0.0 }))
    }

    fn masks_zero(&self) -> bool {
        self.mask_zero
    }

    /// Each sample's rows summed in step order and divided by the step count, as the
    /// pooling layer would compute them from the gathered output.
    fn step_mean_forward(&self, x: &Tensor, ctx: &mut Ctx) -> Option<RkResult<Tensor>> {
        if x.ndim() != 2 {
            return None;
        }
        Some((|| {
            let rows = self.rows(x)?;
            let (b, t, d) = (x.shape()[0], x.shape()[1], self.output_dim);
            let table = self.params[0].value.as_slice().expect("standard layout");
            let mut y = vec![0.0f32; b * d];
            let mean = |i: usize, yb: &mut [f32]| {
                for &r in &rows[i * t..(i + 1) * t] {
                    let src = &table[r as usize * d..(r as usize + 1) * d];
                    yb.iter_mut().zip(src).for_each(|(o, &v)| *o += v);
                }
                yb.iter_mut().for_each(|o| *o /= t as f32);
            };
            if ctx.threads > 1 && b * t * d > 1 << 18 {
                use rayon::prelude::*;
                y.par_chunks_exact_mut(d.max(1))
                    .enumerate()
                    .for_each(|(i, yb)| mean(i, yb));
            } else {
                for (i, yb) in y.chunks_exact_mut(d.max(1)).enumerate() {
                    mean(i, yb);
                }
            }
            Tensor::from_shape_vec(IxDyn(&[b, d]), y).map_err(|e| RkError::Internal(e.to_string()))
        })())
    }

    /// Every position adds its sample's gradient / steps into its token's row, in position
    /// order (the same sums as the pooling layer's gradient scattered by backward).
    fn step_mean_backward(
        &self,
        x: &Tensor,
        g: &Tensor,
        pgrads: &mut [Tensor],
        ctx: &mut Ctx,
    ) -> Option<RkResult<()>> {
        if x.ndim() != 2 {
            return None;
        }
        let (t, d) = (x.shape()[1], self.output_dim);
        let rows: Vec<u32> = x.iter().map(|&v| v as u32).collect();
        let g = g.as_standard_layout();
        let gs = g.as_slice().expect("standard layout");
        let per_step: Vec<f32> = gs.iter().map(|&v| v / t as f32).collect();
        let gt = pgrads[0].as_slice_mut().expect("standard layout");
        scatter_rows(gt, &rows, d, ctx.threads, |i| {
            &per_step[(i / t) * d..(i / t + 1) * d]
        });
        Some(Ok(()))
    }

    fn config(&self) -> Value {
        json!({
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": init_to_value(&self.init),
            "embeddings_regularizer": reg_to_value(self.l1, self.l2),
            "activity_regularizer": null,
            "embeddings_constraint": null,
            "mask_zero": self.mask_zero,
        })
    }
}

#[cfg(test)]
mod scatter_tests {
    use super::scatter_rows;

    #[test]
    fn large_scatters_split_in_two_halves_give_the_sums_on_any_thread_count() {
        // 20,000 positions over 50 rows of 3: past 8192 positions the two halves add into two
        // tables.
        let (n, rows_n, d) = (20_000usize, 50usize, 3usize);
        let rows: Vec<u32> = (0..n).map(|i| ((i * 7919) % rows_n) as u32).collect();
        let g: Vec<f32> = (0..n * d).map(|i| ((i % 13) as f32 - 6.0) / 7.0).collect();
        let mut want = vec![0.0f64; rows_n * d];
        for (i, &r) in rows.iter().enumerate() {
            for j in 0..d {
                want[r as usize * d + j] += g[i * d + j] as f64;
            }
        }
        let run = |threads: usize| {
            let mut t = vec![0.5f32; rows_n * d];
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| scatter_rows(&mut t, &rows, d, threads, |i| &g[i * d..(i + 1) * d]));
            t
        };
        let (one, two) = (run(1), run(2));
        assert_eq!(one, two);
        for (got, want) in one.iter().zip(&want) {
            assert!((*got as f64 - 0.5 - want).abs() < 1e-3, "{got} vs {want}");
        }
    }
}
