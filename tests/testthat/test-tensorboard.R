# callback_tensorboard(): event files checked with TensorBoard's own loader (the Python
# oracle tests/testthat/oracle/read_tfevents.py, run with $RKERAS_TB_PYTHON) and with rkeras's
# read_tensorboard_scalars().

# 100 rows, validation_split 0.2: 80 training rows, batch 16 -> 5 steps per epoch.
tb_fit <- function(log_dir, epochs = 3, validation_split = 0.2, ...) {
  d <- cb_data(n = 100)
  m <- cb_classifier()
  h <- m %>% fit(d$x, d$y, epochs = epochs, batch_size = 16, verbose = 0, shuffle = FALSE,
                 validation_split = validation_split, callbacks = callback_tensorboard(log_dir, ...))
  list(model = m, history = h)
}

test_that("TensorBoard's loader finds train and validation runs with Keras's tags and the history's values", {
  log_dir <- withr::local_tempdir()
  r <- tb_fit(log_dir)
  h <- r$history$metrics
  tb <- cb_read_tb(log_dir)
  expect_equal(attr(tb, "status"), 0L)
  expect_setequal(names(tb), c("train", "validation"))
  train <- tb$train
  val <- tb$validation

  expect_true(all(c("epoch_loss", "epoch_accuracy", "epoch_learning_rate") %in% names(train$scalars)))
  expect_true(all(c("epoch_loss", "epoch_accuracy") %in% names(val$scalars)))
  expect_false("epoch_learning_rate" %in% names(val$scalars))
  expect_false(any(startsWith(names(train$scalars), "batch_")))
  expect_false(any(startsWith(names(c(train$scalars, val$scalars)), "epoch_val_")))

  for (k in c("loss", "accuracy")) {
    p <- cb_points(train, paste0("epoch_", k))
    expect_equal(p$step, 0:2)
    expect_equal(p$value, h[[k]], tolerance = 1e-6)
    p <- cb_points(val, paste0("epoch_", k))
    expect_equal(p$step, 0:2)
    expect_equal(p$value, h[[paste0("val_", k)]], tolerance = 1e-6)
    # Keras also logs the validation values against the global batch count
    p <- cb_points(val, paste0("evaluation_", k, "_vs_iterations"))
    expect_equal(p$step, c(5, 10, 15))
    expect_equal(p$value, h[[paste0("val_", k)]], tolerance = 1e-6)
  }
  p <- cb_points(train, "epoch_learning_rate")
  expect_equal(p$step, 0:2)
  expect_equal(p$value, rep(0.01, 3), tolerance = 1e-6)

  # float32 rank-0 tensors with the scalars plugin, exactly as Keras writes them
  expect_equal(train$tag_encoding$epoch_loss, "tensor:DT_FLOAT:scalars")
  expect_equal(val$tag_encoding$epoch_accuracy, "tensor:DT_FLOAT:scalars")

  # one event file per run, intact, version 2, named like TensorFlow's
  for (run in list(train, val)) {
    expect_length(run$files, 1)
    f <- run$files[[1]]
    expect_null(f$error)
    expect_equal(f$file_version, "brain.Event:2")
    expect_match(f$name, "^events\\.out\\.tfevents\\.[0-9]{10}\\..+\\.[0-9]+\\.[0-9]+\\.v2$")
  }

  # the Graphs tab shows the Keras model (conceptual graph), not an op graph
  expect_true(train$graph_keras_model)
  expect_equal(train$keras_model$class_name, "Sequential")
  expect_equal(unlist(train$keras_model$layers), c("InputLayer", "Dense", "Dense"))
  expect_equal(train$keras_model$conceptual_graph_nodes, 3)
  expect_false(train$run_graph)
  expect_false(val$graph_keras_model)

  # no histograms unless asked for
  expect_length(train$histograms, 0)
})

test_that("write_graph = FALSE writes no model and no validation data means no validation run", {
  log_dir <- withr::local_tempdir()
  r <- tb_fit(log_dir, epochs = 2, validation_split = 0, write_graph = FALSE)
  tb <- cb_read_tb(log_dir)
  expect_equal(names(tb), "train")
  expect_false(tb$train$graph_keras_model)
  expect_false("keras" %in% unlist(tb$train$tensors_tags))
  expect_equal(cb_points(tb$train, "epoch_loss")$value, r$history$metrics$loss, tolerance = 1e-6)
  expect_false(dir.exists(file.path(log_dir, "validation")))
})

