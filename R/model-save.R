#' Save and load models
#'
#' `save_model()` writes Keras 3's `.keras` file (a zip of `config.json`, `metadata.json`
#' and `model.weights.h5`); `save_model_hdf5()` writes Keras's legacy HDF5 file (what Keras
#' for R 2.x wrote). Both hold the architecture, the weights and, with
#' `include_optimizer = TRUE`, the compile settings and the optimizer's state, so `fit()`
#' after loading continues where the saved model stopped. Python's Keras 3
#' (`keras.saving.load_model()`) reads both, and rkeras reads the files Keras writes.
#' `load_model()` tells the formats apart by their contents.
#'
#' Files are written under a temporary name and renamed into place: an interrupted or
#' failed save never leaves a partial file where a good one was.
#' @param model,object A model.
#' @param filepath File path (`.keras` for `save_model()`).
#' @param overwrite Whether an existing file may be replaced.
#' @param include_optimizer Save the compile settings and the optimizer's state.
#' @param custom_objects A named list of the functions written in R the file names (its
#'   losses), e.g. `list(vae_loss = vae_loss)`.
#' @param compile Compile the loaded model with the saved settings (when the file has them).
#' @param ... Unused.
#' @returns `save_model()` and `save_model_hdf5()`: `TRUE`, invisibly; the loaders: a model.
#' @family model persistence
#' @export
#' @examples
#' model <- keras_model_sequential() %>% layer_dense(2, input_shape = 3)
#' model %>% compile(optimizer = "adam", loss = "mse")
#' f <- tempfile(fileext = ".keras")
#' save_model(model, f)
#' model2 <- load_model(f)
save_model <- function(model, filepath, overwrite = TRUE, include_optimizer = TRUE, ...) {
  check_model(model, "model")
  check_no_vectorizer(model)
  check_no_dots(..., fn = "save_model()")
  filepath <- check_save_path(filepath, overwrite)
  if (!grepl("\\.keras$", filepath)) {
    if (grepl("\\.(h5|hdf5)$", filepath, ignore.case = TRUE)) {
      return(save_model_hdf5(model, filepath, overwrite = overwrite, include_optimizer = include_optimizer))
    }
    rk_abort(sprintf("`filepath` must end in '.keras' (or '.h5' for the legacy format), not '%s'.", filepath), "value")
  }
  write_model_file(model, filepath, "keras", include_optimizer)
}

#' @rdname save_model
#' @export
load_model <- function(filepath, custom_objects = NULL, compile = TRUE, ...) {
  use_custom_objects(custom_objects)
  check_no_dots(..., fn = "load_model()")
  compile <- check_flag(compile, "compile")
  model_from_file(read_model_file(filepath), compile)
}

#' @rdname save_model
#' @export
save_model_hdf5 <- function(object, filepath, overwrite = TRUE, include_optimizer = TRUE) {
  check_model(object)
  check_no_vectorizer(object)
  filepath <- check_save_path(filepath, overwrite)
  write_model_file(object, filepath, "h5", include_optimizer)
}

#' @rdname save_model
#' @export
load_model_hdf5 <- function(filepath, custom_objects = NULL, compile = TRUE) {
  load_model(filepath, custom_objects = custom_objects, compile = compile)
}

#' Save and load a model's weights
#'
#' `save_model_weights_hdf5()` writes the weights in Keras's legacy HDF5 layout (one group
#' per layer, listed by `layer_names`); `save_model_weights()` writes Keras 3's
#' `.weights.h5` file. The loaders put the weights into a model of the same architecture,
#' in place, and return it invisibly; they read either layout, whichever system wrote it.
#' @param object A model.
#' @param filepath File path (`save_model_weights()` needs one ending in `.weights.h5`).
#' @param overwrite Whether an existing file may be replaced.
#' @param by_name Match layers by name instead of by order (legacy HDF5 files).
#' @param skip_mismatch With `by_name = TRUE`, skip layers whose weights differ in number or
#'   shape instead of failing.
#' @param reshape Not supported; must be `FALSE`.
#' @param ... Unused.
#' @returns The model, invisibly.
#' @family model persistence
#' @export
#' @examples
#' model <- keras_model_sequential() %>% layer_dense(2, input_shape = 3)
#' f <- tempfile(fileext = ".h5")
#' save_model_weights_hdf5(model, f)
#' load_model_weights_hdf5(model, f)
save_model_weights_hdf5 <- function(object, filepath, overwrite = TRUE) {
  check_model(object)
  filepath <- check_save_path(filepath, overwrite)
  write_model_file(object, filepath, "weights_h5", FALSE)
  invisible(object)
}

