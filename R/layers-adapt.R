#' Normalization layer
#'
#' Keras's `Normalization` preprocessing layer: `(x - mean) / sqrt(variance)` (the square
#' root at least `1e-7`), or with `invert = TRUE` the inverse, `mean + x * sqrt(variance)`.
#' There is one mean and variance for each position of the kept `axis` (by default the
#' last: one per feature); `axis = NULL` keeps one for everything. Give `mean` and
#' `variance`, or learn them from data with [adapt()], which computes them as Keras does
#' (over every other axis, the variance without Bessel's correction) and keeps them in the
#' layer's untrained weights `mean`, `variance` and `count`.
#'
#' Input and output shape: the same, any rank.
#' @inheritParams layer_dense
#' @param axis The axis (or axes) with their own statistics, in Keras for R's counting:
#'   negative from the end (`-1` the last), positive from the start with the batch axis 1;
#'   `NULL` for one mean and variance.
#' @param mean,variance `NULL` (learn them with [adapt()]), or numbers: one, or an array
#'   of the kept axes' sizes (or of their last ones; sizes of 1 broadcast).
#' @param invert Whether to undo a normalization instead.
#' @returns The model (invisibly) when `object` is a model, a tensor when `object` is a
#'   tensor, else a layer.
#' @family preprocessing layers
#' @export
#' @examples
#' x <- cbind(runif(100, 0, 10), rnorm(100, 50, 5))
#' normalizer <- layer_normalization(axis = -1)
#' normalizer %>% adapt(x)
#' model <- keras_model_sequential(input_shape = 2) %>%
#'   normalizer() %>%
#'   layer_dense(1)
#' get_weights(model)[1:2]   # the columns' means and variances
layer_normalization <- function(object, axis = -1L, mean = NULL, variance = NULL, invert = FALSE,
                                input_shape = NULL, batch_input_shape = NULL, batch_size = NULL,
                                dtype = NULL, name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_normalization()")
  axis <- keras_axes(axis, "axis")
  if (is.null(mean) != is.null(variance)) {
    rk_abort("Give both `mean` and `variance`, or neither (then learn them with adapt()).", "value")
  }
  if (!is.null(mean)) {
    for (arg in c("mean", "variance")) {
      v <- get(arg)
      if (!is.numeric(v) || !length(v) || anyNA(v) || !all(is.finite(v))) {
        rk_abort(sprintf("`%s` must be finite numbers, not %s.", arg, show_value(v)), "value")
      }
    }
    if (!identical(dim(mean) %||% length(mean), dim(variance) %||% length(variance))) {
      rk_abort("`mean` and `variance` must have the same shape.", "value")
    }
    if (any(variance < 0)) rk_abort("`variance` must not be negative.", "value")
  }
  config <- list(axis = if (is.null(axis)) NULL else I(axis), invert = check_flag(invert, "invert"),
                 mean = nested_rows(mean), variance = nested_rows(variance))
  compose_layer(object, new_layer_spec("normalization", "Normalization", config,
                                       input_shape = input_shape %||% batch_input_shape[-1], name = name))
}

