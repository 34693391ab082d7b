# Open dimensions (Keras's None): inputs declared with NULL axes, Sequential models built by
# their first data, and every call run at its own data's shape, as Keras runs it.

padded <- function(seqs, len) pad_sequences(seqs, maxlen = len)

test_that("an LSTM with masking predicts the same for sequences padded to 12 and to 20", {
  set.seed(4)
  seqs <- lapply(1:30, function(i) sample(1:49, sample(2:10, 1)))
  # A Sequential model built by its first data, as Keras for R's text examples write it.
  m <- keras_model_sequential() %>% layer_embedding(50, 8, mask_zero = TRUE) %>% layer_lstm(16) %>% layer_dense(1)
  m %>% compile(loss = "mse", optimizer = "adam")
  m %>% fit(padded(seqs, 12), runif(30), epochs = 2, verbose = 0)
  p12 <- predict(m, padded(seqs, 12), verbose = 0)
  expect_equal(predict(m, padded(seqs, 20), verbose = 0), p12, tolerance = 1e-6)
  expect_equal(predict(m, padded(seqs, 10), verbose = 0), p12, tolerance = 1e-6)
  # A functional model whose time axis is declared open.
  tokens <- layer_input(shape = list(NULL))
  out <- tokens %>% layer_embedding(50, 8, mask_zero = TRUE) %>% layer_gru(6) %>% layer_dense(1)
  f <- keras_model(tokens, out)
  expect_equal(f$input_shape, list(NULL, NULL))
  pf <- predict(f, padded(seqs, 12), verbose = 0)
  expect_equal(predict(f, padded(seqs, 25), verbose = 0), pf, tolerance = 1e-6)
})

test_that("one model trains and evaluates on generator batches of lengths 7, 12 and 30, with validation of another length", {
  set.seed(5)
  inp <- layer_input(shape = list(NULL, 3))
  model <- keras_model(inp, inp %>% layer_simple_rnn(5, return_sequences = TRUE) %>% layer_lstm(4) %>% layer_dense(1))
  model %>% compile(loss = "mse", optimizer = "adam")
  lens <- c(7, 12, 30)
  k <- 0
  seen <- integer()
  gen <- function() {
    k <<- k + 1
    len <- lens[(k - 1) %% 3 + 1]
    seen <<- c(seen, len)
    list(array(runif(4 * len * 3), c(4, len, 3)), runif(4))
  }
  before <- get_weights(model)
  h <- model %>% fit(gen, steps_per_epoch = 3, epochs = 2, verbose = 0)
  expect_true(all(c(7, 12, 30) %in% seen))
  expect_true(all(is.finite(h$metrics$loss)))
  expect_false(identical(get_weights(model), before))
  expect_true(is.finite(evaluate(model, gen, steps = 3, verbose = 0)[["loss"]]))
  x9 <- array(runif(20 * 9 * 3), c(20, 9, 3))
  x15 <- array(runif(10 * 15 * 3), c(10, 15, 3))
  h <- model %>% fit(x9, runif(20), validation_data = list(x15, runif(10)), epochs = 2, batch_size = 5, verbose = 0)
  expect_true(all(is.finite(unlist(h$metrics))))
  expect_length(h$metrics$val_loss, 2)
  # Sequences of every length in one array, returned per step.
  seq_model <- keras_model(inp, inp %>% layer_gru(3, return_sequences = TRUE))
  expect_equal(dim(predict(seq_model, x15, verbose = 0)), c(10L, 15L, 3L))
  expect_equal(dim(predict(seq_model, x9, verbose = 0)), c(20L, 9L, 3L))
})

test_that("summary(), JSON and saved files show None where Keras does, and Keras 3 runs them at other sizes", {
  inp <- layer_input(shape = list(NULL, 16))
  expect_output(print(inp), "shape=(None, None, 16)", fixed = TRUE)
  m <- keras_model(inp, inp %>% layer_lstm(8, return_sequences = TRUE) %>% layer_conv_1d(4, 3) %>%
                     layer_global_max_pooling_1d() %>% layer_dense(2))
  lines <- format(m, line_length = 100)
  expect_true(any(grepl("(None, None, 16)", lines, fixed = TRUE)))
  expect_true(any(grepl("lstm.*(None, None, 8)", lines)))
  expect_true(any(grepl("conv1d.*(None, None, 4)", lines)))
  expect_true(any(grepl("dense.*(None, 2)", lines)))
  expect_equal(count_params(m), (16 * 32 + 8 * 32 + 32) + (3 * 8 * 4 + 4) + (4 * 2 + 2))
  json <- model_to_json(m)
  expect_match(json, '"batch_shape":[null,null,16]', fixed = TRUE)
  again <- model_from_json(json)
  expect_equal(format(again, line_length = 100)[-1], lines[-1])
  x <- array(runif(3 * 11 * 16), c(3, 11, 16))
  set_weights(again, get_weights(m))
  expect_equal(predict(again, x, verbose = 0), predict(m, x, verbose = 0))
  py <- keras_python()
  dir <- withr::local_tempdir()
  save_model(m, file.path(dir, "open.keras"))
  save_model(m, file.path(dir, "open.h5"))
  back <- load_model(file.path(dir, "open.keras"))
  expect_equal(predict(back, x, verbose = 0), predict(m, x, verbose = 0))
  xs <- list(a = list(x), b = list(array(runif(2 * 40 * 16), c(2, 40, 16))))
  writeLines(rkeras:::to_json(list(files = list(open.keras = "a", open.h5 = "b"),
                                   inputs = lapply(xs, function(v) lapply(v, flat_item)))),
             file.path(dir, "inputs.json"))
  out <- suppressWarnings(system2(py, shQuote(c(test_path("oracle", "keras_saving.py"), "predict", dir)),
                                  stdout = TRUE, stderr = TRUE))
  expect_null(attr(out, "status"), info = paste(tail(out, 20), collapse = "\n"))
  got <- read_json(file.path(dir, "predict.json"))
  expect_equal(unflat(got[["open.keras"]][[1]]), predict(m, xs$a[[1]], verbose = 0), tolerance = 1e-5)
  expect_equal(unflat(got[["open.h5"]][[1]]), predict(m, xs$b[[1]], verbose = 0), tolerance = 1e-5)
})

