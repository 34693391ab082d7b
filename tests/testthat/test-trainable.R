# Trainable and non-trainable weights, per layer, as Keras has them: `trainable = FALSE` in
# the constructors, `layer$trainable`, `model$trainable`, freeze_weights() with Keras for R's
# selection rules, `trainable_weights`/`non_trainable_weights`, summary()'s totals, and the
# transfer-learning sequence.

summary_totals <- function(model) {
  lines <- format(model)
  num <- function(label) as.numeric(gsub(",", "", sub(".*: ", "", grep(paste0("^", label), lines, value = TRUE))))
  c(total = num("Total params"), trainable = num("Trainable params"), non_trainable = num("Non-trainable params"))
}

weight_sizes <- function(ws) sum(vapply(ws, length, 1))

test_that("summary() totals and the trainable / non-trainable weights equal Keras 3's", {
  py <- keras_python()
  out <- suppressWarnings(system2(py, test_path("oracle", "keras_trainable.py"), stdout = TRUE, stderr = FALSE))
  expect_null(attr(out, "status"))
  want <- jsonlite::fromJSON(paste(out, collapse = ""))
  models <- list()
  models$cnn_bn <- keras_model_sequential() %>% layer_conv_2d(8, 3, input_shape = c(8, 8, 1)) %>%
    layer_batch_normalization() %>% layer_flatten() %>% layer_dense(1)
  models$dense_frozen <- keras_model_sequential() %>% layer_dense(4, input_shape = 3, trainable = FALSE) %>%
    layer_dense(2)
  base <- keras_model_sequential() %>% layer_dense(8, activation = "relu", input_shape = 4) %>%
    layer_batch_normalization() %>% layer_dense(6, activation = "relu")
  base$trainable <- FALSE
  models$frozen_base <- keras_model_sequential() %>% base %>% layer_dense(2)
  x <- layer_input(c(5, 3))
  h <- x %>% layer_lstm(4, return_sequences = TRUE, trainable = FALSE) %>% layer_gru(3)
  models$recurrent_frozen <- keras_model(x, h %>% layer_dense(1))
  t <- layer_input(6)
  e <- t %>% layer_embedding(20, 4, trainable = FALSE) %>% layer_conv_1d(5, 3) %>%
    layer_batch_normalization(trainable = FALSE) %>% layer_global_average_pooling_1d()
  models$embedding_bn_frozen <- keras_model(t, e)
  for (name in names(models)) {
    m <- models[[name]]
    k <- want[[name]]
    expect_equal(summary_totals(m), c(total = k$total, trainable = k$trainable, non_trainable = k$non_trainable),
                 info = name)
    expect_equal(count_params(m), k$total, info = name)
    expect_length(m$trainable_weights, k$n_trainable)
    expect_length(m$non_trainable_weights, k$n_non_trainable)
    expect_equal(weight_sizes(m$trainable_weights), k$trainable, info = name)
    expect_equal(weight_sizes(m$non_trainable_weights), k$non_trainable, info = name)
    expect_equal(weight_sizes(get_weights(m, trainable = FALSE)), k$non_trainable, info = name)
  }
})

