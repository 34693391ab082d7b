#' IMDB movie reviews sentiment classification
#'
#' Keras's `imdb.load_data()`: 25,000 training and 25,000 test reviews, each a sequence of
#' word indices (by frequency), labelled 1 (positive) or 0 (negative). The file `imdb.npz`
#' is downloaded once from Keras's origin into `~/.keras/datasets/` (or `$KERAS_HOME`) and
#' checked against Keras's SHA-256 (skip with `options(rkeras.verify_datasets = FALSE)`).
#' The reviews are shuffled as Keras shuffles them (NumPy's `RandomState(seed)`, train then
#' test), so the same arguments give the same data as in Python.
#' @param path File name in the cache.
#' @param num_words Keep the `num_words - 1` most frequent words; others become `oov_char`
#'   (`NULL`: all words).
#' @param skip_top Also replace the `skip_top` most frequent words by `oov_char`.
#' @param maxlen Drop sequences of `maxlen` or more words (as Keras does).
#' @param seed Shuffling seed.
#' @param start_char Index marking the start of each sequence (`NULL`: none).
#' @param oov_char Index of dropped words (`NULL`: drop them).
#' @param index_from Offset added to every word index.
#' @param test_split Fraction of the data kept for testing.
#' @returns `list(train = list(x, y), test = list(x, y))`: `x` a list of integer vectors,
#'   `y` an integer vector; for `dataset_boston_housing()`, `x` a 13-column matrix and `y`
#'   numeric. The `*_word_index()` functions return a named list of word indices.
#' @family datasets
#' @name dataset_text
#' @examples
#' # Not run: downloads the data from Keras's mirror on first use (then reads the cache).
#' \dontrun{
#' imdb <- dataset_imdb(num_words = 10000)
#' c(c(train_data, train_labels), c(test_data, test_labels)) %<-% imdb
#' word_index <- dataset_imdb_word_index()
#' reuters <- dataset_reuters(num_words = 1000, test_split = 0.2)
#' boston <- dataset_boston_housing()
#' dim(boston$train$x)
#' }
NULL

