"""Keras 3 as the oracle for rkeras's convolutional, pooling, normalization, reshaping and
activation layers: forward passes, BatchNormalization's training statistics, and a small CNN's
training trajectory.

  python keras_layers.py write DIR
      For each CASE below: DIR/CASE.json (model.to_json() of keras.Input(shape) then the
      layer(s)) and DIR/CASE.data.json ({"class_name", "params", "layers": [{"name",
      "class_name", "output_shape", "params"}], "weights", "inputs", "outputs"}), arrays as
      {"shape", "values"} with the values flat in row-major order. DIR/cases.json lists the cases.
  python keras_layers.py train DIR
      DIR/bn_train_m0 and DIR/bn_train_m09 (.json, .data.json): BatchNormalization trained with
      train_on_batch(), recording "batches" [{"x", "y"}], "losses", "weights_after",
      "predict_x", "predict_after". DIR/cnn (.json, .data.json): a small CNN, 50 SGD steps,
      recording "x", "y", "batches" (0-based row indices of each step), "initial_weights",
      "losses", "final_weights", "predict_after" (all of x, inference mode). DIR/sepcnn: the
      same for a CNN of depthwise and separable convolutions.

Weights and inputs are seeded normal values rounded to 2 decimals (short files; R's double and
numpy's float32 of such a value round to the same float32). Outputs are float32 written in
their shortest round-tripping form. Every model is saved before compile(), so the JSON holds no
compile config.
"""
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers as L  # noqa: E402

BATCH = 3


