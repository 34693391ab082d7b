#!/usr/bin/env python3
"""Python anchor for the rkeras CNN benchmark: Keras for R's mnist_cnn network on Keras 3.

    python keras_cnn.py --backend {tensorflow,jax} --epochs N --train-rows N \
        --batch 128 --json out.json

Reads the Fashion-MNIST IDX .gz files directly (numpy + gzip, as keras_mlp.py),
keeps the first --train-rows training images, scales x/255 to float32 of shape
(n, 28, 28, 1) and keeps the labels as integers 0..9. Builds Conv2D 32 3x3 relu /
Conv2D 64 3x3 relu / MaxPooling2D 2x2 / Dropout 0.25 / Flatten / Dense 128 relu /
Dropout 0.5 / Dense 10 softmax with Adam defaults and sparse categorical
cross-entropy, fits without validation and times every epoch with a callback,
then evaluates on the 10000 test images. The first epoch includes
tracing/compilation: it is reported apart, and the median of the other epochs is
the steady-state figure. Writes everything to --json.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

# The IDX reader and the epoch timer are keras_mlp.py's; importing them must not leave a
# __pycache__ in bench/.
sys.dont_write_bytecode = True
from keras_mlp import DATA_DIR, epoch_timer, find, read_idx  # noqa: E402


def load(data_dir, train_rows):
    xtr = read_idx(find(data_dir, "train-images-idx3-ubyte"))
    ytr = read_idx(find(data_dir, "train-labels-idx1-ubyte"))
    xte = read_idx(find(data_dir, "t10k-images-idx3-ubyte"))
    yte = read_idx(find(data_dir, "t10k-labels-idx1-ubyte"))
    n = min(train_rows, xtr.shape[0]) if train_rows > 0 else xtr.shape[0]
    xtr = xtr[:n].reshape(n, 28, 28, 1).astype(np.float32) / np.float32(255.0)
    xte = xte.reshape(-1, 28, 28, 1).astype(np.float32) / np.float32(255.0)
    return xtr, ytr[:n].astype(np.int32), xte, yte.astype(np.int32)


def cpu_info():
    """Model name and the SIMD flags the engines care about, from /proc/cpuinfo."""
    model, flags = "", []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = val.strip()
                elif key == "flags" and not flags:
                    flags = val.split()
    except OSError:
        pass
    simd = [x for x in flags if x in ("avx2", "fma", "avx512f", "avx512bw")]
    return {"model": model, "simd": simd, "cores": os.cpu_count()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["tensorflow", "jax"], required=True)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--train-rows", type=int, default=12800,
                    help="first N training rows (0 = all 60000); no validation split")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--json", required=True, help="output file")
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
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Dropout(0.25),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=keras.optimizers.Adam(),
                  metrics=["accuracy"])
    t_startup = time.perf_counter() - t0

    timer = epoch_timer(keras)
    t_fit = time.perf_counter()
    hist = model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch,
                     verbose=0, callbacks=[timer])
    t_fit = time.perf_counter() - t_fit

    t_eval = time.perf_counter()
    test_loss, test_acc = model.evaluate(x_test, y_test, batch_size=args.batch, verbose=0)
    t_eval = time.perf_counter() - t_eval

    rest = timer.times[1:]
    out = {
        "framework": "keras-" + args.backend,
        "backend": args.backend,
        "versions": {"python": platform.python_version(), "keras": keras.__version__,
                     "numpy": np.__version__},
        "cpu": cpu_info(),
        "cpu_count": os.cpu_count(),
        "train_rows": int(x_train.shape[0]),
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
        "evaluate_s": t_eval,
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

    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)
    med = f"{out['median_epoch_s']:.3f}s" if rest else "n/a"
    print(f"{out['framework']} (CNN): first epoch {out['first_epoch_s']:.3f}s, median epoch {med}, "
          f"test acc {test_acc:.4f}, start-up {t_startup:.2f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
