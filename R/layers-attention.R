# Attention layers: multi-head attention, dot-product (Luong) and additive (Bahdanau)
# attention, and how their calls read a query, a value, a key and their call options.

#' Multi-head attention layer
#'
#' Keras's `MultiHeadAttention`: each of `num_heads` heads projects the query, key and value
#' (`key_dim`, `key_dim` and `value_dim` features), attends with scaled dot products
#' (`softmax(q k' / sqrt(key_dim))` over the value's steps), and the heads' results are
#' projected back to the query's features (or `output_shape`). With `query = value`, it is
#' self-attention.
#'
#' Call the layer as Keras for R does: `layer(query, value)`, `layer(query, value, key)`, or
#' by name, `layer(query = x, value = y, key = z, attention_mask = m)`;
#' `layer_multi_head_attention(list(query, value), ...)` calls it at once. Call options:
#' - `attention_mask`: a tensor of shape `(batch, query steps, value steps)`, non-zero where
#'   a query step may attend to a value step;
#' - `use_causal_mask = TRUE`: each query step attends only to value steps up to its own;
#' - `return_attention_scores = TRUE`: the call returns a list of the output and the
#'   attention probabilities `(batch, num_heads, query steps, value steps)`;
#' - `training`, kept with the call as for other layers.
#'
#' The masks of the query, value and key (an embedding's `mask_zero`) mask the attention as
#' in Keras, and the output carries the query's mask. Inputs are `(batch, steps, features)`;
#' the output is `(batch, query steps, features of the query or output_shape)`. A layer
#' object is called with one set of `use_causal_mask` and `return_attention_scores` (Keras
#' allows different ones per call; rkeras raises an error).
#' @param inputs A list of the query, the value and optionally the key, to call the layer at
#'   once; when missing or `NULL`, the layer is returned.
#' @param num_heads Number of attention heads.
#' @param key_dim Size of each head's query and key projections.
#' @param value_dim Size of each head's value projection (`key_dim` when `NULL`).
#' @param dropout Dropout rate on the attention probabilities, in training.
#' @param use_bias Whether the projections have biases.
#' @param output_shape Size of the output's last axis (the query's when `NULL`).
#' @param attention_axes `NULL` (attention over the steps); other axes are not supported.
#' @param kernel_initializer,bias_initializer Initializers of the projections' kernels and
#'   biases.
#' @param kernel_regularizer,bias_regularizer,activity_regularizer,kernel_constraint,bias_constraint
#'   Not supported; must be `NULL`.
#' @param seed `NULL` or an integer, kept in the layer's configuration; dropout follows R's
#'   `set.seed()`.
#' @param ... Keras for R's common layer arguments: `name`, `trainable`, `dtype`.
#' @returns A layer, or, with `inputs`, the output tensor (a list of it and the scores with
#'   `return_attention_scores`).
#' @family attention layers
#' @export
#' @examples
#' tokens <- layer_input(shape = 20)
#' x <- tokens %>% layer_embedding(1000, 32)
#' mha <- layer_multi_head_attention(num_heads = 2, key_dim = 16)
#' y <- mha(x, x) %>% layer_global_average_pooling_1d() %>% layer_dense(1)
#' model <- keras_model(tokens, y)
layer_multi_head_attention <- function(inputs, num_heads, key_dim, value_dim = NULL, dropout = 0,
                                       use_bias = TRUE, output_shape = NULL, attention_axes = NULL,
                                       kernel_initializer = "glorot_uniform", bias_initializer = "zeros",
                                       kernel_regularizer = NULL, bias_regularizer = NULL,
                                       activity_regularizer = NULL, kernel_constraint = NULL,
                                       bias_constraint = NULL, seed = NULL, ...) {
  common <- layer_common_args(list(...), "layer_multi_head_attention()")
  check_unsupported(kernel_regularizer = kernel_regularizer, bias_regularizer = bias_regularizer,
                    activity_regularizer = activity_regularizer, kernel_constraint = kernel_constraint,
                    bias_constraint = bias_constraint)
  if (!is.null(attention_axes) && !(is.numeric(attention_axes) && length(attention_axes) == 1 &&
                                      attention_axes %in% c(1, -2))) {
    rk_abort(sprintf("`attention_axes` must be NULL (attention over the steps of (batch, steps, features) inputs), not %s; other axes are not supported by rkeras.",
                     show_value(attention_axes)), "unsupported")
  }
  config <- list(num_heads = check_count(num_heads, "num_heads", max = 4096),
                 key_dim = check_count(key_dim, "key_dim", max = 65536),
                 value_dim = check_count(value_dim, "value_dim", max = 65536, allow_null = TRUE),
                 dropout = check_rate(dropout, "dropout"),
                 use_bias = check_flag(use_bias, "use_bias"),
                 output_shape = if (!is.null(output_shape))
                   I(check_count(output_shape, "output_shape", max = 2^24)),
                 attention_axes = NULL,
                 kernel_initializer = as_initializer(kernel_initializer, "kernel_initializer"),
                 bias_initializer = as_initializer(bias_initializer, "bias_initializer"),
                 seed = check_count(seed, "seed", min = 0, allow_null = TRUE))
  attention_layer(inputs, "multi_head_attention", "MultiHeadAttention", config, common)
}

