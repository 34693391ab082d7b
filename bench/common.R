# Helpers shared by bench_fit.R and bench_generator.R (sourced, not a package file).

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
