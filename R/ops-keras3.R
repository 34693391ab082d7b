# Keras for R 3's operation names (`op_*`, Keras 3's `keras.ops`): the same engine
# operations as the `k_*` functions (the same functions where the arguments agree), with
# Keras 3's argument names and defaults. Axes are
# 1-based as in Keras for R (negative axes count from the end), so `op_concatenate()`'s
# default `axis = 1` is the first axis, as in Keras 3.

#' Keras 3's operations (`op_*`)
#'
#' Keras for R 3 names its tensor operations after `keras.ops`; these apply rkeras's
#' operations (the ones the `k_*` functions apply) under those names, arguments and defaults,
#' to a model's tensors, to the tensors a [layer_lambda()] function, a custom layer's `call()`
#' or a loss written in R receives, or to R arrays (computed at once). Axes are 1-based, as in
#' Keras for R (`-1` is the last axis). Arguments that rkeras cannot honour (`initial` of
#' `op_max()`, a sparse one-hot, a one-hot axis other than the last, `op_argmax()` over all
#' axes at once, `op_where()` with one argument) are errors saying so.
#'
#' Element-wise: `op_abs`, `op_negative`, `op_sign`, `op_round`, `op_floor`, `op_ceil`,
#' `op_exp`, `op_expm1`, `op_log`, `op_log1p`, `op_sqrt`, `op_square`, `op_sin`, `op_cos`,
#' `op_tanh`, `op_logical_not`; two operands (broadcast): `op_add`, `op_subtract`,
#' `op_multiply`, `op_divide`, `op_power`, `op_mod`, `op_floor_divide`, `op_maximum`,
#' `op_minimum`, `op_equal`, `op_not_equal`, `op_greater`, `op_greater_equal`, `op_less`,
#' `op_less_equal`, `op_logical_and`, `op_logical_or`; activations: `op_relu`, `op_relu6`,
#' `op_leaky_relu`, `op_elu`, `op_sigmoid`, `op_hard_sigmoid`, `op_silu`, `op_softplus`,
#' `op_softsign`, `op_softmax`, `op_log_softmax`; reductions: `op_sum`, `op_mean`, `op_max`,
#' `op_min`, `op_prod`, `op_std`, `op_var`, `op_any`, `op_all`, `op_logsumexp`, `op_argmax`,
#' `op_argmin`; shapes: `op_reshape`, `op_expand_dims`, `op_squeeze`, `op_transpose`,
#' `op_concatenate`, `op_stack`, `op_tile`, `op_repeat`, `op_ndim`; others: `op_clip`,
#' `op_cast`, `op_where`, `op_one_hot`, `op_stop_gradient`, `op_zeros`, `op_ones`,
#' `op_zeros_like`, `op_ones_like`, `op_matmul`, and the crossentropies
#' `op_binary_crossentropy`, `op_categorical_crossentropy`,
#' `op_sparse_categorical_crossentropy`.
#' @param x,x1,x2,xs,condition,target,output Tensors or R arrays (`xs`: a list of them).
#' @param axis,axes Axes, 1-based (negative: from the end); `NULL` for every axis where
#'   Keras 3 allows it.
#' @param keepdims Whether reduced axes stay, with length 1.
#' @param initial Not supported (must be `NULL`).
#' @param decimals Decimal places (only 0 is supported).
#' @param alpha,negative_slope The slope for negative inputs.
#' @param newshape,shape The new shape (`NULL` or `-1`: the size that fits).
#' @param repeats Repetitions (per axis for `op_tile()`).
#' @param x_min,x_max The bounds.
#' @param dtype A dtype name (`"float32"`, `"int32"`, ...).
#' @param num_classes The number of classes (ids are 0-based).
#' @param sparse Not supported (must be `FALSE`).
#' @param from_logits Whether `output` holds logits.
#' @returns A tensor or an R array, as the `k_*` functions return.
#' @name keras3-ops
#' @family backend
#' @examples
#' op_sum(matrix(1:6, 2), axis = 1)
#' op_concatenate(list(matrix(1, 1, 2), matrix(2, 1, 2)))
#' op_softmax(matrix(c(1, 2, 3), 1))
#' layer_lambda(f = function(x) op_multiply(op_silu(x), 2))
NULL

#' @rdname keras3-ops
#' @export
op_abs <- k_abs
#' @rdname keras3-ops
#' @export
op_negative <- function(x) unary_op(x, "neg")
#' @rdname keras3-ops
#' @export
op_sign <- k_sign
#' @rdname keras3-ops
#' @export
op_round <- function(x, decimals = 0) {
  if (check_number(decimals, "decimals") != 0) {
    rk_abort("`decimals` other than 0 is not supported by rkeras.", "unsupported")
  }
  unary_op(x, "round")
}
#' @rdname keras3-ops
#' @export
op_floor <- function(x) unary_op(x, "floor")
#' @rdname keras3-ops
#' @export
op_ceil <- function(x) unary_op(x, "ceil")
#' @rdname keras3-ops
#' @export
op_exp <- k_exp
#' @rdname keras3-ops
#' @export
op_expm1 <- function(x) unary_op(x, "expm1")
#' @rdname keras3-ops
#' @export
op_log <- k_log
#' @rdname keras3-ops
#' @export
op_log1p <- function(x) unary_op(x, "log1p")
#' @rdname keras3-ops
#' @export
op_sqrt <- k_sqrt
#' @rdname keras3-ops
#' @export
op_square <- k_square
#' @rdname keras3-ops
#' @export
op_sin <- k_sin
#' @rdname keras3-ops
#' @export
op_cos <- k_cos
#' @rdname keras3-ops
#' @export
op_tanh <- k_tanh
#' @rdname keras3-ops
#' @export
op_logical_not <- function(x) unary_op(x, "not")

