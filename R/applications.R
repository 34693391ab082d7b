#' MobileNetV2
#'
#' Keras's MobileNetV2 image classifier (Sandler et al., 2018): inverted residual blocks of
#' depthwise convolutions, with Keras's layer names, weights and parameter counts (3,538,984
#' for `alpha = 1`, 224 x 224, with the top), so Keras's pretrained weights load into it.
#' Inputs are images `(rows, cols, 3)` scaled to -1..1 by [mobilenet_v2_preprocess_input()].
#'
#' `weights = "imagenet"` downloads Keras's weight file for `alpha` and the input size
#' (96, 128, 160, 192 or 224; other sizes load the 224 weights, as Keras does) once into
#' `~/.keras/models` (or `$KERAS_HOME/models`), as Keras does; `weights = "<path>"` loads a
#' weights file Keras or rkeras wrote for the same architecture (`.h5` or `.weights.h5`).
#' @param input_shape `NULL` or the shape of one image, `c(rows, cols, 3)`: at least 32 x 32;
#'   with the top and ImageNet weights it must be `c(224, 224, 3)` (or be left out). Without
#'   the top, `NULL` leaves the size open (`list(NULL, NULL, 3)`).
#' @param alpha The width multiplier: the number of filters of each layer is scaled by it
#'   (0.35, 0.5, 0.75, 1, 1.3 or 1.4 for ImageNet weights).
#' @param include_top Whether to include the classifier (global average pooling and a dense
#'   layer of `classes` units).
#' @param weights `NULL` (random initialization), `"imagenet"`, or the path of a weights file.
#' @param input_tensor `NULL` or a tensor from [layer_input()] to build the model on.
#' @param pooling Without the top: `NULL` (the last convolutional block's 4-d output),
#'   `"avg"` or `"max"` (global pooling to a 2-d output).
#' @param classes Number of classes (with the top; 1000 for ImageNet weights).
#' @param classifier_activation The top layer's activation: `"softmax"`, or `NULL` for logits.
#' @param name `NULL` (Keras's name, `"mobilenetv2_1.00_224"`) or the model's name.
#' @param ... Not supported (an error names them).
#' @returns A functional model.
#' @family applications
#' @export
#' @examples
#' # Random weights, a small input: 2.3 million parameters, no download.
#' model <- application_mobilenet_v2(weights = NULL, input_shape = c(96, 96, 3))
#' count_params(model)
#' x <- mobilenet_v2_preprocess_input(array(runif(96 * 96 * 3, 0, 255), c(1, 96, 96, 3)))
#' dim(predict(model, x, verbose = 0))
application_mobilenet_v2 <- function(input_shape = NULL, alpha = 1.0, include_top = TRUE,
                                     weights = "imagenet", input_tensor = NULL, pooling = NULL,
                                     classes = 1000, classifier_activation = "softmax",
                                     name = NULL, ...) {
  check_no_dots(..., fn = "application_mobilenet_v2()")
  alpha <- check_number(alpha, "alpha", min = 0.01, max = 100)
  a <- application_args(input_shape, include_top, weights, input_tensor, pooling, classes,
                        classifier_activation, default_size = 224, min_size = 32,
                        square_sizes = c(96, 128, 160, 192, 224))
  rows <- mobilenet_weight_rows(a, alpha, c(0.35, 0.5, 0.75, 1.0, 1.3, 1.4), c(96, 128, 160, 192, 224))
  bn <- function(x, name) layer_batch_normalization(x, epsilon = 1e-3, momentum = 0.999, name = name)
  relu6 <- function(x, name) layer_activation_relu(x, max_value = 6, name = name)
  block <- function(inputs, expansion, stride, filters, block_id) {
    in_channels <- rev(unlist(inputs$shape))[[1]]
    pointwise_filters <- make_divisible(as.integer(filters * alpha), 8)
    x <- inputs
    prefix <- sprintf("block_%d_", block_id)
    if (block_id > 0) {
      x <- x %>% layer_conv_2d(expansion * in_channels, 1, padding = "same", use_bias = FALSE,
                               name = paste0(prefix, "expand")) %>%
        bn(paste0(prefix, "expand_BN")) %>% relu6(paste0(prefix, "expand_relu"))
    } else {
      prefix <- "expanded_conv_"
    }
    if (stride == 2) x <- layer_zero_padding_2d(x, correct_pad(x, 3), name = paste0(prefix, "pad"))
    x <- x %>% layer_depthwise_conv_2d(3, strides = stride, use_bias = FALSE,
                                       padding = if (stride == 1) "same" else "valid",
                                       name = paste0(prefix, "depthwise")) %>%
      bn(paste0(prefix, "depthwise_BN")) %>% relu6(paste0(prefix, "depthwise_relu")) %>%
      layer_conv_2d(pointwise_filters, 1, padding = "same", use_bias = FALSE,
                    name = paste0(prefix, "project")) %>%
      bn(paste0(prefix, "project_BN"))
    if (in_channels == pointwise_filters && stride == 1) {
      return(layer_add(list(inputs, x), name = paste0(prefix, "add")))
    }
    x
  }
  x <- a$input %>%
    layer_conv_2d(make_divisible(32 * alpha, 8), 3, strides = 2, padding = "same", use_bias = FALSE,
                  name = "Conv1") %>%
    bn("bn_Conv1") %>% relu6("Conv1_relu")
  plan <- list(c(16, 1, 1), c(24, 2, 6), c(24, 1, 6), c(32, 2, 6), c(32, 1, 6), c(32, 1, 6),
               c(64, 2, 6), c(64, 1, 6), c(64, 1, 6), c(64, 1, 6), c(96, 1, 6), c(96, 1, 6),
               c(96, 1, 6), c(160, 2, 6), c(160, 1, 6), c(160, 1, 6), c(320, 1, 6))
  for (i in seq_along(plan)) {
    p <- plan[[i]]
    x <- block(x, expansion = p[[3]], stride = p[[2]], filters = p[[1]], block_id = i - 1L)
  }
  last <- if (alpha > 1) make_divisible(1280 * alpha, 8) else 1280
  x <- x %>% layer_conv_2d(last, 1, use_bias = FALSE, name = "Conv_1") %>% bn("Conv_1_bn") %>%
    relu6("out_relu")
  x <- application_top(x, a, name = "predictions")
  model <- keras_model(a$input, x, name = name %||% sprintf("mobilenetv2_%.2f_%s", alpha,
                                                             if (is.null(rows)) "None" else rows))
  file <- sprintf("mobilenet_v2_weights_tf_dim_ordering_tf_kernels_%s_%s%s.h5", format_float(alpha),
                  format(rows %||% 224), if (a$include_top) "" else "_no_top")
  application_weights(model, a$weights, file,
                      "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/")
}

