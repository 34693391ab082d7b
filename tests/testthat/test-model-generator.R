make_raw <- function(n = 200, seed = 3) {
  withr::with_seed(seed, list(x = array(sample(0:255, n * 36, TRUE), c(n, 6, 6)), y = array(sample(0:2, n, TRUE))))
}

sampling_generator <- function(x, y, batch_size) {
  function() {
    inSample <- sample(1:nrow(x), batch_size)
    x.sample <- x[inSample, , ]
    x.sample <- x.sample / 255
    x.sample <- array_reshape(x.sample, c(length(inSample), 36))
    y.sample <- to_categorical(y[inSample], 3)
    return(list(x.sample, y.sample))
  }
}

gen_model <- function() {
  model <- keras_model_sequential() %>%
    layer_dense(16, activation = "relu", input_shape = 36) %>%
    layer_dropout(0.2) %>%
    layer_dense(3, activation = "softmax")
  model %>% compile(loss = "categorical_crossentropy", optimizer = optimizer_rmsprop(), metrics = "accuracy")
  model
}

test_that("the seed's generator pattern trains with fit_generator", {
  raw <- make_raw()
  model <- gen_model()
  valid.set <- sampling_generator(raw$x, raw$y, batch_size = nrow(raw$x))()
  calls <- 0
  g <- sampling_generator(raw$x, raw$y, batch_size = 16)
  counted <- function() { calls <<- calls + 1; g() }
  hist <- model %>% fit_generator(counted, steps_per_epoch = 5, epochs = 3, verbose = 0,
                                  validation_data = valid.set, validation_steps = 1)
  expect_named(hist$metrics, c("loss", "accuracy", "val_loss", "val_accuracy"))
  expect_equal(hist$params$steps, 5L)
  expect_gte(calls, 15)
  expect_lte(calls, 16)
  h2 <- model %>% fit(sampling_generator(raw$x, raw$y, 16), steps_per_epoch = 2, epochs = 1, verbose = 0)
  expect_length(h2$metrics$loss, 1)
})

test_that("fit_generator() and friends warn once per session that they are deprecated, as Keras for R 2.x does", {
  cache <- rkeras:::rk_cache
  fns <- c("fit_generator", "evaluate_generator", "predict_generator")
  old <- mget(paste0("warned_", fns), envir = cache)
  on.exit(for (k in names(old)) assign(k, old[[k]], envir = cache))
  for (fn in fns) assign(paste0("warned_", fn), NULL, envir = cache)
  raw <- make_raw()
  model <- gen_model()
  g <- sampling_generator(raw$x, raw$y, batch_size = 16)
  # fit(), evaluate() and predict() given a generator do not warn.
  expect_no_warning(model %>% fit(g, steps_per_epoch = 2, epochs = 1, verbose = 0))
  expect_no_warning(model %>% evaluate(g, steps = 2))
  expect_no_warning(model %>% predict(g, steps = 2))
  expect_warning(model %>% fit_generator(g, steps_per_epoch = 2, verbose = 0),
                 "`fit_generator` is deprecated. Use `fit` instead, it now accept generators.", fixed = TRUE)
  expect_no_warning(model %>% fit_generator(g, steps_per_epoch = 2, verbose = 0))
  expect_warning(model %>% evaluate_generator(g, steps = 2), "`evaluate_generator` is deprecated", fixed = TRUE)
  expect_warning(model %>% predict_generator(g, steps = 2), "`predict_generator` is deprecated",
                 fixed = TRUE)
  expect_no_warning(model %>% predict_generator(g, steps = 2))
})

test_that("overlap on and off give identical training", {
  raw <- make_raw()
  run <- function(overlap) {
    withr::local_options(rkeras.overlap = overlap)
    set.seed(11)
    model <- gen_model()
    h <- model %>% fit_generator(sampling_generator(raw$x, raw$y, 16), steps_per_epoch = 4, epochs = 2, verbose = 0)
    list(h$metrics, get_weights(model))
  }
  expect_identical(run(TRUE), run(FALSE))
})

