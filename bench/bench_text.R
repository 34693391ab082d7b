# Text models: rkeras against Keras 3 (JAX and TensorFlow backends) on the same CPU, rounds
# alternating the engines (A B A B). Two networks (see keras_text.py): Keras for R's text
# classification tutorial (embedding, average pooling, dense; batch 512) and an
# embedding + LSTM(32) classifier (batch 128). Steady-state seconds per epoch (median of the
# epochs after the first of each run), then each ratio rkeras / JAX on the median of rounds.
#
#   Rscript bench/bench_text.R [--rounds 3] [--epochs 4] [--no-python]
suppressPackageStartupMessages(library(rkeras))
source(file.path(local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[[1]])) else "bench"
}), "common.R"))
opts <- bench_args(list(rounds = 3L, epochs = 4L, no_python = FALSE))
cpu <- cpu_info()
nets <- list(imdb = c(n = 15000, t = 256, dim = 16, batch = 512), lstm = c(n = 12800, t = 100, dim = 32, batch = 128))

rkeras_epoch <- function(net) {
  p <- nets[[net]]
  set.seed(1)
  x <- matrix(sample(0:9999, p[["n"]] * p[["t"]], TRUE), p[["n"]])
  y <- sample(0:1, p[["n"]], TRUE)
  model <- keras_model_sequential() %>% layer_embedding(10000, p[["dim"]], input_length = p[["t"]])
  if (net == "imdb") {
    model %>% layer_global_average_pooling_1d() %>% layer_dense(16, activation = "relu")
  } else {
    model %>% layer_lstm(units = 32)
  }
  model %>% layer_dense(1, activation = "sigmoid")
  model %>% compile(optimizer = "adam", loss = "binary_crossentropy", metrics = "accuracy")
  times <- numeric()
  cb <- callback_lambda(on_epoch_begin = function(epoch, logs) t0 <<- now(),
                        on_epoch_end = function(epoch, logs) times <<- c(times, now() - t0))
  t0 <- now()
  model %>% fit(x, y, epochs = opts$epochs, batch_size = p[["batch"]], verbose = 0, callbacks = list(cb))
  stats::median(times[-1])
}

py <- if (opts$no_python) character() else find_pythons()
res <- list()
for (r in seq_len(opts$rounds)) {
  for (net in names(nets)) {
    res[[net]]$rkeras <- c(res[[net]]$rkeras, rkeras_epoch(net))
    for (b in names(py)) {
      out <- tempfile(fileext = ".json")
      status <- system2("env", c(python_env(), py[[b]], file.path(bench_dir(), "keras_text.py"), "--backend", b,
                                 "--net", net, "--epochs", opts$epochs, "--json", out), stdout = FALSE, stderr = FALSE)
      if (status == 0) res[[net]][[b]] <- c(res[[net]][[b]], jsonlite::fromJSON(out)$steady)
    }
  }
}
cat(sprintf("# %s; rkeras threads: %d\n", cpu$text, rkeras:::num_threads()))
cat(sprintf("# %d rounds, %d epochs per run; seconds per epoch, median of rounds [min-max]\n\n", opts$rounds, opts$epochs))
for (net in names(nets)) {
  cat(sprintf("%s:\n", if (net == "imdb") "IMDB tutorial network (embedding 10000x16, average pooling, dense 16, dense 1; batch 512; 15000 x 256 tokens)"
                      else "embedding 10000x32 + LSTM(32) + dense 1 (batch 128; 12800 x 100 tokens)"))
  for (e in names(res[[net]])) cat(sprintf("  %-11s %s\n", e, fmt_range(res[[net]][[e]])))
  if (!is.null(res[[net]]$jax)) {
    ratio <- stats::median(res[[net]]$rkeras) / stats::median(res[[net]]$jax)
    cat(sprintf("  ratio rkeras / JAX: %.2f (target <= 0.75: %s)\n", ratio, if (ratio <= 0.75) "met" else "missed"))
  }
}
