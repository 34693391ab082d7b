# Optimizer arguments that change training (clipping, weight decay, Keras 2's decay), the
# optimizers added for Keras for R's examples, loss arguments that are refused rather than
# ignored, and the deprecated predict_classes()/predict_proba(). The update rules
# themselves are checked step by step against Keras 3 in the engine's tests
# (src/rust/src/optimizers.rs) and over 100 training steps in test-optimizers-keras.R.

opt_data <- function() {
  withr::with_seed(1, list(x = matrix(rnorm(200), 40), y = to_categorical(sample(0:2, 40, TRUE), 3)))
}

opt_model <- function(optimizer) {
  withr::with_seed(2, m <- keras_model_sequential() %>%
    layer_dense(4, activation = "relu", input_shape = 5) %>% layer_dense(3, activation = "softmax"))
  m %>% compile(loss = "categorical_crossentropy", optimizer = optimizer)
  m
}

test_that("adadelta, adamax and nadam train, by name and as objects", {
  d <- opt_data()
  for (opt in list("adadelta", "adamax", "nadam", optimizer_adadelta(learning_rate = 1),
                   optimizer_adamax(0.02), optimizer_nadam(0.01))) {
    h <- opt_model(opt) %>% fit(d$x, d$y, epochs = 3, verbose = 0)
    expect_true(all(is.finite(h$metrics$loss)))
  }
  # Keras's defaults.
  expect_equal(optimizer_adadelta()$learning_rate, 0.001)
  expect_equal(optimizer_adadelta()$params, c(0.95, 1e-7))
  expect_equal(optimizer_nadam()$params, c(0.9, 0.999, 1e-7))
})

test_that("clipping and weight decay change training; clipping moves a dense chain to the general engine", {
  d <- opt_data()
  base <- opt_model(optimizer_sgd(0.5))
  expect_false(rkeras:::is_graph(base))
  w0 <- get_weights(base)
  h0 <- base %>% fit(d$x, d$y, epochs = 2, verbose = 0, shuffle = FALSE)
  for (opt in list(optimizer_sgd(0.5, clipnorm = 0.01), optimizer_sgd(0.5, clipvalue = 0.001),
                   optimizer_sgd(0.5, global_clipnorm = 0.01), optimizer_sgd(0.5, weight_decay = 0.5))) {
    m <- opt_model(opt)
    set_weights(m, w0)
    h <- m %>% fit(d$x, d$y, epochs = 2, verbose = 0, shuffle = FALSE)
    expect_false(isTRUE(all.equal(h$metrics$loss, h0$metrics$loss)))
    expect_equal(rkeras:::is_graph(m), is.na(opt$options[["weight_decay"]]) || opt$options[["weight_decay"]] == 0)
  }
  # Tiny clipping barely moves the weights: each step changes them by at most lr * clip.
  m <- opt_model(optimizer_sgd(0.5, clipvalue = 1e-4))
  set_weights(m, w0)
  m %>% fit(d$x, d$y, epochs = 1, batch_size = 40, verbose = 0)
  expect_lte(max(abs(unlist(get_weights(m)) - unlist(w0))), 0.5 * 1e-4 + 1e-7)
  expect_error(optimizer_sgd(clipnorm = 1, global_clipnorm = 1), "Only one of", class = "rkeras_error_value")
  expect_error(optimizer_adam(clipnorm = -1), "`clipnorm`", class = "rkeras_error_value")
  expect_error(optimizer_rmsprop(use_ema = TRUE), class = "rkeras_error_unsupported")
  expect_error(optimizer_sgd(momentum = 0.9, nestrov = TRUE), "`nestrov`", class = "rkeras_error_value")
})

test_that("Keras 2's legacy decay divides the learning rate by 1 + decay * iterations", {
  x <- matrix(1, 1, 1)
  m <- keras_model_sequential() %>% layer_dense(1, use_bias = FALSE, kernel_initializer = "zeros", input_shape = 1)
  m %>% compile(loss = "mse", optimizer = optimizer_sgd(lr = 0.1, decay = 0.5))
  # Loss (w - 1)^2, gradient 2 (w - 1); w starts at 0.
  w <- 0
  for (t in 0:2) {
    train_on_batch(m, x, matrix(1, 1, 1))
    w <- w - 0.1 / (1 + 0.5 * t) * 2 * (w - 1)
    expect_equal(as.numeric(get_weights(m)[[1]]), w, tolerance = 1e-6)
  }
})

test_that("loss arguments are refused unless at Keras's defaults, never ignored", {
  expect_error(loss_categorical_crossentropy(from_logits = TRUE), "from_logits = TRUE.*not supported",
               class = "rkeras_error_unsupported")
  expect_error(loss_binary_crossentropy(label_smoothing = 0.1), class = "rkeras_error_unsupported")
  expect_error(loss_mean_squared_error(reduction = "sum"), class = "rkeras_error_unsupported")
  expect_error(loss_mean_squared_error(fromlogits = FALSE), "`fromlogits`", class = "rkeras_error_value")
  expect_s3_class(loss_categorical_crossentropy(from_logits = FALSE, label_smoothing = 0, name = "cce"), "rkeras_loss")
})

test_that("predict_classes() and predict_proba() give what Keras for R 2.x gave, with a warning", {
  d <- opt_data()
  m <- opt_model("adam")
  p <- predict(m, d$x, verbose = 0)
  expect_warning(cls <- predict_classes(m, d$x), "deprecated")
  expect_identical(cls, max.col(p, ties.method = "first") - 1L)
  expect_warning(expect_equal(predict_proba(m, d$x), p), "deprecated")
  b <- keras_model_sequential() %>% layer_dense(1, activation = "sigmoid", input_shape = 5)
  expect_identical(suppressWarnings(predict_classes(b, d$x)),
                   matrix(as.integer(predict(b, d$x, verbose = 0) > 0.5), ncol = 1))
})
