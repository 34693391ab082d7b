#' EfficientNet B0 to B7
#'
#' Keras's EfficientNet (V1) image classifiers (Tan and Le, 2019, "EfficientNet: Rethinking
#' Model Scaling for Convolutional Neural Networks"): mobile inverted bottleneck blocks with
#' squeeze-and-excitation, scaled in width, depth and input size from B0 (5,330,571 parameters
#' with the top, 224 x 224) to B7 (66,658,687, 600 x 600), with Keras's layer names and
#' parameter counts, so Keras's pretrained weights load into them.
#'
#' The models take images with values 0-255: their preprocessing is inside them (a
#' rescaling to 0..1 and a normalization layer whose mean and variance are weights; with
#' `weights = "imagenet"` also a rescaling of each channel, as Keras builds it), so
#' [efficientnet_preprocess_input()] returns its input. `weights = "imagenet"` downloads
#' Keras's weight file once into `~/.keras/models` (or `$KERAS_HOME/models`) and checks its
#' hash, as Keras does. Random weights (`weights = NULL`) are drawn as Keras draws them:
#' variance scaling by the fan out (truncated normal, scale 2, for the convolutions; uniform,
#' scale 1/3, for the classifier) and zero biases.
#' @inheritParams application_vgg16
#' @param input_shape `NULL` or the shape of one image `c(rows, cols, 3)`, at least 32 x 32
#'   (with the top and ImageNet weights, the model's size: 224, 240, 260, 300, 380, 456, 528
#'   or 600 for B0 to B7). Without the top, `NULL` leaves the size open.
#' @param name The model's name (Keras's: `"efficientnetb0"` to `"efficientnetb7"`).
#' @returns A functional model.
#' @family applications
#' @export
#' @examples
#' model <- application_efficientnet_b0(weights = NULL, include_top = FALSE,
#'                                      input_shape = c(32, 32, 3),
#'                                      pooling = "avg")
#' x <- array(runif(32 * 32 * 3, 0, 255), c(1, 32, 32, 3))
#' dim(predict(model, x, verbose = 0))
application_efficientnet_b0 <- application_variant(
  "application_efficientnet_b0", "efficientnetb0",
  function(name, ...) build_efficientnet(0, name, ...)
)

#' @rdname application_efficientnet_b0
#' @export
application_efficientnet_b1 <- application_variant(
  "application_efficientnet_b1", "efficientnetb1",
  function(name, ...) build_efficientnet(1, name, ...)
)

#' @rdname application_efficientnet_b0
#' @export
application_efficientnet_b2 <- application_variant(
  "application_efficientnet_b2", "efficientnetb2",
  function(name, ...) build_efficientnet(2, name, ...)
)

#' @rdname application_efficientnet_b0
#' @export
application_efficientnet_b3 <- application_variant(
  "application_efficientnet_b3", "efficientnetb3",
  function(name, ...) build_efficientnet(3, name, ...)
)

#' @rdname application_efficientnet_b0
#' @export
application_efficientnet_b4 <- application_variant(
  "application_efficientnet_b4", "efficientnetb4",
  function(name, ...) build_efficientnet(4, name, ...)
)

#' @rdname application_efficientnet_b0
#' @export
application_efficientnet_b5 <- application_variant(
  "application_efficientnet_b5", "efficientnetb5",
  function(name, ...) build_efficientnet(5, name, ...)
)

#' @rdname application_efficientnet_b0
#' @export
application_efficientnet_b6 <- application_variant(
  "application_efficientnet_b6", "efficientnetb6",
  function(name, ...) build_efficientnet(6, name, ...)
)

#' @rdname application_efficientnet_b0
#' @export
application_efficientnet_b7 <- application_variant(
  "application_efficientnet_b7", "efficientnetb7",
  function(name, ...) build_efficientnet(7, name, ...)
)

#' @rdname application_efficientnet_b0
#' @param x An array of images, values 0-255: returned as it is (the models preprocess their
#'   inputs themselves).
#' @param data_format Unused (Keras's signature).
#' @export
efficientnet_preprocess_input <- function(x, data_format = NULL) x

