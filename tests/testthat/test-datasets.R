# Helpers: tiny .npy/.npz/IDX files built here, so no test needs the network.

write_npy <- function(path, x, descr = "|u1") {
  shape <- if (is.null(dim(x))) length(x) else dim(x)
  shape_txt <- if (length(shape) == 1L) paste0("(", shape, ",)") else
    paste0("(", paste(shape, collapse = ", "), ")")
  header <- sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                    descr, shape_txt)
  pad <- 64L - (10L + nchar(header) + 1L) %% 64L
  header <- paste0(header, strrep(" ", pad %% 64L), "\n")
  flat <- if (length(shape) > 1L) as.vector(aperm(x, length(shape):1)) else as.vector(x)
  con <- file(path, "wb")
  on.exit(close(con))
  writeBin(c(as.raw(0x93), charToRaw("NUMPY"), as.raw(c(1, 0))), con)
  writeBin(nchar(header), con, size = 2, endian = "little")
  writeBin(charToRaw(header), con)
  switch(descr,
    "|u1" = writeBin(as.raw(flat), con),
    "<i8" = writeBin(as.vector(rbind(as.integer(flat), 0L)), con, size = 4,
                     endian = "little"),
    "<f8" = writeBin(as.double(flat), con, size = 8, endian = "little"))
}

# Minimal zip writer with stored (uncompressed) entries, used when no `zip`
# program is available (and to test that such archives are read too).
write_stored_zip <- function(zipfile, files) {
  u16 <- function(v) writeBin(as.integer(v), raw(), size = 2, endian = "little")
  u32 <- function(v) {
    writeBin(as.integer(if (v >= 2^31) v - 2^32 else v), raw(), size = 4,
             endian = "little")
  }
  out <- raw()
  central <- raw()
  for (f in files) {
    data <- readBin(f, "raw", file.size(f))
    name <- charToRaw(basename(f))
    crc <- strtoi(substring(digest::digest(data, "crc32", serialize = FALSE),
                            c(1, 5), c(4, 8)), 16L)
    crc <- crc[1] * 65536 + crc[2]
    common <- c(u16(20), u16(0), u16(0), u16(0), u16(0), u32(crc),
                u32(length(data)), u32(length(data)), u16(length(name)), u16(0))
    offset <- length(out)
    out <- c(out, u32(0x04034b50), common, name, data)
    central <- c(central, u32(0x02014b50), u16(20), common, u16(0), u16(0), u16(0),
                 u32(0), u32(offset), name)
  }
  end <- c(u32(0x06054b50), u16(0), u16(0), u16(length(files)), u16(length(files)),
           u32(length(central)), u32(length(out)), u16(0))
  writeBin(c(out, central, end), zipfile)
}

tiny_mnist <- function() {
  set.seed(1)
  list(x_train = array(sample(0:255, 5 * 28 * 28, TRUE), c(5, 28, 28)),
       y_train = c(3L, 1L, 4L, 1L, 5L),
       x_test = array(sample(0:255, 2 * 28 * 28, TRUE), c(2, 28, 28)),
       y_test = c(9L, 2L))
}

write_tiny_npz <- function(path, stored = FALSE) {
  d <- tiny_mnist()
  src <- withr::local_tempdir()
  files <- file.path(src, paste0(names(d), ".npy"))
  for (i in seq_along(d)) {
    write_npy(files[i], d[[i]], if (grepl("^y", names(d)[i])) "<i8" else "|u1")
  }
  dir.create(dirname(path), recursive = TRUE, showWarnings = FALSE)
  if (!stored && nzchar(Sys.which("zip"))) {
    utils::zip(path, files, flags = "-jq")
  } else {
    write_stored_zip(path, files)
  }
  invisible(d)
}

write_idx <- function(path, x, gz = TRUE) {
  con <- if (gz) gzfile(path, "wb") else file(path, "wb")
  on.exit(close(con))
  shape <- if (is.null(dim(x))) length(x) else dim(x)
  k <- length(shape)
  writeBin(as.integer(c(2048L + k, shape)), con, size = 4, endian = "big")
  writeBin(as.raw(if (k > 1L) aperm(x, k:1) else x), con)
}

test_that("dataset_mnist() reads a cached mnist.npz with C-order indices", {
  home <- withr::local_tempdir()
  withr::local_envvar(KERAS_HOME = home)
  withr::local_options(rkeras.verify_datasets = FALSE)
  d <- write_tiny_npz(file.path(home, "datasets", "mnist.npz"))
  m <- dataset_mnist()
  expect_named(m, c("train", "test"))
  expect_identical(dim(m$train$x), c(5L, 28L, 28L))
  expect_identical(dim(m$test$x), c(2L, 28L, 28L))
  expect_identical(storage.mode(m$train$x), "integer")
  expect_identical(m$train$x, d$x_train)
  expect_identical(m$train$x[2, 3, 7], d$x_train[2, 3, 7])
  expect_identical(m$train$y, array(d$y_train, 5L))
  expect_identical(dim(m$train$y), 5L)
  expect_identical(m$test$y, array(d$y_test, 2L))
})

