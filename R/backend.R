# Keras for R's backend functions (`k_*`). Each applies one of the engine's operations (see
# ops.R) to a model's tensors, to the tensors a recorded function receives, or to R arrays;
# the compound ones (crossentropies, relu with a ceiling) are written with other operations,
# so their gradients follow.

unary_op <- function(x, fn) op_apply(list(op = "unary", fn = fn), list(x))
binary_op <- function(x, y, fn) op_apply(list(op = "binary", fn = fn), list(x, y))
rank_of <- function(x) length(operand_shape(x))
# The composite functions are written with these rather than R's operators, which on R
# arrays would not broadcast as the engine does.
op_sub <- function(a, b) binary_op(a, b, "sub")
op_mul <- function(a, b) binary_op(a, b, "mul")
op_div <- function(a, b) binary_op(a, b, "div")
op_neg <- function(a) unary_op(a, "neg")

#' Element-wise math on tensors
#'
#' Keras for R's backend functions, applied to a model's tensors (an operation becomes a
#' layer of the model), to the tensors a [layer_lambda()] function or a loss written in R
#' receives (the engine differentiates them), or to R arrays and numbers (computed at once).
#' @param x,y Tensors, arrays or numbers.
#' @param a The power.
#' @param min_value,max_value The bounds (`NULL`: none).
#' @param alpha,threshold `k_relu()`: the slope below `threshold` (the ceiling is
#'   `max_value`); `k_elu()`: `alpha`, the scale of the negative part.
#' @returns A tensor (or an array, for arrays).
#' @family backend
#' @export
#' @examples
#' k_exp(c(0, 1))
#' input <- layer_input(shape = 2)
#' model <- keras_model(input, k_square(input) + k_abs(input))
#' predict(model, matrix(c(-1, 2), 1), verbose = 0)
k_exp <- function(x) unary_op(x, "exp")

#' @rdname k_exp
#' @export
k_log <- function(x) unary_op(x, "log")

#' @rdname k_exp
#' @export
k_sqrt <- function(x) unary_op(x, "sqrt")

#' @rdname k_exp
#' @export
k_square <- function(x) unary_op(x, "square")

#' @rdname k_exp
#' @export
k_abs <- function(x) unary_op(x, "abs")

#' @rdname k_exp
#' @export
k_sign <- function(x) unary_op(x, "sign")

#' @rdname k_exp
#' @export
k_round <- function(x) unary_op(x, "round")

#' @rdname k_exp
#' @export
k_sin <- function(x) unary_op(x, "sin")

#' @rdname k_exp
#' @export
k_cos <- function(x) unary_op(x, "cos")

#' @rdname k_exp
#' @export
k_sigmoid <- function(x) unary_op(x, "sigmoid")

#' @rdname k_exp
#' @export
k_hard_sigmoid <- function(x) unary_op(x, "hard_sigmoid")

#' @rdname k_exp
#' @export
k_tanh <- function(x) unary_op(x, "tanh")

#' @rdname k_exp
#' @export
k_softplus <- function(x) unary_op(x, "softplus")

#' @rdname k_exp
#' @export
k_softsign <- function(x) unary_op(x, "softsign")

#' @rdname k_exp
#' @export
k_elu <- function(x, alpha = 1) {
  alpha <- check_number(alpha, "alpha")
  if (alpha == 1) return(unary_op(x, "elu"))
  k_switch(k_greater(x, 0), x, op_mul(unary_op(x, "expm1"), alpha))
}

#' @rdname k_exp
#' @export
k_relu <- function(x, alpha = 0, max_value = NULL, threshold = 0) {
  alpha <- check_number(alpha, "alpha")
  max_value <- check_number(max_value, "max_value", allow_null = TRUE)
  threshold <- check_number(threshold, "threshold")
  y <- if (alpha == 0 && threshold == 0) unary_op(x, "relu")
       else k_switch(k_greater_equal(x, threshold), x, op_mul(op_sub(x, threshold), alpha))
  if (!is.null(max_value)) y <- k_clip(y, -Inf, max_value)
  y
}

#' @rdname k_exp
#' @export
k_pow <- function(x, a) binary_op(x, a, "pow")

