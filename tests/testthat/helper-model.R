# Fixtures shared by the model tests: tiny data and models.

tiny_xy <- function(n = 60, d = 4, classes = 3, seed = 1) {
  withr::with_seed(seed, {
    x <- matrix(rnorm(n * d), n, d)
    w <- matrix(rnorm(d * classes), d, classes)
    y <- max.col(x %*% w) - 1L
  })
  list(x = x, y = y, onehot = to_categorical(y, classes))
}

tiny_model <- function(input = 4, units = 3, hidden = 8, activation = "softmax", dropout = 0) {
  m <- keras_model_sequential()
  m %>% layer_dense(units = hidden, activation = "relu", input_shape = input)
  if (dropout > 0) m %>% layer_dropout(rate = dropout)
  m %>% layer_dense(units = units, activation = activation)
  m
}

# A child R process running `code`; returns list(status, output).
run_child <- function(code, timeout = 120) {
  f <- tempfile(fileext = ".R")
  writeLines(code, f)
  out <- suppressWarnings(system2(file.path(R.home("bin"), "Rscript"), c("--vanilla", f),
                                  stdout = TRUE, stderr = TRUE, timeout = timeout))
  list(status = attr(out, "status") %||% 0L, output = out)
}

`%||%` <- function(a, b) if (is.null(a)) b else a
