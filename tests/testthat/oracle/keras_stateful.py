"""Keras 3 as the oracle for rkeras's stateful recurrent layers. Keras's JAX backend does not
carry a stateful layer's states from one predict_on_batch() or train_on_batch() to the next;
its TensorFlow backend (Keras for R's) does. So this script runs on TensorFlow and writes a
fixture the tests read:

  KERAS_BACKEND=tensorflow python keras_stateful.py OUT.json

For each case: a model Input(batch_size=4, shape=(5, 2)) -> the recurrent layer(s), stateful
-> Dense(1), its JSON, seeded weights rounded to 2 decimals, three input batches, and
"predict": the outputs of predict_on_batch() on batches 1, 2, then (after resetting the states)
batch 2 again; "train": the losses of train_on_batch() (SGD 0.1, MSE) on batches 1, 2, 3 with
the states carried, then after reset_states() on batch 1. Arrays as {"shape", "values"},
values flat in row-major order.
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers as L  # noqa: E402

B, T, D = 4, 5, 2


def item(a):
    a = np.asarray(a)
    return {"shape": list(a.shape), "values": [float(str(v)) for v in a.astype("float32").ravel()]}


def cases():
    return [
        ("lstm", lambda: [L.LSTM(3, stateful=True)]),
        ("gru_seq_back", lambda: [L.GRU(3, stateful=True, return_sequences=True, go_backwards=True), L.Flatten()]),
        ("rnn_lstm", lambda: [L.SimpleRNN(2, stateful=True, return_sequences=True), L.LSTM(2, stateful=True)]),
    ]


def reset(model):
    """Keras 3's reset_states(): each stateful recurrent layer's reset_state()"""
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_state()


def build(make):
    return keras.Sequential([keras.Input(batch_size=B, shape=(T, D))] + make() + [L.Dense(1)])


def main(out):
    rng = np.random.default_rng(3)
    xs = [np.round(rng.normal(0, 1, (B, T, D)), 2).astype("float32") for _ in range(3)]
    ys = [np.round(rng.normal(0, 1, (B, 1)), 2).astype("float32") for _ in range(3)]
    recs = []
    for name, make in cases():
        model = build(make)
        weights = [np.round(rng.normal(0, 0.5, w.shape), 2).astype("float32") for w in model.get_weights()]
        model.set_weights(weights)
        preds = [model.predict_on_batch(xs[0]), model.predict_on_batch(xs[1])]
        reset(model)
        preds.append(model.predict_on_batch(xs[1]))
        reset(model)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        losses = [float(model.train_on_batch(xs[i], ys[i])) for i in range(3)]
        reset(model)
        losses.append(float(model.train_on_batch(xs[0], ys[0])))
        recs.append({"name": name, "model": build(make).to_json(), "weights": [item(w) for w in weights],
                     "predict": [item(p) for p in preds], "train": losses})
    with open(out, "w") as f:
        json.dump({"x": [item(x) for x in xs], "y": [item(y) for y in ys], "cases": recs}, f)


if __name__ == "__main__":
    main(sys.argv[1])
