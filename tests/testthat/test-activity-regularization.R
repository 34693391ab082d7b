# activity_regularizer (on dense, convolutional, embedding and recurrent layers) and
# layer_activity_regularization(): the penalty of each call's output, per sample, added to the loss in
# training and evaluation, as Keras 3 adds it, checked against Keras 3's steps.

act_arr <- function(shape, start) {
  n <- prod(shape)
  array_reshape(sin((seq_len(n) - 1) * 0.7 + start) * 1.5, shape)
}

act_weights <- function(model) {
  w <- get_weights(model)
  lapply(seq_along(w), function(i) {
    d <- dim(w[[i]]) %||% length(w[[i]])
    array_reshape(act_arr(d, 2.0 + i - 1), d) * 0.5
  })
}

test_that("activity regularization gives Keras 3's training losses, evaluation, predictions and weights", {
  py <- keras_python()
  out <- suppressWarnings(system2(py, test_path("oracle", "keras_activity.py"), stdout = TRUE, stderr = FALSE))
  expect_null(attr(out, "status"))
  want <- jsonlite::fromJSON(paste(out, collapse = ""), simplifyVector = FALSE)
  x <- layer_input(4)
  dense <- keras_model(x, x %>%
    layer_dense(5, activation = "relu", activity_regularizer = regularizer_l1_l2(0.01, 0.02)) %>%
    layer_activity_regularization(l1 = 0.003, l2 = 0.05) %>%
    layer_dense(2, activity_regularizer = regularizer_l2(0.1)))
  xc <- layer_input(c(5, 3))
  conv <- keras_model(xc, xc %>%
    layer_conv_1d(2, 2, activation = "tanh", activity_regularizer = regularizer_l2(0.05)) %>%
    layer_flatten() %>% layer_dense(1))
  cases <- list(dense = list(dense, c(6, 4), c(6, 2)), conv = list(conv, c(6, 5, 3), c(6, 1)))
  for (nm in names(cases)) {
    m <- cases[[nm]][[1]]
    w <- want[[nm]]
    set_weights(m, act_weights(m))
    m %>% compile(optimizer = optimizer_sgd(0.05), loss = "mse")
    xs <- act_arr(cases[[nm]][[2]], 0.3)
    ys <- act_arr(cases[[nm]][[3]], 0.5)
    losses <- vapply(1:3, function(i) train_on_batch(m, xs, ys), 1)
    expect_equal(losses, unlist(w$losses), tolerance = 1e-5, info = nm)
    expect_equal(evaluate(m, xs, ys, batch_size = 4, verbose = 0)[["loss"]], w$evaluate, tolerance = 1e-5, info = nm)
    expect_equal(as.numeric(t(predict(m, xs, verbose = 0))), unlist(w$predict), tolerance = 1e-5, info = nm)
    got <- lapply(get_weights(m), function(a) as.numeric(if (length(dim(a)) > 1) aperm(a, rev(seq_along(dim(a)))) else a))
    for (i in seq_along(got)) expect_equal(got[[i]], unlist(w$weights[[i]]), tolerance = 1e-5, info = paste(nm, i))
  }
})

test_that("activity regularization is saved with the model and read back, and keeps the model off the dense plan", {
  withr::local_seed(3)
  m <- keras_model_sequential() %>%
    layer_dense(4, input_shape = 3, activity_regularizer = regularizer_l2(0.1)) %>%
    layer_activity_regularization(l1 = 0.2) %>%
    layer_dense(1)
  expect_equal(rkeras:::model_plan(m), "graph")
  cfg <- jsonlite::fromJSON(model_to_json(m), simplifyVector = FALSE)$config$layers
  expect_equal(cfg[[2]]$config$activity_regularizer$config$l2, 0.1)
  expect_equal(cfg[[3]]$class_name, "ActivityRegularization")
  expect_equal(cfg[[3]]$config$l1, 0.2)
  expect_null(cfg[[3]]$config$activity_regularizer)
  m2 <- model_from_json(model_to_json(m))
  set_weights(m2, get_weights(m))
  for (mm in list(m, m2)) mm %>% compile(optimizer = "sgd", loss = "mse")
  x <- matrix(rnorm(30), 10)
  y <- matrix(rnorm(10), 10)
  expect_equal(evaluate(m2, x, y, verbose = 0), evaluate(m, x, y, verbose = 0))
  # The penalty counts: without it the loss is lower.
  plain <- keras_model_sequential() %>% layer_dense(4, input_shape = 3) %>% layer_dense(1)
  set_weights(plain, get_weights(m))
  plain %>% compile(optimizer = "sgd", loss = "mse")
  expect_lt(evaluate(plain, x, y, verbose = 0)[["loss"]], evaluate(m, x, y, verbose = 0)[["loss"]])
  f <- withr::local_tempfile(fileext = ".keras")
  save_model(m, f)
  m3 <- load_model(f)
  m3 %>% compile(optimizer = "sgd", loss = "mse")
  expect_equal(evaluate(m3, x, y, verbose = 0), evaluate(m, x, y, verbose = 0))
  expect_error(layer_activity_regularization(l1 = -1), "l1", class = "rkeras_error")
  expect_error(layer_dense(units = 2, activity_regularizer = 0.1), "activity_regularizer", class = "rkeras_error_type")
})
