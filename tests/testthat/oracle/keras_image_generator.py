"""Keras 3's legacy ImageDataGenerator (keras.src.legacy.preprocessing.image, which resamples
with scipy.ndimage and Pillow) as the oracle for rkeras's image_data_generator() and its
flows.

  python keras_image_generator.py DIR

DIR/transform.json: {"x": image, "cases": [{"params", "fill_mode", "cval", "y"}]}: Keras's
  apply_transform() of one image (height 7, width 9, 3 channels, values 0-255) by fixed
  parameters (rotation, shifts, shear, zoom, channel shift, flips, brightness).
DIR/standardize.json: {"x": batch, "cases": [{"args", "mean", "std", "zca", "y"}]}: fit() on
  the batch, then standardize() of each image.
DIR/folder/...: PNG files in class subfolders (some not images); DIR/flow.json: what
  flow_from_directory() and flow_from_dataframe() find (filenames, classes, class indices)
  and their first batch with shuffle=False (resized with "nearest" and "bilinear").
Arrays are {"shape", "values"} with values flat in row-major order.
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402
from keras.src.legacy.preprocessing.image import ImageDataGenerator  # noqa: E402


def item(a):
    a = np.asarray(a, dtype=np.float64)
    return {"shape": list(a.shape), "values": a.reshape(-1).tolist()}


def transforms(out):
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 255, (7, 9, 3)).astype("float32")
    cases = []
    params = [
        dict(theta=17.0),
        dict(theta=-40.0, zx=0.8, zy=1.3),
        dict(tx=2.4, ty=-3.7),
        dict(shear=20.0),
        dict(theta=10.0, tx=-1.5, ty=2.0, shear=-12.0, zx=1.2, zy=0.9),
        dict(zx=0.6, zy=0.6),
        dict(flip_horizontal=True, flip_vertical=True),
        dict(channel_shift_intensity=60.0),
        dict(brightness=0.7),
        dict(brightness=1.6),
        dict(theta=30.0, brightness=1.2, channel_shift_intensity=-20.0, flip_horizontal=True),
    ]
    for p in params:
        for mode in ["nearest", "constant", "reflect", "wrap"]:
            gen = ImageDataGenerator(fill_mode=mode, cval=33.0)
            y = gen.apply_transform(x.copy(), p)
            cases.append({"params": p, "fill_mode": mode, "cval": 33.0, "y": item(y)})
    # Brightness of values outside 0-255 (stretched to 0-255 and back).
    xs = (x - 100.0) / 10.0
    gen = ImageDataGenerator()
    y = gen.apply_transform(xs.copy(), dict(brightness=0.8))
    cases.append({"params": dict(brightness=0.8), "fill_mode": "nearest", "cval": 0.0, "y": item(y),
                  "x": item(xs)})
    json.dump({"x": item(x), "cases": cases}, open(os.path.join(out, "transform.json"), "w"))


def standardize(out):
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 255, (12, 4, 5, 3)).astype("float32")
    cases = []
    for args in [
        dict(rescale=1 / 255, samplewise_center=True, samplewise_std_normalization=True),
        dict(featurewise_center=True, featurewise_std_normalization=True),
        dict(featurewise_center=True, rescale=0.5),
        dict(zca_whitening=True, zca_epsilon=1e-3),
    ]:
        gen = ImageDataGenerator(**args)
        gen.fit(x)
        y = np.stack([gen.standardize(xi.copy()) for xi in x])
        rec = {"args": args, "y": item(y)}
        if gen.mean is not None:
            rec["mean"] = item(gen.mean)
        if gen.std is not None:
            rec["std"] = item(gen.std)
        if gen.zca_whitening_matrix is not None:
            rec["zca"] = item(gen.zca_whitening_matrix)
        cases.append(rec)
    # ZCA with more images than features.
    xz = rng.uniform(0, 255, (40, 3, 3, 2)).astype("float32")
    gen = ImageDataGenerator(zca_whitening=True)
    gen.fit(xz)
    y = np.stack([gen.standardize(xi.copy()) for xi in xz])
    cases.append({"args": {"zca_whitening": True}, "x": item(xz), "y": item(y)})
    json.dump({"x": item(x), "cases": cases}, open(os.path.join(out, "standardize.json"), "w"))


def flows(out):
    rng = np.random.default_rng(7)
    root = os.path.join(out, "folder")
    files = {"cats": ["c2.png", "c10.png", "sub/c1.png", "C3.PNG", "notes.txt"],
             "dogs": ["d1.png", "d2.jpg", "d3.bmp", "d4.png"],
             "zebras": ["z1.png"]}
    for cls, names in files.items():
        for name in names:
            path = os.path.join(root, cls, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if name.endswith(".txt"):
                open(path, "w").write("not an image")
                continue
            h, w = rng.integers(5, 12, 2)
            px = rng.integers(0, 256, (h, w, 3)).astype("uint8")
            fmt = {"png": "PNG", "jpg": "JPEG", "bmp": "BMP"}[name.rsplit(".", 1)[1].lower()]
            Image.fromarray(px).save(path, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    rec = {}
    for name, kwargs in [
        ("dir_nearest", dict(target_size=(6, 7))),
        ("dir_bilinear_gray", dict(target_size=(5, 5), interpolation="bilinear", color_mode="grayscale",
                                   class_mode="sparse")),
        ("dir_validation", dict(target_size=(4, 4), subset="validation")),
        ("dir_training", dict(target_size=(4, 4), subset="training")),
        ("dir_classes", dict(target_size=(4, 4), classes=["zebras", "cats"], class_mode="binary")),
    ]:
        gen = ImageDataGenerator(validation_split=0.5, rescale=1 / 255)
        it = gen.flow_from_directory(root, shuffle=False, batch_size=3, **kwargs)
        batch = it[0]
        rec[name] = {"args": {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()},
                     "filenames": it.filenames, "classes": [int(c) for c in it.classes],
                     "class_indices": it.class_indices, "x": item(batch[0]), "y": item(batch[1]),
                     "n": it.n, "len": len(it)}
    df = pd.DataFrame({"filename": ["dogs/d1.png", "cats/c2.png", "missing.png", "cats/notes.txt",
                                    "dogs/d4.png", "zebras/z1.png"],
                       "class": ["dog", "cat", "cat", "cat", "dog", "zebra"]})
    for name, kwargs in [("df_categorical", dict()), ("df_classes", dict(classes=["dog", "cat"])),
                         ("df_sparse", dict(class_mode="sparse"))]:
        gen = ImageDataGenerator()
        it = gen.flow_from_dataframe(df, directory=root, target_size=(4, 4), shuffle=False, batch_size=10,
                                     **kwargs)
        batch = it[0]
        rec[name] = {"args": kwargs, "filenames": it.filenames, "classes": [int(c) for c in it.classes],
                     "class_indices": it.class_indices, "x": item(batch[0]), "y": item(batch[1])}
    json.dump(rec, open(os.path.join(out, "flow.json"), "w"))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    transforms(out)
    standardize(out)
    flows(out)


if __name__ == "__main__":
    main()
