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

#' Random rotation, translation and zoom layers
#'
#' Each image of a training batch gets its own affine map, drawn uniformly from the
#' factors: `layer_random_rotation()` turns it by `factor * 360` degrees about its centre;
#' `layer_random_translation()` shifts it by `height_factor * height` and `width_factor *
#' width` pixels; `layer_random_zoom()` scales it by `1 + height_factor` (and `1 +
#' width_factor`, or the same draw when `width_factor` is `NULL`) about its centre, a
#' positive factor zooming out. A factor is a number `f` (the range `-f` to `f`) or two
#' numbers (the range between them). Pixels are read bilinearly or at the nearest pixel, and
#' beyond the edges as `fill_mode` says: `"reflect"`, `"wrap"`, `"nearest"` or `"constant"`
#' (`fill_value`), as Keras 3 computes them (JAX backend). In `predict()` and `evaluate()`
#' the images pass unchanged; the draws follow the training run's seed, so `set.seed()`
#' before `fit()` repeats them.
#'
#' Input and output shape: `(batch, height, width, channels)`.
#' @inheritParams layer_random_flip
#' @param factor The rotation, in turns: a number between 0 and 1, or two numbers between -1
#'   and 1.
#' @param height_factor,width_factor The shift (a fraction of the height or width, between -1
#'   and 1) or the zoom less 1 (above -1, at most 1).
#' @param fill_mode `"reflect"`, `"wrap"`, `"nearest"` or `"constant"`.
#' @param interpolation `"bilinear"` or `"nearest"`.
#' @param fill_value The value beyond the edges with `fill_mode = "constant"`.
#' @returns The model (invisibly) when `object` is a model, a tensor when `object` is a
#'   tensor, else a layer.
#' @family image preprocessing layers
#' @export
#' @examples
#' set.seed(1)
#' augment <- keras_model_sequential(input_shape = c(16, 16, 3)) %>%
#'   layer_random_flip("horizontal") %>%
#'   layer_random_rotation(0.1) %>%
#'   layer_random_zoom(0.2) %>%
#'   layer_random_translation(0.1, 0.1)
#' model <- augment %>% layer_conv_2d(4, 3) %>% layer_flatten() %>% layer_dense(1)
#' model %>% compile(loss = "mse", optimizer = "sgd")
#' x <- array(runif(4 * 16 * 16 * 3), c(4, 16, 16, 3))
#' model %>% fit(x, runif(4), epochs = 1, verbose = 0)
layer_random_rotation <- function(object, factor, fill_mode = "reflect", interpolation = "bilinear",
                                  seed = NULL, fill_value = 0, data_format = NULL, input_shape = NULL,
                                  batch_input_shape = NULL, batch_size = NULL, dtype = NULL,
                                  name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_random_rotation()")
  config <- c(list(factor = check_factor(factor, "factor", "rotation")),
              affine_config(fill_mode, interpolation, seed, fill_value, data_format))
  compose_layer(object, new_layer_spec("random_rotation", "RandomRotation", config,
                                       input_shape = input_shape %||% batch_input_shape[-1], name = name))
}

#' @rdname layer_random_rotation
#' @export
layer_random_translation <- function(object, height_factor, width_factor, fill_mode = "reflect",
                                     interpolation = "bilinear", seed = NULL, fill_value = 0,
                                     data_format = NULL, input_shape = NULL, batch_input_shape = NULL,
                                     batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                                     weights = NULL, ...) {
  check_no_dots(..., fn = "layer_random_translation()")
  config <- c(list(height_factor = check_factor(height_factor, "height_factor", "shift"),
                   width_factor = check_factor(width_factor, "width_factor", "shift")),
              affine_config(fill_mode, interpolation, seed, fill_value, data_format))
  compose_layer(object, new_layer_spec("random_translation", "RandomTranslation", config,
                                       input_shape = input_shape %||% batch_input_shape[-1], name = name))
}

#' @rdname layer_random_rotation
#' @export
layer_random_zoom <- function(object, height_factor, width_factor = NULL, fill_mode = "reflect",
                              interpolation = "bilinear", seed = NULL, fill_value = 0,
                              data_format = NULL, input_shape = NULL, batch_input_shape = NULL,
                              batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                              weights = NULL, ...) {
  check_no_dots(..., fn = "layer_random_zoom()")
  config <- c(list(height_factor = check_factor(height_factor, "height_factor", "zoom"),
                   width_factor = if (!is.null(width_factor)) check_factor(width_factor, "width_factor", "zoom")),
              affine_config(fill_mode, interpolation, seed, fill_value, data_format))
  compose_layer(object, new_layer_spec("random_zoom", "RandomZoom", config,
                                       input_shape = input_shape %||% batch_input_shape[-1], name = name))
}

