# Custom layers written in R (Layer(), new_layer_class(), the R6 KerasLayer with
# create_layer()): their weights are trained, counted, saved and listed, and a custom layer
# that computes what a built-in layer computes trains exactly as the built-in one does.

# Keras for R's custom layer vignette's layer (R6 style), as written there.
CustomLayer <- R6::R6Class("CustomLayer",
  inherit = KerasLayer,
  public = list(
    output_dim = NULL,
    kernel = NULL,
    initialize = function(output_dim) {
      self$output_dim <- output_dim
    },
    build = function(input_shape) {
      self$kernel <- self$add_weight(
        name = "kernel",
        shape = list(input_shape[[2]], self$output_dim),
        initializer = initializer_random_normal(),
        trainable = TRUE
      )
    },
    call = function(x, mask = NULL) {
      k_dot(x, self$kernel)
    },
    compute_output_shape = function(input_shape) {
      list(input_shape[[1]], self$output_dim)
    }
  )
)

layer_custom <- function(object, output_dim, name = NULL, trainable = TRUE) {
  create_layer(CustomLayer, object, list(output_dim = as.integer(output_dim), name = name, trainable = trainable))
}

layer_linear <- new_layer_class(
  "Linear",
  initialize = function(units = 32, ...) {
    super$initialize(...)
    self$units <- as.integer(units)
  },
  build = function(input_shape) {
    self$w <- self$add_weight(name = "w", shape = c(tail(unlist(input_shape), 1), self$units),
                              initializer = "glorot_uniform", trainable = TRUE)
    self$b <- self$add_weight(name = "b", shape = self$units, initializer = "zeros", trainable = TRUE)
  },
  call = function(inputs) k_dot(inputs, self$w) + self$b,
  get_config = function() list(units = self$units)
)

layer_scale <- Layer(
  "Scale",
  initialize = function(...) {
    super()$`__init__`(...)
  },
  build = function(input_shape) {
    self$scale <- self$add_weight(name = "scale", shape = list(input_shape[[2]]), initializer = "ones")
    self$shift <- self$add_weight(name = "shift", shape = list(input_shape[[2]]), initializer = "zeros",
                                  trainable = FALSE)
  },
  call = function(x, mask = NULL) x * self$scale + self$shift
)

set.seed(7)
x <- matrix(rnorm(60 * 5), 60)
y <- cbind(x[, 1] - x[, 2], x[, 3] * 0.5, rowSums(x))

train_losses <- function(model, weights, optimizer = optimizer_adam(0.01)) {
  set_weights(model, weights)
  model %>% compile(loss = "mse", optimizer = optimizer)
  fit(model, x, y, epochs = 3, batch_size = 16, shuffle = FALSE, verbose = 0)$metrics$loss
}

test_that("a custom layer computing a dense layer's function trains as the dense layer does", {
  dense <- keras_model_sequential() %>% layer_dense(4, activation = "tanh", input_shape = 5) %>%
    layer_dense(3, use_bias = FALSE)
  custom <- keras_model_sequential() %>% layer_dense(4, activation = "tanh", input_shape = 5) %>% layer_custom(3)
  w <- get_weights(dense)
  expect_equal(lapply(get_weights(custom), dim), lapply(w, dim))
  expect_equal(train_losses(custom, w), train_losses(dense, w), tolerance = 1e-6)
  expect_equal(get_weights(custom), get_weights(dense), tolerance = 1e-5)

  dense2 <- keras_model_sequential() %>% layer_dense(3, input_shape = 5)
  input <- layer_input(shape = 5)
  linear <- keras_model(input, input %>% layer_linear(units = 3, name = "lin"))
  expect_equal(train_losses(linear, get_weights(dense2)), train_losses(dense2, get_weights(dense2)), tolerance = 1e-6)
  expect_equal(get_weights(linear), get_weights(dense2), tolerance = 1e-5)
})

test_that("a custom layer's weights are counted, listed, frozen, saved and read back", {
  model <- keras_model_sequential() %>% layer_dense(3, input_shape = 5, name = "d") %>% layer_scale(name = "sc")
  expect_equal(count_params(model), 18 + 6)
  out <- capture.output(summary(model))
  expect_true(any(grepl("sc \\(Scale\\)", out)))
  expect_true(any(grepl("Non-trainable params: 3", out)))
  expect_equal(as.numeric(get_weights(model)[[3]]), c(1, 1, 1))
  before <- get_weights(model)
  model %>% compile(loss = "mse", optimizer = optimizer_sgd(0.05))
  fit(model, x, y, epochs = 1, verbose = 0)
  after <- get_weights(model)
  expect_false(isTRUE(all.equal(after[[3]], before[[3]])))
  expect_equal(after[[4]], before[[4]])
  for (ext in c(".keras", ".h5")) {
    f <- tempfile(fileext = ext)
    save_model(model, f)
    back <- load_model(f)
    expect_equal(predict(back, x, verbose = 0), predict(model, x, verbose = 0), tolerance = 1e-6, info = ext)
    expect_equal(get_weights(back), get_weights(model), info = ext)
  }
  json <- model_to_json(model)
  again <- model_from_json(json)
  set_weights(again, get_weights(model))
  expect_equal(predict(again, x, verbose = 0), predict(model, x, verbose = 0))
  # The config keeps what get_config() returns.
  input <- layer_input(shape = 5)
  m2 <- keras_model(input, input %>% layer_linear(units = 2, name = "lin2"))
  expect_equal(get_config(get_layer(m2, "lin2"))$units, 2)
  # A layer object shared by two calls shares its weights.
  shared <- layer_linear(units = 2)
  a <- layer_input(shape = 2)
  b <- layer_input(shape = 2)
  m3 <- keras_model(list(a, b), layer_add(list(shared(a), shared(b))))
  expect_equal(count_params(m3), 6)
})

