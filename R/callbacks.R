#' Callback that streams epoch results to a CSV file
#'
#' Keras's format: a header `epoch` then the log keys sorted alphabetically, one row per
#' epoch (0-based) written whole as the epoch ends, values at full precision. Parent
#' folders are created.
#' @param filename Path of the CSV file.
#' @param separator Field separator.
#' @param append Append to an existing file (no new header) instead of overwriting.
#' @returns A callback.
#' @family callbacks
#' @export
#' @examples
#' x <- matrix(rnorm(200), 100)
#' y <- x %*% c(1, -1) + rnorm(100, sd = 0.1)
#' model <- keras_model_sequential() %>% layer_dense(1, input_shape = 2)
#' model %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
#' f <- tempfile(fileext = ".csv")
#' model %>% fit(x, y, epochs = 3, verbose = 0, callbacks = list(callback_csv_logger(f)))
#' read.csv(f)
callback_csv_logger <- function(filename, separator = ",", append = FALSE) {
  CsvLogger$new(filename = check_string(filename, "filename"), separator = check_string(separator, "separator"),
                append = check_flag(append, "append"))
}

CsvLogger <- R6::R6Class("CsvLogger", inherit = KerasCallback,
  public = list(
    filename = NULL, separator = NULL, append = NULL, keys = NULL, header_needed = TRUE,
    initialize = function(filename, separator, append) {
      self$filename <- filename
      self$separator <- separator
      self$append <- append
    },
    on_train_begin = function(logs = NULL) {
      ensure_writable(self$filename, "filename")
      exists <- file.exists(self$filename) && file.size(self$filename) > 0
      self$header_needed <- !(self$append && exists)
      if (!self$append) close(file(self$filename, open = "w"))
      self$keys <- NULL
    },
    on_epoch_end = function(epoch, logs = NULL) {
      if (is.null(self$keys)) self$keys <- sort(names(logs), method = "radix")
      # Keras writes "NA" for a key missing from a later epoch (a run stopped mid-epoch)
      vals <- vapply(self$keys, function(k) if (is.null(logs[[k]])) "NA" else python_float(logs[[k]]), "")
      lines <- paste(c(as.character(epoch), vals), collapse = self$separator)
      if (self$header_needed) {
        lines <- c(paste(c("epoch", self$keys), collapse = self$separator), lines)
        self$header_needed <- FALSE
      }
      # One write per epoch, so an interrupted run never leaves half a row.
      cat(paste0(lines, "\n", collapse = ""), file = self$filename, append = TRUE)
    }
  )
)

#' Format a double as Python's repr() does: the shortest string that reads back exactly,
#' fixed notation for decimal exponents -4..15 (always with a `.`), scientific otherwise
#' @noRd
python_float <- function(v) {
  if (is.null(v) || length(v) == 0) return("")
  if (is.na(v)) return("nan")
  if (is.infinite(v)) return(if (v > 0) "inf" else "-inf")
  if (v == 0) return(if (1 / v < 0) "-0.0" else "0.0")
  for (d in 1:17) {
    s <- formatC(v, digits = d - 1, format = "e")
    if (as.numeric(s) == v) break
  }
  e <- as.integer(sub(".*e", "", s))
  if (e >= -4 && e < 16) {
    s <- formatC(v, digits = max(d - 1 - e, 0), format = "f")
    if (!grepl("[.]", s)) s <- paste0(s, ".0")
  }
  trimws(s)
}

ensure_writable <- function(path, arg, call = rlang::caller_env(), shown = path) {
  dir <- dirname(path)
  if (!dir.exists(dir)) dir.create(dir, recursive = TRUE, showWarnings = FALSE)
  ok <- dir.exists(dir) && file.access(dir, 2) == 0 && (!file.exists(path) || file.access(path, 2) == 0) &&
    !dir.exists(path)
  if (!ok) rk_abort(sprintf("`%s` cannot be written: '%s'.", arg, shown), "io", call)
  invisible(path)
}

