# Helpers shared by the bench/ scripts (sourced, not a package file).

#' Parse `--key value` and `--flag` arguments into a list, starting from `defaults`.
#' A default of FALSE marks a flag; every other value is converted to the default's type.
bench_args <- function(defaults, args = commandArgs(trailingOnly = TRUE)) {
  out <- defaults
  i <- 1L
  while (i <= length(args)) {
    a <- args[[i]]
    if (!startsWith(a, "--")) stop("unexpected argument: ", a, call. = FALSE)
    kv <- strsplit(sub("^--", "", a), "=", fixed = TRUE)[[1]]
    key <- gsub("-", "_", kv[[1]], fixed = TRUE)
    if (!key %in% names(defaults)) stop("unknown option --", kv[[1]], call. = FALSE)
    if (isFALSE(defaults[[key]]) || isTRUE(defaults[[key]])) {
      out[[key]] <- if (length(kv) > 1) as.logical(kv[[2]]) else TRUE
    } else {
      val <- if (length(kv) > 1) kv[[2]] else {
        i <- i + 1L
        if (i > length(args)) stop("--", kv[[1]], " needs a value", call. = FALSE)
        args[[i]]
      }
      out[[key]] <- if (is.null(defaults[[key]])) val else methods::as(val, class(defaults[[key]])[[1]])
    }
    i <- i + 1L
  }
  out
}

#' Folder of the running script (bench/), from Rscript's --file= argument.
bench_dir <- function() {
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f) == 0) return(normalizePath("bench", mustWork = FALSE))
  dirname(normalizePath(f[[1]]))
}

rscript_bin <- function() file.path(R.home("bin"), "Rscript")

now <- function() proc.time()[["elapsed"]]

#' Seconds per call of `fn`: one warm-up call, then `reps` timed calls.
time_reps <- function(fn, reps = 3L) {
  fn()
  vapply(seq_len(reps), function(i) { t0 <- now(); fn(); now() - t0 }, numeric(1))
}

#' A field of /proc/self/status (VmHWM, VmRSS, ...) in MiB, NA where unavailable.
proc_mib <- function(field) {
  s <- tryCatch(readLines("/proc/self/status"), error = function(e) character())
  l <- grep(paste0("^", field, ":"), s, value = TRUE)
  if (length(l) == 0) return(NA_real_)
  as.numeric(gsub("[^0-9]", "", l[[1]])) / 1024
}

#' Reset VmHWM to the current RSS (Linux >= 4.0); TRUE on success.
reset_hwm <- function() {
  tryCatch({ writeLines("5", "/proc/self/clear_refs"); TRUE },
           error = function(e) FALSE, warning = function(w) FALSE)
}

#' Fashion-MNIST prepared as in the seed: x reshaped to n x 784 and scaled by 1/255,
#' y one-hot. `rows` keeps the first rows of the training set (0 = all).
load_fashion <- function(rows = 0L, test = TRUE) {
  d <- rkeras::dataset_fashion_mnist()
  n <- if (rows > 0) min(rows, dim(d$train$x)[[1]]) else dim(d$train$x)[[1]]
  xi <- d$train$x
  if (n < dim(xi)[[1]]) xi <- xi[seq_len(n), , , drop = FALSE]
  out <- list(x = rkeras::array_reshape(xi, c(n, 784)) / 255,
              y = rkeras::to_categorical(d$train$y[seq_len(n)], 10))
  if (test) {
    out$x_test <- rkeras::array_reshape(d$test$x, c(dim(d$test$x)[[1]], 784)) / 255
    out$y_test <- rkeras::to_categorical(d$test$y, 10)
  }
  out
}

#' The seed's MLP, compiled.
build_mlp <- function() {
  model <- rkeras::keras_model_sequential()
  model <- rkeras::layer_dense(model, units = 256, activation = "relu", input_shape = c(784))
  model <- rkeras::layer_dropout(model, rate = 0.4)
  model <- rkeras::layer_dense(model, units = 128, activation = "relu")
  model <- rkeras::layer_dropout(model, rate = 0.3)
  model <- rkeras::layer_dense(model, units = 10, activation = "softmax")
  rkeras::compile(model, loss = "categorical_crossentropy",
                  optimizer = rkeras::optimizer_rmsprop(), metrics = c("accuracy"))
  model
}

# ---- engine and interpreters ----------------------------------------------------------

#' The Keras anchors' interpreters, named by backend (tensorflow, jax): $RKERAS_BENCH_PY_TF /
#' $RKERAS_BENCH_PY_JAX, else the pythons.env that bench/setup.sh writes beside the venv.
find_pythons <- function() {
  py <- c(tensorflow = Sys.getenv("RKERAS_BENCH_PY_TF"), jax = Sys.getenv("RKERAS_BENCH_PY_JAX"))
  venv <- Sys.getenv("RKERAS_BENCH_VENV", path.expand("~/.cache/rkeras/venv-bench"))
  envfile <- file.path(dirname(venv), "pythons.env")
  if (file.exists(envfile)) {
    kv <- read.dcf(textConnection(gsub("=", ": ", readLines(envfile), fixed = TRUE)))
    if (!nzchar(py[["tensorflow"]]) && "RKERAS_BENCH_PY_TF" %in% colnames(kv)) py[["tensorflow"]] <- kv[1, "RKERAS_BENCH_PY_TF"]
    if (!nzchar(py[["jax"]]) && "RKERAS_BENCH_PY_JAX" %in% colnames(kv)) py[["jax"]] <- kv[1, "RKERAS_BENCH_PY_JAX"]
  }
  for (b in names(py)) {
    if (!nzchar(py[[b]]) && file.exists(file.path(venv, "bin/python"))) py[[b]] <- file.path(venv, "bin/python")
  }
  py[nzchar(py) & file.exists(py)]
}

