#' Evaluate a model
#'
#' Loss and metrics on data, in inference mode (dropout off).
#' @inheritParams fit.rkeras_model
#' @param steps For generators: number of batches.
#' @returns A named list: `loss` then each metric (`score$loss`, `score[[2]]` and
#'   `c(loss, acc) %<-% score` all work).
#' @family model functions
#' @export
#' @examples
#' x <- matrix(rnorm(20), 10)
#' model <- keras_model_sequential() %>% layer_dense(1, input_shape = 2)
#' model %>% compile(optimizer = "sgd", loss = "mse", metrics = "mae")
#' evaluate(model, x, rowSums(x), verbose = 0)
evaluate.rkeras_model <- function(object, x = NULL, y = NULL, batch_size = NULL, verbose = "auto",
                                  sample_weight = NULL, steps = NULL, callbacks = NULL, ...) {
  check_model(object)
  check_no_dots(..., fn = "evaluate()")
  if (is.function(x)) {
    return(via_fit(evaluate_generator(object, x, steps = steps, callbacks = callbacks)))
  }
  compiled <- require_compiled(object, x = x)
  batch_size <- check_count(batch_size %||% 32L, "batch_size")
  verbose <- check_verbose(verbose)
  callbacks <- as_callbacks(callbacks)
  x <- to_double(prepare_x(object, x))
  n <- nrow(x)
  y <- prepare_y(object, y, n)
  w <- prepare_weights(y, sample_weight, NULL, n, compiled$loss)
  # The engine keeps the targets; x is converted tile by tile as it is evaluated.
  targets <- new_dataset(matrix(0, n, 0), y, w)
  use_threads(object)
  fire(callbacks, "on_test_begin", list())
  steps <- as.integer(ceiling(n / batch_size))
  pb <- new_progbar(steps, verbose)
  tracker_reset(object, FALSE)
  chunked_rows(n, batch_size, function(from, to) {
    use_shapes(object, attr(x, "sample_shapes"))
    rk_call(rk_evaluate_rows(object$ptr, x, n, ncol(x), targets, from, to, batch_size))
    logs <- tracker_logs(object, FALSE, prefix = "")
    progbar_update(pb, as.integer(ceiling(to / batch_size)), logs)
    logs
  }, callbacks, "test")
  logs <- tracker_logs(object, FALSE, reset = TRUE, prefix = "")
  progbar_update(pb, steps, logs, finalize = TRUE)
  fire(callbacks, "on_test_end", logs)
  logs
}

#' @rdname evaluate.rkeras_model
#' @export
evaluate <- function(object, ...) UseMethod("evaluate")

#' Process rows `0..n` with `f(from, to)` in chunks of up to 64 batches, so R regains
#' control between them; batch by batch when a callback listens to
#' `on_<kind>_batch_begin/end`, which are then fired around each batch (0-based), the end
#' hook with the logs `f` returns (the begin hook with the batch's `size` in rows, when
#' `rows`).
#' @noRd
chunked_rows <- function(n, batch_size, f, callbacks = list(), kind = NULL, rows = TRUE) {
  hooks <- paste0("on_", kind, "_batch_", c("begin", "end"))
  listening <- Filter(function(cb) !is.null(kind) && overrides(cb, hooks), callbacks)
  # Whole batches in every chunk: a stateful model sees each batch of batch_size rows.
  per <- if (length(listening)) batch_size else batch_size * max(64, ceiling(8192 / batch_size))
  from <- 0
  while (from < n) {
    to <- min(n, from + per)
    batch <- from %/% batch_size
    if (length(listening)) fire(listening, hooks[[1]], batch, c(list(batch = batch), if (rows) list(size = to - from)))
    logs <- f(from, to)
    if (length(listening)) fire(listening, hooks[[2]], batch, logs)
    from <- to
  }
}

#' Predict with a model
#'
#' Outputs for `x` in inference mode (dropout off), batch by batch.
#' @inheritParams evaluate.rkeras_model
#' @returns A numeric matrix with one row per sample and one column per output unit.
#' @family model functions
#' @export
#' @examples
#' model <- keras_model_sequential() %>% layer_dense(3, activation = "softmax", input_shape = 2)
#' predict(model, matrix(rnorm(4), 2), verbose = 0)
predict.rkeras_model <- function(object, x, batch_size = NULL, verbose = "auto", steps = NULL,
                                 callbacks = NULL, ...) {
  check_model(object)
  check_no_dots(..., fn = "predict()")
  if (is.function(x)) return(via_fit(predict_generator(object, x, steps = steps, callbacks = callbacks)))
  batch_size <- check_count(batch_size %||% 32L, "batch_size")
  verbose <- check_verbose(verbose)
  callbacks <- as_callbacks(callbacks)
  x <- to_double(prepare_x(object, x))
  n <- nrow(x)
  use_threads(object)
  steps <- as.integer(ceiling(n / batch_size))
  pb <- new_progbar(steps, verbose)
  fire(callbacks, "on_predict_begin", list())
  parts <- list()
  # Rows are converted piece by piece as they are predicted: no full copy of x.
  chunked_rows(n, batch_size, function(from, to) {
    v <- predict_rows(object, x, from, to, batch_size)
    parts[[length(parts) + 1L]] <<- v
    progbar_update(pb, as.integer(ceiling(to / batch_size)))
    list(outputs = v)
  }, callbacks, "predict")
  progbar_update(pb, steps, finalize = TRUE)
  fire(callbacks, "on_predict_end", list())
  shape_outputs(object, if (length(parts) == 1) parts[[1]] else do.call(rbind, parts))
}