#' Stop training when a monitored quantity has stopped improving
#'
#' Keras's rule: after each epoch, an improvement is a change beyond `min_delta` in the
#' right direction; training stops after `patience` epochs without one (never after the
#' first epoch). With a `baseline`, the wait counter only resets on improvements that also
#' beat the baseline. `restore_best_weights` puts back the weights of the best epoch.
#' @param monitor Quantity to monitor.
#' @param min_delta Minimum change that counts as an improvement.
#' @param patience Epochs without improvement before stopping.
#' @param verbose 1 prints a message when training stops.
#' @param mode `"auto"`, `"min"` or `"max"`; auto maximises names ending in `acc`,
#'   `accuracy` or `auc`.
#' @param baseline Value the monitored quantity must beat.
#' @param restore_best_weights Restore the weights of the best epoch when stopping.
#' @returns A callback.
#' @family callbacks
#' @export
#' @examples
#' x <- matrix(rnorm(200), 100)
#' y <- x %*% c(1, -1) + rnorm(100, sd = 0.1)
#' model <- keras_model_sequential() %>% layer_dense(1, input_shape = 2)
#' model %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
#' stop_early <- callback_early_stopping(monitor = "val_loss", min_delta = 0.01, patience = 2)
#' history <- model %>% fit(x, y, epochs = 50, validation_split = 0.2, verbose = 0,
#'                          callbacks = list(stop_early))
#' length(history$metrics$loss)   # epochs run before stopping
callback_early_stopping <- function(monitor = "val_loss", min_delta = 0, patience = 0, verbose = 0,
                                    mode = c("auto", "min", "max"), baseline = NULL,
                                    restore_best_weights = FALSE) {
  mode <- match.arg(mode)
  EarlyStopping$new(monitor = check_string(monitor, "monitor"), min_delta = abs(check_number(min_delta, "min_delta")),
                    patience = check_count(patience, "patience", min = 0), verbose = check_count(verbose, "verbose", min = 0),
                    maximize = monitor_maximizes(monitor, mode), baseline = check_number(baseline, "baseline", allow_null = TRUE),
                    restore = check_flag(restore_best_weights, "restore_best_weights"))
}

monitor_maximizes <- function(monitor, mode) {
  if (mode == "auto") grepl("(acc|accuracy|auc)$", monitor) else mode == "max"
}

EarlyStopping <- R6::R6Class("EarlyStopping", inherit = KerasCallback,
  public = list(
    monitor = NULL, min_delta = 0, patience = 0, verbose = 0, maximize = FALSE, baseline = NULL,
    restore = FALSE, wait = 0, stopped_epoch = 0, best = NULL, best_weights = NULL, best_epoch = 0,
    initialize = function(monitor, min_delta, patience, verbose, maximize, baseline, restore) {
      self$monitor <- monitor; self$min_delta <- min_delta; self$patience <- patience
      self$verbose <- verbose; self$maximize <- maximize; self$baseline <- baseline; self$restore <- restore
    },
    improves = function(value, reference) {
      if (self$maximize) value - self$min_delta > reference else value + self$min_delta < reference
    },
    on_train_begin = function(logs = NULL) {
      # Keras 3: no best value yet, so the first monitored value is always an improvement.
      self$wait <- 0; self$stopped_epoch <- 0; self$best_weights <- NULL; self$best_epoch <- 0
      self$best <- NULL
    },
    on_epoch_end = function(epoch, logs = NULL) {
      current <- logs[[self$monitor]]
      if (is.null(current)) {
        warning(sprintf("Early stopping conditioned on metric `%s` which is not available. Available metrics are: %s",
                        self$monitor, paste(names(logs), collapse = ",")), call. = FALSE)
        return(invisible())
      }
      if (self$restore && is.null(self$best_weights)) {
        self$best_weights <- get_weights(self$model)
        self$best_epoch <- epoch
      }
      self$wait <- self$wait + 1
      # Keras 3's rule: a NaN value is never an improvement (but the first value is, whatever
      # it is), and an epoch that improves never stops training.
      if (is.null(self$best) || isTRUE(self$improves(current, self$best))) {
        self$best <- current
        self$best_epoch <- epoch
        if (self$restore) self$best_weights <- get_weights(self$model)
        if (is.null(self$baseline) || isTRUE(self$improves(current, self$baseline))) self$wait <- 0
        return(invisible())
      }
      if (self$wait >= self$patience && epoch > 0) {
        self$stopped_epoch <- epoch
        self$model$stop_training <- TRUE
      }
    },
    on_train_end = function(logs = NULL) {
      if (self$stopped_epoch > 0 && self$verbose > 0) cat(sprintf("Epoch %d: early stopping\n", self$stopped_epoch + 1))
      # Keras 3 restores the best weights at the end of training, stopped early or not.
      if (self$restore && !is.null(self$best_weights)) {
        if (self$verbose > 0) cat("Restoring model weights from the end of the best epoch: ", self$best_epoch + 1, ".\n", sep = "")
        set_weights(self$model, self$best_weights)
      }
    }
  )
)

