# Callbacks: CSV logger, early stopping, learning-rate callbacks, NaN termination, custom R6
# callbacks and callback_lambda(), errors raised inside callbacks, and the seed's callback list.

# ---- helpers local to this file -------------------------------------------------------------

# Keras 3's EarlyStopping or ReduceLROnPlateau itself, driven by the monitored values of a
# real fit (oracle/keras_callbacks.py in the test venv): `kind` "early_stopping" gives
# list(stopped, best_epoch) (0-based epochs, NULL: never), "reduce_lr" the lr logged per epoch.
keras_oracle <- function(kind, values, args, lr = 0.01) {
  py <- Sys.getenv("RKERAS_KERAS_PYTHON")
  skip_if(!nzchar(py), "RKERAS_KERAS_PYTHON is not set (python with keras and jax)")
  req <- withr::local_tempfile(fileext = ".json")
  writeLines(rkeras:::to_json(list(kind = kind, values = I(values), args = args, lr = lr)), req)
  out <- suppressWarnings(system2(py, c(test_path("oracle", "keras_callbacks.py"), "drive", req),
                                  stdout = TRUE, stderr = FALSE))
  rkeras:::rk_call(rkeras:::rk_json_parse(paste(out, collapse = "")))
}

# Drive an EarlyStopping callback by hand on a sequence of monitored values; returns the
# epoch at which it set model$stop_training (NA: never).
drive_es <- function(cb, values, monitor = "val_loss", model = cb_regressor()) {
  cb$set_context(list(epochs = length(values), steps = 1L, verbose = 0L), model)
  model$stop_training <- FALSE
  cb$on_train_begin(list())
  for (e in seq_along(values) - 1L) {
    logs <- list()
    logs[[monitor]] <- values[[e + 1L]]
    cb$on_epoch_end(e, logs)
    if (isTRUE(model$stop_training)) return(e)
  }
  NA_integer_
}

# ---- CSV logger -------------------------------------------------------------------------------

test_that("callback_csv_logger() writes the history: header epoch + sorted keys, 0-based epochs", {
  dir <- withr::local_tempdir()
  path <- file.path(dir, "log.csv")
  d <- cb_data()
  m <- cb_classifier()
  h <- m %>% fit(d$x, d$y, epochs = 3, batch_size = 16, verbose = 0, validation_split = 0.25,
                 callbacks = list(callback_csv_logger(path)))
  lines <- readLines(path)
  expect_length(lines, 4)
  expect_equal(lines[1], "epoch,accuracy,loss,val_accuracy,val_loss")
  expect_equal(strsplit(lines[1], ",")[[1]], c("epoch", sort(names(h$metrics), method = "radix")))
  csv <- utils::read.csv(path)
  expect_equal(csv$epoch, 0:2)
  for (k in names(h$metrics)) expect_equal(csv[[k]], h$metrics[[k]], tolerance = 1e-12, info = k)
  # whole rows, no padding, a newline after the last row
  expect_true(all(lengths(strsplit(lines, ",")) == 5))
  expect_false(any(grepl(" ", lines)))
  raw <- readBin(path, "raw", file.size(path))
  expect_equal(raw[length(raw)], charToRaw("\n"))
})

test_that("CSV values are formatted like Python's repr(), as Keras writes them", {
  path <- withr::local_tempfile(fileext = ".csv")
  cb <- callback_csv_logger(path)
  cb$set_context(list(epochs = 3L, steps = 1L, verbose = 0L), cb_regressor())
  cb$on_train_begin(list())
  cb$on_epoch_end(0L, list(val_loss = 1e-05, loss = 100, lr = 0.001, accuracy = 1))
  cb$on_epoch_end(1L, list(val_loss = 0.48750001192092896, loss = 1e16, lr = 0.1, accuracy = 0))
  # a key missing later (training stopped mid-epoch, no validation) is written as NA
  cb$on_epoch_end(2L, list(loss = 2.5, accuracy = NaN, lr = 0.1))
  expect_equal(readLines(path), c("epoch,accuracy,loss,lr,val_loss",
                                  "0,1.0,100.0,0.001,1e-05",
                                  "1,0.0,1e+16,0.1,0.48750001192092896",
                                  "2,nan,2.5,0.1,NA"))
  # the formatter against repr() values of Python 3
  pf <- rkeras:::python_float
  cases <- c("0.5" = 0.5, "1.0" = 1, "10.0" = 10, "120.0" = 120, "-100.0" = -100, "0.1" = 0.1,
             "0.0001" = 1e-4, "1.234e-05" = 1.234e-5, "1000000000000000.0" = 1e15,
             "1.2345678901234568e+17" = 123456789012345678, "0.3333333333333333" = 1 / 3,
             "0.7278608679771423" = 0.7278608679771423, "nan" = NaN, "inf" = Inf, "-inf" = -Inf)
  for (s in names(cases)) expect_equal(pf(cases[[s]]), s)
})