#' @rdname dataset_text
#' @export
dataset_imdb <- function(path = "imdb.npz", num_words = NULL, skip_top = 0L, maxlen = NULL, seed = 113L,
                         start_char = 1L, oov_char = 2L, index_from = 3L) {
  opts <- sequence_options(num_words, skip_top, maxlen, seed, start_char, oov_char, index_from)
  f <- get_file(check_string(path, "path"), origin = paste0(rk_ds_url, "imdb.npz"),
                file_hash = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f")
  d <- rk_ds_read_npz(f, call = environment())
  need_members(d, c("x_train", "y_train", "x_test", "y_test"), f)
  perm <- rk_call(rk_numpy_shuffle(as.double(c(length(d$x_train), length(d$x_test))), as.double(opts$seed)))
  train <- prepare_sequences(d$x_train[perm[[1]]], as.integer(d$y_train)[perm[[1]]], opts)
  test <- prepare_sequences(d$x_test[perm[[2]]], as.integer(d$y_test)[perm[[2]]], opts)
  if (!is.null(opts$maxlen) && (!length(train$x) || !length(test$x))) {
    rk_abort(sprintf("After filtering for sequences shorter than maxlen=%d, no sequence was kept. Increase maxlen.",
                     opts$maxlen), "value")
  }
  xs <- limit_words(c(train$x, test$x), opts)
  n <- length(train$x)
  list(train = list(x = xs[seq_len(n)], y = train$y), test = list(x = xs[-seq_len(n)], y = test$y))
}

#' @rdname dataset_text
#' @export
dataset_imdb_word_index <- function(path = "imdb_word_index.json") {
  f <- get_file(check_string(path, "path"), origin = paste0(rk_ds_url, "imdb_word_index.json"),
                file_hash = "bfafd718b763782e994055a2d397834f")
  read_word_index(f)
}

#' @rdname dataset_text
#' @export
dataset_reuters <- function(path = "reuters.npz", num_words = NULL, skip_top = 0L, maxlen = NULL,
                            test_split = 0.2, seed = 113L, start_char = 1L, oov_char = 2L, index_from = 3L) {
  opts <- sequence_options(num_words, skip_top, maxlen, seed, start_char, oov_char, index_from)
  test_split <- check_number(test_split, "test_split", min = 0, max = 1)
  f <- get_file(check_string(path, "path"), origin = paste0(rk_ds_url, "reuters.npz"),
                file_hash = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916")
  d <- rk_ds_read_npz(f, call = environment())
  need_members(d, c("x", "y"), f)
  perm <- rk_call(rk_numpy_shuffle(as.double(length(d$x)), as.double(opts$seed)))[[1]]
  all <- prepare_sequences(d$x[perm], as.integer(d$y)[perm], opts)
  xs <- limit_words(all$x, opts)
  n <- floor(length(xs) * (1 - test_split))
  list(train = list(x = xs[seq_len(n)], y = all$y[seq_len(n)]),
       test = list(x = xs[-seq_len(n)], y = all$y[-seq_len(n)]))
}

#' @rdname dataset_text
#' @export
dataset_reuters_word_index <- function(path = "reuters_word_index.json") {
  f <- get_file(check_string(path, "path"), origin = paste0(rk_ds_url, "reuters_word_index.json"),
                file_hash = "4d44cc38712099c9e383dc6e5f11a921")
  read_word_index(f)
}

#' @rdname dataset_text
#' @export
dataset_boston_housing <- function(path = "boston_housing.npz", test_split = 0.2, seed = 113L) {
  test_split <- check_number(test_split, "test_split", min = 0, max = 0.999999)
  seed <- check_count(seed, "seed", min = 0, max = 2^32 - 1)
  f <- get_file(check_string(path, "path"), origin = paste0(rk_ds_url, "boston_housing.npz"),
                file_hash = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5")
  d <- rk_ds_read_npz(f, call = environment())
  need_members(d, c("x", "y"), f)
  x <- as.matrix(d$x)
  perm <- rk_call(rk_numpy_shuffle(as.double(nrow(x)), as.double(seed)))[[1]]
  x <- x[perm, , drop = FALSE]
  y <- as.numeric(d$y)[perm]
  n <- floor(nrow(x) * (1 - test_split))
  list(train = list(x = x[seq_len(n), , drop = FALSE], y = y[seq_len(n)]),
       test = list(x = x[-seq_len(n), , drop = FALSE], y = y[-seq_len(n)]))
}

sequence_options <- function(num_words, skip_top, maxlen, seed, start_char, oov_char, index_from,
                             call = rlang::caller_env()) {
  int_or_null <- function(v, arg, min) if (is.null(v)) NULL else check_count(v, arg, min = min, call = call)
  list(num_words = int_or_null(num_words, "num_words", 1), skip_top = check_count(skip_top, "skip_top", min = 0, call = call),
       maxlen = int_or_null(maxlen, "maxlen", 1), seed = check_count(seed, "seed", min = 0, max = 2^32 - 1, call = call),
       start_char = int_or_null(start_char, "start_char", 0), oov_char = int_or_null(oov_char, "oov_char", 0),
       index_from = check_count(index_from, "index_from", min = 0, call = call))
}

need_members <- function(d, members, f, call = rlang::caller_env()) {
  miss <- setdiff(members, names(d))
  if (length(miss)) {
    rk_abort(sprintf("%s lacks %s.", f, paste0(miss, ".npy", collapse = ", ")), "io", call)
  }
}

#' Keras's start character, index offset and `maxlen` filter (sequences shorter than
#' `maxlen` are kept), on flattened vectors for speed
#' @noRd
prepare_sequences <- function(x, y, opts) {
  lens <- lengths(x)
  flat <- unlist(x, use.names = FALSE) + opts$index_from
  if (!is.null(opts$start_char)) {
    n <- length(lens)
    starts <- cumsum(c(1L, lens[-n] + 1L))
    out <- integer(length(flat) + n)
    out[starts] <- as.integer(opts$start_char)
    out[-starts] <- flat
    flat <- out
    lens <- lens + 1L
  }
  x <- unname(split(as.integer(flat), factor(rep.int(seq_along(lens), lens), levels = seq_along(lens))))
  if (!is.null(opts$maxlen)) {
    keep <- lengths(x) < opts$maxlen
    x <- x[keep]
    y <- y[keep]
  }
  list(x = x, y = y)
}

#' Words outside `[skip_top, num_words)` become `oov_char` (or are dropped)
#' @noRd
limit_words <- function(xs, opts) {
  lens <- lengths(xs)
  flat <- unlist(xs, use.names = FALSE)
  num_words <- opts$num_words %||% (if (length(flat)) max(flat) else 0L)
  out <- flat >= opts$skip_top & flat < num_words
  if (!is.null(opts$oov_char)) {
    flat[!out] <- as.integer(opts$oov_char)
  } else {
    lens <- vapply(split(out, factor(rep.int(seq_along(lens), lens), levels = seq_along(lens))), sum, 1L)
    flat <- flat[out]
  }
  unname(split(as.integer(flat), factor(rep.int(seq_along(lens), lens), levels = seq_along(lens))))
}

read_word_index <- function(f, call = rlang::caller_env()) {
  idx <- rk_call(rk_json_parse(paste(readLines(f, warn = FALSE, encoding = "UTF-8"), collapse = "\n")), call = call)
  if (!is.list(idx) || is.null(names(idx))) rk_abort(sprintf("%s is not a word index (a JSON object).", f), "io", call)
  idx
}
