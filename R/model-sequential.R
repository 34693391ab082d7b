#' Create a sequential model
#'
#' A linear stack of layers. Models have reference semantics, as in Keras: adding
#' layers, compiling and fitting change the model in place.
#' @param layers Optional list of layers (from `layer_*()` called without a model).
#' @param name Model name; default `"sequential"`, `"sequential_1"`, ...
#' @param ... `input_shape` may be given here to fix the input size.
#' @returns A model of class `rkeras_sequential`.
#' @family model functions
#' @export
#' @examples
#' model <- keras_model_sequential()
#' model %>% layer_dense(units = 4, input_shape = 3)
#' model
keras_model_sequential <- function(layers = NULL, name = NULL, ...) {
  name <- check_string(name, allow_null = TRUE) %||% unique_name("sequential")
  model <- new_model(name, c("rkeras_sequential", "rkeras_model"))
  dots <- list(...)
  unknown <- setdiff(names(dots) %||% rep("", length(dots)), c("input_shape", "input_dtype", "trainable"))
  if (length(unknown)) do.call(check_no_dots, c(dots[unknown], list(fn = "keras_model_sequential()")))
  if (!is.null(dots$input_shape)) {
    shape <- check_shape(dots$input_shape, "input_shape")
    model$input_shape <- shape
  }
  if (!is.null(layers) && !is.list(layers)) layers <- list(layers)
  for (l in layers %||% list()) {
    if (!inherits(l, "rkeras_layer")) {
      rk_abort(sprintf("`layers` must be a list of layers (layer_*() called without a model), not %s.",
                       show_value(l)), "type")
    }
    add_layer_state(model, layer_state(l))
  }
  model
}

new_model <- function(name, class) {
  # Keras's class names follow rkeras's own, so code that tests classes keeps working:
  # Keras 3's (keras.src.*) and Keras 2's (keras.engine.*).
  keras <- if ("rkeras_sequential" %in% class) {
    c("keras.src.models.sequential.Sequential", "keras.engine.sequential.Sequential")
  } else c("keras.src.models.functional.Functional", "keras.engine.functional.Functional")
  class <- unique(c(intersect(class, c("rkeras_sequential", "rkeras_functional", "rkeras_model")), keras,
                    "keras.src.models.model.Model", "keras.engine.training.Model",
                    "keras.src.layers.layer.Layer", "keras.engine.base_layer.Layer"))
  state <- new.env(parent = emptyenv())
  state$ptr <- rk_model_new()
  state$snapshot <- rk_snapshot_new(state)
  state$name <- name
  state$specs <- list()
  state$states <- list()
  state$input_shape <- NULL
  state$compiled <- NULL
  state$stop_training <- FALSE
  # A model is a function, as in Keras: `model(x)` or `x %>% model` applies it to tensors.
  fn <- local(function(object, ...) model_apply(.state$self, object, ...),
              list2env(list(.state = state), parent = asNamespace("rkeras")))
  fn <- structure(fn, class = class)
  state$self <- fn
  fn
}

#' The environment that holds a model's state
#' @noRd
model_env <- function(model) {
  if (is.environment(model)) model else environment(model)$.state
}

`%||%` <- function(a, b) if (is.null(a)) b else a

#' Add a layer to a Sequential model: the engine gets the model's new graph (the chain of
#' its layers), and the layers it had keep their weights
#' @noRd
add_layer_state <- function(object, state, call = rlang::caller_env()) {
  check_model(object, call = call)
  if (!inherits(object, "rkeras_sequential")) {
    rk_abort("Layers can only be added to a Sequential model; call the layer on a tensor to extend a functional model.",
             "value", call)
  }
  spec <- state$spec
  if (identical(spec$type, "input")) {
    rk_abort("layer_input() starts a functional model; give `input_shape` to the first layer of a Sequential model.",
             "value", call)
  }
  if (is.null(spec$name)) spec$name <- unique_name(spec$prefix)
  if (spec$name %in% vapply(object$specs, `[[`, "", "name")) {
    rk_abort(sprintf("A layer named '%s' is already in the model; layer names must be unique.", spec$name),
             "value", call)
  }
  input_shape <- object$input_shape
  if (!is.null(spec$input_shape)) {
    if (length(object$specs) > 0) {
      rk_abort(sprintf("`input_shape` can only be given to the first layer of a model (layer '%s').",
                       spec$name), "value", call)
    }
    input_shape <- spec$input_shape
  }
  state$spec <- spec
  extend_sequential(object, c(seq_entries(object), list(state)), input_shape, list(state), call)
}

