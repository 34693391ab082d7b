#' ResNet50, ResNet101 and ResNet152
#'
#' Keras's ResNet image classifiers (He et al., 2015, "Deep Residual Learning for Image
#' Recognition"): bottleneck residual blocks with batch normalization, with Keras's layer names
#' and parameter counts (25,636,712, 44,707,176 and 60,419,944 with the top), so Keras's
#' pretrained weights load into them. Inputs are images `(rows, cols, 3)` preprocessed by
#' [resnet_preprocess_input()] (ImageNet's `"caffe"` mode).
#'
#' `weights = "imagenet"` downloads Keras's weight file once into `~/.keras/models` (or
#' `$KERAS_HOME/models`) and checks its hash, as Keras does.
#' @inheritParams application_vgg16
#' @param name The model's name (Keras's: `"resnet50"`, `"resnet101"`, `"resnet152"`).
#' @returns A functional model.
#' @family applications
#' @export
#' @examples
#' model <- application_resnet50(weights = NULL, include_top = FALSE, input_shape = c(32, 32, 3),
#'                               pooling = "avg")
#' length(model$layers)
application_resnet50 <- application_variant(
  "application_resnet50", "resnet50",
  function(name, ...) build_resnet(c(3, 4, 6, 3), FALSE, name, "resnet50",
    c("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"), ...)
)

#' @rdname application_resnet50
#' @export
application_resnet101 <- application_variant(
  "application_resnet101", "resnet101",
  function(name, ...) build_resnet(c(3, 4, 23, 3), FALSE, name, "resnet101",
    c("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"), ...)
)

#' @rdname application_resnet50
#' @export
application_resnet152 <- application_variant(
  "application_resnet152", "resnet152",
  function(name, ...) build_resnet(c(3, 8, 36, 3), FALSE, name, "resnet152",
    c("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"), ...)
)

#' @rdname application_resnet50
#' @param x An array of images, `(rows, cols, 3)` or `(samples, rows, cols, 3)`, values 0-255.
#' @export
resnet_preprocess_input <- function(x) imagenet_preprocess_input(x, mode = "caffe")

#' ResNet50V2, ResNet101V2 and ResNet152V2
#'
#' Keras's ResNet V2 image classifiers (He et al., 2016, "Identity Mappings in Deep Residual
#' Networks"): residual blocks with pre-activation (batch normalization and ReLU before each
#' convolution), with Keras's layer names and parameter counts (25,613,800, 44,675,560 and
#' 60,380,648 with the top), so Keras's pretrained weights load into them. Inputs are images
#' `(rows, cols, 3)` scaled to -1..1 by [resnet_v2_preprocess_input()].
#'
#' `weights = "imagenet"` downloads Keras's weight file once into `~/.keras/models` (or
#' `$KERAS_HOME/models`) and checks its hash, as Keras does.
#' @inheritParams application_vgg16
#' @param name The model's name (Keras's: `"resnet50v2"`, `"resnet101v2"`, `"resnet152v2"`).
#' @returns A functional model.
#' @family applications
#' @export
#' @examples
#' model <- application_resnet50_v2(weights = NULL, include_top = FALSE, input_shape = c(32, 32, 3),
#'                                  pooling = "max")
#' x <- resnet_v2_preprocess_input(array(runif(32 * 32 * 3, 0, 255), c(1, 32, 32, 3)))
#' dim(predict(model, x, verbose = 0))
application_resnet50_v2 <- application_variant(
  "application_resnet50_v2", "resnet50v2",
  function(name, ...) build_resnet(c(3, 4, 6, 3), TRUE, name, "resnet50v2",
    c("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"), ...)
)

#' @rdname application_resnet50_v2
#' @export
application_resnet101_v2 <- application_variant(
  "application_resnet101_v2", "resnet101v2",
  function(name, ...) build_resnet(c(3, 4, 23, 3), TRUE, name, "resnet101v2",
    c("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"), ...)
)

#' @rdname application_resnet50_v2
#' @export
application_resnet152_v2 <- application_variant(
  "application_resnet152_v2", "resnet152v2",
  function(name, ...) build_resnet(c(3, 8, 36, 3), TRUE, name, "resnet152v2",
    c("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"), ...)
)

#' @rdname application_resnet50_v2
#' @param x An array of images, `(rows, cols, 3)` or `(samples, rows, cols, 3)`, values 0-255.
#' @export
resnet_v2_preprocess_input <- function(x) imagenet_preprocess_input(x, mode = "tf")

