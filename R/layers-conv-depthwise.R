#' Depthwise and separable convolution layers
#'
#' `layer_depthwise_conv_2d()` and `layer_depthwise_conv_1d()` convolve each input channel
#' with `depth_multiplier` kernels of its own, without mixing channels: an input of `c`
#' channels gives `c * depth_multiplier` output channels, channel `(i - 1) *
#' depth_multiplier + j` from input channel `i`. `layer_separable_conv_2d()` and
#' `layer_separable_conv_1d()` follow the depthwise convolution with a 1x1 convolution
#' (the pointwise step) to `filters` channels: far fewer weights than a full convolution,
#' as in MobileNet and Xception.
#'
#' Weights, in Keras's layout and order: depthwise, `kernel` of shape `(kh, kw, channels,
#' depth_multiplier)` and `bias` (`channels * depth_multiplier`); separable,
#' `depthwise_kernel` of that shape, `pointwise_kernel` `(1, 1, channels * depth_multiplier,
#' filters)` and `bias` (`filters`). 1-d layers drop the leading `kh` (and one 1).
#' @inheritParams layer_conv_2d
#' @param filters Number of output channels of the pointwise step.
#' @param depth_multiplier Kernels per input channel.
#' @param padding `"valid"` or `"same"`.
#' @param dilation_rate Spacing of the kernel's taps (atrous convolution).
#' @param depthwise_initializer,pointwise_initializer Initializers of the depthwise and
#'   pointwise kernels (Keras's `"glorot_uniform"` by default).
#' @param depthwise_regularizer,pointwise_regularizer `NULL` or a regularizer from
#'   [regularizer_l1()], [regularizer_l2()] or [regularizer_l1_l2()] for the depthwise and
#'   pointwise kernels.
#' @param bias_regularizer,depthwise_constraint,pointwise_constraint,bias_constraint Not
#'   supported; must be `NULL`.
#' @returns The model (invisibly) when `object` is a model, a tensor when `object` is a
#'   tensor, else a layer.
#' @family convolutional layers
#' @export
#' @examples
#' model <- keras_model_sequential(input_shape = c(16, 16, 3)) %>%
#'   layer_depthwise_conv_2d(kernel_size = 3, padding = "same", depth_multiplier = 2) %>%
#'   layer_separable_conv_2d(filters = 8, kernel_size = 3, activation = "relu") %>%
#'   layer_global_average_pooling_2d() %>%
#'   layer_dense(2, activation = "softmax")
#' summary(model)
layer_depthwise_conv_2d <- function(object, kernel_size, strides = c(1L, 1L), padding = "valid",
                                    depth_multiplier = 1L, data_format = NULL,
                                    dilation_rate = c(1L, 1L), activation = NULL,
                                    use_bias = TRUE, depthwise_initializer = "glorot_uniform",
                                    bias_initializer = "zeros", depthwise_regularizer = NULL,
                                    bias_regularizer = NULL, activity_regularizer = NULL,
                                    depthwise_constraint = NULL, bias_constraint = NULL,
                                    input_shape = NULL, batch_input_shape = NULL,
                                    batch_size = NULL, dtype = NULL, name = NULL,
                                    trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_depthwise_conv_2d()")
  spec <- depthwise_spec("DepthwiseConv2D", 2L, NULL, kernel_size, strides, padding,
                         depth_multiplier, data_format, dilation_rate, activation, use_bias,
                         list(depthwise_initializer = depthwise_initializer,
                              bias_initializer = bias_initializer),
                         list(depthwise_regularizer = depthwise_regularizer,
                              activity_regularizer = activity_regularizer),
                         input_shape %||% batch_input_shape[-1], name,
                         bias_regularizer = bias_regularizer,
                         depthwise_constraint = depthwise_constraint,
                         bias_constraint = bias_constraint)
  compose_layer(object, spec)
}

#' @rdname layer_depthwise_conv_2d
#' @export
layer_depthwise_conv_1d <- function(object, kernel_size, strides = 1L, padding = "valid",
                                    depth_multiplier = 1L, data_format = NULL,
                                    dilation_rate = 1L, activation = NULL, use_bias = TRUE,
                                    depthwise_initializer = "glorot_uniform",
                                    bias_initializer = "zeros", depthwise_regularizer = NULL,
                                    bias_regularizer = NULL, activity_regularizer = NULL,
                                    depthwise_constraint = NULL, bias_constraint = NULL,
                                    input_shape = NULL, batch_input_shape = NULL,
                                    batch_size = NULL, dtype = NULL, name = NULL,
                                    trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_depthwise_conv_1d()")
  spec <- depthwise_spec("DepthwiseConv1D", 1L, NULL, kernel_size, strides, padding,
                         depth_multiplier, data_format, dilation_rate, activation, use_bias,
                         list(depthwise_initializer = depthwise_initializer,
                              bias_initializer = bias_initializer),
                         list(depthwise_regularizer = depthwise_regularizer,
                              activity_regularizer = activity_regularizer),
                         input_shape %||% batch_input_shape[-1], name,
                         bias_regularizer = bias_regularizer,
                         depthwise_constraint = depthwise_constraint,
                         bias_constraint = bias_constraint)
  compose_layer(object, spec)
}

