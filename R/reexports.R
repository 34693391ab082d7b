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

#' @name reexports
#' @examples
#' # %>% passes its left-hand side on as the first argument
#' model <- keras_model_sequential() %>% layer_dense(1, input_shape = 2)
#' # compile() and fit() are generics from the generics package, with methods for models
#' model %>% compile(optimizer = "sgd", loss = "mse")
#' # %<-% unpacks a list into several variables, as with Keras's datasets
#' c(x, y) %<-% list(matrix(rnorm(20), 10), rnorm(10))
#' history <- model %>% fit(x, y, epochs = 1, verbose = 0)
NULL

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