def cases():
    """(name, per-sample input shape, layers, input scale)"""
    return [
        # Conv1D: odd and even lengths; 'same' with strides 2 pads (0, 1) for kernel 3 on 8 and
        # (1, 2) for kernel 4 on 7; dilation; 1-wide kernel.
        ("conv1d_valid", (7, 2), [L.Conv1D(3, 3)], 1),
        ("conv1d_same_s2", (8, 2), [L.Conv1D(4, 3, strides=2, padding="same")], 1),
        ("conv1d_same_s2_k4", (7, 3), [L.Conv1D(2, 4, strides=2, padding="same", activation="relu")], 1),
        ("conv1d_same_dil2", (9, 2), [L.Conv1D(2, 3, dilation_rate=2, padding="same", use_bias=False,
                                               activation="relu")], 1),
        ("conv1d_valid_dil2", (8, 1), [L.Conv1D(3, 2, dilation_rate=2)], 1),
        ("conv1d_k1", (6, 3), [L.Conv1D(2, 1, activation="relu")], 1),
        ("conv1d_valid_s3", (10, 2), [L.Conv1D(2, 2, strides=3, use_bias=False)], 1),
        # Conv2D
        ("conv2d_valid", (7, 6, 2), [L.Conv2D(3, 3)], 1),
        ("conv2d_same_k3x2", (5, 6, 2), [L.Conv2D(2, (3, 2), padding="same")], 1),
        ("conv2d_same_s2", (8, 7, 2), [L.Conv2D(3, 3, strides=2, padding="same", activation="relu")], 1),
        ("conv2d_valid_k2x3_s2x1", (7, 6, 3), [L.Conv2D(2, (2, 3), strides=(2, 1), use_bias=False)], 1),
        ("conv2d_same_k3x2_s1x2", (5, 7, 2), [L.Conv2D(2, (3, 2), strides=(1, 2), padding="same")], 1),
        ("conv2d_same_dil2", (7, 8, 1), [L.Conv2D(2, 3, dilation_rate=2, padding="same", activation="relu")], 1),
        ("conv2d_valid_dil2x1", (8, 5, 2), [L.Conv2D(2, 3, dilation_rate=(2, 1), use_bias=False)], 1),
        ("conv2d_k1", (4, 5, 3), [L.Conv2D(4, 1, activation="relu")], 1),
        # Conv2DTranspose: output (n-1)*s + max(k, s) ('valid'), n*s ('same').
        ("convt_valid_s1_k3", (4, 5, 2), [L.Conv2DTranspose(2, 3)], 1),
        ("convt_valid_s2_k3", (3, 4, 2), [L.Conv2DTranspose(2, 3, strides=2)], 1),
        ("convt_valid_s2_k2", (3, 4, 1), [L.Conv2DTranspose(3, 2, strides=2, activation="relu")], 1),
        ("convt_valid_s3_k2", (3, 2, 1), [L.Conv2DTranspose(1, 2, strides=3)], 1),
        ("convt_valid_k3x2_s1x2", (3, 4, 2), [L.Conv2DTranspose(2, (3, 2), strides=(1, 2))], 1),
        ("convt_same_s2_k3", (3, 4, 2), [L.Conv2DTranspose(2, 3, strides=2, padding="same")], 1),
        ("convt_same_s2_k2", (3, 4, 2), [L.Conv2DTranspose(2, 2, strides=2, padding="same")], 1),
        ("convt_same_s1_k2", (4, 5, 1), [L.Conv2DTranspose(2, 2, padding="same")], 1),
        ("convt_same_s1_k3", (4, 3, 2), [L.Conv2DTranspose(3, 3, padding="same", use_bias=False,
                                                           activation="relu")], 1),
        # Conv1DTranspose: the same sizes over steps; dilation.
        ("convt_1d_valid_s2_k3", (5, 2), [L.Conv1DTranspose(3, 3, strides=2)], 1),
        ("convt_1d_same_s2_k4", (4, 3), [L.Conv1DTranspose(2, 4, strides=2, padding="same", activation="relu")], 1),
        ("convt_1d_valid_s3_k2", (3, 1), [L.Conv1DTranspose(2, 2, strides=3, use_bias=False)], 1),
        ("convt_1d_same_dil2", (6, 2), [L.Conv1DTranspose(2, 3, dilation_rate=2, padding="same")], 1),
        # Depthwise and separable convolutions: multipliers, strides, dilation, 1-d and 2-d.
        ("dwconv2d_valid", (7, 6, 3), [L.DepthwiseConv2D(3)], 1),
        ("dwconv2d_same_s2_m2", (8, 7, 2), [L.DepthwiseConv2D((3, 2), strides=2, padding="same",
                                                               depth_multiplier=2, activation="relu")], 1),
        ("dwconv2d_dil2", (8, 8, 2), [L.DepthwiseConv2D(3, dilation_rate=2, use_bias=False)], 1),
        ("dwconv1d_same_m3", (9, 2), [L.DepthwiseConv1D(3, padding="same", depth_multiplier=3)], 1),
        ("sepconv2d_valid", (7, 6, 3), [L.SeparableConv2D(4, 3)], 1),
        ("sepconv2d_same_s2_m2", (8, 7, 2), [L.SeparableConv2D(3, 3, strides=2, padding="same",
                                                               depth_multiplier=2, activation="relu")], 1),
        ("sepconv1d_dil2", (10, 3), [L.SeparableConv1D(2, 3, dilation_rate=2, use_bias=False)], 1),
        # Pooling: strides default to pool_size; 'same' pads like conv ('same', stride s).
        ("maxpool1d_2", (7, 2), [L.MaxPooling1D(2)], 1),
        ("maxpool1d_3_s1_same", (6, 2), [L.MaxPooling1D(3, strides=1, padding="same")], 1),
        ("avgpool1d_2", (6, 3), [L.AveragePooling1D(2)], 1),
        ("avgpool1d_3_s2_same", (8, 2), [L.AveragePooling1D(3, strides=2, padding="same")], 1),
        ("maxpool2d_2", (5, 6, 2), [L.MaxPooling2D(2)], 1),
        ("maxpool2d_3_s2_same", (7, 6, 2), [L.MaxPooling2D(3, strides=2, padding="same")], 1),
        ("maxpool2d_2x3_s1x2", (5, 7, 1), [L.MaxPooling2D((2, 3), strides=(1, 2))], 1),
        ("avgpool2d_2_same", (5, 5, 2), [L.AveragePooling2D(2, padding="same")], 1),
        ("avgpool2d_3_s1_same", (4, 5, 2), [L.AveragePooling2D(3, strides=1, padding="same")], 1),
        ("avgpool2d_3", (7, 6, 1), [L.AveragePooling2D(3)], 1),
        ("avgpool2d_3x2_s2x1_same", (6, 5, 2), [L.AveragePooling2D((3, 2), strides=(2, 1), padding="same")], 1),
        ("gmaxpool1d", (5, 3), [L.GlobalMaxPooling1D()], 1),
        ("gavgpool1d", (6, 2), [L.GlobalAveragePooling1D()], 1),
        ("gmaxpool2d", (4, 5, 3), [L.GlobalMaxPooling2D()], 1),
        ("gavgpool2d", (5, 4, 2), [L.GlobalAveragePooling2D()], 1),
        # Normalization (inference: moving statistics)
        ("bn_dense", (5,), [L.BatchNormalization()], 1),
        ("bn_conv_noncenter", (4, 5, 3), [L.BatchNormalization(epsilon=0.01, center=False)], 1),
        ("bn_seq_noscale", (6, 2), [L.BatchNormalization(scale=False, momentum=0.9)], 1),
        ("ln_dense", (6,), [L.LayerNormalization()], 1),
        ("ln_2d", (4, 5), [L.LayerNormalization(epsilon=1e-5)], 1),
        ("ln_3d_noscale", (3, 4, 5), [L.LayerNormalization(scale=False)], 1),
        # Reshaping
        ("zeropad2d_int", (3, 4, 2), [L.ZeroPadding2D(1)], 1),
        ("zeropad2d_tuple", (3, 3, 1), [L.ZeroPadding2D(((1, 2), (0, 3)))], 1),
        ("crop2d", (5, 6, 2), [L.Cropping2D(((1, 0), (2, 1)))], 1),
        ("upsample2d", (3, 2, 2), [L.UpSampling2D((2, 3), interpolation="nearest")], 1),
        ("upsample2d_bilinear", (3, 4, 2), [L.UpSampling2D((2, 3), interpolation="bilinear")], 1),
        ("upsample2d_bicubic", (3, 3, 1), [L.UpSampling2D(2, interpolation="bicubic")], 1),
        ("upsample2d_lanczos3", (4, 2, 1), [L.UpSampling2D((1, 3), interpolation="lanczos3")], 1),
        ("zeropad1d_int", (4, 3), [L.ZeroPadding1D(2)], 1),
        ("zeropad1d_pair", (3, 2), [L.ZeroPadding1D((1, 3))], 1),
        ("crop1d", (7, 2), [L.Cropping1D((2, 1))], 1),
        ("crop1d_default", (4, 1), [L.Cropping1D()], 1),
        ("upsample1d", (4, 3), [L.UpSampling1D(3)], 1),
        # Activation layers (inputs x2 so that every branch is reached)
        ("leaky_relu", (7,), [L.LeakyReLU(negative_slope=0.2)], 2),
        ("leaky_relu_default", (4, 3), [L.LeakyReLU()], 2),
        ("relu_default", (8,), [L.ReLU()], 2),
        ("relu_max", (8,), [L.ReLU(max_value=1.0)], 2),
        ("relu_all", (4, 5), [L.ReLU(max_value=1.5, negative_slope=0.1, threshold=0.5)], 2),
        ("relu_slope_max", (10,), [L.ReLU(max_value=1.0, negative_slope=0.3)], 2),
        ("elu", (6,), [L.ELU(alpha=0.5)], 2),
        ("softmax", (3, 4), [L.Softmax()], 2),
        ("prelu", (4, 3), [L.PReLU(shared_axes=[1])], 2),
        ("prelu_default", (5,), [L.PReLU()], 2),
        ("selu_act", (6,), [L.Activation("selu")], 2),
        ("threshold_relu", (8,), [L.ReLU(threshold=0.4)], 2),
        ("unitnorm", (4, 3), [L.UnitNormalization()], 2),
        # Resizing (jax.image.resize: every kernel, antialias, the aspect-ratio crop and pad)
        # and CenterCrop (a window, or smart_resize() when the image is smaller).
        ("resize_bilinear_down", (9, 12, 2), [L.Resizing(5, 7)], 1),
        ("resize_bilinear_up", (4, 5, 2), [L.Resizing(7, 9)], 1),
        ("resize_nearest", (7, 9, 1), [L.Resizing(4, 13, interpolation="nearest")], 1),
        ("resize_bicubic", (6, 7, 2), [L.Resizing(9, 5, interpolation="bicubic")], 1),
        ("resize_lanczos3", (8, 8, 1), [L.Resizing(5, 11, interpolation="lanczos3")], 1),
        ("resize_lanczos5", (12, 9, 1), [L.Resizing(7, 7, interpolation="lanczos5")], 1),
        ("resize_antialias", (12, 10, 2), [L.Resizing(5, 4, antialias=True)], 1),
        ("resize_antialias_bicubic", (11, 9, 1), [L.Resizing(4, 6, interpolation="bicubic", antialias=True)], 1),
        ("resize_crop_aspect", (9, 14, 2), [L.Resizing(6, 6, crop_to_aspect_ratio=True)], 1),
        ("resize_pad_aspect_h", (5, 12, 2), [L.Resizing(8, 8, pad_to_aspect_ratio=True, fill_value=0.5)], 1),
        ("resize_pad_aspect_w", (10, 4, 1), [L.Resizing(6, 6, pad_to_aspect_ratio=True)], 1),
        ("center_crop", (9, 10, 2), [L.CenterCrop(4, 7)], 1),
        ("center_crop_odd", (8, 9, 1), [L.CenterCrop(5, 4)], 1),
        ("center_crop_small", (5, 9, 2), [L.CenterCrop(7, 6)], 1),
        # Rescaling: a number, and one value per channel.
        ("rescale_pixels", (4, 5, 3), [L.Rescaling(1 / 255)], 100),
        ("rescale_offset", (6, 2), [L.Rescaling(1 / 127.5, offset=-1)], 100),
        ("rescale_channels", (3, 2), [L.Rescaling([0.5, 2.0], offset=[-1.0, 0.25])], 1),
        ("gn_groups", (3, 4, 6), [L.GroupNormalization(groups=3, epsilon=1e-3)], 2),
        ("gn_instance", (5, 4), [L.GroupNormalization(groups=-1, center=False)], 2),
        ("gn_one", (6,), [L.GroupNormalization(groups=1, scale=False)], 2),
        # Noise layers are the identity in inference
        ("gnoise", (5,), [L.GaussianNoise(0.3)], 1),
        ("gdropout", (4, 2), [L.GaussianDropout(0.3)], 1),
        ("adropout", (5,), [L.AlphaDropout(0.2)], 1),
        # Spatial dropout is the identity in inference
        ("sdropout1d", (5, 3), [L.SpatialDropout1D(0.5)], 1),
        ("sdropout2d", (3, 4, 2), [L.SpatialDropout2D(0.3)], 1),
        # A chain: the layers' weights in order, shapes passed along
        ("chain", (9, 8, 1), [L.Conv2D(3, 3, activation="relu"), L.BatchNormalization(),
                              L.MaxPooling2D(2, padding="same"), L.Conv2DTranspose(2, 2, strides=2),
                              L.GlobalAveragePooling2D(), L.Dense(2, activation="softmax")], 1),
    ]


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