test_that("stored zips and absolute paths work", {
  dir <- withr::local_tempdir()
  withr::local_envvar(KERAS_HOME = file.path(dir, "unused"))
  withr::local_options(rkeras.verify_datasets = FALSE)
  f <- file.path(dir, "my-mnist.npz")
  d <- write_tiny_npz(f, stored = TRUE)
  m <- dataset_mnist(path = f)
  expect_identical(m$test$x, d$x_test)
  expect_false(dir.exists(file.path(dir, "unused")))
})

test_that("get_file() reuses a cached file whose hash matches, without downloading", {
  cache <- withr::local_tempdir()
  f <- file.path(cache, "datasets", "mnist.npz")
  write_tiny_npz(f)
  h <- digest::digest(file = f, algo = "sha256")
  withr::local_options(rkeras.verify_datasets = TRUE)
  p <- get_file("mnist.npz", origin = "http://127.0.0.1:9/mnist.npz", file_hash = h,
                cache_dir = cache)
  expect_identical(normalizePath(p), normalizePath(f))
})

test_that("a cached file with the wrong hash is refused unless verification is off", {
  home <- withr::local_tempdir()
  withr::local_envvar(KERAS_HOME = home)
  f <- file.path(home, "datasets", "mnist.npz")
  write_tiny_npz(f)
  withr::local_options(rkeras.verify_datasets = TRUE)
  expect_error(dataset_mnist(), "sha256", class = "rkeras_error_io")
  expect_true(file.exists(f))
  withr::local_options(rkeras.verify_datasets = FALSE)
  expect_identical(dim(dataset_mnist()$train$x), c(5L, 28L, 28L))
})

test_that("a failed download names the URL and where to put the file", {
  cache <- withr::local_tempdir()
  url <- "http://127.0.0.1:9/mnist.npz"
  where <- file.path(cache, "datasets", "mnist.npz")
  err <- expect_error(suppressMessages(get_file("mnist.npz", origin = url,
                                                cache_dir = cache)),
                      class = "rkeras_error_io")
  expect_match(conditionMessage(err), url, fixed = TRUE)
  expect_match(conditionMessage(err), where, fixed = TRUE)
  expect_false(file.exists(where))
  expect_length(list.files(dirname(where)), 0L)
})

test_that("get_file() validates its arguments", {
  expect_error(get_file(1, "http://127.0.0.1:9/x"), "fname", class = "rkeras_error_type")
  expect_error(get_file("x", "http://127.0.0.1:9/x", bogus = 1), "bogus",
               class = "rkeras_error_value")
})

test_that("dataset_fashion_mnist() reads IDX files (gz or not) from the data dir", {
  dir <- withr::local_tempdir()
  withr::local_envvar(KERAS_HOME = file.path(dir, "home"))
  withr::local_options(rkeras.fashion_mnist_dir = dir)
  d <- tiny_mnist()
  write_idx(file.path(dir, "train-images-idx3-ubyte.gz"), d$x_train)
  write_idx(file.path(dir, "train-labels-idx1-ubyte.gz"), d$y_train)
  write_idx(file.path(dir, "t10k-images-idx3-ubyte"), d$x_test, gz = FALSE)
  write_idx(file.path(dir, "t10k-labels-idx1-ubyte"), d$y_test, gz = FALSE)
  f <- dataset_fashion_mnist()
  expect_identical(f$train$x, d$x_train)
  expect_identical(f$train$x[4, 28, 1], d$x_train[4, 28, 1])
  expect_identical(f$test$x, d$x_test)
  expect_identical(f$train$y, array(d$y_train, 5L))
  expect_identical(dim(f$test$y), 2L)
  expect_identical(storage.mode(f$test$y), "integer")
})

test_that("dataset_fashion_mnist() falls back to the Keras cache", {
  home <- withr::local_tempdir()
  withr::local_envvar(KERAS_HOME = home)
  withr::local_options(rkeras.fashion_mnist_dir = file.path(home, "missing"),
                       rkeras.verify_datasets = FALSE)
  d <- tiny_mnist()
  cache <- file.path(home, "datasets", "fashion-mnist")
  dir.create(cache, recursive = TRUE)
  write_idx(file.path(cache, "train-images-idx3-ubyte.gz"), d$x_train)
  write_idx(file.path(cache, "train-labels-idx1-ubyte.gz"), d$y_train)
  write_idx(file.path(cache, "t10k-images-idx3-ubyte.gz"), d$x_test)
  write_idx(file.path(cache, "t10k-labels-idx1-ubyte.gz"), d$y_test)
  f <- dataset_fashion_mnist()
  expect_identical(f$test$x, d$x_test)
  # a corrupt file is reported as an I/O error
  writeBin(as.raw(1:10), file.path(cache, "t10k-labels-idx1-ubyte.gz"))
  expect_error(dataset_fashion_mnist(), class = "rkeras_error_io")
})

