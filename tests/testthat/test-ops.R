# Operations on tensors (R's operators, math, `[` and the k_* functions), checked against
# Keras 3's keras.ops on the same inputs: each operation's value, and the gradients the
# engine's vector-Jacobian products give, against jax's; then a model with a layer_lambda()
# and a loss written in R trained as Keras trains it.

# The R expression of each case of oracle/keras_ops.py.
ops_cases <- list(
  exp = function(x) k_exp(x), log = function(x) log(x), sqrt = function(x) sqrt(x),
  square = function(x) k_square(x), abs = function(x) abs(x), sign = function(x) sign(x),
  sigmoid = function(x) k_sigmoid(x), hard_sigmoid = function(x) k_hard_sigmoid(x * 4),
  tanh = function(x) tanh(x), relu = function(x) k_relu(x), relu6 = function(x) k_relu(x * 8, max_value = 6),
  softplus = function(x) k_softplus(x), softsign = function(x) k_softsign(x), elu = function(x) k_elu(x),
  elu_alpha = function(x) k_elu(x, alpha = 0.5), sin = function(x) sin(x), cos = function(x) k_cos(x),
  log1p = function(x) log1p(x), expm1 = function(x) expm1(x), round = function(x) round(x * 3),
  floor = function(x) floor(x * 3), ceiling = function(x) ceiling(x * 3),
  add = function(x, y) x + y, sub = function(x, y) x - y, mul = function(x, y) x * y, div = function(x, y) x / y,
  pow = function(x, y) x^y, pow_scalar = function(x) k_pow(x, 3), maximum = function(x, y) k_maximum(x, y),
  minimum = function(x, y) k_minimum(x, y), mod = function(x, y) x %% y, floor_div = function(x, y) x %/% y,
  greater = function(x, y) x > y, less_equal = function(x, y) k_less_equal(x, y),
  switch = function(x, y) k_switch(x > 0, x, y),
  broadcast_vector = function(x, b) x + b, broadcast_matrix = function(x, c) x * c,
  sum_axis = function(x) k_sum(x, axis = 2), mean_keep = function(x) k_mean(x, axis = c(2, 3), keepdims = TRUE),
  mean_all = function(x) mean(x), max_axis = function(x) k_max(x, axis = -1), min_axis = function(x) k_min(x, axis = 2),
  prod_axis = function(x) k_prod(x, axis = 3), var_axis = function(x) k_var(x, axis = 3),
  std_axis = function(x) k_std(x, axis = 2), logsumexp = function(x) k_logsumexp(x, axis = 3),
  argmax = function(x) k_argmax(x, axis = 2), argmin = function(x) k_argmin(x),
  any = function(x) k_any(x > 0.8, axis = 3),
  softmax = function(x) k_softmax(x), softmax_axis2 = function(x) k_softmax(x, axis = 2),
  l2_normalize = function(x) k_l2_normalize(x, axis = 3), clip = function(x) k_clip(x, -0.5, 0.5),
  reshape = function(x) k_reshape(x, c(4, 15)), batch_flatten = function(x) k_batch_flatten(x),
  expand_dims = function(x) k_expand_dims(x, 2), expand_last = function(x) k_expand_dims(x),
  squeeze = function(c) k_squeeze(c, 2), permute = function(x) k_permute_dimensions(x, c(1, 3, 2)),
  transpose = function(x) k_transpose(x), concatenate = function(x, y) k_concatenate(list(x, y), axis = 2),
  concatenate_last = function(x, y) k_concatenate(list(x, y)), stack = function(x, y) k_stack(list(x, y), axis = 2),
  tile = function(x) k_tile(x, c(1, 2, 1)), `repeat` = function(x) k_repeat_elements(x, 2, axis = 3),
  slice = function(x) x[, 2:3, ], slice_drop = function(x) x[, 2, ], slice_negative = function(x) x[, , -1],
  one_hot = function(i) k_one_hot(i[, 1], 6), dot = function(x, w) k_dot(x, w),
  batch_dot = function(x, m) k_batch_dot(x, m, axes = c(3, 2)),
  binary_crossentropy = function(t, p) k_binary_crossentropy(t, p),
  binary_crossentropy_logits = function(t, p) k_binary_crossentropy(t, p, from_logits = TRUE),
  categorical_crossentropy = function(t, p) k_categorical_crossentropy(t, p),
  categorical_crossentropy_logits = function(t, p) k_categorical_crossentropy(t, p, from_logits = TRUE),
  sparse_categorical_crossentropy = function(t, p) k_sparse_categorical_crossentropy(t, p),
  compound = function(x, y) k_sum(k_exp(x) * k_tanh(y) - x / 2, axis = -1, keepdims = TRUE),
  reverse = function(x) k_reverse(x, c(2, 3)), repeat_2d = function(p) k_repeat(p, 3),
  gather = function(x) k_gather(x, c(3, 1, 3)), bias_add = function(x, b) k_bias_add(x, b),
  unstack = function(x) k_unstack(x, axis = 2)[[2]]
)

