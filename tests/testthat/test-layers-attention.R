# Multi-head, dot-product and additive attention against Keras 3: Keras's files load with
# Keras's predictions, training steps and weights; rkeras's files load in Keras with
# rkeras's predictions; models built in R match Keras's; bad calls are clear errors.

att_arr <- function(e) jsonlite::fromJSON(jsonlite::toJSON(e, auto_unbox = TRUE, digits = NA))

att_records <- function(dir) {
  out <- suppressWarnings(system2(keras_python(), c(test_path("oracle", "keras_attention.py"), "write", dir),
                                  stdout = TRUE, stderr = FALSE))
  expect_null(attr(out, "status"))
  names <- c("mha_self", "mha_cross", "luong_bahdanau")
  stats::setNames(lapply(names, function(n) {
    rec <- jsonlite::fromJSON(file.path(dir, paste0(n, ".data.json")), simplifyVector = FALSE)
    x <- lapply(rec$x, att_arr)
    list(x = if (length(x) == 1) x[[1]] else x, y = att_arr(rec$y), pred = lapply(rec$pred, att_arr),
         losses = unlist(rec$losses), weights = lapply(rec$weights, unlist))
  }), names)
}

# A weight flattened in row-major order, as Keras's are.
att_flat <- function(w) if (is.null(dim(w))) as.numeric(w) else as.numeric(aperm(w, rev(seq_along(dim(w)))))

att_preds <- function(m, x) {
  p <- predict(m, x, verbose = 0)
  if (is.list(p)) p else list(p)
}

test_that("Keras's attention models load from .keras and .h5 with Keras's predictions, training steps and weights", {
  dir <- withr::local_tempdir()
  recs <- att_records(dir)
  for (name in names(recs)) {
    rec <- recs[[name]]
    for (ext in c("keras", "h5")) {
      m <- load_model(file.path(dir, paste0(name, ".", ext)))
      got <- att_preds(m, rec$x)
      expect_equal(length(got), length(rec$pred), info = paste(name, ext))
      for (k in seq_along(got)) {
        expect_equal(unname(got[[k]]), rec$pred[[k]], tolerance = 1e-5, info = paste(name, ext, k))
      }
    }
    # Three SGD steps on the first output: Keras's losses and weights.
    first <- keras_model(m$inputs, if (is.list(m$outputs)) m$outputs[[1]] else m$outputs)
    first %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
    h <- first %>% fit(rec$x, rec$y, epochs = 3, batch_size = 6, shuffle = FALSE, verbose = 0)
    expect_equal(h$metrics$loss, rec$losses, tolerance = 1e-5, info = name)
    w <- lapply(get_weights(m), att_flat)
    expect_equal(length(w), length(rec$weights), info = name)
    for (i in seq_along(w)) expect_equal(w[[i]], rec$weights[[i]], tolerance = 1e-4, info = paste(name, i))
  }
})

