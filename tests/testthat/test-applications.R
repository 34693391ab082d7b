# Application models against Keras 3 (oracle/keras_applications.py): the same layers, names
# and parameter counts; weight files Keras writes (its legacy HDF5 layout, as its published
# ImageNet files, and .weights.h5) load and give Keras's predictions; ImageNet preprocessing.

apps_oracle <- function() oracle_once("keras_applications.py")

app_case <- function(name) {
  dir <- apps_oracle()
  rec <- read_json(file.path(dir, paste0(name, ".json")))
  rec$args <- lapply(rec$args, function(a) if (is.list(a)) unlist(a) else a)
  rec$h5 <- file.path(dir, paste0(name, ".h5"))
  rec$weights_h5 <- file.path(dir, paste0(name, ".weights.h5"))
  rec
}

app_layers <- function(model) {
  ls <- model$layers
  data.frame(name = vapply(ls, function(l) l$name, ""),
             class_name = vapply(ls, function(l) rkeras:::layer_state(l)$spec$class_name, ""),
             params = vapply(ls, function(l) as.integer(l$count_params()), 1L))
}

oracle_layers <- function(rec) {
  ls <- Filter(function(l) l$class_name != "InputLayer", rec$layers)
  data.frame(name = vapply(ls, `[[`, "", "name"), class_name = vapply(ls, `[[`, "", "class_name"),
             params = vapply(ls, function(l) as.integer(l$params), 1L))
}

# Each case's application and preprocessing, by the name the oracle gives it
# (application_<app>(); resnet101_v2 -> resnet_v2_preprocess_input()).
app_fn <- function(app) match.fun(paste0("application_", app))

app_preprocess <- function(app) {
  family <- sub("^efficientnet_b[0-7]", "efficientnet", sub("^(resnet|densenet)[0-9]+", "\\1", app))
  match.fun(paste0(family, "_preprocess_input"))
}

# The oracle's cases: each compared layer by layer, and its weight files (when written) loaded.
app_cases <- function() {
  setdiff(sub("\\.json$", "", list.files(apps_oracle(), "\\.json$")), c("counts", "preprocess", "apps_preprocess"))
}

test_that("the application models have Keras's layers, names and parameter counts", {
  counts <- read_json(file.path(apps_oracle(), "counts.json"))
  for (case in names(counts)) {
    args <- lapply(counts[[case]]$args, function(a) if (is.list(a)) unlist(a) else a)
    model <- do.call(app_fn(counts[[case]]$app), c(list(weights = NULL), args))
    expect_equal(count_params(model), counts[[case]]$params, info = case)
    expect_equal(model$name, counts[[case]]$name, info = case)
    expect_length(model$layers, counts[[case]]$layers - 1L)
  }
  rec <- app_case("mobilenet_v2_a035_96_top")
  k_clear_session() # Keras's automatic names (global_average_pooling2d) start afresh
  model <- do.call(application_mobilenet_v2, c(list(weights = NULL), rec$args))
  expect_equal(app_layers(model), oracle_layers(rec))
  expect_equal(count_params(model), rec$params)
  expect_output(summary(model), sprintf("Total params: %s", format(rec$params, big.mark = ",")))
  for (name in setdiff(app_cases(), "mobilenet_v2_a035_96_top")) {
    rec <- app_case(name)
    k_clear_session()
    model <- do.call(app_fn(rec$app), c(list(weights = NULL), rec$args))
    expect_equal(app_layers(model), oracle_layers(rec), info = name)
  }
})

test_that("Keras's weight files load into the application models and give Keras's predictions", {
  for (name in app_cases()) {
    rec <- app_case(name)
    x <- unflat(rec$x)
    want <- unflat(rec$y)
    for (file in Filter(file.exists, c(rec$h5, rec$weights_h5))) {
      model <- do.call(app_fn(rec$app), c(list(weights = file), rec$args))
      got <- predict(model, app_preprocess(rec$app)(x), verbose = 0)
      expect_equal(dim(got), dim(want), info = file)
      expect_lt(max(abs(got - want)), 1e-4 * max(1, max(abs(want))))
    }
  }
})

test_that("weights = \"imagenet\" reads Keras's file name from the cache, and a wrong file is an error naming the layer", {
  rec <- app_case("mobilenet_v2_a05_no_top_avg")
  home <- withr::local_tempdir()
  withr::local_envvar(KERAS_HOME = home)
  dir.create(file.path(home, "models"))
  # Keras's name for alpha 0.5 without the top: the non-square input loads the 224 weights.
  file.copy(rec$h5, file.path(home, "models", "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224_no_top.h5"))
  expect_warning(model <- do.call(application_mobilenet_v2, c(list(weights = "imagenet"), rec$args)),
                 "weights for input shape \\(224, 224\\)")
  got <- predict(model, mobilenet_v2_preprocess_input(unflat(rec$x)), verbose = 0)
  expect_lt(max(abs(got - unflat(rec$y))), 1e-4 * max(1, max(abs(unflat(rec$y)))))
  # The alpha 0.35 file in an alpha 0.5 model: the first layer that does not fit is named
  # (Conv1 has 16 filters for both).
  other <- app_case("mobilenet_v2_a035_96_top")$h5
  expect_error(application_mobilenet_v2(weights = other, alpha = 0.5, input_shape = c(96, 96, 3), classes = 7),
               "block_1_project/kernel", class = "rkeras_error_shape")
})

