#' Train, evaluate and predict with an R generator function
#'
#' A generator is a function with no arguments returning one batch per call:
#' `list(x, y)` or `list(x, y, sample_weight)` (training and evaluation) or `list(x)`
#' (prediction). Batch sizes may vary between calls. As in Keras for R 2.x, these functions
#' are deprecated: `fit()`, `evaluate()` and `predict()` take generators the same way, and
#' each function here warns so once per session.
#'
#' While the engine trains on batch k on worker threads, R already calls the generator
#' for batch k + 1 on the main thread, so the time spent in R hides behind the training
#' step. R code only ever runs on R's main thread. Set `options(rkeras.overlap = FALSE)` to
#' run the two one after the other.
#' @inheritParams fit.rkeras_model
#' @param generator A function returning a batch per call.
#' @param steps_per_epoch Batches per epoch (required).
#' @param validation_steps Batches drawn from a generator `validation_data` at each epoch end.
#' @param epochs Index of the final epoch (default 1, as in Keras).
#' @param max_queue_size,workers Accepted for compatibility: rkeras always prefetches
#'   exactly one batch (calling the generator while the previous batch trains), on R's
#'   main thread, which is the only thread allowed to run R code.
#' @param steps Batches to draw for evaluation or prediction.
#' @returns `fit_generator()`: a `keras_training_history`, invisibly;
#'   `evaluate_generator()`: a named list; `predict_generator()`: a matrix with the rows of
#'   all `steps` batches stacked.
#' @family model functions
#' @export
#' @examples
#' gen <- function() { x <- matrix(rnorm(64), 32); list(x, x %*% c(1, 2)) }
#' model <- keras_model_sequential() %>% layer_dense(1, input_shape = 2)
#' model %>% compile(optimizer = optimizer_sgd(0.05), loss = "mse")
#' # fit() takes the generator; fit_generator() does the same and warns, once per session,
#' # that it is deprecated, as Keras for R 2.x does.
#' model %>% fit(gen, steps_per_epoch = 5, epochs = 2, verbose = 0)
#' suppressWarnings(model %>% fit_generator(gen, steps_per_epoch = 5, epochs = 2, verbose = 0))
fit_generator <- function(object, generator, steps_per_epoch, epochs = 1,
                          verbose = getOption("keras.fit_verbose", default = 1), callbacks = NULL,
                          view_metrics = getOption("keras.view_metrics", default = "auto"),
                          validation_data = NULL, validation_steps = NULL, class_weight = NULL,
                          max_queue_size = 10, workers = 1, initial_epoch = 0) {
  warn_generator_deprecated("fit_generator", "fit")
  check_model(object)
  compiled <- require_compiled(object)
  check_generator(generator, "generator")
  if (missing(steps_per_epoch) || is.null(steps_per_epoch)) steps_per_epoch <- attr(generator, "steps")
  if (is.null(steps_per_epoch)) {
    rk_abort("`steps_per_epoch` must be given with a generator: it has no length.", "value")
  }
  steps <- check_steps(steps_per_epoch, "steps_per_epoch")
  epochs <- check_count(epochs, "epochs", min = 0)
  verbose <- check_verbose(verbose)
  initial_epoch <- check_count(initial_epoch, "initial_epoch", min = 0)
  view <- resolve_view_metrics(view_metrics, verbose, epochs - initial_epoch)
  check_count(max_queue_size, "max_queue_size", min = 0)
  check_count(workers, "workers", min = 0)
  callbacks <- as_callbacks(callbacks)
  validate <- NULL
  if (is.function(validation_data)) {
    vsteps <- check_steps(validation_steps %||% attr(validation_data, "steps") %||% rk_abort("`validation_steps` must be given when `validation_data` is a generator.", "value"),
                          "validation_steps")
    validate <- function(callbacks) {
      generator_eval(object, validation_data, vsteps, "validation_data", prefix = "val_", callbacks = callbacks)
    }
  } else if (!is.null(validation_data)) {
    validate <- prepare_validation(object, validation_data, 32L)
  }
  overlap <- isTRUE(getOption("rkeras.overlap", TRUE))
  ptr <- object$ptr
  # Never leave a step running when control returns to R (error or interrupt).
  on.exit(rk_model_join(ptr), add = TRUE)
  state <- new.env(parent = emptyenv())
  state$next_batch <- NULL
  state$step_no <- 0L
  total <- (epochs - initial_epoch) * steps
  draw <- function() {
    state$step_no <- state$step_no + 1L
    generator_batch(object, generator, state$step_no, compiled, class_weight, "training")
  }
  train_epoch <- function(epoch, pb, batch_cbs) {
    if (is.null(state$next_batch)) state$next_batch <- draw()
    run_steps(object, pb, steps, batch_cbs, function(from, k) {
      for (i in seq_len(k)) {
        b <- state$next_batch
        state$next_batch <- NULL
        more <- state$step_no < total
        if (overlap) {
          use_shapes(object, b$shapes)
          rk_call(rk_batch(ptr, "train", b$x, nrow(b$x), ncol(b$x), b$y, ncol(b$y), b$w, TRUE))
          if (more) state$next_batch <- draw()
          rk_call(rk_model_join(ptr))
        } else {
          use_shapes(object, b$shapes)
          rk_call(rk_batch(ptr, "train", b$x, nrow(b$x), ncol(b$x), b$y, ncol(b$y), b$w, FALSE))
          if (more) state$next_batch <- draw()
        }
      }
    }, size = function(s) nrow(state$next_batch$x %||% matrix(0, 0, 0)))
  }
  # While R runs the generator on one core, the engine keeps to the others.
  threads <- if (overlap) max(1L, num_threads() - 1L) else num_threads()
  run_training(object, epochs, initial_epoch, steps, verbose, callbacks, train_epoch, validate, threads, view = view)
}

