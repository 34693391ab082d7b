"""Keras 3 as the oracle for rkeras's optimizers inside a network: one small classifier trained
100 steps by each optimizer case below, from the same weights on the same batches.

  python keras_training.py write DIR
      DIR/model.json: model.to_json() of Input(5) -> Dense(8, tanh) -> Dense(3, softmax),
      saved before compile(). DIR/data.json: {"x", "y", "initial_weights", "batch_size",
      "steps"}: x (64 x 5) and the weights as {"shape", "values"} with the values flat in
      row-major order, y the integer labels 0..2. Step s (0-based) trains on rows
      (s % 4) * 16 ... (s % 4) * 16 + 15. DIR/cases.json: [{"name", "r_call", "losses",
      "final_weights", "clipped_steps"}]: r_call is the R expression building the same
      optimizer in rkeras, losses the 100 values train_on_batch() returned (each before its
      step's update), final_weights the weights after the last step, clipped_steps (clipping
      cases only) the number of steps at which the clipping changed the gradient.

Weights and x are seeded normal values rounded to 2 decimals (short files; R's double and
numpy's float32 of such a value round to the same float32). Losses and final weights are
float32 written in their shortest round-tripping form.

Every step also recomputes the loss and the gradients in float64 numpy from the weights Keras
holds before the step, checks the loss against Keras's, and counts the steps at which a clipping
case's threshold binds: the script fails if the loss disagrees or the clipping binds at fewer
than 90 of the 100 steps, so a case never silently stops testing what its name says.
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers as L  # noqa: E402

N, BATCH, STEPS = 64, 16, 100
LOSS = "sparse_categorical_crossentropy"
O = keras.optimizers
S = keras.optimizers.schedules

# (name, R expression, Keras optimizer factory, clipping to count: None or (kind, threshold)).
# Thresholds sit below the gradient norms and values of the whole trajectory (see
# clipped_steps).
CASES = [
    ("sgd", "optimizer_sgd(learning_rate = 0.05)", lambda: O.SGD(0.05), None),
    ("sgd_momentum", "optimizer_sgd(learning_rate = 0.05, momentum = 0.9)",
     lambda: O.SGD(0.05, momentum=0.9), None),
    ("sgd_nesterov", "optimizer_sgd(learning_rate = 0.05, momentum = 0.9, nesterov = TRUE)",
     lambda: O.SGD(0.05, momentum=0.9, nesterov=True), None),
    ("rmsprop", "optimizer_rmsprop(learning_rate = 0.01)", lambda: O.RMSprop(0.01), None),
    ("rmsprop_momentum", "optimizer_rmsprop(learning_rate = 0.01, momentum = 0.5)",
     lambda: O.RMSprop(0.01, momentum=0.5), None),
    ("rmsprop_centered", "optimizer_rmsprop(learning_rate = 0.01, centered = TRUE)",
     lambda: O.RMSprop(0.01, centered=True), None),
    ("adagrad", "optimizer_adagrad(learning_rate = 0.1)", lambda: O.Adagrad(0.1), None),
    ("adadelta", "optimizer_adadelta(learning_rate = 1.0)", lambda: O.Adadelta(1.0), None),
    ("adam", "optimizer_adam(learning_rate = 0.01)", lambda: O.Adam(0.01), None),
    # With the default beta_2 = 0.999 the second moment keeps growing over 100 steps except
    # where gradients are tiny, so AMSGrad's maximum hardly binds (losses within 1.2e-4 of
    # Adam's, well inside the Adam family's tolerance); with 0.9 it changes them by up to 85%.
    ("amsgrad", "optimizer_adam(learning_rate = 0.01, beta_2 = 0.9, amsgrad = TRUE)",
     lambda: O.Adam(0.01, beta_2=0.9, amsgrad=True), None),
    ("adamw", "optimizer_adamw(learning_rate = 0.01, weight_decay = 0.05)",
     lambda: O.AdamW(0.01, weight_decay=0.05), None),
    ("adamax", "optimizer_adamax(learning_rate = 0.02)", lambda: O.Adamax(0.02), None),
    ("nadam", "optimizer_nadam(learning_rate = 0.01)", lambda: O.Nadam(0.01), None),
    # The base optimizer's options.
    ("sgd_clipnorm", "optimizer_sgd(learning_rate = 0.05, clipnorm = 0.1)",
     lambda: O.SGD(0.05, clipnorm=0.1), ("clipnorm", 0.1)),
    ("rmsprop_clipvalue", "optimizer_rmsprop(learning_rate = 0.01, clipvalue = 0.01)",
     lambda: O.RMSprop(0.01, clipvalue=0.01), ("clipvalue", 0.01)),
    ("adam_global_clipnorm", "optimizer_adam(learning_rate = 0.01, global_clipnorm = 0.05)",
     lambda: O.Adam(0.01, global_clipnorm=0.05), ("global_clipnorm", 0.05)),
    ("sgd_weight_decay", "optimizer_sgd(learning_rate = 0.05, weight_decay = 0.1)",
     lambda: O.SGD(0.05, weight_decay=0.1), None),
    ("adagrad_weight_decay", "optimizer_adagrad(learning_rate = 0.1, weight_decay = 0.05)",
     lambda: O.Adagrad(0.1, weight_decay=0.05), None),
    # Learning-rate schedules, each varying the rate within the 100 steps.
    ("schedule_exponential", "optimizer_sgd(learning_rate_schedule_exponential_decay(0.2, 20, 0.5))",
     lambda: O.SGD(S.ExponentialDecay(0.2, 20, 0.5)), None),
    ("schedule_exponential_staircase",
     "optimizer_sgd(learning_rate_schedule_exponential_decay(0.2, 15, 0.6, staircase = TRUE))",
     lambda: O.SGD(S.ExponentialDecay(0.2, 15, 0.6, staircase=True)), None),
    ("schedule_inverse_time",
     "optimizer_sgd(learning_rate_schedule_inverse_time_decay(0.2, 10, 1, staircase = TRUE))",
     lambda: O.SGD(S.InverseTimeDecay(0.2, 10, 1.0, staircase=True)), None),
    ("schedule_piecewise",
     "optimizer_sgd(learning_rate_schedule_piecewise_constant_decay(c(30, 60), c(0.2, 0.05, 0.01)))",
     lambda: O.SGD(S.PiecewiseConstantDecay([30, 60], [0.2, 0.05, 0.01])), None),
    ("schedule_polynomial",
     "optimizer_sgd(learning_rate_schedule_polynomial_decay(0.2, 50, 0.01, power = 2))",
     lambda: O.SGD(S.PolynomialDecay(0.2, 50, 0.01, power=2)), None),
    # A power of two as decay_steps: compiled by XLA, Keras's step / decay_steps becomes
    # step * (1 / decay_steps), which exceeds a whole number at some multiples (90 / 30
    # gives 3.0000002, so ceil() starts the next cycle one step early).
    ("schedule_polynomial_cycle",
     "optimizer_sgd(learning_rate_schedule_polynomial_decay(0.1, 32, 0.02, cycle = TRUE))",
     lambda: O.SGD(S.PolynomialDecay(0.1, 32, 0.02, cycle=True)), None),
    ("schedule_cosine",
     "optimizer_sgd(learning_rate_schedule_cosine_decay(0.05, 80, alpha = 0.1, warmup_target = 0.2, warmup_steps = 10))",
     lambda: O.SGD(S.CosineDecay(0.05, 80, alpha=0.1, warmup_target=0.2, warmup_steps=10)), None),
    ("schedule_cosine_restarts",
     "optimizer_sgd(learning_rate_schedule_cosine_decay_restarts(0.2, 20, m_mul = 0.8, alpha = 0.05))",
     lambda: O.SGD(S.CosineDecayRestarts(0.2, 20, m_mul=0.8, alpha=0.05)), None),
    ("schedule_cosine_restarts_even",
     "optimizer_rmsprop(learning_rate_schedule_cosine_decay_restarts(0.01, 25, t_mul = 1))",
     lambda: O.RMSprop(S.CosineDecayRestarts(0.01, 25, t_mul=1.0)), None),
]


# Every loss, and every metric with it, in the same network trained by SGD: (name, R loss, Keras
# loss, targets, R metrics, Keras metrics, R weighted metrics, Keras weighted metrics).
# Targets: "sparse" the labels, "onehot", "soft" (0.1 / 0.9), "signed" (-1 / 1). A case
# with weighted metrics trains with sample weights.
M = keras.metrics
LOSS_CASES = [
    ("loss_cce", "loss_categorical_crossentropy(label_smoothing = 0.1)",
     lambda: keras.losses.CategoricalCrossentropy(label_smoothing=0.1), "onehot",
     "list('accuracy', metric_top_k_categorical_accuracy(k = 2), metric_auc(), metric_precision(), metric_recall(), 'kl_divergence')",
     lambda: ["accuracy", M.TopKCategoricalAccuracy(k=2), M.AUC(), M.Precision(), M.Recall(), "kl_divergence"],
     "list('accuracy', metric_auc(curve = 'PR'))", lambda: ["accuracy", M.AUC(curve="PR")]),
    ("loss_sparse", "'sparse_categorical_crossentropy'", lambda: "sparse_categorical_crossentropy", "sparse",
     "list('accuracy', metric_sparse_top_k_categorical_accuracy(k = 2), 'sparse_categorical_crossentropy')",
     lambda: ["accuracy", M.SparseTopKCategoricalAccuracy(k=2), "sparse_categorical_crossentropy"],
     "list(metric_sparse_categorical_accuracy())", lambda: [M.SparseCategoricalAccuracy()]),
    ("loss_binary", "'binary_crossentropy'", lambda: "binary_crossentropy", "onehot",
     "list(metric_binary_accuracy(threshold = 0.3), metric_precision(top_k = 1), metric_recall(class_id = 2))",
     lambda: [M.BinaryAccuracy(threshold=0.3), M.Precision(top_k=1), M.Recall(class_id=2)], "NULL", lambda: None),
    ("loss_mse", "'mse'", lambda: "mse", "soft", "list('mae', metric_root_mean_squared_error(), 'cosine_similarity')",
     lambda: ["mae", M.RootMeanSquaredError(), "cosine_similarity"], "list('mse')", lambda: ["mse"]),
    ("loss_mae", "'mae'", lambda: "mae", "soft", "list('mape', 'msle')", lambda: ["mape", "msle"], "NULL", lambda: None),
    ("loss_mape", "'mape'", lambda: "mape", "soft", "list('mse')", lambda: ["mse"], "NULL", lambda: None),
    ("loss_msle", "'msle'", lambda: "msle", "soft", "list('poisson')", lambda: ["poisson"], "NULL", lambda: None),
    ("loss_huber", "loss_huber(delta = 0.2)", lambda: keras.losses.Huber(delta=0.2), "soft",
     "list(metric_logcosh_error())", lambda: [M.LogCoshError()], "NULL", lambda: None),
    ("loss_kld", "'kld'", lambda: "kld", "soft", "list('categorical_crossentropy')",
     lambda: ["categorical_crossentropy"], "NULL", lambda: None),
    ("loss_poisson", "'poisson'", lambda: "poisson", "soft", "list('msle')", lambda: ["msle"], "NULL", lambda: None),
    ("loss_log_cosh", "'log_cosh'", lambda: "log_cosh", "soft", "NULL", lambda: None, "NULL", lambda: None),
    ("loss_hinge", "'hinge'", lambda: "hinge", "onehot", "list('squared_hinge', 'categorical_hinge')",
     lambda: ["squared_hinge", "categorical_hinge"], "NULL", lambda: None),
    ("loss_hinge_signed", "'hinge'", lambda: "hinge", "signed", "NULL", lambda: None, "list('hinge')", lambda: ["hinge"]),
    ("loss_squared_hinge", "'squared_hinge'", lambda: "squared_hinge", "onehot", "NULL", lambda: None, "NULL", lambda: None),
    ("loss_categorical_hinge", "'categorical_hinge'", lambda: "categorical_hinge", "onehot", "NULL", lambda: None,
     "NULL", lambda: None),
    ("loss_cosine", "'cosine_similarity'", lambda: "cosine_similarity", "soft", "list(metric_cosine_similarity())",
     lambda: [M.CosineSimilarity()], "NULL", lambda: None),
]


def loss_lr(name):
    """SGD's rate: smaller for MAPE, whose gradients are 100 / |y| times the others'"""
    return 0.0005 if name == "loss_mape" else 0.05


def targets(kind, y):
    onehot = np.eye(3)[y]
    return {"sparse": y, "onehot": onehot, "soft": 0.1 + 0.8 * onehot, "signed": 2 * onehot - 1}[kind]


def run_loss_case(case, x, y, weights, sample_weights):
    name, _, make_loss, kind, _, make_metrics, _, make_weighted = case
    model = build()
    model.set_weights([w.astype("float32") for w in weights])
    wm, ms = make_weighted(), make_metrics()
    model.compile(optimizer=O.SGD(loss_lr(name)), loss=make_loss(), metrics=ms, weighted_metrics=wm)
    # The logs in compile order (Keras returns them sorted): the loss, the metrics, the
    # weighted metrics ("weighted_" when a plain metric has the name).
    plain = [m if isinstance(m, str) else m.name for m in ms or []]
    weighted = [m if isinstance(m, str) else m.name for m in wm or []]
    order = ["loss"] + plain + ["weighted_" + m if m in plain else m for m in weighted]
    xf, t = x.astype("float32"), targets(kind, y).astype("float32")
    logs = {}
    for s in range(STEPS):
        rows = slice((s % (N // BATCH)) * BATCH, (s % (N // BATCH) + 1) * BATCH)
        sw = sample_weights[rows].astype("float32") if wm else None
        out = model.train_on_batch(xf[rows], t[rows], sample_weight=sw, return_dict=True)
        if sorted(out) != sorted(order):
            sys.exit(f"{name}: logs {sorted(out)}, expected {order}")
        for k in order:
            logs.setdefault(k, []).append(float(out[k]))
    return logs


def f32(a):
    """float32 values, flat in row-major order, in their shortest round-tripping form"""
    return [float(str(v)) for v in np.asarray(a, dtype=np.float32).ravel()]


def item(a, exact=False):
    a = np.asarray(a)
    values = np.asarray(a, dtype=float).ravel().tolist() if exact else f32(a)
    return {"shape": list(a.shape), "values": values}


def rounded(rng, shape, scale):
    """seeded normal values rounded to 2 decimals, as doubles (exact in JSON; no -0.0)"""
    return np.round(rng.normal(0, scale, shape), 2) + 0.0


def build():
    return keras.Sequential([keras.Input((5,)), L.Dense(8, activation="tanh", name="hidden"),
                             L.Dense(3, activation="softmax", name="probs")], name="net")


def data():
    """x, labels of a seeded linear teacher (learnable, so the losses fall), initial weights"""
    rng = np.random.default_rng(23)
    x = rounded(rng, (N, 5), 1)
    y = np.argmax(x @ rng.normal(0, 1, (5, 3)), axis=1)
    weights = [rounded(rng, s, 0.5) for s in [(5, 8), (8,), (8, 3), (3,)]]
    return x, y, weights


def loss_and_grads(w, x, y):
    """The batch's mean crossentropy and its gradients, in float64"""
    k1, b1, k2, b2 = [np.asarray(v, dtype=float) for v in w]
    h = np.tanh(x @ k1 + b1)
    z = h @ k2 + b2
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    n = len(y)
    loss = -np.mean(np.log(p[np.arange(n), y]))
    dz = p.copy()
    dz[np.arange(n), y] -= 1
    dz /= n
    dh = (dz @ k2.T) * (1 - h ** 2)
    return loss, [x.T @ dh, dh.sum(axis=0), h.T @ dz, dz.sum(axis=0)]


