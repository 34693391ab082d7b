//! Pooling, channels-last: MaxPooling1D/2D, AveragePooling1D/2D and their global forms.
//!
//! # Shapes
//! Pool: `[batch, h, w, c]` (1-d: `[batch, steps, c]`) -> `[batch, oh, ow, c]`.
//! Global: `[batch, ..., c]` -> `[batch, c]` (or `[batch, 1, ..., 1, c]` with `keepdims`).
//!
//! Max pooling sends each output's gradient to the first largest value of its window;
//! average pooling divides by the number of window positions inside the input (padding
//! positions do not count, as in Keras).

use super::patches::{blocks, spatial, tuple_field, Geometry, Padding, Shared};
use super::{field_or, one_input, shape_error, Cache, Ctx, Layer, Shape, Tensor};
use crate::error::{RkError, RkResult};
use crate::rng::Rng;
use serde_json::{json, Value};

/// Samples per block of pooling work.
const BLOCK: usize = 8;

#[derive(Clone, Debug)]
pub struct Pool {
    class: &'static str,
    rank: usize,
    max: bool,
    pool: [usize; 2],
    strides: [usize; 2],
    padding: Padding,
}

fn two(rank: usize, v: Vec<usize>) -> [usize; 2] {
    if rank == 1 {
        [1, v[0]]
    } else {
        [v[0], v[1]]
    }
}

impl Pool {
    pub fn from_config(class: &str, c: &Value) -> RkResult<Pool> {
        let (class, rank, max) = match class {
            "MaxPooling1D" => ("MaxPooling1D", 1, true),
            "MaxPooling2D" => ("MaxPooling2D", 2, true),
            "AveragePooling1D" => ("AveragePooling1D", 1, false),
            "AveragePooling2D" => ("AveragePooling2D", 2, false),
            other => return Err(RkError::Internal(format!("not a pooling layer: {other}"))),
        };
        super::channels_last(c, class)?;
        let pool = two(rank, tuple_field(c, class, "pool_size", rank, Some(2))?);
        // Keras: strides default to the pool size.
        let strides = match c.get("strides") {
            None | Some(Value::Null) => pool,
            Some(_) => two(rank, tuple_field(c, class, "strides", rank, None)?),
        };
        Ok(Pool {
            class,
            rank,
            max,
            pool,
            strides,
            padding: Padding::parse(c, class, false)?,
        })
    }

    fn geometry(&self, name: &str, shape: &Shape) -> RkResult<Geometry> {
        let [h, w, c] = spatial(name, self.rank, shape)?;
        Geometry::new(
            name,
            "pool",
            [h, w],
            c,
            self.pool,
            self.strides,
            [1, 1],
            self.padding,
        )
    }

    fn out_shape(&self, g: &Geometry) -> Shape {
        if self.rank == 1 {
            vec![g.ow, g.c]
        } else {
            vec![g.oh, g.ow, g.c]
        }
    }

    /// Visit each output position `(b, oy, ox)` of samples `xb` with its valid taps' offsets
    /// into the sample.
    fn windows(g: &Geometry, nb: usize, mut f: impl FnMut(usize, usize, &[usize])) {
        let mut taps = Vec::with_capacity(g.kh * g.kw);
        for b in 0..nb {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    taps.clear();
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            if let Some((iy, ix)) = g.tap(oy, ox, ky, kx) {
                                taps.push((iy * g.w + ix) * g.c);
                            }
                        }
                    }
                    f(b, (b * g.oh + oy) * g.ow + ox, &taps);
                }
            }
        }
    }
}

