#' Densely connected layer
#'
#' `output = activation(input %*% kernel + bias)`.
#'
#' Input and output shapes: input `(batch, in_features)`, output `(batch, units)`.
#' @param object A model to add the layer to; when missing, the layer is returned.
#' @param units Number of output units.
#' @param activation Activation name (`"relu"`, `"softmax"`, `"sigmoid"`, `"tanh"`,
#'   `"linear"`, `"elu"`, `"selu"`, `"softplus"`, `"softsign"`, `"swish"`, `"gelu"`), an
#'   `activation_*` function, or `NULL` for linear.
#' @param use_bias Whether the layer adds a bias vector.
#' @param kernel_initializer,bias_initializer Initializer names or `initializer_*()` objects.
#' @param kernel_regularizer `NULL` or a `regularizer_*()` object: its penalty on the kernel
#'   is added to the loss.
#' @param bias_regularizer `NULL` or a `regularizer_*()` object: its penalty on the bias is
#'   added to the loss.
#' @param activity_regularizer Regularizer of the layer's output: its penalty (for example
#'   `l2 * sum(y^2)` over a batch's output `y`), divided by the batch's number of samples, is
#'   added to the loss in training and evaluation, as Keras 3 adds it.
#' @param kernel_constraint,bias_constraint Not supported; must be `NULL`.
#' @param input_shape Shape of one sample (first layer only), e.g. `784` or `c(784)`.
#' @param trainable `FALSE` freezes the layer: training leaves its weights as they are.
#' @param weights Initial weights, a list of arrays as [get_weights()] returns them for the
#'   layer, set once the layer is built in a model.
#' @param batch_input_shape,batch_size Shape of a batch (the first size is the batch's);
#'   a batch size, accepted for compatibility.
#' @param dtype `NULL` or `"float32"`.
#' @param name Layer name; default `dense`, `dense_1`, ...
#' @param input_dim Keras 2's name for a one-dimensional `input_shape`.
#' @param ... Not used; an unknown argument is an error.
#' @returns The model (invisibly) when `object` is a model, else a layer.
#' @family core layers
#' @export
#' @examples
#' model <- keras_model_sequential()
#' model %>% layer_dense(units = 8, activation = "relu", input_shape = 4)
layer_dense <- function(object, units, activation = NULL, use_bias = TRUE,
                        kernel_initializer = "glorot_uniform", bias_initializer = "zeros",
                        kernel_regularizer = NULL, bias_regularizer = NULL,
                        activity_regularizer = NULL, kernel_constraint = NULL,
                        bias_constraint = NULL, input_shape = NULL, batch_input_shape = NULL,
                        batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                        weights = NULL, input_dim = NULL, ...) {
  check_no_dots(..., fn = "layer_dense()")
  # Keras 2's `input_dim`: the same as `input_shape = input_dim`.
  if (!is.null(input_dim)) {
    if (!is.null(input_shape)) rk_abort("Give `input_shape` or `input_dim`, not both.", "value")
    input_shape <- check_count(input_dim, "input_dim", max = 2^31 - 1)
  }
  check_unsupported(kernel_constraint = kernel_constraint, bias_constraint = bias_constraint)
  spec <- new_layer_spec("dense", "Dense", list(
    units = check_count(units, "units", max = 2^24),
    activation = check_activation(activation),
    use_bias = check_flag(use_bias, "use_bias"),
    kernel_initializer = as_initializer(kernel_initializer, "kernel_initializer"),
    bias_initializer = as_initializer(bias_initializer, "bias_initializer"),
    kernel_regularizer = as_regularizer(kernel_regularizer, "kernel_regularizer"),
    bias_regularizer = as_regularizer(bias_regularizer, "bias_regularizer"),
    activity_regularizer = as_regularizer(activity_regularizer, "activity_regularizer")),
    input_shape = input_shape %||% batch_input_shape[-1], name = name, seed = draw_seed())
  compose_layer(object, spec)
}

#' Apply an activation function to an output
#'
#' Input and output shapes: unchanged.
#' @inheritParams layer_dense
#' @returns The model (invisibly) when `object` is a model, else a layer.
#' @family core layers
#' @export
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_dense(4, input_shape = 3) %>%
#'   layer_activation("softmax")
layer_activation <- function(object, activation, input_shape = NULL, batch_input_shape = NULL,
                             batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                             weights = NULL, ...) {
  check_no_dots(..., fn = "layer_activation()")
  spec <- new_layer_spec("activation", "Activation", list(activation = check_activation(activation)),
                         input_shape = input_shape, name = name)
  compose_layer(object, spec)
}

#' Flatten each sample
#'
#' Flattens all but the first (sample) axis in row-major order, as Keras does.
#' Input and output shapes: `(batch, d1, d2, ...)` to `(batch, d1 * d2 * ...)`.
#' @inheritParams layer_dense
#' @param data_format `NULL` or `"channels_last"` (the only layout rkeras uses).
#' @inheritParams layer_dense
#' @returns The model (invisibly) when `object` is a model, else a layer.
#' @family core layers
#' @export
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_flatten(input_shape = c(28, 28)) %>%
#'   layer_dense(10, activation = "softmax")
layer_flatten <- function(object, data_format = NULL, input_shape = NULL, dtype = NULL,
                          name = NULL, trainable = NULL, weights = NULL) {
  if (!is.null(data_format) && !identical(data_format, "channels_last")) {
    rk_abort("`data_format` must be NULL or \"channels_last\": rkeras lays samples out channels-last.", "unsupported")
  }
  spec <- new_layer_spec("flatten", "Flatten", list(data_format = "channels_last"),
                         input_shape = input_shape, name = name)
  compose_layer(object, spec)
}

