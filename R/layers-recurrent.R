#' Embedding layer
#'
#' Turns integer token ids into dense vectors: each id in `0:(input_dim - 1)` selects a row of
#' a trained `input_dim x output_dim` table. Input `(batch, ...)` of ids; output
#' `(batch, ..., output_dim)`. An id outside the table is an error naming its batch row.
#' @inheritParams layer_dense
#' @param input_dim Size of the vocabulary (largest id + 1).
#' @param output_dim Size of each vector.
#' @param embeddings_initializer Initializer of the table (Keras's default: uniform in
#'   `[-0.05, 0.05]`).
#' @param embeddings_regularizer Regularizer of the table.
#' @param activity_regularizer Regularizer of the layer's output, added to the loss (see
#'   [layer_dense()]).
#' @param embeddings_constraint Not supported; must be `NULL`.
#' @param mask_zero Treat id 0 as padding: the steps holding it are masked, so recurrent
#'   layers skip them (keeping their state) and `layer_global_average_pooling_1d()`
#'   averages over the other steps, as in Keras. The mask passes through dense, dropout,
#'   activation and normalization layers; a model whose output still carries it (a loss per
#'   unmasked step) is not supported yet.
#' @param input_length Length of the input sequences (sets the input shape).
#' @param sparse Must be `FALSE`.
#' @returns The model (invisibly) when `object` is a model, else a layer.
#' @family text layers
#' @export
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_embedding(input_dim = 100, output_dim = 8, input_length = 20) %>%
#'   layer_global_average_pooling_1d() %>%
#'   layer_dense(1, activation = "sigmoid")
layer_embedding <- function(object, input_dim, output_dim, embeddings_initializer = "uniform",
                            embeddings_regularizer = NULL, activity_regularizer = NULL,
                            embeddings_constraint = NULL, mask_zero = FALSE, input_length = NULL,
                            sparse = FALSE, input_shape = NULL, batch_input_shape = NULL,
                            batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                            weights = NULL, ...) {
  check_no_dots(..., fn = "layer_embedding()")
  check_unsupported(embeddings_constraint = embeddings_constraint)
  if (isTRUE(check_flag(sparse, "sparse"))) rk_abort("`sparse = TRUE` is not supported by rkeras.", "unsupported")
  shape <- input_shape %||% batch_input_shape[-1] %||%
    (if (!is.null(input_length)) check_count(input_length, "input_length", min = 1))
  spec <- new_layer_spec("embedding", "Embedding", list(
    input_dim = check_count(input_dim, "input_dim", min = 1, max = 2^31 - 1),
    output_dim = check_count(output_dim, "output_dim", min = 1, max = 2^24),
    embeddings_initializer = as_initializer(embeddings_initializer, "embeddings_initializer"),
    embeddings_regularizer = as_regularizer(embeddings_regularizer, "embeddings_regularizer"),
    activity_regularizer = as_regularizer(activity_regularizer, "activity_regularizer"),
    mask_zero = check_flag(mask_zero, "mask_zero")),
    input_shape = shape, name = name, seed = draw_seed())
  compose_layer(object, spec)
}

