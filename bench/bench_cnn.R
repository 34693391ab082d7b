#!/usr/bin/env Rscript
# rkeras vs Keras 3 (TensorFlow and JAX backends) on Keras for R's mnist_cnn network, trained on
# Fashion-MNIST.
#
#   Rscript bench/bench_cnn.R [--epochs 3] [--rounds 2] [--train-rows 12800]
#                             [--quick] [--no-python] [--out DIR]
#
# Network: Conv2D 32 3x3 relu, Conv2D 64 3x3 relu, MaxPooling2D 2x2, Dropout 0.25, Flatten,
# Dense 128 relu, Dropout 0.5, Dense 10 softmax; Adam (defaults); sparse categorical
# cross-entropy on integer labels; accuracy; batch 128; no validation split. Input: the first
# --train-rows training images as n x 28 x 28 x 1, scaled to [0, 1].
# Runs are alternated (rkeras, TF, JAX, rkeras, TF, JAX, ...) for --rounds rounds, each in a
# fresh process. Every run times each epoch with a callback (the first epoch, which includes
# compilation, is reported apart) and evaluates test accuracy on the 10000 test images. After
# each rkeras round the epoch's GEMM floor is measured with rkeras:::rk_bench_gemm().
# --quick: 1 epoch, 1280 rows, 1 round (smoke test; numbers are not meaningful).
# Python interpreters: $RKERAS_BENCH_PY_TF / $RKERAS_BENCH_PY_JAX, else the pythons.env
# written by bench/setup.sh (beside ${RKERAS_BENCH_VENV:-~/.cache/rkeras/venv-bench}).

source(file.path(local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[[1]])) else "bench"
}), "common.R"))

opts <- bench_args(list(epochs = 3L, rounds = 2L, train_rows = 0L, batch = 128L, seed = 1L,
                        gemm_reps = 0L, quick = FALSE, no_python = FALSE, out = "", worker = "",
                        json = ""))
if (opts$quick) {
  if (!any(grepl("^--epochs", commandArgs(TRUE)))) opts$epochs <- 1L
  if (opts$train_rows == 0L) opts$train_rows <- 1280L
  if (!any(grepl("^--rounds", commandArgs(TRUE)))) opts$rounds <- 1L
}
if (opts$train_rows == 0L) opts$train_rows <- 12800L

# ---- worker (runs in a fresh Rscript) ---------------------------------------------------

#' Keras for R's mnist_cnn network, compiled as its example compiles it (optimizer Adam).
build_cnn <- function() {
  model <- rkeras::keras_model_sequential()
  model <- rkeras::layer_conv_2d(model, filters = 32, kernel_size = c(3, 3), activation = "relu",
                                 input_shape = c(28, 28, 1))
  model <- rkeras::layer_conv_2d(model, filters = 64, kernel_size = c(3, 3), activation = "relu")
  model <- rkeras::layer_max_pooling_2d(model, pool_size = c(2, 2))
  model <- rkeras::layer_dropout(model, rate = 0.25)
  model <- rkeras::layer_flatten(model)
  model <- rkeras::layer_dense(model, units = 128, activation = "relu")
  model <- rkeras::layer_dropout(model, rate = 0.5)
  model <- rkeras::layer_dense(model, units = 10, activation = "softmax")
  rkeras::compile(model, loss = "sparse_categorical_crossentropy",
                  optimizer = rkeras::optimizer_adam(), metrics = c("accuracy"))
  model
}

worker_fit <- function(o) {
  suppressPackageStartupMessages(library(rkeras))
  set.seed(o$seed)
  t_load <- now()
  d <- dataset_fashion_mnist()
  n <- min(o$train_rows, dim(d$train$x)[[1]])
  x <- array_reshape(d$train$x[1:n, , , drop = FALSE] / 255, c(n, 28, 28, 1))
  y <- d$train$y[1:n]
  n_test <- dim(d$test$x)[[1]]
  x_test <- array_reshape(d$test$x / 255, c(n_test, 28, 28, 1))
  y_test <- d$test$y
  t_load <- now() - t_load
  model <- build_cnn()
  times <- numeric(0)
  t_begin <- NA_real_
  cb <- callback_lambda(on_epoch_begin = function(epoch, logs) t_begin <<- now(),
                        on_epoch_end = function(epoch, logs) times <<- c(times, now() - t_begin))
  t_fit <- now()
  hist <- fit(model, x, y, epochs = o$epochs, batch_size = o$batch, verbose = 0, callbacks = list(cb))
  t_fit <- now() - t_fit
  t_eval <- now()
  ev <- evaluate(model, x_test, y_test, batch_size = o$batch, verbose = 0)
  t_eval <- now() - t_eval
  rest <- times[-1]
  cpu <- cpu_info()
  list(framework = "rkeras", version = as.character(packageVersion("rkeras")),
       threads = rkeras:::num_threads(), cpu = cpu[c("model", "simd", "cores")],
       train_rows = n, epochs = o$epochs, batch = o$batch, load_s = t_load, fit_s = t_fit,
       epoch_s = I(times), first_epoch_s = times[1],
       median_epoch_s = if (length(rest)) stats::median(rest) else NA,
       history = hist$metrics, test_loss = ev[["loss"]], test_acc = ev[["accuracy"]],
       evaluate_s = t_eval)
}