#' @rdname k_exp
#' @export
k_clip <- function(x, min_value = NULL, max_value = NULL) {
  bound <- function(v, arg, default) {
    if (is.null(v)) return(default)
    if (!is.numeric(v) || length(v) != 1 || is.na(v)) {
      rk_abort(sprintf("`%s` must be a number or NULL, not %s.", arg, show_value(v)), "value")
    }
    as.double(v)
  }
  lo <- bound(min_value, "min_value", -Inf)
  hi <- bound(max_value, "max_value", Inf)
  op_apply(list(op = "clip", min = max(lo, -3.4e38), max = min(hi, 3.4e38)), list(x))
}

#' @rdname k_exp
#' @export
k_maximum <- function(x, y) binary_op(x, y, "maximum")

#' @rdname k_exp
#' @export
k_minimum <- function(x, y) binary_op(x, y, "minimum")

#' Comparisons and selection
#'
#' Element-wise comparisons (1 where true, 0 where false; no gradient flows through them)
#' and `k_switch()`, which takes `then_expression` where `condition` is non-zero and
#' `else_expression` elsewhere (all three broadcast).
#' @inheritParams k_exp
#' @param condition,then_expression,else_expression Tensors, arrays or numbers.
#' @returns A tensor (or an array, for arrays).
#' @family backend
#' @export
#' @examples
#' k_greater(c(1, 5), 2)
#' k_switch(c(1, 0), c(10, 20), c(-1, -2))
k_equal <- function(x, y) binary_op(x, y, "equal")

#' @rdname k_equal
#' @export
k_not_equal <- function(x, y) binary_op(x, y, "not_equal")

#' @rdname k_equal
#' @export
k_greater <- function(x, y) binary_op(x, y, "greater")

#' @rdname k_equal
#' @export
k_greater_equal <- function(x, y) binary_op(x, y, "greater_equal")

#' @rdname k_equal
#' @export
k_less <- function(x, y) binary_op(x, y, "less")

#' @rdname k_equal
#' @export
k_less_equal <- function(x, y) binary_op(x, y, "less_equal")

#' @rdname k_equal
#' @export
k_switch <- function(condition, then_expression, else_expression) {
  op_apply(list(op = "where"), list(condition, then_expression, else_expression))
}

reduce_op <- function(x, kind, axis, keepdims, call = rlang::caller_env()) {
  keepdims <- check_flag(keepdims, "keepdims", call = call)
  axes <- axes_index(axis, rank_of(x), call = call)
  op_apply(list(op = "reduce", kind = kind, axes = if (!is.null(axes)) I(axes), keepdims = keepdims),
           list(x), call)
}

#' Reductions
#'
#' The sum, mean, ... of a tensor's values over `axis`, Keras for R's 1-based axes (the
#' batch axis is 1; negative axes count from the end), or over every axis (`NULL`).
#' `k_var()` and `k_std()` are the population variance and deviation (divided by n).
#' `k_argmax()`/`k_argmin()` return 0-based indices, as Keras's do.
#' @param x A tensor, an array or a number.
#' @param axis An axis or axes (`NULL`: all).
#' @param keepdims Keep the reduced axes with size 1.
#' @returns A tensor (or an array, for arrays).
#' @family backend
#' @export
#' @examples
#' x <- matrix(1:6, 2)
#' k_sum(x, axis = 2)
#' k_mean(x)
#' k_argmax(x)
k_sum <- function(x, axis = NULL, keepdims = FALSE) reduce_op(x, "sum", axis, keepdims)

#' @rdname k_sum
#' @export
k_mean <- function(x, axis = NULL, keepdims = FALSE) reduce_op(x, "mean", axis, keepdims)

#' @rdname k_sum
#' @export
k_max <- function(x, axis = NULL, keepdims = FALSE) reduce_op(x, "max", axis, keepdims)

#' @rdname k_sum
#' @export
k_min <- function(x, axis = NULL, keepdims = FALSE) reduce_op(x, "min", axis, keepdims)

#' @rdname k_sum
#' @export
k_prod <- function(x, axis = NULL, keepdims = FALSE) reduce_op(x, "prod", axis, keepdims)

