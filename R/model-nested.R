# Models used as layers. A model called on tensors, or added to a Sequential model, runs as
# the calls of its own layers in the outer model's graph (so the layers, and their weights,
# are shared with it), and each such call is recorded: Keras shows the model as one layer
# (one row of summary(), one entry of model$layers and of the JSON, nested groups in files).

#' A record of one call of `model` inside another model's graph: the tensors it reads and
#' returns, the call it sits in (when models nest deeper), and its `training` argument
#' @noRd
new_call_record <- function(model, parent = NULL, training = NULL) {
  rec <- new.env(parent = emptyenv())
  rec$model <- model
  rec$parent <- parent
  rec$training <- training
  rec$key <- unique_name("model_call")
  rec
}

#' Mark the nodes of a replayed call's value `v` (a tensor or a list of them) as running in
#' call `rec`
#' @noRd
mark_call <- function(v, rec) {
  if (inherits(v, "rkeras_tensor")) {
    v$node$nested <- rec
    for (t in if (!is.null(v$node$take)) v$node$inputs) t$node$nested <- rec
  } else if (is.list(v)) {
    for (x in v) mark_call(x, rec)
  }
  invisible()
}

#' The records of graph `g`'s calls, made anew for a replay of `g` inside call `top`
#' (index k of the result stands for `g$nested[[k]]`)
#' @noRd
replay_records <- function(g, top) {
  recs <- vector("list", length(g$nested))
  for (k in seq_along(g$nested)) {
    r <- g$nested[[k]]
    recs[[k]] <- new_call_record(r$model, if (is.na(r$parent)) top else recs[[r$parent]], r$training)
  }
  recs
}

#' The records of the calls that the visited nodes run in (with their enclosing calls),
#' parents first, and each node's innermost one (an index into them, or NA)
#' @noRd
collect_records <- function(visited, node_keys) {
  recs <- list()
  keys <- character()
  add <- function(r) {
    if (is.null(r)) return(NA_integer_)
    i <- match(r$key, keys)
    if (!is.na(i)) return(i)
    parent <- add(r$parent)
    recs[[length(recs) + 1L]] <<- list(model = r$model, parent = parent, record = r, training = r$training)
    keys <<- c(keys, r$key)
    length(recs)
  }
  node_rec <- vapply(visited, function(n) add(n$nested), 1L)
  recs <- lapply(recs, function(x) {
    r <- x$record
    list(model = x$model, parent = x$parent, training = x$training,
         inputs = match(vapply(r$inputs, function(t) t$node$key, ""), node_keys),
         outputs = match(vapply(r$outputs, function(t) t$node$key, ""), node_keys))
  })
  list(records = recs, node_record = node_rec)
}

#' The outermost call a node runs in (a record environment), or NULL
#' @noRd
root_call <- function(node) {
  r <- node$nested
  while (!is.null(r) && !is.null(r$parent)) r <- r$parent
  r
}

#' A model's key, the same for every call of it
#' @noRd
model_key <- function(model) {
  env <- model_env(model)
  if (is.null(env$key)) env$key <- unique_name("model_key")
  env$key
}

#' Keras's class names of models, which a model's JSON gives models used as layers
#' @noRd
keras_model_classes <- c("Sequential", "Functional", "Model")

#' Keras's class name of a model
#' @noRd
model_class_name <- function(model) if (inherits(model, "rkeras_sequential")) "Sequential" else "Functional"

#' The records of graph `g` as the engine reads them (0-based), with each model's own JSON
#' when `configs`
#' @noRd
nested_desc <- function(g, configs = FALSE) {
  lapply(g$nested %||% list(), function(r) {
    c(list(name = r$model$name, class_name = model_class_name(r$model),
           parent = if (!is.na(r$parent)) r$parent - 1L, inputs = I(r$inputs - 1L), outputs = I(r$outputs - 1L),
           training = r$training),
      if (configs) list(config = structure(model_to_json(r$model), class = "rkeras_json")))
  })
}

