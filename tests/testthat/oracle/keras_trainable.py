"""Keras 3 as the oracle for trainable and non-trainable weights.

  python keras_trainable.py
      Builds the models below with Keras and prints, as JSON, for each: its total parameter
      count, the sizes of its trainable and non-trainable weights, and how many of each.
  python keras_trainable.py regularized
      Trains a dense model with kernel and bias regularizers for 3 SGD steps from fixed
      weights and data; prints the per-step losses, the final weights and evaluate()'s loss.
"""
import sys
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402


def record(model):
    size = lambda ws: int(sum(np.prod(w.shape) for w in ws))  # noqa: E731
    return {"total": int(model.count_params()),
            "trainable": size(model.trainable_weights),
            "non_trainable": size(model.non_trainable_weights),
            "n_trainable": len(model.trainable_weights),
            "n_non_trainable": len(model.non_trainable_weights)}


def models():
    out = {}
    out["cnn_bn"] = keras.Sequential([
        keras.Input((8, 8, 1)), layers.Conv2D(8, 3), layers.BatchNormalization(),
        layers.Flatten(), layers.Dense(1)])
    out["dense_frozen"] = keras.Sequential([
        keras.Input((3,)), layers.Dense(4, trainable=False), layers.Dense(2)])
    base = keras.Sequential([
        keras.Input((4,)), layers.Dense(8, activation="relu"), layers.BatchNormalization(),
        layers.Dense(6, activation="relu")])
    base.trainable = False
    out["frozen_base"] = keras.Sequential([keras.Input((4,)), base, layers.Dense(2)])
    x = keras.Input((5, 3))
    h = layers.LSTM(4, return_sequences=True, trainable=False)(x)
    h = layers.GRU(3)(h)
    out["recurrent_frozen"] = keras.Model(x, layers.Dense(1)(h))
    t = keras.Input((6,))
    e = layers.Embedding(20, 4, trainable=False)(t)
    e = layers.Conv1D(5, 3)(e)
    e = layers.BatchNormalization(trainable=False)(e)
    out["embedding_bn_frozen"] = keras.Model(t, layers.GlobalAveragePooling1D()(e))
    return out


def regularized():
    model = keras.Sequential([
        keras.Input((4,)),
        layers.Dense(3, activation="tanh", kernel_regularizer=keras.regularizers.L1L2(0.01, 0.02),
                     bias_regularizer=keras.regularizers.L1L2(0.03, 0.04)),
        layers.Dense(1, bias_regularizer=keras.regularizers.L2(0.5))])
    model.set_weights([np.linspace(-1, 1, 12).reshape(4, 3), np.array([0.5, -0.25, 0.1]),
                       np.linspace(0.3, -0.3, 3).reshape(3, 1), np.array([0.2])])
    x = np.linspace(-2, 2, 24).reshape(6, 4)
    y = np.linspace(1, -1, 6).reshape(6, 1)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    losses = [float(model.train_on_batch(x, y)) for _ in range(3)]
    return {"losses": losses, "weights": [w.flatten().tolist() for w in model.get_weights()],
            "evaluate": float(model.evaluate(x, y, verbose=0))}


if len(sys.argv) > 1 and sys.argv[1] == "regularized":
    print(json.dumps(regularized()))
else:
    print(json.dumps({name: record(m) for name, m in models().items()}))
