# Every loss and metric rkeras offers, on the same targets and predictions as Keras 3
# (oracle/keras_losses.py): losses per sample, metrics as Keras's metric objects report them
# after one update (plain and sample-weighted), to 1e-6 (relative above 1, absolute below).

withr::local_seed(11)
n <- 12
softmax_rows <- function(z) exp(z) / rowSums(exp(z))
probs <- softmax_rows(matrix(rnorm(n * 3), n))
logits <- matrix(rnorm(n * 3, sd = 2), n)
ids <- sample(0:2, n, TRUE)
onehot <- diag(3)[ids + 1, ]
labels01 <- matrix(rbinom(n * 3, 1, 0.5), n)
reg_y <- matrix(runif(n * 3, 0.1, 2), n)
reg_p <- matrix(runif(n * 3, 0.05, 2.5), n)
signed <- matrix(sample(c(-1, 1), n * 3, TRUE), n)
weights <- round(runif(n, 0.2, 2), 2)
# Probabilities near the thresholds of AUC's buckets, precision and recall.
scores <- matrix(round(runif(n * 3), 3), n)

# name, rkeras's function and arguments, Keras's class and arguments, y, p.
loss_cases <- list(
  list("categorical_crossentropy", loss_categorical_crossentropy, list(), "CategoricalCrossentropy", list(), onehot, probs),
  list("cce logits smoothing", loss_categorical_crossentropy, list(from_logits = TRUE, label_smoothing = 0.1),
       "CategoricalCrossentropy", list(from_logits = TRUE, label_smoothing = 0.1), onehot, logits),
  list("sparse_categorical_crossentropy", loss_sparse_categorical_crossentropy, list(), "SparseCategoricalCrossentropy", list(), ids, probs),
  list("binary_crossentropy", loss_binary_crossentropy, list(label_smoothing = 0.2), "BinaryCrossentropy", list(label_smoothing = 0.2), labels01, scores),
  list("mean_squared_error", loss_mean_squared_error, list(), "MeanSquaredError", list(), reg_y, reg_p),
  list("mean_absolute_error", loss_mean_absolute_error, list(), "MeanAbsoluteError", list(), reg_y, reg_p),
  list("mean_absolute_percentage_error", loss_mean_absolute_percentage_error, list(), "MeanAbsolutePercentageError", list(), reg_y, reg_p),
  list("mean_squared_logarithmic_error", loss_mean_squared_logarithmic_error, list(), "MeanSquaredLogarithmicError", list(), reg_y, reg_p),
  list("huber", loss_huber, list(), "Huber", list(), reg_y, reg_p),
  list("huber delta", loss_huber, list(delta = 0.3), "Huber", list(delta = 0.3), reg_y, reg_p),
  list("kl_divergence", loss_kullback_leibler_divergence, list(), "KLDivergence", list(), onehot * 0.8 + 0.05, probs),
  list("poisson", loss_poisson, list(), "Poisson", list(), reg_y, reg_p),
  list("log_cosh", loss_logcosh, list(), "LogCosh", list(), reg_y, reg_p),
  list("hinge 0/1", loss_hinge, list(), "Hinge", list(), labels01, logits),
  list("hinge -1/1", loss_hinge, list(), "Hinge", list(), signed, logits),
  list("squared_hinge", loss_squared_hinge, list(), "SquaredHinge", list(), labels01, logits),
  list("categorical_hinge", loss_categorical_hinge, list(), "CategoricalHinge", list(), onehot, logits),
  list("cosine_similarity", loss_cosine_similarity, list(), "CosineSimilarity", list(), reg_y, logits)
)

