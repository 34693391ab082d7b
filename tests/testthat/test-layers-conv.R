# The image and sequence layers built from R: Keras's names, shapes and parameter counts,
# Keras reads the JSON rkeras writes for them and gives the same outputs, bad arguments and
# shapes give classed errors naming the layer, and training updates batch normalization's
# moving averages as Keras does.

test_that("Keras for R's mnist_cnn builds with Keras's shapes and parameter counts", {
  model <- keras_model_sequential() %>%
    layer_conv_2d(filters = 32, kernel_size = c(3, 3), activation = "relu", input_shape = c(28, 28, 1)) %>%
    layer_conv_2d(filters = 64, kernel_size = c(3, 3), activation = "relu") %>%
    layer_max_pooling_2d(pool_size = c(2, 2)) %>%
    layer_dropout(rate = 0.25) %>%
    layer_flatten() %>%
    layer_dense(units = 128, activation = "relu") %>%
    layer_dropout(rate = 0.5) %>%
    layer_dense(units = 10, activation = "softmax")
  # As Keras prints them for this network.
  # (Layer names count up over the session, as in Keras; the classes are fixed.)
  expect_equal(vapply(model$layers, function(l) rkeras:::layer_state(l)$spec$class_name, ""),
               c("Conv2D", "Conv2D", "MaxPooling2D", "Dropout", "Flatten", "Dense", "Dropout", "Dense"))
  expect_match(vapply(model$layers[1:3], function(l) l$name, ""), "^(conv2d|max_pooling2d)(_[0-9]+)?$")
  expect_equal(lapply(model$layers, function(l) unlist(l$output_shape)),
               list(c(26, 26, 32), c(24, 24, 64), c(12, 12, 64), c(12, 12, 64), 9216, 128, 128, 10))
  expect_equal(count_params(model), 1199882)
  expect_equal(lapply(get_weights(model)[1:4], dim), list(c(3L, 3L, 1L, 32L), 32L, c(3L, 3L, 32L, 64L), 64L))
})

test_that("Keras reads rkeras's JSON of R-built image models and gives the same outputs", {
  dir <- withr::local_tempdir()
  withr::local_seed(7)
  img <- layer_input(shape = c(9, 8, 2), name = "img")
  a <- img %>%
    layer_conv_2d(4, c(3, 2), strides = c(2, 1), padding = "same", activation = "elu",
                  kernel_regularizer = regularizer_l2(0.01), name = "c1") %>%
    layer_batch_normalization(momentum = 0.9, epsilon = 0.01, name = "bn") %>%
    layer_activation_leaky_relu(negative_slope = 0.2) %>%
    layer_zero_padding_2d(padding = list(c(1, 0), c(2, 1))) %>%
    layer_max_pooling_2d(pool_size = 3, strides = 2, padding = "same") %>%
    layer_conv_2d_transpose(3, 3, strides = 2, padding = "same", activation = "relu", name = "ct") %>%
    layer_cropping_2d(cropping = list(c(1, 0), c(0, 1))) %>%
    layer_upsampling_2d(size = c(1, 2)) %>%
    layer_spatial_dropout_2d(0.3) %>%
    layer_average_pooling_2d(pool_size = 2, padding = "same") %>%
    layer_layer_normalization(center = FALSE) %>%
    layer_activation_relu(max_value = 1.5, negative_slope = 0.1, threshold = 0.05) %>%
    layer_global_average_pooling_2d()
  b <- img %>% layer_conv_2d(3, 1, dilation_rate = 2, use_bias = FALSE) %>%
    layer_activation_elu(alpha = 0.5) %>% layer_global_max_pooling_2d()
  seq_in <- layer_input(shape = c(12, 3), name = "seq")
  s <- seq_in %>% layer_conv_1d(5, 3, padding = "causal", dilation_rate = 2, activation = "tanh") %>%
    layer_spatial_dropout_1d(0.2) %>%
    layer_max_pooling_1d(2) %>% layer_conv_1d(4, 2, strides = 2, padding = "same") %>%
    layer_average_pooling_1d(2, padding = "same") %>% layer_global_average_pooling_1d()
  s2 <- seq_in %>% layer_global_max_pooling_1d()
  out <- layer_concatenate(list(a, b, s, s2)) %>% layer_dense(3) %>% layer_activation_softmax()
  model <- keras_model(list(img, seq_in), out)
  # Moving statistics away from their initial values, so inference uses them.
  w <- get_weights(model)
  nm <- rkeras:::weight_names(model)
  w[[which(nm == "bn/moving_mean")]] <- array(runif(4, -0.5, 0.5))
  w[[which(nm == "bn/moving_variance")]] <- array(runif(4, 0.5, 2))
  set_weights(model, w)
  inputs <- list(array(rnorm(4 * 9 * 8 * 2), c(4, 9, 8, 2)), array(rnorm(4 * 12 * 3), c(4, 12, 3)))
  path <- file.path(dir, "cnn_rk.json")
  writeLines(model_to_json(model), path)
  data <- file.path(dir, "cnn_rk.data.json")
  writeLines(rkeras:::to_json(list(weights = lapply(get_weights(model), flat_item),
                                   inputs = lapply(inputs, flat_item))), data)
  rec <- rkeras:::rk_json_parse(paste(run_keras("read", path, data), collapse = "\n"))$ok
  expect_equal(keras_table(rec), layer_table(model))
  expect_equal(unflat(rec$outputs[[1]]), unname(predict(model, inputs, verbose = 0)), tolerance = 1e-5)
})

