# Keras for R 3's operation names (op_*) with Keras 3's defaults, against Keras 3's keras.ops.

ops3_oracle <- function() {
  out <- suppressWarnings(system2(keras_python(), test_path("oracle", "keras_ops3.py"), stdout = TRUE, stderr = FALSE))
  expect_null(attr(out, "status"))
  jsonlite::fromJSON(paste(out, collapse = ""), simplifyVector = FALSE)
}

ops3_array <- function(v) {
  s <- unlist(v$shape)
  vals <- unlist(v$values)
  if (length(s) <= 1) return(vals)
  array_reshape(vals, s)
}

test_that("op_* functions give Keras 3's values under Keras 3's defaults", {
  want <- ops3_oracle()
  x <- ops3_array(want$x)
  y <- ops3_array(want$y)
  ids <- unlist(want$ids)
  got <- list(
    concatenate = op_concatenate(list(x, y)),
    stack = op_stack(list(x, y)),
    argmax_keep = op_argmax(x, axis = 2, keepdims = TRUE),
    argmin_last = op_argmin(x, axis = -1),
    hard_sigmoid = op_hard_sigmoid(x),
    silu = op_silu(x),
    leaky_relu = op_leaky_relu(x),
    relu6 = op_relu6(x * 3),
    elu = op_elu(x),
    log_softmax = op_log_softmax(x),
    softmax_first = op_softmax(x, axis = 1),
    one_hot = op_one_hot(ids, 5),
    `repeat` = op_repeat(x, 2, axis = 1),
    std = op_std(x, axis = 2, keepdims = TRUE),
    var_all = op_var(x),
    max_all = op_max(x),
    logsumexp = op_logsumexp(x, axis = 1),
    transpose = op_transpose(op_reshape(x, c(3, 2, 2)), axes = c(2, 1, 3)),
    mod = op_mod(x, 1.5),
    floor_divide = op_floor_divide(x, 1.5),
    where = op_where(op_greater(x, 0), x, y),
    clip = op_clip(x, -1, 1),
    tile = op_tile(x, c(2, 1)),
    expand_dims = op_expand_dims(x, 2),
    squeeze = op_squeeze(op_reshape(x, c(3, 1, 4))),
    matmul = op_matmul(x, op_transpose(y)),
    cce = op_categorical_crossentropy(op_one_hot(ids, 4), op_softmax(x)),
    scce_logits = op_sparse_categorical_crossentropy(ids, x, from_logits = TRUE),
    bce = op_binary_crossentropy(op_sigmoid(y), op_sigmoid(x))
  )
  expect_setequal(names(got), names(want$cases))
  for (nm in names(got)) {
    w <- want$cases[[nm]]
    g <- got[[nm]]
    expect_equal(as.numeric(dim(g) %||% if (length(g) > 1) length(g)), as.numeric(unlist(w$shape)), info = nm)
    v <- if (length(dim(g)) > 1) as.numeric(aperm(g, rev(seq_along(dim(g))))) else as.numeric(g)
    expect_equal(v, unlist(w$values), tolerance = 1e-5, info = nm)
  }
})

test_that("op_* functions record in layer_lambda() and are differentiated", {
  set.seed(3)
  x <- matrix(rnorm(40), 10)
  y <- matrix(rnorm(20), 10)
  input <- layer_input(4)
  h <- input %>% layer_dense(2, name = "d")
  out <- layer_lambda(h, function(t) op_add(op_silu(t), op_multiply(op_tanh(t), 0.5)))
  model <- keras_model(input, out)
  model %>% compile(optimizer = optimizer_sgd(0.05), loss = function(y_true, y_pred) op_mean(op_square(op_subtract(y_pred, y_true)), axis = -1))
  w0 <- get_weights(model)
  l <- vapply(1:5, function(i) train_on_batch(model, x, y), 1)
  expect_lt(l[[5]], l[[1]])
  z <- x %*% w0[[1]] + rep(w0[[2]], each = 10)
  p <- z / (1 + exp(-z)) + tanh(z) * 0.5
  expect_equal(l[[1]], mean((p - y)^2), tolerance = 1e-5)
})

test_that("op_* arguments rkeras cannot honour are errors", {
  x <- matrix(1:6, 2)
  expect_error(op_argmax(x), "not supported", class = "rkeras_error")
  expect_error(op_max(x, initial = 0), class = "rkeras_error")
  expect_error(op_one_hot(c(0, 1), 3, sparse = TRUE), "not supported", class = "rkeras_error")
  expect_error(op_where(x > 2), "not supported", class = "rkeras_error")
  expect_error(op_round(x, decimals = 2), "not supported", class = "rkeras_error")
  expect_error(op_repeat(x, 2), "not supported", class = "rkeras_error")
})
