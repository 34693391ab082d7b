#' Text vectorization: strings to token ids or token counts
#'
#' Keras's `TextVectorization` layer: it standardizes each string, splits it into tokens,
#' optionally forms n-grams, and looks the tokens up in a vocabulary learnt by [adapt()] (or
#' given as `vocabulary`). Call the layer on a character vector to vectorize it:
#' `vectorizer(c("a text", "another"))`.
#'
#' As in Keras 3:
#' * `standardize = "lower_and_strip_punctuation"` lowercases ASCII letters (other letters
#'   keep their case, as in Keras) and removes ASCII punctuation
#'   (`!"#$%&()*+,-./:;<=>?@[\]^_`{|}~'`); `"lower"`, `"strip_punctuation"`, `NULL` or an R
#'   function of a character vector.
#' * `split = "whitespace"` splits on runs of whitespace; `"character"` into characters;
#'   `NULL` keeps each string whole; or an R function returning a list of character vectors.
#' * `ngrams = n` adds the 2- to n-grams (joined by a space) after the tokens; a vector of
#'   widths gives those widths.
#' * The vocabulary from [adapt()] orders tokens by decreasing count, ties by decreasing
#'   token (Keras's order); `max_tokens` counts the special tokens. In `"int"` mode index 0
#'   is padding (`""`) and 1 the out-of-vocabulary token `"[UNK]"`; the other modes have
#'   `"[UNK]"` at index 0.
#' * `output_mode = "int"` gives a matrix of token ids, padded with 0 (or cut) to
#'   `output_sequence_length`, or to the longest row when that is `NULL`; `"multi_hot"`,
#'   `"count"` and `"tf_idf"` give one column per vocabulary entry (`max_tokens` columns
#'   with `pad_to_max_tokens = TRUE`); tf-idf weights are `log(1 + documents / (1 +
#'   documents with the token))`, the out-of-vocabulary column weighted by their mean.
#'   Keras 2's names `"binary"` and `"tf-idf"` are taken for `"multi_hot"` and `"tf_idf"`.
#'
#' The layer runs in R. It can start a Sequential model that takes texts:
#' `keras_model_sequential() %>% vectorize()` before any other layer; `fit()`, `evaluate()`,
#' `predict()` then take character vectors, which the layer turns into the next layer's
#' input (`"int"` mode needs `output_sequence_length` there, so every batch has one width).
#' Such a model is kept with `saveRDS()`; Keras's files have no place for the layer yet.
#' `sparse`, `ragged` and `encoding` are supported at their defaults only.
#' @param object Missing, or a Sequential model without layers, which then starts with the
#'   new layer.
#' @param max_tokens Largest vocabulary, special tokens included (`NULL`: no limit).
#' @param standardize,split,ngrams,output_mode,output_sequence_length,pad_to_max_tokens See
#'   above.
#' @param vocabulary A character vector of tokens (without the special tokens) to use
#'   instead of [adapt()].
#' @param idf_weights With `vocabulary` and `output_mode = "tf_idf"`: a weight per token.
#' @param sparse,ragged,encoding Only `FALSE`, `FALSE` and `"utf-8"`.
#' @param name The layer's name.
#' @param ... Nothing else; any argument here is an error.
#' @returns A text vectorization layer: a function of a character vector.
#' @family text preprocessing
#' @export
#' @examples
#' v <- layer_text_vectorization(max_tokens = 10, output_sequence_length = 4)
#' adapt(v, c("The cat sat.", "The dog sat down!"))
#' get_vocabulary(v)
#' v(c("the cat ran", "a dog"))
layer_text_vectorization <- function(object, max_tokens = NULL, standardize = "lower_and_strip_punctuation",
                                     split = "whitespace", ngrams = NULL, output_mode = "int",
                                     output_sequence_length = NULL, pad_to_max_tokens = FALSE,
                                     vocabulary = NULL, idf_weights = NULL, sparse = FALSE, ragged = FALSE,
                                     encoding = "utf-8", name = NULL, ...) {
  check_no_dots(..., fn = "layer_text_vectorization()")
  if (!missing(object) && !inherits(object, "rkeras_model")) {
    rk_abort(sprintf("`object` must be missing or a Sequential model, not %s: rkeras's text vectorization runs in R and cannot take tensors.",
                     show_value(object)), "unsupported")
  }
  st <- new.env(parent = emptyenv())
  st$max_tokens <- if (!is.null(max_tokens)) check_count(max_tokens, "max_tokens", min = 2)
  st$standardize <- if (is.function(standardize) || is.null(standardize)) standardize else
    check_string(standardize, "standardize", choices = c("lower_and_strip_punctuation", "lower", "strip_punctuation"))
  st$split <- if (is.function(split) || is.null(split)) split else
    check_string(split, "split", choices = c("whitespace", "character"))
  st$ngrams <- if (!is.null(ngrams)) {
    if (!is.numeric(ngrams) || !length(ngrams) || anyNA(ngrams) || any(ngrams < 1) || any(ngrams > 1e4) ||
        any(ngrams != round(ngrams))) {
      rk_abort(sprintf("`ngrams` must be NULL, a whole number from 1 to 10000 or a vector of them, not %s.", show_value(ngrams)), "value")
    }
    if (length(ngrams) == 1) seq_len(ngrams) else as.integer(ngrams)
  }
  if (!is.null(st$ngrams) && is.null(st$split)) rk_abort("`ngrams` needs `split`.", "value")
  # Keras 2's names of the modes: "binary" is "multi_hot", "tf-idf" is "tf_idf".
  if (is.character(output_mode) && length(output_mode) == 1 && !is.na(output_mode)) {
    output_mode <- switch(output_mode, binary = "multi_hot", `tf-idf` = "tf_idf", output_mode)
  }
  st$output_mode <- check_string(output_mode, "output_mode", choices = c("int", "multi_hot", "count", "tf_idf"))
  st$length <- if (!is.null(output_sequence_length)) {
    if (st$output_mode != "int") rk_abort("`output_sequence_length` is only for `output_mode = \"int\"`.", "value")
    check_count(output_sequence_length, "output_sequence_length")
  }
  st$pad <- check_flag(pad_to_max_tokens, "pad_to_max_tokens")
  if (st$pad && is.null(st$max_tokens)) rk_abort("`pad_to_max_tokens = TRUE` needs `max_tokens`.", "value")
  if (!isFALSE(sparse) || !isFALSE(ragged) || !is.character(encoding) || !identical(tolower(encoding), "utf-8")) {
    rk_abort("`sparse`, `ragged` and `encoding` are supported at their defaults (FALSE, FALSE, \"utf-8\") only.", "unsupported")
  }
  st$name <- if (is.null(name)) unique_name("text_vectorization") else check_string(name, "name")
  st$vocab <- character()
  st$idf <- NULL
  layer <- structure(function(x) {
    if (inherits(x, "rkeras_model")) return(attach_vectorizer(x, layer))
    text_vectorize(st, x)
  }, class = c("rkeras_text_vectorization", "function"), state = st)
  if (!is.null(vocabulary)) set_vocabulary(layer, vocabulary, idf_weights)
  else if (!is.null(idf_weights)) rk_abort("`idf_weights` needs `vocabulary`.", "value")
  if (!missing(object)) return(attach_vectorizer(object, layer))
  layer
}

