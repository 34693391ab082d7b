# dataset_imdb(), dataset_reuters() and dataset_boston_housing() against Keras 3's
# load_data() on small files in the real files' format (oracle/keras_datasets.py), and the
# word indices; offline, with the files placed in the cache as a download would.

datasets_oracle <- local({
  dir <- NULL
  function() {
    if (is.null(dir)) {
      py <- keras_python()
      d <- tempfile("keras-datasets-")
      out <- suppressWarnings(system2(py, shQuote(c(test_path("oracle", "keras_datasets.py"), d)),
                                      stdout = TRUE, stderr = TRUE))
      if (!is.null(attr(out, "status"))) stop("oracle/keras_datasets.py failed:\n", paste(utils::tail(out, 20), collapse = "\n"))
      withr::defer(unlink(d, recursive = TRUE), envir = teardown_env())
      dir <<- d
    }
    dir
  }
})

as_seqs <- function(v) lapply(v, function(s) as.integer(unlist(s)))

test_that("the text datasets give Keras's sequences, labels and splits for every argument", {
  dir <- datasets_oracle()
  withr::local_envvar(KERAS_HOME = dir)
  withr::local_options(rkeras.verify_datasets = FALSE)
  want <- read_json(file.path(dir, "expected.json"))
  got <- list(
    imdb_default = dataset_imdb(),
    imdb_words = dataset_imdb(num_words = 40, skip_top = 3, seed = 7),
    imdb_maxlen = dataset_imdb(maxlen = 12, start_char = NULL, oov_char = NULL, index_from = 2),
    reuters_default = dataset_reuters(),
    reuters_split = dataset_reuters(num_words = 30, test_split = 0.3, seed = 1, oov_char = NULL))
  for (case in names(got)) {
    w <- want[[case]]
    expect_identical(got[[case]]$train$x, as_seqs(w$x_train), info = case)
    expect_identical(got[[case]]$test$x, as_seqs(w$x_test), info = case)
    expect_equal(got[[case]]$train$y, as.integer(unlist(w$y_train)), info = case)
    expect_equal(got[[case]]$test$y, as.integer(unlist(w$y_test)), info = case)
  }
  for (case in c("boston_default", "boston_split")) {
    b <- if (case == "boston_default") dataset_boston_housing() else dataset_boston_housing(test_split = 0.25, seed = 5)
    w <- want[[case]]
    expect_equal(b$train$x, unflat(w$x_train), info = case)
    expect_equal(b$test$x, unflat(w$x_test), info = case)
    expect_equal(b$train$y, unlist(w$y_train), info = case)
    expect_equal(b$test$y, unlist(w$y_test), info = case)
  }
  wi <- dataset_imdb_word_index()
  expect_equal(wi$the, 1L)
  expect_equal(wi[["caf\u00e9"]], 4L)
  expect_equal(length(dataset_reuters_word_index()), 4)
  # The IMDB tutorial's pipeline on it.
  c(c(train_data, train_labels), c(test_data, test_labels)) %<-% dataset_imdb(num_words = 50)
  x <- pad_sequences(train_data, maxlen = 16)
  expect_equal(dim(x), c(length(train_data), 16L))
  model <- keras_model_sequential() %>% layer_embedding(50, 4) %>% layer_global_average_pooling_1d() %>%
    layer_dense(1, activation = "sigmoid")
  model %>% compile(optimizer = "adam", loss = "binary_crossentropy", metrics = "accuracy")
  expect_length(fit(model, x, train_labels, epochs = 2, verbose = 0)$metrics$loss, 2)
})

test_that("object arrays that are not lists of integers, and foreign pickles, are refused", {
  evil <- c(as.raw(c(0x93)), charToRaw("NUMPY"), as.raw(c(1, 0)), as.raw(c(70, 0)),
            charToRaw(formatC("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", width = -69)), as.raw(10),
            as.raw(c(0x80, 0x02)), charToRaw("cos\nsystem\n"), as.raw(c(0x58, 2, 0, 0, 0)), charToRaw("ls"),
            as.raw(c(0x85, 0x52, 0x2e)))
  expect_error(rkeras:::rk_call(rkeras:::rk_npy_integer_lists(evil)), "os.system", class = "rkeras_error")
  expect_error(rkeras:::rk_call(rkeras:::rk_npy_integer_lists(evil[1:90])), class = "rkeras_error")
  expect_error(dataset_imdb(num_words = 0), "num_words")
  expect_error(dataset_reuters(test_split = 2), "test_split")
})

