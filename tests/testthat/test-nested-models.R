# Models used as layers, checked against Keras 3: one row of summary() and one entry of
# model$layers each, nested JSON and .keras/.h5 files both ways, and the layers (with their
# weights) shared between the inner and the outer model.

nested_rows <- function(model) {
  info <- rkeras:::graph_summary_info(model)
  keep <- info$class != "InputLayer"
  data.frame(name = info$name[keep], class_name = info$class[keep], params = as.integer(info$params[keep]))
}

keras_rows <- function(rows) {
  rows <- Filter(function(r) r$class_name != "InputLayer", rows)
  data.frame(name = vapply(rows, `[[`, "", "name"), class_name = vapply(rows, `[[`, "", "class_name"),
             params = vapply(rows, function(r) as.integer(r$params), 1L))
}

nested_totals <- function(model) {
  c(trainable = sum(lengths(model$trainable_weights)), non_trainable = sum(lengths(model$non_trainable_weights)))
}

as_inputs <- function(rec) {
  xs <- lapply(rec$inputs, function(x) do.call(rbind, lapply(x, unlist)))
  if (length(xs) == 1) xs[[1]] else xs
}

test_that("Keras's nested models load from .keras, .h5 and JSON with Keras's layers and predictions", {
  py <- keras_python()
  dir <- withr::local_tempdir()
  out <- suppressWarnings(system2(py, c(test_path("oracle", "keras_nested.py"), "write", dir),
                                  stdout = TRUE, stderr = FALSE))
  expect_null(attr(out, "status"))
  for (name in c("functional_over_sequential", "sequential_over_functional", "deep_and_shared")) {
    rec <- read_json(file.path(dir, paste0(name, ".data.json")))
    want <- do.call(rbind, lapply(rec$pred, unlist))
    for (ext in c("keras", "h5")) {
      m <- load_model(file.path(dir, paste0(name, ".", ext)))
      info <- paste(name, ext)
      expect_equal(nested_rows(m), keras_rows(rec$rows), info = info)
      expect_equal(count_params(m), rec$params, info = info)
      expect_equal(nested_totals(m), c(trainable = rec$trainable, non_trainable = rec$non_trainable), info = info)
      expect_equal(unname(predict(m, as_inputs(rec), verbose = 0)), want, tolerance = 1e-5, info = info)
    }
    m <- model_from_json(readLines(file.path(dir, paste0(name, ".json")), warn = FALSE))
    expect_equal(nested_rows(m), keras_rows(rec$rows), info = paste(name, "json"))
    # A model used as a layer is one entry of model$layers: the model itself.
    nested <- Filter(function(l) inherits(l, "rkeras_model"), m$layers)
    expect_true(length(nested) >= 1, info = name)
  }
})

nested_cases <- function() {
  set.seed(5)
  out <- list()
  inner <- keras_model_sequential(name = "r_inner_seq") %>%
    layer_dense(4, activation = "tanh", input_shape = 3, name = "r_in_dense") %>%
    layer_batch_normalization(name = "r_in_bn")
  x <- layer_input(shape = 3, name = "r_x")
  out$r_functional_over_sequential <- keras_model(x, x %>% inner %>% layer_dense(2, name = "r_head"), name = "r_outer_f")
  a <- layer_input(shape = 3, name = "r_a")
  fin <- keras_model(a, a %>% layer_dense(5, activation = "relu", name = "r_f_dense"), name = "r_inner_f")
  out$r_sequential_over_functional <- keras_model_sequential(name = "r_outer_s") %>% fin %>%
    layer_dense(2, name = "r_s_out")
  leaf <- keras_model_sequential(name = "r_leaf") %>% layer_dense(3, activation = "relu", input_shape = 3, name = "r_leaf_dense")
  m_in <- layer_input(shape = 3, name = "r_m_in")
  mid <- keras_model(m_in, m_in %>% leaf %>% layer_dense(2, name = "r_mid_dense"), name = "r_mid")
  p <- layer_input(shape = 3, name = "r_p")
  q <- layer_input(shape = 3, name = "r_q")
  out$r_deep_and_shared <- keras_model(list(p, q), layer_concatenate(list(mid(p), mid(q)), name = "r_cat") %>%
                                         layer_dense(1, name = "r_top"), name = "r_siamese")
  out
}

