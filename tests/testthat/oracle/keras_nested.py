"""Keras 3 as the oracle for models used as layers (nested models).

  python keras_nested.py write DIR
      Builds the models below with Keras, with seeded weights, and writes each as
      DIR/<name>.keras, DIR/<name>.h5 and DIR/<name>.json, with DIR/<name>.data.json: the
      inputs, Keras's predictions, and model.layers as summary() lists them (name, class,
      parameters), with the trainable and non-trainable totals.
  python keras_nested.py read DIR NAME...
      Loads DIR/<NAME>.keras, DIR/<NAME>.h5 (written by rkeras) and DIR/<NAME>.json with
      DIR/<NAME>.weights.json, predicts on DIR/<NAME>.x.json and prints, as JSON, each
      file's predictions and layer rows.
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402


def rows(model):
    return [{"name": l.name, "class_name": l.__class__.__name__, "params": int(l.count_params())}
            for l in model.layers]


def totals(model):
    size = lambda ws: int(sum(np.prod(w.shape) for w in ws))  # noqa: E731
    return {"trainable": size(model.trainable_weights), "non_trainable": size(model.non_trainable_weights)}


def models():
    out = {}
    inner = keras.Sequential([keras.Input((3,)), layers.Dense(4, activation="tanh", name="in_dense"),
                              layers.BatchNormalization(name="in_bn")], name="inner_seq")
    x = keras.Input((3,), name="x")
    out["functional_over_sequential"] = keras.Model(x, layers.Dense(2, name="head")(inner(x)), name="outer_f")
    a = keras.Input((3,), name="a")
    fin = keras.Model(a, layers.Dense(5, activation="relu", name="f_dense")(a), name="inner_f")
    out["sequential_over_functional"] = keras.Sequential([keras.Input((3,)), fin, layers.Dense(2, name="s_out")],
                                                         name="outer_s")
    # Three levels, and one model called twice (shared weights).
    leaf = keras.Sequential([keras.Input((3,)), layers.Dense(3, activation="relu", name="leaf_dense")], name="leaf")
    m_in = keras.Input((3,), name="m_in")
    mid = keras.Model(m_in, layers.Dense(2, name="mid_dense")(leaf(m_in)), name="mid")
    p = keras.Input((3,), name="p")
    q = keras.Input((3,), name="q")
    merged = layers.Concatenate(name="cat")([mid(p), mid(q)])
    out["deep_and_shared"] = keras.Model([p, q], layers.Dense(1, name="top")(merged), name="siamese")
    return out


def inputs_for(model, rng):
    return [rng.standard_normal((6,) + tuple(t.shape[1:])).astype("float32") for t in model.inputs]


def write(d):
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    for name, model in models().items():
        for w in model.weights:
            w.assign(rng.uniform(-0.5, 0.5, w.shape).astype("float32") + (1.0 if "variance" in w.path else 0.0))
        xs = inputs_for(model, rng)
        pred = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
        model.save(os.path.join(d, name + ".keras"))
        model.save(os.path.join(d, name + ".h5"))
        with open(os.path.join(d, name + ".json"), "w") as f:
            f.write(model.to_json())
        rec = {"inputs": [x.tolist() for x in xs], "pred": np.asarray(pred).tolist(),
               "rows": rows(model), "params": int(model.count_params()), **totals(model)}
        with open(os.path.join(d, name + ".data.json"), "w") as f:
            json.dump(rec, f)


def read(d, names):
    out = {}
    for name in names:
        with open(os.path.join(d, name + ".x.json")) as f:
            xs = [np.asarray(x, dtype="float32") for x in json.load(f)]
        got = {}
        for ext in ("keras", "h5"):
            m = keras.models.load_model(os.path.join(d, name + "." + ext), compile=False)
            got[ext] = {"pred": np.asarray(m.predict(xs if len(xs) > 1 else xs[0], verbose=0)).tolist(),
                        "rows": rows(m), **totals(m)}
        with open(os.path.join(d, name + ".json")) as f:
            m = keras.models.model_from_json(f.read())
        got["json"] = {"rows": rows(m), **totals(m)}
        out[name] = got
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        read(sys.argv[2], sys.argv[3:])
