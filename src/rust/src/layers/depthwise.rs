//! Depthwise and separable convolutions, channels-last: DepthwiseConv1D/2D and
//! SeparableConv1D/2D (the building blocks of MobileNet and Xception).
//!
//! # Shapes
//! Depthwise: input `[batch, h, w, c]` (1-d: `[batch, steps, c]`) -> `[batch, oh, ow, c * m]`,
//! `m` the depth multiplier: each channel is convolved with `m` kernels of its own, and
//! output channel `ci * m + j` is input channel `ci`'s `j`-th. `kernel [kh, kw, c, m]`
//! (1-d: `[k, c, m]`), `bias [c * m]`.
//! Separable: the depthwise convolution without bias, then a 1x1 convolution to `filters`
//! channels: `depthwise_kernel [kh, kw, c, m]`, `pointwise_kernel [1, 1, c * m, filters]`
//! (1-d: `[1, c * m, filters]`), `bias [filters]`.
//!
//! Work is split into blocks of whole samples whose size depends on shapes only, and
//! parameter gradients are summed over a fixed number of sample groups in order, so results
//! do not depend on the thread count.

use super::patches::{blocks, spatial, with_epilogue, with_scratch, Geometry, Padding, Shared};
use super::{one_input, shape_error};
use super::{Cache, Ctx, Layer, Param, Shape, Tensor};
use crate::activations::Act;
use crate::dense::chain::{add_penalty_grad, column_sums, penalty_sum};
use crate::error::RkResult;
use crate::initializers::Init;
use crate::rng::Rng;
use crate::tensor::{matmul, Trans};
use serde_json::Value;

/// Groups of samples whose parameter gradients are summed separately (then in order).
const GROUPS: usize = 16;

#[derive(Clone, Debug)]
pub struct Depthwise {
    pub(super) class: &'static str,
    /// 1 or 2 spatial axes.
    pub(super) rank: usize,
    pub(super) multiplier: usize,
    /// Output channels of the pointwise step: `Some` for a separable convolution.
    pub(super) filters: Option<usize>,
    pub(super) kernel: [usize; 2],
    pub(super) strides: [usize; 2],
    pub(super) dilation: [usize; 2],
    pub(super) padding: Padding,
    pub(super) act: Act,
    pub(super) use_bias: bool,
    pub(super) depthwise_init: Init,
    pub(super) pointwise_init: Init,
    pub(super) bias_init: Init,
    /// L1 and L2 factors of the depthwise and of the pointwise kernel.
    pub(super) depthwise_reg: (f64, f64),
    pub(super) pointwise_reg: (f64, f64),
    pub(super) seed: u64,
    pub(super) params: Vec<Param>,
}

/// Channels summed together in registers by [`dw_forward`].
const LANES: usize = 32;

