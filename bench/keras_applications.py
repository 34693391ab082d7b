#!/usr/bin/env python3
"""Python anchor for the rkeras application benchmark: inference of Keras 3's MobileNetV2 or
ResNet50 (random weights, include_top) on batches of 224 x 224 images.

    python keras_applications.py --backend {tensorflow,jax} --model {mobilenet_v2,resnet50} \
        --batch 32 --reps 5 --json out.json

Builds the model, predicts one batch to warm up (tracing/compilation), then times --reps calls
of model.predict() on one batch of --batch random images and writes the seconds of each call
to --json.
"""
import argparse
import json
import os
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--backend", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--json", required=True)
    a = p.parse_args()
    os.environ["KERAS_BACKEND"] = a.backend
    import numpy as np
    import keras
    build = {"mobilenet_v2": keras.applications.MobileNetV2,
             "resnet50": keras.applications.ResNet50}[a.model]
    keras.utils.set_random_seed(1)
    model = build(weights=None)
    x = np.random.default_rng(1).uniform(-1, 1, (a.batch, 224, 224, 3)).astype("float32")
    t0 = time.perf_counter()
    model.predict(x, batch_size=a.batch, verbose=0)
    warm = time.perf_counter() - t0
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        model.predict(x, batch_size=a.batch, verbose=0)
        times.append(time.perf_counter() - t0)
    with open(a.json, "w") as f:
        json.dump({"backend": a.backend, "model": a.model, "batch": a.batch, "warmup": warm,
                   "times": times, "keras": keras.__version__}, f)


if __name__ == "__main__":
    sys.exit(main())
