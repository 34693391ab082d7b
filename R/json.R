# A small JSON writer for the descriptions R sends the engine (named list -> object, unnamed list -> array,
# NULL -> null, length-1 logical/number/string -> scalar, `I()` keeps length-1 vectors as arrays; class `rkeras_json` is JSON text already).

to_json <- function(x) {
  if (is.null(x)) return("null")
  if (inherits(x, "rkeras_json")) return(unclass(x))
  # A number Python reads as a float even when whole (`1.0`), as Keras's optimizers require.
  if (inherits(x, "rkeras_float")) return(python_float(as.numeric(unclass(x))))
  if (is.list(x)) {
    if (!length(x)) return(if (is.null(names(x))) "[]" else "{}")
    if (!is.null(names(x))) {
      return(paste0("{", paste0(json_string(names(x)), ": ", vapply(x, to_json, ""), collapse = ", "), "}"))
    }
    return(paste0("[", paste0(vapply(x, to_json, ""), collapse = ", "), "]"))
  }
  vals <- if (is.logical(x)) ifelse(is.na(x), "null", ifelse(x, "true", "false"))
          else if (is.numeric(x)) ifelse(is.na(x), "null", vapply(as.numeric(x), json_number, ""))
          else json_string(as.character(x))
  if (length(x) == 1 && !inherits(x, "AsIs")) vals else paste0("[", paste0(vals, collapse = ", "), "]")
}

json_number <- function(v) {
  if (is.na(v)) return("null")
  if (v == round(v) && abs(v) < 2^53) return(sprintf("%.0f", v))
  python_float(v)
}

json_string <- function(s) {
  s <- gsub("\\\\", "\\\\\\\\", s)
  s <- gsub("\"", "\\\\\"", s)
  s <- gsub("\n", "\\\\n", s)
  paste0("\"", s, "\"")
}

#' Keras's JSON description of a model's architecture
#'
#' `model_to_json()` writes what Keras 3's `model.to_json()` writes (Python's
#' `keras.models.model_from_json()` reads it); `model_from_json()` reads JSON written by
#' Keras 3 or by Keras 2 (Keras for R 2.x) and builds the model with fresh weights.
#' `get_config()` and `from_config()` give and take the same configuration as R lists; for a
#' single layer, `get_config(layer)` gives its configuration and `from_config()` makes a new
#' layer from it (with fresh weights), as Keras's `Layer.from_config()` does.
#' @param object A model, or (for `get_config()`) a layer.
#' @param json A JSON string.
#' @param custom_objects Not supported; must be `NULL`.
#' @param config A model's or a layer's configuration from `get_config()`.
#' @returns `model_to_json()`: a JSON string; `model_from_json()` and `from_config()`: a
#'   model (or a layer, from a layer's configuration); `get_config()`: a list.
#' @family model persistence
#' @export
#' @examples
#' model <- keras_model_sequential() %>% layer_dense(2, input_shape = 3)
#' json <- model_to_json(model)
#' model2 <- model_from_json(json)
model_to_json <- function(object) {
  check_model(object)
  desc <- graph_desc(object, model_graph(object), configs = TRUE)
  rk_call(rk_model_to_json(to_json(desc), object$name, inherits(object, "rkeras_sequential")))
}

