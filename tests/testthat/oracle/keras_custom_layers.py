"""Keras 3 as the oracle for custom layers that add losses (`self.add_loss()`) and behave
differently in training (`call(inputs, training=None)`).

  python keras_custom_layers.py
      Prints JSON: a model Dense(3, tanh) -> ActivityReg (adds 0.05 * sum of its input) ->
      HalfInTraining (a weight `scale`; in training it halves its output and adds
      0.1 * mean(scale^2)) -> Dense(2), with set weights; the losses of 4 SGD steps on
      batches of 5, the loss of evaluate() in batches of 5, predictions and final weights.
"""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers, ops  # noqa: E402


def arr(shape, start):
    n = int(np.prod(shape))
    return (np.sin(np.arange(n) * 0.7 + start) * 1.5).reshape(shape).astype("float32")


def flat(a):
    a = np.asarray(a, dtype="float64")
    return {"shape": list(a.shape), "values": a.reshape(-1).tolist()}


class ActivityReg(layers.Layer):
    def __init__(self, rate=1e-2, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * ops.sum(inputs))
        return inputs


class HalfInTraining(layers.Layer):
    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

    def call(self, inputs, training=None):
        if training:
            self.add_loss(0.1 * ops.mean(ops.square(self.scale)))
            return inputs * self.scale * 0.5
        return inputs * self.scale


inputs = keras.Input((4,))
h = layers.Dense(3, activation="tanh", name="d1")(inputs)
h = ActivityReg(0.05, name="reg")(h)
h = HalfInTraining(name="half")(h)
outputs = layers.Dense(2, name="d2")(h)
model = keras.Model(inputs, outputs)
weights = [arr(w.shape, 1.0 + i) * 0.5 for i, w in enumerate(model.get_weights())]
model.set_weights(weights)
x = arr((20, 4), 0.3)
y = arr((20, 2), 0.5)
model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
losses = [float(model.train_on_batch(x[i * 5:(i + 1) * 5], y[i * 5:(i + 1) * 5])) for i in range(4)]
evaluated = float(model.evaluate(x, y, batch_size=5, verbose=0))
print(json.dumps({"weights": [flat(w) for w in weights], "losses": losses, "evaluate": evaluated,
                  "predict": flat(model.predict(x, verbose=0)),
                  "final": [flat(w) for w in model.get_weights()]}))