test_that("dataset_cifar10() reads Keras 3's cached archive, channels last", {
  withr::local_seed(1)
  home <- withr::local_tempdir()
  withr::local_envvar(KERAS_HOME = home)
  withr::local_options(rkeras.verify_datasets = FALSE)
  d <- write_tiny_cifar10(file.path(home, "datasets", "cifar-10-batches-py-target_archive"))
  cifar <- dataset_cifar10()
  expect_named(cifar, c("train", "test"))
  expect_named(cifar$train, c("x", "y"))
  expect_identical(dim(cifar$train$x), c(20L, 32L, 32L, 3L))
  expect_identical(dim(cifar$test$x), c(3L, 32L, 32L, 3L))
  expect_identical(storage.mode(cifar$train$x), "integer")
  expect_cifar_pixels(cifar$train$x, d$x_train)
  expect_cifar_pixels(cifar$test$x, d$x_test)
  # row 0, column 1 of image 1's green channel is byte 1024 + 1 of its row
  expect_identical(cifar$train$x[1, 1, 2, 2], d$x_train[1, 1026])
  expect_identical(cifar$train$y, matrix(d$y_train, ncol = 1))
  expect_identical(cifar$test$y, matrix(d$y_test, ncol = 1))
  expect_identical(storage.mode(cifar$test$y), "integer")
  expect_true(file.exists(file.path(home, "datasets", "cifar-10-batches-py-target",
                                    "cifar-10-batches-py", "data_batch_5")))
  expect_setequal(list.files(file.path(home, "datasets")),
                  c("cifar-10-batches-py-target", "cifar-10-batches-py-target_archive"))
  expect_identical(dataset_cifar10(), cifar)
})

test_that("dataset_cifar10() refuses an archive whose hash is wrong", {
  withr::local_seed(2)
  home <- withr::local_tempdir()
  withr::local_envvar(KERAS_HOME = home)
  archive <- file.path(home, "datasets", "cifar-10-batches-py-target_archive")
  write_tiny_cifar10(archive)
  withr::local_options(rkeras.verify_datasets = TRUE)
  expect_error(dataset_cifar10(), "sha256", class = "rkeras_error_io")
  expect_true(file.exists(archive))
  expect_false(dir.exists(file.path(home, "datasets", "cifar-10-batches-py-target")))
})

test_that("dataset_cifar100() reads fine and coarse labels", {
  withr::local_seed(3)
  home <- withr::local_tempdir()
  withr::local_envvar(KERAS_HOME = home)
  withr::local_options(rkeras.verify_datasets = FALSE)
  d <- write_tiny_cifar100(file.path(home, "datasets", "cifar-100-python-target_archive"))
  fine <- dataset_cifar100()
  expect_identical(dim(fine$train$x), c(25L, 32L, 32L, 3L))   # > 64 KiB of pixels
  expect_identical(dim(fine$test$x), c(3L, 32L, 32L, 3L))
  expect_cifar_pixels(fine$train$x, d$train$data)
  expect_cifar_pixels(fine$test$x, d$test$data)
  expect_identical(fine$train$y, matrix(d$train$fine_labels, ncol = 1))
  expect_identical(fine$test$y, matrix(d$test$fine_labels, ncol = 1))
  coarse <- dataset_cifar100(label_mode = "coarse")
  expect_identical(coarse$train$x, fine$train$x)
  expect_identical(coarse$train$y, matrix(d$train$coarse_labels, ncol = 1))
  expect_identical(coarse$test$y, matrix(d$test$coarse_labels, ncol = 1))
  expect_identical(dataset_cifar100("c")$test$y, coarse$test$y)   # match.arg() matching
  expect_identical(dataset_cifar100("fine")$test$y, fine$test$y)
  expect_error(dataset_cifar100("medium"), "label_mode", class = "rkeras_error_value")
  expect_error(dataset_cifar100(NA), "label_mode", class = "rkeras_error_value")
  expect_error(dataset_cifar100(c("coarse", "fine")), class = "rkeras_error_value")
})

test_that("a CIFAR directory that lost a batch file says how to recover", {
  withr::local_seed(4)
  home <- withr::local_tempdir()
  withr::local_envvar(KERAS_HOME = home)
  withr::local_options(rkeras.verify_datasets = FALSE)
  write_tiny_cifar10(file.path(home, "datasets", "cifar-10-batches-py-target_archive"))
  dataset_cifar10()
  dir <- file.path(home, "datasets", "cifar-10-batches-py-target")
  unlink(file.path(dir, "cifar-10-batches-py", "test_batch"))
  expect_error(dataset_cifar10(), "test_batch.*Delete", class = "rkeras_error_io")
  unlink(dir, recursive = TRUE)
  expect_identical(dim(dataset_cifar10()$test$x), c(3L, 32L, 32L, 3L))
})

