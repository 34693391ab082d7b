"""Keras 3 and rkeras continuing each other's training from saved files.

  python keras_continue.py write DIR
      For each optimizer below, Keras trains the reference model 3 steps from fixed weights
      and data, saves it with its optimizer state as DIR/k_<opt>.keras and DIR/k_<opt>.h5,
      then trains 5 more steps. Writes DIR/keras.json: {"<opt>": [5 losses]}.
  python keras_continue.py continue DIR
      Loads each of rkeras's DIR/rk_<opt>.keras and trains 5 more steps. Writes
      DIR/continued.json: {"rk_<opt>.keras": [5 losses], ...}. (Keras 3 cannot continue
      training from a legacy .h5 file, even one it wrote: its optimizer comes back unbuilt.)
  python keras_continue.py h5state DIR
      Reads the optimizer weights of rkeras's DIR/rk_<opt>.h5 and of Keras's DIR/k_<opt>.h5
      (both after the same 3 steps), in file order, as Keras's loader reads them. Writes
      DIR/h5state.json: {"<opt>": {"rk": [[shape...]...], "k": [...], "max_diff": float}}.

The model: Input(4), Dense(5, tanh), Dense(2); loss mse; one batch of 6 rows per step.
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

OPTIMIZERS = {
    "sgd": lambda: keras.optimizers.SGD(0.05, momentum=0.9),
    "rmsprop": lambda: keras.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "adam": lambda: keras.optimizers.Adam(0.01),
    "amsgrad": lambda: keras.optimizers.Adam(0.01, amsgrad=True),
    "nadam": lambda: keras.optimizers.Nadam(0.01),
    "adadelta": lambda: keras.optimizers.Adadelta(1.0),
    "adagrad": lambda: keras.optimizers.Adagrad(0.1),
}

X = np.linspace(-2, 2, 24).reshape(6, 4).astype("float32")
Y = np.stack([np.linspace(1, -1, 6), np.cos(np.arange(6.0))], axis=1).astype("float32")


def model():
    m = keras.Sequential([keras.Input((4,)), layers.Dense(5, activation="tanh"), layers.Dense(2)])
    m.set_weights([np.linspace(-1, 1, 20).reshape(4, 5), np.linspace(0.1, -0.1, 5),
                   np.linspace(0.5, -0.5, 10).reshape(5, 2), np.array([0.05, -0.05])])
    return m


def steps(m, n):
    return [float(m.train_on_batch(X, Y)) for _ in range(n)]


def write(d):
    out = {}
    for name, opt in OPTIMIZERS.items():
        m = model()
        m.compile(optimizer=opt(), loss="mse")
        steps(m, 3)
        m.save(os.path.join(d, f"k_{name}.keras"))
        m.save(os.path.join(d, f"k_{name}.h5"))
        out[name] = steps(m, 5)
    with open(os.path.join(d, "keras.json"), "w") as f:
        json.dump(out, f)


def cont(d):
    out = {}
    for name in OPTIMIZERS:
        file = f"rk_{name}.keras"
        m = keras.saving.load_model(os.path.join(d, file))
        out[file] = steps(m, 5)
    with open(os.path.join(d, "continued.json"), "w") as f:
        json.dump(out, f)


def optimizer_weights(path):
    """The optimizer weights of a legacy .h5 file in the order Keras's loader takes them."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format
    with h5py.File(path, "r") as f:
        return [np.asarray(w) for w in legacy_h5_format.load_optimizer_weights_from_hdf5_group(f)]


def h5state(d):
    out = {}
    for name in OPTIMIZERS:
        rk = optimizer_weights(os.path.join(d, f"rk_{name}.h5"))
        k = optimizer_weights(os.path.join(d, f"k_{name}.h5"))
        same = len(rk) == len(k) and all(a.shape == b.shape for a, b in zip(rk, k))
        out[name] = {"rk": [list(a.shape) for a in rk], "k": [list(b.shape) for b in k],
                     "max_diff": max(float(np.max(np.abs(a - b))) if a.size else 0.0
                                     for a, b in zip(rk, k)) if same else None}
    with open(os.path.join(d, "h5state.json"), "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    {"write": write, "continue": cont, "h5state": h5state}[sys.argv[1]](sys.argv[2])