impl Layer for Pool {
    fn class_name(&self) -> &'static str {
        self.class
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let g = self.geometry(name, one_input(name, inputs)?)?;
        Ok(self.out_shape(&g))
    }

    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        let batch = x.shape()[0];
        let g = self.geometry(self.class, &x.shape()[1..].to_vec())?;
        let (c, in_len, out_len) = (g.c, g.in_len(), g.positions() * g.c);
        let xsl = x.as_slice().expect("standard");
        let mut y = super::zeros(batch * out_len);
        // Max pooling keeps, for backward, which tap of each window held the maximum.
        let keep_idx = self.max && ctx.backward;
        let mut idx = if keep_idx {
            super::zeros(batch * out_len)
        } else {
            Vec::new()
        };
        let (ys, is) = (Shared::new(&mut y), Shared::new(&mut idx));
        blocks(batch, BLOCK, ctx.threads, |s0, nb| {
            let xb = &xsl[s0 * in_len..(s0 + nb) * in_len];
            // SAFETY: blocks cover disjoint sample ranges.
            let yb = unsafe { ys.slice(s0 * out_len, nb * out_len) };
            let ib = if keep_idx {
                unsafe { is.slice(s0 * out_len, nb * out_len) }
            } else {
                &mut []
            };
            Pool::windows(&g, nb, |b, o, taps| {
                let xs = &xb[b * in_len..(b + 1) * in_len];
                let out = &mut yb[o * c..(o + 1) * c];
                if self.max {
                    out.copy_from_slice(&xs[taps[0]..taps[0] + c]);
                    if keep_idx {
                        // Which tap of the window holds the maximum (the first, on ties).
                        let oi = &mut ib[o * c..(o + 1) * c];
                        oi.fill(0.0);
                        for (k, &t) in taps.iter().enumerate().skip(1) {
                            let kf = k as f32;
                            for ((o, i), &v) in out.iter_mut().zip(oi.iter_mut()).zip(&xs[t..t + c])
                            {
                                let gt = v > *o;
                                *o = if gt { v } else { *o };
                                *i = if gt { kf } else { *i };
                            }
                        }
                    } else {
                        for &t in &taps[1..] {
                            out.iter_mut()
                                .zip(&xs[t..t + c])
                                .for_each(|(o, &v)| *o = o.max(v));
                        }
                    }
                } else {
                    for &t in taps {
                        out.iter_mut()
                            .zip(&xs[t..t + c])
                            .for_each(|(o, &v)| *o += v);
                    }
                    let inv = 1.0 / taps.len() as f32;
                    out.iter_mut().for_each(|o| *o *= inv);
                }
            });
        });
        let shape = self.out_shape(&g);
        let cache = if keep_idx {
            Some(super::tensor(batch, &shape, idx)?)
        } else {
            None
        };
        Ok((super::tensor(batch, &shape, y)?, cache))
    }

    fn backward(
        &self,
        xs: &[&Tensor],
        _y: &Tensor,
        cache: &Cache,
        g: Tensor,
        _pgrads: &mut [Tensor],
        ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        let x = xs[0];
        let batch = x.shape()[0];
        let geo = self.geometry(self.class, &x.shape()[1..].to_vec())?;
        let (c, in_len, out_len) = (geo.c, geo.in_len(), geo.positions() * geo.c);
        let xsl = x.as_slice().expect("standard");
        let gs = g.as_slice().expect("standard");
        let idx = cache.as_ref().map(|t| t.as_slice().expect("standard"));
        let mut dx = super::zeros(batch * in_len);
        let dxs = Shared::new(&mut dx);
        blocks(batch, BLOCK, ctx.threads, |s0, nb| {
            // SAFETY: blocks cover disjoint sample ranges.
            let db = unsafe { dxs.slice(s0 * in_len, nb * in_len) };
            let gb = &gs[s0 * out_len..(s0 + nb) * out_len];
            if let Some(idx) = idx {
                // Each output's gradient goes to the tap where forward found the maximum.
                let ib = &idx[s0 * out_len..(s0 + nb) * out_len];
                Pool::windows(&geo, nb, |b, o, taps| {
                    let ds = &mut db[b * in_len..(b + 1) * in_len];
                    let (go, io) = (&gb[o * c..(o + 1) * c], &ib[o * c..(o + 1) * c]);
                    for (ch, (&gv, &k)) in go.iter().zip(io).enumerate() {
                        ds[taps[k as usize] + ch] += gv;
                    }
                });
                return;
            }
            let xb = &xsl[s0 * in_len..(s0 + nb) * in_len];
            let mut best = vec![0usize; c];
            Pool::windows(&geo, nb, |b, o, taps| {
                let go = &gb[o * c..(o + 1) * c];
                let xs = &xb[b * in_len..(b + 1) * in_len];
                let ds = &mut db[b * in_len..(b + 1) * in_len];
                if self.max {
                    best.fill(taps[0]);
                    for &t in &taps[1..] {
                        for (ch, bi) in best.iter_mut().enumerate() {
                            if xs[t + ch] > xs[*bi + ch] {
                                *bi = t;
                            }
                        }
                    }
                    for (ch, &bi) in best.iter().enumerate() {
                        ds[bi + ch] += go[ch];
                    }
                } else {
                    let inv = 1.0 / taps.len() as f32;
                    for &t in taps {
                        ds[t..t + c]
                            .iter_mut()
                            .zip(go)
                            .for_each(|(d, &v)| *d += v * inv);
                    }
                }
            });
        });
        Ok(vec![super::tensor(batch, &x.shape()[1..], dx)?])
    }

    fn config(&self) -> Value {
        let t = |v: [usize; 2]| {
            if self.rank == 1 {
                json!([v[1]])
            } else {
                json!(v)
            }
        };
        json!({
            "pool_size": t(self.pool),
            "padding": self.padding.name(),
            "strides": t(self.strides),
            "data_format": "channels_last",
        })
    }
}

