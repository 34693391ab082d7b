test_that("layers are added in place and the model is returned invisibly", {
  model <- keras_model_sequential()
  res <- withVisible(model %>% layer_dense(units = 5, input_shape = 3))
  expect_false(res$visible)
  expect_identical(res$value, model)
  model %>% layer_dropout(0.5) %>% layer_dense(2, activation = "softmax")
  expect_length(model$layers, 3)
  expect_equal(count_params(model), 3 * 5 + 5 + 5 * 2 + 2)
  m2 <- model
  m2 %>% layer_dense(1)
  expect_length(model$layers, 4)
})

test_that("get_weights and set_weights use Keras's layout", {
  withr::local_seed(1)
  model <- keras_model_sequential() %>% layer_dense(units = 2, input_shape = 3)
  w <- get_weights(model)
  expect_equal(dim(w[[1]]), c(3L, 2L))
  expect_equal(dim(w[[2]]), 2L)
  expect_true(all(abs(w[[1]]) <= sqrt(6 / 5)))
  expect_equal(as.numeric(w[[2]]), c(0, 0))
  x <- matrix(rnorm(12), 4)
  before <- predict(model, x, verbose = 0)  # (packs the weights for inference)
  new <- list(matrix(1:6 / 10, 3), array(c(0.5, -0.5)))
  set_weights(model, new)
  expect_equal(get_weights(model)[[1]], matrix(1:6 / 10, 3), tolerance = 1e-7)
  expect_equal(predict(model, x, verbose = 0), x %*% new[[1]] + rep(new[[2]], each = 4), tolerance = 1e-6)
  # Predictions follow training steps too.
  model %>% compile(loss = "mse", optimizer = "sgd")
  y <- matrix(rnorm(8), 4)
  train_on_batch(model, x, y)
  w <- get_weights(model)
  expect_equal(predict_on_batch(model, x), x %*% w[[1]] + rep(w[[2]], each = 4), tolerance = 1e-6)
})

test_that("dense forward matches base R for each activation", {
  withr::local_seed(2)
  x <- matrix(rnorm(20), 5)
  for (act in c("relu", "sigmoid", "tanh", "elu", "selu", "softplus", "softsign", "swish", "gelu", "softmax", "linear")) {
    model <- keras_model_sequential() %>% layer_dense(3, activation = act, input_shape = 4)
    w <- get_weights(model)
    z <- x %*% w[[1]] + rep(w[[2]], each = 5)
    f <- get(paste0("activation_", act))
    expect_equal(predict(model, x, verbose = 0), unname(f(z)), tolerance = 1e-5, label = act)
  }
})

test_that("set.seed() makes initial weights reproducible", {
  set.seed(42); a <- get_weights(tiny_model())
  set.seed(42); b <- get_weights(tiny_model())
  set.seed(43); c <- get_weights(tiny_model())
  expect_identical(a, b)
  expect_false(identical(a, c))
})

test_that("printing a model is stable", {
  local_reproducible_output(width = 80)
  rkeras:::rk_names_reset()
  model <- keras_model_sequential()
  expect_snapshot(print(model))
  model %>%
    layer_dense(units = 256, activation = "relu", input_shape = c(784)) %>%
    layer_dropout(rate = 0.4) %>%
    layer_dense(units = 128, activation = "relu") %>%
    layer_dropout(rate = 0.3) %>%
    layer_dense(units = 10, activation = "softmax")
  expect_snapshot(summary(model))
})

test_that("an unbuilt model builds on first fit", {
  model <- keras_model_sequential() %>% layer_dense(4, activation = "relu") %>% layer_dense(1)
  expect_false(model$built)
  model %>% compile(loss = "mse", optimizer = "adam")
  d <- tiny_xy(d = 5)
  model %>% fit(d$x, d$y, epochs = 1, verbose = 0)
  expect_true(model$built)
  expect_equal(dim(get_weights(model)[[1]]), c(5L, 4L))
})

test_that("a model kept by saveRDS() works after readRDS(), and training continues exactly", {
  f <- withr::local_tempfile(fileext = ".rds")
  d <- tiny_xy()
  d$y <- d$onehot
  model <- tiny_model()
  model %>% compile(optimizer = "adam", loss = "categorical_crossentropy")
  model %>% fit(d$x, d$y, epochs = 1, verbose = 0)
  saveRDS(list(model = model, note = "kept"), f)
  kept <- readRDS(f)$model
  expect_equal(predict(kept, d$x, verbose = 0), predict(model, d$x, verbose = 0), tolerance = 0)
  set.seed(4); h1 <- model %>% fit(d$x, d$y, epochs = 2, verbose = 0, shuffle = FALSE)
  set.seed(4); h2 <- kept %>% fit(d$x, d$y, epochs = 2, verbose = 0, shuffle = FALSE)
  expect_identical(h2$metrics$loss, h1$metrics$loss)
  # Models without layers or weights yet are kept too.
  saveRDS(keras_model_sequential() %>% layer_dense(2), f)
  unbuilt <- readRDS(f)
  unbuilt %>% compile(loss = "mse", optimizer = "sgd")
  expect_length(fit(unbuilt, matrix(1:6, 2), matrix(1:4, 2), verbose = 0)$metrics$loss, 10)
})

