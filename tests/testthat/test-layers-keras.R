# Keras 3 (Python, from the test venv) as the oracle for the convolutional, pooling,
# normalization, reshaping and activation layers (oracle/keras_layers.py): models read from
# Keras's own JSON, given Keras's weights and inputs, must give Keras's output shapes,
# parameter counts and outputs; BatchNormalization's training statistics and a small CNN's
# 50 SGD steps must follow Keras's.

# ---- helpers (keras_python(), read_json(), unflat(), layer_table(), keras_table() are in
# helper-keras.R) ----------------------------------------------------------------------------

# The oracle's directory for `mode` ("write": the layer cases, "train": the training records),
# written once per test run (Keras compiles every model: ~15 s for "write").
oracle_dir <- local({
  dirs <- list()
  function(mode) {
    py <- keras_python()
    if (is.null(dirs[[mode]])) {
      dir <- tempfile(paste0("keras-layers-", mode, "-"))
      out <- suppressWarnings(system2(py, shQuote(c(test_path("oracle", "keras_layers.py"), mode, dir)),
                                      stdout = TRUE, stderr = TRUE))
      if (!is.null(attr(out, "status"))) {
        stop("oracle/keras_layers.py ", mode, " failed:\n", paste(utils::tail(out, 30), collapse = "\n"))
      }
      withr::defer(unlink(dir, recursive = TRUE), envir = teardown_env())
      dirs[[mode]] <<- dir
    }
    dirs[[mode]]
  }
})

# The cases (oracle/keras_layers.py's names) of each family below; every case is in one.
families <- c(conv = "^conv[12]d_", depthwise = "^(dw|sep)conv", rescaling = "^rescale_", resizing = "^(resize_|center_crop)", conv_transpose = "^convt_", pooling = "^(max|avg)pool",
              global_pooling = "^g(max|avg)pool", normalization = "^(bn|ln|gn)_|^unitnorm",
              reshaping = "^(zeropad|crop|upsample)",
              activations = "^(leaky_relu|relu|elu|softmax|prelu|selu_act|threshold_relu)",
              spatial_dropout = "^sdropout", noise = "^(gnoise|gdropout|adropout)", chain = "^chain$")

check_family <- function(family) {
  dir <- oracle_dir("write")
  cases <- grep(families[[family]], unlist(read_json(file.path(dir, "cases.json"))), value = TRUE)
  expect_gt(length(cases), 0)
  for (name in cases) {
    # An engine error (a layer not there yet) fails this case and lets the others run.
    tryCatch(check_layer_case(dir, name),
             rkeras_error = function(e) fail(sprintf("%s: %s", name, conditionMessage(e))))
  }
}

# ---- layer cases ---------------------------------------------------------------------------

test_that("Conv1D and Conv2D match Keras: padding, strides, dilation, kernel shapes, bias, activation", {
  check_family("conv")
})

test_that("Conv1DTranspose and Conv2DTranspose match Keras: output sizes and 'same' cropping for strides 1-3, kernels 2-4, dilation", {
  check_family("conv_transpose")
})

test_that("DepthwiseConv1D/2D and SeparableConv1D/2D match Keras: multipliers, strides, dilation, padding", {
  check_family("depthwise")
})

test_that("Resizing and CenterCrop match Keras (JAX): every kernel, antialias, aspect-ratio crop and pad", {
  check_family("resizing")
})

test_that("Rescaling matches Keras: a scale, an offset, one value per channel", {
  check_family("rescaling")
})

test_that("max and average pooling match Keras, 'same' averages over the valid cells only", {
  check_family("pooling")
})

test_that("global max and average pooling match Keras", {
  check_family("global_pooling")
})

test_that("BatchNormalization (inference), LayerNormalization and UnitNormalization match Keras", {
  check_family("normalization")
})

test_that("ZeroPadding1D/2D, Cropping1D/2D and UpSampling1D/2D (nearest, bilinear, bicubic, Lanczos) match Keras", {
  check_family("reshaping")
})

test_that("LeakyReLU, ReLU (max_value, negative_slope, threshold), ELU, Softmax, PReLU and SELU layers match Keras", {
  check_family("activations")
})

test_that("SpatialDropout1D and SpatialDropout2D are the identity in inference, as in Keras", {
  check_family("spatial_dropout")
})

