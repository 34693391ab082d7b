#!/usr/bin/env python3
"""Python anchor for the rkeras benchmark: the seed's Fashion-MNIST MLP on Keras 3.

    python keras_mlp.py --backend {tensorflow,jax} --epochs N --train-rows N \
        --batch 128 --json out.json [--predict]

Reads the IDX .gz files directly (numpy + gzip), scales x/255 to float32,
one-hot encodes the labels, builds Dense 256 relu / Dropout 0.4 / Dense 128
relu / Dropout 0.3 / Dense 10 softmax with RMSprop defaults, fits with
validation_split=0.2 and times every epoch with a callback. The first epoch
includes tracing/compilation: it is reported apart, and the median of the
other epochs is the steady-state figure. Writes everything to --json.
"""
import argparse
import gzip
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

DATA_DIR = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    """Read an IDX file (optionally gzip-compressed) into a numpy uint8 array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    return data.reshape(dims)


def find(data_dir, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(data_dir, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"{stem}(.gz) not found in {data_dir}")


def load(data_dir, train_rows):
    xtr = read_idx(find(data_dir, "train-images-idx3-ubyte"))
    ytr = read_idx(find(data_dir, "train-labels-idx1-ubyte"))
    xte = read_idx(find(data_dir, "t10k-images-idx3-ubyte"))
    yte = read_idx(find(data_dir, "t10k-labels-idx1-ubyte"))
    n = min(train_rows, xtr.shape[0]) if train_rows > 0 else xtr.shape[0]
    xtr = (xtr[:n].reshape(n, 784).astype(np.float32) / np.float32(255.0))
    xte = (xte.reshape(-1, 784).astype(np.float32) / np.float32(255.0))
    eye = np.eye(10, dtype=np.float32)
    return xtr, eye[ytr[:n]], xte, eye[yte]


def epoch_timer(keras):
    """A callback recording each epoch's wall time in `.times` (keras is passed in: it is
    imported only after the backend is chosen)."""
    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []
            self._t = None

        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self._t)

    return EpochTimer()


def median_time(fn, reps):
    fn()  # warm-up (tracing / compilation)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["tensorflow", "jax"], required=True)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--train-rows", type=int, default=60000,
                    help="first N training rows (0 = all 60000); 20%% of them validate")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--json", required=True, help="output file")
    ap.add_argument("--predict", action="store_true",
                    help="also time predict() on the 10000 test images at batch 32 and 10000")
    ap.add_argument("--predict-reps", type=int, default=10)
    ap.add_argument("--data-dir", default=os.environ.get("RKERAS_FASHION_DIR", DATA_DIR))
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    # The backend must be chosen before keras is imported.
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    t_load = time.perf_counter()
    x_train, y_train, x_test, y_test = load(args.data_dir, args.train_rows)
    t_load = time.perf_counter() - t_load

    t0 = time.perf_counter()
    import keras  # noqa: E402  (timed: part of the start-up figure)
    t_import = time.perf_counter() - t0
    keras.utils.set_random_seed(args.seed)
    model = keras.Sequential([
        keras.Input(shape=(784,)),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dropout(0.4),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy",
                  optimizer=keras.optimizers.RMSprop(),
                  metrics=["accuracy"])
    t_startup = time.perf_counter() - t0

    timer = epoch_timer(keras)
    t_fit = time.perf_counter()
    hist = model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch,
                     validation_split=0.2, verbose=0, callbacks=[timer])
    t_fit = time.perf_counter() - t_fit

    test_loss, test_acc = model.evaluate(x_test, y_test, batch_size=args.batch, verbose=0)

    rest = timer.times[1:]
    out = {
        "framework": "keras-" + args.backend,
        "backend": args.backend,
        "versions": {"python": platform.python_version(), "keras": keras.__version__,
                     "numpy": np.__version__},
        "cpu_count": os.cpu_count(),
        "train_rows": int(x_train.shape[0]),
        "fit_rows": int(round(x_train.shape[0] * 0.8)),
        "batch": args.batch,
        "epochs": args.epochs,
        "load_s": t_load,
        "import_s": t_import,
        "startup_s": t_startup,
        "fit_s": t_fit,
        "epoch_s": timer.times,
        "first_epoch_s": timer.times[0] if timer.times else None,
        "median_epoch_s": statistics.median(rest) if rest else None,
        "history": {k: [float(v) for v in vals] for k, vals in hist.history.items()},
        "test_loss": float(test_loss),
        "test_acc": float(test_acc),
        "env": {k: os.environ.get(k) for k in
                ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS",
                 "XLA_FLAGS", "TF_NUM_INTEROP_THREADS", "TF_NUM_INTRAOP_THREADS")},
    }
    if args.backend == "tensorflow":
        import tensorflow as tf
        out["versions"]["tensorflow"] = tf.__version__
    else:
        import jax
        import jaxlib
        out["versions"]["jax"] = jax.__version__
        out["versions"]["jaxlib"] = jaxlib.__version__

    if args.predict:
        n = x_test.shape[0]
        pred = {}
        for bs in (32, n):
            times = median_time(lambda: model.predict(x_test, batch_size=bs, verbose=0),
                                args.predict_reps)
            med = statistics.median(times)
            pred[str(bs)] = {"batch": bs, "rows": n, "seconds": times,
                             "median_s": med, "rows_per_s": n / med}
        out["predict"] = pred

    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)
    med = f"{out['median_epoch_s']:.3f}s" if rest else "n/a"
    print(f"{out['framework']}: first epoch {out['first_epoch_s']:.3f}s, median epoch {med}, "
          f"test acc {test_acc:.4f}, start-up {t_startup:.2f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
