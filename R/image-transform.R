# The per-image work of an image data generator, done a batch at a time: Keras 2's
# `get_random_transform()`, `apply_transform()` and `standardize()`. Batches are channels-last
# arrays (samples, height, width, channels) of doubles.

#' Random transformations of each image of a batch, drawn from R's random numbers
#' @noRd
idg_random_params <- function(g, n, h, w) {
  draw <- function(range, pixels) {
    if (all(range == 0)) return(rep(0, n))
    v <- if (length(range) > 1) {
      range[sample.int(length(range), n, replace = TRUE)] * sample(c(-1, 1), n, replace = TRUE)
    } else if (is.integer(range)) {
      (sample.int(range, n, replace = TRUE) - 1) * sample(c(-1, 1), n, replace = TRUE)
    } else {
      stats::runif(n, -abs(range), abs(range))
    }
    if (max(range) < 1) v * pixels else v
  }
  # NumPy's uniform(low, high) takes the ends in either order.
  between <- function(a, b) stats::runif(n, min(a, b), max(a, b))
  p <- list(theta = if (g$rotation_range) between(-g$rotation_range, g$rotation_range) else rep(0, n))
  p$tx <- draw(g$height_shift_range, h)
  p$ty <- draw(g$width_shift_range, w)
  p$shear <- if (g$shear_range) between(-g$shear_range, g$shear_range) else rep(0, n)
  if (all(g$zoom_range == 1)) {
    p$zx <- p$zy <- rep(1, n)
  } else {
    p$zx <- between(g$zoom_range[[1]], g$zoom_range[[2]])
    p$zy <- between(g$zoom_range[[1]], g$zoom_range[[2]])
  }
  p$flip_horizontal <- stats::runif(n) < 0.5 & g$horizontal_flip
  p$flip_vertical <- stats::runif(n) < 0.5 & g$vertical_flip
  p$channel_shift <- if (g$channel_shift_range) between(-g$channel_shift_range, g$channel_shift_range)
  p$brightness <- if (!is.null(g$brightness_range)) between(g$brightness_range[[1]], g$brightness_range[[2]])
  p
}

#' Keras's `apply_affine_transform()` matrix for one image: the input coordinates (row,
#' column) of output pixel `o` are `A o + b`; returns `c(A[1, 1], A[1, 2], A[2, 1], A[2, 2],
#' b)`, or `NULL` when no transformation applies
#' @noRd
affine_params <- function(theta, tx, ty, shear, zx, zy, h, w) {
  m <- NULL
  then <- function(m, t) if (is.null(m)) t else m %*% t
  if (theta != 0) {
    a <- theta * pi / 180
    m <- matrix(c(cos(a), sin(a), 0, -sin(a), cos(a), 0, 0, 0, 1), 3)
  }
  if (tx != 0 || ty != 0) m <- then(m, matrix(c(1, 0, 0, 0, 1, 0, tx, ty, 1), 3))
  if (shear != 0) {
    s <- shear * pi / 180
    m <- then(m, matrix(c(1, 0, 0, -sin(s), cos(s), 0, 0, 0, 1), 3))
  }
  if (zx != 1 || zy != 1) m <- then(m, matrix(c(zx, 0, 0, 0, zy, 0, 0, 0, 1), 3))
  if (is.null(m)) return(NULL)
  o <- c(h / 2 - 0.5, w / 2 - 0.5)
  m <- matrix(c(1, 0, 0, 0, 1, 0, o, 1), 3) %*% m %*% matrix(c(1, 0, 0, 0, 1, 0, -o, 1), 3)
  # Keras swaps the two axes (its matrix is built in (column, row) order).
  m <- m[c(2, 1, 3), c(2, 1, 3)]
  c(m[1, 1], m[1, 2], m[2, 1], m[2, 2], m[1, 3], m[2, 3])
}

