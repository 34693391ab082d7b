#' Dropout layer
#'
#' During training, sets a fraction `rate` of its inputs to zero and scales the rest by
#' `1 / (1 - rate)` (inverted dropout); in prediction and evaluation it passes inputs
#' through unchanged. Input and output shapes: unchanged.
#' @inheritParams layer_dense
#' @param rate Fraction of the inputs to drop, in `[0, 1)`.
#' @param noise_shape `NULL`, or the shape of the dropout mask, batch axis first, broadcast
#'   over the input: an axis of size 1 shares one draw along the input's axis, `NA` (or
#'   `NULL` in a list) takes the input's size. `c(batch_size, 1, features)` drops the same
#'   features at every step of a sequence; the batch axis always takes the batch's size.
#' @param seed Ignored: dropout masks follow R's `set.seed()`.
#' @returns The model (invisibly) when `object` is a model, else a layer.
#' @family regularization layers
#' @export
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_dense(16, activation = "relu", input_shape = 8) %>%
#'   layer_dropout(rate = 0.4)
layer_dropout <- function(object, rate, noise_shape = NULL, seed = NULL, input_shape = NULL,
                          batch_input_shape = NULL, batch_size = NULL, name = NULL,
                          trainable = NULL, weights = NULL) {
  spec <- new_layer_spec("dropout", "Dropout", list(rate = check_rate(rate, "rate"),
                                                     noise_shape = check_noise_shape(noise_shape), seed = NULL),
                         input_shape = input_shape, name = name)
  compose_layer(object, spec)
}

#' `noise_shape` as Keras's config takes it: a list of whole numbers and NULLs (open axes)
#' @noRd
check_noise_shape <- function(x, call = rlang::caller_env()) {
  if (is.null(x)) return(NULL)
  items <- if (is.list(x)) x else as.list(x)
  ok <- length(items) >= 2 && all(vapply(items, function(v) {
    is.null(v) || (length(v) == 1 && (is.na(v) || (is.numeric(v) && v >= 1 && v <= 2^31 - 1 && v == round(v))))
  }, TRUE))
  if (!ok) {
    rk_abort(sprintf("`noise_shape` must be NULL or the mask's shape, batch axis first: whole numbers, NA for the input's size (c(NA, 1, 16)), not %s.",
                     show_value(x)), "value", call)
  }
  I(lapply(items, function(v) if (is.null(v) || is.na(v)) NULL else as.integer(v)))
}

#' Weight regularizers
#'
#' Add `l1 * sum(abs(w))` and/or `l2 * sum(w^2)` of a layer's kernel (or, as
#' `activity_regularizer`, of its output) to the loss.
#' @param l,l1,l2 Penalty factors.
#' @returns A regularizer object for `kernel_regularizer`.
#' @family regularization layers
#' @export
#' @examples
#' keras_model_sequential() %>%
#'   layer_dense(4, input_shape = 3, kernel_regularizer = regularizer_l2(0.001))
regularizer_l2 <- function(l = 0.01) {
  structure(list(l1 = 0, l2 = check_number(l, "l", min = 0)), class = "rkeras_regularizer")
}

#' @rdname regularizer_l2
#' @export
regularizer_l1 <- function(l = 0.01) {
  structure(list(l1 = check_number(l, "l", min = 0), l2 = 0), class = "rkeras_regularizer")
}

#' @rdname regularizer_l2
#' @export
regularizer_l1_l2 <- function(l1 = 0.01, l2 = 0.01) {
  structure(list(l1 = check_number(l1, "l1", min = 0), l2 = check_number(l2, "l2", min = 0)),
            class = "rkeras_regularizer")
}

as_regularizer <- function(x, arg, call = rlang::caller_env()) {
  if (is.null(x)) return(NULL)
  if (!inherits(x, "rkeras_regularizer")) {
    rk_abort(sprintf("`%s` must be NULL or a regularizer from regularizer_l1()/regularizer_l2(), not %s.",
                     arg, show_value(x)), "type", call)
  }
  unclass(x)
}

#' Activity regularization layer
#'
#' Passes its input through unchanged and adds `l1 * sum(abs(x)) + l2 * sum(x^2)` over a
#' batch's input `x`, divided by the batch's number of samples, to the loss (in training and
#' evaluation), as Keras 3's `ActivityRegularization` layer does. Input and output shapes: unchanged.
#' @inheritParams layer_dense
#' @param l1,l2 Penalty factors (non-negative).
#' @returns The model (invisibly) when `object` is a model, else a layer.
#' @family regularization layers
#' @export
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_dense(16, activation = "relu", input_shape = 8) %>%
#'   layer_activity_regularization(l1 = 0.001)
layer_activity_regularization <- function(object, l1 = 0, l2 = 0, input_shape = NULL, batch_input_shape = NULL,
                                          batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                                          weights = NULL, ...) {
  check_no_dots(..., fn = "layer_activity_regularization()")
  spec <- new_layer_spec("activity_regularization", "ActivityRegularization",
                         list(l1 = check_number(l1, "l1", min = 0), l2 = check_number(l2, "l2", min = 0)),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}
