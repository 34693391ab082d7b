# Custom layers written in R, in the three styles Keras for R documents: `Layer()`,
# `new_layer_class()` and the R6 `KerasLayer` with `create_layer()`. A custom layer's
# `build(input_shape)` adds weights with `self$add_weight()`; its `call(inputs)` is run once
# on symbolic tensors (and its weights), and the operations it applies become the layer's
# function, which the engine runs and differentiates (as for layer_lambda()).

#' Custom layers
#'
#' `Layer()` and `new_layer_class()` make a layer function from methods:
#' `initialize(...)` (store the layer's settings on `self`), `build(input_shape)` (add
#' weights with `self$add_weight(name, shape, initializer, trainable)`; `input_shape` is a
#' list whose first entry, the batch axis, is `NULL`), `call(inputs, ...)` (return the
#' output, written with operations on tensors: arithmetic, `k_*` functions, `%*%` through
#' [k_dot()]) and optionally `get_config()`. Within the methods, `self` is the layer and
#' `super` its base class (`super()$`__init__`(...)` for `Layer()`, `super$initialize(...)`
#' for `new_layer_class()`). The function returned takes a model or tensor first, as the
#' built-in layers do, then `initialize()`'s arguments and `name`, `trainable`,
#' `input_shape`.
#'
#' `KerasLayer` is the R6 base class of Keras for R's older style; `create_layer()` makes a
#' layer from an R6 class that inherits from it.
#'
#' The weights a layer adds are trained, saved with the model, counted by `summary()` and
#' listed by [get_weights()]. `call()` runs once, when the layer is first applied: R control
#' flow in it may depend on shapes and settings, not on the values of a batch. A `call()`
#' with a `training` argument runs twice, with `training = TRUE` and `FALSE`, and the layer
#' computes in each mode what `call()` returned for it (`if (training) ...` works as in
#' Keras). In `call()`, `self$add_loss(value)` adds a loss computed from the inputs or
#' weights (its sum) to the model's loss, in training and in evaluation, as Keras does.
#' @param classname The layer's class name (shown by `summary()`).
#' @param initialize,build,call,compute_output_shape,get_config The layer's methods
#'   (`compute_output_shape` is not needed: shapes are computed from `call`).
#' @param ... Other methods or fields.
#' @param inherit Not supported: custom layers derive from the base layer.
#' @param layer_class An R6 class inheriting from `KerasLayer`.
#' @param object A model or tensor to apply the layer to (`NULL`: return the layer).
#' @param args A list of arguments to the R6 class's `initialize()` (and `name`, `trainable`,
#'   `input_shape`).
#' @returns `Layer()`/`new_layer_class()`: a function creating layers; `create_layer()`: the
#'   model (invisibly) or a tensor or layer, as a built-in layer function returns.
#' @name custom-layers
#' @family core layers
#' @examples
#' layer_scale <- Layer(
#'   "Scale",
#'   initialize = function(...) {
#'     super()$`__init__`(...)
#'   },
#'   build = function(input_shape) {
#'     self$scale <- self$add_weight(name = "scale", shape = list(input_shape[[2]]),
#'                                   initializer = "ones", trainable = TRUE)
#'   },
#'   call = function(x, mask = NULL) x * self$scale
#' )
#' model <- keras_model_sequential() %>%
#'   layer_dense(3, input_shape = 2) %>%
#'   layer_scale()
#' get_weights(model)[[3]]
NULL

#' @rdname custom-layers
#' @export
Layer <- function(classname, initialize, build = NULL, call = NULL, compute_output_shape = NULL, ...,
                  inherit = NULL) {
  custom_layer_function(classname, c(list(initialize = initialize, build = build, call = call,
                                          compute_output_shape = compute_output_shape), list(...)),
                        inherit, style = "Layer")
}