#' @rdname keras3-ops
#' @export
op_add <- function(x1, x2) binary_op(x1, x2, "add")
#' @rdname keras3-ops
#' @export
op_subtract <- function(x1, x2) binary_op(x1, x2, "sub")
#' @rdname keras3-ops
#' @export
op_multiply <- function(x1, x2) binary_op(x1, x2, "mul")
#' @rdname keras3-ops
#' @export
op_divide <- function(x1, x2) binary_op(x1, x2, "div")
#' @rdname keras3-ops
#' @export
op_power <- function(x1, x2) binary_op(x1, x2, "pow")
#' @rdname keras3-ops
#' @export
op_mod <- function(x1, x2) binary_op(x1, x2, "mod")
#' @rdname keras3-ops
#' @export
op_floor_divide <- function(x1, x2) binary_op(x1, x2, "floor_div")
#' @rdname keras3-ops
#' @export
op_maximum <- function(x1, x2) binary_op(x1, x2, "maximum")
#' @rdname keras3-ops
#' @export
op_minimum <- function(x1, x2) binary_op(x1, x2, "minimum")
#' @rdname keras3-ops
#' @export
op_equal <- function(x1, x2) binary_op(x1, x2, "equal")
#' @rdname keras3-ops
#' @export
op_not_equal <- function(x1, x2) binary_op(x1, x2, "not_equal")
#' @rdname keras3-ops
#' @export
op_greater <- function(x1, x2) binary_op(x1, x2, "greater")
#' @rdname keras3-ops
#' @export
op_greater_equal <- function(x1, x2) binary_op(x1, x2, "greater_equal")
#' @rdname keras3-ops
#' @export
op_less <- function(x1, x2) binary_op(x1, x2, "less")
#' @rdname keras3-ops
#' @export
op_less_equal <- function(x1, x2) binary_op(x1, x2, "less_equal")
#' @rdname keras3-ops
#' @export
op_logical_and <- function(x1, x2) binary_op(x1, x2, "and")
#' @rdname keras3-ops
#' @export
op_logical_or <- function(x1, x2) binary_op(x1, x2, "or")

#' @rdname keras3-ops
#' @export
op_relu <- function(x) unary_op(x, "relu")
#' @rdname keras3-ops
#' @export
op_relu6 <- function(x) k_relu(x, max_value = 6)
#' @rdname keras3-ops
#' @export
op_leaky_relu <- function(x, negative_slope = 0.2) k_relu(x, alpha = negative_slope)
#' @rdname keras3-ops
#' @export
op_elu <- function(x, alpha = 1) k_elu(x, alpha)
#' @rdname keras3-ops
#' @export
op_sigmoid <- k_sigmoid
#' @rdname keras3-ops
#' @export
op_hard_sigmoid <- function(x) {
  # Keras 3's hard sigmoid: relu6(x + 3) / 6 (Keras 2's was 0.2 x + 0.5).
  op_divide(op_relu6(op_add(x, 3)), 6)
}
#' @rdname keras3-ops
#' @export
op_silu <- function(x) op_multiply(x, unary_op(x, "sigmoid"))
#' @rdname keras3-ops
#' @export
op_softplus <- k_softplus
#' @rdname keras3-ops
#' @export
op_softsign <- k_softsign
#' @rdname keras3-ops
#' @export
op_softmax <- function(x, axis = -1) k_softmax(x, axis)
#' @rdname keras3-ops
#' @export
op_log_softmax <- function(x, axis = -1) {
  op_apply(list(op = "log_softmax", axis = axis_index(axis, rank_of(x))), list(x))
}

#' @rdname keras3-ops
#' @export
op_sum <- k_sum
#' @rdname keras3-ops
#' @export
op_mean <- k_mean
#' @rdname keras3-ops
#' @export
op_max <- function(x, axis = NULL, keepdims = FALSE, initial = NULL) {
  check_unsupported(initial = initial)
  reduce_op(x, "max", axis, keepdims)
}
#' @rdname keras3-ops
#' @export
op_min <- function(x, axis = NULL, keepdims = FALSE, initial = NULL) {
  check_unsupported(initial = initial)
  reduce_op(x, "min", axis, keepdims)
}
#' @rdname keras3-ops
#' @export
op_prod <- function(x, axis = NULL, keepdims = FALSE, dtype = NULL) {
  check_unsupported(dtype = dtype)
  reduce_op(x, "prod", axis, keepdims)
}
#' @rdname keras3-ops
#' @export
op_std <- k_std
#' @rdname keras3-ops
#' @export
op_var <- k_var
#' @rdname keras3-ops
#' @export
op_any <- k_any
#' @rdname keras3-ops
#' @export
op_all <- k_all
#' @rdname keras3-ops
#' @export
op_logsumexp <- k_logsumexp
#' @rdname keras3-ops
#' @export
op_argmax <- function(x, axis = NULL, keepdims = FALSE) arg_reduce_keras3(x, axis, keepdims, max = TRUE)
#' @rdname keras3-ops
#' @export
op_argmin <- function(x, axis = NULL, keepdims = FALSE) arg_reduce_keras3(x, axis, keepdims, max = FALSE)