test_that("a validation generator is drawn validation_steps times", {
  raw <- make_raw()
  model <- gen_model()
  n <- 0
  vg <- function() { n <<- n + 1; sampling_generator(raw$x, raw$y, 10)() }
  model %>% fit_generator(sampling_generator(raw$x, raw$y, 16), steps_per_epoch = 2, epochs = 2,
                          validation_data = vg, validation_steps = 3, verbose = 0)
  expect_equal(n, 6)
})

test_that("bad generator output stops training with an error naming the step", {
  raw <- make_raw()
  good <- sampling_generator(raw$x, raw$y, 8)
  after <- function(k, bad) { i <- 0; function() { i <<- i + 1; if (i == k) bad() else good() } }
  cases <- list(
    not_list = function() "oops",
    wrong_length = function() list(1),
    row_mismatch = function() { b <- good(); list(b[[1]], b[[2]][1:3, ]) },
    features = function() { b <- good(); list(b[[1]][, 1:5], b[[2]]) },
    na = function() { b <- good(); b[[1]][2, 3] <- NA; b },
    inf = function() { b <- good(); b[[1]][1, 1] <- Inf; b },
    non_numeric = function() { b <- good(); list(matrix("a", 8, 36), b[[2]]) }
  )
  for (nm in names(cases)) {
    model <- gen_model()
    err <- expect_error(model %>% fit_generator(after(3, cases[[nm]]), steps_per_epoch = 5, verbose = 0),
                        class = "rkeras_error_generator", label = nm)
    expect_match(conditionMessage(err), "step 3", label = nm)
    expect_equal(dim(predict(model, good()[[1]], verbose = 0)), c(8L, 3L))
  }
  # Where the bad value is, in x; and bad values in y or in integer x.
  model <- gen_model()
  na_at <- function() { b <- good(); b[[1]][7, 30] <- NaN; b }
  expect_error(model %>% fit_generator(na_at, steps_per_epoch = 2, verbose = 0),
               "non-finite value in x \\(row 7, column 30\\)", class = "rkeras_error_generator")
  bad_y <- function() { b <- good(); b[[2]][8, 3] <- -Inf; b }
  expect_error(model %>% fit_generator(bad_y, steps_per_epoch = 2, verbose = 0),
               "non-finite value in y", class = "rkeras_error_generator")
  int_na <- function() { b <- good(); x <- matrix(1L, 8, 36); x[8, 36] <- NA; list(x, b[[2]]) }
  expect_error(model %>% fit_generator(int_na, steps_per_epoch = 2, verbose = 0),
               "row 8, column 36", class = "rkeras_error_generator")
  sparse <- keras_model_sequential() %>% layer_dense(3, activation = "softmax", input_shape = 36, name = "probs")
  sparse %>% compile(loss = "sparse_categorical_crossentropy", optimizer = "sgd")
  bad_label <- function() list(good()[[1]], rep(7, 8))
  expect_snapshot(sparse %>% fit_generator(bad_label, steps_per_epoch = 2, verbose = 0), error = TRUE)
})

test_that("an error inside the generator propagates intact and the model keeps the last step", {
  raw <- make_raw()
  good <- sampling_generator(raw$x, raw$y, 8)
  # No dropout, so that the same three steps can be replayed with train_on_batch().
  model <- keras_model_sequential() %>%
    layer_dense(16, activation = "relu", input_shape = 36) %>%
    layer_dense(3, activation = "softmax")
  model %>% compile(loss = "categorical_crossentropy", optimizer = optimizer_rmsprop(), metrics = "accuracy")
  replay <- clone_model(model, keep_weights = TRUE)
  replay %>% compile(loss = "categorical_crossentropy", optimizer = optimizer_rmsprop(), metrics = "accuracy")
  i <- 0
  drawn <- list()
  gen <- function() {
    i <<- i + 1
    if (i == 4) stop("disk on fire")
    b <- good()
    drawn[[i]] <<- b
    b
  }
  expect_error(model %>% fit_generator(gen, steps_per_epoch = 10, verbose = 0), "disk on fire")
  # Batches 1-3 were drawn; steps 1-3 completed (step 3 finishes before the error returns):
  # the weights are those of three steps on exactly those batches.
  expect_length(drawn, 3)
  for (b in drawn) train_on_batch(replay, b[[1]], b[[2]])
  expect_equal(get_weights(model), get_weights(replay), tolerance = 1e-6)
  h <- model %>% fit_generator(good, steps_per_epoch = 2, verbose = 0)
  expect_true(is.finite(h$metrics$loss))
})