#' @rdname custom-layers
#' @export
new_layer_class <- function(classname, initialize = NULL, build = NULL, call = NULL, get_config = NULL, ...,
                            inherit = NULL) {
  custom_layer_function(classname, c(list(initialize = initialize, build = build, call = call,
                                          get_config = get_config), list(...)),
                        inherit, style = "new_layer_class")
}

custom_layer_function <- function(classname, methods, inherit, style, call = rlang::caller_env()) {
  classname <- check_string(classname, "classname", call = call)
  if (!is.null(inherit)) rk_abort("`inherit` is not supported: custom layers derive from the base layer.", "unsupported", call)
  if (!is.function(methods$call)) rk_abort("A custom layer needs a `call` method: a function of its inputs.", "value", call)
  methods <- Filter(Negate(is.null), methods)
  function(object, ...) {
    args <- list(...)
    if (!missing(object) && !is.null(object) && !is_tensor_arg(object) && !inherits(object, "rkeras_model")) {
      args <- c(list(object), args)
      object <- NULL
    }
    if (missing(object)) object <- NULL
    self <- new.env(parent = emptyenv())
    base <- base_layer_args()
    super <- if (style == "Layer") {
      function() list(`__init__` = function(...) base$set(list(...)))
    } else {
      list(initialize = function(...) base$set(list(...)))
    }
    for (nm in names(methods)) {
      f <- methods[[nm]]
      if (is.function(f)) environment(f) <- list2env(list(self = self, super = super), parent = environment(f))
      assign(nm, f, envir = self)
    }
    # The base layer's arguments reach it whether or not initialize() passes them on.
    taken <- intersect(names(args), base_arg_names)
    base$set(args[taken])
    init_args <- if (is.function(self$initialize)) {
      if ("..." %in% names(formals(self$initialize))) args else args[setdiff(names(args), taken)]
    } else args[setdiff(names(args), taken)]
    if (is.function(self$initialize)) do.call(self$initialize, init_args)
    else if (length(init_args)) do.call(check_no_dots, c(init_args, list(fn = classname)))
    state <- custom_layer_state(classname, self, base$get())
    self$add_weight <- function(name = NULL, shape = NULL, dtype = NULL, initializer = NULL, regularizer = NULL,
                                trainable = TRUE, constraint = NULL, ...) {
      add_custom_weight(state, name, shape, dtype, initializer, regularizer, trainable, constraint, ...)
    }
    self$add_loss <- function(losses, ...) add_custom_loss(state, losses, ...)
    apply_custom(state, object)
  }
}

base_arg_names <- c("name", "trainable", "input_shape", "batch_input_shape", "dtype", "batch_size")

#' The base layer's arguments a custom layer gets (name, trainable, input shape)
#' @noRd
base_layer_args <- function() {
  env <- new.env(parent = emptyenv())
  env$args <- list()
  list(set = function(a) {
    a <- a[intersect(names(a) %||% character(), base_arg_names)]
    env$args[names(a)] <- a
    invisible(NULL)
  }, get = function() env$args)
}

custom_layer_state <- function(classname, self, base, call = rlang::caller_env()) {
  check_layer_dtype(base$dtype, call)
  check_unsupported(batch_size = base$batch_size)
  input_shape <- base$input_shape %||% (if (!is.null(base$batch_input_shape)) base$batch_input_shape[-1])
  prefix <- gsub("([a-z0-9])([A-Z])", "\\1_\\2", classname)
  state <- new_layer_state(list(type = "layer", prefix = tolower(prefix), class_name = classname, config = NULL,
                                input_shape = check_shape(input_shape, "input_shape", call = call),
                                name = check_string(base$name, "name", allow_null = TRUE, call = call),
                                trainable = if (!is.null(base$trainable)) check_flag(base$trainable, "trainable", call = call),
                                seed = draw_seed()))
  state$custom <- self
  state$weights <- list()
  state
}

apply_custom <- function(state, object, call = rlang::caller_env()) {
  layer <- new_layer_object(state)
  if (is.null(object)) return(layer)
  layer_apply(state, object, call = call)
}

