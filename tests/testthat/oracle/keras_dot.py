"""Keras 3 as the oracle for the Dot layer.

  python keras_dot.py
      Prints JSON: for each case, the outputs of Dot on fixed inputs ("forward"), and for a
      small model with Dense layers on both sides of a normalized Dot, the losses of 3 SGD
      steps and the final weights ("training").
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


CASES = {
    "rank2": ((3, 4), (3, 4), 1, False),
    "rank2_normalized": ((3, 4), (3, 4), -1, True),
    "rank3_last": ((2, 3, 4), (2, 5, 4), 2, False),
    "pair": ((2, 5, 2), (2, 2, 5), [1, 2], False),
    "pair_normalized": ((2, 5, 3), (2, 4, 5), [1, -1], True),
    "mixed_rank": ((2, 4), (2, 4, 3), [1, 1], True),
}


def forward():
    out = {}
    for name, (sa, sb, axes, norm) in CASES.items():
        a, b = arr(sa, 0.1), arr(sb, 1.3)
        y = layers.Dot(axes=axes, normalize=norm)([a, b])
        out[name] = {"y": np.asarray(y).flatten().tolist(), "shape": list(np.asarray(y).shape)}
    return out


def training():
    qa = keras.Input((3, 4))
    kb = keras.Input((5, 4))
    q = layers.Dense(4, activation="tanh")(qa)
    k = layers.Dense(4)(kb)
    s = layers.Dot(axes=2, normalize=True)([q, k])
    out = layers.Dense(1)(layers.Flatten()(s))
    m = keras.Model([qa, kb], out)
    m.set_weights([arr(w.shape, 2.0 + i) * 0.5 for i, w in enumerate(m.get_weights())])
    x1, x2 = arr((6, 3, 4), 0.3), arr((6, 5, 4), 0.9)
    y = arr((6, 1), 0.5)
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    losses = [float(m.train_on_batch([x1, x2], y)) for _ in range(3)]
    return {"losses": losses, "weights": [w.flatten().tolist() for w in m.get_weights()]}


print(json.dumps({"forward": forward(), "training": training()}))
