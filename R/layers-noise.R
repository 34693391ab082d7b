# Noise layers (active in training only), unit normalization, and the activation layers
# Keras for R names apart: SELU, parametric and thresholded ReLU.

#' Noise layers
#'
#' Active in training only; in prediction and evaluation they pass inputs through unchanged,
#' as in Keras. `layer_gaussian_noise()` adds zero-centred normal noise of standard deviation
#' `stddev`. `layer_gaussian_dropout()` multiplies by normal noise of mean 1 and variance
#' `rate / (1 - rate)`. `layer_alpha_dropout()` sets a fraction `rate` of the values to SELU's
#' negative saturation and rescales so that the mean and variance of self-normalizing
#' inputs are kept (use it with `activation = "selu"` and `lecun_normal` weights).
#' Input and output shapes: unchanged.
#' @inheritParams layer_dense
#' @param stddev Standard deviation of the noise, `>= 0`.
#' @param rate Fraction of the inputs to drop, in `[0, 1)`.
#' @param noise_shape Not supported; must be `NULL`.
#' @param seed `NULL` or an integer, kept in the layer's configuration; the noise follows R's
#'   `set.seed()`.
#' @returns The model (invisibly) when `object` is a model, a tensor when `object` is a
#'   tensor, else a layer.
#' @family regularization layers
#' @export
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_dense(16, activation = "selu", kernel_initializer = "lecun_normal", input_shape = 8) %>%
#'   layer_alpha_dropout(0.1) %>%
#'   layer_gaussian_noise(0.2) %>%
#'   layer_dense(1)
layer_gaussian_noise <- function(object, stddev, seed = NULL, input_shape = NULL, batch_input_shape = NULL,
                                 batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                                 weights = NULL, ...) {
  check_no_dots(..., fn = "layer_gaussian_noise()")
  spec <- new_layer_spec("gaussian_noise", "GaussianNoise",
                         list(stddev = check_number(stddev, "stddev", min = 0),
                              seed = check_count(seed, "seed", min = 0, allow_null = TRUE)),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' @rdname layer_gaussian_noise
#' @export
layer_gaussian_dropout <- function(object, rate, seed = NULL, input_shape = NULL, batch_input_shape = NULL,
                                   batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                                   weights = NULL, ...) {
  check_no_dots(..., fn = "layer_gaussian_dropout()")
  spec <- new_layer_spec("gaussian_dropout", "GaussianDropout",
                         list(rate = check_rate(rate, "rate"),
                              seed = check_count(seed, "seed", min = 0, allow_null = TRUE)),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' @rdname layer_gaussian_noise
#' @export
layer_alpha_dropout <- function(object, rate, noise_shape = NULL, seed = NULL, input_shape = NULL,
                                batch_input_shape = NULL, batch_size = NULL, dtype = NULL, name = NULL,
                                trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_alpha_dropout()")
  check_unsupported(noise_shape = noise_shape)
  spec <- new_layer_spec("alpha_dropout", "AlphaDropout",
                         list(rate = check_rate(rate, "rate"), noise_shape = NULL,
                              seed = check_count(seed, "seed", min = 0, allow_null = TRUE)),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' Unit normalization layer
#'
#' Scales each sample to unit L2 norm over its last axis, as Keras's `UnitNormalization`:
#' `x / sqrt(max(sum(x^2), 1e-12))`. Input and output shapes: unchanged.
#' @inheritParams layer_dense
#' @param axis The axis to normalize: `-1` (the last; the only one supported).
#' @returns The model (invisibly) when `object` is a model, a tensor when `object` is a
#'   tensor, else a layer.
#' @family normalization layers
#' @export
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_dense(8, input_shape = 4) %>%
#'   layer_unit_normalization()
layer_unit_normalization <- function(object, axis = -1L, input_shape = NULL, batch_input_shape = NULL,
                                     batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                                     weights = NULL, ...) {
  check_no_dots(..., fn = "layer_unit_normalization()")
  if (!is.numeric(axis) || length(axis) != 1 || is.na(axis) || axis != -1) {
    rk_abort(sprintf("`axis` must be -1 (the last axis), not %s: rkeras normalizes over the last axis only.",
                     show_value(axis)), "unsupported")
  }
  spec <- new_layer_spec("unit_normalization", "UnitNormalization", list(axis = -1L),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' SELU, parametric ReLU and thresholded ReLU layers
#'
#' `layer_activation_selu()`: Keras's SELU activation as a layer (an `Activation("selu")`
#' layer, as Keras for R makes it). `layer_activation_parametric_relu()`: `x` for `x > 0`,
#' else `alpha * x` with `alpha` a trained weight per position of the sample, shared along
#' `shared_axes` (Keras's `PReLU`). `layer_activation_thresholded_relu()`: `x` for
#' `x > theta`, else 0 (Keras 3 writes it as a `ReLU` layer with `threshold = theta`).
#' Input and output shapes: unchanged.
#' @inheritParams layer_dense
#' @param alpha_initializer Initializer of `alpha` (default `"zeros"`).
#' @param alpha_regularizer `NULL` or a `regularizer_*()` object for `alpha`.
#' @param alpha_constraint Not supported; must be `NULL`.
#' @param shared_axes `NULL`, or the sample axes (1-based, as in Keras) along which `alpha`
#'   is shared, e.g. `c(1, 2)` for one `alpha` per channel of images.
#' @param theta Threshold, `>= 0`.
#' @returns The model (invisibly) when `object` is a model, a tensor when `object` is a
#'   tensor, else a layer.
#' @family core layers
#' @export
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_dense(8, input_shape = 4) %>%
#'   layer_activation_parametric_relu() %>%
#'   layer_dense(8) %>%
#'   layer_activation_thresholded_relu(theta = 0.5) %>%
#'   layer_dense(1) %>%
#'   layer_activation_selu()
layer_activation_selu <- function(object, input_shape = NULL, batch_input_shape = NULL, batch_size = NULL,
                                  dtype = NULL, name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_activation_selu()")
  spec <- new_layer_spec("activation", "Activation", list(activation = "selu"),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' @rdname layer_activation_selu
#' @export
layer_activation_parametric_relu <- function(object, alpha_initializer = "zeros", alpha_regularizer = NULL,
                                             alpha_constraint = NULL, shared_axes = NULL, input_shape = NULL,
                                             batch_input_shape = NULL, batch_size = NULL, dtype = NULL,
                                             name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_activation_parametric_relu()")
  check_unsupported(alpha_constraint = alpha_constraint)
  if (!is.null(shared_axes)) {
    if (!is.numeric(shared_axes) || !length(shared_axes) || anyNA(shared_axes) ||
        any(shared_axes != round(shared_axes)) || any(shared_axes < 1)) {
      rk_abort(sprintf("`shared_axes` must be NULL or sample axes (whole numbers >= 1), not %s.",
                       show_value(shared_axes)), "value")
    }
    shared_axes <- I(as.integer(shared_axes))
  }
  spec <- new_layer_spec("p_re_lu", "PReLU", list(
    alpha_initializer = as_initializer(alpha_initializer, "alpha_initializer"),
    alpha_regularizer = as_regularizer(alpha_regularizer, "alpha_regularizer"),
    alpha_constraint = NULL, shared_axes = shared_axes),
    input_shape = input_shape %||% batch_input_shape[-1], name = name, seed = draw_seed())
  compose_layer(object, spec)
}

#' @rdname layer_activation_selu
#' @export
layer_activation_thresholded_relu <- function(object, theta = 1.0, input_shape = NULL, batch_input_shape = NULL,
                                              batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                                              weights = NULL, ...) {
  check_no_dots(..., fn = "layer_activation_thresholded_relu()")
  spec <- new_layer_spec("re_lu", "ReLU", list(max_value = NULL, negative_slope = 0,
                                               threshold = check_number(theta, "theta", min = 0)),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}
