# image_data_generator() and its flows against Keras 3's legacy ImageDataGenerator
# (oracle/keras_image_generator.py): fixed transformations, normalizations fit on data, and
# what the folder and data frame flows find and give.

idg_oracle <- function() oracle_once("keras_image_generator.py")

# Keras's parameter names -> a full set of drawn parameters for one image.
idg_params <- function(p) {
  g <- function(name, default) if (is.null(p[[name]])) default else p[[name]]
  list(theta = g("theta", 0), tx = g("tx", 0), ty = g("ty", 0), shear = g("shear", 0), zx = g("zx", 1),
       zy = g("zy", 1), flip_horizontal = g("flip_horizontal", FALSE), flip_vertical = g("flip_vertical", FALSE),
       channel_shift = p$channel_shift_intensity, brightness = p$brightness)
}

test_that("fixed transformations give Keras's images in every fill mode", {
  rec <- read_json(file.path(idg_oracle(), "transform.json"))
  x0 <- unflat(rec$x)
  for (case in rec$cases) {
    x <- if (is.null(case$x)) x0 else unflat(case$x)
    gen <- image_data_generator(fill_mode = case$fill_mode, cval = case$cval)
    got <- rkeras:::idg_apply(gen, array(x, c(1, dim(x))), idg_params(case$params))
    want <- unflat(case$y)
    info <- paste(names(case$params), unlist(case$params), collapse = " ")
    expect_lt(max(abs(got[1, , , ] - want)), 1e-3, label = paste(case$fill_mode, info))
  }
})

test_that("normalizations fit on data give Keras's statistics and images", {
  rec <- read_json(file.path(idg_oracle(), "standardize.json"))
  x0 <- unflat(rec$x)
  for (case in rec$cases) {
    x <- if (is.null(case$x)) x0 else unflat(case$x)
    gen <- suppressWarnings(do.call(image_data_generator, case$args))
    suppressWarnings(fit_image_data_generator(gen, x)) # Keras too warns of 2 channels
    if (!is.null(case$mean)) expect_equal(as.vector(gen$mean), as.vector(unflat(case$mean)), tolerance = 1e-5)
    if (!is.null(case$std)) expect_equal(as.vector(gen$std), as.vector(unflat(case$std)), tolerance = 1e-5)
    got <- rkeras:::idg_standardize(gen, x)
    want <- unflat(case$y)
    expect_lt(max(abs(got - want)), 1e-3 * max(1, max(abs(want))), label = paste(names(case$args), collapse = " "))
  }
})

test_that("flow_images_from_directory() finds Keras's files, classes and batches", {
  dir <- idg_oracle()
  rec <- read_json(file.path(dir, "flow.json"))
  root <- file.path(dir, "folder")
  for (name in grep("^dir_", names(rec), value = TRUE)) {
    r <- rec[[name]]
    gen <- image_data_generator(validation_split = 0.5, rescale = 1 / 255)
    args <- lapply(r$args, function(a) if (is.list(a)) unlist(a) else a)
    make <- function() do.call(flow_images_from_directory, c(list(root, gen, shuffle = FALSE, batch_size = 3), args))
    expect_message(make(), sprintf("Found %d images belonging to", r$n))
    flow <- suppressMessages(make())
    expect_equal(flow$filenames, unlist(r$filenames), info = name)
    expect_equal(flow$classes, as.integer(unlist(r$classes)), info = name)
    expect_equal(flow$class_indices, lapply(r$class_indices, as.integer), info = name)
    expect_equal(flow$n, r$n)
    expect_equal(attr(flow, "steps"), r$len)
    batch <- generator_next(flow)
    expect_equal(batch[[1]], unflat(r$x), tolerance = 1e-5, info = name)
    expect_equal(as.vector(batch[[2]]), as.vector(unflat(r$y)), info = name)
  }
})

