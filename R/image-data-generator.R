#' Generate batches of image data with real-time data augmentation
#'
#' Keras 2's `ImageDataGenerator`: a description of random transformations (rotation, shifts,
#' shear, zoom, flips, channel shifts, brightness) and normalizations that
#' [flow_images_from_data()], [flow_images_from_directory()] and
#' [flow_images_from_dataframe()] apply to each image as they read it. Like Keras for R 2.x,
#' it is deprecated in favour of [image_dataset_from_directory()] and preprocessing layers
#' ([layer_random_flip()], [layer_random_rotation()], ...), and kept for the code that uses it.
#'
#' Each image is transformed as Keras does it: one affine map for the rotation, shift, shear
#' and zoom (about the image's centre, linear interpolation, points outside filled by
#' `fill_mode`), then the channel shift, the flips and the brightness, then the
#' normalizations ([fit_image_data_generator()] computes the featurewise ones). The random
#' draws use R's random numbers, so they follow [set.seed()] (or a flow's `seed`); they are
#' not NumPy's draws.
#' @param featurewise_center Set the mean of each channel over the dataset to 0.
#' @param samplewise_center Set each image's mean to 0.
#' @param featurewise_std_normalization Divide each channel by its standard deviation over
#'   the dataset.
#' @param samplewise_std_normalization Divide each image by its standard deviation.
#' @param zca_whitening Apply ZCA whitening (fit on data by [fit_image_data_generator()]).
#' @param zca_epsilon Epsilon for ZCA whitening.
#' @param rotation_range Degrees: rotations are drawn from `[-rotation_range, rotation_range]`.
#' @param width_shift_range,height_shift_range A fraction of the width (height) when below 1,
#'   otherwise pixels: shifts are drawn from `[-range, range]`; an integer (`2L`) draws a whole
#'   number of pixels from `0 .. range - 1` with a random sign, and a vector draws one of its
#'   values with a random sign, as Keras does.
#' @param brightness_range `NULL` or two numbers: a brightness factor is drawn between them
#'   (Keras applies it to the 8-bit image, so it suits values 0-255).
#' @param shear_range Shear intensity: angles in degrees drawn from
#'   `[-shear_range, shear_range]`.
#' @param zoom_range A number `z` (zoom drawn from `[1 - z, 1 + z]`) or two numbers, for each
#'   axis independently.
#' @param channel_shift_range Range of random shifts added to all channels, clipped to the
#'   image's range.
#' @param fill_mode How points outside the image are filled: `"constant"`
#'   (`kkkk|abcd|kkkk` with `k = cval`), `"nearest"` (`aaaa|abcd|dddd`), `"reflect"`
#'   (`dcba|abcd|dcba`) or `"wrap"` (`abcd|abcd|abcd`).
#' @param cval Value for points outside the image with `fill_mode = "constant"`.
#' @param horizontal_flip,vertical_flip Flip images at random (half of them).
#' @param rescale `NULL` or a factor multiplying the data (after the transformations and the
#'   `preprocessing_function`, before the normalizations; `0` means none).
#' @param preprocessing_function `NULL` or an R function of one image (a 3-d array) returning
#'   an array of the same shape, run on each image after its random transformation.
#' @param data_format `"channels_last"` (the default) or `"channels_first"`.
#' @param validation_split Fraction of the images reserved for validation, strictly between 0
#'   and 1, or 0: flows then take `subset = "training"` or `"validation"`.
#' @returns An image data generator (an object with reference semantics:
#'   [fit_image_data_generator()] changes it).
#' @family image preprocessing
#' @export
#' @examples
#' datagen <- image_data_generator(rotation_range = 20, width_shift_range = 0.2,
#'                                 horizontal_flip = TRUE, rescale = 1 / 255)
#' x <- array(runif(8 * 16 * 16 * 3, 0, 255), c(8, 16, 16, 3))
#' flow <- flow_images_from_data(x, generator = datagen, batch_size = 4, seed = 1)
#' dim(generator_next(flow))
image_data_generator <- function(featurewise_center = FALSE, samplewise_center = FALSE,
                                 featurewise_std_normalization = FALSE,
                                 samplewise_std_normalization = FALSE, zca_whitening = FALSE,
                                 zca_epsilon = 1e-6, rotation_range = 0.0, width_shift_range = 0.0,
                                 height_shift_range = 0.0, brightness_range = NULL, shear_range = 0.0,
                                 zoom_range = 0.0, channel_shift_range = 0.0, fill_mode = "nearest",
                                 cval = 0.0, horizontal_flip = FALSE, vertical_flip = FALSE,
                                 rescale = NULL, preprocessing_function = NULL, data_format = NULL,
                                 validation_split = 0.0) {
  g <- new.env(parent = emptyenv())
  for (arg in c("featurewise_center", "samplewise_center", "featurewise_std_normalization",
                "samplewise_std_normalization", "zca_whitening", "horizontal_flip", "vertical_flip")) {
    g[[arg]] <- check_flag(get(arg), arg)
  }
  g$zca_epsilon <- check_number(zca_epsilon, "zca_epsilon", min = 0)
  g$rotation_range <- check_number(rotation_range, "rotation_range")
  g$shear_range <- check_number(shear_range, "shear_range")
  g$channel_shift_range <- check_number(channel_shift_range, "channel_shift_range")
  g$width_shift_range <- check_shift_range(width_shift_range, "width_shift_range")
  g$height_shift_range <- check_shift_range(height_shift_range, "height_shift_range")
  g$zoom_range <- check_zoom_range(zoom_range)
  if (!is.null(brightness_range)) {
    ok <- is.numeric(brightness_range) && length(brightness_range) == 2 && all(is.finite(brightness_range))
    if (!ok) {
      rk_abort(sprintf("`brightness_range` must be NULL or two numbers, not %s.", show_value(brightness_range)),
               "value")
    }
  }
  g$brightness_range <- brightness_range
  g$fill_mode <- check_string(fill_mode, "fill_mode", choices = c("constant", "nearest", "reflect", "wrap"))
  g$cval <- check_number(cval, "cval")
  g$rescale <- check_number(rescale, "rescale", allow_null = TRUE)
  if (!is.null(preprocessing_function) && !is.function(preprocessing_function)) {
    rk_abort(sprintf("`preprocessing_function` must be NULL or a function of one image, not %s.",
                     show_value(preprocessing_function)), "type")
  }
  g$preprocessing_function <- preprocessing_function
  g$data_format <- check_string(data_format %||% "channels_last", "data_format",
                                choices = c("channels_last", "channels_first"))
  validation_split <- check_number(validation_split, "validation_split", min = 0, max = 1)
  if (validation_split != 0 && validation_split >= 1) {
    rk_abort(sprintf("`validation_split` must be strictly between 0 and 1, not %s.", format(validation_split)), "value")
  }
  g$validation_split <- validation_split
  g$mean <- NULL
  g$std <- NULL
  g$zca_whitening_matrix <- NULL
  override <- function(setting, what, by) {
    warning(sprintf("This ImageDataGenerator specifies `%s`, which overrides setting of `%s`.", by, what),
            call. = FALSE)
    g[[what]] <- setting
  }
  if (g$zca_whitening) {
    if (!g$featurewise_center) override(TRUE, "featurewise_center", "zca_whitening")
    if (g$featurewise_std_normalization) override(FALSE, "featurewise_std_normalization", "zca_whitening")
  }
  if (g$featurewise_std_normalization && !g$featurewise_center) {
    override(TRUE, "featurewise_center", "featurewise_std_normalization")
  }
  if (g$samplewise_std_normalization && !g$samplewise_center) {
    override(TRUE, "samplewise_center", "samplewise_std_normalization")
  }
  class(g) <- "rkeras_image_data_generator"
  g
}

