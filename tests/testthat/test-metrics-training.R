# Metrics in fit() and evaluate(): which are weighted, metrics written in R, the batches they
# see (shuffle, validation_batch_size, validation_freq), and arguments that are refused.

# A model that does not learn (learning rate 0): its predictions are fixed, so every
# metric of a fit() can be recomputed in plain R from predict().
frozen_model <- function(metrics = NULL, weighted_metrics = NULL, units = 3, loss = "categorical_crossentropy") {
  m <- keras_model_sequential() %>% layer_dense(units, activation = "softmax", input_shape = 4)
  m %>% compile(optimizer = optimizer_sgd(0), loss = loss, metrics = metrics, weighted_metrics = weighted_metrics)
  m
}

test_that("metrics are unweighted and weighted_metrics weighted by class_weight and sample_weight, as in Keras", {
  withr::local_seed(3)
  x <- matrix(rnorm(200), 50)
  ids <- sample(0:2, 50, TRUE)
  y <- to_categorical(ids, 3)
  m <- frozen_model(metrics = "accuracy", weighted_metrics = list("accuracy", metric_categorical_crossentropy()))
  p <- predict(m, x, verbose = 0)
  hit <- as.numeric(max.col(p, "first") == ids + 1)
  cce <- -log(pmin(pmax(p[cbind(1:50, ids + 1)], 1e-7), 1 - 1e-7))
  cw <- list("0" = 1, "1" = 3, "2" = 0.5)
  h <- fit(m, x, y, epochs = 1, batch_size = 16, class_weight = cw, verbose = 0)
  w <- unlist(cw)[ids + 1]
  expect_named(h$metrics, c("loss", "accuracy", "weighted_accuracy", "categorical_crossentropy"))
  expect_equal(h$metrics$accuracy, mean(hit), tolerance = 1e-6)
  expect_equal(h$metrics$weighted_accuracy, sum(w * hit) / sum(w), tolerance = 1e-6)
  expect_equal(h$metrics$categorical_crossentropy, sum(w * cce) / sum(w), tolerance = 1e-5)
  # The loss is weighted and divided by the rows of each batch; the epoch's loss is the
  # mean of the batches' losses weighted by their rows (16, 16, 16, 2).
  batches <- split(1:50, (0:49) %/% 16)
  per_batch <- vapply(batches, function(r) sum(w[r] * cce[r]) / length(r), 1)
  expect_equal(h$metrics$loss, sum(per_batch * lengths(batches)) / 50, tolerance = 1e-5)
  sw <- runif(50)
  ev <- evaluate(m, x, y, sample_weight = sw, verbose = 0)
  expect_equal(ev$accuracy, mean(hit), tolerance = 1e-6)
  expect_equal(ev$weighted_accuracy, sum(sw * hit) / sum(sw), tolerance = 1e-6)
})

test_that("metrics written in R are averaged over samples as Keras's MeanMetricWrapper does", {
  withr::local_seed(4)
  x <- matrix(rnorm(160), 40)
  y <- to_categorical(sample(0:2, 40, TRUE), 3)
  per_sample <- function(y_true, y_pred) rowSums(abs(y_true - y_pred))
  per_batch <- function(y_true, y_pred) max(y_pred)
  m <- frozen_model(metrics = list("accuracy", custom_metric("l1", per_sample), top = per_batch, function(y_true, y_pred) 1),
                    weighted_metrics = list(custom_metric("l1", per_sample)))
  p <- predict(m, x, verbose = 0)
  sw <- runif(40)
  h <- fit(m, x, y, epochs = 1, batch_size = 16, shuffle = FALSE, sample_weight = sw, verbose = 0)
  expect_named(h$metrics, c("loss", "accuracy", "l1", "top", "custom_metric", "weighted_l1"))
  l1 <- rowSums(abs(y - p))
  expect_equal(h$metrics$l1, mean(l1), tolerance = 1e-5)
  expect_equal(h$metrics$weighted_l1, sum(sw * l1) / sum(sw), tolerance = 1e-5)
  # One value per batch counts once per row of its batch.
  b <- split(1:40, (0:39) %/% 16)
  expect_equal(h$metrics$top, sum(vapply(b, function(r) max(p[r, ]) * length(r), 1)) / 40, tolerance = 1e-6)
  expect_equal(h$metrics$custom_metric, 1)
  # The same in evaluate(), train_on_batch() and a validation set.
  ev <- evaluate(m, x, y, batch_size = 7, verbose = 0)
  expect_equal(ev$l1, mean(l1), tolerance = 1e-5)
  expect_equal(unname(train_on_batch(m, x, y))[3], mean(l1), tolerance = 1e-5)
  h2 <- fit(m, x, y, epochs = 1, batch_size = 16, validation_split = 0.25, verbose = 0)
  expect_equal(h2$metrics$val_l1, mean(l1[31:40]), tolerance = 1e-5)
  # With a generator as well.
  gen <- function() list(x[1:10, ], y[1:10, ])
  h3 <- fit(m, gen, steps_per_epoch = 2, epochs = 1, verbose = 0)
  expect_equal(h3$metrics$l1, mean(l1[1:10]), tolerance = 1e-5)
})

