#' Loss functions
#'
#' Pass a name (`loss = "categorical_crossentropy"`), the function itself
#' (`loss = loss_categorical_crossentropy`) or a loss object (`loss_binary_crossentropy()`)
#' to [compile()]. Called with `y_true` and `y_pred`, they compute per-sample losses in R,
#' with Keras's clipping of probabilities to `[1e-7, 1 - 1e-7]`.
#' @param y_true,y_pred Targets and predictions (samples in rows).
#' @param ... Keras's loss arguments: `from_logits` (the crossentropies: `y_pred` holds
#'   logits, and the loss is computed through log-sum-exp), `label_smoothing` (categorical and
#'   binary crossentropy: targets become `y * (1 - ls) + ls / classes`, with 2 classes for
#'   binary), `name`; `axis = -1` and `reduction = "sum_over_batch_size"` (or `"auto"`) only
#'   at their defaults. Any other argument or value is an error.
#' @returns Per-sample losses, or a loss object when called without data.
#' @family losses
#' @name losses
#' @examples
#' loss_categorical_crossentropy(diag(2), matrix(c(0.9, 0.2, 0.1, 0.8), 2))
NULL

make_loss <- function(name, f) {
  g <- function(y_true, y_pred, ...) {
    opts <- check_loss_args(list(...), name)
    if (missing(y_true) && missing(y_pred)) {
      return(structure(c(list(name = name), opts), class = "rkeras_loss"))
    }
    f(as.matrix(y_true), as.matrix(y_pred), opts)
  }
  structure(g, rkeras_loss = name)
}

#' Keras's loss arguments: `from_logits` (the crossentropies) and `label_smoothing`
#' (categorical and binary crossentropy) as Keras computes them; `axis`, `reduction` and
#' `name` at their defaults; anything else is refused, never ignored. Returns the options.
#' @noRd
check_loss_args <- function(args, name, call = rlang::caller_env(2)) {
  nms <- names(args) %||% rep("", length(args))
  crossentropy <- grepl("crossentropy", name)
  smoothable <- name %in% c("categorical_crossentropy", "binary_crossentropy")
  opts <- list(from_logits = FALSE, label_smoothing = 0)
  defaults <- list(axis = -1, reduction = c("sum_over_batch_size", "auto"))
  for (i in seq_along(args)) {
    nm <- nms[[i]]
    v <- args[[i]]
    if (identical(nm, "name")) next
    if (identical(nm, "from_logits") && crossentropy) {
      opts$from_logits <- check_flag(v, "from_logits", call = call)
      next
    }
    if (identical(nm, "label_smoothing") && smoothable) {
      opts$label_smoothing <- check_number(v, "label_smoothing", min = 0, max = 0.999999, call = call)
      next
    }
    if (!nm %in% c(names(defaults), "from_logits", "label_smoothing")) {
      rk_abort(sprintf("loss_%s() got %s it does not take.", name,
                       if (nzchar(nm)) paste0("`", nm, "`") else "an unnamed argument"), "value", call)
    }
    want <- defaults[[nm]] %||% (if (nm == "from_logits") FALSE else 0)
    ok <- is.atomic(v) && length(v) == 1 && !is.na(v) &&
      (if (is.character(want)) v %in% want else (is.numeric(v) || is.logical(v)) && v == want)
    if (!isTRUE(ok)) {
      rk_abort(sprintf("loss_%s(%s = %s) is not supported by rkeras yet; only the default (%s) is.", name, nm,
                       show_value(v), deparse(want[[1]])), "unsupported", call)
    }
  }
  opts
}

clip_eps <- function(p) pmin(pmax(p, 1e-7), 1 - 1e-7)

# Targets moved towards uniform, as Keras's label smoothing does.
smooth_targets <- function(y, ls, classes) if (ls > 0) y * (1 - ls) + ls / classes else y

# Row-wise log(sum(exp(z))), stable for large logits.
log_sum_exp <- function(z) {
  m <- apply(z, 1, max)
  m + log(rowSums(exp(z - m)))
}

#' @rdname losses
#' @export
loss_categorical_crossentropy <- make_loss("categorical_crossentropy", function(y, p, opts) {
  y <- smooth_targets(y, opts$label_smoothing, ncol(y))
  if (opts$from_logits) return(rowSums(y * (log_sum_exp(p) - p)))
  -rowSums(y * log(clip_eps(p / rowSums(p))))
})
#' @rdname losses
#' @export
loss_sparse_categorical_crossentropy <- make_loss("sparse_categorical_crossentropy", function(y, p, opts) {
  picked <- p[cbind(seq_len(nrow(p)), as.integer(y) + 1L)]
  if (opts$from_logits) return(log_sum_exp(p) - picked)
  -log(clip_eps(picked))
})
#' @rdname losses
#' @export
loss_binary_crossentropy <- make_loss("binary_crossentropy", function(y, p, opts) {
  y <- smooth_targets(y, opts$label_smoothing, 2)
  if (opts$from_logits) return(rowMeans(pmax(p, 0) - p * y + log1p(exp(-abs(p)))))
  q <- clip_eps(p)
  -rowMeans(y * log(q) + (1 - y) * log(1 - q))
})
#' @rdname losses
#' @export
loss_mean_squared_error <- make_loss("mean_squared_error", function(y, p, opts) rowMeans((y - p)^2))
#' @rdname losses
#' @export
loss_mean_absolute_error <- make_loss("mean_absolute_error", function(y, p, opts) rowMeans(abs(y - p)))

rk_losses <- c("categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
               "mse", "mean_squared_error", "mae", "mean_absolute_error")

as_loss <- function(x, call = rlang::caller_env()) {
  if (inherits(x, "rkeras_loss")) {
    # The engine's form: the name, then its options (`categorical_crossentropy+logits+ls=0.1`).
    return(paste0(x$name, if (isTRUE(x$from_logits)) "+logits",
                  if (!is.null(x$label_smoothing) && x$label_smoothing > 0) paste0("+ls=", format(x$label_smoothing, digits = 9))))
  }
  if (is.function(x)) {
    name <- attr(x, "rkeras_loss")
    if (is.null(name)) rk_abort("`loss` must be a loss name or a loss_*() function; custom R loss functions are not supported yet.", "unsupported", call)
    return(name)
  }
  check_string(x, "loss", choices = rk_losses, call = call)
}