#' Recurrent layers
#'
#' `layer_simple_rnn()`, `layer_lstm()` and `layer_gru()` run over the time steps of
#' `(batch, timesteps, features)` inputs, with Keras 3's weights (`kernel`,
#' `recurrent_kernel`, `bias`; LSTM gates in the order input, forget, cell, output; GRU's in
#' the order update, reset, candidate, with two biases when `reset_after = TRUE`). The
#' output is the last step's state `(batch, units)`, or every step's with
#' `return_sequences = TRUE` `(batch, timesteps, units)`; `go_backwards = TRUE` reads the
#' steps from last to first and returns them in that order. `dropout` and
#' `recurrent_dropout` drop the same inputs and state values at every step of a sample.
#' @inheritParams layer_dense
#' @param units Size of the state.
#' @param activation Activation of the state (default `"tanh"`).
#' @param recurrent_activation Activation of the gates (default `"sigmoid"`).
#' @param return_sequences Return every step's output.
#' @param return_state Also return the last states: called on a tensor, the layer returns
#'   `list(output, h)`, and for LSTM `list(output, h, c)` (functional models only, as in
#'   Keras). Any recurrent layer called on a tensor takes `initial_state`, a tensor or a list
#'   of them in the same order, to start from instead of zeros:
#'   `layer(x, initial_state = states)`.
#' @param stateful Carry the states from one batch to the next: row `i` of each batch
#'   continues the sequence of row `i` of the batch before, as in Keras. Batches must then all
#'   have the same number of rows (fit with `shuffle = FALSE`, and predict with the same
#'   `batch_size`); [reset_states()] starts afresh.
#' @param go_backwards Process the steps in reverse.
#' @param unroll Accepted for compatibility (no effect on results).
#' @param recurrent_initializer Initializer of the recurrent kernel (default orthogonal).
#' @param unit_forget_bias LSTM: start the forget gate's bias at 1.
#' @param reset_after GRU: apply the reset gate after the recurrent product (Keras 3's default).
#' @param recurrent_regularizer,recurrent_constraint,bias_regularizer Not supported; must be `NULL`.
#' @param dropout,recurrent_dropout Fractions of the inputs and of the state dropped in training.
#' @param ... Keras 2's `time_major` and `implementation`, only at their defaults.
#' @returns The model (invisibly) when `object` is a model, else a layer.
#' @family recurrent layers
#' @name layer_recurrent
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_embedding(1000, 16, input_length = 30) %>%
#'   layer_lstm(32) %>%
#'   layer_dense(1, activation = "sigmoid")
NULL

recurrent_layer <- function(class_name, type, object, units, activation, recurrent_activation, use_bias,
                            return_sequences, return_state, go_backwards, stateful, unroll,
                            kernel_initializer, recurrent_initializer, bias_initializer, extra,
                            kernel_regularizer, recurrent_regularizer, bias_regularizer,
                            activity_regularizer, kernel_constraint, recurrent_constraint,
                            bias_constraint, dropout, recurrent_dropout, input_shape, batch_input_shape,
                            name, trainable, weights, dots, call) {
  fn <- paste0("layer_", type, "()")
  do.call(check_no_dots, c(dots[setdiff(names(dots) %||% rep("", length(dots)), c("time_major", "implementation"))],
                           list(fn = fn, call = call)))
  if (isTRUE(dots$time_major)) rk_abort("`time_major = TRUE` is not supported by rkeras.", "unsupported", call)
  check_unsupported(recurrent_regularizer = recurrent_regularizer, bias_regularizer = bias_regularizer,
                    kernel_constraint = kernel_constraint,
                    recurrent_constraint = recurrent_constraint, bias_constraint = bias_constraint, call = call)
  stateful <- check_flag(stateful, "stateful", call = call)
  check_flag(unroll, "unroll", call = call)
  gates <- c("tanh", "sigmoid", "hard_sigmoid", "relu", "linear")
  config <- c(list(
    units = check_count(units, "units", min = 1, max = 2^16, call = call),
    activation = check_string(activation %||% "linear", "activation", choices = gates, call = call)),
    if (!is.null(recurrent_activation))
      list(recurrent_activation = check_string(recurrent_activation, "recurrent_activation", choices = gates, call = call)),
    list(use_bias = check_flag(use_bias, "use_bias", call = call),
         return_sequences = check_flag(return_sequences, "return_sequences", call = call),
         return_state = check_flag(return_state, "return_state", call = call),
         stateful = stateful,
         go_backwards = check_flag(go_backwards, "go_backwards", call = call),
         kernel_initializer = as_initializer(kernel_initializer, "kernel_initializer", call),
         recurrent_initializer = as_initializer(recurrent_initializer, "recurrent_initializer", call),
         bias_initializer = as_initializer(bias_initializer, "bias_initializer", call),
         kernel_regularizer = as_regularizer(kernel_regularizer, "kernel_regularizer"),
         activity_regularizer = as_regularizer(activity_regularizer, "activity_regularizer", call),
         dropout = check_number(dropout, "dropout", min = 0, max = 0.999999, call = call),
         recurrent_dropout = check_number(recurrent_dropout, "recurrent_dropout", min = 0, max = 0.999999, call = call)),
    extra)
  spec <- new_layer_spec(type, class_name, config, input_shape = input_shape %||% batch_input_shape[-1],
                         name = name, seed = draw_seed(), call = call)
  compose_layer(object, spec, call = call)
}