def binds(clip, grads):
    """whether clipping (kind, threshold) changes these gradients"""
    kind, t = clip
    if kind == "clipnorm":  # each gradient scaled to norm <= t on its own: count steps clipping all
        return all(np.linalg.norm(g) > t for g in grads)
    if kind == "global_clipnorm":
        return np.sqrt(sum(np.sum(g ** 2) for g in grads)) > t
    return any(np.any(np.abs(g) > t) for g in grads)  # clipvalue


def run_case(make_optimizer, clip, x, y, weights):
    model = build()
    model.set_weights([w.astype("float32") for w in weights])
    model.compile(optimizer=make_optimizer(), loss=LOSS)
    xf = x.astype("float32")
    losses, clipped = [], 0
    for s in range(STEPS):
        rows = slice((s % (N // BATCH)) * BATCH, (s % (N // BATCH) + 1) * BATCH)
        want, grads = loss_and_grads(model.get_weights(), xf[rows], y[rows])
        got = float(model.train_on_batch(xf[rows], y[rows]))
        if abs(got - want) > 1e-5 * abs(want):
            sys.exit(f"step {s}: Keras's loss {got} is not the float64 recomputation {want}")
        losses.append(got)
        clipped += bool(clip and binds(clip, grads))
    return model, losses, clipped


def write(outdir):
    x, y, weights = data()
    with open(os.path.join(outdir, "model.json"), "w") as f:
        f.write(build().to_json())
    with open(os.path.join(outdir, "data.json"), "w") as f:
        json.dump({"x": item(x, exact=True), "y": y.tolist(),
                   "initial_weights": [item(w, exact=True) for w in weights],
                   "batch_size": BATCH, "steps": STEPS}, f, separators=(",", ":"))
    records = []
    for name, r_call, make_optimizer, clip in CASES:
        model, losses, clipped = run_case(make_optimizer, clip, x, y, weights)
        if clip and clipped < 0.9 * STEPS:
            sys.exit(f"{name}: {clip[0]} = {clip[1]} binds at only {clipped} of {STEPS} steps")
        rec = {"name": name, "r_call": r_call, "losses": losses,
               "final_weights": [item(w) for w in model.get_weights()]}
        if clip:
            rec["clipped_steps"] = clipped
        records.append(rec)
    with open(os.path.join(outdir, "cases.json"), "w") as f:
        json.dump(records, f, separators=(",", ":"))
    sample_weights = np.round(np.random.default_rng(5).uniform(0.2, 2, N), 2)
    loss_records = []
    for case in LOSS_CASES:
        logs = run_loss_case(case, x, y, weights, sample_weights)
        loss_records.append({"name": case[0], "lr": loss_lr(case[0]), "r_loss": case[1], "targets": case[3], "r_metrics": case[4],
                             "r_weighted_metrics": case[6], "log_names": list(logs.keys()),
                             "logs": [logs[k] for k in logs]})
    with open(os.path.join(outdir, "loss_cases.json"), "w") as f:
        json.dump({"sample_weights": sample_weights.tolist(), "cases": loss_records}, f, separators=(",", ":"))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "write":
        sys.exit("usage: keras_training.py write DIR")
    os.makedirs(sys.argv[2], exist_ok=True)
    write(sys.argv[2])
