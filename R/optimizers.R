#' Optimizers
#'
#' Keras's optimizers with Keras's update rules and defaults. The learning rate may be
#' given first and positionally (`optimizer_rmsprop(1e-4)`), as `learning_rate`, or as the
#' legacy `lr`. Every optimizer takes Keras's `clipnorm` (each gradient's norm at most
#' this), `global_clipnorm` (all gradients' joint norm) or `clipvalue` (each value within
#' `[-clipvalue, clipvalue]`), one of them at most, applied before the update, and
#' `weight_decay` (`w <- w - learning_rate * weight_decay * w` before each update). Keras 2's
#' `decay` (in `...`) divides the learning rate by `1 + decay * iterations`.
#' @param learning_rate Learning rate, or a schedule ([learning_rate_schedule_exponential_decay()]
#'   and the other `learning_rate_schedule_*()`), which sets the rate of every step.
#' @param rho Discounting factor for the moving average of squared gradients.
#' @param momentum Momentum.
#' @param epsilon Small constant for numerical stability.
#' @param centered Centered RMSprop.
#' @param nesterov Nesterov momentum.
#' @param beta_1,beta_2 Adam's decay rates.
#' @param amsgrad AMSGrad variant of Adam.
#' @param weight_decay Decoupled weight decay (`NULL` for none; AdamW's default is 0.004).
#' @param initial_accumulator_value Adagrad's starting accumulator.
#' @param clipnorm,clipvalue,global_clipnorm Gradient clipping (see above); `NULL` for none.
#' @param use_ema Must be `FALSE` (a moving average of the weights is not supported).
#' @param ema_momentum,ema_overwrite_frequency Used only with `use_ema`.
#' @param jit_compile,name Accepted for compatibility (rkeras always runs compiled code).
#' @param ... `lr` (legacy name of `learning_rate`) and `decay` (Keras 2's learning-rate decay).
#' @returns An optimizer for [compile()].
#' @family optimizers
#' @name optimizers
#' @examples
#' optimizer_rmsprop()
#' optimizer_adam(learning_rate = 1e-3)
#' optimizer_sgd(0.01, momentum = 0.9, nesterov = TRUE)
NULL

new_optimizer <- function(name, learning_rate, params, dots, call) {
  env <- call
  if (!is.null(dots$lr)) learning_rate <- dots$lr
  unknown <- setdiff(names(dots), c("lr", "decay"))
  if (length(unknown) || (length(dots) && (is.null(names(dots)) || any(!nzchar(names(dots)))))) {
    shown <- if (length(unknown)) paste0("`", unknown, "`", collapse = ", ") else "an unnamed argument"
    rk_abort(sprintf("Unknown argument %s.", shown), "value", call)
  }
  if (!isFALSE(env$use_ema)) {
    if (!isTRUE(env$use_ema)) check_flag(env$use_ema, "use_ema", call = call)
    rk_abort("`use_ema = TRUE` (a moving average of the weights) is not supported by rkeras yet.", "unsupported", call)
  }
  clip <- function(arg) {
    v <- env[[arg]]
    if (is.null(v)) NA_real_ else check_number(v, arg, min = 1e-30, call = call)
  }
  options <- c(clipnorm = clip("clipnorm"), clipvalue = clip("clipvalue"), global_clipnorm = clip("global_clipnorm"),
               weight_decay = check_number(env$weight_decay %||% 0, "weight_decay", min = 0, call = call),
               decay = check_number(dots$decay %||% 0, "decay", min = 0, call = call))
  if (sum(!is.na(options[1:3])) > 1) {
    rk_abort("Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set.", "value", call)
  }
  schedule <- NULL
  if (inherits(learning_rate, "rkeras_schedule")) {
    if (options[["decay"]] > 0) rk_abort("`decay` cannot be combined with a learning-rate schedule.", "value", call)
    schedule <- learning_rate
    learning_rate <- schedule$initial
  }
  structure(list(name = name, learning_rate = check_number(learning_rate, "learning_rate", min = 0, call = call),
                 schedule = schedule, params = as.double(params), options = options),
            class = c(paste0("rkeras_optimizer_", name), "rkeras_optimizer"))
}

#' @rdname optimizers
#' @export
optimizer_rmsprop <- function(learning_rate = 0.001, rho = 0.9, momentum = 0, epsilon = 1e-07,
                              centered = FALSE, weight_decay = NULL, clipnorm = NULL, clipvalue = NULL,
                              global_clipnorm = NULL, use_ema = FALSE, ema_momentum = 0.99,
                              ema_overwrite_frequency = 100L, jit_compile = TRUE, name = "RMSprop", ...) {
  new_optimizer("rmsprop", learning_rate,
                c(check_number(rho, "rho", 0, 1), check_number(momentum, "momentum", 0, 1),
                  check_number(epsilon %||% 1e-7, "epsilon", min = 0), check_flag(centered, "centered")),
                list(...), rlang::current_env())
}

