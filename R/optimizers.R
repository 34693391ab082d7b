#' Optimizers
#'
#' Keras's optimizers with Keras's update rules and defaults. The learning rate may be
#' given first and positionally (`optimizer_rmsprop(1e-4)`), as `learning_rate`, or as the
#' legacy `lr`. `decay`, clipping and EMA arguments are accepted only at their defaults.
#' @param learning_rate Learning rate.
#' @param rho Discounting factor for the moving average of squared gradients.
#' @param momentum Momentum.
#' @param epsilon Small constant for numerical stability.
#' @param centered Centered RMSprop.
#' @param nesterov Nesterov momentum.
#' @param beta_1,beta_2 Adam's decay rates.
#' @param amsgrad AMSGrad variant of Adam.
#' @param weight_decay Decoupled weight decay (AdamW; `NULL` or 0 elsewhere).
#' @param initial_accumulator_value Adagrad's starting accumulator.
#' @param clipnorm,clipvalue,global_clipnorm,use_ema,ema_momentum,ema_overwrite_frequency,jit_compile,name Accepted for compatibility.
#' @param ... `lr` (legacy name of `learning_rate`) and `decay` (only 0).
#' @returns An optimizer for [compile()].
#' @family optimizers
#' @name optimizers
#' @examples
#' optimizer_rmsprop()
#' optimizer_adam(learning_rate = 1e-3)
#' optimizer_sgd(0.01, momentum = 0.9, nesterov = TRUE)
NULL

new_optimizer <- function(name, learning_rate, params, dots, call) {
  if (!is.null(dots$lr)) learning_rate <- dots$lr
  if (!is.null(dots$decay) && !identical(as.numeric(dots$decay), 0)) {
    rk_abort("`decay` is not supported; use callback_learning_rate_scheduler() instead.", "unsupported", call)
  }
  unknown <- setdiff(names(dots), c("lr", "decay", "clipnorm", "clipvalue"))
  if (length(unknown)) {
    rk_abort(sprintf("Unknown argument %s.", paste0("`", unknown, "`", collapse = ", ")), "value", call)
  }
  structure(list(name = name, learning_rate = check_number(learning_rate, "learning_rate", min = 0, call = call),
                 params = as.double(params)),
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

#' @export
print.rkeras_optimizer <- function(x, ...) {
  cat("<rkeras optimizer: ", x$name, ", learning_rate = ", format(x$learning_rate), ">\n", sep = "")
  invisible(x)
}

as_optimizer <- function(x, call = rlang::caller_env()) {
  if (inherits(x, "rkeras_optimizer")) return(x)
  if (is.function(x) && !is.null(attr(x, "rkeras_optimizer"))) x <- attr(x, "rkeras_optimizer")
  x <- check_string(x, "optimizer", choices = c("rmsprop", "adam", "sgd", "adagrad", "adamw"), call = call)
  switch(x, rmsprop = optimizer_rmsprop(), adam = optimizer_adam(), sgd = optimizer_sgd(),
         adagrad = optimizer_adagrad(), adamw = optimizer_adamw())
}
