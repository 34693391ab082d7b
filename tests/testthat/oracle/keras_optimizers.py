"""Writes the reference trajectories of Keras 3's optimizers for the engine's tests.

  KERAS_BACKEND=jax python keras_optimizers.py | python -c "import json,sys; print(json.dumps(json.load(sys.stdin), separators=(',', ':')))" \
      > src/rust/src/optimizers/keras_steps.json

For each case (optimizer name, rkeras's numeric hyper-parameters in the order of
`Optimizer::new`, the base optimizer's options [clipnorm, clipvalue, global_clipnorm,
weight_decay, decay] (null for unset), Keras's optimizer), a float32 variable of 5 values starts at
`w0` and takes 6 steps with the gradients listed; the JSON holds the weights after every
step. The gradients mix small values (where where epsilon sits matters) and large ones.
"""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
import keras  # noqa: E402

W0 = [1.0, -0.5, 0.25, 2.0, -1.5]
GRADS = [
    [2.0, -1.0, 1e-4, 3e-3, -0.5],
    [1.5, 0.5, -2e-4, 1e-3, -0.25],
    [-0.5, 1e-5, 3e-4, -2e-3, 0.75],
    [0.25, -0.75, 1e-6, 5e-4, 1.0],
    [1e-3, 2.0, -5e-5, -1e-4, -1.25],
    [-1.0, -0.1, 2e-5, 2e-3, 0.5],
]
O = keras.optimizers
CASES = [
    ("sgd", 0.1, [], O.SGD(0.1)),
    ("sgd", 0.1, [0.9, 0.0], O.SGD(0.1, momentum=0.9)),
    ("sgd", 0.05, [0.8, 1.0], O.SGD(0.05, momentum=0.8, nesterov=True)),
    ("rmsprop", 0.001, [], O.RMSprop(0.001)),
    ("rmsprop", 0.01, [0.8, 0.0, 1e-3, 0.0], O.RMSprop(0.01, rho=0.8, epsilon=1e-3)),
    ("rmsprop", 0.01, [0.9, 0.5, 1e-7, 0.0], O.RMSprop(0.01, momentum=0.5)),
    ("rmsprop", 0.01, [0.9, 0.0, 1e-4, 1.0], O.RMSprop(0.01, centered=True, epsilon=1e-4)),
    ("adam", 0.01, [], O.Adam(0.01)),
    ("adam", 0.01, [0.8, 0.99, 1e-3, 1.0, 0.0], O.Adam(0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-3, amsgrad=True)),
    ("adamw", 0.01, [0.9, 0.999, 1e-7, 0.0, 0.01], O.AdamW(0.01, weight_decay=0.01)),
    ("adagrad", 0.1, [], O.Adagrad(0.1)),
    ("adagrad", 0.1, [0.5, 1e-3], O.Adagrad(0.1, initial_accumulator_value=0.5, epsilon=1e-3)),
    ("adadelta", 1.0, [], O.Adadelta(1.0)),
    ("adadelta", 0.5, [0.9, 1e-6], O.Adadelta(0.5, rho=0.9, epsilon=1e-6)),
    ("adamax", 0.01, [], O.Adamax(0.01)),
    ("adamax", 0.02, [0.8, 0.99, 1e-3], O.Adamax(0.02, beta_1=0.8, beta_2=0.99, epsilon=1e-3)),
    ("nadam", 0.01, [], O.Nadam(0.01)),
    ("nadam", 0.02, [0.8, 0.99, 1e-3], O.Nadam(0.02, beta_1=0.8, beta_2=0.99, epsilon=1e-3)),
]
# The base optimizer's options, on several optimizers.
NONE = None
OPTION_CASES = [
    ("sgd", 0.1, [0.9, 0.0], [1.0, NONE, NONE, 0.0, 0.0], O.SGD(0.1, momentum=0.9, clipnorm=1.0)),
    ("rmsprop", 0.01, [], [NONE, 0.5, NONE, 0.0, 0.0], O.RMSprop(0.01, clipvalue=0.5)),
    ("adam", 0.01, [], [NONE, NONE, 0.7, 0.0, 0.0], O.Adam(0.01, global_clipnorm=0.7)),
    ("adadelta", 1.0, [], [0.5, NONE, NONE, 0.0, 0.0], O.Adadelta(1.0, clipnorm=0.5)),
    ("sgd", 0.1, [], [NONE, NONE, NONE, 0.05, 0.0], O.SGD(0.1, weight_decay=0.05)),
    ("adagrad", 0.1, [], [NONE, NONE, NONE, 0.02, 0.0], O.Adagrad(0.1, weight_decay=0.02)),
    ("rmsprop", 0.01, [], [NONE, 0.3, NONE, 0.1, 0.0], O.RMSprop(0.01, clipvalue=0.3, weight_decay=0.1)),
    ("nadam", 0.01, [], [NONE, NONE, NONE, 0.01, 0.0], O.Nadam(0.01, weight_decay=0.01)),
]
CASES = [(n, lr, p, [NONE, NONE, NONE, 0.0, 0.0], o) for n, lr, p, o in CASES] + OPTION_CASES

out = []
for name, lr, params, options, opt in CASES:
    v = keras.Variable(np.array(W0, dtype="float32"))
    steps = []
    for g in GRADS:
        opt.apply_gradients([(np.array(g, dtype="float32"), v)])
        steps.append([float(x) for x in np.asarray(v.value)])
    out.append({"name": name, "learning_rate": lr, "params": params, "options": options,
                "keras": type(opt).__name__, "steps": steps})
print(json.dumps({"w0": W0, "grads": GRADS, "cases": out}, indent=1))
