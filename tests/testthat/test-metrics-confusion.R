# The counts of true and false positives and negatives, and the rates at a given rate
# (precision at recall, recall at precision, sensitivity at specificity, specificity at
# sensitivity), against Keras 3's results on the same targets and predictions; in training,
# the epoch's value is the metric over all of the epoch's predictions.

confusion_cases <- function() {
  list(
    true_positives = metric_true_positives(),
    false_positives_t = metric_false_positives(thresholds = 0.3),
    true_negatives = metric_true_negatives(),
    false_negatives_t = metric_false_negatives(thresholds = 0.7),
    precision_at_recall = metric_precision_at_recall(recall = 0.5),
    precision_at_recall_n = metric_precision_at_recall(recall = 0.8, num_thresholds = 50),
    recall_at_precision = metric_recall_at_precision(precision = 0.6, class_id = 1),
    sensitivity_at_specificity = metric_sensitivity_at_specificity(specificity = 0.5),
    specificity_at_sensitivity = metric_specificity_at_sensitivity(sensitivity = 0.7, num_thresholds = 1),
    specificity_at_sensitivity_c = metric_specificity_at_sensitivity(sensitivity = 0.4, num_thresholds = 20,
                                                                     class_id = 2)
  )
}

test_that("the count and rate-at-rate metrics give Keras 3's results", {
  out <- suppressWarnings(system2(keras_python(), test_path("oracle", "keras_confusion.py"),
                                  stdout = TRUE, stderr = FALSE))
  expect_null(attr(out, "status"))
  want <- jsonlite::fromJSON(paste(out, collapse = ""))
  y <- want$y
  p <- want$p
  cases <- confusion_cases()
  expect_setequal(names(cases), names(want$results))
  fns <- list(true_positives = metric_true_positives, false_positives_t = metric_false_positives,
              true_negatives = metric_true_negatives, false_negatives_t = metric_false_negatives)
  args <- list(false_positives_t = list(thresholds = 0.3), false_negatives_t = list(thresholds = 0.7))
  for (nm in names(fns)) {
    got <- do.call(fns[[nm]], c(list(y, p), args[[nm]]))
    expect_equal(got, want$results[[nm]], tolerance = 1e-6, info = nm)
  }
  rates <- list(
    precision_at_recall = function(y, p) metric_precision_at_recall(y, p, recall = 0.5),
    precision_at_recall_n = function(y, p) metric_precision_at_recall(y, p, recall = 0.8, num_thresholds = 50),
    recall_at_precision = function(y, p) metric_recall_at_precision(y, p, precision = 0.6, class_id = 1),
    sensitivity_at_specificity = function(y, p) metric_sensitivity_at_specificity(y, p, specificity = 0.5),
    specificity_at_sensitivity = function(y, p) metric_specificity_at_sensitivity(y, p, sensitivity = 0.7,
                                                                                   num_thresholds = 1),
    specificity_at_sensitivity_c = function(y, p) metric_specificity_at_sensitivity(y, p, sensitivity = 0.4,
                                                                                     num_thresholds = 20, class_id = 2)
  )
  for (nm in names(rates)) expect_equal(rates[[nm]](y, p), want$results[[nm]], tolerance = 1e-6, info = nm)
})

test_that("in training, the count and rate-at-rate metrics are taken over the whole epoch", {
  set.seed(2)
  x <- matrix(rnorm(60 * 4), 60)
  y <- matrix(as.numeric(runif(60 * 3) > 0.5), 60)
  model <- keras_model_sequential() %>% layer_dense(3, activation = "sigmoid", input_shape = 4)
  model %>% compile(optimizer = optimizer_sgd(0), loss = "binary_crossentropy",
                    metrics = list(metric_true_positives(), metric_false_positives(thresholds = 0.3),
                                   metric_true_negatives(), metric_precision_at_recall(recall = 0.5)))
  h <- model %>% fit(x, y, epochs = 1, batch_size = 16, verbose = 0)
  p <- predict(model, x, verbose = 0)
  expect_equal(h$metrics$true_positives, sum(y == 1 & p > 0.5))
  expect_equal(h$metrics$false_positives, sum(y == 0 & p > 0.3))
  expect_equal(h$metrics$precision_at_recall, metric_precision_at_recall(y, p, recall = 0.5), tolerance = 1e-6)
  ev <- evaluate(model, x, y, verbose = 0)
  expect_equal(ev[["true_negatives"]], sum(y == 0 & p <= 0.5))
  expect_error(metric_precision_at_recall(), "needs `recall`", class = "rkeras_error")
  expect_error(metric_recall_at_precision(precision = 2), "precision", class = "rkeras_error")
  expect_error(metric_true_positives(thresholds = "a"), "thresholds", class = "rkeras_error")
})