#' Arguments to `env` that run an anchor without R's environment tweaks.
#' R's ldpaths prepends R_HOME/lib and the system library folder to LD_LIBRARY_PATH; with them a
#' python built with RUNPATH (pyenv's) loads the system libpython instead of its own and breaks.
python_env <- function() {
  parts <- strsplit(Sys.getenv("LD_LIBRARY_PATH"), ":", fixed = TRUE)[[1]]
  drop <- parts == "" | parts == R.home("lib") | grepl("^(/usr)?/lib(64)?(/[^/]+-linux-gnu)?/?$", parts) |
    grepl("/jvm/", parts, fixed = TRUE)
  keep <- parts[!drop]
  # OPENBLAS_* tuning meant for R's BLAS must not leak into the anchors either.
  c("-u", "OPENBLAS_CORETYPE", "-u", "OPENBLAS_L2_SIZE",
    if (length(keep)) paste0("LD_LIBRARY_PATH=", paste(keep, collapse = ":")) else c("-u", "LD_LIBRARY_PATH"))
}

#' The engine's GEMM timer, rkeras:::rk_bench_gemm(m, n, k, reps, threads): seconds per call of
#' C[m x n] = A[m x k] B[k x n] in f32. NULL while the engine does not have it.
gemm_fun <- function() {
  ns <- asNamespace("rkeras")
  if (exists("rk_bench_gemm", envir = ns, inherits = FALSE)) get("rk_bench_gemm", envir = ns)
}

#' Seconds per product C[m x n] = A[m x k] B[k x n] (median of `reps` after a warm-up call)
#' through `bench` (gemm_fun()): c(gemm crate, engine's kernel); the kernel's is NA
#' without AVX2 + FMA or on an engine that times only the crate.
time_gemm <- function(bench, m, n, k, reps, threads) {
  r <- bench(as.integer(m), as.integer(n), as.integer(k), as.integer(reps), as.integer(threads))
  if (is.list(r) && "ok" %in% names(r)) r <- rkeras:::rk_call(r)
  r <- as.numeric(r)
  c(r[1], if (length(r) > 1) r[2] else NA)
}

#' The CPU as /proc/cpuinfo names it: model, the SIMD flags the engine's kernels care about,
#' and the core count, plus `text`, one line to print beside the figures.
cpu_info <- function() {
  info <- tryCatch(readLines("/proc/cpuinfo"), error = function(e) character())
  field <- function(key) {
    l <- grep(paste0("^", key, "\\s*:"), info, value = TRUE)
    if (length(l)) sub(paste0("^", key, "\\s*:\\s*"), "", l[[1]]) else ""
  }
  flags <- strsplit(field("flags"), " ", fixed = TRUE)[[1]]
  simd <- intersect(flags, c("avx2", "fma", "avx512f", "avx512bw"))
  out <- list(model = field("model name"), simd = simd, cores = parallel::detectCores())
  out$text <- sprintf("CPU: %s; SIMD flags: %s; %d cores", if (nzchar(out$model)) out$model else "?",
                      if (length(simd)) paste(simd, collapse = " ") else "none of avx2/fma/avx512", out$cores)
  out
}

# ---- formatting -------------------------------------------------------------------------

fmt <- function(x, digits = 3) {
  ifelse(is.na(x), "n/a", formatC(x, format = "f", digits = digits))
}

#' "median [min-max]" of a numeric vector.
fmt_range <- function(x, digits = 3) {
  x <- x[!is.na(x)]
  if (length(x) == 0) return("n/a")
  if (length(x) == 1) return(fmt(x, digits))
  sprintf("%s [%s-%s]", fmt(stats::median(x), digits), fmt(min(x), digits), fmt(max(x), digits))
}

#' "PASS"/"FAIL" for `value <op> target`, "n/a" when value is missing.
verdict <- function(value, target, op = c("<=", ">=", "<")) {
  op <- match.arg(op)
  if (length(value) == 0 || is.na(value)) return("n/a")
  ok <- switch(op, "<=" = value <= target, ">=" = value >= target, "<" = value < target)
  if (ok) "PASS" else "FAIL"
}

#' One table line: label, value, target, verdict.
target_line <- function(label, value_txt, value, target, op, unit = "", width = 38) {
  cat(sprintf("  %-*s %-22s target %s %s%s  %s\n", width, label, value_txt, op, format(target), unit,
              verdict(value, target, op)))
}

`%||%` <- function(a, b) if (is.null(a)) b else a
