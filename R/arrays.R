#' Reshape an array in row-major (C) order
#'
#' Reshapes `x` to the dimensions `dim`, reading and writing elements in
#' row-major ("C") order, where the *last* index varies fastest. This is the
#' order NumPy, Keras layers (`layer_flatten()`, `layer_reshape()`) and
#' reticulate's `array_reshape()` use. Base R's `dim<-` uses column-major
#' ("Fortran") order, available here as `order = "F"`.
#'
#' For MNIST, `array_reshape(x, c(60000, 784))` keeps image `i` in row `i`
#' and puts pixel `(r, c)` in column `(r - 1) * 28 + c`.
#'
#' @param x An atomic vector, matrix or array (integer storage is kept).
#' @param dim The new dimensions: whole numbers whose product is
#'   `length(x)`; a single `-1` is inferred from the others.
#' @param order `"C"` (row-major, the default) or `"F"` (column-major, the
#'   same as `dim<-`).
#' @returns An array with dimensions `dim`, of the same type as `x`.
#' @family array utilities
#' @export
#' @examples
#' array_reshape(1:6, c(2, 3))        # rows (1, 2, 3) and (4, 5, 6)
#' array_reshape(1:6, c(2, 3), "F")   # same as `dim<-`
#' x <- array(1:24, c(2, 3, 4))
#' dim(array_reshape(x, c(2, -1)))
array_reshape <- function(x, dim, order = c("C", "F")) {
  order <- rk_arr_choice(order, c("C", "F"), "order")
  if (!is.atomic(x) || is.null(x) || is.factor(x)) {
    rk_abort(sprintf("`x` must be an atomic vector, matrix or array, not %s.",
                     rk_arr_what(x)), "type")
  }
  d <- rk_arr_reshape_dim(dim, length(x))
  dx <- base::dim(x)
  if (is.null(dx)) dx <- length(x)
  # keep only the dim attribute (avoid a copy when there is nothing to drop)
  if (!all(names(attributes(x)) == "dim")) {
    attributes(x) <- if (length(dx) > 1L || !is.null(base::dim(x))) list(dim = dx)
  }
  # both orders agree when only unit axes are added or removed
  if (order == "F" || identical(as.integer(dx[dx != 1L]), d[d != 1L])) {
    base::dim(x) <- d
    return(x)
  }
  kx <- length(dx)
  kd <- length(d)
  if (kx > 1L && kd > 1L && dx[1L] == d[1L]) {
    # hot path: the first (sample) axis is kept, only the rest is unrolled
    y <- if (kx == 2L) x else aperm(x, c(1L, kx:2L))
    if (kd == 2L) {
      base::dim(y) <- d
      return(y)
    }
    base::dim(y) <- c(d[1L], rev(d[-1L]))
    return(aperm(y, c(1L, kd:2L)))
  }
  flat <- if (kx == 1L) x else aperm(x, kx:1L)
  if (kd == 1L) {
    base::dim(flat) <- d
    return(flat)
  }
  base::dim(flat) <- rev(d)
  aperm(flat, kd:1L)
}

