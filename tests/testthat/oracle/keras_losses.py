"""Keras 3's losses on given targets and predictions, as the oracle for rkeras's.

  python keras_losses.py IN.json
      IN.json: {"cases": [{"loss": "CategoricalCrossentropy", "args": {...},
                           "y": {"shape", "values"}, "p": {"shape", "values"}}]}
      prints {"values": [per-sample losses of each case]} (values flat, row-major).
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
import keras  # noqa: E402


def arr(item):
    return np.array(item["values"], dtype="float32").reshape(item["shape"])


req = json.load(open(sys.argv[1]))
out = []
for case in req["cases"]:
    loss = getattr(keras.losses, case["loss"])(reduction=None, **case["args"])
    out.append([float(v) for v in np.asarray(loss(arr(case["y"]), arr(case["p"]))).ravel()])
print(json.dumps({"values": out}))
