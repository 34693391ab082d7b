# A small JSON writer for model configs (named list -> object, unnamed list -> array,
# NULL -> null, length-1 logical/number/string -> scalar, `I()` keeps length-1 vectors as arrays).

to_json <- function(x) {
  if (is.null(x)) return("null")
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

initializer_config <- function(init) {
  cls <- c(zeros = "Zeros", ones = "Ones", constant = "Constant", glorot_uniform = "GlorotUniform",
           glorot_normal = "GlorotNormal", he_uniform = "HeUniform", he_normal = "HeNormal",
           lecun_uniform = "LecunUniform", lecun_normal = "LecunNormal", random_normal = "RandomNormal",
           random_uniform = "RandomUniform", truncated_normal = "TruncatedNormal")[[init$name]]
  cfg <- switch(init$name,
    zeros = , ones = structure(list(), names = character()),
    constant = list(value = init$args[[1]]),
    random_normal = , truncated_normal = list(mean = init$args[[1]], stddev = init$args[[2]], seed = NULL),
    random_uniform = list(minval = init$args[[1]], maxval = init$args[[2]], seed = NULL),
    list(seed = NULL))
  list(class_name = cls, config = cfg)
}

#' Keras's JSON description of a model's architecture
#'
#' @param object A model.
#' @returns A JSON string (`{"class_name": "Sequential", "config": ...}`).
#' @family model persistence
#' @export
#' @examples
#' model_to_json(keras_model_sequential() %>% layer_dense(2, input_shape = 3))
model_to_json <- function(object) {
  check_model(object)
  info <- model_layers(object)
  input <- if (info$built) info$input_dim else NULL
  batch_shape <- I(c(NA, object$input_shape %||% input))
  layers <- list()
  if (!is.null(input)) {
    layers[[1]] <- list(class_name = "InputLayer", config = list(batch_input_shape = batch_shape, dtype = "float32",
                        sparse = FALSE, ragged = FALSE, name = paste0(object$specs[[1]]$name, "_input")))
  }
  for (spec in object$specs) {
    base <- list(name = spec$name, trainable = TRUE, dtype = "float32")
    cfg <- switch(spec$type,
      dense = c(base, list(units = spec$units, activation = spec$activation, use_bias = spec$use_bias,
                           kernel_initializer = initializer_config(spec$kernel_initializer),
                           bias_initializer = initializer_config(spec$bias_initializer),
                           kernel_regularizer = if (!is.null(spec$regularizer))
                             list(class_name = "L1L2", config = list(l1 = spec$regularizer$l1, l2 = spec$regularizer$l2)),
                           bias_regularizer = NULL, activity_regularizer = NULL, kernel_constraint = NULL,
                           bias_constraint = NULL)),
      dropout = c(base, list(rate = spec$rate, noise_shape = NULL, seed = NULL)),
      activation = c(base, list(activation = spec$activation)),
      flatten = c(base, list(data_format = "channels_last")))
    cls <- c(dense = "Dense", dropout = "Dropout", activation = "Activation", flatten = "Flatten")[[spec$type]]
    layers[[length(layers) + 1L]] <- list(class_name = cls, config = cfg)
  }
  to_json(list(class_name = "Sequential", config = list(name = object$name, layers = layers),
               keras_version = "2.12.0", backend = "tensorflow"))
}
