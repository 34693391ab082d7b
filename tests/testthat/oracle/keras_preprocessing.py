"""Keras 3 (JAX backend) as the oracle for the preprocessing layers that learn from data or
encode categories: Normalization (adapt(), given statistics, invert), Discretization (adapt(),
given boundaries, every output mode) and CategoryEncoding.

  python keras_preprocessing.py DIR
      DIR/cases.json: [{"name", "shape" (per sample), "args" (the layer's arguments as
      given to Keras), "adapt" (the data given to adapt(), or null), "x", "weights" (after
      adapt), "config" (the layer's get_config() after adapt), "output" (the layer on x)}],
      arrays as {"shape", "values"} with the values flat in row-major order; DIR/NAME.json:
      model.to_json() of keras.Input(shape) then the layer.
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers as L  # noqa: E402


def item(a):
    a = np.asarray(a)
    return {"shape": list(a.shape), "values": np.asarray(a, dtype=float).ravel().tolist()}


def cases(rng):
    """(name, per-sample shape, layer class, arguments, adapt data or None, inputs)"""
    feats = np.round(rng.normal([3.0, -20.0, 0.5], [2.0, 7.0, 0.1], (40, 3)), 3)
    seqs = np.round(rng.normal(1.0, 3.0, (12, 4, 3)), 3)
    ints = rng.integers(0, 6, (9, 4)).astype(float)
    wide = np.round(rng.gamma(2.0, 3.0, (300, 2)), 4)
    return [
        ("norm_features", (3,), L.Normalization, {"axis": -1}, feats, feats[:7] * 1.1),
        ("norm_none", (3,), L.Normalization, {"axis": None}, feats, feats[:5]),
        ("norm_seq_last", (4, 3), L.Normalization, {}, seqs, seqs[:3] - 1),
        ("norm_seq_both", (4, 3), L.Normalization, {"axis": [1, 2]}, seqs, seqs[:3]),
        ("norm_seq_first", (4, 3), L.Normalization, {"axis": 1}, seqs, seqs[:2]),
        ("norm_given", (3,), L.Normalization, {"mean": [1.0, 2.0, 3.0], "variance": [4.0, 0.25, 1e-20]},
         None, feats[:4]),
        ("norm_given_scalar", (4, 3), L.Normalization, {"mean": 2.0, "variance": 9.0}, None, seqs[:2]),
        ("norm_given_broadcast", (4, 3), L.Normalization,
         {"axis": [1, 2], "mean": [[1.0, 2.0, 3.0]], "variance": [[1.0, 4.0, 9.0]]}, None, seqs[:2]),
        ("norm_invert", (3,), L.Normalization, {"mean": [1.0, 2.0, 3.0], "variance": [4.0, 1.0, 0.25],
                                                "invert": True}, None, feats[:4]),
        ("norm_invert_adapt", (3,), L.Normalization, {"invert": True}, feats, feats[:3] / 10),
        ("disc_bins_int", (4,), L.Discretization, {"bin_boundaries": [0.0, 1.0, 2.5]}, None,
         np.array([[-1.0, 0.0, 0.5, 1.0], [2.49, 2.5, 3.0, -0.0], [7, 1, 2, 0]])),
        ("disc_bins_onehot", (1,), L.Discretization, {"bin_boundaries": [0.0, 1.0], "output_mode": "one_hot"},
         None, np.array([[-1.0], [0.5], [1.0]])),
        ("disc_bins_multihot", (3,), L.Discretization, {"bin_boundaries": [0.0, 1.0, 2.0],
                                                        "output_mode": "multi_hot"}, None,
         np.array([[-1.0, -2.0, 0.5], [3.0, 1.5, 0.2], [1.0, 1.0, 1.0]])),
        ("disc_bins_count", (3,), L.Discretization, {"bin_boundaries": [0.0, 1.0, 2.0], "output_mode": "count"},
         None, np.array([[-1.0, -2.0, 0.5], [3.0, 1.5, 0.2], [1.0, 1.0, 1.0]])),
        ("disc_adapt_4", (2,), L.Discretization, {"num_bins": 4}, wide, wide[:6]),
        ("disc_adapt_eps", (2,), L.Discretization, {"num_bins": 7, "epsilon": 0.05}, wide, wide[:6]),
        ("disc_adapt_small", (2,), L.Discretization, {"num_bins": 3, "epsilon": 0.001}, wide[:20], wide[:5]),
        ("cat_multi_hot", (4,), L.CategoryEncoding, {"num_tokens": 6}, None, ints),
        ("cat_count", (4,), L.CategoryEncoding, {"num_tokens": 7, "output_mode": "count"}, None, ints),
        ("cat_one_hot", (1,), L.CategoryEncoding, {"num_tokens": 6, "output_mode": "one_hot"}, None,
         ints[:, :1]),
        ("cat_one_hot_seq", (4,), L.CategoryEncoding, {"num_tokens": 6, "output_mode": "one_hot"}, None, ints),
    ]


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(5)
    out = []
    for name, shape, cls, args, data, x in cases(rng):
        layer = cls(**args)
        if data is not None and cls is L.Discretization:
            # What adapt() does with an array (its check for a tf.data.Dataset needs
            # TensorFlow, absent here).
            layer.reset_state()
            layer.update_state(data)
            layer.finalize_state()
        elif data is not None:
            layer.adapt(data)
        model = keras.Sequential([keras.Input(shape), layer], name=name)
        with open(os.path.join(outdir, name + ".json"), "w") as f:
            f.write(model.to_json())
        y = model.predict(np.asarray(x, dtype="float32"), verbose=0)
        config = layer.get_config()
        out.append({"name": name, "shape": list(shape), "args": args,
                    "adapt": None if data is None else item(data), "x": item(x),
                    "weights": [item(w) for w in layer.get_weights()],
                    "config": {k: v for k, v in config.items() if k not in ("name", "dtype")},
                    "output": item(y)})
    with open(os.path.join(outdir, "cases.json"), "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: keras_preprocessing.py DIR")
    main(sys.argv[1])
