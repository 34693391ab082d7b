"""Keras 3 as the oracle for rkeras's application models and ImageNet preprocessing.

  python keras_applications.py DIR

For each CASE below builds Keras's application with random weights (its own initializers;
batch normalization's statistics drawn), then writes
  DIR/CASE.h5            the weights in Keras's legacy HDF5 layout (as Keras's published
                         ImageNet weight files are), via legacy_h5_format (models over 50
                         million parameters only with RKERAS_ORACLE_LARGE=1)
  DIR/CASE.weights.h5    the same weights by model.save_weights()
  DIR/CASE.json          {"args", "name", "params", "layers": [{"name", "class_name",
                         "params"}], "x": images 0-255, "y": predict(preprocess_input(x))}
DIR/counts.json: {"<case>": count_params()} for the full-size models (no weights written).
DIR/preprocess.json: imagenet_utils.preprocess_input() of arrays in each mode and layout.
DIR/apps_preprocess.json: each application's preprocess_input() of one array.
Arrays are {"shape", "values"} with values flat in row-major order.
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras.src.applications import imagenet_utils  # noqa: E402
from keras.src.legacy.saving import legacy_h5_format  # noqa: E402

# The weights of models over 50 million parameters are written only when asked for.
LARGE = os.environ.get("RKERAS_ORACLE_LARGE") == "1"

APPS = {
    "mobilenet_v2": (keras.applications.MobileNetV2, keras.applications.mobilenet_v2.preprocess_input),
    "vgg16": (keras.applications.VGG16, keras.applications.vgg16.preprocess_input),
    "vgg19": (keras.applications.VGG19, keras.applications.vgg19.preprocess_input),
    "resnet50": (keras.applications.ResNet50, keras.applications.resnet.preprocess_input),
    "resnet101": (keras.applications.ResNet101, keras.applications.resnet.preprocess_input),
    "resnet152": (keras.applications.ResNet152, keras.applications.resnet.preprocess_input),
    "resnet50_v2": (keras.applications.ResNet50V2, keras.applications.resnet_v2.preprocess_input),
    "resnet101_v2": (keras.applications.ResNet101V2, keras.applications.resnet_v2.preprocess_input),
    "resnet152_v2": (keras.applications.ResNet152V2, keras.applications.resnet_v2.preprocess_input),
    "mobilenet": (keras.applications.MobileNet, keras.applications.mobilenet.preprocess_input),
    "densenet121": (keras.applications.DenseNet121, keras.applications.densenet.preprocess_input),
    "densenet169": (keras.applications.DenseNet169, keras.applications.densenet.preprocess_input),
    "densenet201": (keras.applications.DenseNet201, keras.applications.densenet.preprocess_input),
    "xception": (keras.applications.Xception, keras.applications.xception.preprocess_input),
    "inception_v3": (keras.applications.InceptionV3, keras.applications.inception_v3.preprocess_input),
    "inception_resnet_v2": (keras.applications.InceptionResNetV2,
                            keras.applications.inception_resnet_v2.preprocess_input),
    "efficientnet_b0": (keras.applications.EfficientNetB0, keras.applications.efficientnet.preprocess_input),
    "efficientnet_b3": (keras.applications.EfficientNetB3, keras.applications.efficientnet.preprocess_input),
}

CASES = [
    # name, application, args, images
    ("efficientnet_b0_no_top_avg", "efficientnet_b0",
     dict(input_shape=(32, 32, 3), include_top=False, pooling="avg"), (2, 32, 32, 3)),
    ("mobilenet_v2_a035_96_top", "mobilenet_v2",
     dict(alpha=0.35, input_shape=(96, 96, 3), include_top=True, classes=7), (3, 96, 96, 3)),
    ("mobilenet_v2_a05_no_top_avg", "mobilenet_v2",
     dict(alpha=0.5, input_shape=(64, 80, 3), include_top=False, pooling="avg"), (2, 64, 80, 3)),
    ("vgg16_no_top_max", "vgg16", dict(input_shape=(32, 48, 3), include_top=False, pooling="max"),
     (2, 32, 48, 3)),
    ("resnet50_no_top_avg", "resnet50", dict(input_shape=(40, 32, 3), include_top=False, pooling="avg"),
     (2, 40, 32, 3)),
    ("resnet50_v2_no_top_max", "resnet50_v2", dict(input_shape=(32, 40, 3), include_top=False, pooling="max"),
     (2, 32, 40, 3)),
    ("mobilenet_a025_128_top", "mobilenet", dict(alpha=0.25, input_shape=(128, 128, 3), classes=7), (2, 128, 128, 3)),
    ("mobilenet_a05_dm2_no_top_avg", "mobilenet",
     dict(alpha=0.5, depth_multiplier=2, input_shape=(40, 48, 3), include_top=False, pooling="avg"), (2, 40, 48, 3)),
    ("densenet121_no_top_avg", "densenet121", dict(input_shape=(40, 32, 3), include_top=False, pooling="avg"),
     (2, 40, 32, 3)),
    ("xception_no_top_max", "xception", dict(input_shape=(71, 80, 3), include_top=False, pooling="max"),
     (2, 71, 80, 3)),
    ("inception_v3_no_top_avg", "inception_v3", dict(input_shape=(75, 75, 3), include_top=False, pooling="avg"),
     (2, 75, 75, 3)),
    ("inception_resnet_v2_no_top_avg", "inception_resnet_v2",
     dict(input_shape=(75, 75, 3), include_top=False, pooling="avg"), (2, 75, 75, 3)),
]

COUNTS = [
    ("efficientnet_b0_top", "efficientnet_b0", dict()),
    ("efficientnet_b3_no_top_max", "efficientnet_b3", dict(include_top=False, pooling="max")),
    ("mobilenet_v2_224_top", "mobilenet_v2", dict()),
    ("mobilenet_v2_a14_no_top", "mobilenet_v2", dict(alpha=1.4, include_top=False)),
    ("mobilenet_v2_a075_160_max", "mobilenet_v2", dict(alpha=0.75, input_shape=(160, 160, 3),
                                                      include_top=False, pooling="max")),
    ("vgg16_top", "vgg16", dict()),
    ("vgg19_no_top", "vgg19", dict(include_top=False)),
    ("vgg19_48_top", "vgg19", dict(input_shape=(48, 48, 3), classes=3)),
    ("resnet50_top", "resnet50", dict()),
    ("resnet50_no_top_max", "resnet50", dict(include_top=False, pooling="max")),
    ("resnet101_top", "resnet101", dict()),
    ("resnet152_no_top", "resnet152", dict(include_top=False)),
    ("resnet50_v2_top", "resnet50_v2", dict()),
    ("resnet101_v2_no_top_avg", "resnet101_v2", dict(include_top=False, pooling="avg")),
    ("resnet152_v2_top", "resnet152_v2", dict()),
    ("mobilenet_top", "mobilenet", dict()),
    ("mobilenet_a075_160_no_top", "mobilenet", dict(alpha=0.75, input_shape=(160, 160, 3), include_top=False)),
    ("mobilenet_a05_dm2_96_top", "mobilenet", dict(alpha=0.5, depth_multiplier=2, input_shape=(96, 96, 3))),
    ("densenet121_top", "densenet121", dict()),
    ("densenet169_no_top", "densenet169", dict(include_top=False)),
    ("densenet201_top", "densenet201", dict()),
    ("xception_top", "xception", dict()),
    ("xception_no_top_avg", "xception", dict(include_top=False, pooling="avg")),
    ("inception_v3_top", "inception_v3", dict()),
    ("inception_v3_150_no_top_max", "inception_v3", dict(input_shape=(150, 150, 3), include_top=False, pooling="max")),
    ("inception_resnet_v2_top", "inception_resnet_v2", dict()),
]


def item(a):
    a = np.asarray(a, dtype=np.float64)
    return {"shape": list(a.shape), "values": a.reshape(-1).tolist()}


def randomize_statistics(model, rng):
    """Batch normalization's moving statistics, gamma and beta drawn (they start at 0/1)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            draw = {"gamma": lambda: rng.uniform(0.5, 1.5, n), "beta": lambda: rng.normal(0, 0.1, n),
                    "moving_mean": lambda: rng.normal(0, 0.1, n), "moving_variance": lambda: rng.uniform(0.5, 1.5, n)}
            layer.set_weights([draw[w.name]() for w in layer.weights])  # without gamma when scale=False


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(17)
    for name, app, args, xshape in CASES:
        build, preprocess = APPS[app]
        keras.backend.clear_session()  # automatic layer names start afresh for each case
        keras.utils.set_random_seed(3)
        model = build(weights=None, **args)
        randomize_statistics(model, rng)
        if model.count_params() > 50e6 and not LARGE:
            pass  # InceptionResNetV2's 217 MB: its predictions are written, not its weights
        else:
            with h5py.File(os.path.join(outdir, name + ".h5"), "w") as f:
                legacy_h5_format.save_weights_to_hdf5_group(f, model)
        if model.count_params() < 5e6:  # the large ones in the legacy layout only
            model.save_weights(os.path.join(outdir, name + ".weights.h5"))
        x = np.round(rng.uniform(0, 255, xshape), 1)
        y = model.predict(preprocess(x.copy()).astype("float32"), verbose=0)
        rec = {"app": app, "args": {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()},
               "name": model.name, "params": int(model.count_params()),
               "layers": [{"name": l.name, "class_name": type(l).__name__, "params": int(l.count_params())}
                          for l in model.layers],
               "x": item(x), "y": item(y)}
        with open(os.path.join(outdir, name + ".json"), "w") as f:
            json.dump(rec, f)
    counts = {}
    for name, app, args in COUNTS:
        model = APPS[app][0](weights=None, **args)
        counts[name] = {"app": app, "args": {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()},
                        "params": int(model.count_params()), "name": model.name,
                        "layers": len(model.layers)}
    with open(os.path.join(outdir, "counts.json"), "w") as f:
        json.dump(counts, f)
    pre = []
    for shape, fmt in [((2, 3, 4, 3), "channels_last"), ((3, 2, 3), "channels_last"),
                       ((2, 3, 4, 5), "channels_first"), ((3, 4, 2), "channels_first")]:
        x = np.round(rng.uniform(0, 255, shape), 2)
        for mode in ["caffe", "tf", "torch"]:
            y = imagenet_utils.preprocess_input(x.copy(), data_format=fmt, mode=mode)
            pre.append({"x": item(x), "data_format": fmt, "mode": mode, "y": item(y)})
    with open(os.path.join(outdir, "preprocess.json"), "w") as f:
        json.dump(pre, f)
    # Each application's own preprocess_input(), and with channels first where it takes a data_format.
    x = np.round(rng.uniform(0, 255, (2, 3, 4, 3)), 2)
    xf = np.round(rng.uniform(0, 255, (2, 3, 4, 5)), 2)
    out = {"x": item(x), "y": {app: item(preprocess(x.copy())) for app, (_, preprocess) in APPS.items()},
           "x_channels_first": item(xf), "y_channels_first": {}}
    out["y_channels_first"]["densenet121"] = item(
        keras.applications.densenet.preprocess_input(xf.copy(), data_format="channels_first"))
    with open(os.path.join(outdir, "apps_preprocess.json"), "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: keras_applications.py DIR")
    main(sys.argv[1])
