# layer_string_lookup() against Keras 3's StringLookup (oracle/keras_preprocessing.py, which
# calls it on arrays: given and adapted vocabularies, special tokens, hashed out-of-vocabulary
# indices, invert, every output mode), its argument checks, and a model that starts with it.

string_cases <- function() {
  dir <- oracle_once("keras_preprocessing.py")
  cases <- read_json(file.path(dir, "strings.json"))
  expect_gt(length(cases), 10)
  cases
}

# Keras's row-major values as an R array (or vector) of `shape`.
keras_array <- function(values, shape) {
  values <- unlist(values)
  shape <- as.integer(unlist(shape))
  if (length(shape) == 1) return(values)
  aperm(array(values, rev(shape)), rev(seq_along(shape)))
}

test_that("layer_string_lookup() matches Keras 3: vocabularies, special tokens, hashed out-of-vocabulary indices, invert, every mode", {
  for (case in string_cases()) {
    args <- lapply(case$args, function(v) if (is.list(v)) unlist(v) else v)
    layer <- do.call(layer_string_lookup, args)
    if (!is.null(case$adapt)) {
      adapt(layer, do.call(rbind, lapply(case$adapt, unlist)))
    }
    expect_equal(get_vocabulary(layer), unlist(case$vocabulary), info = case$name)
    x <- keras_array(case$x$values, case$x$shape)
    got <- layer(x)
    want <- keras_array(case$output$values, case$output$shape)
    expect_equal(got, want, tolerance = 1e-6, info = case$name)
  }
})

test_that("layer_string_lookup() checks its arguments and data", {
  expect_error(layer_string_lookup(vocabulary = c("a", "a")), "repeats \"a\"", class = "rkeras_error_value")
  expect_error(layer_string_lookup(vocabulary = c("a", NA)), "`vocabulary`", class = "rkeras_error_value")
  expect_error(layer_string_lookup(vocabulary = c("a", "m"), mask_token = "m"), "mask token",
               class = "rkeras_error_value")
  expect_error(layer_string_lookup(vocabulary = letters, max_tokens = 5), "`max_tokens`",
               class = "rkeras_error_value")
  expect_error(layer_string_lookup(invert = TRUE, output_mode = "count"), "`invert", class = "rkeras_error_value")
  expect_error(layer_string_lookup(output_mode = "tf_idf", vocabulary = "a"), "idf_weights",
               class = "rkeras_error_value")
  expect_error(layer_string_lookup(encoding = "latin1"), "encoding", class = "rkeras_error_unsupported")
  expect_error(layer_string_lookup(sparse = TRUE), "sparse", class = "rkeras_error_unsupported")
  expect_error(layer_string_lookup(layer_input(2)), "`object`", class = "rkeras_error_unsupported")
  expect_error(layer_string_lookup(salt = 1:3), "`salt`", class = "rkeras_error_value")
  lookup <- layer_string_lookup(output_mode = "count")
  expect_error(lookup("a"), "needs a vocabulary", class = "rkeras_error_state")
  expect_error(adapt(lookup, 1:3), "`data`", class = "rkeras_error_type")
  expect_error(adapt(lookup, "[UNK]"), "no string", class = "rkeras_error_value")
  strict <- layer_string_lookup(vocabulary = c("a", "b"), num_oov_indices = 0)
  expect_equal(strict(c("b", "a")), c(1, 0))
  expect_error(strict(c("a", "c")), "\"c\" is not in its vocabulary", class = "rkeras_error_value")
  expect_error(strict(list("a")), "`x`", class = "rkeras_error_type")
  back <- layer_string_lookup(vocabulary = "a", invert = TRUE)
  expect_error(back("a"), "indices", class = "rkeras_error_type")
  vocab_file <- withr::local_tempfile(fileext = ".txt")
  writeLines(c("cat", "dog", ""), vocab_file, useBytes = TRUE)
  expect_equal(get_vocabulary(layer_string_lookup(vocabulary = vocab_file)), c("[UNK]", "cat", "dog"))
  set_vocabulary(lookup, c("x", "y"))
  expect_equal(get_vocabulary(lookup, include_special_tokens = FALSE), c("x", "y"))
})

test_that("a Sequential model can start with a string lookup layer: fit(), predict() and summary() take strings", {
  lookup <- layer_string_lookup(output_mode = "multi_hot")
  colours <- c("red", "green", "blue", "amber")
  x <- matrix(sample(colours, 120, replace = TRUE), 40)
  adapt(lookup, x)
  model <- keras_model_sequential() %>% lookup() %>% layer_dense(1)
  y <- as.numeric(rowSums(x == "red") > 0)
  model %>% compile(loss = "mse", optimizer = "adam")
  history <- model %>% fit(x, y, epochs = 2, verbose = 0)
  expect_length(history$metrics$loss, 2)
  expect_equal(dim(predict(model, x[1:3, ], verbose = 0)), c(3, 1))
  w <- get_weights(model)
  expect_equal(predict(model, x[1:3, ], verbose = 0), lookup(x[1:3, ]) %*% w[[1]] + as.numeric(w[[2]]), tolerance = 1e-5)
  expect_output(print(summary(model)), "StringLookup")
  expect_error(predict(model, matrix(1:6, 2), verbose = 0), "strings", class = "rkeras_error_type")
  expect_error(save_model(model, withr::local_tempfile(fileext = ".keras")), "layer_string_lookup")
  ids <- keras_model_sequential() %>% layer_string_lookup(vocabulary = colours) %>%
    layer_embedding(5, 2) %>% layer_flatten() %>% layer_dense(1)
  ids %>% compile(loss = "mse", optimizer = "sgd")
  ids %>% fit(x, y, epochs = 1, verbose = 0)
  expect_equal(dim(predict(ids, x, verbose = 0)), c(40, 1))
})
