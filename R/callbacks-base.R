#' Base class for custom callbacks
#'
#' Inherit from `KerasCallback` with R6 and override any of the `on_*` methods. Fields
#' `self$params` (`epochs`, `steps`, `verbose`) and `self$model` are set before training.
#' Epochs and batches are 0-based; `logs` is a named list of numbers.
#' @format An R6 class generator.
#' @family callbacks
#' @export
#' @examples
#' LossHistory <- R6::R6Class("LossHistory", inherit = KerasCallback,
#'   public = list(losses = NULL,
#'     on_batch_end = function(batch, logs = list()) {
#'       self$losses <- c(self$losses, logs[["loss"]])
#'     }))
#' x <- matrix(rnorm(200), 100)
#' model <- keras_model_sequential() %>% layer_dense(1, input_shape = 2)
#' model %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
#' losses <- LossHistory$new()
#' model %>% fit(x, rowSums(x), epochs = 2, batch_size = 25, verbose = 0,
#'               callbacks = list(losses))
#' losses$losses   # one per batch
KerasCallback <- R6::R6Class("KerasCallback",
  public = list(
    params = NULL,
    model = NULL,
    set_context = function(params = NULL, model = NULL) {
      self$params <- params
      self$model <- model
    },
    set_params = function(params) self$params <- params,
    set_model = function(model) self$model <- model,
    on_epoch_begin = function(epoch, logs = NULL) NULL,
    on_epoch_end = function(epoch, logs = NULL) NULL,
    on_batch_begin = function(batch, logs = NULL) NULL,
    on_batch_end = function(batch, logs = NULL) NULL,
    on_train_begin = function(logs = NULL) NULL,
    on_train_end = function(logs = NULL) NULL,
    on_train_batch_begin = function(batch, logs = NULL) NULL,
    on_train_batch_end = function(batch, logs = NULL) NULL,
    on_test_begin = function(logs = NULL) NULL,
    on_test_end = function(logs = NULL) NULL,
    on_test_batch_begin = function(batch, logs = NULL) NULL,
    on_test_batch_end = function(batch, logs = NULL) NULL,
    on_predict_begin = function(logs = NULL) NULL,
    on_predict_end = function(logs = NULL) NULL,
    on_predict_batch_begin = function(batch, logs = NULL) NULL,
    on_predict_batch_end = function(batch, logs = NULL) NULL
  )
)

batch_hooks <- c("on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end")

#' Does a callback need to hear about single batches? (Otherwise steps run in chunks.)
#' @noRd
overrides <- function(cb, hooks) {
  if (is.function(cb$listens)) return(cb$listens(hooks))
  any(vapply(hooks, function(h) {
    f <- cb[[h]]
    !is.null(f) && !identical(body(f), body(KerasCallback$public_methods[[h]]))
  }, logical(1)))
}

#' Normalise `callbacks =`: a list, a bare callback, or c(callback)
#' @noRd
as_callbacks <- function(callbacks, call = rlang::caller_env()) {
  if (is.null(callbacks)) return(list())
  if (inherits(callbacks, "KerasCallback")) return(list(callbacks))
  if (!is.list(callbacks) || is.environment(callbacks)) {
    rk_abort(sprintf("`callbacks` must be a callback or a list of callbacks, not %s.", show_value(callbacks)), "type", call)
  }
  for (i in seq_along(callbacks)) {
    if (!inherits(callbacks[[i]], "KerasCallback")) {
      rk_abort(sprintf("`callbacks[[%d]]` must be a callback (callback_*() or an R6 class inheriting KerasCallback), not %s.",
                       i, show_value(callbacks[[i]])), "type", call)
    }
  }
  unname(callbacks)
}

#' Call `hook` on every callback in order; callbacks that add entries to the epoch logs
#' (`lr`) do so through `augment_logs()`, so later callbacks and the history see them.
#' @noRd
fire <- function(callbacks, hook, ...) {
  for (cb in callbacks) cb[[hook]](...)
  invisible()
}

fire_epoch_end <- function(callbacks, epoch, logs) {
  for (cb in callbacks) {
    if (is.function(cb$augment_logs)) logs <- cb$augment_logs(epoch, logs)
    cb$on_epoch_end(epoch, logs)
  }
  logs
}

fire_batch <- function(callbacks, which, batch, logs) {
  for (cb in callbacks) {
    cb[[paste0("on_train_batch_", which)]](batch, logs)
    cb[[paste0("on_batch_", which)]](batch, logs)
  }
  invisible()
}