def layer_table(model):
    return [{"name": l.name, "class_name": type(l).__name__,
             "output_shape": list(l.output.shape[1:]), "params": int(l.count_params())}
            for l in model.layers]


def random_weights(model, rng):
    """Normal weights (scale 0.5); BatchNormalization's moving variances uniform in [0.2, 1.5]."""
    out = []
    for v in model.weights:
        if v.path.endswith("moving_variance"):
            out.append(np.round(rng.uniform(0.2, 1.5, v.shape), 2) + 0.0)
        else:
            out.append(rounded(rng, v.shape, 0.5))
    return out


def save(outdir, name, model, rec):
    with open(os.path.join(outdir, name + ".json"), "w") as f:
        f.write(model.to_json())
    with open(os.path.join(outdir, name + ".data.json"), "w") as f:
        json.dump(rec, f, separators=(",", ":"))


def write(outdir):
    rng = np.random.default_rng(7)
    names = []
    for name, shape, layer_list, scale in cases():
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input(shape)] + layer_list, name=name)
        weights = random_weights(model, rng)
        model.set_weights([w.astype("float32") for w in weights])
        x = rounded(rng, (BATCH,) + shape, scale)
        if name == "relu_all":
            # Values exactly at the threshold (0.5) and at max_value (1.5): Keras keeps x only
            # where x > threshold, so 0.5 maps to 0 (negative_slope * (0.5 - 0.5)), 1.5 to 1.5.
            x[0, 0, :3] = [0.5, 1.5, -0.5]
        out = model.predict(x.astype("float32"), verbose=0)
        save(outdir, name, model, {
            "class_name": type(model).__name__, "params": int(model.count_params()),
            "layers": layer_table(model), "weights": [item(w, exact=True) for w in weights],
            "inputs": [item(x, exact=True)], "outputs": [item(out)]})
        names.append(name)
    with open(os.path.join(outdir, "cases.json"), "w") as f:
        json.dump(names, f)


