# Shaping user data for the engine: x and y as matrices with samples in rows, class and
# sample weights folded into one weight vector, all checked with messages that name the argument.

require_compiled <- function(model, call = rlang::caller_env(), x = NULL) {
  # A custom model is built (and compiled) by its first data.
  if (!is.null(x) && !is.function(x) && !has_graph(model)) build_custom_model(model, x, call)
  if (is.null(model$compiled)) {
    rk_abort("The model must be compiled before training or evaluation; call compile() first.", "state", call)
  }
  model$compiled
}

output_units <- function(model) sum(vapply(graph_info(model)$output_shapes, prod, 1))

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
    if (!is.null(attr(y, "outputs")) && attr(y, "outputs") > 1) {
      rk_abort("`class_weight` is not supported for models with several outputs; use `sample_weight`.", "unsupported", call)
    }
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

#' Check x against the model (building it on first use) and give it as one matrix: each
#' input's samples flattened row-major, the inputs side by side (a list of arrays: positional
#' or named by input)
#' @noRd
prepare_x <- function(model, x, arg = "x", call = rlang::caller_env()) {
  if (!is.null(model$text_vectorization)) x <- vectorized_input(model, x, arg, call)
  if (!has_graph(model)) build_custom_model(model, x, call)
  if (!has_graph(model)) rk_abort("The model has no layers; add some with layer_dense() first.", "state", call)
  info <- graph_info(model)
  k <- length(info$input_shapes)
  xs <- by_name(if (is.list(x) && !is.data.frame(x)) x else list(x), input_names(model), arg, "input", call,
                keys = get0("input_keys", envir = model_env(model), inherits = FALSE))
  mats <- lapply(seq_along(xs), function(i) as_sample_matrix(xs[[i]], if (k > 1) sprintf("%s[[%d]]", arg, i) else arg, call))
  n <- nrow(mats[[1]])
  for (i in seq_along(mats)) {
    if (nrow(mats[[i]]) != n) {
      rk_abort(sprintf("All inputs in `%s` must have the same number of samples: %d and %d.", arg, n, nrow(mats[[i]])), "shape", call)
    }
  }
  if (!isTRUE(info$built)) {
    shapes <- lapply(xs, function(a) { d <- dim(a); if (length(d) < 2) 1 else as.double(d[-1]) })
    rk_call(rk_model_build_shapes(model$ptr, shapes), call = call)
    model_changed(model)
    apply_constructor_weights(model, call)
    info <- graph_info(model)
    # A Sequential model built by its first data: its input shape is now fixed, as in Keras
    # (its JSON and saved files carry it).
    input <- if (inherits(model, "rkeras_sequential")) model$graph$states[[1]]
    if (is.environment(input) && is.null(input$spec$shape)) {
      input$spec$shape <- as.integer(info$input_shapes[[1]])
      input$spec$from_data <- TRUE
    }
  }
  shapes <- vector("list", k)
  open <- FALSE
  for (i in seq_len(k)) {
    cur <- info$input_shapes[[i]]
    want <- declared_input_shape(model, i, cur)
    open <- open || anyNA(want)
    got <- dim(xs[[i]])[-1] %||% 1L
    if (length(got) == length(want) && all(is.na(want) | want == got)) {
      # Samples of their own size on the open axes: the model runs at their shape.
      shapes[[i]] <- as.double(got)
    } else if (ncol(mats[[i]]) == prod(cur) && ranks_match(as.integer(got), as.integer(cur))) {
      shapes[[i]] <- as.double(cur)
    } else {
      shown <- paste(ifelse(is.na(want), "None", want), collapse = ", ")
      rk_abort(sprintf("Input '%s' expects samples of shape (%s), but `%s` has samples of shape (%s).",
                       input_names(model)[[i]], shown,
                       if (k > 1) sprintf("%s[[%d]]", arg, i) else arg, paste(got, collapse = ", ")), "shape", call)
    }
  }
  use_shapes(model, shapes, call)
  out <- if (k == 1) mats[[1]] else do.call(cbind, mats)
  # The shapes go with the data only where they may change from call to call (open axes):
  # an attribute would copy the user's matrix.
  if (open) attr(out, "sample_shapes") <- shapes
  out
}

#' The sample shape input `i` takes, NA on an axis of any size: a Sequential model built by
#' its first data (no input shape given) takes sequences of any length and images of any
#' size, as Keras's does (its layers then check that their weights fit); `current` is the
#' shape the model last ran at.
#' @noRd
declared_input_shape <- function(model, i, current) {
  g <- model$graph
  st <- if (!is.null(g)) g$states[[g$nodes[[g$inputs[[i]]]]$layer]]
  if (is.environment(st) && isTRUE(st$spec$from_data)) current[] <- NA
  declared <- graph_info(model)$input_declared[[i]]
  if (!is.null(declared) && anyNA(declared) && length(declared) == length(current)) current[is.na(declared)] <- NA
  current
}

#' Run the model at these per-sample input shapes from now on (a no-op when it already
#' does): each call hands the engine data of one shape, which may differ from the last.
#' @noRd
use_shapes <- function(model, shapes, call = rlang::caller_env()) {
  if (is.null(shapes) || !has_graph(model)) return(invisible(model))
  cur <- graph_info(model)$input_shapes
  if (length(cur) == length(shapes) &&
      all(vapply(seq_along(cur), function(i) identical(as.double(cur[[i]]), as.double(shapes[[i]])), TRUE))) {
    return(invisible(model))
  }
  rk_call(rk_model_build_shapes(model$ptr, shapes), call = call)
  model_changed(model)
  invisible(model)
}

