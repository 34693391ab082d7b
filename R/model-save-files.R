# How models meet Keras's files: the names Keras gives layers and weights in them, the
# compile settings as Keras writes them, and putting read weights back into a model.

keras_file_version <- "3.15.1"

#' Keras's snake_case of a class name (`naming.to_snake_case`): `Conv2D` -> `conv2d`,
#' `BatchNormalization` -> `batch_normalization`, `LeakyReLU` -> `leaky_re_lu`
#' @noRd
keras_snake <- function(x) {
  x <- gsub("(.)([A-Z][a-z]+)", "\\1_\\2", x, perl = TRUE)
  tolower(gsub("([a-z])([A-Z])", "\\1_\\2", x, perl = TRUE))
}

#' The groups of `layers/` in a `.keras` weights file: each layer's snake_case class name,
#' made unique in model order (`dense`, `dense_1`, ...), whatever the layers are called
#' @noRd
keras_groups <- function(classes) {
  base <- keras_snake(classes)
  seen <- integer()
  vapply(base, function(b) {
    n <- if (is.na(seen[b])) 0L else seen[[b]] + 1L
    seen[b] <<- n
    if (n == 0L) b else paste0(b, "_", n)
  }, "", USE.NAMES = FALSE)
}

#' A model as its files describe it: its JSON, its layers (as `model.layers` lists them:
#' a Sequential model's input layer is not among them, a model used as a layer is one), their
#' groups and weight counts, and the weights' names in `get_weights()` order
#' @noRd
save_layout <- function(model, call = rlang::caller_env()) {
  json <- model_to_json(model)
  top <- rk_call(rk_json_parse(json), call = call)
  units <- layout_units(top)
  leaves <- do.call(rbind, lapply(seq_along(units$names), function(i) {
    l <- layout_leaves(units$entries[[i]], units$groups[[i]], "")
    l$layer <- rep(i, nrow(l))
    l
  }))
  if (is.null(leaves)) leaves <- data.frame(name = character(), class = character(), group = character(),
                                            inner = character(), prefix = character(), layer = integer())
  wn <- weight_names(model)
  owner <- sub("/.*$", "", wn)
  leaf_counts <- vapply(leaves$name, function(n) sum(owner == n), 1L, USE.NAMES = FALSE)
  if (!identical(owner, rep(leaves$name, leaf_counts))) {
    rk_abort("The model's weights are not grouped by layer in layer order; it cannot be saved.", "internal", call)
  }
  counts <- vapply(seq_along(units$names), function(i) sum(leaf_counts[leaves$layer == i]), 1L)
  parts <- do.call(rbind, lapply(seq_len(nrow(leaves)), function(k) {
    sub <- weight_subgroups(leaves$class[[k]], if (is.na(leaves$inner[[k]])) NULL else leaves$inner[[k]])
    data.frame(layer = leaves$layer[[k]], group = paste0(leaves$group[[k]], sub), count = leaf_counts[[k]] / length(sub))
  }))
  if (is.null(parts)) parts <- data.frame(layer = integer(), group = character(), count = integer())
  list(json = json, class = top$class_name, model_name = top$config$name, classes = units$classes, names = units$names,
       groups = units$groups, parts = parts, counts = counts, weight_names = wn,
       # Keras names the weights of a model used as a layer after it too (`inner/dense/kernel`).
       file_weight_names = paste0(rep(leaves$prefix, leaf_counts), wn))
}

#' The layers of a model's JSON as `model.layers` lists them, with their `.keras` groups
#' @noRd
layout_units <- function(top) {
  layers <- top$config$layers
  classes <- vapply(layers, function(l) l$class_name, "")
  if (identical(top$class_name, "Sequential")) {
    layers <- layers[classes != "InputLayer"]
    classes <- classes[classes != "InputLayer"]
  }
  list(entries = layers, classes = classes, names = vapply(layers, function(l) l$config$name, ""),
       groups = keras_groups(classes))
}

#' The layers holding weights below a layer entry of a model's JSON, one row each: itself,
#' or the layers of a model used as a layer (`group/layers/...`), however deep
#' @noRd
layout_leaves <- function(entry, group, prefix) {
  cls <- entry$class_name
  if (cls %in% keras_model_classes) {
    u <- layout_units(entry)
    rows <- lapply(seq_along(u$names), function(i) {
      layout_leaves(u$entries[[i]], paste0(group, "/layers/", u$groups[[i]]), paste0(prefix, entry$config$name, "/"))
    })
    return(do.call(rbind, rows))
  }
  data.frame(name = entry$config$name, class = cls, group = group,
             inner = entry$config$layer$class_name %||% NA_character_, prefix = prefix)
}

