"""Keras 3 (with Pillow) as the oracle for rkeras's image files.

  python keras_images.py DIR

Writes image files into DIR (made by Pillow: PNG in modes L, LA, RGB, RGBA, P and I;16, a
JPEG, a BMP, a palette GIF), then DIR/cases.json: a list of
  {"file", "color_mode", "target_size" (null or [h, w]), "interpolation",
   "keep_aspect_ratio", "array": {"shape", "values"}}
with keras.utils.load_img() then img_to_array() for each combination tried; and
  "from_array": [{"x": {...}, "scale", "array": {...}}] (keras.utils.array_to_img()),
  "zoom": [{"x": {...}, "height", "width", "array": {...}}] (scipy.ndimage.zoom(order=1),
  which Keras for R's image_array_resize() calls).
Arrays are flat row-major values with their shape.
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
import scipy.ndimage  # noqa: E402
import keras  # noqa: E402


def item(a):
    a = np.asarray(a, dtype=np.float64)
    return {"shape": list(a.shape), "values": a.reshape(-1).tolist()}


def images(outdir, rng):
    """Image files of every mode Keras meets, with smooth and noisy content."""
    h, w = 13, 17
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = np.stack([xx * 15, yy * 19, (xx + yy) * 8], axis=-1) % 256
    noisy = rng.integers(0, 256, (h, w, 3))
    rgb = np.where((xx + yy)[..., None] % 3 == 0, noisy, smooth).astype(np.uint8)
    alpha = rng.integers(0, 256, (h, w, 1)).astype(np.uint8)
    files = {}

    def save(name, img, **kw):
        img.save(os.path.join(outdir, name), **kw)
        files[name] = True

    save("rgb.png", Image.fromarray(rgb, "RGB"))
    save("rgba.png", Image.fromarray(np.concatenate([rgb, alpha], -1), "RGBA"))
    save("gray.png", Image.fromarray(rgb[..., 1], "L"))
    save("gray_alpha.png", Image.fromarray(np.stack([rgb[..., 0], alpha[..., 0]], -1), "LA"))
    save("palette.png", Image.fromarray(rgb, "RGB").convert("P", palette=Image.ADAPTIVE, colors=16))
    save("gray16.png", Image.fromarray(rgb[..., 2].astype(np.uint16) * 257))
    save("photo.jpg", Image.fromarray(rgb, "RGB"), quality=90)
    save("rgb.bmp", Image.fromarray(rgb, "RGB"))
    save("palette.gif", Image.fromarray(rgb, "RGB").convert("P", palette=Image.ADAPTIVE, colors=32))
    return list(files)


def main(outdir):
    rng = np.random.default_rng(5)
    os.makedirs(outdir, exist_ok=True)
    files = images(outdir, rng)
    cases = []
    sizes = [None, [7, 9], [20, 25], [13, 30], [5, 17]]
    for f in files:
        for mode in ["rgb", "grayscale", "rgba"]:
            for size in sizes:
                interps = ["nearest"] if size is None else \
                    ["nearest", "bilinear", "bicubic", "hamming", "box", "lanczos"]
                for interp in interps:
                    for keep in ([False, True] if size is not None and interp in ("nearest", "bilinear") else [False]):
                        img = keras.utils.load_img(
                            os.path.join(outdir, f), color_mode=mode,
                            target_size=None if size is None else tuple(size),
                            interpolation=interp, keep_aspect_ratio=keep)
                        cases.append({"file": f, "color_mode": mode, "target_size": size,
                                      "interpolation": interp, "keep_aspect_ratio": keep,
                                      "array": item(keras.utils.img_to_array(img))})
    from_array = []
    for shape, scale, lo, hi in [((4, 5, 3), True, -2.0, 3.0), ((3, 6, 1), True, 0.0, 1.0),
                                 ((5, 4, 4), True, 10.0, 10.5), ((4, 4, 3), False, 0.0, 255.0),
                                 ((2, 3, 1), False, 0.0, 200.0), ((3, 4, 3), False, 0.0, 600.0)]:
        x = np.round(rng.uniform(lo, hi, shape), 3)
        img = keras.utils.array_to_img(x, scale=scale)
        from_array.append({"x": item(x), "scale": scale, "array": item(keras.utils.img_to_array(img))})
    zoom = []
    for shape, hw in [((4, 5, 3), (7, 9)), ((6, 6, 1), (3, 4)), ((5, 3, 2), (5, 8)), ((3, 4, 3), (1, 6))]:
        x = np.round(rng.uniform(0, 255, shape), 2)
        z = scipy.ndimage.zoom(x, (hw[0] / shape[0], hw[1] / shape[1], 1), order=1)
        zoom.append({"x": item(x), "height": hw[0], "width": hw[1], "array": item(z)})
    with open(os.path.join(outdir, "cases.json"), "w") as fh:
        json.dump({"load": cases, "from_array": from_array, "zoom": zoom}, fh)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: keras_images.py DIR")
    main(sys.argv[1])
