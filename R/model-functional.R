# The functional API: symbolic tensors, layer objects that are called on them, and
# keras_model() that turns the graph between inputs and outputs into a model. Shapes are computed by the engine as each layer is called, so a shape
# error is raised where the user calls the layer, naming the layer and the shapes.

#' Input to a functional model
#'
#' Creates a symbolic tensor: the start of a graph of layer calls that [keras_model()]
#' turns into a model.
#' @param shape Shape of one sample, without the batch dimension (e.g. `c(28, 28, 1)`).
#' @param batch_size,batch_shape `batch_shape` is `c(batch_size, shape)`; `NA` or `NULL`
#'   batch size only.
#' @param name Name of the input layer; default `input`, `input_1`, ...
#' @param dtype Only `"float32"` (the default) is supported.
#' @param sparse,tensor,ragged Not supported; must be `NULL` or `FALSE`.
#' @param ... Not used; an unknown argument is an error.
#' @returns A symbolic tensor of class `rkeras_tensor`.
#' @family model functions
#' @export
#' @examples
#' inputs <- layer_input(shape = 3)
#' outputs <- inputs %>% layer_dense(2)
#' model <- keras_model(inputs, outputs)
layer_input <- function(shape = NULL, batch_size = NULL, name = NULL, dtype = NULL,
                        sparse = NULL, tensor = NULL, ragged = NULL, batch_shape = NULL, ...) {
  check_no_dots(..., fn = "layer_input")
  check_unsupported(tensor = tensor)
  if (isTRUE(sparse) || isTRUE(ragged)) {
    rk_abort("`sparse` and `ragged` inputs are not supported by rkeras.", "unsupported")
  }
  check_input_dtype(dtype)
  if (!is.null(batch_shape) && !(is.numeric(batch_shape) || is.logical(batch_shape) || is.list(batch_shape))) {
    rk_abort(sprintf("`batch_shape` must be c(batch_size, shape), e.g. c(NA, 28, 28), not %s.", show_value(batch_shape)), "value")
  }
  if (is.null(shape) && !is.null(batch_shape)) {
    if (is.list(batch_shape)) batch_shape <- unlist(lapply(batch_shape, function(v) v %||% NA))
    shape <- batch_shape[-1]
  }
  if (is.null(shape)) rk_abort("`shape` must be given: the shape of one sample, e.g. c(28, 28, 1).", "value")
  shape <- check_shape(shape, "shape", allow_null = FALSE)
  name <- check_string(name, "name", allow_null = TRUE) %||% unique_name("input")
  state <- new_layer_state(list(type = "input", prefix = "input", name = name, shape = shape, class_name = "InputLayer"))
  new_tensor(state, list(), shape)
}

#' Create a functional model
#'
#' A model from the graph of layer calls between `inputs` (from [layer_input()]) and
#' `outputs`. Layers called more than once share their weights; a layer's output read by
#' several layers gets the sum of their gradients.
#' @param inputs An input tensor or a list of them.
#' @param outputs An output tensor or a list of them.
#' @param name Model name; default `model`, `model_1`, ...
#' @param ... Not used; an unknown argument is an error.
#' @returns A model of class `rkeras_functional`.
#' @family model functions
#' @export
#' @examples
#' a <- layer_input(shape = 3)
#' b <- layer_input(shape = 2)
#' out <- layer_concatenate(list(a, b)) %>% layer_dense(1)
#' model <- keras_model(list(a, b), out)
#' model
keras_model <- function(inputs, outputs = NULL, name = NULL, ...) {
  check_no_dots(..., fn = "keras_model")
  name <- check_string(name, "name", allow_null = TRUE) %||% unique_name("model")
  ins <- as_tensor_list(inputs, "inputs")
  outs <- as_tensor_list(outputs, "outputs")
  for (i in seq_along(ins)) {
    if (!identical(ins[[i]]$state$spec$type, "input")) {
      rk_abort(sprintf("`inputs[[%d]]` must come from layer_input(), not from layer '%s'.",
                       i, ins[[i]]$state$spec$name), "value")
    }
  }
  graph <- collect_graph(ins, outs)
  model <- new_model(name, c("rkeras_functional", "rkeras_model"))
  model$graph_mode <- TRUE
  model$graph <- graph
  model$inputs <- ins
  model$outputs <- outs
  # The names of the lists the model was built from also name its data.
  keys <- function(x) if (is.list(x) && !inherits(x, "rkeras_tensor") && !is.null(names(x))) names(x)
  model$input_keys <- keys(inputs)
  model$output_keys <- keys(outputs)
  send_graph(model)
  link_layers(model, model_states(model))
  model
}

