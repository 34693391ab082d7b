#' Convolution layers
#'
#' `layer_conv_1d()` and `layer_conv_2d()` slide `filters` kernels over the steps (or rows
#' and columns) of each sample: `output = activation(conv(input, kernel) + bias)`.
#' `layer_conv_1d_transpose()` and `layer_conv_2d_transpose()` are the transposed
#' convolutions (the adjoint of a convolution; "deconvolution"), which upsample by
#' `strides`. Samples are channels-last.
#'
#' Input and output shapes: `(batch, steps, channels)` to `(batch, new_steps, filters)`;
#' `(batch, rows, cols, channels)` to `(batch, new_rows, new_cols, filters)`. With
#' `padding = "valid"` each output reads only whole windows, `"same"` pads with zeros so
#' that the output has `ceiling(input / strides)` positions (Keras's split: the extra
#' padding goes after), and `"causal"` (1-d only) pads the start. The kernel has Keras's
#' layout: `(kernel_size, channels, filters)`, `(kh, kw, channels, filters)`, and for the
#' transposes `(kernel_size, filters, channels)` and `(kh, kw, filters, channels)`. A
#' transposed convolution's output has `(input - 1) * strides + max(kernel_size, strides)`
#' positions with `"valid"` and `input * strides` with `"same"`.
#' @inheritParams layer_dense
#' @param bias_regularizer,kernel_constraint,bias_constraint Not
#'   supported; must be `NULL`.
#' @param filters Number of output channels.
#' @param kernel_size Size of the window: one integer, or one per spatial axis.
#' @param strides Step of the window: one integer, or one per spatial axis.
#' @param padding `"valid"`, `"same"`, or (1-d) `"causal"`.
#' @param data_format `NULL` or `"channels_last"` (the only layout rkeras uses).
#' @param dilation_rate Spacing of the kernel's taps (atrous convolution); cannot be
#'   combined with strides above 1.
#' @param groups Must be 1 (grouped convolutions are not supported).
#' @param output_padding Must be `NULL`.
#' @returns The model (invisibly) when `object` is a model, a tensor when `object` is a
#'   tensor, else a layer.
#' @family convolutional layers
#' @export
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_conv_2d(filters = 8, kernel_size = c(3, 3), activation = "relu",
#'                 input_shape = c(28, 28, 1)) %>%
#'   layer_max_pooling_2d(pool_size = c(2, 2)) %>%
#'   layer_flatten() %>%
#'   layer_dense(10, activation = "softmax")
layer_conv_2d <- function(object, filters, kernel_size, strides = c(1L, 1L), padding = "valid",
                          data_format = NULL, dilation_rate = c(1L, 1L), groups = 1L,
                          activation = NULL, use_bias = TRUE,
                          kernel_initializer = "glorot_uniform", bias_initializer = "zeros",
                          kernel_regularizer = NULL, bias_regularizer = NULL,
                          activity_regularizer = NULL, kernel_constraint = NULL,
                          bias_constraint = NULL, input_shape = NULL, batch_input_shape = NULL,
                          batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                          weights = NULL, ...) {
  check_no_dots(..., fn = "layer_conv_2d()")
  spec <- conv_spec("conv2d", "Conv2D", 2L, filters, kernel_size, strides, padding, data_format,
                    dilation_rate, groups, activation, use_bias, kernel_initializer,
                    bias_initializer, kernel_regularizer, input_shape %||% batch_input_shape[-1], name,
                    bias_regularizer = bias_regularizer, activity_regularizer = activity_regularizer,
                    kernel_constraint = kernel_constraint, bias_constraint = bias_constraint)
  compose_layer(object, spec)
}

#' @rdname layer_conv_2d
#' @export
layer_conv_1d <- function(object, filters, kernel_size, strides = 1L, padding = "valid",
                          data_format = "channels_last", dilation_rate = 1L, groups = 1L,
                          activation = NULL, use_bias = TRUE,
                          kernel_initializer = "glorot_uniform", bias_initializer = "zeros",
                          kernel_regularizer = NULL, bias_regularizer = NULL,
                          activity_regularizer = NULL, kernel_constraint = NULL,
                          bias_constraint = NULL, input_shape = NULL, batch_input_shape = NULL,
                          batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                          weights = NULL, ...) {
  check_no_dots(..., fn = "layer_conv_1d()")
  spec <- conv_spec("conv1d", "Conv1D", 1L, filters, kernel_size, strides, padding, data_format,
                    dilation_rate, groups, activation, use_bias, kernel_initializer,
                    bias_initializer, kernel_regularizer, input_shape %||% batch_input_shape[-1], name,
                    bias_regularizer = bias_regularizer, activity_regularizer = activity_regularizer,
                    kernel_constraint = kernel_constraint, bias_constraint = bias_constraint)
  compose_layer(object, spec)
}

#' @rdname layer_conv_2d
#' @export
layer_conv_2d_transpose <- function(object, filters, kernel_size, strides = c(1L, 1L),
                                    padding = "valid", output_padding = NULL, data_format = NULL,
                                    dilation_rate = c(1L, 1L), activation = NULL, use_bias = TRUE,
                                    kernel_initializer = "glorot_uniform",
                                    bias_initializer = "zeros", kernel_regularizer = NULL,
                                    bias_regularizer = NULL, activity_regularizer = NULL,
                                    kernel_constraint = NULL, bias_constraint = NULL,
                                    input_shape = NULL, batch_input_shape = NULL, batch_size = NULL,
                                    dtype = NULL, name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_conv_2d_transpose()")
  compose_layer(object, eval(transposed_conv_call(2L)))
}

#' @rdname layer_conv_2d
#' @export
layer_conv_1d_transpose <- function(object, filters, kernel_size, strides = 1L, padding = "valid",
                                    output_padding = NULL, data_format = NULL, dilation_rate = 1L,
                                    activation = NULL, use_bias = TRUE,
                                    kernel_initializer = "glorot_uniform",
                                    bias_initializer = "zeros", kernel_regularizer = NULL,
                                    bias_regularizer = NULL, activity_regularizer = NULL,
                                    kernel_constraint = NULL, bias_constraint = NULL,
                                    input_shape = NULL, batch_input_shape = NULL, batch_size = NULL,
                                    dtype = NULL, name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_conv_1d_transpose()")
  compose_layer(object, eval(transposed_conv_call(1L)))
}

#' The conv_spec() call of a transposed convolution of `rank`, for its constructor to
#' evaluate among its arguments
#' @noRd
transposed_conv_call <- function(rank) {
  substitute(conv_spec(TYPE, CLASS, RANK, filters, kernel_size, strides, padding, data_format,
                       dilation_rate, 1L, activation, use_bias, kernel_initializer, bias_initializer,
                       kernel_regularizer, input_shape %||% batch_input_shape[-1], name,
                       output_padding = output_padding, bias_regularizer = bias_regularizer,
                       activity_regularizer = activity_regularizer,
                       kernel_constraint = kernel_constraint, bias_constraint = bias_constraint),
             list(TYPE = sprintf("conv%dd_transpose", rank), CLASS = sprintf("Conv%dDTranspose", rank),
                  RANK = rank))
}

conv_spec <- function(type, class_name, rank, filters, kernel_size, strides, padding, data_format,
                      dilation_rate, groups, activation, use_bias, kernel_initializer,
                      bias_initializer, kernel_regularizer, input_shape, name, ...,
                      activity_regularizer = NULL, call = rlang::caller_env()) {
  check_unsupported(..., call = call)
  check_channels_last(data_format, call = call)
  if (!identical(check_count(groups, "groups", call = call), 1L)) {
    rk_abort("`groups` other than 1 is not supported by rkeras yet.", "unsupported", call)
  }
  strides <- check_tuple(strides, "strides", rank, call = call)
  dilation_rate <- check_tuple(dilation_rate, "dilation_rate", rank, call = call)
  if (any(strides > 1) && any(dilation_rate > 1)) {
    rk_abort("`strides` > 1 cannot be combined with `dilation_rate` > 1 (as in Keras).", "value", call)
  }
  paddings <- if (rank == 1 && class_name == "Conv1D") c("valid", "same", "causal") else c("valid", "same")
  new_layer_spec(type, class_name, list(
    filters = check_count(filters, "filters", max = 2^24, call = call),
    kernel_size = I(check_tuple(kernel_size, "kernel_size", rank, call = call)),
    strides = I(strides),
    padding = check_string(lower(padding), "padding", choices = paddings, call = call),
    data_format = "channels_last",
    dilation_rate = I(dilation_rate),
    activation = check_activation(activation, call = call),
    use_bias = check_flag(use_bias, "use_bias", call = call),
    kernel_initializer = as_initializer(kernel_initializer, "kernel_initializer", call = call),
    bias_initializer = as_initializer(bias_initializer, "bias_initializer", call = call),
    kernel_regularizer = as_regularizer(kernel_regularizer, "kernel_regularizer", call = call),
    activity_regularizer = as_regularizer(activity_regularizer, "activity_regularizer", call = call)),
    input_shape = input_shape, name = name, seed = draw_seed(), call = call)
}

#' `n` positive whole numbers from one (recycled) or `n` of them
#' @noRd
check_tuple <- function(x, arg, n, min = 1, call = rlang::caller_env()) {
  if (is.list(x)) x <- unlist(x)
  ok <- is.numeric(x) && length(x) %in% c(1L, n) && !anyNA(x) && all(is.finite(x)) &&
    all(x == round(x)) && all(x >= min) && all(x < 2^24)
  if (!isTRUE(ok)) {
    what <- if (min >= 1) "positive whole number" else "non-negative whole number"
    rk_abort(sprintf("`%s` must be a %s%s, not %s.", arg, what,
                     if (n > 1) sprintf(" or %d of them", n) else "", show_value(x)), "value", call)
  }
  rep_len(as.integer(x), n)
}

lower <- function(x) if (is.character(x)) tolower(x) else x

check_channels_last <- function(data_format, call = rlang::caller_env()) {
  if (!is.null(data_format) && !identical(data_format, "channels_last")) {
    rk_abort(sprintf("`data_format` must be NULL or \"channels_last\", not %s: rkeras lays samples out channels-last.",
                     show_value(data_format)), "unsupported", call)
  }
  invisible(NULL)
}

#' Pooling layers
#'
#' `layer_max_pooling_*()` and `layer_average_pooling_*()` take the largest value, or the
#' mean, of each window of `pool_size` positions, moving by `strides` (by default the pool
#' size). With `padding = "same"`, averages divide by the number of positions inside the
#' input. The global forms pool over all steps (or rows and columns) of each channel.
#'
#' Input and output shapes: `(batch, steps, channels)` to `(batch, new_steps, channels)`;
#' `(batch, rows, cols, channels)` to `(batch, new_rows, new_cols, channels)`; global:
#' to `(batch, channels)`, or with `keepdims = TRUE` to `(batch, 1, channels)` or
#' `(batch, 1, 1, channels)`.
#' @inheritParams layer_conv_2d
#' @param pool_size Size of the window: one integer, or one per spatial axis.
#' @param strides Step of the window; `NULL` for `pool_size`.
#' @param padding `"valid"` or `"same"`.
#' @param keepdims Whether global pooling keeps the pooled axes (of size 1).
#' @returns The model (invisibly) when `object` is a model, a tensor when `object` is a
#'   tensor, else a layer.
#' @family convolutional layers
#' @export
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_conv_1d(4, 3, input_shape = c(20, 2)) %>%
#'   layer_max_pooling_1d(pool_size = 2) %>%
#'   layer_global_average_pooling_1d()
layer_max_pooling_2d <- function(object, pool_size = c(2L, 2L), strides = NULL, padding = "valid",
                                 data_format = NULL, input_shape = NULL, batch_input_shape = NULL,
                                 batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                                 weights = NULL, ...) {
  check_no_dots(..., fn = "layer_max_pooling_2d()")
  compose_layer(object, pool_spec("max_pooling2d", "MaxPooling2D", 2L, pool_size, strides, padding,
                                  data_format, input_shape %||% batch_input_shape[-1], name))
}

#' @rdname layer_max_pooling_2d
#' @export
layer_max_pooling_1d <- function(object, pool_size = 2L, strides = NULL, padding = "valid",
                                 data_format = "channels_last", input_shape = NULL,
                                 batch_input_shape = NULL, batch_size = NULL, dtype = NULL,
                                 name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_max_pooling_1d()")
  compose_layer(object, pool_spec("max_pooling1d", "MaxPooling1D", 1L, pool_size, strides, padding,
                                  data_format, input_shape %||% batch_input_shape[-1], name))
}

#' @rdname layer_max_pooling_2d
#' @export
layer_average_pooling_2d <- function(object, pool_size = c(2L, 2L), strides = NULL,
                                     padding = "valid", data_format = NULL, input_shape = NULL,
                                     batch_input_shape = NULL, batch_size = NULL, dtype = NULL,
                                     name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_average_pooling_2d()")
  compose_layer(object, pool_spec("average_pooling2d", "AveragePooling2D", 2L, pool_size, strides,
                                  padding, data_format, input_shape %||% batch_input_shape[-1], name))
}

#' @rdname layer_max_pooling_2d
#' @export
layer_average_pooling_1d <- function(object, pool_size = 2L, strides = NULL, padding = "valid",
                                     data_format = "channels_last", input_shape = NULL,
                                     batch_input_shape = NULL, batch_size = NULL, dtype = NULL,
                                     name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_average_pooling_1d()")
  compose_layer(object, pool_spec("average_pooling1d", "AveragePooling1D", 1L, pool_size, strides,
                                  padding, data_format, input_shape %||% batch_input_shape[-1], name))
}

pool_spec <- function(type, class_name, rank, pool_size, strides, padding, data_format,
                      input_shape, name, call = rlang::caller_env()) {
  check_channels_last(data_format, call = call)
  pool_size <- check_tuple(pool_size, "pool_size", rank, call = call)
  strides <- if (is.null(strides)) pool_size else check_tuple(strides, "strides", rank, call = call)
  new_layer_spec(type, class_name, list(
    pool_size = I(pool_size),
    padding = check_string(lower(padding), "padding", choices = c("valid", "same"), call = call),
    strides = I(strides),
    data_format = "channels_last"),
    input_shape = input_shape, name = name, call = call)
}

#' @rdname layer_max_pooling_2d
#' @export
layer_global_max_pooling_2d <- function(object, data_format = NULL, keepdims = FALSE,
                                        input_shape = NULL, batch_input_shape = NULL,
                                        batch_size = NULL, dtype = NULL, name = NULL,
                                        trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_global_max_pooling_2d()")
  compose_layer(object, global_pool_spec("global_max_pooling2d", "GlobalMaxPooling2D", data_format,
                                         keepdims, input_shape %||% batch_input_shape[-1], name))
}

#' @rdname layer_max_pooling_2d
#' @export
layer_global_max_pooling_1d <- function(object, data_format = "channels_last", keepdims = FALSE,
                                        input_shape = NULL, batch_input_shape = NULL,
                                        batch_size = NULL, dtype = NULL, name = NULL,
                                        trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_global_max_pooling_1d()")
  compose_layer(object, global_pool_spec("global_max_pooling1d", "GlobalMaxPooling1D", data_format,
                                         keepdims, input_shape %||% batch_input_shape[-1], name))
}

#' @rdname layer_max_pooling_2d
#' @export
layer_global_average_pooling_2d <- function(object, data_format = NULL, keepdims = FALSE,
                                            input_shape = NULL, batch_input_shape = NULL,
                                            batch_size = NULL, dtype = NULL, name = NULL,
                                            trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_global_average_pooling_2d()")
  compose_layer(object, global_pool_spec("global_average_pooling2d", "GlobalAveragePooling2D",
                                         data_format, keepdims, input_shape %||% batch_input_shape[-1], name))
}

#' @rdname layer_max_pooling_2d
#' @export
layer_global_average_pooling_1d <- function(object, data_format = "channels_last", keepdims = FALSE,
                                            input_shape = NULL, batch_input_shape = NULL,
                                            batch_size = NULL, dtype = NULL, name = NULL,
                                            trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_global_average_pooling_1d()")
  compose_layer(object, global_pool_spec("global_average_pooling1d", "GlobalAveragePooling1D",
                                         data_format, keepdims, input_shape %||% batch_input_shape[-1], name))
}

global_pool_spec <- function(type, class_name, data_format, keepdims, input_shape, name,
                             call = rlang::caller_env()) {
  check_channels_last(data_format, call = call)
  new_layer_spec(type, class_name, list(data_format = "channels_last",
                                        keepdims = check_flag(keepdims, "keepdims", call = call)),
                 input_shape = input_shape, name = name, call = call)
}
