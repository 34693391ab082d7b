#' InceptionV3
#'
#' Keras's InceptionV3 image classifier (Szegedy et al., 2016, "Rethinking the Inception
#' Architecture for Computer Vision"): Inception modules of parallel factorized convolutions,
#' with Keras's layer names and parameter count (23,851,784 with the top), so Keras's pretrained
#' weights load into it. Inputs are images `(rows, cols, 3)` scaled to -1..1 by
#' [inception_v3_preprocess_input()].
#'
#' `weights = "imagenet"` downloads Keras's weight file once into `~/.keras/models` (or
#' `$KERAS_HOME/models`) and checks its hash, as Keras does.
#' @inheritParams application_vgg16
#' @param input_shape `NULL` or the shape of one image `c(rows, cols, 3)`, at least 75 x 75
#'   (with the top and ImageNet weights, `c(299, 299, 3)`). Without the top, `NULL` leaves the
#'   size open.
#' @param name The model's name.
#' @returns A functional model.
#' @family applications
#' @export
#' @examples
#' model <- application_inception_v3(weights = NULL, include_top = FALSE, input_shape = c(75, 75, 3),
#'                                   pooling = "avg")
#' x <- inception_v3_preprocess_input(array(runif(75 * 75 * 3, 0, 255), c(1, 75, 75, 3)))
#' dim(predict(model, x, verbose = 0))
application_inception_v3 <- function(include_top = TRUE, weights = "imagenet", input_tensor = NULL,
                                     input_shape = NULL, pooling = NULL, classes = 1000,
                                     classifier_activation = "softmax", name = "inception_v3", ...) {
  check_no_dots(..., fn = "application_inception_v3()")
  name <- check_string(name, "name")
  a <- application_args(input_shape, include_top, weights, input_tensor, pooling, classes,
                        classifier_activation, default_size = 299, min_size = 75)
  # Keras's conv2d_bn(): an unnamed convolution, batch normalization without scale, ReLU.
  cbn <- function(x, filters, rows, cols, padding = "same", strides = 1) {
    x %>% layer_conv_2d(filters, c(rows, cols), strides = strides, padding = padding, use_bias = FALSE) %>%
      layer_batch_normalization(scale = FALSE) %>% layer_activation("relu")
  }
  avg3 <- function(x) layer_average_pooling_2d(x, 3, strides = 1, padding = "same")
  max3 <- function(x) layer_max_pooling_2d(x, 3, strides = 2)
  mixed <- function(branches, name) layer_concatenate(branches, axis = -1, name = name)
  x <- a$input %>% cbn(32, 3, 3, strides = 2, padding = "valid") %>% cbn(32, 3, 3, padding = "valid") %>%
    cbn(64, 3, 3) %>% max3() %>% cbn(80, 1, 1, padding = "valid") %>% cbn(192, 3, 3, padding = "valid") %>% max3()
  # mixed 0-2: 35 x 35 modules
  for (i in 0:2) {
    b1 <- cbn(x, 64, 1, 1)
    b5 <- x %>% cbn(48, 1, 1) %>% cbn(64, 5, 5)
    b3 <- x %>% cbn(64, 1, 1) %>% cbn(96, 3, 3) %>% cbn(96, 3, 3)
    bp <- x %>% avg3() %>% cbn(if (i == 0) 32 else 64, 1, 1)
    x <- mixed(list(b1, b5, b3, bp), sprintf("mixed%d", i))
  }
  # mixed 3: reduction to 17 x 17
  b3 <- cbn(x, 384, 3, 3, strides = 2, padding = "valid")
  b3d <- x %>% cbn(64, 1, 1) %>% cbn(96, 3, 3) %>% cbn(96, 3, 3, strides = 2, padding = "valid")
  x <- mixed(list(b3, b3d, max3(x)), "mixed3")
  # mixed 4-7: 17 x 17 modules with factorized 7 x 7 convolutions
  for (i in 4:7) {
    f <- c(128, 160, 160, 192)[[i - 3]]
    b1 <- cbn(x, 192, 1, 1)
    b7 <- x %>% cbn(f, 1, 1) %>% cbn(f, 1, 7) %>% cbn(192, 7, 1)
    b7d <- x %>% cbn(f, 1, 1) %>% cbn(f, 7, 1) %>% cbn(f, 1, 7) %>% cbn(f, 7, 1) %>% cbn(192, 1, 7)
    bp <- x %>% avg3() %>% cbn(192, 1, 1)
    x <- mixed(list(b1, b7, b7d, bp), sprintf("mixed%d", i))
  }
  # mixed 8: reduction to 8 x 8
  b3 <- x %>% cbn(192, 1, 1) %>% cbn(320, 3, 3, strides = 2, padding = "valid")
  b7 <- x %>% cbn(192, 1, 1) %>% cbn(192, 1, 7) %>% cbn(192, 7, 1) %>% cbn(192, 3, 3, strides = 2, padding = "valid")
  x <- mixed(list(b3, b7, max3(x)), "mixed8")
  # mixed 9-10: 8 x 8 modules with split 3 x 3 convolutions
  for (i in 0:1) {
    b1 <- cbn(x, 320, 1, 1)
    b3 <- cbn(x, 384, 1, 1)
    b3 <- mixed(list(cbn(b3, 384, 1, 3), cbn(b3, 384, 3, 1)), sprintf("mixed9_%d", i))
    b3d <- x %>% cbn(448, 1, 1) %>% cbn(384, 3, 3)
    b3d <- mixed(list(cbn(b3d, 384, 1, 3), cbn(b3d, 384, 3, 1)), NULL)
    bp <- x %>% avg3() %>% cbn(192, 1, 1)
    x <- mixed(list(b1, b3, b3d, bp), sprintf("mixed%d", 9 + i))
  }
  finish_tf_application(x, a, name, "inception_v3",
                        c("9a0d58056eeedaa3f26cb7ebd46da564", "bcbd6486424b2319ff4ef7d526e38f63"))
}

#' @rdname application_inception_v3
#' @param x An array of images, `(rows, cols, 3)` or `(samples, rows, cols, 3)`, values 0-255.
#' @export
inception_v3_preprocess_input <- function(x) imagenet_preprocess_input(x, mode = "tf")