#' @rdname k_sum
#' @export
k_var <- function(x, axis = NULL, keepdims = FALSE) reduce_op(x, "var", axis, keepdims)

#' @rdname k_sum
#' @export
k_std <- function(x, axis = NULL, keepdims = FALSE) reduce_op(x, "std", axis, keepdims)

#' @rdname k_sum
#' @export
k_logsumexp <- function(x, axis = NULL, keepdims = FALSE) reduce_op(x, "logsumexp", axis, keepdims)

#' @rdname k_sum
#' @export
k_any <- function(x, axis = NULL, keepdims = FALSE) reduce_op(x, "any", axis, keepdims)

#' @rdname k_sum
#' @export
k_all <- function(x, axis = NULL, keepdims = FALSE) reduce_op(x, "all", axis, keepdims)

#' @rdname k_sum
#' @export
k_argmax <- function(x, axis = -1) {
  op_apply(list(op = "arg_reduce", max = TRUE, axis = axis_index(axis, rank_of(x))), list(x))
}

#' @rdname k_sum
#' @export
k_argmin <- function(x, axis = -1) {
  op_apply(list(op = "arg_reduce", max = FALSE, axis = axis_index(axis, rank_of(x))), list(x))
}

#' Activations and normalization along an axis
#'
#' `k_softmax()` (Keras for R's default: the last axis) and `k_l2_normalize()`, which
#' divides by `sqrt(max(sum(x^2), 1e-12))` over `axis` (`NULL`: all axes), as Keras does.
#' @inheritParams k_sum
#' @param x A tensor, an array or a number.
#' @returns A tensor (or an array, for arrays).
#' @family backend
#' @export
#' @examples
#' k_softmax(matrix(c(1, 2, 3, 1, 1, 1), 2, byrow = TRUE))
#' k_l2_normalize(c(3, 4))
k_softmax <- function(x, axis = -1) {
  op_apply(list(op = "softmax", axis = axis_index(axis, rank_of(x))), list(x))
}

#' @rdname k_softmax
#' @export
k_l2_normalize <- function(x, axis = NULL) {
  if (length(axis) == 1) {
    return(op_apply(list(op = "l2_normalize", axis = axis_index(axis, rank_of(x)), epsilon = 1e-12), list(x)))
  }
  op_div(x, k_sqrt(k_maximum(k_sum(k_square(x), axis = axis, keepdims = TRUE), 1e-12)))
}

#' Shapes of tensors
#'
#' `k_int_shape()` is the shape as a list (`NULL` for an open axis, the batch's);
#' `k_shape()` the same, whose open entries stand for the size each batch has (give them
#' to [k_random_normal()]'s `shape`); `k_ndim()` the rank.
#' @param x A tensor, an array or a number.
#' @returns A list, or a number.
#' @family backend
#' @export
#' @examples
#' input <- layer_input(shape = c(4, 2))
#' k_int_shape(input)
#' k_ndim(input)
k_int_shape <- function(x) {
  s <- check_operand(x, "x")
  lapply(s, function(d) if (is.na(d)) NULL else d)
}

#' @rdname k_int_shape
#' @export
k_shape <- function(x) {
  s <- check_operand(x, "x")
  structure(lapply(seq_along(s), function(k) {
    if (is.na(s[[k]])) structure(list(tensor = x, axis = k - 1L), class = "rkeras_dim") else s[[k]]
  }), class = "rkeras_shape")
}

#' @rdname k_int_shape
#' @export
k_ndim <- function(x) length(check_operand(x, "x"))

#' @export
`[.rkeras_shape` <- function(x, i) {
  out <- unclass(x)[i]
  if (length(out) == 1) out[[1]] else structure(out, class = "rkeras_shape")
}

#' @export
c.rkeras_dim <- function(...) structure(lapply(list(...), function(v) if (inherits(v, "rkeras_dim")) v else as.numeric(v)),
                                        class = "rkeras_shape")