#' `self$add_weight()`: a weight of the layer, an input of its recorded function
#' @noRd
add_custom_weight <- function(state, name, shape, dtype, initializer, regularizer, trainable, constraint, ...,
                              call = rlang::caller_env()) {
  check_no_dots(..., fn = "add_weight()", call = call)
  check_unsupported(regularizer = regularizer, constraint = constraint, call = call)
  check_layer_dtype(dtype, call)
  if (is.list(shape)) {
    if (any(vapply(shape, is.null, TRUE))) {
      rk_abort("`shape` of a weight must have known sizes (no NULL).", "value", call)
    }
    shape <- unlist(shape)
  }
  if (!is.numeric(shape) || anyNA(shape) || any(shape < 1) || any(shape != round(shape))) {
    rk_abort(sprintf("`shape` of a weight must be positive whole numbers, not %s.", show_value(shape)), "value", call)
  }
  k <- length(state$weights) + 1L
  name <- check_string(name %||% paste0("variable", if (k > 1) paste0("_", k - 1)), "name", call = call)
  state$weights[[k]] <- list(name = name, shape = I(as.integer(shape)),
                             initializer = as_initializer(initializer %||% "glorot_uniform", "initializer", call),
                             trainable = check_flag(trainable, "trainable", call = call))
  structure(list(state = state, index = k, shape = as.integer(shape)), class = "rkeras_weight")
}

#' @export
print.rkeras_weight <- function(x, ...) {
  w <- x$state$weights[[x$index]]
  cat(sprintf("<rkeras weight '%s' shape=(%s)>\n", w$name, paste(w$shape, collapse = ", ")))
  invisible(x)
}

#' @export
dim.rkeras_weight <- function(x) x$shape

#' Record a custom layer's `build()` and `call()` on inputs of per-sample shapes `shapes`.
#' A `call()` that takes `training` is recorded in each mode (Keras passes it the mode);
#' losses it adds with `self$add_loss()` become outputs of the recorded function after
#' the layer's output.
#' @noRd
trace_custom <- function(state, shapes, call = rlang::caller_env()) {
  self <- state$custom
  cls <- state$spec$class_name
  in_shapes <- lapply(shapes, function(s) c(list(NULL), as.list(as.integer(s))))
  fail <- function(what) function(e) {
    rk_abort(sprintf("In %s() of layer class '%s': %s", what, cls, conditionMessage(e)),
             if (inherits(e, "rkeras_error")) sub("^rkeras_error_", "", class(e)[[1]]) else "value", call)
  }
  state$weights <- list()
  if (is.function(self$build)) {
    tryCatch(self$build(if (length(in_shapes) == 1) in_shapes[[1]] else in_shapes), error = fail("build"))
  }
  ws <- state$weights
  takes_training <- "training" %in% names(formals(self$call))
  record <- function(training) {
    tr <- new_trace(c(lapply(shapes, function(s) c(NA, s)), lapply(ws, function(w) as.integer(w$shape))))
    ins <- trace_inputs(tr)
    old <- rk_cache$weights_trace
    rk_cache$weights_trace <- list(state = state, trace = tr, offset = length(shapes))
    state$added_losses <- list()
    on.exit({
      rk_cache$weights_trace <- old
      state$added_losses <- NULL
    })
    x <- ins[seq_along(shapes)]
    args <- c(list(if (length(x) == 1) x[[1]] else x), if (takes_training) list(training = training))
    out <- tryCatch(do.call(self$call, args), error = fail("call"))
    if (inherits(out, "rkeras_weight")) out <- weight_symbol(out, call)
    if (!inherits(out, "rkeras_symbol") || !identical(out$trace, tr)) {
      rk_abort(sprintf("call() of layer class '%s' must return a tensor computed from its inputs, not %s.",
                       cls, show_value(out)), "value", call)
    }
    losses <- state$added_losses
    list(rkeras_ops = trace_graph(tr, c(list(out), losses)), rkeras_losses = length(losses))
  }
  fun <- record(TRUE)
  inference <- if (takes_training) record(FALSE)
  config <- if (is.function(self$get_config)) tryCatch(self$get_config(), error = fail("get_config"))
  config <- if (is.list(config)) config[vapply(config, function(v) is.atomic(v) && length(v) <= 1, TRUE)] else list()
  state$spec$config <- c(config, list(`function` = fun),
                         if (!is.null(inference) && !identical(inference, fun)) list(function_inference = inference),
                         list(rkeras_weights = unname(ws)))
  invisible()
}

