#' Train a model
#'
#' Trains for a number of epochs on in-memory data (or on a generator function, see
#' [fit_generator()]). Follows Keras: `validation_split` takes the *last* rows before
#' shuffling; the last partial batch is kept; epoch metrics are sample-weighted means over
#' the epoch's batches in training mode; validation metrics are computed at epoch end.
#' @param object A compiled model.
#' @param x Input data: a numeric matrix or array with samples in the first dimension
#'   (arrays are flattened per sample in row-major order), or a generator function.
#' @param y Targets: one-hot matrix, vector of class ids, or numeric matrix.
#' @param batch_size Samples per gradient step (default 32); not with a generator.
#' @param epochs Index of the final epoch (training runs from `initial_epoch`).
#' @param verbose 0 silent, 1 progress bar, 2 one line per epoch; `"auto"` is 1.
#' @param callbacks A callback or list of callbacks.
#' @param view_metrics Show a live chart of the metrics while training: `TRUE`, `FALSE`, or
#'   `"auto"` (interactive R in RStudio, verbose, more than one epoch; or option
#'   `rkeras.view_metrics = TRUE`). See [view_metrics()].
#' @param validation_split Fraction of the data, taken from the end, used for validation;
#'   not with a generator (give `validation_data`).
#' @param validation_data `list(x_val, y_val)` or `list(x_val, y_val, sample_weight)`, or a
#'   generator function (with `validation_steps`).
#' @param shuffle Reshuffle the training rows every epoch.
#' @param class_weight Named list mapping class ids to loss weights.
#' @param sample_weight Per-sample loss weights; a generator yields them as a third element.
#' @param initial_epoch Epoch at which to start (for resuming).
#' @param steps_per_epoch,validation_steps For generators: batches per epoch / per validation.
#' @param ... Keras's `validation_batch_size` (rows per validation batch; default
#'   `batch_size`) and `validation_freq` (validate after every `validation_freq`-th epoch,
#'   counted from the first; default 1; history holds `NA` for the epochs in between). Any
#'   other argument is an error.
#' @returns A `keras_training_history`, invisibly.
#' @family model functions
#' @export
#' @examples
#' x <- matrix(rnorm(200), 100)
#' y <- x %*% c(1, -1)
#' model <- keras_model_sequential() %>% layer_dense(1, input_shape = 2)
#' model %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
#' history <- model %>% fit(x, y, epochs = 2, verbose = 0)
#' history
fit.rkeras_model <- function(object, x = NULL, y = NULL, batch_size = NULL, epochs = 10,
                             verbose = getOption("keras.fit_verbose", default = "auto"),
                             callbacks = NULL, view_metrics = getOption("keras.view_metrics", default = "auto"),
                             validation_split = 0, validation_data = NULL, shuffle = TRUE,
                             class_weight = NULL, sample_weight = NULL, initial_epoch = 0,
                             steps_per_epoch = NULL, validation_steps = NULL, ...) {
  check_model(object)
  dots <- list(...)
  nms <- names(dots) %||% rep("", length(dots))
  extra <- nms[!nms %in% c("validation_freq", "validation_batch_size")]
  if (length(extra)) {
    shown <- ifelse(nzchar(extra), paste0("`", extra, "`"), "an unnamed argument")
    rk_abort(sprintf("fit() got %s it does not take.", paste(unique(shown), collapse = ", ")), "value")
  }
  validation_freq <- check_count(dots$validation_freq %||% 1L, "validation_freq")
  if (is.function(x)) {
    # A generator yields its own batches, weights and order: arguments about in-memory data
    # cannot apply, and saying so beats dropping them (as Keras raises for them).
    if (!is.null(batch_size)) rk_abort("`batch_size` cannot be given with a generator: it yields its own batches.", "value")
    if (!is.null(sample_weight)) {
      rk_abort("`sample_weight` cannot be given with a generator: yield list(x, y, sample_weight) from it instead.", "value")
    }
    if (!identical(validation_split, 0)) {
      rk_abort("`validation_split` cannot be used with a generator; give `validation_data` (and `validation_steps`).", "value")
    }
    if (!is.null(dots$validation_batch_size) || validation_freq != 1L) {
      rk_abort("`validation_batch_size` and `validation_freq` cannot be used with a generator.", "value")
    }
    return(via_fit(fit_generator(object, x, steps_per_epoch = steps_per_epoch, epochs = epochs,
                                 verbose = verbose, callbacks = callbacks, view_metrics = view_metrics,
                                 validation_data = validation_data, validation_steps = validation_steps,
                                 class_weight = class_weight, initial_epoch = initial_epoch)))
  }
  compiled <- require_compiled(object, x = x)
  epochs <- check_count(epochs, "epochs", min = 0)
  batch_size <- check_count(batch_size %||% 32L, "batch_size")
  val_batch_size <- check_count(dots$validation_batch_size %||% batch_size, "validation_batch_size")
  verbose <- check_verbose(verbose)
  initial_epoch <- check_count(initial_epoch, "initial_epoch", min = 0)
  view <- resolve_view_metrics(view_metrics, verbose, epochs - initial_epoch)
  validation_split <- check_number(validation_split, "validation_split", min = 0, max = 0.999999)
  # "batch": the batches in order, each one's rows shuffled (Keras's option for data read in
  # batch-sized chunks).
  by_batch <- identical(shuffle, "batch")
  shuffle <- by_batch || check_flag(shuffle, "shuffle")
  callbacks <- as_callbacks(callbacks)
  if (is.null(x)) rk_abort("`x` must be given: a numeric matrix or array, or a generator function.", "value")
  x <- prepare_x(object, x)
  n <- nrow(x)
  y <- prepare_y(object, y, n)
  w <- prepare_weights(y, sample_weight, class_weight, n, compiled$loss)
  val <- NULL
  n_train <- n
  if (!is.null(validation_data)) {
    val <- prepare_validation(object, validation_data, val_batch_size)
  } else if (validation_split > 0) {
    n_train <- as.integer(floor(n * (1 - validation_split)))
    if (n_train < 1 || n_train >= n) {
      rk_abort(sprintf("`validation_split` = %s leaves no training or no validation samples out of %d.",
                       format(validation_split), n), "value")
    }
  }
  data <- new_dataset(x, y, w)
  shapes <- attr(x, "sample_shapes")
  rm(x, y)
  if (validation_split > 0 && is.null(val)) {
    val <- function(callbacks) eval_rows(object, data, val_batch_size, n_train, n, callbacks = callbacks, shapes = shapes)
  }
  steps <- as.integer(ceiling(n_train / batch_size))
  train_epoch <- function(epoch, pb, batch_cbs) {
    order <- if (by_batch) {
      unlist(lapply(split(seq_len(n_train) - 1L, (seq_len(n_train) - 1L) %/% batch_size), function(b) b[sample.int(length(b))]),
             use.names = FALSE)
    } else if (shuffle) sample.int(n_train) - 1L else seq_len(n_train) - 1L
    run_steps(object, pb, steps, batch_cbs, function(from, k) {
      use_shapes(object, shapes)
      rk_call(rk_fit_steps(object$ptr, data, order, batch_size, from, k))
    }, size = function(s) min(batch_size, n_train - s * batch_size))
  }
  run_training(object, epochs, initial_epoch, steps, verbose, callbacks, train_epoch, val,
               validation_freq = validation_freq, view = view)
}

