#!/usr/bin/env python3
"""Python anchor for the transformer benchmark (`bench_transformer.R`), on Keras 3.

    python keras_transformer.py --backend {tensorflow,jax} --epochs N --json out.json

Keras's "text classification with Transformer" example written with built-in layers: token
embeddings (20000 x 32) plus position embeddings (200 x 32, the positions given as a second
input), a transformer block (multi-head attention with 2 heads of key_dim 32, dropout 0.1,
residual connections, layer normalization with epsilon 1e-6, feed-forward 32 relu / 32),
global average pooling, dropout 0.1, dense 20 relu, dropout 0.1, dense 2 softmax. Adam,
sparse categorical cross-entropy, accuracy, batch 32, 10000 sequences of 200 random tokens.
Every epoch is timed by a callback (the first includes compilation); then predict() on the
10000 sequences at batch 32 is timed (after one warm-up call).
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from keras_mlp import epoch_timer  # noqa: E402

N, MAXLEN, VOCAB, EMBED, HEADS, FF = 10000, 200, 20000, 32, 2, 32


def build(keras):
    L = keras.layers
    tok = keras.Input((MAXLEN,), name="tokens")
    pos = keras.Input((MAXLEN,), name="positions")
    x = L.Add()([L.Embedding(VOCAB, EMBED)(tok), L.Embedding(MAXLEN, EMBED)(pos)])
    att = L.MultiHeadAttention(num_heads=HEADS, key_dim=EMBED)(x, x)
    out1 = L.LayerNormalization(epsilon=1e-6)(L.Add()([x, L.Dropout(0.1)(att)]))
    ffn = L.Dense(EMBED)(L.Dense(FF, activation="relu")(out1))
    x = L.LayerNormalization(epsilon=1e-6)(L.Add()([out1, L.Dropout(0.1)(ffn)]))
    x = L.GlobalAveragePooling1D()(x)
    x = L.Dense(20, activation="relu")(L.Dropout(0.1)(x))
    out = L.Dense(2, activation="softmax")(L.Dropout(0.1)(x))
    return keras.Model([tok, pos], out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="jax")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    os.environ["KERAS_BACKEND"] = a.backend
    import keras
    rng = np.random.default_rng(1)
    x = rng.integers(1, VOCAB, (N, MAXLEN)).astype("int32")
    p = np.tile(np.arange(MAXLEN, dtype="int32"), (N, 1))
    y = rng.integers(0, 2, N).astype("int32")
    model = build(keras)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = epoch_timer(keras)
    model.fit([x, p], y, epochs=a.epochs, batch_size=32, verbose=0, callbacks=[timer])
    times = timer.times
    model.predict([x[:64], p[:64]], batch_size=32, verbose=0)
    t0 = time.perf_counter()
    model.predict([x, p], batch_size=32, verbose=0)
    pred = time.perf_counter() - t0
    out = {"backend": a.backend, "first": times[0],
           "steady": statistics.median(times[1:]) if len(times) > 1 else times[0], "times": times,
           "predict_s": pred, "predict_rows_per_s": N / pred}
    with open(a.json, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
