seq_data <- function() {
  set.seed(11)
  list(x = matrix(round(rnorm(40 * 4), 2), 40, 4), y = to_categorical(sample(0:2, 40, TRUE), 3))
}

dense_model <- function(optimizer = "adam") {
  m <- keras_model_sequential() %>% layer_dense(8, activation = "relu", input_shape = 4) %>%
    layer_dense(3, activation = "softmax")
  m %>% compile(optimizer = optimizer, loss = "categorical_crossentropy", metrics = "accuracy")
  m
}

cnn_model <- function() {
  i <- layer_input(c(6, 6, 2))
  o <- i %>% layer_conv_2d(3, 3, padding = "same", activation = "relu") %>% layer_batch_normalization() %>%
    layer_max_pooling_2d(2) %>% layer_global_average_pooling_2d() %>% layer_dense(2, activation = "softmax")
  m <- keras_model(i, o)
  m %>% compile(optimizer = optimizer_sgd(0.05, momentum = 0.9), loss = "categorical_crossentropy")
  m
}

fit_quietly <- function(m, x, y, epochs = 2) {
  set.seed(3)
  m %>% fit(x, y, epochs = epochs, batch_size = 8, verbose = 0, shuffle = FALSE)
}

test_that("a saved and loaded model continues training exactly where it stopped, for every optimizer", {
  d <- seq_data()
  opts <- list(sgd = function() optimizer_sgd(0.05, momentum = 0.9, nesterov = TRUE),
               rmsprop = function() optimizer_rmsprop(0.01, momentum = 0.5, centered = TRUE),
               adam = function() optimizer_adam(0.01, amsgrad = TRUE),
               adamw = function() optimizer_adamw(0.01),
               adagrad = function() optimizer_adagrad(0.05),
               adadelta = function() optimizer_adadelta(1),
               adamax = function() optimizer_adamax(0.01),
               nadam = function() optimizer_nadam(0.01))
  dir <- withr::local_tempdir()
  for (nm in names(opts)) {
    for (format in c("keras", "h5", "raw")) {
      m <- dense_model(opts[[nm]]())
      fit_quietly(m, d$x, d$y)
      f <- file.path(dir, paste0("m.", format))
      m2 <- switch(format,
                   keras = { save_model(m, f); load_model(f) },
                   h5 = { save_model_hdf5(m, f); load_model_hdf5(f) },
                   raw = unserialize_model(serialize_model(m)))
      expect_identical(get_weights(m2), get_weights(m), info = paste(nm, format))
      expect_equal(m2$compiled$optimizer[c("name", "learning_rate", "params")],
                   m$compiled$optimizer[c("name", "learning_rate", "params")], info = paste(nm, format))
      h1 <- fit_quietly(m, d$x, d$y)
      h2 <- fit_quietly(m2, d$x, d$y)
      expect_identical(h2$metrics$loss, h1$metrics$loss, info = paste(nm, format))
      expect_identical(get_weights(m2), get_weights(m), info = paste(nm, format))
    }
  }
})

test_that("without the optimizer, a loaded model is uncompiled or restarts its optimizer", {
  d <- seq_data()
  m <- dense_model()
  fit_quietly(m, d$x, d$y)
  f <- withr::local_tempfile(fileext = ".keras")
  save_model(m, f, include_optimizer = FALSE)
  m2 <- load_model(f)
  expect_null(m2$compiled)
  expect_equal(predict(m2, d$x, verbose = 0), predict(m, d$x, verbose = 0))
  save_model(m, f)
  expect_null(load_model(f, compile = FALSE)$compiled)
})

test_that("a functional CNN with batch normalization round-trips, moving statistics and frozen layers included", {
  set.seed(5)
  x <- array(round(rnorm(16 * 72), 2), c(16, 6, 6, 2)); y <- to_categorical(rep(0:1, 8), 2)
  m <- cnn_model()
  fit_quietly(m, x, y)
  freeze_weights(m, from = 2, to = 2)
  m %>% compile(optimizer = optimizer_sgd(0.05, momentum = 0.9), loss = "categorical_crossentropy")
  fit_quietly(m, x, y, 1)
  dir <- withr::local_tempdir()
  for (f in file.path(dir, c("c.keras", "c.h5"))) {
    save_model(m, f)
    m2 <- load_model(f)
    expect_identical(get_weights(m2), get_weights(m))
    expect_equal(predict(m2, x, verbose = 0), predict(m, x, verbose = 0), tolerance = 0)
    expect_equal(vapply(m2$layers, function(l) l$trainable, TRUE), vapply(m$layers, function(l) l$trainable, TRUE))
    h1 <- fit_quietly(m, x, y, 1)
    h2 <- fit_quietly(m2, x, y, 1)
    expect_identical(h2$metrics$loss, h1$metrics$loss)
  }
})

