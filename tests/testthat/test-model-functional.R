# The functional API and the general engine: every number is checked against base R
# (matrix products, softmax, crossentropy written out here), not against the engine.

softmax_rows <- function(z) { e <- exp(z - apply(z, 1, max)); e / rowSums(e) }
dense_r <- function(x, w, act = identity) act(x %*% w[[1]] + rep(w[[2]], each = nrow(x)))
relu <- function(z) pmax(z, 0)

test_that("a multi-input classifier with layer_concatenate predicts what base R computes and learns", {
  withr::local_seed(1)
  a <- layer_input(shape = 4, name = "a")
  b <- layer_input(shape = 3, name = "b")
  ha <- a %>% layer_dense(5, activation = "relu", name = "ha")
  out <- layer_concatenate(list(ha, b), name = "cat") %>% layer_dense(2, activation = "softmax", name = "cls")
  model <- keras_model(list(a, b), out)
  expect_s3_class(model, "rkeras_functional")
  expect_equal(count_params(model), (4 * 5 + 5) + (8 * 2 + 2))
  xa <- matrix(rnorm(200 * 4), 200)
  xb <- matrix(rnorm(200 * 3), 200)
  w <- get_weights(model)
  expect_equal(lapply(w, function(v) dim(v) %||% length(v)), list(c(4L, 5L), 5L, c(8L, 2L), 2L))
  ref <- dense_r(cbind(dense_r(xa, w[1:2], relu), xb), w[3:4], softmax_rows)
  expect_equal(predict(model, list(xa, xb), verbose = 0), ref, tolerance = 1e-5)
  expect_equal(predict(model, list(b = xb, a = xa), verbose = 0), ref, tolerance = 1e-5)
  y <- as.integer(xa[, 1] + xb[, 2] > 0)
  model %>% compile(optimizer = optimizer_adam(0.05), loss = "sparse_categorical_crossentropy", metrics = "accuracy")
  h <- model %>% fit(list(xa, xb), y, epochs = 15, batch_size = 32, verbose = 0)
  expect_named(h$metrics, c("loss", "accuracy"))
  expect_lt(h$metrics$loss[[15]], 0.5 * h$metrics$loss[[1]])
  expect_gt(h$metrics$accuracy[[15]], 0.9)
  # evaluate() equals base R's mean crossentropy of predict()'s probabilities.
  p <- predict(model, list(xa, xb), verbose = 0)
  ce <- mean(-log(pmin(pmax(p[cbind(seq_along(y), y + 1)], 1e-7), 1 - 1e-7)))
  expect_equal(evaluate(model, list(xa, xb), y, verbose = 0)$loss, ce, tolerance = 1e-5)
})

test_that("two outputs: loss_weights weight the parts, logs are named per output, targets by name", {
  withr::local_seed(2)
  inp <- layer_input(shape = 3, name = "in")
  h <- inp %>% layer_dense(4, activation = "tanh", name = "h")
  cls <- h %>% layer_dense(3, activation = "softmax", name = "cls")
  reg <- h %>% layer_dense(1, name = "reg")
  model <- keras_model(inp, list(cls, reg))
  model %>% compile(optimizer = "sgd", loss = list(cls = "categorical_crossentropy", reg = "mse"),
                    loss_weights = list(cls = 1, reg = 0.25), metrics = "mae")
  x <- matrix(rnorm(60), 20)
  y1 <- to_categorical(sample(0:2, 20, TRUE), 3)
  y2 <- rnorm(20)
  s <- evaluate(model, x, list(cls = y1, reg = y2), verbose = 0)
  expect_named(s, c("loss", "cls_loss", "reg_loss", "cls_mae", "reg_mae"))
  p <- predict(model, x, verbose = 0)
  expect_length(p, 2)
  ce <- mean(-rowSums(y1 * log(pmin(pmax(p[[1]], 1e-7), 1 - 1e-7))))
  mse <- mean((p[[2]] - y2)^2)
  expect_equal(s$cls_loss, ce, tolerance = 1e-5)
  expect_equal(s$reg_loss, mse, tolerance = 1e-5)
  expect_equal(s$loss, ce + 0.25 * mse, tolerance = 1e-5)
  expect_equal(s$reg_mae, mean(abs(p[[2]] - y2)), tolerance = 1e-5)
  # The same targets given positionally; a wrong count or name is an error naming `y`.
  expect_equal(evaluate(model, x, list(y1, y2), verbose = 0), s)
  expect_error(evaluate(model, x, list(y1), verbose = 0), "`y` must be a list of 2 arrays", class = "rkeras_error")
  expect_error(evaluate(model, x, list(cls = y1, out = y2), verbose = 0), "names 'out'", class = "rkeras_error")
  h <- model %>% fit(x, list(y1, y2), epochs = 2, verbose = 0, validation_split = 0.25)
  expect_named(h$metrics, c("loss", "cls_loss", "reg_loss", "cls_mae", "reg_mae",
                            "val_loss", "val_cls_loss", "val_reg_loss", "val_cls_mae", "val_reg_mae"))
})

