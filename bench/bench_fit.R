#!/usr/bin/env Rscript
# rkeras vs Keras 3 (TensorFlow and JAX backends) on the seed's Fashion-MNIST MLP.
#
#   Rscript bench/bench_fit.R [--epochs 10] [--rounds 2] [--train-rows 60000]
#                             [--quick] [--no-python] [--no-memory] [--out DIR]
#
# Runs are alternated (rkeras, TF, JAX, rkeras, TF, JAX, ...) for --rounds rounds, each in a
# fresh process. Every run fits with validation_split = 0.2 and batch 128 (48000/12000 rows
# by default), times each epoch with a callback (the first epoch, which includes
# compilation, is reported apart), evaluates test accuracy and times predict() on the
# 10000 test images at batch 32 and 10000. Then it measures rkeras's start-up time,
# peak memory and, where the engine exposes rk_bench_gemm(), the epoch's GEMM floor.
# --quick: 1 epoch, 6000 rows, 1 round (smoke test; numbers are not meaningful).
# Python interpreters: $RKERAS_BENCH_PY_TF / $RKERAS_BENCH_PY_JAX, else the pythons.env
# written by bench/setup.sh (beside ${RKERAS_BENCH_VENV:-~/.cache/rkeras/venv-bench}).

source(file.path(local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[[1]])) else "bench"
}), "common.R"))

opts <- bench_args(list(epochs = 10L, rounds = 2L, train_rows = 0L, mem_rows = 0L,
                        batch = 128L, seed = 1L, predict_reps = 10L, startup_reps = 3L, gemm_reps = 0L,
                        quick = FALSE, no_python = FALSE, no_memory = FALSE, no_predict = FALSE,
                        out = "", worker = "", json = ""))
if (opts$quick) {
  if (!any(grepl("^--epochs", commandArgs(TRUE)))) opts$epochs <- 1L
  if (opts$train_rows == 0L) opts$train_rows <- 6000L
  if (!any(grepl("^--rounds", commandArgs(TRUE)))) opts$rounds <- 1L
  if (opts$mem_rows == 0L) opts$mem_rows <- opts$train_rows
}
if (opts$train_rows == 0L) opts$train_rows <- 60000L
if (opts$mem_rows == 0L) opts$mem_rows <- 60000L

# ---- workers (run in a fresh Rscript) ---------------------------------------------------

worker_fit <- function(o) {
  suppressPackageStartupMessages(library(rkeras))
  set.seed(o$seed)
  d <- load_fashion(o$train_rows)
  model <- build_mlp()
  times <- numeric(0)
  t_begin <- NA_real_
  cb <- callback_lambda(on_epoch_begin = function(epoch, logs) t_begin <<- now(),
                        on_epoch_end = function(epoch, logs) times <<- c(times, now() - t_begin))
  t_fit <- now()
  hist <- fit(model, d$x, d$y, epochs = o$epochs, batch_size = o$batch, validation_split = 0.2,
              verbose = 0, callbacks = list(cb))
  t_fit <- now() - t_fit
  ev <- evaluate(model, d$x_test, d$y_test, batch_size = o$batch, verbose = 0)
  rest <- times[-1]
  out <- list(framework = "rkeras", version = as.character(packageVersion("rkeras")),
              threads = rkeras:::num_threads(), train_rows = nrow(d$x), epochs = o$epochs,
              batch = o$batch, fit_s = t_fit, epoch_s = times, first_epoch_s = times[1],
              median_epoch_s = if (length(rest)) stats::median(rest) else NA,
              history = hist$metrics, test_loss = ev[["loss"]], test_acc = ev[["accuracy"]])
  if (!o$no_predict) {
    n <- nrow(d$x_test)
    out$predict <- lapply(c(32L, n), function(bs) {
      s <- time_reps(function() predict(model, d$x_test, batch_size = bs, verbose = 0), o$predict_reps)
      list(batch = bs, rows = n, seconds = s, median_s = stats::median(s), rows_per_s = n / stats::median(s))
    })
    names(out$predict) <- c("32", as.character(n))
  }
  out
}

worker_mem <- function(o) {
  suppressPackageStartupMessages(library(rkeras))
  set.seed(o$seed)
  d <- load_fashion(o$mem_rows, test = FALSE)
  invisible(gc(full = TRUE))
  model <- build_mlp()
  hwm_load <- proc_mib("VmHWM")
  rss_before <- proc_mib("VmRSS")
  reset_ok <- reset_hwm()
  fit(model, d$x, d$y, epochs = 1, batch_size = o$batch, validation_split = 0.2, verbose = 0)
  list(rows = nrow(d$x), cols = ncol(d$x), params = count_params(model), hwm_load = hwm_load,
       rss_before_fit = rss_before, hwm_reset = reset_ok, hwm_end = proc_mib("VmHWM"),
       rss_end = proc_mib("VmRSS"), r_data_mib = as.numeric(object.size(d$x) + object.size(d$y)) / 2^20)
}

