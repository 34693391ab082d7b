#' Metrics
#'
#' Metrics are given to [compile()] by name: `"accuracy"` (or `"acc"`, resolved from the
#' loss to categorical, sparse categorical or binary accuracy as Keras does), `"mae"`,
#' `"mse"`, `"mape"`, `"msle"`, `"auc"`, `"precision"`, `"recall"`, a metric's full name
#' (`"top_k_categorical_accuracy"`, `"root_mean_squared_error"`, ...) or a loss's name (the
#' loss as a metric); or as the functions below: the function itself
#' (`metrics = metric_binary_accuracy`) or a metric object made by calling it without data
#' (`metrics = metric_binary_accuracy(threshold = 0)`, `metric_auc(curve = "PR")`). History
#' and logs name each metric by the string given, or by the object's `name`. Metrics written
#' in R are given with [custom_metric()] or as plain functions.
#'
#' As in Keras, `metrics` are not weighted by `sample_weight` or `class_weight`;
#' `compile(weighted_metrics = )` are. Precision, recall, AUC, the counts of true and false
#' positives and negatives, and the rates at a given rate (`metric_precision_at_recall()`:
#' the best precision over thresholds where recall is at least `recall`; likewise recall at
#' precision, sensitivity at specificity and specificity at sensitivity) accumulate counts
#' over the epoch (Keras's confusion-matrix metrics); the others are means over samples.
#' @param y_true,y_pred Targets and predictions.
#' @param ... Called without data: `name` (the name in logs), `dtype` (accepted), and the
#'   metric's own arguments with Keras's defaults: `threshold` (binary accuracy, 0.5:
#'   predictions above it count as 1); `k` (top-k accuracies, 5); `from_logits` and
#'   `label_smoothing` (the crossentropies); `thresholds` (one number), `top_k` and
#'   `class_id` (precision and recall; with `top_k`, only each row's `k` largest predictions
#'   count as positive); `num_thresholds` (200), `curve` (`"ROC"` or `"PR"`),
#'   `summation_method` (`"interpolation"`, `"minoring"`, `"majoring"`) and `from_logits`
#'   (AUC); `thresholds` (one number, 0.5) for the counts; `recall`, `precision`,
#'   `specificity` or `sensitivity` (required), `num_thresholds` (200) and `class_id` for
#'   the rates at a rate; `axis = -1` (cosine similarity). AUC's `thresholds`, `multi_label`, `num_labels`
#'   and `label_weights` are supported only at their defaults. Any other argument is an
#'   error.
#' @returns Per-sample metric values (one value over all rows for the confusion-matrix
#'   metrics), or a metric object when called without data.
#' @family metrics
#' @name metrics
#' @examples
#' metric_binary_accuracy(c(1, 0), c(0.8, 0.7))
NULL

