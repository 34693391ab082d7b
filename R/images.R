#' Load an image file
#'
#' Reads a PNG, JPEG, BMP or GIF file into an image object, converted to `color_mode` and
#' resized to `target_size` as Keras's `load_img()` does (with Pillow's conversions and
#' resampling filters). [image_to_array()] turns it into an array of 0-255 values, `(height,
#' width, channels)`.
#'
#' An image object is an integer array `(height, width, channels)` of class `rkeras_image`;
#' `as.raster()` draws it with `plot()`.
#' @param path Path of the image file.
#' @param grayscale `TRUE` for `color_mode = "grayscale"` (Keras 2's argument).
#' @param color_mode `"rgb"`, `"rgba"` or `"grayscale"` (one channel, Pillow's luma
#'   `0.299 R + 0.587 G + 0.114 B`).
#' @param target_size `NULL` for the file's size, or `c(height, width)`.
#' @param interpolation How pixels are resampled when the size changes: `"nearest"`,
#'   `"bilinear"`, `"bicubic"`, `"hamming"`, `"box"` or `"lanczos"` (Pillow's filters).
#' @param keep_aspect_ratio Whether to crop the image's centre to the aspect ratio of
#'   `target_size` before resizing, rather than stretching it.
#' @returns An image object.
#' @family image utilities
#' @export
#' @examples
#' path <- tempfile(fileext = ".png")
#' image_array_save(array(runif(8 * 6 * 3), c(8, 6, 3)), path)
#' img <- image_load(path, target_size = c(4, 4))
#' img
#' x <- image_to_array(img)
#' dim(x)
image_load <- function(path, grayscale = FALSE, color_mode = "rgb", target_size = NULL,
                       interpolation = "nearest", keep_aspect_ratio = FALSE) {
  path <- check_string(path, "path")
  if (isTRUE(check_flag(grayscale, "grayscale"))) color_mode <- "grayscale"
  color_mode <- check_string(color_mode, "color_mode", choices = c("grayscale", "rgb", "rgba"))
  interpolation <- check_string(interpolation, "interpolation",
                                choices = c("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos"))
  keep_aspect_ratio <- check_flag(keep_aspect_ratio, "keep_aspect_ratio")
  if (!is.null(target_size)) {
    if (length(unlist(target_size)) != 2) {
      rk_abort(sprintf("`target_size` must be NULL or two positive whole numbers c(height, width), not %s.",
                       show_value(target_size)), "value")
    }
    target_size <- check_tuple(target_size, "target_size", 2L)
  }
  if (!file.exists(path) || dir.exists(path)) {
    rk_abort(sprintf("`path` must be an image file; \"%s\" does not exist.", path), "io")
  }
  pixels <- decode_image_file(path, color_mode)
  if (!is.null(target_size) && !identical(dim(pixels)[1:2], target_size)) {
    crop <- integer()
    if (keep_aspect_ratio) {
      h <- dim(pixels)[[1]]
      w <- dim(pixels)[[2]]
      crop_h <- min(h, (w * target_size[[1]]) %/% target_size[[2]])
      crop_w <- min(w, (h * target_size[[2]]) %/% target_size[[1]])
      top <- (h - crop_h) %/% 2
      left <- (w - crop_w) %/% 2
      crop <- as.integer(c(left, top, left + crop_w, top + crop_h))
    }
    pixels <- image_call(rk_image_resize(pixels, dim(pixels), target_size, interpolation, crop), path)
  }
  new_image(pixels, color_mode, bytes_max = if (max(pixels, 0L) > 255L) 65535L else 255L)
}

#' An image object from integer pixels `(height, width, channels)`
#' @noRd
new_image <- function(pixels, color_mode, bytes_max = 255L) {
  mode <- switch(color_mode, grayscale = if (bytes_max > 255L) "I;16" else "L", rgb = "RGB", rgba = "RGBA")
  structure(pixels, mode = mode, class = "rkeras_image")
}

#' The pixels of the image file at `path` in `color_mode`: an integer array (height,
#' width, channels)
#' @noRd
decode_image_file <- function(path, color_mode, call = rlang::caller_env()) {
  bytes <- readBin(path, "raw", file.info(path)$size)
  image_call(rk_image_decode(bytes, color_mode), path, call)
}

