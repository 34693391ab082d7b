#' rkeras: Keras for R on a native Rust engine
#'
#' Write the code you write for Keras for R, with `library(rkeras)`: sequential
#' models, dense and dropout layers, `compile()`, `fit()`, generators, callbacks and
#' datasets, trained by a multi-threaded single-precision engine written in Rust.
#' No Python or TensorFlow is involved.
#'
#' Options: `rkeras.num_threads` (threads used by the engine; default all cores, 2
#' under `R CMD check`), `rkeras.verify_datasets` (check dataset hashes, default TRUE),
#' `keras.fit_verbose` (default `verbose` of [fit()]), `keras.view_metrics` (default
#' `view_metrics` of [fit()]), `rkeras.view_metrics` (`TRUE` shows the live metrics view
#' wherever `view_metrics` is `"auto"`; see [view_metrics()]).
#' @keywords internal
#' @importFrom generics compile fit
#' @importFrom stats predict
#' @importFrom R6 R6Class
#' @importFrom rlang .data
"_PACKAGE"

# Session-wide counters for Keras-style unique names (dense, dense_1, ...).
rk_names <- new.env(parent = emptyenv())

unique_name <- function(prefix) {
  n <- rk_names[[prefix]]
  rk_names[[prefix]] <- if (is.null(n)) 1L else n + 1L
  if (is.null(n)) prefix else paste0(prefix, "_", n)
}

#' A seed for the engine drawn from R's RNG, so that `set.seed()` reproduces runs
#' @noRd
draw_seed <- function() {
  as.double(sample.int(.Machine$integer.max, 1L)) * 2^21 + sample.int(2^21, 1L)
}

num_threads <- function() {
  n <- getOption("rkeras.num_threads")
  if (!is.null(n)) return(check_count(n, "rkeras.num_threads", max = 1024))
  if (nzchar(Sys.getenv("_R_CHECK_LIMIT_CORES_")) || nzchar(Sys.getenv("OMP_THREAD_LIMIT"))) return(2L)
  n <- parallel_cores()
  max(1L, n)
}

#' Tell the engine how many threads `model`'s next calls use (`options(rkeras.num_threads)`
#' by default).
#' @noRd
use_threads <- function(model, threads = num_threads(), call = rlang::caller_env()) {
  rk_call(rk_model_set(model$ptr, "threads", threads), call = call)
}

parallel_cores <- function() {
  # detectCores() starts a shell on Linux (a few ms): ask once per session.
  if (is.null(rk_cache$cores)) {
    n <- parallel::detectCores(logical = TRUE)
    rk_cache$cores <- if (length(n) != 1 || is.na(n)) 2L else as.integer(n)
  }
  rk_cache$cores
}

rk_cache <- new.env(parent = emptyenv())

# Test hook: restart Keras-style name counters (so snapshots do not depend on test order).
rk_names_reset <- function() {
  rm(list = ls(rk_names), envir = rk_names)
  invisible()
}

# The closure of a model (see new_model()) finds its state under this name.
utils::globalVariables(".state")

#' Make R's random numbers follow `seed` until the calling function returns; the session's
#' random numbers are then left as they were
#' @noRd
local_seed <- function(seed, frame = parent.frame()) {
  old <- get0(".Random.seed", envir = globalenv(), inherits = FALSE)
  restore <- if (is.null(old)) quote(rm(".Random.seed", envir = globalenv()))
             else substitute(assign(".Random.seed", old, envir = globalenv()), list(old = old))
  do.call(on.exit, list(restore, add = TRUE), envir = frame)
  set.seed(seed)
  invisible()
}
