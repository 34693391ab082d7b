//! Convolutions, channels-last: Conv1D, Conv2D, Conv1DTranspose and Conv2DTranspose.
//!
//! # Shapes
//! Conv: input `[batch, h, w, in]` (1-d: `[batch, steps, in]`) -> `[batch, oh, ow, filters]`;
//! `kernel [kh, kw, in, filters]` (1-d: `[k, in, filters]`), `bias [filters]`.
//! Transpose: input `[batch, h, w, in]` -> `[batch, oh, ow, filters]`, `kernel [kh, kw,
//! filters, in]`: the adjoint of the convolution from `[oh, ow, filters]` to `[h, w, in]`.
//!
//! # Products
//! With `P` the patch rows of the input (see [`super::patches`]) and `W` the kernel as a
//! `[kh * kw * in, filters]` matrix: `z = P W + b`, `dW = P' dz`, `dP = dz W'` (added back
//! onto the input by `col2im`). The transpose swaps the two directions. Work is split into
//! blocks of whole samples whose size depends on shapes only, and parameter gradients are
//! summed over a fixed number of sample groups in order, so results do not depend on the
//! thread count.

use super::patches::{blocks, spatial, with_epilogue, with_scratch, Geometry, Padding, Shared};
use super::{one_input, shape_error, Cache, Ctx, Layer, Param, Shape, Tensor};
use crate::activations::Act;
use crate::dense::chain::column_sums;
use crate::error::{RkError, RkResult};
use crate::initializers::Init;
use crate::rng::Rng;
use crate::tensor::{matmul, Trans};
use serde_json::Value;

/// Groups of samples whose parameter gradients are summed separately (then in order).
const GROUPS: usize = 16;

#[derive(Clone, Debug)]
pub struct Conv {
    pub(super) class: &'static str,
    /// 1 or 2 spatial axes.
    pub(super) rank: usize,
    pub(super) transpose: bool,
    pub(super) filters: usize,
    pub(super) kernel: [usize; 2],
    pub(super) strides: [usize; 2],
    pub(super) dilation: [usize; 2],
    pub(super) padding: Padding,
    pub(super) act: Act,
    pub(super) use_bias: bool,
    pub(super) kernel_init: Init,
    pub(super) bias_init: Init,
    pub(super) l1: f64,
    pub(super) l2: f64,
    pub(super) seed: u64,
    pub(super) params: Vec<Param>,
}

impl Conv {
    /// Input channels, once built.
    fn in_channels(&self) -> usize {
        self.params
            .first()
            .map(|p| {
                let s = p.value.shape();
                if self.transpose {
                    s[s.len() - 1]
                } else {
                    s[s.len() - 2]
                }
            })
            .unwrap_or(0)
    }

    /// Output spatial size of a transposed convolution of input size `n` along axis `a`.
    fn transpose_len(&self, n: usize, a: usize) -> usize {
        let keff = (self.kernel[a] - 1) * self.dilation[a] + 1;
        let s = self.strides[a];
        match self.padding {
            Padding::Same => n * s,
            _ => (n - 1) * s + keff.max(s),
        }
    }

    /// The window geometry for an input of per-sample shape `shape`: over the input for a
    /// convolution, over the output for a transpose. Returns it with the output's shape.
    fn geometry(&self, name: &str, shape: &[usize]) -> RkResult<(Geometry, Shape)> {
        let [h, w, c] = spatial(name, self.rank, &shape.to_vec())?;
        let (geo, oh, ow) = if self.transpose {
            let (oh, ow) = (self.transpose_len(h, 0), self.transpose_len(w, 1));
            let geo = Geometry::new(
                name,
                "kernel",
                [oh, ow],
                self.filters,
                self.kernel,
                self.strides,
                self.dilation,
                self.padding,
            )?;
            if (geo.oh, geo.ow) != (h, w) {
                return Err(RkError::Internal(format!(
                    "transposed geometry {}x{} for input {h}x{w}",
                    geo.oh, geo.ow
                )));
            }
            (geo, oh, ow)
        } else {
            let geo = Geometry::new(
                name,
                "kernel",
                [h, w],
                c,
                self.kernel,
                self.strides,
                self.dilation,
                self.padding,
            )?;
            (geo, geo.oh, geo.ow)
        };
        let out = if self.rank == 1 {
            vec![ow, self.filters]
        } else {
            vec![oh, ow, self.filters]
        };
        Ok((geo, out))
    }