#' Create a custom callback from R functions
#'
#' Each argument is `NULL` or a function: `(epoch, logs)` for epoch hooks, `(batch, logs)`
#' for batch hooks, `(logs)` for begin/end hooks. Epochs and batches are 0-based.
#'
#' The test hooks fire in the validation pass of `fit()` and in `evaluate()` (batch-end
#' `logs`: the running loss and metrics); the predict hooks in `predict()` (batch-end `logs`:
#' `outputs`, the batch's predictions); both in the generator versions, one batch per step.
#' Batch-begin `logs` hold `batch` and, for arrays, `size` (rows). Passing a callback with
#' batch hooks makes the engine stop after every batch to call R.
#' @param on_epoch_begin,on_epoch_end,on_batch_begin,on_batch_end,on_train_batch_begin,on_train_batch_end,on_train_begin,on_train_end,on_predict_batch_begin,on_predict_batch_end,on_predict_begin,on_predict_end,on_test_batch_begin,on_test_batch_end,on_test_begin,on_test_end Hook functions.
#' @returns A callback.
#' @family callbacks
#' @export
#' @examples
#' x <- matrix(rnorm(200), 100)
#' y <- x %*% c(1, -1) + rnorm(100, sd = 0.1)
#' model <- keras_model_sequential() %>% layer_dense(1, input_shape = 2)
#' model %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
#' show_loss <- callback_lambda(on_epoch_end = function(epoch, logs) {
#'   cat("epoch", epoch, "loss", format(logs$loss, digits = 3), "\n")
#' })
#' model %>% fit(x, y, epochs = 2, verbose = 0, callbacks = list(show_loss))
callback_lambda <- function(on_epoch_begin = NULL, on_epoch_end = NULL, on_batch_begin = NULL,
                            on_batch_end = NULL, on_train_batch_begin = NULL, on_train_batch_end = NULL,
                            on_train_begin = NULL, on_train_end = NULL, on_predict_batch_begin = NULL,
                            on_predict_batch_end = NULL, on_predict_begin = NULL, on_predict_end = NULL,
                            on_test_batch_begin = NULL, on_test_batch_end = NULL, on_test_begin = NULL,
                            on_test_end = NULL) {
  hooks <- Filter(Negate(is.null), as.list(environment()))
  for (h in names(hooks)) {
    if (!is.function(hooks[[h]])) rk_abort(sprintf("`%s` must be NULL or a function, not %s.", h, show_value(hooks[[h]])), "type")
  }
  LambdaCallback$new(hooks)
}

LambdaCallback <- R6::R6Class("LambdaCallback", inherit = KerasCallback,
  public = list(
    hooks = list(),
    initialize = function(hooks) self$hooks <- hooks,
    listens = function(names) any(names %in% names(self$hooks)),
    run = function(hook, args) {
      f <- self$hooks[[hook]]
      if (is.null(f)) return(invisible())
      n <- length(formals(f))
      if (!"..." %in% names(formals(f)) && n < length(args)) args <- args[seq_len(n)]
      do.call(f, args)
    },
    on_epoch_begin = function(epoch, logs = NULL) self$run("on_epoch_begin", list(epoch, logs)),
    on_epoch_end = function(epoch, logs = NULL) self$run("on_epoch_end", list(epoch, logs)),
    on_batch_begin = function(batch, logs = NULL) self$run("on_batch_begin", list(batch, logs)),
    on_batch_end = function(batch, logs = NULL) self$run("on_batch_end", list(batch, logs)),
    on_train_batch_begin = function(batch, logs = NULL) self$run("on_train_batch_begin", list(batch, logs)),
    on_train_batch_end = function(batch, logs = NULL) self$run("on_train_batch_end", list(batch, logs)),
    on_train_begin = function(logs = NULL) self$run("on_train_begin", list(logs)),
    on_train_end = function(logs = NULL) self$run("on_train_end", list(logs)),
    on_predict_batch_begin = function(batch, logs = NULL) self$run("on_predict_batch_begin", list(batch, logs)),
    on_predict_batch_end = function(batch, logs = NULL) self$run("on_predict_batch_end", list(batch, logs)),
    on_predict_begin = function(logs = NULL) self$run("on_predict_begin", list(logs)),
    on_predict_end = function(logs = NULL) self$run("on_predict_end", list(logs)),
    on_test_batch_begin = function(batch, logs = NULL) self$run("on_test_batch_begin", list(batch, logs)),
    on_test_batch_end = function(batch, logs = NULL) self$run("on_test_batch_end", list(batch, logs)),
    on_test_begin = function(logs = NULL) self$run("on_test_begin", list(logs)),
    on_test_end = function(logs = NULL) self$run("on_test_end", list(logs))
  )
)