test_that("rkeras's attention models load in Keras 3 with rkeras's predictions, and round-trip through JSON", {
  dir <- withr::local_tempdir()
  recs <- att_records(dir)
  preds <- list()
  for (name in names(recs)) {
    rec <- recs[[name]]
    m <- load_model(file.path(dir, paste0(name, ".keras")))
    m %>% compile(optimizer = "adam", loss = "mse")
    ys <- lapply(rec$pred, function(p) p * 0 + 0.5)
    m %>% fit(rec$x, if (length(ys) == 1) ys[[1]] else ys, epochs = 2, verbose = 0)
    out_dir <- file.path(dir, "r")
    dir.create(out_dir, showWarnings = FALSE)
    save_model(m, file.path(out_dir, paste0(name, ".keras")))
    save_model_hdf5(m, file.path(out_dir, paste0(name, ".h5")))
    file.copy(file.path(dir, paste0(name, ".data.json")), out_dir)
    preds[[name]] <- att_preds(m, rec$x)
    # The JSON keeps the calls' options and inputs.
    j <- model_from_json(model_to_json(m))
    set_weights(j, get_weights(m))
    got <- att_preds(j, rec$x)
    for (k in seq_along(got)) expect_equal(got[[k]], preds[[name]][[k]], tolerance = 1e-6, info = paste(name, "json"))
  }
  out <- suppressWarnings(system2(keras_python(), c(test_path("oracle", "keras_attention.py"), "read",
                                                    file.path(dir, "r"), names(recs)),
                                  stdout = TRUE, stderr = FALSE))
  expect_null(attr(out, "status"))
  got <- jsonlite::fromJSON(paste(out, collapse = ""), simplifyVector = FALSE)
  for (name in names(recs)) {
    for (ext in c("keras", "h5")) {
      g <- lapply(got[[name]][[ext]], att_arr)
      for (k in seq_along(g)) {
        expect_equal(g[[k]], unname(preds[[name]][[k]]), tolerance = 1e-5, info = paste(name, ext, k))
      }
    }
  }
})

test_that("attention models built in R are Keras's: same layers, weights and predictions", {
  dir <- withr::local_tempdir()
  recs <- att_records(dir)
  # The self-attention model, written with Keras for R's functions.
  tok <- layer_input(shape = 7, name = "tok")
  e <- tok %>% layer_embedding(20, 8, mask_zero = TRUE, name = "emb")
  mha <- layer_multi_head_attention(num_heads = 2, key_dim = 4, name = "mha")
  x <- layer_add(list(mha(e, e), e), name = "res") %>% layer_layer_normalization(name = "ln") %>%
    layer_global_average_pooling_1d(name = "pool")
  model <- keras_model(tok, x %>% layer_dense(1, name = "out"))
  keras_m <- load_model(file.path(dir, "mha_self.keras"))
  expect_equal(vapply(model$layers, function(l) l$name, ""), vapply(keras_m$layers, function(l) l$name, ""))
  expect_equal(count_params(model), count_params(keras_m))
  set_weights(model, get_weights(keras_m))
  expect_equal(unname(predict(model, recs$mha_self$x, verbose = 0)), recs$mha_self$pred[[1]], tolerance = 1e-5)
  # The cross-attention call, by name as Keras for R's guides write it, with its scores.
  q <- layer_input(c(5, 6), name = "q")
  v <- layer_input(c(4, 3), name = "v")
  k <- layer_input(c(4, 5), name = "k")
  m <- layer_input(c(5, 4), name = "m")
  cross <- layer_multi_head_attention(num_heads = 2, key_dim = 3, value_dim = 2, output_shape = 7, name = "cross")
  res <- cross(query = q, value = v, key = k, attention_mask = m, use_causal_mask = TRUE,
               return_attention_scores = TRUE)
  expect_length(res, 2)
  expect_equal(dim(res[[2]]), c(NA, 2L, 5L, 4L))
  flat <- res[[1]] %>% layer_flatten(name = "flat") %>% layer_dense(1, name = "out")
  model <- keras_model(list(q, v, k, m), list(flat, res[[2]]))
  set_weights(model, get_weights(load_model(file.path(dir, "mha_cross.keras"))))
  got <- predict(model, recs$mha_cross$x, verbose = 0)
  for (i in 1:2) expect_equal(unname(got[[i]]), recs$mha_cross$pred[[i]], tolerance = 1e-5, info = i)
  # Luong and Bahdanau attention on lists of tensors.
  qt <- layer_input(5, name = "qt")
  vt <- layer_input(6, name = "vt")
  qe <- qt %>% layer_embedding(20, 4, mask_zero = TRUE, name = "qe")
  ve <- vt %>% layer_embedding(20, 4, mask_zero = TRUE, name = "ve")
  luong <- layer_attention(use_scale = TRUE, score_mode = "concat", name = "luong")
  out <- layer_concatenate(list(luong(list(qe, ve), use_causal_mask = TRUE),
                                layer_attention(list(qe, ve, ve), name = "dot"),
                                layer_additive_attention(list(qe, ve), name = "bahdanau")), name = "cat") %>%
    layer_global_average_pooling_1d(name = "pool") %>% layer_dense(1, name = "out")
  model <- keras_model(list(qt, vt), out)
  set_weights(model, get_weights(load_model(file.path(dir, "luong_bahdanau.keras"))))
  expect_equal(unname(predict(model, recs$luong_bahdanau$x, verbose = 0)), recs$luong_bahdanau$pred[[1]],
               tolerance = 1e-5)
})

