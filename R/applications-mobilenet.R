#' MobileNet
#'
#' Keras's MobileNet (V1) image classifier (Howard et al., 2017, "MobileNets: Efficient
#' Convolutional Neural Networks for Mobile Vision Applications"): depthwise separable
#' convolutions, with Keras's layer names, weights and parameter counts (4,253,864 for
#' `alpha = 1`, 224 x 224, with the top), so Keras's pretrained weights load into it. Inputs
#' are images `(rows, cols, 3)` scaled to -1..1 by [mobilenet_preprocess_input()].
#'
#' `weights = "imagenet"` downloads Keras's weight file for `alpha` and the input size (128,
#' 160, 192 or 224; other sizes load the 224 weights, as Keras does) once into
#' `~/.keras/models` (or `$KERAS_HOME/models`), as Keras does.
#' @inheritParams application_mobilenet_v2
#' @param input_shape `NULL` or the shape of one image, `c(rows, cols, 3)`: at least 32 x 32;
#'   with the top and ImageNet weights it must be square, 128, 160, 192 or 224 (or be left
#'   out, for 224). Without the top, `NULL` leaves the size open (`list(NULL, NULL, 3)`).
#' @param alpha The width multiplier: the number of filters of each layer is scaled by it
#'   (0.25, 0.5, 0.75 or 1 for ImageNet weights).
#' @param depth_multiplier The depth multiplier of the depthwise convolutions (the number of
#'   their output channels per input channel; 1 for ImageNet weights).
#' @param dropout The dropout rate before the classifier (with the top).
#' @param name `NULL` (Keras's name, `"mobilenet_1.00_224"`) or the model's name.
#' @returns A functional model.
#' @family applications
#' @export
#' @examples
#' # Random weights, a small input, a quarter of the width: no download.
#' model <- application_mobilenet(weights = NULL, alpha = 0.25, input_shape = c(64, 64, 3),
#'                                classes = 10)
#' count_params(model)
#' x <- mobilenet_preprocess_input(array(runif(64 * 64 * 3, 0, 255), c(1, 64, 64, 3)))
#' dim(predict(model, x, verbose = 0))
application_mobilenet <- function(input_shape = NULL, alpha = 1.0, depth_multiplier = 1L, dropout = 0.001,
                                  include_top = TRUE, weights = "imagenet", input_tensor = NULL,
                                  pooling = NULL, classes = 1000, classifier_activation = "softmax",
                                  name = NULL, ...) {
  check_no_dots(..., fn = "application_mobilenet()")
  alpha <- check_number(alpha, "alpha", min = 0.01, max = 100)
  depth_multiplier <- check_count(depth_multiplier, "depth_multiplier", max = 1024)
  dropout <- check_number(dropout, "dropout", min = 0, max = 1)
  name <- check_string(name, "name", allow_null = TRUE)
  # Keras's default size is the input's when it is square and one of the weights' sizes.
  sizes <- c(128, 160, 192, 224)
  default_size <- 224
  if (length(input_shape) == 3 && is.numeric(input_shape) && !anyNA(input_shape[1:2]) &&
      input_shape[[1]] == input_shape[[2]] && input_shape[[1]] %in% sizes) {
    default_size <- input_shape[[1]]
  }
  a <- application_args(input_shape, include_top, weights, input_tensor, pooling, classes,
                        classifier_activation, default_size = default_size, min_size = 32,
                        square_sizes = sizes)
  if (identical(a$weights, "imagenet") && depth_multiplier != 1) {
    rk_abort(sprintf("With `weights = \"imagenet\"`, `depth_multiplier` must be 1, not %d.", depth_multiplier),
             "value")
  }
  rows <- mobilenet_weight_rows(a, alpha, c(0.25, 0.5, 0.75, 1.0), sizes)
  bn <- function(x, name) layer_batch_normalization(x, name = name)
  relu6 <- function(x, name) layer_activation_relu(x, max_value = 6, name = name)
  block <- function(x, filters, stride = 1, id) {
    if (stride != 1) x <- layer_zero_padding_2d(x, list(c(0, 1), c(0, 1)), name = sprintf("conv_pad_%d", id))
    x %>%
      layer_depthwise_conv_2d(3, padding = if (stride == 1) "same" else "valid",
                              depth_multiplier = depth_multiplier, strides = stride, use_bias = FALSE,
                              name = sprintf("conv_dw_%d", id)) %>%
      bn(sprintf("conv_dw_%d_bn", id)) %>% relu6(sprintf("conv_dw_%d_relu", id)) %>%
      layer_conv_2d(as.integer(filters * alpha), 1, padding = "same", use_bias = FALSE,
                    name = sprintf("conv_pw_%d", id)) %>%
      bn(sprintf("conv_pw_%d_bn", id)) %>% relu6(sprintf("conv_pw_%d_relu", id))
  }
  x <- a$input %>%
    layer_conv_2d(as.integer(32 * alpha), 3, padding = "same", use_bias = FALSE, strides = 2, name = "conv1") %>%
    bn("conv1_bn") %>% relu6("conv1_relu")
  filters <- c(64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)
  strides <- c(1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)
  for (i in seq_along(filters)) x <- block(x, filters[[i]], strides[[i]], i)
  if (a$include_top) {
    x <- x %>% layer_global_average_pooling_2d(keepdims = TRUE) %>%
      layer_dropout(dropout, name = "dropout") %>%
      layer_conv_2d(a$classes, 1, padding = "same", name = "conv_preds") %>%
      layer_reshape(a$classes, name = "reshape_2") %>%
      layer_activation(a$classifier_activation, name = "predictions")
  } else {
    x <- application_pooling(x, a)
  }
  model <- keras_model(a$input, x, name = name %||% sprintf("mobilenet_%.2f_%s", alpha,
                                                             if (is.null(rows)) "None" else rows))
  alpha_text <- switch(format(alpha), "1" = "1_0", "0.75" = "7_5", "0.5" = "5_0", "2_5")
  file <- sprintf("mobilenet_%s_%d_tf%s.h5", alpha_text, as.integer(rows %||% 224),
                  if (a$include_top) "" else "_no_top")
  application_weights(model, a$weights, file, "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/")
}

#' @rdname application_mobilenet
#' @param x An array of images, `(rows, cols, 3)` or `(samples, rows, cols, 3)`, values 0-255.
#' @export
mobilenet_preprocess_input <- function(x) imagenet_preprocess_input(x, mode = "tf")

#' @rdname application_mobilenet
#' @inheritParams imagenet_decode_predictions
#' @export
mobilenet_decode_predictions <- function(preds, top = 5) imagenet_decode_predictions(preds, top)
