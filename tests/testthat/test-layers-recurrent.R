# Keras 3 (Python, from the test venv) as the oracle for the embedding and recurrent layers
# (oracle/keras_recurrent.py): models read from Keras's JSON, given Keras's weights and
# inputs, must give Keras's shapes, parameter counts and outputs; three text models' 30 Adam
# steps must follow Keras's.

recurrent_oracle <- local({
  dirs <- list()
  function(mode) {
    py <- keras_python()
    if (is.null(dirs[[mode]])) {
      dir <- tempfile(paste0("keras-recurrent-", mode, "-"))
      out <- suppressWarnings(system2(py, shQuote(c(test_path("oracle", "keras_recurrent.py"), mode, dir)),
                                      stdout = TRUE, stderr = TRUE))
      if (!is.null(attr(out, "status"))) {
        stop("oracle/keras_recurrent.py ", mode, " failed:\n", paste(utils::tail(out, 30), collapse = "\n"))
      }
      withr::defer(unlink(dir, recursive = TRUE), envir = teardown_env())
      dirs[[mode]] <<- dir
    }
    dirs[[mode]]
  }
})

check_cases <- function(pattern) {
  dir <- recurrent_oracle("write")
  cases <- grep(pattern, unlist(read_json(file.path(dir, "cases.json"))), value = TRUE)
  expect_gt(length(cases), 0)
  for (name in cases) {
    tryCatch(check_layer_case(dir, name),
             rkeras_error = function(e) fail(sprintf("%s: %s", name, conditionMessage(e))))
  }
}

test_that("Embedding matches Keras for ids in any shape", {
  check_cases("^emb_")
})
test_that("SimpleRNN matches Keras: last state, sequences, backwards, relu", {
  check_cases("^rnn_")
})
test_that("LSTM matches Keras: gate order, sequences, backwards, no bias, hard sigmoid", {
  check_cases("^lstm_")
})
test_that("GRU matches Keras with reset_after TRUE and FALSE, backwards, no bias", {
  check_cases("^gru_")
})
test_that("Bidirectional matches Keras for every merge mode, with sequences and a given backward layer", {
  check_cases("^bi_")
})
test_that("masks from mask_zero skip padded steps in recurrent layers and average pooling, as in Keras", {
  check_cases("^mask_")
})
test_that("layer_masking() and time_distributed() match Keras", {
  check_cases("^(maskf_|td_)")
})
test_that("text models (embedding, stacked recurrent layers, pooling) match Keras", {
  check_cases("^text_")
})

test_that("30 Adam steps of embedding + LSTM / GRU / SimpleRNN models follow Keras's losses and weights", {
  dir <- recurrent_oracle("train")
  for (cell in c("lstm", "gru", "rnn")) {
    name <- paste0(cell, "_train")
    rec <- read_json(file.path(dir, paste0(name, ".data.json")))
    model <- read_model(dir, name)
    set_weights(model, lapply(rec$initial_weights, unflat))
    compile(model, optimizer = optimizer_adam(0.01), loss = "binary_crossentropy")
    x <- unflat(rec$x); y <- unflat(rec$y)
    losses <- vapply(rec$batches, function(rows) {
      i <- as.integer(unlist(rows)) + 1L
      unname(train_on_batch(model, x[i, , drop = FALSE], y[i]))[1]
    }, 1)
    want <- unlist(rec$losses)
    expect_each_close(losses, want, 1e-4, paste(cell, "per-step losses"))
    expect_lt(mean(want[21:30]), mean(want[1:10]))
    final <- lapply(rec$final_weights, unflat)
    got <- get_weights(model)
    for (i in seq_along(final)) expect_equal(got[[i]], final[[i]], tolerance = 1e-4, info = sprintf("%s weight %d", cell, i))
    expect_equal(unname(predict(model, x, verbose = 0)), unflat(rec$predict_after), tolerance = 1e-4, info = cell)
  }
})

test_that("token ids outside the table are an error naming the row and the id", {
  m <- keras_model_sequential() %>% layer_embedding(10, 3, input_length = 4) %>% layer_flatten()
  x <- matrix(c(1, 2, 3, 4, 5, 6, 7, 10), 2, byrow = TRUE)
  expect_error(predict(m, x, verbose = 0), "token id 10 in row 2 .*outside \\[0, 10\\)", class = "rkeras_error")
  expect_error(predict(m, matrix(-1, 1, 4), verbose = 0), "token id -1", class = "rkeras_error")
  masked <- keras_model_sequential() %>% layer_embedding(10, 3, mask_zero = TRUE, input_length = 4) %>%
    layer_lstm(units = 2, return_sequences = TRUE)
  masked %>% compile(loss = "mse", optimizer = "sgd")
  expect_error(fit(masked, matrix(1:8, 2), array(0, c(2, 4, 2)), verbose = 0), "mask reaches the model's output",
               class = "rkeras_error_unsupported")
  expect_error(layer_lstm(units = 3, return_state = NA), "`return_state`", class = "rkeras_error_value")
  expect_error(layer_gru(units = 3, stateful = NA), "`stateful`", class = "rkeras_error_value")
  expect_error(layer_lstm(units = 3, activation = "softmax"), "activation")
})

test_that("a recurrent model saves, loads and keeps training", {
  set.seed(3)
  x <- matrix(sample(0:19, 40 * 6, TRUE), 40); y <- sample(0:1, 40, TRUE)
  m <- keras_model_sequential() %>% layer_embedding(20, 4, input_length = 6) %>%
    layer_lstm(5, return_sequences = TRUE) %>% layer_gru(3, go_backwards = TRUE) %>%
    layer_dense(1, activation = "sigmoid")
  m %>% compile(optimizer = "adam", loss = "binary_crossentropy")
  m %>% fit(x, y, epochs = 1, batch_size = 8, verbose = 0)
  f <- withr::local_tempfile(fileext = ".keras")
  save_model(m, f)
  m2 <- load_model(f)
  expect_equal(predict(m2, x, verbose = 0), predict(m, x, verbose = 0), tolerance = 0)
  set.seed(4); h1 <- m %>% fit(x, y, epochs = 2, batch_size = 8, verbose = 0, shuffle = FALSE)
  set.seed(4); h2 <- m2 %>% fit(x, y, epochs = 2, batch_size = 8, verbose = 0, shuffle = FALSE)
  expect_identical(h2$metrics$loss, h1$metrics$loss)
})

test_that("time_distributed() over a recurrent layer trains, and nesting it again is refused", {
  withr::local_seed(2)
  x <- array(runif(40 * 4 * 3 * 2), c(40, 4, 3, 2))
  y <- matrix(as.numeric(apply(x, 1, sum) > 12), 40)
  m <- keras_model_sequential() %>% time_distributed(layer_lstm(units = 4), input_shape = c(4, 3, 2)) %>%
    layer_gru(3) %>% layer_dense(1, activation = "sigmoid")
  expect_equal(m$output_shape, list(NULL, 1L))
  m %>% compile(optimizer = optimizer_adam(0.02), loss = "binary_crossentropy")
  h <- fit(m, x, y, epochs = 15, batch_size = 10, verbose = 0)
  expect_lt(tail(h$metrics$loss, 1), h$metrics$loss[[1]])
  expect_error(time_distributed(layer = time_distributed(layer = layer_dense(units = 2))), "not supported",
               class = "rkeras_error_unsupported")
})