#' How each metric reads its arguments: defaults, and the engine's form (`spec`)
#' @noRd
metric_defs <- local({
  plain <- function(kind) list(defaults = list(), spec = function(a) kind)
  lossy <- function(loss) {
    list(defaults = list(from_logits = FALSE, label_smoothing = 0, delta = 1)[loss_options[[loss]]],
         spec = function(a) paste0("loss:", loss_spec(loss, a)))
  }
  num <- function(x) format(x, digits = 9)
  confusion <- function(kind) {
    list(defaults = list(thresholds = NULL, top_k = NULL, class_id = NULL),
         spec = function(a) paste0(kind, if (!is.null(a$thresholds)) paste0("+t=", num(a$thresholds)),
                                   if (!is.null(a$top_k)) paste0("+top_k=", a$top_k),
                                   if (!is.null(a$class_id)) paste0("+class_id=", a$class_id)))
  }
  top_k <- function(kind) list(defaults = list(k = 5), spec = function(a) paste0(kind, "+k=", a$k))
  count <- function(kind) {
    list(defaults = list(thresholds = NULL),
         spec = function(a) paste0(kind, if (!is.null(a$thresholds)) paste0("+t=", num(a$thresholds))))
  }
  # The best rate where another reaches `arg` (a required argument).
  at <- function(kind, arg) {
    list(defaults = stats::setNames(list(NULL, 200, NULL), c(arg, "num_thresholds", "class_id")), required = arg,
         spec = function(a) paste0(kind, if (!is.null(a[[arg]])) paste0("+v=", num(a[[arg]])),
                                   if (a$num_thresholds != 200) paste0("+n=", a$num_thresholds),
                                   if (!is.null(a$class_id)) paste0("+class_id=", a$class_id)))
  }
  list(
    binary_accuracy = list(defaults = list(threshold = 0.5),
                           spec = function(a) if (a$threshold != 0.5) paste0("binary_accuracy+t=", num(a$threshold)) else "binary_accuracy"),
    categorical_accuracy = plain("categorical_accuracy"),
    sparse_categorical_accuracy = plain("sparse_categorical_accuracy"),
    top_k_categorical_accuracy = top_k("top_k_categorical_accuracy"),
    sparse_top_k_categorical_accuracy = top_k("sparse_top_k_categorical_accuracy"),
    mean_absolute_error = plain("mean_absolute_error"),
    mean_squared_error = plain("mean_squared_error"),
    root_mean_squared_error = plain("root_mean_squared_error"),
    cosine_similarity = list(defaults = list(axis = -1), spec = function(a) "cosine_similarity"),
    binary_crossentropy = lossy("binary_crossentropy"),
    categorical_crossentropy = lossy("categorical_crossentropy"),
    sparse_categorical_crossentropy = lossy("sparse_categorical_crossentropy"),
    mean_absolute_percentage_error = lossy("mean_absolute_percentage_error"),
    mean_squared_logarithmic_error = lossy("mean_squared_logarithmic_error"),
    hinge = lossy("hinge"),
    squared_hinge = lossy("squared_hinge"),
    categorical_hinge = lossy("categorical_hinge"),
    logcosh = lossy("log_cosh"),
    poisson = lossy("poisson"),
    kl_divergence = lossy("kl_divergence"),
    precision = confusion("precision"),
    recall = confusion("recall"),
    true_positives = count("true_positives"),
    false_positives = count("false_positives"),
    true_negatives = count("true_negatives"),
    false_negatives = count("false_negatives"),
    precision_at_recall = at("precision_at_recall", "recall"),
    recall_at_precision = at("recall_at_precision", "precision"),
    sensitivity_at_specificity = at("sensitivity_at_specificity", "specificity"),
    specificity_at_sensitivity = at("specificity_at_sensitivity", "sensitivity"),
    auc = list(defaults = list(num_thresholds = 200, curve = "ROC", summation_method = "interpolation",
                               thresholds = NULL, multi_label = FALSE, num_labels = NULL, label_weights = NULL,
                               from_logits = FALSE),
               spec = function(a) paste0("auc", if (a$num_thresholds != 200) paste0("+n=", a$num_thresholds),
                                         if (a$curve != "ROC") paste0("+curve=", a$curve),
                                         if (a$summation_method != "interpolation") paste0("+sum=", a$summation_method),
                                         if (a$from_logits) "+logits"))
  )
})

#' Metric strings `compile()` takes besides the names above, and what they mean
#' @noRd
metric_aliases <- c(mae = "mean_absolute_error", mse = "mean_squared_error", mape = "mean_absolute_percentage_error",
                    msle = "mean_squared_logarithmic_error", AUC = "auc", log_cosh = "logcosh",
                    kullback_leibler_divergence = "kl_divergence", kld = "kl_divergence")

#' A metric's arguments, checked, over its defaults
#' @noRd
metric_args <- function(args, name, call = rlang::caller_env(2)) {
  def <- metric_defs[[name]]$defaults
  nms <- names(args) %||% rep("", length(args))
  out <- c(def, list(name = name))
  for (i in seq_along(args)) {
    nm <- nms[[i]]
    v <- args[[i]]
    if (nm == "dtype") next
    if (!nm %in% c(names(def), "name")) {
      rk_abort(sprintf("metric_%s() got %s it does not take.", name,
                       if (nzchar(nm)) paste0("`", nm, "`") else "an unnamed argument"), "value", call)
    }
    if (is.null(v) && nm %in% names(def) && !is.null(def[[nm]])) {
      rk_abort(sprintf("`%s` must be given a value, not NULL.", nm), "value", call)
    }
    out[nm] <- list(if (is.null(v)) NULL else switch(nm,
      name = check_string(v, "name", call = call),
      threshold = check_number(v, "threshold", call = call),
      k = , top_k = check_count(v, nm, call = call),
      class_id = check_count(v, "class_id", min = 0, call = call),
      thresholds = check_number(v, "thresholds", call = call),
      from_logits = , multi_label = check_flag(v, nm, call = call),
      label_smoothing = check_number(v, "label_smoothing", min = 0, max = 0.999999, call = call),
      delta = check_number(v, "delta", min = 0, call = call),
      num_thresholds = check_count(v, "num_thresholds", min = if (name == "auc") 2 else 1, max = 1e6, call = call),
      recall = , precision = , specificity = , sensitivity = check_number(v, nm, min = 0, max = 1, call = call),
      curve = check_string(v, "curve", choices = c("ROC", "PR"), call = call),
      summation_method = check_string(v, "summation_method", choices = c("interpolation", "minoring", "majoring"), call = call),
      v))
  }
  required <- metric_defs[[name]]$required
  if (!is.null(required) && is.null(out[[required]])) {
    rk_abort(sprintf("metric_%s() needs `%s`, a number in [0, 1].", name, required), "value", call)
  }
  fixed <- intersect(c("axis", "multi_label", "num_labels", "label_weights"), names(def))
  if (name == "auc") fixed <- c(fixed, "thresholds")
  for (nm in fixed) {
    if (!identical(out[[nm]], def[[nm]]) && !(nm == "axis" && identical(as.numeric(out[[nm]]), -1))) {
      rk_abort(sprintf("metric_%s(%s = %s) is not supported by rkeras yet; only the default is.", name, nm,
                       show_value(out[[nm]])), "unsupported", call)
    }
  }
  out
}

