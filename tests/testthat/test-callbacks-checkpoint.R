ck_data <- function() {
  set.seed(21)
  list(x = matrix(round(rnorm(60 * 4), 2), 60, 4), y = to_categorical(sample(0:2, 60, TRUE), 3))
}

ck_model <- function() {
  m <- keras_model_sequential() %>% layer_dense(8, activation = "relu", input_shape = 4) %>%
    layer_dense(3, activation = "softmax")
  m %>% compile(optimizer = optimizer_adam(0.01), loss = "categorical_crossentropy", metrics = "accuracy")
  m
}

test_that("file-name templates are filled as Python formats them, epochs 1-based", {
  v <- list(epoch = 3L, batch = 12L, val_loss = 0.123456, acc = 0.5)
  expect_equal(rkeras:::python_format("w.{epoch:02d}-{val_loss:.2f}.hdf5", v), "w.03-0.12.hdf5")
  expect_equal(rkeras:::python_format("cp-{epoch:04d}.ckpt", v), "cp-0003.ckpt")
  expect_equal(rkeras:::python_format("{epoch}_{batch}_{acc}_{{x}}", v), "3_12_0.5_{x}")
  expect_equal(rkeras:::python_format("{val_loss:.3e}|{val_loss:8.3f}", v), "1.235e-01|   0.123")
  expect_error(rkeras:::python_format("w.{loss:.2f}.h5", v), "there is no 'loss'", class = "rkeras_error_value")
  expect_error(rkeras:::python_format("w.{val_loss:02d}.h5", v), "needs an integer", class = "rkeras_error_value")
})

test_that("checkpoints: one file per epoch, the best only, every `period` epochs, every n batches", {
  d <- ck_data()
  dir <- withr::local_tempdir()
  m <- ck_model()
  cb <- callback_model_checkpoint(file.path(dir, "all", "w.{epoch:02d}-{val_loss:.2f}.h5"), save_weights_only = TRUE)
  h <- m %>% fit(d$x, d$y, epochs = 3, batch_size = 10, validation_split = 0.2, verbose = 0, callbacks = list(cb))
  expected <- sprintf("w.%02d-%.2f.h5", 1:3, h$metrics$val_loss)
  expect_equal(sort(list.files(file.path(dir, "all"))), sort(expected))
  last <- ck_model()
  load_model_weights_hdf5(last, file.path(dir, "all", expected[[3]]))
  expect_identical(get_weights(last), get_weights(m))
  # save_best_only: a file only for the epochs that improve val_loss, and messages as Keras prints them.
  m <- ck_model()
  cb <- callback_model_checkpoint(file.path(dir, "best", "m.{epoch:02d}.keras"), monitor = "loss",
                                  save_best_only = TRUE, verbose = 1)
  out <- capture.output(h <- m %>% fit(d$x, d$y, epochs = 4, batch_size = 10, verbose = 0, callbacks = list(cb)))
  improved <- which(h$metrics$loss == cummin(h$metrics$loss) & !duplicated(cummin(h$metrics$loss)))
  expect_equal(sort(list.files(file.path(dir, "best"))), sprintf("m.%02d.keras", improved))
  expect_match(out[nzchar(out)][[1]], "^Epoch 1: loss improved from inf to [0-9.]+, saving model to .*m.01.keras$")
  best <- load_model(file.path(dir, "best", sprintf("m.%02d.keras", max(improved))))
  expect_s3_class(best, "rkeras_model")
  expect_warning(m %>% fit(d$x, d$y, epochs = 1, verbose = 0,
                           callbacks = list(callback_model_checkpoint(file.path(dir, "x.h5"), save_best_only = TRUE))),
                 "Can save best model only with val_loss available")
  # period (Keras 2) and save_freq in batches.
  m <- ck_model()
  m %>% fit(d$x, d$y, epochs = 4, batch_size = 10, verbose = 0,
            callbacks = list(callback_model_checkpoint(file.path(dir, "p", "cp-{epoch:04d}.ckpt"), save_weights_only = TRUE, period = 2)))
  expect_equal(list.files(file.path(dir, "p")), c("cp-0002.ckpt", "cp-0004.ckpt"))
  m %>% fit(d$x, d$y, epochs = 2, batch_size = 10, verbose = 0,
            callbacks = list(callback_model_checkpoint(file.path(dir, "b", "w-{epoch}-{batch}.weights.h5"),
                                                       save_weights_only = TRUE, save_freq = 4)))
  expect_equal(sort(list.files(file.path(dir, "b"))), sort(c("w-1-4.weights.h5", "w-2-2.weights.h5", "w-2-6.weights.h5")))
  expect_error(callback_model_checkpoint(file.path(dir, "x.h5"), save_freq = 0), "save_freq")
})

test_that("the save-and-restore tutorial's TensorFlow-named calls run", {
  d <- ck_data()
  dir <- withr::local_tempdir()
  m <- ck_model()
  path <- file.path(dir, "training_1", "cp.ckpt")
  m %>% fit(d$x, d$y, epochs = 2, verbose = 0,
            callbacks = list(callback_model_checkpoint(filepath = path, save_weights_only = TRUE, verbose = 0)))
  fresh <- ck_model()
  fresh %>% load_model_weights_tf(filepath = path)
  expect_identical(get_weights(fresh), get_weights(m))
  m %>% save_model_weights_tf(file.path(dir, "checkpoints", "cp.ckpt"))
  save_model_tf(m, file.path(dir, "saved_model"))
  back <- load_model_tf(file.path(dir, "saved_model"))
  expect_equal(predict(back, d$x, verbose = 0), predict(m, d$x, verbose = 0))
  dir.create(file.path(dir, "tf")); file.create(file.path(dir, "tf", "saved_model.pb"))
  expect_error(load_model_tf(file.path(dir, "tf")), "TensorFlow SavedModel", class = "rkeras_error_io")
})

test_that("callback_backup_and_restore resumes an interrupted fit() exactly where it stopped", {
  d <- ck_data()
  dir <- withr::local_tempdir()
  set.seed(1); whole <- ck_model()
  set.seed(1); broken <- ck_model()
  h <- whole %>% fit(d$x, d$y, epochs = 4, batch_size = 10, verbose = 0, shuffle = FALSE)
  die <- callback_lambda(on_epoch_end = function(epoch, logs) if (epoch == 1) stop("the session died"))
  bk <- file.path(dir, "backup")
  expect_error(broken %>% fit(d$x, d$y, epochs = 4, batch_size = 10, verbose = 0, shuffle = FALSE,
                              callbacks = list(callback_backup_and_restore(bk), die)), "the session died")
  expect_setequal(list.files(bk), c("latest.keras", "training_metadata.json"))
  # A new model (as in a new session) picks up from the backup: epochs 3 and 4 only.
  set.seed(2); resumed <- ck_model()
  h2 <- resumed %>% fit(d$x, d$y, epochs = 4, batch_size = 10, verbose = 0, shuffle = FALSE,
                        callbacks = list(callback_backup_and_restore(bk)))
  expect_equal(h2$metrics$loss, h$metrics$loss[3:4], tolerance = 1e-6)
  expect_equal(get_weights(resumed), get_weights(whole), tolerance = 1e-6)
  expect_false(dir.exists(bk))
})