test_that("`trainable = FALSE` in a layer's constructor keeps its weights through fit()", {
  set.seed(3)
  frozen <- list(
    dense = function(x) x %>% layer_dense(4, trainable = FALSE),
    conv = function(x) x %>% layer_reshape(c(3, 2)) %>% layer_conv_1d(4, 2, trainable = FALSE) %>% layer_flatten(),
    lstm = function(x) x %>% layer_reshape(c(3, 2)) %>% layer_lstm(4, trainable = FALSE),
    gru = function(x) x %>% layer_reshape(c(3, 2)) %>% layer_gru(4, trainable = FALSE),
    rnn = function(x) x %>% layer_reshape(c(3, 2)) %>% layer_simple_rnn(4, trainable = FALSE),
    bn = function(x) x %>% layer_batch_normalization(trainable = FALSE),
    ln = function(x) x %>% layer_layer_normalization(trainable = FALSE),
    bidirectional = function(x) x %>% layer_reshape(c(3, 2)) %>% bidirectional(layer_gru(units = 2), trainable = FALSE),
    wrapped = function(x) x %>% layer_reshape(c(3, 2)) %>% time_distributed(layer_dense(units = 2, trainable = FALSE)) %>%
      layer_flatten()
  )
  xs <- matrix(rnorm(40 * 6), 40)
  ys <- matrix(rnorm(40), 40)
  for (name in names(frozen)) {
    input <- layer_input(6)
    out <- frozen[[name]](input) %>% layer_dense(1, name = "head")
    m <- keras_model(input, out)
    m %>% compile(loss = "mse", optimizer = optimizer_sgd(0.1))
    head <- get_layer(m, "head")
    layer <- m$layers[[length(m$layers) - 1L - (name %in% c("conv", "wrapped"))]]
    before <- get_weights(layer)
    head_before <- get_weights(head)
    m %>% fit(xs, ys, epochs = 2, batch_size = 8, verbose = 0)
    expect_false(layer$trainable, info = name)
    expect_identical(get_weights(layer), before, info = name)
    expect_false(identical(get_weights(head), head_before), info = name)
  }
})

test_that("a layer's `trainable` set before or after joining a model, as Keras's transfer-learning guide does", {
  # The guide's first example: freeze layer1 after building the model.
  layer1 <- layer_dense(units = 3, activation = "relu")
  layer2 <- layer_dense(units = 3, activation = "sigmoid")
  model <- keras_model_sequential(input_shape = 3) %>% layer1() %>% layer2()
  layer1$trainable <- FALSE
  expect_length(layer1$weights, 2)
  expect_length(layer1$trainable_weights, 0)
  expect_length(layer1$non_trainable_weights, 2)
  initial <- get_weights(layer1)
  model %>% compile(optimizer = "adam", loss = "mse")
  model %>% fit(matrix(rnorm(6), 2), matrix(rnorm(6), 2), epochs = 1, verbose = 0)
  expect_identical(get_weights(layer1), initial)
  # Frozen before joining a model.
  l <- layer_dense(units = 2)
  l$trainable <- FALSE
  expect_false(l$trainable)
  m <- keras_model_sequential() %>% layer_dense(3, input_shape = 2) %>% l
  expect_length(m$non_trainable_weights, 2)
  expect_error(l$trainable <- "no", class = "rkeras_error")
  expect_error(l$trainable <- NA, "TRUE or FALSE")
})

test_that("model$trainable freezes every layer, and a model used inside it, recursively", {
  inner <- keras_model_sequential(input_shape = 3) %>%
    layer_dense(units = 3, activation = "relu") %>%
    layer_dense(units = 3, activation = "relu")
  model <- keras_model_sequential(input_shape = 3) %>% inner() %>% layer_dense(units = 3, activation = "sigmoid")
  model$trainable <- FALSE
  expect_false(model$trainable)
  expect_false(inner$trainable)
  expect_false(inner$layers[[1]]$trainable)
  expect_length(model$trainable_weights, 0)
  model %>% compile(optimizer = "adam", loss = "mse")
  w <- get_weights(model)
  model %>% fit(matrix(rnorm(30), 10), matrix(runif(30), 10), epochs = 2, verbose = 0)
  expect_identical(get_weights(model), w)
  model$trainable <- TRUE
  expect_true(inner$layers[[2]]$trainable)
  expect_length(model$trainable_weights, 6)
  expect_error(model$trainable <- 1, "TRUE or FALSE")
  expect_error(model$foo <- 1, "cannot be set")
  expect_error(model$ptr <- NULL, "cannot be set")
  model$stop_training <- TRUE
  expect_true(model$stop_training)
})

