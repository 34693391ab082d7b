# Stateful recurrent layers against Keras 3 on TensorFlow (Keras for R's backend), from the
# fixture oracle/keras_stateful.py wrote (Keras's JAX backend does not carry the states
# between batches). Each case: predictions on batch 1, batch 2 (continuing batch 1's states)
# and batch 2 again after reset_states(); then training losses with the states carried.

test_that("stateful layers carry states between batches as Keras does, until reset_states()", {
  fx <- read_json(test_path("fixtures", "keras_stateful.json"))
  xs <- lapply(fx$x, unflat)
  ys <- lapply(fx$y, unflat)
  expect_length(fx$cases, 3)
  for (case in fx$cases) {
    m <- model_from_json(case$model)
    set_weights(m, lapply(case$weights, unflat))
    want <- lapply(case$predict, unflat)
    p1 <- predict(m, xs[[1]], batch_size = 4, verbose = 0)
    p2 <- predict(m, xs[[2]], batch_size = 4, verbose = 0)
    reset_states(m)
    p3 <- predict(m, xs[[2]], batch_size = 4, verbose = 0)
    expect_equal(unname(p1), unname(want[[1]]), tolerance = 1e-5, info = case$name)
    expect_equal(unname(p2), unname(want[[2]]), tolerance = 1e-5, info = case$name)
    expect_equal(unname(p3), unname(want[[3]]), tolerance = 1e-5, info = case$name)
    expect_false(isTRUE(all.equal(p2, p3)))
    reset_states(m)
    compile(m, optimizer = optimizer_sgd(0.1), loss = "mse")
    losses <- vapply(1:3, function(i) unname(train_on_batch(m, xs[[i]], ys[[i]])), 1)
    reset_states(m)
    losses <- c(losses, unname(train_on_batch(m, xs[[1]], ys[[1]])))
    expect_equal(losses, as.numeric(unlist(case$train)), tolerance = 1e-5, info = case$name)
  }
})

test_that("a stateful model fits batch by batch, refuses a batch of another size, and resets by layer", {
  withr::local_seed(1)
  m <- keras_model_sequential() %>%
    layer_lstm(units = 4, stateful = TRUE, input_shape = c(3, 1), return_sequences = TRUE) %>%
    layer_lstm(units = 2, stateful = TRUE) %>% layer_dense(1)
  m %>% compile(optimizer = "rmsprop", loss = "mse")
  x <- array(sin(1:48), c(16, 3, 1))
  y <- matrix(cos(1:16), 16)
  for (i in 1:2) {
    fit(m, x, y, batch_size = 4, epochs = 1, shuffle = FALSE, verbose = 0)
    reset_states(m)
  }
  p <- predict(m, x, batch_size = 4, verbose = 0)
  expect_equal(dim(p), c(16L, 1L))
  expect_error(predict(m, x[1:3, , , drop = FALSE], batch_size = 3, verbose = 0),
               "batches of 4 rows, but got a batch of 3", class = "rkeras_error_value")
  reset_states(get_layer(m, index = 1))
  reset_states(get_layer(m, index = 2))
  expect_equal(predict(m, x, batch_size = 4, verbose = 0), p)
  expect_match(model_to_json(m), "\"stateful\": ?true")
  m2 <- model_from_json(model_to_json(m))
  # Initial states given to a stateful layer: not supported.
  st_in <- layer_input(c(3, 2)); h0 <- layer_input(2)
  expect_error(layer_gru(units = 2, stateful = TRUE)(st_in, initial_state = h0), "not supported",
               class = "rkeras_error_unsupported")
  expect_error(reset_states(1), class = "rkeras_error")
})