if (nzchar(opts$worker)) {
  res <- switch(opts$worker, fit = worker_fit(opts), mem = worker_mem(opts),
                stop("unknown worker ", opts$worker))
  jsonlite::write_json(res, opts$json, auto_unbox = TRUE, digits = NA)
  quit(save = "no")
}

# ---- driver -----------------------------------------------------------------------------

dir <- bench_dir()
out_dir <- if (nzchar(opts$out)) opts$out else tempfile("rkeras-bench-")
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)

run_rkeras <- function(round) {
  json <- file.path(out_dir, sprintf("rkeras-%d.json", round))
  args <- c(file.path(dir, "bench_fit.R"), "--worker", "fit", "--json", json, "--epochs", opts$epochs,
            "--train-rows", opts$train_rows, "--batch", opts$batch, "--predict-reps", opts$predict_reps,
            "--seed", opts$seed, if (opts$no_predict) "--no-predict")
  rc <- system2(rscript_bin(), args)
  if (rc != 0 || !file.exists(json)) { message("rkeras run ", round, " failed (exit ", rc, ")"); return(NULL) }
  jsonlite::read_json(json, simplifyVector = TRUE)
}

run_python <- function(backend, py, round) {
  json <- file.path(out_dir, sprintf("keras-%s-%d.json", backend, round))
  args <- c(python_env(), py, file.path(dir, "keras_mlp.py"),
            "--backend", backend, "--epochs", opts$epochs, "--train-rows", opts$train_rows,
            "--batch", opts$batch, "--json", json, "--predict-reps", opts$predict_reps,
            "--seed", opts$seed, if (!opts$no_predict) "--predict")
  rc <- system2("env", args)
  if (rc != 0 || !file.exists(json)) { message(backend, " run ", round, " failed (exit ", rc, ")"); return(NULL) }
  jsonlite::read_json(json, simplifyVector = TRUE)
}

measure_startup <- function(reps) {
  code <- paste("t0 <- proc.time()[['elapsed']]; suppressPackageStartupMessages(library(rkeras));",
                "m <- keras_model_sequential() %>% layer_dense(256, activation = 'relu', input_shape = 784) %>%",
                "layer_dropout(0.4) %>% layer_dense(128, activation = 'relu') %>% layer_dropout(0.3) %>%",
                "layer_dense(10, activation = 'softmax');",
                "m %>% compile(loss = 'categorical_crossentropy', optimizer = optimizer_rmsprop(), metrics = 'accuracy');",
                "cat(proc.time()[['elapsed']] - t0)")
  res <- lapply(seq_len(reps), function(i) {
    t0 <- now()
    inner <- suppressWarnings(system2(rscript_bin(), c("-e", shQuote(code)), stdout = TRUE))
    c(inner = as.numeric(utils::tail(inner, 1)), process = now() - t0)
  })
  bare <- vapply(seq_len(reps), function(i) { t0 <- now(); system2(rscript_bin(), c("-e", "0"), stdout = FALSE); now() - t0 }, 0)
  list(inner = vapply(res, `[[`, 0, "inner"), process = vapply(res, `[[`, 0, "process"), bare = bare)
}

measure_memory <- function() {
  json <- file.path(out_dir, "rkeras-mem.json")
  rc <- system2(rscript_bin(), c(file.path(dir, "bench_fit.R"), "--worker", "mem", "--json", json,
                                 "--mem-rows", opts$mem_rows, "--batch", opts$batch, "--seed", opts$seed))
  if (rc != 0 || !file.exists(json)) return(NULL)
  jsonlite::read_json(json, simplifyVector = TRUE)
}

