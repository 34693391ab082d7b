#' Rescaling layer
#'
#' Multiplies its inputs by `scale` and adds `offset`, inside the model, so the model takes
#' raw values (say pixels 0-255) and is saved with its preprocessing:
#' `layer_rescaling(scale = 1 / 255)` maps pixels to 0..1, `layer_rescaling(scale = 1 / 127.5,
#' offset = -1)` to -1..1. Computed in single precision, as Keras does.
#' @inheritParams layer_dense
#' @param scale A number, or one per channel (the inputs' last axis).
#' @param offset A number, or one per channel.
#' @returns The model (invisibly) when `object` is a model, a tensor when `object` is a
#'   tensor, else a layer.
#' @family image preprocessing layers
#' @export
#' @examples
#' model <- keras_model_sequential(input_shape = c(8, 8, 3)) %>%
#'   layer_rescaling(1 / 255) %>%
#'   layer_conv_2d(4, 3, activation = "relu") %>%
#'   layer_global_average_pooling_2d() %>%
#'   layer_dense(2, activation = "softmax")
#' x <- array(sample(0:255, 2 * 8 * 8 * 3, replace = TRUE), c(2, 8, 8, 3))
#' dim(predict(model, x, verbose = 0))
layer_rescaling <- function(object, scale, offset = 0, input_shape = NULL, batch_input_shape = NULL,
                            batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                            weights = NULL, ...) {
  check_no_dots(..., fn = "layer_rescaling()")
  scale <- check_numbers(scale, "scale")
  offset <- check_numbers(offset, "offset")
  value <- function(v) if (length(v) == 1) v else I(v)
  spec <- new_layer_spec("rescaling", "Rescaling", list(scale = value(scale), offset = value(offset)),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' One or more finite numbers
#' @noRd
check_numbers <- function(x, arg, call = rlang::caller_env()) {
  if (!is.numeric(x) || !length(x) || any(!is.finite(x)) || length(dim(x)) > 1) {
    rk_abort(sprintf("`%s` must be a number or a vector of numbers (one per channel), not %s.", arg, show_value(x)),
             "value", call)
  }
  as.double(x)
}