# ---- symbolic tensors and layer objects --------------------------------------------------

new_layer_state <- function(spec) {
  state <- new.env(parent = emptyenv())
  state$spec <- spec
  state$key <- unique_name("layer_state")
  state
}

new_tensor <- function(state, inputs, shape, training = NULL) {
  node <- new.env(parent = emptyenv())
  node$state <- state
  node$inputs <- inputs
  node$training <- training
  node$key <- unique_name("node")
  structure(list(state = state, node = node, shape = as.integer(shape)), class = "rkeras_tensor")
}

#' @export
print.rkeras_tensor <- function(x, ...) {
  cat(sprintf("<rkeras tensor shape=(None, %s) from layer '%s'>\n",
              paste(ifelse(is.na(x$shape), "None", x$shape), collapse = ", "), x$state$spec$name))
  invisible(x)
}

#' @export
dim.rkeras_tensor <- function(x) c(NA_integer_, x$shape)

is_tensor_arg <- function(x) {
  inherits(x, "rkeras_tensor") ||
    (is.list(x) && !inherits(x, "rkeras_model") && length(x) > 0 &&
       all(vapply(x, inherits, logical(1), "rkeras_tensor")))
}

as_tensor_list <- function(x, arg, call = rlang::caller_env()) {
  if (inherits(x, "rkeras_tensor")) return(list(x))
  if (!is_tensor_arg(x)) {
    rk_abort(sprintf("`%s` must be a tensor (from layer_input() or a layer call) or a list of tensors, not %s.",
                     arg, show_value(x)), "type", call)
  }
  unname(x)
}

#' A layer object: a function that applies the layer to a model or tensor, with the layer's
#' state (spec, name once called, the model it belongs to) in an environment.
#' @noRd
new_layer_object <- function(state) {
  fn <- function(object, ...) layer_apply(state, object, ...)
  # A class of the layer's own first (`class(layer_batch_normalization())[1]` tells layers
  # apart, as Keras for R's freeze_weights() example uses it), then Keras's.
  structure(fn, class = c(paste0("rkeras_", state$spec$class_name %||% "Layer"), "rkeras_layer",
                          "keras.src.layers.layer.Layer", "keras.engine.base_layer.Layer", "function"),
            state = state)
}

layer_state <- function(layer) attr(layer, "state")

#' Apply a layer (state) to a model, a tensor or a list of tensors
#' @noRd
layer_apply <- function(state, object, ..., initial_state = NULL, training = NULL, call = rlang::caller_env()) {
  if (state$spec$class_name %in% attention_classes) {
    return(attention_apply(state, object, ..., initial_state = initial_state, training = training, call = call))
  }
  if (...length()) check_no_dots(..., fn = "a layer")
  # Keras's `training` argument of a call is kept with the call (Keras's JSON writes it). As
  # in Keras 3, whose fit(), evaluate() and predict() pass their own mode to every call of a
  # functional model, it does not change how the call runs there.
  if (!is.null(training)) training <- check_flag(training, "training", call = call)
  if (!is.null(initial_state)) {
    if (!state$spec$class_name %in% recurrent_classes) {
      rk_abort(sprintf("`initial_state` is taken by recurrent layers (LSTM, GRU, SimpleRNN), not by a %s layer.",
                       state$spec$class_name), "value", call)
    }
    if (!inherits(object, "rkeras_tensor")) {
      rk_abort("`initial_state` needs the layer to be called on one tensor: layer(x, initial_state = states).",
               "value", call)
    }
  }
  if (is.null(state$spec$config) && (!is.null(state$spec$fn) || !is.null(state$custom))) {
    shapes <- lambda_input_shapes(state, object, call)
    if (is.null(state$custom)) trace_lambda(state, shapes, call) else trace_custom(state, shapes, call)
  }
  if (inherits(object, "rkeras_model")) {
    if (!is.null(training)) {
      rk_abort("`training` is taken by a call on tensors, not when adding a layer to a Sequential model.", "value", call)
    }
    return(add_layer_state(object, state, call))
  }
  if ((is.numeric(object) || is.logical(object)) && is.null(initial_state)) {
    return(call_on_array(state, object, isTRUE(training), call))
  }
  tensors <- as_tensor_list(object, "object", call)
  if (!is.null(initial_state)) tensors <- c(tensors, as_tensor_list(initial_state, "initial_state", call))
  call_on_tensors(state, tensors, training, call)
}