test_that("one gradient step with loss_weights moves the weights as base R's gradient says", {
  withr::local_seed(3)
  inp <- layer_input(shape = 2)
  o1 <- inp %>% layer_dense(1, name = "o1")
  o2 <- inp %>% layer_dense(1, name = "o2")
  model <- keras_model(inp, list(o1, o2))
  model %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse", loss_weights = c(2, 0.5))
  x <- matrix(rnorm(10), 5)
  y1 <- rnorm(5); y2 <- rnorm(5)
  w <- get_weights(model)
  train_on_batch(model, x, list(y1, y2))
  grad <- function(wk, b, y, lw) {
    r <- x %*% wk + as.vector(b) - y
    list(lw * 2 * t(x) %*% r / 5, lw * 2 * sum(r) / 5)
  }
  g1 <- grad(w[[1]], w[[2]], y1, 2)
  g2 <- grad(w[[3]], w[[4]], y2, 0.5)
  want <- list(w[[1]] - 0.1 * g1[[1]], w[[2]] - 0.1 * g1[[2]], w[[3]] - 0.1 * g2[[1]], w[[4]] - 0.1 * g2[[2]])
  expect_equal(lapply(get_weights(model), as.vector), lapply(want, as.vector), tolerance = 1e-5)
})

test_that("a shared layer has one set of weights, used at both calls, and gradients from both", {
  withr::local_seed(4)
  a <- layer_input(shape = 3)
  b <- layer_input(shape = 3)
  shared <- layer_dense(units = 2, name = "shared")
  out <- layer_subtract(list(a %>% shared, b %>% shared))
  model <- keras_model(list(a, b), out)
  expect_length(get_weights(model), 2)
  w <- get_weights(model)
  xa <- matrix(rnorm(12), 4); xb <- matrix(rnorm(12), 4)
  expect_equal(predict(model, list(xa, xb), verbose = 0), (xa - xb) %*% w[[1]], tolerance = 1e-5)
  # d/dW of mean((f(a) - f(b) - y)^2): both calls contribute (the bias cancels).
  model %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
  y <- matrix(rnorm(8), 4)
  train_on_batch(model, list(xa, xb), y)
  r <- (xa - xb) %*% w[[1]] - y
  expect_equal(get_weights(model)[[1]], w[[1]] - 0.1 * t(xa - xb) %*% r * 2 / 8, tolerance = 1e-5)
  expect_equal(as.vector(get_weights(model)[[2]]), as.vector(w[[2]]), tolerance = 1e-7)
  expect_identical(get_layer(model, "shared")$name, "shared")
})

test_that("merge, reshape, permute and repeat layers compute what base R computes", {
  withr::local_seed(5)
  a <- layer_input(shape = 6)
  b <- layer_input(shape = 6)
  x1 <- matrix(rnorm(18), 3); x2 <- matrix(rnorm(18), 3)
  run <- function(out) predict(keras_model(list(a, b), out), list(x1, x2), verbose = 0)
  expect_equal(run(layer_add(list(a, b))), x1 + x2, tolerance = 1e-6)
  expect_equal(run(layer_multiply(list(a, b))), x1 * x2, tolerance = 1e-6)
  expect_equal(run(layer_average(list(a, b))), (x1 + x2) / 2, tolerance = 1e-6)
  expect_equal(run(layer_maximum(list(a, b))), pmax(x1, x2), tolerance = 1e-6)
  expect_equal(run(layer_minimum(list(a, b))), pmin(x1, x2), tolerance = 1e-6)
  expect_equal(run(layer_dot(list(a, b), axes = 1)), matrix(rowSums(x1 * x2)), tolerance = 1e-6)
  expect_equal(run(layer_concatenate(list(a, b))), cbind(x1, x2), tolerance = 1e-6)
  # Samples reshaped row-major (array_reshape), then axes swapped per sample.
  r <- run(layer_add(list(a, b)) %>% layer_reshape(c(2, 3)))
  expect_equal(dim(r), c(3L, 2L, 3L))
  expect_equal(r, array_reshape(x1 + x2, c(3, 2, 3)), tolerance = 1e-6)
  p <- run(layer_add(list(a, b)) %>% layer_reshape(c(2, -1)) %>% layer_permute(c(2, 1)))
  expect_equal(dim(p), c(3L, 3L, 2L))
  expect_equal(p, aperm(array_reshape(x1 + x2, c(3, 2, 3)), c(1, 3, 2)), tolerance = 1e-6)
  rv <- run(layer_add(list(a, b)) %>% layer_repeat_vector(2))
  expect_equal(rv[, 1, ], x1 + x2, tolerance = 1e-6)
  expect_equal(rv[, 2, ], x1 + x2, tolerance = 1e-6)
  # Concatenating on the first sample axis of (2, 3) samples.
  ra <- a %>% layer_reshape(c(2, 3)); rb <- b %>% layer_reshape(c(2, 3))
  c1 <- run(layer_concatenate(list(ra, rb), axis = 1))
  expect_equal(dim(c1), c(3L, 4L, 3L))
  expect_equal(c1[, 3:4, ], array_reshape(x2, c(3, 2, 3)), tolerance = 1e-6)
})

