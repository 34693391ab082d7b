#' Wrap an R function of tensors as a layer
#'
#' The function is run once, on symbolic tensors, when the layer is first applied: the
#' operations it applies (arithmetic, math, `[`, the `k_*` functions) are recorded, and the
#' engine runs them on every batch and differentiates them. R's control flow runs while the
#' function is recorded, so it may depend on shapes and `arguments`, not on values. The
#' layer is saved with the model (its recorded operations) and has no weights.
#' @inheritParams layer_dense
#' @param f A function of a tensor (or of a list of tensors, for a layer called on a list),
#'   returning a tensor that keeps the batch axis first.
#' @param output_shape The output's shape without the batch axis, checked against what `f`
#'   returns (`NULL`: not checked).
#' @param mask Not supported; must be `NULL`.
#' @param arguments A named list of further arguments to `f`.
#' @returns The model (invisibly) when `object` is a model, else a layer.
#' @family core layers
#' @export
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_dense(4, input_shape = 3) %>%
#'   layer_lambda(function(x) k_square(x) / 2) %>%
#'   layer_dense(1)
#' model %>% compile(loss = "mse", optimizer = "sgd")
#' model %>% fit(matrix(runif(30), 10), runif(10), epochs = 1, verbose = 0)
layer_lambda <- function(object, f, output_shape = NULL, mask = NULL, arguments = NULL, input_shape = NULL,
                         batch_input_shape = NULL, batch_size = NULL, dtype = NULL, name = NULL,
                         trainable = NULL, weights = NULL) {
  if (!is.function(f)) rk_abort(sprintf("`f` must be a function of tensors, not %s.", show_value(f)), "type")
  check_unsupported(mask = mask, batch_size = batch_size)
  if (!is.null(arguments) && (!is.list(arguments) || (length(arguments) && is.null(names(arguments))))) {
    rk_abort(sprintf("`arguments` must be a named list, not %s.", show_value(arguments)), "type")
  }
  if (!is.null(batch_input_shape) && is.null(input_shape)) input_shape <- batch_input_shape[-1]
  spec <- new_layer_spec("lambda", "Lambda", NULL, input_shape = input_shape, name = name)
  spec$fn <- f
  spec$arguments <- arguments %||% list()
  spec$output_shape <- check_shape(output_shape, "output_shape")
  compose_layer(object, spec)
}

#' Record a Lambda layer's function on inputs of per-sample shapes `shapes`, the first time
#' the layer is applied; its config then holds the recorded operations
#' @noRd
trace_lambda <- function(state, shapes, call = rlang::caller_env()) {
  spec <- state$spec
  if (!is.null(spec$config) || is.null(spec$fn)) return(invisible())
  tr <- new_trace(lapply(shapes, function(s) c(NA, s)))
  ins <- trace_inputs(tr)
  out <- withCallingHandlers(
    do.call(spec$fn, c(list(if (length(ins) == 1) ins[[1]] else ins), spec$arguments)),
    rkeras_error = function(e) {
      rk_abort(sprintf("In the function of layer_lambda(): %s", conditionMessage(e)),
               sub("^rkeras_error_", "", class(e)[[1]]), call)
    })
  if (!inherits(out, "rkeras_symbol") || !identical(out$trace, tr)) {
    rk_abort(sprintf("The function of layer_lambda() must return a tensor computed from its input, not %s.",
                     if (inherits(out, "rkeras_symbol")) "a tensor of another function" else show_value(out)),
             "value", call)
  }
  got <- out$shape[-1]
  if (!is.null(spec$output_shape) && !identical(as.integer(spec$output_shape), as.integer(got))) {
    rk_abort(sprintf("`output_shape` is (%s), but the function of layer_lambda() returns (%s) per sample.",
                     paste(spec$output_shape, collapse = ", "), paste(got, collapse = ", ")), "shape", call)
  }
  spec$config <- lambda_config(trace_graph(tr, list(out)),
                               output_shape = if (!is.null(spec$output_shape)) I(spec$output_shape))
  spec$fn <- NULL
  state$spec <- spec
  invisible()
}

#' The per-sample shapes a Lambda layer is first applied to: the tensors', or the output of
#' the Sequential model it is added to (or its `input_shape` as first layer)
#' @noRd
lambda_input_shapes <- function(state, object, call) {
  if (inherits(object, "rkeras_model")) {
    check_model(object, call = call)
    shape <- if (length(object$specs)) {
      shapes <- tryCatch(graph_info(object)$output_shapes, error = function(e) NULL)
      if (length(shapes) == 1) shapes[[1]]
    } else state$spec$input_shape %||% object$input_shape
    if (is.null(shape)) {
      rk_abort("layer_lambda() needs the shape of its input: give `input_shape` to the first layer of the model.",
               "value", call)
    }
    return(list(shape))
  }
  lapply(as_tensor_list(object, "object", call), `[[`, "shape")
}