#' Random contrast and random crop layers
#'
#' `layer_random_contrast()` gives each image of a training batch a contrast factor `f`
#' drawn uniformly from `[1 - lower, 1 + upper]` and moves each value away from its
#' channel's mean over the image: `(x - mean) * f + mean`, clipped to `value_range`. As in
#' Keras 3, a single number `factor` is the pair `c(0, factor)`, so contrast only rises, up
#' to `1 + factor`; give `c(factor, factor)` for Keras 2's `[1 - factor, 1 + factor]`. A pair
#' is sorted first.
#'
#' `layer_random_crop()` cuts one `height` x `width` window, at a position drawn uniformly,
#' from every image of a training batch (one position per batch, as Keras 3 does). When the
#' images are not larger than the target in both axes, and in `predict()` and `evaluate()`,
#' it takes the largest centred window of the target's aspect ratio and resizes it
#' bilinearly (Keras's `smart_resize()`), as Keras documents for inference.
#'
#' Both follow the training run's seed: `set.seed()` before `fit()` repeats the draws.
#' `layer_random_contrast()` passes images unchanged in `predict()` and `evaluate()`.
#'
#' Input and output shape: `(batch, height, width, channels)`; `layer_random_crop()`
#' outputs `(batch, height, width, channels)` with the layer's `height` and `width`.
#' @inheritParams layer_random_flip
#' @param factor A number in `[0, 1]` (the pair `c(0, factor)`), or two numbers
#'   `c(lower, upper)` in `[-1, 1]`: the contrast factor is drawn from
#'   `[1 - lower, 1 + upper]`.
#' @param value_range The range outputs are clipped to: two increasing numbers (by default
#'   `c(0, 255)`, pixel values).
#' @param height,width The size of the crop.
#' @returns The model (invisibly) when `object` is a model, a tensor when `object` is a
#'   tensor, else a layer.
#' @family image preprocessing layers
#' @export
#' @examples
#' set.seed(1)
#' model <- keras_model_sequential(input_shape = c(12, 12, 3)) %>%
#'   layer_random_crop(10, 10) %>%
#'   layer_random_contrast(0.2) %>%
#'   layer_rescaling(1 / 255) %>%
#'   layer_conv_2d(4, 3) %>% layer_flatten() %>% layer_dense(1)
#' model %>% compile(loss = "mse", optimizer = "sgd")
#' x <- array(runif(4 * 12 * 12 * 3, 0, 255), c(4, 12, 12, 3))
#' model %>% fit(x, runif(4), epochs = 1, verbose = 0)
layer_random_contrast <- function(object, factor, value_range = c(0, 255), seed = NULL,
                                  data_format = NULL, input_shape = NULL, batch_input_shape = NULL,
                                  batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                                  weights = NULL, ...) {
  check_no_dots(..., fn = "layer_random_contrast()")
  check_channels_last(data_format)
  if (is.list(factor)) factor <- unlist(factor)
  ok <- is.numeric(factor) && length(factor) %in% 1:2 && !anyNA(factor) && all(abs(factor) <= 1) &&
    (length(factor) == 2 || factor >= 0)
  if (!isTRUE(ok)) {
    rk_abort(sprintf("`factor` must be a number in [0, 1] or two numbers in [-1, 1], not %s.",
                     show_value(factor)), "value")
  }
  if (is.list(value_range)) value_range <- unlist(value_range)
  if (!(is.numeric(value_range) && length(value_range) == 2 && all(is.finite(value_range)) &&
        value_range[[1]] <= value_range[[2]])) {
    rk_abort(sprintf("`value_range` must be two increasing numbers, not %s.", show_value(value_range)), "value")
  }
  factor <- if (length(factor) == 1) c(0, factor) else sort(factor)
  config <- list(factor = I(as.double(factor)), value_range = I(as.double(value_range)),
                 seed = check_count(seed, "seed", min = 0, allow_null = TRUE), data_format = "channels_last")
  compose_layer(object, new_layer_spec("random_contrast", "RandomContrast", config,
                                       input_shape = input_shape %||% batch_input_shape[-1], name = name))
}

#' @rdname layer_random_contrast
#' @export
layer_random_crop <- function(object, height, width, seed = NULL, data_format = NULL,
                              input_shape = NULL, batch_input_shape = NULL, batch_size = NULL,
                              dtype = NULL, name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_random_crop()")
  check_channels_last(data_format)
  config <- list(height = check_count(height, "height", max = 2^24),
                 width = check_count(width, "width", max = 2^24),
                 seed = check_count(seed, "seed", min = 0, allow_null = TRUE), data_format = "channels_last")
  compose_layer(object, new_layer_spec("random_crop", "RandomCrop", config,
                                       input_shape = input_shape %||% batch_input_shape[-1], name = name))
}

#' Keras's factor: one number or two, within the range for `what`
#' @noRd
check_factor <- function(x, arg, what, call = rlang::caller_env()) {
  ok <- is.numeric(x) && length(x) %in% 1:2 && !anyNA(x) && all(is.finite(x))
  if (ok) {
    lo <- if (length(x) == 1) -abs(x) else min(x)
    ok <- lo >= -1 && max(abs(x)) <= 1 && !(what == "zoom" && lo <= -1) &&
      !(what == "rotation" && length(x) == 1 && x < -1)
  }
  if (!ok) {
    range <- if (what == "zoom") "above -1 and at most 1" else "between -1 and 1"
    rk_abort(sprintf("`%s` must be a number or two numbers %s, not %s.", arg, range, show_value(x)),
             "value", call)
  }
  if (length(x) == 1) as.double(x) else I(as.double(x))
}

#' The fill, interpolation and seed of an affine augmentation layer's config
#' @noRd
affine_config <- function(fill_mode, interpolation, seed, fill_value, data_format,
                          call = rlang::caller_env()) {
  check_channels_last(data_format, call)
  list(fill_mode = check_string(fill_mode, "fill_mode", choices = c("reflect", "wrap", "nearest", "constant"),
                                call = call),
       interpolation = check_string(interpolation, "interpolation", choices = c("bilinear", "nearest"),
                                    call = call),
       seed = check_count(seed, "seed", min = 0, allow_null = TRUE, call = call),
       fill_value = check_number(fill_value, "fill_value", call = call),
       data_format = "channels_last")
}