test_that("a Sequential model with N-d samples applies dense to the last axis, as Keras", {
  withr::local_seed(6)
  model <- keras_model_sequential() %>%
    layer_dense(2, input_shape = c(3, 4), name = "d") %>%
    layer_flatten() %>%
    layer_dense(1, name = "out")
  out <- format(model)
  expect_true(any(grepl("d \\(Dense\\) +\\(None, 3, 2\\) +10", out)))
  expect_true(any(grepl("Total params: 17", out)))
  x <- array(rnorm(5 * 12), c(5, 3, 4))
  w <- get_weights(model)
  h <- t(apply(x, 1, function(s) as.vector(t(s %*% w[[1]] + rep(w[[2]], each = 3)))))
  expect_equal(predict(model, x, verbose = 0), h %*% w[[3]] + as.vector(w[[4]]), tolerance = 1e-5)
})

test_that("the dense plan and the graph executor train one model to the same losses and weights", {
  # One model representation: the engine runs a dense chain on its fused plan unless told
  # to use the graph's executor; both draw the same dropout masks.
  make <- function() {
    withr::with_seed(7, keras_model_sequential() %>%
      layer_dense(8, activation = "relu", input_shape = 5) %>%
      layer_dropout(0.3) %>%
      layer_dense(3, activation = "softmax"))
  }
  plan <- make()
  general <- make()
  rkeras:::model_plan(general, "graph")
  expect_equal(rkeras:::model_plan(plan), "dense")
  expect_equal(rkeras:::model_plan(general), "graph")
  expect_identical(get_weights(general), get_weights(plan))
  for (m in list(plan, general)) m %>% compile(optimizer = optimizer_sgd(0.1, momentum = 0.9), loss = "categorical_crossentropy",
                                               metrics = "accuracy")
  x <- withr::with_seed(8, matrix(rnorm(40 * 5), 40))
  y <- to_categorical(rep(0:2, length.out = 40), 3)
  expect_equal(predict(general, x, verbose = 0), predict(plan, x, verbose = 0), tolerance = 1e-6)
  h <- lapply(list(plan, general), function(m) {
    withr::with_seed(3, fit(m, x, y, epochs = 4, batch_size = 16, verbose = 0))$metrics
  })
  expect_equal(h[[2]]$loss, h[[1]]$loss, tolerance = 1e-5)
  expect_equal(h[[2]]$accuracy, h[[1]]$accuracy)
  expect_equal(get_weights(general), get_weights(plan), tolerance = 1e-5)
  expect_equal(evaluate(general, x, y, verbose = 0), evaluate(plan, x, y, verbose = 0), tolerance = 1e-5)
  # A frozen layer or gradient clipping moves the model to the graph's executor.
  freeze_weights(plan, to = 1)
  expect_equal(rkeras:::model_plan(plan), "graph")
  unfreeze_weights(plan)
  expect_equal(rkeras:::model_plan(plan), "dense")
})