    fn kernel_shape(&self, cin: usize) -> Vec<usize> {
        let [kh, kw] = self.kernel;
        let (a, b) = if self.transpose {
            (self.filters, cin)
        } else {
            (cin, self.filters)
        };
        if self.rank == 1 {
            vec![kw, a, b]
        } else {
            vec![kh, kw, a, b]
        }
    }

    /// Per sample: values in, values out, product rows, and the patch length.
    fn sizes(&self, geo: &Geometry, cin: usize) -> (usize, usize, usize) {
        if self.transpose {
            // Input positions are the geometry's output positions.
            (geo.positions() * cin, geo.in_len(), geo.positions())
        } else {
            (
                geo.in_len(),
                geo.positions() * self.filters,
                geo.positions(),
            )
        }
    }
}

impl Layer for Conv {
    fn class_name(&self) -> &'static str {
        self.class
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let s = one_input(name, inputs)?;
        let [_, _, cin] = spatial(name, self.rank, s)?;
        let (_, out) = self.geometry(name, s)?;
        if !self.params.is_empty() {
            if self.in_channels() != cin {
                return Err(shape_error(
                    name,
                    format!("expects {} input channels, got {cin}", self.in_channels()),
                ));
            }
            return Ok(out);
        }
        let shape = self.kernel_shape(cin);
        let n: usize = shape.iter().product();
        if n > (1 << 31) {
            return Err(shape_error(
                name,
                format!("would need {n} kernel weights, more than rkeras supports"),
            ));
        }
        // Keras's fans: receptive field times the kernel's last two axes.
        let rf = self.kernel[0] * self.kernel[1];
        let (fan_in, fan_out) = (shape[shape.len() - 2] * rf, shape[shape.len() - 1] * rf);
        self.params = super::kernel_and_bias(
            &shape,
            self.use_bias.then_some(self.filters),
            (fan_in, fan_out),
            &self.kernel_init,
            &self.bias_init,
            self.seed,
        )?;
        Ok(out)
    }

    fn takes_epilogue(&self) -> bool {
        true
    }

    fn params(&self) -> Vec<&Param> {
        self.params.iter().collect()
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.params.iter_mut().collect()
    }

    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        let batch = x.shape()[0];
        let (geo, out) = self.geometry(self.class, &x.shape()[1..])?;
        let cin = self.in_channels();
        let (f, plen) = (self.filters, geo.patch_len());
        let (in_len, out_len, rows) = self.sizes(&geo, cin);
        let w = self.params[0].value.as_slice().expect("standard");
        let bias = self
            .params
            .get(1)
            .map(|b| b.value.as_slice().expect("standard"));
        let xsl = x.as_slice().expect("standard");
        let keep_z = self.act.backward_needs_z();
        // Every block writes its part of the output.
        let mut a = super::output(batch * out_len);
        let mut z = if keep_z {
            super::zeros(batch * out_len)
        } else {
            Vec::new()
        };
        let bs = geo.block_samples(batch);
        let inner = if batch <= bs { ctx.threads } else { 1 };
        let (as_, zs) = (Shared::new(&mut a), Shared::new(&mut z));
        blocks(batch, bs, ctx.threads, |s0, nb| {
            let xb = &xsl[s0 * in_len..(s0 + nb) * in_len];
            let m = nb * rows;
            // SAFETY: blocks cover disjoint sample ranges.
            let ab = unsafe { as_.slice(s0 * out_len, nb * out_len) };
            let plen_needed = if geo.identity() && !self.transpose {
                0
            } else {
                m * plen
            };
            // SAFETY: as above.
            let keep = keep_z.then(|| unsafe { zs.slice(s0 * out_len, nb * out_len) });
            with_epilogue(
                (self.act, bias),
                &ctx.epilogue,
                f,
                ab,
                keep,
                plen_needed,
                |p, zb| {
                    if self.transpose {
                        matmul(m, plen, cin, xb, Trans::N, w, Trans::T, p, false, inner);
                        zb.fill(0.0);
                        geo.col2im(p, zb);
                    } else if geo.identity() {
                        matmul(m, f, plen, xb, Trans::N, w, Trans::N, zb, false, inner);
                    } else {
                        geo.im2col(xb, p);
                        matmul(m, f, plen, p, Trans::N, w, Trans::N, zb, false, inner);
                    }
                },
            );
        });
        let y = super::tensor(batch, &out, a)?;
        let cache = if keep_z {
            Some(super::tensor(batch, &out, z)?)
        } else {
            None
        };
        Ok((y, cache))
    }

    fn backward(
        &self,
        xs: &[&Tensor],
        y: &Tensor,
        cache: &Cache,
        mut g: Tensor,
        pgrads: &mut [Tensor],
        ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        let x = xs[0];
        let batch = x.shape()[0];
        let (geo, _) = self.geometry(self.class, &x.shape()[1..])?;
        let cin = self.in_channels();
        let (f, plen) = (self.filters, geo.patch_len());
        let (in_len, out_len, rows) = self.sizes(&geo, cin);
        let a = y.as_slice().expect("standard");
        let zc = cache
            .as_ref()
            .map(|z| z.as_slice().expect("standard"))
            .unwrap_or(a);
        let gs = Shared::new(g.as_slice_mut().expect("standard"));
        let w = self.params[0].value.as_slice().expect("standard");
        let xsl = x.as_slice().expect("standard");
        let want_dx = ctx.input_grads;
        let mut dx = super::zeros(if want_dx { batch * in_len } else { 0 });
        let dxs = Shared::new(&mut dx);
        let bs = geo.block_samples(batch);
        let nblocks = batch.div_ceil(bs);
        // Samples per group: a whole number of blocks, from shapes only.
        let group = nblocks.div_ceil(GROUPS) * bs;
        let inner = if batch <= bs { ctx.threads } else { 1 };
        let kn = w.len();
        let partials = blocks(batch, group, ctx.threads, |g0, gn| {
            let mut dw = super::zeros(kn);
            let mut db = super::zeros(f);
            let mut sums = super::zeros(f);
            with_scratch(bs * rows * plen, 0, |scratch, _| {
                for s0 in (g0..g0 + gn).step_by(bs) {
                    let nb = bs.min(g0 + gn - s0);
                    let m = nb * rows;
                    let (lo, hi) = (s0 * out_len, (s0 + nb) * out_len);
                    // SAFETY: blocks cover disjoint sample ranges of the gradient and of dx.
                    let dz = unsafe { gs.slice(lo, hi - lo) };
                    self.act.backward(&zc[lo..hi], &a[lo..hi], dz, f);
                    let dz: &[f32] = dz;
                    column_sums(dz, f, &mut sums);
                    db.iter_mut().zip(&sums).for_each(|(b, s)| *b += s);
                    let xb = &xsl[s0 * in_len..(s0 + nb) * in_len];
                    let buf = &mut scratch[..m * plen];
                    if self.transpose {
                        // Patches of the output gradient; dW [plen, cin] += P' x; dx = P W.
                        geo.im2col(dz, buf);
                        matmul(
                            plen,
                            cin,
                            m,
                            buf,
                            Trans::T,
                            xb,
                            Trans::N,
                            &mut dw,
                            true,
                            inner,
                        );
                        if want_dx {
                            let dxb = unsafe { dxs.slice(s0 * in_len, nb * in_len) };
                            matmul(m, cin, plen, buf, Trans::N, w, Trans::N, dxb, false, inner);
                        }
                        continue;
                    }
                    let p: &[f32] = if geo.identity() {
                        xb
                    } else {
                        geo.im2col(xb, buf);
                        buf
                    };
                    matmul(plen, f, m, p, Trans::T, dz, Trans::N, &mut dw, true, inner);
                    if want_dx {
                        let dxb = unsafe { dxs.slice(s0 * in_len, nb * in_len) };
                        if geo.identity() {
                            matmul(m, plen, f, dz, Trans::N, w, Trans::T, dxb, false, inner);
                        } else {
                            matmul(m, plen, f, dz, Trans::N, w, Trans::T, buf, false, inner);
                            geo.col2im(buf, dxb);
                        }
                    }
                }
            });
            (dw, db)
        });
        let gk = pgrads[0].as_slice_mut().expect("standard");
        for (dw, _) in &partials {
            gk.iter_mut().zip(dw).for_each(|(g, p)| *g += p);
        }
        if let Some(gb) = pgrads.get_mut(1) {
            for (_, db) in &partials {
                gb.iter_mut().zip(db).for_each(|(g, p)| *g += p);
            }
        }
        if !want_dx {
            return Ok(vec![Tensor::zeros(ndarray::IxDyn(&[0]))]);
        }
        Ok(vec![super::tensor(batch, &x.shape()[1..], dx)?])
    }

    fn penalty(&self, pgrads: Option<&mut [Tensor]>) -> f64 {
        super::kernel_penalty(&self.params, self.l1, self.l2, pgrads)
    }

    fn config(&self) -> Value {
        self.config_value()
    }
}
