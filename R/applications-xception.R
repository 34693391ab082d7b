#' Xception
#'
#' Keras's Xception image classifier (Chollet, 2017, "Xception: Deep Learning with Depthwise
#' Separable Convolutions"): residual blocks of separable convolutions, with Keras's layer
#' names and parameter count (22,910,480 with the top), so Keras's pretrained weights load into
#' it. Inputs are images `(rows, cols, 3)` scaled to -1..1 by [xception_preprocess_input()].
#'
#' `weights = "imagenet"` downloads Keras's weight file once into `~/.keras/models` (or
#' `$KERAS_HOME/models`) and checks its hash, as Keras does.
#' @inheritParams application_vgg16
#' @param input_shape `NULL` or the shape of one image `c(rows, cols, 3)`, at least 71 x 71
#'   (with the top and ImageNet weights, `c(299, 299, 3)`). Without the top, `NULL` leaves the
#'   size open.
#' @param name The model's name.
#' @returns A functional model.
#' @family applications
#' @export
#' @examples
#' model <- application_xception(weights = NULL, include_top = FALSE, input_shape = c(71, 71, 3),
#'                               pooling = "avg")
#' x <- xception_preprocess_input(array(runif(71 * 71 * 3, 0, 255), c(1, 71, 71, 3)))
#' dim(predict(model, x, verbose = 0))
application_xception <- function(include_top = TRUE, weights = "imagenet", input_tensor = NULL,
                                 input_shape = NULL, pooling = NULL, classes = 1000,
                                 classifier_activation = "softmax", name = "xception", ...) {
  check_no_dots(..., fn = "application_xception()")
  name <- check_string(name, "name")
  a <- application_args(input_shape, include_top, weights, input_tensor, pooling, classes,
                        classifier_activation, default_size = 299, min_size = 71)
  bn <- function(x, name = NULL) layer_batch_normalization(x, name = name)
  relu <- function(x, name) layer_activation(x, "relu", name = name)
  sep <- function(x, filters, name) {
    x %>% layer_separable_conv_2d(filters, 3, padding = "same", use_bias = FALSE, name = name) %>%
      bn(paste0(name, "_bn"))
  }
  residual <- function(x, filters) {
    x %>% layer_conv_2d(filters, 1, strides = 2, padding = "same", use_bias = FALSE) %>% bn()
  }
  pool <- function(x, name) layer_max_pooling_2d(x, 3, strides = 2, padding = "same", name = name)
  x <- a$input %>%
    layer_conv_2d(32, 3, strides = 2, use_bias = FALSE, name = "block1_conv1") %>%
    bn("block1_conv1_bn") %>% relu("block1_conv1_act") %>%
    layer_conv_2d(64, 3, use_bias = FALSE, name = "block1_conv2") %>%
    bn("block1_conv2_bn") %>% relu("block1_conv2_act")
  # Blocks 2-4 and 13: two separable convolutions and a stride-2 pooling beside a 1 x 1
  # convolution shortcut (block 2 has no activation before its first convolution).
  entry <- function(x, block, filters) {
    r <- residual(x, filters[[2]])
    if (block > 2) x <- relu(x, sprintf("block%d_sepconv1_act", block))
    x <- x %>% sep(filters[[1]], sprintf("block%d_sepconv1", block)) %>%
      relu(sprintf("block%d_sepconv2_act", block)) %>%
      sep(filters[[2]], sprintf("block%d_sepconv2", block)) %>%
      pool(sprintf("block%d_pool", block))
    layer_add(list(x, r))
  }
  x <- x %>% entry(2, c(128, 128)) %>% entry(3, c(256, 256)) %>% entry(4, c(728, 728))
  for (b in 5:12) {
    r <- x
    for (k in 1:3) {
      x <- x %>% relu(sprintf("block%d_sepconv%d_act", b, k)) %>% sep(728, sprintf("block%d_sepconv%d", b, k))
    }
    x <- layer_add(list(x, r))
  }
  x <- x %>% entry(13, c(728, 1024)) %>%
    sep(1536, "block14_sepconv1") %>% relu("block14_sepconv1_act") %>%
    sep(2048, "block14_sepconv2") %>% relu("block14_sepconv2_act")
  finish_tf_application(x, a, name, "xception",
                        c("0a58e3b7378bc2990ea3b43d5981f1f6", "b0042744bf5b25fce3cb969f33bebb97"))
}

#' @rdname application_xception
#' @param x An array of images, `(rows, cols, 3)` or `(samples, rows, cols, 3)`, values 0-255.
#' @export
xception_preprocess_input <- function(x) imagenet_preprocess_input(x, mode = "tf")
