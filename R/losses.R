#' Loss functions
#'
#' Pass a name (`loss = "categorical_crossentropy"`, `"mse"`, `"huber"`, `"kld"`, ...), the
#' function itself (`loss = loss_categorical_crossentropy`) or a loss object
#' (`loss_binary_crossentropy()`, `loss_huber(delta = 2)`) to [compile()]. Called with
#' `y_true` and `y_pred`, they compute per-sample losses with the engine's formulas, which
#' follow Keras 3's: probabilities clipped to `[1e-7, 1 - 1e-7]` before logs; the hinge
#' losses take 0/1 targets as -1/1 when every target is 0 or 1; cosine similarity is
#' negative (`-1` for identical directions); `loss_cosine_proximity` (`"cosine_proximity"`) is
#' Keras 2's name for it, the same formula. Called on tensors (in a loss written in R),
#' they return the per-sample losses as a tensor, written with the `k_*` operations.
#' @param y_true,y_pred Targets and predictions (samples in rows).
#' @param ... Keras's loss arguments: `from_logits` (the crossentropies: `y_pred` holds
#'   logits, and the loss is computed through log-sum-exp), `label_smoothing` (categorical and
#'   binary crossentropy: targets become `y * (1 - ls) + ls / classes`, with 2 classes for
#'   binary), `delta` (Huber: quadratic within `delta`, linear beyond; default 1), `name`;
#'   `axis = -1` and `reduction = "sum_over_batch_size"` (or `"auto"`) only
#'   at their defaults. Any other argument or value is an error.
#' @returns Per-sample losses, or a loss object when called without data.
#' @family losses
#' @name losses
#' @examples
#' loss_categorical_crossentropy(diag(2), matrix(c(0.9, 0.2, 0.1, 0.8), 2))
NULL

#' Losses rkeras computes, each with the options it takes besides `name`, `axis` and
#' `reduction`
#' @noRd
loss_options <- list(
  categorical_crossentropy = c("from_logits", "label_smoothing"),
  sparse_categorical_crossentropy = "from_logits",
  binary_crossentropy = c("from_logits", "label_smoothing"),
  mean_squared_error = character(), mean_absolute_error = character(),
  mean_absolute_percentage_error = character(), mean_squared_logarithmic_error = character(),
  huber = "delta", kl_divergence = character(), poisson = character(), log_cosh = character(),
  hinge = character(), squared_hinge = character(), categorical_hinge = character(),
  cosine_similarity = character())

#' Other names of the losses: Keras 3's short names and Keras 2's spellings
#' @noRd
loss_aliases <- c(mse = "mean_squared_error", mae = "mean_absolute_error", mape = "mean_absolute_percentage_error",
                  msle = "mean_squared_logarithmic_error", kld = "kl_divergence",
                  kullback_leibler_divergence = "kl_divergence", logcosh = "log_cosh",
                  cosine_proximity = "cosine_similarity")

canonical_loss <- function(name) if (name %in% names(loss_aliases)) loss_aliases[[name]] else name

#' The engine's form of a loss: its name, then its options (`categorical_crossentropy+logits+ls=0.1`)
#' @noRd
loss_spec <- function(name, opts) {
  num <- function(x) format(x, digits = 9)
  paste0(name, if (isTRUE(opts$from_logits)) "+logits",
         if (!is.null(opts$label_smoothing) && opts$label_smoothing > 0) paste0("+ls=", num(opts$label_smoothing)),
         if (!is.null(opts$delta) && opts$delta != 1) paste0("+delta=", num(opts$delta)))
}

