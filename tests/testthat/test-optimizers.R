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

test_that("clipping and weight decay change training; clipping runs a dense chain on the graph's executor", {
  d <- opt_data()
  base <- opt_model(optimizer_sgd(0.5))
  expect_equal(rkeras:::model_plan(base), "dense")
  w0 <- get_weights(base)
  h0 <- base %>% fit(d$x, d$y, epochs = 2, verbose = 0, shuffle = FALSE)
  for (opt in list(optimizer_sgd(0.5, clipnorm = 0.01), optimizer_sgd(0.5, clipvalue = 0.001),
                   optimizer_sgd(0.5, global_clipnorm = 0.01), optimizer_sgd(0.5, weight_decay = 0.5))) {
    m <- opt_model(opt)
    set_weights(m, w0)
    h <- m %>% fit(d$x, d$y, epochs = 2, verbose = 0, shuffle = FALSE)
    expect_false(isTRUE(all.equal(h$metrics$loss, h0$metrics$loss)))
    clips <- is.na(opt$options[["weight_decay"]]) || opt$options[["weight_decay"]] == 0
    expect_equal(rkeras:::model_plan(m), if (clips) "graph" else "dense")
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

test_that("loss arguments Keras has but rkeras does not implement are refused, never ignored", {
  # Keras's sparse crossentropy has no label smoothing; mean squared error takes no logits:
  # Keras refuses them as unknown arguments, and so does rkeras.
  expect_error(loss_sparse_categorical_crossentropy(label_smoothing = 0.1), "`label_smoothing` it does not take",
               class = "rkeras_error_value")
  expect_error(loss_mean_squared_error(from_logits = TRUE), "`from_logits` it does not take",
               class = "rkeras_error_value")
  expect_error(loss_huber(delta = -1), "`delta`", class = "rkeras_error_value")
  expect_error(loss_cosine_similarity(axis = 1), "axis = 1.*not supported", class = "rkeras_error_unsupported")
  expect_error(loss_categorical_crossentropy(label_smoothing = 1.5), "`label_smoothing`", class = "rkeras_error_value")
  expect_error(loss_binary_crossentropy(from_logits = NA), "`from_logits`", class = "rkeras_error_value")
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

test_that("from_logits and label_smoothing give Keras 3's losses, and train like softmax + crossentropy", {
  py <- keras_python()
  withr::local_seed(3)
  z <- matrix(rnorm(12, sd = 3), 4, 3)
  z[1, ] <- c(60, -40, 0)  # far beyond exp()'s range: log-sum-exp, not softmax-then-log
  onehot <- to_categorical(c(0, 1, 2, 1), 3)
  soft <- exp(z - apply(z, 1, max)); soft <- soft / rowSums(soft)
  yb <- matrix(c(1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 1), 4)
  pb <- matrix(runif(12, 0.05, 0.95), 4)
  cases <- list(
    list("CategoricalCrossentropy", list(from_logits = TRUE), onehot, z, loss_categorical_crossentropy(onehot, z, from_logits = TRUE)),
    list("CategoricalCrossentropy", list(from_logits = TRUE, label_smoothing = 0.2), onehot, z,
         loss_categorical_crossentropy(onehot, z, from_logits = TRUE, label_smoothing = 0.2)),
    list("CategoricalCrossentropy", list(label_smoothing = 0.1), onehot, soft[2:4, ], NULL),
    list("SparseCategoricalCrossentropy", list(from_logits = TRUE), matrix(c(0, 1, 2, 1)), z,
         loss_sparse_categorical_crossentropy(c(0, 1, 2, 1), z, from_logits = TRUE)),
    list("BinaryCrossentropy", list(from_logits = TRUE, label_smoothing = 0.3), yb, z,
         loss_binary_crossentropy(yb, z, from_logits = TRUE, label_smoothing = 0.3)),
    list("BinaryCrossentropy", list(label_smoothing = 0.25), yb, pb, loss_binary_crossentropy(yb, pb, label_smoothing = 0.25))
  )
  cases[[3]][[3]] <- onehot[2:4, ]
  cases[[3]][[5]] <- loss_categorical_crossentropy(onehot[2:4, ], soft[2:4, ], label_smoothing = 0.1)
  req <- withr::local_tempfile(fileext = ".json")
  writeLines(rkeras:::to_json(list(cases = lapply(cases, function(c)
    list(loss = c[[1]], args = c[[2]], y = flat_item(c[[3]]), p = flat_item(c[[4]]))))), req)
  out <- suppressWarnings(system2(py, c(test_path("oracle", "keras_losses.py"), req), stdout = TRUE, stderr = FALSE))
  want <- rkeras:::rk_json_parse(paste(out, collapse = ""))$ok$values
  for (i in seq_along(cases)) {
    expect_equal(cases[[i]][[5]], as.numeric(unlist(want[[i]])), tolerance = 1e-6, info = cases[[i]][[1]])
  }
  # In training: a linear output with from_logits = TRUE follows the same path as a softmax
  # output with the plain loss (same weights, batches and optimizer).
  d <- opt_data()
  run <- function(act, loss) {
    withr::with_seed(5, m <- keras_model_sequential() %>%
      layer_dense(4, activation = "tanh", input_shape = 5) %>% layer_dense(3, activation = act))
    m %>% compile(loss = loss, optimizer = optimizer_sgd(0.1))
    vapply(1:20, function(i) as.numeric(train_on_batch(m, d$x, d$y)), 1)
  }
  expect_equal(run("linear", loss_categorical_crossentropy(from_logits = TRUE)),
               run("softmax", "categorical_crossentropy"), tolerance = 1e-5)
  smooth <- run("linear", loss_categorical_crossentropy(from_logits = TRUE, label_smoothing = 0.1))
  expect_gt(min(smooth - run("linear", loss_categorical_crossentropy(from_logits = TRUE))), 0)
})