#' @rdname application_mobilenet_v2
#' @param x An array of images, `(rows, cols, 3)` or `(samples, rows, cols, 3)`, values 0-255.
#' @export
mobilenet_v2_preprocess_input <- function(x) imagenet_preprocess_input(x, mode = "tf")

#' @rdname application_mobilenet_v2
#' @inheritParams imagenet_decode_predictions
#' @export
mobilenet_v2_decode_predictions <- function(preds, top = 5) imagenet_decode_predictions(preds, top)

#' The input size of the MobileNet weight file to load: with ImageNet weights, `alpha` must
#' be one of `alphas`, and an input that is not square or not of one of `sizes` loads the
#' 224 weights with Keras's warning
#' @noRd
mobilenet_weight_rows <- function(a, alpha, alphas, sizes, call = rlang::caller_env()) {
  if (!identical(a$weights, "imagenet")) return(a$rows)
  if (!alpha %in% alphas) {
    shown <- vapply(alphas, format, "")
    rk_abort(sprintf("With `weights = \"imagenet\"`, `alpha` must be %s or %s, not %s.",
                     paste(shown[-length(shown)], collapse = ", "), shown[[length(shown)]], format(alpha)),
             "value", call)
  }
  if (a$square) return(a$rows)
  warning("`input_shape` is undefined or non-square, or `rows` is not in ", paste(sizes, collapse = ", "), ": ",
          "the weights for input shape (224, 224) are loaded.", call. = FALSE)
  224
}