#' Run an epoch's steps in chunks sized to ~0.2 s (single steps when callbacks listen to
#' batches), updating the progress bar between chunks; R regains control after each chunk,
#' so an interrupt stops training within a chunk.
#' @noRd
run_steps <- function(model, pb, steps, batch_cbs, step_fn, size) {
  s <- 0L
  chunk <- 1L
  while (s < steps) {
    k <- if (is.null(batch_cbs)) min(chunk, steps - s) else 1L
    if (!is.null(batch_cbs)) fire_batch(batch_cbs, "begin", s, list(batch = s, size = size(s)))
    t0 <- proc.time()[["elapsed"]]
    step_fn(s, k)
    dt <- proc.time()[["elapsed"]] - t0
    s <- s + k
    logs <- tracker_logs(model, training = TRUE)
    if (!is.null(batch_cbs)) {
      fire_batch(batch_cbs, "end", s - 1L, logs)
      if (isTRUE(model$stop_training)) break
    }
    progbar_update(pb, s, logs)
    chunk <- as.integer(max(1, min(1e4, round(k * 0.2 / max(dt, 1e-3)))))
  }
  list(logs = tracker_logs(model, training = TRUE, reset = TRUE), steps = s)
}

tracker_logs <- function(model, training, reset = FALSE, prefix = if (training) "" else "val_") {
  c <- model$compiled
  r_vals <- if (length(c$r_metrics)) r_metric_values(model, training, reset)
  v <- rk_call(rk_tracker(model$ptr, training, reset))
  if (length(c$r_metrics)) {
    # The engine's metrics and R's, in the order of the logs.
    n_head <- length(v) - length(c$engine_slots)
    slots <- numeric(length(c$engine_slots) + length(r_vals))
    slots[c$engine_slots] <- v[-seq_len(n_head)]
    slots[vapply(c$r_metrics, `[[`, 1L, "slot")] <- r_vals
    v <- c(v[seq_len(n_head)], slots)
  }
  names(v) <- paste0(prefix, c$log_names %||% c("loss", c$metric_names))
  as.list(v)
}

