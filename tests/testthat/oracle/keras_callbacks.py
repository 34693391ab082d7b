"""Keras 3's EarlyStopping and ReduceLROnPlateau driven by given monitored values: the
reference for rkeras's callbacks.

  python keras_callbacks.py fixtures > tests/testthat/fixtures/keras_callbacks.json
      Random trials (fixed seed): for each, the values, the arguments, and what Keras did:
      the epoch EarlyStopping stopped at (null: never) and the learning rate logged at every
      epoch by ReduceLROnPlateau.
  python keras_callbacks.py drive REQUEST.json
      One request {"kind": "early_stopping" | "reduce_lr", "values": [...], "args": {...},
      "lr": ...} (monitor "val_loss"); prints the same record for it.
"""
import json
import math
import os
import sys
import warnings

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
import keras  # noqa: E402


def model(lr=0.01):
    m = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    m.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
    return m


def nan(v):
    return float("nan") if v is None else v


def early_stopping(values, args, m):
    cb = keras.callbacks.EarlyStopping(monitor="val_loss", **args)
    cb.set_model(m)
    m.stop_training = False
    cb.on_train_begin()
    for epoch, v in enumerate(values):
        cb.on_epoch_end(epoch, {"val_loss": nan(v)})
        if m.stop_training:
            return {"stopped": epoch, "best_epoch": cb.best_epoch}
    return {"stopped": None, "best_epoch": cb.best_epoch}


def reduce_lr(values, args, lr, m):
    m.optimizer.learning_rate = lr
    cb = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", **args)
    cb.set_model(m)
    cb.on_train_begin()
    logged = []
    for epoch, v in enumerate(values):
        logs = {"val_loss": nan(v)}
        cb.on_epoch_end(epoch, logs)
        logged.append(logs["learning_rate"])
    return {"lr": logged}


def fixtures():
    rng = np.random.default_rng(7)
    m = model()
    out = []
    for i in range(200):
        n = int(rng.integers(1, 13))
        maximize = bool(rng.random() < 0.5)
        values = np.round(np.cumsum(rng.normal(0.02 if maximize else -0.02, 0.05, n)) + 1, 2).tolist()
        if rng.random() < 0.15:
            values[int(rng.integers(0, n))] = None  # NaN
        mode = "max" if maximize else "min"
        es = {"patience": int(rng.integers(0, 5)), "min_delta": float(rng.choice([0, 0.01, 0.03])), "mode": mode}
        if rng.random() < 0.3:
            es["baseline"] = round(float(values[0] if values[0] is not None else 1.0) + float(rng.normal(0, 0.05)), 2)
        rl = {"factor": float(rng.choice([0.1, 0.5])), "patience": int(rng.integers(0, 4)),
              "min_delta": float(rng.choice([0, 1e-4, 0.02])), "cooldown": int(rng.integers(0, 3)),
              "min_lr": float(rng.choice([0, 0.002])), "mode": mode}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.append({"values": values, "early_stopping": es, "reduce_lr": rl, "lr": 0.01,
                         "stopped": early_stopping(values, es, m)["stopped"],
                         "logged_lr": reduce_lr(values, rl, 0.01, m)["lr"]})
    print(json.dumps(out))


def drive(path):
    with open(path) as f:
        req = json.load(f)
    m = model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if req["kind"] == "early_stopping":
            print(json.dumps(early_stopping(req["values"], req["args"], m)))
        else:
            print(json.dumps(reduce_lr(req["values"], req["args"], req["lr"], m)))


if __name__ == "__main__":
    if sys.argv[1] == "fixtures":
        fixtures()
    else:
        drive(sys.argv[2])
