# Noise layers, PReLU, thresholded ReLU, SELU and unit normalization built in R: Keras 3 reads
# the saved model and predicts the same; the noise is there in training only. (Their forward
# passes from Keras's own JSON are checked in test-layers-keras.R, their gradients by
# finite differences in cargo test.)

test_that("a model with the noise and activation layers built in R loads in Keras 3 with the same predictions", {
  py <- keras_python()
  set.seed(3)
  m <- keras_model_sequential() %>%
    layer_dense(6, input_shape = 4, activation = "selu", kernel_initializer = "lecun_normal") %>%
    layer_alpha_dropout(0.1, seed = 4) %>% layer_gaussian_noise(0.2) %>% layer_gaussian_dropout(0.2) %>%
    layer_activation_parametric_relu(alpha_initializer = initializer_constant(0.2), shared_axes = NULL) %>%
    layer_activation_thresholded_relu(theta = 0.1) %>% layer_unit_normalization() %>%
    layer_dense(2) %>% layer_activation_selu()
  m %>% compile(optimizer = "adam", loss = "mse")
  x <- matrix(rnorm(40), 10)
  m %>% fit(x, matrix(rnorm(20), 10), epochs = 3, verbose = 0)
  dir <- withr::local_tempdir()
  save_model(m, file.path(dir, "m.keras"))
  writeLines(rkeras:::to_json(list(lapply(seq_len(nrow(x)), function(i) I(x[i, ])))), file.path(dir, "m.x.json"))
  save_model_hdf5(m, file.path(dir, "m.h5"))
  writeLines(model_to_json(m), file.path(dir, "m.json"))
  out <- suppressWarnings(system2(py, c(test_path("oracle", "keras_nested.py"), "read", dir, "m"),
                                  stdout = TRUE, stderr = FALSE))
  expect_null(attr(out, "status"))
  got <- rkeras:::rk_json_parse(paste(out, collapse = ""))$ok$m
  expect_equal(do.call(rbind, lapply(got$keras$pred, unlist)), unname(predict(m, x, verbose = 0)), tolerance = 1e-5)
  expect_equal(vapply(got$keras$rows, `[[`, "", "class_name"),
               c("Dense", "AlphaDropout", "GaussianNoise", "GaussianDropout", "PReLU", "ReLU",
                 "UnitNormalization", "Dense", "Activation"))
  expect_length(get_weights(m)[[3]], 6)
})

test_that("noise layers change outputs in training only, and bad arguments are errors", {
  set.seed(1)
  x <- matrix(rnorm(200), 50)
  for (layer in list(layer_gaussian_noise(stddev = 0.5), layer_gaussian_dropout(rate = 0.3),
                     layer_alpha_dropout(rate = 0.3))) {
    m <- keras_model_sequential() %>% layer_dense(4, input_shape = 4, kernel_initializer = "ones") %>% layer
    m %>% compile(optimizer = optimizer_sgd(0), loss = "mse")
    p <- predict(m, x, verbose = 0)
    expect_equal(p, x %*% matrix(1, 4, 4), tolerance = 1e-5)
    # With a learning rate of 0, the training loss differs from the evaluated one only by the noise.
    y <- matrix(0, 50, 4)
    train <- train_on_batch(m, x, y)
    expect_false(isTRUE(all.equal(train, evaluate(m, x, y, verbose = 0)[["loss"]], tolerance = 1e-4)))
  }
  expect_error(layer_gaussian_noise(stddev = -1), "stddev", class = "rkeras_error")
  expect_error(layer_gaussian_dropout(rate = 1), "rate", class = "rkeras_error")
  expect_error(layer_alpha_dropout(rate = 0.2, noise_shape = c(1, 4)), "noise_shape", class = "rkeras_error")
  expect_error(layer_unit_normalization(axis = 1), "axis", class = "rkeras_error")
  expect_error(layer_activation_parametric_relu(shared_axes = 0), "shared_axes", class = "rkeras_error")
  expect_error(layer_activation_thresholded_relu(theta = -1), "theta", class = "rkeras_error")
  expect_error(keras_model_sequential() %>% layer_dense(3, input_shape = 2) %>%
                 layer_activation_parametric_relu(shared_axes = 2), "shared_axes", class = "rkeras_error")
})

