test_that("the classic Keras-for-R MLP script runs verbatim on small data", {
  withr::local_seed(1)
  fake <- list(train = list(x = array(sample(0:255, 300 * 784, TRUE), c(300, 28, 28)), y = array(sample(0:9, 300, TRUE))),
               test = list(x = array(sample(0:255, 50 * 784, TRUE), c(50, 28, 28)), y = array(sample(0:9, 50, TRUE))))
  mnist <- fake
  x_train <- mnist$train$x
  y_train <- mnist$train$y
  x_test <- mnist$test$x
  y_test <- mnist$test$y
  x_train <- array_reshape(x_train, c(nrow(x_train), 784))
  x_test <- array_reshape(x_test, c(nrow(x_test), 784))
  x_train <- x_train / 255
  x_test <- x_test / 255
  y_train <- to_categorical(y_train, 10)
  y_test <- to_categorical(y_test, 10)
  model <- keras_model_sequential()
  model %>%
    layer_dense(units = 256, activation = 'relu', input_shape = c(784)) %>%
    layer_dropout(rate = 0.4) %>%
    layer_dense(units = 128, activation = 'relu') %>%
    layer_dropout(rate = 0.3) %>%
    layer_dense(units = 10, activation = 'softmax')
  model %>% compile(
    loss = 'categorical_crossentropy',
    optimizer = optimizer_rmsprop(),
    metrics = c('accuracy'))
  output <- capture.output(history <- model %>% fit(
    x_train, y_train,
    epochs = 3, batch_size = 128,
    validation_split = 0.2
  ))
  expect_s3_class(history, "keras_training_history")
  expect_named(history$metrics, c("loss", "accuracy", "val_loss", "val_accuracy"))
  expect_equal(history$params, list(verbose = 1L, epochs = 3L, steps = 2L))
  expect_true(all(lengths(history$metrics) == 3))
  expect_match(output[1], "^Epoch 1/3$")
  expect_match(output[2], "^2/2 \\[=+\\] - \\d+s \\d+m?s/step - loss: \\d\\.\\d{4} - accuracy: \\d\\.\\d{4} - val_loss: .* - val_accuracy: ")
  score <- model %>% evaluate(x_test, y_test, verbose = 0)
  expect_named(score, c("loss", "accuracy"))
  p <- predict(model, x_test, verbose = 0)
  expect_equal(dim(p), c(50L, 10L))
  expect_equal(rowSums(p), rep(1, 50), tolerance = 1e-5)
})

test_that("compile and fit change the model in place and return invisibly", {
  d <- tiny_xy()
  model <- tiny_model()
  res <- withVisible(model %>% compile(loss = "categorical_crossentropy", optimizer = "adam", metrics = "accuracy"))
  expect_false(res$visible)
  expect_identical(res$value, model)
  before <- get_weights(model)
  res <- withVisible(model %>% fit(d$x, d$onehot, epochs = 2, verbose = 0))
  expect_false(res$visible)
  expect_false(isTRUE(all.equal(before, get_weights(model))))
})

test_that("validation_split takes the last rows before shuffling", {
  d <- tiny_xy(n = 100)
  model <- tiny_model()
  model %>% compile(loss = "categorical_crossentropy", optimizer = "sgd", metrics = "accuracy")
  h <- model %>% fit(d$x, d$onehot, epochs = 2, batch_size = 16, validation_split = 0.25, verbose = 0)
  score <- evaluate(model, d$x[76:100, ], d$onehot[76:100, ], batch_size = 16, verbose = 0)
  expect_equal(h$metrics$val_loss[[2]], score$loss, tolerance = 1e-6)
  expect_equal(h$metrics$val_accuracy[[2]], score$accuracy, tolerance = 1e-6)
  expect_equal(h$params$steps, 5L) # ceiling(75 / 16)
})

test_that("validation_data and evaluate agree, and dropout is off in inference", {
  d <- tiny_xy(n = 80)
  model <- tiny_model(dropout = 0.5)
  model %>% compile(loss = "categorical_crossentropy", optimizer = "rmsprop", metrics = "accuracy")
  h <- model %>% fit(d$x[1:60, ], d$onehot[1:60, ], epochs = 1, validation_data = list(d$x[61:80, ], d$onehot[61:80, ]), verbose = 0)
  s <- evaluate(model, d$x[61:80, ], d$onehot[61:80, ], verbose = 0)
  expect_equal(h$metrics$val_loss, s$loss, tolerance = 1e-6)
  # Inference without dropout: predict() is the plain forward pass of the weights in base R
  # (with dropout's masks or its 1 / (1 - rate) scaling applied it would differ).
  w <- get_weights(model)
  h1 <- pmax(d$x %*% w[[1]] + rep(as.vector(w[[2]]), each = nrow(d$x)), 0)
  z <- h1 %*% w[[3]] + rep(as.vector(w[[4]]), each = nrow(d$x))
  want <- exp(z - apply(z, 1, max)); want <- want / rowSums(want)
  expect_equal(predict(model, d$x, verbose = 0), want, tolerance = 1e-5)
})