#' @rdname save_model_weights_hdf5
#' @export
load_model_weights_hdf5 <- function(object, filepath, by_name = FALSE, skip_mismatch = FALSE, reshape = FALSE) {
  check_model(object)
  by_name <- check_flag(by_name, "by_name")
  skip_mismatch <- check_flag(skip_mismatch, "skip_mismatch")
  if (!isFALSE(reshape)) rk_abort("`reshape = TRUE` is not supported by rkeras.", "unsupported")
  if (skip_mismatch && !by_name) rk_abort("`skip_mismatch = TRUE` needs `by_name = TRUE`, as in Keras.", "value")
  saved <- read_model_file(filepath)
  put_weights(object, saved, by_name = by_name, skip_mismatch = skip_mismatch)
  invisible(object)
}

#' @rdname save_model_weights_hdf5
#' @export
save_model_weights <- function(object, filepath, overwrite = TRUE) {
  check_model(object)
  filepath <- check_save_path(filepath, overwrite)
  if (!grepl("\\.weights\\.h5$", filepath)) {
    rk_abort(sprintf("`filepath` must end in '.weights.h5', as Keras requires, not '%s'.", filepath), "value")
  }
  write_model_file(object, filepath, "weights", FALSE)
  invisible(object)
}

#' @rdname save_model_weights_hdf5
#' @export
load_model_weights <- function(object, filepath, skip_mismatch = FALSE, ...) {
  check_model(object)
  check_no_dots(..., fn = "load_model_weights()")
  skip_mismatch <- check_flag(skip_mismatch, "skip_mismatch")
  put_weights(object, read_model_file(filepath), by_name = FALSE, skip_mismatch = skip_mismatch)
  invisible(object)
}

#' Serialize a model to a raw vector
#'
#' The bytes of the model's `.keras` file: keep them anywhere R keeps a raw vector, and
#' rebuild the model with `unserialize_model()`.
#' @param model A model (for `unserialize_model()`: the raw vector).
#' @param include_optimizer Keep the compile settings and the optimizer's state.
#' @param custom_objects A named list of the functions written in R the file names (its
#'   losses), e.g. `list(vae_loss = vae_loss)`.
#' @param compile Compile the model with the saved settings.
#' @returns `serialize_model()`: a raw vector; `unserialize_model()`: a model.
#' @family model persistence
#' @export
#' @examples
#' model <- keras_model_sequential() %>% layer_dense(2, input_shape = 3)
#' model2 <- unserialize_model(serialize_model(model))
serialize_model <- function(model, include_optimizer = TRUE) {
  check_model(model, "model")
  check_no_vectorizer(model)
  model_bytes(model, include_optimizer)
}

#' The engine's model as `.keras` bytes (R's own serialization keeps the rest of the model)
#' @noRd
model_bytes <- function(model, include_optimizer = TRUE) write_model_file(model, NULL, "keras", include_optimizer)

#' Keras's files have no place for a text vectorization layer kept in R
#' @noRd
check_no_vectorizer <- function(model, call = rlang::caller_env()) {
  if (!is.null(model$text_vectorization)) {
    rk_abort("A model that starts with layer_text_vectorization() or layer_string_lookup() cannot be written to Keras's files yet: keep it with saveRDS(), or save the model after the layer and the layer's vocabulary (get_vocabulary()) apart.",
             "unsupported", call)
  }
}

#' @rdname serialize_model
#' @export
unserialize_model <- function(model, custom_objects = NULL, compile = TRUE) {
  use_custom_objects(custom_objects)
  if (!is.raw(model) || !length(model)) {
    rk_abort(sprintf("`model` must be a raw vector from serialize_model(), not %s.", show_value(model)), "type")
  }
  model_from_file(rk_call(rk_read_model_file(NULL, model)), check_flag(compile, "compile"))
}

check_save_path <- function(filepath, overwrite, call = rlang::caller_env()) {
  filepath <- path.expand(check_string(filepath, "filepath", call = call))
  overwrite <- check_flag(overwrite, "overwrite", call = call)
  if (!overwrite && file.exists(filepath)) {
    rk_abort(sprintf("'%s' exists and `overwrite = FALSE`.", filepath), "io", call)
  }
  if (!dir.exists(dirname(filepath))) {
    rk_abort(sprintf("Cannot save to '%s': the folder '%s' does not exist.", filepath, dirname(filepath)), "io", call)
  }
  filepath
}

read_model_file <- function(filepath, call = rlang::caller_env()) {
  filepath <- path.expand(check_string(filepath, "filepath", call = call))
  if (!file.exists(filepath)) rk_abort(sprintf("No file '%s'.", filepath), "io", call)
  if (dir.exists(filepath)) {
    rk_abort(sprintf("'%s' is a folder (a TensorFlow SavedModel?); rkeras reads '.keras' and '.h5' files.", filepath), "io", call)
  }
  rk_call(rk_read_model_file(filepath, NULL), call = call)
}