test_that("bad sizes, ranks and arguments of image layers are classed errors naming the layer", {
  expect_error(keras_model_sequential() %>% layer_conv_2d(2, 5, input_shape = c(3, 3, 1), name = "big"),
               "layer 'big' has a kernel of extent 5 .*larger than its input's size 3", class = "rkeras_error_shape")
  expect_error(keras_model_sequential() %>% layer_max_pooling_2d(pool_size = c(2, 4), input_shape = c(3, 3, 1)),
               "'max_pooling2d.*' has a pool of extent 4", class = "rkeras_error_shape")
  expect_error(layer_conv_2d(filters = 2, kernel_size = 3, strides = 0), "`strides` must be a positive whole number",
               class = "rkeras_error_value")
  expect_error(layer_conv_2d(filters = 2, kernel_size = 3, strides = 2, dilation_rate = 2), "cannot be combined",
               class = "rkeras_error_value")
  expect_error(keras_model_sequential() %>% layer_conv_2d(2, 3, input_shape = c(9, 2), name = "c"),
               "layer 'c' expects samples of rank 3 \\(rows, cols, channels\\), got shape \\(None, 9, 2\\)",
               class = "rkeras_error_shape")
  expect_error(layer_input(c(6, 6, 1)) %>% layer_conv_2d(2, 3, data_format = "channels_first"),
               "channels-last", class = "rkeras_error_unsupported")
  expect_error(layer_max_pooling_2d(data_format = "channels_first"), class = "rkeras_error_unsupported")
  expect_error(layer_batch_normalization(axis = 1, input_shape = c(4, 4, 2)) , NA)
  expect_error(keras_model_sequential() %>% layer_batch_normalization(axis = 1, input_shape = c(4, 4, 2)),
               "axis = 1.*not supported", class = "rkeras_error_unsupported")
  expect_error(layer_upsampling_2d(interpolation = "area"), "interpolation", class = "rkeras_error_value")
  expect_error(layer_cropping_1d(cropping = c(1, 2, 3)), "cropping", class = "rkeras_error_value")
  expect_error(layer_input(c(4, 2)) %>% layer_cropping_1d(c(2, 2)), "leaving nothing")
  expect_error(layer_input(c(4, 4, 2)) %>% layer_upsampling_1d(2), "rank 2")
  expect_error(layer_conv_2d_transpose(filters = 2, kernel_size = 3, output_padding = 1), class = "rkeras_error_unsupported")
  # A 3-d array where a 4-d one is needed (not one axis of size 1 less): both shapes named.
  model <- keras_model_sequential() %>% layer_conv_2d(2, 3, input_shape = c(6, 6, 1)) %>%
    layer_flatten() %>% layer_dense(1)
  model %>% compile(loss = "mse", optimizer = "sgd")
  expect_error(fit(model, array(0, c(4, 6, 5, 1)), 1:4, verbose = 0),
               "expects samples of shape \\(6, 6, 1\\), but `x` has samples of shape \\(6, 5, 1\\)", class = "rkeras_error_shape")
  expect_error(predict(model, matrix(0, 4, 36), verbose = 0), "has samples of shape \\(36\\)", class = "rkeras_error_shape")
  # As Keras, one trailing axis of size 1 may be left out.
  expect_equal(dim(predict(model, array(0, c(4, 6, 6)), verbose = 0)), c(4L, 1L))
  # The model still trains after the errors.
  h <- fit(model, array(runif(4 * 36), c(4, 6, 6, 1)), 1:4, epochs = 2, verbose = 0)
  expect_true(all(is.finite(h$metrics$loss)))
})

test_that("fit() moves batch normalization's moving averages as Keras does; frozen, it keeps them", {
  withr::local_seed(2)
  x <- array(rnorm(16 * 3 * 3 * 2, mean = 2, sd = 3), c(16, 3, 3, 2))
  model <- keras_model_sequential() %>% layer_batch_normalization(momentum = 0.5, input_shape = c(3, 3, 2))
  model %>% compile(loss = "mse", optimizer = optimizer_sgd(learning_rate = 0))
  h <- fit(model, x, x, batch_size = 16, epochs = 1, verbose = 0, shuffle = FALSE)
  w <- get_weights(model)
  flat <- matrix(aperm(x, c(4, 1, 2, 3)), 2)  # channels x values
  batch_mean <- rowMeans(flat)
  batch_var <- rowMeans((flat - batch_mean)^2)   # biased, as Keras
  expect_equal(as.numeric(w[[3]]), 0.5 * batch_mean, tolerance = 1e-5)
  expect_equal(as.numeric(w[[4]]), 0.5 + 0.5 * batch_var, tolerance = 1e-5)
  # The moving statistics are weights, but not trainable ones.
  expect_equal(count_params(model), 8)
  freeze_weights(model)
  fit(model, x, x, batch_size = 16, epochs = 1, verbose = 0)
  expect_equal(get_weights(model)[3:4], w[3:4])
})
