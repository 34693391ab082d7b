# Models' layers as objects: model$layers, get_layer(), a layer's name, shapes, weights and
# trainable flag, freezing, popping, and cloning functional models.

#' @export
`$.rkeras_model` <- function(x, name) {
  switch(name,
    ptr = model_ptr(x),
    layers = model_entries(x),
    built = has_graph(x) && isTRUE(graph_info(x)$built),
    optimizer = bound_optimizer(x),
    loss = get0("compiled", envir = model_env(x))$loss,
    weights = get_weights(x),
    trainable_weights = get_weights(x, trainable = TRUE),
    non_trainable_weights = get_weights(x, trainable = FALSE),
    trainable = !identical(get0("model_trainable", envir = model_env(x), inherits = FALSE), FALSE),
    input = model_io(x, "inputs", single = TRUE),
    output = model_io(x, "outputs", single = TRUE),
    inputs = model_io(x, "inputs"),
    outputs = model_io(x, "outputs"),
    input_shape = if (inherits(x, "rkeras_functional")) io_shape(graph_info(x)$input_declared) else get0(name, envir = model_env(x), inherits = FALSE),
    output_shape = if (has_graph(x)) io_shape(graph_info(x)$output_open) else NULL,
    get0(name, envir = model_env(x), inherits = FALSE)
  )
}

#' @export
`$<-.rkeras_model` <- function(x, name, value) {
  # rkeras's own code keeps the model's state here; users set only what Keras lets them.
  if (identical(topenv(parent.frame()), topenv())) {
    assign(name, value, envir = model_env(x))
    return(x)
  }
  switch(name,
    trainable = set_model_trainable(x, check_flag(value, "trainable")),
    stop_training = assign(name, check_flag(value, "stop_training"), envir = model_env(x)),
    name = assign(name, check_string(value, "name"), envir = model_env(x)),
    # `model$optimizer$learning_rate <- v` set the rate through the optimizer already.
    optimizer = if (!identical(attr(value, "rkeras_model"), x)) {
      rk_abort("`model$optimizer` cannot be replaced; call compile() with the new optimizer.", "value")
    },
    rk_abort(sprintf("`model$%s` cannot be set; a model's settable fields are `trainable`, `stop_training` and `name`.",
                     name), "value")
  )
  x
}

#' @export
`[[.rkeras_model` <- function(x, i) `$.rkeras_model`(x, i)

#' `model$trainable <- value`: every layer of the model, and every model whose layers all
#' belong to it (a model used inside it), follow, as Keras sets `trainable` recursively
#' @noRd
set_model_trainable <- function(model, value) {
  assign("model_trainable", value, envir = model_env(model))
  states <- model_states(model)
  keys <- vapply(states, function(s) s$key, "")
  for (st in states) {
    for (m in st$models %||% list()) {
      if (!identical(m, model) && !rk_ptr_dead(m$ptr) &&
          all(vapply(model_states(m), function(s) s$key %in% keys, TRUE))) {
        assign("model_trainable", value, envir = model_env(m))
      }
    }
  }
  if (length(states)) change_trainable(model, vapply(states, function(s) s$spec$name, ""), value)
  invisible(model)
}

io_shape <- function(shapes) {
  s <- lapply(shapes, function(d) if (is.null(d)) NULL else c(list(NULL), lapply(d, function(v) if (is.na(v)) NULL else v)))
  if (length(s) == 1) s[[1]] else s
}

model_io <- function(model, which, single = FALSE) {
  t <- get0(which, envir = model_env(model), inherits = FALSE)
  if (is.null(t)) {
    rk_abort(sprintf("`model$%s` exists for functional models (keras_model()); this is a Sequential model.",
                     which), "value")
  }
  if (single) {
    if (length(t) != 1) rk_abort(sprintf("The model has %d %s; use `model$%s`.", length(t), which, which), "value")
    return(t[[1]])
  }
  t
}


