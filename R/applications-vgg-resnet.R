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
application_vgg16 <- function(include_top = TRUE, weights = "imagenet", input_tensor = NULL,
                              input_shape = NULL, pooling = NULL, classes = 1000,
                              classifier_activation = "softmax", name = "vgg16", ...) {
  check_no_dots(..., fn = "application_vgg16()")
  build_vgg(c(2, 2, 3, 3, 3), name, "vgg16",
            c("64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc"),
            include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation)
}

#' @rdname application_vgg16
#' @export
application_vgg19 <- function(include_top = TRUE, weights = "imagenet", input_tensor = NULL,
                              input_shape = NULL, pooling = NULL, classes = 1000,
                              classifier_activation = "softmax", name = "vgg19", ...) {
  check_no_dots(..., fn = "application_vgg19()")
  build_vgg(c(2, 2, 4, 4, 4), name, "vgg19",
            c("cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6"),
            include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation)
}

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

#' ResNet50
#'
#' Keras's ResNet50 image classifier (He et al., 2015): bottleneck residual blocks with batch
#' normalization, with Keras's layer names and parameter count (25,636,712 with the top), so
#' Keras's pretrained weights load into it. Inputs are images `(rows, cols, 3)` preprocessed by
#' [resnet_preprocess_input()] (ImageNet's `"caffe"` mode).
#' @inheritParams application_vgg16
#' @returns A functional model.
#' @family applications
#' @export
#' @examples
#' model <- application_resnet50(weights = NULL, include_top = FALSE, input_shape = c(32, 32, 3),
#'                               pooling = "avg")
#' length(model$layers)
application_resnet50 <- function(include_top = TRUE, weights = "imagenet", input_tensor = NULL,
                                 input_shape = NULL, pooling = NULL, classes = 1000,
                                 classifier_activation = "softmax", name = "resnet50", ...) {
  check_no_dots(..., fn = "application_resnet50()")
  name <- check_string(name, "name")
  a <- application_args(input_shape, include_top, weights, input_tensor, pooling, classes,
                        classifier_activation, default_size = 224, min_size = 32)
  bn <- function(x, name) layer_batch_normalization(x, epsilon = 1.001e-5, name = name)
  block <- function(x, filters, stride = 1, conv_shortcut = TRUE, name) {
    shortcut <- if (conv_shortcut) {
      x %>% layer_conv_2d(4 * filters, 1, strides = stride, name = paste0(name, "_0_conv")) %>%
        bn(paste0(name, "_0_bn"))
    } else {
      x
    }
    x <- x %>% layer_conv_2d(filters, 1, strides = stride, name = paste0(name, "_1_conv")) %>%
      bn(paste0(name, "_1_bn")) %>% layer_activation("relu", name = paste0(name, "_1_relu")) %>%
      layer_conv_2d(filters, 3, padding = "same", name = paste0(name, "_2_conv")) %>%
      bn(paste0(name, "_2_bn")) %>% layer_activation("relu", name = paste0(name, "_2_relu")) %>%
      layer_conv_2d(4 * filters, 1, name = paste0(name, "_3_conv")) %>% bn(paste0(name, "_3_bn"))
    layer_add(list(shortcut, x), name = paste0(name, "_add")) %>%
      layer_activation("relu", name = paste0(name, "_out"))
  }
  stack <- function(x, filters, blocks, stride1 = 2, name) {
    x <- block(x, filters, stride = stride1, name = paste0(name, "_block1"))
    for (i in seq_len(blocks)[-1]) {
      x <- block(x, filters, conv_shortcut = FALSE, name = sprintf("%s_block%d", name, i))
    }
    x
  }
  x <- a$input %>%
    layer_zero_padding_2d(list(c(3, 3), c(3, 3)), name = "conv1_pad") %>%
    layer_conv_2d(64, 7, strides = 2, name = "conv1_conv") %>% bn("conv1_bn") %>%
    layer_activation("relu", name = "conv1_relu") %>%
    layer_zero_padding_2d(list(c(1, 1), c(1, 1)), name = "pool1_pad") %>%
    layer_max_pooling_2d(3, strides = 2, name = "pool1_pool") %>%
    stack(64, 3, stride1 = 1, name = "conv2") %>% stack(128, 4, name = "conv3") %>%
    stack(256, 6, name = "conv4") %>% stack(512, 3, name = "conv5")
  x <- application_top(x, a, "predictions", list(avg = "avg_pool", max = "max_pool"))
  model <- keras_model(a$input, x, name = name)
  file <- sprintf("resnet50_weights_tf_dim_ordering_tf_kernels%s.h5", if (a$include_top) "" else "_notop")
  application_weights(model, a$weights, file, "https://storage.googleapis.com/tensorflow/keras-applications/resnet/",
                      file_hash = if (a$include_top) "2cb95161c43110f7111970584f804107" else "4d473c1dd8becc155b73f8504c6f6626")
}

#' @rdname application_resnet50
#' @param x An array of images, `(rows, cols, 3)` or `(samples, rows, cols, 3)`, values 0-255.
#' @export
resnet_preprocess_input <- function(x) imagenet_preprocess_input(x, mode = "caffe")

#' @rdname application_vgg16
#' @param x An array of images, `(rows, cols, 3)` or `(samples, rows, cols, 3)`, values 0-255.
#' @export
vgg16_preprocess_input <- function(x) imagenet_preprocess_input(x, mode = "caffe")

#' @rdname application_vgg16
#' @export
vgg19_preprocess_input <- function(x) imagenet_preprocess_input(x, mode = "caffe")