#' Where Keras 3's weights file keeps a layer's weights, below the layer's group: a
#' recurrent layer's in its cell, a bidirectional wrapper's in its two layers' cells (half
#' each), a time-distributed wrapper's in its layer's own places
#' @noRd
weight_subgroups <- function(class, inner = NULL) {
  switch(class,
         SimpleRNN = , LSTM = , GRU = "/cell",
         Bidirectional = c("/forward_layer/cell", "/backward_layer/cell"),
         TimeDistributed = paste0("/layer", weight_subgroups(inner %||% "")),
         MultiHeadAttention = c("/query_dense", "/key_dense", "/value_dense", "/output_dense"),
         "")
}

#' Write a model as `format` ("keras", "h5", "weights", "weights_h5") to `path`, or return
#' the bytes when `path` is NULL
#' @noRd
write_model_file <- function(model, path, format, include_optimizer, call = rlang::caller_env()) {
  include_optimizer <- check_flag(include_optimizer, "include_optimizer", call = call)
  lay <- save_layout(model, call)
  with_opt <- include_optimizer && !is.null(model$compiled)
  compile_cfg <- if (with_opt) compile_settings(model)
  config <- switch(format,
    keras = if (is.null(compile_cfg)) lay$json else
      sub("\\}\\s*$", paste0(", \"compile_config\": ", to_json(compile_cfg), "}"), lay$json),
    h5 = lay$json,
    "")
  training <- if (format == "h5" && with_opt) {
    to_json(c(compile_cfg[setdiff(names(compile_cfg), "optimizer")],
              list(optimizer_config = compile_cfg$optimizer[c("class_name", "config")])))
  } else ""
  metadata <- to_json(list(keras_version = keras_file_version,
                           date_saved = format(Sys.time(), "%Y-%m-%d@%H:%M:%S")))
  keras3 <- format %in% c("keras", "weights")
  res <- rk_call(rk_model_save(model$ptr, path, format, config, training, metadata, lay$model_name,
                               if (keras3) lay$parts$group else lay$names,
                               as.integer(if (keras3) lay$parts$count else lay$counts),
                               if (length(lay$weight_names)) paste0(lay$model_name, "/", lay$file_weight_names) else character(),
                               lay$weight_names,
                               with_opt && format %in% c("keras", "h5")), call = call)
  if (is.null(path)) res else invisible(TRUE)
}

#' Build, fill and (with `compile`) compile a model from a read file
#' @noRd
model_from_file <- function(saved, compile, call = rlang::caller_env()) {
  if (saved$format %in% c("weights", "weights_h5")) {
    rk_abort(paste0("This file holds only weights: build the model, then load them with ",
                    "load_model_weights_hdf5() or load_model_weights()."), "value", call)
  }
  model <- tryCatch(model_from_json(saved$config), rkeras_error = function(e) {
    rk_abort(paste0("The file's model configuration cannot be rebuilt: ", conditionMessage(e)), "value", call)
  })
  lay <- save_layout(model, call)
  put_weights(model, saved, by_name = FALSE, skip_mismatch = FALSE, call = call, lay = lay)
  settings <- if (saved$format == "keras") rk_call(rk_json_parse(saved$config))$compile_config
              else if (!is.null(saved$training_config)) rk_call(rk_json_parse(saved$training_config))
  # An uncompiled model's file holds an empty `compile_config` (Keras 3.15).
  if (compile && length(settings)) {
    compile_from_settings(model, settings, call)
    if (!is.null(saved$optimizer)) restore_optimizer(model, saved$optimizer, call, lay)
  }
  model
}

