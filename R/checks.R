# Argument checks: each coerces and validates in one step, returns the cleaned value,
# and fails with a classed error naming the argument and the value.

show_value <- function(x) {
  if (is.null(x)) return("NULL")
  if (inherits(x, c("rkeras_model", "rkeras_layer"))) return(paste0("an object of class ", class(x)[[1]]))
  if (is.function(x)) return("a function")
  if (is.environment(x)) return(paste0("an object of class ", class(x)[[1]]))
  if (is.list(x)) return(paste0("a list of length ", length(x)))
  if (length(x) == 0) return(paste0("an empty ", typeof(x), " vector"))
  if (length(x) > 1) return(paste0("a ", typeof(x), " vector of length ", length(x)))
  if (is.character(x)) return(encodeString(x, quote = "\""))
  format(x)
}

check_number <- function(x, arg = deparse(substitute(x)), min = -Inf, max = Inf,
                         allow_null = FALSE, what = "a number",
                         call = rlang::caller_env()) {
  if (is.null(x) && allow_null) return(NULL)
  if (!is.numeric(x) && !is.logical(x) || length(x) != 1 || is.na(x) || !is.finite(x) ||
      x < min || x > max) {
    range <- if (is.finite(min) && is.finite(max)) sprintf(" between %s and %s", min, max)
             else if (is.finite(min)) sprintf(" >= %s", min) else ""
    rk_abort(sprintf("`%s` must be %s%s, not %s.", arg, what, range, show_value(x)), "value", call)
  }
  as.double(x)
}

check_count <- function(x, arg = deparse(substitute(x)), min = 1, max = 2^31 - 1,
                        allow_null = FALSE, call = rlang::caller_env()) {
  if (is.null(x) && allow_null) return(NULL)
  what <- if (min >= 1) "a positive whole number" else "a non-negative whole number"
  ok <- (is.numeric(x) || is.logical(x)) && length(x) == 1 && !is.na(x) && is.finite(x) &&
    x == round(x) && x >= min && x <= max
  if (!isTRUE(ok)) {
    extra <- if (is.numeric(x) && length(x) == 1 && !is.na(x) && is.finite(x) && x > max)
      sprintf(" (at most %s)", format(max, big.mark = ",", scientific = FALSE)) else ""
    rk_abort(sprintf("`%s` must be %s%s, not %s.", arg, what, extra, show_value(x)), "value", call)
  }
  as.integer(x)
}

#' A number of batches, truncated to a whole number as Keras for R's `as.integer()` does
#' (`steps_per_epoch = flow$n / flow$batch_size`); at least 1
#' @noRd
check_steps <- function(x, arg, call = rlang::caller_env()) {
  if (is.numeric(x) && length(x) == 1 && !is.na(x) && is.finite(x) && x >= 1) x <- floor(x)
  check_count(x, arg, call = call)
}

check_flag <- function(x, arg = deparse(substitute(x)), call = rlang::caller_env()) {
  if (!is.logical(x) || length(x) != 1 || is.na(x)) {
    rk_abort(sprintf("`%s` must be TRUE or FALSE, not %s.", arg, show_value(x)), "value", call)
  }
  x
}

check_string <- function(x, arg = deparse(substitute(x)), allow_null = FALSE,
                         choices = NULL, call = rlang::caller_env()) {
  if (is.null(x) && allow_null) return(NULL)
  if (!is.character(x) || length(x) != 1 || is.na(x) || !nzchar(x)) {
    rk_abort(sprintf("`%s` must be a single non-empty string, not %s.", arg, show_value(x)), "value", call)
  }
  if (!is.null(choices) && !x %in% choices) {
    rk_abort(sprintf("`%s` must be one of %s, not %s.", arg,
                     paste0("\"", choices, "\"", collapse = ", "), show_value(x)), "value", call)
  }
  x
}

check_rate <- function(x, arg = deparse(substitute(x)), call = rlang::caller_env()) {
  ok <- is.numeric(x) && length(x) == 1 && !is.na(x) && x >= 0 && x < 1
  if (!isTRUE(ok)) {
    rk_abort(sprintf("`%s` must be a number in [0, 1), not %s.", arg, show_value(x)), "value", call)
  }
  # The engine keeps rates in single precision, where anything above 1 - 2^-25 is 1.
  if (x > 1 - 2^-24) {
    rk_abort(sprintf("`%s` must be a number in [0, 1), not %s: it is 1 in single precision (largest rate: %s).",
                     arg, format(x, digits = 17), format(1 - 2^-24, digits = 9)), "value", call)
  }
  as.double(x)
}