test_that("histogram_freq writes a histogram of every weight every n epochs", {
  logs <- withr::local_tempdir()
  r <- tb_fit(file.path(logs, "every"), histogram_freq = 1)
  tb_fit(file.path(logs, "second"), histogram_freq = 2)
  both <- cb_read_tb(logs) # runs every/train, every/validation, second/train, ...
  tb <- list(train = both[["every/train"]], validation = both[["every/validation"]])
  hist <- tb$train$histograms
  expect_length(hist, 4) # kernel and bias of two dense layers
  expect_equal(sum(endsWith(names(hist), "/kernel_0")), 2)
  expect_equal(sum(endsWith(names(hist), "/bias_0")), 2)
  sizes <- vapply(get_weights(r$model), length, 1L)
  counts <- vapply(hist, function(p) p[[1]][[3]], numeric(1))
  expect_setequal(counts, sizes)
  for (tag in names(hist)) {
    expect_equal(vapply(hist[[tag]], function(p) p[[1]], numeric(1)), 0:2)
    expect_equal(tb$train$tag_encoding[[tag]], "tensor:DT_DOUBLE:histograms")
  }
  expect_length(tb$validation$histograms, 0)

  hist2 <- both[["second/train"]]$histograms
  expect_length(hist2, 4)
  for (tag in names(hist2)) expect_equal(vapply(hist2[[tag]], function(p) p[[1]], numeric(1)), c(0, 2))
})

test_that("update_freq = 'batch' writes batch_loss at every step; a number writes every n steps", {
  logs <- withr::local_tempdir()
  r <- tb_fit(file.path(logs, "batch"), epochs = 2, update_freq = "batch")
  tb_fit(file.path(logs, "two"), epochs = 2, update_freq = 2)
  both <- cb_read_tb(logs)
  expect_equal(attr(both, "status"), 0L)
  tb <- list(train = both[["batch/train"]], validation = both[["batch/validation"]])
  h <- r$history$metrics
  bl <- cb_points(tb$train, "batch_loss")
  expect_equal(bl$step, 1:10) # global batch counter, 1-based
  expect_true(all(is.finite(bl$value)))
  # batch values are the epoch's running means, so an epoch's last one is the epoch value
  expect_equal(bl$value[c(5, 10)], h$loss, tolerance = 1e-6)
  ba <- cb_points(tb$train, "batch_accuracy")
  expect_equal(ba$step, 1:10)
  expect_equal(ba$value[c(5, 10)], h$accuracy, tolerance = 1e-6)
  expect_equal(cb_points(tb$train, "epoch_loss")$value, h$loss, tolerance = 1e-6)
  expect_false(any(startsWith(names(tb$validation$scalars), "batch_")))

  expect_equal(cb_points(both[["two/train"]], "batch_loss")$step, c(2, 4, 6, 8, 10))
})

test_that("read_tensorboard_scalars() returns the history's values", {
  log_dir <- withr::local_tempdir()
  r <- tb_fit(log_dir)
  h <- r$history$metrics
  tr <- read_tensorboard_scalars(cb_event_files(log_dir, "train"))
  va <- read_tensorboard_scalars(cb_event_files(log_dir, "validation"))
  expect_s3_class(tr, "data.frame")
  expect_named(tr, c("tag", "step", "value"))
  expect_setequal(unique(tr$tag), c("epoch_loss", "epoch_accuracy", "epoch_learning_rate"))
  for (k in c("loss", "accuracy")) {
    expect_equal(tr$step[tr$tag == paste0("epoch_", k)], 0:2)
    expect_equal(tr$value[tr$tag == paste0("epoch_", k)], h[[k]], tolerance = 1e-6)
    expect_equal(va$step[va$tag == paste0("epoch_", k)], 0:2)
    expect_equal(va$value[va$tag == paste0("epoch_", k)], h[[paste0("val_", k)]], tolerance = 1e-6)
  }
  expect_equal(tr$value[tr$tag == "epoch_learning_rate"], rep(0.01, 3), tolerance = 1e-6)
})