ops_oracle <- local({
  cached <- NULL
  function() {
    if (is.null(cached)) {
      out <- suppressWarnings(system2(keras_python(), test_path("oracle", "keras_ops.py"), stdout = TRUE, stderr = FALSE))
      expect_null(attr(out, "status"))
      cached <<- rkeras:::rk_json_parse(paste(out, collapse = ""))$ok
    }
    cached
  }
})

row_major <- function(item) list(values = as.numeric(unlist(item$values)), dim = as.double(unlist(item$shape)))

#' Record `f` on symbols of the inputs' shapes; its graph, run and differentiated by the engine
trace_case <- function(f, items) {
  tr <- rkeras:::new_trace(lapply(items, function(it) as.integer(unlist(it$shape))))
  out <- do.call(f, rkeras:::trace_inputs(tr))
  rkeras:::to_json(rkeras:::trace_graph(tr, list(out)))
}

test_that("operations give Keras 3's values and jax's gradients", {
  want <- ops_oracle()
  expect_setequal(names(ops_cases), names(want$cases))
  for (nm in names(ops_cases)) {
    case <- want$cases[[nm]]
    items <- lapply(unlist(case$inputs), function(i) want$inputs[[i]])
    graph <- trace_case(ops_cases[[nm]], items)
    ins <- lapply(items, row_major)
    vals <- lapply(ins, `[[`, "values")
    dims <- lapply(ins, `[[`, "dim")
    got <- rkeras:::rk_call(rkeras:::rk_op_eval(graph, vals, dims, 1))[[1]]
    expect_equal(as.numeric(got$dim), as.numeric(unlist(case$value$shape)), info = nm)
    expect_each_close(got$values, as.numeric(unlist(case$value$values)), 2e-5, info = nm)
    w <- row_major(case$weights)
    grads <- rkeras:::rk_call(rkeras:::rk_op_vjp(graph, vals, dims, list(w$values), list(w$dim)))
    for (k in seq_along(grads)) {
      expect_each_close(grads[[k]]$values, as.numeric(unlist(case$grads[[k]]$values)), 1e-4,
                        info = paste(nm, "gradient", k))
    }
  }
})