test_that("append = TRUE adds rows without a header; append = FALSE overwrites", {
  path <- file.path(withr::local_tempdir(), "log.csv")
  d <- cb_data()
  m <- cb_regressor()
  y <- d$x %*% c(1, -1, 0.5, 0)
  h1 <- m %>% fit(d$x, y, epochs = 2, verbose = 0, callbacks = callback_csv_logger(path, append = TRUE))
  h2 <- m %>% fit(d$x, y, epochs = 3, verbose = 0, callbacks = callback_csv_logger(path, append = TRUE))
  lines <- readLines(path)
  expect_length(lines, 1 + 2 + 3)
  expect_equal(sum(lines == "epoch,loss"), 1)
  csv <- utils::read.csv(path)
  expect_equal(csv$epoch, c(0:1, 0:2))
  expect_equal(csv$loss, c(h1$metrics$loss, h2$metrics$loss), tolerance = 1e-12)
  m %>% fit(d$x, y, epochs = 1, verbose = 0, callbacks = callback_csv_logger(path))
  expect_length(readLines(path), 2)
})

test_that("separator = ';' changes the delimiter; missing parent folders are created", {
  path <- file.path(withr::local_tempdir(), "a", "b", "c", "log.csv")
  d <- cb_data()
  m <- cb_classifier()
  h <- m %>% fit(d$x, d$y, epochs = 2, batch_size = 32, verbose = 0, validation_split = 0.25,
                 callbacks = list(callback_csv_logger(path, separator = ";")))
  expect_true(file.exists(path))
  lines <- readLines(path)
  expect_equal(lines[1], "epoch;accuracy;loss;val_accuracy;val_loss")
  expect_false(any(grepl(",", lines)))
  csv <- utils::read.csv(path, sep = ";")
  expect_equal(csv$val_loss, h$metrics$val_loss, tolerance = 1e-12)
})

test_that("an unwritable CSV path fails with an rkeras_error naming it before training starts", {
  dir <- withr::local_tempdir()
  blocker <- file.path(dir, "plain-file")
  writeLines("not a folder", blocker)
  bad <- file.path(blocker, "sub", "log.csv")
  d <- cb_data()
  m <- cb_classifier()
  w0 <- get_weights(m)
  epochs_begun <- 0
  counter <- callback_lambda(on_epoch_begin = function(epoch, logs) epochs_begun <<- epochs_begun + 1)
  err <- expect_error(m %>% fit(d$x, d$y, epochs = 2, verbose = 0,
                                callbacks = list(callback_csv_logger(bad), counter)),
                      class = "rkeras_error")
  expect_true(grepl(bad, conditionMessage(err), fixed = TRUE))
  expect_equal(epochs_begun, 0)
  expect_identical(get_weights(m), w0)
  expect_false(file.exists(bad))
  # a folder in place of the file
  err <- expect_error(m %>% fit(d$x, d$y, epochs = 1, verbose = 0, callbacks = callback_csv_logger(dir)),
                      class = "rkeras_error")
  expect_true(grepl(dir, conditionMessage(err), fixed = TRUE))
  # the same for a TensorBoard log dir under a file
  err <- expect_error(m %>% fit(d$x, d$y, epochs = 1, verbose = 0,
                                callbacks = callback_tensorboard(file.path(blocker, "tb"))),
                      class = "rkeras_error")
  expect_true(grepl(file.path(blocker, "tb"), conditionMessage(err), fixed = TRUE))
  expect_identical(get_weights(m), w0)
})

# ---- early stopping -----------------------------------------------------------------------------

test_that("early stopping follows Keras's patience rule on hand-made sequences", {
  es <- function(...) callback_early_stopping(...)
  # improvement, improvement, then two epochs without: stops at epoch 3
  expect_equal(drive_es(es(patience = 2), c(1.0, 0.9, 0.95, 0.92, 0.8)), 3)
  # Keras 3: an improving epoch never stops training, even with patience 0 (values checked
  # with Keras 3's EarlyStopping)
  expect_equal(drive_es(es(patience = 0), c(1.0, 0.5, 0.2)), NA_integer_)
  expect_equal(drive_es(es(patience = 0), c(1.0, 0.5, 0.6)), 2)
  expect_equal(drive_es(es(patience = 0), c(1.0)), NA_integer_)
  expect_equal(drive_es(es(patience = 1), c(1.0, 0.5, 0.2, 0.3)), 3)
  # steadily improving: never stops
  expect_equal(drive_es(es(patience = 1), c(5, 4, 3, 2, 1)), NA_integer_)
  # equal values are not improvements
  expect_equal(drive_es(es(patience = 3), c(1, 1, 1, 1, 1)), 3)
})

