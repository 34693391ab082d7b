"""Keras 3's save and load times for the seed MLP (Dense 256 relu, Dropout 0.4, Dense 128 relu,
Dropout 0.3, Dense 10 softmax; RMSprop), after one training step so the optimizer has state.

  python keras_saving.py DIR REPS OUT.json
      Times model.save() and keras.saving.load_model() for DIR/keras_mlp.keras and
      DIR/keras_mlp.h5, REPS times each after a warm-up, and writes the seconds and the files'
      sizes to OUT.json: {"keras_save": [...], "keras_load": [...], "h5_save": [...],
      "h5_load": [...], "keras_bytes": n, "h5_bytes": n}.
"""
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers as L  # noqa: E402


def main(d, reps, out):
    m = keras.Sequential([keras.Input((784,)), L.Dense(256, activation="relu"), L.Dropout(0.4),
                          L.Dense(128, activation="relu"), L.Dropout(0.3), L.Dense(10, activation="softmax")])
    m.compile(optimizer=keras.optimizers.RMSprop(), loss="categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).random((128, 784)).astype("float32")
    m.fit(x, keras.utils.to_categorical(np.arange(128) % 10, 10), batch_size=128, verbose=0)
    res = {}
    for kind in ["keras", "h5"]:
        path = os.path.join(d, f"keras_mlp.{kind}")

        def timed(fn):
            fn()
            ts = []
            for _ in range(reps):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
            return ts

        res[f"{kind}_save"] = timed(lambda: m.save(path))
        res[f"{kind}_load"] = timed(lambda: keras.saving.load_model(path))
        res[f"{kind}_bytes"] = os.path.getsize(path)
    with open(out, "w") as f:
        json.dump(res, f)


if __name__ == "__main__":
    import warnings
    import logging
    warnings.filterwarnings("ignore")
    logging.getLogger("absl").setLevel(logging.ERROR)
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
