//! The affine resampling of Keras 2's `ImageDataGenerator`: each output pixel `o` reads the
//! input at `A o + b` (rows, columns), interpolated linearly between the four nearest pixels
//! with the boundary rules of `scipy.ndimage.affine_transform(order = 1)`, which Keras calls.
//! Images arrive as R's column-major `(samples, height, width, channels)` array.

use crate::error::{RkError, RkResult};

/// How coordinates outside the image read it (`fill_mode`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FillMode {
    /// `kkkk|abcd|kkkk`: `cval` outside; no interpolation beyond the edge pixels' centres.
    Constant,
    /// `aaaa|abcd|dddd`.
    Nearest,
    /// `dcba|abcd|dcba` (mirrored about the image's edge).
    Reflect,
    /// scipy's `"wrap"`: periodic with period `len - 1` (its historical definition).
    Wrap,
}

impl FillMode {
    pub fn parse(s: &str) -> RkResult<Self> {
        match s {
            "constant" => Ok(Self::Constant),
            "nearest" => Ok(Self::Nearest),
            "reflect" => Ok(Self::Reflect),
            "wrap" => Ok(Self::Wrap),
            _ => Err(RkError::Value(format!(
                "unknown fill mode \"{s}\": expected \"constant\", \"nearest\", \"reflect\" or \"wrap\""
            ))),
        }
    }
}

/// A coordinate outside `0..=len-1` brought inside as scipy's `map_coordinate()` does;
/// `None` for the constant fill.
fn map_coordinate(c: f64, len: usize, mode: FillMode) -> Option<f64> {
    let n = len as f64;
    if (0.0..=n - 1.0).contains(&c) {
        return Some(c);
    }
    if mode == FillMode::Constant {
        return None;
    }
    if len <= 1 {
        return Some(0.0);
    }
    let (sz, sz2) = (n - 1.0, 2.0 * n);
    Some(match (mode, c < 0.0) {
        (FillMode::Nearest, below) => {
            if below {
                0.0
            } else {
                n - 1.0
            }
        }
        (FillMode::Reflect, true) => {
            let c = if c < -sz2 {
                c + sz2 * (-c / sz2).trunc()
            } else {
                c
            };
            if c < -n {
                c + sz2
            } else {
                (if c > -1e-15 { 1e-15 } else { -c }) - 1.0
            }
        }
        (FillMode::Reflect, false) => {
            let c = c - sz2 * (c / sz2).trunc();
            if c >= n {
                sz2 - c - 1.0
            } else {
                c
            }
        }
        (FillMode::Wrap, true) => c + sz * ((-c / sz).trunc() + 1.0),
        (FillMode::Wrap, false) => c - sz * (c / sz).trunc(),
        (FillMode::Constant, _) => return None,
    })
}

/// An index of the two-pixel interpolation window brought inside `0..len` by mirroring
/// about the edge pixels (scipy's border rule for spline windows).
fn mirror_index(i: i64, len: usize) -> usize {
    let len = len as i64;
    if len <= 1 {
        return 0;
    }
    let s2 = 2 * len - 2;
    let mut i = i;
    if i < 0 {
        i += s2 * (-i / s2);
        i = if i <= 1 - len { i + s2 } else { -i };
    } else if i >= len {
        i -= s2 * (i / s2);
        if i >= len {
            i = s2 - i;
        }
    }
    i as usize
}

/// An index of the interpolation window brought inside `0..len` as scipy does: about the
/// edge pixels for the constant and wrap fills, by the fill's own rule otherwise.
fn window_index(i: i64, len: usize, mode: FillMode) -> usize {
    if (0..len as i64).contains(&i) {
        return i as usize;
    }
    match mode {
        FillMode::Constant | FillMode::Wrap => mirror_index(i, len),
        FillMode::Nearest => i.clamp(0, len as i64 - 1) as usize,
        FillMode::Reflect => map_coordinate(i as f64, len, mode).map_or(0, |c| c as usize),
    }
}

/// The two pixels and weights that interpolate coordinate `c` of an axis.
fn window(c: f64, len: usize, mode: FillMode) -> [(usize, f64); 2] {
    let start = c.floor();
    let t = c - start;
    let s = start as i64;
    [
        (window_index(s, len, mode), 1.0 - t),
        (window_index(s + 1, len, mode), t),
    ]
}

