#' Windows of a time series as a dataset
#'
#' Keras's `timeseries_dataset_from_array()`: sliding windows over the first axis of `data`
#' (time), each of `sequence_length` steps taken every `sampling_rate` steps, starting every
#' `sequence_stride` steps, in batches of `batch_size`; window `i` (from 0) starts at step
#' `start_index + i * sequence_stride` and its target is `targets` at that same step. As in
#' Keras, `start_index` and `end_index` count steps from 0 (`end_index` excluded), and there
#' are at most as many windows as `targets` has steps. With `shuffle = TRUE` the windows
#' come in a random order (R's generator, seeded by `seed` for the first pass; each later
#' pass is shuffled anew), so the batches differ from TensorFlow's.
#'
#' The dataset is a generator: each call returns the next batch, `list(x)` or
#' `list(x, y)`, starting over after the last; `fit()`, `evaluate()` and `predict()` take
#' it directly (`attr(, "steps")` batches a pass).
#' @param data A numeric vector, matrix or array whose first axis is time.
#' @param targets `NULL`, or a numeric vector, matrix or array of targets by time step.
#' @param sequence_length Steps in each window.
#' @param sequence_stride Steps between the starts of successive windows.
#' @param sampling_rate Steps between the samples of a window.
#' @param batch_size Windows in each batch.
#' @param shuffle Whether to shuffle the windows.
#' @param seed `NULL` or a whole number for the first shuffle.
#' @param start_index,end_index `NULL` or steps (from 0): windows use steps from
#'   `start_index` and before `end_index`.
#' @param ... Not supported (an error names them).
#' @returns A dataset: a generator function of class `rkeras_timeseries_dataset`.
#' @family datasets
#' @export
#' @examples
#' series <- 0:98
#' ds <- timeseries_dataset_from_array(series, NULL, sequence_length = 10, sampling_rate = 2,
#'                                     sequence_stride = 3, batch_size = 4)
#' ds()[[1]][1:2, ]          # 0 2 4 ... 18, then 3 5 7 ... 21
#'
#' # Predict the next value from the 10 before it.
#' x <- sin(seq(0, 20, length.out = 200))
#' train <- timeseries_dataset_from_array(x[1:190], x[11:200], sequence_length = 10, batch_size = 32)
#' model <- keras_model_sequential(input_shape = 10) %>% layer_dense(1)
#' model %>% compile(loss = "mse", optimizer = "adam")
#' model %>% fit(train, epochs = 2, verbose = 0)
timeseries_dataset_from_array <- function(data, targets, sequence_length, sequence_stride = 1L,
                                          sampling_rate = 1L, batch_size = 128L, shuffle = FALSE,
                                          ..., seed = NULL, start_index = NULL, end_index = NULL) {
  check_no_dots(..., fn = "timeseries_dataset_from_array()")
  if (is.data.frame(data)) data <- as.matrix(data)
  if (!is.numeric(data) || !length(data) || anyNA(data)) {
    rk_abort(sprintf("`data` must be a numeric vector, matrix or array without missing values, not %s.",
                     show_value(data)), "type")
  }
  steps <- NROW(data)
  if (!is.null(targets)) {
    if (is.data.frame(targets)) targets <- as.matrix(targets)
    if (!is.numeric(targets) || !length(targets) || anyNA(targets)) {
      rk_abort(sprintf("`targets` must be NULL or numbers without missing values, not %s.", show_value(targets)), "type")
    }
  }
  sequence_length <- check_count(sequence_length, "sequence_length")
  sequence_stride <- check_count(sequence_stride, "sequence_stride")
  sampling_rate <- check_count(sampling_rate, "sampling_rate")
  if (is.null(batch_size)) {
    rk_abort("`batch_size = NULL` (windows without a batch axis) is not supported by rkeras; give a number.", "unsupported")
  }
  batch_size <- check_count(batch_size, "batch_size")
  shuffle <- check_flag(shuffle, "shuffle")
  seed <- check_count(seed, "seed", min = 0, allow_null = TRUE)
  # Keras's checks, with its 0-based steps.
  start <- check_count(start_index %||% 0L, "start_index", min = 0)
  if (start >= steps) rk_abort(sprintf("`start_index` must be below the %d steps of `data`, not %d.", steps, start), "value")
  end <- if (is.null(end_index)) steps else check_count(end_index, "end_index")
  if (!is.null(end_index) && (end <= start || end >= steps)) {
    rk_abort(sprintf("`end_index` must be above `start_index` (%d) and below the %d steps of `data`, not %d.",
                     start, steps, end), "value")
  }
  for (arg in c("sampling_rate", "sequence_stride")) {
    if (get(arg) >= steps) rk_abort(sprintf("`%s` must be below the %d steps of `data`.", arg, steps), "value")
  }
  n <- end - start - (sequence_length - 1L) * sampling_rate
  if (!is.null(targets)) n <- min(n, NROW(targets))
  starts <- if (n > 0) seq.int(0L, n - 1L, by = sequence_stride) else integer()
  if (!length(starts)) {
    rk_abort(sprintf("`data` (steps %d to %d) is too short for one window of %d steps every %d.",
                     start, end - 1L, sequence_length, sampling_rate), "value")
  }
  new_timeseries_dataset(data, targets, starts + start, sequence_length, sampling_rate, batch_size, shuffle, seed)
}

#' The generator of a time-series dataset: windows starting at (0-based) steps `starts`
#' @noRd
new_timeseries_dataset <- function(data, targets, starts, length, rate, batch_size, shuffle, seed) {
  state <- new.env(parent = emptyenv())
  n <- length(starts)
  permuted <- function() starts[sample.int(n)]
  state$order <- if (!shuffle) starts else if (is.null(seed)) permuted() else (function() {
    local_seed(seed)
    permuted()
  })()
  state$pos <- 0L
  rest <- dim(data)[-1]
  rows <- matrix(as.double(data), NROW(data))
  offsets <- (seq_len(length) - 1L) * rate
  gen <- function() {
    if (state$pos >= n) {
      state$pos <- 0L
      if (shuffle) state$order <- permuted()
    }
    take <- state$order[seq(state$pos + 1L, min(state$pos + batch_size, n))]
    state$pos <- state$pos + length(take)
    # Rows window by window, steps fastest: (length, batch, rest...) -> (batch, length, rest...).
    x <- array(rows[as.vector(outer(offsets, take, "+")) + 1L, , drop = FALSE], c(length, length(take), rest))
    x <- aperm(x, c(2L, 1L, seq_along(rest) + 2L))
    if (is.null(targets)) return(list(x))
    y <- if (is.null(dim(targets))) targets[take + 1L] else {
      t <- matrix(as.double(targets), NROW(targets))[take + 1L, , drop = FALSE]
      array(t, c(length(take), dim(targets)[-1]))
    }
    list(x, y)
  }
  structure(gen, class = c("rkeras_timeseries_dataset", "function"), steps = as.integer(ceiling(n / batch_size)),
            batch_size = batch_size, windows = n)
}

#' @export
print.rkeras_timeseries_dataset <- function(x, ...) {
  cat(sprintf("<time-series dataset: %d windows, %d batches of up to %d>\n", attr(x, "windows"),
              attr(x, "steps"), attr(x, "batch_size")))
  invisible(x)
}