test_that("custom layers' mistakes are clear errors", {
  input <- layer_input(shape = 3)
  no_tensor <- Layer("NoTensor", initialize = function(...) super()$`__init__`(...), call = function(x) 1)
  expect_error(input %>% no_tensor(), "must return a tensor computed from its inputs")
  open_weight <- Layer("OpenWeight", initialize = function(...) super()$`__init__`(...),
                       build = function(input_shape) self$w <- self$add_weight(shape = list(NULL, 2)),
                       call = function(x) x)
  expect_error(input %>% open_weight(), "must have known sizes")
  reg <- Layer("Reg", initialize = function(...) super()$`__init__`(...),
               build = function(input_shape) self$w <- self$add_weight(shape = 3, regularizer = "l2"),
               call = function(x) x * self$w)
  expect_error(input %>% reg(), "`regularizer` is not supported", class = "rkeras_error_unsupported")
  failing <- Layer("Failing", initialize = function(...) super()$`__init__`(...), call = function(x) stop("broken"))
  expect_error(input %>% failing(), "In call\\(\\) of layer class 'Failing': broken")
  expect_error(Layer("NoCall", initialize = function() NULL), "needs a `call` method")
  expect_error(create_layer(list(), NULL), "must be an R6 class inheriting from KerasLayer")
  w_layer <- Layer("W", initialize = function(...) super()$`__init__`(...),
                   build = function(input_shape) self$w <- self$add_weight(shape = 3), call = function(x) x * self$w)
  l <- w_layer()
  out <- l(input)
  expect_error(l$.__enclos_env__, NA)
  expect_error(k_exp(rkeras:::layer_state(l)$custom$w), "only in its own call")
})

test_that("keras_model_custom() builds on its first data, as Keras for R's custom model guide writes it", {
  keras_model_simple_mlp <- function(num_classes, use_bn = FALSE, use_dp = FALSE, name = NULL) {
    keras_model_custom(name = name, function(self) {
      self$dense1 <- layer_dense(units = 32, activation = "relu")
      self$dense2 <- layer_dense(units = num_classes, activation = "softmax")
      if (use_dp) self$dp <- layer_dropout(rate = 0.5)
      if (use_bn) self$bn <- layer_batch_normalization(axis = -1)
      function(inputs, mask = NULL, training = FALSE) {
        x <- self$dense1(inputs)
        if (use_dp) x <- self$dp(x)
        if (use_bn) x <- self$bn(x)
        self$dense2(x)
      }
    })
  }
  model <- keras_model_simple_mlp(num_classes = 10, use_dp = TRUE, use_bn = TRUE, name = "mlp")
  expect_match(paste(capture.output(summary(model)), collapse = "\n"), "not built")
  model %>% compile(loss = "categorical_crossentropy", optimizer = optimizer_rmsprop(), metrics = c("accuracy"))
  data <- matrix(runif(200 * 20), nrow = 200, ncol = 20)
  labels <- to_categorical(sample(0:9, 200, TRUE), num_classes = 10)
  h <- model %>% fit(data, labels, epochs = 2, batch_size = 32, verbose = 0)
  expect_named(h$metrics, c("loss", "accuracy"))
  expect_equal(count_params(model), 20 * 32 + 32 + 4 * 32 + 32 * 10 + 10)
  expect_equal(dim(predict(model, data[1:3, ], verbose = 0)), c(3L, 10L))
  expect_equal(model$name, "mlp")
  # Built by predict() as well; the layers on `self` are the model's.
  m2 <- keras_model_custom(function(self) {
    self$d <- layer_dense(units = 2, kernel_initializer = "ones", use_bias = FALSE)
    function(inputs, mask = NULL, training = FALSE) self$d(inputs) * 2
  })
  expect_equal(predict(m2, matrix(1, 1, 3), verbose = 0), matrix(6, 1, 2))
  expect_error(keras_model_custom(function(self) 1), "must return the model's call function")
  expect_error(keras_model_custom("f"), "`model_fn` must be a function")
})

