"""Keras's text and sequence tools (keras.src.legacy.preprocessing, Keras 2's
keras.preprocessing.text and .sequence) as the oracle.

  python keras_text_tools.py
      Prints, as JSON: text_to_word_sequence() of the TEXTS with default and custom
      arguments, make_sampling_table() of two sizes, skipgrams() without shuffling or negative
      samples (deterministic), and sequences_to_texts() of tokenizers with and without
      num_words and an out-of-vocabulary token.
"""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
from keras.src.legacy.preprocessing import sequence, text  # noqa: E402

TEXTS = ["The cat sat on the mat.", "The dog ate my homework!!  Twice...", "Hello,world;  a-b c\tD"]


def main():
    out = {}
    out["words"] = [text.text_to_word_sequence(t) for t in TEXTS]
    out["words_custom"] = [text.text_to_word_sequence(t, filters=".!", lower=False, split=" ") for t in TEXTS]
    out["words_split"] = [text.text_to_word_sequence(t, split="a") for t in TEXTS]
    out["table_10"] = sequence.make_sampling_table(10).tolist()
    out["table_50"] = sequence.make_sampling_table(50, sampling_factor=1e-3).tolist()
    seq = [1, 2, 0, 3, 4, 5, 2, 0, 0, 6]
    couples, labels = sequence.skipgrams(seq, 7, window_size=2, negative_samples=0.0, shuffle=False)
    out["skipgrams"] = {"couples": couples, "labels": labels}
    couples, labels = sequence.skipgrams(seq, 7, window_size=1, negative_samples=0.0, shuffle=False,
                                         categorical=True)
    out["skipgrams_cat"] = {"couples": couples, "labels": labels}
    seqs = [[1, 2, 3, 9, 4], [5, 6, 30], [2, 2, 1]]
    for name, kw in [("plain", {}), ("num_words", {"num_words": 4}), ("oov", {"oov_token": "<unk>"}),
                     ("oov_num_words", {"oov_token": "<unk>", "num_words": 5})]:
        tok = text.Tokenizer(**kw)
        tok.fit_on_texts(TEXTS)
        out["texts_" + name] = tok.sequences_to_texts(seqs)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
