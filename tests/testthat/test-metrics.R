# Metric objects with arguments in compile(), as Keras for R passes them, checked against
# Keras 3's metric functions.

test_that("metric objects: binary accuracy's threshold as Keras 3 applies it, names in the logs", {
  py <- keras_python()
  withr::local_seed(4)
  y <- matrix(c(1, 0, 1, 1, 0, 0, 1, 0), 4)
  p <- matrix(c(0.3, -0.2, 1.5, 0.1, -1, 0.4, -0.3, 0.0), 4)
  req <- withr::local_tempfile(fileext = ".json")
  writeLines(rkeras:::to_json(list(cases = list(
    list(metric = "binary_accuracy", args = list(threshold = 0), y = flat_item(y), p = flat_item(p)),
    list(metric = "binary_accuracy", args = list(threshold = 0.35), y = flat_item(y), p = flat_item(p))))), req)
  out <- suppressWarnings(system2(py, c(test_path("oracle", "keras_losses.py"), req), stdout = TRUE, stderr = FALSE))
  want <- rkeras:::rk_json_parse(paste(out, collapse = ""))$ok$values
  # Keras returns each value's hit (its metric object averages them); per sample, their mean.
  keras_rows <- function(v) rowMeans(matrix(as.numeric(unlist(v)), nrow(y), byrow = TRUE))
  expect_equal(metric_binary_accuracy(y, p, threshold = 0), keras_rows(want[[1]]))
  expect_equal(metric_binary_accuracy(y, p, threshold = 0.35), keras_rows(want[[2]]))

  # In compile(): a logits output scored with threshold 0, logged under the object's name.
  x <- matrix(rnorm(160), 40)
  yb <- matrix(as.numeric(x[, 1] + x[, 2] > 0), 40)
  m <- keras_model_sequential() %>% layer_dense(1, input_shape = 4)
  m %>% compile(loss = loss_binary_crossentropy(from_logits = TRUE), optimizer = "sgd",
                metrics = list(metric_binary_accuracy(threshold = 0), metric_binary_accuracy(name = "acc_half")))
  h <- fit(m, x, yb, epochs = 1, verbose = 0)
  expect_named(h$metrics, c("loss", "binary_accuracy", "acc_half"))
  z <- predict(m, x, verbose = 0)
  ev <- evaluate(m, x, yb, verbose = 0)
  expect_equal(ev$binary_accuracy, mean(yb == (z > 0)), tolerance = 1e-6)
  expect_equal(ev$acc_half, mean(yb == (z > 0.5)), tolerance = 1e-6)
  # The other accuracies as objects.
  m2 <- keras_model_sequential() %>% layer_dense(3, activation = "softmax", input_shape = 4)
  m2 %>% compile(loss = "sparse_categorical_crossentropy", optimizer = "adam",
                 metrics = metric_sparse_categorical_accuracy())
  h2 <- fit(m2, x, sample(0:2, 40, TRUE), epochs = 1, verbose = 0)
  expect_named(h2$metrics, c("loss", "sparse_categorical_accuracy"))
  expect_error(metric_categorical_accuracy(threshold = 0.2), "`threshold`", class = "rkeras_error_value")
  expect_error(metric_binary_accuracy(threshold = "a"), "`threshold`", class = "rkeras_error_value")
})