#' Retrieve a layer of a model
#'
#' @param object A model.
#' @param name Layer name.
#' @param index Layer position (1-based, as in Keras for R), counted over `model$layers`.
#' @returns A layer object: `$name`, `$output_shape`, `$get_weights()`, `$trainable`.
#' @family model functions
#' @export
#' @examples
#' model <- keras_model_sequential() %>% layer_dense(2, input_shape = 3, name = "d")
#' get_layer(model, "d")$output_shape
get_layer <- function(object, name = NULL, index = NULL) {
  check_model(object)
  layers <- model_entries(object)
  names <- vapply(layers, entry_name, "")
  if (!is.null(name)) {
    name <- check_string(name, "name")
    i <- match(name, names)
    if (is.na(i)) rk_abort(sprintf("No layer named '%s'; the model has %s.", name, paste0("'", names, "'", collapse = ", ")), "value")
    return(layers[[i]])
  }
  if (is.null(index)) rk_abort("Give `name` or `index`.", "value")
  index <- check_count(index, "index", max = max(1, length(layers)))
  if (index > length(layers)) rk_abort(sprintf("`index` must be at most %d, the number of layers.", length(layers)), "value")
  layers[[index]]
}

#' Remove the last layer of a Sequential model
#' @param object A Sequential model.
#' @returns The model, invisibly.
#' @family model functions
#' @export
#' @examples
#' model <- keras_model_sequential() %>% layer_dense(4, input_shape = 3) %>% layer_dense(1)
#' pop_layer(model)
pop_layer <- function(object) {
  check_model(object)
  if (!inherits(object, "rkeras_sequential")) rk_abort("pop_layer() needs a Sequential model.", "value")
  entries <- seq_entries(object)
  n <- length(entries)
  if (n == 0) rk_abort("The model has no layers to remove.", "value")
  built <- isTRUE(object$built)
  weights <- if (built) get_weights(object)
  shape <- if (built) graph_info(object)$input_shapes[[1]]
  new <- keras_model_sequential(name = object$name)
  new$input_shape <- object$input_shape
  for (e in entries[-n]) {
    # A model added as a layer stays one, sharing its layers.
    if (inherits(e, "rkeras_model")) add_nested_model(new, e) else add_layer_state(new, new_layer_state(e$spec))
  }
  if (built && n > 1 && !isTRUE(new$built)) build_first(new, shape)
  for (k in c("ptr", "specs", "states", "entries", "graph", "graph_mode", "input_state", "input_shape", "graph_info")) {
    assign(k, get0(k, envir = model_env(new), inherits = FALSE), envir = model_env(object))
  }
  for (st in object$states) {
    st$model <- object
    keep <- Filter(function(m) !identical(m, new) && !identical(m, object) && !rk_ptr_dead(m$ptr), st$models %||% list())
    st$models <- c(keep, list(object))
  }
  if (length(object$trainable_layers)) {
    flags <- object$trainable_layers[intersect(names(object$trainable_layers), vapply(object$specs, `[[`, "", "name"))]
    object$trainable_layers <- NULL
    for (nm in names(flags)) change_trainable(object, nm, flags[[nm]])
  }
  if (built && n > 1) {
    k <- length(get_weights(object))
    if (k) set_weights(object, weights[seq_len(k)])
  }
  if (!is.null(object$compiled)) recompile(object)
  invisible(object)
}

build_first <- function(model, shape) {
  rk_call(rk_model_build_shapes(model$ptr, list(as.double(shape))))
  model_changed(model)
}

#' Freeze and unfreeze weights
#'
#' Frozen layers keep their weights under [fit()]; as in Keras, recompile after changing
#' which layers are frozen (rkeras applies the change at once). As in Keras for R, the
#' change is global: `freeze_weights(model, from = 3)` freezes layers 3 to the last and
#' unfreezes the ones before; without `from`, `to` and `which` every layer is frozen.
#' @param object A model, or a layer.
#' @param from,to First and last layer to change (both included): a name, a layer object, or
#'   a position (1-based; negative counts from the end, `-1` being the last layer).
#' @param which The layers to change, every other layer getting the opposite: names,
#'   positions, layer objects, a logical vector over `object$layers`, or a function (or
#'   formula) of a layer returning `TRUE` or `FALSE`.
#' @returns The model, invisibly.
#' @family model functions
#' @export
#' @examples
#' model <- keras_model_sequential() %>% layer_dense(4, input_shape = 3) %>% layer_dense(1)
#' freeze_weights(model, to = 1)
#' freeze_weights(model, from = -1)
#' length(model$trainable_weights)
freeze_weights <- function(object, from = NULL, to = NULL, which = NULL) {
  set_trainable(object, from, to, which, FALSE)
}