#' `self$add_loss()`: a loss computed in a custom layer's `call()`, added to the model's loss
#' (summed over its values) in every pass of that call
#' @noRd
add_custom_loss <- function(state, losses, ..., call = rlang::caller_env()) {
  check_no_dots(..., fn = "add_loss()", call = call)
  active <- rk_cache$weights_trace
  if (is.null(active) || !identical(active$state, state)) {
    rk_abort("add_loss() can be called only in the layer's own call() method.", "value", call)
  }
  if (inherits(losses, "rkeras_weight")) losses <- weight_symbol(losses, call)
  if (!inherits(losses, "rkeras_symbol") || !identical(losses$trace, active$trace)) {
    rk_abort(sprintf("`losses` must be a tensor computed in call() (with k_*() operations), not %s.",
                     show_value(losses)), "type", call)
  }
  state$added_losses <- c(state$added_losses, list(losses))
  invisible()
}

#' A weight used in an operation: the symbol of the recorded function it is an input of
#' @noRd
weight_symbol <- function(w, call = rlang::caller_env()) {
  active <- rk_cache$weights_trace
  if (is.null(active) || !identical(active$state, w$state)) {
    rk_abort("A layer's weight can be used only in its own call() method.", "value", call)
  }
  symbol(active$trace, active$offset + w$index - 1L)
}

#' The R6 base class of custom layers
#' @rdname custom-layers
#' @format NULL
#' @usage NULL
#' @export
KerasLayer <- R6::R6Class("KerasLayer",
  public = list(
    build = function(input_shape) invisible(NULL),
    call = function(inputs, mask = NULL) {
      rk_abort("A KerasLayer subclass needs a `call` method.", "value")
    },
    compute_output_shape = function(input_shape) input_shape,
    add_weight = function(name = NULL, shape = NULL, dtype = NULL, initializer = NULL, regularizer = NULL,
                          trainable = TRUE, constraint = NULL) {
      add_custom_weight(private$rkeras_state, name, shape, dtype, initializer, regularizer, trainable, constraint)
    },
    add_loss = function(losses, ...) add_custom_loss(private$rkeras_state, losses, ...)
  ),
  private = list(rkeras_state = NULL)
)

#' @rdname custom-layers
#' @export
create_layer <- function(layer_class, object, args = list()) {
  if (!inherits(layer_class, "R6ClassGenerator") || !is_keras_layer_class(layer_class)) {
    rk_abort(sprintf("`layer_class` must be an R6 class inheriting from KerasLayer, not %s.", show_value(layer_class)), "type")
  }
  if (!is.list(args)) rk_abort(sprintf("`args` must be a list, not %s.", show_value(args)), "type")
  args <- Filter(Negate(is.null), args)
  taken <- intersect(names(args), base_arg_names)
  self <- do.call(layer_class$new, args[setdiff(names(args) %||% character(), taken)])
  state <- custom_layer_state(layer_class$classname, self, args[taken])
  self$.__enclos_env__$private$rkeras_state <- state
  if (missing(object)) object <- NULL
  apply_custom(state, object)
}

is_keras_layer_class <- function(gen) {
  while (!is.null(gen)) {
    if (identical(gen$classname, "KerasLayer")) return(TRUE)
    gen <- gen$get_inherit()
  }
  FALSE
}
