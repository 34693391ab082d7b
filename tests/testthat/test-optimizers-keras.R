# Keras 3 (Python, from the test venv) as the oracle for the optimizers inside a network
# (oracle/keras_training.py): a 5-8-3 classifier read from Keras's JSON, started from Keras's
# weights and trained 100 train_on_batch() steps on the same batches, must follow Keras's
# per-step losses and end at Keras's weights, for every optimizer and for clipping and weight
# decay. Set RKERAS_SHOW_ORACLE to print each case's largest loss difference as a table.

# ---- helpers (keras_python(), read_json(), unflat() are in helper-keras.R) -----------------

# The oracle's records, written once per test run (Keras compiles 18 models: ~15 s):
# list(model_json, x, y, initial, batch_size, steps, cases).
training_oracle <- local({
  rec <- NULL
  function() {
    py <- keras_python()
    if (is.null(rec)) {
      dir <- tempfile("keras-training-")
      withr::defer(unlink(dir, recursive = TRUE), envir = teardown_env())
      out <- suppressWarnings(system2(py, shQuote(c(test_path("oracle", "keras_training.py"), "write", dir)),
                                      stdout = TRUE, stderr = TRUE))
      if (!is.null(attr(out, "status"))) {
        stop("oracle/keras_training.py failed:\n", paste(utils::tail(out, 30), collapse = "\n"))
      }
      data <- read_json(file.path(dir, "data.json"))
      rec <<- list(model_json = readLines(file.path(dir, "model.json"), warn = FALSE),
                   x = unflat(data$x), y = as.integer(unlist(data$y)),
                   initial = lapply(data$initial_weights, unflat),
                   batch_size = as.integer(data$batch_size), steps = as.integer(data$steps),
                   cases = read_json(file.path(dir, "cases.json")),
                   loss_cases = read_json(file.path(dir, "loss_cases.json")))
      names(rec$cases) <<- vapply(rec$cases, function(case) case$name, "")
    }
    rec
  }
})

# Adam and its variants divide by a running root mean square, so float32 rounding differences
# between engines grow faster along their trajectories: looser tolerances.
is_adam_family <- function(case) grepl("^optimizer_(adam|adamw|adamax|nadam)\\(", case$r_call)

# Each case's largest relative loss difference, for the table printed at the end.
loss_diffs <- new.env()

# The losses of 100 train_on_batch() steps of the case's optimizer from Keras's weights; step
# s (0-based) trains on rows (s %% 4) * 16 + 1:16, as the oracle's.
train_case <- function(oracle, case) {
  model <- model_from_json(oracle$model_json)
  set_weights(model, oracle$initial)
  compile(model, optimizer = eval(parse(text = case$r_call)), loss = "sparse_categorical_crossentropy")
  per_epoch <- nrow(oracle$x) %/% oracle$batch_size
  losses <- vapply(seq_len(oracle$steps) - 1L, function(s) {
    rows <- (s %% per_epoch) * oracle$batch_size + seq_len(oracle$batch_size)
    unname(train_on_batch(model, oracle$x[rows, , drop = FALSE], oracle$y[rows]))[1]
  }, 1)
  list(losses = losses, weights = get_weights(model))
}

check_optimizer_case <- function(oracle, name) {
  case <- oracle$cases[[name]]
  adam <- is_adam_family(case)
  got <- train_case(oracle, case)
  want <- as.numeric(unlist(case$losses))
  expect_length(got$losses, length(want))
  rel <- abs(got$losses - want) / abs(want)
  worst <- which.max(replace(rel, is.na(rel), Inf))
  # Keras allows its own backends 1e-2 apart on the Adam family; rkeras agrees with the jax
  # backend to ~5e-6 here, and 1e-3 still catches a weight decay 20 % off.
  tolerance <- if (adam) 1e-3 else 1e-4
  assign(name, list(r_call = case$r_call, tolerance = tolerance, max_rel = max(rel), step = worst),
         envir = loss_diffs)
  expect_true(max(rel) < tolerance,
              info = sprintf("%s (%s): largest relative loss difference %.3g at step %d: %.8g, Keras %.8g",
                             name, case$r_call, rel[worst], worst, got$losses[worst], want[worst]))
  final <- lapply(case$final_weights, unflat)
  expect_equal(length(got$weights), length(final), info = name)
  for (i in seq_along(final)) {
    expect_equal(got$weights[[i]], final[[i]], tolerance = if (adam) 5e-3 else 1e-3,
                 info = sprintf("%s (%s): final weight %d", name, case$r_call, i))
  }
}

# The cases (oracle/keras_training.py's names) of each family below; every case is in one.
families <- c(sgd = "^sgd(_momentum|_nesterov)?$", rmsprop = "^rmsprop(_momentum|_centered)?$",
              adagrad_adadelta = "^(adagrad|adadelta)$", adam = "^(adam|amsgrad|adamw|adamax|nadam)$",
              options = "_(clipnorm|clipvalue|global_clipnorm|weight_decay)$", schedules = "^schedule_")

check_family <- function(family) {
  oracle <- training_oracle()
  cases <- grep(families[[family]], names(oracle$cases), value = TRUE)
  expect_gt(length(cases), 0)
  for (name in cases) {
    # An engine error (an optimizer or option not there yet) fails this case and lets the
    # others run.
    tryCatch(check_optimizer_case(oracle, name),
             rkeras_error = function(e) fail(sprintf("%s: %s", name, conditionMessage(e))))
  }
}

