#' Learning-rate schedules
#'
#' Keras 3's schedules (`keras.optimizers.schedules`), given as an optimizer's
#' `learning_rate`: the rate of each training step is the schedule's value at the number of
#' steps taken before it (0 at the first step), with Keras's formulas:
#' * exponential decay: `initial_learning_rate * decay_rate ^ (step / decay_steps)`;
#' * inverse time decay: `initial_learning_rate / (1 + decay_rate * step / decay_steps)`;
#' * with `staircase = TRUE`, `step / decay_steps` is rounded down;
#' * piecewise constant: `values[i]` while `step <= boundaries[i]` (and above the previous
#'   boundary), `values` having one more entry than `boundaries`;
#' * polynomial decay: `(initial - end_learning_rate) * (1 - step / decay_steps) ^ power +
#'   end_learning_rate`, `step` capped at `decay_steps`, or with `cycle = TRUE`, `decay_steps`
#'   stretched to the next multiple that covers `step`;
#' * cosine decay: from `initial_learning_rate` (after a linear warm-up to `warmup_target`
#'   over `warmup_steps`, when given) down to `alpha` times it over `decay_steps`;
#' * cosine decay with restarts: cosine decays over `first_decay_steps`, each restart
#'   `t_mul` times longer and `m_mul` times higher.
#'
#' Callbacks that read the learning rate (`callback_reduce_lr_on_plateau()` logs it) see the
#' scheduled rate; a scheduled rate cannot be set.
#' @param initial_learning_rate The rate at step 0.
#' @param decay_steps,first_decay_steps Steps of one decay period.
#' @param decay_rate Decay factor.
#' @param staircase Decay in whole periods.
#' @param boundaries,values Steps where the rate changes, and the rates.
#' @param end_learning_rate,power,cycle Polynomial decay's final rate, power and cycling.
#' @param alpha The final rate as a fraction of the initial one (cosine decays).
#' @param warmup_target,warmup_steps Cosine decay's linear warm-up (none by default).
#' @param t_mul,m_mul How each restart lengthens its period and scales its rate.
#' @param ... Nothing else: any argument here is an error.
#' @param name Accepted for compatibility.
#' @returns A schedule for an optimizer's `learning_rate`.
#' @family optimizers
#' @name learning_rate_schedules
#' @examples
#' optimizer_sgd(learning_rate = learning_rate_schedule_exponential_decay(0.1, 1000, 0.96))
NULL

new_schedule <- function(class_name, engine, initial, config, dots, call) {
  fn <- paste0("learning_rate_schedule_", schedule_functions[[class_name]], "()")
  do.call(check_no_dots, c(dots, list(fn = fn, call = call)))
  structure(list(class_name = class_name, engine = as.double(engine), initial = initial, config = config),
            class = "rkeras_schedule")
}

#' @rdname learning_rate_schedules
#' @export
learning_rate_schedule_exponential_decay <- function(initial_learning_rate, decay_steps, decay_rate,
                                                     staircase = FALSE, ..., name = NULL) {
  decay_schedule("ExponentialDecay", 1, initial_learning_rate, decay_steps, decay_rate, staircase, list(...))
}

#' @rdname learning_rate_schedules
#' @export
learning_rate_schedule_inverse_time_decay <- function(initial_learning_rate, decay_steps, decay_rate,
                                                      staircase = FALSE, ..., name = NULL) {
  decay_schedule("InverseTimeDecay", 2, initial_learning_rate, decay_steps, decay_rate, staircase, list(...))
}

decay_schedule <- function(class_name, code, initial, steps, rate, staircase, dots, call = rlang::caller_env()) {
  initial <- check_number(initial, "initial_learning_rate", min = 0, call = call)
  steps <- check_number(steps, "decay_steps", min = 1e-30, call = call)
  rate <- check_number(rate, "decay_rate", min = 0, call = call)
  staircase <- check_flag(staircase, "staircase", call = call)
  new_schedule(class_name, c(code, initial, steps, rate, staircase), initial,
               list(initial_learning_rate = initial, decay_steps = steps, decay_rate = rate, staircase = staircase),
               dots, call)
}