#' @export
print.rkeras_image_data_generator <- function(x, ...) {
  on <- c(rotation = x$rotation_range > 0, shifts = any(x$width_shift_range != 0 | x$height_shift_range != 0),
          shear = x$shear_range > 0, zoom = any(x$zoom_range != 1), `horizontal flips` = x$horizontal_flip,
          `vertical flips` = x$vertical_flip, `channel shifts` = x$channel_shift_range > 0,
          brightness = !is.null(x$brightness_range), rescale = !is.null(x$rescale) && x$rescale != 0,
          `featurewise normalization` = x$featurewise_center, `samplewise normalization` = x$samplewise_center,
          `ZCA whitening` = x$zca_whitening, `preprocessing function` = !is.null(x$preprocessing_function))
  cat(sprintf("<image data generator: %s>\n", if (any(on)) paste(names(on)[on], collapse = ", ") else "no transformation"))
  invisible(x)
}

#' Fit an image data generator's statistics to sample data
#'
#' Computes the dataset statistics that `featurewise_center`,
#' `featurewise_std_normalization` and `zca_whitening` of [image_data_generator()] need: the
#' mean and standard deviation of each channel and the ZCA whitening matrix, as Keras does
#' (after `rescale`, and on `rounds` randomly transformed copies of `x` with `augment = TRUE`).
#' @param object An [image_data_generator()]; it is changed in place.
#' @param x An array of images, 4 dimensions (1, 3 or 4 channels).
#' @param augment Whether to fit on randomly transformed images.
#' @param rounds With `augment`, how many transformed copies of `x` to use.
#' @param seed `NULL` or a seed for the random transformations.
#' @returns `object`, invisibly.
#' @family image preprocessing
#' @export
#' @examples
#' x <- array(runif(10 * 8 * 8 * 3, 0, 255), c(10, 8, 8, 3))
#' datagen <- image_data_generator(featurewise_center = TRUE, featurewise_std_normalization = TRUE)
#' datagen %>% fit_image_data_generator(x)
#' datagen$mean
fit_image_data_generator <- function(object, x, augment = FALSE, rounds = 1, seed = NULL) {
  check_image_data_generator(object, "object")
  augment <- check_flag(augment, "augment")
  rounds <- check_count(rounds, "rounds")
  seed <- check_count(seed, "seed", min = 0, allow_null = TRUE)
  x <- check_image_batch(x, "x", object$data_format)
  if (!is.null(seed)) local_seed(seed)
  if (!is.null(object$rescale) && object$rescale != 0) x <- x * object$rescale
  if (augment) {
    x <- do.call(abind_first, lapply(seq_len(rounds), function(r) idg_transform(object, x)))
  }
  d <- dim(x)
  flat <- matrix(x, d[[1]] * d[[2]] * d[[3]], d[[4]])
  if (object$featurewise_center) {
    object$mean <- channel_stat(colMeans(flat), object$data_format)
    flat <- sweep(flat, 2, as.vector(object$mean))
  }
  if (object$featurewise_std_normalization) {
    object$std <- channel_stat(sqrt(colMeans(flat^2)), object$data_format)
    flat <- sweep(flat, 2, as.vector(object$std) + 1e-6, "/")
  }
  if (object$zca_whitening) {
    x <- array(flat, d)
    n <- d[[1]]
    rows <- matrix(x, n)
    if (n >= ncol(rows)) {
      e <- eigen(crossprod(rows), symmetric = TRUE)
      u <- e$vectors
      s <- sqrt(pmax(e$values, 0))
    } else {
      sv <- svd(rows, nu = 0)
      u <- sv$v
      s <- sv$d
    }
    object$zca_whitening_matrix <- (u %*% diag(sqrt(n) / (s + object$zca_epsilon), length(s))) %*% t(u)
  }
  invisible(object)
}