/// GlobalMaxPooling1D/2D and GlobalAveragePooling1D/2D.
#[derive(Clone, Debug)]
pub struct GlobalPool {
    class: &'static str,
    rank: usize,
    max: bool,
    keepdims: bool,
}

impl GlobalPool {
    pub fn from_config(class: &str, c: &Value) -> RkResult<GlobalPool> {
        let (class, rank, max) = match class {
            "GlobalMaxPooling1D" => ("GlobalMaxPooling1D", 1, true),
            "GlobalMaxPooling2D" => ("GlobalMaxPooling2D", 2, true),
            "GlobalAveragePooling1D" => ("GlobalAveragePooling1D", 1, false),
            "GlobalAveragePooling2D" => ("GlobalAveragePooling2D", 2, false),
            other => {
                return Err(RkError::Internal(format!(
                    "not a global pooling layer: {other}"
                )))
            }
        };
        super::channels_last(c, class)?;
        Ok(GlobalPool {
            class,
            rank,
            max,
            keepdims: field_or(c, class, "keepdims", false)?,
        })
    }

    /// Positions pooled and channels.
    fn dims(t: &Tensor) -> (usize, usize) {
        let c = *t.shape().last().expect("rank checked");
        (t.len() / t.shape()[0].max(1) / c.max(1), c)
    }
}

