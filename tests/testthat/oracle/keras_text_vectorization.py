"""Keras 3's TextVectorization as the oracle for rkeras's layer_text_vectorization(): each case
adapts a layer to the training texts and vectorizes the test texts. Keras's TextVectorization
needs TensorFlow (whatever the backend), so this script writes a fixture that the tests read:

  python keras_text_vectorization.py OUT.json

OUT.json: {"train": [texts], "test": [texts], "cases": [{"name", "args", "vocabulary",
"output": {"shape", "values"}}]}: args are the layer's arguments (the same names in R),
vocabulary get_vocabulary(), output the layer applied to the test texts (values flat,
row-major).
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import numpy as np  # noqa: E402
import keras  # noqa: E402

TRAIN = [
    "The cat sat on the mat.",
    "The dog sat on the log!",
    "Cats and dogs: friends?",
    "A dog, a cat, and THE bird.",
    "the the the end",
    "Zebra zebra apple banana; apple",
    "  spaces   everywhere\there\n",
    "Ünïcödé wörds, ÉCOLE école",
    "it's don't won't",
    "",
]
TEST = [
    "The cat and the dog",
    "unknown words here",
    "apple zebra the the the the the the the the the the the",
    "école Ünïcödé",
    "",
]

CASES = [
    ("int", {}),
    ("int_length", {"output_sequence_length": 5}),
    ("int_max_tokens", {"max_tokens": 8, "output_sequence_length": 6}),
    ("multi_hot", {"output_mode": "multi_hot", "max_tokens": 12}),
    ("count", {"output_mode": "count"}),
    ("count_padded", {"output_mode": "count", "max_tokens": 30, "pad_to_max_tokens": True}),
    ("tf_idf", {"output_mode": "tf_idf", "max_tokens": 15}),
    ("lower_only", {"standardize": "lower", "output_sequence_length": 4}),
    ("strip_only", {"standardize": "strip_punctuation"}),
    ("no_standardize", {"standardize": None, "max_tokens": 10}),
    ("characters", {"split": "character", "max_tokens": 20, "output_sequence_length": 8}),
    ("no_split", {"split": None, "output_mode": "multi_hot"}),
    ("bigrams", {"ngrams": 2, "output_mode": "count", "max_tokens": 25}),
    ("trigram_widths", {"ngrams": [1, 3], "output_sequence_length": 10}),
]


def main(out):
    cases = []
    for name, args in CASES:
        kw = dict(args)
        if isinstance(kw.get("ngrams"), list):
            kw["ngrams"] = tuple(kw["ngrams"])
        layer = keras.layers.TextVectorization(**kw)
        layer.adapt(np.array(TRAIN))
        # One text per row, (n, 1), as a model's string input gives them.
        result = np.asarray(layer(np.array(TEST)[:, None]))
        cases.append({"name": name, "args": args, "vocabulary": layer.get_vocabulary(),
                      "output": {"shape": list(result.shape), "values": result.astype(float).ravel().tolist()}})
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"train": TRAIN, "test": TEST, "cases": cases}, f, ensure_ascii=False, separators=(",", ":"))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: keras_text_vectorization.py OUT.json")
    main(sys.argv[1])
