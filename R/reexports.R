#' @importFrom magrittr %>%
#' @export
magrittr::`%>%`

#' @importFrom zeallot %<-%
#' @export
zeallot::`%<-%`

#' @export
generics::compile

#' @export
generics::fit

#' Is the engine available?
#'
#' rkeras needs no Python, so this is `TRUE` whenever the package is loaded.
#' @param version Ignored; accepted for compatibility.
#' @returns `TRUE`.
#' @family model functions
#' @export
#' @examples
#' is_keras_available()
is_keras_available <- function(version = NULL) TRUE

#' Install Keras (nothing to do)
#'
#' Keras for R installs Python, TensorFlow and Keras here. rkeras's engine is part of
#' the package, so there is nothing to install: this says so and returns invisibly.
#' @param method,conda,version,tensorflow,extra_packages,... Accepted for compatibility and ignored.
#' @returns `invisible(TRUE)`.
#' @family model functions
#' @export
#' @examples
#' install_keras()
install_keras <- function(method = c("auto", "virtualenv", "conda"), conda = "auto",
                          version = "default", tensorflow = version, extra_packages = NULL, ...) {
  message("rkeras needs no Python, TensorFlow or Keras installation: its engine is built into the package. Nothing to install.")
  invisible(TRUE)
}