#' @export
print.rkeras_shape <- function(x, ...) {
  cat(sprintf("<shape (%s)>\n", paste(vapply(unclass(x), function(d) if (inherits(d, "rkeras_dim")) "None" else format(d), ""),
                                      collapse = ", ")))
  invisible(x)
}

check_operand <- function(x, arg, call = rlang::caller_env()) {
  if (operand_kind(x) == "bad") {
    rk_abort(sprintf("`%s` must be a tensor, an array or a number, not %s.", arg, show_value(x)), "type", call)
  }
  operand_shape(x)
}

#' Reshaping tensors
#'
#' `k_reshape()` to a full shape (the batch's axis included; one entry may be -1 or
#' `NULL`); `k_flatten()` to one axis, `k_batch_flatten()` to `(batch, values)`;
#' `k_expand_dims()` adds an axis of size 1, `k_squeeze()` removes one;
#' `k_permute_dimensions()` reorders axes by `pattern` (1-based, the batch's axis
#' included), `k_transpose()` reverses them; `k_concatenate()` joins tensors along an axis
#' and `k_stack()` along a new one; `k_tile()` repeats a whole tensor `n` times along each
#' axis and `k_repeat_elements()` each entry `rep` times along `axis`; `k_one_hot()`
#' encodes 0-based class ids in a new last axis.
#' @inheritParams k_sum
#' @param x A tensor, an array or a number.
#' @param shape The new shape.
#' @param pattern The axes' new order.
#' @param tensors A list of tensors.
#' @param n Repetitions for each axis.
#' @param rep Repetitions of each entry.
#' @param indices,num_classes Class ids and their number.
#' @returns A tensor (or an array, for arrays).
#' @family backend
#' @export
#' @examples
#' x <- matrix(1:6, 2)
#' k_reshape(x, c(3, 2))
#' k_expand_dims(x)
#' k_concatenate(list(x, x), axis = 1)
#' k_one_hot(c(0, 2), 3)
k_reshape <- function(x, shape) {
  if (is.list(shape)) shape <- vapply(shape, function(d) if (is.null(d)) -1 else as.numeric(d), 1)
  if (!is.numeric(shape) || !length(shape) || anyNA(shape) || any(shape != round(shape)) || any(shape < -1) ||
      any(shape > 2^31 - 1) ||
      sum(shape == -1) > 1) {
    rk_abort(sprintf("`shape` must be whole numbers, one of which may be -1 or NULL, not %s.", show_value(shape)), "value")
  }
  op_apply(list(op = "reshape", shape = I(as.integer(shape))), list(x))
}

#' @rdname k_reshape
#' @export
k_flatten <- function(x) k_reshape(x, -1)

#' @rdname k_reshape
#' @export
k_batch_flatten <- function(x) {
  s <- check_operand(x, "x")
  if (anyNA(s[-1])) rk_abort("`x` must have known sizes on every axis but the first to be flattened per sample.", "value")
  k_reshape(x, c(-1, prod(s[-1])))
}

#' @rdname k_reshape
#' @export
k_expand_dims <- function(x, axis = -1) {
  op_apply(list(op = "expand_dims", axis = axis_index(axis, rank_of(x), extra = 1L)), list(x))
}

#' @rdname k_reshape
#' @export
k_squeeze <- function(x, axis = NULL) {
  if (!is.null(axis)) return(op_apply(list(op = "squeeze", axis = axis_index(axis, rank_of(x))), list(x)))
  s <- check_operand(x, "x")
  for (a in rev(which(!is.na(s) & s == 1))) x <- op_apply(list(op = "squeeze", axis = a - 1L), list(x))
  x
}

#' @rdname k_reshape
#' @export
k_permute_dimensions <- function(x, pattern) {
  r <- rank_of(x)
  if (!is.numeric(pattern) || length(pattern) != r || !setequal(pattern, seq_len(r))) {
    rk_abort(sprintf("`pattern` must order the %d axes of `x` (1 to %d), not %s.", r, r, show_value(pattern)), "value")
  }
  op_apply(list(op = "transpose", perm = I(as.integer(pattern) - 1L)), list(x))
}

#' @rdname k_reshape
#' @export
k_transpose <- function(x) op_apply(list(op = "transpose", perm = I(rev(seq_len(rank_of(x))) - 1L)), list(x))

