# Every layer the engine has, saved and loaded: by rkeras and by Keras 3.

layer_models <- function() {
  set.seed(8)
  img <- layer_input(c(8, 8, 2), name = "img")
  a <- img %>% layer_rescaling(c(0.5, 2), offset = 0.1) %>%
    layer_resizing(10, 9, interpolation = "bicubic", pad_to_aspect_ratio = TRUE, fill_value = 0.2) %>%
    layer_center_crop(8, 8) %>% layer_random_flip("horizontal", seed = 3) %>%
    layer_random_rotation(c(-0.1, 0.2), fill_mode = "constant", fill_value = 0.5) %>%
    layer_random_translation(0.1, c(-0.2, 0.1), interpolation = "nearest") %>%
    layer_random_zoom(0.2, fill_mode = "wrap") %>% layer_random_contrast(c(0.1, 0.3), value_range = c(-5, 5)) %>%
    layer_zero_padding_2d(1) %>% layer_conv_2d(4, 3, activation = "relu") %>%
    layer_batch_normalization() %>% layer_spatial_dropout_2d(0.1) %>% layer_max_pooling_2d(2) %>%
    layer_depthwise_conv_2d(3, padding = "same", depth_multiplier = 2, activation = "relu") %>%
    layer_separable_conv_2d(4, 3, padding = "same", depthwise_regularizer = regularizer_l2(0.01)) %>%
    layer_conv_2d_transpose(3, 3, strides = 2, padding = "same") %>% layer_cropping_2d(1) %>%
    layer_upsampling_2d(2) %>% layer_upsampling_2d(c(1, 2), interpolation = "bilinear") %>% layer_layer_normalization() %>% layer_activation_leaky_relu(0.2) %>%
    layer_average_pooling_2d(2)
  image_out <- list(a %>% layer_global_average_pooling_2d(), a %>% layer_global_max_pooling_2d()) %>%
    layer_concatenate() %>% layer_activation_elu() %>% layer_dense(3) %>% layer_activation_softmax()
  image <- keras_model(img, image_out)
  sq <- layer_input(c(10, 3), name = "sq")
  s <- sq %>% layer_masking(mask_value = 9) %>% layer_normalization(mean = c(0.1, 0.2, 0.3), variance = c(1, 2, 3)) %>% time_distributed(layer_dense(units = 3)) %>% layer_conv_1d(4, 3, padding = "causal", activation = "tanh") %>%
    layer_separable_conv_1d(3, 3, padding = "same", depth_multiplier = 2) %>%
    layer_depthwise_conv_1d(2, padding = "same") %>% layer_spatial_dropout_1d(0.1) %>%
    layer_zero_padding_1d(c(1, 2)) %>% layer_conv_1d_transpose(3, 3, strides = 2, padding = "same") %>%
    layer_cropping_1d(c(2, 1)) %>% layer_upsampling_1d(2) %>%
    layer_max_pooling_1d(2) %>% layer_average_pooling_1d(1)
  sequence <- keras_model(sq, list(s %>% layer_global_average_pooling_1d(), s %>% layer_global_max_pooling_1d()) %>%
                                layer_add() %>% layer_activation_relu(max_value = 2) %>% layer_dense(2, activation = "sigmoid"))
  p <- layer_input(4, name = "p"); q <- layer_input(4, name = "q")
  norm <- layer_normalization()
  adapt(norm, matrix(round(rnorm(40, 2, 3), 2), 10))
  pd <- p %>% norm() %>% layer_dense(6, activation = "relu"); qd <- q %>% layer_dense(6)
  merged <- list(layer_subtract(list(pd, qd)), layer_multiply(list(pd, qd)), layer_average(list(pd, qd)),
                 layer_maximum(list(pd, qd)), layer_minimum(list(pd, qd))) %>% layer_concatenate()
  m <- merged %>% layer_reshape(c(5, 6)) %>% layer_permute(c(2, 1)) %>% layer_flatten() %>%
    layer_repeat_vector(2) %>% layer_flatten() %>% layer_dropout(0.2) %>% layer_dense(3) %>% layer_activation("softmax")
  merge <- keras_model(list(p, q), list(m, layer_dot(list(pd, qd), axes = 1)))
  tx <- layer_input(6, name = "tx")
  text <- keras_model(tx, tx %>% layer_embedding(20, 4) %>% layer_lstm(5, return_sequences = TRUE) %>%
                        layer_gru(4, return_sequences = TRUE, go_backwards = TRUE) %>%
                        layer_gru(3, reset_after = FALSE, return_sequences = TRUE) %>%
                        bidirectional(layer_lstm(units = 2, return_sequences = TRUE)) %>%
                        bidirectional(layer_gru(units = 2), merge_mode = "sum") %>%
                        layer_dense(2, activation = "softmax"))
  fr <- layer_input(c(4, 3, 2), name = "frames")
  frames <- keras_model(fr, fr %>% time_distributed(layer_lstm(units = 3)) %>%
                          time_distributed(layer_dense(units = 2)) %>% layer_gru(2) %>% layer_dense(1))
  fr2 <- layer_input(c(3, 4, 2), name = "frames2")
  frames2 <- keras_model(fr2, fr2 %>% time_distributed(bidirectional(layer = layer_simple_rnn(units = 2))) %>% layer_flatten())
  # Returned and given states: a masked encoder's states start a backwards decoder.
  en <- layer_input(7, name = "en"); de <- layer_input(c(4, 3), name = "de")
  enc <- en %>% layer_embedding(12, 3, mask_zero = TRUE) %>% layer_lstm(4, return_state = TRUE)
  dec <- layer_lstm(units = 4, return_sequences = TRUE, return_state = TRUE, go_backwards = TRUE)(de, initial_state = enc[2:3])
  last <- layer_gru(units = 3, return_state = TRUE)(dec[[1]])
  s2s <- keras_model(list(en, de), list(dec[[1]] %>% layer_dense(2, activation = "softmax"), dec[[3]], last[[2]], enc[[1]]))
  cat_in <- layer_input(3, name = "cat_in")
  learnt <- layer_discretization(num_bins = 3, output_mode = "one_hot")
  adapt(learnt, round(rnorm(60, 2, 1), 2))
  coded <- list(cat_in %>% layer_discretization(bin_boundaries = c(1, 2.5)) %>% layer_category_encoding(4, "count"),
                cat_in %>% learnt() %>% layer_flatten()) %>% layer_concatenate() %>% layer_dense(2)
  encode <- keras_model(cat_in, coded)
  ids <- matrix(sample(1:11, 35, TRUE), 5); ids[, 1:2] <- 0; ids[2, 5] <- 0
  list(text = list(model = text, x = list(matrix(sample(0:19, 30, TRUE), 5))),
       states = list(model = s2s, x = list(ids, array(round(rnorm(5 * 12), 2), c(5, 4, 3)))),
       frames = list(model = frames, x = list(array(round(rnorm(5 * 24), 2), c(5, 4, 3, 2)))),
       frames2 = list(model = frames2, x = list(array(round(rnorm(5 * 24), 2), c(5, 3, 4, 2)))),
       image = list(model = image, x = list(array(round(rnorm(5 * 128), 2), c(5, 8, 8, 2)))),
       sequence = list(model = sequence, x = list(array(round(rnorm(5 * 30), 2), c(5, 10, 3)))),
       encode = list(model = encode, x = list(matrix(round(rnorm(15, 2, 1.5), 2), 5))),
       merge = list(model = merge, x = list(matrix(round(rnorm(20), 2), 5), matrix(round(rnorm(20), 2), 5))))
}