#' Discretization and category encoding layers
#'
#' `layer_discretization()` puts each value in a bin: index `i` where
#' `bin_boundaries[i] <= x < bin_boundaries[i + 1]` (counting bins from 0, NumPy's
#' `digitize()`), with `bin_boundaries` given or learnt by [adapt()] as Keras 3 learns them
#' (its approximate quantiles of all values of `data`, tolerance `epsilon`, `num_bins` bins).
#' `layer_category_encoding()` takes category ids in `[0, num_tokens)`.
#'
#' Both encode the ids as `output_mode` says: `"int"` (discretization only) keeps them;
#' `"one_hot"` gives each id a row of zeros with a one at the id (a last axis of size 1 is
#' replaced by the row); `"multi_hot"` marks, and `"count"` counts, the ids of each sample
#' (along its first axis). Ids outside the range mark nothing, as in Keras 3 (JAX).
#' Keras 2's name `"binary"` is taken for `"multi_hot"`. Neither layer has weights or passes
#' gradients to its inputs.
#'
#' Input and output shapes: `(batch, ...)` to `(batch, ...)` (`"int"`), `(batch, ...,
#' depth)` (`"one_hot"`), `(batch, depth)` for `(batch, n)` inputs (`"multi_hot"`,
#' `"count"`), where `depth` is the number of bins or `num_tokens`.
#' @inheritParams layer_dense
#' @param bin_boundaries Increasing numbers, or `NULL` to learn them with [adapt()].
#' @param num_bins With [adapt()]: the number of bins to learn.
#' @param epsilon [adapt()]'s tolerance (Keras's summary keeps about `1 / epsilon` values).
#' @param num_tokens The number of categories.
#' @param output_mode `"int"`, `"one_hot"`, `"multi_hot"` or `"count"` (see above).
#' @param sparse Only `FALSE` (outputs are dense).
#' @returns The model (invisibly) when `object` is a model, a tensor when `object` is a
#'   tensor, else a layer.
#' @family preprocessing layers
#' @export
#' @examples
#' ages <- matrix(c(3, 17, 25, 42, 61, 80), ncol = 1)
#' bins <- layer_discretization(bin_boundaries = c(18, 35, 65))
#' predict(keras_model_sequential(input_shape = 1) %>% bins(), ages, verbose = 0)
#'
#' learnt <- layer_discretization(num_bins = 3, output_mode = "one_hot")
#' adapt(learnt, runif(300))
#' get_config(learnt)$bin_boundaries
#'
#' codes <- keras_model_sequential(input_shape = 3) %>%
#'   layer_category_encoding(num_tokens = 5, output_mode = "count")
#' predict(codes, rbind(c(0, 1, 1), c(4, 4, 2)), verbose = 0)
layer_discretization <- function(object, bin_boundaries = NULL, num_bins = NULL, epsilon = 0.01,
                                 output_mode = "int", sparse = FALSE, input_shape = NULL,
                                 batch_input_shape = NULL, batch_size = NULL, dtype = NULL,
                                 name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_discretization()")
  if (is.null(bin_boundaries) == is.null(num_bins)) {
    rk_abort("Give `bin_boundaries` or `num_bins` (then learn the boundaries with adapt()), not both.", "value")
  }
  if (!is.null(bin_boundaries)) {
    if (is.list(bin_boundaries)) bin_boundaries <- unlist(bin_boundaries)
    if (!is.numeric(bin_boundaries) || !length(bin_boundaries) || !all(is.finite(bin_boundaries)) ||
        is.unsorted(bin_boundaries)) {
      rk_abort(sprintf("`bin_boundaries` must be increasing finite numbers, not %s.", show_value(bin_boundaries)), "value")
    }
  }
  config <- list(bin_boundaries = if (!is.null(bin_boundaries)) I(as.double(bin_boundaries)),
                 num_bins = check_count(num_bins, "num_bins", max = 2^24, allow_null = TRUE),
                 epsilon = check_number(epsilon, "epsilon", min = 1e-6, max = 1),
                 output_mode = encoding_mode(output_mode, c("int", "one_hot", "multi_hot", "count")),
                 sparse = check_dense(sparse))
  compose_layer(object, new_layer_spec("discretization", "Discretization", config,
                                       input_shape = input_shape %||% batch_input_shape[-1], name = name))
}

#' @rdname layer_discretization
#' @export
layer_category_encoding <- function(object, num_tokens = NULL, output_mode = "multi_hot", sparse = FALSE,
                                    input_shape = NULL, batch_input_shape = NULL, batch_size = NULL,
                                    dtype = NULL, name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_category_encoding()")
  config <- list(num_tokens = check_count(num_tokens, "num_tokens", max = 2^24),
                 output_mode = encoding_mode(output_mode, c("one_hot", "multi_hot", "count")),
                 sparse = check_dense(sparse))
  compose_layer(object, new_layer_spec("category_encoding", "CategoryEncoding", config,
                                       input_shape = input_shape %||% batch_input_shape[-1], name = name))
}

