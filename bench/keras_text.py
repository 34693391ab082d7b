#!/usr/bin/env python3
"""Python anchor for the rkeras text benchmark (`bench_text.R`), on Keras 3.

    python keras_text.py --backend {tensorflow,jax} --net {imdb,lstm} --epochs N --json out.json

Both networks train on random token ids (seeded; the timing does not depend on the values):
  imdb: Embedding(10000, 16) / GlobalAveragePooling1D / Dense 16 relu / Dense 1 sigmoid,
        15000 sequences of 256 tokens, batch 512 (Keras for R's text classification tutorial);
  lstm: Embedding(10000, 32) / LSTM(32) / Dense 1 sigmoid, 12800 sequences of 100 tokens,
        batch 128.
Adam, binary cross-entropy, accuracy; every epoch timed by a callback. The first epoch
includes tracing/compilation and is reported apart; the median of the others is the
steady-state figure.
"""
import argparse
import json
import os
import statistics
import sys

import numpy as np

sys.dont_write_bytecode = True
from keras_mlp import epoch_timer  # noqa: E402

NETS = {"imdb": (15000, 256, 16, 512), "lstm": (12800, 100, 32, 128)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="jax")
    ap.add_argument("--net", default="imdb")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    os.environ["KERAS_BACKEND"] = a.backend
    import keras
    from keras import layers as L
    n, t, dim, batch = NETS[a.net]
    rng = np.random.default_rng(1)
    x = rng.integers(0, 10000, (n, t)).astype("int32")
    y = rng.integers(0, 2, n).astype("float32")
    body = [L.Embedding(10000, dim)]
    body += [L.GlobalAveragePooling1D(), L.Dense(16, activation="relu")] if a.net == "imdb" else [L.LSTM(32)]
    model = keras.Sequential([keras.Input((t,))] + body + [L.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    timer = epoch_timer(keras)
    model.fit(x, y, epochs=a.epochs, batch_size=batch, verbose=0, callbacks=[timer])
    times = timer.times
    out = {"backend": a.backend, "net": a.net, "first": times[0],
           "steady": statistics.median(times[1:]) if len(times) > 1 else times[0], "times": times}
    with open(a.json, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