test_that("images of any size through open spatial axes and global pooling", {
  img <- layer_input(shape = list(NULL, NULL, 3))
  cnn <- keras_model(img, img %>% layer_conv_2d(4, 3, activation = "relu") %>% layer_max_pooling_2d() %>%
                       layer_global_average_pooling_2d() %>% layer_dense(2, activation = "softmax"))
  expect_true(any(grepl("(None, None, None, 4)", format(cnn, line_length = 120), fixed = TRUE)))
  cnn %>% compile(loss = "categorical_crossentropy", optimizer = "adam")
  cnn %>% fit(array(runif(4 * 12 * 10 * 3), c(4, 12, 10, 3)), to_categorical(c(0, 1, 0, 1), 2), epochs = 1, verbose = 0)
  for (hw in list(c(20, 24), c(9, 9), c(5, 31))) {
    p <- predict(cnn, array(runif(2 * prod(hw) * 3), c(2, hw, 3)), verbose = 0)
    expect_equal(dim(p), c(2L, 2L))
    expect_equal(rowSums(p), c(1, 1), tolerance = 1e-6)
  }
})

test_that("open axes are checked: weights that depend on one, fixed axes, empty axes", {
  img <- layer_input(shape = list(NULL, NULL, 3))
  expect_error(img %>% layer_flatten() %>% layer_dense(2), "needs to know the size of an axis.*None", class = "rkeras_error")
  inp <- layer_input(shape = c(NA, 4))
  m <- keras_model(inp, inp %>% layer_lstm(2))
  expect_error(predict(m, array(1, c(2, 5, 3))), "expects samples of shape \\(None, 4\\)", class = "rkeras_error")
  expect_error(predict(m, array(1, c(2, 0, 4))), "size 0", class = "rkeras_error")
  expect_error(layer_input(shape = list(NULL, -1)), "shape")
  # A Sequential model built by its first data keeps its weights' sizes.
  s <- keras_model_sequential() %>% layer_dense(3)
  predict(s, matrix(1, 2, 4), verbose = 0)
  expect_error(predict(s, matrix(1, 2, 5), verbose = 0), "expects 4 input features, got 5", class = "rkeras_error")
  expect_equal(dim(predict(s, matrix(1, 2, 4), verbose = 0)), c(2L, 3L))
})

test_that("a Sequential model declared with an open time axis runs sequences of any length", {
  s <- keras_model_sequential() %>% layer_lstm(4, input_shape = list(NULL, 3)) %>% layer_dense(1)
  expect_true(any(grepl("(None, 4)", format(s), fixed = TRUE)))
  s %>% compile(loss = "mse", optimizer = "sgd")
  for (len in c(2, 5, 40)) {
    expect_equal(dim(predict(s, array(runif(3 * len * 3), c(3, len, 3)), verbose = 0)), c(3L, 1L))
  }
  s2 <- keras_model_sequential(input_shape = list(NULL, 3)) %>% layer_gru(2)
  expect_equal(dim(predict(s2, array(runif(6), c(1, 2, 3)), verbose = 0)), c(1L, 2L))
})

