#' Integer lookup and hashing layers
#'
#' `layer_integer_lookup()` maps integers to indices: index 0 for `mask_token` (when
#' given, in `"int"` mode), then `num_oov_indices` indices for values outside the
#' vocabulary (with several, a value goes to `value %% num_oov_indices`, or with
#' `oov_method = "farmhash"` to its hash), then the vocabulary in order. The vocabulary is
#' given, or learnt by [adapt()] as Keras learns it: the values of `data` by decreasing
#' count, ties by decreasing value, at most `max_tokens` including the special indices.
#' With `invert = TRUE` it maps indices back to integers (`oov_token` for unknown ones).
#'
#' `layer_hashing()` puts each integer in one of `num_bins` bins by hashing its decimal
#' string with TensorFlow's hashes: FarmHash's fingerprint, or with a `salt` SipHash-2-4
#' keyed by it (two numbers, or one used twice). With `mask_value`, that value goes to bin 0
#' and the others to bins `1` to `num_bins - 1`. Values are truncated to integers first, as
#' Keras does.
#'
#' Both encode their indices as `output_mode` says: `"int"` keeps them; `"one_hot"`,
#' `"multi_hot"` and `"count"` as [layer_category_encoding()] does (the last two on
#' `(batch, n)` inputs only); `"tf_idf"` (lookup only) is the counts times `idf_weights`
#' (the out-of-vocabulary weight is their mean). Keras 2's `"binary"` is `"multi_hot"`.
#' Neither layer has weights or passes gradients. The layers run in the model (they are
#' saved with it); integers beyond 2^24 in absolute value are not supported (the engine's
#' tensors are single precision).
#'
#' Input and output shapes: as for [layer_category_encoding()], with as many categories as
#' the vocabulary (special indices included; `max_tokens` with `pad_to_max_tokens = TRUE`)
#' or `num_bins`.
#' @inheritParams layer_dense
#' @param max_tokens The largest vocabulary, special indices included (`NULL`: no limit).
#' @param num_oov_indices The number of indices for values outside the vocabulary (0: such
#'   values are an error).
#' @param mask_token A value to map to index 0 (`NULL`: none).
#' @param oov_token With `invert = TRUE`, the value for unknown indices.
#' @param vocabulary Integers (without the special tokens, or with them first, as
#'   [get_vocabulary()] gives them), or the path of a text file with one per line; `NULL`
#'   to learn them with [adapt()].
#' @param vocabulary_dtype Only `"int64"`.
#' @param idf_weights With `output_mode = "tf_idf"` and `vocabulary`: a weight per token.
#' @param invert Whether to map indices back to integers.
#' @param output_mode `"int"`, `"one_hot"`, `"multi_hot"`, `"count"` or (lookup only)
#'   `"tf_idf"`.
#' @param sparse Only `FALSE` (outputs are dense).
#' @param pad_to_max_tokens Whether encodings are `max_tokens` wide whatever the
#'   vocabulary's size.
#' @param oov_method `"floormod"` or `"farmhash"`: how several out-of-vocabulary indices are
#'   chosen.
#' @param salt `NULL`, or one or two integers keying the hash (for [layer_hashing()], and
#'   for the lookup with `oov_method = "farmhash"`).
#' @param num_bins The number of bins, the mask's bin included.
#' @param mask_value A value to put in bin 0 (`NULL`: none).
#' @returns The model (invisibly) when `object` is a model, a tensor when `object` is a
#'   tensor, else a layer.
#' @family preprocessing layers
#' @export
#' @examples
#' ids <- layer_integer_lookup(vocabulary = c(12, 36, 1138, 42))
#' model <- keras_model_sequential(input_shape = 3) %>% ids()
#' predict(model, rbind(c(12, 1138, 42), c(42, 1000, 36)), verbose = 0)
#'
#' learnt <- layer_integer_lookup(output_mode = "multi_hot")
#' adapt(learnt, c(7, 7, 7, 3, 3, 9))
#' get_vocabulary(learnt)   # -1 (out of the vocabulary), then by count
#'
#' hashed <- keras_model_sequential(input_shape = 2) %>%
#'   layer_hashing(num_bins = 3, mask_value = 0)
#' predict(hashed, rbind(c(0, 11), c(21, 31)), verbose = 0)
layer_integer_lookup <- function(object, max_tokens = NULL, num_oov_indices = 1L, mask_token = NULL,
                                 oov_token = -1L, vocabulary = NULL, vocabulary_dtype = "int64",
                                 idf_weights = NULL, invert = FALSE, output_mode = "int", sparse = FALSE,
                                 pad_to_max_tokens = FALSE, oov_method = "floormod", salt = NULL,
                                 input_shape = NULL, batch_input_shape = NULL, batch_size = NULL,
                                 dtype = NULL, name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_integer_lookup()")
  check_string(vocabulary_dtype, "vocabulary_dtype", choices = "int64")
  if (is.character(vocabulary) && length(vocabulary) == 1) vocabulary <- read_vocabulary_file(vocabulary)
  output_mode <- switch(check_string(output_mode, "output_mode"), binary = "multi_hot", `tf-idf` = "tf_idf",
                        output_mode)
  config <- list(invert = check_flag(invert, "invert"),
                 max_tokens = check_count(max_tokens, "max_tokens", min = 2, allow_null = TRUE),
                 num_oov_indices = check_count(num_oov_indices, "num_oov_indices", min = 0),
                 oov_token = lookup_integer(oov_token, "oov_token"),
                 mask_token = lookup_integer(mask_token, "mask_token", allow_null = TRUE),
                 output_mode = check_string(output_mode, "output_mode",
                                            choices = c("int", "one_hot", "multi_hot", "count", "tf_idf")),
                 sparse = check_dense(sparse),
                 pad_to_max_tokens = check_flag(pad_to_max_tokens, "pad_to_max_tokens"),
                 vocabulary_dtype = "int64",
                 idf_weights = lookup_idf(idf_weights, vocabulary),
                 vocabulary = if (!is.null(vocabulary)) I(lookup_integer(vocabulary, "vocabulary", n = NA)),
                 oov_method = check_string(oov_method, "oov_method", choices = c("floormod", "farmhash")),
                 salt = lookup_salt(salt))
  if (config$invert && config$output_mode != "int") rk_abort("`invert = TRUE` needs `output_mode = \"int\"`.", "value")
  if (config$pad_to_max_tokens && is.null(config$max_tokens)) rk_abort("`pad_to_max_tokens = TRUE` needs `max_tokens`.", "value")
  if (!is.null(config$salt) && config$oov_method != "farmhash") rk_abort("`salt` needs `oov_method = \"farmhash\"`.", "value")
  if (config$output_mode == "tf_idf" && !is.null(vocabulary) && is.null(idf_weights)) {
    rk_abort("`output_mode = \"tf_idf\"` with `vocabulary` needs `idf_weights`.", "value")
  }
  compose_layer(object, new_layer_spec("integer_lookup", "IntegerLookup", config,
                                       input_shape = input_shape %||% batch_input_shape[-1], name = name))
}

