"""Keras 3 (JAX backend) as the oracle for the augmentation layers (RandomRotation,
RandomTranslation, RandomZoom, RandomContrast, RandomCrop): with a factor whose ends are
equal, the transform is fixed, so one training step of augmentation layer -> Flatten -> Dense
on a batch shows the augmented images through its loss and the Dense kernel's update.
RandomContrast's factor (-f, f) is the fixed contrast 1 + f (Keras 3 reads a single number f
as (0, f)).

RandomCrop is fixed when the images are not larger than the target in both axes (Keras's
aspect-ratio window, resized bilinearly), but Keras 3's RandomCrop passes images through
uncropped in inference, so no Dense can follow it (a shape its compute_output_shape() does
not give): its cases are the layer alone, recording "x", "train" (its training-mode output)
and, as "predict", keras.preprocessing.image.smart_resize() of x, the inference Keras
documents.

  python keras_augment.py DIR
      DIR/CASE.json: model.to_json() before compile(); DIR/CASE.data.json: {"weights", "x",
      "y", "loss", "weights_after", "predict"} (SGD(0.1), mse, one train_on_batch(); predict
      in inference mode, where the layer passes the images through). DIR/cases.json lists
      the cases. Arrays as {"shape", "values"}, values flat in row-major order.
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers as L  # noqa: E402


def cases():
    return [
        ("rot_bilinear_reflect", (7, 6, 2), L.RandomRotation((0.1, 0.1))),
        ("rot_nearest_constant", (5, 5, 1), L.RandomRotation((-0.2, -0.2), fill_mode="constant",
                                                             interpolation="nearest", fill_value=0.5)),
        ("rot_wrap", (6, 7, 1), L.RandomRotation((0.3, 0.3), fill_mode="wrap")),
        ("rot_nearest_fill", (6, 6, 2), L.RandomRotation((0.15, 0.15), fill_mode="nearest")),
        ("trans_reflect", (8, 6, 1), L.RandomTranslation((0.25, 0.25), (-0.3, -0.3))),
        ("trans_constant", (5, 10, 2), L.RandomTranslation((-0.2, -0.2), (0.13, 0.13), fill_mode="constant",
                                                          fill_value=1.0)),
        ("zoom_reflect", (7, 7, 1), L.RandomZoom((0.3, 0.3))),
        ("zoom_wh_wrap", (6, 8, 2), L.RandomZoom((-0.25, -0.25), (0.4, 0.4), fill_mode="wrap")),
        ("zoom_nearest_constant", (5, 6, 1), L.RandomZoom((0.3, 0.3), interpolation="nearest",
                                                          fill_mode="constant")),
        ("contrast_pair", (5, 6, 2), L.RandomContrast((-0.3, 0.3), value_range=(-1.5, 1.5))),
        ("contrast_number", (4, 4, 3), L.RandomContrast(0.0, value_range=(-0.5, 0.5))),
        ("crop_same_height", (6, 8, 1), L.RandomCrop(6, 4)),
        ("crop_smaller", (4, 5, 2), L.RandomCrop(6, 6)),
        ("crop_narrower", (7, 3, 1), L.RandomCrop(4, 3)),
    ]


def item(a):
    a = np.asarray(a)
    return {"shape": list(a.shape), "values": np.asarray(a, dtype=float).ravel().tolist()}


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(11)
    names = []
    for name, shape, layer in cases():
        keras.utils.set_random_seed(1)
        if name.startswith("crop"):
            model = keras.Sequential([keras.Input(shape), layer], name=name)
            with open(os.path.join(outdir, name + ".json"), "w") as f:
                f.write(model.to_json())
            x = np.round(rng.normal(0, 1, (4,) + shape), 2) + 0.0
            size = (layer.height, layer.width)
            smart = keras.preprocessing.image.smart_resize(x.astype("float32"), size)
            rec = {"x": item(x), "train": item(model(x.astype("float32"), training=True)),
                   "predict": item(smart)}
            with open(os.path.join(outdir, name + ".data.json"), "w") as f:
                json.dump(rec, f, separators=(",", ":"))
            names.append(name)
            continue
        model = keras.Sequential([keras.Input(shape), layer, L.Flatten(), L.Dense(3)], name=name)
        weights = [np.round(rng.normal(0, 0.3, w.shape), 2) + 0.0 for w in model.get_weights()]
        model.set_weights([w.astype("float32") for w in weights])
        with open(os.path.join(outdir, name + ".json"), "w") as f:
            f.write(model.to_json())
        x = np.round(rng.normal(0, 1, (4,) + shape), 2) + 0.0
        y = np.round(rng.normal(0, 1, (4, 3)), 2) + 0.0
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
        loss = float(model.train_on_batch(x.astype("float32"), y.astype("float32")))
        rec = {"weights": [item(w) for w in weights], "x": item(x), "y": item(y), "loss": loss,
               "weights_after": [item(w) for w in model.get_weights()],
               "predict": item(model.predict(x.astype("float32"), verbose=0))}
        with open(os.path.join(outdir, name + ".data.json"), "w") as f:
            json.dump(rec, f, separators=(",", ":"))
        names.append(name)
    with open(os.path.join(outdir, "cases.json"), "w") as f:
        json.dump(names, f)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: keras_augment.py DIR")
    main(sys.argv[1])