#' Unwrap an image shim's result, naming the file in errors
#' @noRd
image_call <- function(res, path, call = rlang::caller_env()) {
  if (!is.null(res$err)) {
    rk_abort(sprintf("\"%s\": %s.", path, res$err$message), res$err$kind, call)
  }
  res$ok
}

#' @export
print.rkeras_image <- function(x, ...) {
  d <- dim(x)
  cat(sprintf("<image %s, %d x %d (height x width)>\n", attr(x, "mode"), d[[1]], d[[2]]))
  invisible(x)
}

#' @importFrom grDevices as.raster
#' @export
as.raster.rkeras_image <- function(x, ...) {
  d <- dim(x)
  v <- unclass(x)
  if (attr(x, "mode") == "I;16") v <- v / 257
  v <- v / 255
  if (d[[3]] == 1L) return(grDevices::as.raster(matrix(v, d[[1]], d[[2]])))
  grDevices::as.raster(array(v, d))
}

#' Convert an image to an array
#'
#' `image_to_array()` gives an image's pixel values as a numeric array: `(height, width,
#' channels)` (or `(channels, height, width)` with `data_format = "channels_first"`), values
#' 0-255, as Keras's `img_to_array()`. `image_from_array()` is the inverse, as Keras's
#' `array_to_img()`: with `scale = TRUE` the values are first stretched to 0-255.
#' @param img An image from [image_load()], or an array `(height, width)` or `(height,
#'   width, channels)`.
#' @param data_format `"channels_last"` or `"channels_first"` (`NULL`: channels last).
#' @param dtype `NULL`, `"float32"` or `"float64"` (doubles), or `"int32"`/`"uint8"` (an
#'   integer array).
#' @returns A numeric array.
#' @family image utilities
#' @export
#' @examples
#' img <- image_from_array(array(runif(4 * 5 * 3), c(4, 5, 3)))
#' x <- image_to_array(img)
#' range(x)
#' dim(image_to_array(img, data_format = "channels_first"))
image_to_array <- function(img, data_format = c("channels_last", "channels_first"), dtype = NULL) {
  data_format <- match_data_format(data_format)
  dtype <- check_string(dtype, "dtype", allow_null = TRUE,
                        choices = c("float32", "float64", "float16", "int32", "uint8", "int64"))
  if (!inherits(img, "rkeras_image") && !(is.numeric(img) && length(dim(img)) %in% 2:3)) {
    rk_abort(sprintf("`img` must be an image from image_load() or an array of 2 or 3 dimensions, not %s.",
                     show_value(img)), "type")
  }
  d <- dim(img)
  x <- array(unclass(img), if (length(d) == 2) c(d, 1L) else d)
  if (data_format == "channels_first") x <- aperm(x, c(3L, 1L, 2L))
  if (is.null(dtype) || dtype %in% c("float32", "float64", "float16")) storage.mode(x) <- "double"
  else storage.mode(x) <- "integer"
  x
}

#' @rdname image_to_array
#' @param x An array `(height, width, channels)` of 1, 3 or 4 channels (or `(channels,
#'   height, width)` with `data_format = "channels_first"`).
#' @param scale Whether to stretch the values to 0-255 first (minimum to 0, maximum to 255).
#' @export
image_from_array <- function(x, data_format = NULL, scale = TRUE, dtype = NULL) {
  data_format <- match_data_format(data_format %||% "channels_last")
  scale <- check_flag(scale, "scale")
  check_string(dtype, "dtype", allow_null = TRUE, choices = c("float32", "float64"))
  if (!is.numeric(x) || length(dim(x)) != 3 || anyNA(x) || any(!is.finite(x))) {
    rk_abort(sprintf("`x` must be a numeric array of 3 dimensions (one image) with finite values, not %s.",
                     show_value(x)), "value")
  }
  if (data_format == "channels_first") x <- aperm(x, c(2L, 3L, 1L))
  channels <- dim(x)[[3]]
  if (!channels %in% c(1L, 3L, 4L)) {
    rk_abort(sprintf("`x` must have 1, 3 or 4 channels, not %d.", channels), "value")
  }
  pixels <- rk_call(rk_image_from_array(as.double(x), dim(x), scale))
  if (channels == 1L && max(pixels) > 255L) {
    rk_abort("`x` has values above 255 in its one channel: rkeras keeps 8-bit images (use `scale = TRUE`).",
             "unsupported")
  }
  new_image(pixels, c("grayscale", "", "rgb", "rgba")[[channels]])
}

