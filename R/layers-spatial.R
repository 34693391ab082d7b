#' Padding, cropping and upsampling of images and sequences
#'
#' `layer_zero_padding_2d()` adds rows and columns of zeros around each sample,
#' `layer_cropping_2d()` removes them, and `layer_upsampling_2d()` repeats each row
#' `size[1]` times and each column `size[2]` times (`interpolation = "nearest"`), or
#' resamples the image to that size as Keras's `ops.image.resize()` does (`"bilinear"`,
#' `"bicubic"`, `"lanczos3"`, `"lanczos5"`). The `_1d` forms do the same over the steps of
#' a sequence.
#'
#' Input and output shapes: `(batch, rows, cols, channels)` to
#' `(batch, new_rows, new_cols, channels)`; `(batch, steps, channels)` to
#' `(batch, new_steps, channels)`.
#' @inheritParams layer_conv_2d
#' @param padding,cropping 2-d: one integer (all sides), two (rows, columns: both sides
#'   alike), or a list of two pairs `list(c(top, bottom), c(left, right))`. 1-d: one integer
#'   (both ends) or two (start, end).
#' @param size Upsampling factors for rows and columns (one integer for both); 1-d: one
#'   integer.
#' @param interpolation `"nearest"`, `"bilinear"`, `"bicubic"`, `"lanczos3"` or
#'   `"lanczos5"`.
#' @returns The model (invisibly) when `object` is a model, a tensor when `object` is a
#'   tensor, else a layer.
#' @family convolutional layers
#' @export
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_zero_padding_2d(padding = 1, input_shape = c(8, 8, 1)) %>%
#'   layer_cropping_2d(cropping = list(c(1, 0), c(0, 1))) %>%
#'   layer_upsampling_2d(size = c(2, 2), interpolation = "bilinear")
#' seq <- keras_model_sequential(input_shape = c(10, 3)) %>%
#'   layer_zero_padding_1d(padding = 2) %>%
#'   layer_cropping_1d(cropping = c(1, 3)) %>%
#'   layer_upsampling_1d(size = 3)
layer_zero_padding_2d <- function(object, padding = c(1L, 1L), data_format = NULL,
                                  input_shape = NULL, batch_input_shape = NULL,
                                  batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                                  weights = NULL, ...) {
  check_no_dots(..., fn = "layer_zero_padding_2d()")
  check_channels_last(data_format)
  spec <- new_layer_spec("zero_padding2d", "ZeroPadding2D",
                         list(padding = margins(padding, "padding"), data_format = "channels_last"),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' @rdname layer_zero_padding_2d
#' @export
layer_cropping_2d <- function(object, cropping = list(c(0L, 0L), c(0L, 0L)), data_format = NULL,
                              input_shape = NULL, batch_input_shape = NULL, batch_size = NULL,
                              dtype = NULL, name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_cropping_2d()")
  check_channels_last(data_format)
  spec <- new_layer_spec("cropping2d", "Cropping2D",
                         list(cropping = margins(cropping, "cropping"), data_format = "channels_last"),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' @rdname layer_zero_padding_2d
#' @export
layer_upsampling_2d <- function(object, size = c(2L, 2L), data_format = NULL,
                                interpolation = "nearest", input_shape = NULL,
                                batch_input_shape = NULL, batch_size = NULL, dtype = NULL,
                                name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_upsampling_2d()")
  check_channels_last(data_format)
  interpolation <- check_string(interpolation, "interpolation",
                                choices = c("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5"))
  spec <- new_layer_spec("up_sampling2d", "UpSampling2D",
                         list(size = I(check_tuple(size, "size", 2L)), data_format = "channels_last",
                              interpolation = interpolation),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' @rdname layer_zero_padding_2d
#' @export
layer_zero_padding_1d <- function(object, padding = 1L, input_shape = NULL,
                                  batch_input_shape = NULL, batch_size = NULL, dtype = NULL,
                                  name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_zero_padding_1d()")
  spec <- new_layer_spec("zero_padding1d", "ZeroPadding1D",
                         list(padding = I(check_tuple(padding, "padding", 2L, min = 0)),
                              data_format = "channels_last"),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' @rdname layer_zero_padding_2d
#' @export
layer_cropping_1d <- function(object, cropping = c(1L, 1L), input_shape = NULL,
                              batch_input_shape = NULL, batch_size = NULL, dtype = NULL,
                              name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_cropping_1d()")
  spec <- new_layer_spec("cropping1d", "Cropping1D",
                         list(cropping = I(check_tuple(cropping, "cropping", 2L, min = 0))),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' @rdname layer_zero_padding_2d
#' @export
layer_upsampling_1d <- function(object, size = 2L, input_shape = NULL, batch_input_shape = NULL,
                                batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                                weights = NULL, ...) {
  check_no_dots(..., fn = "layer_upsampling_1d()")
  spec <- new_layer_spec("up_sampling1d", "UpSampling1D",
                         list(size = check_count(size, "size", max = 2^24)),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' `list(c(top, bottom), c(left, right))` from Keras's forms
#' @noRd
margins <- function(x, arg, call = rlang::caller_env()) {
  pairs <- if (is.list(x) && length(x) == 2) {
    lapply(x, function(p) check_tuple(p, arg, 2L, min = 0, call = call))
  } else {
    v <- check_tuple(x, arg, 2L, min = 0, call = call)
    list(rep(v[[1]], 2), rep(v[[2]], 2))
  }
  lapply(pairs, I)
}

#' Spatial dropout layers
#'
#' Like [layer_dropout()], but drops whole channels of a sample (all its steps, or all its
#' rows and columns, together), as Keras's `SpatialDropout1D/2D` do; scales the rest by
#' `1 / (1 - rate)` in training, and passes inputs through in prediction.
#'
#' Input and output shapes: unchanged; `(batch, steps, channels)` or
#' `(batch, rows, cols, channels)`.
#' @inheritParams layer_conv_2d
#' @param rate Fraction of the channels to drop, in `[0, 1)`.
#' @param seed Not supported; must be `NULL` (masks follow R's `set.seed()`).
#' @returns The model (invisibly) when `object` is a model, a tensor when `object` is a
#'   tensor, else a layer.
#' @family regularization layers
#' @export
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_conv_2d(8, 3, input_shape = c(12, 12, 1)) %>%
#'   layer_spatial_dropout_2d(rate = 0.2)
layer_spatial_dropout_2d <- function(object, rate, data_format = NULL, seed = NULL,
                                     input_shape = NULL, batch_input_shape = NULL,
                                     batch_size = NULL, dtype = NULL, name = NULL,
                                     trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_spatial_dropout_2d()")
  check_channels_last(data_format)
  check_unsupported(seed = seed)
  spec <- new_layer_spec("spatial_dropout2d", "SpatialDropout2D",
                         list(rate = check_rate(rate, "rate"), seed = NULL),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' @rdname layer_spatial_dropout_2d
#' @export
layer_spatial_dropout_1d <- function(object, rate, seed = NULL, input_shape = NULL,
                                     batch_input_shape = NULL, batch_size = NULL, dtype = NULL,
                                     name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_spatial_dropout_1d()")
  check_unsupported(seed = seed)
  spec <- new_layer_spec("spatial_dropout1d", "SpatialDropout1D",
                         list(rate = check_rate(rate, "rate"), seed = NULL),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' Activation layers with parameters
#'
#' `layer_activation_leaky_relu()`: `x` for `x >= 0`, else `negative_slope * x` (`alpha`
#' is Keras 2's name for the slope). `layer_activation_relu()`: Keras's
#' `relu(x, negative_slope, max_value, threshold)`: `x` above `threshold` (else 0),
#' clipped to `max_value`, less `negative_slope * max(threshold - x, 0)`.
#' `layer_activation_elu()`: `x` for `x > 0`, else `alpha * (exp(x) - 1)`.
#' `layer_activation_softmax()`: softmax over the last axis.
#'
#' Input and output shapes: unchanged.
#' @inheritParams layer_dense
#' @param alpha Slope (leaky ReLU; Keras 2's name) or scale of the negative part (ELU).
#' @param negative_slope Slope of the negative part.
#' @param max_value Upper bound of the output, or `NULL`.
#' @param threshold Values at or below it count as negative.
#' @param axis Softmax axis: `-1` (the last; the only one supported).
#' @returns The model (invisibly) when `object` is a model, a tensor when `object` is a
#'   tensor, else a layer.
#' @family core layers
#' @export
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_dense(8, input_shape = 4) %>%
#'   layer_activation_leaky_relu(negative_slope = 0.1)
layer_activation_leaky_relu <- function(object, alpha = 0.3, negative_slope = NULL,
                                        input_shape = NULL, batch_input_shape = NULL,
                                        batch_size = NULL, dtype = NULL, name = NULL,
                                        trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_activation_leaky_relu()")
  if (!is.null(negative_slope) && !missing(alpha)) {
    rk_abort("Give `negative_slope` or `alpha` (its Keras 2 name), not both.", "value")
  }
  slope <- check_number(negative_slope %||% alpha, if (is.null(negative_slope)) "alpha" else "negative_slope")
  spec <- new_layer_spec("leaky_re_lu", "LeakyReLU", list(negative_slope = slope),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' @rdname layer_activation_leaky_relu
#' @export
layer_activation_relu <- function(object, max_value = NULL, negative_slope = 0, threshold = 0,
                                  input_shape = NULL, batch_input_shape = NULL, batch_size = NULL,
                                  dtype = NULL, name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_activation_relu()")
  spec <- new_layer_spec("re_lu", "ReLU", list(
    max_value = check_number(max_value, "max_value", min = 0, allow_null = TRUE),
    negative_slope = check_number(negative_slope, "negative_slope", min = 0),
    threshold = check_number(threshold, "threshold")),
    input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' @rdname layer_activation_leaky_relu
#' @export
layer_activation_elu <- function(object, alpha = 1.0, input_shape = NULL, batch_input_shape = NULL,
                                 batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                                 weights = NULL, ...) {
  check_no_dots(..., fn = "layer_activation_elu()")
  spec <- new_layer_spec("elu", "ELU", list(alpha = check_number(alpha, "alpha")),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' @rdname layer_activation_leaky_relu
#' @export
layer_activation_softmax <- function(object, axis = -1L, input_shape = NULL,
                                     batch_input_shape = NULL, batch_size = NULL, dtype = NULL,
                                     name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_activation_softmax()")
  if (is.list(axis)) axis <- unlist(axis)
  if (!(is.numeric(axis) && length(axis) == 1 && !is.na(axis) && axis == -1)) {
    rk_abort(sprintf("`axis` must be -1 (the last axis), not %s; other axes are not supported by rkeras yet.",
                     show_value(axis)), "unsupported")
  }
  spec <- new_layer_spec("softmax", "Softmax", list(axis = -1L),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}