#' Python's `float` formatting of a width multiplier (`1.0`, `0.35`)
#' @noRd
format_float <- function(x) if (x == round(x)) sprintf("%.1f", x) else format(x)

#' Keras's `_make_divisible()`: `v` rounded to a multiple of `divisor`, at most 10% down
#' @noRd
make_divisible <- function(v, divisor, min_value = divisor) {
  new_v <- max(min_value, (as.integer(v + divisor / 2) %/% divisor) * divisor)
  if (new_v < 0.9 * v) new_v <- new_v + divisor
  as.integer(new_v)
}

#' Keras's `correct_pad()`: the zero padding before a stride-2 `kernel` convolution of
#' tensor `x` that keeps Keras's alignment
#' @noRd
correct_pad <- function(x, kernel) {
  size <- x$shape[1:2]
  adjust <- if (anyNA(size)) c(1L, 1L) else 1L - size %% 2L
  correct <- kernel %/% 2L
  list(c(correct - adjust[[1]], correct), c(correct - adjust[[2]], correct))
}

#' The shared arguments of the application models, checked as Keras's
#' `obtain_input_shape()` checks them; returns the input tensor and what the builder needs
#' @noRd
application_args <- function(input_shape, include_top, weights, input_tensor, pooling, classes,
                             classifier_activation, default_size, min_size, square_sizes = NULL,
                             call = rlang::caller_env()) {
  include_top <- check_flag(include_top, "include_top", call = call)
  classes <- check_count(classes, "classes", max = 2^24, call = call)
  if (!is.null(weights)) {
    weights <- check_string(weights, "weights", call = call)
    if (weights != "imagenet" && !file.exists(weights)) {
      rk_abort(sprintf("`weights` must be NULL, \"imagenet\" or the path of a weights file; \"%s\" does not exist.",
                       weights), "value", call)
    }
  }
  if (identical(weights, "imagenet") && include_top && classes != 1000) {
    rk_abort(sprintf("With `weights = \"imagenet\"` and `include_top = TRUE`, `classes` must be 1000, not %d.",
                     classes), "value", call)
  }
  if (!is.null(pooling)) {
    pooling <- check_string(pooling, "pooling", choices = c("avg", "max"), call = call)
  }
  if (!is.null(classifier_activation)) {
    classifier_activation <- check_activation(classifier_activation, call = call)
    if (identical(weights, "imagenet") && include_top && !classifier_activation %in% c("softmax", "linear")) {
      rk_abort("With `weights = \"imagenet\"`, `classifier_activation` must be NULL or \"softmax\".", "value", call)
    }
  }
  if (!is.null(input_tensor) && !inherits(input_tensor, "rkeras_tensor")) {
    rk_abort(sprintf("`input_tensor` must be NULL or a tensor from layer_input(), not %s.", show_value(input_tensor)),
             "type", call)
  }
  if (is.null(input_shape) && !is.null(input_tensor)) input_shape <- input_tensor$shape[-1]
  if (!is.null(input_shape)) {
    dims <- lapply(as.list(input_shape), function(d) if (is.null(d) || is.na(d)) NULL else d)
    if (length(dims) != 3) {
      rk_abort(sprintf("`input_shape` must have three values c(rows, cols, channels), not %s.",
                       show_value(input_shape)), "value", call)
    }
    for (d in Filter(Negate(is.null), dims)) check_count(d, "input_shape", max = 2^24, call = call)
    if (!is.null(dims[[3]]) && dims[[3]] != 3 && identical(weights, "imagenet")) {
      rk_abort(sprintf("With `weights = \"imagenet\"`, the input must have 3 channels, not %d.", dims[[3]]),
               "value", call)
    }
    small <- vapply(dims[1:2], function(d) !is.null(d) && d < min_size, TRUE)
    if (any(small)) {
      rk_abort(sprintf("`input_shape` must be at least %d x %d, not %s.", min_size, min_size, show_value(input_shape)),
               "value", call)
    }
    if (identical(weights, "imagenet") && include_top &&
        !identical(vapply(dims, function(d) d %||% NA_real_, 1), c(default_size, default_size, 3))) {
      rk_abort(sprintf("With `include_top = TRUE` and `weights = \"imagenet\"`, `input_shape` must be c(%d, %d, 3).",
                       default_size, default_size), "value", call)
    }
  } else if (include_top) {
    dims <- list(default_size, default_size, 3)
  } else {
    dims <- list(NULL, NULL, 3)
  }
  if (include_top && any(vapply(dims, is.null, TRUE))) {
    rk_abort("With `include_top = TRUE`, `input_shape` must have fixed sizes.", "value", call)
  }
  rows <- dims[[1]]
  square <- !is.null(rows) && identical(rows, dims[[2]]) && rows %in% square_sizes
  input <- input_tensor %||% layer_input(shape = dims)
  list(input = input, rows = rows, square = square, include_top = include_top,
       weights = weights, pooling = pooling, classes = classes,
       classifier_activation = classifier_activation %||% "linear")
}