#' @rdname layer_recurrent
#' @export
layer_simple_rnn <- function(object, units, activation = "tanh", use_bias = TRUE, return_sequences = FALSE,
                             return_state = FALSE, go_backwards = FALSE, stateful = FALSE, unroll = FALSE,
                             kernel_initializer = "glorot_uniform", recurrent_initializer = "orthogonal",
                             bias_initializer = "zeros", kernel_regularizer = NULL, recurrent_regularizer = NULL,
                             bias_regularizer = NULL, activity_regularizer = NULL, kernel_constraint = NULL,
                             recurrent_constraint = NULL, bias_constraint = NULL, dropout = 0, recurrent_dropout = 0,
                             input_shape = NULL, batch_input_shape = NULL, batch_size = NULL, dtype = NULL,
                             name = NULL, trainable = NULL, weights = NULL, ...) {
  recurrent_layer("SimpleRNN", "simple_rnn", object, units, activation, NULL, use_bias, return_sequences,
                  return_state, go_backwards, stateful, unroll, kernel_initializer, recurrent_initializer,
                  bias_initializer, list(), kernel_regularizer, recurrent_regularizer, bias_regularizer,
                  activity_regularizer, kernel_constraint, recurrent_constraint, bias_constraint, dropout,
                  recurrent_dropout, input_shape, batch_input_shape, name, trainable, weights, list(...),
                  rlang::current_env())
}

#' @rdname layer_recurrent
#' @export
layer_lstm <- function(object, units, activation = "tanh", recurrent_activation = "sigmoid", use_bias = TRUE,
                       return_sequences = FALSE, return_state = FALSE, go_backwards = FALSE, stateful = FALSE,
                       unroll = FALSE, kernel_initializer = "glorot_uniform", recurrent_initializer = "orthogonal",
                       bias_initializer = "zeros", unit_forget_bias = TRUE, kernel_regularizer = NULL,
                       recurrent_regularizer = NULL, bias_regularizer = NULL, activity_regularizer = NULL,
                       kernel_constraint = NULL, recurrent_constraint = NULL, bias_constraint = NULL,
                       dropout = 0, recurrent_dropout = 0, input_shape = NULL, batch_input_shape = NULL,
                       batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL, weights = NULL, ...) {
  recurrent_layer("LSTM", "lstm", object, units, activation, recurrent_activation, use_bias, return_sequences,
                  return_state, go_backwards, stateful, unroll, kernel_initializer, recurrent_initializer,
                  bias_initializer, list(unit_forget_bias = check_flag(unit_forget_bias, "unit_forget_bias")),
                  kernel_regularizer, recurrent_regularizer, bias_regularizer, activity_regularizer,
                  kernel_constraint, recurrent_constraint, bias_constraint, dropout, recurrent_dropout,
                  input_shape, batch_input_shape, name, trainable, weights, list(...), rlang::current_env())
}

#' @rdname layer_recurrent
#' @export
layer_gru <- function(object, units, activation = "tanh", recurrent_activation = "sigmoid", use_bias = TRUE,
                      return_sequences = FALSE, return_state = FALSE, go_backwards = FALSE, stateful = FALSE,
                      unroll = FALSE, reset_after = TRUE, kernel_initializer = "glorot_uniform",
                      recurrent_initializer = "orthogonal", bias_initializer = "zeros", kernel_regularizer = NULL,
                      recurrent_regularizer = NULL, bias_regularizer = NULL, activity_regularizer = NULL,
                      kernel_constraint = NULL, recurrent_constraint = NULL, bias_constraint = NULL,
                      dropout = 0, recurrent_dropout = 0, input_shape = NULL, batch_input_shape = NULL,
                      batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL, weights = NULL, ...) {
  recurrent_layer("GRU", "gru", object, units, activation, recurrent_activation, use_bias, return_sequences,
                  return_state, go_backwards, stateful, unroll, kernel_initializer, recurrent_initializer,
                  bias_initializer, list(reset_after = check_flag(reset_after, "reset_after")),
                  kernel_regularizer, recurrent_regularizer, bias_regularizer, activity_regularizer,
                  kernel_constraint, recurrent_constraint, bias_constraint, dropout, recurrent_dropout,
                  input_shape, batch_input_shape, name, trainable, weights, list(...), rlang::current_env())
}