test_that("early stopping: min_delta, baseline and the direction of the monitor", {
  es <- function(...) callback_early_stopping(...)
  v <- c(1.0, 0.98, 0.96, 0.5)
  expect_equal(drive_es(es(patience = 2), v), NA_integer_)
  expect_equal(drive_es(es(patience = 2, min_delta = 0.05), v), 2)
  expect_equal(drive_es(es(patience = 2, min_delta = -0.05), v), 2) # sign ignored, as in Keras

  # baseline: improvements that do not beat it do not reset the wait, but (Keras 3) an
  # improving epoch never stops
  expect_equal(drive_es(es(patience = 3, baseline = 0.5), c(0.9, 0.8, 0.7, 0.6, 0.4)), NA_integer_)
  expect_equal(drive_es(es(patience = 3), c(0.9, 0.8, 0.7, 0.6, 0.4)), NA_integer_)
  expect_equal(drive_es(es(patience = 2, baseline = 0.85), c(0.9, 0.8, 0.82, 0.83, 0.84)), 3)

  # auto mode maximises accuracy-like monitors and minimises the others
  acc <- c(0.5, 0.6, 0.55, 0.58, 0.59)
  expect_equal(drive_es(es(monitor = "val_accuracy", patience = 2), acc, "val_accuracy"), 3)
  expect_equal(drive_es(es(monitor = "val_acc", patience = 2), acc, "val_acc"), 3)
  expect_equal(drive_es(es(monitor = "val_auc", patience = 2), acc, "val_auc"), 3)
  expect_equal(drive_es(es(monitor = "val_accuracy", mode = "max", patience = 2), acc, "val_accuracy"), 3)
  expect_equal(drive_es(es(monitor = "val_accuracy", mode = "min", patience = 2), acc, "val_accuracy"), 2)
  expect_equal(drive_es(es(monitor = "val_mae", patience = 2), acc, "val_mae"), 2)
  expect_equal(drive_es(es(monitor = "val_loss", mode = "max", patience = 1), c(1, 2, 3), "val_loss"), NA_integer_)
  # baseline in max mode
  expect_equal(drive_es(es(monitor = "val_accuracy", patience = 2, baseline = 0.9), acc, "val_accuracy"), 2)
  expect_equal(drive_es(es(monitor = "val_accuracy", patience = 3, baseline = 0.58), acc, "val_accuracy"), 4)
})

test_that("early stopping: NaN counts as no improvement, a missing monitor warns, state resets", {
  es <- callback_early_stopping(patience = 2)
  expect_equal(drive_es(es, c(1, NaN, NaN, 0.5)), 2)
  # Keras 3: the first value is the best so far, even NaN (then nothing improves on it)
  expect_equal(drive_es(callback_early_stopping(patience = 2), c(NaN, NaN, NaN)), 2)
  expect_equal(drive_es(callback_early_stopping(patience = 3), c(1, 0.5, NaN, NaN, NaN)), 4)
  expect_equal(drive_es(callback_early_stopping(patience = 1, baseline = 0.5), c(1, NaN, 0.2)), 1)
  # the same callback object reused: on_train_begin resets its state
  expect_equal(drive_es(es, c(1.0, 0.9, 0.95, 0.92, 0.8)), 3)
  expect_equal(drive_es(es, c(1.0, 0.9, 0.95, 0.92, 0.8)), 3)
  expect_warning(res <- drive_es(callback_early_stopping(monitor = "val_nope"), 1), "val_nope")
  expect_equal(res, NA_integer_)
  cb <- callback_early_stopping(monitor = "val_nope", patience = 0)
  res <- suppressWarnings(drive_es(cb, c(1, 2, 3)))
  expect_equal(res, NA_integer_)
})

test_that("restore_best_weights puts back the best epoch's weights when it stops", {
  model <- cb_regressor()
  shape <- get_weights(model)
  weights_of <- function(e) lapply(shape, function(w) w * 0 + e)
  drive <- function(cb, values) {
    cb$set_context(list(epochs = length(values)), model)
    model$stop_training <- FALSE
    cb$on_train_begin(list())
    stopped <- NA_integer_
    for (e in seq_along(values) - 1L) {
      set_weights(model, weights_of(e))
      cb$on_epoch_end(e, list(val_loss = values[[e + 1L]]))
      if (isTRUE(model$stop_training)) { stopped <- e; break }
    }
    cb$on_train_end(list())
    stopped
  }
  values <- c(1.0, 0.5, 0.7, 0.8, 0.9)
  expect_equal(drive(callback_early_stopping(patience = 2, restore_best_weights = TRUE), values), 3)
  expect_equal(get_weights(model), weights_of(1))
  expect_equal(drive(callback_early_stopping(patience = 2), values), 3)
  expect_equal(get_weights(model), weights_of(3))
  # no improvement after the first epoch: back to epoch 0
  expect_equal(drive(callback_early_stopping(patience = 2, restore_best_weights = TRUE), c(0.5, 0.6, 0.7)), 2)
  expect_equal(get_weights(model), weights_of(0))
  # Keras 3 restores the best weights at the end of training even when it never stopped
  expect_equal(drive(callback_early_stopping(patience = 5, restore_best_weights = TRUE), c(3, 2, 2.5)), NA_integer_)
  expect_equal(get_weights(model), weights_of(1))
  expect_equal(drive(callback_early_stopping(patience = 5), c(3, 2, 2.5)), NA_integer_)
  expect_equal(get_weights(model), weights_of(2))
  # verbose names the epoch (1-based)
  expect_output(drive(callback_early_stopping(patience = 2, restore_best_weights = TRUE, verbose = 1), values),
                "Restoring model weights from the end of the best epoch: 2")
})