test_that("k_arange(), k_eye() and the reshaping functions on R arrays, and their bad arguments", {
  expect_equal(as.vector(k_arange(5)), 0:4)
  expect_equal(as.vector(k_arange(2, 10, 3)), c(2, 5, 8))
  expect_equal(as.vector(k_arange(5, 1, -2)), c(5, 3))
  expect_length(k_arange(3, 3), 0)
  expect_equal(k_eye(3), diag(3))
  expect_equal(k_eye(c(2, 3)), diag(1, 2, 3))
  x <- matrix(1:6, 2)
  expect_equal(k_reverse(x, 2), x[, 3:1])
  expect_equal(k_reverse(x, c(1, -1)), x[2:1, 3:1])
  expect_equal(dim(k_repeat(x, 4)), c(2, 4, 3))
  expect_equal(k_gather(x, c(2, 2, 1)), x[c(2, 2, 1), ])
  expect_equal(k_unstack(x, axis = 2), list(1:2, 3:4, 5:6), ignore_attr = TRUE)
  expect_equal(k_bias_add(x, c(10, 20, 30)), x + rep(c(10, 20, 30), each = 2))
  expect_error(k_arange(1, 5, 0), "step", class = "rkeras_error")
  expect_error(k_eye(0), "size", class = "rkeras_error")
  expect_error(k_gather(x, 3), "indices", class = "rkeras_error")
  expect_error(k_unstack(x, num = 3), "num", class = "rkeras_error")
  expect_error(k_bias_add(x, 1:2), "bias", class = "rkeras_error")
  expect_error(k_bias_add(x, 1:3, data_format = "channels_first"), "data_format", class = "rkeras_error")
  expect_error(k_repeat(array(1, c(2, 2, 2)), 2), "2-D", class = "rkeras_error")
  # On a model's tensors: the batch axis cannot be reversed or unstacked.
  input <- layer_input(shape = 3)
  expect_error(k_reverse(input, 1), "open size", class = "rkeras_error")
  expect_equal(k_int_shape(k_repeat(input, 2)), list(NULL, 2L, 3L))
})

test_that("tensor predicates, sizes, the image data format and Bernoulli draws", {
  input <- layer_input(shape = 3)
  expect_true(k_is_tensor(input))
  expect_true(k_is_keras_tensor(input %>% layer_dense(2)))
  expect_false(k_is_tensor(matrix(1:4, 2)))
  expect_false(k_is_sparse(input))
  expect_equal(k_dtype(input), "float32")
  expect_equal(k_count_params(k_zeros(c(3, 4))), 12)
  expect_equal(k_get_variable_shape(array(0, c(2, 3, 4))), list(2L, 3L, 4L))
  expect_error(k_count_params(input), "open size", class = "rkeras_error")
  expect_equal(k_image_data_format(), "channels_last")
  expect_error(k_set_image_data_format("channels_first"), "data_format", class = "rkeras_error")
  # Bernoulli draws: the probability p of a 1, reproducible with a seed.
  b <- k_random_bernoulli(c(200, 50), p = 0.3, seed = 4)
  expect_setequal(unique(as.vector(b)), c(0, 1))
  expect_equal(mean(b), 0.3, tolerance = 0.1)
  expect_equal(k_random_bernoulli(c(200, 50), p = 0.3, seed = 4), b)
  expect_true(all(k_random_binomial(c(3, 3), p = 1) == 1))
  expect_error(k_random_bernoulli(3, p = 2), "p", class = "rkeras_error")
  # In a recorded function, new draws for each batch (dropout written with operations).
  drop <- function(x) x * k_random_bernoulli(c(k_shape(x)[[1]], 3), p = 0.5) * 2
  model <- keras_model(input, layer_lambda(input, drop))
  set.seed(2)
  p <- predict(model, matrix(1, 400, 3), verbose = 0)
  expect_setequal(unique(as.vector(p)), c(0, 2))
  expect_equal(mean(p == 2), 0.5, tolerance = 0.1)
})