#' Dot-product and additive attention layers
#'
#' Attention of a query sequence over a value sequence, without projections.
#' `layer_attention()` is Keras's `Attention` (Luong-style): scores are the dot products of
#' query and key steps (times a learned scalar `scale` with `use_scale`), or with
#' `score_mode = "concat"` `c * sum(tanh(scale * (q + k)))`. `layer_additive_attention()` is
#' Keras's `AdditiveAttention` (Bahdanau-style): scores are `sum(scale * tanh(q + k))` with a
#' learned `scale` per feature. The scores' softmax over the value's steps weighs the value's
#' steps.
#'
#' Call the layer on a list `list(query, value)` or `list(query, value, key)` (the key is the
#' value when not given): query `(batch, Tq, dim)`, value `(batch, Tv, dim_v)`, key
#' `(batch, Tv, dim)`; the output is `(batch, Tq, dim_v)`. Call options:
#' `use_causal_mask = TRUE` (query step `i` attends to value steps up to `i`) and
#' `return_attention_scores = TRUE` (the call returns a list of the output and the
#' attention weights `(batch, Tq, Tv)`). The value's mask (an embedding's `mask_zero`)
#' masks the attention, and the query's mask zeroes the output's masked steps and passes on,
#' as in Keras.
#' @param inputs A list of the query, value and optionally key tensors; when missing or
#'   `NULL`, the layer is returned.
#' @param use_scale Whether to learn a scale of the scores (a scalar for `layer_attention()`,
#'   one per feature for `layer_additive_attention()`).
#' @param score_mode `"dot"` or `"concat"`.
#' @param dropout Dropout rate on the attention weights, in training.
#' @param seed `NULL` or an integer, kept in the layer's configuration.
#' @param ... Keras for R's common layer arguments: `name`, `trainable`, `dtype`.
#' @returns A layer, or, with `inputs`, the output tensor (a list of it and the scores with
#'   `return_attention_scores`).
#' @family attention layers
#' @export
#' @examples
#' query <- layer_input(shape = c(4, 8))
#' value <- layer_input(shape = c(6, 8))
#' out <- layer_attention(list(query, value))
#' model <- keras_model(list(query, value), out)
layer_attention <- function(inputs, use_scale = FALSE, score_mode = "dot", dropout = 0, seed = NULL, ...) {
  common <- layer_common_args(list(...), "layer_attention()")
  config <- list(use_scale = check_flag(use_scale, "use_scale"),
                 score_mode = check_string(score_mode, "score_mode", choices = c("dot", "concat")),
                 dropout = check_rate(dropout, "dropout"),
                 seed = check_count(seed, "seed", min = 0, allow_null = TRUE))
  attention_layer(inputs, "attention", "Attention", config, common)
}

#' @rdname layer_attention
#' @export
layer_additive_attention <- function(inputs, use_scale = TRUE, dropout = 0, ...) {
  common <- layer_common_args(list(...), "layer_additive_attention()")
  config <- list(use_scale = check_flag(use_scale, "use_scale"), dropout = check_rate(dropout, "dropout"),
                 seed = NULL)
  attention_layer(inputs, "additive_attention", "AdditiveAttention", config, common)
}

attention_classes <- c("MultiHeadAttention", "Attention", "AdditiveAttention")

#' Keras for R's common layer arguments given through `...`: `name`, `trainable`, `dtype`
#' (float32), `input_shape`/`batch_size` (ignored by layers that are called on tensors)
#' @noRd
layer_common_args <- function(dots, fn, call = rlang::caller_env()) {
  known <- c("name", "trainable", "dtype")
  nms <- names(dots) %||% rep("", length(dots))
  bad <- dots[!nms %in% known]
  if (length(bad)) do.call(check_no_dots, c(bad, list(fn = fn, call = call)))
  check_layer_dtype(dots$dtype, call)
  list(name = check_string(dots$name, "name", allow_null = TRUE, call = call),
       trainable = if (!is.null(dots$trainable)) check_flag(dots$trainable, "trainable", call = call))
}