test_that("early stopping in fit(): history truncated, params$epochs kept, weights restored", {
  d <- cb_data()
  y <- d$x %*% c(1, -1, 0.5, 0)
  # learning rate 0: val_loss never changes, so patience 2 stops after epoch 2
  m <- cb_regressor(optimizer = optimizer_sgd(learning_rate = 0))
  h <- m %>% fit(d$x, y, epochs = 20, verbose = 0, validation_split = 0.25,
                 callbacks = callback_early_stopping(monitor = "val_loss", patience = 2))
  expect_equal(h$params$epochs, 20)
  expect_equal(lengths(h$metrics), c(loss = 3L, val_loss = 3L))
  df <- as.data.frame(h)
  expect_equal(nrow(df), 20 * 2)
  expect_equal(sum(is.na(df$value)), 17 * 2)
  expect_output(m %>% fit(d$x, y, epochs = 20, verbose = 0, validation_split = 0.25,
                          callbacks = callback_early_stopping(patience = 1, verbose = 1)),
                "Epoch 2: early stopping")

  # fit_generator as well, monitoring the training loss
  m2 <- cb_regressor(optimizer = optimizer_sgd(learning_rate = 0))
  gen <- cb_generator(d$x, y)
  h2 <- m2 %>% fit_generator(gen, steps_per_epoch = 3, epochs = 10, verbose = 0,
                             callbacks = callback_early_stopping(monitor = "loss", patience = 1, min_delta = 1e6))
  expect_equal(h2$params$epochs, 10)
  expect_equal(length(h2$metrics$loss), 2)

  # restore_best_weights in a real fit: the weights seen at the end of the best epoch
  m3 <- cb_regressor(optimizer = optimizer_sgd(learning_rate = 0.05))
  seen <- list()
  spy <- callback_lambda(on_epoch_end = function(epoch, logs) seen[[epoch + 1]] <<- get_weights(m3))
  h3 <- m3 %>% fit(d$x, y, epochs = 15, verbose = 0, validation_split = 0.25,
                   callbacks = list(spy, callback_early_stopping(patience = 2, min_delta = 1e6,
                                                                 restore_best_weights = TRUE)))
  want <- keras_oracle("early_stopping", h3$metrics$val_loss, list(patience = 2, min_delta = 1e6, mode = "min"))
  expect_equal(length(h3$metrics$val_loss), want$stopped + 1)
  expect_equal(get_weights(m3), seen[[want$best_epoch + 1]])
  expect_false(isTRUE(all.equal(get_weights(m3), seen[[length(seen)]])))
})

# ---- learning rate callbacks ----------------------------------------------------------------------

test_that("callback_learning_rate_scheduler() sets the rate each epoch and records it as lr", {
  d <- cb_data()
  y <- d$x %*% c(1, -1, 0.5, 0)
  m <- cb_regressor(optimizer = optimizer_sgd(learning_rate = 0.1))
  w0 <- get_weights(m)
  h <- m %>% fit(d$x, y, epochs = 3, batch_size = 16, verbose = 0,
                 callbacks = callback_learning_rate_scheduler(function(epoch, lr) 0))
  expect_identical(get_weights(m), w0)
  expect_equal(h$metrics$lr, c(0, 0, 0))
  expect_equal(h$metrics$loss, rep(h$metrics$loss[1], 3), tolerance = 1e-6)

  # the schedule gets the 0-based epoch and the current rate
  calls <- list()
  m2 <- cb_regressor(optimizer = optimizer_sgd(learning_rate = 0.1))
  h2 <- m2 %>% fit(d$x, y, epochs = 3, batch_size = 16, verbose = 0,
                   callbacks = list(callback_learning_rate_scheduler(function(epoch, lr) {
                     calls[[length(calls) + 1]] <<- c(epoch, lr)
                     lr * 0.5
                   })))
  expect_equal(do.call(rbind, calls), cbind(0:2, c(0.1, 0.05, 0.025)), tolerance = 1e-6, ignore_attr = TRUE)
  expect_equal(h2$metrics$lr, c(0.05, 0.025, 0.0125), tolerance = 1e-6)

  # one-argument schedules; a rate that freezes training after epoch 0
  seen <- list()
  m3 <- cb_regressor(optimizer = optimizer_sgd(learning_rate = 0.1))
  h3 <- m3 %>% fit(d$x, y, epochs = 3, batch_size = 16, verbose = 0,
                   callbacks = list(callback_learning_rate_scheduler(function(epoch) if (epoch == 0) 0.05 else 0),
                                    callback_lambda(on_epoch_end = function(epoch, logs) seen[[epoch + 1]] <<- get_weights(m3))))
  expect_equal(h3$metrics$lr, c(0.05, 0, 0), tolerance = 1e-6)
  expect_false(isTRUE(all.equal(seen[[1]], w0)))
  expect_identical(seen[[2]], seen[[1]])
  expect_identical(seen[[3]], seen[[1]])

  # the same constant rate through the scheduler or through compile() trains identically
  ma <- cb_regressor(optimizer = optimizer_sgd(learning_rate = 0.05))
  mb <- cb_regressor(optimizer = optimizer_sgd(learning_rate = 0.9))
  ha <- ma %>% fit(d$x, y, epochs = 2, batch_size = 16, shuffle = FALSE, verbose = 0)
  hb <- mb %>% fit(d$x, y, epochs = 2, batch_size = 16, shuffle = FALSE, verbose = 0,
                   callbacks = callback_learning_rate_scheduler(function(epoch, lr) 0.05))
  expect_equal(hb$metrics$loss, ha$metrics$loss, tolerance = 1e-6)
  expect_equal(get_weights(mb), get_weights(ma), tolerance = 1e-6)

  # a schedule returning something else than a number
  expect_error(m %>% fit(d$x, y, epochs = 1, verbose = 0,
                         callbacks = callback_learning_rate_scheduler(function(epoch, lr) "fast")),
               class = "rkeras_error")
  expect_error(callback_learning_rate_scheduler(0.1), class = "rkeras_error")
})