test_that("rkeras's nested models are read by Keras 3 from .keras, .h5 and JSON, with the same predictions", {
  py <- keras_python()
  dir <- withr::local_tempdir()
  cases <- nested_cases()
  preds <- list()
  for (name in names(cases)) {
    m <- cases[[name]]
    n_in <- length(rkeras:::graph_info(m)$input_shapes)
    xs <- lapply(seq_len(n_in), function(i) matrix(rnorm(18), 6))
    x <- if (n_in == 1) xs[[1]] else xs
    m %>% compile(optimizer = "adam", loss = "mse")
    m %>% fit(x, matrix(rnorm(6 * m$output_shape[[2]]), 6), epochs = 2, verbose = 0)
    save_model(m, file.path(dir, paste0(name, ".keras")))
    save_model_hdf5(m, file.path(dir, paste0(name, ".h5")))
    writeLines(model_to_json(m), file.path(dir, paste0(name, ".json")))
    writeLines(rkeras:::to_json(lapply(xs, function(v) lapply(seq_len(nrow(v)), function(i) I(v[i, ])))),
               file.path(dir, paste0(name, ".x.json")))
    preds[[name]] <- predict(m, x, verbose = 0)
  }
  out <- suppressWarnings(system2(py, c(test_path("oracle", "keras_nested.py"), "read", dir, names(cases)),
                                  stdout = TRUE, stderr = FALSE))
  expect_null(attr(out, "status"))
  got <- rkeras:::rk_json_parse(paste(out, collapse = ""))$ok
  for (name in names(cases)) {
    m <- cases[[name]]
    for (ext in c("keras", "h5", "json")) {
      g <- got[[name]][[ext]]
      info <- paste(name, ext)
      expect_equal(keras_rows(g$rows), nested_rows(m), info = info)
      expect_equal(c(trainable = g$trainable, non_trainable = g$non_trainable), nested_totals(m), info = info)
      if (ext != "json") {
        expect_equal(do.call(rbind, lapply(g$pred, unlist)), unname(preds[[name]]), tolerance = 1e-5, info = info)
      }
    }
  }
})

test_that("a model used as a layer shares its layers: weights set or trained through one are seen by the other", {
  set.seed(9)
  inner <- keras_model_sequential(name = "share_inner") %>% layer_dense(4, input_shape = 3, name = "share_d1") %>%
    layer_dense(3, name = "share_d2")
  x <- layer_input(shape = 3)
  outer <- keras_model(x, x %>% inner %>% layer_dense(2, name = "share_head"))
  expect_identical(outer$layers[[1]], inner)
  expect_equal(vapply(outer$layers, function(l) l$name, ""), c("share_inner", "share_head"))
  xx <- matrix(rnorm(30), 10)
  # set_weights() on the inner model reaches the outer model's predictions.
  w <- lapply(get_weights(inner), function(v) v * 0 + 0.25)
  set_weights(inner, w)
  expect_equal(get_weights(outer)[1:4], w)
  head_w <- get_weights(outer)[5:6]
  expect_equal(predict(outer, xx, verbose = 0),
               sweep(predict(inner, xx, verbose = 0) %*% head_w[[1]], 2, head_w[[2]], "+"), tolerance = 1e-5)
  # Training the outer model trains the inner model's layers.
  outer %>% compile(optimizer = optimizer_sgd(0.05), loss = "mse")
  outer %>% fit(xx, matrix(rnorm(20), 10), epochs = 2, verbose = 0)
  expect_equal(get_weights(inner), get_weights(outer)[1:4])
  expect_false(isTRUE(all.equal(get_weights(inner), w)))
  # Freezing the outer model's entry for the inner model freezes all of its layers.
  freeze_weights(outer, to = 1)
  expect_length(outer$trainable_weights, 2)
  expect_false(inner$trainable)
  expect_equal(sum(lengths(inner$trainable_weights)), 0)
  # A Sequential model added to a Sequential model is one layer too.
  s <- keras_model_sequential() %>% inner %>% layer_dense(1, name = "share_out")
  expect_equal(vapply(s$layers, function(l) l$name, ""), c("share_inner", "share_out"))
  lines <- format(s)
  expect_true(any(grepl("share_inner \\(Sequential\\)", lines)))
  expect_false(any(grepl("share_d1", lines)))
  expect_equal(get_layer(s, "share_inner"), inner)
  expect_error(get_layer(s, "share_d1"), "No layer named 'share_d1'", class = "rkeras_error")
})