#' @rdname k_reshape
#' @export
k_concatenate <- function(tensors, axis = -1) {
  if (!is.list(tensors) || !length(tensors) || inherits(tensors, c("rkeras_symbol", "rkeras_tensor"))) {
    rk_abort(sprintf("`tensors` must be a list of tensors, not %s.", show_value(tensors)), "type")
  }
  op_apply(list(op = "concat", axis = axis_index(axis, rank_of(tensors[[1]]))), unname(tensors))
}

#' @rdname k_reshape
#' @export
k_stack <- function(x, axis = 1) {
  if (!is.list(x) || !length(x) || inherits(x, c("rkeras_symbol", "rkeras_tensor"))) {
    rk_abort(sprintf("`x` must be a list of tensors, not %s.", show_value(x)), "type")
  }
  a <- axis_index(axis, rank_of(x[[1]]), extra = 1L)
  parts <- lapply(unname(x), function(t) op_apply(list(op = "expand_dims", axis = a), list(t)))
  op_apply(list(op = "concat", axis = a), parts)
}

#' @rdname k_reshape
#' @export
k_tile <- function(x, n) {
  r <- rank_of(x)
  if (!is.numeric(n) || anyNA(n) || any(n < 1) || any(n != round(n)) || any(n > 2^31 - 1) || !length(n) %in% c(1, r)) {
    rk_abort(sprintf("`n` must be %d positive whole numbers (one per axis), not %s.", r, show_value(n)), "value")
  }
  op_apply(list(op = "tile", reps = I(as.integer(rep_len(n, r)))), list(x))
}

#' @rdname k_reshape
#' @export
k_repeat_elements <- function(x, rep, axis) {
  rep <- check_count(rep, "rep")
  op_apply(list(op = "repeat", axis = axis_index(axis, rank_of(x)), times = rep), list(x))
}

#' @rdname k_reshape
#' @export
k_one_hot <- function(indices, num_classes) {
  num_classes <- check_count(num_classes, "num_classes")
  op_apply(list(op = "one_hot", classes = num_classes), list(indices))
}

#' Products of tensors
#'
#' `k_dot()` is the matrix product over the last axis of `x` and the second-to-last of `y`
#' (leading axes broadcast); `k_batch_dot()` the product of each sample's `x` and `y` over
#' `axes` (Keras for R's 1-based axes; default: the last axis of `x` and the
#' second-to-last of `y`, or the last of both for matrices).
#' @inheritParams k_exp
#' @param axes The axes of `x` and `y` to sum over.
#' @returns A tensor (or an array, for arrays).
#' @family backend
#' @export
#' @examples
#' k_dot(matrix(1:4, 2), diag(2))
#' k_batch_dot(matrix(1:4, 2), matrix(1:4, 2), axes = 2)
k_dot <- function(x, y) op_apply(list(op = "matmul"), list(x, y))

#' @rdname k_dot
#' @export
k_batch_dot <- function(x, y, axes = NULL) {
  rx <- rank_of(x)
  ry <- rank_of(y)
  if (is.null(axes)) axes <- if (rx == 2 && ry == 2) c(2, 2) else c(rx, ry - 1)
  axes <- rep_len(axes, 2)
  ax <- axis_index(axes[[1]], rx, "axes")
  ay <- axis_index(axes[[2]], ry, "axes")
  if (rx == 2 && ry == 2) {
    if (ax != 1 || ay != 1) rk_abort("`axes` of two matrices must both be 2 (the features).", "value")
    return(k_sum(op_mul(x, y), axis = 2, keepdims = TRUE))
  }
  if (rx != 3 || ry != 3 || ax == 0 || ay == 0) {
    rk_abort("k_batch_dot() takes two matrices or two rank-3 tensors, summing over axes 2 or 3.", "unsupported")
  }
  if (ax == 1) x <- k_permute_dimensions(x, c(1, 3, 2))
  if (ay == 2) y <- k_permute_dimensions(y, c(1, 3, 2))
  k_dot(x, y)
}