test_that("get_file(extract = TRUE) keeps Keras 3's layout and unpacks once", {
  withr::local_seed(5)
  cache <- withr::local_tempdir()
  archive <- file.path(cache, "datasets", "tiny_archive")
  write_tiny_cifar100(archive)
  url <- "http://127.0.0.1:9/tiny.tar.gz"
  h <- digest::digest(file = archive, algo = "sha256")
  p <- get_file("tiny", url, file_hash = h, extract = TRUE, cache_dir = cache)
  expect_identical(p, file.path(cache, "datasets", "tiny"))
  expect_true(file.exists(file.path(p, "cifar-100-python", "train")))
  writeLines("kept", file.path(p, "marker"))
  expect_identical(get_file("tiny", url, file_hash = h, untar = TRUE, cache_dir = cache), p)
  expect_true(file.exists(file.path(p, "marker")))
  # a name with a dot is the archive's own; it unpacks into <stem>_extracted
  file.copy(archive, file.path(cache, "datasets", "tiny.tar.gz"))
  q <- get_file("tiny.tar.gz", url, extract = TRUE, cache_dir = cache)
  expect_identical(q, file.path(cache, "datasets", "tiny_extracted"))
  expect_true(file.exists(file.path(q, "cifar-100-python", "test")))
  # a corrupt archive leaves no directory behind
  writeBin(as.raw(1:100), file.path(cache, "datasets", "bad_archive"))
  expect_error(get_file("bad", url, extract = TRUE, cache_dir = cache), "extract",
               class = "rkeras_error_io")
  expect_false(dir.exists(file.path(cache, "datasets", "bad")))
  expect_false(any(grepl("part", list.files(file.path(cache, "datasets")))))
})

test_that("the pickle reader reads Python 3's protocol-2 output", {
  # pickle.dumps({"data": np.array([[0, 128, 255, 7]], dtype=np.uint8),
  #               "labels": [3]}, protocol=2), Python 3.11, numpy 2.4: str keys
  # are BINUNICODE, bytes are _codecs.encode(<latin-1 text>, "latin1").
  hex <- paste0(
    "80027d7100285804000000646174617101636e756d70792e5f636f72652e6d756c7469617272",
    "61790a5f7265636f6e7374727563740a7102636e756d70790a6e6461727261790a71034b0085",
    "7104635f636f646563730a656e636f64650a7105580100000062710658060000006c6174696e",
    "31710786710852710987710a52710b284b014b014b0486710c636e756d70790a64747970650a",
    "710d58020000007531710e898887710f527110284b0358010000007c71114e4e4e4affffffff",
    "4affffffff4b0074711262896805580600000000c280c3bf0771136807867114527115747116",
    "6258060000006c6162656c7371175d71184b0361752e")
  f <- withr::local_tempfile()
  at <- seq(1, nchar(hex), 2)
  writeBin(as.raw(strtoi(substring(hex, at, at + 1L), 16L)), f)
  d <- rk_ds_read_pickle(f)
  expect_named(d, c("data", "labels"))
  expect_identical(d$data$dtype, "u1")
  expect_identical(d$data$shape, c(1, 4))
  expect_identical(d$data$data, as.raw(c(0, 128, 255, 7)))
  expect_identical(d$labels, list(3L))
})

test_that("the pickle reader refuses code, unknown opcodes and truncation", {
  f <- withr::local_tempfile()
  writeBin(c(as.raw(c(0x80, 2)), charToRaw("cos\nsystem\n"), as.raw(0x2e)), f)
  expect_error(rk_ds_read_pickle(f), "os.system", class = "rkeras_error_io")
  writeBin(c(charToRaw("S'abc'\np0\n.")), f)                     # protocol 0
  expect_error(rk_ds_read_pickle(f), "0x53 \\(STRING\\)", class = "rkeras_error_io")
  writeBin(as.raw(c(0x80, 2, 0x54, 0xff, 0, 0, 0, 1, 2)), f)     # BINSTRING cut short
  expect_error(rk_ds_read_pickle(f), "truncated", class = "rkeras_error_io")
  writeBin(as.raw(c(0x80, 2, 0x5d, 0x4b, 1)), f)                 # no STOP
  expect_error(rk_ds_read_pickle(f), "STOP", class = "rkeras_error_io")
  writeBin(as.raw(c(0x80, 2, 0x65, 0x2e)), f)                    # APPENDS without MARK
  expect_error(rk_ds_read_pickle(f), "MARK", class = "rkeras_error_io")
})