#' The top of an application model: global average pooling and the classifier, or the
#' `pooling` asked for without it; `pool_names` names the pooling layers (Keras leaves
#' some unnamed)
#' @noRd
application_top <- function(x, a, name, pool_names = list(avg = NULL, max = NULL)) {
  if (a$include_top) {
    x %>% layer_global_average_pooling_2d(name = pool_names$avg) %>%
      layer_dense(a$classes, activation = a$classifier_activation, name = name)
  } else {
    application_pooling(x, a, pool_names)
  }
}

#' Global pooling of a model without its top, as `pooling` asks
#' @noRd
application_pooling <- function(x, a, pool_names = list(avg = NULL, max = NULL)) {
  if (identical(a$pooling, "avg")) {
    layer_global_average_pooling_2d(x, name = pool_names$avg)
  } else if (identical(a$pooling, "max")) {
    layer_global_max_pooling_2d(x, name = pool_names$max)
  } else {
    x
  }
}

#' The end of Keras's Xception and Inception builders: the top (average pooling named
#' `avg_pool`, then `predictions`) or the pooling, the model, and its weights from
#' `<stem>_weights_tf_dim_ordering_tf_kernels[_notop].h5` (`hashes`: with and without top)
#' @noRd
finish_tf_application <- function(x, a, name, stem, hashes, call = rlang::caller_env()) {
  # Keras names the top's pooling, not the pooling without it.
  x <- if (a$include_top) application_top(x, a, "predictions", list(avg = "avg_pool")) else application_pooling(x, a)
  model <- keras_model(a$input, x, name = name)
  file <- sprintf("%s_weights_tf_dim_ordering_tf_kernels%s.h5", stem, if (a$include_top) "" else "_notop")
  application_weights(model, a$weights, file,
                      sprintf("https://storage.googleapis.com/tensorflow/keras-applications/%s/", stem),
                      file_hash = hashes[[if (a$include_top) 1 else 2]], call = call)
}

#' Load an application's weights: Keras's file `file` downloaded from `base` into the
#' cache for `"imagenet"`, or the file at path `weights`
#' @noRd
application_weights <- function(model, weights, file, base, file_hash = NULL, call = rlang::caller_env()) {
  if (is.null(weights)) return(model)
  path <- if (identical(weights, "imagenet")) {
    get_file(file, paste0(base, file), file_hash = file_hash, cache_subdir = "models")
  } else {
    weights
  }
  if (grepl("\\.weights\\.h5$", path) || grepl("\\.keras$", path)) {
    load_model_weights(model, path)
  } else {
    load_model_weights_hdf5(model, path)
  }
  model
}

