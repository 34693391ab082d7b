rk_activations <- c("linear", "relu", "softmax", "sigmoid", "tanh", "elu", "selu",
                    "softplus", "softsign", "swish", "silu", "gelu")

#' Activation functions
#'
#' Usable as `activation = activation_relu` in layers, or called on numeric arrays
#' (computed in R, in double precision) to see what the engine computes.
#' @param x A numeric array.
#' @param alpha,max_value,threshold For `activation_relu()`/`activation_elu()`: only the
#'   Keras defaults are supported by the engine.
#' @param axis Softmax axis; only the last axis (`-1`).
#' @param approximate For gelu; only `FALSE` (exact) is supported by the engine.
#' @returns The activation of `x`.
#' @family activations
#' @name activations
#' @examples
#' activation_relu(c(-1, 0, 2))
#' activation_softmax(matrix(c(1, 2, 3, 1), 2))
NULL

make_activation <- function(name, f) structure(f, rkeras_activation = name)

#' @rdname activations
#' @export
activation_relu <- make_activation("relu", function(x, alpha = 0, max_value = NULL, threshold = 0) pmax(x, 0))
#' @rdname activations
#' @export
activation_sigmoid <- make_activation("sigmoid", function(x) 1 / (1 + exp(-x)))
#' @rdname activations
#' @export
activation_tanh <- make_activation("tanh", function(x) tanh(x))
#' @rdname activations
#' @export
activation_linear <- make_activation("linear", function(x) x)
#' @rdname activations
#' @export
activation_softmax <- make_activation("softmax", function(x, axis = -1) {
  x <- as.matrix(x)
  e <- exp(x - apply(x, 1, max))
  e / rowSums(e)
})
#' @rdname activations
#' @export
activation_elu <- make_activation("elu", function(x, alpha = 1) ifelse(x > 0, x, alpha * expm1(x)))
#' @rdname activations
#' @export
activation_selu <- make_activation("selu", function(x) {
  1.0507009873554805 * ifelse(x > 0, x, 1.6732632423543772 * expm1(x))
})
#' @rdname activations
#' @export
activation_softplus <- make_activation("softplus", function(x) log1p(exp(x)))
#' @rdname activations
#' @export
activation_softsign <- make_activation("softsign", function(x) x / (1 + abs(x)))
#' @rdname activations
#' @export
activation_swish <- make_activation("swish", function(x) x / (1 + exp(-x)))
#' @rdname activations
#' @export
activation_gelu <- make_activation("gelu", function(x, approximate = FALSE) x * stats::pnorm(x))

check_activation <- function(x, arg = "activation", call = rlang::caller_env()) {
  if (is.null(x)) return("linear")
  if (is.function(x)) {
    name <- attr(x, "rkeras_activation")
    if (is.null(name)) {
      rk_abort(sprintf("`%s` must be an activation name or an activation_*() function; custom R functions are not supported.", arg),
               "unsupported", call)
    }
    return(name)
  }
  check_string(x, arg, choices = rk_activations, call = call)
}
