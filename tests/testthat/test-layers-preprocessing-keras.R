# Normalization, Discretization and CategoryEncoding against Keras 3 (oracle/keras_preprocessing.py):
# each layer made in R from Keras's arguments (and adapted on the same data), and read from
# Keras's JSON, gives Keras's weights, config and outputs.

preprocessing_cases <- function(prefix) {
  dir <- oracle_once("keras_preprocessing.py")
  cases <- Filter(function(c) startsWith(c$name, prefix), read_json(file.path(dir, "cases.json")))
  expect_gt(length(cases), 0)
  lapply(cases, function(c) c(c, dir = dir))
}

# A Keras argument (a number or nested lists of numbers) as an R array.
as_r_array <- function(v) {
  if (!is.list(v)) return(as.numeric(v))
  if (!is.list(v[[1]])) return(as.numeric(unlist(v)))
  do.call(rbind, lapply(v, function(r) as.numeric(unlist(r))))
}

# Keras's axes (batch axis 0) as Keras for R's (batch axis 1).
r_axes <- function(axis) {
  axis <- as.integer(unlist(axis))
  ifelse(axis >= 0, axis + 1L, axis)
}

check_preprocessing_case <- function(case, make) {
  info <- case$name
  x <- unflat(case$x)
  layer <- make(case$args)
  if (!is.null(case$adapt)) adapt(layer, unflat(case$adapt))
  model <- keras_model_sequential(input_shape = unlist(case$shape)) %>% layer()
  want <- lapply(case$weights, unflat)
  expect_equal(lapply(get_weights(model), as.numeric), lapply(want, as.numeric), tolerance = 1e-6, info = info)
  expect_equal(predict(model, x, verbose = 0), unflat(case$output), tolerance = 1e-5, info = info)
  # The layer's config as rkeras writes it in Keras's JSON.
  config <- rkeras:::rk_json_parse(model_to_json(model))$ok$config$layers[[2]]$config
  for (key in setdiff(names(case$config), "trainable")) {
    expect_equal(config[[key]], case$config[[key]], tolerance = 1e-7, info = paste(info, key))
  }
  keras_model <- read_model(case$dir, case$name)
  if (length(want)) set_weights(keras_model, want)
  expect_equal(predict(keras_model, x, verbose = 0), unflat(case$output), tolerance = 1e-5, info = info)
  expect_equal(count_params(keras_model), sum(vapply(want, length, 1L)), info = info)
}

test_that("layer_normalization() and adapt() match Keras 3: kept axes, given statistics, invert", {
  make <- function(a) {
    args <- list(mean = if (!is.null(a$mean)) as_r_array(a$mean), variance = if (!is.null(a$variance)) as_r_array(a$variance),
                 invert = isTRUE(a$invert))
    args["axis"] <- list(if ("axis" %in% names(a)) { if (is.null(a$axis)) NULL else r_axes(a$axis) } else -1L)
    do.call(layer_normalization, args)
  }
  for (case in preprocessing_cases("norm_")) check_preprocessing_case(case, make)
})

test_that("layer_normalization() checks its arguments and adapt() its data", {
  expect_error(layer_normalization(axis = 0), "`axis`", class = "rkeras_error_value")
  expect_error(layer_normalization(mean = 1), "both `mean` and `variance`", class = "rkeras_error_value")
  expect_error(layer_normalization(mean = 1:2, variance = 1:3), "same shape", class = "rkeras_error_value")
  expect_error(layer_normalization(mean = 1, variance = -1), "`variance`", class = "rkeras_error_value")
  expect_error(adapt(layer_normalization(), "a"), "`data`", class = "rkeras_error_type")
  expect_error(adapt(layer_normalization(mean = 1, variance = 1), matrix(1:4, 2)), "adapt", class = "rkeras_error_state")
  expect_error(adapt(layer_normalization(axis = 3), matrix(1:4, 2)), "axis", class = "rkeras_error_shape")
  expect_error(adapt(layer_dense(units = 2), matrix(1:4, 2)), "`object`", class = "rkeras_error_type")
  expect_error(keras_model_sequential(input_shape = c(4, 3)) %>% layer_normalization(axis = 1), "batch axis",
               class = "rkeras_error_unsupported")
  # One layer called on inputs of another size: an error, not statistics read out of range.
  shared <- layer_normalization()
  a <- layer_input(2); b <- layer_input(3)
  expect_error(keras_model(list(a, b), list(shared(a), shared(b))), "another shape")
  # adapt() after the layer joined a model changes the model's weights; the model trains
  # around the untrained statistics and keeps them through saving.
  norm <- layer_normalization()
  model <- keras_model_sequential(input_shape = 2) %>% norm() %>% layer_dense(1)
  x <- cbind(1:10, (1:10)^2)
  adapt(norm, x)
  expect_equal(as.numeric(get_weights(model)[[1]]), colMeans(x))
  model %>% compile(loss = "mse", optimizer = "sgd")
  model %>% fit(x, rowSums(x) / 100, epochs = 2, verbose = 0)
  expect_equal(as.numeric(get_weights(model)[[1]]), colMeans(x))
  f <- withr::local_tempfile(fileext = ".keras")
  save_model(model, f)
  expect_equal(predict(load_model(f), x, verbose = 0), predict(model, x, verbose = 0))
})

