#' Pad sequences to the same length
#'
#' Keras's `pad_sequences()`: each sequence becomes a row of a matrix of `maxlen` columns
#' (default: the longest sequence). Longer sequences lose values at the start
#' (`truncating = "pre"`) or the end (`"post"`); shorter ones are filled with `value` before
#' (`padding = "pre"`) or after (`"post"`) their values.
#' @param sequences A list of numeric vectors (or a matrix, one sequence per row).
#' @param maxlen Length of the rows, or `NULL` for the longest sequence's.
#' @param dtype `"int32"` (an integer matrix) or a floating type (`"float32"`, `"float64"`:
#'   a double matrix).
#' @param padding,truncating `"pre"` or `"post"`.
#' @param value The padding value.
#' @returns A matrix with one row per sequence.
#' @family text preprocessing
#' @export
#' @examples
#' pad_sequences(list(1:3, 4:5, 6L), maxlen = 2)
#' pad_sequences(list(1:3, 4:5), padding = "post")
pad_sequences <- function(sequences, maxlen = NULL, dtype = "int32", padding = "pre",
                          truncating = "pre", value = 0) {
  if (is.matrix(sequences)) sequences <- lapply(seq_len(nrow(sequences)), function(i) sequences[i, ])
  if (!is.list(sequences)) {
    rk_abort(sprintf("`sequences` must be a list of numeric vectors, not %s.", show_value(sequences)), "type")
  }
  for (i in seq_along(sequences)) {
    s <- sequences[[i]]
    if (!(is.null(s) || ((is.numeric(s) || is.logical(s)) && is.null(dim(s)))) || anyNA(s)) {
      rk_abort(sprintf("`sequences[[%d]]` must be a vector of numbers without NA, not %s.", i, show_value(s)), "type")
    }
  }
  lengths <- lengths(sequences)
  if (!is.null(maxlen)) maxlen <- check_count(maxlen, "maxlen", min = 1)
  maxlen <- maxlen %||% (if (length(lengths)) max(lengths) else 0L)
  dtype <- check_string(dtype, "dtype", choices = c("int32", "int64", "float32", "float64", "float16"))
  padding <- check_string(padding, "padding", choices = c("pre", "post"))
  truncating <- check_string(truncating, "truncating", choices = c("pre", "post"))
  value <- check_number(value, "value")
  integer <- dtype %in% c("int32", "int64")
  out <- matrix(if (integer) as.integer(trunc(value)) else as.double(value), length(sequences), maxlen)
  for (i in seq_along(sequences)) {
    s <- sequences[[i]]
    n <- length(s)
    if (!n) next
    if (n > maxlen) s <- if (truncating == "pre") s[(n - maxlen + 1):n] else s[seq_len(maxlen)]
    k <- length(s)
    cols <- if (padding == "post") seq_len(k) else (maxlen - k + 1):maxlen
    out[i, cols] <- if (integer) as.integer(trunc(s)) else as.double(s)
  }
  out
}