#' Images given to a generator: a numeric array of 4 dimensions, returned channels-last
#' @noRd
check_image_batch <- function(x, arg, data_format, call = rlang::caller_env()) {
  if (!is.numeric(x) || length(dim(x)) != 4 || anyNA(x)) {
    rk_abort(sprintf("`%s` must be a numeric array of 4 dimensions (samples, height, width, channels), not %s.",
                     arg, show_value(x)), "value", call)
  }
  if (data_format == "channels_first") x <- aperm(x, c(1L, 3L, 4L, 2L))
  if (!dim(x)[[4]] %in% c(1L, 3L, 4L)) {
    warning(sprintf("Expected images following the data format convention \"%s\" with 1, 3 or 4 channels, but `%s` has %d channels.",
                    data_format, arg, dim(x)[[4]]), call. = FALSE)
  }
  storage.mode(x) <- "double"
  x
}

#' A statistic per channel in Keras's broadcast shape, `(1, 1, channels)` or `(channels, 1, 1)`
#' @noRd
channel_stat <- function(v, data_format) {
  array(v, if (data_format == "channels_last") c(1L, 1L, length(v)) else c(length(v), 1L, 1L))
}

check_image_data_generator <- function(x, arg, call = rlang::caller_env()) {
  if (!inherits(x, "rkeras_image_data_generator")) {
    rk_abort(sprintf("`%s` must be an image data generator from image_data_generator(), not %s.", arg,
                     show_value(x)), "type", call)
  }
  x
}

check_shift_range <- function(x, arg, call = rlang::caller_env()) {
  if (!is.numeric(x) || !length(x) || anyNA(x) || any(!is.finite(x)) || (length(x) == 1 && is.integer(x) && x < 0)) {
    rk_abort(sprintf("`%s` must be a number, a non-negative integer (pixels) or a vector of shifts, not %s.",
                     arg, show_value(x)), "value", call)
  }
  x
}

check_zoom_range <- function(x, call = rlang::caller_env()) {
  if (!is.numeric(x) || !length(x) %in% 1:2 || anyNA(x) || any(!is.finite(x))) {
    rk_abort(sprintf("`zoom_range` must be a number or two numbers, not %s.", show_value(x)), "value", call)
  }
  if (length(x) == 1) c(1 - x, 1 + x) else as.double(x)
}

abind_first <- function(...) {
  parts <- list(...)
  d <- dim(parts[[1]])
  n <- vapply(parts, function(p) dim(p)[[1]], 1L)
  out <- array(0, c(sum(n), d[-1]))
  at <- 0L
  for (p in parts) {
    out[at + seq_len(dim(p)[[1]]), , , ] <- p
    at <- at + dim(p)[[1]]
  }
  out
}