/// Keras's brightness shift of the images of `x` (dims `[n, h, w, c]`): each image as 8-bit
/// pixels (stretched to 0-255 first when its values leave that range), multiplied by its
/// factor as Pillow's `ImageEnhance.Brightness` does (in single precision, truncated, at
/// most 255; an alpha channel kept), then stretched back. Images whose factor is NaN are
/// left as they are.
pub fn brightness_batch(x: &[f64], dims: [usize; 4], factors: &[f64]) -> RkResult<Vec<f64>> {
    let [n, h, w, ch] = dims;
    if x.len() != n * h * w * ch || factors.len() != n {
        return Err(RkError::Internal("brightness: sizes do not match".into()));
    }
    let mut out = x.to_vec();
    let pixels = h * w * ch;
    for (i, &factor) in factors.iter().enumerate() {
        if factor.is_nan() {
            continue;
        }
        let idx = |p: usize| i + n * p;
        let vals: Vec<f32> = (0..pixels).map(|p| x[idx(p)] as f32).collect();
        let lo = vals.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = vals.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let stretch = lo < 0.0 || hi > 255.0;
        let top = hi - lo;
        let alpha_from = if ch == 4 { 3 * h * w } else { pixels };
        let f = factor as f32;
        for (p, &v) in vals.iter().enumerate() {
            let mut v = if stretch {
                let s = v - lo;
                if top != 0.0 {
                    s / top * 255.0
                } else {
                    s
                }
            } else {
                v
            };
            v = (v.trunc() as i64 & 0xff) as f32;
            if p < alpha_from {
                v = (f * v).trunc().clamp(0.0, 255.0);
            }
            out[idx(p)] = if stretch { v / 255.0 * top + lo } else { v } as f64;
        }
    }
    Ok(out)
}

/// The images of `x` (dims `[n, h, w, c]`, column-major) resampled in place of a copy: image
/// `i` by `params[i + n * k]`, `k` in `a00 a01 a10 a11 b0 b1` (R's `n x 6` matrix); images
/// whose `skip` flag is set are copied unchanged.
pub fn affine_batch(
    x: &[f64],
    dims: [usize; 4],
    params: &[f64],
    skip: &[bool],
    mode: FillMode,
    cval: f64,
) -> RkResult<Vec<f64>> {
    let [n, h, w, ch] = dims;
    if x.len() != n * h * w * ch || params.len() != 6 * n || skip.len() != n {
        return Err(RkError::Internal(
            "affine transform: sizes do not match".into(),
        ));
    }
    let mut out = x.to_vec();
    let at = |i: usize, r: usize, c: usize, k: usize| i + n * (r + h * (c + w * k));
    for i in 0..n {
        if skip[i] {
            continue;
        }
        let p: Vec<f64> = (0..6).map(|k| params[i + n * k]).collect();
        for r in 0..h {
            for c in 0..w {
                let (or, oc) = (r as f64, c as f64);
                let ir = p[0] * or + p[1] * oc + p[4];
                let ic = p[2] * or + p[3] * oc + p[5];
                let map = |c: f64, len: usize| match mode {
                    FillMode::Nearest => Some(c),
                    _ => map_coordinate(c, len, mode),
                };
                let (Some(mr), Some(mc)) = (map(ir, h), map(ic, w)) else {
                    for k in 0..ch {
                        out[at(i, r, c, k)] = cval;
                    }
                    continue;
                };
                let (wr, wc) = (window(mr, h, mode), window(mc, w, mode));
                for k in 0..ch {
                    let mut v = 0.0;
                    for &(rr, fr) in &wr {
                        for &(cc, fc) in &wc {
                            v += fr * fc * x[at(i, rr, cc, k)];
                        }
                    }
                    out[at(i, r, c, k)] = v;
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_keeps_the_image_and_shift_fills_by_mode() {
        // One 1 x 4 image, one channel: values 1 2 3 4.
        let x = [1.0, 2.0, 3.0, 4.0];
        let id = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];
        let out = affine_batch(&x, [1, 1, 4, 1], &id, &[false], FillMode::Nearest, 0.0).unwrap();
        assert_eq!(out, x);
        // Read one column to the right of each output pixel.
        let shift = [1.0, 0.0, 0.0, 1.0, 0.0, 1.0];
        let got = |m| affine_batch(&x, [1, 1, 4, 1], &shift, &[false], m, -1.0).unwrap();
        assert_eq!(got(FillMode::Nearest), [2.0, 3.0, 4.0, 4.0]);
        assert_eq!(got(FillMode::Constant), [2.0, 3.0, 4.0, -1.0]);
        assert_eq!(got(FillMode::Reflect), [2.0, 3.0, 4.0, 4.0]);
        // Period 3: coordinate 4 reads coordinate 1.
        assert_eq!(got(FillMode::Wrap), [2.0, 3.0, 4.0, 2.0]);
        // Half a pixel: linear interpolation; past the last centre, reflect mirrors.
        let half = [1.0, 0.0, 0.0, 1.0, 0.0, 0.5];
        let out = affine_batch(&x, [1, 1, 4, 1], &half, &[false], FillMode::Reflect, 0.0).unwrap();
        assert_eq!(out, [1.5, 2.5, 3.5, 4.0]);
        let out = affine_batch(&x, [1, 1, 4, 1], &half, &[false], FillMode::Constant, 0.0).unwrap();
        assert_eq!(out, [1.5, 2.5, 3.5, 0.0]);
    }
}