def bn_train(outdir, name, momentum, lr, steps, shape, rng):
    """BatchNormalization alone, trained on `steps` batches of 8 (mse loss, SGD(lr))."""
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input(shape), L.BatchNormalization(momentum=momentum)], name=name)
    weights = random_weights(model, rng)
    model.set_weights([w.astype("float32") for w in weights])
    with open(os.path.join(outdir, name + ".json"), "w") as f:
        f.write(model.to_json())
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
    batches, losses = [], []
    for _ in range(steps):
        # An offset and a spread per channel, so the batch statistics are far from 0 and 1.
        x = np.round(rng.normal(0, 1, (8,) + shape) * 1.5 + 0.7, 2) + 0.0
        y = rounded(rng, (8,) + shape, 1)
        losses.append(float(model.train_on_batch(x.astype("float32"), y.astype("float32"))))
        batches.append({"x": item(x, exact=True), "y": item(y, exact=True)})
    px = rounded(rng, (4,) + shape, 1)
    rec = {"class_name": type(model).__name__, "params": int(model.count_params()),
           "layers": layer_table(model), "momentum": momentum, "learning_rate": lr,
           "weights": [item(w, exact=True) for w in weights], "batches": batches, "losses": losses,
           "weights_after": [item(w) for w in model.get_weights()],
           "predict_x": item(px, exact=True),
           "predict_after": item(model.predict(px.astype("float32"), verbose=0))}
    with open(os.path.join(outdir, name + ".data.json"), "w") as f:
        json.dump(rec, f, separators=(",", ":"))


