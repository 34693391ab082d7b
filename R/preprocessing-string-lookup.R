#' String lookup layer: strings to indices
#'
#' Keras's `StringLookup`: each string becomes an index: 0 for `mask_token` (when given, in
#' `"int"` mode), then `num_oov_indices` indices for strings outside the vocabulary (with
#' several, a string goes to its hash: TensorFlow's FarmHash fingerprint, or with `salt` its
#' SipHash, modulo their number), then the vocabulary in order. The vocabulary is given or
#' learnt by [adapt()] as Keras learns it: by decreasing count, ties by decreasing string
#' (byte order), at most `max_tokens` including the special indices. With `invert = TRUE`
#' indices become strings again (`oov_token` for unknown ones, `mask_token` for 0).
#'
#' Call the layer on a character vector or matrix: `lookup(c("a", "b"))`. As in Keras, a
#' vector is one axis: in `"int"` and `"one_hot"` mode each string is a sample; in
#' `"multi_hot"`, `"count"` and `"tf_idf"` mode a vector is one sample and a matrix has a
#' sample per row. The layer runs in R. It can start a Sequential model that takes strings,
#' as [layer_text_vectorization()] does: `keras_model_sequential() %>% lookup()` before any
#' other layer; `fit()`, `evaluate()` and `predict()` then take a character matrix (a
#' vector is a column), which the layer turns into the next layer's input.
#' `sparse` and `encoding` are supported at their defaults only.
#' @inheritParams layer_integer_lookup
#' @param object Missing, or a Sequential model without layers, which then starts with the
#'   new layer.
#' @param mask_token A string to map to index 0 (`NULL`: none).
#' @param oov_token The out-of-vocabulary token: listed by [get_vocabulary()], and with
#'   `invert = TRUE` the string for unknown indices.
#' @param vocabulary Strings (without the special tokens, or with them first), or the path
#'   of a text file with one per line; `NULL` to learn them with [adapt()].
#' @param idf_weights With `output_mode = "tf_idf"` and `vocabulary`: a weight per string.
#' @param encoding Only `"utf-8"`.
#' @param salt `NULL`, or one or two integers keying the out-of-vocabulary hash.
#' @param name The layer's name.
#' @param ... Nothing else; any argument here is an error.
#' @returns A string lookup layer: a function of a character vector or matrix.
#' @family text preprocessing
#' @export
#' @examples
#' lookup <- layer_string_lookup(vocabulary = c("a", "b", "c"))
#' lookup(rbind(c("a", "c"), c("d", "b")))     # "d" is out of the vocabulary: 0
#'
#' learnt <- layer_string_lookup(output_mode = "count")
#' adapt(learnt, c("x", "y", "y", "z", "z", "z"))
#' get_vocabulary(learnt)
#' learnt(rbind(c("z", "z", "q")))
#'
#' back <- layer_string_lookup(vocabulary = c("a", "b", "c"), invert = TRUE)
#' back(c(1, 3, 9))
layer_string_lookup <- function(object, max_tokens = NULL, num_oov_indices = 1L, mask_token = NULL,
                                oov_token = "[UNK]", vocabulary = NULL, idf_weights = NULL, encoding = "utf-8",
                                invert = FALSE, output_mode = "int", sparse = FALSE, pad_to_max_tokens = FALSE,
                                salt = NULL, name = NULL, ...) {
  check_no_dots(..., fn = "layer_string_lookup()")
  if (!missing(object) && !inherits(object, "rkeras_model")) {
    rk_abort(sprintf("`object` must be missing or a Sequential model, not %s: rkeras's string lookup runs in R and cannot take tensors.",
                     show_value(object)), "unsupported")
  }
  if (!is.character(encoding) || !identical(tolower(encoding), "utf-8")) rk_abort("`encoding` is supported at its default (\"utf-8\") only.", "unsupported")
  st <- new.env(parent = emptyenv())
  st$max_tokens <- check_count(max_tokens, "max_tokens", min = 2, allow_null = TRUE)
  st$num_oov <- check_count(num_oov_indices, "num_oov_indices", min = 0)
  st$mask <- if (!is.null(mask_token)) lookup_token(mask_token, "mask_token")
  st$oov_token <- lookup_token(oov_token, "oov_token")
  st$invert <- check_flag(invert, "invert")
  output_mode <- switch(check_string(output_mode, "output_mode"), binary = "multi_hot", `tf-idf` = "tf_idf", output_mode)
  st$output_mode <- check_string(output_mode, "output_mode", choices = c("int", "one_hot", "multi_hot", "count", "tf_idf"))
  check_dense(sparse)
  st$pad <- check_flag(pad_to_max_tokens, "pad_to_max_tokens")
  st$salt <- lookup_salt(salt)
  st$name <- if (is.null(name)) unique_name("string_lookup") else check_string(name, "name")
  if (st$invert && st$output_mode != "int") rk_abort("`invert = TRUE` needs `output_mode = \"int\"`.", "value")
  if (st$pad && is.null(st$max_tokens)) rk_abort("`pad_to_max_tokens = TRUE` needs `max_tokens`.", "value")
  st$vocab <- NULL
  st$idf <- NULL
  layer <- structure(function(x) {
    if (inherits(x, "rkeras_model")) return(attach_vectorizer(x, layer))
    string_lookup(st, x)
  }, class = c("rkeras_string_lookup", "function"), state = st)
  if (is.character(vocabulary) && length(vocabulary) == 1 && file.exists(vocabulary) && !dir.exists(vocabulary)) {
    vocabulary <- vocabulary_lines(vocabulary)
  }
  if (!is.null(vocabulary)) set_string_vocabulary(layer, vocabulary, idf_weights)
  else if (!is.null(idf_weights)) rk_abort("`idf_weights` needs `vocabulary`.", "value")
  if (!missing(object)) return(attach_vectorizer(object, layer))
  layer
}

