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
#' @param bias_initializer Initializer of the bias (Keras's `"zeros"` by default).
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
  compose_layer(object, depthwise_spec("DepthwiseConv2D", 2L, environment()))
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
  compose_layer(object, depthwise_spec("DepthwiseConv1D", 1L, environment()))
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
  compose_layer(object, depthwise_spec("SeparableConv2D", 2L, environment()))
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
  compose_layer(object, depthwise_spec("SeparableConv1D", 1L, environment()))
}

#' The spec of a depthwise or separable convolution (with `filters`) from the arguments of
#' its constructor's frame `args`
#' @noRd
depthwise_spec <- function(class_name, rank, args, call = args) {
  a <- as.list(args)
  separable <- startsWith(class_name, "Separable")
  check_unsupported(bias_regularizer = a$bias_regularizer, depthwise_constraint = a$depthwise_constraint,
                    pointwise_constraint = a$pointwise_constraint, bias_constraint = a$bias_constraint,
                    call = call)
  check_channels_last(a$data_format, call = call)
  config <- list(
    depth_multiplier = check_count(a$depth_multiplier, "depth_multiplier", max = 2^24, call = call))
  if (separable) config$filters <- check_count(a$filters, "filters", max = 2^24, call = call)
  config <- c(config, list(
    kernel_size = I(check_tuple(a$kernel_size, "kernel_size", rank, call = call)),
    strides = I(check_tuple(a$strides, "strides", rank, call = call)),
    padding = check_string(lower(a$padding), "padding", choices = c("valid", "same"), call = call),
    data_format = "channels_last",
    dilation_rate = I(check_tuple(a$dilation_rate, "dilation_rate", rank, call = call)),
    activation = check_activation(a$activation, call = call),
    use_bias = check_flag(a$use_bias, "use_bias", call = call)))
  inits <- c("depthwise_initializer", if (separable) "pointwise_initializer", "bias_initializer")
  for (arg in inits) config[[arg]] <- as_initializer(a[[arg]], arg, call = call)
  regs <- c("depthwise_regularizer", if (separable) "pointwise_regularizer", "activity_regularizer")
  for (arg in regs) config[arg] <- list(as_regularizer(a[[arg]], arg, call = call))
  type <- sub("conv", "_conv", tolower(class_name))
  new_layer_spec(type, class_name, config, input_shape = a$input_shape %||% a$batch_input_shape[-1],
                 name = a$name, seed = draw_seed(), call = call)
}