#' @rdname freeze_weights
#' @export
unfreeze_weights <- function(object, from = NULL, to = NULL, which = NULL) {
  set_trainable(object, from, to, which, TRUE)
}

set_trainable <- function(object, from, to, which, value, call = rlang::caller_env()) {
  if (inherits(object, "rkeras_layer")) {
    if (!is.null(from) || !is.null(to) || !is.null(which)) {
      rk_abort("`from`, `to` and `which` select layers of a model; give a model, or no selection for a layer.",
               "value", call)
    }
    object$trainable <- value
    return(invisible(object))
  }
  check_model(object, call = call)
  if (!is.null(which) && (!is.null(from) || !is.null(to))) {
    rk_abort("Give either `which` or `from`/`to`, not both.", "value", call)
  }
  layers <- model_entries(object)
  names <- vapply(layers, entry_name, "")
  n <- length(names)
  pos <- function(x, arg, default) {
    if (is.null(x)) return(default)
    if (inherits(x, "rkeras_layer") || inherits(x, "rkeras_model")) x <- entry_name(x)
    if (is.character(x)) {
      x <- check_string(x, arg, call = call)
      i <- match(x, names)
      if (is.na(i)) rk_abort(sprintf("`%s` names no layer of the model: '%s'.", arg, x), "value", call)
      return(i)
    }
    if (!is.numeric(x) || length(x) != 1 || is.na(x) || x != round(x) || x == 0 || abs(x) > n) {
      rk_abort(sprintf("`%s` must be a layer name, a layer, or a position from 1 to %d (or -1 to -%d from the end), not %s.",
                       arg, n, n, show_value(x)), "value", call)
    }
    as.integer(if (x < 0) n + x + 1 else x)
  }
  if (is.null(from) && is.null(to) && is.null(which)) return(set_model_trainable(object, value))
  chosen <- if (!is.null(which)) {
    which_layers(which, layers, names, call)
  } else {
    i <- pos(from, "from", 1L)
    j <- pos(to, "to", n)
    seq_len(n) >= i & seq_len(n) <= j
  }
  # Keras for R's rule: the chosen layers get `value`, every other layer the opposite.
  assign("model_trainable", TRUE, envir = model_env(object))
  # A model used as a layer is chosen, or not, with all of its layers.
  for (k in seq_len(n)) {
    if (inherits(layers[[k]], "rkeras_model")) assign("model_trainable", chosen[[k]] == value, envir = model_env(layers[[k]]))
  }
  expand <- function(sel) unlist(lapply(layers[sel], entry_layer_names))
  if (any(chosen)) change_trainable(object, expand(chosen), value, call)
  if (any(!chosen)) change_trainable(object, expand(!chosen), !value, call)
  invisible(object)
}

#' `which` of freeze_weights(), as a logical vector over the model's layers
#' @noRd
which_layers <- function(which, layers, names, call) {
  n <- length(names)
  if (inherits(which, "formula")) which <- rlang::as_function(which)
  if (is.function(which)) {
    which <- vapply(layers, function(l) isTRUE(which(l)), TRUE)
  }
  if (inherits(which, "rkeras_layer")) which <- list(which)
  if (is.list(which)) {
    which <- vapply(which, function(l) {
      if (!inherits(l, "rkeras_layer") && !inherits(l, "rkeras_model")) rk_abort("`which`, as a list, must hold layers.", "type", call)
      entry_name(l)
    }, "")
  }
  if (is.logical(which)) {
    if (length(which) != n || anyNA(which)) {
      rk_abort(sprintf("`which`, as a logical vector, must have one TRUE or FALSE per layer (%d).", n), "value", call)
    }
    return(which)
  }
  if (is.character(which)) {
    bad <- setdiff(which, names)
    if (length(bad)) rk_abort(sprintf("`which` names no layer of the model: '%s'.", bad[[1]]), "value", call)
    return(names %in% which)
  }
  if (is.numeric(which) && !anyNA(which) && all(which == round(which)) && all(which != 0) && all(abs(which) <= n)) {
    idx <- ifelse(which < 0, n + which + 1, which)
    return(seq_len(n) %in% idx)
  }
  rk_abort(sprintf("`which` must be layer names, positions, layers, a logical vector or a function, not %s.",
                   show_value(which)), "value", call)
}

