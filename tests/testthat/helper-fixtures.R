# Fixtures for the callback and TensorBoard tests (every function here is prefixed `cb_`).

# Two-class data: `n` rows, `d` features; y as class ids (0/1) and one-hot.
cb_data <- function(n = 96, d = 4, seed = 1) {
  withr::with_seed(seed, {
    x <- matrix(rnorm(n * d), n, d)
    y <- as.integer(x[, 1] - x[, 2] + 0.3 * rnorm(n) > 0)
  })
  list(x = x, y = y, onehot = to_categorical(y, 2))
}

# A compiled classifier (dense -> softmax) with the accuracy metric.
cb_classifier <- function(d = 4, hidden = 6, optimizer = optimizer_adam(learning_rate = 0.01), seed = 1) {
  withr::with_seed(seed, {
    m <- keras_model_sequential() %>%
      layer_dense(units = hidden, activation = "relu", input_shape = d) %>%
      layer_dense(units = 2, activation = "softmax")
  })
  m %>% compile(optimizer = optimizer, loss = "sparse_categorical_crossentropy", metrics = "accuracy")
  m
}

# A compiled one-unit linear regression model.
cb_regressor <- function(d = 4, optimizer = optimizer_sgd(learning_rate = 0.05), seed = 1) {
  withr::with_seed(seed, m <- keras_model_sequential() %>% layer_dense(units = 1, input_shape = d))
  m %>% compile(optimizer = optimizer, loss = "mse")
  m
}

# An infinite generator of random batches drawn from `x`, `y`.
cb_generator <- function(x, y, batch_size = 16) {
  function() {
    i <- sample.int(nrow(x), batch_size)
    list(x[i, , drop = FALSE], if (is.matrix(y)) y[i, , drop = FALSE] else y[i])
  }
}

# The event files of one run of a TensorBoard log dir.
cb_event_files <- function(log_dir, run = "train") {
  list.files(file.path(log_dir, run), pattern = "tfevents", full.names = TRUE)
}

# The python interpreter with TensorBoard (CI sets RKERAS_TB_PYTHON) and the oracle script;
# skips the test when either is missing.
cb_oracle <- function() {
  py <- Sys.getenv("RKERAS_TB_PYTHON")
  script <- testthat::test_path("oracle", "read_tfevents.py")
  testthat::skip_if(!nzchar(py), "RKERAS_TB_PYTHON is not set (python with tensorboard)")
  testthat::skip_if(!file.exists(script), "oracle/read_tfevents.py is missing")
  script <- normalizePath(script)
  testthat::skip_if(!file.exists(py), "RKERAS_TB_PYTHON does not exist")
  testthat::skip_if_not_installed("jsonlite")
  list(python = py, script = script)
}

# Read a log dir with TensorBoard's own loader (the Python oracle); returns the parsed JSON
# (a list of runs) with attribute "status" (the script's exit status; --strict makes any
# file error exit 1). Call cb_oracle() before changing the working directory and pass it.
cb_read_tb <- function(log_dir, strict = TRUE, oracle = cb_oracle()) {
  o <- oracle
  err <- tempfile()
  out <- suppressWarnings(system2(o$python, c(shQuote(o$script), shQuote(normalizePath(log_dir)),
                                              if (strict) "--strict"),
                                  stdout = TRUE, stderr = err))
  status <- if (is.null(attr(out, "status"))) 0L else attr(out, "status")
  if (!length(out)) stop("the TensorBoard oracle printed nothing: ", paste(readLines(err), collapse = "\n"))
  res <- jsonlite::fromJSON(paste(out, collapse = "\n"), simplifyVector = FALSE)
  structure(res, status = status, stderr = readLines(err))
}

# The [step, value] points of one scalar tag from cb_read_tb(): a data frame.
cb_points <- function(run, tag) {
  pts <- run$scalars[[tag]]
  if (is.null(pts)) return(NULL)
  val <- vapply(pts, function(p) {
    v <- p[[2]]
    if (is.character(v)) switch(v, "NaN" = NaN, "Infinity" = Inf, "-Infinity" = -Inf) else as.numeric(v)
  }, numeric(1))
  data.frame(step = vapply(pts, function(p) as.numeric(p[[1]]), numeric(1)), value = val)
}

# The float32 rounding of doubles (TensorBoard stores scalars as float32).
cb_f32 <- function(x) readBin(writeBin(as.double(x), raw(), size = 4), "double", size = 4, n = length(x))