test_that("group normalization built in R trains and loads in Keras 3 with the same predictions", {
  py <- keras_python()
  set.seed(5)
  m <- keras_model_sequential() %>%
    layer_dense(6, input_shape = c(3, 4)) %>%
    layer_group_normalization(groups = 3) %>%
    layer_group_normalization(groups = -1, center = FALSE) %>%
    layer_flatten() %>% layer_dense(2)
  m %>% compile(optimizer = "adam", loss = "mse")
  x <- array(rnorm(120), c(10, 3, 4))
  h <- m %>% fit(x, matrix(rnorm(20), 10), epochs = 3, verbose = 0)
  expect_length(h$metrics$loss, 3)
  dir <- withr::local_tempdir()
  save_model(m, file.path(dir, "m.keras"))
  save_model_hdf5(m, file.path(dir, "m.h5"))
  writeLines(model_to_json(m), file.path(dir, "m.json"))
  writeLines(rkeras:::to_json(list(lapply(seq_len(10), function(i) lapply(1:3, function(j) I(x[i, j, ]))))),
             file.path(dir, "m.x.json"))
  out <- suppressWarnings(system2(py, c(test_path("oracle", "keras_nested.py"), "read", dir, "m"),
                                  stdout = TRUE, stderr = FALSE))
  expect_null(attr(out, "status"))
  got <- rkeras:::rk_json_parse(paste(out, collapse = ""))$ok$m
  want <- unname(predict(m, x, verbose = 0))
  for (ext in c("keras", "h5")) {
    expect_equal(do.call(rbind, lapply(got[[ext]]$pred, unlist)), want, tolerance = 1e-5, info = ext)
  }
  expect_equal(vapply(got$keras$rows, `[[`, "", "class_name")[2:3], rep("GroupNormalization", 2))
  expect_error(layer_group_normalization(groups = 0), "groups", class = "rkeras_error")
  expect_error(keras_model_sequential() %>% layer_dense(6, input_shape = 4) %>% layer_group_normalization(groups = 4),
               "divisible", class = "rkeras_error")
})

test_that("layer_dropout(noise_shape = ) shares one draw along the axes of size 1, as Keras broadcasts it", {
  set.seed(1)
  m <- keras_model_sequential() %>%
    layer_dropout(0.5, noise_shape = c(NA, 1, 8), input_shape = c(3, 8)) %>%
    layer_flatten() %>%
    layer_dense(1, kernel_initializer = "zeros", use_bias = FALSE)
  m %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
  # One step on ones: the kernel moves where the mask kept the input, the same at every step.
  train_on_batch(m, array(1, c(1, 3, 8)), matrix(1))
  k <- matrix(get_weights(m)[[1]], 3, byrow = TRUE)
  expect_equal(k[1, ], k[2, ])
  expect_equal(k[1, ], k[3, ])
  expect_true(any(k[1, ] == 0) && any(k[1, ] != 0))
  # Inference passes inputs through; the configuration keeps the shape (open axes as null).
  expect_equal(predict(m, array(1, c(2, 3, 8)), verbose = 0), matrix(sum(k), 2, 1), tolerance = 1e-6)
  expect_match(model_to_json(m), '"noise_shape":[null,1,8]', fixed = TRUE)
  expect_error(keras_model_sequential() %>% layer_dropout(0.5, noise_shape = c(NA, 2, 4), input_shape = c(3, 4)),
               "does not broadcast", class = "rkeras_error")
  expect_error(layer_dropout(rate = 0.5, noise_shape = "a"), "noise_shape", class = "rkeras_error")
  expect_error(layer_dropout(rate = 0.5, noise_shape = 3), "noise_shape", class = "rkeras_error")
})