# FLOPs of one training epoch's matrix products and the time they take at the measured rate.
gemm_floor <- function(bench, threads, train_rows, batch, reps = 200L) {
  if (is.null(bench)) return(NULL)
  fit_rows <- floor(train_rows * 0.8)
  steps <- fit_rows / batch              # FLOP-weighted: a short last batch counts pro rata
  vsteps <- (train_rows - fit_rows) / batch
  # m, n, k of C[m x n] = A[m x k] B[k x n]; calls per epoch. Layer 1 needs no input gradient.
  b <- batch
  shapes <- data.frame(
    what = c("L1 fwd", "L1 dW", "L2 fwd", "L2 dW", "L2 dX", "L3 fwd", "L3 dW", "L3 dX",
             "val L1", "val L2", "val L3"),
    m = c(b, 784, b, 256, b, b, 128, b, b, b, b),
    n = c(256, 256, 128, 128, 256, 10, 10, 128, 256, 128, 10),
    k = c(784, b, 256, b, 128, 128, b, 10, 784, 256, 128),
    calls = c(rep(steps, 8), rep(vsteps, 3)))
  # Each product is timed through the gemm crate and, with AVX2, the engine's own kernel; the
  # floor takes the faster of the two for every shape.
  secs <- vapply(seq_len(nrow(shapes)), function(i) {
    time_gemm(bench, shapes$m[i], shapes$n[i], shapes$k[i], reps, threads)
  }, numeric(2))
  shapes$sec_crate <- secs[1, ]
  shapes$sec_kernel <- secs[2, ]
  shapes$sec <- pmin(shapes$sec_crate, shapes$sec_kernel, na.rm = TRUE)
  shapes$flops <- 2 * shapes$m * shapes$n * shapes$k * shapes$calls
  rate <- function(sec) sum(shapes$flops) / sum(sec * shapes$calls) / 1e9
  list(shapes = shapes, threads = threads, floor_s = sum(shapes$sec * shapes$calls),
       gflops = rate(shapes$sec), gflops_crate = rate(shapes$sec_crate),
       gflops_kernel = if (anyNA(shapes$sec_kernel)) NA else rate(shapes$sec_kernel))
}

# ---- run --------------------------------------------------------------------------------

pythons <- if (opts$no_python) character() else find_pythons()
if (!opts$no_python && length(pythons) == 0) {
  message("No Keras venv found: run `sh bench/setup.sh` (or pass --no-python). Running rkeras only.")
}
cat(sprintf("bench_fit: %d epoch(s) x %d round(s), %d training rows (%d fit / %d validation), batch %d\n",
            opts$epochs, opts$rounds, opts$train_rows, floor(opts$train_rows * 0.8),
            opts$train_rows - floor(opts$train_rows * 0.8), opts$batch))
cat(if (nzchar(opts$out)) sprintf("raw results: %s\n", out_dir) else "raw results: not kept (pass --out DIR)\n")
cat("# ", cpu_info()$text, "\n", sep = "")
runs <- list(rkeras = list(), tensorflow = list(), jax = list())
# The GEMM floor is measured right after each rkeras round, so that it sees the machine as
# the epochs it is compared with did (this VM's speed drifts over minutes).
floors <- list()
measure_floor <- function() {
  tryCatch(gemm_floor(gemm_fun(), rkeras:::num_threads(), opts$train_rows, opts$batch,
                      if (opts$gemm_reps > 0) opts$gemm_reps else 200L), error = function(e) {
    message("rk_bench_gemm failed: ", conditionMessage(e)); NULL
  })
}
for (r in seq_len(opts$rounds)) {
  cat(sprintf("round %d: rkeras\n", r)); runs$rkeras[[r]] <- run_rkeras(r)
  floors[[r]] <- measure_floor()
  for (b in names(pythons)) {
    cat(sprintf("round %d: keras/%s\n", r, b)); runs[[b]][[r]] <- run_python(b, pythons[[b]], r)
  }
}
startup <- measure_startup(opts$startup_reps)
mem <- if (opts$no_memory) NULL else measure_memory()
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
steady <- opts$epochs > 1
cat("\n== Fit: s/epoch, median [min-max] over epochs 2..N of all rounds", if (!steady) "(1 epoch: INCLUDES COMPILATION)", "==\n")
cat(sprintf("  %-22s %-26s %-14s %-12s %-18s %-18s %s\n", "framework", "s/epoch", "first epoch",
            "test acc", "predict b32 rows/s", "predict b10k rows/s", "versions"))
med <- list()
for (f in names(runs)) {
  l <- runs[[f]]
  if (!length(l)) next
  et <- epoch_times(l)
  p32 <- pull(l, function(x) x$predict[["32"]]$rows_per_s)
  p10k <- pull(l, function(x) x$predict[["10000"]]$rows_per_s)
  med[[f]] <- list(epoch = stats::median(et), acc = stats::median(pull(l, function(x) x$test_acc)),
                   p32 = if (length(p32)) stats::median(p32) else NA,
                   p10k = if (length(p10k)) stats::median(p10k) else NA)
  v <- l[[1]]$versions
  vers <- if (f == "rkeras") paste0("rkeras ", l[[1]]$version, ", ", l[[1]]$threads, " threads")
          else paste(names(v), unlist(v), collapse = ", ")
  cat(sprintf("  %-22s %-26s %-14s %-12s %-18s %-18s %s\n", label[[f]], fmt_range(et),
              fmt_range(pull(l, function(x) x$first_epoch_s)),
              fmt_range(pull(l, function(x) x$test_acc), 4),
              fmt_range(p32, 0), fmt_range(p10k, 0), vers))
}
ratio <- function(a, b, key) if (!is.null(med[[a]]) && !is.null(med[[b]])) med[[a]][[key]] / med[[b]][[key]] else NA