#' Make Sequential model `object` the chain of `entries` (its layers, then the layers or model
#' added, whose layers are `new_states`) from an input of `input_shape`, and send the engine
#' its graph; on an error the model keeps the graph it had
#' @noRd
extend_sequential <- function(object, entries, input_shape, new_states, call = rlang::caller_env()) {
  old <- list(graph_mode = has_graph(object), graph = object$graph)
  object$graph <- sequential_graph(object, entries, input_shape)
  object$graph_mode <- TRUE
  tryCatch(send_graph(object, call), error = function(e) {
    object$graph <- old$graph
    object$graph_mode <- old$graph_mode
    stop(e)
  })
  object$input_shape <- input_shape
  object$specs <- c(object$specs, lapply(new_states, function(s) s$spec))
  object$states <- c(object$states, new_states)
  object$entries <- entries
  link_layers(object, new_states)
  invisible(object)
}

#' What a Sequential model is a chain of: its layers (states) and the models added to it
#' @noRd
seq_entries <- function(model) get0("entries", envir = model_env(model), inherits = FALSE) %||% model$states

#' The chain of a Sequential model's layers as a graph, from an input of `input_shape`
#' (`NULL`: taken from the first data)
#' @noRd
sequential_graph <- function(model, entries, input_shape) {
  input <- model$input_state %||% new_layer_state(list(type = "input", name = unique_name("input_layer"), class_name = "InputLayer"))
  input$spec$shape <- input_shape
  model$input_state <- input
  g <- list(states = list(input), nodes = list(list(layer = 1L, inputs = integer())), inputs = 1L, nested = list())
  last <- 1L
  for (e in entries) {
    if (inherits(e, "rkeras_model")) {
      g <- append_model(g, e, last)
      last <- g$out
      g$out <- NULL
    } else {
      g$states[[length(g$states) + 1L]] <- e
      g$nodes[[length(g$nodes) + 1L]] <- list(layer = length(g$states), inputs = last)
      last <- length(g$nodes)
    }
  }
  g$outputs <- last
  g
}

#' What `shim` says of the model, kept under `key` until the model changes
#' @noRd
cached_info <- function(model, key, shim) {
  env <- model_env(model)
  info <- get0(key, envir = env, inherits = FALSE)
  if (is.null(info)) {
    info <- rk_call(shim(model_ptr(model)))
    assign(key, info, envir = env)
  }
  info
}

model_changed <- function(model) {
  env <- model_env(model)
  assign("graph_info", NULL, envir = env)
  invisible(model)
}

#' Model weights
#'
#' `get_weights()` returns a list of arrays in Keras's order: for each dense layer its
#' kernel (`in x units` matrix) then its bias (1-d array). `set_weights()` replaces them.
#' @param object A model.
#' @param trainable `NA` (all weights), `TRUE` (the weights training updates) or `FALSE`
#'   (those of frozen layers, and batch normalization's moving statistics).
#' @param weights A list shaped like `get_weights(object)`.
#' @returns `get_weights()`: a list of arrays; `set_weights()`: the model, invisibly.
#' @family model functions
#' @export
#' @examples
#' model <- keras_model_sequential() %>% layer_dense(2, input_shape = 3)
#' w <- get_weights(model)
#' set_weights(model, lapply(w, function(a) a * 0))
get_weights <- function(object, trainable = NA) {
  if (!identical(trainable, NA)) trainable <- check_flag(trainable, "trainable")
  if (inherits(object, "rkeras_layer")) return(layer_get_weights(object, trainable))
  check_model(object)
  if (!has_graph(object)) return(list())
  w <- rk_call(rk_model_get_weights(object$ptr))
  # A scalar weight (attention's `scale`) is a plain number, as Keras for R returns it.
  out <- Map(function(v, d) { if (length(d)) dim(v) <- d; v }, w$values, w$dims)
  if (is.na(trainable)) return(out)
  out[weight_trainable(object) == trainable]
}