test_that("read_tensorboard_scalars() returns the same scalars as TensorBoard's loader", {
  log_dir <- withr::local_tempdir()
  tb_fit(log_dir, epochs = 2, histogram_freq = 1, update_freq = "batch")
  tb <- cb_read_tb(log_dir)
  for (run in c("train", "validation")) {
    mine <- read_tensorboard_scalars(cb_event_files(log_dir, run))
    expect_setequal(unique(mine$tag), names(tb[[run]]$scalars))
    for (tag in names(tb[[run]]$scalars)) {
      p <- cb_points(tb[[run]], tag)
      got <- mine[mine$tag == tag, ]
      got <- got[order(got$step), ]
      expect_equal(got$step, p$step, info = paste(run, tag))
      expect_equal(got$value, p$value, tolerance = 1e-7, info = paste(run, tag))
    }
  }
})

test_that("a truncated file or a corrupted byte is an rkeras_error, for rkeras and for TensorBoard", {
  scratch <- withr::local_tempfile(pattern = "events.out.tfevents.")
  write_variant <- function(b, name) {
    writeBin(b, scratch)
    scratch
  }
  fails <- function(path) inherits(tryCatch({ read_tensorboard_scalars(path); NULL }, error = identity), "rkeras_error")

  # a full log (model config, 2 epochs): truncations and a few corruptions
  log_dir <- withr::local_tempdir()
  tb_fit(log_dir, epochs = 2)
  f <- cb_event_files(log_dir, "train")
  expect_length(f, 1)
  bytes <- readBin(f, "raw", file.size(f))
  n <- length(bytes)
  expect_false(fails(write_variant(bytes, basename(f))))
  # truncated: in the middle of the file, in the last record's data, in its final CRC
  for (cut in c(n %/% 2, n - 10, n - 2)) {
    path <- write_variant(bytes[seq_len(cut)], basename(f))
    expect_error(read_tensorboard_scalars(path), class = "rkeras_error", info = paste("cut at", cut))
  }
  for (i in c(1, 9, 13, n %/% 2, n - 1)) {
    b <- bytes
    b[i] <- xor(b[i], as.raw(0x01))
    expect_error(read_tensorboard_scalars(write_variant(b, basename(f))), class = "rkeras_error",
                 info = paste("byte", i))
  }

  # a small file (one epoch, no model config): every single corrupted byte is caught
  # (length fields, data and both CRCs of every record)
  small_dir <- withr::local_tempdir()
  tb_fit(small_dir, epochs = 1, validation_split = 0, write_graph = FALSE)
  fs <- cb_event_files(small_dir, "train")
  small <- readBin(fs, "raw", file.size(fs))
  expect_lt(length(small), 1000)
  caught <- vapply(seq_along(small), function(i) {
    b <- small
    b[i] <- xor(b[i], as.raw(0x20))
    fails(write_variant(b, basename(fs)))
  }, logical(1))
  expect_true(all(caught), info = paste("not caught at bytes:", paste(which(!caught), collapse = ", ")))

  # TensorBoard's own record reader agrees that such files are damaged
  bad <- withr::local_tempdir()
  dir.create(file.path(bad, "corrupt"))
  dir.create(file.path(bad, "truncated"))
  mid <- bytes
  mid[n %/% 2] <- xor(mid[n %/% 2], as.raw(0x20))
  writeBin(mid, file.path(bad, "corrupt", basename(f)))
  writeBin(bytes[seq_len(n - 10)], file.path(bad, "truncated", basename(f)))
  tb <- cb_read_tb(bad, strict = TRUE)
  expect_equal(attr(tb, "status"), 1L)
  expect_match(tb$corrupt$files[[1]]$error, "record")
  expect_match(tb$truncated$files[[1]]$error, "record")
})