attention_layer <- function(inputs, type, class_name, config, common, call = rlang::caller_env()) {
  spec <- new_layer_spec(type, class_name, config, name = common$name,
                         seed = if (class_name != "Attention") draw_seed(), call = call)
  spec$trainable <- common$trainable
  layer <- compose_layer(NULL, spec, call = call)
  if (missing(inputs) || is.null(inputs)) return(layer)
  if (inherits(inputs, "rkeras_model")) {
    rk_abort(sprintf("A %s layer takes a query and a value: call it on tensors, it cannot be added to a Sequential model.",
                     class_name), "value", call)
  }
  if (class_name == "MultiHeadAttention") {
    ins <- as_tensor_list(inputs, "inputs", call)
    if (!length(ins) %in% 2:3) {
      rk_abort(sprintf("`inputs` must be a list of the query, the value and optionally the key, not %d tensors.",
                       length(ins)), "value", call)
    }
    return(do.call(layer, ins))
  }
  layer(inputs)
}

#' A call of an attention layer: the engine's node reads the query, the value, the key (the
#' value when none is given) and the attention mask (multi-head attention's); the call's
#' options stay in the layer's configuration, one set per layer
#' @noRd
attention_apply <- function(state, object, value = NULL, key = NULL, ..., query = NULL, attention_mask = NULL,
                            mask = NULL, return_attention_scores = FALSE, use_causal_mask = FALSE,
                            initial_state = NULL, training = NULL, call = rlang::caller_env()) {
  cls <- state$spec$class_name
  if (...length()) check_no_dots(..., fn = sprintf("A %s layer's call", cls), call = call)
  check_unsupported(initial_state = initial_state, call = call)
  if (!missing(object) && inherits(object, "rkeras_model")) {
    rk_abort(sprintf("A %s layer takes a query and a value: call it on tensors, it cannot be added to a Sequential model.",
                     cls), "value", call)
  }
  if (!is.null(mask)) {
    rk_abort("`mask` is not supported by rkeras: the inputs' own masks (an embedding's `mask_zero`) are used, as Keras uses them.",
             "unsupported", call)
  }
  if (cls == "MultiHeadAttention") {
    q <- if (!missing(object)) object else query
    if (is.null(q)) rk_abort("A MultiHeadAttention layer needs a query: layer(query, value).", "value", call)
    if (is.list(q) && !inherits(q, "rkeras_tensor")) {
      ins <- as_tensor_list(q, "query", call)
      if (!length(ins) %in% 2:3 || !is.null(value)) {
        rk_abort("A MultiHeadAttention layer takes a query, a value and optionally a key: layer(query, value, key).",
                 "value", call)
      }
      q <- ins[[1]]
      value <- ins[[2]]
      if (length(ins) == 3) key <- ins[[3]]
    }
    if (is.null(value)) rk_abort("A MultiHeadAttention layer needs a value: layer(query, value).", "value", call)
    tensors <- list(q, value, key %||% value)
    for (k in seq_along(tensors)) {
      if (!inherits(tensors[[k]], "rkeras_tensor")) {
        rk_abort(sprintf("`%s` must be a tensor (from layer_input() or a layer call), not %s.",
                         c("query", "value", "key")[[k]], show_value(tensors[[k]])), "type", call)
      }
    }
    if (!is.null(attention_mask)) {
      if (!inherits(attention_mask, "rkeras_tensor")) {
        rk_abort(sprintf("`attention_mask` must be a tensor of shape (batch, query steps, value steps), not %s.",
                         show_value(attention_mask)), "type", call)
      }
      tensors <- c(tensors, list(attention_mask))
    }
  } else {
    if (!is.null(value) || !is.null(key) || !is.null(query) || !is.null(attention_mask)) {
      rk_abort(sprintf("A %s layer is called on one list of tensors: layer(list(query, value)) or layer(list(query, value, key)).",
                       cls), "value", call)
    }
    ins <- if (missing(object)) NULL else object
    ins <- as_tensor_list(ins, "inputs", call)
    if (!length(ins) %in% 2:3) {
      rk_abort(sprintf("A %s layer is called on a list of a query, a value and optionally a key, not %d tensors.",
                       cls, length(ins)), "value", call)
    }
    tensors <- list(ins[[1]], ins[[2]], if (length(ins) == 3) ins[[3]] else ins[[2]])
  }
  flags <- list(use_causal_mask = check_flag(use_causal_mask, "use_causal_mask", call = call),
                return_attention_scores = check_flag(return_attention_scores, "return_attention_scores", call = call))
  if (length(state$calls)) {
    before <- state$spec$config[names(flags)]
    if (!identical(lapply(before, isTRUE), flags)) {
      rk_abort(sprintf("Layer '%s' was called with use_causal_mask = %s and return_attention_scores = %s; rkeras calls one attention layer with one set of them.",
                       state$spec$name, isTRUE(before$use_causal_mask), isTRUE(before$return_attention_scores)),
               "unsupported", call)
    }
  } else {
    state$spec$config[names(flags)] <- flags
  }
  if (!is.null(training)) training <- check_flag(training, "training", call = call)
  call_on_tensors(state, tensors, training, call)
}
