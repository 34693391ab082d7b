"""Keras 3 as the oracle for rkeras's model JSON and its layers' forward passes.

  python keras_models.py write DIR
      Builds the reference models below with Keras, and writes for each NAME:
      DIR/NAME.json (model.to_json()), DIR/NAME.data.json ({"weights": [{"shape", "values"}],
      "inputs": [...], "outputs": [...], "layers": [...]}), values flat in row-major order.
  python keras_models.py read MODEL_JSON DATA_JSON
      Reads a model written by rkeras with keras.models.model_from_json(), sets the weights
      and inputs of DATA_JSON, and prints the same kind of record (layers and outputs).
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402


def models():
    out = {}
    out["sequential"] = keras.Sequential([
        keras.Input((6,)),
        layers.Dense(4, activation="tanh", kernel_regularizer=keras.regularizers.L1L2(0.01, 0.02), name="d1"),
        layers.Dropout(0.3),
        layers.Reshape((2, 2)),
        layers.Permute((2, 1)),
        layers.Flatten(),
        layers.RepeatVector(3),
        layers.Dense(2, activation="softmax", use_bias=False,
                     kernel_initializer=keras.initializers.RandomNormal(0.0, 0.3)),
        layers.Activation("sigmoid"),
    ], name="seq")
    a = keras.Input((4,), name="a")
    b = keras.Input((3,), name="b")
    shared = layers.Dense(3, activation="relu", name="shared")
    sa, sb = shared(a), shared(layers.Dense(4, name="b4")(b))
    cat = layers.Concatenate(name="cat")([sa, sb, b])
    merged = [layers.Add()([sa, sb]), layers.Subtract()([sa, sb]), layers.Multiply()([sa, sb]),
              layers.Average()([sa, sb, sa]), layers.Maximum()([sa, sb]), layers.Minimum()([sa, sb])]
    m = layers.Concatenate(axis=-1, name="merged")(merged + [layers.Dot(axes=1, name="dot")([sa, sb])])
    o1 = layers.Dense(2, activation="softmax", name="cls")(cat)
    o2 = layers.Dense(1, name="reg")(m)
    out["functional"] = keras.Model([a, b], [o1, o2], name="fm")
    # Merges that broadcast a size of 1 (EfficientNet's squeeze-and-excite multiply).
    x = keras.Input((4, 5, 3), name="x")
    s = keras.Input((1, 1, 3), name="s")
    r = keras.Input((4, 1, 3), name="r")
    se = layers.Dense(3, activation="sigmoid", name="se")(s)
    parts = [layers.Multiply(name="mul")([x, se]), layers.Add(name="add")([x, r]),
             layers.Subtract(name="sub")([r, x]), layers.Maximum(name="max")([x, se, r]),
             layers.Minimum(name="min")([r, x]), layers.Average(name="avg")([se, r])]
    flat = layers.Concatenate(name="all")([layers.Flatten()(t) for t in parts])
    out["broadcast"] = keras.Model([x, s, r], layers.Dense(2, name="out")(flat), name="bm")
    return out


def record(model, inputs):
    preds = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    if not isinstance(preds, (list, tuple)):
        preds = [preds]
    return {
        "class_name": type(model).__name__,
        "layers": [{"name": l.name, "class_name": type(l).__name__,
                    "output_shape": [d for d in l.output.shape[1:]], "params": int(l.count_params())}
                   for l in model.layers],
        "outputs": [{"shape": list(p.shape), "values": np.asarray(p, dtype=float).ravel().tolist()} for p in preds],
    }


def flat(arrays):
    return [{"shape": list(a.shape), "values": np.asarray(a, dtype=float).ravel().tolist()} for a in arrays]


def write(outdir):
    rng = np.random.default_rng(1)
    for name, model in models().items():
        weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in model.get_weights()]
        model.set_weights(weights)
        inputs = [rng.normal(0, 1, (5,) + tuple(i.shape[1:])).astype("float32") for i in model.inputs]
        rec = record(model, inputs)
        rec["weights"] = flat(weights)
        rec["inputs"] = flat(inputs)
        with open(os.path.join(outdir, name + ".json"), "w") as f:
            f.write(model.to_json())
        with open(os.path.join(outdir, name + ".data.json"), "w") as f:
            json.dump(rec, f)


def unflat(items):
    return [np.asarray(i["values"], dtype="float32").reshape(i["shape"]) for i in items]


def read(model_json, data_json):
    with open(model_json) as f:
        model = keras.models.model_from_json(f.read())
    with open(data_json) as f:
        data = json.load(f)
    model.set_weights(unflat(data["weights"]))
    print(json.dumps(record(model, unflat(data["inputs"]))))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        read(sys.argv[2], sys.argv[3])