test_that("freeze_weights() and unfreeze_weights() select layers as Keras for R does", {
  m <- keras_model_sequential() %>% layer_dense(4, input_shape = 3, name = "a") %>%
    layer_dense(4, name = "b") %>% layer_dense(4, name = "c") %>% layer_dense(1, name = "d")
  flags <- function() vapply(m$layers, function(l) l$trainable, TRUE)
  freeze_weights(m)
  expect_equal(flags(), rep(FALSE, 4))
  unfreeze_weights(m)
  expect_equal(flags(), rep(TRUE, 4))
  # The range gets the value and every other layer the opposite.
  freeze_weights(m, from = -2)
  expect_equal(flags(), c(TRUE, TRUE, FALSE, FALSE))
  freeze_weights(m, to = "b")
  expect_equal(flags(), c(FALSE, FALSE, TRUE, TRUE))
  unfreeze_weights(m, from = 2, to = -2)
  expect_equal(flags(), c(FALSE, TRUE, TRUE, FALSE))
  freeze_weights(m, from = get_layer(m, "c"))
  expect_equal(flags(), c(TRUE, TRUE, FALSE, FALSE))
  freeze_weights(m, which = c("a", "d"))
  expect_equal(flags(), c(FALSE, TRUE, TRUE, FALSE))
  freeze_weights(m, which = -1)
  expect_equal(flags(), c(TRUE, TRUE, TRUE, FALSE))
  unfreeze_weights(m, which = ~ .x$name %in% c("b", "c"))
  expect_equal(flags(), c(FALSE, TRUE, TRUE, FALSE))
  freeze_weights(m, which = c(TRUE, FALSE, FALSE, FALSE))
  expect_equal(flags(), c(FALSE, TRUE, TRUE, TRUE))
  expect_equal(summary_totals(m)[["non_trainable"]], 16)
  expect_error(freeze_weights(m, from = 5), "`from`")
  expect_error(freeze_weights(m, to = 0), "`to`")
  expect_error(freeze_weights(m, which = "zz"), "zz")
  expect_error(freeze_weights(m, which = c(TRUE, FALSE)), "one TRUE or FALSE per layer")
  expect_error(freeze_weights(m, from = 1, to = 2, which = 1), "not both")
})

test_that("transfer learning: a frozen base, a trained head, then the top of the base fine-tuned", {
  set.seed(11)
  x <- matrix(rnorm(64 * 4), 64)
  y <- matrix(rnorm(64 * 2), 64)
  base <- keras_model_sequential(name = "base") %>%
    layer_dense(8, activation = "relu", input_shape = 4, name = "b1") %>%
    layer_batch_normalization(name = "bn") %>%
    layer_dense(6, activation = "relu", name = "b2")
  base %>% compile(loss = "mse", optimizer = "adam")
  base %>% fit(x, y[, 1] %o% rep(1, 6), epochs = 1, verbose = 0)
  base$trainable <- FALSE
  model <- keras_model_sequential() %>% base %>% layer_dense(2, name = "head")
  model %>% compile(loss = "mse", optimizer = optimizer_adam(1e-2))
  # As in Keras, the base is one layer of the model; its own layers are found in it.
  expect_equal(vapply(model$layers, function(l) l$name, ""), c("base", "head"))
  layer_w <- function(name) get_weights(get_layer(if (name == "head") model else base, name))
  before <- lapply(c("b1", "bn", "b2", "head"), layer_w)
  model %>% fit(x, y, epochs = 2, batch_size = 16, verbose = 0)
  after <- lapply(c("b1", "bn", "b2", "head"), layer_w)
  # The frozen base is untouched, its batch normalization's moving statistics included
  # (a frozen batch normalization runs in inference mode); the head learned.
  expect_identical(after[1:3], before[1:3])
  expect_false(identical(after[[4]], before[[4]]))
  expect_identical(get_weights(base), unlist(before[1:3], recursive = FALSE))
  # Unfreeze the top of the base and fine-tune with a lower learning rate.
  unfreeze_weights(base, from = -1)
  model %>% compile(loss = "mse", optimizer = optimizer_adam(1e-4))
  expect_equal(length(model$trainable_weights), 4)
  model %>% fit(x, y, epochs = 1, batch_size = 16, verbose = 0)
  tuned <- lapply(c("b1", "bn", "b2", "head"), layer_w)
  expect_identical(tuned[1:2], after[1:2])
  expect_false(identical(tuned[[3]], after[[3]]))
  expect_false(identical(tuned[[4]], after[[4]]))
  # The base model holds the same layers: it sees the fine-tuned weights.
  expect_identical(get_weights(base)[7:8], tuned[[3]])
})