test_that("weights-only files load into the same architecture, by order or by name", {
  d <- seq_data()
  m <- dense_model()
  fit_quietly(m, d$x, d$y)
  dir <- withr::local_tempdir()
  save_model_weights_hdf5(m, file.path(dir, "w.h5"))
  save_model_weights(m, file.path(dir, "w.weights.h5"))
  for (f in file.path(dir, c("w.h5", "w.weights.h5"))) {
    fresh <- dense_model()
    expect_invisible(res <- if (grepl("weights.h5$", f)) load_model_weights(fresh, f) else load_model_weights_hdf5(fresh, f))
    expect_identical(res, fresh)
    expect_identical(get_weights(fresh), get_weights(m))
  }
  # By name: another model whose first layer is named like the saved one's second.
  other <- keras_model_sequential() %>% layer_dense(8, input_shape = 4, name = "dense_9") %>%
    layer_dense(3, name = m$layers[[2]]$name)
  before <- get_weights(other)
  load_model_weights_hdf5(other, file.path(dir, "w.h5"), by_name = TRUE)
  expect_identical(get_weights(other)[1:2], before[1:2])
  expect_identical(get_weights(other)[3:4], get_weights(m)[3:4])
  # Mismatches: an error naming the weight, or with skip_mismatch a warning.
  wide <- keras_model_sequential() %>% layer_dense(5, input_shape = 4, name = m$layers[[1]]$name) %>%
    layer_dense(3, name = m$layers[[2]]$name)
  expect_error(load_model_weights_hdf5(wide, file.path(dir, "w.h5")), "kernel' has shape \\(4, 5\\), but the file's has shape \\(4, 8\\)",
               class = "rkeras_error_shape")
  w <- capture_warnings(load_model_weights_hdf5(wide, file.path(dir, "w.h5"), by_name = TRUE, skip_mismatch = TRUE))
  expect_length(w, 2)
  expect_match(w, "Skipping loading weights for layer", all = TRUE)
  expect_error(load_model_weights_hdf5(cnn_model(), file.path(dir, "w.h5")), "weights for 2 layers, but the model has 3",
               class = "rkeras_error_shape")
  expect_error(load_model(file.path(dir, "w.h5")), "holds only weights", class = "rkeras_error_value")
  expect_error(load_model_weights_hdf5(m, file.path(dir, "w.h5"), skip_mismatch = TRUE), "needs `by_name = TRUE`")
  expect_error(save_model_weights(m, file.path(dir, "w.h5")), "must end in '.weights.h5'")
})

test_that("saving is atomic: a failed write leaves the previous file whole and no stray file", {
  d <- seq_data()
  m <- dense_model()
  dir <- withr::local_tempdir()
  f <- file.path(dir, "m.keras")
  save_model(m, f)
  good <- readBin(f, "raw", file.size(f))
  fit_quietly(m, d$x, d$y)
  withr::with_envvar(c(RKERAS_TEST_WRITE_LIMIT = "1000"), {
    expect_error(save_model(m, f), "cannot write .*no space left on device", class = "rkeras_error_io")
    expect_error(save_model_hdf5(m, file.path(dir, "new.h5")), "no space left", class = "rkeras_error_io")
  })
  expect_identical(readBin(f, "raw", file.size(f) + 1), good)
  expect_identical(list.files(dir, all.files = TRUE, no.. = TRUE), "m.keras")
  expect_error(save_model(m, f, overwrite = FALSE), "exists and `overwrite = FALSE`", class = "rkeras_error_io")
  expect_error(save_model(m, file.path(dir, "no", "m.keras")), "folder .* does not exist", class = "rkeras_error_io")
  expect_error(save_model(m, file.path(dir, "m.txt")), "must end in '.keras'")
  expect_true(save_model(m, file.path(dir, "legacy.h5")))
  # The model is still usable after the failed save.
  expect_length(fit_quietly(m, d$x, d$y)$metrics$loss, 2)
})

