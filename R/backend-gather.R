#' Reverse, repeat, gather and unstack tensors; add a bias
#'
#' Keras for R's backend functions, built from the engine's operations (so they work on
#' model tensors, in recorded functions and at once on R arrays):
#' - `k_reverse(x, axes)` reverses the entries along `axes` (1-based, as every axis here).
#' - `k_repeat(x, n)` turns a 2-D `(batch, dim)` tensor into `(batch, n, dim)`.
#' - `k_gather(reference, indices)` takes the entries `indices` (1-based) along the first
#'   axis; the result's first axis has `length(indices)` entries.
#' - `k_unstack(x, axis, num)` splits `x` along `axis` into a list of tensors without it.
#' - `k_bias_add(x, bias)` adds a bias vector along the last (channels) axis.
#'
#' Reversing or unstacking an axis of open size (the batch) is an error, as are indices
#' given as a tensor and `data_format = "channels_first"`.
#' @param x,reference A tensor, an array or a number.
#' @param axes The axes to reverse.
#' @param n The number of repetitions.
#' @param indices Whole numbers from 1 to the size of `reference`'s first axis.
#' @param axis The axis to unstack along.
#' @param num `NULL` or the axis's size (checked).
#' @param name Not used (Keras's tensor names).
#' @param bias A vector with one entry per channel.
#' @param data_format `NULL` or `"channels_last"`.
#' @returns A tensor (or an array, for arrays); `k_unstack()` a list of them.
#' @family backend
#' @export
#' @examples
#' x <- matrix(1:6, 2)
#' k_reverse(x, 2)
#' k_repeat(x, 2)
#' k_gather(x, c(2, 1, 2))
#' k_unstack(x, axis = 2)
#' k_bias_add(x, c(10, 20, 30))
k_reverse <- function(x, axes) {
  s <- check_operand(x, "x")
  if (!is.numeric(axes) || !length(axes)) {
    rk_abort(sprintf("`axes` must be axes of `x` (1 to %d), not %s.", length(s), show_value(axes)), "value")
  }
  for (a in unique(axes_index(axes, length(s), "axes"))) {
    n <- s[[a + 1L]]
    if (is.na(n)) rk_abort(sprintf("Axis %d of `x` has an open size (None) and cannot be reversed.", a + 1L), "value")
    x <- op_apply(list(op = "take", axis = a, indices = I(rev(seq_len(n)) - 1L)), list(x))
  }
  x
}

#' @rdname k_reverse
#' @export
k_repeat <- function(x, n) {
  s <- check_operand(x, "x")
  if (length(s) != 2) rk_abort(sprintf("`x` must be a 2-D tensor (batch, dim), not of rank %d.", length(s)), "value")
  n <- check_count(n, "n")
  k_tile(k_expand_dims(x, 2), c(1, n, 1))
}

#' @rdname k_reverse
#' @export
k_gather <- function(reference, indices) {
  s <- check_operand(reference, "reference")
  if (!length(s)) rk_abort("`reference` must have at least one axis.", "value")
  if (!is.numeric(indices) || !is.null(dim(indices)) && length(dim(indices)) > 1 || !length(indices) ||
      anyNA(indices) || any(indices != round(indices)) || any(indices < 1) ||
      (!is.na(s[[1]]) && any(indices > s[[1]]))) {
    rk_abort(sprintf("`indices` must be a vector of whole numbers from 1 to %s (the first axis's size), not %s.",
                     if (is.na(s[[1]])) "its size" else s[[1]], show_value(indices)), "value")
  }
  op_apply(list(op = "take", axis = 0L, indices = I(as.integer(indices) - 1L)), list(reference))
}

#' @rdname k_reverse
#' @export
k_unstack <- function(x, axis = 1L, num = NULL, name = NULL) {
  s <- check_operand(x, "x")
  a <- axis_index(axis, length(s))
  n <- s[[a + 1L]]
  if (is.na(n)) rk_abort(sprintf("Axis %d of `x` has an open size (None) and cannot be unstacked.", a + 1L), "value")
  num <- check_count(num, "num", allow_null = TRUE)
  if (!is.null(num) && num != n) rk_abort(sprintf("`num` is %d but axis %d of `x` has %d entries.", num, a + 1L, n), "value")
  lapply(seq_len(n) - 1L, function(i) {
    part <- op_apply(list(op = "take", axis = a, indices = I(i)), list(x))
    op_apply(list(op = "squeeze", axis = a), list(part))
  })
}

#' @rdname k_reverse
#' @export
k_bias_add <- function(x, bias, data_format = NULL) {
  s <- check_operand(x, "x")
  check_string(data_format, "data_format", choices = "channels_last", allow_null = TRUE)
  b <- check_operand(bias, "bias")
  k <- s[[length(s)]]
  if (length(b) != 1 || (!is.na(k) && !is.na(b[[1]]) && b[[1]] != k)) {
    rk_abort(sprintf("`bias` must be a vector of %s entries (one per channel of `x`), not of shape (%s).",
                     if (is.na(k)) "the channels'" else k, paste(b, collapse = ", ")), "value")
  }
  binary_op(x, bias, "add")
}

#' Sequences and identity matrices
#'
#' `k_arange()` counts as Python's `range()` does: from `start` (0 when only `start` is
#' given, which is then the end) up to but excluding `stop`, by `step`. `k_eye()` is an
#' identity matrix, `size` rows (and columns, or `size[2]` of them). Both return R arrays.
#' @param start,stop,step Whole numbers; `step` not 0.
#' @param size The number of rows, or rows and columns.
#' @param dtype `"int32"` (or another integer or float type: the values are the same).
#' @param name Not used (Keras's tensor names).
#' @returns A 1-D array (`k_arange()`), a matrix (`k_eye()`).
#' @family backend
#' @export
#' @examples
#' k_arange(5)
#' k_arange(2, 10, 3)
#' k_eye(3)
#' k_eye(c(2, 3))
k_arange <- function(start, stop = NULL, step = 1, dtype = "int32") {
  whole <- function(v, arg) {
    if (!is.numeric(v) || length(v) != 1 || is.na(v) || v != round(v) || abs(v) > 2^31 - 1) {
      rk_abort(sprintf("`%s` must be a whole number, not %s.", arg, show_value(v)), "value")
    }
    v
  }
  check_string(dtype, "dtype", choices = c("int32", "int64", "float16", "float32", "float64"))
  start <- whole(start, "start")
  if (is.null(stop)) {
    stop <- start
    start <- 0
  }
  stop <- whole(stop, "stop")
  step <- whole(step, "step")
  if (step == 0) rk_abort("`step` must not be 0.", "value")
  n <- max(0, ceiling((stop - start) / step))
  array(start + step * seq_len(n) - step, n)
}

#' @rdname k_arange
#' @export
k_eye <- function(size, dtype = NULL, name = NULL) {
  check_float_dtype(dtype)
  if (!is.numeric(size) || !length(size) %in% 1:2 || anyNA(size) || any(size != round(size)) || any(size < 1) ||
      any(size > 2^31 - 1)) {
    rk_abort(sprintf("`size` must be one or two positive whole numbers, not %s.", show_value(size)), "value")
  }
  size <- rep_len(size, 2)
  if (prod(size) > 2^31 - 1) {
    rk_abort(sprintf("`size` asks for a %s x %s matrix, more than 2^31 - 1 values.", size[[1]], size[[2]]), "value")
  }
  diag(1, size[[1]], size[[2]])
}
