"""Keras 3 as the oracle for activity regularization.

  python keras_activity.py
      Prints JSON: for each model ("dense", "conv"), the losses of 3 SGD steps on one batch,
      the evaluation loss at batch size 4 (batches of 4 and 2 rows), the predictions and the
      final weights.
"""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers, regularizers  # noqa: E402


def arr(shape, start):
    n = int(np.prod(shape))
    return (np.sin(np.arange(n) * 0.7 + start) * 1.5).reshape(shape).astype("float32")


def dense_model():
    x = keras.Input((4,))
    h = layers.Dense(5, activation="relu",
                     activity_regularizer=regularizers.L1L2(l1=0.01, l2=0.02))(x)
    h = layers.ActivityRegularization(l1=0.003, l2=0.05)(h)
    out = layers.Dense(2, activity_regularizer=regularizers.L2(0.1))(h)
    return keras.Model(x, out), (6, 4), (6, 2)


def conv_model():
    x = keras.Input((5, 3))
    h = layers.Conv1D(2, 2, activation="tanh", activity_regularizer=regularizers.L2(0.05))(x)
    out = layers.Dense(1)(layers.Flatten()(h))
    return keras.Model(x, out), (6, 5, 3), (6, 1)


def run(make):
    m, xs, ys = make()
    m.set_weights([arr(w.shape, 2.0 + i) * 0.5 for i, w in enumerate(m.get_weights())])
    x, y = arr(xs, 0.3), arr(ys, 0.5)
    m.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    losses = [float(m.train_on_batch(x, y)) for _ in range(3)]
    ev = float(m.evaluate(x, y, batch_size=4, verbose=0))
    p = m.predict(x, verbose=0)
    return {"losses": losses, "evaluate": ev, "predict": p.flatten().tolist(),
            "weights": [w.flatten().tolist() for w in m.get_weights()]}


print(json.dumps({"dense": run(dense_model), "conv": run(conv_model)}))
