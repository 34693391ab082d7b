"""Keras 3 as the oracle for rkeras's image_dataset_from_directory(): which files, in which
order, with which labels (Keras's own index_directory() and split), and each image's pixels
after resizing (keras.ops.image.resize, bilinear or nearest without antialiasing, which equals
TensorFlow's resize; smart_resize for crop_to_aspect_ratio).

  python keras_image_dataset.py DIR

Writes DIR/images/ (class folders a, b, c, a nested folder, a file that is not an image, a
hidden folder) and DIR/cases.json:
  "index": [{"args", "paths" (relative to DIR/images), "labels", "class_names"}]
  "pixels": [{"path", "size", "interpolation", "crop", "array": {"shape", "values"}}]
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
import keras  # noqa: E402
from keras.src.utils import dataset_utils, image_utils  # noqa: E402

FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


def item(a):
    a = np.asarray(a, dtype=np.float64)
    return {"shape": list(a.shape), "values": a.reshape(-1).tolist()}


def main(outdir):
    rng = np.random.default_rng(3)
    root = os.path.join(outdir, "images")
    layout = {"a": ["x1.png", "b2.png", "A3.png", "10.png"], "b": ["one.png", "two.bmp", "sub/deep.png"],
              "c": ["z.png", "y.gif", "x.png", "w.png", "v.png"]}
    for cls, files in layout.items():
        for f in files:
            path = os.path.join(root, cls, f)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            h, w = rng.integers(5, 14, 2)
            Image.fromarray(rng.integers(0, 256, (h, w, 3)).astype(np.uint8), "RGB").save(path)
    with open(os.path.join(root, "a", "notes.txt"), "w") as fh:
        fh.write("not an image")
    os.makedirs(os.path.join(root, ".hidden"), exist_ok=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(os.path.join(root, ".hidden", "h.png"))

    def rel(paths):
        return [os.path.relpath(p, root) for p in paths]

    index = []
    for args in [dict(shuffle=False, seed=None), dict(shuffle=True, seed=7), dict(shuffle=True, seed=123),
                 dict(shuffle=False, seed=None, class_names=["c", "a"])]:
        paths, labels, names = dataset_utils.index_directory(
            root, "inferred", formats=FORMATS, class_names=args.get("class_names"),
            shuffle=args["shuffle"], seed=args["seed"], verbose=False)
        index.append({"args": args, "paths": rel(paths), "labels": [int(v) for v in labels],
                      "class_names": names})
        if args["seed"] == 7:
            for subset in ["training", "validation"]:
                p, l = dataset_utils.get_training_or_validation_split(paths, labels, 0.25, subset)
                index.append({"args": dict(args, validation_split=0.25, subset=subset), "paths": rel(p),
                              "labels": [int(v) for v in l], "class_names": names})
    pixels = []
    for f in ["a/x1.png", "b/sub/deep.png", "c/y.gif"]:
        img = np.asarray(Image.open(os.path.join(root, f)).convert("RGB")).astype("float32")
        for size, interp, crop in [((6, 9), "bilinear", False), ((16, 7), "bilinear", False),
                                   ((6, 9), "nearest", False), ((8, 8), "bilinear", True)]:
            if crop:
                out = image_utils.smart_resize(img, size, interpolation=interp)
            else:
                out = keras.ops.image.resize(img, size, interpolation=interp, antialias=False)
            pixels.append({"path": f, "size": list(size), "interpolation": interp, "crop": crop,
                           "array": item(np.asarray(out))})
    with open(os.path.join(outdir, "cases.json"), "w") as fh:
        json.dump({"index": index, "pixels": pixels}, fh)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: keras_image_dataset.py DIR")
    main(sys.argv[1])
