#' Loss functions
#'
#' Pass a name (`loss = "categorical_crossentropy"`), the function itself
#' (`loss = loss_categorical_crossentropy`) or a loss object (`loss_binary_crossentropy()`)
#' to [compile()]. Called with `y_true` and `y_pred`, they compute per-sample losses in R,
#' with Keras's clipping of probabilities to `[1e-7, 1 - 1e-7]`.
#' @param y_true,y_pred Targets and predictions (samples in rows).
#' @param ... Keras's loss arguments, accepted at their defaults only: `from_logits = FALSE`,
#'   `label_smoothing = 0`, `axis = -1`, `reduction = "sum_over_batch_size"` (or `"auto"`),
#'   `name`. Other values are errors (not supported yet), as is any other argument.
#' @returns Per-sample losses, or a loss object when called without data.
#' @family losses
#' @name losses
#' @examples
#' loss_categorical_crossentropy(diag(2), matrix(c(0.9, 0.2, 0.1, 0.8), 2))
NULL

make_loss <- function(name, f) {
  g <- function(y_true, y_pred, ...) {
    check_loss_args(list(...), name)
    if (missing(y_true) && missing(y_pred)) return(structure(list(name = name), class = "rkeras_loss"))
    f(as.matrix(y_true), as.matrix(y_pred))
  }
  structure(g, rkeras_loss = name)
}

#' Keras's loss arguments at their defaults pass; anything else is refused, never ignored
#' @noRd
check_loss_args <- function(args, name, call = rlang::caller_env(2)) {
  nms <- names(args) %||% rep("", length(args))
  defaults <- list(from_logits = FALSE, label_smoothing = 0, axis = -1, reduction = c("sum_over_batch_size", "auto"))
  for (i in seq_along(args)) {
    nm <- nms[[i]]
    if (identical(nm, "name")) next
    if (!nm %in% names(defaults)) {
      rk_abort(sprintf("loss_%s() got %s it does not take.", name,
                       if (nzchar(nm)) paste0("`", nm, "`") else "an unnamed argument"), "value", call)
    }
    v <- args[[i]]
    ok <- is.atomic(v) && length(v) == 1 && !is.na(v) && (if (is.character(defaults[[nm]])) v %in% defaults[[nm]] else (is.numeric(v) || is.logical(v)) && v == defaults[[nm]])
    if (!isTRUE(ok)) {
      rk_abort(sprintf("loss_%s(%s = %s) is not supported by rkeras yet; only the default (%s) is.", name, nm,
                       show_value(v), deparse(defaults[[nm]][[1]])), "unsupported", call)
    }
  }
  invisible(NULL)
}

clip_eps <- function(p) pmin(pmax(p, 1e-7), 1 - 1e-7)

#' @rdname losses
#' @export
loss_categorical_crossentropy <- make_loss("categorical_crossentropy", function(y, p) -rowSums(y * log(clip_eps(p / rowSums(p)))))
#' @rdname losses
#' @export
loss_sparse_categorical_crossentropy <- make_loss("sparse_categorical_crossentropy", function(y, p) {
  -log(clip_eps(p[cbind(seq_len(nrow(p)), as.integer(y) + 1L)]))
})
#' @rdname losses
#' @export
loss_binary_crossentropy <- make_loss("binary_crossentropy", function(y, p) {
  q <- clip_eps(p)
  -rowMeans(y * log(q) + (1 - y) * log(1 - q))
})
#' @rdname losses
#' @export
loss_mean_squared_error <- make_loss("mean_squared_error", function(y, p) rowMeans((y - p)^2))
#' @rdname losses
#' @export
loss_mean_absolute_error <- make_loss("mean_absolute_error", function(y, p) rowMeans(abs(y - p)))

rk_losses <- c("categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
               "mse", "mean_squared_error", "mae", "mean_absolute_error")

as_loss <- function(x, call = rlang::caller_env()) {
  if (inherits(x, "rkeras_loss")) return(x$name)
  if (is.function(x)) {
    name <- attr(x, "rkeras_loss")
    if (is.null(name)) rk_abort("`loss` must be a loss name or a loss_*() function; custom R loss functions are not supported yet.", "unsupported", call)
    return(name)
  }
  check_string(x, "loss", choices = rk_losses, call = call)
}