#' Put a file's weights into `model`: `.keras` weights by Keras's class-derived groups,
#' legacy ones by order of the layers that have weights (or by layer name)
#' @noRd
put_weights <- function(model, saved, by_name, skip_mismatch, call = rlang::caller_env(),
                        lay = save_layout(model, call)) {
  current <- split(get_weights(model), rep(seq_along(lay$names), lay$counts))
  files <- saved$layers
  groups <- vapply(files, function(l) l$group, "")
  per_layer <- vector("list", length(lay$names))
  if (saved$format %in% c("keras", "weights")) {
    for (i in seq_along(lay$names)) {
      j <- match(lay$parts$group[lay$parts$layer == i], groups)
      per_layer[i] <- list(unlist(lapply(j[!is.na(j)], function(k) files[[k]]$weights), recursive = FALSE) %||% list())
    }
  } else if (by_name) {
    for (i in seq_along(lay$names)) {
      j <- match(lay$names[[i]], groups)
      if (!is.na(j)) per_layer[i] <- list(files[[j]]$weights)
    }
  } else {
    with_weights <- Filter(function(l) length(l$weights) > 0, files)
    targets <- which(lay$counts > 0)
    if (length(with_weights) != length(targets)) {
      rk_abort(sprintf("The file has weights for %d layers, but the model has %d layers with weights.",
                       length(with_weights), length(targets)), "shape", call)
    }
    per_layer[targets] <- lapply(with_weights, function(l) l$weights)
  }
  out <- list()
  for (i in seq_along(lay$names)) {
    cur <- if (lay$counts[[i]] > 0) current[[as.character(i)]] else list()
    new <- per_layer[[i]]
    if (is.null(new)) {
      out <- c(out, cur)
      next
    }
    problem <- if (length(new) != length(cur)) {
      sprintf("layer '%s' has %d weights, but the file has %d for it", lay$names[[i]], length(cur), length(new))
    } else {
      shape <- function(w) as.integer(dim(w) %||% length(w))
      bad <- which(!vapply(seq_along(cur), function(k) identical(shape(cur[[k]]), shape(new[[k]])), TRUE))
      if (length(bad)) {
        k <- bad[[1]]
        sprintf("weight '%s' has shape (%s), but the file's has shape (%s)",
                lay$weight_names[[sum(lay$counts[seq_len(i - 1)]) + k]],
                paste(shape(cur[[k]]), collapse = ", "), paste(shape(new[[k]]), collapse = ", "))
      }
    }
    if (!is.null(problem)) {
      if (skip_mismatch) {
        warning(sprintf("Skipping loading weights for layer '%s': %s.", lay$names[[i]], problem), call. = FALSE)
        out <- c(out, cur)
        next
      }
      rk_abort(paste0("The file's weights do not fit this model: ", problem, "."), "shape", call)
    }
    out <- c(out, new)
  }
  if (length(out)) set_weights(model, out)
  invisible(model)
}

# Keras's class names and argument names of the optimizers' own parameters, in the order
# `optimizer_*()` keeps them.
optimizer_keras <- list(
  sgd = list("SGD", c("momentum", "nesterov")),
  rmsprop = list("RMSprop", c("rho", "momentum", "epsilon", "centered")),
  adam = list("Adam", c("beta_1", "beta_2", "epsilon", "amsgrad", "weight_decay")),
  adamw = list("AdamW", c("beta_1", "beta_2", "epsilon", "amsgrad", "weight_decay")),
  adagrad = list("Adagrad", c("initial_accumulator_value", "epsilon")),
  adadelta = list("Adadelta", c("rho", "epsilon")),
  adamax = list("Adamax", c("beta_1", "beta_2", "epsilon")),
  nadam = list("Nadam", c("beta_1", "beta_2", "epsilon"))
)
optimizer_flags <- c("nesterov", "centered", "amsgrad")

optimizer_settings <- function(opt) {
  k <- optimizer_keras[[opt$name]]
  o <- opt$options
  unset <- function(v) if (is.na(v)) NULL else v
  params <- stats::setNames(as.list(opt$params), k[[2]])
  params[intersect(names(params), optimizer_flags)] <- lapply(params[intersect(names(params), optimizer_flags)], as.logical)
  lr <- if (is.null(opt$schedule)) opt$learning_rate else schedule_settings(opt$schedule)
  config <- c(list(name = tolower(k[[1]]), learning_rate = lr,
                   weight_decay = if (max(o[["weight_decay"]], params$weight_decay) > 0) max(o[["weight_decay"]], params$weight_decay),
                   clipnorm = unset(o[["clipnorm"]]), global_clipnorm = unset(o[["global_clipnorm"]]),
                   clipvalue = unset(o[["clipvalue"]]), use_ema = FALSE, ema_momentum = 0.99,
                   ema_overwrite_frequency = NULL, loss_scale_factor = NULL, gradient_accumulation_steps = NULL),
              params[setdiff(names(params), "weight_decay")])
  if (o[["decay"]] > 0) config$decay <- o[["decay"]]
  # Keras checks that rates and factors are floats: a whole number is written as 1.0.
  floats <- setdiff(names(config), c("name", optimizer_flags, "ema_overwrite_frequency", "gradient_accumulation_steps"))
  for (nm in floats) {
    v <- config[[nm]]
    if (is.numeric(v) && length(v) == 1) config[[nm]] <- structure(as.double(v), class = "rkeras_float")
  }
  list(module = "keras.optimizers", class_name = k[[1]], config = config, registered_name = NULL)
}

