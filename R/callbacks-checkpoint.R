#' Save the model or its weights during training
#'
#' As Keras's `ModelCheckpoint`: after every epoch (or every `save_freq` batches, or every
#' `period` epochs), the model is saved to `filepath`, a Python format template filled with
#' `epoch` (1-based), `batch` (1-based, with an integer `save_freq`) and the epoch's logs:
#' `"weights.{epoch:02d}-{val_loss:.2f}.hdf5"` gives `weights.01-0.53.hdf5`. Missing folders
#' are created.
#'
#' What is written follows the name: a `.keras` file with [save_model()], a `.weights.h5`
#' file with [save_model_weights()], and any other name in Keras's legacy HDF5 layout
#' ([save_model_hdf5()], or [save_model_weights_hdf5()] with `save_weights_only = TRUE`;
#' also for TensorFlow checkpoint names such as `cp.ckpt`, which [load_model_weights_tf()]
#' reads back).
#' @param filepath File name template.
#' @param monitor Log entry compared with `save_best_only`.
#' @param verbose 1 prints a line for each save.
#' @param save_best_only Save only when `monitor` improves on the best value so far.
#' @param save_weights_only Save only the weights.
#' @param mode `"auto"` (maximize accuracies and AUC, minimize the rest), `"min"` or `"max"`.
#' @param period Save every `period` epochs (Keras 2's argument).
#' @param save_freq `"epoch"`, or a number of batches between saves.
#' @param initial_value_threshold With `save_best_only`, the value the first save must beat.
#' @param ... Unused.
#' @returns A callback.
#' @family callbacks
#' @export
#' @examples
#' x <- matrix(rnorm(200), 100)
#' y <- x %*% c(1, -1) + rnorm(100, sd = 0.1)
#' model <- keras_model_sequential() %>% layer_dense(1, input_shape = 2)
#' model %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
#' dir <- tempfile("checkpoints")
#' checkpoint <- callback_model_checkpoint(file.path(dir, "weights.{epoch:02d}.h5"),
#'                                         save_weights_only = TRUE)
#' model %>% fit(x, y, epochs = 3, verbose = 0, callbacks = list(checkpoint))
#' list.files(dir)
#' load_model_weights_hdf5(model, file.path(dir, "weights.02.h5"))
callback_model_checkpoint <- function(filepath, monitor = "val_loss", verbose = 0, save_best_only = FALSE,
                                      save_weights_only = FALSE, mode = c("auto", "min", "max"), period = NULL,
                                      save_freq = "epoch", initial_value_threshold = NULL, ...) {
  check_no_dots(..., fn = "callback_model_checkpoint()")
  mode <- if (identical(mode, c("auto", "min", "max"))) "auto" else check_string(mode, "mode", choices = c("auto", "min", "max"))
  filepath <- path.expand(check_string(filepath, "filepath"))
  if (!identical(save_freq, "epoch")) save_freq <- check_count(save_freq, "save_freq", min = 1)
  ModelCheckpoint$new(filepath = filepath, monitor = check_string(monitor, "monitor"),
                      verbose = check_count(verbose, "verbose", min = 0),
                      best_only = check_flag(save_best_only, "save_best_only"),
                      weights_only = check_flag(save_weights_only, "save_weights_only"),
                      maximize = monitor_maximizes(monitor, mode),
                      period = if (is.null(period)) 1L else check_count(period, "period", min = 1),
                      save_freq = save_freq,
                      best = check_number(initial_value_threshold, "initial_value_threshold", allow_null = TRUE))
}

