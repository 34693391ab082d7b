# Merge layers: several tensors in, one out. Called with a list of tensors they return a
# tensor; called without inputs they return the layer object, to be called later.

#' The tensors a merge layer is called on: `inputs` (a tensor or a list of them) and the
#' tensors given after it as separate arguments (`layer_add(a, b, c)`, as Keras for R takes
#' them). Keras for R 2's second positional argument (`axis`, `axes`) is still read when it
#' is not a tensor, and returned as the attribute "positional".
#' @noRd
merge_inputs <- function(inputs, dots, fn, positional = NULL, call = rlang::caller_env()) {
  if (!length(dots)) return(if (missing(inputs)) NULL else inputs)
  nms <- names(dots) %||% rep("", length(dots))
  if (any(nzchar(nms))) do.call(check_no_dots, c(dots[nzchar(nms)], list(fn = fn, call = call)))
  tensors <- vapply(dots, is_tensor_arg, TRUE)
  other <- dots[!tensors]
  if (length(other) > 1 || (length(other) == 1 && is.null(positional))) {
    rk_abort(sprintf("%s takes tensors as its unnamed arguments, not %s.", fn, show_value(other[[1]])), "type", call)
  }
  first <- if (missing(inputs) || is.null(inputs)) list() else if (inherits(inputs, "rkeras_tensor")) list(inputs) else inputs
  out <- c(first, unlist(lapply(dots[tensors], function(t) if (inherits(t, "rkeras_tensor")) list(t) else t),
                         recursive = FALSE))
  if (length(other)) attr(out, "positional") <- other[[1]]
  out
}

merge_layer <- function(inputs, type, config = structure(list(), names = character()), name = NULL,
                        call = rlang::caller_env()) {
  class_name <- c(concatenate = "Concatenate", add = "Add", subtract = "Subtract", multiply = "Multiply",
                  average = "Average", maximum = "Maximum", minimum = "Minimum", dot = "Dot")[[type]]
  spec <- new_layer_spec(type, class_name, config, name = name, call = call)
  if (missing(inputs) || is.null(inputs)) return(compose_layer(NULL, spec, call = call))
  if (!is_tensor_arg(inputs) || inherits(inputs, "rkeras_tensor")) {
    rk_abort(sprintf("`inputs` must be a list of at least 2 tensors, not %s.", show_value(inputs)), "type", call)
  }
  compose_layer(inputs, spec, call = call)
}

#' Merge layers
#'
#' Combine a list of tensors element by element: `layer_add()` (sum),
#' `layer_subtract()` (first minus second), `layer_multiply()` (product),
#' `layer_average()` (mean), `layer_maximum()` and `layer_minimum()`;
#' `layer_concatenate()` joins them along `axis`; `layer_dot()` takes the dot product of two
#' tensors along an axis of each, giving the first's other axes then the second's:
#' `(batch, d)` twice gives `(batch, 1)`, `(batch, n, d)` and `(batch, m, d)` with `axes = 2`
#' give `(batch, n, m)`.
#'
#' Input and output shapes: the element-wise merges take inputs of one rank whose sizes
#' agree or are 1 on each axis, and broadcast as Keras does (`(batch, 8, 8, 32)` times
#' `(batch, 1, 1, 32)` gives `(batch, 8, 8, 32)`); concatenation adds the sizes on `axis`
#' (`-1`, the last axis, by default; `1` is the first axis of a sample).
#' @param inputs A list of tensors, or the first tensor with the others given after it
#'   (`layer_add(a, b)`); when missing, the layer is returned, to be called on a list of
#'   tensors later.
#' @param ... More tensors to merge with `inputs`; any other argument is an error.
#' @param axis Axis to concatenate along.
#' @param axes Axis of the dot product, or one per input, counted as Keras counts them: the
#'   batch is axis 0, `1` a sample's first axis, `-1` the last.
#' @param normalize L2-normalize each input along its axis first (the cosine similarity).
#' @param name Layer name.
#' @param batch_size,dtype,trainable,weights As for [layer_dense()]; a merge layer has no weights.
#' @returns A tensor, or the layer when `inputs` is missing.
#' @family merge layers
#' @export
#' @examples
#' a <- layer_input(shape = 3)
#' b <- layer_input(shape = 3)
#' model <- keras_model(list(a, b), layer_add(list(a, b)) %>% layer_dense(1))
layer_concatenate <- function(inputs, ..., axis = -1, batch_size = NULL, dtype = NULL, name = NULL,
                              trainable = NULL, weights = NULL) {
  inputs <- merge_inputs(inputs, list(...), "layer_concatenate()", positional = "axis")
  if (!is.null(attr(inputs, "positional"))) axis <- attr(inputs, "positional")
  attr(inputs, "positional") <- NULL
  check_merge_args(dtype, weights)
  axis <- check_number(axis, "axis", what = "a whole number")
  merge_layer(inputs, "concatenate", list(axis = as.integer(axis)), name)
}

