#' Create a custom model
#'
#' Keras for R's custom models: `model_fn(self)` creates the layers the model uses (set on
#' `self`, e.g. `self$dense1 <- layer_dense(units = 32)`) and returns the model's
#' `call(inputs, mask = NULL, training = FALSE)` function, which applies them. The model is
#' built when it first sees data (`fit()`, `predict()`, ...): `call` then runs once on
#' inputs of the data's shapes, and the layer calls it makes become the model's graph (R
#' control flow in `call` may depend on settings and shapes, not on values). `call` gets
#' `training = NULL`, which passed on to layers (`self$dropout(x, training = training)`)
#' makes them follow the mode the model runs in, as in Keras. The model is
#' then a functional model: it compiles, trains, evaluates, predicts, summarizes and saves
#' as one.
#' @param model_fn A function of `self` returning the `call` function.
#' @param name The model's name (default `model`, `model_1`, ...).
#' @returns A model, built by its first data.
#' @family model functions
#' @export
#' @examples
#' mlp <- keras_model_custom(name = "mlp", function(self) {
#'   self$dense1 <- layer_dense(units = 8, activation = "relu")
#'   self$dense2 <- layer_dense(units = 2, activation = "softmax")
#'   function(inputs, mask = NULL, training = FALSE) {
#'     inputs %>% self$dense1() %>% self$dense2()
#'   }
#' })
#' mlp %>% compile(loss = "categorical_crossentropy", optimizer = "adam")
#' mlp %>% fit(matrix(runif(40), 10), to_categorical(rep(0:1, 5)), epochs = 1, verbose = 0)
keras_model_custom <- function(model_fn, name = NULL) {
  if (!is.function(model_fn)) {
    rk_abort(sprintf("`model_fn` must be a function of `self`, not %s.", show_value(model_fn)), "type")
  }
  name <- check_string(name, "name", allow_null = TRUE) %||% unique_name("model")
  self <- new.env(parent = emptyenv())
  call_fn <- model_fn(self)
  if (!is.function(call_fn)) {
    rk_abort(sprintf("`model_fn` must return the model's call function, not %s.", show_value(call_fn)), "type")
  }
  model <- new_model(name, c("rkeras_functional", "rkeras_model"))
  model$custom_call <- call_fn
  model$custom_self <- self
  model
}

#' Build a custom model on the shapes of its first data `x`: its call function applied to
#' inputs of those shapes gives the graph, as keras_model() makes it
#' @noRd
build_custom_model <- function(model, x, call = rlang::caller_env()) {
  fn <- get0("custom_call", envir = model_env(model), inherits = FALSE)
  if (is.null(fn) || has_graph(model)) return(invisible(model))
  xs <- if (is.list(x) && !is.data.frame(x)) x else list(x)
  ins <- lapply(seq_along(xs), function(i) {
    d <- dim(xs[[i]])
    nm <- names(xs)[i]
    layer_input(shape = if (length(d) < 2) 1L else d[-1], name = if (length(nm) && nzchar(nm)) nm)
  })
  # `training = NULL`: the layer calls it passes `training` to follow the mode the model
  # runs in (training in fit(), inference in predict()), as Keras's calls of the model do.
  args <- c(list(if (length(ins) == 1) ins[[1]] else ins), if ("training" %in% names(formals(fn))) list(training = NULL))
  outs <- tryCatch(do.call(fn, args),
                   rkeras_error = function(e) stop(e),
                   error = function(e) {
                     hint <- if (grepl("length zero", conditionMessage(e)) && length(args) > 1) {
                       " (it is called once, with `training = NULL`: pass `training` on to layers rather than branching on it)"
                     } else ""
                     rk_abort(sprintf("The custom model's call function failed: %s%s", conditionMessage(e), hint), "value", call)
                   })
  outs <- as_tensor_list(outs, "the call function's result", call)
  model$graph <- collect_graph(ins, outs, call)
  model$graph_mode <- TRUE
  model$inputs <- ins
  model$outputs <- outs
  send_graph(model, call)
  link_layers(model, model_states(model))
  pending <- get0("pending_compile", envir = model_env(model), inherits = FALSE)
  if (!is.null(pending)) {
    model$pending_compile <- NULL
    do.call(compile, c(list(model), pending))
  }
  invisible(model)
}
