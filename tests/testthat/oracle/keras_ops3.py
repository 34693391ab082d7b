"""Keras 3's `keras.ops` under their own defaults, as the oracle for rkeras's `op_*` names.

  python keras_ops3.py
      Prints JSON: each case's inputs and value (row-major), for the cases whose defaults or
      formulas differ from Keras 2's backend functions.
"""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

x = (np.sin(np.arange(12) * 0.9 + 0.4) * 3).reshape(3, 4).astype("float32")
y = (np.cos(np.arange(12) * 0.7) * 2).reshape(3, 4).astype("float32")
ids = np.array([2, 0, 3], dtype="int32")


def flat(a):
    a = np.asarray(a, dtype="float64")
    return {"shape": list(a.shape), "values": a.reshape(-1).tolist()}


cases = {
    "concatenate": ops.concatenate([x, y]),
    "stack": ops.stack([x, y]),
    "argmax_keep": ops.argmax(x, axis=1, keepdims=True),
    "argmin_last": ops.argmin(x, axis=-1),
    "hard_sigmoid": ops.hard_sigmoid(x),
    "silu": ops.silu(x),
    "leaky_relu": ops.leaky_relu(x),
    "relu6": ops.relu6(x * 3),
    "elu": ops.elu(x),
    "log_softmax": ops.log_softmax(x),
    "softmax_first": ops.softmax(x, axis=0),
    "one_hot": ops.one_hot(ids, 5),
    "repeat": ops.repeat(x, 2, axis=0),
    "std": ops.std(x, axis=1, keepdims=True),
    "var_all": ops.var(x),
    "max_all": ops.max(x),
    "logsumexp": ops.logsumexp(x, axis=0),
    "transpose": ops.transpose(ops.reshape(x, (3, 2, 2)), axes=(1, 0, 2)),
    "mod": ops.mod(x, 1.5),
    "floor_divide": ops.floor_divide(x, 1.5),
    "where": ops.where(x > 0, x, y),
    "clip": ops.clip(x, -1, 1),
    "tile": ops.tile(x, (2, 1)),
    "expand_dims": ops.expand_dims(x, 1),
    "squeeze": ops.squeeze(ops.reshape(x, (3, 1, 4))),
    "matmul": ops.matmul(x, ops.transpose(y)),
    "cce": ops.categorical_crossentropy(ops.one_hot(ids, 4), ops.softmax(x)),
    "scce_logits": ops.sparse_categorical_crossentropy(ids, x, from_logits=True),
    "bce": ops.binary_crossentropy(ops.sigmoid(y), ops.sigmoid(x)),
}
print(json.dumps({"x": flat(x), "y": flat(y), "ids": [int(i) for i in ids],
                  "cases": {k: flat(v) for k, v in cases.items()}}))