#' Learning rate scheduler
#'
#' At the start of each epoch sets the learning rate to `schedule(epoch, lr)` (0-based
#' epoch, current rate; one-argument schedules `function(epoch)` also work). The rate is
#' recorded as `lr` in the epoch logs and history.
#' @param schedule A function.
#' @returns A callback.
#' @family callbacks
#' @export
#' @examples
#' x <- matrix(rnorm(200), 100)
#' y <- x %*% c(1, -1) + rnorm(100, sd = 0.1)
#' model <- keras_model_sequential() %>% layer_dense(1, input_shape = 2)
#' model %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
#' halve <- callback_learning_rate_scheduler(function(epoch, lr) lr * 0.5)
#' history <- model %>% fit(x, y, epochs = 3, verbose = 0, callbacks = list(halve))
#' history$metrics$lr
callback_learning_rate_scheduler <- function(schedule) {
  if (!is.function(schedule)) rk_abort(sprintf("`schedule` must be a function, not %s.", show_value(schedule)), "type")
  LrScheduler$new(schedule)
}

LrScheduler <- R6::R6Class("LrScheduler", inherit = KerasCallback,
  public = list(
    schedule = NULL,
    initialize = function(schedule) self$schedule <- schedule,
    on_epoch_begin = function(epoch, logs = NULL) {
      lr <- current_lr(self$model)
      new <- if (length(formals(self$schedule)) >= 2) self$schedule(epoch, lr) else self$schedule(epoch)
      if (!is.numeric(new) || length(new) != 1 || !is.finite(new)) {
        rk_abort(sprintf("The learning rate schedule must return a single finite number, not %s.", show_value(new)), "value")
      }
      set_lr(self$model, new)
    },
    augment_logs = function(epoch, logs) { logs$lr <- current_lr(self$model); logs }
  )
)

#' Reduce the learning rate when a metric has stopped improving
#'
#' After `patience` epochs without an improvement beyond `min_delta`, multiplies the
#' learning rate by `factor` (not below `min_lr`), then waits `cooldown` epochs.
#' Records `lr` in the epoch logs.
#' @inheritParams callback_early_stopping
#' @param mode `"auto"`, `"min"` or `"max"`; auto maximises a monitor whose name contains
#'   `acc` (Keras's rule for this callback) and minimises anything else.
#' @param factor Factor by which the rate is reduced.
#' @param cooldown Epochs to wait after a reduction.
#' @param min_lr Lower bound on the rate.
#' @returns A callback.
#' @family callbacks
#' @export
#' @examples
#' x <- matrix(rnorm(200), 100)
#' y <- x %*% c(1, -1) + rnorm(100, sd = 0.1)
#' model <- keras_model_sequential() %>% layer_dense(1, input_shape = 2)
#' model %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
#' reduce_lr <- callback_reduce_lr_on_plateau(monitor = "val_loss", factor = 0.5, patience = 1,
#'                                            min_delta = 0.01)
#' history <- model %>% fit(x, y, epochs = 10, validation_split = 0.2, verbose = 0,
#'                          callbacks = list(reduce_lr))
#' history$metrics$lr   # halved once the validation loss stops improving
callback_reduce_lr_on_plateau <- function(monitor = "val_loss", factor = 0.1, patience = 10, verbose = 0,
                                          mode = c("auto", "min", "max"), min_delta = 1e-04, cooldown = 0,
                                          min_lr = 0) {
  mode <- match.arg(mode)
  factor <- check_number(factor, "factor", min = 0)
  if (factor >= 1) rk_abort("`factor` must be below 1: ReduceLROnPlateau does not support a factor >= 1.", "value")
  # Keras 2.12's ReduceLROnPlateau: auto maximises when the name contains "acc"
  monitor <- check_string(monitor, "monitor")
  maximize <- mode == "max" || (mode == "auto" && grepl("acc", monitor, fixed = TRUE))
  ReduceLr$new(monitor = monitor, factor = factor,
               patience = check_count(patience, "patience", min = 0), verbose = check_count(verbose, "verbose", min = 0),
               maximize = maximize, min_delta = abs(check_number(min_delta, "min_delta")),
               cooldown = check_count(cooldown, "cooldown", min = 0), min_lr = check_number(min_lr, "min_lr", min = 0))
}

