# Models kept by R's own serialization: saveRDS()/readRDS(), save()/load() and a saved
# workspace. Each model's environment holds a snapshot (src/snapshot.c) that R serializes as
# the model's `.keras` bytes; a model read back rebuilds its engine from them on first use.

#' The bytes R keeps for a model when it serializes it (called from C during serialization)
#' @noRd
model_snapshot <- function(env) {
  model <- get0("self", envir = env, inherits = FALSE)
  ptr <- get0("ptr", envir = env, inherits = FALSE)
  if (is.null(model) || rk_ptr_dead(ptr)) {
    # A model read back but not used since: its bytes are still the model.
    snap <- get0("snapshot", envir = env, inherits = FALSE)
    return(if (is.raw(snap) && length(snap)) snap)
  }
  tryCatch(model_bytes(model), error = function(e) NULL)
}

#' The model's engine pointer, rebuilding the engine first when the model was read back by
#' readRDS() or load()
#' @noRd
model_ptr <- function(model) {
  env <- model_env(model)
  ptr <- get0("ptr", envir = env, inherits = FALSE)
  if (rk_ptr_dead(ptr) && revive_model(model)) ptr <- get0("ptr", envir = env, inherits = FALSE)
  ptr
}

#' Rebuild a read-back model's engine from its snapshot bytes, in place: the restored
#' model object (and every reference to it) becomes a working model again
#' @noRd
revive_model <- function(model) {
  env <- model_env(model)
  bytes <- get0("snapshot", envir = env, inherits = FALSE)
  if (!is.raw(bytes) || !length(bytes)) return(FALSE)
  # Losses written in R came back with the model's R state.
  compiled <- get0("compiled", envir = env, inherits = FALSE)
  fns <- compiled$loss_fns[!vapply(compiled$loss_fns, is.null, TRUE)]
  labels <- compiled$loss_labels[!vapply(compiled$loss_fns, is.null, TRUE)]
  objects <- if (length(fns)) stats::setNames(fns, labels)
  new <- tryCatch(unserialize_model(bytes, custom_objects = objects), error = function(e) NULL)
  if (is.null(new)) return(FALSE)
  new_env <- model_env(new)
  model <- env$self
  for (nm in setdiff(ls(new_env, all.names = TRUE), c("self", "snapshot"))) {
    assign(nm, get(nm, envir = new_env), envir = env)
  }
  # The layers know their model: point them at the restored one.
  for (st in c(list(env$input_state), env$states)) {
    if (!is.environment(st)) next
    if (identical(st$model, new)) st$model <- model
    if (length(st$models)) st$models <- lapply(st$models, function(m) if (identical(m, new)) model else m)
  }
  env$snapshot <- rk_snapshot_new(env)
  TRUE
}
