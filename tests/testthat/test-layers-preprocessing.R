# Image augmentation layers: active in training only, reproducible under set.seed().

test_that("layer_random_flip() flips in training only, and set.seed() repeats its draws", {
  set.seed(2)
  x <- array(runif(8 * 6 * 6), c(8, 6, 6, 1))
  y <- runif(8)
  build <- function(flip) {
    m <- keras_model_sequential(input_shape = c(6, 6, 1))
    if (flip) m %>% layer_random_flip("horizontal")
    m %>% layer_conv_2d(2, 3) %>% layer_flatten() %>% layer_dense(1)
    m %>% compile(loss = "mse", optimizer = optimizer_sgd(0.1))
  }
  trained <- function(flip, w0) {
    m <- build(flip)
    set_weights(m, w0)
    set.seed(5)
    m %>% fit(x, y, epochs = 2, batch_size = 4, verbose = 0, shuffle = FALSE)
    m
  }
  w0 <- get_weights(build(TRUE))
  a <- trained(TRUE, w0)
  b <- trained(TRUE, w0)
  plain <- trained(FALSE, w0)
  expect_identical(get_weights(a), get_weights(b))
  expect_false(isTRUE(all.equal(get_weights(a), get_weights(plain))))
  # In inference the flip passes the images through.
  same <- build(FALSE)
  set_weights(same, get_weights(a))
  expect_identical(predict(a, x, verbose = 0), predict(same, x, verbose = 0))
  expect_identical(evaluate(a, x, y, verbose = 0), evaluate(same, x, y, verbose = 0))

  expect_error(layer_random_flip(mode = "diagonal"), "`mode`", class = "rkeras_error_value")
  expect_error(layer_random_flip(seed = -1), "`seed`", class = "rkeras_error_value")
  expect_error(keras_model_sequential(input_shape = 4) %>% layer_random_flip(), "height, width, channels")
})