#' Start the train (or test) tracker afresh, the R metrics' sums with it
#' @noRd
tracker_reset <- function(model, training, call = rlang::caller_env()) {
  rk_call(rk_tracker(model$ptr, training, TRUE), call = call)
  model$r_metric_state[[if (training) "train" else "test"]] <- NULL
  invisible()
}

#' Metrics written in R: take the batches the engine scored since the last call, add each
#' metric's values on them to its running sums (sample-weighted for weighted metrics), and
#' return the running means
#' @noRd
r_metric_values <- function(model, training, reset) {
  which <- if (training) "train" else "test"
  rms <- model$compiled$r_metrics
  st <- model$r_metric_state[[which]] %||% list(sum = numeric(length(rms)), weight = numeric(length(rms)))
  for (b in rk_call(rk_tracker_take(model$ptr, training))) {
    for (i in seq_along(rms)) {
      v <- tryCatch(as.numeric(rms[[i]]$fn(b[[2]], b[[1]])), error = function(e) {
        rk_abort(sprintf("Metric '%s' failed: %s", rms[[i]]$name, conditionMessage(e)), "value", NULL)
      })
      rows <- nrow(b[[1]])
      w <- if (rms[[i]]$weighted && !is.null(b[[3]])) b[[3]] else rep(1, rows)
      if (length(v) == rows) {
        st$sum[[i]] <- st$sum[[i]] + sum(w * v)
        st$weight[[i]] <- st$weight[[i]] + sum(w)
      } else if (length(v) == 1) {
        st$sum[[i]] <- st$sum[[i]] + v * sum(w)
        st$weight[[i]] <- st$weight[[i]] + sum(w)
      } else {
        rk_abort(sprintf("Metric '%s' returned %d values for a batch of %d samples; it must return one per sample or one.",
                         rms[[i]]$name, length(v), rows), "value", NULL)
      }
    }
  }
  model$r_metric_state[[which]] <- if (!reset) st
  ifelse(st$weight > 0, st$sum / st$weight, NaN)
}

#' Evaluate rows `from..to-1` (0-based) of an engine dataset; returns val_* logs
#' @noRd
eval_rows <- function(model, data, batch_size, from, to, prefix = "val_", callbacks = list(), shapes = NULL) {
  tracker_reset(model, FALSE)
  chunked_rows(to - from, batch_size, function(a, b) {
    use_shapes(model, shapes)
    rk_call(rk_data_eval(model$ptr, data, batch_size, from + a, from + b))
    tracker_logs(model, training = FALSE, prefix = "")
  }, callbacks, "test")
  tracker_logs(model, training = FALSE, reset = TRUE, prefix = prefix)
}

