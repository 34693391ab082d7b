# Recurrent layers that return their last states (`return_state`) and start from given ones
# (`initial_state`), against Keras 3 (oracle/keras_recurrent.py states): Keras's models read
# from its JSON give Keras's outputs, and an encoder-decoder's 20 Adam steps follow Keras's.

states_oracle <- local({
  dir <- NULL
  function() {
    py <- keras_python()
    if (is.null(dir)) {
      d <- tempfile("keras-states-")
      out <- suppressWarnings(system2(py, shQuote(c(test_path("oracle", "keras_recurrent.py"), "states", d)),
                                      stdout = TRUE, stderr = TRUE))
      if (!is.null(attr(out, "status"))) {
        stop("oracle/keras_recurrent.py states failed:\n", paste(utils::tail(out, 30), collapse = "\n"))
      }
      withr::defer(unlink(d, recursive = TRUE), envir = teardown_env())
      dir <<- d
    }
    dir
  }
})

test_that("outputs and states of Keras's functional models match Keras (masks, backwards, initial states)", {
  dir <- states_oracle()
  cases <- unlist(read_json(file.path(dir, "states_cases.json")))
  expect_length(cases, 9)
  for (name in cases) {
    rec <- read_json(file.path(dir, paste0(name, ".data.json")))
    model <- tryCatch(read_model(dir, name), rkeras_error = function(e) fail(paste(name, conditionMessage(e))))
    if (!inherits(model, "rkeras_model")) next
    expect_equal(count_params(model), rec$params, info = name)
    set_weights(model, lapply(rec$weights, unflat))
    got <- rk_predict_list(model, lapply(rec$inputs, unflat))
    want <- lapply(rec$outputs, unflat)
    expect_equal(length(got), length(want), info = name)
    for (k in seq_along(want)) {
      # Within 1e-5 relative, or 1e-8 absolute for float32 values near zero.
      g <- as.numeric(got[[k]]); w <- as.numeric(want[[k]])
      bad <- which(abs(g - w) > pmax(1e-5 * abs(w), 1e-8))
      expect(length(bad) == 0, sprintf("%s output %d: %d values off, the first %.8g (Keras %.8g)",
                                        name, k, length(bad), g[bad[1]], w[bad[1]]))
      expect_equal(dim(got[[k]]) %||% length(got[[k]]), dim(want[[k]]) %||% length(want[[k]]), info = name)
    }
  }
})

test_that("an encoder-decoder trained through its states follows Keras's 20 Adam steps", {
  dir <- states_oracle()
  rec <- read_json(file.path(dir, "s2s_train.data.json"))
  model <- read_model(dir, "s2s_train")
  set_weights(model, lapply(rec$initial_weights, unflat))
  compile(model, optimizer = optimizer_adam(0.01), loss = "categorical_crossentropy")
  xa <- unflat(rec$xa); xb <- unflat(rec$xb); y <- unflat(rec$y)
  losses <- vapply(rec$batches, function(rows) {
    i <- as.integer(unlist(rows)) + 1L
    unname(train_on_batch(model, list(xa[i, , , drop = FALSE], xb[i, , , drop = FALSE]), y[i, , , drop = FALSE]))[1]
  }, 1)
  expect_each_close(losses, unlist(rec$losses), 1e-4, "per-step losses")
  final <- lapply(rec$final_weights, unflat)
  got <- get_weights(model)
  # The encoder's weights learn only through the states it hands the decoder.
  for (i in seq_along(final)) expect_equal(got[[i]], final[[i]], tolerance = 1e-4, info = sprintf("weight %d", i))
})