# Keras for R's custom-layers guide: a layer adding an activity loss with self$add_loss(), and
# a layer whose call() branches on `training`.
layer_activity_reg <- Layer(
  "ActivityReg",
  initialize = function(rate = 1e-2, ...) {
    super()$`__init__`(...)
    self$rate <- rate
  },
  call = function(inputs) {
    self$add_loss(self$rate * k_sum(inputs))
    inputs
  }
)

layer_half_in_training <- new_layer_class(
  "HalfInTraining",
  build = function(input_shape) {
    self$scale <- self$add_weight(name = "scale", shape = input_shape[[2]], initializer = "ones")
  },
  call = function(inputs, training = NULL) {
    if (training) {
      self$add_loss(0.1 * k_mean(k_square(self$scale)))
      return(inputs * self$scale * 0.5)
    }
    inputs * self$scale
  }
)

test_that("custom layers' added losses and training branches train, evaluate and predict as in Keras 3", {
  out <- suppressWarnings(system2(keras_python(), test_path("oracle", "keras_custom_layers.py"),
                                  stdout = TRUE, stderr = FALSE))
  expect_null(attr(out, "status"))
  want <- jsonlite::fromJSON(paste(out, collapse = ""), simplifyVector = FALSE)
  arr <- function(v) if (length(v$shape) > 1) array_reshape(unlist(v$values), unlist(v$shape)) else unlist(v$values)
  inputs <- layer_input(4)
  outputs <- inputs %>% layer_dense(3, activation = "tanh", name = "d1") %>%
    layer_activity_reg(0.05, name = "reg") %>% layer_half_in_training(name = "half") %>% layer_dense(2, name = "d2")
  model <- keras_model(inputs, outputs)
  set_weights(model, lapply(want$weights, arr))
  ca_arr <- function(shape, start) array_reshape(sin((seq_len(prod(shape)) - 1) * 0.7 + start) * 1.5, shape)
  x <- ca_arr(c(20, 4), 0.3)
  y <- ca_arr(c(20, 2), 0.5)
  # Inference ignores the training branch and its loss: predictions before training differ
  # from a model without the layers' added losses only by the scale.
  model %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
  losses <- vapply(1:4, function(i) train_on_batch(model, x[(i - 1) * 5 + 1:5, ], y[(i - 1) * 5 + 1:5, ]), 1)
  expect_equal(losses, unlist(want$losses), tolerance = 1e-5)
  expect_equal(evaluate(model, x, y, batch_size = 5, verbose = 0)[["loss"]], want$evaluate, tolerance = 1e-5)
  expect_equal(predict(model, x, verbose = 0), arr(want$predict), tolerance = 1e-5)
  got <- get_weights(model)
  for (i in seq_along(got)) expect_equal(c(got[[i]]), c(arr(want$final[[i]])), tolerance = 1e-5, info = i)
  # The layer keeps both functions through Keras's JSON and rkeras's files.
  f <- withr::local_tempfile(fileext = ".keras")
  save_model(model, f)
  again <- load_model(f)
  expect_equal(predict(again, x, verbose = 0), predict(model, x, verbose = 0))
  again %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
  expect_equal(evaluate(again, x, y, batch_size = 5, verbose = 0)[["loss"]],
               evaluate(model, x, y, batch_size = 5, verbose = 0)[["loss"]], tolerance = 1e-6)
})

test_that("add_loss() outside call() and of a non-tensor is an error", {
  layer_bad <- Layer("Bad", initialize = function(...) super()$`__init__`(...),
                     call = function(x) {
                       self$add_loss(1)
                       x
                     })
  expect_error(layer_input(3) %>% layer_bad(), "`losses` must be a tensor", class = "rkeras_error")
  layer_early <- Layer("Early", initialize = function(...) super()$`__init__`(...),
                       build = function(input_shape) self$add_loss(1),
                       call = function(x) x)
  expect_error(layer_input(3) %>% layer_early(), "only in the layer's own call", class = "rkeras_error")
})

test_that("keras_model_custom() calls with training = NULL: layers given it follow the model's mode", {
  m <- keras_model_custom(function(self) {
    self$drop <- layer_dropout(rate = 0.5)
    function(inputs, mask = NULL, training = FALSE) inputs %>% self$drop(training = training)
  })
  x <- matrix(1, 40, 4)
  expect_equal(predict(m, x, verbose = 0), x)
  m %>% compile(optimizer = optimizer_sgd(0), loss = "mse")
  # In training the dropout runs: each value is 0 or 2, 1 away from its target.
  expect_equal(train_on_batch(m, x, x), 1, tolerance = 1e-6)
  expect_equal(evaluate(m, x, x, verbose = 0)[["loss"]], 0)
  branching <- keras_model_custom(function(self) {
    self$d <- layer_dense(units = 2)
    function(inputs, mask = NULL, training = FALSE) if (training) self$d(inputs) else inputs
  })
  expect_error(predict(branching, x, verbose = 0), "pass `training` on to layers", class = "rkeras_error")
})