prepare_validation <- function(model, validation_data, batch_size, call = rlang::caller_env()) {
  if (is.function(validation_data)) {
    rk_abort("A generator as `validation_data` needs fit_generator() or fit() with a generator `x`.", "value", call)
  }
  if (!is.list(validation_data) || !length(validation_data) %in% 2:3) {
    rk_abort(sprintf("`validation_data` must be list(x_val, y_val) or list(x_val, y_val, sample_weight), not %s.",
                     show_value(validation_data)), "value", call)
  }
  vx <- prepare_x(model, validation_data[[1]], "validation_data[[1]]", call)
  vy <- prepare_y(model, validation_data[[2]], nrow(vx), "validation_data[[2]]", call)
  vw <- if (length(validation_data) == 3) prepare_weights(vy, validation_data[[3]], NULL, nrow(vx), model$compiled$loss, call)
  vdata <- new_dataset(vx, vy, vw, call)
  nv <- nrow(vx)
  shapes <- attr(vx, "sample_shapes")
  function(callbacks) eval_rows(model, vdata, batch_size, 0, nv, callbacks = callbacks, shapes = shapes)
}

#' The epoch loop shared by fit() and fit_generator(): callbacks, progress, history
#' @noRd
run_training <- function(model, epochs, initial_epoch, steps, verbose, callbacks, train_epoch, validate,
                         threads = num_threads(), validation_freq = 1L, view = FALSE) {
  params <- list(verbose = verbose, epochs = epochs, steps = steps)
  on.exit(push_shared_weights(model), add = TRUE)
  for (cb in callbacks) cb$set_context(params, model)
  model$stop_training <- FALSE
  use_threads(model, threads)
  rk_call(rk_model_set(model$ptr, "fit_seed", draw_seed()))
  tracker_reset(model, TRUE)
  batch_cbs <- if (any(vapply(callbacks, overrides, logical(1), hooks = batch_hooks))) callbacks
  metrics <- list()
  n_done <- 0L
  model$resume_epoch <- NULL
  fire(callbacks, "on_train_begin", list())
  # callback_backup_and_restore() may resume from a later epoch.
  epoch <- model$resume_epoch %||% initial_epoch
  model$resume_epoch <- NULL
  first_epoch <- epoch + 1L
  # The live view: written at each epoch's end, and marked as over however training ends.
  view <- if (isTRUE(view)) start_view(model, first_epoch, epochs)
  on.exit(update_view(view, metrics, "stopped"), add = TRUE)
  while (epoch < epochs && !isTRUE(model$stop_training)) {
    if (verbose > 0) cat(sprintf("Epoch %d/%d\n", epoch + 1L, epochs))
    fire(callbacks, "on_epoch_begin", epoch, list())
    pb <- new_progbar(steps, verbose)
    res <- train_epoch(epoch, pb, batch_cbs)
    logs <- res$logs
    if (!is.null(validate) && (epoch + 1L) %% validation_freq == 0L) {
      fire(callbacks, "on_test_begin", list())
      logs <- c(logs, validate(callbacks))
      fire(callbacks, "on_test_end", list())
    }
    logs <- fire_epoch_end(callbacks, epoch, logs)
    progbar_update(pb, res$steps, logs, finalize = TRUE)
    for (k in union(names(metrics), names(logs))) {
      metrics[[k]] <- c(metrics[[k]] %||% rep(NA_real_, n_done), logs[[k]] %||% NA_real_)
    }
    n_done <- n_done + 1L
    epoch <- epoch + 1L
    update_view(view, metrics)
  }
  fire(callbacks, "on_train_end", list())
  update_view(view, metrics, "finished")
  history <- new_history(params, lapply(metrics, as.numeric))
  if (!is.null(view)) attr(history, "rkeras_view") <- list(path = view$path, model = model$name, first_epoch = first_epoch)
  invisible(history)
}