test_that("freeze_weights() keeps weights unchanged under fit(); unfreeze_weights() lets them train", {
  withr::local_seed(9)
  model <- keras_model_sequential() %>%
    layer_dense(4, activation = "relu", input_shape = 3, name = "base") %>%
    layer_dense(1, name = "head")
  freeze_weights(model, to = "base")
  expect_false(get_layer(model, "base")$trainable)
  expect_true(get_layer(model, index = 2)$trainable)
  expect_true(any(grepl("Non-trainable params: 16", format(model))))
  model %>% compile(optimizer = "adam", loss = "mse")
  x <- matrix(rnorm(90), 30); y <- rnorm(30)
  before <- get_weights(model)
  model %>% fit(x, y, epochs = 2, verbose = 0)
  after <- get_weights(model)
  expect_identical(after[1:2], before[1:2])
  expect_false(isTRUE(all.equal(after[[3]], before[[3]])))
  unfreeze_weights(model)
  model %>% fit(x, y, epochs = 1, verbose = 0)
  expect_false(isTRUE(all.equal(get_weights(model)[[1]], before[[1]])))
})

test_that("layers as objects: model$layers, get_layer(), weights by layer, pop_layer()", {
  withr::local_seed(10)
  model <- keras_model_sequential() %>%
    layer_dense(4, input_shape = 3, name = "a") %>%
    layer_reshape(c(2, 2), name = "r") %>%
    layer_flatten(name = "f") %>%
    layer_dense(2, name = "b")
  expect_equal(vapply(model$layers, function(l) l$name, ""), c("a", "r", "f", "b"))
  expect_equal(get_layer(model, "r")$output_shape, list(NULL, 2L, 2L))
  expect_equal(get_layer(model, "b")$get_weights(), get_weights(model)[3:4])
  w <- get_weights(model)
  pop_layer(model)
  expect_equal(vapply(model$layers, function(l) l$name, ""), c("a", "r", "f"))
  expect_equal(get_weights(model), w[1:2])
  expect_error(get_layer(model, "zz"), "No layer named 'zz'", class = "rkeras_error")
  # A functional model's inputs and outputs.
  i <- layer_input(shape = 2, name = "i")
  o <- i %>% layer_dense(3, name = "o")
  fm <- keras_model(i, o)
  expect_s3_class(fm$input, "rkeras_tensor")
  expect_equal(fm$output$shape, 3L)
  expect_equal(fm$output_shape, list(NULL, 3L))
  expect_equal(vapply(fm$layers, function(l) l$name, ""), "o")
})

test_that("clone_model() copies a functional model with fresh or kept weights", {
  withr::local_seed(11)
  a <- layer_input(shape = 3)
  out <- a %>% layer_dense(2) %>% layer_repeat_vector(2)
  model <- keras_model(a, out)
  c1 <- clone_model(model)
  c2 <- clone_model(model, keep_weights = TRUE)
  expect_equal(get_weights(c2), get_weights(model))
  expect_false(isTRUE(all.equal(get_weights(c1), get_weights(model))))
  set_weights(c2, lapply(get_weights(c2), function(w) w * 0))
  expect_false(all(get_weights(model)[[1]] == 0))
})

test_that("bad graphs and bad calls give errors naming the layer, shapes or argument", {
  a <- layer_input(shape = 4, name = "a4")
  b <- layer_input(shape = 5, name = "b5")
  expect_error(layer_add(list(a, b), name = "sum"), "layer 'sum' needs inputs of shapes that broadcast, got \\(None, 4\\), \\(None, 5\\)",
               class = "rkeras_error_shape")
  expect_error(layer_concatenate(list(a)), "at least 2 inputs", class = "rkeras_error")
  expect_error(a %>% layer_reshape(c(3, 3), name = "rs"), "layer 'rs' cannot reshape 4 values", class = "rkeras_error_shape")
  shared <- layer_dense(units = 2, name = "sh")
  a %>% shared
  expect_error(b %>% shared, "layer 'sh' expects 4 input features, got 5; input from layer 'b5' \\(None, 5\\)",
               class = "rkeras_error_shape")
  expect_error(a %>% layer_repeat_vector(2) %>% layer_repeat_vector(2, name = "rep2"), "layer 'rep2' expects inputs of shape \\(None, d\\)",
               class = "rkeras_error_shape")
  out <- a %>% layer_dense(2)
  expect_error(keras_model(list(a, b), out), "`inputs\\[\\[2\\]\\]` \\('b5'\\) is not used", class = "rkeras_error")
  both <- layer_concatenate(list(a, b))
  expect_error(keras_model(a, both), "depend on input 'b5', which is not in `inputs`", class = "rkeras_error")
  expect_error(keras_model(out, out), "must come from layer_input\\(\\)", class = "rkeras_error")
  expect_error(keras_model(a, "x"), "`outputs` must be a tensor", class = "rkeras_error")
  expect_error(layer_dense(units = 3, unit = 4), "layer_dense\\(\\) got `unit` it does not take", class = "rkeras_error")
  expect_error(layer_input(shape = 3, shap = 2), "`shap`", class = "rkeras_error")
  model <- keras_model(a, out)
  model %>% compile(loss = "mse", optimizer = "sgd")
  expect_error(fit(model, matrix(0, 3, 5), matrix(0, 3, 2), verbose = 0),
               "Input 'a4' expects samples of shape \\(4\\)", class = "rkeras_error_shape")
  expect_error(fit(model, matrix(0, 3, 4), matrix(0, 3, 3), verbose = 0),
               "output 'dense_\\d+' of shape \\(None, 2\\)", class = "rkeras_error_shape")
  expect_error(compile(model, loss = list("mse", "mse"), optimizer = "sgd"), "one entry per output \\(1\\)", class = "rkeras_error")
  # A functional model is not changed by adding layers to it.
  expect_error(model %>% layer_dense(2), "Sequential", class = "rkeras_error")
})

