# Keras 3 (Python, from the test venv) as the oracle for model JSON in both directions and
# for the layers' forward passes: the same weights and inputs give the same outputs.

test_that("model_from_json() reads Keras 3's JSON: same layers, shapes, parameters and outputs", {
  dir <- withr::local_tempdir()
  run_keras("write", dir)
  for (name in c("sequential", "functional", "broadcast")) {
    rec <- read_json(file.path(dir, paste0(name, ".data.json")))
    model <- model_from_json(readLines(file.path(dir, paste0(name, ".json")), warn = FALSE))
    expect_s3_class(model, if (name == "sequential") "rkeras_sequential" else "rkeras_functional")
    expect_equal(layer_table(model), keras_table(rec), info = name)
    set_weights(model, lapply(rec$weights, unflat))
    want <- lapply(rec$outputs, unflat)
    got <- rk_predict_list(model, lapply(rec$inputs, unflat))
    expect_equal(length(got), length(want))
    for (i in seq_along(want)) expect_equal(unname(got[[i]]), want[[i]], tolerance = 1e-5, info = name)
  }
})

test_that("Keras reads rkeras's JSON, R-built and round-tripped: same layers and outputs", {
  dir <- withr::local_tempdir()
  run_keras("write", dir)
  withr::local_seed(3)
  a <- layer_input(shape = 6, name = "a")
  b <- layer_input(shape = c(2, 3), name = "b")
  shared <- layer_dense(units = 6, activation = "tanh", name = "shared", kernel_regularizer = regularizer_l1(0.1))
  h <- layer_concatenate(list(a %>% shared, b %>% layer_flatten() %>% shared), name = "cat")
  out <- h %>% layer_reshape(c(3, 4)) %>% layer_permute(c(2, 1)) %>% layer_dropout(0.5) %>%
    layer_dense(2, kernel_initializer = initializer_random_normal(0, 0.2), name = "last")
  built <- keras_model(list(a, b), list(out, layer_maximum(list(a %>% shared, b %>% layer_flatten() %>% shared))))
  models <- list(built = built)
  for (name in c("sequential", "functional")) models[[name]] <- model_from_json(readLines(file.path(dir, paste0(name, ".json")), warn = FALSE))
  for (name in names(models)) {
    model <- models[[name]]
    inputs <- lapply(model_input_shapes(model), function(s) array(rnorm(4 * prod(s)), c(4, s)))
    path <- file.path(dir, paste0(name, "_rk.json"))
    writeLines(model_to_json(model), path)
    data <- file.path(dir, paste0(name, "_rk.data.json"))
    writeLines(rkeras:::to_json(list(weights = lapply(get_weights(model), flat_item),
                                     inputs = lapply(inputs, flat_item))), data)
    rec <- rkeras:::rk_json_parse(paste(run_keras("read", path, data), collapse = "\n"))$ok
    expect_equal(keras_table(rec), layer_table(model), info = name)
    want <- rk_predict_list(model, inputs)
    got <- lapply(rec$outputs, unflat)
    for (i in seq_along(want)) expect_equal(got[[i]], unname(want[[i]]), tolerance = 1e-5, info = name)
  }
})

test_that("JSON round trips keep the configuration: get_config()/from_config(), Keras 2's JSON", {
  withr::local_seed(4)
  model <- keras_model_sequential(name = "s") %>%
    layer_dense(3, activation = "relu", input_shape = 4, kernel_initializer = "he_normal",
                kernel_regularizer = regularizer_l1_l2(0.1, 0.2), name = "d") %>%
    layer_dropout(0.25) %>%
    layer_dense(2, use_bias = FALSE)
  json <- model_to_json(model)
  again <- model_from_json(json)
  expect_identical(model_to_json(again), json)
  cfg <- get_config(model)
  expect_equal(cfg$layers[[2]]$config$kernel_initializer$class_name, "HeNormal")
  expect_equal(cfg$layers[[2]]$config$kernel_regularizer$config$l2, 0.2, tolerance = 1e-6)
  expect_identical(model_to_json(from_config(cfg)), json)
  expect_equal(count_params(again), count_params(model))
  # Keras 2 (Keras for R 2.x) wrote batch_input_shape and nested inbound nodes.
  k2 <- paste0('{"class_name": "Functional", "config": {"name": "m", "layers": [',
    '{"class_name": "InputLayer", "config": {"batch_input_shape": [null, 4], "dtype": "float32", "name": "in"}, "name": "in", "inbound_nodes": []},',
    '{"class_name": "Dense", "config": {"name": "d", "trainable": false, "units": 2, "activation": "linear", "use_bias": true,',
    ' "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}}, "bias_initializer": {"class_name": "Zeros", "config": {}},',
    ' "kernel_regularizer": null, "bias_regularizer": null, "activity_regularizer": null, "kernel_constraint": null, "bias_constraint": null},',
    ' "name": "d", "inbound_nodes": [[["in", 0, 0, {}]]]}],',
    ' "input_layers": [["in", 0, 0]], "output_layers": [["d", 0, 0]]}, "keras_version": "2.12.0", "backend": "tensorflow"}')
  m2 <- model_from_json(k2)
  expect_equal(m2$output_shape, list(NULL, 2L))
  expect_false(get_layer(m2, "d")$trainable)
  expect_error(model_from_json('{"class_name": "Sequential", "config": {"layers": [{"class_name": "Conv9D", "config": {"name": "c"}}]}}'),
               "Conv9D", class = "rkeras_error")
  expect_error(model_from_json("{"), "not valid JSON", class = "rkeras_error")
})

test_that("a model kept as its JSON and weights (plain R values) is rebuilt across sessions", {
  withr::local_seed(9)
  model <- keras_model_sequential() %>%
    layer_conv_2d(3, 3, activation = "relu", input_shape = c(6, 6, 1)) %>%
    layer_batch_normalization() %>% layer_flatten() %>% layer_dense(2, activation = "softmax")
  model %>% compile(loss = "categorical_crossentropy", optimizer = "adam")
  x <- array(runif(5 * 36), c(5, 6, 6, 1))
  fit(model, x, to_categorical(c(0, 1, 0, 1, 1), 2), epochs = 2, verbose = 0)
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(list(json = model_to_json(model), weights = get_weights(model)), path)
  kept <- readRDS(path)
  again <- model_from_json(kept$json)
  set_weights(again, kept$weights)
  expect_equal(predict(again, x, verbose = 0), predict(model, x, verbose = 0), tolerance = 1e-6)
})