#' @rdname image_to_array
#' @param path Path of the file to write; its extension gives the format unless
#'   `file_format` does.
#' @param file_format `NULL`, or `"png"`, `"jpeg"`, `"bmp"` or `"gif"`.
#' @returns `image_array_save()` returns `img`, invisibly.
#' @export
image_array_save <- function(img, path, data_format = NULL, file_format = NULL, scale = TRUE) {
  path <- check_string(path, "path")
  file_format <- check_string(lower(file_format), "file_format", allow_null = TRUE,
                              choices = c("png", "jpeg", "jpg", "bmp", "gif"))
  image <- if (inherits(img, "rkeras_image")) img else image_from_array(img, data_format, scale)
  name <- if (is.null(file_format)) path else paste0("image.", file_format)
  bytes <- image_call(rk_image_encode(unclass(image), dim(image), name), path)
  write_atomically(bytes, path)
  invisible(img)
}

#' Write `bytes` to `path` through a temporary file beside it, so no half-written file is
#' left
#' @noRd
write_atomically <- function(bytes, path, call = rlang::caller_env()) {
  tmp <- tempfile(".rkeras-", tmpdir = dirname(path))
  on.exit(unlink(tmp))
  ok <- tryCatch({
    writeBin(bytes, tmp)
    file.rename(tmp, path)
  }, error = function(e) FALSE, warning = function(w) FALSE)
  if (!isTRUE(ok)) rk_abort(sprintf("cannot write \"%s\".", path), "io", call)
  invisible(path)
}

#' Resize an image array
#'
#' Resizes an array `(height, width, channels)` (or `(1, height, width, channels)`) by
#' linear interpolation between the pixels, the first and last rows and columns kept in
#' place (as Keras for R's `image_array_resize()`, which uses SciPy's `zoom(order = 1)`).
#' @param img A numeric array.
#' @param height,width The new size.
#' @param data_format `"channels_last"` or `"channels_first"`.
#' @returns The resized array.
#' @family image utilities
#' @export
#' @examples
#' x <- array(1:12, c(2, 2, 3))
#' image_array_resize(x, 3, 3)[, , 1]
image_array_resize <- function(img, height, width, data_format = c("channels_last", "channels_first")) {
  data_format <- match_data_format(data_format)
  height <- check_count(height, "height")
  width <- check_count(width, "width")
  d <- dim(img)
  if (!is.numeric(img) || !(length(d) == 3 || (length(d) == 4 && d[[1]] == 1))) {
    rk_abort(sprintf("`img` must be a numeric array of 3 dimensions (or 4 with one sample), not %s.",
                     show_value(img)), "value")
  }
  x <- if (length(d) == 4) array(img, d[-1]) else img
  axes <- if (data_format == "channels_last") c(1L, 2L) else c(2L, 3L)
  x <- zoom_axis(zoom_axis(x, axes[[1]], height), axes[[2]], width)
  if (is.integer(img)) x <- array(as.integer(round(x)), dim(x))
  if (length(d) == 4) dim(x) <- c(1L, dim(x))
  x
}

#' Linear interpolation along `axis` of a 3-d array to `n` positions, ends kept in place
#' @noRd
zoom_axis <- function(x, axis, n) {
  m <- dim(x)[[axis]]
  pos <- if (n > 1 && m > 1) (seq_len(n) - 1) * (m - 1) / (n - 1) else rep(0, n)
  lo <- pmin(floor(pos), m - 1)
  t <- pos - lo
  hi <- pmin(lo + 1, m - 1)
  perm <- c(axis, setdiff(1:3, axis))
  y <- aperm(x, perm)
  dy <- dim(y)
  y <- matrix(y, dy[[1]])
  out <- (1 - t) * y[lo + 1, , drop = FALSE] + t * y[hi + 1, , drop = FALSE]
  aperm(array(out, c(n, dy[-1])), order(perm))
}

match_data_format <- function(data_format, call = rlang::caller_env()) {
  if (is.null(data_format)) return("channels_last")
  if (length(data_format) > 1) data_format <- data_format[[1]]
  check_string(data_format, "data_format", choices = c("channels_last", "channels_first"), call = call)
}
