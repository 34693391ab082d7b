"""Keras 3's losses (and metric functions) on given targets and predictions, as the oracle
for rkeras's. A case with "metric" instead of "loss" calls keras.metrics.<metric>(y, p, **args).

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
    if "metric_class" in case:
        m = getattr(keras.metrics, case["metric_class"])(**(case["args"] or {}))
        sw = np.array(case["sample_weight"], dtype="float32") if "sample_weight" in case else None
        m.update_state(arr(case["y"]), arr(case["p"]), sample_weight=sw)
        values = m.result()
    elif "metric" in case:
        values = getattr(keras.metrics, case["metric"])(arr(case["y"]), arr(case["p"]), **(case["args"] or {}))
    else:
        loss = getattr(keras.losses, case["loss"])(reduction=None, **(case["args"] or {}))
        values = loss(arr(case["y"]), arr(case["p"]))
    out.append([float(v) for v in np.asarray(values).ravel()])
print(json.dumps({"values": out}))
