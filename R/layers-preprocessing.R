#' Rescaling layer
#'
#' Multiplies its inputs by `scale` and adds `offset`, inside the model, so the model takes
#' raw values (say pixels 0-255) and is saved with its preprocessing:
#' `layer_rescaling(scale = 1 / 255)` maps pixels to 0..1, `layer_rescaling(scale = 1 / 127.5,
#' offset = -1)` to -1..1. Computed in single precision, as Keras does.
#' @inheritParams layer_dense
#' @param scale A number, or one per channel (the inputs' last axis).
#' @param offset A number, or one per channel.
#' @returns The model (invisibly) when `object` is a model, a tensor when `object` is a
#'   tensor, else a layer.
#' @family image preprocessing layers
#' @export
#' @examples
#' model <- keras_model_sequential(input_shape = c(8, 8, 3)) %>%
#'   layer_rescaling(1 / 255) %>%
#'   layer_conv_2d(4, 3, activation = "relu") %>%
#'   layer_global_average_pooling_2d() %>%
#'   layer_dense(2, activation = "softmax")
#' x <- array(sample(0:255, 2 * 8 * 8 * 3, replace = TRUE), c(2, 8, 8, 3))
#' dim(predict(model, x, verbose = 0))
layer_rescaling <- function(object, scale, offset = 0, input_shape = NULL, batch_input_shape = NULL,
                            batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                            weights = NULL, ...) {
  check_no_dots(..., fn = "layer_rescaling()")
  scale <- check_numbers(scale, "scale")
  offset <- check_numbers(offset, "offset")
  value <- function(v) if (length(v) == 1) v else I(v)
  spec <- new_layer_spec("rescaling", "Rescaling", list(scale = value(scale), offset = value(offset)),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' One or more finite numbers
#' @noRd
check_numbers <- function(x, arg, call = rlang::caller_env()) {
  if (!is.numeric(x) || !length(x) || any(!is.finite(x)) || length(dim(x)) > 1) {
    rk_abort(sprintf("`%s` must be a number or a vector of numbers (one per channel), not %s.", arg, show_value(x)),
             "value", call)
  }
  as.double(x)
}

#' Resizing and center-crop layers
#'
#' `layer_resizing()` resizes images to `height` x `width` inside the model, as Keras 3 does
#' with its JAX backend (`jax.image.resize()`): each output pixel samples the input at
#' `(i + 0.5) * in / out - 0.5` through the `interpolation` kernel, normalised over the pixels
#' inside the image (so the edges repeat); with `antialias = TRUE` the kernel widens when
#' downsampling. `crop_to_aspect_ratio = TRUE` first takes the largest centred window of the
#' target's aspect ratio; `pad_to_aspect_ratio = TRUE` pads both sides of one axis with
#' `fill_value` instead. `layer_center_crop()` cuts the centred `height` x `width` window, or,
#' when the images are smaller than that in either axis, crops to the target's aspect ratio
#' and resizes bilinearly (Keras's `smart_resize()`).
#'
#' Input and output shapes: `(batch, rows, cols, channels)` to `(batch, height, width,
#' channels)`. Both layers are linear maps of their input, with gradients, and are saved
#' with the model.
#' @inheritParams layer_dense
#' @param height,width The output's size in pixels.
#' @param interpolation `"bilinear"`, `"nearest"`, `"bicubic"` (Keys's cubic, a = -0.5),
#'   `"lanczos3"` or `"lanczos5"`.
#' @param crop_to_aspect_ratio Whether to crop to the target's aspect ratio first.
#' @param pad_to_aspect_ratio Whether to pad to the target's aspect ratio first.
#' @param fill_mode Only `"constant"` (the padding's value is `fill_value`).
#' @param fill_value The value of the padding.
#' @param antialias Whether to widen the kernel when downsampling.
#' @param data_format `NULL` or `"channels_last"`.
#' @returns The model (invisibly) when `object` is a model, a tensor when `object` is a
#'   tensor, else a layer.
#' @family image preprocessing layers
#' @export
#' @examples
#' model <- keras_model_sequential(input_shape = c(12, 16, 3)) %>%
#'   layer_resizing(8, 8, crop_to_aspect_ratio = TRUE) %>%
#'   layer_center_crop(6, 6)
#' x <- array(runif(2 * 12 * 16 * 3), c(2, 12, 16, 3))
#' dim(predict(model, x, verbose = 0))
layer_resizing <- function(object, height, width, interpolation = "bilinear",
                           crop_to_aspect_ratio = FALSE, pad_to_aspect_ratio = FALSE,
                           fill_mode = "constant", fill_value = 0, data_format = NULL,
                           antialias = FALSE, input_shape = NULL, batch_input_shape = NULL,
                           batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                           weights = NULL, ...) {
  check_no_dots(..., fn = "layer_resizing()")
  check_channels_last(data_format)
  interpolation <- check_string(lower(interpolation), "interpolation",
                                choices = c("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5"))
  crop_to_aspect_ratio <- check_flag(crop_to_aspect_ratio, "crop_to_aspect_ratio")
  pad_to_aspect_ratio <- check_flag(pad_to_aspect_ratio, "pad_to_aspect_ratio")
  if (crop_to_aspect_ratio && pad_to_aspect_ratio) {
    rk_abort("Only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be TRUE.", "value")
  }
  check_string(fill_mode, "fill_mode", choices = "constant")
  config <- list(height = check_count(height, "height"), width = check_count(width, "width"),
                 interpolation = interpolation, crop_to_aspect_ratio = crop_to_aspect_ratio,
                 pad_to_aspect_ratio = pad_to_aspect_ratio, fill_mode = "constant",
                 fill_value = check_number(fill_value, "fill_value"),
                 antialias = check_flag(antialias, "antialias"), data_format = "channels_last")
  spec <- new_layer_spec("resizing", "Resizing", config,
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' @rdname layer_resizing
#' @export
layer_center_crop <- function(object, height, width, data_format = NULL, input_shape = NULL,
                              batch_input_shape = NULL, batch_size = NULL, dtype = NULL,
                              name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_center_crop()")
  check_channels_last(data_format)
  config <- list(height = check_count(height, "height"), width = check_count(width, "width"),
                 data_format = "channels_last")
  spec <- new_layer_spec("center_crop", "CenterCrop", config,
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' Random flip layer
#'
#' Flips each image of a training batch with probability 1/2: left to right
#' (`"horizontal"`), top to bottom (`"vertical"`), or both at once
#' (`"horizontal_and_vertical"`, as Keras 3 does: one draw per image for both axes). In
#' `predict()` and `evaluate()` the images pass unchanged. The draws follow the training
#' run's seed: `set.seed()` before `fit()` repeats them.
#'
#' Input and output shape: `(batch, height, width, channels)`.
#' @inheritParams layer_dense
#' @inheritParams layer_resizing
#' @param mode `"horizontal"`, `"vertical"` or `"horizontal_and_vertical"`.
#' @param seed `NULL` or a whole number, kept in the layer's config (Keras's); the draws
#'   themselves follow the training run's seed.
#' @returns The model (invisibly) when `object` is a model, a tensor when `object` is a
#'   tensor, else a layer.
#' @family image preprocessing layers
#' @export
#' @examples
#' set.seed(1)
#' model <- keras_model_sequential(input_shape = c(8, 8, 1)) %>%
#'   layer_random_flip("horizontal") %>%
#'   layer_conv_2d(2, 3) %>% layer_flatten() %>% layer_dense(1)
#' model %>% compile(loss = "mse", optimizer = "sgd")
#' x <- array(runif(4 * 64), c(4, 8, 8, 1))
#' model %>% fit(x, runif(4), epochs = 1, verbose = 0)
#' identical(predict(model, x, verbose = 0), predict(model, x, verbose = 0))
layer_random_flip <- function(object, mode = "horizontal_and_vertical", seed = NULL, data_format = NULL,
                              input_shape = NULL, batch_input_shape = NULL, batch_size = NULL,
                              dtype = NULL, name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_random_flip()")
  check_channels_last(data_format)
  mode <- check_string(mode, "mode", choices = c("horizontal", "vertical", "horizontal_and_vertical"))
  seed <- check_count(seed, "seed", min = 0, allow_null = TRUE)
  spec <- new_layer_spec("random_flip", "RandomFlip",
                         list(mode = mode, seed = seed, data_format = "channels_last"),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}