test_that("damaged and foreign files are clear errors naming the file", {
  m <- dense_model()
  dir <- withr::local_tempdir()
  f <- file.path(dir, "m.keras")
  save_model(m, f)
  bytes <- readBin(f, "raw", file.size(f))
  cut <- file.path(dir, "cut.keras"); writeBin(bytes[1:(length(bytes) %/% 2)], cut)
  expect_error(load_model(cut), "cut.keras' is not a Keras model archive", class = "rkeras_error_value")
  junk <- file.path(dir, "junk.h5"); writeBin(charToRaw("not a model at all"), junk)
  expect_error(load_model(junk), "junk.h5' is not an HDF5 file", class = "rkeras_error_value")
  expect_error(load_model(file.path(dir, "none.keras")), "No file", class = "rkeras_error_io")
  expect_error(load_model(dir), "is a folder", class = "rkeras_error_io")
  expect_error(unserialize_model(as.raw(1:10)), "serialized model", class = "rkeras_error_value")
  # A weights file of another architecture.
  w <- file.path(dir, "cnn.weights.h5")
  save_model_weights(cnn_model(), w)
  expect_error(load_model_weights(m, w), "has shape \\(4, 8\\), but the file's has shape \\(3, 2\\)", class = "rkeras_error_shape")
  # Damage anywhere in the file: an R error, never a crash or a half-built model.
  set.seed(9)
  for (k in 1:30) {
    b <- bytes
    i <- sample(length(b), 8)
    b[i] <- as.raw(sample(0:255, 8, TRUE))
    res <- tryCatch(unserialize_model(b), error = function(e) e)
    if (inherits(res, "error")) expect_s3_class(res, "rkeras_error") else expect_s3_class(res, "rkeras_model")
  }
})

test_that("Keras 3 reads rkeras's files and predicts the same", {
  py <- keras_python()
  d <- seq_data()
  dir <- withr::local_tempdir()
  m <- dense_model(optimizer_rmsprop(0.01, momentum = 0.5, centered = TRUE))
  m %>% compile(optimizer = optimizer_rmsprop(0.01, momentum = 0.5, centered = TRUE),
                loss = "categorical_crossentropy", metrics = "accuracy")
  fit_quietly(m, d$x, d$y)
  set.seed(5)
  cx <- array(round(rnorm(8 * 72), 2), c(8, 6, 6, 2))
  cnn <- cnn_model()
  fit_quietly(cnn, cx, to_categorical(rep(0:1, 4), 2))
  save_model(m, file.path(dir, "rk_seq.keras")); save_model_hdf5(m, file.path(dir, "rk_seq.h5"))
  save_model(cnn, file.path(dir, "rk_cnn.keras")); save_model_hdf5(cnn, file.path(dir, "rk_cnn.h5"))
  save_model_weights(m, file.path(dir, "rk_seq.weights.h5")); save_model_weights_hdf5(m, file.path(dir, "rk_seq_weights.h5"))
  writeLines(rkeras:::to_json(list(seq_x = flat_item(d$x), cnn_x = flat_item(cx))), file.path(dir, "inputs.json"))
  out <- suppressWarnings(system2(py, shQuote(c(test_path("oracle", "keras_saving.py"), "read", dir)), stdout = TRUE, stderr = TRUE))
  expect_null(attr(out, "status"), info = paste(tail(out, 20), collapse = "\n"))
  got <- read_json(file.path(dir, "read.json"))
  for (f in c("rk_seq.keras", "rk_seq.h5", "rk_seq.weights.h5", "rk_seq_weights.h5")) {
    expect_equal(unflat(got[[f]]$pred), predict(m, d$x, verbose = 0), tolerance = 1e-5, info = f)
  }
  for (f in c("rk_cnn.keras", "rk_cnn.h5")) {
    expect_equal(unflat(got[[f]]$pred), predict(cnn, cx, verbose = 0), tolerance = 1e-5, info = f)
  }
  # The .keras file carries the whole optimizer: RMSprop's velocities, momentums and average gradients.
  expect_equal(got[["rk_seq.keras"]]$iterations, 10)
  expect_equal(got[["rk_seq.keras"]]$optimizer_variables, 2 + 3 * 4)
})