#' Make the layers named `names` of `model` trainable or frozen. Trainability belongs to the
#' layer, as in Keras: every model that holds one of these layers sees the change.
#' @noRd
change_trainable <- function(model, names, value, call = rlang::caller_env()) {
  states <- Filter(function(s) s$spec$name %in% names, model_states(model))
  models <- list(model)
  for (st in states) {
    st$spec$trainable <- value
    for (m in st$models %||% list()) {
      if (!rk_ptr_dead(m$ptr) && !any(vapply(models, identical, TRUE, m))) models <- c(models, list(m))
    }
  }
  for (m in models) {
    held <- intersect(names, vapply(model_states(m), function(s) s$spec$name, ""))
    if (length(held)) set_layer_flags(m, held, value, call)
  }
  invisible(model)
}

#' Record the flags in one model and tell its engine
#' @noRd
set_layer_flags <- function(model, names, value, call = rlang::caller_env()) {
  flags <- model$trainable_layers %||% list()
  for (n in names) flags[[n]] <- value
  model$trainable_layers <- flags
  if (length(model$specs)) {
    model$specs <- lapply(model$specs, function(sp) { if (sp$name %in% names) sp$trainable <- value; sp })
  }
  if (!has_graph(model)) return(invisible(model))
  rk_call(rk_graph_set_trainable(model$ptr, names, value), call = call)
  model_changed(model)
  invisible(model)
}

# ---- layer objects -------------------------------------------------------------------------

#' @export
`$.rkeras_layer` <- function(x, name) {
  state <- layer_state(x)
  spec <- state$spec
  switch(name,
    name = spec$name,
    trainable = !identical(spec$trainable, FALSE),
    weights = layer_get_weights(x),
    trainable_weights = layer_get_weights(x, trainable = TRUE),
    non_trainable_weights = layer_get_weights(x, trainable = FALSE),
    output_shape = layer_output_shape(state),
    get_weights = function() layer_get_weights(x),
    set_weights = function(weights) layer_set_weights(x, weights),
    get_config = function() {
      cfg <- spec$config
      if (inherits(cfg, "rkeras_json")) cfg <- rk_call(rk_json_parse(cfg))
      structure(c(list(name = spec$name, trainable = !identical(spec$trainable, FALSE)), cfg),
                keras_class = spec$class_name, rkeras_type = spec$type)
    },
    count_params = function() layer_count_params(x),
    layer_weight_by_name(x, name) %||% spec[[name]]
  )
}

#' A layer's weight by its short name (`layer$kernel`, a normalization layer's `$mean`), or NULL
#' @noRd
layer_weight_by_name <- function(layer, name) {
  state <- layer_state(layer)
  if (!is.null(state$model)) {
    w <- layer_weight_index(layer)
    i <- match(name, sub("^.*/", "", weight_names(w$model)[w$index]))
    if (!is.na(i)) return(get_weights(w$model)[[w$index[[i]]]])
  } else if (identical(state$spec$class_name, "Normalization") && length(state$spec$weights)) {
    i <- match(name, c("mean", "variance", "count"))
    if (!is.na(i)) return(state$spec$weights[[i]])
  }
  NULL
}