#' Text tokenization utility
#'
#' Keras 2's `Tokenizer`: `fit_text_tokenizer()` learns a vocabulary from texts (the most
#' frequent word gets index 1), and the tokenizer then turns texts into sequences of word
#' indices (`texts_to_sequences()`) or into matrices (`texts_to_matrix()`,
#' `sequences_to_matrix()`: modes `"binary"`, `"count"`, `"tfidf"`, `"freq"`). Words are split
#' at `split` after lower-casing and replacing every character of `filters` by `split`.
#' Tokenizers are references: fitting changes the tokenizer in place. Its fields, as Keras's:
#' `word_index`, `index_word`, `word_counts`, `word_docs`, `index_docs` (named lists),
#' `document_count`, `num_words`.
#' @param num_words Keep only the `num_words - 1` most frequent words (`NULL`: all).
#' @param filters Characters removed from the texts.
#' @param lower Lower-case the texts.
#' @param split Word separator.
#' @param char_level Treat every character as a token.
#' @param oov_token Token for words outside the vocabulary (`NULL`: such words are dropped).
#' @param object A tokenizer.
#' @param x,texts A character vector of texts (or a list of token vectors).
#' @param sequences A list of integer sequences.
#' @param mode `"binary"`, `"count"`, `"tfidf"` or `"freq"`.
#' @returns `text_tokenizer()` and `fit_text_tokenizer()`: the tokenizer (the latter
#'   invisibly); `texts_to_sequences()`: a list of integer vectors; the `*_to_matrix()`
#'   functions: a numeric matrix with one row per text and `num_words` columns.
#' @family text preprocessing
#' @export
#' @examples
#' tok <- text_tokenizer(num_words = 10)
#' fit_text_tokenizer(tok, c("The cat sat.", "The dog sat down!"))
#' texts_to_sequences(tok, "the cat sat down")
#' texts_to_matrix(tok, c("the cat", "a dog"), mode = "count")
text_tokenizer <- function(num_words = NULL, filters = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n",
                           lower = TRUE, split = " ", char_level = FALSE, oov_token = NULL) {
  tok <- new.env(parent = emptyenv())
  tok$num_words <- if (!is.null(num_words)) check_count(num_words, "num_words", min = 1)
  tok$filters <- check_string(filters, "filters")
  tok$lower <- check_flag(lower, "lower")
  tok$split <- check_string(split, "split")
  if (!nzchar(tok$split)) rk_abort("`split` must be a non-empty string.", "value")
  tok$char_level <- check_flag(char_level, "char_level")
  tok$oov_token <- if (!is.null(oov_token)) check_string(oov_token, "oov_token")
  tok$document_count <- 0L
  tok$words <- character()
  tok$counts <- integer()
  tok$docs <- integer()
  structure(list(env = tok), class = "rkeras_tokenizer")
}

#' @export
`$.rkeras_tokenizer` <- function(x, name) {
  env <- unclass(x)$env
  index <- function() {
    o <- order(-env$counts, seq_along(env$counts))
    voc <- c(env$oov_token, env$words[o])
    stats::setNames(as.list(seq_along(voc)), voc)
  }
  switch(name,
    word_index = index(),
    index_word = { wi <- index(); stats::setNames(as.list(names(wi)), unlist(wi)) },
    word_counts = stats::setNames(as.list(env$counts), env$words),
    word_docs = stats::setNames(as.list(env$docs), env$words),
    index_docs = { wi <- index(); k <- match(env$words, names(wi)); stats::setNames(as.list(env$docs), k) },
    get0(name, envir = env, inherits = FALSE))
}

#' @export
print.rkeras_tokenizer <- function(x, ...) {
  env <- unclass(x)$env
  cat(sprintf("<rkeras text tokenizer: %d documents, %d words%s>\n", env$document_count, length(env$words),
              if (!is.null(env$num_words)) sprintf(", num_words = %d", env$num_words) else ""))
  invisible(x)
}

check_tokenizer <- function(x, call = rlang::caller_env()) {
  if (!inherits(x, "rkeras_tokenizer")) {
    rk_abort(sprintf("`object` must be a tokenizer from text_tokenizer(), not %s.", show_value(x)), "type", call)
  }
  unclass(x)$env
}

#' Keras's `text_to_word_sequence()` for each text (a list of token vectors passes through)
#' @noRd
tokenize_texts <- function(env, texts, arg, call) {
  if (is.list(texts) && all(vapply(texts, is.character, TRUE))) return(texts)
  if (!is.character(texts) || anyNA(texts)) {
    rk_abort(sprintf("`%s` must be a character vector of texts, not %s.", arg, show_value(texts)), "type", call)
  }
  if (env$lower) texts <- tolower(texts)
  if (env$char_level) return(strsplit(texts, "", fixed = TRUE))
  if (nzchar(env$filters)) {
    chars <- strsplit(env$filters, "", fixed = TRUE)[[1]]
    if (nchar(env$split) == 1) {
      texts <- chartr(env$filters, strrep(env$split, length(chars)), texts)
    } else {
      for (ch in chars) texts <- gsub(ch, env$split, texts, fixed = TRUE)
    }
  }
  lapply(strsplit(texts, env$split, fixed = TRUE), function(w) w[nzchar(w)])
}

