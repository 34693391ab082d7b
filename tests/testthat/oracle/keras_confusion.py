"""Keras 3 as the oracle for the confusion-matrix count and rate-at-rate metrics.

  python keras_confusion.py
      Prints JSON: the targets and predictions used (20 x 3), and each metric's result on
      them, updated in two batches (rows 1-12, then 13-20) as an epoch streams them.
"""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import metrics as M  # noqa: E402

CASES = {
    "true_positives": lambda: M.TruePositives(),
    "false_positives_t": lambda: M.FalsePositives(thresholds=0.3),
    "true_negatives": lambda: M.TrueNegatives(),
    "false_negatives_t": lambda: M.FalseNegatives(thresholds=0.7),
    "precision_at_recall": lambda: M.PrecisionAtRecall(0.5),
    "precision_at_recall_n": lambda: M.PrecisionAtRecall(0.8, num_thresholds=50),
    "recall_at_precision": lambda: M.RecallAtPrecision(0.6, class_id=1),
    "sensitivity_at_specificity": lambda: M.SensitivityAtSpecificity(0.5),
    "specificity_at_sensitivity": lambda: M.SpecificityAtSensitivity(0.7, num_thresholds=1),
    "specificity_at_sensitivity_c": lambda: M.SpecificityAtSensitivity(0.4, num_thresholds=20, class_id=2),
}


def main():
    rng = np.random.default_rng(3)
    y = (rng.uniform(size=(20, 3)) > 0.55).astype("float32")
    p = np.round(rng.uniform(size=(20, 3)), 3).astype("float32")
    p[0, 0], p[1, 1], p[2, 2] = 0.0, 1.0, 0.5
    out = {"y": y.tolist(), "p": p.tolist(), "results": {}}
    for name, make in CASES.items():
        m = make()
        m.update_state(y[:12], p[:12])
        m.update_state(y[12:], p[12:])
        out["results"][name] = float(m.result())
    print(json.dumps(out))


main()
