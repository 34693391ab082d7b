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

check_preprocessing_case <- function(case, make, read_keras = TRUE) {
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
  if (!read_keras) return(invisible())
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

# A lookup or hashing layer made in R from Keras's arguments (lists as vectors).
make_lookup <- function(fn) function(a) do.call(fn, lapply(a, function(v) if (is.list(v)) unlist(v) else v))

test_that("layer_integer_lookup() and its adapt() match Keras 3: special tokens, out-of-vocabulary indices, invert, every mode", {
  for (case in preprocessing_cases("lookup_")) {
    learnt <- !is.null(case$adapt)
    # Keras's config keeps an adapted vocabulary outside (in the .keras file's assets);
    # rkeras keeps it in the config. Keras's JSON of an adapted layer has no vocabulary.
    if (learnt) case$config[c("vocabulary", "idf_weights")] <- NULL
    layer <- make_lookup(layer_integer_lookup)(case$args)
    if (learnt) adapt(layer, unflat(case$adapt))
    expect_equal(get_vocabulary(layer), as.numeric(unlist(case$vocabulary)), info = case$name)
    case$adapt <- NULL
    check_preprocessing_case(case, function(a) layer, read_keras = !learnt)
    # Keras's JSON of an adapted layer has its vocabulary's size, not the vocabulary.
    if (learnt) expect_error(read_model(case$dir, case$name), "outside its config", info = case$name)
  }
})

test_that("layer_hashing() matches Keras 3: FarmHash, salted SipHash, mask value, every mode", {
  for (case in preprocessing_cases("hash_")) check_preprocessing_case(case, make_lookup(layer_hashing))
})

test_that("the lookup and hashing layers check their arguments and keep their state through files", {
  expect_error(layer_integer_lookup(vocabulary = c(1, 2.5)), "`vocabulary`", class = "rkeras_error_value")
  expect_error(layer_integer_lookup(vocabulary = 2^25), "2\\^24", class = "rkeras_error_value")
  expect_error(layer_integer_lookup(invert = TRUE, output_mode = "count"), "`invert", class = "rkeras_error_value")
  expect_error(layer_integer_lookup(salt = 3), "farmhash", class = "rkeras_error_value")
  expect_error(layer_integer_lookup(output_mode = "tf_idf", vocabulary = 1:3), "idf_weights",
               class = "rkeras_error_value")
  expect_error(layer_integer_lookup(vocabulary = 1:3, idf_weights = 1:2), "`idf_weights`",
               class = "rkeras_error_value")
  expect_error(layer_integer_lookup(vocabulary = "/no/such/file"), "does not exist", class = "rkeras_error_value")
  expect_error(layer_integer_lookup(oov_method = "md5"), "`oov_method`", class = "rkeras_error_value")
  expect_error(layer_hashing(num_bins = 0), "`num_bins`", class = "rkeras_error_value")
  expect_error(layer_hashing(num_bins = 3, salt = c(1, 2, 3)), "`salt`", class = "rkeras_error_value")
  expect_error(layer_hashing(num_bins = 3, sparse = TRUE), "sparse", class = "rkeras_error_unsupported")
  expect_error(keras_model_sequential(input_shape = 3) %>% layer_integer_lookup(vocabulary = c(1, 1, 2)),
               "repeats 1")
  expect_error(keras_model_sequential(input_shape = 3) %>% layer_integer_lookup(output_mode = "multi_hot"),
               "needs a vocabulary")
  expect_error(keras_model_sequential(input_shape = c(2, 3)) %>% layer_hashing(3, output_mode = "count"),
               "samples of one axis", class = "rkeras_error_unsupported")
  strict <- keras_model_sequential(input_shape = 2) %>% layer_integer_lookup(vocabulary = 1:3, num_oov_indices = 0)
  expect_equal(predict(strict, rbind(c(1, 3)), verbose = 0), rbind(c(0, 2)))
  expect_error(predict(strict, rbind(c(1, 4)), verbose = 0), "not in its vocabulary")
  expect_equal(predict(strict, rbind(c(2, 2)), verbose = 0), rbind(c(1, 1)))   # still usable
  lookup <- layer_integer_lookup()
  expect_error(adapt(lookup, "a"), "`data`", class = "rkeras_error_type")
  expect_error(adapt(lookup, c(-1, -1)), "no value to learn", class = "rkeras_error_value")
  adapt(lookup, c(4, 4, 8))
  expect_equal(get_vocabulary(lookup, include_special_tokens = FALSE), c(4, 8))
  set_vocabulary(lookup, c(10, 20, 30))
  expect_equal(get_vocabulary(lookup), c(-1, 10, 20, 30))
  expect_error(set_vocabulary(lookup, c(10, 10)), "repeats 10")
  expect_equal(get_vocabulary(lookup), c(-1, 10, 20, 30))
  vocab_file <- withr::local_tempfile(fileext = ".txt")
  writeLines(c("5", "6", ""), vocab_file)
  expect_equal(get_vocabulary(layer_integer_lookup(vocabulary = vocab_file)), c(-1, 5, 6))
  # In a model that trains: the ids feed an embedding; the vocabulary and the hashing
  # travel through Keras's files.
  input <- layer_input(shape = 3)
  ids <- input %>% lookup()
  hashed <- input %>% layer_hashing(num_bins = 8, salt = 5L)
  out <- layer_concatenate(list(ids %>% layer_embedding(4, 2) %>% layer_flatten(),
                                hashed %>% layer_embedding(8, 2) %>% layer_flatten())) %>% layer_dense(1)
  model <- keras_model(input, out)
  model %>% compile(loss = "mse", optimizer = "adam")
  x <- matrix(sample(c(10, 20, 30, 99), 60, replace = TRUE), 20)
  model %>% fit(x, rowSums(x) / 100, epochs = 2, verbose = 0)
  for (ext in c(".keras", ".h5")) {
    f <- withr::local_tempfile(fileext = ext)
    save_model(model, f)
    expect_equal(predict(load_model(f), x, verbose = 0), predict(model, x, verbose = 0), info = ext)
  }
})