test_that("application_mobilenet() loads Keras's ImageNet file for alpha and the input size", {
  home <- withr::local_tempdir()
  withr::local_envvar(KERAS_HOME = home)
  dir.create(file.path(home, "models"))
  set.seed(5)
  model <- application_mobilenet(weights = NULL, alpha = 0.25, include_top = FALSE, input_shape = c(128, 128, 3))
  save_model_weights_hdf5(model, file.path(home, "models", "mobilenet_2_5_128_tf_no_top.h5"))
  loaded <- application_mobilenet(weights = "imagenet", alpha = 0.25, include_top = FALSE, input_shape = c(128, 128, 3))
  expect_equal(loaded$name, "mobilenet_0.25_128")
  expect_identical(get_weights(loaded), get_weights(model))
  # A square 128 input with the top is allowed (Keras's default size follows the input).
  expect_error(application_mobilenet(weights = "imagenet", input_shape = c(100, 100, 3)), "c\\(224, 224, 3\\)",
               class = "rkeras_error_value")
  expect_error(application_mobilenet(weights = "imagenet", depth_multiplier = 2, include_top = FALSE),
               "`depth_multiplier`", class = "rkeras_error_value")
  expect_error(application_mobilenet(weights = "imagenet", alpha = 0.35, include_top = FALSE), "`alpha`",
               class = "rkeras_error_value")
})

test_that("a frozen MobileNetV2 base with a new head trains only the head (transfer learning)", {
  set.seed(3)
  base <- application_mobilenet_v2(weights = NULL, include_top = FALSE, alpha = 0.35, input_shape = c(32, 32, 3))
  base$trainable <- FALSE
  inputs <- layer_input(c(32, 32, 3))
  outputs <- inputs %>% base() %>% layer_global_average_pooling_2d() %>% layer_dense(2, activation = "softmax")
  model <- keras_model(inputs, outputs)
  expect_equal(length(model$trainable_weights), 2L)
  model %>% compile(optimizer = "adam", loss = "sparse_categorical_crossentropy")
  before <- get_weights(base)
  head_before <- get_weights(model)[length(get_weights(model))]
  x <- array(runif(8 * 32 * 32 * 3, -1, 1), c(8, 32, 32, 3))
  model %>% fit(x, rep(0:1, 4), epochs = 1, batch_size = 4, verbose = 0)
  expect_identical(get_weights(base), before)
  expect_false(identical(get_weights(model)[length(get_weights(model))], head_before))
})

test_that("imagenet_preprocess_input() and each application's preprocess_input() equal Keras's", {
  for (case in read_json(file.path(apps_oracle(), "preprocess.json"))) {
    got <- imagenet_preprocess_input(unflat(case$x), data_format = case$data_format, mode = case$mode)
    expect_equal(got, unflat(case$y), tolerance = 1e-12, info = paste(case$mode, case$data_format))
  }
  apps <- read_json(file.path(apps_oracle(), "apps_preprocess.json"))
  for (app in names(apps$y)) {
    expect_equal(app_preprocess(app)(unflat(apps$x)), unflat(apps$y[[app]]), tolerance = 1e-12, info = app)
  }
  expect_equal(densenet_preprocess_input(unflat(apps$x_channels_first), data_format = "channels_first"),
               unflat(apps$y_channels_first$densenet121), tolerance = 1e-12)
  expect_error(imagenet_preprocess_input(array(1, c(2, 2, 2))), "3 channels", class = "rkeras_error_value")
  expect_error(imagenet_preprocess_input(array(1, c(2, 2, 3)), mode = "x"), "`mode`", class = "rkeras_error_value")
})

test_that("imagenet_decode_predictions() names the top classes from Keras's class index", {
  index <- withr::local_tempfile(fileext = ".json")
  writeLines(paste0("{", paste(sprintf("\"%d\": [\"n%08d\", \"class_%d\"]", 0:999, 0:999, 0:999), collapse = ", "), "}"),
             index)
  preds <- matrix(runif(2000), 2)
  preds[1, 5] <- 2
  preds[2, 1000] <- 3
  out <- rkeras:::decode_with_index(preds, 3, index)
  expect_length(out, 2)
  expect_named(out[[1]], c("class_name", "class_description", "score"))
  expect_equal(out[[1]]$class_name[[1]], "n00000004")
  expect_equal(out[[2]]$class_description[[1]], "class_999")
  expect_equal(out[[1]]$score, sort(preds[1, ], decreasing = TRUE)[1:3])
  expect_error(imagenet_decode_predictions(matrix(0, 2, 10)), "\\(samples, 1000\\)", class = "rkeras_error_value")
})