# A special token: one string, which may be empty.
lookup_token <- function(x, arg, call = rlang::caller_env()) {
  if (!is.character(x) || length(x) != 1 || is.na(x)) {
    rk_abort(sprintf("`%s` must be one string, not %s.", arg, show_value(x)), "value", call)
  }
  enc2utf8(x)
}

lookup_oov_start <- function(st) as.integer(!is.null(st$mask) && st$output_mode == "int")
lookup_token_start <- function(st) lookup_oov_start(st) + st$num_oov
lookup_specials <- function(st) c(if (lookup_oov_start(st)) st$mask, rep(st$oov_token, st$num_oov))

#' Keras's set_vocabulary(): special tokens first are dropped; repeats, a mask token
#' elsewhere and a vocabulary larger than `max_tokens` are errors
#' @noRd
set_string_vocabulary <- function(object, vocabulary, idf_weights, call = rlang::caller_env()) {
  st <- attr(object, "state")
  if (is.factor(vocabulary)) vocabulary <- as.character(vocabulary)
  if (!is.character(vocabulary) || !length(vocabulary) || anyNA(vocabulary)) {
    rk_abort(sprintf("`vocabulary` must be strings, not %s.", show_value(vocabulary)), "value", call)
  }
  vocabulary <- enc2utf8(vocabulary)
  special <- lookup_specials(st)
  n <- length(special)
  found <- n > 0 && length(vocabulary) >= n && identical(vocabulary[seq_len(n)], special)
  tokens <- if (found) vocabulary[-seq_len(n)] else vocabulary
  if (anyDuplicated(tokens)) {
    rk_abort(sprintf("`vocabulary` repeats \"%s\".", tokens[anyDuplicated(tokens)]), "value", call)
  }
  if (!is.null(st$mask) && st$mask %in% tokens) {
    rk_abort("`vocabulary` has the mask token; leave it out, or put the special tokens first.", "value", call)
  }
  if (st$invert && st$oov_token %in% tokens) {
    rk_abort("`vocabulary` has the out-of-vocabulary token; leave it out.", "value", call)
  }
  size <- lookup_token_start(st) + length(tokens)
  if (!is.null(st$max_tokens) && size > st$max_tokens) {
    rk_abort(sprintf("`vocabulary` makes %d indices (special ones included), more than `max_tokens` (%d).", size,
                     st$max_tokens), "value", call)
  }
  if (st$output_mode == "tf_idf") {
    if (!is.numeric(idf_weights) || length(idf_weights) != length(vocabulary) || !all(is.finite(idf_weights))) {
      rk_abort(sprintf("`idf_weights` must be %d finite numbers, one per entry of `vocabulary`.", length(vocabulary)),
               "value", call)
    }
    # Keras pads the front with the weights' mean unless the vocabulary brought its special
    # tokens.
    w <- as.double(idf_weights)
    st$idf <- if (found) w else c(rep(mean(w), lookup_token_start(st)), w)
  } else if (!is.null(idf_weights)) {
    rk_abort("`idf_weights` is only for `output_mode = \"tf_idf\"`.", "value", call)
  }
  st$vocab <- tokens
  invisible(object)
}