#' A layer's description: its Keras class and config (Keras's field names; initializers
#' and regularizers in R's short forms, which the engine reads too), name, the sample shape
#' of a first layer, and the seed of its initial weights
#' @noRd
new_layer_spec <- function(type, class_name, config, input_shape = NULL, name = NULL, seed = NULL,
                           call = rlang::caller_env()) {
  # Every constructor takes Keras's `trainable`: read from the constructor's frame.
  # and `weights`, the layer's initial weights, set once it is built in a model.
  trainable <- if (is.environment(call)) get0("trainable", envir = call, inherits = FALSE)
  weights <- if (is.environment(call)) get0("weights", envir = call, inherits = FALSE)
  check_layer_dtype(if (is.environment(call)) get0("dtype", envir = call, inherits = FALSE), call)
  if (!is.null(weights) && (!is.list(weights) || !length(weights) ||
                            !all(vapply(weights, function(w) is.numeric(w) && length(w) > 0, TRUE)))) {
    rk_abort(sprintf("`weights` must be a list of numeric arrays (the layer's get_weights()), not %s.",
                     show_value(weights)), "type", call)
  }
  list(type = type, prefix = type, class_name = class_name, config = config,
       input_shape = check_shape(input_shape, "input_shape", call = call),
       name = check_string(name, "name", allow_null = TRUE, call = call), seed = seed,
       trainable = if (!is.null(trainable)) check_flag(trainable, "trainable", call = call),
       weights = weights)
}

#' A layer's `dtype`: NULL or "float32"
#' @noRd
check_layer_dtype <- function(dtype, call = rlang::caller_env()) {
  if (!is.null(dtype) && !identical(dtype, "float32")) {
    rk_abort(sprintf("`dtype` must be NULL or \"float32\", not %s: rkeras's layers compute in single precision.",
                     show_value(dtype)), "unsupported", call)
  }
  invisible(dtype)
}

check_unsupported <- function(..., call = rlang::caller_env()) {
  args <- list(...)
  for (nm in names(args)) {
    if (!is.null(args[[nm]])) {
      rk_abort(sprintf("`%s` is not supported by rkeras yet; leave it NULL.", nm), "unsupported", call)
    }
  }
  invisible(NULL)
}

#' Reshape, permute and repeat layers
#'
#' `layer_reshape()` gives each sample the shape `target_shape` (one size may be `-1`,
#' inferred), reading values in row-major order as Keras does. `layer_permute()` reorders
#' the axes of each sample (`dims`, 1-based, e.g. `c(2, 1)` swaps the two axes of a
#' matrix sample). `layer_repeat_vector()` repeats a `(batch, d)` input `n` times, giving
#' `(batch, n, d)`.
#'
#' Input and output shapes: `(batch, ...)` to `(batch, target_shape)`;
#' `(batch, d1, ..., dk)` to `(batch, d_dims[1], ..., d_dims[k])`; `(batch, d)` to
#' `(batch, n, d)`.
#' @inheritParams layer_dense
#' @param target_shape Shape of one sample after reshaping.
#' @param dims Permutation of the sample axes, 1-based.
#' @param n Number of repetitions.
#' @returns The model (invisibly) when `object` is a model, a tensor when `object` is a
#'   tensor, else a layer.
#' @family core layers
#' @export
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_reshape(c(2, 3), input_shape = 6) %>%
#'   layer_permute(c(2, 1))
layer_reshape <- function(object, target_shape, input_shape = NULL, batch_input_shape = NULL,
                          batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                          weights = NULL, ...) {
  check_no_dots(..., fn = "layer_reshape()")
  ok <- (is.numeric(target_shape) || is.list(target_shape)) &&
    all(vapply(as.list(target_shape), function(v) is.null(v) || (is.numeric(v) && length(v) == 1), logical(1)))
  target <- if (ok) suppressWarnings(as.integer(unlist(lapply(target_shape, function(v) if (is.null(v) || is.na(v)) -1L else v))))
  if (!ok || !length(target) || anyNA(target) || any(target == 0 | target < -1) || sum(target == -1) > 1 ||
      any(unlist(target_shape) != round(unlist(target_shape)), na.rm = TRUE)) {
    rk_abort(sprintf("`target_shape` must be positive whole numbers with at most one -1, not %s.",
                     show_value(target_shape)), "value")
  }
  spec <- new_layer_spec("reshape", "Reshape", list(target_shape = I(target)),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' @rdname layer_reshape
#' @export
layer_permute <- function(object, dims, input_shape = NULL, batch_input_shape = NULL,
                          batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                          weights = NULL, ...) {
  check_no_dots(..., fn = "layer_permute()")
  dims <- check_shape(dims, "dims", allow_null = FALSE)
  if (!setequal(dims, seq_along(dims)) || anyDuplicated(dims)) {
    rk_abort(sprintf("`dims` must be a permutation of 1..%d, not %s.", length(dims), show_value(dims)), "value")
  }
  spec <- new_layer_spec("permute", "Permute", list(dims = I(dims)),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}

#' @rdname layer_reshape
#' @export
layer_repeat_vector <- function(object, n, input_shape = NULL, batch_input_shape = NULL,
                                batch_size = NULL, dtype = NULL, name = NULL, trainable = NULL,
                                weights = NULL, ...) {
  check_no_dots(..., fn = "layer_repeat_vector()")
  spec <- new_layer_spec("repeat_vector", "RepeatVector", list(n = check_count(n, "n")),
                         input_shape = input_shape %||% batch_input_shape[-1], name = name)
  compose_layer(object, spec)
}