test_that("generators may yield lists of inputs and targets for models with several", {
  withr::local_seed(12)
  a <- layer_input(shape = 2, name = "a")
  b <- layer_input(shape = 3, name = "b")
  h <- layer_concatenate(list(a, b)) %>% layer_dense(4, activation = "relu")
  model <- keras_model(list(a, b), list(h %>% layer_dense(1, name = "r1"), h %>% layer_dense(2, activation = "softmax", name = "c2")))
  model %>% compile(optimizer = optimizer_adam(0.01), loss = list("mse", "sparse_categorical_crossentropy"))
  xa <- matrix(rnorm(64 * 2), 64); xb <- matrix(rnorm(64 * 3), 64)
  y1 <- xa[, 1] - xb[, 2]; y2 <- as.integer(xb[, 1] > 0)
  gen <- function() {
    i <- sample.int(64, 16)
    list(list(a = xa[i, ], b = xb[i, ]), list(y1[i], y2[i]))
  }
  h <- fit_generator(model, gen, steps_per_epoch = 8, epochs = 3, verbose = 0,
                     validation_data = list(list(xa, xb), list(y1, y2)))
  expect_named(h$metrics, c("loss", "r1_loss", "c2_loss", "val_loss", "val_r1_loss", "val_c2_loss"))
  expect_true(all(is.finite(unlist(h$metrics))))
  expect_equal(h$metrics$loss, h$metrics$r1_loss + h$metrics$c2_loss, tolerance = 1e-5)
  p <- predict_generator(model, function() list(list(xa[1:4, ], xb[1:4, ])), steps = 2)
  expect_equal(dim(p[[1]]), c(8L, 1L))
  expect_equal(dim(p[[2]]), c(8L, 2L))
  expect_error(fit_generator(model, function() list(xa[1:4, ], y1[1:4]), steps_per_epoch = 1, verbose = 0),
               class = "rkeras_error")
})

test_that("models are functions: a model called on tensors shares its layers and weights", {
  withr::local_seed(13)
  enc_in <- layer_input(shape = 6)
  encoder <- keras_model(enc_in, enc_in %>% layer_dense(3, activation = "tanh", name = "code"))
  dec_in <- layer_input(shape = 3)
  decoder <- keras_model(dec_in, dec_in %>% layer_dense(6, name = "recon"))
  x_in <- layer_input(shape = 6)
  auto <- keras_model(x_in, x_in %>% encoder %>% decoder)
  expect_equal(get_weights(auto), c(get_weights(encoder), get_weights(decoder)))
  x <- matrix(rnorm(60), 10)
  expect_equal(predict(auto, x, verbose = 0), predict(decoder, predict(encoder, x, verbose = 0), verbose = 0),
               tolerance = 1e-5)
  # Training the autoencoder trains the encoder's and decoder's layers, as in Keras.
  auto %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
  auto %>% fit(x, x, epochs = 2, verbose = 0)
  expect_equal(get_weights(encoder), get_weights(auto)[1:2])
  expect_equal(get_weights(decoder), get_weights(auto)[3:4])
  # A Sequential model inside a Sequential model, and calling with model(x).
  inner <- keras_model_sequential() %>% layer_dense(4, input_shape = 5, name = "in1") %>% layer_dense(2, name = "in2")
  outer <- keras_model_sequential() %>% layer_dense(5, input_shape = 3, name = "o1") %>% inner
  # As in Keras, the model added is one layer of the outer model.
  expect_equal(vapply(outer$layers, function(l) l$name, ""), c("o1", inner$name))
  expect_identical(outer$layers[[2]], inner)
  expect_equal(get_weights(outer)[3:6], get_weights(inner))
  t <- inner(layer_input(shape = 5))
  expect_equal(t$shape, 2L)
  expect_error(encoder(list(layer_input(shape = 6), layer_input(shape = 6))), "takes 1 inputs, got 2", class = "rkeras_error")
})

