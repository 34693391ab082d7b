#!/usr/bin/env Rscript
# The seed's MLP on rkeras's two executors of one model: the dense plan (the fused kernels the
# engine compiles from a graph that is a dense chain) and the graph's executor (which every
# model runs on).
#
#   Rscript bench/bench_engines.R [--rounds 3] [--train-rows 60000] [--batch 128]
#
# One-epoch fits alternate between the two models (fused, general, fused, general, ...) so
# that this machine's drifting speed hits both alike; each model is warmed up by one epoch
# first. Prints every epoch, the medians and their ratio (target: general <= 1.3 x fused),
# and the same for predict() on the 10000 test images at batch 10000.

source(file.path(local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[[1]])) else "bench"
}), "common.R"))

opts <- bench_args(list(rounds = 3L, train_rows = 0L, batch = 128L, seed = 1L))
suppressPackageStartupMessages(library(rkeras))
flags <- grep("^flags", readLines("/proc/cpuinfo"), value = TRUE)[1]
simd <- intersect(strsplit(sub("^flags\\s*:\\s*", "", flags), " ")[[1]], c("avx2", "fma", "avx512f", "avx512bw"))
model_name <- sub("^model name\\s*:\\s*", "", grep("^model name", readLines("/proc/cpuinfo"), value = TRUE)[1])
cat(sprintf("# CPU: %s; SIMD flags: %s; %d cores; threads: %d\n", model_name, paste(simd, collapse = " "),
            parallel::detectCores(), rkeras:::num_threads()))

set.seed(opts$seed)
d <- load_fashion(opts$train_rows)
fused <- build_mlp()
set.seed(opts$seed)
general <- build_mlp()
rkeras:::model_plan(general, "graph")
stopifnot(rkeras:::model_plan(fused) == "dense", rkeras:::model_plan(general) == "graph")

# The epoch alone (from on_epoch_begin to on_epoch_end: training steps and validation),
# without fit()'s conversion of the data.
epoch <- function(model) {
  t0 <- NA_real_
  t <- NA_real_
  cb <- callback_lambda(on_epoch_begin = function(epoch, logs) t0 <<- now(),
                        on_epoch_end = function(epoch, logs) t <<- now() - t0)
  fit(model, d$x, d$y, epochs = 1, batch_size = opts$batch, validation_split = 0.2, verbose = 0,
      callbacks = list(cb))
  t
}
pred <- function(model) {
  t0 <- now()
  predict(model, d$x_test, batch_size = 10000, verbose = 0)
  now() - t0
}
invisible(epoch(fused)); invisible(epoch(general))
times <- list(fused = numeric(), general = numeric(), pf = numeric(), pg = numeric())
for (r in seq_len(opts$rounds)) {
  times$fused <- c(times$fused, epoch(fused))
  times$general <- c(times$general, epoch(general))
  times$pf <- c(times$pf, pred(fused))
  times$pg <- c(times$pg, pred(general))
  cat(sprintf("round %d: epoch fused %.3f s, general %.3f s; predict b10000 fused %.3f s, general %.3f s\n",
              r, times$fused[r], times$general[r], times$pf[r], times$pg[r]))
}
ratio <- stats::median(times$general / times$fused)
pratio <- stats::median(times$pg / times$pf)
cat(sprintf("fit epoch: fused %s s, general %s s; general / fused (median of pairs) = %.2f (target <= 1.3)\n",
            fmt_range(times$fused), fmt_range(times$general), ratio))
cat(sprintf("predict b10000: fused %s s, general %s s; general / fused = %.2f\n",
            fmt_range(times$pf), fmt_range(times$pg), pratio))