schedule_functions <- c(ExponentialDecay = "exponential_decay", InverseTimeDecay = "inverse_time_decay",
                        PiecewiseConstantDecay = "piecewise_constant_decay", PolynomialDecay = "polynomial_decay",
                        CosineDecay = "cosine_decay", CosineDecayRestarts = "cosine_decay_restarts")

#' A learning-rate schedule as Keras writes it
#' @noRd
schedule_settings <- function(s) {
  list(module = "keras.optimizers.schedules", class_name = s$class_name,
       config = c(s$config, list(name = s$class_name)), registered_name = NULL)
}

schedule_from_settings <- function(lr, call) {
  fn <- schedule_functions[lr$class_name %||% ""]
  if (is.na(fn)) {
    rk_abort(sprintf("The file's learning-rate schedule '%s' is not one rkeras has; load it with `compile = FALSE`.",
                     lr$class_name %||% "?"), "unsupported", call)
  }
  cfg <- lr$config
  cfg$name <- NULL
  if (!is.null(cfg$boundaries)) cfg$boundaries <- unlist(cfg$boundaries)
  if (!is.null(cfg$values)) cfg$values <- unlist(cfg$values)
  do.call(get(paste0("learning_rate_schedule_", fn), envir = asNamespace("rkeras")), cfg)
}

loss_classes <- c(categorical_crossentropy = "CategoricalCrossentropy",
                  sparse_categorical_crossentropy = "SparseCategoricalCrossentropy",
                  binary_crossentropy = "BinaryCrossentropy", huber = "Huber")

#' A compiled loss as Keras writes it: its name, or an object with its options
#' @noRd
loss_settings <- function(engine) {
  base <- sub("\\+.*$", "", engine)
  if (base == engine) return(base)
  opt <- function(key) {
    v <- regmatches(engine, regexpr(sprintf("(?<=\\+%s=)[0-9.eE+-]+", key), engine, perl = TRUE))
    if (length(v)) as.numeric(v)
  }
  if (base == "huber") {
    cfg <- list(name = "huber_loss", reduction = "sum_over_batch_size", delta = opt("delta") %||% 1)
  } else {
    cfg <- list(name = base, reduction = "sum_over_batch_size", from_logits = grepl("+logits", engine, fixed = TRUE))
    if (base != "sparse_categorical_crossentropy") cfg$label_smoothing <- opt("ls") %||% 0
    cfg$axis <- -1L
  }
  list(module = "keras.losses", class_name = loss_classes[[base]], config = cfg, registered_name = NULL)
}

#' The compile settings as Keras's `compile_config`
#' @noRd
compile_settings <- function(model) {
  c <- model$compiled
  losses <- lapply(c$engine_losses %||% c$losses, loss_settings)
  # A loss written in R is written as Keras writes a function, by its name.
  for (o in seq_along(losses)) {
    if (identical(losses[[o]], "custom")) {
      losses[[o]] <- list(module = "builtins", class_name = "function",
                          config = c$loss_labels[[o]] %||% "custom_loss", registered_name = "function")
    }
  }
  outs <- output_names(model)
  metrics <- lapply(seq_along(outs), function(i) as.list(sub("\\+.*$", "", c$metric_kinds[c$metric_outputs == i - 1L])))
  list(optimizer = optimizer_settings(c$optimizer),
       loss = if (length(losses) == 1) losses[[1]] else stats::setNames(losses, outs),
       loss_weights = if (any(c$loss_weights != 1)) stats::setNames(as.list(c$loss_weights), outs),
       metrics = if (length(outs) == 1) as.list(c$metric_names) else stats::setNames(lapply(metrics, function(m) m), outs),
       weighted_metrics = NULL, run_eagerly = FALSE, steps_per_execution = 1L, jit_compile = FALSE)
}