def cnn_model():
    keras.utils.set_random_seed(3)
    return keras.Sequential([
        keras.Input((10, 10, 1)),
        L.Conv2D(4, 3, activation="relu"),
        L.MaxPooling2D(2),
        L.Conv2D(6, 3, padding="same", strides=2),
        L.BatchNormalization(),
        L.Flatten(),
        L.Dense(3, activation="softmax"),
    ], name="cnn")


def sepcnn_model():
    """Depthwise and separable convolutions, 2-d then 1-d, with multipliers and strides."""
    keras.utils.set_random_seed(4)
    return keras.Sequential([
        keras.Input((10, 10, 2)),
        L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, activation="relu"),
        L.SeparableConv2D(4, 3, padding="same", depth_multiplier=2, activation="tanh"),
        L.Reshape((25, 4)),
        L.SeparableConv1D(3, 3, strides=2, activation="relu"),
        L.DepthwiseConv1D(2, depth_multiplier=2),
        L.Flatten(),
        L.Dense(3, activation="softmax"),
    ], name="sepcnn")


def cnn_train(outdir, rng, name="cnn", build=cnn_model, channels=1, steps=50, batch=8, lr=0.05):
    """Plain SGD on fixed batches: step s takes rows perm[s // 5][(s % 5) * 8:][:8] of a 40-row
    dataset (a fresh seeded permutation every 5 steps)."""
    n = 40
    x = rounded(rng, (n, 10, 10, channels), 1)
    y = rng.integers(0, 3, n)
    order = []
    per_epoch = n // batch
    for s in range(steps):
        if s % per_epoch == 0:
            perm = rng.permutation(n)
        order.append(perm[(s % per_epoch) * batch:][:batch].tolist())
    model = build()
    initial = model.get_weights()
    with open(os.path.join(outdir, name + ".json"), "w") as f:
        f.write(model.to_json())
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="sparse_categorical_crossentropy")
    xf = x.astype("float32")
    losses = [float(model.train_on_batch(xf[i], y[i])) for i in order]
    rec = {"class_name": type(model).__name__, "params": int(model.count_params()),
           "layers": layer_table(model), "learning_rate": lr,
           "x": item(x, exact=True), "y": y.tolist(), "batches": order,
           "initial_weights": [item(w) for w in initial], "losses": losses,
           "final_weights": [item(w) for w in model.get_weights()],
           "predict_after": item(model.predict(xf, verbose=0))}
    with open(os.path.join(outdir, name + ".data.json"), "w") as f:
        json.dump(rec, f, separators=(",", ":"))


def train(outdir):
    rng = np.random.default_rng(11)
    # momentum 0 and a zero learning rate: the moving statistics become the last batch's mean
    # and biased variance, gamma and beta stay.
    bn_train(outdir, "bn_train_m0", 0.0, 0.0, 1, (3, 4, 2), rng)
    # momentum 0.9 over 3 steps, with gamma and beta learning too.
    bn_train(outdir, "bn_train_m09", 0.9, 0.1, 3, (5,), rng)
    cnn_train(outdir, rng)
    cnn_train(outdir, rng, "sepcnn", sepcnn_model, channels=2, lr=0.3)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("write", "train"):
        sys.exit("usage: keras_layers.py write|train DIR")
    os.makedirs(sys.argv[2], exist_ok=True)
    {"write": write, "train": train}[sys.argv[1]](sys.argv[2])
