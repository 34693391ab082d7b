# Keras 2's text and sequence tools, checked against Keras's own (keras.src.legacy.preprocessing).

tt_texts <- c("The cat sat on the mat.", "The dog ate my homework!!  Twice...", "Hello,world;  a-b c\tD")

test_that("text_to_word_sequence(), make_sampling_table(), skipgrams() and sequences_to_texts() match Keras", {
  py <- keras_python()
  out <- suppressWarnings(system2(py, test_path("oracle", "keras_text_tools.py"), stdout = TRUE, stderr = FALSE))
  expect_null(attr(out, "status"))
  want <- jsonlite::fromJSON(paste(out, collapse = ""), simplifyVector = FALSE)
  chr <- function(x) lapply(x, function(v) as.character(unlist(v)))
  expect_equal(lapply(tt_texts, text_to_word_sequence), chr(want$words))
  expect_equal(lapply(tt_texts, text_to_word_sequence, filters = ".!", lower = FALSE), chr(want$words_custom))
  expect_equal(lapply(tt_texts, text_to_word_sequence, split = "a"), chr(want$words_split))
  expect_equal(make_sampling_table(10), unlist(want$table_10), tolerance = 1e-12)
  expect_equal(make_sampling_table(50, sampling_factor = 1e-3), unlist(want$table_50), tolerance = 1e-12)
  s <- c(1, 2, 0, 3, 4, 5, 2, 0, 0, 6)
  sg <- skipgrams(s, 7, window_size = 2, negative_samples = 0, shuffle = FALSE)
  expect_equal(lapply(sg$couples, as.integer), lapply(want$skipgrams$couples, function(v) as.integer(unlist(v))))
  expect_equal(unlist(sg$labels), as.integer(unlist(want$skipgrams$labels)))
  sg <- skipgrams(s, 7, window_size = 1, negative_samples = 0, shuffle = FALSE, categorical = TRUE)
  expect_equal(lapply(sg$couples, as.integer), lapply(want$skipgrams_cat$couples, function(v) as.integer(unlist(v))))
  expect_equal(lapply(sg$labels, as.integer), lapply(want$skipgrams_cat$labels, function(v) as.integer(unlist(v))))
  seqs <- list(c(1, 2, 3, 9, 4), c(5, 6, 30), c(2, 2, 1))
  for (case in list(list("plain"), list("num_words", num_words = 4), list("oov", oov_token = "<unk>"),
                    list("oov_num_words", oov_token = "<unk>", num_words = 5))) {
    tok <- do.call(text_tokenizer, case[-1]) %>% fit_text_tokenizer(tt_texts)
    expect_equal(sequences_to_texts(tok, seqs), unlist(want[[paste0("texts_", case[[1]])]]), info = case[[1]])
  }
})

test_that("skipgrams()'s negative pairs and shuffling follow the definition and the seed", {
  s <- c(3, 1, 4, 1, 5, 9, 2, 6)
  pos <- skipgrams(s, 10, window_size = 2, negative_samples = 0, shuffle = FALSE)
  sg <- skipgrams(s, 10, window_size = 2, negative_samples = 1.5, seed = 7)
  expect_identical(sg, skipgrams(s, 10, window_size = 2, negative_samples = 1.5, seed = 7))
  labels <- unlist(sg$labels)
  n_pos <- length(pos$labels)
  expect_equal(sum(labels == 1), n_pos)
  expect_equal(sum(labels == 0), floor(n_pos * 1.5))
  neg <- do.call(rbind, sg$couples[labels == 0])
  # A negative pair: a word of the positive pairs with a random word index from 1 to 9.
  expect_true(all(neg[, 1] %in% s) && all(neg[, 2] >= 1 & neg[, 2] <= 9))
  # The shuffled positive pairs are the unshuffled ones.
  key <- function(p) sort(vapply(p, paste, "", collapse = "-"))
  expect_equal(key(sg$couples[labels == 1]), key(pos$couples))
  # A sampling table of zeros keeps no word.
  expect_length(skipgrams(s, 10, sampling_table = rep(0, 10))$couples, 0)
  expect_error(skipgrams(c(1, -2), 10), "sequence", class = "rkeras_error")
  expect_error(skipgrams(s, 10, negative_samples = -1), "negative_samples", class = "rkeras_error")
  expect_error(make_sampling_table(0), "size", class = "rkeras_error")
  expect_error(text_to_word_sequence(c("a", "b")), "text", class = "rkeras_error")
  expect_error(sequences_to_texts(text_tokenizer(), list("a")), "sequences", class = "rkeras_error")
})

test_that("text_hashing_trick() and text_one_hot() hash words as Keras 2 does", {
  # Python: [int(hashlib.md5(w.encode()).hexdigest(), 16) % (n - 1) + 1 for w in words]
  text <- "The cat sat on the mat. \u00c9"
  expect_equal(text_hashing_trick(text, 20, hash_function = "md5"), c(17L, 4L, 13L, 16L, 17L, 9L, 1L))
  expect_equal(text_hashing_trick(text, 7, hash_function = "md5"), c(6L, 3L, 1L, 1L, 6L, 5L, 2L))
  # Keras's default, Python's hash(), changes from session to session; rkeras's FarmHash
  # fingerprint does not, and keeps the indices in 1..n-1 with equal words equal.
  ids <- text_one_hot(text, 1000)
  expect_equal(ids, text_hashing_trick(text, 1000))
  expect_true(all(ids >= 1 & ids <= 999))
  expect_equal(ids[1], ids[5])
  expect_equal(text_one_hot(text = "a b", n = 5), text_one_hot("a b", 5))
  expect_equal(text_hashing_trick("a bb", 10, hash_function = nchar), c(2L, 3L))
  expect_identical(text_hashing_trick(NA, 5), NA_integer_)
  expect_length(text_hashing_trick("", 5), 0)
  expect_error(text_hashing_trick("a", 1), "`n`", class = "rkeras_error_value")
  expect_error(text_hashing_trick("a", 5, hash_function = "sha1"), "`hash_function`", class = "rkeras_error_value")
  expect_error(text_hashing_trick("a", 5, hash_function = function(w) "x"), "whole number",
               class = "rkeras_error_value")
  expect_error(text_one_hot("a", 5, text = "b"), "not both", class = "rkeras_error_value")
})