#' Preprocess and decode ImageNet images and predictions
#'
#' `imagenet_preprocess_input()` prepares images with values 0-255 for an ImageNet model as
#' Keras's `imagenet_utils.preprocess_input()` does: `mode = "caffe"` (VGG, ResNet) turns RGB
#' into BGR and subtracts the ImageNet mean of each channel; `"tf"` (MobileNet, Inception,
#' Xception) scales to -1..1; `"torch"` (DenseNet) scales to 0..1 and standardizes each
#' channel. `imagenet_decode_predictions()` names the `top` classes of each row of a model's
#' 1000 ImageNet probabilities, reading Keras's class index (downloaded once into
#' `~/.keras/models`, as Keras does).
#' @param x An array of images, `(rows, cols, 3)` or `(samples, rows, cols, 3)` (channels
#'   first with `data_format = "channels_first"`).
#' @param data_format `NULL` (channels last), `"channels_last"` or `"channels_first"`.
#' @param mode `"caffe"`, `"tf"` or `"torch"`.
#' @returns `imagenet_preprocess_input()`: the preprocessed array (doubles).
#'   `imagenet_decode_predictions()`: a list with a data frame for each row of `preds`,
#'   columns `class_name` (the WordNet id), `class_description` and `score`, best first.
#' @family applications
#' @export
#' @examples
#' x <- array(c(255, 128, 0), c(1, 1, 1, 3))
#' imagenet_preprocess_input(x)[1, 1, 1, ]
#' imagenet_preprocess_input(x, mode = "tf")[1, 1, 1, ]
imagenet_preprocess_input <- function(x, data_format = NULL, mode = "caffe") {
  data_format <- match_data_format(data_format)
  mode <- check_string(mode, "mode", choices = c("caffe", "tf", "torch"))
  d <- dim(x)
  if (!is.numeric(x) || !length(d) %in% 3:4) {
    rk_abort(sprintf("`x` must be a numeric array of 3 or 4 dimensions (images), not %s.", show_value(x)), "value")
  }
  storage.mode(x) <- "double"
  if (mode == "tf") return(x / 127.5 - 1)
  axis <- if (data_format == "channels_last") length(d) else length(d) - 2L
  if (d[[axis]] != 3) {
    rk_abort(sprintf("`x` must have 3 channels on its %s axis, not %d.", sub("channels_", "", data_format), d[[axis]]),
             "value")
  }
  if (mode == "torch") {
    x <- x / 255
    mean <- c(0.485, 0.456, 0.406)
    std <- c(0.229, 0.224, 0.225)
  } else {
    x <- channel_apply(x, axis, function(i) 4L - i)
    mean <- c(103.939, 116.779, 123.68)
    std <- NULL
  }
  x <- sweep(x, axis, mean)
  if (!is.null(std)) x <- sweep(x, axis, std, "/")
  x
}

#' `x` with its channels (axis `axis`) reordered by `perm(i)`
#' @noRd
channel_apply <- function(x, axis, perm) {
  idx <- rep(list(quote(expr = )), length(dim(x)))
  idx[[axis]] <- perm(seq_len(dim(x)[[axis]]))
  do.call(`[`, c(list(x), idx, list(drop = FALSE)))
}

#' @rdname imagenet_preprocess_input
#' @param preds A matrix of predictions, `(samples, 1000)`.
#' @param top How many classes to name for each sample.
#' @export
imagenet_decode_predictions <- function(preds, top = 5) {
  top <- check_count(top, "top", max = 1000)
  if (!is.numeric(preds) || length(dim(preds)) != 2 || ncol(preds) != 1000) {
    rk_abort(sprintf("`preds` must be a matrix of predictions (samples, 1000), not %s.", show_value(preds)), "value")
  }
  path <- get_file("imagenet_class_index.json",
                   "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",
                   cache_subdir = "models", file_hash = "c2c37ea517e94d9795004a39431a14cb")
  decode_with_index(preds, top, path)
}

#' The `top` classes of each row of `preds`, named by the class index file at `path`
#' (Keras's JSON: `{"0": ["n01440764", "tench"], ...}`)
#' @noRd
decode_with_index <- function(preds, top, path) {
  index <- rk_call(rk_json_parse(paste(readLines(path, warn = FALSE), collapse = "\n")))
  lapply(seq_len(nrow(preds)), function(r) {
    p <- preds[r, ]
    i <- order(p, decreasing = TRUE)[seq_len(top)]
    entries <- index[as.character(i - 1L)]
    data.frame(class_name = vapply(entries, function(e) as.character(e[[1]]), ""),
               class_description = vapply(entries, function(e) as.character(e[[2]]), ""),
               score = p[i], stringsAsFactors = FALSE, row.names = NULL)
  })
}