# name, rkeras's function and arguments, Keras's metric class and arguments, y, p.
metric_cases <- list(
  list("binary_accuracy", metric_binary_accuracy, list(threshold = 0.4), "BinaryAccuracy", list(threshold = 0.4), labels01, scores),
  list("categorical_accuracy", metric_categorical_accuracy, list(), "CategoricalAccuracy", list(), onehot, probs),
  list("sparse_categorical_accuracy", metric_sparse_categorical_accuracy, list(), "SparseCategoricalAccuracy", list(), ids, probs),
  list("top_k_categorical_accuracy", metric_top_k_categorical_accuracy, list(k = 2), "TopKCategoricalAccuracy", list(k = 2), onehot, probs),
  list("sparse_top_k_categorical_accuracy", metric_sparse_top_k_categorical_accuracy, list(k = 1),
       "SparseTopKCategoricalAccuracy", list(k = 1), ids, probs),
  list("mean_absolute_error", metric_mean_absolute_error, list(), "MeanAbsoluteError", list(), reg_y, reg_p),
  list("mean_squared_error", metric_mean_squared_error, list(), "MeanSquaredError", list(), reg_y, reg_p),
  list("root_mean_squared_error", metric_root_mean_squared_error, list(), "RootMeanSquaredError", list(), reg_y, reg_p),
  list("cosine_similarity", metric_cosine_similarity, list(), "CosineSimilarity", list(), reg_y, logits),
  list("binary_crossentropy", metric_binary_crossentropy, list(from_logits = TRUE), "BinaryCrossentropy", list(from_logits = TRUE), labels01, logits),
  list("categorical_crossentropy", metric_categorical_crossentropy, list(label_smoothing = 0.1),
       "CategoricalCrossentropy", list(label_smoothing = 0.1), onehot, probs),
  list("sparse_categorical_crossentropy", metric_sparse_categorical_crossentropy, list(), "SparseCategoricalCrossentropy", list(), ids, probs),
  list("mean_absolute_percentage_error", metric_mean_absolute_percentage_error, list(), "MeanAbsolutePercentageError", list(), reg_y, reg_p),
  list("mean_squared_logarithmic_error", metric_mean_squared_logarithmic_error, list(), "MeanSquaredLogarithmicError", list(), reg_y, reg_p),
  list("hinge", metric_hinge, list(), "Hinge", list(), labels01, logits),
  list("squared_hinge", metric_squared_hinge, list(), "SquaredHinge", list(), signed, logits),
  list("categorical_hinge", metric_categorical_hinge, list(), "CategoricalHinge", list(), onehot, logits),
  list("logcosh", metric_logcosh_error, list(), "LogCoshError", list(), reg_y, reg_p),
  list("poisson", metric_poisson, list(), "Poisson", list(), reg_y, reg_p),
  list("kl_divergence", metric_kullback_leibler_divergence, list(), "KLDivergence", list(), onehot * 0.8 + 0.05, probs),
  list("precision", metric_precision, list(), "Precision", list(), labels01, scores),
  list("precision thresholds", metric_precision, list(thresholds = 0.3), "Precision", list(thresholds = 0.3), labels01, scores),
  list("precision top_k", metric_precision, list(top_k = 1), "Precision", list(top_k = 1L), labels01, scores),
  list("recall class_id", metric_recall, list(class_id = 1), "Recall", list(class_id = 1L), labels01, scores),
  list("recall top_k thresholds", metric_recall, list(top_k = 2, thresholds = 0.4), "Recall", list(top_k = 2L, thresholds = 0.4), labels01, scores),
  list("auc", metric_auc, list(), "AUC", list(), labels01, scores),
  list("auc PR", metric_auc, list(curve = "PR"), "AUC", list(curve = "PR"), labels01, scores),
  list("auc PR minoring", metric_auc, list(curve = "PR", summation_method = "minoring", num_thresholds = 50),
       "AUC", list(curve = "PR", summation_method = "minoring", num_thresholds = 50L), labels01, scores),
  list("auc majoring logits", metric_auc, list(summation_method = "majoring", from_logits = TRUE),
       "AUC", list(summation_method = "majoring", from_logits = TRUE), labels01, logits)
)

keras_values <- function(cases) {
  py <- keras_python()
  req <- withr::local_tempfile(fileext = ".json")
  writeLines(rkeras:::to_json(list(cases = cases)), req)
  out <- suppressWarnings(system2(py, c(test_path("oracle", "keras_losses.py"), req), stdout = TRUE, stderr = FALSE))
  expect_null(attr(out, "status"))
  lapply(rkeras:::rk_json_parse(paste(out, collapse = ""))$ok$values, function(v) as.numeric(unlist(v)))
}