check_generator <- function(generator, arg, call = rlang::caller_env()) {
  if (!is.function(generator)) {
    rk_abort(sprintf("`%s` must be a generator function returning list(x, y), not %s.", arg, show_value(generator)),
             "type", call)
  }
}

#' Call a generator once and check what it returned
#' @noRd
generator_batch <- function(model, generator, step, compiled, class_weight, what, need_y = TRUE,
                            call = rlang::caller_env()) {
  out <- generator()
  where <- sprintf("The %s generator's output at step %d", what, step)
  fail <- function(msg) rk_abort(paste0(where, " ", msg), "generator", call)
  if (!is.list(out) || is.data.frame(out)) fail(sprintf("must be list(x, y), not %s.", show_value(out)))
  if (need_y && !length(out) %in% 2:3) fail(sprintf("must be list(x, y) or list(x, y, sample_weight), not a list of length %d.", length(out)))
  if (!need_y && !length(out) %in% 1:3) fail(sprintf("must be list(x) or list(x, y), not a list of length %d.", length(out)))
  x <- out[[1]]
  texts <- !is.null(model$text_vectorization) && (is.character(x) || is.factor(x))
  if (!is.numeric(x) && !is.logical(x) && !texts && !(has_graph(model) && is.list(x))) {
    fail(sprintf("has x of type %s; x must be a numeric matrix or array%s.", typeof(x),
                 if (!is.null(model$text_vectorization)) " (or texts, for this model's text vectorization)" else ""))
  }
  x <- tryCatch(prepare_x(model, x, "x"), rkeras_error = function(e) fail(paste0("is not usable: ", conditionMessage(e))))
  if (has_nonfinite(x)) {
    i <- which(!is.finite(x))[[1]]
    fail(sprintf("has a missing or non-finite value in x (row %d, column %d).", (i - 1) %% nrow(x) + 1, (i - 1) %/% nrow(x) + 1))
  }
  if (!need_y) return(list(x = to_double(x)))
  y <- out[[2]]
  if (!is.numeric(y) && !is.logical(y) && !(has_graph(model) && is.list(y))) fail(sprintf("has y of type %s; y must be a numeric matrix or vector.", typeof(y)))
  y <- tryCatch(prepare_y(model, y, nrow(x), "y"), rkeras_error = function(e) fail(paste0("is not usable: ", conditionMessage(e))))
  if (has_nonfinite(y)) fail("has a missing or non-finite value in y.")
  sw <- if (length(out) == 3) out[[3]]
  w <- if (is.null(sw) && is.null(class_weight)) NULL else
    tryCatch(prepare_weights(y, sw, class_weight, nrow(x), compiled$loss),
             rkeras_error = function(e) fail(paste0("is not usable: ", conditionMessage(e))))
  list(x = to_double(x), y = to_double(y), w = w, shapes = attr(x, "sample_shapes"))
}