test_that("count_params() of a model not built is an error saying how to build it", {
  expect_error(count_params(keras_model_sequential() %>% layer_dense(2)), "not built yet.*input_shape",
               class = "rkeras_error")
  expect_equal(count_params(keras_model_sequential() %>% layer_dense(2, input_shape = 3)), 8)
})

test_that("merge layers take tensors as separate arguments as well as a list", {
  a <- layer_input(3)
  b <- layer_input(3)
  c <- layer_input(3)
  expect_equal(keras_model(list(a, b), layer_add(a, b))$output_shape, list(NULL, 3L))
  expect_equal(keras_model(list(a, b, c), layer_concatenate(a, b, c))$output_shape, list(NULL, 9L))
  expect_equal(keras_model(list(a, b, c), layer_concatenate(list(a, b), c, axis = -1))$output_shape, list(NULL, 9L))
  expect_equal(get_layer(keras_model(list(a, b), layer_maximum(a, b, name = "mx")), "mx")$output_shape, list(NULL, 3L))
  expect_error(layer_add(a, 3), "takes tensors")
  expect_error(layer_add(a, b, foo = 1), "foo")
})

test_that("a stateful model predicts and evaluates more than 8192 rows in batches of its size", {
  s <- keras_model_sequential() %>%
    layer_simple_rnn(3, stateful = TRUE, batch_input_shape = c(17, 2, 2)) %>% layer_dense(1)
  s %>% compile(loss = "mse", optimizer = "sgd")
  x <- array(runif(17 * 500 * 4), c(17 * 500, 2, 2))
  expect_equal(dim(predict(s, x, batch_size = 17, verbose = 0)), c(8500L, 1L))
  expect_true(is.finite(evaluate(s, x, matrix(0, 8500, 1), batch_size = 17, verbose = 0)[["loss"]]))
})

test_that("a dropout rate that is 1 in single precision is refused", {
  expect_error(layer_dropout(rate = 1 - 1e-12), "single precision", class = "rkeras_error")
  expect_s3_class(layer_dropout(rate = 1 - 2^-24), "rkeras_layer")
})

test_that("bias_regularizer adds its penalty to the loss as Keras 3 does: same losses and weights over 3 SGD steps", {
  py <- keras_python()
  out <- suppressWarnings(system2(py, c(test_path("oracle", "keras_trainable.py"), "regularized"),
                                  stdout = TRUE, stderr = FALSE))
  expect_null(attr(out, "status"))
  want <- jsonlite::fromJSON(paste(out, collapse = ""), simplifyVector = FALSE)
  model <- keras_model_sequential() %>%
    layer_dense(3, activation = "tanh", input_shape = 4, kernel_regularizer = regularizer_l1_l2(0.01, 0.02),
                bias_regularizer = regularizer_l1_l2(0.03, 0.04)) %>%
    layer_dense(1, bias_regularizer = regularizer_l2(0.5))
  set_weights(model, list(array_reshape(seq(-1, 1, length.out = 12), c(4, 3)), c(0.5, -0.25, 0.1),
                          matrix(seq(0.3, -0.3, length.out = 3), 3), 0.2))
  x <- array_reshape(seq(-2, 2, length.out = 24), c(6, 4))
  y <- matrix(seq(1, -1, length.out = 6), 6)
  model %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
  h <- model %>% fit(x, y, epochs = 3, batch_size = 6, shuffle = FALSE, verbose = 0)
  expect_equal(h$metrics$loss, unlist(want$losses), tolerance = 1e-5)
  got <- lapply(get_weights(model), function(w) as.numeric(t(w)))
  for (i in seq_along(got)) expect_equal(got[[i]], unlist(want$weights[[i]]), tolerance = 1e-5)
  expect_equal(evaluate(model, x, y, verbose = 0)[["loss"]], want$evaluate, tolerance = 1e-5)
  expect_match(model_to_json(model), '"bias_regularizer":{"module":"keras.regularizers"', fixed = TRUE)
  # Read back from its JSON and from a .keras file, the penalty comes along.
  again <- model_from_json(model_to_json(model))
  set_weights(again, get_weights(model))
  again %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
  expect_equal(evaluate(again, x, y, verbose = 0)[["loss"]], want$evaluate, tolerance = 1e-5)
  path <- withr::local_tempfile(fileext = ".keras")
  save_model(model, path)
  expect_equal(evaluate(load_model(path), x, y, verbose = 0)[["loss"]], want$evaluate, tolerance = 1e-5)
})