test_that("evaluate and predict generators stack steps x batch rows", {
  raw <- make_raw()
  model <- gen_model()
  g <- sampling_generator(raw$x, raw$y, 8)
  p <- predict_generator(model, g, steps = 3)
  expect_equal(dim(p), c(24L, 3L))
  p2 <- predict(model, function() list(g()[[1]]), steps = 2)
  expect_equal(dim(p2), c(16L, 3L))
  s <- evaluate_generator(model, g, steps = 3)
  expect_named(s, c("loss", "accuracy"))
  s2 <- evaluate(model, g, steps = 2)
  expect_named(s2, c("loss", "accuracy"))
  # Deterministic data: evaluate_generator equals evaluate on the same rows.
  fixed <- good_fixed <- list(array_reshape(raw$x[1:10, , ] / 255, c(10, 36)), to_categorical(raw$y[1:10], 3))
  s3 <- evaluate_generator(model, function() fixed, steps = 2)
  s4 <- evaluate(model, fixed[[1]], fixed[[2]], verbose = 0)
  # Same rows, same tiled forward pass: the same figures up to the order of the sums.
  expect_equal(s3$loss, s4$loss, tolerance = 1e-12)
  expect_equal(s3$accuracy, s4$accuracy)
})

test_that("steps_per_epoch is required and workers are accepted", {
  model <- gen_model()
  g <- sampling_generator(make_raw()$x, make_raw()$y, 8)
  expect_error(fit_generator(model, g), class = "rkeras_error")
  expect_silent(fit_generator(model, g, steps_per_epoch = 1, workers = 4, max_queue_size = 3, verbose = 0))
})

test_that("the non-finite check finds a bad value anywhere and only then", {
  for (n in c(1, 15, 16, 17, 40)) {
    for (i in seq_len(n)) {
      for (bad in list(NA_real_, NaN, Inf, -Inf)) {
        x <- seq_len(n) / 3
        x[i] <- bad
        expect_true(rkeras:::has_nonfinite(x), label = sprintf("n %d, position %d", n, i))
      }
    }
    expect_false(rkeras:::has_nonfinite(seq_len(n) / 3 - 1e300))
  }
  expect_false(rkeras:::has_nonfinite(c(.Machine$double.xmax, .Machine$double.xmax)))
  expect_true(rkeras:::has_nonfinite(c(1L, NA)))
  expect_false(rkeras:::has_nonfinite(1:40))
  expect_true(rkeras:::has_nonfinite(c(TRUE, NA)))
  expect_false(rkeras:::has_nonfinite(numeric(0)))
})

test_that("fit() given a generator refuses what only applies to in-memory data", {
  raw <- make_raw()
  model <- gen_model()
  g <- sampling_generator(raw$x, raw$y, 8)
  expect_error(fit(model, g, steps_per_epoch = 2, verbose = 0, sample_weight = rep(1, 8)),
               "`sample_weight` cannot be given with a generator", class = "rkeras_error")
  expect_error(fit(model, g, steps_per_epoch = 2, verbose = 0, validation_split = 0.2),
               "`validation_split` cannot be used with a generator", class = "rkeras_error")
  expect_error(fit(model, g, steps_per_epoch = 2, verbose = 0, batch_size = 8),
               "`batch_size` cannot be given with a generator", class = "rkeras_error")
  h <- fit(model, g, steps_per_epoch = 2, epochs = 2, verbose = 0)
  expect_length(h$metrics$loss, 2)
})
