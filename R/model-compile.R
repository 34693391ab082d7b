#' Configure a model for training
#'
#' Sets the optimizer, loss and metrics. Changes the model in place and returns it
#' invisibly; recompiling resets the optimizer state but keeps the weights.
#' @param object A model.
#' @param optimizer Optimizer name (`"rmsprop"`, `"adam"`, `"sgd"`, `"adagrad"`, `"adamw"`)
#'   or an `optimizer_*()` object.
#' @param loss Loss name or `loss_*()` function or object (see [losses]).
#' @param metrics Character vector or list of metrics (see [metrics]).
#' @param loss_weights,weighted_metrics,run_eagerly,steps_per_execution,target_tensors,sample_weight_mode
#'   Accepted for compatibility; only their defaults are supported.
#' @param ... Unused.
#' @returns The model, invisibly.
#' @family model functions
#' @export
#' @examples
#' model <- keras_model_sequential() %>% layer_dense(1, input_shape = 2)
#' model %>% compile(optimizer = "adam", loss = "mse", metrics = "mae")
compile.rkeras_model <- function(object, optimizer = NULL, loss = NULL, metrics = NULL,
                                 loss_weights = NULL, weighted_metrics = NULL, run_eagerly = NULL,
                                 steps_per_execution = NULL, ..., target_tensors = NULL,
                                 sample_weight_mode = NULL) {
  check_model(object)
  if (is.null(loss)) rk_abort("`loss` must be given: a loss name such as \"categorical_crossentropy\" or a loss_*() function.", "value")
  check_unsupported(loss_weights = loss_weights, weighted_metrics = weighted_metrics,
                    target_tensors = target_tensors, sample_weight_mode = sample_weight_mode)
  loss <- as_loss(loss)
  loss <- switch(loss, mse = "mean_squared_error", mae = "mean_absolute_error", loss)
  optimizer <- as_optimizer(optimizer %||% "rmsprop")
  m <- as_metrics(metrics, loss)
  rk_call(rk_model_compile(object$ptr, loss, m$kinds, optimizer$name, optimizer$learning_rate, optimizer$params))
  object$compiled <- list(loss = loss, metric_names = m$names, metric_kinds = m$kinds, optimizer = optimizer)
  invisible(object)
}

#' The learning rate the optimizer uses now
#' @noRd
current_lr <- function(model) rk_call(rk_model_get(model$ptr, "learning_rate"))

set_lr <- function(model, lr, call = rlang::caller_env()) {
  lr <- check_number(lr, "learning rate", min = 0, call = call)
  rk_call(rk_model_set(model$ptr, "learning_rate", lr), call = call)
  invisible(lr)
}