#' Keras's `ResNet()`: the stem, four stacks of `blocks` residual blocks (V1 bottleneck
#' blocks, or V2 pre-activation blocks with `preact`) and the top
#' @noRd
build_resnet <- function(blocks, preact, name, family, hashes, include_top, weights, input_tensor,
                         input_shape, pooling, classes, classifier_activation, call = rlang::caller_env()) {
  name <- check_string(name, "name", call = call)
  a <- application_args(input_shape, include_top, weights, input_tensor, pooling, classes,
                        classifier_activation, default_size = 224, min_size = 32, call = call)
  block <- if (preact) resnet_block_v2 else resnet_block_v1
  x <- a$input %>%
    layer_zero_padding_2d(list(c(3, 3), c(3, 3)), name = "conv1_pad") %>%
    layer_conv_2d(64, 7, strides = 2, name = "conv1_conv")
  if (!preact) x <- x %>% resnet_bn("conv1_bn") %>% layer_activation("relu", name = "conv1_relu")
  x <- x %>% layer_zero_padding_2d(list(c(1, 1), c(1, 1)), name = "pool1_pad") %>%
    layer_max_pooling_2d(3, strides = 2, name = "pool1_pool")
  filters <- c(64, 128, 256, 512)
  for (s in seq_along(blocks)) {
    stack <- sprintf("conv%d", s + 1L)
    n <- blocks[[s]]
    if (preact) {
      # V2 stacks: a convolution shortcut first, the stride (2 but in the last stack) last.
      for (i in seq_len(n)) {
        stride <- if (i == n && s < length(blocks)) 2 else 1
        x <- block(x, filters[[s]], stride = stride, conv_shortcut = i == 1,
                   name = sprintf("%s_block%d", stack, i))
      }
    } else {
      for (i in seq_len(n)) {
        x <- block(x, filters[[s]], stride = if (i == 1 && s > 1) 2 else 1, conv_shortcut = i == 1,
                   name = sprintf("%s_block%d", stack, i))
      }
    }
  }
  if (preact) x <- x %>% resnet_bn("post_bn") %>% layer_activation("relu", name = "post_relu")
  x <- application_top(x, a, "predictions", list(avg = "avg_pool", max = "max_pool"))
  model <- keras_model(a$input, x, name = name)
  file <- sprintf("%s_weights_tf_dim_ordering_tf_kernels%s.h5", family, if (a$include_top) "" else "_notop")
  application_weights(model, a$weights, file, "https://storage.googleapis.com/tensorflow/keras-applications/resnet/",
                      file_hash = hashes[[if (a$include_top) 1 else 2]])
}

resnet_bn <- function(x, name) layer_batch_normalization(x, epsilon = 1.001e-5, name = name)

#' Keras's `residual_block_v1()`: a bottleneck block, its shortcut a convolution or `x`
#' @noRd
resnet_block_v1 <- function(x, filters, stride = 1, conv_shortcut = TRUE, name) {
  shortcut <- if (conv_shortcut) {
    x %>% layer_conv_2d(4 * filters, 1, strides = stride, name = paste0(name, "_0_conv")) %>%
      resnet_bn(paste0(name, "_0_bn"))
  } else {
    x
  }
  x <- x %>% layer_conv_2d(filters, 1, strides = stride, name = paste0(name, "_1_conv")) %>%
    resnet_bn(paste0(name, "_1_bn")) %>% layer_activation("relu", name = paste0(name, "_1_relu")) %>%
    layer_conv_2d(filters, 3, padding = "same", name = paste0(name, "_2_conv")) %>%
    resnet_bn(paste0(name, "_2_bn")) %>% layer_activation("relu", name = paste0(name, "_2_relu")) %>%
    layer_conv_2d(4 * filters, 1, name = paste0(name, "_3_conv")) %>% resnet_bn(paste0(name, "_3_bn"))
  layer_add(list(shortcut, x), name = paste0(name, "_add")) %>%
    layer_activation("relu", name = paste0(name, "_out"))
}

#' Keras's `residual_block_v2()`: a pre-activation block; without a convolution shortcut a
#' stride-2 block's shortcut is an (unnamed) 1 x 1 max pooling of `x`
#' @noRd
resnet_block_v2 <- function(x, filters, stride = 1, conv_shortcut = FALSE, name) {
  preact <- x %>% resnet_bn(paste0(name, "_preact_bn")) %>%
    layer_activation("relu", name = paste0(name, "_preact_relu"))
  shortcut <- if (conv_shortcut) {
    layer_conv_2d(preact, 4 * filters, 1, strides = stride, name = paste0(name, "_0_conv"))
  } else if (stride > 1) {
    layer_max_pooling_2d(x, 1, strides = stride)
  } else {
    x
  }
  x <- preact %>%
    layer_conv_2d(filters, 1, strides = 1, use_bias = FALSE, name = paste0(name, "_1_conv")) %>%
    resnet_bn(paste0(name, "_1_bn")) %>% layer_activation("relu", name = paste0(name, "_1_relu")) %>%
    layer_zero_padding_2d(list(c(1, 1), c(1, 1)), name = paste0(name, "_2_pad")) %>%
    layer_conv_2d(filters, 3, strides = stride, use_bias = FALSE, name = paste0(name, "_2_conv")) %>%
    resnet_bn(paste0(name, "_2_bn")) %>% layer_activation("relu", name = paste0(name, "_2_relu")) %>%
    layer_conv_2d(4 * filters, 1, name = paste0(name, "_3_conv"))
  layer_add(list(shortcut, x), name = paste0(name, "_out"))
}