#' Bidirectional wrapper for recurrent layers
#'
#' Runs `layer` forwards and a copy of it backwards over the same sequence and merges the
#' two outputs: `"concat"` (the default; twice the units), `"sum"`, `"mul"` or `"ave"`. With
#' `return_sequences = TRUE` the backward outputs are put back in time order first. The
#' weights are the forward layer's, then the backward layer's, as in Keras.
#' @inheritParams layer_dense
#' @param layer A recurrent layer: `layer_lstm()`, `layer_gru()` or `layer_simple_rnn()`
#'   called without a model.
#' @param merge_mode How the two outputs are combined (`NULL`, a list of both, is not
#'   supported yet).
#' @param backward_layer Optional recurrent layer to run backwards (default: a copy of
#'   `layer` with `go_backwards` flipped).
#' @param weights Not supported; must be `NULL`.
#' @param ... `input_shape`, `batch_input_shape` and `name`.
#' @returns The model (invisibly) when `object` is a model, else a layer.
#' @family recurrent layers
#' @export
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_embedding(1000, 16, input_length = 30) %>%
#'   bidirectional(layer_lstm(units = 8)) %>%
#'   layer_dense(1, activation = "sigmoid")
bidirectional <- function(object, layer, merge_mode = "concat", weights = NULL, backward_layer = NULL, ...) {
  dots <- list(...)
  unknown <- setdiff(names(dots) %||% rep("", length(dots)), c("input_shape", "batch_input_shape", "name", "trainable"))
  if (length(unknown)) do.call(check_no_dots, c(dots[unknown], list(fn = "bidirectional()")))
  check_unsupported(weights = weights)
  if (is.null(merge_mode)) {
    rk_abort("`merge_mode = NULL` (a list of the two outputs) is not supported by rkeras yet.", "unsupported")
  }
  merge_mode <- check_string(merge_mode, "merge_mode", choices = c("concat", "sum", "mul", "ave"))
  inner <- function(l, arg) {
    if (!inherits(l, "rkeras_layer")) {
      rk_abort(sprintf("`%s` must be a recurrent layer (layer_lstm(), layer_gru() or layer_simple_rnn() called without a model), not %s.",
                       arg, show_value(l)), "type")
    }
    spec <- layer_state(l)$spec
    if (!spec$class_name %in% c("LSTM", "GRU", "SimpleRNN")) {
      rk_abort(sprintf("`%s` must be a recurrent layer, not a %s layer.", arg, spec$class_name), "type")
    }
    spec
  }
  fwd <- inner(layer, "layer")
  base <- fwd$name %||% tolower(keras_snake(fwd$class_name))
  config <- list(merge_mode = merge_mode,
                 layer = list(class_name = fwd$class_name, config = c(fwd$config, list(name = paste0("forward_", base)))))
  if (!is.null(backward_layer)) {
    bwd <- inner(backward_layer, "backward_layer")
    config$backward_layer <- list(class_name = bwd$class_name,
                                  config = c(bwd$config, list(name = paste0("backward_", bwd$name %||% base))))
  }
  # The wrapper is frozen when asked to be, or when the layer it wraps is.
  trainable <- dots$trainable %||% (if (identical(fwd$trainable, FALSE)) FALSE)
  spec <- new_layer_spec("bidirectional", "Bidirectional", config,
                         input_shape = dots$input_shape %||% dots$batch_input_shape[-1], name = dots$name,
                         seed = fwd$seed %||% draw_seed())
  compose_layer(object, spec)
}

