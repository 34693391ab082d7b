# Save and load times of the seed MLP, rkeras against Keras 3 (JAX backend), and the files'
# sizes: `.keras` (save_model / load_model) and legacy `.h5` (save_model_hdf5 /
# load_model_hdf5), plus rkeras's saveRDS()/readRDS() of the model. Rounds alternate rkeras
# and Keras (A B A B); each round times every operation `--reps` times after a warm-up.
#
#   Rscript bench/bench_saving.R [--rounds 3] [--reps 10] [--no-python]
suppressPackageStartupMessages(library(rkeras))
source(file.path(local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[[1]])) else "bench"
}), "common.R"))
opts <- bench_args(list(rounds = 3L, reps = 10L, no_python = FALSE))
dir <- tempfile("rk-saving-"); dir.create(dir)
cpu <- cpu_info()

model <- build_mlp()
set.seed(1)
model %>% fit(matrix(runif(128 * 784), 128), to_categorical(0:127 %% 10, 10), batch_size = 128, epochs = 1, verbose = 0)
files <- c(keras = file.path(dir, "rk_mlp.keras"), h5 = file.path(dir, "rk_mlp.h5"), rds = file.path(dir, "rk_mlp.rds"))
ops <- list(
  keras_save = function() save_model(model, files[["keras"]]),
  keras_load = function() load_model(files[["keras"]]),
  h5_save = function() save_model_hdf5(model, files[["h5"]]),
  h5_load = function() load_model_hdf5(files[["h5"]]),
  rds_save = function() saveRDS(model, files[["rds"]]),
  rds_load = function() { m <- readRDS(files[["rds"]]); invisible(m$ptr) }
)
py <- if (opts$no_python) character() else find_pythons()
py <- if ("jax" %in% names(py)) py[["jax"]] else if (length(py)) py[[1]] else ""
rk <- list(); kr <- list()
for (r in seq_len(opts$rounds)) {
  for (op in names(ops)) rk[[op]] <- c(rk[[op]], time_reps(ops[[op]], opts$reps))
  if (nzchar(py)) {
    out <- file.path(dir, "keras.json")
    status <- system2("env", c(python_env(), py, file.path(bench_dir(), "keras_saving.py"), dir, opts$reps, out),
                      stdout = FALSE, stderr = FALSE)
    if (status == 0) {
      res <- jsonlite::fromJSON(out)
      for (op in names(res)) kr[[op]] <- c(kr[[op]], res[[op]])
    }
  }
}
ms <- function(x) if (length(x)) sprintf("%7.1f ms", 1000 * stats::median(x)) else "      n/a"
cat(sprintf("# %s\n", cpu$text))
cat(sprintf("# seed MLP (%d parameters, RMSprop state included); %d rounds x %d reps, medians\n\n",
            count_params(model), opts$rounds, opts$reps))
cat(sprintf("%-22s %10s %10s %8s\n", "operation", "rkeras", "Keras 3", "ratio"))
for (op in c("keras_save", "keras_load", "h5_save", "h5_load")) {
  ratio <- if (length(kr[[op]])) sprintf("%6.2fx", stats::median(rk[[op]]) / stats::median(kr[[op]])) else "   n/a"
  cat(sprintf("%-22s %10s %10s %8s\n", op, ms(rk[[op]]), ms(kr[[op]]), ratio))
}
for (op in c("rds_save", "rds_load")) cat(sprintf("%-22s %10s\n", op, ms(rk[[op]])))
cat(sprintf("\n%-22s %10s %10s\n", "file size (bytes)", "rkeras", "Keras 3"))
for (k in c("keras", "h5")) {
  cat(sprintf("%-22s %10d %10s\n", paste0(".", k), file.size(files[[k]]),
              if (length(kr[[paste0(k, "_bytes")]])) format(kr[[paste0(k, "_bytes")]][[1]]) else "n/a"))
}
cat(sprintf("%-22s %10d\n", "saveRDS (.rds)", file.size(files[["rds"]])))
unlink(dir, recursive = TRUE)
