"""Keras 3 on the other side of rkeras's model files.

  python keras_saving.py write DIR
      Keras builds, trains (a few steps) and saves two models: a Sequential one (Dense,
      Dropout, Dense; RMSprop with momentum, centered) and a functional CNN (Conv2D,
      BatchNormalization, MaxPooling2D, GlobalAveragePooling2D, Dense; Adam). It writes
      DIR/seq.keras, seq.h5, seq.weights.h5, cnn.keras, cnn.h5, and keras2.h5: a file in the
      layout Keras 2 (Keras for R 2.x) wrote, made with h5py (Keras 2 model config with
      `batch_input_shape`, weight names `dense/kernel:0`, `optimizer_config` with `lr`).
      DIR/data.json: {"seq_x", "seq_pred", "cnn_x", "cnn_pred", "keras2_x", "keras2_pred",
      "seq_iterations"}, arrays as {"shape", "values"} (values row-major).

  python keras_saving.py read DIR
      Loads the files rkeras wrote in DIR with `keras.saving.load_model()` (rk_seq.keras,
      rk_seq.h5, rk_cnn.keras, rk_cnn.h5) and predicts DIR/inputs.json's "seq_x" / "cnn_x";
      loads rk_seq.weights.h5 and rk_seq_weights.h5 into the model of rk_seq.keras with
      `load_weights()`. Writes DIR/read.json: {"<file>": {"pred", "iterations",
      "optimizer_variables"}}.

  python keras_saving.py predict DIR
      DIR/inputs.json: {"files": {"<file>": "<case>"}, "inputs": {"<case>": [item, ...]}}.
      Loads each file with `keras.saving.load_model()` and predicts its case's inputs; writes
      DIR/predict.json: {"<file>": [item per output]}.
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers as L  # noqa: E402


def item(a):
    a = np.asarray(a, dtype="float64")
    return {"shape": list(a.shape), "values": [float(v) for v in a.reshape(-1)]}


def unitem(d):
    return np.asarray(d["values"], dtype="float32").reshape(d["shape"])


def seq_model():
    return keras.Sequential([keras.Input((4,)), L.Dense(8, activation="relu"), L.Dropout(0.2),
                             L.Dense(3, activation="softmax")])


def cnn_model():
    i = keras.Input((6, 6, 2))
    h = L.Conv2D(3, 3, padding="same", activation="relu")(i)
    h = L.BatchNormalization()(h)
    h = L.MaxPooling2D(2)(h)
    h = L.GlobalAveragePooling2D()(h)
    return keras.Model(i, L.Dense(2, activation="softmax")(h))


def keras2_file(path, rng):
    """A whole-model file as Keras 2 wrote it: Input(3) -> Dense(4, relu) -> Dense(2, softmax)."""
    w = [rng.normal(size=s).round(2).astype("float32") for s in [(3, 4), (4,), (4, 2), (2,)]]
    layers = [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 3], "dtype": "float32",
                                                "sparse": False, "ragged": False, "name": "dense_input"}},
        {"class_name": "Dense", "config": {"name": "dense", "trainable": True, "dtype": "float32",
                                           "batch_input_shape": [None, 3], "units": 4, "activation": "relu",
                                           "use_bias": True}},
        {"class_name": "Dense", "config": {"name": "dense_1", "trainable": True, "dtype": "float32",
                                           "units": 2, "activation": "softmax", "use_bias": True}},
    ]
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}}
    training = {"loss": "categorical_crossentropy", "metrics": ["accuracy"], "weighted_metrics": None,
                "loss_weights": None, "sample_weight_mode": None,
                "optimizer_config": {"class_name": "RMSprop", "config": {
                    "name": "RMSprop", "lr": 0.002, "rho": 0.9, "decay": 0.0, "epsilon": 1e-07,
                    "centered": False, "momentum": 0.0}}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config).encode("utf8")
        f.attrs["training_config"] = json.dumps(training).encode("utf8")
        f.attrs["keras_version"] = b"2.11.0"
        f.attrs["backend"] = b"tensorflow"
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = np.array([b"dense", b"dense_1"])
        for name, (k, b) in [("dense", (w[0], w[1])), ("dense_1", (w[2], w[3]))]:
            lg = g.create_group(name)
            lg.attrs["weight_names"] = np.array([f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()])
            lg.create_dataset(f"{name}/kernel:0", data=k)
            lg.create_dataset(f"{name}/bias:0", data=b)
    x = rng.normal(size=(5, 3)).round(2).astype("float32")
    h = np.maximum(x @ w[0] + w[1], 0) @ w[2] + w[3]
    p = np.exp(h - h.max(axis=1, keepdims=True))
    return x, p / p.sum(axis=1, keepdims=True)


def write(d):
    rng = np.random.default_rng(7)
    keras.utils.set_random_seed(7)
    seq = seq_model()
    seq.compile(optimizer=keras.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
                loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    sx = rng.normal(size=(20, 4)).astype("float32")
    seq.fit(sx, rng.integers(0, 3, 20), batch_size=10, epochs=2, verbose=0)
    seq.save(f"{d}/seq.keras")
    seq.save(f"{d}/seq.h5")
    seq.save_weights(f"{d}/seq.weights.h5")
    cnn = cnn_model()
    cnn.compile(optimizer="adam", loss="categorical_crossentropy")
    cx = rng.normal(size=(8, 6, 6, 2)).astype("float32")
    cnn.fit(cx, keras.utils.to_categorical(rng.integers(0, 2, 8), 2), batch_size=4, epochs=2, verbose=0)
    cnn.save(f"{d}/cnn.keras")
    cnn.save(f"{d}/cnn.h5")
    kx, kp = keras2_file(f"{d}/keras2.h5", rng)
    out = {"seq_x": item(sx), "seq_pred": item(seq.predict(sx, verbose=0)),
           "cnn_x": item(cx), "cnn_pred": item(cnn.predict(cx, verbose=0)),
           "keras2_x": item(kx), "keras2_pred": item(kp),
           "seq_iterations": int(seq.optimizer.iterations.numpy())}
    with open(f"{d}/data.json", "w") as f:
        json.dump(out, f)


def read(d):
    with open(f"{d}/inputs.json") as f:
        inputs = json.load(f)
    out = {}
    for name in ["rk_seq.keras", "rk_seq.h5", "rk_cnn.keras", "rk_cnn.h5"]:
        m = keras.saving.load_model(f"{d}/{name}")
        x = unitem(inputs["cnn_x" if "cnn" in name else "seq_x"])
        opt = m.optimizer
        out[name] = {"pred": item(m.predict(x, verbose=0)),
                     "iterations": int(opt.iterations.numpy()) if opt is not None and opt.built else -1,
                     "optimizer_variables": len(opt.variables) if opt is not None and opt.built else 0}
    for name in ["rk_seq.weights.h5", "rk_seq_weights.h5"]:
        m = keras.saving.load_model(f"{d}/rk_seq.keras", compile=False)
        for layer in m.layers:
            layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
        m.load_weights(f"{d}/{name}")
        out[name] = {"pred": item(m.predict(unitem(inputs["seq_x"]), verbose=0)),
                     "iterations": -1, "optimizer_variables": 0}
    with open(f"{d}/read.json", "w") as f:
        json.dump(out, f)


def predict(d):
    with open(f"{d}/inputs.json") as f:
        spec = json.load(f)
    out = {}
    for name, case in spec["files"].items():
        m = keras.saving.load_model(f"{d}/{name}")
        x = [unitem(i) for i in spec["inputs"][case]]
        p = m.predict(x if len(x) > 1 else x[0], verbose=0)
        out[name] = [item(v) for v in (p if isinstance(p, (list, tuple)) else [p])]
    with open(f"{d}/predict.json", "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    {"write": write, "read": read, "predict": predict}[sys.argv[1]](sys.argv[2])