test_that("lr reaches the CSV only when the LR callback comes before the logger", {
  dir <- withr::local_tempdir()
  d <- cb_data()
  y <- d$x %*% c(1, -1, 0.5, 0)
  m <- cb_regressor()
  sched <- function() callback_learning_rate_scheduler(function(epoch, lr) lr)
  h1 <- m %>% fit(d$x, y, epochs = 2, verbose = 0,
                  callbacks = list(sched(), callback_csv_logger(file.path(dir, "before.csv"))))
  h2 <- m %>% fit(d$x, y, epochs = 2, verbose = 0,
                  callbacks = list(callback_csv_logger(file.path(dir, "after.csv")), sched()))
  expect_equal(readLines(file.path(dir, "before.csv"))[1], "epoch,loss,lr")
  expect_equal(readLines(file.path(dir, "after.csv"))[1], "epoch,loss")
  expect_named(h1$metrics, c("loss", "lr"))
  expect_named(h2$metrics, c("loss", "lr"))
})

test_that("callback_reduce_lr_on_plateau() reduces after patience (with cooldown and min_lr) and records lr", {
  d <- cb_data()
  y <- d$x %*% c(1, -1, 0.5, 0)
  run <- function(...) {
    m <- cb_regressor(optimizer = optimizer_sgd(learning_rate = 0.01))
    # min_delta huge: only the first epoch counts as an improvement
    m %>% fit(d$x, y, epochs = 8, batch_size = 32, verbose = 0, validation_split = 0.25,
              callbacks = callback_reduce_lr_on_plateau(min_delta = 1e9, ...))
  }
  h <- run(factor = 0.5, patience = 2)
  expect_equal(h$metrics$lr, c(0.01, 0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025, 0.00125), tolerance = 1e-6)
  expect_equal(h$metrics$lr, unlist(keras_oracle("reduce_lr", h$metrics$val_loss,
                                                  list(factor = 0.5, patience = 2, min_delta = 1e9, mode = "min"))$lr),
               tolerance = 1e-6)
  for (cooldown in 1:2) {
    h <- run(factor = 0.5, patience = 2, cooldown = cooldown)
    want <- keras_oracle("reduce_lr", h$metrics$val_loss,
                         list(factor = 0.5, patience = 2, min_delta = 1e9, cooldown = cooldown, mode = "min"))
    expect_equal(h$metrics$lr, unlist(want$lr), tolerance = 1e-6, info = paste("cooldown", cooldown))
  }
  h <- run(factor = 0.5, patience = 2, cooldown = 2)
  expect_equal(h$metrics$lr, c(0.01, 0.01, 0.01, 0.005, 0.005, 0.005, 0.0025, 0.0025), tolerance = 1e-6)
  h <- run(factor = 0.1, patience = 1, min_lr = 0.004)
  expect_equal(h$metrics$lr, c(0.01, 0.01, rep(0.004, 6)), tolerance = 1e-6)
  expect_output(run(factor = 0.5, patience = 2, verbose = 1), "Epoch 3: ReduceLROnPlateau reducing learning rate to 0.005")

  # a real plateau: a tiny rate leaves val_loss practically unchanged
  m <- cb_regressor(optimizer = optimizer_sgd(learning_rate = 1e-9))
  h <- m %>% fit(d$x, y, epochs = 6, batch_size = 32, verbose = 0, validation_split = 0.25,
                 callbacks = callback_reduce_lr_on_plateau(factor = 0.5, patience = 2, min_delta = 0.01))
  expect_equal(h$metrics$lr, c(1, 1, 1, 0.5, 0.5, 0.25) * 1e-9, tolerance = 1e-6)
  expect_error(callback_reduce_lr_on_plateau(factor = 1), class = "rkeras_error")
})

# ---- NaN --------------------------------------------------------------------------------------------

test_that("callback_terminate_on_naan() stops training at a NaN/Inf loss; without it training goes on", {
  d <- cb_data()
  y <- d$x %*% c(1, -1, 0.5, 0) * 100
  batches <- 0
  count <- callback_lambda(on_batch_end = function(batch, logs) batches <<- batches + 1)
  m <- cb_regressor(optimizer = optimizer_sgd(learning_rate = 1e6))
  expect_output(h <- m %>% fit(d$x, y, epochs = 5, batch_size = 16, verbose = 0,
                               callbacks = list(callback_terminate_on_naan(), count)),
                "Invalid loss, terminating training")
  expect_equal(h$params$epochs, 5)
  expect_lt(length(h$metrics$loss), 5)
  expect_false(is.finite(h$metrics$loss[length(h$metrics$loss)]))
  expect_lt(batches, 5 * 6)

  m2 <- cb_regressor(optimizer = optimizer_sgd(learning_rate = 1e6))
  h2 <- m2 %>% fit(d$x, y, epochs = 5, batch_size = 16, verbose = 0)
  expect_length(h2$metrics$loss, 5)
  expect_true(is.nan(h2$metrics$loss[5]))
})

# ---- custom callbacks and callback_lambda -------------------------------------------------------------