encoding_mode <- function(mode, choices, call = rlang::caller_env()) {
  if (identical(mode, "binary")) mode <- "multi_hot"
  check_string(mode, "output_mode", choices = choices, call = call)
}

check_dense <- function(sparse, call = rlang::caller_env()) {
  if (!identical(check_flag(sparse, "sparse", call = call), FALSE)) {
    rk_abort("`sparse = TRUE` is not supported by rkeras (outputs are dense).", "unsupported", call)
  }
  FALSE
}

#' Learn a preprocessing layer's state from data
#'
#' * [layer_normalization()]: the mean and variance of `data` over every axis but the
#'   layer's kept axes (`data` is a numeric matrix, array or data frame whose first axis is
#'   the samples), as Keras computes them; they become the layer's weights.
#' * [layer_discretization()] made with `num_bins`: the bin boundaries, Keras 3's approximate
#'   quantiles of all the values of `data` (a numeric vector, matrix or array), kept in the
#'   layer's config. Adapt it before it joins a model.
#' * [layer_integer_lookup()]: the vocabulary, the values of `data` by decreasing count
#'   (and for tf-idf their inverse document frequencies, each row of `data` a document), kept
#'   in the layer's config. Adapt it before it joins a model.
#' * [layer_string_lookup()]: the same for strings (`data` a character vector or matrix),
#'   ties by decreasing string.
#' * [layer_text_vectorization()]: counts the tokens of `data` (a character vector) and keeps
#'   the most frequent as the vocabulary (and the document frequencies for tf-idf),
#'   replacing any earlier vocabulary.
#'
#' Changes the layer in place, also inside the models that already hold it.
#' @param object A layer made by [layer_normalization()], [layer_discretization()],
#'   [layer_integer_lookup()], [layer_string_lookup()] or [layer_text_vectorization()].
#' @param data The data, as above.
#' @param batch_size,steps Accepted for compatibility (all of `data` is used).
#' @param ... Nothing else; any argument here is an error.
#' @returns The layer, invisibly.
#' @family preprocessing layers
#' @export
#' @examples
#' v <- layer_text_vectorization(output_mode = "count")
#' adapt(v, c("red green", "green blue", "green"))
#' get_vocabulary(v)   # by decreasing count
#' v(c("green green red", "yellow"))
#'
#' norm <- layer_normalization()
#' adapt(norm, matrix(c(1, 2, 3, 10, 20, 30), 3))
adapt <- function(object, data, ..., batch_size = NULL, steps = NULL) {
  check_no_dots(..., fn = "adapt()")
  if (inherits(object, "rkeras_text_vectorization")) return(adapt_text(object, data))
  if (inherits(object, "rkeras_Discretization")) return(adapt_discretization(object, data))
  if (inherits(object, "rkeras_IntegerLookup")) return(adapt_integer_lookup(object, data))
  if (inherits(object, "rkeras_string_lookup")) return(adapt_string_lookup(object, data))
  if (!inherits(object, "rkeras_Normalization")) {
    rk_abort(sprintf("`object` must be a layer made by layer_normalization(), layer_discretization(), layer_integer_lookup(), layer_string_lookup() or layer_text_vectorization(), not %s.",
                     show_value(object)), "type")
  }
  adapt_normalization(object, data)
}

#' A discretization layer's boundaries from `data`, as Keras's adapt() computes them
#' @noRd
adapt_discretization <- function(object, data, call = rlang::caller_env()) {
  data <- adapt_numbers(data, "numbers", call)
  config <- layer_state(object)$spec$config
  if (is.null(config$num_bins)) {
    rk_abort("This discretization layer was given `bin_boundaries`; adapt() learns them for a layer made with `num_bins`.",
             "state", call)
  }
  state <- unattached_state(object, "a discretization layer", "boundaries", call)
  bounds <- rk_call(rk_discretization_bins(as.double(data), config$epsilon, config$num_bins), call = call)
  state$spec$config$bin_boundaries <- I(as.double(bounds))
  invisible(object)
}