#' Whether samples of shape `got` fit an input of shape `want`: the same shape, or (as
#' Keras adjusts ranks) one trailing axis of size 1 more or less; flat rows also fit
#' an input of one axis, as before
#' @noRd
ranks_match <- function(got, want) {
  if (length(got) == 1 && length(want) == 1) return(TRUE)
  identical(got, want) ||
    (length(got) == length(want) - 1 && want[[length(want)]] == 1 && identical(got, want[-length(want)])) ||
    (length(got) == length(want) + 1 && got[[length(got)]] == 1 && identical(got[-length(got)], want))
}

#' A model's targets as one matrix (each output's targets flattened,
#' side by side), checked against each output's shape and loss
#' @noRd
prepare_y <- function(model, y, n, arg = "y", call = rlang::caller_env()) {
  compiled <- require_compiled(model, call)
  if (is.null(y)) rk_abort(sprintf("`%s` must be given to train or evaluate.", arg), "value", call)
  info <- graph_info(model)
  outs <- output_names(model)
  k <- length(outs)
  ys <- by_name(if (is.list(y) && !is.data.frame(y)) y else list(y), outs, arg, "output", call,
                keys = get0("output_keys", envir = model_env(model), inherits = FALSE))
  mats <- lapply(seq_len(k), function(i) {
    a <- if (k > 1) sprintf("%s[[%d]]", arg, i) else arg
    m <- as_sample_matrix(ys[[i]], a, call)
    if (nrow(m) != n) {
      rk_abort(sprintf("`x` and `%s` must have the same number of samples: x has %d, %s has %d.", a, n, a, nrow(m)), "shape", call)
    }
    shape <- info$output_shapes[[i]]
    classes <- shape[[length(shape)]]
    positions <- prod(shape) / classes
    sparse <- compiled$losses[[i]] == "sparse_categorical_crossentropy"
    want <- positions * (if (sparse) 1 else classes)
    if (ncol(m) != want) {
      hint <- if (ncol(m) * classes == want * 1 && !sparse && compiled$losses[[i]] == "categorical_crossentropy")
        " Use to_categorical() to one-hot encode class ids, or the sparse_categorical_crossentropy loss." else ""
      rk_abort(sprintf("`%s` has %d values per sample but output '%s' of shape (None, %s) with loss %s takes %d.%s",
                       a, ncol(m), outs[[i]], paste(shape, collapse = ", "), compiled$losses[[i]], want, hint), "shape", call)
    }
    if (sparse) {
      bad <- which(is.na(m) | m < 0 | m >= classes | m != round(m))
      if (length(bad)) {
        rk_abort(sprintf("`%s` must hold class ids 0..%d for output '%s'; it has %s.", a, classes - 1L, outs[[i]],
                         format(m[bad[[1]]])), "value", call)
      }
    }
    m
  })
  out <- if (k == 1) mats[[1]] else do.call(cbind, mats)
  attr(out, "outputs") <- k
  out
}

#' A list in the order of `names` (the model's inputs or outputs), from a positional list
#' or one named by them
#' @noRd
by_name <- function(xs, names, arg, what, call = rlang::caller_env(), keys = NULL) {
  nms <- names(xs)
  # Named as the list the model was built from (keras_model(list(title = a, body = b), ...)).
  if (!is.null(nms) && length(keys) == length(names) && all(nzchar(keys)) && !anyDuplicated(keys) &&
      all(nms %in% keys) && !all(nms %in% names)) {
    miss <- setdiff(keys, nms)
    if (length(miss)) rk_abort(sprintf("`%s` has no entry for %s '%s'.", arg, what, miss[[1]]), "value", call)
    xs <- stats::setNames(xs[keys], names)
    nms <- names
  }
  if (!is.null(nms) && all(nzchar(nms)) && length(names) > 1) {
    bad <- setdiff(nms, names)
    if (length(bad)) {
      rk_abort(sprintf("`%s` names '%s', which is not an %s of the model (%ss: %s).", arg, bad[[1]], what, what,
                       paste0("'", names, "'", collapse = ", ")), "value", call)
    }
    miss <- setdiff(names, nms)
    if (length(miss)) rk_abort(sprintf("`%s` has no entry for %s '%s'.", arg, what, miss[[1]]), "value", call)
    xs <- xs[names]
  }
  if (length(xs) != length(names)) {
    rk_abort(sprintf("`%s` must be a list of %d arrays, one per model %s (%s), not %s.", arg, length(names), what,
                     paste0("'", names, "'", collapse = ", "), show_value(xs)), "value", call)
  }
  unname(xs)
}

#' Predictions as Keras for R returns them: a matrix for one output of rank 1, an array
#' `(n, shape...)` for higher ranks, and a list with one entry per output
#' @noRd
shape_outputs <- function(model, v) {
  shapes <- graph_info(model)$output_shapes
  n <- nrow(v)
  off <- 0
  outs <- lapply(shapes, function(s) {
    w <- prod(s)
    m <- v[, off + seq_len(w), drop = FALSE]
    off <<- off + w
    if (length(s) > 1) array_reshape(m, c(n, s)) else m
  })
  if (length(outs) == 1) outs[[1]] else outs
}