test_that("GaussianNoise, GaussianDropout and AlphaDropout are the identity in inference, as in Keras", {
  check_family("noise")
})

test_that("a chain of these layers matches Keras", {
  check_family("chain")
})

test_that("every case of the oracle is checked by exactly one test above", {
  cases <- unlist(read_json(file.path(oracle_dir("write"), "cases.json")))
  covered <- unlist(lapply(families, grep, cases, value = TRUE), use.names = FALSE)
  expect_setequal(covered, cases)
  expect_equal(anyDuplicated(covered), 0)
})

# ---- training ------------------------------------------------------------------------------

test_that("BatchNormalization in training uses the batch's mean and biased variance, as Keras", {
  dir <- oracle_dir("train")
  parts <- c("gamma", "beta", "moving_mean", "moving_variance")
  # bn_train_m0: momentum 0 and learning rate 0, one step: the moving statistics become the
  # batch's. bn_train_m09: momentum 0.9 and learning rate 0.1, three steps.
  for (name in c("bn_train_m0", "bn_train_m09")) {
    rec <- read_json(file.path(dir, paste0(name, ".data.json")))
    model <- read_model(dir, name)
    expect_equal(layer_table(model), keras_table(rec), info = name)
    set_weights(model, lapply(rec$weights, unflat))
    compile(model, optimizer = optimizer_sgd(learning_rate = rec$learning_rate), loss = "mse")
    losses <- vapply(rec$batches, function(b) unname(train_on_batch(model, unflat(b$x), unflat(b$y)))[1], 1)
    expect_each_close(losses, as.numeric(unlist(rec$losses)), 1e-5, paste(name, "losses"))
    got <- get_weights(model)
    want <- lapply(rec$weights_after, unflat)
    expect_equal(length(got), length(want), info = name)
    for (i in seq_along(want)) {
      expect_equal(got[[i]], want[[i]], tolerance = 1e-5, info = paste(name, parts[i]))
    }
    expect_equal(unname(predict(model, unflat(rec$predict_x), verbose = 0)), unflat(rec$predict_after),
                 tolerance = 1e-5, info = paste(name, "predict after training"))
  }
})

check_cnn_training <- function(name, trains = 0.5) {
  dir <- oracle_dir("train")
  rec <- read_json(file.path(dir, paste0(name, ".data.json")))
  model <- read_model(dir, name)
  expect_equal(layer_table(model), keras_table(rec))
  expect_equal(count_params(model), rec$params)
  set_weights(model, lapply(rec$initial_weights, unflat))
  compile(model, optimizer = optimizer_sgd(learning_rate = rec$learning_rate),
          loss = "sparse_categorical_crossentropy")
  x <- unflat(rec$x)
  y <- as.integer(unlist(rec$y))
  # Keras's train_on_batch() loss: the weights before the step, BatchNormalization on the
  # batch's statistics.
  losses <- vapply(rec$batches, function(b) {
    i <- as.integer(unlist(b)) + 1L
    unname(train_on_batch(model, x[i, , , , drop = FALSE], y[i]))[1]
  }, 1)
  want <- as.numeric(unlist(rec$losses))
  expect_each_close(losses, want, 1e-4, "per-step losses")
  expect_lt(mean(want[41:50]), trains * mean(want[1:10])) # the steps do train
  got <- get_weights(model)
  final <- lapply(rec$final_weights, unflat)
  expect_equal(length(got), length(final))
  # The second convolution's bias feeds BatchNormalization, so its gradient is 0 up to rounding:
  # Keras leaves it at ~1e-8, below the tolerance, where expect_equal() compares absolute
  # differences.
  for (i in seq_along(final)) expect_equal(got[[i]], final[[i]], tolerance = 1e-3, info = sprintf("weight %d", i))
  expect_equal(unname(predict(model, x, verbose = 0)), unflat(rec$predict_after), tolerance = 1e-3)
}

test_that("a small CNN trained 50 SGD steps follows Keras's per-step losses and weights", {
  check_cnn_training("cnn")
})

test_that("a CNN of depthwise and separable convolutions trained 50 SGD steps follows Keras", {
  check_cnn_training("sepcnn", trains = 0.95)
})