test_that("flow_images_from_dataframe() keeps Keras's rows, classes and labels", {
  dir <- idg_oracle()
  rec <- read_json(file.path(dir, "flow.json"))
  df <- data.frame(filename = c("dogs/d1.png", "cats/c2.png", "missing.png", "cats/notes.txt", "dogs/d4.png",
                                "zebras/z1.png"),
                   class = c("dog", "cat", "cat", "cat", "dog", "zebra"))
  for (name in grep("^df_", names(rec), value = TRUE)) {
    r <- rec[[name]]
    args <- lapply(r$args, function(a) if (is.list(a)) unlist(a) else a)
    make <- function() do.call(flow_images_from_dataframe, c(list(df, file.path(dir, "folder"), target_size = c(4, 4),
                                                                  shuffle = FALSE, batch_size = 10), args))
    expect_warning(expect_message(make(), "validated image filenames"), "2 invalid image filename")
    flow <- suppressWarnings(suppressMessages(make()))
    expect_equal(flow$filenames, unlist(r$filenames), info = name)
    expect_equal(flow$class_indices, lapply(r$class_indices, as.integer), info = name)
    batch <- generator_next(flow)
    expect_equal(batch[[1]], unflat(r$x), info = name)
    expect_equal(unname(as.matrix(batch[[2]])), unname(as.matrix(unflat(r$y))), info = name)
  }
})

test_that("flows train models, and draws repeat under a seed", {
  set.seed(1)
  x <- array(runif(30 * 8 * 8 * 3, 0, 255), c(30, 8, 8, 3))
  y <- to_categorical(rep(0:2, 10), 3)
  datagen <- image_data_generator(featurewise_center = TRUE, featurewise_std_normalization = TRUE,
                                  rotation_range = 20, width_shift_range = 0.2, height_shift_range = 0.2,
                                  horizontal_flip = TRUE, zoom_range = 0.1, shear_range = 5,
                                  channel_shift_range = 10, brightness_range = c(0.8, 1.2))
  datagen %>% fit_image_data_generator(x)
  b1 <- generator_next(flow_images_from_data(x, y, datagen, batch_size = 7, seed = 42))
  b2 <- generator_next(flow_images_from_data(x, y, datagen, batch_size = 7, seed = 42))
  expect_identical(b1, b2)
  expect_equal(dim(b1[[1]]), c(7, 8, 8, 3))
  flow <- flow_images_from_data(x, y, datagen, batch_size = 8, shuffle = FALSE)
  sizes <- vapply(1:5, function(i) dim(generator_next(flow)[[1]])[[1]], 1)
  expect_equal(sizes, c(8, 8, 8, 6, 8)) # the last batch of a pass is short, then it starts over
  model <- keras_model_sequential(input_shape = c(8, 8, 3)) %>% layer_flatten() %>%
    layer_dense(3, activation = "softmax")
  model %>% compile(loss = "categorical_crossentropy", optimizer = "adam", metrics = "accuracy")
  hist <- model %>% fit(flow_images_from_data(x, y, datagen, batch_size = 8), epochs = 2, verbose = 0,
                        validation_data = flow_images_from_data(x, y, datagen, batch_size = 8))
  expect_length(hist$metrics$val_loss, 2)
  flow <- flow_images_from_data(x, y, datagen, batch_size = 8)
  expect_warning(model %>% fit_generator(flow, steps_per_epoch = flow$n / flow$batch_size, epochs = 1, verbose = 0),
                 NA)
  expect_length(evaluate_generator(model, flow, steps = 2), 2)
  expect_equal(dim(predict_generator(model, flow, steps = 2)), c(16, 3))
})

test_that("subsets split as Keras splits, and bad arguments are errors naming them", {
  x <- array(runif(10 * 4 * 4 * 1), c(10, 4, 4, 1))
  gen <- image_data_generator(validation_split = 0.3)
  expect_equal(flow_images_from_data(x, rep(0:1, 5), gen, subset = "validation")$n, 3)
  expect_equal(flow_images_from_data(x, rep(0:1, 5), gen, subset = "training")$n, 7)
  expect_error(flow_images_from_data(x, c(rep(0, 3), rep(1, 7)), gen, subset = "training"), "different number of classes")
  expect_error(flow_images_from_data(x, subset = "training"), "validation_split")
  expect_error(image_data_generator(fill_mode = "mirror"), "fill_mode")
  expect_error(image_data_generator(zoom_range = c(1, 2, 3)), "zoom_range")
  expect_error(image_data_generator(validation_split = 1), "validation_split")
  expect_error(flow_images_from_data(x[, , , 1]), "`x` must be a numeric array of 4 dimensions")
  expect_error(flow_images_from_directory(tempfile()), "directory")
  expect_error(flow_images_from_data(x)$nope, "no field `nope`")
  expect_warning(image_data_generator(zca_whitening = TRUE), "overrides setting of `featurewise_center`")
  gen <- image_data_generator(featurewise_center = TRUE)
  expect_warning(generator_next(flow_images_from_data(x, generator = gen)), "hasn't been fit")
})

