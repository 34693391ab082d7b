#' Weight initializers
#'
#' Keras's initializers, for `kernel_initializer` and `bias_initializer`. Strings work
#' too: `"glorot_uniform"` (the kernel default), `"glorot_normal"`, `"he_uniform"`,
#' `"he_normal"`, `"lecun_uniform"`, `"lecun_normal"`, `"zeros"`, `"ones"`,
#' `"random_normal"`, `"random_uniform"`, `"orthogonal"` (the recurrent kernels' default: a
#' random matrix with orthonormal rows or columns, times `gain`). Random draws follow R's
#' `set.seed()`.
#' @param mean,stddev Normal distribution parameters.
#' @param minval,maxval Uniform range.
#' @param value Constant value.
#' @param gain Multiplier of the orthogonal matrix.
#' @param scale,mode,distribution Variance scaling: draws with variance `scale / n`, `n` the
#'   weight's fan in (`"fan_in"`), fan out (`"fan_out"`) or their mean (`"fan_avg"`), from a
#'   normal distribution truncated at two standard deviations (`"truncated_normal"`, or
#'   Keras 2's name `"normal"`), an untruncated one (`"untruncated_normal"`) or a uniform one
#'   (`"uniform"`). The Glorot, He and LeCun initializers are its special cases.
#' @param seed Ignored: seeds come from R's RNG.
#' @returns An initializer object.
#' @family initializers
#' @name initializers
#' @examples
#' keras_model_sequential() %>%
#'   layer_dense(4, input_shape = 3, kernel_initializer = initializer_he_normal())
NULL

new_initializer <- function(name, args = numeric()) structure(list(name = name, args = args), class = "rkeras_initializer")

#' @rdname initializers
#' @export
initializer_zeros <- function() new_initializer("zeros")
#' @rdname initializers
#' @export
initializer_ones <- function() new_initializer("ones")
#' @rdname initializers
#' @export
initializer_constant <- function(value = 0) new_initializer("constant", c(check_number(value, "value"), 0))
#' @rdname initializers
#' @export
initializer_random_normal <- function(mean = 0, stddev = 0.05, seed = NULL) {
  new_initializer("random_normal", c(check_number(mean, "mean"), check_number(stddev, "stddev", min = 0)))
}
#' @rdname initializers
#' @export
initializer_random_uniform <- function(minval = -0.05, maxval = 0.05, seed = NULL) {
  new_initializer("random_uniform", c(check_number(minval, "minval"), check_number(maxval, "maxval")))
}
#' @rdname initializers
#' @export
initializer_truncated_normal <- function(mean = 0, stddev = 0.05, seed = NULL) {
  new_initializer("truncated_normal", c(check_number(mean, "mean"), check_number(stddev, "stddev", min = 0)))
}
#' @rdname initializers
#' @export
initializer_glorot_uniform <- function(seed = NULL) new_initializer("glorot_uniform")
#' @rdname initializers
#' @export
initializer_glorot_normal <- function(seed = NULL) new_initializer("glorot_normal")
#' @rdname initializers
#' @export
initializer_he_uniform <- function(seed = NULL) new_initializer("he_uniform")
#' @rdname initializers
#' @export
initializer_he_normal <- function(seed = NULL) new_initializer("he_normal")
#' @rdname initializers
#' @export
initializer_lecun_uniform <- function(seed = NULL) new_initializer("lecun_uniform")
#' @rdname initializers
#' @export
initializer_lecun_normal <- function(seed = NULL) new_initializer("lecun_normal")
#' @rdname initializers
#' @export
initializer_variance_scaling <- function(scale = 1, mode = "fan_in", distribution = "truncated_normal",
                                         seed = NULL) {
  if (identical(mode, c("fan_in", "fan_out", "fan_avg"))) mode <- "fan_in"
  if (identical(distribution, c("normal", "uniform", "truncated_normal", "untruncated_normal"))) distribution <- "normal"
  distribution <- check_string(distribution, "distribution",
                               choices = c("normal", "truncated_normal", "untruncated_normal", "uniform"))
  structure(list(class_name = "VarianceScaling",
                 config = list(scale = check_number(scale, "scale", min = 1e-12),
                               mode = check_string(mode, "mode", choices = c("fan_in", "fan_out", "fan_avg")),
                               distribution = if (distribution == "normal") "truncated_normal" else distribution)),
            class = "rkeras_initializer")
}
#' @rdname initializers
#' @export
initializer_orthogonal <- function(gain = 1, seed = NULL) new_initializer("orthogonal", c(check_number(gain, "gain", min = 1e-12), 0))

rk_initializer_names <- c("orthogonal", "zeros", "ones", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                          "lecun_uniform", "lecun_normal", "random_normal", "random_uniform", "normal",
                          "uniform", "truncated_normal")

as_initializer <- function(x, arg, call = rlang::caller_env()) {
  if (inherits(x, "rkeras_initializer")) return(unclass(x))
  x <- check_string(x, arg, choices = rk_initializer_names, call = call)
  switch(x,
    random_normal = , normal = unclass(initializer_random_normal()),
    random_uniform = , uniform = unclass(initializer_random_uniform()),
    truncated_normal = unclass(initializer_truncated_normal()),
    list(name = x, args = numeric()))
}