#' @rdname optimizers
#' @export
optimizer_sgd <- function(learning_rate = 0.01, momentum = 0, nesterov = FALSE, weight_decay = NULL,
                          clipnorm = NULL, clipvalue = NULL, global_clipnorm = NULL, use_ema = FALSE,
                          ema_momentum = 0.99, ema_overwrite_frequency = NULL, jit_compile = TRUE,
                          name = "SGD", ...) {
  new_optimizer("sgd", learning_rate,
                c(check_number(momentum, "momentum", 0, 1), check_flag(nesterov, "nesterov")),
                list(...), rlang::current_env())
}

#' @rdname optimizers
#' @export
optimizer_adam <- function(learning_rate = 0.001, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-07,
                           amsgrad = FALSE, weight_decay = NULL, clipnorm = NULL, clipvalue = NULL,
                           global_clipnorm = NULL, use_ema = FALSE, ema_momentum = 0.99,
                           ema_overwrite_frequency = NULL, jit_compile = TRUE, name = "Adam", ...) {
  new_optimizer("adam", learning_rate,
                c(check_number(beta_1, "beta_1", 0, 1), check_number(beta_2, "beta_2", 0, 1),
                  check_number(epsilon %||% 1e-7, "epsilon", min = 0), check_flag(amsgrad, "amsgrad"),
                  check_number(weight_decay %||% 0, "weight_decay", min = 0)),
                list(...), rlang::current_env())
}

#' @rdname optimizers
#' @export
optimizer_adamw <- function(learning_rate = 0.001, weight_decay = 0.004, beta_1 = 0.9, beta_2 = 0.999,
                            epsilon = 1e-07, amsgrad = FALSE, clipnorm = NULL, clipvalue = NULL,
                            global_clipnorm = NULL, use_ema = FALSE, ema_momentum = 0.99,
                            ema_overwrite_frequency = NULL, jit_compile = TRUE, name = "AdamW", ...) {
  new_optimizer("adamw", learning_rate,
                c(check_number(beta_1, "beta_1", 0, 1), check_number(beta_2, "beta_2", 0, 1),
                  check_number(epsilon, "epsilon", min = 0), check_flag(amsgrad, "amsgrad"),
                  check_number(weight_decay, "weight_decay", min = 0)),
                list(...), rlang::current_env())
}

#' @rdname optimizers
#' @export
optimizer_adagrad <- function(learning_rate = 0.001, initial_accumulator_value = 0.1, epsilon = 1e-07,
                              weight_decay = NULL, clipnorm = NULL, clipvalue = NULL,
                              global_clipnorm = NULL, use_ema = FALSE, ema_momentum = 0.99,
                              ema_overwrite_frequency = NULL, jit_compile = TRUE, name = "Adagrad", ...) {
  new_optimizer("adagrad", learning_rate,
                c(check_number(initial_accumulator_value, "initial_accumulator_value", min = 0),
                  check_number(epsilon, "epsilon", min = 0)),
                list(...), rlang::current_env())
}

#' @rdname optimizers
#' @export
optimizer_adadelta <- function(learning_rate = 0.001, rho = 0.95, epsilon = 1e-07, weight_decay = NULL,
                               clipnorm = NULL, clipvalue = NULL, global_clipnorm = NULL, use_ema = FALSE,
                               ema_momentum = 0.99, ema_overwrite_frequency = NULL, jit_compile = TRUE,
                               name = "Adadelta", ...) {
  new_optimizer("adadelta", learning_rate,
                c(check_number(rho, "rho", 0, 1), check_number(epsilon, "epsilon", min = 0)),
                list(...), rlang::current_env())
}

#' @rdname optimizers
#' @export
optimizer_adamax <- function(learning_rate = 0.001, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-07,
                             weight_decay = NULL, clipnorm = NULL, clipvalue = NULL, global_clipnorm = NULL,
                             use_ema = FALSE, ema_momentum = 0.99, ema_overwrite_frequency = NULL,
                             jit_compile = TRUE, name = "Adamax", ...) {
  new_optimizer("adamax", learning_rate,
                c(check_number(beta_1, "beta_1", 0, 1), check_number(beta_2, "beta_2", 0, 1),
                  check_number(epsilon, "epsilon", min = 0)),
                list(...), rlang::current_env())
}