#' A model's layers as Keras lists them: a layer object for each of its own layers and the
#' model itself for each model used in it
#' @noRd
model_entries <- function(model) {
  g <- model_graph(model)
  seen <- character()
  out <- list()
  owner <- layer_owners(g)
  for (i in seq_along(g$states)) {
    st <- g$states[[i]]
    if (identical(st$spec$type, "input")) next
    m <- owner[[i]]
    if (is.null(m)) { out[[length(out) + 1L]] <- new_layer_object(st); next }
    k <- model_key(m)
    if (k %in% seen) next
    seen <- c(seen, k)
    out[[length(out) + 1L]] <- m
  }
  out
}

#' For each layer (state) of graph `g`, the outermost model used as a layer it runs in
#' (by its first call), or NULL
#' @noRd
layer_owners <- function(g) {
  owners <- vector("list", length(g$states))
  done <- logical(length(g$states))
  for (nd in g$nodes) {
    if (!is.null(nd$take) || done[[nd$layer]]) next
    done[[nd$layer]] <- TRUE
    r <- nd$nested
    if (is.null(r) || is.na(r)) next
    while (!is.na(g$nested[[r]]$parent)) r <- g$nested[[r]]$parent
    owners[nd$layer] <- list(g$nested[[r]]$model)
  }
  owners
}

#' Append model `inner` (one input, one output) to graph `g` (states, nodes, records) after
#' node `from`, as a Sequential model runs a model added to it; returns the new graph with
#' `out`, the node of the inner model's output
#' @noRd
append_model <- function(g, inner, from) {
  h <- model_graph(inner)
  if (length(h$inputs) != 1 || length(h$outputs) != 1) {
    rk_abort(sprintf("Model '%s' has %d inputs and %d outputs; a Sequential model takes models of one input and one output.",
                     inner$name, length(h$inputs), length(h$outputs)), "value")
  }
  keys <- vapply(g$states, function(s) s$key, "")
  layer_of <- vapply(h$states, function(s) {
    if (identical(s$spec$type, "input")) return(NA_integer_)
    i <- match(s$key, keys)
    if (is.na(i)) {
      g$states[[length(g$states) + 1L]] <<- s
      keys <<- c(keys, s$key)
      i <- length(g$states)
    }
    i
  }, 1L)
  top <- length(g$nested) + 1L
  base <- length(g$nested)
  g$nested[[top]] <- list(model = inner, parent = NA_integer_, inputs = from, outputs = NA_integer_)
  for (r in h$nested %||% list()) {
    g$nested[[length(g$nested) + 1L]] <- list(model = r$model, parent = if (is.na(r$parent)) top else base + 1L + r$parent,
                                              inputs = r$inputs, outputs = r$outputs, shift = TRUE)
  }
  node_of <- integer(length(h$nodes))
  node_of[h$inputs] <- from
  for (i in seq_along(h$nodes)) {
    if (i %in% h$inputs) next
    nd <- h$nodes[[i]]
    nd$layer <- layer_of[[nd$layer]]
    nd$inputs <- node_of[nd$inputs]
    nd$nested <- if (is.null(nd$nested) || is.na(nd$nested)) top else base + 1L + nd$nested
    g$nodes[[length(g$nodes) + 1L]] <- nd
    node_of[[i]] <- length(g$nodes)
  }
  for (k in seq_along(g$nested)) {
    if (isTRUE(g$nested[[k]]$shift)) {
      g$nested[[k]]$inputs <- node_of[g$nested[[k]]$inputs]
      g$nested[[k]]$outputs <- node_of[g$nested[[k]]$outputs]
      g$nested[[k]]$shift <- NULL
    }
  }
  g$nested[[top]]$outputs <- node_of[[h$outputs]]
  g$out <- node_of[[h$outputs]]
  g
}

#' The op a node belongs to when ordering a model's layers: its layer, or the model used as
#' a layer whose call it runs in
#' @noRd
op_key <- function(node) {
  r <- root_call(node)
  if (is.null(r)) node$state$key else model_key(r$model)
}

#' The name of an entry of `model$layers` (a layer or a model)
#' @noRd
entry_name <- function(e) if (inherits(e, "rkeras_model")) e$name else layer_state(e)$spec$name