#' Masking and per-step layers
#'
#' `layer_masking()` masks the steps of `(batch, timesteps, features)` inputs whose features
#' all equal `mask_value`: they become zeros, and recurrent layers after it skip them, as in
#' Keras. `time_distributed()` applies `layer` to every step on its own, with one set of
#' weights: `(batch, timesteps, ...)` to `(batch, timesteps, ...)`; `layer` may be recurrent
#' or bidirectional (a sequence model over each step's frames, as Keras's video examples
#' use), but not another `time_distributed()`.
#' @inheritParams layer_dense
#' @param mask_value The value marking a padded step.
#' @param layer A layer called without a model.
#' @param ... `input_shape`, `batch_input_shape` and `name`.
#' @returns The model (invisibly) when `object` is a model, else a layer.
#' @family recurrent layers
#' @export
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_masking(mask_value = 0, input_shape = c(10, 3)) %>%
#'   time_distributed(layer_dense(units = 4)) %>%
#'   layer_lstm(units = 8)
layer_masking <- function(object, mask_value = 0, input_shape = NULL, batch_input_shape = NULL,
                          batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL, weights = NULL, ...) {
  check_no_dots(..., fn = "layer_masking()")
  check_unsupported(weights = weights)
  spec <- new_layer_spec("masking", "Masking", list(mask_value = check_number(mask_value, "mask_value")),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' @rdname layer_masking
#' @export
time_distributed <- function(object, layer, ...) {
  dots <- list(...)
  unknown <- setdiff(names(dots) %||% rep("", length(dots)), c("input_shape", "batch_input_shape", "name", "trainable"))
  if (length(unknown)) do.call(check_no_dots, c(dots[unknown], list(fn = "time_distributed()")))
  if (!inherits(layer, "rkeras_layer")) {
    rk_abort(sprintf("`layer` must be a layer (a layer_*() function called without a model), not %s.",
                     show_value(layer)), "type")
  }
  inner <- layer_state(layer)$spec
  if (inner$class_name %in% c("TimeDistributed", "InputLayer")) {
    rk_abort(sprintf("time_distributed() over a %s layer is not supported by rkeras yet.", inner$class_name), "unsupported")
  }
  config <- list(layer = list(class_name = inner$class_name,
                              config = c(inner$config, list(name = inner$name %||% keras_snake(inner$class_name)))))
  trainable <- dots$trainable %||% (if (identical(inner$trainable, FALSE)) FALSE)
  spec <- new_layer_spec("time_distributed", "TimeDistributed", config,
                         input_shape = dots$input_shape %||% dots$batch_input_shape[-1], name = dots$name,
                         seed = inner$seed %||% draw_seed())
  compose_layer(object, spec)
}

#' Reset the states of stateful recurrent layers
#'
#' Stateful layers (`layer_lstm(stateful = TRUE)` and the others) carry their states from
#' one batch to the next; `reset_states()` sets them back to zeros, for the whole model or
#' for one layer of it (from [get_layer()]).
#' @param object A model, or a layer of a model.
#' @returns `object`, invisibly.
#' @family layers
#' @export
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_lstm(4, stateful = TRUE, input_shape = c(5, 1)) %>%
#'   layer_dense(1)
#' p1 <- predict(model, array(1, c(2, 5, 1)), batch_size = 2, verbose = 0)
#' p2 <- predict(model, array(1, c(2, 5, 1)), batch_size = 2, verbose = 0) # continues
#' reset_states(model)
#' identical(p1, predict(model, array(1, c(2, 5, 1)), batch_size = 2, verbose = 0))
reset_states <- function(object) {
  if (inherits(object, "rkeras_layer")) {
    state <- layer_state(object)
    if (is.null(state$model)) return(invisible(object))
    rk_call(rk_graph_reset_states(state$model$ptr, state$spec$name))
    return(invisible(object))
  }
  check_model(object)
  rk_call(rk_graph_reset_states(object$ptr, NULL))
  invisible(object)
}