test_that("attention layers train, run dropout only in training, and refuse bad calls clearly", {
  set.seed(3)
  x <- layer_input(c(6, 4))
  mha <- layer_multi_head_attention(num_heads = 2, key_dim = 3, dropout = 0.5)
  model <- keras_model(x, mha(x, x) %>% layer_global_average_pooling_1d() %>% layer_dense(1))
  model %>% compile(optimizer = "adam", loss = "mse")
  xs <- array(rnorm(64 * 24), c(64, 6, 4))
  ys <- matrix(rowMeans(matrix(xs, 64)), 64)
  h <- model %>% fit(xs, ys, epochs = 8, batch_size = 16, verbose = 0)
  expect_lt(tail(h$metrics$loss, 1), h$metrics$loss[[1]])
  expect_equal(predict(model, xs, verbose = 0), predict(model, xs, verbose = 0))
  # Query, key and value kernels 4 x 2 x 3 with biases 2 x 3; output kernel 2 x 3 x 4, bias 4.
  expect_equal(count_params(mha), 3 * (24 + 6) + 24 + 4)
  # Bad arguments and calls.
  expect_error(layer_multi_head_attention(num_heads = 0, key_dim = 2), "num_heads", class = "rkeras_error")
  expect_error(layer_multi_head_attention(num_heads = 2, key_dim = 1.5), "key_dim", class = "rkeras_error")
  expect_error(layer_multi_head_attention(num_heads = 2, key_dim = 2, attention_axes = 2), "attention_axes",
               class = "rkeras_error")
  expect_error(layer_multi_head_attention(num_heads = 2, key_dim = 2, kernel_regularizer = "l2"),
               "not supported", class = "rkeras_error")
  q <- layer_input(c(5, 6))
  v <- layer_input(c(4, 3))
  k <- layer_input(c(3, 3))
  lay <- layer_multi_head_attention(num_heads = 2, key_dim = 2, name = "bad_mha")
  expect_error(lay(q, v, k), "bad_mha.*same steps", class = "rkeras_error")
  expect_error(lay(q, v, attention_mask = layer_input(c(5, 5))), "attention mask of shape \\(None, 5, 4\\)",
               class = "rkeras_error")
  expect_error(lay(q), "needs a value", class = "rkeras_error")
  expect_error(lay(q, v, bogus = 1), "bogus", class = "rkeras_error")
  expect_error(lay(layer_input(7), layer_input(7)), "\\(batch, steps, features\\)", class = "rkeras_error")
  y <- lay(q, v)
  expect_error(lay(q, v, use_causal_mask = TRUE), "one set", class = "rkeras_error")
  expect_error(keras_model_sequential(input_shape = c(5, 6)) %>% layer_multi_head_attention(num_heads = 1, key_dim = 2),
               "Sequential", class = "rkeras_error")
  expect_error(layer_attention(list(q, v)), "query's features", class = "rkeras_error")
  expect_error(layer_attention(list(q)), "2|query, a value", class = "rkeras_error")
  expect_error(layer_attention(score_mode = "add"), "score_mode", class = "rkeras_error")
  expect_error(layer_attention(list(q, q), mask = list(NULL, NULL)), "mask", class = "rkeras_error")
})