#' The names of the layers an entry of `model$layers` stands for
#' @noRd
entry_layer_names <- function(e) {
  if (inherits(e, "rkeras_model")) vapply(model_states(e), function(s) s$spec$name, "") else entry_name(e)
}

#' Add model `inner` to Sequential model `object` as one layer, as Keras's
#' `model.add(base_model)`: its layers are shared with it
#' @noRd
add_nested_model <- function(object, inner, call = rlang::caller_env()) {
  check_model(object, call = call)
  if (!inherits(object, "rkeras_sequential")) {
    rk_abort("Models can only be added to a Sequential model; call the model on a tensor to use it in a functional model.",
             "value", call)
  }
  if (!has_graph(inner)) rk_abort(sprintf("Model '%s' has no layers to add.", inner$name), "value", call)
  if (identical(model_key(inner), model_key(object))) rk_abort("A model cannot be added to itself.", "value", call)
  entries <- seq_entries(object)
  taken <- c(vapply(Filter(function(e) inherits(e, "rkeras_model"), entries), function(m) m$name, ""),
             vapply(object$states, function(s) s$spec$name, ""))
  new_states <- model_states(inner)
  clash <- intersect(c(inner$name, vapply(new_states, function(s) s$spec$name, "")), taken)
  if (length(clash)) {
    rk_abort(sprintf("A layer named '%s' is already in the model; layer names must be unique.", clash[[1]]), "value", call)
  }
  input_shape <- object$input_shape
  if (!length(entries) && is.null(input_shape)) {
    # The outer model takes its input from the model added first, as in Keras.
    h <- model_graph(inner)
    input_shape <- h$states[[h$nodes[[h$inputs[[1]]]]$layer]]$spec$shape
  }
  extend_sequential(object, c(entries, list(inner)), input_shape, new_states, call)
}

#' Apply a model to tensors, as a layer: its layer graph is called on them with the same
#' layer objects, so the new model shares those layers' weights with it, and the call is
#' recorded. Applied to a Sequential model, the model is added to it as one layer.
#' @noRd
model_apply <- function(model, object, ..., training = NULL, call = rlang::caller_env()) {
  if (...length()) check_no_dots(..., fn = "a model called as a layer", call = call)
  # `training` (Keras's transfer-learning pattern, `base_model(x, training = FALSE)`) is kept
  # with every call of the model's layers, a call's own argument first (see layer_apply()).
  if (!is.null(training)) training <- check_flag(training, "training", call = call)
  if (inherits(object, "rkeras_model")) {
    if (!is.null(training)) {
      rk_abort("`training` is taken by a call on tensors, not when adding a model to a Sequential model.", "value", call)
    }
    return(add_nested_model(object, model, call))
  }
  tensors <- as_tensor_list(object, "object", call)
  g <- model_graph(model)
  if (length(tensors) != length(g$inputs)) {
    rk_abort(sprintf("Model '%s' takes %d inputs, got %d tensors.", model$name, length(g$inputs), length(tensors)),
             "value", call)
  }
  vals <- vector("list", length(g$nodes))
  vals[g$inputs] <- tensors
  # The call is recorded, and so are the calls of models used inside this one.
  top <- new_call_record(model, training = training)
  recs <- replay_records(g, top)
  for (i in seq_along(g$nodes)) {
    if (!is.null(vals[[i]])) next
    nd <- g$nodes[[i]]
    vals[i] <- list(replay_call(g$states[[nd$layer]], vals[nd$inputs], nd$take, nd$training %||% training, call = call))
    mark_call(vals[[i]], if (is.null(nd$nested) || is.na(nd$nested)) top else recs[[nd$nested]])
  }
  for (k in seq_along(recs)) {
    recs[[k]]$inputs <- vals[g$nested[[k]]$inputs]
    recs[[k]]$outputs <- vals[g$nested[[k]]$outputs]
  }
  top$inputs <- tensors
  outs <- vals[g$outputs]
  top$outputs <- outs
  if (length(outs) == 1) outs[[1]] else outs
}

#' A model's layers (without inputs), as layer states
#' @noRd
model_states <- function(model) {
  st <- if (inherits(model, "rkeras_functional")) model$graph$states else model$states
  Filter(function(s) !identical(s$spec$type, "input"), st)
}