test_that("losses reported by the engine match base R", {
  d <- tiny_xy(n = 20)
  model <- tiny_model()
  model %>% compile(loss = "categorical_crossentropy", optimizer = "sgd", metrics = c("accuracy", "mae"))
  p <- predict(model, d$x, verbose = 0)
  got <- test_on_batch(model, d$x, d$onehot)
  expect_equal(got[[1]], mean(-rowSums(d$onehot * log(p))), tolerance = 1e-5)
  # test_on_batch() computes its outputs as evaluate() does.
  ev <- evaluate(model, d$x, d$onehot, batch_size = 20, verbose = 0)
  expect_equal(unname(unlist(ev)), unname(unlist(got)), tolerance = 1e-12)
  expect_equal(got[[2]], mean(max.col(p, "first") == max.col(d$onehot, "first")))
  expect_equal(got[[3]], mean(abs(p - d$onehot)), tolerance = 1e-6)
  model %>% compile(loss = "sparse_categorical_crossentropy", optimizer = "sgd", metrics = "accuracy")
  got <- test_on_batch(model, d$x, d$y)
  expect_equal(got[[1]], mean(-log(p[cbind(1:20, d$y + 1)])), tolerance = 1e-5)
  reg <- keras_model_sequential() %>% layer_dense(2, input_shape = 4)
  yr <- matrix(rnorm(40), 20)
  for (loss in c("mse", "mae")) {
    reg %>% compile(loss = loss, optimizer = "sgd")
    pr <- predict(reg, d$x, verbose = 0)
    want <- if (loss == "mse") mean((pr - yr)^2) else mean(abs(pr - yr))
    expect_equal(test_on_batch(reg, d$x, yr), want, tolerance = 1e-5)
  }
  bin <- keras_model_sequential() %>% layer_dense(1, activation = "sigmoid", input_shape = 4)
  bin %>% compile(loss = "binary_crossentropy", optimizer = "sgd", metrics = "accuracy")
  yb <- as.numeric(d$y > 0)
  pb <- predict(bin, d$x, verbose = 0)[, 1]
  got <- test_on_batch(bin, d$x, yb)
  expect_equal(got[[1]], mean(-(yb * log(pb) + (1 - yb) * log(1 - pb))), tolerance = 1e-5)
  expect_equal(got[[2]], mean((pb > 0.5) == (yb > 0.5)))
})

test_that("one SGD step matches the hand-computed update", {
  model <- keras_model_sequential() %>% layer_dense(1, input_shape = 2)
  set_weights(model, list(matrix(c(0.5, -0.25), 2), array(0.1)))
  model %>% compile(loss = "mse", optimizer = optimizer_sgd(learning_rate = 0.1))
  x <- matrix(c(1, 2, 3, 4), 2)
  y <- c(1, -1)
  w <- c(0.5, -0.25); b <- 0.1
  r <- drop(x %*% w + b) - y
  gw <- drop(t(x) %*% (2 * r / 2)); gb <- sum(2 * r / 2)
  train_on_batch(model, x, y)
  new <- get_weights(model)
  expect_equal(as.numeric(new[[1]]), w - 0.1 * gw, tolerance = 1e-6)
  expect_equal(as.numeric(new[[2]]), b - 0.1 * gb, tolerance = 1e-6)
})

test_that("sample and class weights weight the loss as Keras does", {
  d <- tiny_xy(n = 10)
  model <- tiny_model()
  model %>% compile(loss = "categorical_crossentropy", optimizer = "sgd")
  p <- predict(model, d$x, verbose = 0)
  l <- -rowSums(d$onehot * log(p))
  sw <- c(rep(0, 5), rep(2, 5))
  expect_equal(test_on_batch(model, d$x, d$onehot, sample_weight = sw), sum(sw * l) / 10, tolerance = 1e-5)
  cw <- list("0" = 1, "1" = 3, "2" = 0.5)
  wts <- unlist(cw)[as.character(d$y)]
  h <- model %>% fit(d$x, d$onehot, class_weight = cw, batch_size = 10, epochs = 1, shuffle = FALSE, verbose = 0)
  expect_equal(h$metrics$loss, sum(wts * l) / 10, tolerance = 1e-5)
})

test_that("results do not depend on the thread count and set.seed reproduces fits", {
  d <- tiny_xy(n = 300, d = 50)
  run <- function(threads) {
    withr::local_options(rkeras.num_threads = threads)
    set.seed(7)
    model <- keras_model_sequential() %>%
      layer_dense(64, activation = "relu", input_shape = 50) %>%
      layer_dropout(0.3) %>%
      layer_dense(3, activation = "softmax")
    model %>% compile(loss = "categorical_crossentropy", optimizer = "adam", metrics = "accuracy")
    h <- model %>% fit(d$x, d$onehot, epochs = 2, batch_size = 32, validation_split = 0.2, verbose = 0)
    list(h = h$metrics, w = get_weights(model))
  }
  one <- run(1)
  expect_identical(one, run(2))
  expect_identical(one, run(1))
})