#' `data` for adapt(): numbers without missing values (a data frame as its matrix)
#' @noRd
adapt_numbers <- function(data, what, call) {
  if (is.data.frame(data)) data <- as.matrix(data)
  if (!is.numeric(data) || !length(data) || anyNA(data)) {
    rk_abort(sprintf("`data` must be %s without missing values, not %s.", what, show_value(data)), "type", call)
  }
  data
}

#' The state of a layer adapt() may still change: one that has not joined a model, whose
#' shapes its learnt `what` would fix
#' @noRd
unattached_state <- function(object, layer, what, call) {
  state <- layer_state(object)
  if (!is.null(state$model)) {
    rk_abort(sprintf("adapt() %s before it joins a model: its %s fix%s the model's shapes.", layer, what,
                     if (endsWith(what, "s")) "" else "es"), "state", call)
  }
  state
}

#' Keras's axes (batch axis 0, negatives kept) from Keras for R's (batch axis 1)
#' @noRd
keras_axes <- function(axis, arg, call = rlang::caller_env()) {
  if (is.null(axis)) return(NULL)
  if (is.list(axis)) axis <- unlist(axis)
  if (!is.numeric(axis) || !length(axis) || anyNA(axis) || any(axis != round(axis)) || any(axis == 0) ||
      any(abs(axis) > 32)) {
    rk_abort(sprintf("`%s` must be NULL or non-zero whole numbers (negative from the end, positive from the batch axis 1), not %s.",
                     arg, show_value(axis)), "value", call)
  }
  axis <- as.integer(axis)
  ifelse(axis > 0, axis - 1L, axis)
}

#' An R array as nested lists in row-major order (Keras's JSON of an array); numbers stay
#' @noRd
nested_rows <- function(x) {
  if (is.null(x)) return(NULL)
  d <- dim(x)
  if (length(d) <= 1) return(if (length(x) == 1 && is.null(d)) as.double(x) else I(as.double(x)))
  lapply(seq_len(d[1]), function(i) {
    slice <- array(x, d)
    slice <- slice[i, , drop = FALSE]
    nested_rows(array(slice, d[-1]))
  })
}

#' A normalization layer's statistics from `data`, as Keras's adapt() computes them
#' @noRd
adapt_normalization <- function(object, data, call = rlang::caller_env()) {
  if (is.data.frame(data)) data <- as.matrix(data)
  if (!is.numeric(data) || !length(data) || anyNA(data)) {
    rk_abort(sprintf("`data` must be a numeric matrix, array or data frame without missing values, not %s.",
                     show_value(data)), "type", call)
  }
  if (is.null(dim(data))) dim(data) <- length(data)
  state <- layer_state(object)
  config <- state$spec$config
  if (!is.null(config$mean)) {
    rk_abort("This normalization layer was given `mean` and `variance`; adapt() learns them only for a layer made without.",
             "state", call)
  }
  nd <- length(dim(data))
  axis <- as.integer(unlist(config$axis))
  keep <- sort(unique(ifelse(axis < 0, axis + nd, axis)))
  if (any(keep < 0 | keep >= nd)) {
    rk_abort(sprintf("`data` has %d axes, but the layer keeps axis %s.", nd, paste(axis, collapse = ", ")), "shape", call)
  }
  if (0L %in% keep) {
    rk_abort("Normalization over the batch axis is not supported by rkeras.", "unsupported", call)
  }
  storage.mode(data) <- "double"
  # numpy's mean and var (two passes, no Bessel's correction) over the other axes.
  stat <- function(f) if (length(keep)) apply(data, keep + 1L, f) else f(data)
  mu <- stat(mean)
  variance <- stat(function(v) mean((v - mean(v))^2))
  if (length(keep)) {
    dim(mu) <- dim(variance) <- dim(data)[keep + 1L]
  }
  weights <- list(mu, variance, 0)
  if (is.null(state$model)) {
    state$spec$weights <- weights
  } else {
    layer_set_weights(object, weights)
  }
  invisible(object)
}
