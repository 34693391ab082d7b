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

test_that("layer_random_rotation(), _translation(), _zoom(), _contrast() and _crop() transform images as Keras 3 does", {
  # A factor with equal ends fixes the transform: one SGD step of augmentation -> flatten ->
  # dense shows the augmented images in the loss and the kernel's update. RandomCrop's cases
  # are the layer alone: its smart resize (inference here, training in Keras).
  dir <- oracle_once("keras_augment.py")
  for (name in unlist(read_json(file.path(dir, "cases.json")))) {
    rec <- read_json(file.path(dir, paste0(name, ".data.json")))
    model <- read_model(dir, name)
    if (is.null(rec$loss)) {
      x <- unflat(rec$x)
      expect_equal(predict(model, x, verbose = 0), unflat(rec$predict), tolerance = 1e-5, info = name)
      # Training: crop -> flatten -> an identity dense, against Keras's training output.
      train <- unflat(rec$train)
      n <- prod(dim(train)[-1])
      flat <- keras_model_sequential(input_shape = dim(train)[-1]) %>% layer_flatten()
      crop <- get_config(get_layer(model, index = 1))
      check <- keras_model_sequential(input_shape = dim(x)[-1]) %>%
        layer_random_crop(crop$height, crop$width) %>% layer_flatten() %>% layer_dense(n, use_bias = FALSE)
      set_weights(check, list(diag(n)))
      check %>% compile(optimizer = optimizer_sgd(0), loss = "mse")
      h <- check %>% fit(x, predict(flat, train, verbose = 0), batch_size = 4, epochs = 1, verbose = 0)
      expect_lt(h$metrics$loss, 1e-10)
      next
    }
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

test_that("layer_random_contrast() and layer_random_crop() draw in training, repeat under set.seed(), and check their arguments", {
  set.seed(3)
  x <- array(runif(8 * 7 * 6 * 2, 0, 255), c(8, 7, 6, 2))
  y <- runif(8)
  trained <- function(aug) {
    m <- keras_model_sequential(input_shape = c(7, 6, 2)) %>% aug() %>%
      layer_rescaling(1 / 255) %>% layer_flatten() %>% layer_dense(1, kernel_initializer = "ones")
    m %>% compile(loss = "mse", optimizer = optimizer_sgd(0.01))
    set.seed(5)
    h <- m %>% fit(x, y, epochs = 3, batch_size = 4, verbose = 0, shuffle = FALSE)
    list(model = m, loss = h$metrics$loss)
  }
  contrast <- function(m) m %>% layer_random_contrast(c(0.3, 0.6))
  crop <- function(m) m %>% layer_random_crop(4, 4)
  for (aug in list(contrast, crop)) {
    a <- trained(aug)
    expect_identical(a$loss, trained(aug)$loss)
  }
  # Contrast passes images through in inference; a crop's inference is the smart resize.
  m <- keras_model_sequential(input_shape = c(7, 6, 2)) %>% layer_random_contrast(0.5)
  expect_equal(predict(m, x, verbose = 0), x, tolerance = 1e-6)
  m <- keras_model_sequential(input_shape = c(7, 6, 2)) %>% layer_random_crop(3, 6)
  # The centred 3:6 window of 7 x 6 is rows 2-4 (all columns), resized bilinearly to 3 x 6:
  # a 3-row window read at its own rows.
  expect_equal(predict(m, x, verbose = 0), x[, 3:5, , , drop = FALSE], tolerance = 1e-6)
  dir <- withr::local_tempdir()
  for (f in file.path(dir, c("crop.keras", "crop.h5"))) {
    save_model(m, f)
    expect_equal(model_to_json(load_model(f)), model_to_json(m))
    expect_equal(predict(load_model(f), x, verbose = 0), predict(m, x, verbose = 0))
  }
  # A single number raises contrast only (Keras 3: the pair (0, factor)).
  expect_equal(as.numeric(unlist(get_config(layer_random_contrast(factor = 0.2))$factor)), c(0, 0.2))

  expect_error(layer_random_contrast(factor = 1.5), "`factor`", class = "rkeras_error_value")
  expect_error(layer_random_contrast(factor = -0.2), "`factor`", class = "rkeras_error_value")
  expect_error(layer_random_contrast(factor = 0.2, value_range = c(1, 0)), "`value_range`", class = "rkeras_error_value")
  expect_error(layer_random_crop(height = 0, width = 3), "`height`", class = "rkeras_error_value")
  expect_error(layer_random_crop(height = 3, width = "a"), "`width`", class = "rkeras_error_value")
  expect_error(keras_model_sequential(input_shape = c(4, 3)) %>% layer_random_crop(2, 2), "height, width, channels")
})