cat("\n== Targets ==\n")
r_tf <- ratio("rkeras", "tensorflow", "epoch"); r_jax <- ratio("rkeras", "jax", "epoch")
target_line("s/epoch rkeras / TF-Keras", fmt(r_tf), r_tf, 0.5, "<=")
target_line("s/epoch rkeras / JAX-Keras", fmt(r_jax), r_jax, 0.75, "<=")
acc <- med$rkeras$acc %||% NA
target_line("rkeras test accuracy", fmt(acc, 4), acc, 0.865, ">=")
for (f in c("tensorflow", "jax")) if (!is.null(med[[f]])) cat(sprintf("  %-38s %s\n", paste(label[[f]], "test accuracy"), fmt(med[[f]]$acc, 4)))
p32 <- ratio("rkeras", "jax", "p32"); p10k <- ratio("rkeras", "jax", "p10k")
target_line("predict b32 rows/s rkeras / JAX", fmt(p32, 2), p32, 1.5, ">=", "x")
target_line("predict b10000 rows/s rkeras / JAX", fmt(p10k, 2), p10k, 1.5, ">=", "x")
if (!is.null(med$tensorflow)) {
  cat(sprintf("  %-38s b32 %sx, b10000 %sx\n", "(predict rkeras / TF-Keras)",
              fmt(ratio("rkeras", "tensorflow", "p32"), 2), fmt(ratio("rkeras", "tensorflow", "p10k"), 2)))
}
su <- stats::median(startup$inner)
target_line("start-up: library + build + compile", paste0(fmt_range(startup$inner), " s"), su, 0.5, "<", " s")
cat(sprintf("  %-38s %s s (bare Rscript -e 0: %s s)\n", "  whole Rscript process", fmt_range(startup$process),
            fmt_range(startup$bare)))
py_su <- lapply(runs[c("tensorflow", "jax")], function(l) pull(l, function(x) x$startup_s))
for (f in names(py_su)) if (length(py_su[[f]])) cat(sprintf("  %-38s %s s\n", paste0("  (", label[[f]], ": import + build + compile)"), fmt_range(py_su[[f]])))

if (!is.null(mem)) {
  data_mib <- mem$rows * (mem$cols + 10) * 4 / 2^20
  state_mib <- mem$params * 3 * 4 / 2^20      # weights, gradients, RMSprop accumulators
  ref <- 2 * (data_mib + state_mib)
  fit_peak <- if (isTRUE(mem$hwm_reset)) mem$hwm_end else max(mem$hwm_end, mem$hwm_load)
  delta <- fit_peak - mem$rss_before_fit
  cat(sprintf("  memory: fit on %dx%d (1 epoch): process peak %s MiB (VmHWM%s), RSS before fit %s MiB\n",
              mem$rows, mem$cols, fmt(fit_peak, 0), if (isTRUE(mem$hwm_reset)) " reset before fit" else ", NOT reset: includes loading",
              fmt(mem$rss_before_fit, 0)))
  cat(sprintf("          R's own copy of x, y (double) %s MiB; f32 data %s MiB + model state %s MiB\n",
              fmt(mem$r_data_mib, 0), fmt(data_mib, 0), fmt(state_mib, 1)))
  target_line("memory added by fit (peak - RSS before)", paste0(fmt(delta, 0), " MiB"), delta, round(ref), "<=", " MiB")
} else {
  cat("  memory: not measured\n")
}

if (is.null(floor_res)) {
  cat("  gemm floor: not available\n")
} else {
  e <- med$rkeras$epoch %||% NA
  cat(sprintf("  gemm floor: %s s/epoch (%s GFLOP/s on %d threads, %d products; per product the faster of\n",
              fmt(floor_res$floor_s), fmt(floor_res$gflops, 1), floor_res$threads, nrow(floor_res$shapes)))
  cat(sprintf("              the gemm crate, %s GFLOP/s, and the engine's kernel (AVX2, AVX-512 where the CPU has it), %s GFLOP/s;\n",
              fmt(floor_res$gflops_crate, 1), fmt(floor_res$gflops_kernel %||% NA, 1)))
  cat(sprintf("              measured after each rkeras round: %s s/epoch, the median round's shown)\n",
              paste(fmt(floor_res$rounds_s), collapse = ", ")))
  target_line("fit epoch / gemm floor", fmt(e / floor_res$floor_s, 2), e / floor_res$floor_s, 1.5, "<=", "x")
}
if (!steady) cat("\nNOTE: 1-epoch run; s/epoch includes compilation and the figures are smoke-test only.\n")
saveRDS(list(opts = opts, runs = runs, startup = startup, mem = mem, gemm = floor_res),
        file.path(out_dir, "summary.rds"))
