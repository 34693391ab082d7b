# A call's `training` argument, as Keras's transfer-learning guide writes it
# (`base_model(x, training = FALSE)`): accepted and kept in Keras's JSON; as in Keras 3, whose
# fit(), evaluate() and predict() pass their own mode to every call, the base's batch
# normalization runs in inference mode while the base is frozen and in training mode once it
# is unfrozen. Checked against Keras 3's steps.

ta_arr <- function(shape, start) {
  n <- prod(shape)
  array_reshape(sin((seq_len(n) - 1) * 0.7 + start) * 1.5, shape)
}

ta_model <- function() {
  bi <- layer_input(6)
  base <- keras_model(bi, bi %>% layer_dense(4, activation = "relu") %>% layer_batch_normalization())
  base$trainable <- FALSE
  xin <- layer_input(6)
  model <- keras_model(xin, xin %>% base(training = FALSE) %>% layer_dense(1))
  w <- lapply(seq_along(get_weights(model)), function(i) {
    d <- dim(get_weights(model)[[i]]) %||% length(get_weights(model)[[i]])
    array_reshape(ta_arr(d, 2.0 + i - 1), d) * 0.5
  })
  w[[6]] <- abs(w[[6]]) + 0.5
  set_weights(model, w)
  list(base = base, model = model)
}

test_that("a base model called with training = FALSE trains frozen and fine-tunes as in Keras 3", {
  py <- keras_python()
  out <- suppressWarnings(system2(py, test_path("oracle", "keras_training_arg.py"), stdout = TRUE, stderr = FALSE))
  expect_null(attr(out, "status"))
  want <- jsonlite::fromJSON(paste(out, collapse = ""), simplifyVector = FALSE)
  m <- ta_model()
  model <- m$model
  x <- ta_arr(c(8, 6), 0.3)
  y <- ta_arr(c(8, 1), 0.5)
  model %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
  before <- get_weights(model)
  losses <- vapply(1:3, function(i) train_on_batch(model, x, y), 1)
  # Frozen: only the head changed.
  expect_identical(get_weights(model)[1:6], before[1:6])
  m$base$trainable <- TRUE
  model %>% compile(optimizer = optimizer_sgd(0.05), loss = "mse")
  losses <- c(losses, vapply(1:3, function(i) train_on_batch(model, x, y), 1))
  expect_equal(losses, unlist(want$losses), tolerance = 1e-5)
  got <- get_weights(model)
  for (i in seq_along(got)) {
    a <- got[[i]]
    v <- as.numeric(if (length(dim(a)) > 1) aperm(a, rev(seq_along(dim(a)))) else a)
    expect_equal(v, unlist(want$weights[[i]]), tolerance = 1e-5, info = i)
  }
  # Unfrozen, batch normalization ran in training mode and moved its statistics, as in Keras 3.
  expect_false(isTRUE(all.equal(got[5:6], before[5:6])))
  expect_equal(as.numeric(predict(model, x, verbose = 0)), unlist(want$predict), tolerance = 1e-5)
})

test_that("the training argument is kept by JSON and saved files, and checked", {
  m <- ta_model()$model
  cfg <- jsonlite::fromJSON(model_to_json(m), simplifyVector = FALSE)$config$layers
  kw <- function(layers) unlist(lapply(layers, function(l) if (length(l$inbound_nodes)) l$inbound_nodes[[1]]$kwargs$training))
  # The base model is one layer of the model, and the call's argument is kept with it.
  expect_equal(kw(cfg), FALSE)
  m2 <- model_from_json(model_to_json(m))
  set_weights(m2, get_weights(m))
  x <- ta_arr(c(8, 6), 0.3); y <- ta_arr(c(8, 1), 0.5)
  for (mm in list(m, m2)) mm %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
  expect_equal(vapply(1:2, function(i) train_on_batch(m2, x, y), 1), vapply(1:2, function(i) train_on_batch(m, x, y), 1))
  f <- withr::local_tempfile(fileext = ".keras")
  save_model(m, f)
  m3 <- load_model(f)
  expect_equal(kw(jsonlite::fromJSON(model_to_json(m3), simplifyVector = FALSE)$config$layers), FALSE)
  # As in Keras 3, predict() runs every call in inference mode, whatever its argument.
  xin <- layer_input(4)
  drop <- keras_model(xin, layer_dropout(rate = 0.5)(xin, training = TRUE))
  expect_equal(predict(drop, matrix(1, 50, 4), verbose = 0), matrix(1, 50, 4))
  expect_error(layer_dense(units = 2)(xin, training = "no"), "training", class = "rkeras_error")
  expect_error(keras_model_sequential() %>% m(training = FALSE), "training", class = "rkeras_error_value")
})