test_that("Keras for R's lstm_seq2seq example runs as written, decoding step by step with the trained layers", {
  set.seed(8)
  # The example's vectorization, on a small made-up corpus (its data is downloaded).
  input_texts <- c("go.", "hi.", "run!", "wow!", "fire!", "help!", "stop!", "wait!")
  target_texts <- c("va !", "salut !", "cours !", "ca alors !", "au feu !", "a l'aide !", "arrete !", "attends !")
  target_texts <- paste0("\t", target_texts, "\n")
  input_texts <- lapply(input_texts, function(s) strsplit(s, split = "")[[1]])
  target_texts <- lapply(target_texts, function(s) strsplit(s, split = "")[[1]])
  input_characters <- sort(unique(unlist(input_texts)))
  target_characters <- sort(unique(unlist(target_texts)))
  num_encoder_tokens <- length(input_characters)
  num_decoder_tokens <- length(target_characters)
  max_encoder_seq_length <- max(sapply(input_texts, length))
  max_decoder_seq_length <- max(sapply(target_texts, length))
  target_token_index <- 1:length(target_characters)
  names(target_token_index) <- target_characters
  encoder_input_data <- array(0, dim = c(length(input_texts), max_encoder_seq_length, num_encoder_tokens))
  decoder_input_data <- array(0, dim = c(length(input_texts), max_decoder_seq_length, num_decoder_tokens))
  decoder_target_data <- array(0, dim = c(length(input_texts), max_decoder_seq_length, num_decoder_tokens))
  for (i in 1:length(input_texts)) {
    d1 <- sapply(input_characters, function(x) as.integer(x == input_texts[[i]]))
    encoder_input_data[i, 1:nrow(d1), ] <- d1
    d2 <- sapply(target_characters, function(x) as.integer(x == target_texts[[i]]))
    decoder_input_data[i, 1:nrow(d2), ] <- d2
    d3 <- sapply(target_characters, function(x) as.integer(x == target_texts[[i]][-1]))
    decoder_target_data[i, 1:nrow(d3), ] <- d3
  }
  latent_dim <- 16
  # The example's model, as written.
  encoder_inputs <- layer_input(shape = list(NULL, num_encoder_tokens))
  encoder <- layer_lstm(units = latent_dim, return_state = TRUE)
  encoder_results <- encoder_inputs %>% encoder
  encoder_states <- encoder_results[2:3]
  decoder_inputs <- layer_input(shape = list(NULL, num_decoder_tokens))
  decoder_lstm <- layer_lstm(units = latent_dim, return_sequences = TRUE, return_state = TRUE, stateful = FALSE)
  decoder_results <- decoder_lstm(decoder_inputs, initial_state = encoder_states)
  decoder_dense <- layer_dense(units = num_decoder_tokens, activation = "softmax")
  decoder_outputs <- decoder_dense(decoder_results[[1]])
  model <- keras_model(inputs = list(encoder_inputs, decoder_inputs), outputs = decoder_outputs)
  model %>% compile(optimizer = "rmsprop", loss = "categorical_crossentropy")
  h <- model %>% fit(list(encoder_input_data, decoder_input_data), decoder_target_data,
                     batch_size = 4, epochs = 30, validation_split = 0.25, verbose = 0)
  expect_lt(h$metrics$loss[30], h$metrics$loss[1])
  # Inference, as written.
  encoder_model <- keras_model(encoder_inputs, encoder_states)
  decoder_state_input_h <- layer_input(shape = latent_dim)
  decoder_state_input_c <- layer_input(shape = latent_dim)
  decoder_states_inputs <- c(decoder_state_input_h, decoder_state_input_c)
  decoder_results <- decoder_lstm(decoder_inputs, initial_state = decoder_states_inputs)
  decoder_states <- decoder_results[2:3]
  decoder_outputs <- decoder_dense(decoder_results[[1]])
  decoder_model <- keras_model(inputs = c(decoder_inputs, decoder_states_inputs),
                               outputs = c(decoder_outputs, decoder_states))
  reverse_target_char_index <- as.character(target_characters)
  decode_sequence <- function(input_seq) {
    states_value <- predict(encoder_model, input_seq, verbose = 0)
    target_seq <- array(0, dim = c(1, 1, num_decoder_tokens))
    target_seq[1, 1, target_token_index["\t"]] <- 1.
    stop_condition <- FALSE
    decoded <- integer()
    niter <- 1
    while (!stop_condition && niter < max_decoder_seq_length) {
      decoder_predict <- predict(decoder_model, c(list(target_seq), states_value), verbose = 0)
      output_tokens <- decoder_predict[[1]]
      sampled_token_index <- which.max(output_tokens[1, 1, ])
      decoded <- c(decoded, sampled_token_index)
      if (reverse_target_char_index[sampled_token_index] == "\n") stop_condition <- TRUE
      target_seq[1, 1, ] <- 0
      target_seq[1, 1, sampled_token_index] <- 1.
      states_value <- list(decoder_predict[[2]], decoder_predict[[3]])
      niter <- niter + 1
    }
    decoded
  }
  for (seq_index in 1:3) {
    input_seq <- encoder_input_data[seq_index, , , drop = FALSE]
    decoded <- decode_sequence(input_seq)
    expect_gt(length(decoded), 0)
    # The full model, fed the decoded tokens (teacher forcing), picks the same token at each step.
    dec_in <- array(0, c(1, length(decoded), num_decoder_tokens))
    dec_in[1, 1, target_token_index["\t"]] <- 1
    for (k in seq_along(decoded)[-1]) dec_in[1, k, decoded[[k - 1]]] <- 1
    full <- predict(model, list(input_seq, dec_in), verbose = 0)
    expect_equal(apply(full[1, , , drop = FALSE], 2, which.max), decoded, info = seq_index)
  }
})
