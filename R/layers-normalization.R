#' Batch normalization layer
#'
#' Normalizes each channel (the last axis): `gamma * (x - mean) / sqrt(var + epsilon) + beta`.
#' In training, mean and variance are the batch's (over every axis but the last), and each
#' training step moves the moving averages: `moving = moving * momentum + batch * (1 -
#' momentum)`; in prediction and evaluation the moving averages are used. Its weights, in
#' `get_weights()` order: `gamma` (when `scale`), `beta` (when `center`), `moving_mean`,
#' `moving_variance` (not trained). A frozen layer (`freeze_weights()`) runs in inference
#' mode, also during training, as in Keras.
#'
#' Input and output shapes: unchanged.
#' @inheritParams layer_dense
#' @param axis The channels axis: `-1` (the last, as Keras counts with the batch axis
#'   first); other axes are not supported.
#' @param momentum Momentum of the moving averages.
#' @param epsilon Added to the variance.
#' @param center,scale Whether to learn `beta` and `gamma`.
#' @param beta_initializer,gamma_initializer,moving_mean_initializer,moving_variance_initializer
#'   Initializer names or `initializer_*()` objects.
#' @param beta_regularizer,gamma_regularizer,beta_constraint,gamma_constraint Not supported;
#'   must be `NULL`.
#' @param renorm,renorm_clipping,renorm_momentum,fused,virtual_batch_size,adjustment,synchronized
#'   Batch renormalization and other variants are not supported; leave them at their
#'   defaults.
#' @returns The model (invisibly) when `object` is a model, a tensor when `object` is a
#'   tensor, else a layer.
#' @family normalization layers
#' @export
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_conv_2d(8, 3, input_shape = c(12, 12, 1)) %>%
#'   layer_batch_normalization() %>%
#'   layer_activation("relu")
layer_batch_normalization <- function(object, axis = -1L, momentum = 0.99, epsilon = 0.001,
                                      center = TRUE, scale = TRUE, beta_initializer = "zeros",
                                      gamma_initializer = "ones",
                                      moving_mean_initializer = "zeros",
                                      moving_variance_initializer = "ones",
                                      beta_regularizer = NULL, gamma_regularizer = NULL,
                                      beta_constraint = NULL, gamma_constraint = NULL,
                                      renorm = FALSE, renorm_clipping = NULL,
                                      renorm_momentum = 0.99, fused = NULL,
                                      virtual_batch_size = NULL, adjustment = NULL,
                                      synchronized = FALSE, input_shape = NULL,
                                      batch_input_shape = NULL, batch_size = NULL, dtype = NULL,
                                      name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_batch_normalization()")
  check_unsupported(beta_regularizer = beta_regularizer, gamma_regularizer = gamma_regularizer,
                    beta_constraint = beta_constraint, gamma_constraint = gamma_constraint,
                    renorm_clipping = renorm_clipping, virtual_batch_size = virtual_batch_size,
                    adjustment = adjustment)
  if (!isFALSE(check_flag(renorm, "renorm"))) rk_abort("`renorm = TRUE` is not supported by rkeras yet.", "unsupported")
  if (!isFALSE(check_flag(synchronized, "synchronized"))) rk_abort("`synchronized = TRUE` is not supported.", "unsupported")
  if (!is.null(fused) && !isFALSE(fused)) check_flag(fused, "fused") # a kernel choice in TensorFlow; same result
  spec <- new_layer_spec("batch_normalization", "BatchNormalization", list(
    axis = check_axis_last(axis),
    momentum = check_number(momentum, "momentum", min = 0, max = 1),
    epsilon = check_number(epsilon, "epsilon", min = 1e-12),
    center = check_flag(center, "center"),
    scale = check_flag(scale, "scale"),
    beta_initializer = as_initializer(beta_initializer, "beta_initializer"),
    gamma_initializer = as_initializer(gamma_initializer, "gamma_initializer"),
    moving_mean_initializer = as_initializer(moving_mean_initializer, "moving_mean_initializer"),
    moving_variance_initializer = as_initializer(moving_variance_initializer, "moving_variance_initializer")),
    input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' Layer normalization layer
#'
#' Normalizes each sample position over its last axis:
#' `gamma * (x - mean) / sqrt(var + epsilon) + beta`, the same in training and inference.
#'
#' Input and output shapes: unchanged.
#' @inheritParams layer_batch_normalization
#' @param axis The axis to normalize over: `-1` (the last); others are not supported.
#' @param rms_scaling Not supported; must be `FALSE`.
#' @param beta_initializer,gamma_initializer Initializer names or `initializer_*()` objects.
#' @returns The model (invisibly) when `object` is a model, a tensor when `object` is a
#'   tensor, else a layer.
#' @family normalization layers
#' @export
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_dense(16, input_shape = 8) %>%
#'   layer_layer_normalization()
layer_layer_normalization <- function(object, axis = -1L, epsilon = 0.001, center = TRUE,
                                      scale = TRUE, rms_scaling = FALSE,
                                      beta_initializer = "zeros", gamma_initializer = "ones",
                                      beta_regularizer = NULL, gamma_regularizer = NULL,
                                      beta_constraint = NULL, gamma_constraint = NULL,
                                      input_shape = NULL, batch_input_shape = NULL,
                                      batch_size = NULL, dtype = NULL, name = NULL,
                                      trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_layer_normalization()")
  check_unsupported(beta_regularizer = beta_regularizer, gamma_regularizer = gamma_regularizer,
                    beta_constraint = beta_constraint, gamma_constraint = gamma_constraint)
  if (!isFALSE(check_flag(rms_scaling, "rms_scaling"))) rk_abort("`rms_scaling = TRUE` is not supported by rkeras yet.", "unsupported")
  spec <- new_layer_spec("layer_normalization", "LayerNormalization", list(
    axis = check_axis_last(axis),
    epsilon = check_number(epsilon, "epsilon", min = 1e-12),
    center = check_flag(center, "center"),
    scale = check_flag(scale, "scale"),
    rms_scaling = FALSE,
    beta_initializer = as_initializer(beta_initializer, "beta_initializer"),
    gamma_initializer = as_initializer(gamma_initializer, "gamma_initializer")),
    input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' Group normalization layer
#'
#' Keras's `GroupNormalization`: the channels (last axis) are split into `groups` groups of
#' consecutive channels, and each sample is normalized over each group's channels and all of
#' its positions, `gamma * (x - mean) / sqrt(var + epsilon) + beta` with `gamma` and `beta`
#' per channel; the same in training and inference. `groups = -1` gives each channel a group
#' of its own (instance normalization); `groups = 1` normalizes each sample as a whole.
#'
#' Input and output shapes: unchanged; the channels must be a multiple of `groups`.
#' @inheritParams layer_layer_normalization
#' @param groups Number of groups, or `-1` for one per channel.
#' @returns The model (invisibly) when `object` is a model, a tensor when `object` is a
#'   tensor, else a layer.
#' @family normalization layers
#' @export
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_conv_2d(8, c(3, 3), input_shape = c(12, 12, 1)) %>%
#'   layer_group_normalization(groups = 4)
layer_group_normalization <- function(object, groups = 32L, axis = -1L, epsilon = 0.001, center = TRUE,
                                      scale = TRUE, beta_initializer = "zeros", gamma_initializer = "ones",
                                      beta_regularizer = NULL, gamma_regularizer = NULL,
                                      beta_constraint = NULL, gamma_constraint = NULL,
                                      input_shape = NULL, batch_input_shape = NULL,
                                      batch_size = NULL, dtype = NULL, name = NULL,
                                      trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_group_normalization()")
  check_unsupported(beta_regularizer = beta_regularizer, gamma_regularizer = gamma_regularizer,
                    beta_constraint = beta_constraint, gamma_constraint = gamma_constraint)
  minus_one <- is.numeric(groups) && length(groups) == 1 && !is.na(groups) && groups == -1
  groups <- if (minus_one) -1L else check_count(groups, "groups", max = 65536)
  spec <- new_layer_spec("group_normalization", "GroupNormalization", list(
    groups = as.integer(groups),
    axis = check_axis_last(axis),
    epsilon = check_number(epsilon, "epsilon", min = 1e-12),
    center = check_flag(center, "center"),
    scale = check_flag(scale, "scale"),
    beta_initializer = as_initializer(beta_initializer, "beta_initializer"),
    gamma_initializer = as_initializer(gamma_initializer, "gamma_initializer")),
    input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' The channels axis, as Keras counts it (batch axis 0); -1 or the last axis (checked by
#' the engine once the input's rank is known)
#' @noRd
check_axis_last <- function(axis, call = rlang::caller_env()) {
  if (is.list(axis)) axis <- unlist(axis)
  ok <- is.numeric(axis) && length(axis) == 1 && !is.na(axis) && axis == round(axis) && axis >= -1 && axis != 0
  if (!isTRUE(ok)) {
    rk_abort(sprintf("`axis` must be -1 (the last axis) or the last axis's index, not %s; rkeras normalizes over the last axis only.",
                     show_value(axis)), "unsupported", call)
  }
  as.integer(axis)
}