#' A Sequential model without layers starts with the vectorization layer
#' @noRd
attach_vectorizer <- function(model, layer, call = rlang::caller_env()) {
  st <- attr(layer, "state")
  if (has_graph(model) || length(model$specs) || !is.null(model$text_vectorization)) {
    rk_abort(sprintf("A %s layer can only start a Sequential model, before any other layer.", r_layer_class(layer)),
             "unsupported", call)
  }
  if (inherits(layer, "rkeras_text_vectorization") && st$output_mode == "int" && is.null(st$length)) {
    rk_abort("A model's text vectorization layer in \"int\" mode needs `output_sequence_length`, so that every batch has one width.",
             "value", call)
  }
  model$text_vectorization <- layer
  invisible(model)
}

#' A model's texts through its vectorization layer
#' @noRd
vectorized_input <- function(model, x, arg, call) {
  if (is.list(x) && !is.data.frame(x) && length(x) == 1) x <- x[[1]]
  layer <- model$text_vectorization
  if (inherits(layer, "rkeras_string_lookup")) {
    if (is.data.frame(x)) x <- as.matrix(x)
    if (!(is.character(x) || is.factor(x))) {
      rk_abort(sprintf("`%s` must be strings (a character matrix): the model starts with a string lookup layer.", arg),
               "type", call)
    }
    if (is.null(dim(x))) x <- matrix(as.character(x), ncol = 1)
    out <- string_lookup(attr(layer, "state"), x, call)
    if (is.null(dim(out))) out <- matrix(out, nrow = 1)
  } else {
    if (!(is.character(x) || is.factor(x))) {
      rk_abort(sprintf("`%s` must be texts (a character vector): the model starts with a text vectorization layer.", arg),
               "type", call)
    }
    out <- text_vectorize(attr(layer, "state"), x, call)
  }
  storage.mode(out) <- "double"
  out
}

