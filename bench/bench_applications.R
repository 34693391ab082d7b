#!/usr/bin/env Rscript
# rkeras vs Keras 3 (TensorFlow and JAX backends): inference of MobileNetV2 and ResNet50 at
# 224 x 224 (random weights, with the top), batch 32.
#
#   Rscript bench/bench_applications.R [--rounds 3] [--reps 5] [--batch 32] [--no-python]
#                                      [--models mobilenet_v2,resnet50]
#
# Each run is a fresh process that builds the model, predicts one batch to warm up, then times
# --reps predict() calls on one batch; its figure is the median call. Runs alternate (rkeras,
# TF, JAX, rkeras, ...) for --rounds rounds per model; the ratio is judged on the medians of
# the rounds. Target (issue: images): rkeras's rows/s >= 1.3x the faster Keras backend's.

source(file.path(local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[[1]])) else "bench"
}), "common.R"))

opts <- bench_args(list(rounds = 3L, reps = 5L, batch = 32L, no_python = FALSE, out = "",
                        worker = "", model = "", json = "", models = "mobilenet_v2,resnet50"))

worker_predict <- function(o) {
  suppressPackageStartupMessages(library(rkeras))
  set.seed(1)
  build <- switch(o$model, mobilenet_v2 = application_mobilenet_v2, resnet50 = application_resnet50)
  model <- build(weights = NULL)
  x <- array(runif(o$batch * 224 * 224 * 3, -1, 1), c(o$batch, 224, 224, 3))
  t0 <- now()
  predict(model, x, batch_size = o$batch, verbose = 0)
  warm <- now() - t0
  times <- vapply(seq_len(o$reps), function(i) {
    t0 <- now()
    predict(model, x, batch_size = o$batch, verbose = 0)
    now() - t0
  }, 1)
  list(backend = "rkeras", model = o$model, batch = o$batch, warmup = warm, times = times)
}

if (nzchar(opts$worker)) {
  jsonlite::write_json(worker_predict(opts), opts$json, auto_unbox = TRUE, digits = NA)
  quit(save = "no")
}

dir <- bench_dir()
out_dir <- if (nzchar(opts$out)) opts$out else tempfile("bench-apps-")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
pythons <- if (opts$no_python) character() else find_pythons()
cpu <- cpu_info()
cat(cpu$text, "\n")

run <- function(backend, model, round) {
  json <- file.path(out_dir, sprintf("%s-%s-%d.json", model, backend, round))
  rc <- if (backend == "rkeras") {
    system2(rscript_bin(), c(file.path(dir, "bench_applications.R"), "--worker", "predict", "--model", model,
                             "--batch", opts$batch, "--reps", opts$reps, "--json", json))
  } else {
    system2("env", c(python_env(), pythons[[backend]], file.path(dir, "keras_applications.py"), "--backend", backend,
                     "--model", model, "--batch", opts$batch, "--reps", opts$reps, "--json", json))
  }
  if (rc != 0 || !file.exists(json)) return(NA_real_)
  stats::median(jsonlite::read_json(json, simplifyVector = TRUE)$times)
}

for (model in strsplit(opts$models, ",", fixed = TRUE)[[1]]) {
  backends <- c("rkeras", names(pythons))
  secs <- matrix(NA_real_, opts$rounds, length(backends), dimnames = list(NULL, backends))
  for (r in seq_len(opts$rounds)) for (b in backends) secs[r, b] <- run(b, model, r)
  rows <- opts$batch / secs
  cat(sprintf("\n%s, batch %d at 224 x 224: rows/s, median [min-max] of %d rounds\n", model, opts$batch, opts$rounds))
  for (b in backends) cat(sprintf("  %-10s %s\n", b, fmt_range(rows[, b], 1)))
  if (length(pythons)) {
    best <- max(apply(rows[, names(pythons), drop = FALSE], 2, stats::median, na.rm = TRUE))
    ratio <- stats::median(rows[, "rkeras"], na.rm = TRUE) / best
    cat(sprintf("  rkeras / faster Keras backend: %sx (target >= 1.3x): %s\n", fmt(ratio, 2), verdict(ratio, 1.3, ">=")))
  }
}