test_that("a model saved with the R workspace works in a new R session", {
  skip_on_cran()
  dir <- withr::local_tempdir()
  first <- run_child(c("library(rkeras)", "set.seed(1)", "x <- matrix(runif(40), 10)",
                       "model <- keras_model_sequential() %>% layer_dense(3, input_shape = 4)",
                       "model %>% compile(loss = 'mse', optimizer = 'adam')",
                       "model %>% fit(x, matrix(runif(30), 10), epochs = 2, verbose = 0)",
                       "p <- predict(model, x, verbose = 0)",
                       sprintf("save(model, x, p, file = '%s')", file.path(dir, "ws.RData"))))
  expect_equal(first$status, 0L, info = paste(first$output, collapse = "\n"))
  # The new session loads the workspace before attaching rkeras.
  second <- run_child(c(sprintf("load('%s')", file.path(dir, "ws.RData")), "library(rkeras)",
                        "cat('DIFF', max(abs(predict(model, x, verbose = 0) - p)), '\\n')"))
  expect_equal(second$status, 0L, info = paste(second$output, collapse = "\n"))
  expect_match(grep("^DIFF", second$output, value = TRUE), "^DIFF 0 $")
})

test_that("a model read back without its saved state says how to keep models", {
  f <- withr::local_tempfile(fileext = ".rds")
  model <- tiny_model()
  # As a model saved by an rkeras without snapshots was.
  rm("snapshot", envir = rkeras:::model_env(model))
  saveRDS(model, f)
  old <- readRDS(f)
  expect_error(predict(old, matrix(0, 1, 4)), class = "rkeras_error_state")
  expect_snapshot(predict(old, matrix(0, 1, 4)), error = TRUE)
})

test_that("clone_model copies the architecture with fresh weights", {
  model <- tiny_model()
  copy <- clone_model(model)
  expect_length(copy$layers, 2)
  expect_false(identical(get_weights(copy), get_weights(model)))
  same <- clone_model(model, keep_weights = TRUE)
  expect_equal(get_weights(same), get_weights(model))
})

test_that("predict matches base R through a deep stack, whatever the batch size or thread count", {
  withr::local_seed(3)
  n <- 45 # not a whole number of the engine's 16-row blocks
  x <- matrix(round(rnorm(n * 9), 2), n)
  model <- keras_model_sequential() %>%
    layer_dense(37, activation = "relu", input_shape = 9) %>%
    layer_dropout(0.5) %>%
    layer_dense(6, activation = "softmax") %>%
    layer_dense(13, activation = "tanh") %>%
    layer_dense(4, activation = "softmax")
  w <- get_weights(model)
  w[c(2, 4, 6, 8)] <- lapply(w[c(2, 4, 6, 8)], function(b) array(runif(length(b), -0.5, 0.5)))
  set_weights(model, w)
  dense <- function(a, i, f) f(a %*% w[[2 * i - 1]] + rep(w[[2 * i]], each = nrow(a)))
  want <- x |>
    dense(1, activation_relu) |>
    dense(2, activation_softmax) |>
    dense(3, activation_tanh) |>
    dense(4, activation_softmax)
  p <- predict(model, x, verbose = 0)
  expect_equal(p, want, tolerance = 1e-5)
  for (bs in c(1L, 7L, 16L, 32L, 1000L)) {
    expect_identical(predict(model, x, batch_size = bs, verbose = 0), p, label = paste("batch_size", bs))
  }
  withr::with_options(list(rkeras.num_threads = 1), one <- predict(model, x, batch_size = 8, verbose = 0))
  withr::with_options(list(rkeras.num_threads = 2), two <- predict(model, x, batch_size = 8, verbose = 0))
  expect_identical(one, p)
  expect_identical(two, p)
  xi <- matrix(sample(-3:3, n * 9, replace = TRUE), n)
  expect_equal(predict(model, xi, verbose = 0), predict(model, xi + 0, verbose = 0))
  x[40, 7] <- NA
  expect_error(predict(model, x, verbose = 0), "row 40, column 7", class = "rkeras_error_value")
  xi[3, 2] <- NA
  expect_error(predict(model, xi, verbose = 0), "row 3, column 2", class = "rkeras_error_value")
  expect_identical(predict(model, x[-40, ], verbose = 0), p[-40, ])
})

test_that("predict runs models that do not start with a dense layer", {
  withr::local_seed(4)
  x <- matrix(rnorm(40), 10)
  model <- keras_model_sequential() %>%
    layer_activation("tanh", input_shape = 4) %>%
    layer_dense(3)
  w <- get_weights(model)
  expect_equal(predict(model, x, batch_size = 3, verbose = 0), tanh(x) %*% w[[1]] + rep(w[[2]], each = 10), tolerance = 1e-6)
})