# ---- cases ---------------------------------------------------------------------------------

test_that("SGD, with momentum and Nesterov momentum, trains a network as Keras's does", {
  check_family("sgd")
})

test_that("RMSprop, with momentum and centered, trains a network as Keras's does", {
  check_family("rmsprop")
})

test_that("Adagrad and Adadelta train a network as Keras's do", {
  check_family("adagrad_adadelta")
})

test_that("Adam, AMSGrad, AdamW, Adamax and Nadam train a network as Keras's do", {
  check_family("adam")
})

test_that("clipnorm, clipvalue, global_clipnorm and weight_decay train a network as Keras's do", {
  check_family("options")
})

test_that("learning-rate schedules train a network as Keras's do", {
  check_family("schedules")
})

test_that("every case of the oracle is checked by exactly one test above", {
  cases <- names(training_oracle()$cases)
  covered <- unlist(lapply(families, grep, cases, value = TRUE), use.names = FALSE)
  expect_setequal(covered, cases)
  expect_equal(anyDuplicated(covered), 0)
  if (nzchar(Sys.getenv("RKERAS_SHOW_ORACLE"))) {
    # Cases that failed with an engine error have no row.
    rows <- lapply(intersect(cases, ls(loss_diffs)), function(name) {
      d <- get(name, envir = loss_diffs)
      data.frame(case = name, r_call = d$r_call, tolerance = d$tolerance,
                 max_rel_loss_diff = signif(d$max_rel, 3), at_step = d$step)
    })
    table <- do.call(rbind, rows)
    message("Largest relative difference from Keras's per-step losses (100 steps):\n",
            paste(utils::capture.output(print(table, row.names = FALSE)), collapse = "\n"))
  }
})

# ---- losses and metrics in training --------------------------------------------------------

test_that("every loss trains the network as Keras's does, with each metric following Keras's per step", {
  oracle <- training_oracle()
  lc <- oracle$loss_cases
  sw <- as.numeric(unlist(lc$sample_weights))
  per_epoch <- nrow(oracle$x) %/% oracle$batch_size
  onehot <- diag(3)[oracle$y + 1, ]
  targets <- list(sparse = oracle$y, onehot = onehot, soft = 0.1 + 0.8 * onehot, signed = 2 * onehot - 1)
  covered <- character()
  table <- NULL
  for (case in lc$cases) {
    model <- model_from_json(oracle$model_json)
    set_weights(model, oracle$initial)
    compile(model, optimizer = optimizer_sgd(case$lr), loss = eval(parse(text = case$r_loss)),
            metrics = eval(parse(text = case$r_metrics)), weighted_metrics = eval(parse(text = case$r_weighted_metrics)))
    weighted <- case$r_weighted_metrics != "NULL"
    t <- as.matrix(targets[[case$targets]])
    k <- length(case$log_names)
    got <- matrix(vapply(seq_len(oracle$steps) - 1L, function(s) {
      rows <- (s %% per_epoch) * oracle$batch_size + seq_len(oracle$batch_size)
      train_on_batch(model, oracle$x[rows, , drop = FALSE], t[rows, , drop = FALSE],
                     sample_weight = if (weighted) sw[rows])
    }, numeric(k)), ncol = k, byrow = TRUE)
    # Keras numbers a metric object's name when one of that name exists in the process
    # ("auc_1"), so its weighted AUC never clashes with the plain one; rkeras's does
    # ("weighted_auc"), as Keras's weighted string metrics do.
    names_keras <- sub("_[0-9]+$", "", unlist(case$log_names))
    same <- function(a) sub("^weighted_", "", a)
    expect_equal(same(model$compiled$log_names), same(names_keras), info = case$name)
    for (j in seq_along(case$logs)) {
      want <- as.numeric(unlist(case$logs[[j]]))
      rel <- abs(got[, j] - want) / pmax(abs(want), 1e-3)
      expect_true(max(rel) < 1e-4, info = sprintf("%s, %s: largest relative difference %.3g at step %d (%.8g, Keras %.8g)",
                                                 case$name, names_keras[[j]], max(rel), which.max(rel),
                                                 got[which.max(rel), j], want[which.max(rel)]))
      covered <- c(covered, names_keras[[j]])
      table <- rbind(table, data.frame(case = case$name, log = names_keras[[j]], max_rel_diff = signif(max(rel), 3)))
    }
  }
  if (nzchar(Sys.getenv("RKERAS_SHOW_ORACLE"))) {
    message("Losses and metrics in training, largest relative difference from Keras over 100 steps:\n",
            paste(utils::capture.output(print(table, row.names = FALSE)), collapse = "\n"))
  }
  # Every loss of rkeras trained, and metrics of each kind followed.
  losses <- vapply(lc$cases, function(c) c$r_loss, "")
  expect_true(all(c("huber", "kld", "poisson", "log_cosh", "hinge", "squared_hinge", "categorical_hinge", "cosine_similarity",
                    "mape", "msle", "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
                    "mse", "mae") %in% gsub("^'|'$|^loss_|\\(.*$", "", losses)))
  expect_true(all(c("auc", "precision", "recall", "top_k_categorical_accuracy", "root_mean_squared_error",
                    "weighted_accuracy", "cosine_similarity") %in% covered))
})