#' A layer called on an array (Keras's eager call): its output, computed now by a copy of the
#' layer with its weights in a one-layer model. A layer without weights yet keeps the ones
#' this call gave it, as Keras builds a layer on its first call.
#' @noRd
call_on_array <- function(state, x, training, call = rlang::caller_env()) {
  if (is.null(dim(x))) dim(x) <- c(1L, length(x))
  if (length(dim(x)) < 2) {
    rk_abort("A layer called on an array takes a batch: a matrix or array whose first axis is the samples.", "shape", call)
  }
  if (training) {
    rk_abort("`training = TRUE` is not supported when calling a layer on an array (it computes in inference mode).",
             "unsupported", call)
  }
  spec <- state$spec
  own <- if (!is.null(state$model)) layer_get_weights(new_layer_object(state)) else spec$weights
  spec$name <- unique_name("eager")
  spec$weights <- if (length(own)) own
  spec$input_shape <- NULL
  copy <- new_layer_state(spec)
  model <- keras_model_sequential(input_shape = dim(x)[-1])
  add_layer_state(model, copy, call)
  out <- predict(model, x, verbose = 0)
  if (is.null(state$model) && is.null(spec$weights) && length(w <- get_weights(model))) state$spec$weights <- w
  out
}

#' Call layer state `state` on a list of tensors: a new node of the graph (or, for a layer
#' that returns several tensors, a node and one part node per output)
#' @noRd
call_on_tensors <- function(state, tensors, training = NULL, call = rlang::caller_env()) {
  spec <- state$spec
  if (is.null(spec$name)) spec$name <- unique_name(spec$prefix)
  state$spec <- spec
  shapes <- lapply(tensors, `[[`, "shape")
  layer <- graph_layer_spec(spec)
  calls <- c(state$calls, list(lapply(shapes, as.double)))
  res <- rk_layer_output_shape(to_json(layer[c("class_name", "config")]), spec$name, calls)
  if (!is.null(res$err) && identical(res$err$kind, "shape")) {
    from <- vapply(tensors, function(t) sprintf("'%s' (None, %s)", t$state$spec$name,
                                                 paste(ifelse(is.na(t$shape), "None", t$shape), collapse = ", ")), "")
    res$err$message <- sprintf("%s; input%s from layer%s %s", res$err$message, if (length(from) > 1) "s" else "",
                               if (length(from) > 1) "s" else "", paste(from, collapse = ", "))
  }
  out <- rk_call(res, call = call)
  state$calls <- calls
  if (!is.list(out)) return(new_tensor(state, tensors, out, training))
  # Several outputs (a recurrent layer's output and states): the call's node holds them
  # side by side, and each tensor returned is a part node picking one out.
  whole <- new_tensor(state, tensors, sum(vapply(out, prod, 1)), training)
  lapply(seq_along(out), function(k) {
    part <- new_tensor(state, list(whole), out[[k]])
    part$node$take <- k - 1L
    part
  })
}

recurrent_classes <- c("LSTM", "GRU", "SimpleRNN")

#' Call layer state `st` on the values `ins` of a node's inputs, replaying a graph: a part
#' node (`take`, 0-based) picks its output from the list its call returned; a recurrent
#' call reads its initial states after its sequence
#' @noRd
replay_call <- function(st, ins, take = NULL, training = NULL, call = rlang::caller_env()) {
  if (!is.null(take)) return(ins[[1]][[take + 1L]])
  if (st$spec$class_name %in% attention_classes) return(call_on_tensors(st, ins, training, call))
  if (length(ins) > 1 && st$spec$class_name %in% recurrent_classes) {
    return(layer_apply(st, ins[[1]], initial_state = ins[-1], training = training, call = call))
  }
  layer_apply(st, if (length(ins) == 1) ins[[1]] else ins, training = training, call = call)
}

#' `c()` of tensors is a list of them (`c(state_h, state_c)`), as in Keras for R
#' @export
#' @noRd
c.rkeras_tensor <- function(...) {
  items <- list(...)
  unlist(lapply(items, function(x) if (inherits(x, "rkeras_tensor")) list(x) else x), recursive = FALSE)
}

#' Add a layer to a model (or return the layer object when there is none, or call it on
#' tensors)
#' @noRd
compose_layer <- function(object, spec, call = rlang::caller_env()) {
  state <- new_layer_state(spec)
  if (missing(object) || is.null(object)) return(new_layer_object(state))
  layer_apply(state, object, call = call)
}

