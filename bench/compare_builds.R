#!/usr/bin/env Rscript
# Two installed builds of rkeras on the seed's MLP, alternated A B A B in fresh processes:
#
#   Rscript bench/compare_builds.R LIB_A LIB_B [--rounds 3] [--epochs 3] [--train-rows 60000]
#
# LIB_A and LIB_B are R library folders holding rkeras (R CMD INSTALL -l DIR). Each run fits
# the seed's MLP (validation_split = 0.2, batch 128) and times predict() on the 10000 test
# images at batch 10000; the medians of epochs 2.. and the B / A ratios (median of the
# rounds' ratios) are printed with the CPU's SIMD flags.

source(file.path(local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[[1]])) else "bench"
}), "common.R"))

args <- commandArgs(trailingOnly = TRUE)
libs <- normalizePath(args[1:2])
opts <- bench_args(list(rounds = 3L, epochs = 3L, train_rows = 0L, worker = ""), args[-(1:2)])
if (nzchar(opts$worker)) {
  .libPaths(c(opts$worker, .libPaths()))
  suppressPackageStartupMessages(library(rkeras))
  set.seed(1)
  d <- load_fashion(opts$train_rows)
  model <- build_mlp()
  times <- numeric()
  t0 <- NA_real_
  cb <- callback_lambda(on_epoch_begin = function(epoch, logs) t0 <<- now(),
                        on_epoch_end = function(epoch, logs) times <<- c(times, now() - t0))
  fit(model, d$x, d$y, epochs = opts$epochs, batch_size = 128, validation_split = 0.2, verbose = 0, callbacks = list(cb))
  p <- time_reps(function() predict(model, d$x_test, batch_size = 10000, verbose = 0), 5L)
  cat(sprintf("RESULT %.4f %.4f\n", stats::median(times[-1]), stats::median(p)))
  quit(save = "no")
}
flags <- grep("^flags", readLines("/proc/cpuinfo"), value = TRUE)[1]
simd <- intersect(strsplit(sub("^flags\\s*:\\s*", "", flags), " ")[[1]], c("avx2", "fma", "avx512f", "avx512bw"))
cat(sprintf("# SIMD flags: %s; %d cores\n", paste(simd, collapse = " "), parallel::detectCores()))
script <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))[1]
run <- function(lib) {
  out <- system2(rscript_bin(), c(script, libs, "--epochs", opts$epochs, "--train-rows", opts$train_rows,
                                  "--worker", lib), stdout = TRUE)
  as.numeric(strsplit(sub("^RESULT ", "", grep("^RESULT", out, value = TRUE)), " ")[[1]])
}
res <- list()
for (r in seq_len(opts$rounds)) {
  a <- run(libs[[1]]); b <- run(libs[[2]])
  res[[r]] <- c(a, b)
  cat(sprintf("round %d: A epoch %.3f s, predict %.4f s | B epoch %.3f s, predict %.4f s\n", r, a[1], a[2], b[1], b[2]))
}
m <- do.call(rbind, res)
cat(sprintf("epoch: A %s s, B %s s, B / A = %.3f\n", fmt_range(m[, 1]), fmt_range(m[, 3]), stats::median(m[, 3] / m[, 1])))
cat(sprintf("predict b10000: A %s s, B %s s, B / A = %.3f\n", fmt_range(m[, 2], 4), fmt_range(m[, 4], 4), stats::median(m[, 4] / m[, 2])))
