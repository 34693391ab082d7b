"""Keras 3 as the oracle for the text and housing datasets, on small files in the real
files' format (made here with NumPy), so no download is needed.

  python keras_datasets.py DIR
      Writes DIR/datasets/{imdb.npz, reuters.npz, boston_housing.npz, imdb_word_index.json,
      reuters_word_index.json} (object arrays of Python int lists, as the real files hold),
      then runs Keras's load_data() on them for the argument sets in CASES, and writes
      DIR/expected.json: {"<case>": {"x_train", "y_train", "x_test", "y_test"}} with
      sequences as lists of lists and boston's x as {"shape", "values"} (row-major).
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
from keras.src.datasets import boston_housing, imdb, reuters  # noqa: E402

CASES = {
    "imdb_default": ("imdb", {}),
    "imdb_words": ("imdb", {"num_words": 40, "skip_top": 3, "seed": 7}),
    "imdb_maxlen": ("imdb", {"maxlen": 12, "start_char": None, "oov_char": None, "index_from": 2}),
    "reuters_default": ("reuters", {}),
    "reuters_split": ("reuters", {"num_words": 30, "test_split": 0.3, "seed": 1, "oov_char": None}),
    "boston_default": ("boston", {}),
    "boston_split": ("boston", {"test_split": 0.25, "seed": 5}),
}


def ragged(rng, n, vocab, lo, hi):
    return np.array([list(map(int, rng.integers(1, vocab, rng.integers(lo, hi)))) for _ in range(n)],
                    dtype=object)


def main(d):
    data = os.path.join(d, "datasets")
    os.makedirs(data, exist_ok=True)
    rng = np.random.default_rng(3)
    np.savez(os.path.join(data, "imdb.npz"), x_train=ragged(rng, 23, 60, 2, 20),
             y_train=rng.integers(0, 2, 23), x_test=ragged(rng, 17, 60, 2, 20), y_test=rng.integers(0, 2, 17))
    np.savez(os.path.join(data, "reuters.npz"), x=ragged(rng, 31, 50, 1, 15), y=rng.integers(0, 46, 31))
    np.savez(os.path.join(data, "boston_housing.npz"), x=np.round(rng.normal(size=(29, 13)), 3),
             y=np.round(rng.uniform(5, 50, 29), 1))
    for name in ["imdb_word_index.json", "reuters_word_index.json"]:
        with open(os.path.join(data, name), "w") as f:
            json.dump({"the": 1, "and": 2, "a": 3, "caf\u00e9": 4}, f)
    paths = {"imdb": "imdb.npz", "reuters": "reuters.npz", "boston": "boston_housing.npz"}
    mods = {"imdb": imdb, "reuters": reuters, "boston": boston_housing}
    for k, m in mods.items():
        m.get_file = lambda *a, _p=os.path.join(data, paths[k]), **kw: _p
    out = {}
    for case, (which, kwargs) in CASES.items():
        (xt, yt), (xs, ys) = mods[which].load_data(**kwargs)
        if which == "boston":
            enc = lambda a: {"shape": list(a.shape), "values": [float(v) for v in a.reshape(-1)]}
        else:
            enc = lambda a: [list(map(int, s)) for s in a]
        out[case] = {"x_train": enc(xt), "y_train": [float(v) for v in yt],
                     "x_test": enc(xs), "y_test": [float(v) for v in ys]}
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1])
