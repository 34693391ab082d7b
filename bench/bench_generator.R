#!/usr/bin/env Rscript
# How well fit_generator() hides the R generator behind the engine's training step.
#
#   Rscript bench/bench_generator.R [--steps 500] [--epochs 3] [--reps 4] [--quick]
#
# Uses the seed's sampling_generator() (batch 128, Fashion-MNIST raw integer arrays) and the
# seed's MLP. Measures
#   closure alone:  `steps` calls of the generator, no training;
#   overlap:        one epoch of fit_generator(steps_per_epoch = steps) as shipped (default),
#                   alternating with `closure alone`, --reps times each (A B A B: the
#                   machine's drift hits both alike);
#   engine alone:   fit_generator() fed one pre-built batch (generator cost ~0), --epochs;
#   no overlap:     fit_generator() with options(rkeras.overlap = FALSE), --epochs;
# and reports the median epoch of each. With perfect overlap an epoch costs
# max(closure, engine); the target is epoch / closure-alone <= 1.15 (the generator is the
# bottleneck at this model size, so the training step should be almost fully hidden).
# --quick: 50 steps per epoch (smoke test).

source(file.path(local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[[1]])) else "bench"
}), "common.R"))
suppressPackageStartupMessages(library(rkeras))

opts <- bench_args(list(steps = 0L, epochs = 3L, reps = 4L, batch = 128L, seed = 1L, quick = FALSE))
if (opts$steps == 0L) opts$steps <- if (opts$quick) 50L else 500L
set.seed(opts$seed)

# ---- the seed's generator, verbatim -----------------------------------------------------
sampling_generator <- function(x,y,batch_size) {
  function() {
  	# sample a batch
    inSample <- sample(1:nrow(x), batch_size)
    x.sample <- x[inSample, ,]
    # re-scale
    x.sample <- x.sample / 255
    # re-shape
    x.sample <- array_reshape(x.sample, c(length(inSample), 784))
    # one-hot encoding
    y.sample <- to_categorical(y[inSample],10)
    # return format (feature, label)
    return(list(x.sample, y.sample))
  }
}
# -----------------------------------------------------------------------------------------

fm <- dataset_fashion_mnist()
x_raw <- fm$train$x
y_raw <- fm$train$y
cat(sprintf("bench_generator: batch %d, %d steps/epoch, %d epoch(s); x is %s %s, %d engine threads\n",
            opts$batch, opts$steps, opts$epochs, typeof(x_raw), paste(dim(x_raw), collapse = "x"),
            rkeras:::num_threads()))

closure_alone <- function() {
  gen <- sampling_generator(x_raw, y_raw, opts$batch)
  t0 <- now()
  for (i in seq_len(opts$steps)) gen()
  now() - t0
}

# Epoch times of fit_generator() on a fresh model.
fit_epochs <- function(gen, overlap, epochs = opts$epochs) {
  old <- options(rkeras.overlap = overlap)
  on.exit(options(old))
  model <- build_mlp()
  times <- numeric(0)
  t_begin <- NA_real_
  cb <- callback_lambda(on_epoch_begin = function(epoch, logs) t_begin <<- now(),
                        on_epoch_end = function(epoch, logs) times <<- c(times, now() - t_begin))
  fit_generator(model, gen, steps_per_epoch = opts$steps, epochs = epochs, verbose = 0,
                callbacks = list(cb))
  times
}

invisible(closure_alone())  # warm-up (byte-compilation, page-in of x)
closure <- on <- numeric(0)
for (r in seq_len(opts$reps)) {
  closure <- c(closure, closure_alone())
  on <- c(on, fit_epochs(sampling_generator(x_raw, y_raw, opts$batch), TRUE, epochs = 1L))
}
fixed <- sampling_generator(x_raw, y_raw, opts$batch)()
engine <- fit_epochs(function() fixed, TRUE)
off <- fit_epochs(sampling_generator(x_raw, y_raw, opts$batch), FALSE)

med <- function(x) stats::median(x)
c_med <- med(closure)
cat(sprintf("\n  %-44s %s s\n", sprintf("closure alone, %d calls", opts$steps), fmt_range(closure)))
cat(sprintf("  %-44s %s s\n", "engine alone (fixed batch), s/epoch", fmt_range(engine)))
cat(sprintf("  %-44s %s s\n", "fit_generator, overlap on (default), s/epoch", fmt_range(on)))
cat(sprintf("  %-44s %s\n", "  (alternating with closure alone, pairs)",
            paste(sprintf("%.2f", on / closure), collapse = " ")))
cat(sprintf("  %-44s %s s\n", "fit_generator, overlap off, s/epoch", fmt_range(off)))
cat(sprintf("  %-44s %s s\n", "ideal overlap max(closure, engine)", fmt(max(c_med, med(engine)))))
cat(sprintf("  %-44s %s s\n", "serial sum closure + engine", fmt(c_med + med(engine))))
target_line("epoch (overlap) / closure alone", fmt(med(on) / c_med, 3), med(on) / c_med, 1.15, "<=", "x", width = 44)
cat(sprintf("  %-44s %s x\n", "epoch (no overlap) / closure alone", fmt(med(off) / c_med, 3)))
cat(sprintf("  %-44s %s x\n", "overlap speed-up (off / on)", fmt(med(off) / med(on), 3)))
if (opts$epochs * opts$steps < 1000) cat("\nNOTE: short run; figures are smoke-test only.\n")
