# A transformer text classifier: rkeras against Keras 3 (JAX and TensorFlow backends) on the
# same CPU, rounds alternating the engines (A B A B). The network is Keras's "text
# classification with Transformer" example written with built-in layers (see
# keras_transformer.py): token and position embeddings of 32, one transformer block (2 heads,
# key_dim 32, feed-forward 32, dropout 0.1), pooling, dense 20, dense 2; Adam, batch 32,
# 10000 sequences of 200 tokens. Steady-state seconds per epoch (median of the epochs after
# the first of each run) and predict() rows per second at batch 32; the ratios use the
# faster Keras backend, on the median of rounds.
#
#   Rscript bench/bench_transformer.R [--rounds 3] [--epochs 3] [--no-python]
suppressPackageStartupMessages(library(rkeras))
source(file.path(local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[[1]])) else "bench"
}), "common.R"))
opts <- bench_args(list(rounds = 3L, epochs = 3L, no_python = FALSE))
cpu <- cpu_info()
n <- 10000L; maxlen <- 200L; vocab <- 20000L; embed <- 32L

transformer_classifier <- function() {
  tokens <- layer_input(shape = maxlen, name = "tokens")
  positions <- layer_input(shape = maxlen, name = "positions")
  x <- layer_add(list(tokens %>% layer_embedding(vocab, embed), positions %>% layer_embedding(maxlen, embed)))
  att <- layer_multi_head_attention(num_heads = 2, key_dim = embed)
  out1 <- layer_add(list(x, att(x, x) %>% layer_dropout(0.1))) %>% layer_layer_normalization(epsilon = 1e-6)
  ffn <- out1 %>% layer_dense(32, activation = "relu") %>% layer_dense(embed)
  out <- layer_add(list(out1, ffn %>% layer_dropout(0.1))) %>% layer_layer_normalization(epsilon = 1e-6) %>%
    layer_global_average_pooling_1d() %>% layer_dropout(0.1) %>%
    layer_dense(20, activation = "relu") %>% layer_dropout(0.1) %>%
    layer_dense(2, activation = "softmax")
  keras_model(list(tokens, positions), out)
}

rkeras_run <- function() {
  set.seed(1)
  x <- matrix(sample.int(vocab - 1L, n * maxlen, TRUE), n)
  p <- matrix(rep(0:(maxlen - 1L), each = n), n)
  y <- sample(0:1, n, TRUE)
  model <- transformer_classifier()
  model %>% compile(optimizer = "adam", loss = "sparse_categorical_crossentropy", metrics = "accuracy")
  times <- numeric()
  cb <- callback_lambda(on_epoch_begin = function(epoch, logs) t0 <<- now(),
                        on_epoch_end = function(epoch, logs) times <<- c(times, now() - t0))
  t0 <- now()
  model %>% fit(list(x, p), y, epochs = opts$epochs, batch_size = 32, verbose = 0, callbacks = list(cb))
  predict(model, list(x[1:64, ], p[1:64, ]), batch_size = 32, verbose = 0)
  s <- system.time(predict(model, list(x, p), batch_size = 32, verbose = 0))[["elapsed"]]
  list(steady = stats::median(times[-1]), rows = n / s)
}

py <- if (opts$no_python) character() else find_pythons()
epoch <- list()
rows <- list()
for (r in seq_len(opts$rounds)) {
  res <- rkeras_run()
  epoch$rkeras <- c(epoch$rkeras, res$steady)
  rows$rkeras <- c(rows$rkeras, res$rows)
  for (b in names(py)) {
    out <- tempfile(fileext = ".json")
    status <- system2("env", c(python_env(), py[[b]], file.path(bench_dir(), "keras_transformer.py"), "--backend", b,
                               "--epochs", opts$epochs, "--json", out), stdout = FALSE, stderr = FALSE)
    if (status == 0) {
      j <- jsonlite::fromJSON(out)
      epoch[[b]] <- c(epoch[[b]], j$steady)
      rows[[b]] <- c(rows[[b]], j$predict_rows_per_s)
    }
  }
}
cat(sprintf("# %s; rkeras threads: %d\n", cpu$text, rkeras:::num_threads()))
cat(sprintf("# %d rounds, %d epochs per run; median of rounds [min-max]\n\n", opts$rounds, opts$epochs))
cat("Transformer text classifier (embeddings 20000x32 + 200x32, 2 heads of 32, ff 32; batch 32; 10000 x 200 tokens)\n")
cat("  seconds per epoch:\n")
for (e in names(epoch)) cat(sprintf("    %-11s %s\n", e, fmt_range(epoch[[e]])))
cat("  predict() rows per second at batch 32:\n")
for (e in names(rows)) cat(sprintf("    %-11s %s\n", e, fmt_range(rows[[e]], 0)))
others <- setdiff(names(epoch), "rkeras")
if (length(others)) {
  best <- others[[which.min(vapply(others, function(e) stats::median(epoch[[e]]), 1))]]
  ratio <- stats::median(epoch$rkeras) / stats::median(epoch[[best]])
  cat(sprintf("  epoch ratio rkeras / %s (the faster): %.2f (target <= 0.75: %s)\n", best, ratio,
              if (ratio <= 0.75) "met" else "missed"))
  fastest <- others[[which.max(vapply(others, function(e) stats::median(rows[[e]]), 1))]]
  speed <- stats::median(rows$rkeras) / stats::median(rows[[fastest]])
  cat(sprintf("  predict speed rkeras / %s (the faster): %.2fx (target >= 1.3x: %s)\n", fastest, speed,
              if (speed >= 1.3) "met" else "missed"))
}