test_that("the k_* functions compute on arrays at once, as R arrays", {
  x <- matrix(c(1, -2, 3, 4, 5, -6), 2)
  expect_equal(k_sum(x, axis = 2), rowSums(x))
  expect_equal(k_mean(x, axis = 1), colMeans(x))
  expect_equal(k_abs(x), abs(x))
  expect_equal(k_max(x), 5)
  expect_equal(k_argmax(x), c(2, 1))
  expect_equal(k_concatenate(list(x, x), axis = 1), rbind(x, x))
  expect_equal(k_reshape(x, c(3, 2)), array_reshape(x, c(3, 2)))
  expect_equal(k_transpose(x), t(x))
  expect_equal(k_dot(x, t(x)), x %*% t(x), tolerance = 1e-6)
  expect_equal(k_expand_dims(x, 1), array(x, c(1, 2, 3)))
  expect_equal(k_one_hot(c(0, 2), 3), rbind(c(1, 0, 0), c(0, 0, 1)))
  expect_equal(k_constant(1:3), c(1, 2, 3))
  expect_equal(k_zeros(c(2, 2)), matrix(0, 2, 2))
  expect_equal(k_eval(k_ones_like(x)), x * 0 + 1)
  set.seed(3)
  a <- k_random_normal(c(2, 3))
  set.seed(3)
  expect_equal(k_random_normal(c(2, 3)), a)
  expect_equal(dim(a), c(2L, 3L))
  expect_equal(k_random_normal(4, seed = 5), k_random_normal(4, seed = 5))
  expect_true(all(k_random_uniform(100, 2, 3) >= 2))
  expect_equal(k_epsilon(), 1e-7)
  expect_equal(k_floatx(), "float32")
  expect_equal(k_int_shape(layer_input(shape = c(4, 2))), list(NULL, 4L, 2L))
  expect_equal(k_ndim(x), 2L)
})

test_that("operations on a model's tensors are layers of the model", {
  input <- layer_input(shape = 3)
  output <- (exp(input) * 2 + 1)[, 2:3]
  model <- keras_model(input, output)
  x <- matrix(c(0, 1, 2, -1, 0.5, 3), 2, byrow = TRUE)
  expect_equal(predict(model, x, verbose = 0), (exp(x) * 2 + 1)[, 2:3], tolerance = 1e-6)
  expect_equal(vapply(model$layers, function(l) l$name, ""), c("tf.exp", "tf.mul", "tf.add", "tf.take"))
  expect_true(all(vapply(model$layers, function(l) class(l)[[1]], "") == "rkeras_Lambda"))
  # Two model tensors meet in one operation.
  a <- layer_input(shape = 2)
  b <- layer_input(shape = 2)
  d <- a %>% layer_dense(2, name = "da")
  m2 <- keras_model(list(a, b), k_concatenate(list(d, b * b)) %>% layer_dense(1))
  m2 %>% compile(loss = "mse", optimizer = "sgd")
  h <- fit(m2, list(matrix(runif(20), 10), matrix(runif(20), 10)), runif(10), epochs = 2, verbose = 0)
  expect_length(h$metrics$loss, 2)
})

test_that("a random draw per sample in a recorded function (the variational autoencoder's sampling)", {
  x <- layer_input(shape = 2)
  z_mean <- x %>% layer_dense(2, name = "mean")
  z_log_var <- x %>% layer_dense(2, name = "log_var")
  sampling <- function(args) {
    z_mean <- args[[1]]
    z_log_var <- args[[2]]
    epsilon <- k_random_normal(shape = c(k_shape(z_mean)[[1]], 2), mean = 0, stddev = 1)
    z_mean + k_exp(z_log_var / 2) * epsilon
  }
  z <- layer_lambda(list(z_mean, z_log_var), sampling)
  model <- keras_model(x, z)
  data <- matrix(runif(200), 100)
  set.seed(1)
  p1 <- predict(model, data, verbose = 0)
  p2 <- predict(model, data, verbose = 0)
  expect_false(isTRUE(all.equal(p1, p2)))
  expect_equal(dim(p1), c(100L, 2L))
  model %>% compile(loss = "mse", optimizer = "sgd")
  h <- fit(model, data, matrix(0, 100, 2), epochs = 3, verbose = 0)
  expect_true(all(is.finite(h$metrics$loss)))
})