#' Single-batch training, evaluation and prediction
#'
#' One gradient step (`train_on_batch()`), one evaluation (`test_on_batch()`) or one
#' forward pass (`predict_on_batch()`) on exactly the data given.
#' @inheritParams fit.rkeras_model
#' @returns `train_on_batch()`/`test_on_batch()`: numeric `c(loss, metrics...)` (a scalar
#'   without metrics); `predict_on_batch()`: a matrix.
#' @family model functions
#' @export
#' @examples
#' model <- keras_model_sequential() %>% layer_dense(1, input_shape = 2)
#' model %>% compile(optimizer = "sgd", loss = "mse")
#' train_on_batch(model, matrix(1:4, 2), c(1, 2))
train_on_batch <- function(object, x, y, class_weight = NULL, sample_weight = NULL) {
  one_batch(object, "train", x, y, class_weight, sample_weight)
}

#' @rdname train_on_batch
#' @export
test_on_batch <- function(object, x, y, sample_weight = NULL) {
  one_batch(object, "test", x, y, NULL, sample_weight)
}

#' @rdname train_on_batch
#' @export
predict_on_batch <- function(object, x) {
  check_model(object)
  x <- to_double(prepare_x(object, x))
  use_threads(object)
  shape_outputs(object, predict_rows(object, x, 0, nrow(x), nrow(x)))
}

#' Outputs for rows `from..to-1` (0-based) of the matrix `x`, in batches of `batch_size`
#' (converted tile by tile in the engine: no copy of `x`)
#' @noRd
predict_rows <- function(object, x, from, to, batch_size) {
  use_shapes(object, attr(x, "sample_shapes"))
  v <- rk_call(rk_predict_rows(object$ptr, x, nrow(x), ncol(x), from, to, batch_size))
  dim(v) <- c(to - from, output_units(object))
  v
}

to_double <- function(x) {
  if (!is.integer(x) && !is.double(x)) storage.mode(x) <- "double"
  x
}

one_batch <- function(object, mode, x, y, class_weight, sample_weight, call = rlang::caller_env()) {
  check_model(object, call = call)
  compiled <- require_compiled(object, call, x = x)
  x <- prepare_x(object, x, call = call)
  y <- prepare_y(object, y, nrow(x), call = call)
  w <- prepare_weights(y, sample_weight, class_weight, nrow(x), compiled$loss, call)
  training <- mode == "train"
  use_threads(object, call = call)
  tracker_reset(object, training, call = call)
  rk_call(rk_batch(object$ptr, mode, to_double(x), nrow(x), ncol(x), to_double(y), ncol(y), w, FALSE), call = call)
  if (training) push_shared_weights(object)
  v <- unlist(tracker_logs(object, training, reset = TRUE, prefix = ""))
  unname(v)
}

#' Class predictions and probabilities (deprecated)
#'
#' What Keras for R 2.x's `predict_classes()` and `predict_proba()` returned, with the
#' deprecation warning it gave: `predict_proba()` is [predict()]; `predict_classes()` gives
#' 0-based class ids, the largest output of a multi-unit output, or `output > 0.5` of a
#' one-unit (sigmoid) output, as an integer matrix of one column (one-unit) or a vector.
#' @inheritParams predict.rkeras_model
#' @returns `predict_proba()`: as [predict()]. `predict_classes()`: integer class ids.
#' @family model functions
#' @export
#' @examples
#' model <- keras_model_sequential() %>% layer_dense(3, activation = "softmax", input_shape = 2)
#' suppressWarnings(predict_classes(model, matrix(rnorm(4), 2)))
predict_classes <- function(object, x, batch_size = NULL, verbose = 0, steps = NULL) {
  warning(paste("`predict_classes()` is deprecated and was removed from Keras;",
                "use `predict(x) %>% k_argmax()` (softmax output) or `(predict(x) > 0.5) + 0L` (sigmoid output)."),
          call. = FALSE)
  p <- predict(object, x, batch_size = batch_size, verbose = verbose, steps = steps)
  if (is.list(p)) rk_abort("predict_classes() needs a model with one output.", "value")
  if (is.null(dim(p)) || length(dim(p)) != 2) {
    rk_abort("predict_classes() needs an output of shape (batch, units).", "shape")
  }
  if (ncol(p) == 1) return(matrix(as.integer(p > 0.5), ncol = 1))
  max.col(p, ties.method = "first") - 1L
}

#' @rdname predict_classes
#' @export
predict_proba <- function(object, x, batch_size = NULL, verbose = 0, steps = NULL) {
  warning("`predict_proba()` is deprecated and was removed from Keras; use `predict()` instead.", call. = FALSE)
  predict(object, x, batch_size = batch_size, verbose = verbose, steps = steps)
}