#' @rdname get_weights
#' @export
set_weights <- function(object, weights) {
  if (inherits(object, "rkeras_layer")) return(layer_set_weights(object, weights))
  check_model(object)
  if (!is.list(weights)) rk_abort(sprintf("`weights` must be a list of arrays, not %s.", show_value(weights)), "type")
  want <- lapply(get_weights(object), function(w) dim(w) %||% length(w))
  if (length(weights) != length(want)) {
    rk_abort(sprintf("`weights` must be a list of %d arrays, got %d.", length(want), length(weights)), "shape")
  }
  for (i in seq_along(want)) {
    got <- dim(weights[[i]]) %||% length(weights[[i]])
    if (!is.numeric(weights[[i]]) || !identical(as.integer(got), as.integer(want[[i]]))) {
      rk_abort(sprintf("weight %d must be a numeric array of shape (%s), got (%s).", i,
                       paste(want[[i]], collapse = ", "), paste(got, collapse = ", ")), "shape")
    }
  }
  set_engine_weights(object, weights)
  # Layers are shared: every other model holding one of them sees its new weights.
  push_shared_weights(object)
  invisible(object)
}

#' Give the engine a model's weights (already checked), without passing them on
#' @noRd
set_engine_weights <- function(model, weights) {
  rk_call(rk_model_set_weights(model$ptr, lapply(weights, function(w) { storage.mode(w) <- "double"; w })))
}

#' Count a model's parameters
#' @param object A model.
#' @returns The number of weights, as an integer.
#' @family model functions
#' @export
#' @examples
#' count_params(keras_model_sequential() %>% layer_dense(10, input_shape = 784))
count_params <- function(object) {
  if (inherits(object, "rkeras_layer")) return(object$count_params())
  check_model(object)
  if (!isTRUE(object$built)) {
    rk_abort(sprintf(paste0("Model '%s' is not built yet, so it has no parameters to count. Give the first layer ",
                            "`input_shape`, or fit or predict on data first."), object$name), "state")
  }
  as.integer(rk_call(rk_model_get(object$ptr, "params")))
}

#' Copy a model
#'
#' Returns an independent model with the same layers. As in Keras, the copy gets fresh
#' weights unless `keep_weights = TRUE`; it is not compiled.
#' @param model A model.
#' @param input_tensors,clone_function Not supported; must be `NULL`.
#' @param keep_weights Keep the current weights (rkeras extension).
#' @returns A new model.
#' @family model functions
#' @export
#' @examples
#' m <- keras_model_sequential() %>% layer_dense(2, input_shape = 3)
#' m2 <- clone_model(m)
clone_model <- function(model, input_tensors = NULL, clone_function = NULL, keep_weights = FALSE) {
  check_model(model, "model")
  check_unsupported(input_tensors = input_tensors, clone_function = clone_function)
  if (inherits(model, "rkeras_functional")) return(clone_functional(model, keep_weights))
  new <- keras_model_sequential(name = unique_name("sequential"))
  new$input_shape <- model$input_shape
  for (spec in model$specs) {
    spec$seed <- draw_seed()
    add_layer_state(new, new_layer_state(spec))
  }
  if (has_graph(model) && isTRUE(graph_info(model)$built) && !isTRUE(graph_info(new)$built)) {
    rk_call(rk_model_build_shapes(new$ptr, lapply(graph_info(model)$input_shapes, as.double)))
    model_changed(new)
  }
  if (isTRUE(keep_weights)) set_weights(new, get_weights(model))
  new
}