#' Convert class ids to a one-hot (binary class) matrix
#'
#' Turns a vector of 0-based integer class ids into a matrix with one row per
#' label and one 0/1 column per class, as used with
#' `loss = "categorical_crossentropy"`.
#'
#' @param y Class ids `0, 1, ..., num_classes - 1` (doubles are truncated).
#'   A vector, 1-d array or `n x 1` matrix gives an `n x num_classes`
#'   matrix; other arrays gain a trailing class axis.
#' @param num_classes Total number of classes; `NULL` (the default) uses
#'   `max(y) + 1`.
#' @param dtype Element type of the result: a float type (`"float32"`, the
#'   default, gives doubles), an integer type (`"int32"`, `"uint8"`, ...) or
#'   `"bool"`.
#' @returns A matrix (or array) of 0/1 values with `num_classes` columns.
#' @family array utilities
#' @export
#' @examples
#' to_categorical(c(0, 2, 1))
#' to_categorical(c(0, 2, 1), 4)
to_categorical <- function(y, num_classes = NULL, dtype = "float32") {
  if (is.factor(y) || !(is.numeric(y) || is.logical(y))) {
    rk_abort(sprintf(paste0("`y` must hold numeric 0-based class ids, not %s",
                            "; for a factor use `as.integer(y) - 1L`."),
                     rk_arr_what(y)), "type")
  }
  mode <- rk_arr_dtype_mode(dtype)
  out_dim <- base::dim(y)
  k <- length(out_dim)
  if (k > 1L && out_dim[k] == 1L) out_dim <- out_dim[-k]
  if (length(out_dim) <= 1L) out_dim <- NULL
  yv <- as.vector(y)
  if (is.logical(yv)) yv <- as.integer(yv)
  if (anyNA(yv)) {
    rk_abort(sprintf("`y` must not contain missing values; found NA at position %d.",
                     which(is.na(yv))[1L]), "value")
  }
  if (is.double(yv)) {
    bad <- which(!is.finite(yv))
    if (length(bad)) {
      rk_abort(sprintf("`y` must contain finite class ids; found %s at position %d.",
                       format(yv[bad[1L]]), bad[1L]), "value")
    }
    yv <- trunc(yv)
  }
  neg <- which(yv < 0)
  if (length(neg)) {
    rk_abort(sprintf(paste0("`y` holds 0-based class ids and must not be ",
                            "negative; found %s at position %d."),
                     format(yv[neg[1L]]), neg[1L]), "value")
  }
  n <- length(yv)
  if (is.null(num_classes)) {
    if (n == 0L) {
      rk_abort("`num_classes` cannot be inferred from an empty `y`; give it explicitly.",
               "value")
    }
    num_classes <- max(yv) + 1
  } else if (!is.numeric(num_classes) || length(num_classes) != 1L ||
             is.na(num_classes) || !is.finite(num_classes) ||
             num_classes < 1 || num_classes != trunc(num_classes)) {
    rk_abort(sprintf("`num_classes` must be a positive whole number, not %s.",
                     rk_arr_fmt(num_classes)), "value")
  }
  big <- which(yv >= num_classes)
  if (length(big)) {
    rk_abort(sprintf(paste0("`y` contains the label %s at position %d, but ",
                            "`num_classes` is %s, so labels must be in 0..%s."),
                     format(yv[big[1L]]), big[1L], format(num_classes),
                     format(num_classes - 1)), "value")
  }
  size <- as.double(n) * num_classes
  if (size > 2^33) {
    rk_abort(sprintf(paste0("`to_categorical()` would create a %s x %s array ",
                            "(%.3g elements); check `y` and `num_classes`."),
                     n, format(num_classes), size), "value")
  }
  out <- vector(mode, size)
  out[seq_len(n) + as.double(yv) * n] <- switch(mode, double = 1, integer = 1L,
                                                logical = TRUE)
  base::dim(out) <- c(if (is.null(out_dim)) n else out_dim, num_classes)
  out
}