ReduceLr <- R6::R6Class("ReduceLr", inherit = KerasCallback,
  public = list(
    monitor = NULL, factor = 0.1, patience = 10, verbose = 0, maximize = FALSE, min_delta = 1e-4,
    cooldown = 0, min_lr = 0, wait = 0, cooldown_counter = 0, best = NULL,
    initialize = function(monitor, factor, patience, verbose, maximize, min_delta, cooldown, min_lr) {
      self$monitor <- monitor; self$factor <- factor; self$patience <- patience; self$verbose <- verbose
      self$maximize <- maximize; self$min_delta <- min_delta; self$cooldown <- cooldown; self$min_lr <- min_lr
    },
    on_train_begin = function(logs = NULL) {
      # Keras 3: no best value yet, so the first monitored value is always an improvement.
      self$wait <- 0; self$cooldown_counter <- 0
      self$best <- NULL
    },
    augment_logs = function(epoch, logs) {
      logs$lr <- current_lr(self$model)
      current <- logs[[self$monitor]]
      if (is.null(current)) {
        warning(sprintf("Learning rate reduction is conditioned on metric `%s` which is not available.", self$monitor), call. = FALSE)
        return(logs)
      }
      # Keras 3's rule: the cooldown counter is decremented first, then checked again.
      if (self$cooldown_counter > 0) { self$cooldown_counter <- self$cooldown_counter - 1; self$wait <- 0 }
      better <- is.null(self$best) ||
        isTRUE(if (self$maximize) current - self$min_delta > self$best else current + self$min_delta < self$best)
      if (better) {
        self$best <- current; self$wait <- 0
      } else if (self$cooldown_counter <= 0) {
        self$wait <- self$wait + 1
        if (self$wait >= self$patience) {
          old <- current_lr(self$model)
          if (old > self$min_lr) {
            new <- max(old * self$factor, self$min_lr)
            set_lr(self$model, new)
            if (self$verbose > 0) cat(sprintf("\nEpoch %d: ReduceLROnPlateau reducing learning rate to %s.\n", epoch + 1, format(new)))
            self$cooldown_counter <- self$cooldown
            self$wait <- 0
          }
        }
      }
      logs
    }
  )
)

#' Stop training when the loss becomes NaN or infinite
#' @returns A callback.
#' @family callbacks
#' @export
#' @examples
#' x <- matrix(rnorm(200), 100)
#' model <- keras_model_sequential() %>% layer_dense(1, input_shape = 2)
#' # a learning rate far too large makes the loss overflow
#' model %>% compile(optimizer = optimizer_sgd(10), loss = "mse")
#' history <- model %>% fit(x, rowSums(x), epochs = 20, verbose = 0,
#'                          callbacks = list(callback_terminate_on_naan()))
#' length(history$metrics$loss)
callback_terminate_on_naan <- function() TerminateOnNaN$new()

TerminateOnNaN <- R6::R6Class("TerminateOnNaN", inherit = KerasCallback,
  public = list(
    on_batch_end = function(batch, logs = NULL) {
      loss <- logs[["loss"]]
      if (!is.null(loss) && !is.finite(loss)) {
        cat(sprintf("Batch %d: Invalid loss, terminating training\n", batch))
        self$model$stop_training <- TRUE
      }
    }
  )
)

#' Progress bar callback
#'
#' `fit()` shows Keras's progress bar itself when `verbose > 0`; this callback is accepted
#' for compatibility.
#' @param count_mode `"steps"` or `"samples"`.
#' @param stateful_metrics Ignored.
#' @returns A callback.
#' @family callbacks
#' @export
#' @examples
#' cb <- callback_progbar_logger()
callback_progbar_logger <- function(count_mode = "samples", stateful_metrics = NULL) {
  check_string(count_mode, "count_mode", choices = c("samples", "steps"))
  KerasCallback$new()
}
