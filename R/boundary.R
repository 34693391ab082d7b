#' Raise a classed rkeras error
#'
#' Every error rkeras raises has class `rkeras_error` plus a subclass
#' `rkeras_error_<subclass>` (value, type, shape, spec, io, unsupported,
#' state, internal).
#' @noRd
rk_abort <- function(message, subclass = "value", call = rlang::caller_env()) {
  rlang::abort(message, class = c(paste0("rkeras_error_", subclass), "rkeras_error"),
               call = call)
}

#' Unwrap a result list returned by a Rust shim, raising its error in R
#' @noRd
rk_call <- function(res, call = rlang::caller_env()) {
  if (is.null(res$err)) return(res$ok)
  rk_abort(res$err$message, subclass = res$err$kind, call = call)
}