#' Keras's class of a layer that runs in R before a model's engine
#' @noRd
r_layer_class <- function(layer) if (inherits(layer, "rkeras_string_lookup")) "StringLookup" else "TextVectorization"

#' The width of the samples such a layer gives (`NA` when it depends on the data)
#' @noRd
r_layer_width <- function(layer) {
  st <- attr(layer, "state")
  if (st$output_mode == "int") return(if (inherits(layer, "rkeras_string_lookup")) NA else st$length)
  if (st$pad) st$max_tokens else length(get_vocabulary(layer))
}

#' A text vectorization layer's vocabulary (and document frequencies) from `data`
#' @noRd
adapt_text <- function(object, data) {
  st <- vectorizer_state(object)
  texts <- check_texts(data, "data")
  docs <- text_tokens(st, texts)
  counts <- table(unlist(docs, use.names = FALSE))
  tokens <- names(counts)
  counts <- as.numeric(counts)
  keep <- nzchar(tokens) & tokens != "[UNK]"
  tokens <- tokens[keep]
  counts <- counts[keep]
  ord <- keras_vocabulary_order(tokens, counts)
  tokens <- tokens[ord]
  if (!is.null(st$max_tokens)) tokens <- utils::head(tokens, max(0, st$max_tokens - special_count(st)))
  st$vocab <- tokens
  if (st$output_mode == "tf_idf") {
    st$idf <- inverse_document_frequency(lapply(docs, unique), tokens)
  }
  invisible(object)
}

#' The vocabulary of a text vectorization or lookup layer
#'
#' For the lookup layers the special tokens are the mask token (in `"int"` mode) and the
#' out-of-vocabulary token once per out-of-vocabulary index; an integer lookup's vocabulary
#' is numbers, and is set before the layer joins a model.
#' @param object A layer made by [layer_text_vectorization()], [layer_string_lookup()] or
#'   [layer_integer_lookup()].
#' @param include_special_tokens Whether to include the padding and out-of-vocabulary
#'   tokens, so that a token's position (from 0) is its id.
#' @param vocabulary,idf_weights The tokens (without the special ones) and, for tf-idf, their
#'   weights.
#' @returns `get_vocabulary()`: a character vector (numbers for an integer lookup);
#'   `set_vocabulary()`: the layer, invisibly.
#' @family text preprocessing
#' @export
#' @examples
#' v <- layer_text_vectorization(output_sequence_length = 3)
#' set_vocabulary(v, c("cat", "dog", "sat"))
#' get_vocabulary(v)                     # "" (padding) and "[UNK]" come first
#' get_vocabulary(v, include_special_tokens = FALSE)
#' v("the dog sat")                      # "the" is out of the vocabulary: id 1
get_vocabulary <- function(object, include_special_tokens = TRUE) {
  if (inherits(object, "rkeras_IntegerLookup")) {
    return(integer_vocabulary(object, check_flag(include_special_tokens, "include_special_tokens")))
  }
  if (inherits(object, "rkeras_string_lookup")) {
    st <- attr(object, "state")
    return(if (check_flag(include_special_tokens, "include_special_tokens")) c(lookup_specials(st), st$vocab) else st$vocab %||% character())
  }
  st <- vectorizer_state(object)
  if (check_flag(include_special_tokens, "include_special_tokens")) c(special_tokens(st), st$vocab) else st$vocab
}

#' @rdname get_vocabulary
#' @export
set_vocabulary <- function(object, vocabulary, idf_weights = NULL) {
  if (inherits(object, "rkeras_IntegerLookup")) return(set_integer_vocabulary(object, vocabulary, idf_weights))
  if (inherits(object, "rkeras_string_lookup")) return(set_string_vocabulary(object, vocabulary, idf_weights))
  st <- vectorizer_state(object)
  if (!is.character(vocabulary) || anyNA(vocabulary) || anyDuplicated(vocabulary) || any(!nzchar(vocabulary))) {
    rk_abort("`vocabulary` must be distinct non-empty strings.", "value")
  }
  vocabulary <- setdiff(vocabulary, special_tokens(st))
  if (!is.null(st$max_tokens) && length(vocabulary) + special_count(st) > st$max_tokens) {
    rk_abort(sprintf("`vocabulary` has %d tokens, more than `max_tokens` (%d) leaves room for.", length(vocabulary),
                     st$max_tokens), "value")
  }
  if (st$output_mode == "tf_idf") {
    if (!is.numeric(idf_weights) || length(idf_weights) != length(vocabulary) || anyNA(idf_weights)) {
      rk_abort(sprintf("`idf_weights` must be %d numbers, one per token, for tf-idf.", length(vocabulary)), "value")
    }
  } else if (!is.null(idf_weights)) {
    rk_abort("`idf_weights` is only for `output_mode = \"tf_idf\"`.", "value")
  }
  st$vocab <- vocabulary
  st$idf <- if (!is.null(idf_weights)) as.numeric(idf_weights)
  invisible(object)
}

