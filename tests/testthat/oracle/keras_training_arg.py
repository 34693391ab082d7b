"""Keras 3 as the oracle for the transfer-learning pattern: a base model called with
`training=False` (which Keras 3's fit() overrides with its own mode) and frozen.

  python keras_training_arg.py
      Prints JSON: a base model (dense, batch normalization) frozen and called with
      training=False inside a model with a new head: the losses of 3 SGD steps, then with the
      base unfrozen and the model recompiled, 3 more; the final weights and predictions.
"""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402


def arr(shape, start):
    n = int(np.prod(shape))
    return (np.sin(np.arange(n) * 0.7 + start) * 1.5).reshape(shape).astype("float32")


bi = keras.Input((6,))
h = layers.Dense(4, activation="relu")(bi)
h = layers.BatchNormalization()(h)
base = keras.Model(bi, h)
base.trainable = False
xin = keras.Input((6,))
out = layers.Dense(1)(base(xin, training=False))
model = keras.Model(xin, out)
w = [arr(v.shape, 2.0 + i) * 0.5 for i, v in enumerate(model.get_weights())]
w[5] = np.abs(w[5]) + 0.5  # the moving variance
model.set_weights(w)
x, y = arr((8, 6), 0.3), arr((8, 1), 0.5)
model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
losses = [float(model.train_on_batch(x, y)) for _ in range(3)]
base.trainable = True
model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
losses += [float(model.train_on_batch(x, y)) for _ in range(3)]
print(json.dumps({"losses": losses, "weights": [v.flatten().tolist() for v in model.get_weights()],
                  "predict": model.predict(x, verbose=0).flatten().tolist()}))