Recorder <- R6::R6Class("Recorder", inherit = KerasCallback,
  public = list(
    events = character(), epoch_logs = list(), batch_logs = list(), params_seen = NULL, model_seen = NULL,
    add = function(...) self$events <- c(self$events, paste(...)),
    on_train_begin = function(logs = NULL) {
      self$params_seen <- self$params
      self$model_seen <- self$model
      self$add("train_begin")
    },
    on_train_end = function(logs = NULL) self$add("train_end"),
    on_epoch_begin = function(epoch, logs = NULL) self$add("epoch_begin", epoch),
    on_epoch_end = function(epoch, logs = NULL) {
      self$epoch_logs[[length(self$epoch_logs) + 1]] <- logs
      self$add("epoch_end", epoch)
    },
    on_train_batch_begin = function(batch, logs = NULL) self$add("train_batch_begin", batch),
    on_train_batch_end = function(batch, logs = NULL) self$add("train_batch_end", batch),
    on_batch_begin = function(batch, logs = NULL) self$add("batch_begin", batch),
    on_batch_end = function(batch, logs = NULL) {
      self$batch_logs[[length(self$batch_logs) + 1]] <- logs
      self$add("batch_end", batch)
    },
    on_test_begin = function(logs = NULL) self$add("test_begin"),
    on_test_end = function(logs = NULL) self$add("test_end")
  )
)

expected_events <- function(epochs, steps, validation = TRUE) {
  ev <- "train_begin"
  for (e in epochs) {
    ev <- c(ev, paste("epoch_begin", e))
    for (b in seq_len(steps) - 1L) {
      ev <- c(ev, paste("train_batch_begin", b), paste("batch_begin", b),
              paste("train_batch_end", b), paste("batch_end", b))
    }
    if (validation) ev <- c(ev, "test_begin", "test_end")
    ev <- c(ev, paste("epoch_end", e))
  }
  c(ev, "train_end")
}

test_that("an R6 KerasCallback receives every event in Keras's order with params and model", {
  d <- cb_data(n = 64)
  m <- cb_classifier()
  rec <- Recorder$new()
  h <- m %>% fit(d$x, d$y, epochs = 2, batch_size = 16, verbose = 0, validation_split = 0.25, callbacks = rec)
  # 48 training rows, batch 16: 3 steps per epoch
  expect_equal(rec$events, expected_events(0:1, 3))
  expect_equal(rec$params_seen$epochs, 2)
  expect_equal(rec$params_seen$steps, 3)
  expect_equal(rec$params_seen$verbose, 0)
  expect_identical(rec$model_seen, m)
  expect_identical(rec$model, m)
  # epoch logs: the history's values
  expect_length(rec$epoch_logs, 2)
  expect_setequal(names(rec$epoch_logs[[1]]), c("loss", "accuracy", "val_loss", "val_accuracy"))
  for (k in names(h$metrics)) {
    expect_equal(vapply(rec$epoch_logs, function(l) l[[k]], numeric(1)), h$metrics[[k]], info = k)
  }
  # batch logs: running means of the epoch, so the last one of an epoch is the epoch's value
  expect_length(rec$batch_logs, 6)
  expect_true(all(vapply(rec$batch_logs, function(l) is.numeric(l$loss) && is.finite(l$loss), TRUE)))
  expect_equal(c(rec$batch_logs[[3]]$loss, rec$batch_logs[[6]]$loss), h$metrics$loss, tolerance = 1e-6)

  # fit_generator: steps_per_epoch batches, initial_epoch respected, no validation events
  rec2 <- Recorder$new()
  h2 <- m %>% fit_generator(cb_generator(d$x, d$y), steps_per_epoch = 4, epochs = 3, initial_epoch = 1,
                            verbose = 0, callbacks = list(rec2))
  expect_equal(rec2$events, expected_events(1:2, 4, validation = FALSE))
  expect_equal(rec2$params_seen$steps, 4)
  expect_equal(rec2$params_seen$epochs, 3)
  expect_length(h2$metrics$loss, 2)
})

test_that("callback_lambda() hooks fire with 0-based epochs and batches, also in predict() and evaluate()", {
  d <- cb_data(n = 64)
  m <- cb_classifier()
  ev <- character()
  add <- function(...) ev <<- c(ev, paste(...))
  lam <- callback_lambda(
    on_train_begin = function(logs) add("train_begin"),
    on_train_end = function(logs) add("train_end"),
    on_epoch_begin = function(epoch, logs) add("epoch_begin", epoch),
    on_epoch_end = function(epoch, logs) add("epoch_end", epoch, paste(sort(names(logs)), collapse = "/")),
    on_batch_begin = function(batch, logs) add("batch_begin", batch),
    on_batch_end = function(batch, logs) add("batch_end", batch, is.numeric(logs$loss)),
    on_train_batch_begin = function(batch, logs) add("train_batch_begin", batch),
    on_train_batch_end = function(batch, logs) add("train_batch_end", batch))
  m %>% fit(d$x, d$y, epochs = 2, batch_size = 32, verbose = 0, validation_split = 0.5, callbacks = lam)
  want <- c("train_begin",
            "epoch_begin 0", "train_batch_begin 0", "batch_begin 0", "train_batch_end 0", "batch_end 0 TRUE",
            "epoch_end 0 accuracy/loss/val_accuracy/val_loss",
            "epoch_begin 1", "train_batch_begin 0", "batch_begin 0", "train_batch_end 0", "batch_end 0 TRUE",
            "epoch_end 1 accuracy/loss/val_accuracy/val_loss",
            "train_end")
  expect_equal(ev, want)

  # a regression-tutorial style printer
  dots <- callback_lambda(on_epoch_end = function(epoch, logs) {
    if (epoch %% 2 == 0) cat("\n")
    cat(".")
  })
  expect_output(m %>% fit(d$x, d$y, epochs = 4, verbose = 0, callbacks = list(dots)), "^\n\\.\\.\n\\.\\.$")

  ev <- character()
  hooks <- callback_lambda(on_predict_begin = function(logs) add("predict_begin"),
                           on_predict_end = function(logs) add("predict_end"),
                           on_test_begin = function(logs) add("test_begin"),
                           on_test_end = function(logs) add("test_end"))
  p <- predict(m, d$x, verbose = 0, callbacks = hooks)
  expect_equal(dim(p), c(64L, 2L))
  expect_equal(ev, c("predict_begin", "predict_end"))
  ev <- character()
  evaluate(m, d$x, d$y, verbose = 0, callbacks = hooks)
  expect_equal(ev, c("test_begin", "test_end"))

  expect_error(callback_lambda(on_epoch_end = "not a function"), class = "rkeras_error")
})

