#' Configure a model for training
#'
#' Sets the optimizer, loss and metrics. Changes the model in place and returns it
#' invisibly; recompiling resets the optimizer state but keeps the weights.
#' @param object A model.
#' @param optimizer Optimizer name (`"rmsprop"`, `"adam"`, `"sgd"`, `"adagrad"`, `"adamw"`)
#'   or an `optimizer_*()` object.
#' @param loss Loss name or `loss_*()` function or object (see [losses]).
#' @param metrics Character vector or list of metrics (see [metrics]), computed on every
#'   output; for models with several outputs also a list named by output layer.
#' @param loss_weights Weights of the outputs' losses in the total loss: a number per output,
#'   in output order or named by output layer.
#' @param weighted_metrics Metrics weighted by `sample_weight` and `class_weight` (given as
#'   `metrics` are). As in Keras, plain `metrics` are unweighted; a weighted metric whose
#'   name is also a plain metric's is logged as `weighted_<name>`.
#' @param run_eagerly,steps_per_execution,target_tensors,sample_weight_mode
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
  check_no_dots(..., fn = "compile()")
  if (is.null(loss)) rk_abort("`loss` must be given: a loss name such as \"categorical_crossentropy\" or a loss_*() function.", "value")
  check_unsupported(target_tensors = target_tensors, sample_weight_mode = sample_weight_mode)
  if (!has_graph(object) && !is.null(get0("custom_call", envir = model_env(object), inherits = FALSE))) {
    # A custom model has no outputs before its first data: compiled once it is built.
    object$pending_compile <- list(optimizer = optimizer, loss = loss, metrics = metrics, loss_weights = loss_weights,
                                   weighted_metrics = weighted_metrics)
    return(invisible(object))
  }
  outs <- output_names(object)
  engine_losses <- per_output(loss, outs, "loss", as_loss_arg)
  # Loss names as R's checks know them; the engine also gets the options (`+logits`).
  losses <- vapply(sub("\\+.*$", "", engine_losses), canonical_loss, "")
  engine_losses <- paste0(losses, sub("^[^+]*", "", engine_losses))
  weights <- if (is.null(loss_weights)) rep(1, length(outs)) else
    vapply(per_output(loss_weights, outs, "loss_weights", function(w, arg) check_number(w, arg, min = 0)), as.double, 1)
  optimizer <- as_optimizer(optimizer %||% "rmsprop")
  slots <- metric_slots(metrics_per_output(metrics, outs, losses), metrics_per_output(weighted_metrics, outs, losses), outs)
  engine <- !is.na(slots$kinds)
  if (!all(engine) && length(outs) > 1) {
    rk_abort("Metrics written in R need a model with one output.", "unsupported")
  }
  previous <- object$compiled
  object$compiled <- list(loss = losses[[1]], losses = unname(losses), engine_losses = unname(engine_losses),
                          loss_fns = r_loss_fns(loss, outs), loss_labels = loss_labels(loss, substitute(loss), outs),
                          loss_weights = unname(weights),
                          metric_names = slots$names, metric_kinds = slots$kinds[engine],
                          metric_weighted = slots$weighted[engine], metric_outputs = slots$outputs[engine],
                          engine_slots = which(engine), r_metrics = slots$r_metrics,
                          optimizer = optimizer,
                          log_names = c("loss", if (length(outs) > 1) paste0(outs, "_loss"), slots$log_names))
  object$r_metric_state <- NULL
  # A compile that fails (a loss written in R that cannot be recorded) leaves the model as
  # it was.
  tryCatch(recompile(object), error = function(e) {
    object$compiled <- previous
    if (!is.null(previous)) recompile(object)
    stop(e)
  })
  invisible(object)
}

#' Send the compiled configuration to the engine (again after the layers changed)
#' @noRd
recompile <- function(object, call = rlang::caller_env()) {
  c <- object$compiled
  c$custom_losses <- custom_loss_graphs(object, c$loss_fns, call)
  rk_call(rk_model_compile(object$ptr, to_json(compile_spec(c))), call = call)
  rk_call(rk_tracker_keep(object$ptr, length(c$r_metrics) > 0), call = call)
  invisible(object)
}

#' What compile() gives the engine (`compile.rs`'s `CompileSpec`): the loss and weight of
#' each output, the metrics computed in the engine, and the optimizer
#' @noRd
compile_spec <- function(c) {
  opt <- c$optimizer
  options <- as.list(opt$options %||% c(clipnorm = NA, clipvalue = NA, global_clipnorm = NA, weight_decay = 0, decay = 0))
  options[vapply(options, is.na, TRUE)] <- list(NULL)
  weighted <- rep_len(as.logical(c$metric_weighted %||% FALSE), length(c$metric_kinds))
  losses <- as.character(c$engine_losses %||% c$losses)
  # Until the model is built, a loss written in R cannot be recorded: the engine holds
  # mean squared error in its place, and building the model compiles it again.
  if (is.null(c$custom_losses)) losses[losses == "custom"] <- "mean_squared_error"
  spec <- list(losses = I(losses),
               loss_weights = I(as.double(c$loss_weights)),
               metrics = lapply(seq_along(c$metric_kinds), function(i) {
                 list(kind = as.character(c$metric_kinds[[i]]), output = as.integer(c$metric_outputs[[i]]), weighted = weighted[[i]])
               }),
               optimizer = c(list(name = opt$name, learning_rate = opt$learning_rate,
                                  schedule = if (!is.null(opt$schedule$engine)) I(as.double(opt$schedule$engine)),
                                  params = I(as.double(opt$params))),
                             options))
  if (!is.null(c$custom_losses)) spec$custom_losses <- c$custom_losses
  spec
}