#' Compile `model` as the file's settings say (Keras 3's `compile_config`, or the legacy
#' `training_config` with its `optimizer_config`)
#' @noRd
compile_from_settings <- function(model, s, call) {
  opt <- s$optimizer %||% s$optimizer_config
  optimizer <- if (is.character(opt)) opt else optimizer_from_settings(opt, call)
  loss <- s$loss
  loss <- if (is.list(loss) && !is.null(loss$class_name)) loss_from_settings(loss, call)
          else if (is.list(loss)) lapply(loss, function(l) if (is.list(l)) loss_from_settings(l, call) else custom_loss_object(l, call))
          else custom_loss_object(loss, call)
  metric <- function(m) if (is.list(m)) keras_snake(m$class_name %||% m$config$name) else m
  metrics <- s$metrics
  metrics <- if (is.null(metrics)) NULL
             else if (!is.null(names(metrics))) lapply(metrics, function(m) vapply(m, metric, ""))
             else vapply(metrics, metric, "")
  metrics <- if (length(metrics)) metrics
  compile(model, optimizer = optimizer, loss = loss, metrics = metrics,
          loss_weights = if (length(s$loss_weights)) unlist(s$loss_weights))
}

optimizer_from_settings <- function(opt, call) {
  cls <- opt$class_name %||% ""
  name <- names(optimizer_keras)[vapply(optimizer_keras, function(k) tolower(k[[1]]) == tolower(cls), TRUE)]
  if (!length(name)) {
    rk_abort(sprintf("The file's optimizer '%s' is not one rkeras has; load it with `compile = FALSE`.", cls), "unsupported", call)
  }
  cfg <- opt$config
  lr <- cfg$learning_rate %||% cfg$lr
  if (is.list(lr)) lr <- schedule_from_settings(lr, call)
  fn <- get(paste0("optimizer_", name[[1]]), envir = asNamespace("rkeras"))
  take <- intersect(names(cfg), c(optimizer_keras[[name[[1]]]][[2]], "weight_decay", "clipnorm", "clipvalue", "global_clipnorm"))
  args <- Filter(Negate(is.null), cfg[take])
  if (length(cfg$decay) && cfg$decay > 0) args$decay <- cfg$decay
  do.call(fn, c(list(learning_rate = lr %||% 0.001), args))
}

#' A loss the file names: a built-in one, or a function from `custom_objects`
#' @noRd
custom_loss_object <- function(name, call) {
  if (!is.character(name) || canonical_loss(name) %in% names(loss_options)) return(name)
  fn <- rk_cache$custom_objects[[name]]
  if (is.function(fn)) return(fn)
  rk_abort(sprintf(paste0("The file's loss '%s' is a function written in R: give it as ",
                          "`custom_objects = list(%s = <function>)`, or load with `compile = FALSE`."), name, name),
           "value", call)
}

loss_from_settings <- function(l, call) {
  if (identical(l$class_name, "function")) return(custom_loss_object(l$config, call))
  base <- l$config$name
  base <- if (!is.null(base) && base %in% names(loss_classes)) base
          else if (identical(l$class_name, "Huber")) "huber" else keras_snake(l$class_name)
  fn <- get0(paste0("loss_", base), envir = asNamespace("rkeras"), inherits = FALSE)
  if (is.null(fn)) {
    rk_abort(sprintf("The file's loss '%s' is not one rkeras has; load it with `compile = FALSE`.", l$class_name), "unsupported", call)
  }
  opts <- l$config[intersect(names(l$config), c("from_logits", "label_smoothing", "delta"))]
  do.call(fn, opts)
}

restore_optimizer <- function(model, opt, call, lay = save_layout(model, call)) {
  tryCatch(rk_call(rk_model_set_optimizer_state(model$ptr, lay$weight_names, opt$iterations, opt$learning_rate,
                                                opt$vars, opt$shapes), call = call),
           rkeras_error = function(e) {
             warning("Skipping variable loading for optimizer '", opt$name, "': ", conditionMessage(e), call. = FALSE)
           })
  invisible(model)
}
