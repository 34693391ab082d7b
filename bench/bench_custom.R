#!/usr/bin/env Rscript
# The seed's MLP written with R: its activations as layer_lambda() functions of k_*()
# operations and its loss as an R function (k_categorical_crossentropy()), against the same
# model with built-in activations and loss.
#
#   Rscript bench/bench_custom.R [--rounds 3] [--train-rows 60000] [--batch 128]
#
# One-epoch fits alternate between the two models (built-in, custom, built-in, custom, ...)
# so that this machine's drifting speed hits both alike; each is warmed up by one epoch
# first. Both start from the same weights. Prints every epoch, the medians and their ratio
# (target: custom <= 1.1 x built-in), and the two models' losses after the warm-up epoch
# (equal up to rounding: the same function).

source(file.path(local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[[1]])) else "bench"
}), "common.R"))

opts <- bench_args(list(rounds = 3L, train_rows = 0L, batch = 128L, seed = 1L))
suppressPackageStartupMessages(library(rkeras))
cat("# ", cpu_info()$text, "; threads: ", rkeras:::num_threads(), "\n", sep = "")

set.seed(opts$seed)
d <- load_fashion(opts$train_rows, test = FALSE)
builtin <- build_mlp()
custom <- keras_model_sequential() %>%
  layer_dense(units = 256, input_shape = c(784)) %>%
  layer_lambda(function(x) k_relu(x)) %>%
  layer_dropout(rate = 0.4) %>%
  layer_dense(units = 128) %>%
  layer_lambda(function(x) k_relu(x)) %>%
  layer_dropout(rate = 0.3) %>%
  layer_dense(units = 10) %>%
  layer_lambda(function(x) k_softmax(x))
custom %>% compile(loss = function(y_true, y_pred) k_categorical_crossentropy(y_true, y_pred),
                   optimizer = optimizer_rmsprop(), metrics = c("accuracy"))
set_weights(custom, get_weights(builtin))

# The epoch alone (from on_epoch_begin to on_epoch_end: training steps and validation),
# without fit()'s conversion of the data.
epoch <- function(model) {
  t0 <- NA_real_
  t <- NA_real_
  cb <- callback_lambda(on_epoch_begin = function(epoch, logs) t0 <<- now(),
                        on_epoch_end = function(epoch, logs) t <<- now() - t0)
  h <- fit(model, d$x, d$y, epochs = 1, batch_size = opts$batch, validation_split = 0.2, verbose = 0,
           callbacks = list(cb), shuffle = FALSE)
  list(t = t, loss = h$metrics$loss)
}
w1 <- epoch(builtin)
w2 <- epoch(custom)
cat(sprintf("warm-up epoch loss: built-in %.6f, custom %.6f\n", w1$loss, w2$loss))
times <- list(builtin = numeric(), custom = numeric())
for (r in seq_len(opts$rounds)) {
  times$builtin <- c(times$builtin, epoch(builtin)$t)
  times$custom <- c(times$custom, epoch(custom)$t)
  cat(sprintf("round %d: epoch built-in %.3f s, custom %.3f s\n", r, times$builtin[r], times$custom[r]))
}
ratio <- stats::median(times$custom / times$builtin)
cat(sprintf("fit epoch: built-in %s s, custom %s s\n", fmt_range(times$builtin), fmt_range(times$custom)))
target_line("custom / built-in (median of pairs)", sprintf("%.2f", ratio), ratio, 1.1, "<=")
