# Shaping user data for the engine: x and y as matrices with samples in rows, class and
# sample weights folded into one weight vector, all checked with messages that name the argument.

require_compiled <- function(model, call = rlang::caller_env()) {
  if (is.null(model$compiled)) {
    rk_abort("The model must be compiled before training or evaluation; call compile() first.", "state", call)
  }
  model$compiled
}

#' Check x against the model and build it on first use
#' @noRd
prepare_x <- function(model, x, arg = "x", call = rlang::caller_env()) {
  x <- as_sample_matrix(x, arg, call)
  info <- model_layers(model)
  if (!length(info$name)) rk_abort("The model has no layers; add some with layer_dense() first.", "state", call)
  if (!info$built) {
    rk_call(rk_model_build(model$ptr, ncol(x)), call = call)
    model_changed(model)
  } else if (info$input_dim != ncol(x)) {
    rk_abort(sprintf("layer '%s' expects %d input features, got %d (`%s` has shape (%s)).",
                     info$name[[1]], info$input_dim, ncol(x), arg,
                     paste(c("n", ncol(x)), collapse = ", ")), "shape", call)
  }
  x
}

output_units <- function(model) {
  info <- model_layers(model)
  info$units[[length(info$units)]]
}

#' Targets as an n x yc matrix in the layout the loss expects
#' @noRd
prepare_y <- function(model, y, n, arg = "y", call = rlang::caller_env()) {
  compiled <- require_compiled(model, call)
  if (is.null(y)) rk_abort(sprintf("`%s` must be given to train or evaluate.", arg), "value", call)
  y <- as_sample_matrix(y, arg, call)
  if (nrow(y) != n) {
    rk_abort(sprintf("`x` and `%s` must have the same number of samples: x has %d, %s has %d.", arg, n, arg, nrow(y)),
             "shape", call)
  }
  units <- output_units(model)
  if (compiled$loss == "sparse_categorical_crossentropy") {
    if (ncol(y) != 1) {
      rk_abort(sprintf("`%s` must hold one class id per sample for sparse_categorical_crossentropy, but has %d columns.",
                       arg, ncol(y)), "shape", call)
    }
    bad <- which(is.na(y) | y < 0 | y >= units | y != round(y))
    if (length(bad)) {
      rk_abort(sprintf("`%s` must hold class ids 0..%d for the model's %d outputs; sample %d has %s.",
                       arg, units - 1L, units, bad[[1]], format(y[bad[[1]]])), "value", call)
    }
  } else if (ncol(y) != units) {
    hint <- if (ncol(y) == 1 && units > 1 && compiled$loss == "categorical_crossentropy")
      " Use to_categorical() to one-hot encode class ids, or the sparse_categorical_crossentropy loss." else ""
    rk_abort(sprintf("`%s` has %d columns but the model's last layer '%s' has %d units.%s",
                     arg, ncol(y), model_layers(model)$name[[length(model_layers(model)$name)]], units, hint),
             "shape", call)
  }
  y
}

#' One weight per sample from `sample_weight` and `class_weight`
#' @noRd
prepare_weights <- function(y, sample_weight, class_weight, n, loss, call = rlang::caller_env()) {
  w <- NULL
  if (!is.null(sample_weight)) {
    if (!is.numeric(sample_weight) || length(sample_weight) != n || anyNA(sample_weight) || any(sample_weight < 0)) {
      rk_abort(sprintf("`sample_weight` must be a non-negative numeric vector with one weight per sample (%d), not %s.",
                       n, show_value(sample_weight)), "value", call)
    }
    w <- as.double(sample_weight)
  }
  if (!is.null(class_weight)) {
    if (!is.list(class_weight) && !is.numeric(class_weight) || is.null(names(class_weight))) {
      rk_abort("`class_weight` must be a named list such as list(\"0\" = 1, \"1\" = 5), names being class ids.", "value", call)
    }
    cls <- if (ncol(y) == 1 && loss != "categorical_crossentropy") {
      if (loss == "binary_crossentropy") round(y[, 1]) else y[, 1]
    } else max.col(y, "first") - 1
    cw <- unlist(class_weight)
    f <- cw[match(as.character(cls), names(cw))]
    f[is.na(f)] <- 1
    w <- (w %||% rep(1, n)) * as.double(f)
  }
  w
}

#' Hand data to the engine once (converted to row-major f32 there)
#' @noRd
new_dataset <- function(x, y = NULL, w = NULL, call = rlang::caller_env()) {
  yc <- if (is.null(y)) 0 else ncol(y)
  if (!is.null(y)) y <- to_double(y)
  rk_call(rk_data_new(to_double(x), nrow(x), ncol(x), y, yc, w, num_threads()), call = call)
}