if (nzchar(opts$worker)) {
  res <- switch(opts$worker, fit = worker_fit(opts), stop("unknown worker ", opts$worker))
  jsonlite::write_json(res, opts$json, auto_unbox = TRUE, digits = NA)
  quit(save = "no")
}

# ---- driver -----------------------------------------------------------------------------

dir <- bench_dir()
out_dir <- if (nzchar(opts$out)) opts$out else tempfile("rkeras-bench-cnn-")
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)
cpu <- cpu_info()

read_run <- function(rc, json, what) {
  if (rc != 0 || !file.exists(json)) { message(what, " failed (exit ", rc, ")"); return(NULL) }
  jsonlite::read_json(json, simplifyVector = TRUE)
}

run_rkeras <- function(round) {
  json <- file.path(out_dir, sprintf("cnn-rkeras-%d.json", round))
  args <- c(file.path(dir, "bench_cnn.R"), "--worker", "fit", "--json", json, "--epochs", opts$epochs,
            "--train-rows", opts$train_rows, "--batch", opts$batch, "--seed", opts$seed)
  read_run(system2(rscript_bin(), args), json, paste("rkeras run", round))
}

run_python <- function(backend, py, round) {
  json <- file.path(out_dir, sprintf("cnn-keras-%s-%d.json", backend, round))
  args <- c(python_env(), py, file.path(dir, "keras_cnn.py"),
            "--backend", backend, "--epochs", opts$epochs, "--train-rows", opts$train_rows,
            "--batch", opts$batch, "--json", json, "--seed", opts$seed)
  read_run(system2("env", args), json, paste(backend, "run", round))
}

#' The matrix products of one training step, as the engine computes them: a convolution as
#' im2col products (M = batch * out_h * out_w rows of patches, K = kh * kw * in, N = filters),
#' a dense layer as M = batch, K = inputs, N = units. Per layer: forward Z = X W (m = M, n = N,
#' k = K), weight gradient dW = X' dZ (m = K, n = N, k = M) and input gradient dX = dZ W'
#' (m = M, n = K, k = N), except for the first layer, whose input needs no gradient. Pooling,
#' dropout, flatten, activations, loss and Adam are elementwise: not counted.
cnn_products <- function(b) {
  layers <- data.frame(
    layer = c("conv2d", "conv2d_1", "dense", "dense_1"),
    M = c(b * 26 * 26, b * 24 * 24, b, b),   # 28x28x1 -> 26x26x32 -> 24x24x64 -> pool 12x12x64
    K = c(3 * 3 * 1, 3 * 3 * 32, 12 * 12 * 64, 128),
    N = c(32, 64, 128, 10))
  rows <- lapply(seq_len(nrow(layers)), function(i) {
    l <- layers[i, ]
    p <- data.frame(what = paste(l$layer, c("fwd", "dW", "dX")),
                    m = c(l$M, l$K, l$M), n = c(l$N, l$N, l$K), k = c(l$K, l$M, l$N))
    if (i == 1) p[1:2, ] else p
  })
  do.call(rbind, rows)
}