make_metric <- function(name, display = name) {
  g <- function(y_true, y_pred, ...) {
    a <- metric_args(list(...), name)
    kind <- metric_defs[[name]]$spec(a)
    if (missing(y_true) && missing(y_pred)) {
      return(structure(list(name = if (identical(a$name, name)) display else a$name, kind = kind), class = "rkeras_metric"))
    }
    values_on_data(kind, y_true, y_pred)
  }
  structure(g, rkeras_metric = display, rkeras_kind = metric_defs[[name]]$spec(c(metric_defs[[name]]$defaults, list(name = name))))
}
#' @rdname metrics
#' @export
metric_binary_accuracy <- make_metric("binary_accuracy")
#' @rdname metrics
#' @export
metric_categorical_accuracy <- make_metric("categorical_accuracy")
#' @rdname metrics
#' @export
metric_sparse_categorical_accuracy <- make_metric("sparse_categorical_accuracy")
#' @rdname metrics
#' @export
metric_top_k_categorical_accuracy <- make_metric("top_k_categorical_accuracy")
#' @rdname metrics
#' @export
metric_sparse_top_k_categorical_accuracy <- make_metric("sparse_top_k_categorical_accuracy")
#' @rdname metrics
#' @export
metric_mean_absolute_error <- make_metric("mean_absolute_error")
#' @rdname metrics
#' @export
metric_mean_squared_error <- make_metric("mean_squared_error")
#' @rdname metrics
#' @export
metric_root_mean_squared_error <- make_metric("root_mean_squared_error")
#' @rdname metrics
#' @export
metric_cosine_similarity <- make_metric("cosine_similarity")
#' @rdname metrics
#' @export
metric_binary_crossentropy <- make_metric("binary_crossentropy")
#' @rdname metrics
#' @export
metric_categorical_crossentropy <- make_metric("categorical_crossentropy")
#' @rdname metrics
#' @export
metric_sparse_categorical_crossentropy <- make_metric("sparse_categorical_crossentropy")
#' @rdname metrics
#' @export
metric_mean_absolute_percentage_error <- make_metric("mean_absolute_percentage_error")
#' @rdname metrics
#' @export
metric_mean_squared_logarithmic_error <- make_metric("mean_squared_logarithmic_error")
#' @rdname metrics
#' @export
metric_hinge <- make_metric("hinge")
#' @rdname metrics
#' @export
metric_squared_hinge <- make_metric("squared_hinge")
#' @rdname metrics
#' @export
metric_categorical_hinge <- make_metric("categorical_hinge")
#' @rdname metrics
#' @export
metric_logcosh_error <- make_metric("logcosh")
#' @rdname metrics
#' @export
metric_poisson <- make_metric("poisson")
#' @rdname metrics
#' @export
metric_kullback_leibler_divergence <- make_metric("kl_divergence", "kullback_leibler_divergence")
#' @rdname metrics
#' @export
metric_kl_divergence <- make_metric("kl_divergence")
#' @rdname metrics
#' @export
metric_precision <- make_metric("precision")
#' @rdname metrics
#' @export
metric_recall <- make_metric("recall")
#' @rdname metrics
#' @export
metric_auc <- make_metric("auc")
#' @rdname metrics
#' @export
metric_true_positives <- make_metric("true_positives")
#' @rdname metrics
#' @export
metric_false_positives <- make_metric("false_positives")
#' @rdname metrics
#' @export
metric_true_negatives <- make_metric("true_negatives")
#' @rdname metrics
#' @export
metric_false_negatives <- make_metric("false_negatives")
#' @rdname metrics
#' @export
metric_precision_at_recall <- make_metric("precision_at_recall")
#' @rdname metrics
#' @export
metric_recall_at_precision <- make_metric("recall_at_precision")
#' @rdname metrics
#' @export
metric_sensitivity_at_specificity <- make_metric("sensitivity_at_specificity")
#' @rdname metrics
#' @export
metric_specificity_at_sensitivity <- make_metric("specificity_at_sensitivity")