test_that("single-batch calls follow rkeras.num_threads, with the same results", {
  d <- tiny_xy(n = 200, d = 50)
  run <- function(threads) {
    withr::local_options(rkeras.num_threads = threads)
    set.seed(3)
    model <- keras_model_sequential() %>%
      layer_dense(32, activation = "relu", input_shape = 50) %>%
      layer_dropout(0.3) %>%
      layer_dense(3, activation = "softmax")
    model %>% compile(loss = "categorical_crossentropy", optimizer = "rmsprop", metrics = "accuracy")
    losses <- vapply(1:3, function(i) train_on_batch(model, d$x, d$onehot)[[1]], 0)
    used <- rkeras:::rk_call(rkeras:::rk_model_get(model$ptr, "threads"))
    list(losses = losses, test = test_on_batch(model, d$x, d$onehot),
         p = predict_on_batch(model, d$x), w = get_weights(model), used = used)
  }
  one <- run(1)
  two <- run(2)
  expect_equal(c(one$used, two$used), c(1, 2))
  one$used <- two$used <- NULL
  expect_identical(one, two)
})

test_that("training output follows Keras's formats", {
  d <- tiny_xy(n = 40)
  model <- tiny_model()
  model %>% compile(loss = "categorical_crossentropy", optimizer = "sgd", metrics = "accuracy")
  out <- capture.output(model %>% fit(d$x, d$onehot, epochs = 2, batch_size = 10, verbose = 2))
  expect_equal(out[c(1, 3)], c("Epoch 1/2", "Epoch 2/2"))
  expect_match(out[2], "^4/4 - \\d+s - loss: \\d\\.\\d{4} - accuracy: \\d\\.\\d{4} - \\d+ms/epoch - \\d+[mu]?s/step$")
  expect_length(capture.output(model %>% fit(d$x, d$onehot, epochs = 2, verbose = 0)), 0)
})

test_that("history prints, converts and plots like Keras's", {
  local_reproducible_output(width = 80)
  h <- structure(list(params = list(verbose = 1L, epochs = 3L, steps = 10L),
                      metrics = list(loss = c(0.9, 0.7, 0.71592), accuracy = c(0.4, 0.5, 0.505),
                                     val_loss = c(1, 0.8, 0.6807), val_accuracy = c(0.3, 0.5, 0.57))),
                 class = "keras_training_history")
  expect_snapshot(print(h))
  df <- as.data.frame(h)
  expect_named(df, c("epoch", "value", "metric", "data"))
  expect_equal(nrow(df), 12)
  expect_equal(levels(df$metric), c("loss", "accuracy"))
  expect_equal(levels(df$data), c("training", "validation"))
  pdf(NULL); on.exit(dev.off())
  expect_null(plot(h, method = "base"))
  if (requireNamespace("ggplot2", quietly = TRUE)) expect_s3_class(plot(h), "ggplot")
})

test_that("train_on_batch, predict_on_batch and evaluate return Keras's shapes", {
  d <- tiny_xy(n = 12)
  model <- tiny_model()
  model %>% compile(loss = "categorical_crossentropy", optimizer = "adam", metrics = "accuracy")
  r <- train_on_batch(model, d$x, d$onehot)
  expect_type(r, "double")
  expect_length(r, 2)
  expect_equal(dim(predict_on_batch(model, d$x)), c(12L, 3L))
  expect_identical(predict_on_batch(model, d$x), predict(model, d$x, verbose = 0))
  expect_identical(predict_generator(model, function() list(d$x), steps = 2),
                   rbind(predict(model, d$x, verbose = 0), predict(model, d$x, verbose = 0)))
  c(loss, acc) %<-% evaluate(model, d$x, d$onehot, verbose = 0)
  expect_true(is.numeric(loss) && is.numeric(acc))
})

test_that("evaluate reads x as given: integers, batch sizes and thread counts agree; NA is located", {
  d <- tiny_xy(n = 70)
  model <- tiny_model()
  model %>% compile(loss = "categorical_crossentropy", optimizer = "sgd", metrics = "accuracy")
  xi <- round(d$x * 2)
  storage.mode(xi) <- "integer"
  ref <- evaluate(model, xi + 0, d$onehot, batch_size = 16, verbose = 0)
  expect_equal(evaluate(model, xi, d$onehot, batch_size = 16, verbose = 0), ref)
  p <- predict(model, xi, verbose = 0)
  expect_equal(ref$loss, mean(-log(rowSums(p * d$onehot))), tolerance = 1e-6)
  for (bs in c(1L, 7L, 70L)) {
    expect_equal(evaluate(model, xi, d$onehot, batch_size = bs, verbose = 0), ref, tolerance = 1e-6)
  }
  withr::with_options(list(rkeras.num_threads = 1), one <- evaluate(model, d$x, d$onehot, verbose = 0))
  withr::with_options(list(rkeras.num_threads = 2), two <- evaluate(model, d$x, d$onehot, verbose = 0))
  expect_identical(one, two)
  x <- d$x
  x[65, 3] <- NaN
  expect_error(evaluate(model, x, d$onehot, verbose = 0), "row 65, column 3", class = "rkeras_error_value")
  expect_identical(evaluate(model, d$x, d$onehot, verbose = 0), one) # still usable
})