#' FLOPs of one training epoch's products and the time they take at the rates measured here:
#' each product timed alone through the gemm crate and the engine's kernel, the faster counting
#' (as bench_fit.R's floor). Also the rate at the representative conv product (conv2d_1's
#' forward, 128*576 x 288 x 64 at batch 128) and the floor at that one rate.
gemm_floor <- function(bench, threads, train_rows, batch, reps = 0L) {
  if (is.null(bench)) return(NULL)
  shapes <- cnn_products(batch)
  shapes$calls <- train_rows / batch         # FLOP-weighted: a short last batch counts pro rata
  shapes$flops_call <- 2 * shapes$m * shapes$n * shapes$k
  # ~1e10 FLOPs per timing (~0.1 s here), at least 5 and at most 200 calls (bench_fit's count).
  shapes$reps <- if (reps > 0) reps else pmin(200, pmax(5, round(1e10 / shapes$flops_call)))
  secs <- vapply(seq_len(nrow(shapes)), function(i) {
    time_gemm(bench, shapes$m[i], shapes$n[i], shapes$k[i], shapes$reps[i], threads)
  }, numeric(2))
  shapes$sec_crate <- secs[1, ]
  shapes$sec_kernel <- secs[2, ]
  shapes$sec <- pmin(shapes$sec_crate, shapes$sec_kernel, na.rm = TRUE)
  shapes$gflops <- shapes$flops_call / shapes$sec / 1e9
  shapes$flops <- shapes$flops_call * shapes$calls
  rate <- function(sec) sum(shapes$flops) / sum(sec * shapes$calls) / 1e9
  rep_i <- which(shapes$what == "conv2d_1 fwd")
  rep_rate <- shapes$gflops[rep_i]
  list(shapes = shapes, threads = threads, epoch_gflop = sum(shapes$flops) / 1e9,
       floor_s = sum(shapes$sec * shapes$calls), gflops = rate(shapes$sec),
       gflops_crate = rate(shapes$sec_crate),
       gflops_kernel = if (anyNA(shapes$sec_kernel)) NA else rate(shapes$sec_kernel),
       rep_shape = sprintf("%d x %d x %d", shapes$m[rep_i], shapes$k[rep_i], shapes$n[rep_i]),
       rep_gflops = rep_rate, rep_floor_s = sum(shapes$flops) / (rep_rate * 1e9))
}

# ---- run --------------------------------------------------------------------------------

pythons <- if (opts$no_python) character() else find_pythons()
if (!opts$no_python && length(pythons) == 0) {
  message("No Keras venv found: run `sh bench/setup.sh` (or pass --no-python). Running rkeras only.")
}
cat(sprintf("bench_cnn: mnist_cnn network, %d epoch(s) x %d round(s), %d training rows (no validation), batch %d\n",
            opts$epochs, opts$rounds, opts$train_rows, opts$batch))
cat(sprintf("# %s; rkeras threads: %d\n", cpu$text, rkeras:::num_threads()))
cat(if (nzchar(opts$out)) sprintf("raw results: %s\n", out_dir) else "raw results: not kept (pass --out DIR)\n")
runs <- list(rkeras = list(), tensorflow = list(), jax = list())
# The GEMM floor is measured right after each rkeras round, so that it sees the machine as
# the epochs it is compared with did (this VM's speed drifts over minutes).
floors <- list()
measure_floor <- function(round) {
  f <- tryCatch(gemm_floor(gemm_fun(), rkeras:::num_threads(), opts$train_rows, opts$batch, opts$gemm_reps),
                error = function(e) { message("rk_bench_gemm failed: ", conditionMessage(e)); NULL })
  if (!is.null(f)) jsonlite::write_json(f, file.path(out_dir, sprintf("cnn-gemm-%d.json", round)),
                                        auto_unbox = TRUE, digits = NA)
  f
}
for (r in seq_len(opts$rounds)) {
  cat(sprintf("round %d: rkeras\n", r)); runs$rkeras[[r]] <- run_rkeras(r)
  floors[[r]] <- measure_floor(r)
  for (b in names(pythons)) {
    cat(sprintf("round %d: keras/%s\n", r, b)); runs[[b]][[r]] <- run_python(b, pythons[[b]], r)
  }
}
floors <- Filter(Negate(is.null), floors)
# The round whose floor is the median (the lower middle one for an even count).
floor_res <- if (length(floors)) {
  fs <- vapply(floors, function(f) f$floor_s, 0)
  f <- floors[[order(fs)[ceiling(length(fs) / 2)]]]
  f$rounds_s <- fs
  f
}

# ---- report -----------------------------------------------------------------------------

runs <- lapply(runs, function(l) Filter(Negate(is.null), l))
epoch_times <- function(l) {     # steady-state epochs; first epochs when only one was run
  rest <- unlist(lapply(l, function(x) x$epoch_s[-1]))
  if (length(rest)) rest else unlist(lapply(l, function(x) x$epoch_s[1]))
}
pull <- function(l, f) unlist(lapply(l, f))
label <- c(rkeras = "rkeras", tensorflow = "Keras 3 / TensorFlow", jax = "Keras 3 / JAX")
short <- c(tensorflow = "TF-Keras", jax = "JAX-Keras")
steady <- opts$epochs > 1
cat("\n== CNN fit: s/epoch, median [min-max] over epochs 2..N of all rounds",
    if (!steady) "(1 epoch: INCLUDES COMPILATION)", "==\n")
