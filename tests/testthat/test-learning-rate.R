# A compiled model's learning rate: read and set through model$optimizer (Keras for R 2's
# k_get_value()/k_set_value() of optimizer$lr, Keras for R 3's assignment), in effect for
# the following steps, also from a callback.

lr_model <- function(lr = 0.1) {
  m <- keras_model_sequential() %>% layer_dense(1, input_shape = 2, kernel_initializer = "ones")
  m %>% compile(optimizer = optimizer_sgd(lr), loss = "mse")
  m
}

test_that("model$optimizer$lr is read and set as in Keras, and the next steps use it", {
  m <- lr_model(0.1)
  expect_equal(k_get_value(m$optimizer$lr), 0.1, tolerance = 1e-7)
  expect_equal(as.numeric(m$optimizer$learning_rate), 0.1, tolerance = 1e-7)
  x <- matrix(c(1, 2, 3, 4), 2)
  y <- matrix(c(1, -1), 2)
  k_set_value(m$optimizer$lr, 0)
  w <- get_weights(m)
  train_on_batch(m, x, y)
  expect_equal(get_weights(m), w)
  m$optimizer$learning_rate <- 0.05
  expect_equal(k_get_value(m$optimizer$lr), 0.05, tolerance = 1e-7)
  # One SGD step of 0.05 on the mean squared error: w - 0.05 * 2/n X'(Xw + b - y).
  train_on_batch(m, x, y)
  r <- x %*% w[[1]] + c(w[[2]]) - y
  expect_equal(c(get_weights(m)[[1]]), c(w[[1]] - 0.05 * 2 / 2 * t(x) %*% r), tolerance = 1e-6)
  lr <- m$optimizer$lr
  k_set_value(lr, lr * 0.5)
  expect_equal(k_get_value(m$optimizer$lr), 0.025, tolerance = 1e-7)
  expect_output(print(m$optimizer$lr), "0.025")
})

test_that("a callback lowers the learning rate through k_set_value() during fit()", {
  m <- lr_model(0.1)
  seen <- numeric()
  cb <- callback_lambda(on_epoch_begin = function(epoch, logs) {
    seen[[length(seen) + 1L]] <<- k_get_value(m$optimizer$lr)
    k_set_value(m$optimizer$lr, k_get_value(m$optimizer$lr) / 2)
  })
  fit(m, matrix(runif(20), 10), matrix(runif(10), 10), epochs = 3, verbose = 0, callbacks = list(cb))
  expect_equal(seen, c(0.1, 0.05, 0.025), tolerance = 1e-6)
  expect_equal(k_get_value(m$optimizer$lr), 0.0125, tolerance = 1e-6)
})

test_that("what cannot be set is an error", {
  m <- lr_model()
  expect_error(k_set_value(k_variable(1), 2), "learning rate", class = "rkeras_error")
  expect_error(k_set_value(m$optimizer$lr, -1), "value", class = "rkeras_error")
  expect_error(m$optimizer$learning_rate <- "a", "learning_rate", class = "rkeras_error")
  expect_error(m$optimizer$momentum <- 0.9, "cannot be set", class = "rkeras_error")
  expect_error(m$optimizer <- optimizer_adam(), "compile", class = "rkeras_error")
  expect_null(keras_model_sequential()$optimizer)
})