test_that("Keras for R's sequence-to-sequence example runs: training model, encoder and decoder models", {
  set.seed(3)
  latent_dim <- 8
  encoder_inputs <- layer_input(shape = list(7, 6))
  encoder <- layer_lstm(units = latent_dim, return_state = TRUE)
  encoder_results <- encoder_inputs %>% encoder
  expect_length(encoder_results, 3)
  encoder_states <- encoder_results[2:3]
  decoder_inputs <- layer_input(shape = list(4, 5))
  decoder_lstm <- layer_lstm(units = latent_dim, return_sequences = TRUE, return_state = TRUE)
  decoder_results <- decoder_lstm(decoder_inputs, initial_state = encoder_states)
  decoder_dense <- layer_dense(units = 5, activation = "softmax")
  model <- keras_model(list(encoder_inputs, decoder_inputs), decoder_dense(decoder_results[[1]]))
  model %>% compile(optimizer = "rmsprop", loss = "categorical_crossentropy")
  out <- capture.output(summary(model))
  expect_true(any(grepl("[(None, 8),", out, fixed = TRUE)))
  expect_true(any(grepl("(None, 8)]", out, fixed = TRUE)))
  xe <- array(runif(32 * 42), c(32, 7, 6)); xd <- array(runif(32 * 20), c(32, 4, 5))
  y <- to_categorical(sample(0:4, 128, TRUE), 5)
  dim(y) <- c(32, 4, 5)
  h <- model %>% fit(list(xe, xd), y, batch_size = 8, epochs = 2, verbose = 0)
  expect_length(h$metrics$loss, 2)
  # Inference: the encoder gives the states, the decoder takes them as inputs.
  encoder_model <- keras_model(encoder_inputs, encoder_states)
  state_h <- layer_input(shape = latent_dim); state_c <- layer_input(shape = latent_dim)
  decoder_states_inputs <- c(state_h, state_c)
  expect_length(decoder_states_inputs, 2)
  decoder_results <- decoder_lstm(decoder_inputs, initial_state = decoder_states_inputs)
  decoder_model <- keras_model(c(decoder_inputs, decoder_states_inputs),
                               c(decoder_dense(decoder_results[[1]]), decoder_results[2:3]))
  states <- predict(encoder_model, xe[1:3, , ], verbose = 0)
  expect_length(states, 2)
  expect_equal(dim(states[[1]]), c(3L, latent_dim))
  dec <- predict(decoder_model, c(list(xd[1:3, , ]), states), verbose = 0)
  expect_equal(dec[[1]], predict(model, list(xe[1:3, , ], xd[1:3, , ]), verbose = 0), tolerance = 1e-6)
  # The decoder's last h is its sequence's last step.
  expect_equal(dec[[2]], predict(keras_model(list(decoder_inputs, state_h, state_c), decoder_results[[1]]),
                                 c(list(xd[1:3, , ]), states), verbose = 0)[, 4, ], tolerance = 1e-6)
})

test_that("a layer's several outputs cannot be read as one, and initial states are checked", {
  x <- layer_input(c(5, 3))
  expect_error(keras_model_sequential(input_shape = c(5, 3)) %>% layer_lstm(4, return_state = TRUE) %>% layer_dense(1),
               "returns a list of tensors", class = "rkeras_error")
  r <- layer_gru(x, 4, return_state = TRUE)
  expect_length(keras_model(x, r)$outputs, 2)
  expect_error(r %>% layer_dense(1), "dense", class = "rkeras_error")
  expect_error(layer_dense(units = 2)(x, initial_state = r[[2]]), "taken by recurrent layers", class = "rkeras_error")
  expect_error(layer_lstm(units = 4)(x, initial_state = r[[2]]), "takes 2 initial states", class = "rkeras_error")
  expect_error(layer_gru(units = 3)(x, initial_state = r[[2]]), "initial state of shape \\(None, 3\\)", class = "rkeras_error")
  expect_error(layer_gru(units = 4)(x, initial_state = "h"), "initial_state", class = "rkeras_error")
  expect_error(bidirectional(x, layer_lstm(units = 2, return_state = TRUE)), "return_state", class = "rkeras_error")
  expect_error(time_distributed(layer_input(c(2, 5, 3)), layer_lstm(units = 2, return_state = TRUE)),
               "return_state", class = "rkeras_error")
  # Still usable: the right call works.
  out <- layer_gru(units = 4)(x, initial_state = r[[2]])
  expect_equal(dim(out), c(NA, 4L))
})