#' Unknown arguments are errors, as Python raises for an unknown keyword
#' @noRd
check_no_dots <- function(..., fn, call = rlang::caller_env()) {
  n <- ...length()
  if (n == 0) return(invisible())
  nms <- names(list(...)) %||% rep("", n)
  shown <- ifelse(nzchar(nms), paste0("`", nms, "`"), "an unnamed argument")
  rk_abort(sprintf("%s got %s it does not take.", fn, paste(unique(shown), collapse = ", ")),
           "value", call)
}

# ---- graphs ------------------------------------------------------------------------------

#' Walk back from the outputs as Keras's `map_graph()` does: nodes in topological order,
#' and the layers they call in Keras's order (by depth from the outputs, deepest first, then
#' in the order a walk from the outputs meets them), which fixes `model$layers` and the order
#' of `get_weights()`. Checks that every output depends on the given inputs only and that
#' every input is used.
#' @noRd
collect_graph <- function(inputs, outputs, call = rlang::caller_env()) {
  visited <- list()
  finished <- new.env(parent = emptyenv())
  in_progress <- new.env(parent = emptyenv())
  op_index <- new.env(parent = emptyenv())
  ops <- list()
  input_keys <- vapply(inputs, function(t) t$node$key, "")
  visit <- function(t) {
    node <- t$node
    k <- node$key
    if (isTRUE(finished[[k]])) return(invisible())
    if (isTRUE(in_progress[[k]])) rk_abort("The layer graph has a cycle.", "value", call)
    # An op: a layer, or a model used as a layer (all of its calls' layers).
    sk <- op_key(node)
    if (is.null(op_index[[sk]])) {
      op_index[[sk]] <- length(ops)
      ops[[length(ops) + 1L]] <<- list(key = sk, model = root_call(node)$model, states = list())
    }
    if (!node$state$key %in% vapply(ops[[op_index[[sk]] + 1L]]$states, function(s) s$key, "")) {
      ops[[op_index[[sk]] + 1L]]$states[[length(ops[[op_index[[sk]] + 1L]]$states) + 1L]] <<- node$state
    }
    in_progress[[k]] <- TRUE
    if (!k %in% input_keys) for (ti in node$inputs) visit(ti)
    finished[[k]] <- TRUE
    in_progress[[k]] <- FALSE
    visited[[length(visited) + 1L]] <<- node
  }
  for (o in outputs) visit(o)
  # A model used as a layer runs whole, as in Keras: every output of its call is computed.
  repeat {
    n0 <- length(visited)
    for (nd in visited) for (o in root_call(nd)$outputs) visit(o)
    if (length(visited) == n0) break
  }
  for (i in seq_along(inputs)) {
    if (!isTRUE(finished[[input_keys[[i]]]])) {
      rk_abort(sprintf("`inputs[[%d]]` ('%s') is not used by any of the outputs.", i,
                       inputs[[i]]$state$spec$name), "value", call)
    }
  }
  for (nd in visited) {
    if (identical(nd$state$spec$type, "input") && !nd$key %in% input_keys) {
      rk_abort(sprintf("The outputs depend on input '%s', which is not in `inputs`.", nd$state$spec$name),
               "value", call)
    }
  }
  node_depth <- new.env(parent = emptyenv())
  op_depth <- new.env(parent = emptyenv())
  for (nd in rev(visited)) {
    ok <- op_key(nd)
    d <- max(node_depth[[nd$key]] %||% 0, op_depth[[ok]] %||% 0)
    op_depth[[ok]] <- d
    node_depth[[nd$key]] <- d
    for (ti in nd$inputs) {
      # A part node and the call it picks from are one node in Keras (a call's outputs), and
      # so are the nodes of one call of a model used as a layer.
      same <- !is.null(nd$take) || (!is.null(root_call(nd)) && identical(root_call(nd), root_call(ti$node)))
      node_depth[[ti$node$key]] <- max(d + !same, node_depth[[ti$node$key]] %||% 0)
    }
  }
  okeys <- vapply(ops, function(o) o$key, "")
  depth <- vapply(okeys, function(k) op_depth[[k]], 1)
  index <- vapply(okeys, function(k) op_index[[k]], 1)
  states <- list()
  for (op in ops[order(-depth, index)]) {
    st <- op$states
    if (!is.null(op$model)) {
      # A model's layers in its own order.
      own <- vapply(model_graph(op$model)$states, function(s) s$key, "")
      st <- st[order(match(vapply(st, function(s) s$key, ""), own))]
    }
    keys <- vapply(states, function(s) s$key, "")
    states <- c(states, Filter(function(s) !s$key %in% keys, st))
  }
  names_seen <- vapply(states, function(s) s$spec$name, "")
  dup <- names_seen[duplicated(names_seen)]
  if (length(dup)) rk_abort(sprintf("Two different layers are named '%s'; layer names must be unique.", dup[[1]]), "value", call)
  keys <- vapply(states, function(s) s$key, "")
  node_keys <- vapply(visited, function(n) n$key, "")
  calls <- collect_records(visited, node_keys)
  nodes <- Map(function(n, r) {
    c(list(layer = match(n$state$key, keys), inputs = match(vapply(n$inputs, function(t) t$node$key, ""), node_keys)),
      if (!is.null(n$take)) list(take = n$take), if (!is.null(n$training)) list(training = n$training),
      if (!is.na(r)) list(nested = r))
  }, visited, calls$node_record)
  list(states = states, nodes = unname(nodes), inputs = match(input_keys, node_keys),
       outputs = match(vapply(outputs, function(t) t$node$key, ""), node_keys), nested = calls$records,
       keys = node_keys)
}