#' Per-sample values of the engine's loss or metric `spec` on data (one value for the
#' confusion-matrix metrics)
#' @noRd
values_on_data <- function(spec, y_true, y_pred, call = rlang::caller_env()) {
  for (arg in c("y_true", "y_pred")) {
    v <- get(arg)
    if (!(is.numeric(v) || is.logical(v)) || !length(v) || (!is.null(dim(v)) && length(dim(v)) > 2)) {
      rk_abort(sprintf("`%s` must be a numeric vector or matrix (samples in rows), not %s.", arg, show_value(v)), "type", call)
    }
  }
  y_pred <- as.matrix(y_pred)
  y_true <- as.matrix(y_true)
  if (nrow(y_true) != nrow(y_pred)) {
    rk_abort(sprintf("`y_true` has %d rows but `y_pred` has %d.", nrow(y_true), nrow(y_pred)), "shape", call)
  }
  storage.mode(y_true) <- "double"
  storage.mode(y_pred) <- "double"
  rk_call(rk_metric_values(spec, y_true, y_pred, nrow(y_true), ncol(y_true), ncol(y_pred), NULL), call = call)
}

make_loss <- function(name) {
  g <- function(y_true, y_pred, ...) {
    opts <- check_loss_args(list(...), name)
    if (missing(y_true) && missing(y_pred)) {
      return(structure(c(list(name = name), opts), class = "rkeras_loss"))
    }
    if (inherits(y_true, c("rkeras_symbol", "rkeras_tensor")) || inherits(y_pred, c("rkeras_symbol", "rkeras_tensor"))) {
      return(symbolic_loss(name, opts, y_true, y_pred))
    }
    values_on_data(paste0("loss:", loss_spec(name, opts)), y_true, y_pred)
  }
  structure(g, rkeras_loss = name)
}

#' Keras's loss arguments: `from_logits` (the crossentropies), `label_smoothing`
#' (categorical and binary crossentropy) and `delta` (Huber) as Keras computes them; `axis`,
#' `reduction` and `name` at their defaults; anything else is refused, never ignored.
#' Returns the options.
#' @noRd
check_loss_args <- function(args, name, call = rlang::caller_env(2)) {
  nms <- names(args) %||% rep("", length(args))
  allowed <- loss_options[[name]]
  opts <- list(from_logits = FALSE, label_smoothing = 0, delta = 1)[allowed]
  defaults <- list(axis = -1, reduction = c("sum_over_batch_size", "auto"))
  for (i in seq_along(args)) {
    nm <- nms[[i]]
    v <- args[[i]]
    if (identical(nm, "name")) next
    if (nm %in% allowed) {
      opts[[nm]] <- switch(nm,
        from_logits = check_flag(v, "from_logits", call = call),
        label_smoothing = check_number(v, "label_smoothing", min = 0, max = 0.999999, call = call),
        delta = check_number(v, "delta", min = 0, call = call))
      next
    }
    if (!nm %in% names(defaults)) {
      rk_abort(sprintf("loss_%s() got %s it does not take.", name,
                       if (nzchar(nm)) paste0("`", nm, "`") else "an unnamed argument"), "value", call)
    }
    want <- defaults[[nm]]
    ok <- is.atomic(v) && length(v) == 1 && !is.na(v) &&
      (if (is.character(want)) v %in% want else is.numeric(v) && v == want)
    if (!isTRUE(ok)) {
      rk_abort(sprintf("loss_%s(%s = %s) is not supported by rkeras yet; only the default (%s) is.", name, nm,
                       show_value(v), deparse(want[[1]])), "unsupported", call)
    }
  }
  opts
}