test_that("an error inside a callback leaves readable event files for the epochs done", {
  log_dir <- withr::local_tempdir()
  d <- cb_data(n = 100)
  m <- cb_classifier()
  boom <- callback_lambda(on_epoch_end = function(epoch, logs) if (epoch == 1) stop("callback failed at epoch 1"))
  expect_error(m %>% fit(d$x, d$y, epochs = 4, batch_size = 16, verbose = 0, validation_split = 0.2,
                         callbacks = list(callback_tensorboard(log_dir), boom)),
               "callback failed at epoch 1")
  tb <- cb_read_tb(log_dir)
  expect_equal(attr(tb, "status"), 0L)
  expect_null(tb$train$files[[1]]$error)
  expect_equal(cb_points(tb$train, "epoch_loss")$step, 0:1)
  expect_equal(cb_points(tb$validation, "epoch_loss")$step, 0:1)
  expect_equal(read_tensorboard_scalars(cb_event_files(log_dir))$step[1:3], c(0, 0, 0))
})

test_that("the seed's callbacks with fit_generator() give a TensorBoard-readable log dir", {
  oracle <- cb_oracle()
  withr::local_dir(withr::local_tempdir())
  d <- cb_data(n = 120, d = 6)
  valid.set <- list(d$x[101:120, ], d$onehot[101:120, ])
  gen <- cb_generator(d$x[1:100, ], d$onehot[1:100, ], batch_size = 20)
  m <- keras_model_sequential() %>%
    layer_dense(units = 8, activation = "relu", input_shape = 6) %>%
    layer_dense(units = 2, activation = "softmax")
  m %>% compile(optimizer = optimizer_rmsprop(), loss = "categorical_crossentropy", metrics = "accuracy")
  callbacks <- list(
    callback_csv_logger(format(Sys.time(), "model/log/mnist_%Y%m%d_%H%M.csv")),
    callback_early_stopping(patience = 5),
    callback_tensorboard(format(Sys.time(), "model/tensorboard/mnist_%Y%m%d_%H%M")))
  h <- fit_generator(m, gen, callbacks = callbacks, steps_per_epoch = 5, epochs = 3, verbose = 0,
                     validation_data = valid.set, validation_steps = 1)
  runs <- list.files("model/tensorboard", full.names = TRUE)
  expect_length(runs, 1)
  tb <- cb_read_tb(runs, oracle = oracle)
  expect_equal(attr(tb, "status"), 0L)
  expect_setequal(names(tb), c("train", "validation"))
  expect_true(tb$train$graph_keras_model)
  expect_equal(cb_points(tb$train, "epoch_loss")$value, h$metrics$loss, tolerance = 1e-6)
  expect_equal(cb_points(tb$train, "epoch_accuracy")$value, h$metrics$accuracy, tolerance = 1e-6)
  expect_equal(cb_points(tb$validation, "epoch_loss")$value, h$metrics$val_loss, tolerance = 1e-6)
  expect_equal(cb_points(tb$validation, "epoch_loss")$step, 0:2)
  expect_equal(cb_points(tb$validation, "evaluation_loss_vs_iterations")$step, c(5, 10, 15))
})

test_that("a functional model's graph and weight histograms reach TensorBoard", {
  oracle <- cb_oracle()
  log_dir <- withr::local_tempdir()
  withr::local_seed(5)
  a <- layer_input(shape = 4, name = "a")
  b <- layer_input(shape = 3, name = "b")
  shared <- layer_dense(units = 3, name = "shared")
  out <- layer_concatenate(list(a %>% shared, b), name = "cat") %>% layer_dense(2, activation = "softmax", name = "out")
  m <- keras_model(list(a, b), out)
  m %>% compile(optimizer = "adam", loss = "categorical_crossentropy")
  x <- list(matrix(rnorm(80), 20), matrix(rnorm(60), 20))
  y <- to_categorical(rep(0:1, 10), 2)
  m %>% fit(x, y, epochs = 2, verbose = 0, callbacks = list(callback_tensorboard(log_dir, histogram_freq = 1)))
  tb <- cb_read_tb(log_dir, oracle = oracle)
  expect_true(tb$train$graph_keras_model)
  expect_equal(tb$train$keras_model$class_name, "Functional")
  expect_setequal(unlist(tb$train$keras_model$layers), c("InputLayer", "InputLayer", "Dense", "Concatenate", "Dense"))
  expect_setequal(names(tb$train$histograms), c("shared/kernel_0", "shared/bias_0", "out/kernel_0", "out/bias_0"))
})
