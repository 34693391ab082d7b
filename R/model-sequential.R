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
  model <- new.env(parent = emptyenv())
  model$ptr <- rk_model_new()
  model$name <- name
  model$specs <- list()
  model$input_shape <- NULL
  model$compiled <- NULL
  model$stop_training <- FALSE
  class(model) <- c("rkeras_sequential", "rkeras_model")
  dots <- list(...)
  if (!is.null(dots$input_shape)) {
    shape <- check_shape(dots$input_shape, "input_shape")
    model$input_shape <- shape
    rk_call(rk_model_build(model$ptr, prod(shape)))
    model_changed(model)
  }
  for (l in layers %||% list()) compose_layer(model, l)
  model
}

`%||%` <- function(a, b) if (is.null(a)) b else a

#' Add a layer spec to a model (or return the spec when there is no model)
#' @noRd
compose_layer <- function(object, spec, call = rlang::caller_env()) {
  if (missing(object) || is.null(object)) return(structure(spec, class = "rkeras_layer"))
  check_model(object, call = call)
  if (is.null(spec$name)) spec$name <- unique_name(spec$prefix)
  if (spec$name %in% vapply(object$specs, `[[`, "", "name")) {
    rk_abort(sprintf("A layer named '%s' is already in the model; layer names must be unique.", spec$name),
             "value", call)
  }
  if (!is.null(spec$input_shape)) {
    if (length(object$specs) > 0) {
      rk_abort(sprintf("`input_shape` can only be given to the first layer of a model (layer '%s').",
                       spec$name), "value", call)
    }
    if (length(spec$input_shape) > 1 && !identical(spec$type, "flatten")) {
      rk_abort(sprintf("layer '%s' got input_shape (%s): rkeras's %s layer takes one-dimensional samples; add layer_flatten() first.",
                       spec$name, paste(spec$input_shape, collapse = ", "), spec$type), "unsupported", call)
    }
    object$input_shape <- spec$input_shape
  }
  rk_call(rk_model_add(object$ptr, spec$type, spec$name, as.double(spec$units %||% 0),
                       spec$activation %||% "linear", spec$use_bias %||% TRUE,
                       spec$kernel_initializer$name %||% "zeros", as.double(spec$kernel_initializer$args %||% numeric()),
                       spec$bias_initializer$name %||% "zeros", as.double(spec$bias_initializer$args %||% numeric()),
                       spec$regularizer$l1 %||% 0, spec$regularizer$l2 %||% 0,
                       spec$rate %||% 0, spec$seed %||% draw_seed()), call = call)
  model_changed(object)
  if (!is.null(spec$input_shape)) rk_call(rk_model_build(object$ptr, prod(spec$input_shape)), call = call)
  model_changed(object)
  object$specs[[length(object$specs) + 1L]] <- spec
  invisible(object)
}

#' Layers as data (names, classes, units, parameter counts, input size), cached in the
#' model: only adding a layer or building changes it (see `model_changed()`).
#' @noRd
model_layers <- function(model) {
  info <- get0("layer_info", envir = model, inherits = FALSE)
  if (is.null(info)) {
    info <- rk_call(rk_model_layers(get("ptr", envir = model)))
    assign("layer_info", info, envir = model)
  }
  info
}

model_changed <- function(model) {
  assign("layer_info", NULL, envir = model)
  invisible(model)
}

#' @export
`$.rkeras_model` <- function(x, name) {
  switch(name,
    layers = lapply(seq_along(get("specs", x)), function(i) model_layer_view(x, i)),
    built = model_layers(x)$built,
    optimizer = get("compiled", x)$optimizer,
    loss = get("compiled", x)$loss,
    weights = get_weights(x),
    trainable_weights = get_weights(x),
    get0(name, envir = x, inherits = FALSE)
  )
}

#' @export
`[[.rkeras_model` <- function(x, i) `$.rkeras_model`(x, i)

model_layer_view <- function(model, i) {
  spec <- get("specs", model)[[i]]
  structure(list(name = spec$name, type = spec$type, config = spec), class = "rkeras_layer_view")
}

#' @export
print.rkeras_layer_view <- function(x, ...) {
  cat("<", x$name, " (", x$type, ")>\n", sep = "")
  invisible(x)
}

#' @export
print.rkeras_layer <- function(x, ...) {
  cat("<rkeras layer: ", x$type, if (!is.null(x$name)) paste0(" '", x$name, "'"), ">\n", sep = "")
  invisible(x)
}

#' Model weights
#'
#' `get_weights()` returns a list of arrays in Keras's order: for each dense layer its
#' kernel (`in x units` matrix) then its bias (1-d array). `set_weights()` replaces them.
#' @param object A model.
#' @param trainable Ignored; all rkeras weights are trainable.
#' @param weights A list shaped like `get_weights(object)`.
#' @returns `get_weights()`: a list of arrays; `set_weights()`: the model, invisibly.
#' @family model functions
#' @export
#' @examples
#' model <- keras_model_sequential() %>% layer_dense(2, input_shape = 3)
#' w <- get_weights(model)
#' set_weights(model, lapply(w, function(a) a * 0))
get_weights <- function(object, trainable = NA) {
  check_model(object)
  w <- rk_call(rk_model_get_weights(object$ptr))
  info <- model_layers(object)
  dims <- weight_dims(object, info)
  Map(function(v, d) { dim(v) <- d; v }, w, dims)
}

weight_dims <- function(object, info) {
  dims <- list()
  input <- info$input_dim
  for (i in seq_along(info$name)) {
    out <- info$units[[i]]
    if (info$params[[i]] > 0) {
      dims[[length(dims) + 1L]] <- c(input, out)
      if (isTRUE(object$specs[[i]]$use_bias)) dims[[length(dims) + 1L]] <- out
    }
    input <- out
  }
  dims
}

#' @rdname get_weights
#' @export
set_weights <- function(object, weights) {
  check_model(object)
  if (!is.list(weights)) rk_abort(sprintf("`weights` must be a list of arrays, not %s.", show_value(weights)), "type")
  want <- weight_dims(object, model_layers(object))
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
  rk_call(rk_model_set_weights(object$ptr, lapply(weights, function(w) { storage.mode(w) <- "double"; w })))
  invisible(object)
}

#' Count a model's parameters
#' @param object A model.
#' @returns The number of weights, as an integer.
#' @family model functions
#' @export
#' @examples
#' count_params(keras_model_sequential() %>% layer_dense(10, input_shape = 784))
count_params <- function(object) {
  check_model(object)
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
  new <- keras_model_sequential(name = unique_name("sequential"))
  if (!is.null(model$input_shape)) {
    new$input_shape <- model$input_shape
  }
  for (spec in model$specs) {
    spec$seed <- draw_seed()
    compose_layer(new, spec)
  }
  info <- model_layers(model)
  if (info$built && !model_layers(new)$built) {
    rk_call(rk_model_build(new$ptr, info$input_dim))
    model_changed(new)
  }
  if (isTRUE(keep_weights)) set_weights(new, get_weights(model))
  new
}