#' @export
print.rkeras_text_vectorization <- function(x, ...) {
  st <- attr(x, "state")
  cat(sprintf("<rkeras text vectorization '%s': output_mode = \"%s\", %d tokens in the vocabulary>\n",
              st$name, st$output_mode, length(st$vocab) + special_count(st)))
  invisible(x)
}

vectorizer_state <- function(object, call = rlang::caller_env()) {
  if (!inherits(object, "rkeras_text_vectorization")) {
    rk_abort(sprintf("`object` must be a layer made by layer_text_vectorization(), not %s.", show_value(object)), "type", call)
  }
  attr(object, "state")
}

special_tokens <- function(st) if (st$output_mode == "int") c("", "[UNK]") else "[UNK]"
special_count <- function(st) length(special_tokens(st))

check_texts <- function(x, arg, call = rlang::caller_env()) {
  if (is.factor(x)) x <- as.character(x)
  if (is.matrix(x) && ncol(x) == 1) x <- x[, 1]
  if (!is.character(x) || !is.null(dim(x))) {
    rk_abort(sprintf("`%s` must be a character vector of texts, not %s.", arg, show_value(x)), "type", call)
  }
  x[is.na(x)] <- ""
  enc2utf8(x)
}

#' Each text's tokens: standardized, split, with n-grams
#' @noRd
text_tokens <- function(st, texts, call = rlang::caller_env()) {
  s <- st$standardize
  # Keras lowercases ASCII letters only (TensorFlow's lower() without an encoding).
  if (is.character(s) && s %in% c("lower", "lower_and_strip_punctuation")) texts <- chartr(paste(LETTERS, collapse = ""), paste(letters, collapse = ""), texts)
  if (is.character(s) && s %in% c("strip_punctuation", "lower_and_strip_punctuation")) {
    texts <- gsub("[!\"#$%&()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~']", "", texts, perl = TRUE)
  }
  if (is.function(s)) texts <- check_texts(s(texts), "the result of `standardize`", call)
  sp <- st$split
  docs <- if (is.null(sp)) as.list(texts)
          else if (is.function(sp)) sp(texts)
          else if (sp == "whitespace") lapply(strsplit(texts, "[ \t\n\r\v\f]+", perl = TRUE), function(t) t[nzchar(t)])
          else strsplit(texts, "", perl = TRUE)
  if (!is.list(docs) || length(docs) != length(texts) || !all(vapply(docs, is.character, TRUE))) {
    rk_abort("`split` must return a list with a character vector of tokens per text.", "value", call)
  }
  if (!is.null(st$ngrams)) docs <- lapply(docs, add_ngrams, widths = st$ngrams)
  docs
}

add_ngrams <- function(tokens, widths) {
  unlist(lapply(widths, function(w) {
    if (length(tokens) < w) return(character())
    vapply(seq_len(length(tokens) - w + 1), function(i) paste(tokens[i:(i + w - 1)], collapse = " "), "")
  }), use.names = FALSE)
}

#' The layer applied to texts
#' @noRd
text_vectorize <- function(st, x, call = rlang::caller_env()) {
  texts <- check_texts(x, "x", call)
  docs <- text_tokens(st, texts, call)
  vocab <- c(special_tokens(st), st$vocab)
  ids <- lapply(docs, function(t) {
    # The empty token is Keras's mask token: padding (0) in "int" mode, not counted otherwise.
    if (st$output_mode != "int") t <- t[nzchar(t)]
    i <- match(t, vocab) - 1L
    i[is.na(i)] <- if (st$output_mode == "int") 1L else 0L
    i
  })
  if (st$output_mode == "int") {
    len <- st$length %||% max(c(0L, lengths(ids)))
    out <- matrix(0L, length(ids), len)
    for (r in seq_along(ids)) {
      k <- min(len, length(ids[[r]]))
      if (k) out[r, seq_len(k)] <- ids[[r]][seq_len(k)]
    }
    return(out)
  }
  width <- if (st$pad) st$max_tokens else length(vocab)
  out <- matrix(0, length(ids), width)
  for (r in seq_along(ids)) {
    counts <- tabulate(ids[[r]] + 1L, nbins = width)
    out[r, ] <- switch(st$output_mode,
      multi_hot = as.numeric(counts > 0),
      count = counts,
      tf_idf = counts * c(mean(st$idf %||% 0), st$idf, rep(0, width - length(vocab))))
  }
  out
}
