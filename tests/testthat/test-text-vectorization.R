# layer_text_vectorization() against Keras 3's TextVectorization. Keras's layer needs
# TensorFlow, so oracle/keras_text_vectorization.py wrote fixtures/keras_text_vectorization.json
# once (Keras 3.15, TensorFlow 2.21); each case adapts to the same texts and vectorizes others.

test_that("vocabularies and outputs equal Keras's for every mode, standardization, split and n-grams", {
  fx <- read_json(test_path("fixtures", "keras_text_vectorization.json"))
  train <- unlist(fx$train)
  test <- unlist(fx$test)
  expect_gte(length(fx$cases), 14)
  for (case in fx$cases) {
    args <- case$args
    args$ngrams <- if (!is.null(args$ngrams)) unlist(args$ngrams)
    v <- do.call(layer_text_vectorization, args)
    adapt(v, train)
    expect_identical(get_vocabulary(v), as.character(unlist(case$vocabulary)), info = case$name)
    got <- v(test)
    want <- unflat(case$output)
    expect_equal(dim(got), dim(want), info = case$name)
    expect_equal(unname(got), unname(want), tolerance = 1e-6, info = case$name)
  }
})

test_that("a vectorized text trains a model, and the vocabulary can be given or read without special tokens", {
  texts <- c("good movie", "bad movie", "very good", "very bad", "good good", "bad bad")
  labels <- c(1, 0, 1, 0, 1, 0)
  v <- layer_text_vectorization(output_mode = "int", output_sequence_length = 3)
  adapt(v, texts)
  x <- v(texts)
  expect_type(x, "integer")
  m <- keras_model_sequential() %>% layer_embedding(length(get_vocabulary(v)), 4, input_length = 3) %>%
    layer_global_average_pooling_1d() %>% layer_dense(1, activation = "sigmoid")
  m %>% compile(optimizer = optimizer_adam(0.05), loss = "binary_crossentropy", metrics = "accuracy")
  h <- fit(m, x, labels, epochs = 30, verbose = 0)
  expect_equal(tail(h$metrics$accuracy, 1), 1)
  expect_lt(tail(h$metrics$loss, 1), h$metrics$loss[[1]])
  expect_equal(get_vocabulary(v, include_special_tokens = FALSE), c("good", "bad", "very", "movie"))
  w <- layer_text_vectorization(vocabulary = c("bad", "good"), output_mode = "multi_hot")
  expect_equal(w(c("good", "awful bad")), rbind(c(0, 0, 1), c(1, 1, 0)))
  t <- layer_text_vectorization(vocabulary = c("a", "b"), idf_weights = c(0.5, 2), output_mode = "tf_idf")
  expect_equal(t(c("a a b c")), rbind(c(1.25, 1, 2)))
})

test_that("text vectorization refuses what it cannot do, with errors naming the argument", {
  expect_error(layer_text_vectorization(output_mode = "one_hot"), "`output_mode`", class = "rkeras_error_value")
  expect_error(layer_text_vectorization(max_tokens = 1), "`max_tokens`", class = "rkeras_error_value")
  expect_error(layer_text_vectorization(output_mode = "count", output_sequence_length = 3), "only for",
               class = "rkeras_error_value")
  expect_error(layer_text_vectorization(ragged = TRUE), "defaults", class = "rkeras_error_unsupported")
  expect_error(layer_text_vectorization(layer_input(3)), "cannot take tensors", class = "rkeras_error_unsupported")
  expect_error(layer_text_vectorization(ngrams = 0), "`ngrams`", class = "rkeras_error_value")
  expect_error(layer_text_vectorization(maxtokens = 3), "`maxtokens`", class = "rkeras_error_value")
  v <- layer_text_vectorization()
  expect_error(adapt(v, 1:3), "`data` must be a character vector", class = "rkeras_error_type")
  expect_error(v(list("a")), "`x` must be a character vector", class = "rkeras_error_type")
  expect_error(adapt(keras_model_sequential(), "a"), "`object` must be a layer made by layer_normalization.., layer_discretization.., layer_integer_lookup.., layer_string_lookup.. or layer_text_vectorization",
               class = "rkeras_error_type")
  expect_error(set_vocabulary(v, c("a", "a")), "distinct", class = "rkeras_error_value")
  expect_error(layer_text_vectorization(vocabulary = "a", idf_weights = 1), "only for", class = "rkeras_error_value")
  s <- layer_text_vectorization(split = function(x) "one")
  expect_error(s(c("a", "b")), "`split` must return a list", class = "rkeras_error_value")
  expect_output(print(v), "text vectorization")
})