#' Casts and gradients
#'
#' `k_cast()` to `"float32"` (and `"float16"`/`"float64"`, computed in single precision),
#' an integer type (truncated towards zero) or `"bool"` (non-zero); `k_cast_to_floatx()`
#' and `k_identity()` return their input; `k_stop_gradient()` its value, through which no
#' gradient flows.
#' @param x A tensor, an array or a number.
#' @param dtype The type.
#' @param variables A tensor.
#' @returns A tensor (or an array, for arrays).
#' @family backend
#' @export
#' @examples
#' k_cast(c(1.7, -1.7), "int32")
k_cast <- function(x, dtype) {
  dtype <- check_string(dtype, "dtype")
  to <- if (dtype %in% c("float16", "float32", "float64")) "float"
        else if (dtype %in% c("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")) "int"
        else if (dtype == "bool") "bool"
        else rk_abort(sprintf("`dtype` must be a float, integer or \"bool\" type, not %s.", show_value(dtype)), "value")
  op_apply(list(op = "cast", to = to), list(x))
}

#' @rdname k_cast
#' @export
k_cast_to_floatx <- function(x) op_apply(list(op = "cast", to = "float"), list(x))

#' @rdname k_cast
#' @export
k_identity <- function(x) op_apply(list(op = "cast", to = "float"), list(x))

#' @rdname k_cast
#' @export
k_stop_gradient <- function(variables) op_apply(list(op = "stop_gradient"), list(variables))

#' Crossentropies of tensors
#'
#' As Keras 3's `ops`: probabilities are clipped to `[epsilon, 1 - epsilon]`
#' ([k_epsilon()]) before their logarithm; with `from_logits`, computed from logits
#' stably. `k_categorical_crossentropy()` first scales `output` to sum to 1 over `axis`;
#' `k_sparse_categorical_crossentropy()` takes 0-based class ids.
#' @param target,output Targets and predictions.
#' @param from_logits Whether `output` holds logits.
#' @param axis The classes' axis.
#' @returns A tensor with the classes' axis reduced (binary: element-wise).
#' @family backend
#' @export
#' @examples
#' k_binary_crossentropy(c(1, 0), c(0.9, 0.2))
#' k_categorical_crossentropy(matrix(c(0, 1), 1), matrix(c(0.3, 0.7), 1))
k_binary_crossentropy <- function(target, output, from_logits = FALSE) {
  from_logits <- check_flag(from_logits, "from_logits")
  if (from_logits) {
    return(op_add(op_sub(k_relu(output), op_mul(output, target)), unary_op(k_exp(op_neg(k_abs(output))), "log1p")))
  }
  eps <- k_epsilon()
  p <- k_clip(output, eps, 1 - eps)
  op_neg(op_add(op_mul(target, k_log(p)), op_mul(op_sub(1, target), k_log(op_sub(1, p)))))
}

#' @rdname k_binary_crossentropy
#' @export
k_categorical_crossentropy <- function(target, output, from_logits = FALSE, axis = -1) {
  from_logits <- check_flag(from_logits, "from_logits")
  a <- axis_index(axis, rank_of(output))
  if (from_logits) {
    return(op_neg(k_sum(op_mul(target, op_apply(list(op = "log_softmax", axis = a), list(output))), axis = a + 1)))
  }
  eps <- k_epsilon()
  p <- op_div(output, k_sum(output, axis = a + 1, keepdims = TRUE))
  op_neg(k_sum(op_mul(target, k_log(k_clip(p, eps, 1 - eps))), axis = a + 1))
}

#' @rdname k_binary_crossentropy
#' @export
k_sparse_categorical_crossentropy <- function(target, output, from_logits = FALSE, axis = -1) {
  s <- check_operand(output, "output")
  k <- s[[length(s)]]
  if (is.na(k)) rk_abort("`output` must have a known number of classes on its last axis.", "value")
  ts <- check_operand(target, "target")
  if (length(ts) == length(s) && identical(ts[[length(ts)]], 1L)) target <- k_squeeze(target, -1)
  k_categorical_crossentropy(k_one_hot(k_cast(target, "int32"), k), output, from_logits, axis)
}