test_that("callbacks = accepts a list, a bare callback and c(callback); rejects other values", {
  d <- cb_data(n = 64)
  m <- cb_classifier()
  n <- 0
  make <- function() callback_lambda(on_epoch_end = function(epoch, logs) n <<- n + 1)
  m %>% fit(d$x, d$y, epochs = 2, verbose = 0, callbacks = list(make()))
  expect_equal(n, 2)
  m %>% fit(d$x, d$y, epochs = 2, verbose = 0, callbacks = make())
  expect_equal(n, 4)
  m %>% fit(d$x, d$y, epochs = 2, verbose = 0, callbacks = c(make()))
  expect_equal(n, 6)
  m %>% fit(d$x, d$y, epochs = 1, verbose = 0, callbacks = c(make(), make()))
  expect_equal(n, 8)
  expect_error(m %>% fit(d$x, d$y, epochs = 1, verbose = 0, callbacks = "early"), class = "rkeras_error")
  expect_error(m %>% fit(d$x, d$y, epochs = 1, verbose = 0, callbacks = list(make(), 3)), class = "rkeras_error")
  expect_equal(n, 8)
})

# ---- errors inside callbacks ------------------------------------------------------------------------

test_that("an R error in a callback stops training with that error; model and files stay usable", {
  dir <- withr::local_tempdir()
  csv <- file.path(dir, "log.csv")
  tb <- file.path(dir, "tb")
  d <- cb_data()
  m <- cb_classifier()
  boom <- callback_lambda(on_epoch_end = function(epoch, logs) if (epoch == 2) stop("callback exploded at epoch 2"))
  expect_error(m %>% fit(d$x, d$y, epochs = 6, batch_size = 16, verbose = 0, validation_split = 0.25,
                         callbacks = list(callback_csv_logger(csv), callback_tensorboard(tb), boom)),
               "callback exploded at epoch 2")
  # the CSV holds whole rows for epochs 0..2
  lines <- readLines(csv)
  expect_length(lines, 4)
  expect_true(all(lengths(strsplit(lines, ",")) == 5))
  rows <- utils::read.csv(csv)
  expect_equal(rows$epoch, 0:2)
  expect_true(all(is.finite(as.matrix(rows))))
  # the event file is intact and holds epochs 0..2
  sc <- read_tensorboard_scalars(cb_event_files(tb, "train"))
  expect_equal(sc$step[sc$tag == "epoch_loss"], 0:2)
  expect_equal(sc$value[sc$tag == "epoch_loss"], rows$loss, tolerance = 1e-6)
  # the model still predicts and trains
  p <- predict(m, d$x, verbose = 0)
  expect_equal(dim(p), c(nrow(d$x), 2L))
  expect_true(all(is.finite(p)))
  w <- get_weights(m)
  h <- m %>% fit(d$x, d$y, epochs = 2, batch_size = 16, verbose = 0)
  expect_length(h$metrics$loss, 2)
  expect_true(all(is.finite(h$metrics$loss)))
  expect_false(isTRUE(all.equal(get_weights(m), w)))

  # an error in a batch hook of fit_generator, and one in on_train_begin
  gen <- cb_generator(d$x, d$y)
  bad_batch <- callback_lambda(on_batch_end = function(batch, logs) if (batch == 2) stop("bad batch"))
  expect_error(m %>% fit_generator(gen, steps_per_epoch = 4, epochs = 2, verbose = 0, callbacks = bad_batch),
               "bad batch")
  h <- m %>% fit_generator(gen, steps_per_epoch = 4, epochs = 2, verbose = 0)
  expect_length(h$metrics$loss, 2)
  expect_equal(dim(predict(m, d$x, verbose = 0)), c(nrow(d$x), 2L))
  w <- get_weights(m)
  expect_error(m %>% fit(d$x, d$y, epochs = 2, verbose = 0,
                         callbacks = callback_lambda(on_train_begin = function(logs) stop("no start"))),
               "no start")
  expect_identical(get_weights(m), w)
})

# ---- the seed's callback list ------------------------------------------------------------------