test_that("flows take what Keras takes: factors, unlabelled frames, absolute paths, 1-d labels, PPM files", {
  dir <- withr::local_tempdir()
  for (cls in c("a", "b")) {
    dir.create(file.path(dir, cls))
    for (i in 1:2) image_array_save(array(runif(6 * 5 * 3), c(6, 5, 3)), file.path(dir, cls, sprintf("%d.png", i)))
  }
  # A binary PPM (P6), 2 x 3 pixels, read as Pillow reads it.
  px <- as.raw(c(255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90))
  writeBin(c(charToRaw("P6\n3 2\n255\n"), px), file.path(dir, "a", "3.ppm"))
  img <- image_load(file.path(dir, "a", "3.ppm"))
  expect_equal(as.vector(aperm(unclass(img), c(3, 2, 1))), as.integer(px))
  flow <- suppressMessages(flow_images_from_directory(dir, target_size = c(4, 4), shuffle = FALSE))
  expect_equal(flow$filenames, c("a/1.png", "a/2.png", "a/3.ppm", "b/1.png", "b/2.png"))
  expect_equal(flow$labels, c(0L, 0L, 0L, 1L, 1L))
  df <- data.frame(filename = factor(file.path(dir, c("a/1.png", "b/2.png"))), class = factor(c("a", "b")))
  flow <- suppressMessages(flow_images_from_dataframe(df, directory = "/elsewhere", target_size = c(4, 4),
                                                      class_mode = "sparse", shuffle = FALSE))
  expect_equal(generator_next(flow)[[2]], c(0, 1))
  flow <- suppressMessages(flow_images_from_dataframe(df["filename"], class_mode = NULL, target_size = c(4, 4)))
  expect_equal(dim(generator_next(flow)), c(2, 4, 4, 3))
  expect_warning(suppressMessages(flow_images_from_dataframe(df, class_mode = NULL, classes = "a",
                                                             target_size = c(4, 4))), "will be ignored")
  x <- array(runif(4 * 3 * 3 * 1), c(4, 3, 3, 1))
  b <- generator_next(flow_images_from_data(x, array(1:4, 4), batch_size = 4, shuffle = FALSE))
  expect_equal(b[[2]], 1:4)
  b <- generator_next(flow_images_from_data(x, array(1:24, c(4, 2, 3)), batch_size = 2, shuffle = FALSE))
  expect_equal(dim(b[[2]]), c(2, 2, 3))
  gen <- image_data_generator(zoom_range = c(1.2, 0.8), brightness_range = c(1.2, 0.8), rotation_range = -10)
  expect_true(all(is.finite(generator_next(flow_images_from_data(x * 255, generator = gen)))))
  writeBin(as.raw(1:10), file.path(dir, "b", "x.tif"))
  expect_error(suppressMessages(flow_images_from_directory(dir)), "not TIFF")
})

test_that("folders behind symbolic links are entered only with follow_links = TRUE", {
  skip_on_os("windows")
  dir <- withr::local_tempdir()
  other <- withr::local_tempdir()
  dir.create(file.path(dir, "a"))
  image_array_save(array(runif(12), c(2, 2, 3)), file.path(dir, "a", "1.png"))
  image_array_save(array(runif(12), c(2, 2, 3)), file.path(other, "2.png"))
  file.symlink(other, file.path(dir, "a", "linked"))
  n <- function(follow) suppressMessages(flow_images_from_directory(dir, follow_links = follow))$n
  expect_equal(n(FALSE), 1)
  expect_equal(n(TRUE), 2)
})