#' @rdname text_tokenizer
#' @export
fit_text_tokenizer <- function(object, x) {
  env <- check_tokenizer(object)
  seqs <- tokenize_texts(env, x, "x", rlang::current_env())
  tokens <- unlist(seqs, use.names = FALSE)
  words <- c(env$words, setdiff(unique(tokens), env$words))
  counts <- c(env$counts, integer(length(words) - length(env$counts)))
  docs <- c(env$docs, integer(length(words) - length(env$docs)))
  if (length(tokens)) {
    counts <- counts + tabulate(match(tokens, words), length(words))
    per_doc <- unlist(lapply(seqs, unique), use.names = FALSE)
    docs <- docs + tabulate(match(per_doc, words), length(words))
  }
  env$words <- words
  env$counts <- counts
  env$docs <- docs
  env$document_count <- env$document_count + length(seqs)
  invisible(object)
}

#' @rdname text_tokenizer
#' @export
texts_to_sequences <- function(object, texts) {
  env <- check_tokenizer(object)
  seqs <- tokenize_texts(env, texts, "texts", rlang::current_env())
  voc <- names(object$word_index)
  oov <- if (!is.null(env$oov_token)) match(env$oov_token, voc)
  nw <- env$num_words
  lapply(seqs, function(s) {
    i <- match(s, voc)
    if (!is.null(nw)) i[!is.na(i) & i >= nw] <- if (is.null(oov)) NA else oov
    if (!is.null(oov)) i[is.na(i)] <- oov
    as.integer(i[!is.na(i)])
  })
}

#' @rdname text_tokenizer
#' @export
texts_to_matrix <- function(object, texts, mode = c("binary", "count", "tfidf", "freq")) {
  mode <- matrix_mode(mode)
  sequences_to_matrix(object, texts_to_sequences(object, texts), mode = mode)
}

#' @rdname text_tokenizer
#' @export
sequences_to_matrix <- function(object, sequences, mode = c("binary", "count", "tfidf", "freq")) {
  env <- check_tokenizer(object)
  mode <- matrix_mode(mode)
  if (!is.list(sequences)) {
    rk_abort(sprintf("`sequences` must be a list of integer vectors, not %s.", show_value(sequences)), "type")
  }
  nw <- env$num_words %||% (if (length(env$words)) length(env$words) + length(env$oov_token) + 1L)
  if (is.null(nw)) {
    rk_abort("Specify a dimension (`num_words` argument), or fit the tokenizer on some data first.", "value")
  }
  if (mode == "tfidf" && env$document_count == 0) {
    rk_abort("Fit the tokenizer on some data before using mode \"tfidf\".", "value")
  }
  docs <- if (mode == "tfidf") {
    idx <- unlist(object$word_index)[env$words]
    d <- numeric(nw)
    keep <- idx < nw
    d[idx[keep] + 1L] <- env$docs[keep]
    d
  }
  x <- matrix(0, length(sequences), nw)
  for (i in seq_along(sequences)) {
    s <- sequences[[i]]
    if (!length(s)) next
    if (!is.numeric(s) || anyNA(s) || any(s < 0)) {
      rk_abort(sprintf("`sequences[[%d]]` must hold non-negative word indices.", i), "value")
    }
    j <- as.integer(s)
    j <- j[j < nw]
    if (!length(j)) next
    counts <- tabulate(j + 1L, nw)
    hit <- which(counts > 0)
    x[i, hit] <- switch(mode,
      count = counts[hit],
      freq = counts[hit] / length(s),
      binary = 1,
      tfidf = (1 + log(counts[hit])) * log(1 + env$document_count / (1 + docs[hit])))
  }
  x
}

matrix_mode <- function(mode, call = rlang::caller_env()) {
  modes <- c("binary", "count", "tfidf", "freq")
  if (identical(mode, modes)) return("binary")
  check_string(mode, "mode", choices = modes, call = call)
}