#' The layer description the engine reads: name, Keras's class name and config, whether
#' training changes it, and the seed of its initial weights
#' @noRd
graph_layer_spec <- function(spec, trainable = TRUE) {
  config <- if (identical(spec$type, "input")) {
    list(shape = if (!is.null(spec$shape)) I(spec$shape))
  } else spec$config %||% structure(list(), names = character())
  list(name = spec$name, class_name = spec$class_name, config = config, trainable = isTRUE(trainable),
       seed = spec$seed)
}

#' Send a model's graph to the engine (a Sequential model sends the chain of its layers)
#' @noRd
send_graph <- function(model, call = rlang::caller_env()) {
  desc <- graph_desc(model, model$graph)
  rk_call(rk_model_set_graph(model$ptr, to_json(desc)), call = call)
  model_changed(model)
  if (!is.null(model$compiled)) recompile(model, call)
  invisible(model)
}

#' The description of graph `g` the engine reads (0-based node indices)
#' @noRd
graph_desc <- function(model, g, configs = FALSE) {
  trainable <- get0("trainable_layers", envir = model_env(model), inherits = FALSE) %||% list()
  layers <- lapply(g$states, function(s) graph_layer_spec(s$spec, trainable[[s$spec$name]] %||% s$spec$trainable %||% TRUE))
  nodes <- lapply(g$nodes, function(n) c(list(layer = n$layer - 1L, inputs = I(as.integer(n$inputs) - 1L)),
                                          if (!is.null(n$take)) list(take = n$take),
                                          if (!is.null(n$training)) list(training = n$training),
                                          if (!is.null(n$nested) && !is.na(n$nested)) list(nested = n$nested - 1L)))
  list(layers = layers, nodes = nodes, inputs = I(g$inputs - 1L), outputs = I(g$outputs - 1L),
       nested = nested_desc(g, configs))
}

#' What the engine says of a model's graph (layers, shapes, weights), cached until the
#' model changes (see `model_changed()`)
#' @noRd
graph_info <- function(model) cached_info(model, "graph_info", rk_graph_info)

#' Which executor runs the model's steps: `"dense"` (the fused plan the engine compiles from
#' a graph that is a dense chain) or `"graph"`. `plan = "graph"` keeps the model on the
#' graph's executor, `plan = "auto"` lets the engine choose again (tests compare the two).
#' @noRd
model_plan <- function(model, plan = NULL) {
  if (!is.null(plan)) rk_call(rk_model_set(model_ptr(model), "dense_plan", as.double(plan != "graph")))
  if (rk_call(rk_model_get(model_ptr(model), "dense_plan")) == 1) "dense" else "graph"
}

#' Whether the engine holds the model's graph (a Sequential model has none before its
#' first layer)
#' @noRd
has_graph <- function(model) isTRUE(get0("graph_mode", envir = model_env(model), inherits = FALSE))

#' Names of the model's output layers, as Keras prefixes their logs
#' @noRd
output_names <- function(model) {
  if (!has_graph(model)) return(utils::tail(vapply(model$specs, `[[`, "", "name"), 1))
  g <- model$graph
  vapply(g$outputs, function(i) g$states[[g$nodes[[i]]$layer]]$spec$name, "")
}

input_names <- function(model) {
  g <- model$graph
  vapply(g$inputs, function(i) g$states[[g$nodes[[i]]$layer]]$spec$name, "")
}