test_that("pad_sequences() and the tokenizer agree with Keras", {
  py <- keras_python()
  dir <- withr::local_tempdir()
  code <- c(
    "import os, json, sys", "os.environ.setdefault('KERAS_BACKEND', 'jax')",
    "from keras.utils import pad_sequences",
    "from keras.src.legacy.preprocessing.text import Tokenizer",
    "s = [[1, 2, 3, 4, 5], [6, 7], [], [8, 9, 10]]",
    "out = {'pre': pad_sequences(s, maxlen=3).tolist(), 'post': pad_sequences(s, maxlen=3, padding='post', truncating='post', value=-1).tolist(), 'none': pad_sequences(s).tolist(), 'float': pad_sequences(s, dtype='float32', value=0.5).tolist()}",
    "texts = ['The cat sat on the mat.', 'The dog ate my homework!', 'A cat, a dog; the end', '']",
    "t = Tokenizer(num_words=6, oov_token='<oov>'); t.fit_on_texts(texts)",
    "out['word_index'] = t.word_index; out['seq'] = t.texts_to_sequences(['the cat ate the unknown word'])",
    "for m in ['binary', 'count', 'tfidf', 'freq']: out[m] = t.texts_to_matrix(texts, mode=m).tolist()",
    "u = Tokenizer(char_level=True, lower=False); u.fit_on_texts(['aAb', 'bc']); out['chars'] = u.word_index",
    sprintf("json.dump(out, open(%s, 'w'))", deparse(file.path(dir, "out.json"))))
  writeLines(code, file.path(dir, "t.py"))
  res <- suppressWarnings(system2(py, shQuote(file.path(dir, "t.py")), stdout = TRUE, stderr = TRUE))
  expect_null(attr(res, "status"), info = paste(res, collapse = "\n"))
  k <- read_json(file.path(dir, "out.json"))
  mat <- function(x) do.call(rbind, lapply(x, function(r) as.numeric(unlist(r))))
  s <- list(1:5, 6:7, integer(), 8:10)
  expect_equal(pad_sequences(s, maxlen = 3), mat(k$pre))
  expect_equal(pad_sequences(s, maxlen = 3, padding = "post", truncating = "post", value = -1), mat(k$post))
  expect_equal(pad_sequences(s), mat(k$none))
  expect_equal(pad_sequences(s, dtype = "float32", value = 0.5), mat(k$float))
  expect_type(pad_sequences(s), "integer")
  texts <- c("The cat sat on the mat.", "The dog ate my homework!", "A cat, a dog; the end", "")
  tok <- text_tokenizer(num_words = 6, oov_token = "<oov>")
  fit_text_tokenizer(tok, texts)
  expect_equal(tok$word_index, lapply(k$word_index, as.integer))
  expect_equal(texts_to_sequences(tok, "the cat ate the unknown word"), lapply(k$seq, function(v) as.integer(unlist(v))))
  for (m in c("binary", "count", "tfidf", "freq")) {
    expect_equal(texts_to_matrix(tok, texts, mode = m), mat(k[[m]]), tolerance = 1e-7, info = m)
  }
  u <- text_tokenizer(char_level = TRUE, lower = FALSE)
  fit_text_tokenizer(u, c("aAb", "bc"))
  expect_equal(u$word_index, lapply(k$chars, as.integer))
  expect_error(pad_sequences(list(1:3, "a")), "sequences\\[\\[2\\]\\]")
  expect_error(pad_sequences(1:3), "list of numeric vectors")
  expect_error(pad_sequences(s, maxlen = -1), "maxlen")
  expect_error(texts_to_sequences(tok, NA_character_), "texts")
  expect_error(sequences_to_matrix(text_tokenizer(), list(1:3)), "num_words")
})