test_that("a text vectorization layer starts a Sequential model that takes texts", {
  texts <- c("good movie", "bad movie", "very good", "very bad", "good good", "bad bad")
  labels <- c(1, 0, 1, 0, 1, 0)
  v <- layer_text_vectorization(output_sequence_length = 3)
  adapt(v, texts)
  m <- keras_model_sequential() %>% v() %>% layer_embedding(6, 4) %>% layer_global_average_pooling_1d() %>%
    layer_dense(1, activation = "sigmoid")
  m %>% compile(optimizer = optimizer_adam(0.05), loss = "binary_crossentropy", metrics = "accuracy")
  h <- fit(m, texts, labels, epochs = 20, verbose = 0)
  expect_equal(tail(h$metrics$accuracy, 1), 1)
  # The same as the engine's layers given the vectorized texts.
  inner <- keras_model_sequential() %>% layer_embedding(6, 4) %>% layer_global_average_pooling_1d() %>%
    layer_dense(1, activation = "sigmoid")
  build_and_set <- function() { predict(inner, v(texts[1:2]), verbose = 0); set_weights(inner, get_weights(m)) }
  build_and_set()
  expect_equal(predict(m, c("good movie", "very bad"), verbose = 0), predict(inner, v(c("good movie", "very bad")), verbose = 0))
  expect_equal(evaluate(m, texts, labels, verbose = 0)$accuracy, 1)
  expect_output(summary(m, line_length = 100), "text_vectorization.*\\(TextVectorization\\) +\\(None, 3\\) +0")
  # Kept by saveRDS(); Keras's files have no place for it yet.
  f <- withr::local_tempfile(fileext = ".rds")
  saveRDS(m, f)
  expect_equal(predict(readRDS(f), texts, verbose = 0), predict(m, texts, verbose = 0))
  expect_error(save_model(m, withr::local_tempfile(fileext = ".keras")), "saveRDS", class = "rkeras_error_unsupported")
  expect_error(serialize_model(m), "saveRDS", class = "rkeras_error_unsupported")
  expect_error(predict(m, matrix(1, 2, 3), verbose = 0), "`x` must be texts", class = "rkeras_error_type")
  # Built as the model's first layer by the constructor, in a count mode.
  m3 <- keras_model_sequential() %>%
    layer_text_vectorization(output_mode = "multi_hot", vocabulary = c("good", "bad")) %>% layer_dense(1)
  expect_equal(dim(predict(m3, c("good", "bad news"), verbose = 0)), c(2L, 1L))
  expect_error(keras_model_sequential() %>% layer_dense(2, input_shape = 3) %>% v(), "before any other layer",
               class = "rkeras_error_unsupported")
  expect_error(keras_model_sequential() %>% layer_text_vectorization(), "output_sequence_length", class = "rkeras_error_value")
})

test_that("Keras 2's output_mode names \"binary\" and \"tf-idf\" are multi_hot and tf_idf", {
  texts <- c("a b c", "b c", "c d d")
  for (pair in list(c("binary", "multi_hot"), c("tf-idf", "tf_idf"))) {
    old <- layer_text_vectorization(output_mode = pair[[1]])
    new <- layer_text_vectorization(output_mode = pair[[2]])
    adapt(old, texts)
    adapt(new, texts)
    expect_equal(old(c("a d", "b")), new(c("a d", "b")), info = pair[[1]])
  }
})
