//! Tests of the image files: round trips, colour modes, and Pillow's resampling.

use super::*;

fn px(h: usize, w: usize, c: usize, data: Vec<u16>) -> Pixels {
    Pixels {
        height: h,
        width: w,
        channels: c,
        wide: false,
        data,
    }
}

#[test]
fn png_round_trip_and_modes() {
    let p = px(2, 3, 3, (0..18).map(|v| v * 14).collect());
    let bytes = encode(&p, ImageFormat::Png).unwrap();
    assert_eq!(decode(&bytes, ColorMode::Rgb).unwrap(), p);
    let g = decode(&bytes, ColorMode::Grayscale).unwrap();
    assert_eq!(g.channels, 1);
    assert_eq!(g.data[0], luma(0, 14, 28));
    let a = decode(&bytes, ColorMode::Rgba).unwrap();
    assert_eq!(a.data[3], 255);
    assert!(decode(b"not an image", ColorMode::Rgb).is_err());
    assert!(decode(&bytes[..bytes.len() / 2], ColorMode::Rgb).is_err());
}

#[test]
fn resizing_keeps_constants_and_nearest_picks_centres() {
    let p = px(4, 6, 1, vec![77; 24]);
    for f in [
        Filter::Bilinear,
        Filter::Bicubic,
        Filter::Lanczos,
        Filter::Box,
        Filter::Hamming,
    ] {
        let r = resize(&p, (3, 8), f, None).unwrap();
        assert!(r.data.iter().all(|&v| v == 77), "{f:?}");
    }
    let q = px(1, 4, 1, vec![0, 10, 20, 30]);
    assert_eq!(
        resize(&q, (1, 2), Filter::Nearest, None).unwrap().data,
        vec![10, 30]
    );
    // Pillow widens the filter when it shrinks: [7, 23], not the midpoints [5, 25].
    assert_eq!(
        resize(&q, (1, 2), Filter::Bilinear, None).unwrap().data,
        vec![7, 23]
    );
}
