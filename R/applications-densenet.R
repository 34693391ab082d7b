#' DenseNet121, DenseNet169 and DenseNet201
#'
#' Keras's DenseNet image classifiers (Huang et al., 2017, "Densely Connected Convolutional
#' Networks"): dense blocks, each layer's output concatenated to its inputs, with Keras's layer
#' names and parameter counts (8,062,504, 14,307,880 and 20,242,984 with the top), so Keras's
#' pretrained weights load into them. Inputs are images `(rows, cols, 3)` preprocessed by
#' [densenet_preprocess_input()] (ImageNet's `"torch"` mode: scaled to 0..1, each channel
#' standardized).
#'
#' `weights = "imagenet"` downloads Keras's weight file once into `~/.keras/models` (or
#' `$KERAS_HOME/models`) and checks its hash, as Keras does.
#' @inheritParams application_vgg16
#' @param name The model's name (Keras's: `"densenet121"`, `"densenet169"`, `"densenet201"`).
#' @returns A functional model.
#' @family applications
#' @export
#' @examples
#' model <- application_densenet121(weights = NULL, include_top = FALSE, input_shape = c(32, 32, 3),
#'                                  pooling = "avg")
#' x <- densenet_preprocess_input(array(runif(32 * 32 * 3, 0, 255), c(1, 32, 32, 3)))
#' dim(predict(model, x, verbose = 0))
application_densenet121 <- application_variant(
  "application_densenet121", "densenet121",
  function(name, ...) build_densenet(c(6, 12, 24, 16), name, "densenet121",
    c("9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"), ...)
)

#' @rdname application_densenet121
#' @export
application_densenet169 <- application_variant(
  "application_densenet169", "densenet169",
  function(name, ...) build_densenet(c(6, 12, 32, 32), name, "densenet169",
    c("d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"), ...)
)

#' @rdname application_densenet121
#' @export
application_densenet201 <- application_variant(
  "application_densenet201", "densenet201",
  function(name, ...) build_densenet(c(6, 12, 48, 32), name, "densenet201",
    c("1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1"), ...)
)

#' @rdname application_densenet121
#' @param x An array of images, `(rows, cols, 3)` or `(samples, rows, cols, 3)`, values 0-255
#'   (channels first with `data_format = "channels_first"`).
#' @param data_format `NULL` (channels last), `"channels_last"` or `"channels_first"`.
#' @export
densenet_preprocess_input <- function(x, data_format = NULL) {
  imagenet_preprocess_input(x, data_format = data_format, mode = "torch")
}

#' Keras's `DenseNet()`: the stem, four dense blocks of `blocks` convolution blocks with
#' transition blocks between them, and the top
#' @noRd
build_densenet <- function(blocks, name, family, hashes, include_top, weights, input_tensor, input_shape,
                           pooling, classes, classifier_activation, call = rlang::caller_env()) {
  name <- check_string(name, "name", call = call)
  a <- application_args(input_shape, include_top, weights, input_tensor, pooling, classes,
                        classifier_activation, default_size = 224, min_size = 32, call = call)
  bn <- function(x, name) layer_batch_normalization(x, epsilon = 1.001e-5, name = name)
  conv_block <- function(x, growth_rate, name) {
    x1 <- x %>% bn(paste0(name, "_0_bn")) %>% layer_activation("relu", name = paste0(name, "_0_relu")) %>%
      layer_conv_2d(4 * growth_rate, 1, use_bias = FALSE, name = paste0(name, "_1_conv")) %>%
      bn(paste0(name, "_1_bn")) %>% layer_activation("relu", name = paste0(name, "_1_relu")) %>%
      layer_conv_2d(growth_rate, 3, padding = "same", use_bias = FALSE, name = paste0(name, "_2_conv"))
    layer_concatenate(list(x, x1), axis = -1, name = paste0(name, "_concat"))
  }
  transition_block <- function(x, reduction, name) {
    x <- x %>% bn(paste0(name, "_bn")) %>% layer_activation("relu", name = paste0(name, "_relu"))
    channels <- rev(unlist(x$shape))[[1]]
    x %>% layer_conv_2d(as.integer(channels * reduction), 1, use_bias = FALSE, name = paste0(name, "_conv")) %>%
      layer_average_pooling_2d(2, strides = 2, name = paste0(name, "_pool"))
  }
  x <- a$input %>%
    layer_zero_padding_2d(list(c(3, 3), c(3, 3))) %>%
    layer_conv_2d(64, 7, strides = 2, use_bias = FALSE, name = "conv1_conv") %>%
    bn("conv1_bn") %>% layer_activation("relu", name = "conv1_relu") %>%
    layer_zero_padding_2d(list(c(1, 1), c(1, 1))) %>%
    layer_max_pooling_2d(3, strides = 2, name = "pool1")
  for (s in seq_along(blocks)) {
    for (i in seq_len(blocks[[s]])) x <- conv_block(x, 32, sprintf("conv%d_block%d", s + 1L, i))
    if (s < length(blocks)) x <- transition_block(x, 0.5, sprintf("pool%d", s + 1L))
  }
  x <- x %>% bn("bn") %>% layer_activation("relu", name = "relu")
  x <- application_top(x, a, "predictions", list(avg = "avg_pool", max = "max_pool"))
  model <- keras_model(a$input, x, name = name)
  file <- sprintf("%s_weights_tf_dim_ordering_tf_kernels%s.h5", family, if (a$include_top) "" else "_notop")
  application_weights(model, a$weights, file, "https://storage.googleapis.com/tensorflow/keras-applications/densenet/",
                      file_hash = hashes[[if (a$include_top) 1 else 2]])
}