#' @rdname layer_concatenate
#' @export
layer_add <- function(inputs, ..., batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                      weights = NULL) {
  inputs <- merge_inputs(inputs, list(...), "layer_add()")
  check_merge_args(dtype, weights)
  merge_layer(inputs, "add", name = name)
}

#' @rdname layer_concatenate
#' @export
layer_subtract <- function(inputs, ..., batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                           weights = NULL) {
  inputs <- merge_inputs(inputs, list(...), "layer_subtract()")
  check_merge_args(dtype, weights)
  merge_layer(inputs, "subtract", name = name)
}

#' @rdname layer_concatenate
#' @export
layer_multiply <- function(inputs, ..., batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                           weights = NULL) {
  inputs <- merge_inputs(inputs, list(...), "layer_multiply()")
  check_merge_args(dtype, weights)
  merge_layer(inputs, "multiply", name = name)
}

#' @rdname layer_concatenate
#' @export
layer_average <- function(inputs, ..., batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                          weights = NULL) {
  inputs <- merge_inputs(inputs, list(...), "layer_average()")
  check_merge_args(dtype, weights)
  merge_layer(inputs, "average", name = name)
}

#' @rdname layer_concatenate
#' @export
layer_maximum <- function(inputs, ..., batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                          weights = NULL) {
  inputs <- merge_inputs(inputs, list(...), "layer_maximum()")
  check_merge_args(dtype, weights)
  merge_layer(inputs, "maximum", name = name)
}

#' @rdname layer_concatenate
#' @export
layer_minimum <- function(inputs, ..., batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                          weights = NULL) {
  inputs <- merge_inputs(inputs, list(...), "layer_minimum()")
  check_merge_args(dtype, weights)
  merge_layer(inputs, "minimum", name = name)
}

#' @rdname layer_concatenate
#' @export
layer_dot <- function(inputs, ..., axes, normalize = FALSE, batch_size = NULL, dtype = NULL, name = NULL,
                      trainable = NULL, weights = NULL) {
  inputs <- merge_inputs(inputs, list(...), "layer_dot()", positional = "axes")
  if (!is.null(attr(inputs, "positional"))) axes <- attr(inputs, "positional")
  attr(inputs, "positional") <- NULL
  check_merge_args(dtype, weights)
  normalize <- check_flag(normalize, "normalize")
  if (!is.numeric(axes) || !length(axes) %in% 1:2 || anyNA(axes) || any(axes != round(axes)) || any(axes == 0)) {
    rk_abort(sprintf("`axes` must be one or two non-zero whole numbers (Keras's axes: the batch is 0, so 1 is a sample's first axis; -1 the last), not %s.",
                     show_value(axes)), "value")
  }
  axes <- as.integer(axes)
  merge_layer(inputs, "dot", list(axes = if (length(axes) == 1) axes else I(axes), normalize = normalize), name)
}

check_merge_args <- function(dtype, weights, call = rlang::caller_env()) {
  check_layer_dtype(dtype, call)
  check_unsupported(weights = weights, call = call)
}
