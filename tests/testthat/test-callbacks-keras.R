# EarlyStopping and ReduceLROnPlateau against Keras 3's own callbacks, driven by the same
# monitored values: 200 random trials Keras decided (fixtures/keras_callbacks.json, written by
# oracle/keras_callbacks.py, which is kept beside the other oracles).

keras_trials <- function() {
  path <- test_path("fixtures", "keras_callbacks.json")
  rkeras:::rk_call(rkeras:::rk_json_parse(paste(readLines(path, warn = FALSE), collapse = "")))
}

as_values <- function(v) vapply(v, function(x) if (is.null(x)) NaN else as.numeric(x), 1)

# The epoch at which a callback set model$stop_training (NA: never), driving it by hand.
drive_stop <- function(cb, values, model) {
  cb$set_context(list(epochs = length(values), steps = 1L, verbose = 0L), model)
  model$stop_training <- FALSE
  cb$on_train_begin(list())
  for (e in seq_along(values) - 1L) {
    cb$on_epoch_end(e, list(val_loss = values[[e + 1L]]))
    if (isTRUE(model$stop_training)) return(e)
  }
  NA_integer_
}

# The learning rate logged at each epoch.
drive_lr <- function(cb, values, model) {
  cb$set_context(list(epochs = length(values), steps = 1L, verbose = 0L), model)
  cb$on_train_begin(list())
  vapply(seq_along(values) - 1L, function(e) cb$augment_logs(e, list(val_loss = values[[e + 1L]]))$lr, 1)
}

test_that("early stopping stops where Keras 3's EarlyStopping stops, on 200 random trials", {
  trials <- keras_trials()
  expect_length(trials, 200)
  model <- cb_regressor()
  stopped <- 0
  for (t in trials) {
    a <- t$early_stopping
    values <- as_values(t$values)
    cb <- callback_early_stopping(monitor = "val_loss", patience = a$patience, min_delta = a$min_delta,
                                  mode = a$mode, baseline = a$baseline)
    want <- if (is.null(t$stopped)) NA_integer_ else as.integer(t$stopped)
    stopped <- stopped + !is.na(want)
    expect_equal(suppressWarnings(drive_stop(cb, values, model)), want,
                 info = sprintf("values %s, %s", paste(values, collapse = " "), deparse(a)))
  }
  expect_gt(stopped, 50)
})

test_that("ReduceLROnPlateau logs the learning rates Keras 3's logs, on 200 random trials", {
  trials <- keras_trials()
  model <- cb_regressor(optimizer = optimizer_sgd(learning_rate = 0.01))
  reduced <- 0
  for (t in trials) {
    a <- t$reduce_lr
    values <- as_values(t$values)
    rkeras:::set_lr(model, t$lr)
    cb <- callback_reduce_lr_on_plateau(monitor = "val_loss", factor = a$factor, patience = a$patience,
                                        min_delta = a$min_delta, cooldown = a$cooldown, min_lr = a$min_lr,
                                        mode = a$mode)
    want <- as.numeric(unlist(t$logged_lr))
    reduced <- reduced + (length(unique(want)) > 1)
    expect_equal(suppressWarnings(drive_lr(cb, values, model)), want, tolerance = 1e-6,
                 info = sprintf("values %s, %s", paste(values, collapse = " "), deparse(a)))
  }
  expect_gt(reduced, 50)
})