#' @rdname model_to_json
#' @export
model_from_json <- function(json, custom_objects = NULL) {
  check_unsupported(custom_objects = custom_objects)
  if (!is.character(json) || length(json) < 1 || anyNA(json)) {
    rk_abort(sprintf("`json` must be a JSON string, not %s.", show_value(json)), "type")
  }
  d <- rk_call(rk_model_from_json(paste(json, collapse = "\n")))
  states <- lapply(seq_along(d$layer_names), function(i) {
    cls <- d$layer_classes[[i]]
    # A model used as a layer is built from its own JSON, then called or added as one.
    if (cls %in% keras_model_classes) return(model_from_json(d$layer_configs[[i]]))
    if (cls == "InputLayer") {
      return(new_layer_state(list(type = "input", prefix = "input", name = d$layer_names[[i]],
                                  shape = d$input_shapes[[i]], class_name = cls)))
    }
    type <- tolower(gsub("([a-z0-9])([A-Z])", "\\1_\\2", cls))
    new_layer_state(list(type = type, prefix = type, class_name = cls, name = d$layer_names[[i]],
                         config = structure(d$layer_configs[[i]], class = "rkeras_json"), seed = draw_seed()))
  })
  frozen <- d$layer_names[!d$layer_trainable]
  if (d$class == "Sequential") {
    model <- keras_model_sequential(name = d$name)
    model$input_state <- states[[1]]
    if (length(states) > 1 && !is.null(states[[1]]$spec$shape)) {
      if (inherits(states[[2]], "rkeras_model")) model$input_shape <- states[[1]]$spec$shape
      else states[[2]]$spec$input_shape <- states[[1]]$spec$shape
    }
    for (st in states[-1]) {
      if (inherits(st, "rkeras_model")) add_nested_model(model, st) else add_layer_state(model, st)
    }
  } else {
    tensors <- vector("list", length(d$node_layers))
    for (i in seq_along(d$node_layers)) {
      st <- states[[d$node_layers[[i]] + 1L]]
      ins <- tensors[d$node_inputs[[i]] + 1L]
      take <- d$node_takes[[i]]
      training <- d$node_training[[i]]
      tensors[i] <- list(if (inherits(st, "rkeras_model")) {
        if (take >= 0) ins[[1]][[take + 1L]]
        else model_apply(st, if (length(ins) == 1) ins[[1]] else ins, training = if (!is.na(training)) training)
      } else if (identical(st$spec$type, "input")) new_tensor(st, list(), st$spec$shape)
      else replay_call(st, ins, if (take >= 0) take, if (!is.na(training)) training))
    }
    model <- keras_model(tensors[d$inputs + 1L], tensors[d$outputs + 1L], name = d$name)
  }
  if (length(frozen)) change_trainable(model, frozen, FALSE)
  model
}

#' @rdname model_to_json
#' @export
get_config <- function(object) {
  if (inherits(object, "rkeras_layer")) return(object$get_config())
  top <- rk_call(rk_json_parse(model_to_json(object)))
  structure(top$config, keras_class = top$class_name)
}

#' @rdname model_to_json
#' @export
from_config <- function(config, custom_objects = NULL) {
  type <- attr(config, "rkeras_type")
  if (is.list(config) && is.character(type) && is.null(config$layers)) {
    # A layer's config (get_config(layer)): a new layer, with fresh weights, as Keras's
    # Layer.from_config() makes it.
    check_unsupported(custom_objects = custom_objects)
    cfg <- config[setdiff(names(config), c("name", "trainable"))]
    spec <- new_layer_spec(type, attr(config, "keras_class"), cfg, name = config$name)
    spec$trainable <- if (identical(config$trainable, FALSE)) FALSE
    spec$seed <- draw_seed()
    return(compose_layer(NULL, spec))
  }
  if (!is.list(config) || is.null(config$layers)) {
    rk_abort(sprintf("`config` must be a model configuration from get_config(), not %s.", show_value(config)), "value")
  }
  cls <- attr(config, "keras_class") %||% (if (!is.null(config$input_layers)) "Functional" else "Sequential")
  model_from_json(to_json(list(module = "keras", class_name = cls, config = config)), custom_objects)
}

#' A model's graph: the functional graph, or a Sequential model's chain from its input
#' @noRd
model_graph <- function(model) {
  if (!is.null(model$graph)) return(model$graph)
  shape <- get0("input_shape", envir = model_env(model), inherits = FALSE)
  sequential_graph(model, seq_entries(model), shape)
}