test_that("constructors' `weights`, `input_dim` and `dtype`, and input dtypes, do what Keras does", {
  w <- list(matrix(1:6 / 10, 3, 2), c(0.5, -0.5))
  m <- keras_model_sequential() %>% layer_dense(2, input_dim = 3, weights = w)
  expect_equal(get_weights(m), lapply(w, function(a) { storage.mode(a) <- "double"; if (is.null(dim(a))) array(a) else a }),
               ignore_attr = TRUE, tolerance = 1e-7)
  # Set when the layer is built by the first data.
  e <- keras_model_sequential() %>% layer_embedding(4, 2, weights = list(matrix(1:8, 4, 2))) %>% layer_flatten()
  p <- predict(e, matrix(c(0, 3), 1), verbose = 0)
  expect_equal(as.numeric(p), c(1, 5, 4, 8))
  expect_error(layer_dense(units = 2, weights = "a"), "list of numeric arrays")
  expect_error(keras_model_sequential() %>% layer_dense(2, input_shape = 3, weights = list(1)), "list of 2 arrays")
  expect_error(layer_dense(units = 2, input_dim = 3, input_shape = 3), "not both")
  expect_error(layer_dense(units = 2, dtype = "float64"), "single precision", class = "rkeras_error")
  # Integer and boolean inputs are cast to float32 as Keras casts them.
  ids <- layer_input(shape = 3, dtype = "int32")
  model <- keras_model(ids, ids %>% layer_embedding(5, 2) %>% layer_flatten())
  expect_equal(dim(predict(model, matrix(c(1L, 2L, 4L), 1), verbose = 0)), c(1L, 6L))
  expect_s3_class(layer_input(shape = 2, dtype = "bool"), "rkeras_tensor")
  expect_error(layer_input(shape = 2, dtype = "string"), "not supported", class = "rkeras_error")
  expect_error(layer_input(shape = 2, dtype = "int33"), "dtype")
})

test_that("models and layers carry Keras's class names after rkeras's own", {
  m <- keras_model_sequential() %>% layer_batch_normalization(input_shape = 3)
  expect_true(inherits(m, "keras.engine.training.Model"))
  expect_true(inherits(m, "keras.src.models.model.Model"))
  expect_equal(class(m)[[1]], "rkeras_sequential")
  # Keras for R's freeze_weights() example tells layers apart by their first class.
  bn_class <- class(layer_batch_normalization())[1]
  is_bn <- function(x) inherits(x, bn_class)
  f <- keras_model_sequential() %>% layer_dense(3, input_shape = 3) %>% layer_batch_normalization()
  freeze_weights(f, which = is_bn)
  expect_equal(vapply(f$layers, function(l) l$trainable, TRUE), c(TRUE, FALSE))
  expect_true(inherits(f$layers[[1]], "keras.src.layers.layer.Layer"))
})

test_that("a single layer's get_config(), from_config() and count_params()", {
  l <- layer_dense(units = 3, activation = "relu", trainable = FALSE, name = "d3")
  cfg <- get_config(l)
  expect_equal(cfg$name, "d3")
  expect_false(cfg$trainable)
  expect_equal(cfg$units, 3L)
  cfg$name <- "d3_copy"
  l2 <- from_config(cfg)
  expect_s3_class(l2, "rkeras_layer")
  expect_false(l2$trainable)
  m <- keras_model_sequential() %>% layer_dense(2, input_shape = 4) %>% l2
  expect_equal(get_layer(m, "d3_copy")$output_shape, list(NULL, 3L))
  expect_equal(count_params(get_layer(m, "d3_copy")), 9)
  expect_equal(get_config(get_layer(m, "d3_copy"))$activation, "relu")
  lstm_cfg <- get_config(layer_lstm(units = 4, return_sequences = TRUE))
  x <- layer_input(c(5, 2))
  expect_equal(dim(from_config(lstm_cfg)(x)), c(NA, 5L, 4L))
})