#' @rdname learning_rate_schedules
#' @export
learning_rate_schedule_piecewise_constant_decay <- function(boundaries, values, ..., name = NULL) {
  call <- rlang::current_env()
  ok <- function(x) is.numeric(x) && length(x) >= 1 && all(is.finite(x))
  if (!ok(boundaries) || is.unsorted(boundaries, strictly = TRUE)) {
    rk_abort("`boundaries` must be increasing finite numbers.", "value", call)
  }
  if (!ok(values) || length(values) != length(boundaries) + 1 || any(values < 0)) {
    rk_abort(sprintf("`values` must be %d non-negative numbers: one more than `boundaries`.", length(boundaries) + 1), "value", call)
  }
  new_schedule("PiecewiseConstantDecay", c(3, length(boundaries), boundaries, values), values[[1]],
               list(boundaries = as.list(boundaries), values = as.list(values)), list(...), call)
}

#' @rdname learning_rate_schedules
#' @export
learning_rate_schedule_polynomial_decay <- function(initial_learning_rate, decay_steps, end_learning_rate = 1e-04,
                                                    power = 1, cycle = FALSE, ..., name = NULL) {
  call <- rlang::current_env()
  initial <- check_number(initial_learning_rate, "initial_learning_rate", min = 0)
  cfg <- list(initial_learning_rate = initial, decay_steps = check_number(decay_steps, "decay_steps", min = 1e-30),
              end_learning_rate = check_number(end_learning_rate, "end_learning_rate", min = 0),
              power = check_number(power, "power"), cycle = check_flag(cycle, "cycle"))
  new_schedule("PolynomialDecay", c(4, unlist(cfg)), initial, cfg, list(...), call)
}

#' @rdname learning_rate_schedules
#' @export
learning_rate_schedule_cosine_decay <- function(initial_learning_rate, decay_steps, alpha = 0, ..., name = NULL,
                                                warmup_target = NULL, warmup_steps = 0) {
  call <- rlang::current_env()
  initial <- check_number(initial_learning_rate, "initial_learning_rate", min = 0)
  cfg <- list(initial_learning_rate = initial, decay_steps = check_number(decay_steps, "decay_steps", min = 1e-30),
              alpha = check_number(alpha, "alpha", min = 0, max = 1),
              warmup_target = if (!is.null(warmup_target)) check_number(warmup_target, "warmup_target", min = 0),
              warmup_steps = check_number(warmup_steps, "warmup_steps", min = 0))
  if (!is.null(warmup_target) && cfg$warmup_steps <= 0) {
    rk_abort("`warmup_steps` must be positive when `warmup_target` is given.", "value", call)
  }
  new_schedule("CosineDecay", c(5, initial, cfg$decay_steps, cfg$alpha, cfg$warmup_target %||% NA, cfg$warmup_steps),
               initial, cfg, list(...), call)
}

#' @rdname learning_rate_schedules
#' @export
learning_rate_schedule_cosine_decay_restarts <- function(initial_learning_rate, first_decay_steps, t_mul = 2,
                                                         m_mul = 1, alpha = 0, ..., name = NULL) {
  call <- rlang::current_env()
  initial <- check_number(initial_learning_rate, "initial_learning_rate", min = 0)
  cfg <- list(initial_learning_rate = initial,
              first_decay_steps = check_number(first_decay_steps, "first_decay_steps", min = 1e-30),
              t_mul = check_number(t_mul, "t_mul", min = 1e-30), m_mul = check_number(m_mul, "m_mul", min = 0),
              alpha = check_number(alpha, "alpha", min = 0, max = 1))
  new_schedule("CosineDecayRestarts", c(6, unlist(cfg)), initial, cfg, list(...), call)
}

#' @export
print.rkeras_schedule <- function(x, ...) {
  cfg <- vapply(x$config, function(v) paste(format(unlist(v)), collapse = ", "), "")
  cat("<rkeras learning-rate schedule: ", x$class_name, "(", paste0(names(cfg), " = ", cfg, collapse = ", "), ")>\n", sep = "")
  invisible(x)
}