test_that("layer_discretization() and its adapt() match Keras 3: digitize, every output mode, learnt quantiles", {
  make <- function(a) {
    args <- a[intersect(names(a), c("num_bins", "epsilon", "output_mode"))]
    if (!is.null(a$bin_boundaries)) args$bin_boundaries <- as.numeric(unlist(a$bin_boundaries))
    do.call(layer_discretization, args)
  }
  for (case in preprocessing_cases("disc_")) check_preprocessing_case(case, make)
})

test_that("layer_category_encoding() matches Keras 3: multi-hot, counts, one-hot rows", {
  for (case in preprocessing_cases("cat_")) check_preprocessing_case(case, function(a) do.call(layer_category_encoding, a))
})

test_that("the discretization and category encoding layers check their arguments", {
  expect_error(layer_discretization(), "`bin_boundaries` or `num_bins`", class = "rkeras_error_value")
  expect_error(layer_discretization(bin_boundaries = c(2, 1)), "increasing", class = "rkeras_error_value")
  expect_error(layer_discretization(num_bins = 0), "`num_bins`", class = "rkeras_error_value")
  expect_error(layer_discretization(num_bins = 3, epsilon = 2), "`epsilon`", class = "rkeras_error_value")
  expect_error(layer_discretization(num_bins = 3, output_mode = "tf_idf"), "`output_mode`", class = "rkeras_error_value")
  expect_error(layer_discretization(num_bins = 3, sparse = TRUE), "sparse", class = "rkeras_error_unsupported")
  expect_error(layer_category_encoding(num_tokens = 3, output_mode = "int"), "`output_mode`", class = "rkeras_error_value")
  expect_error(layer_category_encoding(), "`num_tokens`", class = "rkeras_error_value")
  expect_error(adapt(layer_discretization(bin_boundaries = 1), 1:10), "num_bins", class = "rkeras_error_state")
  expect_error(adapt(layer_discretization(num_bins = 2), "a"), "`data`", class = "rkeras_error_type")
  # Not adapted: an error at prediction, the model still usable after adapt() is refused.
  d <- layer_discretization(num_bins = 2)
  model <- keras_model_sequential(input_shape = 1) %>% d()
  expect_error(predict(model, matrix(1:3), verbose = 0), "adapt", class = "rkeras_error_state")
  expect_error(adapt(d, 1:10), "before it joins a model", class = "rkeras_error_state")
  # Keras 2's "binary" is multi-hot; ids encode the same through a model that trains after them.
  enc <- keras_model_sequential(input_shape = 2) %>% layer_category_encoding(4, output_mode = "binary") %>%
    layer_dense(1)
  enc %>% compile(loss = "mse", optimizer = "sgd")
  expect_no_error(enc %>% fit(rbind(c(0, 1), c(3, 3)), c(1, 0), epochs = 1, verbose = 0))
})

test_that("Keras for R's regression pattern: a normalizer's $mean and a layer called on an array", {
  x <- cbind(c(1, 2, 3, 6), c(10, 20, 30, 60))
  normalizer <- layer_normalization(axis = -1L)
  normalizer %>% adapt(x)
  expect_equal(as.numeric(normalizer$mean), colMeans(x))
  expect_equal(as.numeric(normalizer$variance), colMeans(x^2) - colMeans(x)^2)
  expect_equal(normalizer(x[1, , drop = FALSE]), (x[1, , drop = FALSE] - colMeans(x)) / sqrt(colMeans(x^2) - colMeans(x)^2),
               tolerance = 1e-6)
  model <- keras_model_sequential(input_shape = 2) %>% normalizer() %>% layer_dense(1)
  expect_equal(as.numeric(normalizer$mean), colMeans(x))
  expect_equal(normalizer(x), predict(keras_model_sequential(input_shape = 2) %>% layer_normalization(
    mean = colMeans(x), variance = colMeans(x^2) - colMeans(x)^2), x, verbose = 0), tolerance = 1e-6)
  # A layer without weights yet keeps those its first call on an array gave it.
  dense <- layer_dense(units = 3)
  first <- dense(x)
  expect_identical(dense(x), first)
  expect_equal(dim(first), c(4, 3))
  expect_error(dense(1:3), "shape")
  expect_error(normalizer(x, training = TRUE), "training", class = "rkeras_error_unsupported")
})