#' @rdname optimizers
#' @export
optimizer_nadam <- function(learning_rate = 0.001, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-07,
                            weight_decay = NULL, clipnorm = NULL, clipvalue = NULL, global_clipnorm = NULL,
                            use_ema = FALSE, ema_momentum = 0.99, ema_overwrite_frequency = NULL,
                            jit_compile = TRUE, name = "Nadam", ...) {
  new_optimizer("nadam", learning_rate,
                c(check_number(beta_1, "beta_1", 0, 1), check_number(beta_2, "beta_2", 0, 1),
                  check_number(epsilon, "epsilon", min = 0)),
                list(...), rlang::current_env())
}

#' @export
print.rkeras_optimizer <- function(x, ...) {
  cat("<rkeras optimizer: ", x$name, ", learning_rate = ", format(as.numeric(x$learning_rate)), ">\n", sep = "")
  invisible(x)
}

as_optimizer <- function(x, call = rlang::caller_env()) {
  if (inherits(x, "rkeras_optimizer")) return(x)
  if (is.function(x) && !is.null(attr(x, "rkeras_optimizer"))) x <- attr(x, "rkeras_optimizer")
  x <- check_string(lower(x), "optimizer", choices = c("rmsprop", "adam", "sgd", "adagrad", "adamw", "adadelta", "adamax", "nadam"), call = call)
  switch(x, rmsprop = optimizer_rmsprop(), adam = optimizer_adam(), sgd = optimizer_sgd(),
         adagrad = optimizer_adagrad(), adamw = optimizer_adamw(), adadelta = optimizer_adadelta(),
         adamax = optimizer_adamax(), nadam = optimizer_nadam())
}

# ---- a compiled model's optimizer -------------------------------------------------------

#' A model's optimizer and its learning rate
#'
#' `model$optimizer` is the optimizer the model was compiled with. Its learning rate,
#' `model$optimizer$learning_rate` (or Keras 2's `model$optimizer$lr`), is the rate the
#' model trains with now (after any schedule or callback changed it); `k_get_value()` reads
#' it and `k_set_value()` (Keras for R 2) or `model$optimizer$learning_rate <- value`
#' (Keras for R 3) changes it for the following steps, as in Keras.
#' @param x A model's `optimizer$learning_rate` (or `optimizer$lr`).
#' @param value The new learning rate (a number at least 0).
#' @param name A field of the optimizer.
#' @returns `k_set_value()`: `NULL`, invisibly.
#' @family backend
#' @export
#' @examples
#' model <- keras_model_sequential() %>% layer_dense(1, input_shape = 2)
#' model %>% compile(optimizer = optimizer_adam(0.01), loss = "mse")
#' k_get_value(model$optimizer$lr)
#' k_set_value(model$optimizer$lr, 0.001)
#' model$optimizer$learning_rate
k_set_value <- function(x, value) {
  model <- lr_model(x)
  if (is.null(model)) {
    rk_abort(sprintf(paste0("`x` must be a model's learning rate (model$optimizer$lr), not %s: rkeras's ",
                            "k_variable() values are R arrays, changed by assigning to them."), show_value(x)), "type")
  }
  set_lr(model, value, "value", call = rlang::current_env())
  invisible(NULL)
}

#' The model whose learning rate `x` is, or NULL
#' @noRd
lr_model <- function(x) {
  model <- if (inherits(x, "rkeras_learning_rate")) attr(x, "rkeras_model")
  if (!is.null(model) && !rk_ptr_dead(model$ptr)) model
}

#' @rdname k_set_value
#' @export
`$.rkeras_optimizer` <- function(x, name) {
  if (identical(name, "lr")) name <- "learning_rate"
  model <- attr(x, "rkeras_model")
  if (identical(name, "learning_rate") && !is.null(model) && !rk_ptr_dead(model$ptr)) {
    return(structure(current_lr(model), class = "rkeras_learning_rate", rkeras_model = model))
  }
  .subset2(x, name)
}

#' @rdname k_set_value
#' @export
`$<-.rkeras_optimizer` <- function(x, name, value) {
  model <- attr(x, "rkeras_model")
  if (!name %in% c("lr", "learning_rate") || is.null(model)) {
    rk_abort(sprintf("`optimizer$%s` cannot be set; a compiled model's optimizer takes `learning_rate`.", name), "value")
  }
  set_lr(model, value, "learning_rate", call = rlang::current_env())
  x
}

#' @export
print.rkeras_learning_rate <- function(x, ...) {
  print(as.numeric(x))
  invisible(x)
}

#' @rdname k_set_value
#' @param i A field of the optimizer.
#' @export
`[[<-.rkeras_optimizer` <- function(x, i, value) {
  `$<-.rkeras_optimizer`(x, check_string(i, "i"), value)
}