#' Any NA, NaN or Inf? One vectorised pass in the engine, without allocation (R's `sum()`
#' takes longer than the training step's own conversion of the batch).
#' @noRd
has_nonfinite <- function(x) rk_any_nonfinite(x)

#' Evaluate `steps` generator batches; returns logs with `prefix`
#' @noRd
generator_eval <- function(model, generator, steps, what, prefix = "", callbacks = list()) {
  compiled <- require_compiled(model)
  tracker_reset(model, FALSE)
  # Steps are the units here (a generator's batch size is known only once it is drawn).
  chunked_rows(steps, 1L, function(from, to) {
    for (s in seq(from + 1L, to)) {
      b <- generator_batch(model, generator, s, compiled, NULL, what)
      use_shapes(model, b$shapes)
      rk_call(rk_batch(model$ptr, "test", b$x, nrow(b$x), ncol(b$x), b$y, ncol(b$y), b$w, FALSE))
    }
    tracker_logs(model, FALSE, prefix = "")
  }, callbacks, "test", rows = FALSE)
  tracker_logs(model, FALSE, reset = TRUE, prefix = prefix)
}

#' @rdname fit_generator
#' @export
evaluate_generator <- function(object, generator, steps, max_queue_size = 10, workers = 1, callbacks = NULL) {
  warn_generator_deprecated("evaluate_generator", "evaluate")
  check_model(object)
  check_generator(generator, "generator")
  steps <- check_steps(generator_steps(generator, steps), "steps")
  callbacks <- as_callbacks(callbacks)
  use_threads(object)
  fire(callbacks, "on_test_begin", list())
  logs <- generator_eval(object, generator, steps, "evaluation", callbacks = callbacks)
  fire(callbacks, "on_test_end", logs)
  logs
}

#' @rdname fit_generator
#' @export
predict_generator <- function(object, generator, steps, max_queue_size = 10, workers = 1, verbose = 0,
                              callbacks = NULL) {
  warn_generator_deprecated("predict_generator", "predict")
  check_model(object)
  check_generator(generator, "generator")
  steps <- check_steps(generator_steps(generator, steps), "steps")
  callbacks <- as_callbacks(callbacks)
  use_threads(object)
  fire(callbacks, "on_predict_begin", list())
  parts <- vector("list", steps)
  chunked_rows(steps, 1L, function(from, to) {
    for (s in seq(from + 1L, to)) {
      b <- generator_batch(object, generator, s, NULL, NULL, "prediction", need_y = FALSE)
      v <- predict_rows(object, b$x, 0, nrow(b$x), nrow(b$x))
      parts[[s]] <<- v
    }
    list(outputs = v)
  }, callbacks, "predict", rows = FALSE)
  fire(callbacks, "on_predict_end", list())
  shape_outputs(object, do.call(rbind, parts))
}

#' `steps`, or the number of batches a dataset generator carries (`attr(, "steps")`)
#' @noRd
generator_steps <- function(generator, steps) {
  if (missing(steps) || is.null(steps)) attr(generator, "steps") else steps
}

#' Keras for R 2.x's deprecation warning of `fit_generator()`, `evaluate_generator()` and
#' `predict_generator()`, once per session for each; not when `fit()`, `evaluate()` or
#' `predict()` given a generator runs them
#' @noRd
warn_generator_deprecated <- function(fn, instead) {
  key <- paste0("warned_", fn)
  if (isTRUE(rk_cache$generator_via_fit) || isTRUE(rk_cache[[key]])) return(invisible())
  rk_cache[[key]] <- TRUE
  warning(sprintf("`%s` is deprecated. Use `%s` instead, it now accept generators.", fn, instead), call. = FALSE)
}

#' Run a generator function on behalf of `fit()`, `evaluate()` or `predict()`
#' @noRd
via_fit <- function(expr) {
  old <- rk_cache$generator_via_fit
  rk_cache$generator_via_fit <- TRUE
  on.exit(rk_cache$generator_via_fit <- old)
  expr
}