#' @rdname layer_integer_lookup
#' @export
layer_hashing <- function(object, num_bins, mask_value = NULL, salt = NULL, output_mode = "int", sparse = FALSE,
                          input_shape = NULL, batch_input_shape = NULL, batch_size = NULL, dtype = NULL,
                          name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_hashing()")
  config <- list(num_bins = check_count(num_bins, "num_bins", max = 2^24),
                 salt = lookup_salt(salt),
                 mask_value = if (!is.null(mask_value)) check_number(mask_value, "mask_value"),
                 output_mode = encoding_mode(output_mode, c("int", "one_hot", "multi_hot", "count")),
                 sparse = check_dense(sparse))
  compose_layer(object, new_layer_spec("hashing", "Hashing", config,
                                       input_shape = input_shape %||% batch_input_shape[-1], name = name))
}

#' Whole numbers the engine holds exactly (single precision: at most 2^24 in absolute value)
#' @noRd
lookup_integer <- function(x, arg, n = 1L, allow_null = FALSE, call = rlang::caller_env()) {
  if (is.null(x) && allow_null) return(NULL)
  if (is.list(x)) x <- unlist(x)
  if (!is.numeric(x) || !length(x) || (!is.na(n) && length(x) != n) || anyNA(x) || any(x != round(x)) ||
      any(abs(x) > 2^24)) {
    what <- if (is.na(n)) "whole numbers" else "a whole number"
    rk_abort(sprintf("`%s` must be %s of at most 2^24 in absolute value, not %s.", arg, what, show_value(x)),
             "value", call)
  }
  if (is.na(n)) as.double(x) else as.double(x[[1]])
}

lookup_salt <- function(salt, call = rlang::caller_env()) {
  if (is.null(salt)) return(NULL)
  if (is.list(salt)) salt <- unlist(salt)
  if (!is.numeric(salt) || !length(salt) %in% 1:2 || anyNA(salt) || any(salt != round(salt)) ||
      any(abs(salt) > 2^53)) {
    rk_abort(sprintf("`salt` must be NULL, or one or two whole numbers, not %s.", show_value(salt)), "value", call)
  }
  I(rep_len(as.double(salt), 2))
}

lookup_idf <- function(idf_weights, vocabulary, call = rlang::caller_env()) {
  if (is.null(idf_weights)) return(NULL)
  if (is.null(vocabulary)) rk_abort("`idf_weights` needs `vocabulary`.", "value", call)
  if (!is.numeric(idf_weights) || length(idf_weights) != length(vocabulary) || !all(is.finite(idf_weights))) {
    rk_abort(sprintf("`idf_weights` must be %d finite numbers, one per entry of `vocabulary`, not %s.",
                     length(vocabulary), show_value(idf_weights)), "value", call)
  }
  I(as.double(idf_weights))
}