impl Layer for GlobalPool {
    fn class_name(&self) -> &'static str {
        self.class
    }

    fn build(&mut self, name: &str, inputs: &[Shape], _rng: &mut Rng) -> RkResult<Shape> {
        let s = one_input(name, inputs)?;
        if s.len() != self.rank + 1 {
            return Err(shape_error(
                name,
                format!(
                    "expects samples of rank {}, got shape {}",
                    self.rank + 1,
                    super::shape_string(s)
                ),
            ));
        }
        let c = *s.last().expect("rank checked");
        Ok(if self.keepdims {
            let mut o = vec![1; self.rank];
            o.push(c);
            o
        } else {
            vec![c]
        })
    }

    fn forward(&self, xs: &[&Tensor], ctx: &mut Ctx) -> RkResult<(Tensor, Cache)> {
        let x = xs[0];
        let batch = x.shape()[0];
        let (p, c) = GlobalPool::dims(x);
        let xsl = x.as_slice().expect("standard");
        if let Some(m) = self.step_mask(ctx, batch, p) {
            // Keras: the mean over the unmasked steps, sum(x * m) / sum(m).
            let mut y = vec![0.0f32; batch * c];
            for (b, yb) in y.chunks_exact_mut(c).enumerate() {
                let mut n = 0.0f32;
                for (row, &w) in xsl[b * p * c..(b + 1) * p * c]
                    .chunks_exact(c)
                    .zip(&m[b * p..(b + 1) * p])
                {
                    yb.iter_mut().zip(row).for_each(|(o, &v)| *o += v * w);
                    n += w;
                }
                yb.iter_mut().for_each(|o| *o /= n);
            }
            let shape = if self.keepdims { vec![1, c] } else { vec![c] };
            return Ok((super::tensor(batch, &shape, y)?, None));
        }
        let mut y = vec![if self.max { f32::NEG_INFINITY } else { 0.0 }; batch * c];
        let pool = |b: usize, yb: &mut [f32]| {
            for row in xsl[b * p * c..(b + 1) * p * c].chunks_exact(c) {
                if self.max {
                    yb.iter_mut().zip(row).for_each(|(o, &v)| *o = o.max(v));
                } else {
                    yb.iter_mut().zip(row).for_each(|(o, &v)| *o += v);
                }
            }
            if !self.max {
                yb.iter_mut().for_each(|o| *o /= p as f32);
            }
        };
        // Samples are independent: split them between the threads when there is work.
        if ctx.threads > 1 && x.len() > 1 << 18 {
            use rayon::prelude::*;
            y.par_chunks_exact_mut(c)
                .enumerate()
                .for_each(|(b, yb)| pool(b, yb));
        } else {
            for (b, yb) in y.chunks_exact_mut(c).enumerate() {
                pool(b, yb);
            }
        }
        let shape = if self.keepdims {
            let mut o = vec![1; self.rank];
            o.push(c);
            o
        } else {
            vec![c]
        };
        Ok((super::tensor(batch, &shape, y)?, None))
    }

    fn backward(
        &self,
        xs: &[&Tensor],
        y: &Tensor,
        _cache: &Cache,
        g: Tensor,
        _pgrads: &mut [Tensor],
        ctx: &mut Ctx,
    ) -> RkResult<Vec<Tensor>> {
        let x = xs[0];
        let batch = x.shape()[0];
        let (p, c) = GlobalPool::dims(x);
        let xsl = x.as_slice().expect("standard");
        let ys = y.as_slice().expect("standard");
        let gs = g.as_slice().expect("standard");
        if let Some(m) = self.step_mask(ctx, batch, p) {
            let mut dx = super::zeros(x.len());
            for b in 0..batch {
                let mb = &m[b * p..(b + 1) * p];
                let n: f32 = mb.iter().sum();
                let gb = &gs[b * c..(b + 1) * c];
                for (drow, &w) in dx[b * p * c..(b + 1) * p * c].chunks_exact_mut(c).zip(mb) {
                    drow.iter_mut().zip(gb).for_each(|(d, &v)| *d = v * w / n);
                }
            }
            return Ok(vec![super::tensor(batch, &x.shape()[1..], dx)?]);
        }
        if !self.max {
            // Every position gets its sample's gradient / p: written once, on all threads.
            let mut dx: Vec<f32> = Vec::with_capacity(x.len());
            {
                let spare = &mut dx.spare_capacity_mut()[..x.len()];
                let fill = |b: usize, db: &mut [std::mem::MaybeUninit<f32>]| {
                    let gb = &gs[b * c..(b + 1) * c];
                    for drow in db.chunks_exact_mut(c) {
                        drow.iter_mut().zip(gb).for_each(|(d, &v)| {
                            d.write(v / p as f32);
                        });
                    }
                };
                if ctx.threads > 1 && x.len() > 1 << 18 {
                    use rayon::prelude::*;
                    spare
                        .par_chunks_mut((p * c).max(1))
                        .enumerate()
                        .for_each(|(b, db)| fill(b, db));
                } else {
                    for (b, db) in spare.chunks_mut((p * c).max(1)).enumerate() {
                        fill(b, db);
                    }
                }
            }
            // SAFETY: every value was written above (batch * p * c of them).
            unsafe { dx.set_len(x.len()) };
            return Ok(vec![super::tensor(batch, &x.shape()[1..], dx)?]);
        }
        let mut dx = super::zeros(x.len());
        for b in 0..batch {
            let (yb, gb) = (&ys[b * c..(b + 1) * c], &gs[b * c..(b + 1) * c]);
            let xb = &xsl[b * p * c..(b + 1) * p * c];
            let db = &mut dx[b * p * c..(b + 1) * p * c];
            if self.max {
                // The first position holding each channel's maximum.
                let mut done = vec![false; c];
                for (row, drow) in xb.chunks_exact(c).zip(db.chunks_exact_mut(c)) {
                    for ch in 0..c {
                        if !done[ch] && row[ch] == yb[ch] {
                            drow[ch] = gb[ch];
                            done[ch] = true;
                        }
                    }
                }
            } else {
                for drow in db.chunks_exact_mut(c) {
                    drow.iter_mut()
                        .zip(gb)
                        .for_each(|(d, &v)| *d = v / p as f32);
                }
            }
        }
        Ok(vec![super::tensor(batch, &x.shape()[1..], dx)?])
    }

    fn config(&self) -> Value {
        json!({"data_format": "channels_last", "keepdims": self.keepdims})
    }

    fn averages_steps(&self) -> bool {
        !self.max && self.rank == 1 && !self.keepdims
    }
}

impl GlobalPool {
    /// The input's step mask, for the 1-d average (the one global pooling Keras masks).
    fn step_mask(&self, ctx: &Ctx, batch: usize, p: usize) -> Option<Vec<f32>> {
        let m = ctx.mask.as_ref()?;
        (!self.max && self.rank == 1 && m.len() == batch * p).then(|| m.iter().copied().collect())
    }
}