preds <- function(model, x) {
  p <- predict(model, if (length(x) == 1) x[[1]] else x, verbose = 0)
  if (is.list(p)) p else list(p)
}

test_that("every layer round-trips through .keras, .h5, weights files and saveRDS", {
  dir <- withr::local_tempdir()
  for (nm in names(cases <- layer_models())) {
    case <- cases[[nm]]
    # Non-trivial batch statistics and weights: one training step.
    want <- preds(case$model, case$x)
    for (f in file.path(dir, paste0(nm, c(".keras", ".h5")))) {
      save_model(case$model, f)
      back <- load_model(f)
      expect_identical(get_weights(back), get_weights(case$model), info = f)
      expect_equal(preds(back, case$x), want, tolerance = 1e-6, info = f)
      expect_identical(model_to_json(back) == model_to_json(case$model), TRUE, info = f)
    }
    fresh <- from_config(get_config(case$model))
    load_model_weights_hdf5(fresh, { w <- file.path(dir, paste0(nm, "_w.h5")); save_model_weights_hdf5(case$model, w); w })
    expect_equal(preds(fresh, case$x), want, tolerance = 1e-6, info = nm)
    rds <- file.path(dir, paste0(nm, ".rds"))
    saveRDS(case$model, rds)
    expect_equal(preds(readRDS(rds), case$x), want, tolerance = 1e-6, info = nm)
  }
})

test_that("Keras 3 loads every layer from rkeras's files and predicts the same", {
  py <- keras_python()
  dir <- withr::local_tempdir()
  cases <- layer_models()
  files <- list(); inputs <- list(); want <- list()
  for (nm in names(cases)) {
    for (ext in c(".keras", ".h5")) {
      f <- paste0("rk_", nm, ext)
      save_model(cases[[nm]]$model, file.path(dir, f))
      files[[f]] <- nm
    }
    inputs[[nm]] <- lapply(cases[[nm]]$x, flat_item)
    want[[nm]] <- preds(cases[[nm]]$model, cases[[nm]]$x)
  }
  writeLines(rkeras:::to_json(list(files = files, inputs = inputs)), file.path(dir, "inputs.json"))
  out <- suppressWarnings(system2(py, shQuote(c(test_path("oracle", "keras_saving.py"), "predict", dir)), stdout = TRUE, stderr = TRUE))
  expect_null(attr(out, "status"), info = paste(tail(out, 20), collapse = "\n"))
  got <- read_json(file.path(dir, "predict.json"))
  for (f in names(files)) {
    expect_equal(lapply(got[[f]], unflat), want[[files[[f]]]], tolerance = 1e-5, info = f)
  }
})