test_that("metrics per output: a list named by output layer", {
  withr::local_seed(14)
  inp <- layer_input(shape = 3)
  h <- inp %>% layer_dense(4, activation = "relu")
  model <- keras_model(inp, list(h %>% layer_dense(2, activation = "softmax", name = "cls"), h %>% layer_dense(1, name = "reg")))
  model %>% compile(optimizer = "adam", loss = list("sparse_categorical_crossentropy", "mse"),
                    metrics = list(cls = "accuracy", reg = c("mae", "mse")))
  x <- matrix(rnorm(30), 10); y1 <- rep(0:1, 5); y2 <- rnorm(10)
  s <- evaluate(model, x, list(y1, y2), verbose = 0)
  expect_named(s, c("loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae", "reg_mse"))
  p <- predict(model, x, verbose = 0)
  expect_equal(s$cls_accuracy, mean(max.col(p[[1]], "first") - 1 == y1))
  expect_equal(s$reg_mae, mean(abs(p[[2]] - y2)), tolerance = 1e-5)
  expect_equal(s$reg_mse, s$reg_loss, tolerance = 1e-6)
  expect_error(compile(model, loss = "mse", optimizer = "sgd", metrics = list(out = "mae", reg = "mae")),
               "`metrics` names 'out'", class = "rkeras_error")
})

test_that("inputs and targets named as the lists the model was built from are matched by those names", {
  a <- layer_input(shape = 2, name = "in_a")
  b <- layer_input(shape = 3, name = "in_b")
  m <- keras_model(list(title = a, body = b),
                   list(score = layer_concatenate(a, b) %>% layer_dense(1, name = "o1"),
                        class = b %>% layer_dense(2, activation = "softmax", name = "o2")))
  m %>% compile(loss = list("mse", "categorical_crossentropy"), optimizer = "sgd")
  xa <- matrix(runif(10), 5); xb <- matrix(runif(15), 5)
  want <- predict(m, list(xa, xb), verbose = 0)
  expect_equal(predict(m, list(body = xb, title = xa), verbose = 0), want)
  expect_equal(predict(m, list(in_b = xb, in_a = xa), verbose = 0), want)
  y <- list(class = to_categorical(c(0, 1, 0, 1, 1), 2), score = runif(5))
  h <- m %>% fit(list(body = xb, title = xa), y, epochs = 1, verbose = 0)
  expect_true(is.finite(h$metrics$loss))
  expect_error(predict(m, list(body = xb, nope = xa), verbose = 0), "not an input", class = "rkeras_error")
})

test_that("set_weights() on a model reaches every model that holds its layers", {
  withr::local_seed(1)
  inner <- keras_model_sequential() %>% layer_dense(4, input_shape = 3, activation = "relu") %>% layer_dense(3)
  z <- layer_input(shape = 3)
  outer <- keras_model(z, z %>% inner %>% layer_dense(2))
  x <- matrix(rnorm(15), 5)
  p0 <- predict(outer, x, verbose = 0)
  w <- lapply(get_weights(inner), function(a) a * 0 + 0.1)
  set_weights(inner, w)
  p1 <- predict(outer, x, verbose = 0)
  expect_false(isTRUE(all.equal(p0, p1)))
  wo <- get_weights(outer)
  expect_equal(wo[1:4], w)
  h <- pmax(x %*% w[[1]] + 0.1, 0) %*% w[[3]] + 0.1
  expect_equal(unname(p1), unname(h %*% wo[[5]] + rep(wo[[6]], each = 5)), tolerance = 1e-5)
  # And the other way: training the outer model changes the inner model's weights.
  outer %>% compile(optimizer = "sgd", loss = "mse")
  outer %>% fit(x, matrix(1, 5, 2), epochs = 2, verbose = 0)
  expect_equal(get_weights(inner), get_weights(outer)[1:4])
  expect_false(isTRUE(all.equal(get_weights(inner), w)))
})