#' Models and weights under TensorFlow's names
#'
#' For code written for Keras for R with TensorFlow: `save_model_tf()` writes a folder
#' holding the model as `model.keras` (see [save_model()]), and `load_model_tf()` reads
#' it back; `save_model_weights_tf()` writes the weights to `filepath` in Keras's HDF5
#' layout (see [save_model_weights_hdf5()]), and `load_model_weights_tf()` reads them.
#' These are rkeras's files under TensorFlow's names, not TensorFlow's SavedModel or
#' checkpoint formats: TensorFlow's own folders and checkpoints are refused with an error.
#' @param object A model.
#' @param filepath A folder (`save_model_tf()`) or a file name (`cp.ckpt`).
#' @param overwrite Whether existing files may be replaced.
#' @param include_optimizer Save the compile settings and the optimizer's state.
#' @param signatures,options Not supported; must be `NULL`.
#' @param custom_objects A named list of the functions written in R the file names (its
#'   losses), e.g. `list(vae_loss = vae_loss)`.
#' @param compile Compile the loaded model with the saved settings.
#' @param by_name,skip_mismatch As for [load_model_weights_hdf5()].
#' @returns The savers: `object`, invisibly; `load_model_tf()`: a model;
#'   `load_model_weights_tf()`: `object`, invisibly.
#' @family model persistence
#' @export
#' @examples
#' model <- keras_model_sequential() %>% layer_dense(2, input_shape = 3)
#' dir <- file.path(tempdir(), "saved_model")
#' save_model_tf(model, dir)
#' model2 <- load_model_tf(dir)
save_model_tf <- function(object, filepath, overwrite = TRUE, include_optimizer = TRUE, signatures = NULL, options = NULL) {
  check_model(object)
  check_no_vectorizer(object)
  check_unsupported(signatures = signatures, options = options)
  filepath <- path.expand(check_string(filepath, "filepath"))
  if (file.exists(filepath) && !dir.exists(filepath)) {
    rk_abort(sprintf("'%s' is a file; save_model_tf() writes a folder.", filepath), "io")
  }
  dir.create(filepath, showWarnings = FALSE, recursive = TRUE)
  save_model(object, file.path(filepath, "model.keras"), overwrite = overwrite, include_optimizer = include_optimizer)
  invisible(object)
}

#' @rdname save_model_tf
#' @export
load_model_tf <- function(filepath, custom_objects = NULL, compile = TRUE) {
  filepath <- path.expand(check_string(filepath, "filepath"))
  inside <- file.path(filepath, "model.keras")
  if (dir.exists(filepath) && !file.exists(inside)) {
    what <- if (file.exists(file.path(filepath, "saved_model.pb"))) "a TensorFlow SavedModel, which rkeras cannot read" else "no model saved by save_model_tf()"
    rk_abort(sprintf("'%s' holds %s.", filepath, what), "io")
  }
  load_model(if (dir.exists(filepath)) inside else filepath, custom_objects = custom_objects, compile = compile)
}

#' @rdname save_model_tf
#' @export
save_model_weights_tf <- function(object, filepath, overwrite = TRUE, options = NULL) {
  check_unsupported(options = options)
  filepath <- path.expand(check_string(filepath, "filepath"))
  if (nzchar(dirname(filepath)) && !dir.exists(dirname(filepath))) dir.create(dirname(filepath), recursive = TRUE)
  save_model_weights_hdf5(object, filepath, overwrite = overwrite)
}

#' @rdname save_model_tf
#' @export
load_model_weights_tf <- function(object, filepath, by_name = FALSE, skip_mismatch = FALSE, options = NULL) {
  check_unsupported(options = options)
  filepath <- path.expand(check_string(filepath, "filepath"))
  if (!file.exists(filepath) && file.exists(paste0(filepath, ".index"))) {
    rk_abort(sprintf("'%s' is a TensorFlow checkpoint, which rkeras cannot read.", filepath), "io")
  }
  load_model_weights_hdf5(object, filepath, by_name = by_name, skip_mismatch = skip_mismatch)
}

#' Make `custom_objects` (a named list of functions) the functions a file's loss names may
#' refer to, until the calling function returns
#' @noRd
use_custom_objects <- function(custom_objects, call = rlang::caller_env(), frame = parent.frame()) {
  if (is.null(custom_objects)) return(invisible())
  ok <- is.list(custom_objects) && length(custom_objects) && !is.null(names(custom_objects)) &&
    all(nzchar(names(custom_objects))) && all(vapply(custom_objects, is.function, TRUE))
  if (!ok) {
    rk_abort(sprintf("`custom_objects` must be a named list of functions, not %s.", show_value(custom_objects)), "type", call)
  }
  old <- rk_cache$custom_objects
  rk_cache$custom_objects <- custom_objects
  do.call(on.exit, list(substitute(rk_cache$custom_objects <- old, list(old = old)), add = TRUE), envir = frame)
  invisible()
}
