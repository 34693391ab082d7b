test_that("bad arguments give classed errors that name the argument", {
  expect_snapshot(layer_dense(units = -1), error = TRUE)
  expect_snapshot(layer_dense(units = "a"), error = TRUE)
  expect_snapshot(layer_dropout(rate = 1.5), error = TRUE)
  expect_snapshot(layer_dense(units = 2, activation = "nope"), error = TRUE)
  expect_error(layer_dense(units = 1e12), class = "rkeras_error")
  rkeras:::rk_names_reset()
  model <- tiny_model()
  expect_snapshot(model %>% compile(loss = "nope", optimizer = "adam"), error = TRUE)
  expect_snapshot(model %>% fit(matrix(0, 2, 4), matrix(0, 2, 3)), error = TRUE)
  model %>% compile(loss = "categorical_crossentropy", optimizer = "adam")
  expect_snapshot(model %>% fit(matrix(0, 5, 28), matrix(0, 5, 3), verbose = 0), error = TRUE)
  expect_snapshot(model %>% fit(matrix(0, 5, 4), matrix(0, 4, 3), verbose = 0), error = TRUE)
  expect_snapshot(model %>% fit(matrix(0, 5, 4), 0:4, verbose = 0), error = TRUE)
  x <- matrix(0, 5, 4); x[3, 2] <- NA
  expect_snapshot(model %>% fit(x, matrix(0, 5, 3), verbose = 0), error = TRUE)
  expect_snapshot(model %>% fit(matrix(0, 5, 4), matrix(0, 5, 3), epochs = -1), error = TRUE)
  expect_snapshot(model %>% fit(matrix(0, 5, 4), matrix(0, 5, 3), batch_size = 0), error = TRUE)
  expect_error(model %>% fit(data.frame(a = 1:3), matrix(0, 3, 3)), class = "rkeras_error_type")
})

test_that("the model stays usable after an error", {
  d <- tiny_xy()
  model <- tiny_model()
  model %>% compile(loss = "categorical_crossentropy", optimizer = "adam")
  expect_error(model %>% fit(d$x[, 1:3], d$onehot, verbose = 0), class = "rkeras_error_shape")
  expect_error(set_weights(model, list(1)), class = "rkeras_error")
  h <- model %>% fit(d$x, d$onehot, epochs = 1, verbose = 0)
  expect_true(is.finite(h$metrics$loss))
})

test_that("a panic in the engine becomes an R error", {
  model <- tiny_model()
  expect_error(rkeras:::rk_call(rkeras:::rk_test_panic(model$ptr)), "deliberate test panic", class = "rkeras_error_internal")
  expect_equal(dim(predict(model, matrix(0, 2, 4), verbose = 0)), c(2L, 3L))
})

test_that("the benchmark's product timer times the gemm crate and the kernel, and refuses bad shapes", {
  t <- rkeras:::rk_call(rkeras:::rk_bench_gemm(64, 32, 48, 3, 2))
  expect_length(t, 2)
  expect_true(t[1] > 0)
  expect_true(is.nan(t[2]) || t[2] > 0)
  expect_error(rkeras:::rk_call(rkeras:::rk_bench_gemm(0, 32, 48, 3, 2)), "empty or too large")
})
