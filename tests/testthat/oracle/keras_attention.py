"""Keras 3 as the oracle for the attention layers (MultiHeadAttention, Attention,
AdditiveAttention).

  python keras_attention.py write DIR
      Builds the models below with Keras, with fixed weights, and writes each as
      DIR/<name>.keras and DIR/<name>.h5, with DIR/<name>.data.json: the inputs, Keras's
      predictions (a list, one per output), the losses of 3 SGD steps on the first output
      (mean squared error against `y`) and the weights after them.
  python keras_attention.py read DIR NAME...
      Loads DIR/<NAME>.keras and DIR/<NAME>.h5 (written by rkeras), predicts on the inputs
      of DIR/<NAME>.data.json and prints each file's predictions as JSON.
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402


def arr(shape, start, scale=1.0):
    n = int(np.prod(shape))
    return (np.sin(np.arange(n) * 0.7 + start) * scale).reshape(shape).astype("float32")


def tokens(shape, start):
    # Token ids with zero padding at the end of some rows (masked steps).
    n, t = shape
    ids = (np.arange(n * t).reshape(shape) * 7 + start) % 19 + 1
    for i in range(n):
        ids[i, t - (i % 3):] = 0
    return ids.astype("float32")


def models():
    out = {}
    # Self-attention over masked token embeddings, pooled: the transformer pattern.
    t = keras.Input((7,), name="tok")
    e = layers.Embedding(20, 8, mask_zero=True, name="emb")(t)
    a = layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(e, e)
    x = layers.Add(name="res")([a, e])
    x = layers.LayerNormalization(name="ln")(x)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    out["mha_self"] = (keras.Model(t, layers.Dense(1, name="out")(x), name="mha_self"),
                       [tokens((6, 7), 3)])
    # Cross attention with a key, an attention mask, the causal mask, value_dim,
    # output_shape and the scores as a second output.
    q = keras.Input((5, 6), name="q")
    v = keras.Input((4, 3), name="v")
    k = keras.Input((4, 5), name="k")
    m = keras.Input((5, 4), name="m")
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=2, output_shape=7, name="cross")
    y, s = mha(q, v, key=k, attention_mask=m, use_causal_mask=True, return_attention_scores=True)
    flat = layers.Dense(1, name="out")(layers.Flatten(name="flat")(y))
    mask = (arr((6, 5, 4), 0.4) > -0.6).astype("float32")
    out["mha_cross"] = (keras.Model([q, v, k, m], [flat, s], name="mha_cross"),
                        [arr((6, 5, 6), 0.1), arr((6, 4, 3), 0.2), arr((6, 4, 5), 0.3), mask])
    # Luong attention (concat scores, scaled, causal) and additive attention over masked
    # sequences.
    qt = keras.Input((5,), name="qt")
    vt = keras.Input((6,), name="vt")
    qe = layers.Embedding(20, 4, mask_zero=True, name="qe")(qt)
    ve = layers.Embedding(20, 4, mask_zero=True, name="ve")(vt)
    luong = layers.Attention(use_scale=True, score_mode="concat", name="luong")([qe, ve], use_causal_mask=True)
    dot = layers.Attention(name="dot")([qe, ve, ve])
    bahdanau = layers.AdditiveAttention(name="bahdanau")([qe, ve])
    cat = layers.Concatenate(name="cat")([luong, dot, bahdanau])
    pooled = layers.GlobalAveragePooling1D(name="pool")(cat)
    out["luong_bahdanau"] = (keras.Model([qt, vt], layers.Dense(1, name="out")(pooled), name="luong_bahdanau"),
                             [tokens((6, 5), 1), tokens((6, 6), 5)])
    return out


def as_list(p):
    return [np.asarray(a).tolist() for a in (p if isinstance(p, list) else [p])]


def write(d):
    for name, (model, xs) in models().items():
        model.set_weights([arr(w.shape, 1.0 + i, 0.5) for i, w in enumerate(model.get_weights())])
        model.save(os.path.join(d, name + ".keras"))
        model.save(os.path.join(d, name + ".h5"))
        pred = as_list(model.predict(xs, verbose=0))
        y = arr((6, 1), 0.5)
        first = keras.Model(model.inputs, model.outputs[0])
        first.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        losses = [float(first.train_on_batch(xs, y)) for _ in range(3)]
        rec = {"x": [x.tolist() for x in xs], "y": y.tolist(), "pred": pred, "losses": losses,
               "weights": [w.flatten().tolist() for w in model.get_weights()]}
        with open(os.path.join(d, name + ".data.json"), "w") as f:
            json.dump(rec, f)


def read(d, names):
    out = {}
    for name in names:
        with open(os.path.join(d, name + ".data.json")) as f:
            xs = [np.asarray(x, dtype="float32") for x in json.load(f)["x"]]
        out[name] = {ext: as_list(keras.saving.load_model(os.path.join(d, name + "." + ext), compile=False)
                                  .predict(xs, verbose=0)) for ext in ("keras", "h5")}
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        read(sys.argv[2], sys.argv[3:])
