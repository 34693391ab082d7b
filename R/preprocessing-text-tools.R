# Keras 2's text and sequence tools (keras.preprocessing.text / .sequence, kept in Keras 3 as
# keras.src.legacy.preprocessing): splitting texts into words, the word2vec sampling table,
# skipgram pairs, words hashed to indices, and a tokenizer's sequences back to texts.

keras_text_filters <- "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n"

#' Split a text into words
#'
#' As Keras's `text_to_word_sequence()`: lower-cased (with `lower = TRUE`), every character
#' of `filters` replaced by `split`, split at `split`, empty pieces dropped.
#' @param text A string.
#' @param filters Characters to remove.
#' @param lower Lower-case the text first.
#' @param split The separator of words.
#' @returns A character vector of words.
#' @family text preprocessing
#' @export
#' @examples
#' text_to_word_sequence("The cat sat on the mat. The end!")
text_to_word_sequence <- function(text, filters = keras_text_filters, lower = TRUE, split = " ") {
  opts <- list(filters = check_string(filters, "filters"), lower = check_flag(lower, "lower"),
               split = check_string(split, "split"), char_level = FALSE)
  if (!nzchar(opts$split)) rk_abort("`split` must be a non-empty string.", "value")
  tokenize_texts(opts, check_string(text, "text"), "text", rlang::current_env())[[1]]
}

#' Hash a text's words to indices
#'
#' As Keras's `hashing_trick()` and `one_hot()`: the words of [text_to_word_sequence()] each
#' become `hash(word) %% (n - 1) + 1`, an index from 1 to `n - 1` (0 is left for padding;
#' different words may share an index). `hash_function = "md5"` is Python's
#' `int(hashlib.md5(word).hexdigest(), 16)`, the same in every session; an R function of one
#' word returning a whole number is used as given. With `NULL` (and in `text_one_hot()`)
#' Keras uses Python's `hash()`, which changes from one Python session to the next; rkeras
#' uses FarmHash's fingerprint of the word's UTF-8 bytes instead (TensorFlow's
#' `to_hash_bucket_fast()`), the same in every session.
#' @inheritParams text_to_word_sequence
#' @param text,input_text A string (`NA` gives `NA`); in `text_one_hot()`, `text` is Keras 2's
#'   old name of `input_text`.
#' @param n The size of the hashing space: indices are below it.
#' @param hash_function `NULL`, `"md5"` or an R function (see above).
#' @returns An integer vector, one index per word.
#' @family text preprocessing
#' @export
#' @examples
#' text_hashing_trick("The cat sat on the mat", n = 20, hash_function = "md5")
#' text_one_hot("The cat sat on the mat", n = 20)   # "the" twice: the same index
text_hashing_trick <- function(text, n, hash_function = NULL, filters = keras_text_filters, lower = TRUE,
                               split = " ") {
  if (is.atomic(text) && length(text) == 1 && is.na(text)) return(NA_integer_)
  if (identical(text, "")) return(integer())
  n <- check_count(n, "n", min = 2, max = 2^31 - 1)
  words <- text_to_word_sequence(text, filters = filters, lower = lower, split = split)
  if (is.null(hash_function)) return(as.integer(rk_call(rk_string_buckets(words, n - 1, numeric())) + 1))
  if (identical(hash_function, "md5")) return(as.integer(rk_call(rk_md5_buckets(words, n - 1)) + 1))
  if (!is.function(hash_function)) {
    rk_abort(sprintf("`hash_function` must be NULL, \"md5\" or a function of a word, not %s.", show_value(hash_function)),
             "value")
  }
  vapply(words, function(w) {
    h <- hash_function(w)
    if (!is.numeric(h) || length(h) != 1 || !is.finite(h) || h != round(h)) {
      rk_abort(sprintf("`hash_function` must return a whole number for each word, not %s for \"%s\".",
                       show_value(h), w), "value")
    }
    as.integer(h %% (n - 1) + 1)
  }, 1L, USE.NAMES = FALSE)
}

#' @rdname text_hashing_trick
#' @export
text_one_hot <- function(input_text, n, filters = keras_text_filters, lower = TRUE, split = " ", text = NULL) {
  if (!is.null(text)) {
    if (!missing(input_text)) rk_abort("Give `input_text` or its old name `text`, not both.", "value")
    input_text <- text
  }
  text_hashing_trick(input_text, n, NULL, filters = filters, lower = lower, split = split)
}

#' Word2vec's sampling table
#'
#' As Keras's `make_sampling_table()`: entry `i` is the probability of keeping the word of
#' frequency rank `i - 1` (Zipf's law approximating the frequencies), for [skipgrams()].
#' @param size Number of words (the vocabulary size).
#' @param sampling_factor The `t` of word2vec's `min(1, sqrt(f / t) / (f / t))`.
#' @returns A numeric vector of length `size`.
#' @family text preprocessing
#' @export
#' @examples
#' make_sampling_table(10)
make_sampling_table <- function(size, sampling_factor = 1e-5) {
  size <- check_count(size, "size", max = 1e8)
  sampling_factor <- check_number(sampling_factor, "sampling_factor", min = 0)
  rank <- c(1, seq_len(size - 1))
  inv_fq <- rank * (log(rank) + 0.577) + 0.5 - 1 / (12 * rank)
  f <- sampling_factor * inv_fq
  pmin(1, f / sqrt(f))
}

