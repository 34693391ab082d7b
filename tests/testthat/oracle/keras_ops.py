"""Keras 3 (jax) as the oracle for operations on tensors, layer_lambda() and losses written
in R.

  python keras_ops.py
      Prints JSON:
      - "inputs": the arrays the cases read (row-major values and shapes);
      - "cases": for each case, the value of its keras.ops expression and the gradients of
        sum(value * w) with respect to each of its inputs (w: "weights_<case>");
      - "training": a model with a Lambda layer and a loss written with keras.ops, its
        initial weights, data, and its losses and weights after 2 epochs of SGD.
"""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import ops  # noqa: E402

rng = np.random.default_rng(11)


def arr(*shape, lo=-1.0, hi=1.0):
    return np.round(rng.uniform(lo, hi, size=shape), 4).astype("float32")


INPUTS = {
    "x": arr(4, 3, 5),
    "y": arr(4, 3, 5),
    "pos": arr(4, 3, 5, lo=0.2, hi=2.0),
    "b": arr(5),
    "c": arr(3, 1),
    "w25": arr(5, 2),
    "m": arr(4, 5, 2),
    "prob": arr(4, 6, lo=0.05, hi=0.95),
    "logit": arr(4, 6, lo=-3, hi=3),
    "onehot": np.eye(6, dtype="float32")[[1, 0, 5, 3]],
    "ids": np.array([[1], [0], [5], [3]], dtype="float32"),
    "bin": np.array(rng.uniform(size=(4, 6)) > 0.5, dtype="float32"),
}

CASES = {
    "exp": (["x"], lambda x: ops.exp(x)),
    "log": (["pos"], lambda x: ops.log(x)),
    "sqrt": (["pos"], lambda x: ops.sqrt(x)),
    "square": (["x"], lambda x: ops.square(x)),
    "abs": (["x"], lambda x: ops.abs(x)),
    "sign": (["x"], lambda x: ops.sign(x)),
    "sigmoid": (["x"], lambda x: ops.sigmoid(x)),
    "hard_sigmoid": (["x"], lambda x: jnp.clip(0.2 * x * 4 + 0.5, 0, 1)),
    "tanh": (["x"], lambda x: ops.tanh(x)),
    "relu": (["x"], lambda x: ops.relu(x)),
    "relu6": (["x"], lambda x: ops.minimum(ops.relu(x * 8), 6.0)),
    "softplus": (["x"], lambda x: ops.softplus(x)),
    "softsign": (["x"], lambda x: ops.softsign(x)),
    "elu": (["x"], lambda x: ops.elu(x)),
    "elu_alpha": (["x"], lambda x: ops.elu(x, alpha=0.5)),
    "sin": (["x"], lambda x: ops.sin(x)),
    "cos": (["x"], lambda x: ops.cos(x)),
    "log1p": (["pos"], lambda x: ops.log1p(x)),
    "expm1": (["x"], lambda x: ops.expm1(x)),
    "round": (["x"], lambda x: ops.round(x * 3)),
    "floor": (["x"], lambda x: ops.floor(x * 3)),
    "ceiling": (["x"], lambda x: ops.ceil(x * 3)),
    "add": (["x", "y"], lambda x, y: x + y),
    "sub": (["x", "y"], lambda x, y: x - y),
    "mul": (["x", "y"], lambda x, y: x * y),
    "div": (["x", "pos"], lambda x, y: x / y),
    "pow": (["pos", "y"], lambda x, y: ops.power(x, y)),
    "pow_scalar": (["x"], lambda x: ops.power(x, 3.0)),
    "maximum": (["x", "y"], lambda x, y: ops.maximum(x, y)),
    "minimum": (["x", "y"], lambda x, y: ops.minimum(x, y)),
    "mod": (["x", "pos"], lambda x, y: ops.mod(x, y)),
    "floor_div": (["x", "pos"], lambda x, y: ops.floor_divide(x, y)),
    "greater": (["x", "y"], lambda x, y: ops.cast(ops.greater(x, y), "float32")),
    "less_equal": (["x", "y"], lambda x, y: ops.cast(ops.less_equal(x, y), "float32")),
    "switch": (["x", "y"], lambda x, y: ops.where(x > 0, x, y)),
    "broadcast_vector": (["x", "b"], lambda x, b: x + b),
    "broadcast_matrix": (["x", "c"], lambda x, c: x * c),
    "sum_axis": (["x"], lambda x: ops.sum(x, axis=1)),
    "mean_keep": (["x"], lambda x: ops.mean(x, axis=(1, 2), keepdims=True)),
    "mean_all": (["x"], lambda x: ops.mean(x)),
    "max_axis": (["x"], lambda x: ops.max(x, axis=2)),
    "min_axis": (["x"], lambda x: ops.min(x, axis=1)),
    "prod_axis": (["pos"], lambda x: ops.prod(x, axis=2)),
    "var_axis": (["x"], lambda x: ops.var(x, axis=2)),
    "std_axis": (["x"], lambda x: ops.std(x, axis=1)),
    "logsumexp": (["x"], lambda x: ops.logsumexp(x, axis=2)),
    "argmax": (["x"], lambda x: ops.cast(ops.argmax(x, axis=1), "float32")),
    "argmin": (["x"], lambda x: ops.cast(ops.argmin(x, axis=-1), "float32")),
    "any": (["x"], lambda x: ops.cast(ops.any(x > 0.8, axis=2), "float32")),
    "softmax": (["x"], lambda x: ops.softmax(x, axis=-1)),
    "softmax_axis2": (["x"], lambda x: ops.softmax(x, axis=1)),
    "l2_normalize": (["x"], lambda x: x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=2, keepdims=True), 1e-12))),
    "clip": (["x"], lambda x: ops.clip(x, -0.5, 0.5)),
    "reshape": (["x"], lambda x: ops.reshape(x, (4, 15))),
    "batch_flatten": (["x"], lambda x: ops.reshape(x, (4, -1))),
    "expand_dims": (["x"], lambda x: ops.expand_dims(x, 1)),
    "expand_last": (["x"], lambda x: ops.expand_dims(x, -1)),
    "squeeze": (["c"], lambda c: ops.squeeze(c, axis=1)),
    "permute": (["x"], lambda x: ops.transpose(x, (0, 2, 1))),
    "transpose": (["x"], lambda x: ops.transpose(x)),
    "concatenate": (["x", "y"], lambda x, y: ops.concatenate([x, y], axis=1)),
    "concatenate_last": (["x", "y"], lambda x, y: ops.concatenate([x, y], axis=-1)),
    "stack": (["x", "y"], lambda x, y: ops.stack([x, y], axis=1)),
    "tile": (["x"], lambda x: ops.tile(x, (1, 2, 1))),
    "repeat": (["x"], lambda x: ops.repeat(x, 2, axis=2)),
    "slice": (["x"], lambda x: x[:, 1:3, :]),
    "slice_drop": (["x"], lambda x: x[:, 1, :]),
    "slice_negative": (["x"], lambda x: x[:, :, 1:]),
    "one_hot": (["ids"], lambda i: ops.one_hot(ops.cast(i[:, 0], "int32"), 6)),
    "dot": (["x", "w25"], lambda x, w: ops.matmul(x, w)),
    "batch_dot": (["x", "m"], lambda x, m: ops.matmul(x, m)),
    "binary_crossentropy": (["bin", "prob"], lambda t, p: ops.binary_crossentropy(t, p)),
    "binary_crossentropy_logits": (["bin", "logit"], lambda t, p: ops.binary_crossentropy(t, p, from_logits=True)),
    "categorical_crossentropy": (["onehot", "prob"], lambda t, p: ops.categorical_crossentropy(t, p)),
    "categorical_crossentropy_logits": (["onehot", "logit"],
                                        lambda t, p: ops.categorical_crossentropy(t, p, from_logits=True)),
    "sparse_categorical_crossentropy": (["ids", "prob"],
                                        lambda t, p: ops.sparse_categorical_crossentropy(t[:, 0], p)),
    "compound": (["x", "y"], lambda x, y: ops.sum(ops.exp(x) * ops.tanh(y) - x / 2, axis=-1, keepdims=True)),
    "reverse": (["x"], lambda x: ops.flip(x, axis=(1, 2))),
    "repeat_2d": (["prob"], lambda p: ops.repeat(ops.expand_dims(p, 1), 3, axis=1)),
    "gather": (["x"], lambda x: ops.take(x, [2, 0, 2], axis=0)),
    "bias_add": (["x", "b"], lambda x, b: ops.add(x, b)),
    "unstack": (["x"], lambda x: ops.unstack(x, axis=1)[1]),
}