#' @rdname layer_depthwise_conv_2d
#' @export
layer_separable_conv_2d <- function(object, filters, kernel_size, strides = c(1L, 1L),
                                    padding = "valid", data_format = NULL,
                                    dilation_rate = c(1L, 1L), depth_multiplier = 1L,
                                    activation = NULL, use_bias = TRUE,
                                    depthwise_initializer = "glorot_uniform",
                                    pointwise_initializer = "glorot_uniform",
                                    bias_initializer = "zeros", depthwise_regularizer = NULL,
                                    pointwise_regularizer = NULL, bias_regularizer = NULL,
                                    activity_regularizer = NULL, depthwise_constraint = NULL,
                                    pointwise_constraint = NULL, bias_constraint = NULL,
                                    input_shape = NULL, batch_input_shape = NULL,
                                    batch_size = NULL, dtype = NULL, name = NULL,
                                    trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_separable_conv_2d()")
  spec <- depthwise_spec("SeparableConv2D", 2L, filters, kernel_size, strides, padding,
                         depth_multiplier, data_format, dilation_rate, activation, use_bias,
                         list(depthwise_initializer = depthwise_initializer,
                              pointwise_initializer = pointwise_initializer,
                              bias_initializer = bias_initializer),
                         list(depthwise_regularizer = depthwise_regularizer,
                              pointwise_regularizer = pointwise_regularizer,
                              activity_regularizer = activity_regularizer),
                         input_shape %||% batch_input_shape[-1], name,
                         bias_regularizer = bias_regularizer,
                         depthwise_constraint = depthwise_constraint,
                         pointwise_constraint = pointwise_constraint,
                         bias_constraint = bias_constraint)
  compose_layer(object, spec)
}

#' @rdname layer_depthwise_conv_2d
#' @export
layer_separable_conv_1d <- function(object, filters, kernel_size, strides = 1L,
                                    padding = "valid", data_format = NULL, dilation_rate = 1L,
                                    depth_multiplier = 1L, activation = NULL, use_bias = TRUE,
                                    depthwise_initializer = "glorot_uniform",
                                    pointwise_initializer = "glorot_uniform",
                                    bias_initializer = "zeros", depthwise_regularizer = NULL,
                                    pointwise_regularizer = NULL, bias_regularizer = NULL,
                                    activity_regularizer = NULL, depthwise_constraint = NULL,
                                    pointwise_constraint = NULL, bias_constraint = NULL,
                                    input_shape = NULL, batch_input_shape = NULL,
                                    batch_size = NULL, dtype = NULL, name = NULL,
                                    trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_separable_conv_1d()")
  spec <- depthwise_spec("SeparableConv1D", 1L, filters, kernel_size, strides, padding,
                         depth_multiplier, data_format, dilation_rate, activation, use_bias,
                         list(depthwise_initializer = depthwise_initializer,
                              pointwise_initializer = pointwise_initializer,
                              bias_initializer = bias_initializer),
                         list(depthwise_regularizer = depthwise_regularizer,
                              pointwise_regularizer = pointwise_regularizer,
                              activity_regularizer = activity_regularizer),
                         input_shape %||% batch_input_shape[-1], name,
                         bias_regularizer = bias_regularizer,
                         depthwise_constraint = depthwise_constraint,
                         pointwise_constraint = pointwise_constraint,
                         bias_constraint = bias_constraint)
  compose_layer(object, spec)
}

#' The spec of a depthwise (`filters` NULL) or separable convolution; `inits` and `regs`
#' are named lists of the initializer and regularizer arguments the layer takes.
#' @noRd
depthwise_spec <- function(class_name, rank, filters, kernel_size, strides, padding,
                           depth_multiplier, data_format, dilation_rate, activation, use_bias,
                           inits, regs, input_shape, name, ..., call = rlang::caller_env()) {
  check_unsupported(..., call = call)
  check_channels_last(data_format, call = call)
  type <- sub("conv", "_conv", tolower(class_name))
  config <- list(
    depth_multiplier = check_count(depth_multiplier, "depth_multiplier", max = 2^24, call = call))
  if (!is.null(filters)) config$filters <- check_count(filters, "filters", max = 2^24, call = call)
  config <- c(config, list(
    kernel_size = I(check_tuple(kernel_size, "kernel_size", rank, call = call)),
    strides = I(check_tuple(strides, "strides", rank, call = call)),
    padding = check_string(lower(padding), "padding", choices = c("valid", "same"), call = call),
    data_format = "channels_last",
    dilation_rate = I(check_tuple(dilation_rate, "dilation_rate", rank, call = call)),
    activation = check_activation(activation, call = call),
    use_bias = check_flag(use_bias, "use_bias", call = call)))
  for (arg in names(inits)) config[[arg]] <- as_initializer(inits[[arg]], arg, call = call)
  for (arg in names(regs)) config[arg] <- list(as_regularizer(regs[[arg]], arg, call = call))
  new_layer_spec(type, class_name, config, input_shape = input_shape, name = name,
                 seed = draw_seed(), call = call)
}