ModelCheckpoint <- R6::R6Class("ModelCheckpoint", inherit = KerasCallback,
  public = list(
    filepath = NULL, monitor = NULL, verbose = 0, best_only = FALSE, weights_only = FALSE,
    maximize = FALSE, period = 1L, save_freq = "epoch", best = NULL, epoch = 0L, batches = 0L,
    initialize = function(filepath, monitor, verbose, best_only, weights_only, maximize, period, save_freq, best) {
      self$filepath <- filepath; self$monitor <- monitor; self$verbose <- verbose
      self$best_only <- best_only; self$weights_only <- weights_only; self$maximize <- maximize
      self$period <- period; self$save_freq <- save_freq; self$best <- best
    },
    listens = function(hooks) is.numeric(self$save_freq) && any(hooks %in% batch_hooks),
    on_epoch_begin = function(epoch, logs = NULL) self$epoch <- epoch,
    on_train_batch_end = function(batch, logs = NULL) {
      if (!is.numeric(self$save_freq)) return(invisible())
      self$batches <- self$batches + 1L
      if (self$batches %% self$save_freq == 0) self$save(self$epoch, batch, logs)
    },
    on_epoch_end = function(epoch, logs = NULL) {
      if (identical(self$save_freq, "epoch") && (epoch + 1L) %% self$period == 0) self$save(epoch, NULL, logs)
    },
    save = function(epoch, batch, logs) {
      values <- c(list(epoch = as.integer(epoch + 1L)), if (!is.null(batch)) list(batch = as.integer(batch + 1L)), logs)
      path <- python_format(self$filepath, values)
      if (self$best_only) {
        current <- logs[[self$monitor]]
        if (is.null(current)) {
          warning(sprintf("Can save best model only with %s available, skipping.", self$monitor), call. = FALSE)
          return(invisible())
        }
        better <- is.null(self$best) || (if (self$maximize) current > self$best else current < self$best)
        if (!isTRUE(better)) {
          if (self$verbose > 0) {
            cat(sprintf("\nEpoch %d: %s did not improve from %s\n", epoch + 1L, self$monitor, fixed5(self$best)))
          }
          return(invisible())
        }
        if (self$verbose > 0) {
          cat(sprintf("\nEpoch %d: %s improved from %s to %s, saving model to %s\n", epoch + 1L,
                      self$monitor, fixed5(self$best %||% if (self$maximize) -Inf else Inf), fixed5(current), path))
        }
        self$best <- current
      } else if (self$verbose > 0) {
        cat(sprintf("\nEpoch %d: saving model to %s\n", epoch + 1L, path))
      }
      if (!dir.exists(dirname(path))) dir.create(dirname(path), recursive = TRUE)
      keras3_weights <- grepl("\\.weights\\.h5$", path)
      if (self$weights_only) {
        if (keras3_weights) save_model_weights(self$model, path) else save_model_weights_hdf5(self$model, path)
      } else if (keras3_weights) {
        rk_abort(sprintf("`filepath` '%s' names a weights file, but `save_weights_only = FALSE`.", path), "value")
      } else if (grepl("\\.keras$", path)) {
        save_model(self$model, path)
      } else {
        save_model_hdf5(self$model, path)
      }
      invisible()
    }
  )
)

#' Python's `"%0.5f" % v` (`inf` for infinity)
#' @noRd
fixed5 <- function(v) if (is.infinite(v)) (if (v > 0) "inf" else "-inf") else sprintf("%0.5f", v)

#' Fill a Python format template (`"w.{epoch:02d}-{val_loss:.2f}.h5"`) from named values
#' @noRd
python_format <- function(template, values, call = rlang::caller_env()) {
  parts <- regmatches(template, gregexpr("\\{\\{|\\}\\}|\\{[^{}]*\\}", template))[[1]]
  rest <- regmatches(template, gregexpr("\\{\\{|\\}\\}|\\{[^{}]*\\}", template), invert = TRUE)[[1]]
  out <- rest[[1]]
  for (i in seq_along(parts)) {
    p <- parts[[i]]
    field <- if (p == "{{") "{" else if (p == "}}") "}" else {
      inner <- substr(p, 2, nchar(p) - 1)
      key <- sub(":.*$", "", inner)
      spec <- if (grepl(":", inner, fixed = TRUE)) sub("^[^:]*:", "", inner) else ""
      v <- values[[key]]
      if (is.null(v)) {
        rk_abort(sprintf("Failed to format the checkpoint file path '%s': there is no '%s' (available: %s).",
                         template, key, paste(names(values), collapse = ", ")), "value", call)
      }
      format_python_value(v, spec, template, call)
    }
    out <- paste0(out, field, rest[[i + 1]] %||% "")
  }
  out
}

format_python_value <- function(v, spec, template, call) {
  if (!nzchar(spec)) return(if (is.integer(v)) as.character(v) else python_float(v))
  m <- regmatches(spec, regexec("^(0?)([0-9]*)(?:\\.([0-9]+))?([dfeEgG%]?)$", spec))[[1]]
  if (!length(m)) rk_abort(sprintf("Unsupported format '%s' in the checkpoint file path '%s'.", spec, template), "value", call)
  type <- m[[5]]
  if (type == "d" && !is.integer(v)) {
    rk_abort(sprintf("Format '%s' in '%s' needs an integer, and the value is %s.", spec, template, python_float(v)), "value", call)
  }
  if (!nzchar(type)) type <- if (is.integer(v)) "d" else "g"
  sprintf(paste0("%", m[[2]], m[[3]], if (nzchar(m[[4]])) paste0(".", m[[4]]), type), v)
}