#' A metric written in R
#'
#' Wraps `metric_fn(y_true, y_pred)` as a metric named `name` for [compile()] (a plain
#' function in `metrics` works too, named by its name in the list, else `"custom_metric"`).
#' It is computed by R on each batch's targets and predictions as R matrices (samples in
#' rows; a sequence output's steps side by side), after the engine scored the batch, and
#' averaged over the epoch by sample as Keras's `MeanMetricWrapper` does: a function that
#' returns one value per sample gives the mean over samples; one that returns one value per
#' batch is weighted by the batch's size. Its cost is R's time on every batch, during which
#' the engine waits; models with one output only.
#' @param name The metric's name in logs and history.
#' @param metric_fn A function of `(y_true, y_pred)` returning per-sample values or one value.
#' @returns A metric for [compile()].
#' @family metrics
#' @export
#' @examples
#' within_tenth <- custom_metric("within_tenth", function(y_true, y_pred) {
#'   rowMeans(abs(y_true - y_pred) < 0.1)
#' })
custom_metric <- function(name, metric_fn) {
  name <- check_string(name, "name")
  if (!is.function(metric_fn)) rk_abort(sprintf("`metric_fn` must be a function of (y_true, y_pred), not %s.", show_value(metric_fn)), "type")
  structure(list(name = name, fn = metric_fn), class = "rkeras_r_metric")
}

#' Resolve metrics: returns list(names = as shown in logs, kinds = engine forms, or NA for a
#' metric written in R, fns = those R functions)
#' @noRd
as_metrics <- function(metrics, loss, call = rlang::caller_env()) {
  out <- list(names = character(), kinds = character(), fns = list())
  if (is.null(metrics)) return(out)
  if (inherits(metrics, c("rkeras_metric", "rkeras_r_metric")) || is.function(metrics)) metrics <- list(metrics)
  if (is.character(metrics)) metrics <- as.list(metrics)
  if (!is.list(metrics)) rk_abort(sprintf("`metrics` must be a character vector or list of metrics, not %s.", show_value(metrics)), "type", call)
  labels <- names(metrics) %||% rep("", length(metrics))
  for (i in seq_along(metrics)) {
    m <- metrics[[i]]
    fn <- NULL
    if (inherits(m, "rkeras_metric")) {
      nm <- m$name
      kind <- m$kind
    } else if (inherits(m, "rkeras_r_metric")) {
      nm <- m$name
      kind <- NA_character_
      fn <- m$fn
    } else if (is.function(m)) {
      nm <- attr(m, "rkeras_metric")
      kind <- attr(m, "rkeras_kind")
      if (is.null(nm)) {
        nm <- if (nzchar(labels[[i]])) labels[[i]] else "custom_metric"
        kind <- NA_character_
        fn <- m
      }
    } else {
      nm <- check_string(m, "metrics", call = call)
      key <- if (nm %in% names(metric_aliases)) metric_aliases[[nm]] else nm
      kind <- if (nm %in% c("accuracy", "acc")) {
        switch(loss,
          binary_crossentropy = "binary_accuracy",
          sparse_categorical_crossentropy = "sparse_categorical_accuracy",
          "categorical_accuracy")
      } else if (!is.null(metric_defs[[key]])) {
        metric_defs[[key]]$spec(c(metric_defs[[key]]$defaults, list(name = key)))
      } else if (canonical_loss(nm) %in% names(loss_options)) {
        paste0("loss:", canonical_loss(nm))
      } else {
        rk_abort(sprintf("Unknown metric %s; rkeras supports \"accuracy\", \"acc\", the metric_*() names (%s) and the loss names.",
                         encodeString(nm, quote = "\""), paste(names(metric_defs), collapse = ", ")), "value", call)
      }
    }
    out$names <- c(out$names, nm)
    out$kinds <- c(out$kinds, kind)
    out$fns <- c(out$fns, list(fn))
  }
  out
}
