# text_dataset_from_directory(): Keras's indexing, labels, splits and max_length; training on it.

make_text_folder <- function() {
  dir <- withr::local_tempdir(.local_envir = parent.frame())
  texts <- list(neg = c("a dull, slow film", "awful acting", "boring"), pos = c("a great film", "wonderful acting"))
  for (cls in names(texts)) {
    dir.create(file.path(dir, cls))
    for (i in seq_along(texts[[cls]])) writeLines(texts[[cls]][[i]], file.path(dir, cls, sprintf("%d.txt", i)))
  }
  writeLines("not a text file", file.path(dir, "pos", "notes.md"))
  dir
}

test_that("text_dataset_from_directory() reads the .txt files with their classes, in Keras's order", {
  dir <- make_text_folder()
  ds <- text_dataset_from_directory(dir, batch_size = 10, shuffle = FALSE, verbose = FALSE)
  expect_equal(attr(ds, "class_names"), c("neg", "pos"))
  b <- ds()
  expect_equal(b[[1]], c("a dull, slow film\n", "awful acting\n", "boring\n", "a great film\n", "wonderful acting\n"))
  expect_equal(b[[2]], c(0L, 0L, 0L, 1L, 1L))
  expect_output(print(ds), "5 files, 2 classes, 1 batches")
  cut <- text_dataset_from_directory(dir, batch_size = 10, shuffle = FALSE, max_length = 4, label_mode = "categorical",
                                     verbose = FALSE)()
  expect_equal(cut[[1]][1:2], c("a du", "awfu"))
  expect_equal(dim(cut[[2]]), c(5, 2))
  unlabelled <- text_dataset_from_directory(dir, labels = NULL, batch_size = 2, shuffle = FALSE, verbose = FALSE)
  expect_length(unlabelled(), 1)
  # A split with a seed: the two subsets share no file and hold all of them.
  both <- text_dataset_from_directory(dir, validation_split = 0.4, subset = "both", seed = 3, verbose = FALSE)
  files <- lapply(both, attr, "file_paths")
  expect_equal(lengths(files), c(3, 2))
  expect_setequal(unlist(files), list.files(dir, pattern = "txt$", recursive = TRUE, full.names = TRUE))
  expect_message(text_dataset_from_directory(dir), "Found 5 files belonging to 2 classes")
})

test_that("a model that starts with text vectorization trains on a text dataset", {
  dir <- make_text_folder()
  ds <- text_dataset_from_directory(dir, batch_size = 2, seed = 1, label_mode = "binary", verbose = FALSE)
  vectorize <- layer_text_vectorization(max_tokens = 20, output_sequence_length = 4)
  adapt(vectorize, c("a dull slow film", "awful acting", "boring", "a great film", "wonderful acting"))
  model <- keras_model_sequential() %>% vectorize() %>% layer_embedding(20, 4) %>%
    layer_global_average_pooling_1d() %>% layer_dense(1, activation = "sigmoid")
  model %>% compile(loss = "binary_crossentropy", optimizer = "adam")
  h <- model %>% fit(ds, epochs = 2, verbose = 0)
  expect_length(h$metrics$loss, 2)
  expect_equal(dim(predict(model, ds, verbose = 0)), c(5, 1))
})

test_that("text_dataset_from_directory() refuses what it cannot read", {
  dir <- make_text_folder()
  empty <- withr::local_tempdir()
  expect_error(text_dataset_from_directory(empty, verbose = FALSE), "No text files found", class = "rkeras_error_value")
  expect_error(text_dataset_from_directory(file.path(empty, "nope")), "`directory`", class = "rkeras_error_io")
  expect_error(text_dataset_from_directory(dir, max_length = 0), "`max_length`", class = "rkeras_error_value")
  expect_error(text_dataset_from_directory(dir, label_mode = "sparse"), "`label_mode`", class = "rkeras_error_value")
  expect_error(text_dataset_from_directory(dir, validation_split = 0.2, subset = "training"), "`seed`",
               class = "rkeras_error_value")
  expect_error(text_dataset_from_directory(dir, foo = 1), "`foo`", class = "rkeras_error_value")
})
