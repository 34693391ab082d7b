#' VGG16 and VGG19
#'
#' Keras's VGG16 and VGG19 image classifiers (Simonyan and Zisserman, 2014): blocks of 3 x 3
#' convolutions and max pooling, then two dense layers of 4096 units, with Keras's layer
#' names and parameter counts (138,357,544 and 143,667,240 with the top), so Keras's
#' pretrained weights load into them. Inputs are images `(rows, cols, 3)` preprocessed by
#' [imagenet_preprocess_input()] (the `"caffe"` mode: BGR, ImageNet means subtracted).
#'
#' `weights = "imagenet"` downloads Keras's weight file once into `~/.keras/models` (or
#' `$KERAS_HOME/models`) and checks its hash, as Keras does.
#' @inheritParams application_mobilenet_v2
#' @param input_shape `NULL` or the shape of one image `c(rows, cols, 3)`, at least 32 x 32
#'   (with the top, the flattened features must fit the first dense layer: 224 x 224 for
#'   ImageNet weights).
#' @returns A functional model.
#' @family applications
#' @export
#' @examples
#' model <- application_vgg16(weights = NULL, include_top = FALSE, input_shape = c(32, 32, 3),
#'                            pooling = "avg")
#' count_params(model)
application_vgg16 <- application_variant(
  "application_vgg16", "vgg16",
  function(name, ...) build_vgg(c(2, 2, 3, 3, 3), name, "vgg16",
    c("64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc"), ...)
)

#' @rdname application_vgg16
#' @export
application_vgg19 <- application_variant(
  "application_vgg19", "vgg19",
  function(name, ...) build_vgg(c(2, 2, 4, 4, 4), name, "vgg19",
    c("cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6"), ...)
)

build_vgg <- function(convs, name, family, hashes, include_top, weights, input_tensor, input_shape,
                      pooling, classes, classifier_activation, call = rlang::caller_env()) {
  name <- check_string(name, "name", call = call)
  a <- application_args(input_shape, include_top, weights, input_tensor, pooling, classes,
                        classifier_activation, default_size = 224, min_size = 32, call = call)
  x <- a$input
  filters <- c(64, 128, 256, 512, 512)
  for (b in seq_along(convs)) {
    for (k in seq_len(convs[[b]])) {
      x <- layer_conv_2d(x, filters[[b]], c(3, 3), activation = "relu", padding = "same",
                         name = sprintf("block%d_conv%d", b, k))
    }
    x <- layer_max_pooling_2d(x, c(2, 2), strides = c(2, 2), name = sprintf("block%d_pool", b))
  }
  x <- if (a$include_top) {
    x %>% layer_flatten(name = "flatten") %>%
      layer_dense(4096, activation = "relu", name = "fc1") %>%
      layer_dense(4096, activation = "relu", name = "fc2") %>%
      layer_dense(a$classes, activation = a$classifier_activation, name = "predictions")
  } else {
    application_pooling(x, a)
  }
  model <- keras_model(a$input, x, name = name)
  file <- sprintf("%s_weights_tf_dim_ordering_tf_kernels%s.h5", family, if (a$include_top) "" else "_notop")
  application_weights(model, a$weights, file,
                      sprintf("https://storage.googleapis.com/tensorflow/keras-applications/%s/", family),
                      file_hash = hashes[[if (a$include_top) 1 else 2]])
}

#' @rdname application_vgg16
#' @param x An array of images, `(rows, cols, 3)` or `(samples, rows, cols, 3)`, values 0-255.
#' @export
vgg16_preprocess_input <- function(x) imagenet_preprocess_input(x, mode = "caffe")

#' @rdname application_vgg16
#' @export
vgg19_preprocess_input <- function(x) imagenet_preprocess_input(x, mode = "caffe")