#' A string lookup layer's vocabulary from `data`, as Keras's adapt() learns it
#' @noRd
adapt_string_lookup <- function(object, data, call = rlang::caller_env()) {
  st <- attr(object, "state")
  if (is.factor(data)) data <- as.character(data)
  if (is.data.frame(data)) data <- as.matrix(data)
  if (!is.character(data) || !length(data)) {
    rk_abort(sprintf("`data` must be strings (a character vector or matrix), not %s.", show_value(data)), "type", call)
  }
  data[is.na(data)] <- ""
  data <- enc2utf8(data)
  counts <- table(as.vector(data))
  tokens <- names(counts)
  counts <- as.numeric(counts)
  keep <- tokens != st$oov_token & (if (is.null(st$mask)) TRUE else tokens != st$mask)
  tokens <- tokens[keep]
  counts <- counts[keep]
  if (!length(tokens)) rk_abort("`data` has no string to learn besides the special tokens.", "value", call)
  ord <- keras_vocabulary_order(tokens, counts)
  if (!is.null(st$max_tokens)) ord <- utils::head(ord, max(0, st$max_tokens - lookup_token_start(st)))
  st$vocab <- tokens[ord]
  st$idf <- NULL
  if (st$output_mode == "tf_idf") {
    # Each row of a matrix is a document; each string of a vector its own.
    docs <- if (is.matrix(data)) lapply(seq_len(nrow(data)), function(i) unique(data[i, ])) else as.list(data)
    idf <- inverse_document_frequency(docs, st$vocab)
    st$idf <- c(rep(mean(idf), lookup_token_start(st)), idf)
  }
  invisible(object)
}

#' The layer applied to strings (or, inverted, to indices)
#' @noRd
string_lookup <- function(st, x, call = rlang::caller_env()) {
  if (is.null(st$vocab) && (st$output_mode != "int" && !st$pad)) {
    rk_abort(sprintf("The string lookup layer needs a vocabulary for output_mode \"%s\": give `vocabulary` or adapt() it.",
                     st$output_mode), "state", call)
  }
  vocab <- st$vocab %||% character()
  start <- lookup_token_start(st)
  if (st$invert) {
    if (!is.numeric(x) || anyNA(x)) rk_abort(sprintf("`x` must be indices (numbers), not %s.", show_value(x)), "type", call)
    i <- trunc(x) - start + 1
    out <- ifelse(i >= 1 & i <= length(vocab), vocab[pmax(1, pmin(length(vocab), i))], st$oov_token)
    if (!is.null(st$mask)) out[trunc(x) == 0] <- st$mask
    dim(out) <- dim(x)
    return(out)
  }
  if (is.factor(x)) x <- as.character(x)
  if (is.data.frame(x)) x <- as.matrix(x)
  if (!is.character(x) || length(dim(x)) > 2) {
    rk_abort(sprintf("`x` must be strings (a character vector or matrix), not %s.", show_value(x)), "type", call)
  }
  x[is.na(x)] <- ""
  x <- enc2utf8(x)
  masked <- if (!is.null(st$mask)) x == st$mask else FALSE
  ids <- match(x, vocab) + start - 1
  oov <- is.na(ids) & !masked
  ids[oov] <- lookup_oov_start(st) + switch(as.character(min(st$num_oov, 2)),
    `0` = if (any(oov)) rk_abort(sprintf("The string lookup layer's input \"%s\" is not in its vocabulary: with `num_oov_indices = 0` every input must be; set `num_oov_indices = 1`.",
                                         x[oov][[1]]), "value", call),
    `1` = 0,
    rk_call(rk_string_buckets(x[oov], st$num_oov, as.double(st$salt %||% numeric())), call = call))
  depth <- if (st$pad) st$max_tokens else start + length(vocab)
  if (st$output_mode == "int") {
    ids[masked] <- 0
    dim(ids) <- dim(x)
    return(ids)
  }
  ids[masked] <- NA
  if (st$output_mode == "one_hot") {
    out <- matrix(0, length(ids), depth)
    ok <- !is.na(ids)
    out[cbind(which(ok), ids[ok] + 1)] <- 1
    if (is.matrix(x)) {
      out <- array(out, c(dim(x), depth))
      if (ncol(x) == 1) out <- matrix(out, nrow(x), depth)
    }
    return(out)
  }
  dim(ids) <- dim(x)
  rows <- if (is.matrix(x)) lapply(seq_len(nrow(x)), function(i) ids[i, ]) else list(ids)
  out <- t(vapply(rows, function(r) {
    counts <- tabulate(r[!is.na(r)] + 1, nbins = depth)
    switch(st$output_mode, multi_hot = as.numeric(counts > 0), count = as.numeric(counts),
           tf_idf = counts * c(st$idf, rep(0, depth - length(st$idf))))
  }, numeric(depth)))
  if (is.matrix(x)) out else out[1, ]
}

#' @export
print.rkeras_string_lookup <- function(x, ...) {
  st <- attr(x, "state")
  cat(sprintf("<rkeras string lookup '%s': output_mode = \"%s\", %d indices>\n", st$name, st$output_mode,
              lookup_token_start(st) + length(st$vocab)))
  invisible(x)
}