arg_reduce_keras3 <- function(x, axis, keepdims, max, call = rlang::caller_env()) {
  if (is.null(axis)) {
    rk_abort("`axis = NULL` (the index in the flattened tensor) is not supported by rkeras; give an axis.",
             "unsupported", call)
  }
  keepdims <- check_flag(keepdims, "keepdims", call = call)
  a <- axis_index(axis, rank_of(x), call = call)
  y <- op_apply(list(op = "arg_reduce", max = max, axis = a), list(x))
  if (keepdims) y <- k_expand_dims(y, a + 1L)
  y
}

#' @rdname keras3-ops
#' @export
op_reshape <- function(x, newshape) k_reshape(x, newshape)
#' @rdname keras3-ops
#' @export
op_expand_dims <- function(x, axis) k_expand_dims(x, axis)
#' @rdname keras3-ops
#' @export
op_squeeze <- k_squeeze
#' @rdname keras3-ops
#' @export
op_transpose <- function(x, axes = NULL) if (is.null(axes)) k_transpose(x) else k_permute_dimensions(x, axes)
#' @rdname keras3-ops
#' @export
op_concatenate <- function(xs, axis = 1) k_concatenate(xs, axis)
#' @rdname keras3-ops
#' @export
op_stack <- function(x, axis = 1) k_stack(x, axis)
#' @rdname keras3-ops
#' @export
op_tile <- function(x, repeats) k_tile(x, repeats)
#' @rdname keras3-ops
#' @export
op_repeat <- function(x, repeats, axis = NULL) {
  if (is.null(axis)) {
    rk_abort("`axis = NULL` (repeating the flattened tensor) is not supported by rkeras; give an axis.", "unsupported")
  }
  k_repeat_elements(x, repeats, axis)
}
#' @rdname keras3-ops
#' @export
op_ndim <- k_ndim

#' @rdname keras3-ops
#' @export
op_clip <- function(x, x_min, x_max) k_clip(x, x_min, x_max)
#' @rdname keras3-ops
#' @export
op_cast <- function(x, dtype) k_cast(x, dtype)
#' @rdname keras3-ops
#' @export
op_where <- function(condition, x1 = NULL, x2 = NULL) {
  if (is.null(x1) || is.null(x2)) {
    rk_abort("op_where() needs both `x1` and `x2` in rkeras (the indices of a condition are not supported).",
             "unsupported")
  }
  k_switch(condition, x1, x2)
}
#' @rdname keras3-ops
#' @export
op_one_hot <- function(x, num_classes, axis = -1, dtype = NULL, sparse = FALSE) {
  if (check_number(axis, "axis") != -1) rk_abort("`axis` other than -1 is not supported by rkeras.", "unsupported")
  if (check_flag(sparse, "sparse")) rk_abort("`sparse = TRUE` is not supported by rkeras.", "unsupported")
  if (is.factor(x)) x <- array(as.integer(x) - 1L, dim = dim(x) %||% length(x))
  y <- k_one_hot(x, num_classes)
  if (!is.null(dtype)) y <- k_cast(y, dtype)
  y
}
#' @rdname keras3-ops
#' @export
op_stop_gradient <- function(x) k_stop_gradient(x)
#' @rdname keras3-ops
#' @export
op_zeros <- function(shape, dtype = NULL) k_zeros(shape, dtype)
#' @rdname keras3-ops
#' @export
op_ones <- function(shape, dtype = NULL) k_ones(shape, dtype)
#' @rdname keras3-ops
#' @export
op_zeros_like <- function(x, dtype = NULL) k_zeros_like(x, dtype)
#' @rdname keras3-ops
#' @export
op_ones_like <- function(x, dtype = NULL) k_ones_like(x, dtype)
#' @rdname keras3-ops
#' @export
op_matmul <- function(x1, x2) k_dot(x1, x2)

#' @rdname keras3-ops
#' @export
op_binary_crossentropy <- function(target, output, from_logits = FALSE) {
  k_binary_crossentropy(target, output, from_logits)
}
#' @rdname keras3-ops
#' @export
op_categorical_crossentropy <- function(target, output, from_logits = FALSE, axis = -1) {
  k_categorical_crossentropy(target, output, from_logits, axis)
}
#' @rdname keras3-ops
#' @export
op_sparse_categorical_crossentropy <- function(target, output, from_logits = FALSE, axis = -1) {
  k_sparse_categorical_crossentropy(target, output, from_logits, axis)
}