#' Keras's `EfficientNet()` for variant `b` (0-7): width and depth coefficients, default
#' size and dropout rate; `imagenet_scale` adds the per-channel rescaling Keras builds
#' with ImageNet weights (by default when `weights = "imagenet"`)
#' @noRd
build_efficientnet <- function(b, name, include_top, weights, input_tensor, input_shape, pooling, classes,
                               classifier_activation, imagenet_scale = identical(weights, "imagenet"),
                               call = rlang::caller_env()) {
  name <- check_string(name, "name", call = call)
  width <- c(1.0, 1.0, 1.1, 1.2, 1.4, 1.6, 1.8, 2.0)[[b + 1]]
  depth <- c(1.0, 1.1, 1.2, 1.4, 1.8, 2.2, 2.6, 3.1)[[b + 1]]
  default_size <- c(224, 240, 260, 300, 380, 456, 528, 600)[[b + 1]]
  dropout_rate <- c(0.2, 0.2, 0.3, 0.3, 0.4, 0.4, 0.5, 0.5)[[b + 1]]
  drop_connect_rate <- 0.2
  a <- application_args(input_shape, include_top, weights, input_tensor, pooling, classes,
                        classifier_activation, default_size = default_size, min_size = 32, call = call)
  round_filters <- function(filters) make_divisible(filters * width, 8)
  round_repeats <- function(repeats) as.integer(ceiling(depth * repeats))
  bn <- function(x, name) layer_batch_normalization(x, name = name)
  swish <- function(x, name) layer_activation(x, "swish", name = name)
  x <- a$input %>% layer_rescaling(1 / 255) %>% layer_normalization(axis = -1)
  if (imagenet_scale) x <- layer_rescaling(x, 1 / sqrt(c(0.229, 0.224, 0.225)))
  x <- x %>%
    layer_zero_padding_2d(correct_pad(x, 3), name = "stem_conv_pad") %>%
    layer_conv_2d(round_filters(32), 3, strides = 2, padding = "valid", use_bias = FALSE,
                  kernel_initializer = efficientnet_conv_init(), name = "stem_conv") %>%
    bn("stem_bn") %>% swish("stem_activation")
  # Keras's DEFAULT_BLOCKS_ARGS: kernel size, repeats, filters in and out, expansion, stride
  # (every block with squeeze-and-excitation ratio 0.25 and an identity skip).
  plan <- list(c(3, 1, 32, 16, 1, 1), c(3, 2, 16, 24, 6, 2), c(5, 2, 24, 40, 6, 2), c(3, 3, 40, 80, 6, 2),
               c(5, 3, 80, 112, 6, 1), c(5, 4, 112, 192, 6, 2), c(3, 1, 192, 320, 6, 1))
  total <- sum(vapply(plan, function(p) round_repeats(p[[2]]), 1L))
  n <- 0
  for (i in seq_along(plan)) {
    p <- plan[[i]]
    filters_in <- round_filters(p[[3]])
    filters_out <- round_filters(p[[4]])
    for (j in seq_len(round_repeats(p[[2]]))) {
      x <- efficientnet_block(x, drop_connect_rate * n / total, sprintf("block%d%s_", i, letters[[j]]),
                              if (j == 1) filters_in else filters_out, filters_out, p[[1]],
                              if (j == 1) p[[6]] else 1, p[[5]])
      n <- n + 1
    }
  }
  x <- x %>% layer_conv_2d(round_filters(1280), 1, padding = "same", use_bias = FALSE,
                                  kernel_initializer = efficientnet_conv_init(), name = "top_conv") %>%
    bn("top_bn") %>% swish("top_activation")
  if (a$include_top) {
    x <- layer_global_average_pooling_2d(x, name = "avg_pool")
    if (dropout_rate > 0) x <- layer_dropout(x, dropout_rate, name = "top_dropout")
    x <- layer_dense(x, a$classes, activation = a$classifier_activation, name = "predictions",
                     kernel_initializer = initializer_variance_scaling(1 / 3, "fan_out", "uniform"))
  } else {
    x <- application_pooling(x, a, list(avg = "avg_pool", max = "max_pool"))
  }
  model <- keras_model(a$input, x, name = name)
  hashes <- list(c("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
                 c("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
                 c("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
                 c("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
                 c("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
                 c("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
                 c("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
                 c("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"))[[b + 1]]
  # Keras's file is named after the model; the default name is the one its server knows.
  file <- sprintf("efficientnetb%d%s.h5", b, if (a$include_top) "" else "_notop")
  application_weights(model, a$weights, file, "https://storage.googleapis.com/keras-applications/",
                      file_hash = hashes[[if (a$include_top) 1 else 2]], call = call)
}

#' Keras's CONV_KERNEL_INITIALIZER of EfficientNet
#' @noRd
efficientnet_conv_init <- function() initializer_variance_scaling(2, "fan_out", "truncated_normal")

#' Keras's EfficientNet `block()`: expansion, depthwise convolution, squeeze-and-excitation,
#' projection, and (same shape) dropout of whole samples and the skip connection
#' @noRd
efficientnet_block <- function(inputs, drop_rate, name, filters_in, filters_out, kernel_size, strides, expand_ratio) {
  bn <- function(x, suffix) layer_batch_normalization(x, name = paste0(name, suffix))
  filters <- filters_in * expand_ratio
  x <- inputs
  if (expand_ratio != 1) {
    x <- x %>% layer_conv_2d(filters, 1, padding = "same", use_bias = FALSE, kernel_initializer = efficientnet_conv_init(),
                            name = paste0(name, "expand_conv")) %>%
      bn("expand_bn") %>% layer_activation("swish", name = paste0(name, "expand_activation"))
  }
  if (strides == 2) x <- layer_zero_padding_2d(x, correct_pad(x, kernel_size), name = paste0(name, "dwconv_pad"))
  x <- x %>%
    layer_depthwise_conv_2d(kernel_size, strides = strides, padding = if (strides == 2) "valid" else "same",
                            use_bias = FALSE, depthwise_initializer = efficientnet_conv_init(),
                            name = paste0(name, "dwconv")) %>%
    bn("bn") %>% layer_activation("swish", name = paste0(name, "activation"))
  se <- x %>% layer_global_average_pooling_2d(name = paste0(name, "se_squeeze")) %>%
    layer_reshape(c(1, 1, filters), name = paste0(name, "se_reshape")) %>%
    layer_conv_2d(max(1L, as.integer(filters_in * 0.25)), 1, padding = "same", activation = "swish",
                  kernel_initializer = efficientnet_conv_init(), name = paste0(name, "se_reduce")) %>%
    layer_conv_2d(filters, 1, padding = "same", activation = "sigmoid", kernel_initializer = efficientnet_conv_init(),
                  name = paste0(name, "se_expand"))
  x <- layer_multiply(list(x, se), name = paste0(name, "se_excite")) %>%
    layer_conv_2d(filters_out, 1, padding = "same", use_bias = FALSE, kernel_initializer = efficientnet_conv_init(),
                  name = paste0(name, "project_conv")) %>%
    bn("project_bn")
  if (strides == 1 && filters_in == filters_out) {
    if (drop_rate > 0) x <- layer_dropout(x, drop_rate, noise_shape = c(NA, 1, 1, 1), name = paste0(name, "drop"))
    x <- layer_add(list(x, inputs), name = paste0(name, "add"))
  }
  x
}