test_that("a metric written in R that fails or returns the wrong length is an error, and the model trains on", {
  x <- matrix(rnorm(40), 10)
  y <- to_categorical(rep(0:2, length.out = 10), 3)
  m <- frozen_model(metrics = list(bad = function(y_true, y_pred) stop("no good")))
  expect_error(fit(m, x, y, epochs = 1, verbose = 0), "Metric 'bad' failed: no good")
  m <- frozen_model(metrics = list(two = function(y_true, y_pred) c(1, 2)))
  expect_error(fit(m, x, y, epochs = 1, batch_size = 5, verbose = 0), "returned 2 values for a batch of 5", class = "rkeras_error_value")
  compile(m, optimizer = "sgd", loss = "categorical_crossentropy", metrics = "accuracy")
  expect_named(fit(m, x, y, epochs = 1, verbose = 0)$metrics, c("loss", "accuracy"))
  # A loss written in R is recorded on tensors; one that fails names itself.
  expect_error(compile(m, optimizer = "sgd", loss = function(y_true, y_pred) stop("no loss")), "no loss")
  compile(m, optimizer = "sgd", loss = function(y_true, y_pred) mean((y_true - y_pred)^2))
  expect_named(fit(m, x, y, epochs = 1, verbose = 0)$metrics, "loss")
  expect_error(custom_metric("m", 1), "`metric_fn` must be a function", class = "rkeras_error_type")
})

test_that("shuffle = TRUE draws a new order each epoch, 'batch' shuffles within batches, FALSE keeps the order", {
  withr::local_seed(5)
  x <- matrix(rnorm(30 * 4), 30)
  y <- matrix(seq_len(30), 30)
  seen <- new.env()
  seen$batches <- list()
  record <- custom_metric("rec", function(y_true, y_pred) {
    seen$batches[[length(seen$batches) + 1]] <- y_true[, 1]
    0
  })
  run <- function(shuffle) {
    seen$batches <- list()
    m <- frozen_model(metrics = list(record), units = 1, loss = "mse")
    fit(m, x, y, epochs = 2, batch_size = 8, shuffle = shuffle, verbose = 0)
    seen$batches
  }
  in_order <- split(1:30, (0:29) %/% 8)
  b <- run(FALSE)
  expect_equal(unname(b), unname(c(in_order, in_order)))
  b <- run("batch")
  expect_equal(lapply(b, sort), unname(c(in_order, in_order)))
  expect_false(identical(unname(b), unname(c(in_order, in_order))))
  b <- run(TRUE)
  epoch1 <- unlist(b[1:4])
  epoch2 <- unlist(b[5:8])
  expect_setequal(epoch1, 1:30)
  expect_setequal(epoch2, 1:30)
  expect_false(identical(epoch1, epoch2))
  expect_false(identical(epoch1, 1:30))
})