def flat(a):
    a = np.asarray(a, dtype="float64")
    return {"shape": list(a.shape), "values": a.reshape(-1).tolist()}


def run_case(names, fn):
    args = [jnp.asarray(INPUTS[n]) for n in names]
    value = np.asarray(fn(*args))
    w = arr(*value.shape) if value.ndim else np.float32(0.7)

    def scalar(*a):
        return jnp.sum(fn(*a) * w)

    grads = jax.grad(scalar, argnums=tuple(range(len(args))))(*args)
    return {"inputs": names, "value": flat(value), "weights": flat(w), "grads": [flat(g) for g in grads]}


def training():
    x = arr(20, 4)
    y = arr(20, 2)
    inputs = keras.Input((4,))
    h = keras.layers.Dense(3, activation="tanh", name="d1")(inputs)
    h = keras.layers.Lambda(lambda t: ops.square(t) * 0.5 + ops.sin(t), name="lam")(h)
    outputs = keras.layers.Dense(2, name="d2")(h)
    model = keras.Model(inputs, outputs)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([arr(*w.shape) for w in layer.get_weights()])
    initial = [flat(w) for w in model.get_weights()]

    def loss(y_true, y_pred):
        err = y_pred - y_true
        return ops.mean(ops.square(err), axis=-1) + 0.1 * ops.mean(ops.abs(y_pred), axis=-1)

    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
    hist = model.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0)
    return {"x": flat(x), "y": flat(y), "initial": initial, "losses": hist.history["loss"],
            "final": [flat(w) for w in model.get_weights()], "predict": flat(model.predict(x, verbose=0))}


def main():
    out = {"inputs": {k: flat(v) for k, v in INPUTS.items()},
           "cases": {name: run_case(*case) for name, case in CASES.items()},
           "training": training()}
    print(json.dumps(out))


main()