#' Constants, random tensors and values
#'
#' `k_constant()`, `k_variable()`, `k_zeros()`, `k_ones()` and the random draws make R
#' arrays (rkeras computes eagerly on arrays); `k_eval()` and `k_get_value()` return an
#' array's value. `k_zeros_like()`/`k_ones_like()` take the shape of a tensor or array.
#' In a recorded function, `k_random_normal(shape = c(k_shape(x)[[1]], 2))` draws a new
#' value for each sample of each batch.
#' @param value,x An array or number (or a tensor for the `_like` functions).
#' @param dtype Only `NULL` or a float type.
#' @param shape The shape (a vector; [k_shape()]'s entries for open axes).
#' @param name Not used (Keras's tensor names).
#' @param mean,stddev The normal distribution's.
#' @param minval,maxval The uniform distribution's bounds.
#' @param seed A seed (`NULL`: from R's random numbers).
#' @returns An array, or a tensor.
#' @family backend
#' @export
#' @examples
#' k_constant(1:3)
#' k_zeros(c(2, 2))
#' set.seed(1)
#' k_random_normal(3)
k_constant <- function(value, dtype = NULL, shape = NULL, name = NULL) {
  check_float_dtype(dtype)
  if (!is.numeric(value) && !is.logical(value)) {
    rk_abort(sprintf("`value` must be numeric, not %s.", show_value(value)), "type")
  }
  v <- array(as.double(value), dim(value) %||% length(value))
  if (!is.null(shape)) v <- array(rep_len(as.double(value), prod(shape)), shape)
  if (is.null(dim(value)) && is.null(shape)) v <- as.double(value)
  v
}

check_float_dtype <- function(dtype, call = rlang::caller_env()) {
  ok <- is.character(dtype) && length(dtype) == 1 && dtype %in% c("float16", "float32", "float64")
  if (!is.null(dtype) && !ok) {
    rk_abort(sprintf("`dtype` must be NULL or a float type, not %s.", show_value(dtype)), "value", call)
  }
}

#' @rdname k_constant
#' @export
k_variable <- function(value, dtype = NULL, name = NULL) k_constant(value, dtype)

#' @rdname k_constant
#' @export
k_zeros <- function(shape, dtype = NULL, name = NULL) {
  check_float_dtype(dtype)
  array(0, check_array_shape(shape))
}

#' @rdname k_constant
#' @export
k_ones <- function(shape, dtype = NULL, name = NULL) {
  check_float_dtype(dtype)
  array(1, check_array_shape(shape))
}

check_array_shape <- function(shape, call = rlang::caller_env()) {
  if (!is.numeric(shape) || !length(shape) || anyNA(shape) || any(shape < 0) || any(shape != round(shape))) {
    rk_abort(sprintf("`shape` must be non-negative whole numbers, not %s.", show_value(shape)), "value", call)
  }
  if (prod(shape) > eager_limit) {
    rk_abort(sprintf("`shape` asks for %s values; arrays computed here hold at most %s.",
                     format(prod(shape), big.mark = ","), format(eager_limit, big.mark = ",")), "value", call)
  }
  shape
}

#' The most values an array computed at once may hold (2^28: 1 GiB in single precision)
#' @noRd
eager_limit <- 2^28

#' @rdname k_constant
#' @export
k_zeros_like <- function(x, dtype = NULL, name = NULL) {
  check_float_dtype(dtype)
  op_mul(x, 0)
}

#' @rdname k_constant
#' @export
k_ones_like <- function(x, dtype = NULL, name = NULL) {
  check_float_dtype(dtype)
  op_add(op_mul(x, 0), 1)
}

#' @rdname k_constant
#' @export
k_eval <- function(x) {
  if (inherits(x, "rkeras_learning_rate")) return(as.numeric(x))
  if (inherits(x, c("rkeras_symbol", "rkeras_tensor"))) {
    rk_abort("A symbolic tensor has no value of its own: it takes values when its model runs (predict()).", "value")
  }
  check_operand(x, "x")
  x
}

#' @rdname k_constant
#' @export
k_get_value <- function(x) k_eval(x)