test_that("a model with a layer_lambda() and a loss written in R trains as Keras 3 trains it", {
  want <- ops_oracle()$training
  x <- unflat(want$x)
  y <- unflat(want$y)
  input <- layer_input(shape = 4)
  output <- input %>% layer_dense(3, activation = "tanh", name = "d1") %>%
    layer_lambda(function(t) k_square(t) * 0.5 + k_sin(t), name = "lam") %>%
    layer_dense(2, name = "d2")
  model <- keras_model(input, output)
  set_weights(model, lapply(want$initial, unflat))
  my_loss <- function(y_true, y_pred) {
    err <- y_pred - y_true
    k_mean(k_square(err), axis = -1) + 0.1 * k_mean(k_abs(y_pred), axis = -1)
  }
  model %>% compile(optimizer = optimizer_sgd(0.1), loss = my_loss)
  h <- fit(model, x, y, batch_size = 5, epochs = 2, shuffle = FALSE, verbose = 0)
  expect_each_close(h$metrics$loss, as.numeric(unlist(want$losses)), 1e-5, info = "losses")
  got <- get_weights(model)
  for (k in seq_along(got)) {
    expect_each_close(as.numeric(got[[k]]), as.numeric(unflat(want$final[[k]])), 1e-4, info = paste("weight", k))
  }
  expect_equal(predict(model, x, verbose = 0), unflat(want$predict), tolerance = 1e-5)
})

test_that("a loss written in R gives the built-in loss's training, whichever way it reduces", {
  set.seed(4)
  x <- matrix(runif(120), 30)
  y <- cbind(rowSums(x), x[, 1])
  fresh <- function() keras_model_sequential() %>% layer_dense(2, input_shape = 4, kernel_initializer = "ones")
  train <- function(loss) {
    m <- fresh()
    m %>% compile(loss = loss, optimizer = optimizer_sgd(0.05))
    fit(m, x, y, epochs = 2, batch_size = 7, shuffle = FALSE, verbose = 0)$metrics$loss
  }
  builtin <- train("mse")
  expect_equal(train(function(y_true, y_pred) k_mean(k_square(y_pred - y_true), axis = -1)), builtin, tolerance = 1e-6)
  expect_equal(train(function(y_true, y_pred) k_square(y_pred - y_true)), builtin, tolerance = 1e-6)
  expect_equal(train(function(y_true, y_pred) mean((y_pred - y_true)^2)), builtin, tolerance = 1e-6)
  # Compiled before the model is built: recorded once its shapes are known.
  m <- keras_model_sequential() %>% layer_dense(2)
  m %>% compile(loss = function(y_true, y_pred) k_mean(abs(y_pred - y_true), axis = -1), optimizer = "sgd")
  expect_length(fit(m, x, y, epochs = 1, verbose = 0)$metrics$loss, 1)
})

test_that("lambdas that keep rows apart and a loss written in R run on the dense plan, as on the graph", {
  # The engine compiles its fused dense plan from a graph whose lambdas are element-wise or
  # per-row; both executors give the same training and predictions.
  make <- function() {
    withr::with_seed(5, keras_model_sequential() %>%
      layer_dense(16, input_shape = 6) %>%
      layer_lambda(function(x) k_relu(x)) %>%
      layer_dropout(0.25) %>%
      layer_dense(8) %>%
      layer_lambda(function(x) x * k_sigmoid(x) + 0.5) %>%
      layer_dense(3) %>%
      layer_lambda(function(x) k_softmax(x)))
  }
  x <- withr::with_seed(6, matrix(rnorm(50 * 6), 50))
  y <- to_categorical(rep(0:2, length.out = 50), 3)
  loss <- function(y_true, y_pred) k_categorical_crossentropy(y_true, y_pred)
  plan <- make()
  general <- make()
  rkeras:::model_plan(general, "graph")
  for (m in list(plan, general)) compile(m, optimizer = optimizer_adam(0.01), loss = loss, metrics = "accuracy")
  expect_equal(rkeras:::model_plan(plan), "dense")
  expect_equal(rkeras:::model_plan(general), "graph")
  h <- lapply(list(plan, general), function(m) {
    withr::with_seed(3, fit(m, x, y, epochs = 3, batch_size = 16, validation_split = 0.2, verbose = 0))$metrics
  })
  expect_equal(h[[2]]$loss, h[[1]]$loss, tolerance = 1e-5)
  expect_equal(h[[2]]$val_loss, h[[1]]$val_loss, tolerance = 1e-5)
  expect_equal(get_weights(general), get_weights(plan), tolerance = 1e-5)
  expect_equal(predict(general, x, verbose = 0), predict(plan, x, verbose = 0), tolerance = 1e-5)
  # A lambda that mixes rows (a mean over the batch) stays on the graph.
  mixed <- keras_model_sequential() %>%
    layer_dense(4, input_shape = 6) %>%
    layer_lambda(function(x) x - k_mean(x, axis = 1, keepdims = TRUE))
  compile(mixed, optimizer = "sgd", loss = "mse")
  expect_equal(rkeras:::model_plan(mixed), "graph")
})