#' Skipgram pairs of a sequence of word indices
#'
#' As Keras's `skipgrams()`: for each word (index 0 is not a word) kept by
#' `sampling_table`, a pair with each word within `window_size` of it, labelled 1; then
#' `negative_samples` times as many pairs of a word from those pairs with a random word
#' index from 1 to `vocabulary_size - 1`, labelled 0; then, with `shuffle`, the pairs in a
#' random order. Random draws follow R's random numbers (`seed`, or `set.seed()`).
#' @param sequence Integer word indices.
#' @param vocabulary_size Largest word index plus one.
#' @param window_size Half-width of the window.
#' @param negative_samples Negative pairs per positive pair, `>= 0`.
#' @param shuffle Shuffle the pairs.
#' @param categorical Labels as `c(1, 0)` / `c(0, 1)` pairs instead of 0 / 1.
#' @param sampling_table `NULL`, or the probability of keeping each word index (from
#'   [make_sampling_table()]).
#' @param seed `NULL`, or a seed for the draws.
#' @returns A list: `couples`, a list of integer pairs, and `labels`, a list of labels.
#' @family text preprocessing
#' @export
#' @examples
#' sg <- skipgrams(c(1, 2, 3, 4), vocabulary_size = 5, window_size = 1, seed = 1)
#' length(sg$couples)
skipgrams <- function(sequence, vocabulary_size, window_size = 4, negative_samples = 1.0, shuffle = TRUE,
                      categorical = FALSE, sampling_table = NULL, seed = NULL) {
  if (!is.numeric(sequence) || anyNA(sequence) || any(sequence < 0) || any(sequence != round(sequence)) ||
      any(sequence > .Machine$integer.max)) {
    rk_abort(sprintf("`sequence` must be word indices (whole numbers >= 0), not %s.", show_value(sequence)), "value")
  }
  vocabulary_size <- check_count(vocabulary_size, "vocabulary_size", min = 2)
  window_size <- as.numeric(check_count(window_size, "window_size", min = 0))
  negative_samples <- check_number(negative_samples, "negative_samples", min = 0)
  shuffle <- check_flag(shuffle, "shuffle")
  categorical <- check_flag(categorical, "categorical")
  if (!is.null(sampling_table) && (!is.numeric(sampling_table) || length(sampling_table) < max(sequence, 0) + 1)) {
    rk_abort("`sampling_table` must be NULL or a probability per word index (make_sampling_table(vocabulary_size)).",
             "value")
  }
  if (!is.null(seed)) {
    # The draws follow `seed`; the session's random numbers are left as they were.
    local_seed(check_number(seed, "seed"))
  }
  seq <- as.integer(sequence)
  n <- length(seq)
  first <- integer()
  second <- integer()
  for (i in seq_len(n)) {
    wi <- seq[[i]]
    if (wi == 0L) next
    if (!is.null(sampling_table) && sampling_table[[wi + 1L]] < stats::runif(1)) next
    js <- setdiff(seq.int(max(1, i - window_size), min(n, i + window_size)), i)
    js <- js[seq[js] != 0L]
    first <- c(first, rep(wi, length(js)))
    second <- c(second, seq[js])
  }
  labels <- rep(1L, length(first))
  n_neg <- floor(length(labels) * negative_samples)
  if (n_neg > 0) {
    words <- first[sample.int(length(first))]
    first <- c(first, words[(seq_len(n_neg) - 1L) %% length(words) + 1L])
    second <- c(second, sample.int(vocabulary_size - 1L, n_neg, replace = TRUE))
    labels <- c(labels, rep(0L, n_neg))
  }
  if (shuffle && length(labels)) {
    o <- sample.int(length(labels))
    first <- first[o]
    second <- second[o]
    labels <- labels[o]
  }
  list(couples = Map(function(a, b) c(a, b), first, second),
       labels = if (categorical) lapply(labels, function(l) if (l == 1L) c(0L, 1L) else c(1L, 0L)) else as.list(labels))
}

#' A tokenizer's sequences back to texts
#'
#' As Keras's `Tokenizer.sequences_to_texts()`: each index's word, joined by spaces; an
#' index at or past `num_words`, or unknown, becomes the out-of-vocabulary token when the
#' tokenizer has one, and is dropped otherwise.
#' @param object A tokenizer fitted with [fit_text_tokenizer()].
#' @param sequences A list of integer vectors.
#' @returns A character vector, one text per sequence.
#' @family text preprocessing
#' @export
#' @examples
#' tok <- text_tokenizer() %>% fit_text_tokenizer(c("the cat sat", "the dog"))
#' sequences_to_texts(tok, texts_to_sequences(tok, c("the dog sat")))
sequences_to_texts <- function(object, sequences) {
  env <- check_tokenizer(object)
  if (is.numeric(sequences)) sequences <- list(sequences)
  if (!is.list(sequences) || !all(vapply(sequences, function(s) is.numeric(s) && !anyNA(s), TRUE))) {
    rk_abort(sprintf("`sequences` must be a list of integer vectors, not %s.", show_value(sequences)), "type")
  }
  voc <- names(object$word_index)
  oov <- if (!is.null(env$oov_token)) match(env$oov_token, voc)
  nw <- env$num_words
  vapply(sequences, function(s) {
    s <- as.integer(s)
    known <- s >= 1L & s <= length(voc)
    words <- ifelse(known & (is.null(nw) | s < (nw %||% Inf)), voc[pmax(1L, pmin(s, length(voc)))], NA_character_)
    if (!is.null(oov)) words[is.na(words)] <- voc[[oov]]
    paste(words[!is.na(words)], collapse = " ")
  }, "")
}
