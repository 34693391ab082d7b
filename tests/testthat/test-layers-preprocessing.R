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

test_that("layer_random_rotation(), _translation() and _zoom() transform images as Keras 3 does", {
  # A factor with equal ends fixes the transform: one SGD step of augmentation -> flatten ->
  # dense shows the augmented images in the loss and the kernel's update.
  dir <- oracle_once("keras_augment.py")
  for (name in unlist(read_json(file.path(dir, "cases.json")))) {
    rec <- read_json(file.path(dir, paste0(name, ".data.json")))
    model <- read_model(dir, name)
    set_weights(model, lapply(rec$weights, unflat))
    model %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
    h <- model %>% fit(unflat(rec$x), unflat(rec$y), batch_size = 4, epochs = 1, verbose = 0, shuffle = FALSE)
    expect_equal(h$metrics$loss, rec$loss, tolerance = 1e-5, info = name)
    expect_equal(get_weights(model), lapply(rec$weights_after, unflat), tolerance = 1e-5, info = name)
    expect_equal(predict(model, unflat(rec$x), verbose = 0), unflat(rec$predict), tolerance = 1e-5, info = name)
  }
})

test_that("the affine augmentation layers check their arguments", {
  expect_error(layer_random_rotation(factor = 2), "`factor`", class = "rkeras_error_value")
  expect_error(layer_random_zoom(height_factor = c(-1, 0.5)), "above -1", class = "rkeras_error_value")
  expect_error(layer_random_translation(height_factor = 0.1, width_factor = "a"), "`width_factor`",
               class = "rkeras_error_value")
  expect_error(layer_random_rotation(factor = 0.1, fill_mode = "mirror"), "`fill_mode`", class = "rkeras_error_value")
  expect_error(layer_random_zoom(height_factor = 0.1, interpolation = "bicubic"), "`interpolation`", class = "rkeras_error_value")
  expect_error(keras_model_sequential(input_shape = c(4, 3)) %>% layer_random_zoom(0.1), "height, width, channels")
})
