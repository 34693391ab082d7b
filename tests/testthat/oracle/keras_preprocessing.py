"""Keras 3 (JAX backend) as the oracle for the preprocessing layers that learn from data or
encode categories: Normalization (adapt(), given statistics, invert), Discretization (adapt(),
given boundaries, every output mode), CategoryEncoding, IntegerLookup (given or adapted
vocabularies, special tokens, out-of-vocabulary methods, invert, every output mode) and
Hashing (FarmHash, salted SipHash, mask value). The last two need TensorFlow in the venv.

  python keras_preprocessing.py DIR
      DIR/strings.json: [{"name", "args", "adapt" (strings or null), "x" (strings, or ids
      to invert, with "shape"), "vocabulary" (get_vocabulary()), "output" ({"shape",
      "values"})}]: StringLookup called on arrays (its inputs cannot enter a JAX model).
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
    ] + lookup_cases(rng)


def lookup_cases(rng):
    """IntegerLookup and Hashing cases (Keras computes them with TensorFlow)."""
    codes = rng.integers(-3, 40, (12, 4)).astype(float)
    vocab = [12, 36, 1138, 42, 7, 0]
    seen = np.array([[12, 36, 99, 42], [-1, 0, 7, 1138], [5, 12, 12, 2], [40, -3, 36, 41]], dtype=float)
    skewed = np.concatenate([np.repeat([5, 9, 2, 11, 3], [6, 4, 4, 2, 1]), [-1, -1, 0]]).astype(float)
    IL, H = L.IntegerLookup, L.Hashing
    return [
        ("lookup_given", (4,), IL, {"vocabulary": vocab}, None, seen),
        ("lookup_given_special", (4,), IL, {"vocabulary": [-1] + vocab}, None, seen),
        ("lookup_mask", (4,), IL, {"vocabulary": [12, 36, 1138, 42, 7], "mask_token": 0}, None, seen),
        ("lookup_oov3", (4,), IL, {"vocabulary": vocab, "num_oov_indices": 3}, None, seen),
        ("lookup_oov3_farmhash", (4,), IL, {"vocabulary": vocab, "num_oov_indices": 3, "oov_method": "farmhash"},
         None, seen),
        ("lookup_oov3_salt", (4,), IL, {"vocabulary": vocab, "num_oov_indices": 3, "oov_method": "farmhash",
                                        "salt": [7, 11]}, None, seen),
        ("lookup_one_hot", (1,), IL, {"vocabulary": vocab, "output_mode": "one_hot"}, None, seen[:, :1]),
        ("lookup_multi_hot", (4,), IL, {"vocabulary": vocab, "output_mode": "multi_hot", "mask_token": -3},
         None, seen),
        ("lookup_count_pad", (4,), IL, {"vocabulary": vocab, "output_mode": "count", "max_tokens": 10,
                                        "pad_to_max_tokens": True}, None, seen),
        ("lookup_tf_idf", (4,), IL, {"vocabulary": vocab, "output_mode": "tf_idf",
                                     "idf_weights": [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]}, None, seen),
        ("lookup_invert", (4,), IL, {"vocabulary": vocab, "invert": True},
         None, np.array([[0, 1, 2, 6], [7, 8, 3, 4]], dtype=float)),
        ("lookup_invert_mask", (3,), IL, {"vocabulary": vocab[:5], "invert": True, "mask_token": 0,
                                          "oov_token": -9}, None, np.array([[0, 1, 2], [6, 7, 5]], dtype=float)),
        ("lookup_adapt", (4,), IL, {}, skewed, seen),
        ("lookup_adapt_max", (4,), IL, {"max_tokens": 4, "mask_token": 0}, skewed, seen),
        ("lookup_adapt_tf_idf", (4,), IL, {"output_mode": "tf_idf"}, codes, codes[:5]),
        ("lookup_adapt_multi_hot", (4,), IL, {"output_mode": "multi_hot", "num_oov_indices": 2}, codes, codes[:5]),
        ("hash_int", (4,), H, {"num_bins": 5}, None, codes),
        ("hash_mask", (4,), H, {"num_bins": 5, "mask_value": 0}, None, codes),
        ("hash_salt", (4,), H, {"num_bins": 7, "salt": [133, 137]}, None, codes),
        ("hash_salt_one", (4,), H, {"num_bins": 7, "salt": 133}, None, codes),
        ("hash_one_hot", (1,), H, {"num_bins": 4, "output_mode": "one_hot"}, None, codes[:, :1]),
        ("hash_multi_hot", (4,), H, {"num_bins": 6, "output_mode": "multi_hot"}, None, codes),
        ("hash_count", (4,), H, {"num_bins": 6, "output_mode": "count", "mask_value": 3}, None, codes),
        ("hash_floats", (4,), H, {"num_bins": 1000}, None, codes / 3),
    ]


def string_cases():
    """(name, arguments, adapt data or None, input) for StringLookup."""
    vocab = ["a", "b", "c", "é", "dog"]
    seen = np.array([["a", "z", "dog"], ["c", "", "é"], ["b", "b", "q"]])
    words = np.array([["x", "y", "y"], ["z", "z", "Z"], ["é", "y", "x"], ["w", "z", "y"]])
    return [
        ("str_given", {"vocabulary": vocab}, None, seen),
        ("str_vector", {"vocabulary": vocab}, None, seen[0]),
        ("str_special", {"vocabulary": ["[UNK]"] + vocab}, None, seen),
        ("str_mask", {"vocabulary": vocab, "mask_token": ""}, None, seen),
        ("str_oov3", {"vocabulary": vocab, "num_oov_indices": 3}, None, seen),
        ("str_oov3_salt", {"vocabulary": vocab, "num_oov_indices": 3, "salt": [5, 9]}, None, seen),
        ("str_one_hot", {"vocabulary": vocab, "output_mode": "one_hot"}, None, seen),
        ("str_one_hot_column", {"vocabulary": vocab, "output_mode": "one_hot"}, None, seen[:, :1]),
        ("str_multi_hot", {"vocabulary": vocab, "output_mode": "multi_hot"}, None, seen),
        ("str_multi_hot_vector", {"vocabulary": vocab, "output_mode": "multi_hot"}, None, seen[0]),
        ("str_count_pad", {"vocabulary": vocab, "output_mode": "count", "max_tokens": 9,
                           "pad_to_max_tokens": True}, None, seen),
        ("str_tf_idf", {"vocabulary": vocab, "output_mode": "tf_idf",
                        "idf_weights": [0.5, 1.0, 1.5, 2.0, 2.5]}, None, seen),
        ("str_adapt", {}, words, words),
        ("str_adapt_max_mask", {"max_tokens": 4, "mask_token": "w"}, words, words),
        ("str_adapt_tf_idf", {"output_mode": "tf_idf"}, words, words),
        ("str_invert", {"vocabulary": vocab, "invert": True}, None, np.array([[0, 1, 2], [5, 6, 9]])),
        ("str_invert_mask", {"vocabulary": vocab, "invert": True, "mask_token": "<m>", "oov_token": "?"},
         None, np.array([[0, 1, 2], [6, 7, 3]])),
    ]


def write_strings(outdir):
    import tensorflow as tf

    out = []
    for name, args, data, x in string_cases():
        layer = L.StringLookup(**args)
        if data is not None:
            layer.adapt(data)
        y = layer(tf.constant(x)) if args.get("invert") else layer(x)
        y = np.asarray(y.numpy() if hasattr(y, "numpy") else y)
        values = [v.decode() for v in y.ravel()] if y.dtype.kind in "SO" else y.astype(float).ravel().tolist()
        out.append({"name": name, "args": args, "adapt": None if data is None else data.tolist(),
                    "x": {"shape": list(x.shape), "values": x.ravel().tolist()},
                    "vocabulary": [str(v) for v in layer.get_vocabulary()],
                    "output": {"shape": list(y.shape), "values": values}})
    with open(os.path.join(outdir, "strings.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(5)
    out = []
    for name, shape, cls, args, data, x in cases(rng):
        layer = cls(**args)
        if data is not None and cls is L.Discretization:
            # What adapt() does with an array.
            layer.reset_state()
            layer.update_state(data)
            layer.finalize_state()
        elif data is not None:
            layer.adapt(data)
        model = keras.Sequential([keras.Input(shape), layer], name=name)
        with open(os.path.join(outdir, name + ".json"), "w") as f:
            f.write(model.to_json())
        dtype = "int64" if cls in (L.IntegerLookup, L.Hashing) else "float32"
        y = model.predict(np.asarray(x, dtype=dtype), verbose=0)
        config = layer.get_config()
        out.append({"name": name, "shape": list(shape), "args": args,
                    "adapt": None if data is None else item(data), "x": item(x),
                    "weights": [item(w) for w in layer.get_weights()],
                    "config": {k: v for k, v in config.items() if k not in ("name", "dtype")},
                    "vocabulary": [float(v) for v in layer.get_vocabulary()]
                    if cls is L.IntegerLookup else None,
                    "output": item(y)})
    with open(os.path.join(outdir, "cases.json"), "w") as f:
        json.dump(out, f)
    write_strings(outdir)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: keras_preprocessing.py DIR")
    main(sys.argv[1])
