# Shared by the application families: the function of one variant (ResNet101, DenseNet169,
# EfficientNetB3, ...) with Keras's standard arguments. (This file is sourced before the
# families' files, which call it when the package is built.)

#' The exported function of an application variant: Keras's arguments, `name` defaulting
#' to Keras's model name, and `build(name, include_top, weights, input_tensor, input_shape,
#' pooling, classes, classifier_activation, call = )` making the model
#' @noRd
application_variant <- function(fn, default_name, build) {
  force(build)
  f <- function(include_top = TRUE, weights = "imagenet", input_tensor = NULL, input_shape = NULL,
                pooling = NULL, classes = 1000, classifier_activation = "softmax", name = NULL, ...) {
    check_no_dots(..., fn = paste0(fn, "()"))
    build(name, include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation,
          call = rlang::current_env())
  }
  formals(f)$name <- default_name
  f
}
