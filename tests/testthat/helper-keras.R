# Keras 3 (Python, from the test venv: RKERAS_KERAS_PYTHON) as the oracle: running its
# scripts, and moving weights, inputs and outputs between R and their JSON records.

# R starts with its own library path (LD_LIBRARY_PATH), which can make a Python built with a
# shared libpython load another build's library: Python's ssl module then fails to load, and
# TensorFlow (in the oracle venv for Keras's lookup layers) says so on stdout, which the tests
# read as JSON. The oracles run with the loader's default path.
Sys.unsetenv("LD_LIBRARY_PATH")

keras_python <- function() {
  py <- Sys.getenv("RKERAS_KERAS_PYTHON")
  skip_if(!nzchar(py), "RKERAS_KERAS_PYTHON is not set (python with keras and jax)")
  py
}

run_keras <- function(...) {
  out <- suppressWarnings(system2(keras_python(), c(test_path("oracle", "keras_models.py"), ...),
                                  stdout = TRUE, stderr = FALSE))
  expect_null(attr(out, "status"))
  out
}

# The output directory of oracle script `script` (run as `script DIR`), written once per test
# run and removed at its end.
oracle_once <- local({
  dirs <- list()
  function(script) {
    if (is.null(dirs[[script]])) {
      d <- tempfile(paste0(tools::file_path_sans_ext(script), "-"))
      out <- suppressWarnings(system2(keras_python(), shQuote(c(test_path("oracle", script), d)),
                                      stdout = TRUE, stderr = TRUE))
      if (!is.null(attr(out, "status"))) stop("oracle/", script, " failed:\n", paste(out, collapse = "\n"))
      withr::defer(unlink(d, recursive = TRUE), envir = teardown_env())
      dirs[[script]] <<- d
    }
    dirs[[script]]
  }
})

read_json <- function(path) rkeras:::rk_json_parse(paste(readLines(path, warn = FALSE), collapse = "\n"))$ok

unflat <- function(item) {
  v <- as.numeric(unlist(item$values))
  shape <- as.integer(unlist(item$shape))
  if (length(shape) == 0) v else if (length(shape) == 1) array(v, shape) else array_reshape(v, shape)
}

layer_table <- function(model) {
  ls <- model$layers
  data.frame(name = vapply(ls, function(l) l$name, ""),
             class_name = vapply(ls, function(l) rkeras:::layer_state(l)$spec$class_name, ""),
             shape = vapply(ls, function(l) paste(unlist(l$output_shape), collapse = "x"), ""),
             params = vapply(ls, function(l) as.integer(l$count_params()), 1L))
}

keras_table <- function(rec) {
  ls <- Filter(function(l) l$class_name != "InputLayer", rec$layers)
  data.frame(name = vapply(ls, `[[`, "", "name"), class_name = vapply(ls, `[[`, "", "class_name"),
             shape = vapply(ls, function(l) paste(unlist(l$output_shape), collapse = "x"), ""),
             params = vapply(ls, function(l) as.integer(l$params), 1L))
}

model_input_shapes <- function(model) {
  rkeras:::graph_info(model)$input_shapes
}

flat_item <- function(a) {
  d <- if (is.null(dim(a))) length(a) else dim(a)
  list(shape = I(as.integer(d)), values = I(as.numeric(aperm(array(a, d), rev(seq_along(d))))))
}

rk_predict_list <- function(model, inputs) {
  p <- predict(model, if (length(inputs) == 1) inputs[[1]] else inputs, verbose = 0)
  if (is.list(p)) p else list(p)
}

read_model <- function(dir, name) model_from_json(readLines(file.path(dir, paste0(name, ".json")), warn = FALSE))

# Each of `got` within relative `tolerance` of `want` (expect_equal() would bound their mean).
expect_each_close <- function(got, want, tolerance, info) {
  expect_equal(length(got), length(want), info = info)
  rel <- abs(got - want) / pmax(abs(want), 1e-12)
  bad <- which(is.na(rel) | rel > tolerance)
  expect(length(bad) == 0,
         sprintf("%s: %d of %d values off by more than %g (relative), the first at %d: %.8g, Keras %.8g",
                 info, length(bad), length(want), tolerance, bad[1], got[bad[1]], want[bad[1]]))
}

# One layer case: the layer table (names, classes, output shapes, parameters) and
# count_params(), the weights round trip, and predict() against Keras's model.predict().
check_layer_case <- function(dir, name) {
  rec <- read_json(file.path(dir, paste0(name, ".data.json")))
  model <- read_model(dir, name)
  expect_equal(layer_table(model), keras_table(rec), info = name)
  expect_equal(count_params(model), rec$params, info = name)
  weights <- lapply(rec$weights, unflat)
  if (length(weights)) set_weights(model, weights)
  expect_equal(get_weights(model), weights, tolerance = 1e-6, info = name)
  got <- predict(model, unflat(rec$inputs[[1]]), verbose = 0)
  expect_equal(unname(got), unflat(rec$outputs[[1]]), tolerance = 1e-5, info = name)
}