test_that("the seed's CSV logger + early stopping + TensorBoard list works with fit_generator()", {
  withr::local_dir(withr::local_tempdir())
  d <- cb_data(n = 120, d = 6)
  valid.set <- list(d$x[101:120, ], d$onehot[101:120, ])
  gen <- cb_generator(d$x[1:100, ], d$onehot[1:100, ], batch_size = 20)
  m <- keras_model_sequential() %>%
    layer_dense(units = 8, activation = "relu", input_shape = 6) %>%
    layer_dense(units = 2, activation = "softmax")
  m %>% compile(optimizer = optimizer_rmsprop(), loss = "categorical_crossentropy", metrics = c("accuracy"))
  callbacks <- list(
    callback_csv_logger(format(Sys.time(), "model/log/mnist_%Y%m%d_%H%M.csv")),
    callback_early_stopping(patience = 5),
    callback_tensorboard(format(Sys.time(), "model/tensorboard/mnist_%Y%m%d_%H%M")))
  h <- fit_generator(m, gen, callbacks = callbacks, steps_per_epoch = 5, epochs = 3, verbose = 0,
                     validation_data = valid.set, validation_steps = 1)
  expect_s3_class(h, "keras_training_history")
  expect_equal(h$params$epochs, 3)
  expect_equal(h$params$steps, 5)
  expect_equal(lengths(h$metrics), c(loss = 3L, accuracy = 3L, val_loss = 3L, val_accuracy = 3L))

  csv <- list.files("model/log", pattern = "^mnist_[0-9]{8}_[0-9]{4}\\.csv$", full.names = TRUE)
  expect_length(csv, 1)
  expect_equal(readLines(csv)[1], "epoch,accuracy,loss,val_accuracy,val_loss")
  rows <- utils::read.csv(csv)
  expect_equal(rows$epoch, 0:2)
  for (k in names(h$metrics)) expect_equal(rows[[k]], h$metrics[[k]], tolerance = 1e-12, info = k)

  runs <- list.files("model/tensorboard", full.names = TRUE)
  expect_length(runs, 1)
  expect_match(basename(runs), "^mnist_[0-9]{8}_[0-9]{4}$")
  tr <- read_tensorboard_scalars(cb_event_files(runs, "train"))
  va <- read_tensorboard_scalars(cb_event_files(runs, "validation"))
  expect_equal(tr$value[tr$tag == "epoch_loss"], h$metrics$loss, tolerance = 1e-6)
  expect_equal(va$value[va$tag == "epoch_accuracy"], h$metrics$val_accuracy, tolerance = 1e-6)
})

test_that("test and predict batch hooks fire around each batch of fit, evaluate, predict and generators", {
  d <- tiny_xy(n = 50)
  model <- tiny_model()
  model %>% compile(loss = "categorical_crossentropy", optimizer = "sgd", metrics = "accuracy")
  seen <- list()
  rec <- function(tag) function(batch, logs) seen[[length(seen) + 1L]] <<- list(tag = tag, batch = batch, logs = logs)
  cb <- callback_lambda(on_test_batch_begin = rec("tb"), on_test_batch_end = rec("te"),
                        on_predict_batch_begin = rec("pb"), on_predict_batch_end = rec("pe"))
  tags <- function() vapply(seen, `[[`, "", "tag")
  batches <- function() vapply(seen, `[[`, 0, "batch")

  plain <- evaluate(model, d$x, d$onehot, batch_size = 16, verbose = 0)
  score <- evaluate(model, d$x, d$onehot, batch_size = 16, verbose = 0, callbacks = list(cb))
  expect_equal(score, plain)
  expect_equal(tags(), rep(c("tb", "te"), 4))
  expect_equal(batches(), rep(0:3, each = 2))
  expect_equal(seen[[1]]$logs, list(batch = 0L, size = 16))
  expect_equal(seen[[7]]$logs$size, 2)
  expect_equal(seen[[8]]$logs$loss, score$loss, tolerance = 1e-6) # the running mean ends at the result

  seen <- list()
  p <- predict(model, d$x, batch_size = 16, verbose = 0, callbacks = cb)
  expect_equal(tags(), rep(c("pb", "pe"), 4))
  expect_identical(seen[[8]]$logs$outputs, p[49:50, , drop = FALSE])
  expect_identical(p, predict(model, d$x, batch_size = 16, verbose = 0))

  seen <- list()
  h <- fit(model, d$x, d$onehot, epochs = 2, batch_size = 16, validation_split = 0.4, verbose = 0, callbacks = cb)
  expect_equal(tags(), rep(c("tb", "te"), 4)) # 20 validation rows: batches of 16 and 4, each epoch
  expect_equal(batches(), rep(c(0, 0, 1, 1), 2))
  expect_equal(names(seen[[2]]$logs), c("loss", "accuracy"))
  expect_equal(seen[[4]]$logs$loss, h$metrics$val_loss[[1]], tolerance = 1e-6)

  gen <- function() list(d$x[1:8, ], d$onehot[1:8, ])
  seen <- list()
  evaluate_generator(model, gen, steps = 3, callbacks = list(cb))
  expect_equal(batches(), rep(0:2, each = 2))
  expect_equal(seen[[1]]$logs, list(batch = 0L))
  seen <- list()
  fit_generator(model, gen, steps_per_epoch = 2, epochs = 1, verbose = 0, callbacks = list(cb),
                validation_data = gen, validation_steps = 2)
  expect_equal(tags(), rep(c("tb", "te"), 2))
  seen <- list()
  predict_generator(model, gen, steps = 2, callbacks = list(cb))
  expect_equal(tags(), rep(c("pb", "pe"), 2))
  expect_equal(dim(seen[[4]]$logs$outputs), c(8L, 3L))
})
