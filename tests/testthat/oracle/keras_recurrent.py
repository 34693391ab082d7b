"""Keras 3 as the oracle for rkeras's embedding and recurrent layers: forward passes, and a
text model's training trajectory.

  python keras_recurrent.py write DIR
      For each CASE below: DIR/CASE.json (model.to_json() of keras.Input(shape) then the
      layer(s)) and DIR/CASE.data.json ({"class_name", "params", "layers", "weights",
      "inputs", "outputs"}), arrays as {"shape", "values"} with the values flat in row-major
      order; DIR/cases.json lists the cases. Models starting with an Embedding take integer
      ids in [0, input_dim).
  python keras_recurrent.py states DIR
      Functional models whose recurrent layers return their states (`return_state`) or
      start from given ones (`initial_state`): DIR/CASE.json and DIR/CASE.data.json as for
      `write`, with one item per input and per output; DIR/states_cases.json lists them.
      DIR/s2s_train.{json,data.json}: an encoder-decoder LSTM's 20 Adam steps, recorded as
      `train` records them (x and batches per input).
  python keras_recurrent.py train DIR
      DIR/CELL_train (.json, .data.json) for CELL in lstm, gru, rnn: Embedding(30, 6) -> CELL
      -> Dense(1, sigmoid), Adam(0.01), binary crossentropy, 30 steps of train_on_batch() on
      batches of 8; recording "x", "y", "batches" (0-based rows of each step),
      "initial_weights", "losses", "final_weights", "predict_after".

Weights and inputs are seeded normal values rounded to 2 decimals; outputs are float32 in
their shortest round-tripping form.
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers as L  # noqa: E402

# The record format (items, rounded values, layer tables, files) is keras_layers.py's.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from keras_layers import item, layer_table, rounded, save  # noqa: E402

BATCH = 3


def cases():
    """(name, per-sample input shape, layers)"""
    return [
        ("emb_1d", (6,), [L.Embedding(20, 4)]),
        ("emb_2d", (3, 4), [L.Embedding(9, 2)]),
        ("rnn_last", (7, 3), [L.SimpleRNN(5)]),
        ("rnn_seq_back_relu", (6, 2), [L.SimpleRNN(4, return_sequences=True, go_backwards=True, activation="relu")]),
        ("lstm_last", (7, 3), [L.LSTM(5)]),
        ("lstm_seq", (6, 2), [L.LSTM(4, return_sequences=True)]),
        ("lstm_back_nobias", (5, 3), [L.LSTM(3, go_backwards=True, use_bias=False)]),
        ("lstm_hard_sigmoid", (5, 2), [L.LSTM(3, recurrent_activation="hard_sigmoid", return_sequences=True)]),
        ("gru_last", (7, 3), [L.GRU(5)]),
        ("gru_seq_noreset", (6, 2), [L.GRU(4, reset_after=False, return_sequences=True)]),
        ("gru_back_seq", (5, 3), [L.GRU(3, go_backwards=True, return_sequences=True)]),
        ("gru_noreset_back_nobias", (5, 2), [L.GRU(3, reset_after=False, go_backwards=True, use_bias=False)]),
        ("bi_lstm_concat_seq", (5, 3), [L.Bidirectional(L.LSTM(3, return_sequences=True))]),
        ("bi_gru_sum", (6, 2), [L.Bidirectional(L.GRU(4), merge_mode="sum")]),
        ("bi_rnn_mul_seq", (5, 2), [L.Bidirectional(L.SimpleRNN(3, return_sequences=True), merge_mode="mul")]),
        ("bi_lstm_ave", (4, 3), [L.Bidirectional(L.LSTM(2), merge_mode="ave")]),
        ("bi_backward_layer", (5, 2), [L.Bidirectional(L.LSTM(3, return_sequences=True),
                                                       backward_layer=L.GRU(3, return_sequences=True, go_backwards=True))]),
        ("mask_lstm_last", (7,), [L.Embedding(12, 3, mask_zero=True), L.LSTM(4)]),
        ("mask_gru_seq_pool", (7,), [L.Embedding(12, 3, mask_zero=True), L.GRU(3, return_sequences=True),
                                     L.GlobalAveragePooling1D()]),
        ("mask_rnn_back_seq", (7,), [L.Embedding(12, 2, mask_zero=True),
                                     L.SimpleRNN(3, return_sequences=True, go_backwards=True), L.LSTM(2)]),
        ("mask_bi_dense", (7,), [L.Embedding(12, 3, mask_zero=True), L.Dense(4, activation="tanh"),
                                 L.Bidirectional(L.GRU(2, reset_after=False)), L.Dense(1)]),
        ("mask_pool", (7,), [L.Embedding(12, 3, mask_zero=True), L.GlobalAveragePooling1D()]),
        ("maskf_masking_lstm", (6, 3), [L.Masking(0.0), L.LSTM(3, return_sequences=True), L.GRU(2)]),
        ("td_dense", (5, 4), [L.TimeDistributed(L.Dense(3, activation="relu"))]),
        ("td_lstm", (3, 5, 2), [L.TimeDistributed(L.LSTM(3))]),
        ("td_gru_seq", (2, 4, 3), [L.TimeDistributed(L.GRU(2, return_sequences=True, go_backwards=True))]),
        ("td_bi_rnn", (3, 4, 2), [L.TimeDistributed(L.Bidirectional(L.SimpleRNN(2)))]),
        ("td_conv", (3, 6, 2), [L.TimeDistributed(L.Conv1D(2, 2)), L.TimeDistributed(L.Flatten())]),
        ("td_masked_chain", (6, 3), [L.Masking(0.0), L.TimeDistributed(L.Dense(4, activation="tanh")),
                                     L.SimpleRNN(2)]),
        ("text_chain", (8,), [L.Embedding(30, 6), L.LSTM(5, return_sequences=True), L.GRU(4),
                              L.Dense(2, activation="softmax")]),
        ("text_pool", (8,), [L.Embedding(30, 4), L.SimpleRNN(3, return_sequences=True),
                             L.GlobalAveragePooling1D(), L.Dense(1, activation="sigmoid")]),
    ]


def inputs_for(model, rng, shape):
    first = model.layers[0]
    if isinstance(first, L.Embedding):
        return rng.integers(0, first.input_dim, (BATCH,) + shape).astype(float)
    return rounded(rng, (BATCH,) + shape, 1)


def write(outdir):
    rng = np.random.default_rng(11)
    names = []
    for name, shape, layer_list in cases():
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input(shape)] + layer_list, name=name)
        weights = [rounded(rng, v.shape, 0.5) for v in model.weights]
        model.set_weights([w.astype("float32") for w in weights])
        x = inputs_for(model, rng, shape)
        if name.startswith("maskf_") or name == "td_masked_chain":
            x[0, :2] = 0
            x[2, 3] = 0
        if name.startswith("mask_"):
            # Padding in front, a zero inside, and one sequence of zeros but its last id.
            x[:, :2] = 0
            x[1, 4] = 0
            x[2, :-1] = 0
            x[x.sum(axis=1) == 0, -1] = 5
        out = model.predict(x.astype("float32"), verbose=0)
        save(outdir, name, model, {
            "class_name": type(model).__name__, "params": int(model.count_params()),
            "layers": layer_table(model), "weights": [item(w, exact=True) for w in weights],
            "inputs": [item(x, exact=True)], "outputs": [item(out)]})
        names.append(name)
    with open(os.path.join(outdir, "cases.json"), "w") as f:
        json.dump(names, f)


def train(outdir):
    rng = np.random.default_rng(12)
    cells = {"lstm": lambda: L.LSTM(6), "gru": lambda: L.GRU(6), "rnn": lambda: L.SimpleRNN(6)}
    for cell, make in cells.items():
        keras.utils.set_random_seed(3)
        name = f"{cell}_train"
        model = keras.Sequential([keras.Input((10,)), L.Embedding(30, 6), make(),
                                  L.Dense(1, activation="sigmoid")], name=name)
        weights = [rounded(rng, v.shape, 0.3) for v in model.weights]
        model.set_weights([w.astype("float32") for w in weights])
        with open(os.path.join(outdir, name + ".json"), "w") as f:
            f.write(model.to_json())
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
        x = rng.integers(0, 30, (32, 10)).astype(float)
        y = (x[:, :5].sum(axis=1) > x[:, 5:].sum(axis=1)).astype(float)
        batches, losses = [], []
        for s in range(30):
            rows = [(s * 8 + i) % 32 for i in range(8)]
            batches.append(rows)
            losses.append(float(model.train_on_batch(x[rows].astype("float32"), y[rows].astype("float32"))))
        rec = {"x": item(x, exact=True), "y": item(y, exact=True), "batches": batches,
               "initial_weights": [item(w, exact=True) for w in weights], "losses": losses,
               "final_weights": [item(w) for w in model.get_weights()],
               "predict_after": item(model.predict(x.astype("float32"), verbose=0))}
        with open(os.path.join(outdir, name + ".data.json"), "w") as f:
            json.dump(rec, f, separators=(",", ":"))


def state_cases():
    """(name, functional model builder, per-input id ranges or None for real values)"""
    def single(make, shape):
        def build():
            i = keras.Input(shape)
            return keras.Model(i, make()(i))
        return build

    def seq2seq(cell, masked):
        def build():
            a = keras.Input((7,) if masked else (6, 3))
            b = keras.Input((4, 2))
            h = L.Embedding(12, 3, mask_zero=True)(a) if masked else a
            enc = cell(4, return_state=True)(h)
            dec = cell(4, return_sequences=True, return_state=True, go_backwards=masked)(b, initial_state=enc[1:])
            out = L.Dense(2, activation="softmax")(dec[0])
            return keras.Model([a, b], [out, dec[-1], enc[0]])
        return build

    def stacked():
        a = keras.Input((5, 3))
        h = L.GRU(3, return_state=True)(a)
        s = L.SimpleRNN(3, return_sequences=True, return_state=True)(keras.layers.RepeatVector(4)(h[0]),
                                                                     initial_state=h[1])
        return keras.Model(a, [s[0], s[1]])

    return [
        ("st_lstm", single(lambda: L.LSTM(4, return_state=True), (5, 3)), [None]),
        ("st_lstm_seq_back", single(lambda: L.LSTM(3, return_state=True, return_sequences=True,
                                                   go_backwards=True), (5, 2)), [None]),
        ("st_gru", single(lambda: L.GRU(3, return_state=True), (6, 2)), [None]),
        ("st_gru_noreset_seq", single(lambda: L.GRU(3, return_state=True, reset_after=False,
                                                    return_sequences=True), (4, 3)), [None]),
        ("st_rnn_relu", single(lambda: L.SimpleRNN(3, return_state=True, activation="relu"), (5, 2)), [None]),
        ("st_s2s_lstm", seq2seq(L.LSTM, False), [None, None]),
        ("st_s2s_gru_masked", seq2seq(L.GRU, True), [12, None]),
        ("st_s2s_lstm_masked", seq2seq(L.LSTM, True), [12, None]),
        ("st_stacked", stacked, [None]),
    ]


def states(outdir):
    rng = np.random.default_rng(13)
    names = []
    for name, build, ranges in state_cases():
        keras.utils.set_random_seed(1)
        model = build()
        weights = [rounded(rng, v.shape, 0.5) for v in model.weights]
        model.set_weights([w.astype("float32") for w in weights])
        xs = []
        for inp, r in zip(model.inputs, ranges):
            shape = (BATCH,) + tuple(inp.shape[1:])
            if r is None:
                xs.append(rounded(rng, shape, 1))
            else:
                x = rng.integers(1, r, shape).astype(float)
                x[:, :2] = 0  # padding in front, and a zero inside
                x[1, 4] = 0
                xs.append(x)
        feed = [x.astype("float32") for x in xs]
        outs = model.predict(feed[0] if len(feed) == 1 else feed, verbose=0)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        save(outdir, name, model, {
            "class_name": type(model).__name__, "params": int(model.count_params()),
            "weights": [item(w, exact=True) for w in weights],
            "inputs": [item(x, exact=True) for x in xs], "outputs": [item(o) for o in outs]})
        names.append(name)
    with open(os.path.join(outdir, "states_cases.json"), "w") as f:
        json.dump(names, f)
    # Training through the states: an encoder-decoder scored on its decoder's output.
    keras.utils.set_random_seed(3)
    a, b = keras.Input((6, 3)), keras.Input((4, 2))
    enc = L.LSTM(5, return_state=True)(a)
    dec = L.LSTM(5, return_sequences=True)(b, initial_state=enc[1:])
    model = keras.Model([a, b], L.Dense(3, activation="softmax")(dec))
    weights = [rounded(rng, v.shape, 0.3) for v in model.weights]
    model.set_weights([w.astype("float32") for w in weights])
    with open(os.path.join(outdir, "s2s_train.json"), "w") as f:
        f.write(model.to_json())
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy")
    xa, xb = rounded(rng, (32, 6, 3), 1), rounded(rng, (32, 4, 2), 1)
    y = np.eye(3)[rng.integers(0, 3, (32, 4))]
    batches, losses = [], []
    for s in range(20):
        rows = [(s * 8 + i) % 32 for i in range(8)]
        batches.append(rows)
        losses.append(float(model.train_on_batch([xa[rows].astype("float32"), xb[rows].astype("float32")],
                                                 y[rows].astype("float32"))))
    rec = {"xa": item(xa, exact=True), "xb": item(xb, exact=True), "y": item(y, exact=True),
           "batches": batches, "initial_weights": [item(w, exact=True) for w in weights],
           "losses": losses, "final_weights": [item(w) for w in model.get_weights()]}
    with open(os.path.join(outdir, "s2s_train.data.json"), "w") as f:
        json.dump(rec, f, separators=(",", ":"))


if __name__ == "__main__":
    mode, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    {"write": write, "train": train, "states": states}[mode](outdir)