test_that("validation_batch_size and validation_freq are Keras's; other unknown arguments are errors", {
  x <- matrix(rnorm(120), 30)
  y <- to_categorical(rep(0:2, 10), 3)
  sizes <- new.env()
  sizes$n <- integer()
  rec <- custom_metric("rows", function(y_true, y_pred) {
    sizes$n <- c(sizes$n, nrow(y_true))
    0
  })
  m <- frozen_model(metrics = list(rec))
  h <- fit(m, x, y, epochs = 4, batch_size = 10, validation_split = 0.3, validation_batch_size = 4,
           validation_freq = 2, verbose = 0)
  expect_equal(h$metrics$val_loss[c(1, 3)], c(NA_real_, NA_real_))
  expect_true(all(is.finite(h$metrics$val_loss[c(2, 4)])))
  # Training batches of 10 and 10 + 1; validation (rows 22-30) in batches of 4, 4, 1.
  expect_equal(sizes$n, c(rep(c(10, 10, 1), 2), 4, 4, 1, rep(c(10, 10, 1), 2), 4, 4, 1))
  expect_error(fit(m, x, y, epocs = 3, verbose = 0), "fit\\(\\) got `epocs` it does not take", class = "rkeras_error_value")
  expect_error(evaluate(m, x, y, batchsize = 3, verbose = 0), "evaluate\\(\\) got `batchsize`", class = "rkeras_error_value")
  expect_error(predict(m, x, batchsize = 3), "predict\\(\\) got `batchsize`", class = "rkeras_error_value")
  expect_error(summary(m, positions = c(0.3, 0.6)), "summary\\(\\) got `positions`", class = "rkeras_error_value")
  expect_error(fit(m, function() list(x, y), steps_per_epoch = 1, validation_freq = 2, verbose = 0),
               "cannot be used with a generator", class = "rkeras_error_value")
})

test_that("a learning-rate schedule sets the rate callbacks read, cannot be set, and is saved with the model", {
  sched <- learning_rate_schedule_exponential_decay(0.1, decay_steps = 2, decay_rate = 0.5)
  m <- keras_model_sequential() %>% layer_dense(1, input_shape = 2)
  m %>% compile(optimizer = optimizer_sgd(sched), loss = "mse")
  x <- matrix(rnorm(20), 10)
  y <- matrix(rnorm(10), 10)
  rates <- numeric()
  cb <- callback_lambda(on_epoch_end = function(epoch, logs) rates <<- c(rates, rkeras:::current_lr(m)))
  fit(m, x, y, epochs = 3, batch_size = 5, verbose = 0, callbacks = list(cb))
  # Two steps an epoch: after epoch e, 2e steps were taken.
  expect_equal(rates, 0.1 * 0.5^(c(2, 4, 6) / 2), tolerance = 1e-6)
  expect_error(rkeras:::set_lr(m, 0.5), "follows a schedule")
  f <- withr::local_tempfile(fileext = ".keras")
  save_model(m, f)
  m2 <- load_model(f)
  expect_equal(m2$compiled$optimizer$schedule$engine, sched$engine)
  expect_equal(rkeras:::current_lr(m2), rates[[3]], tolerance = 1e-6)
  w <- get_weights(m)
  fit(m, x, y, epochs = 1, batch_size = 5, verbose = 0, shuffle = FALSE)
  fit(m2, x, y, epochs = 1, batch_size = 5, verbose = 0, shuffle = FALSE)
  expect_equal(get_weights(m2), get_weights(m), tolerance = 1e-6)
  expect_error(optimizer_sgd(sched, decay = 0.1), "`decay` cannot be combined", class = "rkeras_error_value")
  expect_error(learning_rate_schedule_piecewise_constant_decay(c(10, 5), c(1, 2, 3)), "`boundaries`")
  expect_error(learning_rate_schedule_piecewise_constant_decay(c(5, 10), c(1, 2)), "`values` must be 3")
  expect_error(learning_rate_schedule_exponential_decay(0.1, 10, 0.5, nme = "x"), "learning_rate_schedule_exponential_decay\\(\\) got `nme` it does not take")
})

test_that("initial_epoch on arrays runs the remaining epochs under their own numbers", {
  x <- matrix(rnorm(40), 10)
  y <- to_categorical(rep(0:1, 5), 2)
  m <- frozen_model(units = 2)
  seen <- integer()
  cb <- callback_lambda(on_epoch_begin = function(epoch, logs) seen <<- c(seen, epoch))
  h <- fit(m, x, y, epochs = 4, initial_epoch = 1, verbose = 0, callbacks = list(cb))
  expect_equal(seen, 1:3)
  expect_equal(lengths(h$metrics), c(loss = 3L))
  expect_equal(h$params$epochs, 4)
  expect_length(fit(m, x, y, epochs = 2, initial_epoch = 2, verbose = 0)$metrics$loss, 0)
})
