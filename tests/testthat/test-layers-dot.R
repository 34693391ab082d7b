# layer_dot() over inputs of any rank, with `axes` counted as Keras counts them and
# `normalize`, against Keras 3's outputs and training steps.

dot_arr <- function(shape, start) {
  n <- prod(shape)
  array_reshape(sin((seq_len(n) - 1) * 0.7 + start) * 1.5, shape)
}

test_that("layer_dot() gives Keras 3's outputs and training steps for every rank, axes and normalize", {
  py <- keras_python()
  out <- suppressWarnings(system2(py, test_path("oracle", "keras_dot.py"), stdout = TRUE, stderr = FALSE))
  expect_null(attr(out, "status"))
  want <- jsonlite::fromJSON(paste(out, collapse = ""), simplifyVector = FALSE)
  cases <- list(
    rank2 = list(c(3, 4), c(3, 4), 1, FALSE),
    rank2_normalized = list(c(3, 4), c(3, 4), -1, TRUE),
    rank3_last = list(c(2, 3, 4), c(2, 5, 4), 2, FALSE),
    pair = list(c(2, 5, 2), c(2, 2, 5), c(1, 2), FALSE),
    pair_normalized = list(c(2, 5, 3), c(2, 4, 5), c(1, -1), TRUE),
    mixed_rank = list(c(2, 4), c(2, 4, 3), c(1, 1), TRUE)
  )
  for (nm in names(cases)) {
    cs <- cases[[nm]]
    a <- layer_input(shape = cs[[1]][-1])
    b <- layer_input(shape = cs[[2]][-1])
    m <- keras_model(list(a, b), layer_dot(list(a, b), axes = cs[[3]], normalize = cs[[4]]))
    got <- predict(m, list(dot_arr(cs[[1]], 0.1), dot_arr(cs[[2]], 1.3)), verbose = 0)
    w <- want$forward[[nm]]
    expect_equal(dim(got) %||% length(got), unlist(w$shape), info = nm)
    expect_equal(as.numeric(aperm(got, rev(seq_along(dim(got))))), unlist(w$y), tolerance = 1e-5, info = nm)
  }
  # Training through a normalized dot: Keras's per-step losses and final weights.
  qa <- layer_input(c(3, 4))
  kb <- layer_input(c(5, 4))
  q <- qa %>% layer_dense(4, activation = "tanh")
  k <- kb %>% layer_dense(4)
  s <- layer_dot(list(q, k), axes = 2, normalize = TRUE)
  model <- keras_model(list(qa, kb), s %>% layer_flatten() %>% layer_dense(1))
  set_weights(model, lapply(seq_along(get_weights(model)), function(i) {
    d <- dim(get_weights(model)[[i]]) %||% length(get_weights(model)[[i]])
    dot_arr(d, 2.0 + i - 1) * 0.5
  }))
  model %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
  h <- model %>% fit(list(dot_arr(c(6, 3, 4), 0.3), dot_arr(c(6, 5, 4), 0.9)), dot_arr(c(6, 1), 0.5),
                     epochs = 3, batch_size = 6, shuffle = FALSE, verbose = 0)
  expect_equal(h$metrics$loss, unlist(want$training$losses), tolerance = 1e-5)
  final <- want$training$weights
  got <- lapply(get_weights(model), function(w) as.numeric(if (length(dim(w)) > 1) t(w) else w))
  for (i in seq_along(got)) expect_equal(got[[i]], unlist(final[[i]]), tolerance = 1e-4, info = i)
})

test_that("layer_dot() checks its axes", {
  a <- layer_input(c(3, 4))
  b <- layer_input(c(5, 4))
  expect_error(layer_dot(list(a, b), axes = 1), "different sizes", class = "rkeras_error")
  expect_error(layer_dot(list(a, b), axes = 3), "not a sample axis", class = "rkeras_error")
  expect_error(layer_dot(list(a, b), axes = 0), "non-zero", class = "rkeras_error")
  expect_equal(dim(layer_dot(a, b, axes = 2)), c(NA, 3L, 5L))
})