test_that("layer_lambda() works in Sequential models, with arguments, and is saved with the model", {
  model <- keras_model_sequential() %>%
    layer_dense(4, input_shape = 3, kernel_initializer = "ones") %>%
    layer_lambda(function(x, power) x^power, arguments = list(power = 2), output_shape = 4) %>%
    layer_dense(1, kernel_initializer = "ones")
  x <- matrix(c(1, 2, 3, 0, 1, 0), 2, byrow = TRUE)
  expect_equal(as.numeric(predict(model, x, verbose = 0)), 4 * rowSums(x)^2)
  f <- tempfile(fileext = ".keras")
  save_model(model, f)
  back <- load_model(f)
  expect_equal(predict(back, x, verbose = 0), predict(model, x, verbose = 0))
  json <- model_to_json(model)
  expect_equal(predict(set_weights(model_from_json(json), get_weights(model)), x, verbose = 0),
               predict(model, x, verbose = 0))
})

test_that("bad operations and functions give clear errors", {
  input <- layer_input(shape = 3)
  expect_error(input + layer_input(shape = 4), "do not broadcast", class = "rkeras_error_shape")
  expect_error(k_sum(input, axis = 3), "`axis` must be an axis of a tensor of rank 2")
  expect_error(k_reshape(input, c(2, 2, NA)), "`shape` must be whole numbers")
  expect_error(input[, 5], "out of bounds")
  expect_error(layer_lambda(input, function(x) 1), "must return a tensor computed from its input")
  expect_error(layer_lambda(input, function(x) k_sum(x)), "keeps the batch axis first", class = "rkeras_error_shape")
  expect_error(layer_lambda(input, function(x) x, output_shape = 4), "`output_shape` is \\(4\\)")
  expect_error(layer_lambda(input, function(x) k_dot(x, diag(4))), "In the function of layer_lambda\\(\\)")
  expect_error(layer_lambda(input, "f"), "`f` must be a function")
  expect_error(k_exp("a"), "must be a tensor, an array or a number")
  expect_error(k_eval(input), "no value of its own")
  model <- keras_model_sequential() %>% layer_dense(2, input_shape = 3)
  expect_error(compile(model, loss = function(y_true, y_pred) "x", optimizer = "sgd"),
               "must return a tensor computed from `y_true` and `y_pred`")
  expect_error(compile(model, loss = function(y_true, y_pred) k_dot(y_pred, diag(3)), optimizer = "sgd"),
               "In the loss function")
  # The model stays usable.
  model %>% compile(loss = "mse", optimizer = "sgd")
  expect_length(fit(model, matrix(1, 4, 3), matrix(0, 4, 2), epochs = 1, verbose = 0)$metrics$loss, 1)
})

