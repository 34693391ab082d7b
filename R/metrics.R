#' Metrics
#'
#' Metrics are given to [compile()] by name: `"accuracy"` (or `"acc"`, resolved from the
#' loss to categorical, sparse categorical or binary accuracy as Keras does), `"mae"`,
#' `"mse"`, `"mean_absolute_error"`, `"mean_squared_error"`, `"categorical_accuracy"`,
#' `"binary_accuracy"`, `"sparse_categorical_accuracy"`, or as the functions below: the
#' function itself (`metrics = metric_binary_accuracy`) or a metric object made by calling it
#' without data (`metrics = metric_binary_accuracy(threshold = 0)`). History and logs name
#' each metric by the string given, or by the object's `name`.
#' @param y_true,y_pred Targets and predictions.
#' @param ... Called without data: `name` (the name in logs) and, for binary accuracy,
#'   `threshold` (predictions above it count as 1, compared with the targets as Keras 3
#'   does; default 0.5); `dtype` is accepted. Any other argument is an error.
#' @returns Per-sample metric values, or a metric object when called without data.
#' @family metrics
#' @name metrics
#' @examples
#' metric_binary_accuracy(c(1, 0), c(0.8, 0.7))
NULL

make_metric <- function(name, f) {
  g <- function(y_true, y_pred, ...) {
    args <- metric_args(list(...), name)
    if (missing(y_true) && missing(y_pred)) {
      kind <- if (args$threshold != 0.5) paste0(name, "+t=", format(args$threshold, digits = 9)) else name
      return(structure(list(name = args$name, kind = kind), class = "rkeras_metric"))
    }
    f(as.matrix(y_true), as.matrix(y_pred), args$threshold)
  }
  structure(g, rkeras_metric = name)
}

#' A metric's arguments: `name`, `dtype`, and `threshold` for binary accuracy
#' @noRd
metric_args <- function(args, name, call = rlang::caller_env(2)) {
  nms <- names(args) %||% rep("", length(args))
  out <- list(name = name, threshold = 0.5)
  for (i in seq_along(args)) {
    nm <- nms[[i]]
    if (nm == "name") out$name <- check_string(args[[i]], "name", call = call)
    else if (nm == "dtype") next
    else if (nm == "threshold" && name == "binary_accuracy") out$threshold <- check_number(args[[i]], "threshold", call = call)
    else rk_abort(sprintf("metric_%s() got %s it does not take.", name,
                          if (nzchar(nm)) paste0("`", nm, "`") else "an unnamed argument"), "value", call)
  }
  out
}
#' @rdname metrics
#' @export
metric_binary_accuracy <- make_metric("binary_accuracy", function(y, p, threshold) rowMeans(y == (p > threshold)))
#' @rdname metrics
#' @export
metric_categorical_accuracy <- make_metric("categorical_accuracy", function(y, p, threshold) as.numeric(max.col(p, "first") == max.col(y, "first")))
#' @rdname metrics
#' @export
metric_sparse_categorical_accuracy <- make_metric("sparse_categorical_accuracy", function(y, p, threshold) as.numeric(max.col(p, "first") - 1 == y[, 1]))
#' @rdname metrics
#' @export
metric_mean_absolute_error <- make_metric("mean_absolute_error", function(y, p, threshold) rowMeans(abs(y - p)))
#' @rdname metrics
#' @export
metric_mean_squared_error <- make_metric("mean_squared_error", function(y, p, threshold) rowMeans((y - p)^2))

#' Resolve metric names: returns list(names = as shown in logs, kinds = engine names)
#' @noRd
as_metrics <- function(metrics, loss, call = rlang::caller_env()) {
  if (is.null(metrics)) return(list(names = character(), kinds = character()))
  if (inherits(metrics, "rkeras_metric")) metrics <- list(metrics)
  if (is.function(metrics) || is.character(metrics)) metrics <- as.list(if (is.function(metrics)) list(metrics) else metrics)
  if (!is.list(metrics)) rk_abort(sprintf("`metrics` must be a character vector or list of metrics, not %s.", show_value(metrics)), "type", call)
  names_out <- character()
  kinds <- character()
  for (m in metrics) {
    if (inherits(m, "rkeras_metric")) {
      nm <- m$name
      kind <- m$kind
    } else if (is.function(m)) {
      nm <- attr(m, "rkeras_metric")
      if (is.null(nm)) rk_abort("`metrics` must contain metric names or metric_*() functions; custom R metrics are not supported yet.", "unsupported", call)
      kind <- nm
    } else {
      nm <- check_string(m, "metrics", call = call)
      kind <- switch(nm,
        accuracy = , acc = switch(loss,
          binary_crossentropy = "binary_accuracy",
          sparse_categorical_crossentropy = "sparse_categorical_accuracy",
          "categorical_accuracy"),
        mae = , mean_absolute_error = "mean_absolute_error",
        mse = , mean_squared_error = "mean_squared_error",
        categorical_accuracy = , binary_accuracy = , sparse_categorical_accuracy = nm,
        rk_abort(sprintf("Unknown metric %s; rkeras supports \"accuracy\", \"acc\", \"mae\", \"mse\" and the *_accuracy metrics.",
                         encodeString(nm, quote = "\"")), "value", call))
    }
    names_out <- c(names_out, nm)
    kinds <- c(kinds, kind)
  }
  list(names = names_out, kinds = kinds)
}