test_that("a model used twice is one row with both calls; JSON round-trips through rkeras", {
  set.seed(4)
  enc_in <- layer_input(shape = 4)
  enc <- keras_model(enc_in, enc_in %>% layer_dense(2, name = "twice_d"), name = "twice_enc")
  a <- layer_input(shape = 4, name = "twice_a")
  b <- layer_input(shape = 4, name = "twice_b")
  m <- keras_model(list(a, b), layer_subtract(list(enc(a), enc(b)), name = "twice_sub"))
  info <- rkeras:::graph_summary_info(m)
  expect_equal(info$name, c("twice_a", "twice_b", "twice_enc", "twice_sub"))
  expect_equal(info$inbound[info$name == "twice_enc"], "twice_a, twice_b")
  expect_equal(info$inbound[info$name == "twice_sub"], "twice_enc, twice_enc")
  json <- model_to_json(m)
  m2 <- model_from_json(json)
  expect_identical(model_to_json(m2), json)
  set_weights(m2, get_weights(m))
  xa <- matrix(rnorm(20), 5)
  xb <- matrix(rnorm(20), 5)
  expect_equal(predict(m2, list(xa, xb), verbose = 0), predict(m, list(xa, xb), verbose = 0))
  expect_error(keras_model_sequential() %>% m, "one input and one output", class = "rkeras_error")
})

test_that("plot() draws a model used as a layer as one box, or its layers with expand_nested", {
  inner <- keras_model_sequential(name = "plot_inner") %>% layer_dense(4, input_shape = 3, name = "plot_d1") %>%
    layer_batch_normalization(name = "plot_bn")
  x <- layer_input(shape = 3, name = "plot_x")
  outer <- keras_model(x, x %>% inner %>% layer_dense(2, name = "plot_head"))
  g <- rkeras:::plot_graph(outer)
  expect_equal(g$name, c("plot_x", "plot_inner", "plot_head"))
  expect_equal(g$class, c("InputLayer", "Sequential", "Dense"))
  expect_equal(g$input_shape, c("(None, 3)", "(None, 3)", "(None, 4)"))
  expect_equal(unname(g$edges), matrix(c(1L, 2L, 2L, 3L), 2, byrow = TRUE))
  g <- rkeras:::plot_graph(outer, expand_nested = TRUE)
  expect_equal(g$name, c("plot_x", "plot_d1", "plot_bn", "plot_head"))
  expect_equal(g$shape, c("(None, 3)", "(None, 4)", "(None, 4)", "(None, 2)"))
  expect_match(rkeras:::model_dot(outer, show_shapes = TRUE), "plot_inner\\|Sequential")
})

test_that("pop_layer(), saveRDS() and clone_model() keep a model used as a layer working", {
  set.seed(2)
  inner <- keras_model_sequential(name = "pop_inner") %>% layer_dense(4, input_shape = 3, name = "pop_d1")
  s <- keras_model_sequential() %>% layer_dense(3, input_shape = 3, name = "pop_pre") %>% inner %>%
    layer_dense(1, name = "pop_out")
  pop_layer(s)
  expect_equal(vapply(s$layers, function(l) l$name, ""), c("pop_pre", "pop_inner"))
  # The popped model still shares the inner model's layer.
  set_weights(inner, list(matrix(0.5, 3, 4), rep(0, 4)))
  expect_equal(get_weights(s)[[3]], matrix(0.5, 3, 4))
  x <- layer_input(shape = 3)
  outer <- keras_model(x, x %>% inner %>% layer_dense(2, name = "pop_head"))
  f <- withr::local_tempfile(fileext = ".rds")
  saveRDS(outer, f)
  back <- readRDS(f)
  expect_equal(vapply(back$layers, function(l) l$name, ""), c("pop_inner", "pop_head"))
  expect_equal(predict(back, diag(3), verbose = 0), predict(outer, diag(3), verbose = 0))
  # A copy has layers of its own: the model used as a layer is copied flat.
  copy <- clone_model(outer, keep_weights = TRUE)
  expect_equal(vapply(copy$layers, function(l) l$name, ""), c("pop_d1", "pop_head"))
  expect_equal(predict(copy, diag(3), verbose = 0), predict(outer, diag(3), verbose = 0))
})