#' @rdname losses
#' @export
loss_categorical_crossentropy <- make_loss("categorical_crossentropy")
#' @rdname losses
#' @export
loss_sparse_categorical_crossentropy <- make_loss("sparse_categorical_crossentropy")
#' @rdname losses
#' @export
loss_binary_crossentropy <- make_loss("binary_crossentropy")
#' @rdname losses
#' @export
loss_mean_squared_error <- make_loss("mean_squared_error")
#' @rdname losses
#' @export
loss_mean_absolute_error <- make_loss("mean_absolute_error")
#' @rdname losses
#' @export
loss_mean_absolute_percentage_error <- make_loss("mean_absolute_percentage_error")
#' @rdname losses
#' @export
loss_mean_squared_logarithmic_error <- make_loss("mean_squared_logarithmic_error")
#' @rdname losses
#' @export
loss_huber <- make_loss("huber")
#' @rdname losses
#' @export
loss_kl_divergence <- make_loss("kl_divergence")
#' @rdname losses
#' @export
loss_kullback_leibler_divergence <- loss_kl_divergence
#' @rdname losses
#' @export
loss_poisson <- make_loss("poisson")
#' @rdname losses
#' @export
loss_log_cosh <- make_loss("log_cosh")
#' @rdname losses
#' @export
loss_logcosh <- loss_log_cosh
#' @rdname losses
#' @export
loss_hinge <- make_loss("hinge")
#' @rdname losses
#' @export
loss_squared_hinge <- make_loss("squared_hinge")
#' @rdname losses
#' @export
loss_categorical_hinge <- make_loss("categorical_hinge")
#' @rdname losses
#' @export
loss_cosine_similarity <- make_loss("cosine_similarity")
#' @rdname losses
#' @export
loss_cosine_proximity <- loss_cosine_similarity

rk_losses <- c(names(loss_options), names(loss_aliases))

as_loss <- function(x, call = rlang::caller_env()) {
  if (inherits(x, "rkeras_loss")) return(loss_spec(x$name, x))
  if (is.function(x)) {
    name <- attr(x, "rkeras_loss")
    # A loss written in R: recorded on symbolic targets and predictions when the model is
    # compiled (see custom_loss_graphs()).
    return(name %||% "custom")
  }
  canonical_loss(check_string(x, "loss", choices = rk_losses, call = call))
}

#' The loss functions written in R among `loss` (one per output, `NULL` for the others)
#' @noRd
r_loss_fns <- function(loss, outs) {
  per_output(loss, outs, "loss", function(x, arg) {
    if (is.function(x) && !inherits(x, "rkeras_loss") && is.null(attr(x, "rkeras_loss"))) x
  })
}

#' The operation graphs of the losses written in R, recorded on symbolic `y_true` and
#' `y_pred` of each output's shape (`NULL` for the other outputs); `NULL` when the model's
#' output shapes are not known yet (a Sequential model built by its first data)
#' @noRd
custom_loss_graphs <- function(model, fns, call = rlang::caller_env()) {
  if (!length(Filter(Negate(is.null), fns))) return(NULL)
  shapes <- if (has_graph(model)) tryCatch(graph_info(model)$output_shapes, rkeras_error = function(e) NULL)
  if (!length(shapes) || any(vapply(shapes, is.null, TRUE))) return(NULL)
  lapply(seq_along(fns), function(o) {
    fn <- fns[[o]]
    if (is.null(fn)) return(NULL)
    s <- c(NA, shapes[[o]])
    tr <- new_trace(list(s, s))
    tr$reads_model <- TRUE
    ins <- trace_inputs(tr)
    old <- rk_cache$loss_trace
    rk_cache$loss_trace <- tr
    on.exit(rk_cache$loss_trace <- old)
    out <- withCallingHandlers(fn(ins[[1]], ins[[2]]), rkeras_error = function(e) {
      rk_abort(sprintf("In the loss function: %s", conditionMessage(e)), sub("^rkeras_error_", "", class(e)[[1]]), call)
    })
    if (!inherits(out, "rkeras_symbol") || !identical(out$trace, tr)) {
      rk_abort(sprintf("A loss function must return a tensor computed from `y_true` and `y_pred`, not %s.",
                       show_value(out)), "value", call)
    }
    graph <- trace_graph(tr, list(out))
    tensors <- attr(graph, "tensors")
    keys <- model$graph$keys
    nodes <- vapply(tensors, function(t) match(t$node$key, keys) - 1L, 1L)
    if (anyNA(nodes)) {
      t <- tensors[[which(is.na(nodes))[[1]]]]
      rk_abort(sprintf("The loss reads the output of layer '%s', which the model does not compute.",
                       t$state$spec$name), "value", call)
    }
    list(graph = unclass(graph)[c("inputs", "nodes", "outputs")], nodes = I(as.integer(nodes)))
  })
}

