#' What a tensor is, its type and size; the image data format
#'
#' - `k_is_tensor(x)`: whether `x` is a tensor of the engine (a model's tensor, or one an R
#'   function receives while it is recorded), not an R array.
#' - `k_is_keras_tensor(x)`: the same (every such tensor is symbolic, as Keras tensors are).
#' - `k_is_sparse(x)`: always `FALSE` (rkeras has no sparse tensors).
#' - `k_dtype(x)`: `"float32"`, the type rkeras computes in.
#' - `k_count_params(x)` and `k_get_variable_shape(x)`: the number of values and the shape
#'   of a variable (an array, or a tensor whose sizes are all known).
#' - `k_image_data_format()` is `"channels_last"`, the only layout rkeras's image layers use;
#'   `k_set_image_data_format()` accepts only that.
#' @param x A tensor or an array.
#' @param data_format Only `"channels_last"`.
#' @returns A flag, a string, a count or a list of sizes.
#' @family backend
#' @export
#' @examples
#' k_is_tensor(matrix(1:4, 2))
#' k_is_keras_tensor(layer_input(shape = 3))
#' k_count_params(k_zeros(c(3, 4)))
#' k_image_data_format()
k_is_tensor <- function(x) operand_kind(x) %in% c("symbol", "graph")

#' @rdname k_is_tensor
#' @export
k_is_keras_tensor <- function(x) k_is_tensor(x)

#' @rdname k_is_tensor
#' @export
k_is_sparse <- function(x) FALSE

#' @rdname k_is_tensor
#' @export
k_dtype <- function(x) {
  check_operand(x, "x")
  "float32"
}

#' @rdname k_is_tensor
#' @export
k_get_variable_shape <- function(x) {
  s <- check_operand(x, "x")
  if (anyNA(s)) rk_abort("`x` has an axis of open size (None): a variable's shape is known.", "value")
  as.list(as.integer(s))
}

#' @rdname k_is_tensor
#' @export
k_count_params <- function(x) prod(unlist(k_get_variable_shape(x)))

#' @rdname k_is_tensor
#' @export
k_image_data_format <- function() "channels_last"

#' @rdname k_is_tensor
#' @export
k_set_image_data_format <- function(data_format) {
  check_string(data_format, "data_format", choices = "channels_last")
  invisible(data_format)
}

#' Random 0/1 draws
#'
#' Each value is 1 with probability `p`, else 0 (Keras's `random_bernoulli`: a uniform draw
#' at most `p`). As [k_random_uniform()], on R arrays at once, or, with a shape that takes
#' the batch size from [k_shape()], new draws for each batch in a recorded function.
#' `k_random_binomial()` is its older name.
#' @inheritParams k_constant
#' @param p The probability of a 1.
#' @returns An array, or a tensor.
#' @family backend
#' @export
#' @examples
#' set.seed(1)
#' k_random_bernoulli(c(2, 5), p = 0.3)
k_random_bernoulli <- function(shape, p = 0, dtype = NULL, seed = NULL) {
  check_float_dtype(dtype)
  p <- check_number(p, "p", min = 0, max = 1)
  binary_op(random_op(shape, FALSE, 0, 1, seed), p, "less_equal")
}

#' @rdname k_random_bernoulli
#' @export
k_random_binomial <- function(shape, p = 0, dtype = NULL, seed = NULL) {
  k_random_bernoulli(shape, p, dtype, seed)
}
