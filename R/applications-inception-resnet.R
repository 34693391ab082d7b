#' InceptionResNetV2
#'
#' Keras's InceptionResNetV2 image classifier (Szegedy et al., 2017, "Inception-v4,
#' Inception-ResNet and the Impact of Residual Connections on Learning"): Inception modules
#' whose outputs are scaled and added to their inputs, with Keras's layer names and parameter
#' count (55,873,736 with the top), so Keras's pretrained weights load into it. Inputs are
#' images `(rows, cols, 3)` scaled to -1..1 by [inception_resnet_v2_preprocess_input()].
#'
#' The scaled additions are Keras's `CustomScaleLayer` (`inputs[[1]] + inputs[[2]] * scale`),
#' made with [new_layer_class()]. `weights = "imagenet"` downloads Keras's weight file once into
#' `~/.keras/models` (or `$KERAS_HOME/models`) and checks its hash, as Keras does.
#' @inheritParams application_vgg16
#' @param input_shape `NULL` or the shape of one image `c(rows, cols, 3)`, at least 75 x 75
#'   (with the top and ImageNet weights, `c(299, 299, 3)`).
#' @param name The model's name.
#' @returns A functional model.
#' @family applications
#' @export
#' @examples
#' model <- application_inception_resnet_v2(weights = NULL, include_top = FALSE,
#'                                          input_shape = c(75, 75, 3), pooling = "avg")
#' x <- inception_resnet_v2_preprocess_input(array(runif(75 * 75 * 3, 0, 255), c(1, 75, 75, 3)))
#' dim(predict(model, x, verbose = 0))
application_inception_resnet_v2 <- function(include_top = TRUE, weights = "imagenet", input_tensor = NULL,
                                            input_shape = NULL, pooling = NULL, classes = 1000,
                                            classifier_activation = "softmax", name = "inception_resnet_v2", ...) {
  check_no_dots(..., fn = "application_inception_resnet_v2()")
  name <- check_string(name, "name")
  a <- application_args(input_shape, include_top, weights, input_tensor, pooling, classes,
                        classifier_activation, default_size = 299, min_size = 75)
  # Keras's conv2d_bn(): a convolution, batch normalization without scale (unless the
  # convolution has a bias) and an activation, named after `name` when it is given.
  cbn <- function(x, filters, kernel_size, strides = 1, padding = "same", activation = "relu", use_bias = FALSE,
                  name = NULL) {
    x <- layer_conv_2d(x, filters, kernel_size, strides = strides, padding = padding, use_bias = use_bias,
                       name = name)
    if (!use_bias) x <- layer_batch_normalization(x, scale = FALSE, name = if (!is.null(name)) paste0(name, "_bn"))
    if (!is.null(activation)) x <- layer_activation(x, activation, name = if (!is.null(name)) paste0(name, "_ac"))
    x
  }
  scale_layer <- new_layer_class(
    "CustomScaleLayer",
    initialize = function(scale, ...) {
      super$initialize(...)
      self$scale <- scale
    },
    call = function(inputs, ...) inputs[[1]] + inputs[[2]] * self$scale,
    get_config = function() list(scale = self$scale)
  )
  block <- function(x, scale, type, idx, activation = "relu") {
    branches <- switch(type,
      block35 = list(cbn(x, 32, 1), x %>% cbn(32, 1) %>% cbn(32, 3), x %>% cbn(32, 1) %>% cbn(48, 3) %>% cbn(64, 3)),
      block17 = list(cbn(x, 192, 1), x %>% cbn(128, 1) %>% cbn(160, c(1, 7)) %>% cbn(192, c(7, 1))),
      block8 = list(cbn(x, 192, 1), x %>% cbn(192, 1) %>% cbn(224, c(1, 3)) %>% cbn(256, c(3, 1)))
    )
    name <- sprintf("%s_%d", type, idx)
    up <- layer_concatenate(branches, axis = -1, name = paste0(name, "_mixed")) %>%
      cbn(rev(unlist(x$shape))[[1]], 1, activation = NULL, use_bias = TRUE, name = paste0(name, "_conv"))
    x <- scale_layer(list(x, up), scale = scale)
    if (!is.null(activation)) x <- layer_activation(x, activation, name = paste0(name, "_ac"))
    x
  }
  max3 <- function(x) layer_max_pooling_2d(x, 3, strides = 2)
  x <- a$input %>% cbn(32, 3, strides = 2, padding = "valid") %>% cbn(32, 3, padding = "valid") %>% cbn(64, 3) %>%
    max3() %>% cbn(80, 1, padding = "valid") %>% cbn(192, 3, padding = "valid") %>% max3()
  # mixed 5b (Inception-A) and 10 block35
  b0 <- cbn(x, 96, 1)
  b1 <- x %>% cbn(48, 1) %>% cbn(64, 5)
  b2 <- x %>% cbn(64, 1) %>% cbn(96, 3) %>% cbn(96, 3)
  bp <- x %>% layer_average_pooling_2d(3, strides = 1, padding = "same") %>% cbn(64, 1)
  x <- layer_concatenate(list(b0, b1, b2, bp), axis = -1, name = "mixed_5b")
  for (i in 1:10) x <- block(x, 0.17, "block35", i)
  # mixed 6a (Reduction-A) and 20 block17
  b0 <- cbn(x, 384, 3, strides = 2, padding = "valid")
  b1 <- x %>% cbn(256, 1) %>% cbn(256, 3) %>% cbn(384, 3, strides = 2, padding = "valid")
  x <- layer_concatenate(list(b0, b1, max3(x)), axis = -1, name = "mixed_6a")
  for (i in 1:20) x <- block(x, 0.1, "block17", i)
  # mixed 7a (Reduction-B) and 10 block8, the last without activation
  b0 <- x %>% cbn(256, 1) %>% cbn(384, 3, strides = 2, padding = "valid")
  b1 <- x %>% cbn(256, 1) %>% cbn(288, 3, strides = 2, padding = "valid")
  b2 <- x %>% cbn(256, 1) %>% cbn(288, 3) %>% cbn(320, 3, strides = 2, padding = "valid")
  x <- layer_concatenate(list(b0, b1, b2, max3(x)), axis = -1, name = "mixed_7a")
  for (i in 1:9) x <- block(x, 0.2, "block8", i)
  x <- block(x, 1.0, "block8", 10, activation = NULL) %>% cbn(1536, 1, name = "conv_7b")
  finish_tf_application(x, a, name, "inception_resnet_v2",
                        c("e693bd0210a403b3192acc6073ad2e96", "d19885ff4a710c122648d3b5c3b684e4"))
}

#' @rdname application_inception_resnet_v2
#' @param x An array of images, `(rows, cols, 3)` or `(samples, rows, cols, 3)`, values 0-255.
#' @export
inception_resnet_v2_preprocess_input <- function(x) imagenet_preprocess_input(x, mode = "tf")