cat(sprintf("   %s\n", cpu$text))
cat(sprintf("  %-22s %-26s %-26s %-24s %s\n", "framework", "s/epoch", "first epoch", "test acc", "versions"))
med <- list()
for (f in names(runs)) {
  l <- runs[[f]]
  if (!length(l)) next
  et <- epoch_times(l)
  med[[f]] <- list(epoch = stats::median(et), acc = stats::median(pull(l, function(x) x$test_acc)))
  v <- l[[1]]$versions
  vers <- if (f == "rkeras") paste0("rkeras ", l[[1]]$version, ", ", l[[1]]$threads, " threads")
          else paste(names(v), unlist(v), collapse = ", ")
  cat(sprintf("  %-22s %-26s %-26s %-24s %s\n", label[[f]], fmt_range(et),
              fmt_range(pull(l, function(x) x$first_epoch_s)),
              fmt_range(pull(l, function(x) x$test_acc), 4), vers))
}
ratio <- function(a, b, key) if (!is.null(med[[a]]) && !is.null(med[[b]])) med[[a]][[key]] / med[[b]][[key]] else NA

cat(sprintf("\n== CNN targets (%s; rkeras threads: %d) ==\n", cpu$text, rkeras:::num_threads()))
r_tf <- ratio("rkeras", "tensorflow", "epoch"); r_jax <- ratio("rkeras", "jax", "epoch")
r_best <- if (all(is.na(c(r_tf, r_jax)))) NA else max(r_tf, r_jax, na.rm = TRUE)  # vs the faster anchor
target_line("s/epoch rkeras / min(TF, JAX)", fmt(r_best), r_best, 0.75, "<=")
cat(sprintf("  %-38s TF-Keras %s, JAX-Keras %s\n", "  (s/epoch rkeras / each)", fmt(r_tf), fmt(r_jax)))
if (is.null(floor_res)) {
  cat("  gemm floor: not available\n")
} else {
  e <- med$rkeras$epoch %||% NA
  target_line("fit epoch / gemm floor", fmt(e / floor_res$floor_s, 2), e / floor_res$floor_s, 1.5, "<=", "x")
}
acc <- med$rkeras$acc %||% NA
for (f in c("tensorflow", "jax")) {
  d <- if (is.null(med[[f]])) NA else abs(acc - med[[f]]$acc)
  target_line(sprintf("|test acc rkeras - %s|", short[[f]]), fmt(d, 4), d, 0.01, "<=")
}
cat(sprintf("  %-38s rkeras %s, TF-Keras %s, JAX-Keras %s\n", "  (test accuracy)", fmt(acc, 4),
            fmt(med$tensorflow$acc %||% NA, 4), fmt(med$jax$acc %||% NA, 4)))

if (!is.null(floor_res)) {
  s <- floor_res$shapes
  cat(sprintf("\n  gemm floor: %s s/epoch = %s GFLOP of products per epoch at %s GFLOP/s on %d threads (%d products\n",
              fmt(floor_res$floor_s), fmt(floor_res$epoch_gflop, 1), fmt(floor_res$gflops, 1),
              floor_res$threads, nrow(s)))
  cat(sprintf("              per step, each timed alone; per product the faster of the gemm crate, %s GFLOP/s,\n",
              fmt(floor_res$gflops_crate, 1)))
  cat(sprintf("              and the engine's kernel (AVX2, AVX-512 where the CPU has it), %s GFLOP/s; measured after each rkeras round: %s s/epoch,\n",
              fmt(floor_res$gflops_kernel %||% NA, 1), paste(fmt(floor_res$rounds_s), collapse = ", ")))
  cat("              the median round's shown)\n")
  cat(sprintf("  representative conv product (%s): %s GFLOP/s; all products at that rate: %s s/epoch\n",
              floor_res$rep_shape, fmt(floor_res$rep_gflops, 1), fmt(floor_res$rep_floor_s)))
  cat(sprintf("    %-14s %-22s %10s %12s %10s\n", "product", "m x k x n", "GFLOP/ep", "GFLOP/s", "s/epoch"))
  for (i in seq_len(nrow(s))) {
    cat(sprintf("    %-14s %-22s %10s %12s %10s\n", s$what[i], sprintf("%d x %d x %d", s$m[i], s$k[i], s$n[i]),
                fmt(s$flops[i] / 1e9, 2), fmt(s$gflops[i], 1), fmt(s$sec[i] * s$calls[i])))
  }
}
if (!steady) cat("\nNOTE: 1-epoch run; s/epoch includes compilation and the figures are smoke-test only.\n")
saveRDS(list(opts = opts, cpu = cpu, runs = runs, gemm = floor_res), file.path(out_dir, "cnn-summary.rds"))
