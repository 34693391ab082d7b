#' Metrics
#'
#' Metrics are given to [compile()] by name: `"accuracy"` (or `"acc"`, resolved from the
#' loss to categorical, sparse categorical or binary accuracy as Keras does), `"mae"`,
#' `"mse"`, `"mean_absolute_error"`, `"mean_squared_error"`, `"categorical_accuracy"`,
#' `"binary_accuracy"`, `"sparse_categorical_accuracy"`, or as the functions below.
#' History and logs name each metric by the string given.
#' @param y_true,y_pred Targets and predictions.
#' @param ... Unused.
#' @returns Per-sample metric values.
#' @family metrics
#' @name metrics
#' @examples
#' metric_binary_accuracy(c(1, 0), c(0.8, 0.7))
NULL

make_metric <- function(name, f) structure(function(y_true, y_pred, ...) f(as.matrix(y_true), as.matrix(y_pred)),
                                           rkeras_metric = name)
#' @rdname metrics
#' @export
metric_binary_accuracy <- make_metric("binary_accuracy", function(y, p) rowMeans((p > 0.5) == (y > 0.5)))
#' @rdname metrics
#' @export
metric_categorical_accuracy <- make_metric("categorical_accuracy", function(y, p) as.numeric(max.col(p, "first") == max.col(y, "first")))
#' @rdname metrics
#' @export
metric_sparse_categorical_accuracy <- make_metric("sparse_categorical_accuracy", function(y, p) as.numeric(max.col(p, "first") - 1 == y[, 1]))
#' @rdname metrics
#' @export
metric_mean_absolute_error <- make_metric("mean_absolute_error", function(y, p) rowMeans(abs(y - p)))
#' @rdname metrics
#' @export
metric_mean_squared_error <- make_metric("mean_squared_error", function(y, p) rowMeans((y - p)^2))

#' Resolve metric names: returns list(names = as shown in logs, kinds = engine names)
#' @noRd
as_metrics <- function(metrics, loss, call = rlang::caller_env()) {
  if (is.null(metrics)) return(list(names = character(), kinds = character()))
  if (is.function(metrics) || is.character(metrics)) metrics <- as.list(if (is.function(metrics)) list(metrics) else metrics)
  if (!is.list(metrics)) rk_abort(sprintf("`metrics` must be a character vector or list of metrics, not %s.", show_value(metrics)), "type", call)
  names_out <- character()
  kinds <- character()
  for (m in metrics) {
    if (is.function(m)) {
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