as_loss_arg <- function(x, arg) as_loss(x)

#' The metrics in the order of the logs: each output's plain metrics, then each output's
#' weighted ones, with their log names (`<output>_<name>` with several outputs; a weighted
#' metric named as a plain one gets `weighted_`), engine forms (NA for a metric written in
#' R), outputs (0-based) and weighting; `r_metrics` lists the R ones with their positions.
#' @noRd
metric_slots <- function(plain, weighted, outs) {
  one <- function(per_out, w) {
    Map(function(pm, o) list(names = pm$names, kinds = pm$kinds, fns = pm$fns, output = rep(o - 1L, length(pm$names)),
                             weighted = rep(w, length(pm$names))), per_out, seq_along(outs))
  }
  parts <- c(one(plain, FALSE), one(weighted, TRUE))
  get <- function(f) unname(unlist(lapply(parts, `[[`, f)))
  names <- get("names") %||% character()
  output <- get("output") %||% integer()
  is_w <- get("weighted") %||% logical()
  prefix <- if (length(outs) > 1 && length(names)) paste0(outs[output + 1L], "_") else rep("", length(names))
  log_names <- paste0(prefix, names)
  clash <- is_w & log_names %in% log_names[!is_w]
  log_names[clash] <- paste0(prefix[clash], "weighted_", names[clash])
  fns <- unlist(lapply(parts, `[[`, "fns"), recursive = FALSE) %||% list()
  kinds <- get("kinds") %||% character()
  r_at <- which(is.na(kinds))
  list(names = names[!is_w & output == 0L], kinds = kinds, outputs = output, weighted = is_w, log_names = log_names,
       r_metrics = lapply(r_at, function(i) list(slot = i, fn = fns[[i]], weighted = is_w[[i]], name = log_names[[i]])))
}

#' Metrics for each output: the same for all, or a list named by output layer (each entry
#' a metric or several)
#' @noRd
metrics_per_output <- function(metrics, outs, losses, call = rlang::caller_env()) {
  nms <- names(metrics)
  if (length(outs) > 1 && is.list(metrics) && !is.null(nms) && all(nzchar(nms))) {
    bad <- setdiff(nms, outs)
    if (length(bad)) {
      rk_abort(sprintf("`metrics` names '%s', which is not an output of the model (outputs: %s).", bad[[1]],
                       paste0("'", outs, "'", collapse = ", ")), "value", call)
    }
    return(lapply(seq_along(outs), function(i) as_metrics(metrics[[outs[[i]]]], losses[[i]], call)))
  }
  lapply(losses, function(l) as_metrics(metrics, l, call))
}

#' One value per output from a single value, an unnamed list in output order, or a list
#' named by output layer
#' @noRd
per_output <- function(x, outs, arg, convert, call = rlang::caller_env()) {
  several <- (is.list(x) && !inherits(x, "rkeras_loss")) || (is.atomic(x) && length(x) > 1)
  if (!several || (length(outs) == 1 && length(x) == 1 && is.null(names(x)))) {
    if (is.list(x) && !inherits(x, "rkeras_loss")) x <- x[[1]]
    v <- convert(x, arg)
    return(rep(list(v), length(outs)))
  }
  x <- as.list(x)
  nms <- names(x)
  if (!is.null(nms) && all(nzchar(nms))) {
    bad <- setdiff(nms, outs)
    if (length(bad)) {
      rk_abort(sprintf("`%s` names '%s', which is not an output of the model (outputs: %s).", arg, bad[[1]],
                       paste0("'", outs, "'", collapse = ", ")), "value", call)
    }
    missing <- setdiff(outs, nms)
    if (length(missing)) rk_abort(sprintf("`%s` has no entry for output '%s'.", arg, missing[[1]]), "value", call)
    x <- x[outs]
  } else if (length(x) != length(outs)) {
    rk_abort(sprintf("`%s` must have one entry per output (%d), got %d.", arg, length(outs), length(x)), "value", call)
  }
  lapply(seq_along(x), function(i) convert(x[[i]], sprintf("%s[[%d]]", arg, i)))
}

#' The learning rate the optimizer uses now
#' @noRd
current_lr <- function(model) rk_call(rk_model_get(model$ptr, "learning_rate"))

#' Set the learning rate of `model` to `lr` (argument `arg` in messages); a rate read from
#' `model$optimizer` is taken as its number
#' @noRd
set_lr <- function(model, lr, arg = "learning rate", call = rlang::caller_env()) {
  if (inherits(lr, "rkeras_learning_rate")) lr <- as.numeric(lr)
  lr <- check_number(lr, arg, min = 0, call = call)
  rk_call(rk_model_set(model$ptr, "learning_rate", lr), call = call)
  invisible(lr)
}