test_that("without the top and an input shape, the image size stays open", {
  base <- application_mobilenet_v2(weights = NULL, include_top = FALSE, alpha = 0.35)
  expect_equal(base$name, "mobilenetv2_0.35_None")
  expect_equal(base$output_shape, list(NULL, NULL, NULL, 1280L))
  # Keras pads (0, 1) before each stride-2 depthwise convolution of an open size.
  expect_equal(dim(predict(base, array(0, c(1, 97, 33, 3)), verbose = 0)), c(1L, 3L, 1L, 1280L))
  expect_equal(dim(predict(base, array(0, c(2, 64, 64, 3)), verbose = 0)), c(2L, 2L, 2L, 1280L))
})

test_that("application arguments are checked as Keras checks them", {
  expect_error(application_mobilenet_v2(weights = "nope.h5"), "`weights`", class = "rkeras_error_value")
  expect_error(application_mobilenet_v2(weights = "imagenet", classes = 10), "`classes` must be 1000",
               class = "rkeras_error_value")
  expect_error(application_mobilenet_v2(weights = NULL, input_shape = c(16, 16, 3)), "at least 32 x 32",
               class = "rkeras_error_value")
  expect_error(application_mobilenet_v2(weights = NULL, input_shape = c(64, 64)), "three values",
               class = "rkeras_error_value")
  expect_error(application_mobilenet_v2(weights = "imagenet", input_shape = c(96, 96, 3)), "c\\(224, 224, 3\\)",
               class = "rkeras_error_value")
  expect_error(application_mobilenet_v2(weights = "imagenet", alpha = 0.6, include_top = FALSE,
                                        input_shape = c(96, 96, 3)), "`alpha`", class = "rkeras_error_value")
  expect_error(application_mobilenet_v2(weights = NULL, pooling = "min", include_top = FALSE), "`pooling`",
               class = "rkeras_error_value")
  expect_error(application_mobilenet_v2(weights = NULL, input_tensor = 3), "`input_tensor`",
               class = "rkeras_error_type")
  expect_error(application_resnet101(weights = NULL, include_top = FALSE, foo = 1), "`foo`",
               class = "rkeras_error_value")
  expect_error(application_densenet121(weights = NULL, include_top = FALSE, foo = 1), "`foo`",
               class = "rkeras_error_value")
  expect_error(application_xception(weights = NULL, input_shape = c(64, 64, 3)), "at least 71 x 71",
               class = "rkeras_error_value")
  expect_error(application_inception_v3(weights = NULL, input_shape = c(74, 80, 3)), "at least 75 x 75",
               class = "rkeras_error_value")
})

test_that("Inception bases without an input shape take images of any size from 75 x 75", {
  # Keras's fine-tuning example: application_inception_v3(weights = "imagenet", include_top = FALSE).
  base <- application_inception_v3(weights = NULL, include_top = FALSE)
  expect_equal(base$output_shape, list(NULL, NULL, NULL, 2048L))
  x <- array(runif(75 * 75 * 3, 0, 255), c(1, 75, 75, 3))
  expect_equal(dim(predict(base, x, verbose = 0)), c(1, 1, 1, 2048))
  x <- array(runif(2 * 150 * 170 * 3, 0, 255), c(2, 150, 170, 3))
  expect_equal(dim(predict(base, x, verbose = 0)), c(2, 3, 3, 2048))
  pooled <- application_inception_resnet_v2(weights = NULL, include_top = FALSE, pooling = "avg")
  expect_equal(pooled$output_shape, list(NULL, 1536L))
})

test_that("EfficientNet's random weights follow Keras's initializers: variance scaling by the fan out", {
  set.seed(1)
  model <- application_efficientnet_b0(weights = NULL)
  stem <- get_weights(get_layer(model, "stem_conv"))[[1]]          # 3 x 3 x 3 x 32: fan out 288
  expect_equal(sd(stem), sqrt(2 / 288), tolerance = 0.08)
  expect_lte(max(abs(stem)), 2 * sqrt(2 / 288) / 0.87962566 + 1e-6)   # truncated at 2 sd
  top <- get_weights(get_layer(model, "predictions"))
  expect_lte(max(abs(top[[1]])), sqrt(1 / 1000) + 1e-6)              # uniform, scale 1/3, fan out 1000
  expect_gt(max(abs(top[[1]])), 0.99 * sqrt(1 / 1000))
  expect_equal(sum(abs(top[[2]])), 0)
  expect_equal(class(initializer_variance_scaling()), "rkeras_initializer")
  expect_error(initializer_variance_scaling(mode = "fan_max"), "`mode`", class = "rkeras_error_value")
  expect_error(initializer_variance_scaling(distribution = "cauchy"), "`distribution`", class = "rkeras_error_value")
})