test_that("built-in losses called on tensors give the engine's per-sample losses", {
  set.seed(6)
  p <- matrix(runif(12, 0.05, 0.95), 4)
  t <- matrix(as.numeric(runif(12) > 0.5), 4)
  onehot <- diag(3)[c(1, 3, 2, 2), ]
  reg <- matrix(rnorm(12), 4)
  cases <- list(
    list(loss_mean_squared_error, t, p), list(loss_mean_absolute_error, reg, p),
    list(loss_mean_absolute_percentage_error, reg, p), list(loss_mean_squared_logarithmic_error, p, t),
    list(loss_binary_crossentropy, t, p), list(function(y, q) loss_binary_crossentropy(y, q, label_smoothing = 0.2), t, p),
    list(function(y, q) loss_binary_crossentropy(y, q, from_logits = TRUE), t, reg),
    list(loss_categorical_crossentropy, onehot, p),
    list(function(y, q) loss_categorical_crossentropy(y, q, label_smoothing = 0.1, from_logits = TRUE), onehot, reg),
    list(loss_sparse_categorical_crossentropy, matrix(c(0, 2, 1, 1)), p),
    list(loss_kl_divergence, onehot, p), list(loss_poisson, t, p), list(loss_log_cosh, reg, p),
    list(loss_hinge, t, reg), list(loss_hinge, reg, p), list(loss_squared_hinge, t, reg),
    list(loss_categorical_hinge, onehot, reg), list(loss_cosine_similarity, reg, p),
    list(function(y, q) loss_huber(y, q, delta = 0.5), reg, p))
  for (k in seq_along(cases)) {
    f <- cases[[k]][[1]]
    yt <- cases[[k]][[2]]
    yp <- cases[[k]][[3]]
    items <- list(list(shape = dim(yt), values = c(t(yt))), list(shape = dim(yp), values = c(t(yp))))
    graph <- trace_case(f, items)
    got <- rkeras:::rk_call(rkeras:::rk_op_eval(graph, lapply(items, `[[`, "values"),
                                                lapply(items, function(i) as.double(i$shape)), 1))[[1]]
    expect_equal(got$values, as.numeric(f(yt, yp)), tolerance = 1e-5, info = paste("case", k))
  }
  # A loss written with a built-in one trains as the built-in does, scaled.
  x <- matrix(runif(40), 10)
  y <- matrix(runif(20), 10)
  train <- function(loss) {
    m <- keras_model_sequential() %>% layer_dense(2, input_shape = 4, kernel_initializer = "ones")
    m %>% compile(loss = loss, optimizer = optimizer_sgd(0.01))
    fit(m, x, y, epochs = 2, batch_size = 5, shuffle = FALSE, verbose = 0)$metrics$loss
  }
  expect_equal(train(function(y_true, y_pred) loss_mean_squared_error(y_true, y_pred)), train("mse"), tolerance = 1e-6)
  K <- backend()
  expect_equal(K$sum(matrix(1:4, 2)), 10)
  expect_identical(K$epsilon, k_epsilon)
})