random_op <- function(shape, normal, a, b, seed, call = rlang::caller_env()) {
  dims <- if (is.list(shape)) unclass(shape) else as.list(shape)
  refs <- Filter(function(d) inherits(d, "rkeras_dim"), dims)
  for (d in refs) {
    if (d$axis != 0L || !identical(d$tensor, refs[[1]]$tensor)) {
      rk_abort("`shape` may take an open size from the batch axis of one tensor (k_shape(x)[[1]]) only.", "value", call)
    }
  }
  sizes <- vapply(dims, function(d) {
    if (inherits(d, "rkeras_dim")) -1 else if (is.numeric(d) && length(d) == 1) as.numeric(d) else NA_real_
  }, 1)
  if (!length(sizes) || anyNA(sizes) || any(sizes < -1) || any(sizes != round(sizes)) || any(sizes > 2^31 - 1)) {
    rk_abort(sprintf("`shape` must be whole numbers, not %s.", show_value(shape)), "value", call)
  }
  if (!length(refs)) check_array_shape(sizes, call)
  if (!is.null(seed)) {
    seed <- check_count(seed, "seed", min = 0, call = call)
  }
  op <- list(op = "random", shape = I(as.integer(sizes)), normal = normal, a = a, b = b)
  if (!length(refs)) {
    if (!is.null(seed)) local_seed(seed)
    return(eager_op(op, list(), call))
  }
  op_apply(op, list(refs[[1]]$tensor), call)
}

#' @rdname k_constant
#' @export
k_random_normal <- function(shape, mean = 0, stddev = 1, dtype = NULL, seed = NULL) {
  check_float_dtype(dtype)
  random_op(shape, TRUE, check_number(mean, "mean"), check_number(stddev, "stddev", min = 0), seed)
}

#' @rdname k_constant
#' @export
k_random_uniform <- function(shape, minval = 0, maxval = 1, dtype = NULL, seed = NULL) {
  check_float_dtype(dtype)
  random_op(shape, FALSE, check_number(minval, "minval"), check_number(maxval, "maxval"), seed)
}

#' Backend settings
#'
#' `k_epsilon()` is the fuzz factor the crossentropies clip by (Keras's default 1e-7;
#' `k_set_epsilon()` changes it for the session); `k_floatx()` is `"float32"` (the only type
#' rkeras computes in); `k_learning_phase()` is 0 outside training; `k_clear_session()`
#' resets the counters that name layers and models.
#' @param e The new epsilon.
#' @param floatx Only `"float32"`.
#' @returns The setting (invisibly for the setters).
#' @family backend
#' @export
#' @examples
#' k_epsilon()
#' k_floatx()
k_epsilon <- function() getOption("rkeras.epsilon", 1e-7)

#' @rdname k_epsilon
#' @export
k_set_epsilon <- function(e) {
  e <- check_number(e, "e", min = 0)
  options(rkeras.epsilon = e)
  invisible(e)
}

#' @rdname k_epsilon
#' @export
k_floatx <- function() "float32"

#' @rdname k_epsilon
#' @export
k_set_floatx <- function(floatx) {
  check_string(floatx, "floatx", choices = "float32")
  invisible(floatx)
}

#' @rdname k_epsilon
#' @export
k_learning_phase <- function() 0

#' @rdname k_epsilon
#' @export
k_clear_session <- function() {
  for (n in ls(rk_names, all.names = TRUE)) rm(list = n, envir = rk_names)
  invisible(NULL)
}

#' The backend's functions, as Keras for R's `K <- backend()` gives them
#'
#' A list of the `k_*` functions under their names without the prefix (`K$mean(x)`,
#' `K$exp(x)`, `K$epsilon()`).
#' @param convert Not used (Keras for R's conversion of Python values).
#' @returns A named list of functions.
#' @family backend
#' @export
#' @examples
#' K <- backend()
#' K$sum(matrix(1:4, 2))
backend <- function(convert = TRUE) {
  ns <- asNamespace("rkeras")
  fns <- grep("^k_", getNamespaceExports(ns), value = TRUE)
  stats::setNames(lapply(fns, get, envir = ns), sub("^k_", "", fns))
}