#' Normalize an array along an axis
#'
#' Divides `x` by its L-`order` norm along `axis`. Slices whose norm is zero
#' are left unchanged (they stay zero).
#'
#' @param x A numeric vector, matrix or array.
#' @param axis The axis to normalize along, 1-based; negative values count
#'   from the end (`-1`, the default, is the last axis).
#' @param order The order of the norm: `2` (the default, Euclidean), `1`,
#'   any other positive number, or `Inf` (maximum absolute value).
#' @returns A double vector or array with the shape of `x`.
#' @family array utilities
#' @export
#' @examples
#' normalize(c(3, 4))
#' normalize(matrix(c(3, 0, 4, 0), 2))
normalize <- function(x, axis = -1, order = 2) {
  if (!(is.numeric(x) || is.logical(x)) || is.factor(x)) {
    rk_abort(sprintf("`x` must be a numeric vector, matrix or array, not %s.",
                     rk_arr_what(x)), "type")
  }
  if (!is.numeric(order) || length(order) != 1L || is.na(order) || order <= 0) {
    rk_abort(sprintf("`order` must be a single positive number or Inf, not %s.",
                     rk_arr_fmt(order)), "value")
  }
  d <- base::dim(x)
  dn <- dimnames(x)
  nm <- names(x)
  k <- if (is.null(d)) 1L else length(d)
  if (!is.numeric(axis) || length(axis) != 1L || is.na(axis) ||
      axis != trunc(axis) || axis == 0 || abs(axis) > k) {
    rk_abort(sprintf(paste0("`axis` must be a non-zero whole number between ",
                            "-%d and %d (1-based, -1 is the last axis), not %s."),
                     k, k, rk_arr_fmt(axis)), "value")
  }
  ax <- if (axis < 0) k + 1L + as.integer(axis) else as.integer(axis)
  if (is.null(d)) d <- length(x)
  perm <- c(ax, seq_len(k)[-ax])
  y <- if (k == 1L || ax == 1L) as.double(x) else as.double(aperm(x, perm))
  base::dim(y) <- c(d[ax], length(x) %/% max(d[ax], 1L))
  a <- abs(y)
  nrm <- if (is.infinite(order)) {
    if (nrow(a)) apply(a, 2L, max) else numeric(ncol(a))
  } else if (order == 1) colSums(a) else if (order == 2) sqrt(colSums(a * a))
  else colSums(a^order)^(1 / order)
  nrm[nrm == 0] <- 1
  y <- y / rep(nrm, each = d[ax])
  if (k == 1L) {
    y <- as.vector(y)
    if (!is.null(base::dim(x))) base::dim(y) <- d
    names(y) <- nm
  } else {
    base::dim(y) <- d[perm]
    if (ax != 1L) y <- aperm(y, order(perm))
    dimnames(y) <- dn
  }
  y
}

# ---- internal helpers -------------------------------------------------------

#' Validate and complete a `dim` argument for reshaping `n` elements
#' @noRd
rk_arr_reshape_dim <- function(dim, n, call = rlang::caller_env()) {
  scalar <- function(e) is.numeric(e) && length(e) == 1L
  if (is.list(dim) && all(vapply(dim, scalar, NA))) {
    dim <- unlist(dim)
  }
  if (!is.numeric(dim) || length(dim) == 0L) {
    rk_abort(sprintf("`dim` must be a numeric vector of dimensions, not %s.",
                     rk_arr_what(dim)), "type", call = call)
  }
  if (anyNA(dim) || any(!is.finite(dim)) || any(dim != trunc(dim)) ||
      sum(dim < 0) > 1L || any(dim < 0 & dim != -1)) {
    rk_abort(sprintf(paste0("`dim` must be whole numbers >= 0 with at most one ",
                            "-1 (inferred), not %s."), rk_arr_fmt(dim)),
             "value", call = call)
  }
  dim <- as.double(dim)
  neg <- which(dim == -1)
  known <- prod(dim[dim >= 0])
  if (length(neg)) {
    if (known == 0 || n %% known != 0) {
      rk_abort(sprintf(paste0("`dim` = %s cannot be completed: `x` has %s elements, ",
                              "which is not a multiple of %s."),
                       rk_arr_fmt(dim), format(n), format(known)), "value", call = call)
    }
    dim[neg] <- n / known
  } else if (known != n) {
    rk_abort(sprintf(paste0("`dim` = %s describes %s elements but `x` has %s; ",
                            "the product of `dim` must equal length(x)."),
                     rk_arr_fmt(dim), format(known), format(n)), "value", call = call)
  }
  if (any(dim > .Machine$integer.max)) {
    rk_abort(sprintf("`dim` = %s has an extent above %d, which R arrays cannot hold.",
                     rk_arr_fmt(dim), .Machine$integer.max), "value", call = call)
  }
  as.integer(dim)
}