#' @export
`$<-.rkeras_layer` <- function(x, name, value) {
  if (!identical(name, "trainable")) rk_abort(sprintf("Only `trainable` can be set on a layer, not `%s`.", name), "value")
  state <- layer_state(x)
  value <- check_flag(value, "trainable")
  if (is.null(state$model)) {
    # Not in a model yet: the layer keeps the flag and brings it to the models it joins.
    state$spec$trainable <- value
  } else {
    change_trainable(state$model, state$spec$name, value)
  }
  x
}

#' @export
print.rkeras_layer <- function(x, ...) {
  spec <- layer_state(x)$spec
  cat("<rkeras layer: ", spec$type, if (!is.null(spec$name)) paste0(" '", spec$name, "'"), ">\n", sep = "")
  invisible(x)
}

layer_output_shape <- function(state) {
  model <- state$model
  if (is.null(model)) return(NULL)
  info <- graph_info(model)
  c(list(NULL), as.list(info$dims[[match(state$spec$name, info$name)]]))
}

#' Names of a model's weights in `get_weights()` order (`dense_1/kernel`)
#' @noRd
weight_names <- function(model) {
  if (has_graph(model)) as.character(graph_info(model)$weight_names) else character()
}

#' Whether the optimizer updates each weight of `model`, in `get_weights()` order (frozen
#' layers' weights and batch normalization's moving statistics are not)
#' @noRd
weight_trainable <- function(model) {
  if (has_graph(model)) as.logical(graph_info(model)$weight_trainable) else logical()
}

layer_weight_index <- function(layer, call = rlang::caller_env()) {
  state <- layer_state(layer)
  model <- state$model
  if (is.null(model)) rk_abort("The layer is not part of a model yet, so it has no weights.", "state", call)
  list(model = model, index = which(startsWith(weight_names(model), paste0(state$spec$name, "/"))))
}

#' A layer's number of weights, from its model's table (without copying the weights)
#' @noRd
layer_count_params <- function(layer) {
  state <- layer_state(layer)
  if (is.null(state$model)) return(0)
  info <- graph_info(state$model)
  i <- match(state$spec$name, info$name)
  if (is.na(i)) length(unlist(layer_get_weights(layer))) else info$params[[i]]
}

layer_get_weights <- function(layer, trainable = NA) {
  state <- layer_state(layer)
  if (is.null(state$model)) return(list())
  w <- layer_weight_index(layer)
  keep <- w$index
  if (!is.na(trainable)) keep <- keep[weight_trainable(w$model)[keep] == trainable]
  get_weights(w$model)[keep]
}

layer_set_weights <- function(layer, weights) {
  w <- layer_weight_index(layer)
  all <- get_weights(w$model)
  if (!is.list(weights) || length(weights) != length(w$index)) {
    rk_abort(sprintf("`weights` must be a list of %d arrays for layer '%s'.", length(w$index), layer_state(layer)$spec$name), "shape")
  }
  all[w$index] <- weights
  set_weights(w$model, all)
  invisible(layer)
}

#' A functional model with the same graph and fresh (or kept) weights
#' @noRd
clone_functional <- function(model, keep_weights) {
  g <- model$graph
  states <- lapply(g$states, function(s) {
    spec <- s$spec
    if (!is.null(spec$seed)) spec$seed <- draw_seed()
    new_layer_state(spec)
  })
  new <- new_model(unique_name("model"), class(model))
  new$graph_mode <- TRUE
  # The copy's layers are new ones: models used as layers in the original are copied flat.
  nodes <- lapply(g$nodes, function(n) { n$nested <- NULL; n })
  new$graph <- list(states = states, nodes = nodes, inputs = g$inputs, outputs = g$outputs)
  new$trainable_layers <- model$trainable_layers
  new$inputs <- model$inputs
  new$outputs <- model$outputs
  send_graph(new)
  link_layers(new, model_states(new))
  if (isTRUE(keep_weights)) set_weights(new, get_weights(model))
  new
}

#' A model's compiled optimizer, bound to the model (its learning rate reads and sets the
#' model's), or NULL
#' @noRd
bound_optimizer <- function(model) {
  opt <- get0("compiled", envir = model_env(model))$optimizer
  if (!is.null(opt)) attr(opt, "rkeras_model") <- model
  opt
}