crate::simd::multiversion! {
    /// Depthwise convolution of the samples `x` into `out` (overwritten): for each output
    /// position, the sum over the window's taps of input channel times its kernels, in tap
    /// order (with one kernel per channel, `LANES` channels at a time in registers).
    fn dw_forward(geo: &Geometry, m: usize, x: &[f32], k: &[f32], out: &mut [f32]) {
        let (c, cm, pos) = (geo.c, geo.c * m, geo.positions());
        let mut taps: Vec<(usize, usize)> = Vec::with_capacity(geo.kh * geo.kw);
        for (xs, os) in x
            .chunks_exact(geo.in_len())
            .zip(out.chunks_exact_mut(pos * cm))
        {
            for oy in 0..geo.oh {
                for ox in 0..geo.ow {
                    let o = &mut os[(oy * geo.ow + ox) * cm..][..cm];
                    taps.clear();
                    for ky in 0..geo.kh {
                        for kx in 0..geo.kw {
                            if let Some((iy, ix)) = geo.tap(oy, ox, ky, kx) {
                                taps.push(((iy * geo.w + ix) * c, (ky * geo.kw + kx) * cm));
                            }
                        }
                    }
                    if m == 1 {
                        let full = c - c % LANES;
                        for c0 in (0..full).step_by(LANES) {
                            let mut acc = [0.0f32; LANES];
                            for &(xo, ko) in &taps {
                                let xv: &[f32; LANES] = xs[xo + c0..][..LANES].try_into().expect("lanes");
                                let kv: &[f32; LANES] = k[ko + c0..][..LANES].try_into().expect("lanes");
                                for l in 0..LANES {
                                    acc[l] += xv[l] * kv[l];
                                }
                            }
                            o[c0..c0 + LANES].copy_from_slice(&acc);
                        }
                        let rest = &mut o[full..];
                        rest.fill(0.0);
                        for &(xo, ko) in &taps {
                            rest.iter_mut()
                                .zip(xs[xo + full..xo + c].iter().zip(&k[ko + full..ko + c]))
                                .for_each(|(o, (x, k))| *o += x * k);
                        }
                    } else {
                        o.fill(0.0);
                        for &(xo, ko) in &taps {
                            let (xv, kv) = (&xs[xo..][..c], &k[ko..][..cm]);
                            for ((oc, kc), &xv) in o.chunks_exact_mut(m).zip(kv.chunks_exact(m)).zip(xv) {
                                oc.iter_mut().zip(kc).for_each(|(o, k)| *o += xv * k);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The depthwise convolution's gradients given its output's gradient `dt`: added into the
/// kernel's `dk` and, when given, the input's `dx`.
fn dw_backward(
    geo: &Geometry,
    m: usize,
    (x, k): (&[f32], &[f32]),
    dt: &[f32],
    dk: &mut [f32],
    mut dx: Option<&mut [f32]>,
) {
    let (c, cm, pos, il) = (geo.c, geo.c * m, geo.positions(), geo.in_len());
    for (b, (xs, ds)) in x
        .chunks_exact(il)
        .zip(dt.chunks_exact(pos * cm))
        .enumerate()
    {
        for oy in 0..geo.oh {
            for ox in 0..geo.ow {
                let d = &ds[(oy * geo.ow + ox) * cm..][..cm];
                for ky in 0..geo.kh {
                    for kx in 0..geo.kw {
                        let Some((iy, ix)) = geo.tap(oy, ox, ky, kx) else {
                            continue;
                        };
                        let at = (iy * geo.w + ix) * c;
                        let xv = &xs[at..][..c];
                        let tap = (ky * geo.kw + kx) * cm;
                        for (ci, &xc) in xv.iter().enumerate() {
                            let dc = &d[ci * m..][..m];
                            let dkc = &mut dk[tap + ci * m..][..m];
                            dkc.iter_mut().zip(dc).for_each(|(g, d)| *g += xc * d);
                        }
                        if let Some(dx) = dx.as_deref_mut() {
                            let dxv = &mut dx[b * il + at..][..c];
                            let kv = &k[tap..][..cm];
                            if m == 1 {
                                dxv.iter_mut()
                                    .zip(kv.iter().zip(d))
                                    .for_each(|(g, (k, d))| *g += k * d);
                            } else {
                                for ((g, kc), dc) in dxv
                                    .iter_mut()
                                    .zip(kv.chunks_exact(m))
                                    .zip(d.chunks_exact(m))
                                {
                                    *g += kc.iter().zip(dc).map(|(k, d)| k * d).sum::<f32>();
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

impl Depthwise {
    fn in_channels(&self) -> usize {
        self.params
            .first()
            .map(|p| p.value.shape()[p.value.ndim() - 2])
            .unwrap_or(0)
    }

    /// Channels out of the layer for `c` channels in.
    fn out_channels(&self, c: usize) -> usize {
        self.filters.unwrap_or(c * self.multiplier)
    }

    fn geometry(&self, name: &str, shape: &[usize]) -> RkResult<(Geometry, Shape)> {
        let [h, w, c] = spatial(name, self.rank, &shape.to_vec())?;
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
        let f = self.out_channels(c);
        let out = if self.rank == 1 {
            vec![geo.ow, f]
        } else {
            vec![geo.oh, geo.ow, f]
        };
        Ok((geo, out))
    }

    /// Samples per block, so a block's intermediate values stay near 2 MiB.
    fn block_samples(&self, geo: &Geometry, batch: usize) -> usize {
        let per = (geo.positions() * (geo.c * self.multiplier).max(1) * 4).max(1);
        ((1usize << 21) / per).clamp(1, batch.max(1))
    }

    fn pointwise(&self) -> Option<&[f32]> {
        self.filters
            .map(|_| self.params[1].value.as_slice().expect("standard"))
    }

    fn bias(&self) -> Option<&[f32]> {
        self.use_bias.then(|| {
            self.params
                .last()
                .expect("built")
                .value
                .as_slice()
                .expect("standard")
        })
    }
}

impl Layer for Depthwise {
    fn class_name(&self) -> &'static str {
        self.class
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let s = one_input(name, inputs)?;
        let (geo, out) = self.geometry(name, s)?;
        let c = geo.c;
        if !self.params.is_empty() {
            if self.in_channels() != c {
                return Err(shape_error(
                    name,
                    format!("expects {} input channels, got {c}", self.in_channels()),
                ));
            }
            return Ok(out);
        }
        let cm = c * self.multiplier;
        let spatial_dims: Vec<usize> = self.kernel[2 - self.rank..].to_vec();
        let dshape = [spatial_dims.clone(), vec![c, self.multiplier]].concat();
        let n: usize = dshape.iter().product::<usize>() + cm * self.filters.unwrap_or(0);
        if n > (1 << 31) {
            return Err(shape_error(
                name,
                format!("would need {n} kernel weights, more than rkeras supports"),
            ));
        }
        // Keras's fans: receptive field times the kernel's last two axes.
        let rf: usize = spatial_dims.iter().product();
        let mut rng = Rng::new(self.seed);
        let mut draw = |shape: &[usize], init: &Init, fans: (usize, usize)| {
            let mut v = super::zeros(shape.iter().product());
            init.fill(&mut v, fans.0, fans.1, &mut rng);
            super::tensor(shape[0], &shape[1..], v)
        };
        let dk = draw(
            &dshape,
            &self.depthwise_init,
            (c * rf, self.multiplier * rf),
        )?;
        let dname = if self.filters.is_some() {
            "depthwise_kernel"
        } else {
            "kernel"
        };
        self.params = vec![Param {
            name: dname,
            value: dk,
            trainable: true,
        }];
        if let Some(f) = self.filters {
            let pshape = [vec![1; self.rank], vec![cm, f]].concat();
            self.params.push(Param {
                name: "pointwise_kernel",
                value: draw(&pshape, &self.pointwise_init, (cm, f))?,
                trainable: true,
            });
        }
        if self.use_bias {
            let nb = self.out_channels(c);
            self.params.push(Param {
                name: "bias",
                value: draw(&[nb], &self.bias_init, (c * rf, nb))?,
                trainable: true,
            });
        }
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
        if geo.c != self.in_channels() {
            return Err(shape_error(
                self.class,
                format!(
                    "expects {} input channels, got {}",
                    self.in_channels(),
                    geo.c
                ),
            ));
        }
        let (m, pos) = (self.multiplier, geo.positions());
        let (cm, f) = (geo.c * m, self.out_channels(geo.c));
        let (in_len, out_len) = (geo.in_len(), pos * f);
        let k = self.params[0].value.as_slice().expect("standard");
        let (pw, bias) = (self.pointwise(), self.bias());
        let xsl = x.as_slice().expect("standard");
        let keep_z = self.act.backward_needs_z();
        // Every block writes its part of the output.
        let mut a = super::output(batch * out_len);
        let mut z = super::zeros(if keep_z { batch * out_len } else { 0 });
        let bs = self.block_samples(&geo, batch);
        let inner = if batch <= bs { ctx.threads } else { 1 };
        let (as_, zs) = (Shared::new(&mut a), Shared::new(&mut z));
        blocks(batch, bs, ctx.threads, |s0, nb| {
            let xb = &xsl[s0 * in_len..(s0 + nb) * in_len];
            // SAFETY: blocks cover disjoint sample ranges.
            let ab = unsafe { as_.slice(s0 * out_len, nb * out_len) };
            let tlen = if pw.is_some() { nb * pos * cm } else { 0 };
            // SAFETY: as above.
            let keep = keep_z.then(|| unsafe { zs.slice(s0 * out_len, nb * out_len) });
            with_epilogue(
                (self.act, bias),
                &ctx.epilogue,
                f,
                ab,
                keep,
                tlen,
                |t, zb| match pw {
                    Some(p) => {
                        dw_forward(&geo, m, xb, k, t);
                        matmul(nb * pos, f, cm, t, Trans::N, p, Trans::N, zb, false, inner);
                    }
                    None => dw_forward(&geo, m, xb, k, zb),
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
        let (m, pos) = (self.multiplier, geo.positions());
        let (cm, f) = (geo.c * m, self.out_channels(geo.c));
        let (in_len, out_len) = (geo.in_len(), pos * f);
        let a = y.as_slice().expect("standard");
        let zc = cache
            .as_ref()
            .map(|z| z.as_slice().expect("standard"))
            .unwrap_or(a);
        let gs = Shared::new(g.as_slice_mut().expect("standard"));
        let k = self.params[0].value.as_slice().expect("standard");
        let pw = self.pointwise();
        let xsl = x.as_slice().expect("standard");
        let want_dx = ctx.input_grads;
        let mut dx = super::zeros(if want_dx { batch * in_len } else { 0 });
        let dxs = Shared::new(&mut dx);
        let bs = self.block_samples(&geo, batch);
        let group = batch.div_ceil(bs).div_ceil(GROUPS) * bs;
        let inner = if batch <= bs { ctx.threads } else { 1 };
        let partials = blocks(batch, group, ctx.threads, |g0, gn| {
            let mut dk = super::zeros(k.len());
            let mut dp = super::zeros(pw.map_or(0, |p| p.len()));
            let (mut db, mut sums) = (super::zeros(f), super::zeros(f));
            let tlen = if pw.is_some() { bs * pos * cm } else { 0 };
            with_scratch(tlen, tlen, |t, dtb| {
                for s0 in (g0..g0 + gn).step_by(bs) {
                    let nb = bs.min(g0 + gn - s0);
                    let (lo, hi) = (s0 * out_len, (s0 + nb) * out_len);
                    // SAFETY: blocks cover disjoint sample ranges of the gradient and of dx.
                    let dz = unsafe { gs.slice(lo, hi - lo) };
                    self.act.backward(&zc[lo..hi], &a[lo..hi], dz, f);
                    let dz: &[f32] = dz;
                    column_sums(dz, f, &mut sums);
                    db.iter_mut().zip(&sums).for_each(|(b, s)| *b += s);
                    let xb = &xsl[s0 * in_len..(s0 + nb) * in_len];
                    let rows = nb * pos;
                    let dt: &[f32] = match pw {
                        Some(p) => {
                            let (t, dtb) = (&mut t[..rows * cm], &mut dtb[..rows * cm]);
                            dw_forward(&geo, m, xb, k, t);
                            matmul(cm, f, rows, t, Trans::T, dz, Trans::N, &mut dp, true, inner);
                            matmul(rows, cm, f, dz, Trans::N, p, Trans::T, dtb, false, inner);
                            dtb
                        }
                        None => dz,
                    };
                    let dxb = want_dx.then(|| unsafe { dxs.slice(s0 * in_len, nb * in_len) });
                    dw_backward(&geo, m, (xb, k), dt, &mut dk, dxb);
                }
            });
            [dk, dp, db]
        });
        // Parameter gradients in `params()` order: depthwise, pointwise (separable), bias.
        let kinds: Vec<usize> = std::iter::once(0)
            .chain(pw.map(|_| 1))
            .chain(self.use_bias.then_some(2))
            .collect();
        for (pg, kind) in pgrads.iter_mut().zip(kinds) {
            let pg = pg.as_slice_mut().expect("standard");
            for part in &partials {
                pg.iter_mut().zip(&part[kind]).for_each(|(g, p)| *g += p);
            }
        }
        if !want_dx {
            return Ok(vec![Tensor::zeros(ndarray::IxDyn(&[0]))]);
        }
        Ok(vec![super::tensor(batch, &x.shape()[1..], dx)?])
    }

    fn penalty(&self, mut pgrads: Option<&mut [Tensor]>) -> f64 {
        let regs = [
            Some(self.depthwise_reg),
            self.filters.map(|_| self.pointwise_reg),
        ];
        let mut total = 0.0;
        for (i, reg) in regs.into_iter().enumerate() {
            let Some((l1, l2)) = reg.filter(|&(l1, l2)| l1 != 0.0 || l2 != 0.0) else {
                continue;
            };
            let w = self.params[i].value.as_slice().expect("standard");
            if let Some(g) = pgrads.as_deref_mut() {
                add_penalty_grad(
                    g[i].as_slice_mut().expect("standard"),
                    w,
                    l1 as f32,
                    l2 as f32,
                );
            }
            total += penalty_sum(w, l1, l2);
        }
        total
    }

    fn config(&self) -> Value {
        self.config_value()
    }
}