test_that("rkeras reads Keras 3's files and Keras 2's legacy HDF5 files", {
  py <- keras_python()
  dir <- withr::local_tempdir()
  out <- suppressWarnings(system2(py, shQuote(c(test_path("oracle", "keras_saving.py"), "write", dir)), stdout = TRUE, stderr = TRUE))
  expect_null(attr(out, "status"), info = paste(tail(out, 20), collapse = "\n"))
  data <- read_json(file.path(dir, "data.json"))
  sx <- unflat(data$seq_x)
  for (f in c("seq.keras", "seq.h5")) {
    m <- load_model(file.path(dir, f))
    expect_equal(predict(m, sx, verbose = 0), unflat(data$seq_pred), tolerance = 1e-5, info = f)
    expect_equal(m$compiled$optimizer$name, "rmsprop", info = f)
    expect_equal(m$compiled$optimizer$params[1:4], c(0.9, 0.5, 1e-7, 1), info = f)
  }
  # The .keras file's optimizer state is restored: a save now writes Keras's step count back.
  m <- load_model(file.path(dir, "seq.keras"))
  back <- rkeras:::rk_call(rkeras:::rk_read_model_file(NULL, serialize_model(m)))
  expect_equal(back$optimizer$iterations, data$seq_iterations)
  fresh <- keras_model_sequential() %>% layer_dense(8, activation = "relu", input_shape = 4) %>%
    layer_dropout(0.2) %>% layer_dense(3, activation = "softmax")
  load_model_weights(fresh, file.path(dir, "seq.weights.h5"))
  expect_equal(predict(fresh, sx, verbose = 0), unflat(data$seq_pred), tolerance = 1e-5)
  cx <- unflat(data$cnn_x)
  for (f in c("cnn.keras", "cnn.h5")) {
    m <- load_model(file.path(dir, f))
    expect_equal(predict(m, cx, verbose = 0), unflat(data$cnn_pred), tolerance = 1e-5, info = f)
  }
  k2 <- load_model_hdf5(file.path(dir, "keras2.h5"))
  expect_equal(predict(k2, unflat(data$keras2_x), verbose = 0), unflat(data$keras2_pred), tolerance = 1e-5)
  expect_equal(k2$compiled$optimizer$learning_rate, 0.002)
  expect_equal(k2$compiled$metric_names, "accuracy")
})

test_that("an interrupted save leaves either the old file or the new one, whole", {
  skip_on_cran()
  skip_on_os("windows")
  dir <- withr::local_tempdir()
  f <- file.path(dir, "big.keras")
  pidfile <- file.path(dir, "pid")
  out <- file.path(dir, "out.txt")
  script <- file.path(dir, "save.R")
  writeLines(c(
    "suppressPackageStartupMessages(library(rkeras))",
    "m <- keras_model_sequential() %>% layer_dense(1500, input_shape = 1500) %>% layer_dense(1500)",
    "m %>% compile(loss = 'mse', optimizer = 'adam')",
    sprintf("f <- '%s'", f),
    "save_model(m, f)",
    sprintf("writeLines(as.character(Sys.getpid()), '%s')", pidfile),
    "r <- tryCatch({ for (i in 1:10000) save_model(m, f); 'finished' }, interrupt = function(e) 'interrupted')",
    "cat('RESULT', r, '\\n')"), script)
  system2(file.path(R.home("bin"), "Rscript"), c("--vanilla", script), stdout = out, stderr = out, wait = FALSE)
  deadline <- Sys.time() + 60
  while (!file.exists(pidfile) && Sys.time() < deadline) Sys.sleep(0.1)
  Sys.sleep(1.5)
  tools::pskill(as.integer(readLines(pidfile)), tools::SIGINT)
  deadline <- Sys.time() + 60
  while (!any(grepl("RESULT", readLines(out))) && Sys.time() < deadline) Sys.sleep(0.2)
  expect_true(any(grepl("RESULT interrupted", readLines(out))), info = paste(readLines(out), collapse = "\n"))
  back <- load_model(f)
  expect_equal(count_params(back), 1500 * 1501 * 2)
  expect_identical(sort(list.files(dir, all.files = TRUE, no.. = TRUE)), c("big.keras", "out.txt", "pid", "save.R"))
})

test_that("a model built by its first data (no input shape given) saves its input shape", {
  x <- matrix(sample(1:49, 40, TRUE), 4)
  for (ctor in list(function() keras_model_sequential() %>% layer_embedding(input_dim = 50, output_dim = 4) %>%
                      layer_global_average_pooling_1d() %>% layer_dense(units = 1),
                    function() keras_model_sequential() %>% layer_dense(units = 3) %>% layer_dense(units = 1))) {
    m <- ctor()
    m %>% compile(optimizer = "adam", loss = "mse")
    m %>% fit(x, 1:4, verbose = 0)
    back <- unserialize_model(serialize_model(m))
    expect_equal(predict(back, x, verbose = 0), predict(m, x, verbose = 0))
  }
})