#' A vocabulary file's lines (one token each), without the empty lines at its end, as
#' Keras reads them
#' @noRd
vocabulary_lines <- function(path, call = rlang::caller_env()) {
  if (!file.exists(path) || dir.exists(path)) rk_abort(sprintf("`vocabulary` file '%s' does not exist.", path), "value", call)
  lines <- tryCatch(readLines(path, warn = FALSE, encoding = "UTF-8"), error = function(e) {
    rk_abort(sprintf("`vocabulary` file '%s' cannot be read: %s", path, conditionMessage(e)), "value", call)
  })
  while (length(lines) && !nzchar(lines[length(lines)])) lines <- lines[-length(lines)]
  lines
}

#' Keras's order of a learnt vocabulary: count descending, ties by token descending (strings
#' in byte order)
#' @noRd
keras_vocabulary_order <- function(tokens, counts) {
  key <- if (is.character(tokens)) {
    rank(vapply(tokens, function(t) paste(sprintf("%02x", as.integer(charToRaw(t))), collapse = ""), ""))
  } else tokens
  order(-counts, -key)
}

#' Keras's inverse document frequency of each of `tokens` over `docs` (each document's
#' distinct tokens): `log(1 + documents / (1 + documents with the token))`
#' @noRd
inverse_document_frequency <- function(docs, tokens) {
  df <- tabulate(match(unlist(docs, use.names = FALSE), tokens), nbins = length(tokens))
  log(1 + length(docs) / (1 + df))
}

read_vocabulary_file <- function(path, call = rlang::caller_env()) {
  lines <- vocabulary_lines(path, call)
  v <- suppressWarnings(as.numeric(lines))
  if (anyNA(v)) rk_abort(sprintf("`vocabulary` file '%s' must have one integer per line.", path), "value", call)
  v
}

#' An integer lookup layer's vocabulary (and document frequencies) from `data`, as Keras's
#' adapt() learns them
#' @noRd
adapt_integer_lookup <- function(object, data, call = rlang::caller_env()) {
  data <- adapt_numbers(data, "integers", call)
  state <- unattached_state(object, "an integer lookup layer", "vocabulary", call)
  config <- state$spec$config
  values <- trunc(as.double(data))
  counts <- table(values)
  tokens <- as.double(names(counts))
  counts <- as.numeric(counts)
  keep <- tokens != config$oov_token
  if (!is.null(config$mask_token)) keep <- keep & tokens != config$mask_token
  tokens <- tokens[keep]
  counts <- counts[keep]
  ord <- keras_vocabulary_order(tokens, counts)
  start <- as.integer(!is.null(config$mask_token) && config$output_mode == "int") + config$num_oov_indices
  if (!is.null(config$max_tokens)) ord <- utils::head(ord, max(0, config$max_tokens - start))
  tokens <- tokens[ord]
  if (!length(tokens)) rk_abort("`data` has no value to learn besides the special tokens.", "value", call)
  idf <- NULL
  if (config$output_mode == "tf_idf") {
    # Each row of `data` is a document (each value of a vector its own).
    docs <- if (length(dim(data)) >= 2) lapply(seq_len(nrow(data)), function(i) unique(trunc(data[i, ]))) else as.list(values)
    idf <- inverse_document_frequency(docs, tokens)
  }
  state$spec$config$vocabulary <- I(tokens)
  state$spec$config$idf_weights <- if (!is.null(idf)) I(idf)
  invisible(object)
}

#' An integer lookup layer's vocabulary, the special tokens first when asked
#' @noRd
integer_vocabulary <- function(object, special) {
  config <- layer_state(object)$spec$config
  tokens <- as.double(unlist(config$vocabulary))
  mask <- if (!is.null(config$mask_token) && config$output_mode == "int") config$mask_token
  specials <- c(mask, rep(config$oov_token, config$num_oov_indices))
  # A vocabulary given with its special tokens first (as Keras's set_vocabulary() takes it).
  n <- length(specials)
  if (n > 0 && length(tokens) >= n && identical(tokens[seq_len(n)], as.double(specials))) tokens <- tokens[-seq_len(n)]
  if (special) c(specials, tokens) else tokens
}

set_integer_vocabulary <- function(object, vocabulary, idf_weights, call = rlang::caller_env()) {
  state <- layer_state(object)
  if (!is.null(state$model)) {
    rk_abort("Set an integer lookup layer's vocabulary before it joins a model: it fixes the model's shapes.",
             "state", call)
  }
  config <- state$spec$config
  if (config$output_mode == "tf_idf" && is.null(idf_weights)) {
    rk_abort("`idf_weights` is needed for `output_mode = \"tf_idf\"`.", "value", call)
  }
  if (config$output_mode != "tf_idf" && !is.null(idf_weights)) {
    rk_abort("`idf_weights` is only for `output_mode = \"tf_idf\"`.", "value", call)
  }
  vocabulary <- lookup_integer(vocabulary, "vocabulary", n = NA, call = call)
  idf <- lookup_idf(idf_weights, vocabulary, call = call)
  # The engine checks the vocabulary as Keras's set_vocabulary() does.
  spec <- state$spec
  spec$config$vocabulary <- I(vocabulary)
  spec$config$idf_weights <- idf
  rk_call(rk_layer_output_shape(to_json(list(class_name = spec$class_name, config = spec$config)),
                                "integer_lookup", list(list(1))), call = call)
  state$spec <- spec
  invisible(object)
}