#' Back up training after every epoch, and resume an interrupted fit()
#'
#' As Keras's `BackupAndRestore`: after each epoch the model (weights and optimizer state)
#' and the epoch count are saved in `backup_dir`. A `fit()` with this callback that finds a
#' backup there starts from it, at the epoch after the last one saved, so a session that
#' died mid-training loses at most one epoch. A `fit()` that finishes deletes the backup
#' (`delete_checkpoint = TRUE`).
#' @param backup_dir Folder for the backup (created if needed).
#' @param save_freq `"epoch"`, or a number of batches between backups.
#' @param delete_checkpoint Delete the backup when training ends.
#' @returns A callback.
#' @family callbacks
#' @export
#' @examples
#' x <- matrix(rnorm(200), 100)
#' y <- x %*% c(1, -1) + rnorm(100, sd = 0.1)
#' model <- keras_model_sequential() %>% layer_dense(1, input_shape = 2)
#' model %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
#' backup <- callback_backup_and_restore(tempfile("backup"))
#' # an interrupted fit() run again with the same callback resumes at its last epoch
#' model %>% fit(x, y, epochs = 2, verbose = 0, callbacks = list(backup))
callback_backup_and_restore <- function(backup_dir, save_freq = "epoch", delete_checkpoint = TRUE) {
  backup_dir <- path.expand(check_string(backup_dir, "backup_dir"))
  if (!identical(save_freq, "epoch")) save_freq <- check_count(save_freq, "save_freq", min = 1)
  BackupAndRestore$new(dir = backup_dir, save_freq = save_freq, delete = check_flag(delete_checkpoint, "delete_checkpoint"))
}

BackupAndRestore <- R6::R6Class("BackupAndRestore", inherit = KerasCallback,
  public = list(
    dir = NULL, save_freq = "epoch", delete = TRUE, epoch = 0L, batches = 0L,
    initialize = function(dir, save_freq, delete) {
      self$dir <- dir; self$save_freq <- save_freq; self$delete <- delete
    },
    listens = function(hooks) is.numeric(self$save_freq) && any(hooks %in% batch_hooks),
    model_file = function() file.path(self$dir, "latest.keras"),
    state_file = function() file.path(self$dir, "training_metadata.json"),
    on_train_begin = function(logs = NULL) {
      if (!file.exists(self$model_file()) || !file.exists(self$state_file())) return(invisible())
      saved <- read_model_file(self$model_file())
      lay <- save_layout(self$model)
      put_weights(self$model, saved, by_name = FALSE, skip_mismatch = FALSE, lay = lay)
      if (!is.null(saved$optimizer) && !is.null(self$model$compiled)) restore_optimizer(self$model, saved$optimizer, NULL, lay)
      state <- rk_call(rk_json_parse(paste(readLines(self$state_file(), warn = FALSE), collapse = "\n")))
      # The epoch fit() starts from: the one after the last epoch the backup completed.
      self$model$resume_epoch <- as.integer(state$epoch) + if (isTRUE(state$epoch_done)) 1L else 0L
    },
    on_epoch_begin = function(epoch, logs = NULL) self$epoch <- epoch,
    on_train_batch_end = function(batch, logs = NULL) {
      if (!is.numeric(self$save_freq)) return(invisible())
      self$batches <- self$batches + 1L
      if (self$batches %% self$save_freq == 0) self$backup(self$epoch, FALSE)
    },
    on_epoch_end = function(epoch, logs = NULL) if (identical(self$save_freq, "epoch")) self$backup(epoch, TRUE),
    backup = function(epoch, done) {
      if (!dir.exists(self$dir)) dir.create(self$dir, recursive = TRUE)
      save_model(self$model, self$model_file())
      tmp <- paste0(self$state_file(), ".tmp")
      writeLines(to_json(list(epoch = as.integer(epoch), epoch_done = done)), tmp)
      file.rename(tmp, self$state_file())
      invisible()
    },
    on_train_end = function(logs = NULL) {
      if (self$delete) unlink(self$dir, recursive = TRUE)
    }
  )
)