#' A built-in loss applied to tensors: Keras 3's formula written with operations, one
#' value per sample (the last axis reduced)
#' @noRd
symbolic_loss <- function(name, opts, t, p) {
  eps <- k_epsilon()
  hinge_targets <- function(t) {
    binary <- k_all((t == 0) | (t == 1))
    k_switch(binary, 2 * t - 1, t)
  }
  switch(name,
    mean_squared_error = k_mean(k_square(p - t), axis = -1),
    mean_absolute_error = k_mean(abs(p - t), axis = -1),
    mean_absolute_percentage_error = 100 * k_mean(abs((t - p) / k_maximum(abs(t), eps)), axis = -1),
    mean_squared_logarithmic_error = k_mean(k_square(log(k_maximum(p, eps) + 1) - log(k_maximum(t, eps) + 1)), axis = -1),
    binary_crossentropy = {
      if (opts$label_smoothing > 0) t <- t * (1 - opts$label_smoothing) + 0.5 * opts$label_smoothing
      k_mean(k_binary_crossentropy(t, p, from_logits = opts$from_logits), axis = -1)
    },
    categorical_crossentropy = {
      if (opts$label_smoothing > 0) {
        k <- utils::tail(operand_shape(p), 1)
        t <- t * (1 - opts$label_smoothing) + opts$label_smoothing / k
      }
      k_categorical_crossentropy(t, p, from_logits = opts$from_logits)
    },
    sparse_categorical_crossentropy = k_sparse_categorical_crossentropy(t, p, from_logits = opts$from_logits),
    kl_divergence = {
      t <- k_clip(t, eps, 1)
      k_sum(t * log(t / k_clip(p, eps, 1)), axis = -1)
    },
    poisson = k_mean(p - t * log(p + eps), axis = -1),
    log_cosh = {
      x <- p - t
      k_mean(x + k_softplus(-2 * x) - log(2), axis = -1)
    },
    hinge = k_mean(k_maximum(1 - hinge_targets(t) * p, 0), axis = -1),
    squared_hinge = k_mean(k_square(k_maximum(1 - hinge_targets(t) * p, 0)), axis = -1),
    categorical_hinge = {
      pos <- k_sum(t * p, axis = -1)
      neg <- k_max((1 - t) * p, axis = -1)
      k_maximum(neg - pos + 1, 0)
    },
    cosine_similarity = -k_sum(k_l2_normalize(t, axis = -1) * k_l2_normalize(p, axis = -1), axis = -1),
    huber = {
      a <- abs(p - t)
      q <- k_minimum(a, opts$delta)
      k_mean(0.5 * k_square(q) + opts$delta * (a - q), axis = -1)
    })
}

#' The names files give the losses written in R: the name the function was given by
#' (`compile(loss = my_loss)`, or a named list's names), else `custom_loss`
#' @noRd
loss_labels <- function(loss, expr, outs) {
  label <- if (is.symbol(expr)) as.character(expr) else "custom_loss"
  if (is.list(loss) && !inherits(loss, "rkeras_loss")) {
    nms <- names(loss) %||% rep("", length(loss))
    labels <- if (is.call(expr) && length(expr) == length(loss) + 1L) {
      vapply(as.list(expr)[-1], function(e) if (is.symbol(e)) as.character(e) else "custom_loss", "")
    } else rep("custom_loss", length(loss))
    if (length(outs) > 1 && all(nzchar(nms)) && all(nms %in% outs)) labels <- labels[match(outs, nms)]
    return(rep_len(labels, length(outs)))
  }
  rep(label, length(outs))
}
