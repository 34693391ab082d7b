# Layers are shared between the models that hold them, as in Keras: a model built from
# layers other models hold gets their weights, and when one model's weights change
# (training, set_weights()), the others holding its layers get them too.

#' Record that `model` holds these layers, and give it the weights they have in the other
#' models that hold them (layers are shared between models, as in Keras)
#' @noRd
link_layers <- function(model, states) {
  src <- list()
  names <- character()
  for (st in states) {
    others <- Filter(function(m) !identical(m, model) && !rk_ptr_dead(m$ptr), st$models %||% list())
    st$models <- c(others, list(model))
    st$model <- model
    if (length(others)) { src <- c(src, others[length(others)]); names <- c(names, st$spec$name) }
  }
  g <- group_by_model(src, names)
  for (k in seq_along(g$models)) copy_layer_weights(g$models[[k]], model, g$names[[k]])
  apply_constructor_weights(model)
  invisible(model)
}

#' Give layers created with `weights =` those weights, once the model has built them
#' @noRd
apply_constructor_weights <- function(model, call = rlang::caller_env()) {
  if (!isTRUE(model$built)) return(invisible(model))
  for (st in model_states(model)) {
    w <- st$spec$weights
    if (is.null(w)) next
    layer <- new_layer_object(st)
    want <- length(layer_weight_index(layer, call)$index)
    if (length(w) != want) {
      rk_abort(sprintf("`weights` of layer '%s' must be a list of %d arrays, got %d.", st$spec$name, want, length(w)),
               "shape", call)
    }
    layer_set_weights(layer, w)
    st$spec$weights <- NULL
  }
  invisible(model)
}

#' After `model`'s weights changed (training, set_weights()), give its shared layers' weights to
#' the other models holding them
#' (one read and one write of each other model's weights)
#' @noRd
push_shared_weights <- function(model) {
  dst <- list()
  names <- character()
  for (st in model_states(model)) {
    for (m in st$models %||% list()) {
      if (!identical(m, model) && !rk_ptr_dead(m$ptr)) { dst <- c(dst, list(m)); names <- c(names, st$spec$name) }
    }
  }
  g <- group_by_model(dst, names)
  for (k in seq_along(g$models)) copy_layer_weights(model, g$models[[k]], g$names[[k]])
  invisible(model)
}

#' Pairs (model, layer name) grouped by model: list(models, names), names[[k]] the layers of
#' models[[k]]
#' @noRd
group_by_model <- function(models, names) {
  out <- list(models = list(), names = list())
  for (i in seq_along(models)) {
    k <- Position(function(o) identical(o, models[[i]]), out$models)
    if (is.na(k)) {
      k <- length(out$models) + 1L
      out$models[[k]] <- models[[i]]
      out$names[[k]] <- character()
    }
    out$names[[k]] <- c(out$names[[k]], names[[i]])
  }
  out
}

#' Copy the weights of the layers named `layers` from model `from` to model `to`, where both
#' are built and the shapes agree
#' @noRd
copy_layer_weights <- function(from, to, layers) {
  if (!isTRUE(from$built) || !isTRUE(to$built)) return(invisible())
  src <- get_weights(from)
  dst <- get_weights(to)
  wf <- weight_names(from)
  wt <- weight_names(to)
  changed <- FALSE
  for (name in layers) {
    i <- which(startsWith(wf, paste0(name, "/")))
    j <- which(startsWith(wt, paste0(name, "/")))
    if (!length(i) || length(i) != length(j)) next
    if (!all(mapply(function(a, b) identical(dim(a), dim(b)), src[i], dst[j]))) next
    dst[j] <- src[i]
    changed <- TRUE
  }
  if (changed) set_engine_weights(to, dst)
  invisible()
}