# Relative for values above 1, absolute below (float32's rounding of a value near 0 is
# large relative to it: Keras's and rkeras's cosine similarities of 0.0144 differ by 3e-8).
# Keras's value of each metric case, unweighted then weighted (odd and even entries).
keras_metric_values <- function() {
  keras_values(unlist(lapply(metric_cases, function(c) {
    base <- list(metric_class = c[[4]], args = c[[5]], y = flat_item(c[[6]]), p = flat_item(c[[7]]))
    list(base, c(base, list(sample_weight = I(weights))))
  }), recursive = FALSE))
}

expect_rel <- function(got, want, info, tol = 1e-6) {
  expect_equal(length(got), length(want), info = info)
  rel <- max(abs(got - want) / pmax(abs(want), 1))
  expect_true(rel < tol, info = sprintf("%s: largest relative difference %.3g (rkeras %s, Keras %s)", info, rel,
                                        paste(signif(got, 7), collapse = " "), paste(signif(want, 7), collapse = " ")))
}

test_that("every loss gives Keras 3's per-sample values", {
  want <- keras_values(lapply(loss_cases, function(c) list(loss = c[[4]], args = c[[5]], y = flat_item(c[[6]]), p = flat_item(c[[7]]))))
  for (i in seq_along(loss_cases)) {
    c <- loss_cases[[i]]
    got <- do.call(c[[2]], c(list(c[[6]], c[[7]]), c[[3]]))
    expect_rel(got, want[[i]], c[[1]])
  }
})

test_that("every metric gives Keras 3's value, unweighted and sample-weighted", {
  want <- keras_metric_values()
  for (i in seq_along(metric_cases)) {
    c <- metric_cases[[i]]
    per_sample <- do.call(c[[2]], c(list(c[[6]], c[[7]]), c[[3]]))
    if (length(per_sample) == 1) {
      # Confusion-matrix metrics: one value; the weighted one through compile() below.
      expect_rel(per_sample, want[[2 * i - 1]], c[[1]])
      next
    }
    mean_of <- function(w) sum(w * per_sample) / sum(w)
    if (c[[1]] == "root_mean_squared_error") mean_of <- function(w) sqrt(sum(w * per_sample) / sum(w))
    expect_rel(mean_of(rep(1, n)), want[[2 * i - 1]], c[[1]])
    expect_rel(mean_of(weights), want[[2 * i]], paste(c[[1]], "weighted"))
  }
})

test_that("in compile(), metrics are unweighted and weighted_metrics weighted, as Keras's", {
  want <- keras_metric_values()
  # A model whose output is its input (a linear layer with identity weights) scores the
  # cases' predictions as they are.
  for (i in seq_along(metric_cases)) {
    c <- metric_cases[[i]]
    p <- c[[7]]
    m <- keras_model_sequential() %>% layer_dense(ncol(p), input_shape = ncol(p), use_bias = FALSE)
    set_weights(m, list(diag(ncol(p))))
    sparse <- grepl("sparse", c[[1]])
    obj <- function(nm) do.call(c[[2]], c(c[[3]], list(name = nm)))
    m %>% compile(optimizer = "sgd", loss = if (sparse) loss_sparse_categorical_crossentropy(from_logits = TRUE) else "mse",
                  metrics = list(obj("m")), weighted_metrics = list(obj("m")))
    ev <- evaluate(m, p, c[[6]], sample_weight = weights, batch_size = n, verbose = 0)
    expect_named(ev, c("loss", "m", "weighted_m"))
    expect_rel(ev$m, want[[2 * i - 1]], paste(c[[1]], "in compile()"), tol = 1e-5)
    expect_rel(ev$weighted_m, want[[2 * i]], paste(c[[1]], "weighted, in compile()"), tol = 1e-5)
  }
})

test_that("loss_cosine_proximity (Keras 2's name) is cosine similarity, as a function and as a name", {
  y <- matrix(c(1, 0, 0.5, 2, 1, -1), 2)
  p <- matrix(c(0.5, 1, 1, 1, -2, 0.5), 2)
  expect_equal(loss_cosine_proximity(y, p), loss_cosine_similarity(y, p))
  m <- keras_model_sequential() %>% layer_dense(3, input_shape = 2)
  expect_no_error(m %>% compile(optimizer = "sgd", loss = "cosine_proximity"))
  expect_no_error(m %>% compile(optimizer = "sgd", loss = loss_cosine_proximity))
})
