# timeseries_dataset_from_array(): the windows of Keras's documentation, and its checks.

test_that("windows start every sequence_stride steps and sample every sampling_rate, as Keras documents", {
  # Keras's first example: steps 0..98, sequence_length 10, sampling_rate 2, stride 3.
  ds <- timeseries_dataset_from_array(0:98, NULL, sequence_length = 10, sampling_rate = 2,
                                      sequence_stride = 3, batch_size = 7)
  batches <- lapply(seq_len(attr(ds, "steps")), function(i) ds()[[1]])
  x <- do.call(rbind, batches)
  expect_equal(nrow(x), 27)
  expect_equal(x[1, ], seq(0, 18, 2))
  expect_equal(x[2, ], seq(3, 21, 2))
  expect_equal(x[27, ], seq(78, 96, 2))
  expect_equal(dim(batches[[4]]), c(6, 10))
  # After a pass the generator starts over.
  expect_equal(ds()[[1]][1, ], seq(0, 18, 2))

  # Keras's second example: the value 10 steps after each window is its target.
  data <- 0:99
  ds <- timeseries_dataset_from_array(data[1:90], data[11:100], sequence_length = 10, batch_size = 100)
  b <- ds()
  expect_equal(dim(b[[1]]), c(81, 10))
  expect_equal(b[[1]][1, ], 0:9)
  expect_equal(b[[2]][1:3], 10:12)
  expect_equal(b[[2]][81], 90)

  # Matrices keep their features; start_index and end_index count steps from 0.
  m <- cbind(0:29, 100 + 0:29)
  ds <- timeseries_dataset_from_array(m, matrix(0:29 * 2, ncol = 1), sequence_length = 4, start_index = 5,
                                      end_index = 20, batch_size = 50)
  b <- ds()
  expect_equal(dim(b[[1]]), c(12, 4, 2))
  expect_equal(b[[1]][1, , 2], 105:108)
  expect_equal(b[[1]][12, , 1], 16:19)
  expect_equal(dim(b[[2]]), c(12, 1))
  expect_equal(b[[2]][, 1], (5:16) * 2)
})

test_that("shuffled windows follow seed, and the dataset feeds fit(), evaluate() and predict()", {
  a <- timeseries_dataset_from_array(1:50, 1:50, sequence_length = 5, batch_size = 8, shuffle = TRUE, seed = 3)
  b <- timeseries_dataset_from_array(1:50, 1:50, sequence_length = 5, batch_size = 8, shuffle = TRUE, seed = 3)
  first <- a()
  expect_identical(first, b())
  expect_false(identical(first[[1]][, 1], 1:8))
  # Each window keeps its target.
  expect_equal(first[[2]], first[[1]][, 1])
  x <- sin(seq(0, 20, length.out = 120))
  ds <- timeseries_dataset_from_array(x[1:110], x[11:120], sequence_length = 10, batch_size = 16)
  model <- keras_model_sequential(input_shape = 10) %>% layer_dense(1)
  model %>% compile(loss = "mse", optimizer = optimizer_sgd(0.05))
  h <- model %>% fit(ds, epochs = 3, verbose = 0)
  expect_length(h$metrics$loss, 3)
  expect_lt(h$metrics$loss[3], h$metrics$loss[1])
  expect_length(evaluate(model, ds, verbose = 0), 1)
  expect_equal(dim(predict(model, ds, verbose = 0)), c(101, 1))
})

test_that("timeseries_dataset_from_array() checks its arguments as Keras does", {
  expect_error(timeseries_dataset_from_array("a", NULL, 3), "`data`", class = "rkeras_error_type")
  expect_error(timeseries_dataset_from_array(1:10, "a", 3), "`targets`", class = "rkeras_error_type")
  expect_error(timeseries_dataset_from_array(1:10, NULL, 0), "`sequence_length`", class = "rkeras_error_value")
  expect_error(timeseries_dataset_from_array(1:10, NULL, 3, sampling_rate = 10), "`sampling_rate`", class = "rkeras_error_value")
  expect_error(timeseries_dataset_from_array(1:10, NULL, 3, sequence_stride = 12), "`sequence_stride`", class = "rkeras_error_value")
  expect_error(timeseries_dataset_from_array(1:10, NULL, 3, start_index = 10), "`start_index`", class = "rkeras_error_value")
  expect_error(timeseries_dataset_from_array(1:10, NULL, 3, start_index = 4, end_index = 4), "`end_index`", class = "rkeras_error_value")
  expect_error(timeseries_dataset_from_array(1:10, NULL, 11), "too short", class = "rkeras_error_value")
  expect_error(timeseries_dataset_from_array(1:10, NULL, 3, batch_size = NULL), "batch_size", class = "rkeras_error_unsupported")
  expect_error(timeseries_dataset_from_array(1:10, NULL, 3, foo = 1), "`foo`", class = "rkeras_error_value")
})