test_that("a loss written in R may read the model's tensors (Keras for R's variational autoencoder)", {
  set.seed(8)
  data <- matrix(runif(40 * 6), 40)
  build <- function() {
    x <- layer_input(shape = 6)
    h <- layer_dense(x, 5, activation = "relu", name = "h")
    z_mean <- layer_dense(h, 2, name = "mean")
    z_log_var <- layer_dense(h, 2, name = "log_var")
    # Deterministic sampling, so that two formulations can be compared.
    z <- layer_concatenate(list(z_mean, z_log_var)) %>%
      layer_lambda(function(arg) arg[, 1:2] + k_exp(arg[, 3:4] / 2) * 0.1)
    out <- z %>% layer_dense(6, activation = "sigmoid", name = "dec")
    list(x = x, z_mean = z_mean, z_log_var = z_log_var, out = out)
  }
  a <- build()
  vae <- keras_model(a$x, a$out)
  vae_loss <- function(x, x_decoded_mean) {
    xent_loss <- 6 * loss_binary_crossentropy(x, x_decoded_mean)
    kl_loss <- -0.5 * k_mean(1 + a$z_log_var - k_square(a$z_mean) - k_exp(a$z_log_var), axis = -1L)
    xent_loss + kl_loss
  }
  vae %>% compile(optimizer = optimizer_sgd(0.05), loss = vae_loss)
  # The same loss as two outputs' losses: the reconstruction's, and the KL term computed
  # from an output holding the mean and log-variance.
  b <- build()
  both <- keras_model(b$x, list(b$out, layer_concatenate(list(b$z_mean, b$z_log_var), name = "stats")))
  kl <- function(y_true, y_pred) -0.5 * k_mean(1 + y_pred[, 3:4] - k_square(y_pred[, 1:2]) - k_exp(y_pred[, 3:4]), axis = -1)
  both %>% compile(optimizer = optimizer_sgd(0.05),
                   loss = list(function(y_true, y_pred) 6 * loss_binary_crossentropy(y_true, y_pred), kl))
  set_weights(both, get_weights(vae))
  h1 <- fit(vae, data, data, epochs = 3, batch_size = 10, shuffle = FALSE, verbose = 0)
  h2 <- fit(both, data, list(data, matrix(0, 40, 4)), epochs = 3, batch_size = 10, shuffle = FALSE, verbose = 0)
  expect_equal(h1$metrics$loss, h2$metrics$loss, tolerance = 1e-5)
  expect_equal(get_weights(vae), get_weights(both), tolerance = 1e-5)
  expect_equal(evaluate(vae, data, data, verbose = 0)$loss,
               evaluate(both, data, list(data, matrix(0, 40, 4)), verbose = 0)$loss, tolerance = 1e-5)
  # A tensor the model does not compute cannot be read.
  other <- layer_input(shape = 6)
  bad <- function(y_true, y_pred) k_mean(k_square(y_pred - y_true), axis = -1) + k_mean(other, axis = -1)
  expect_error(compile(vae, optimizer = "sgd", loss = bad), "which the model does not compute")
  # The model keeps its compiled loss.
  expect_equal(evaluate(vae, data, data, verbose = 0)$loss, h1$metrics$loss[[3]], tolerance = 0.5)
  expect_length(fit(vae, data, data, epochs = 1, verbose = 0)$metrics$loss, 1)
})

test_that("a model compiled with a loss written in R is saved with the loss's name and read back with custom_objects", {
  x <- matrix(runif(30), 10)
  y <- matrix(runif(20), 10)
  model <- keras_model_sequential() %>% layer_dense(2, input_shape = 3)
  my_loss <- function(y_true, y_pred) k_mean(k_square(y_pred - y_true), axis = -1)
  model %>% compile(loss = my_loss, optimizer = "sgd")
  fit(model, x, y, epochs = 1, verbose = 0)
  for (ext in c(".keras", ".h5")) {
    f <- tempfile(fileext = ext)
    save_model(model, f)
    expect_error(load_model(f), "The file's loss 'my_loss' is a function written in R", info = ext)
    back <- load_model(f, custom_objects = list(my_loss = my_loss))
    expect_equal(evaluate(back, x, y, verbose = 0), evaluate(model, x, y, verbose = 0), info = ext)
    expect_equal(predict(load_model(f, compile = FALSE), x, verbose = 0), predict(model, x, verbose = 0))
  }
  expect_error(load_model(f, custom_objects = list(function(a, b) a)), "must be a named list of functions")
  # saveRDS() keeps the loss with the model.
  s <- tempfile(fileext = ".rds")
  saveRDS(model, s)
  again <- readRDS(s)
  expect_equal(evaluate(again, x, y, verbose = 0), evaluate(model, x, y, verbose = 0))
  expect_length(fit(again, x, y, epochs = 1, verbose = 0)$metrics$loss, 1)
})