#' Map a Keras dtype string to an R storage mode
#' @noRd
rk_arr_dtype_mode <- function(dtype, call = rlang::caller_env()) {
  floats <- c("float16", "float32", "float64", "half", "float", "double", "bfloat16")
  ints <- c(paste0("int", c(8, 16, 32, 64)), paste0("uint", c(8, 16, 32, 64)), "int")
  if (is.character(dtype) && length(dtype) == 1L && !is.na(dtype)) {
    if (dtype %in% floats) return("double")
    if (dtype %in% ints) return("integer")
    if (dtype == "bool") return("logical")
  }
  rk_abort(sprintf(paste0("`dtype` must be a float type (\"float32\", \"float64\"), an ",
                          "integer type (\"int32\", \"uint8\", ...) or \"bool\", not %s."),
                   rk_arr_fmt(dtype)), "value", call = call)
}

#' Match a single string against allowed values (like match.arg, classed error)
#' @noRd
rk_arr_choice <- function(value, choices, name, call = rlang::caller_env()) {
  if (identical(value, choices)) return(choices[1L])
  if (is.character(value) && length(value) == 1L && value %in% choices) return(value)
  rk_abort(sprintf("`%s` must be one of %s, not %s.", name,
                   paste0("\"", choices, "\"", collapse = " or "), rk_arr_fmt(value)),
           "value", call = call)
}

#' Short printable form of a value for error messages
#' @noRd
rk_arr_fmt <- function(x) {
  if (is.null(x)) return("NULL")
  if (!is.atomic(x)) return(rk_arr_what(x))
  v <- if (is.character(x)) paste0("\"", x, "\"") else format(x, scientific = FALSE,
                                                               trim = TRUE)
  if (length(v) > 8L) v <- c(v[1:8], "...")
  if (length(x) == 1L) v else paste0("c(", paste(v, collapse = ", "), ")")
}

#' Describe the kind of an object ("a character vector", "NULL", ...)
#' @noRd
rk_arr_what <- function(x) {
  if (is.null(x)) return("NULL")
  if (is.factor(x)) return("a factor")
  if (is.data.frame(x)) return("a data frame")
  if (is.function(x)) return("a function")
  if (is.list(x)) return("a list")
  if (is.environment(x)) return("an environment")
  if (is.atomic(x)) return(paste0(if (typeof(x) == "integer") "an " else "a ",
                                  typeof(x), " vector"))
  paste0("an object of class ", class(x)[1L])
}

#' The shape of a tensor or of one sample
#'
#' Keras for R's `shape()`: the sizes of the axes, with `NULL` (or `NA`) for an axis of any
#' size (Keras's `None`), as rkeras's functions take shapes (`input_shape`, `layer_input()`'s
#' `shape`, `layer_reshape()`'s `target_shape`).
#' @param ... Sizes: whole numbers, or `NULL`/`NA` for any size.
#' @param dims The sizes as one list or vector instead of `...`.
#' @returns An integer vector, `NA` for the open axes.
#' @family array utilities
#' @export
#' @examples
#' shape(28, 28, 1)
#' shape(NULL, 16)
#' layer_input(shape = shape(NULL, 8))
shape <- function(..., dims = list(...)) {
  if (!is.list(dims)) dims <- as.list(dims)
  sizes <- vapply(dims, function(d) {
    if (is.null(d) || (length(d) == 1 && is.na(d))) return(NA_integer_)
    if (!is.numeric(d) || length(d) != 1 || d != round(d) || d < 0 || d > 2^31 - 1) {
      rk_abort(sprintf("Each size of a shape must be a whole number, NULL or NA, not %s.", show_value(d)), "value")
    }
    as.integer(d)
  }, 1L)
  unname(sizes)
}