check_verbose <- function(x, call = rlang::caller_env()) {
  if (identical(x, "auto")) return(1L)
  check_count(x, "verbose", min = 0, max = 2, call = call)
}

#' Check a shape given without the batch dimension (`input_shape = 784`, `c(28, 28)`)
#' @noRd
check_shape <- function(x, arg = deparse(substitute(x)), allow_null = TRUE, allow_open = TRUE,
                        call = rlang::caller_env()) {
  if (is.null(x) && allow_null) return(NULL)
  if (is.list(x)) x <- unlist(lapply(x, function(v) if (is.null(v)) NA else v))
  # An open axis (Keras's None: NULL in a list, or NA) takes any size.
  if (is.logical(x) && length(x) && allow_open && all(is.na(x))) x <- as.integer(x)
  fixed <- x[!is.na(x)]
  ok <- is.numeric(x) && length(x) >= 1 && (allow_open || !anyNA(x)) && all(fixed == round(fixed)) &&
    all(fixed >= 1) && prod(fixed) <= 2^31 - 1
  if (!isTRUE(ok)) {
    rk_abort(sprintf("`%s` must be a vector of positive whole numbers (the shape of one sample)%s, not %s.",
                     arg, if (allow_open) ", NULL or NA for an axis of any size" else "", show_value(x)),
             "value", call)
  }
  as.integer(x)
}

check_model <- function(object, arg = "object", call = rlang::caller_env()) {
  if (!inherits(object, "rkeras_model")) {
    rk_abort(sprintf("`%s` must be an rkeras model (from keras_model_sequential()), not %s.",
                     arg, show_value(object)), "type", call)
  }
  if (rk_ptr_dead(object$ptr)) {
    rk_abort(paste0("This model was read back by readRDS() or load() without its saved state (it was saved ",
                    "by a version of rkeras that did not keep it), so it cannot be used. Keep models with ",
                    "save_model(), or with saveRDS() from this version."),
             "state", call)
  }
  invisible(object)
}

rk_ptr_dead <- function(ptr) {
  !inherits(ptr, "externalptr") || !rk_ptr_alive(ptr)
}

#' Convert data to a numeric matrix `n x d` (row-major flattening of extra dims)
#' @noRd
as_sample_matrix <- function(x, arg, call = rlang::caller_env()) {
  if (is.data.frame(x)) {
    rk_abort(sprintf("`%s` is a data frame; convert it with as.matrix() first.", arg), "type", call)
  }
  if (!(is.numeric(x) || is.logical(x)) || is.null(x)) {
    rk_abort(sprintf("`%s` must be a numeric matrix or array, not %s.", arg, show_value(x)), "type", call)
  }
  if (is.logical(x)) storage.mode(x) <- "integer"
  d <- dim(x)
  if (is.null(d)) {
    x <- matrix(x, ncol = 1)
  } else if (length(d) == 1) {
    dim(x) <- c(d, 1L)
  } else if (length(d) > 2) {
    x <- array_reshape(x, c(d[[1]], prod(d[-1])))
  }
  if (nrow(x) == 0) rk_abort(sprintf("`%s` has no rows.", arg), "value", call)
  x
}

#' An input's `dtype`: Keras's numeric and boolean types. The engine computes in single
#' precision, so values arrive as float32, as Keras casts a layer's inputs to its compute
#' dtype (token ids stay exact up to 2^24).
#' @noRd
check_input_dtype <- function(dtype, call = rlang::caller_env()) {
  types <- c("float32", "float16", "bfloat16", "float64", "int8", "int16", "int32", "int64",
             "uint8", "uint16", "uint32", "uint64", "bool")
  if (is.null(dtype)) return(invisible(NULL))
  if (identical(dtype, "string")) {
    rk_abort("`dtype = \"string\"` inputs are not supported by rkeras yet: vectorize text in R first.", "unsupported", call)
  }
  check_string(dtype, "dtype", choices = types, call = call)
}