#' `apply_transform()` of drawn parameters `p` to each image of batch `x`
#' @noRd
idg_apply <- function(g, x, p) {
  d <- dim(x)
  n <- d[[1]]
  params <- matrix(0, n, 6)
  skip <- logical(n)
  for (i in seq_len(n)) {
    a <- affine_params(p$theta[[i]], p$tx[[i]], p$ty[[i]], p$shear[[i]], p$zx[[i]], p$zy[[i]], d[[2]], d[[3]])
    if (is.null(a)) skip[[i]] <- TRUE else params[i, ] <- a
  }
  if (!all(skip)) x <- rk_call(rk_image_affine(x, d, params, skip, g$fill_mode, g$cval))
  for (i in seq_len(n)) {
    if (!is.null(p$channel_shift)) {
      img <- x[i, , , , drop = FALSE]
      lo <- min(img)
      hi <- max(img)
      x[i, , , ] <- pmin(pmax(img + p$channel_shift[[i]], lo), hi)
    }
    if (p$flip_horizontal[[i]]) x[i, , , ] <- x[i, , rev(seq_len(d[[3]])), , drop = FALSE]
    if (p$flip_vertical[[i]]) x[i, , , ] <- x[i, rev(seq_len(d[[2]])), , , drop = FALSE]
  }
  if (!is.null(p$brightness)) {
    if (!d[[4]] %in% c(1L, 3L, 4L)) {
      rk_abort(sprintf("`brightness_range` needs images of 1, 3 or 4 channels, not %d.", d[[4]]), "value")
    }
    # Keras's apply_brightness_shift(): 8-bit pixels times the factor, as Pillow computes them.
    x <- rk_call(rk_image_brightness(x, d, p$brightness))
  }
  x
}

#' Random transformations of each image of batch `x`
#' @noRd
idg_transform <- function(g, x) {
  d <- dim(x)
  idg_apply(g, x, idg_random_params(g, d[[1]], d[[2]], d[[3]]))
}

#' Keras's `standardize()` of each image of batch `x`: the preprocessing function, rescaling,
#' then the samplewise and featurewise normalizations and ZCA whitening
#' @noRd
idg_standardize <- function(g, x) {
  d <- dim(x)
  if (!is.null(f <- g$preprocessing_function)) {
    first <- g$data_format == "channels_first"
    for (i in seq_len(d[[1]])) {
      img <- array(x[i, , , ], d[-1])
      if (first) img <- aperm(img, c(3L, 1L, 2L))
      out <- f(img)
      if (!is.numeric(out) || length(out) != length(img)) {
        rk_abort(sprintf("`preprocessing_function` must return an array of the image's shape (%s), not %s.",
                         paste(dim(img), collapse = " x "), show_value(out)), "value")
      }
      if (first) out <- aperm(array(out, dim(img)), c(2L, 3L, 1L))
      x[i, , , ] <- out
    }
  }
  if (!is.null(g$rescale) && g$rescale != 0) x <- x * g$rescale
  rows <- matrix(x, d[[1]])
  if (g$samplewise_center) rows <- rows - rowMeans(rows)
  if (g$samplewise_std_normalization) rows <- rows / (sqrt(rowMeans((rows - rowMeans(rows))^2)) + 1e-6)
  x <- array(rows, d)
  per_channel <- function(x, v, op) {
    flat <- matrix(x, prod(d[1:3]))
    array(sweep(flat, 2, as.vector(v), op), d)
  }
  if (g$featurewise_center) {
    if (is.null(g$mean)) idg_unfit_warning(g, "featurewise_center") else x <- per_channel(x, g$mean, "-")
  }
  if (g$featurewise_std_normalization) {
    if (is.null(g$std)) idg_unfit_warning(g, "featurewise_std_normalization")
    else x <- per_channel(x, as.vector(g$std) + 1e-6, "/")
  }
  if (g$zca_whitening) {
    if (is.null(g$zca_whitening_matrix)) idg_unfit_warning(g, "zca_whitening")
    else x <- array(matrix(x, d[[1]]) %*% g$zca_whitening_matrix, d)
  }
  x
}

#' Keras's warning for a normalization that needs statistics not yet fit (once per generator)
#' @noRd
idg_unfit_warning <- function(g, what) {
  key <- paste0("warned_", what)
  if (isTRUE(g[[key]])) return(invisible())
  g[[key]] <- TRUE
  warning(sprintf("This ImageDataGenerator specifies `%s`, but it hasn't been fit on any training data. Fit it first by calling `fit_image_data_generator()`.",
                  what), call. = FALSE)
}
