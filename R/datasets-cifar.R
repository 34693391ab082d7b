# Origins and SHA-256 of the CIFAR archives, from Keras 3's
# keras/src/datasets/cifar10.py and cifar100.py (`load_data()`).
rk_ds_cifar <- list(
  cifar10 = list(dir = "cifar-10-batches-py-target", inner = "cifar-10-batches-py",
                 origin = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                 sha256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),
  cifar100 = list(dir = "cifar-100-python-target", inner = "cifar-100-python",
                  origin = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                  sha256 = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"))

#' CIFAR-10 small color images
#'
#' 50,000 32 x 32 color training images of 10 classes and 10,000 test
#' images. Classes: 0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog,
#' 6 frog, 7 horse, 8 ship, 9 truck.
#'
#' As in Keras 3, the archive `cifar-10-python.tar.gz` is downloaded once
#' from the CIFAR homepage into `~/.keras/datasets/` (or
#' `$KERAS_HOME/datasets/`) as `cifar-10-batches-py-target_archive`, checked
#' against its SHA-256 hash (skip the check with
#' `options(rkeras.verify_datasets = FALSE)`) and unpacked into
#' `cifar-10-batches-py-target/`. Offline, put the archive there under that
#' name yourself. The batches are Python pickles; rkeras reads them in R,
#' accepting, like Keras, only plain data and numpy arrays.
#'
#' @returns A list `list(train = list(x, y), test = list(x, y))`: `x` is an
#'   integer array `n x 32 x 32 x 3` (channels last) with values 0-255
#'   (`x[i, r, c, ]` holds the red, green and blue values of row `r`, column
#'   `c` of image `i`); `y` is an integer matrix `n x 1` of class labels 0-9.
#'   `n` is 50,000 for `train` and 10,000 for `test`.
#' @family datasets
#' @export
#' @examples
#' # Not run: downloads the data from Keras's mirror on first use (then reads the cache).
#' \dontrun{
#' cifar10 <- dataset_cifar10()
#' dim(cifar10$train$x)   # 50000 32 32 3
#' }
dataset_cifar10 <- function() {
  dir <- rk_ds_cifar_dir("cifar10")
  call <- environment()
  train <- lapply(file.path(dir, paste0("data_batch_", 1:5)), rk_ds_cifar_batch,
                  label_key = "labels", call = call)
  test <- rk_ds_cifar_batch(file.path(dir, "test_batch"), "labels", call)
  list(train = rk_ds_cifar_xy(train), test = rk_ds_cifar_xy(list(test)))
}

#' CIFAR-100 small color images
#'
#' 50,000 32 x 32 color training images labelled with 100 fine classes,
#' grouped into 20 coarse superclasses, and 10,000 test images.
#'
#' The archive `cifar-100-python.tar.gz` is cached, checked and unpacked like
#' [dataset_cifar10()]'s, as `cifar-100-python-target_archive` and
#' `cifar-100-python-target/` in `~/.keras/datasets/`.
#'
#' @param label_mode `"fine"` (labels 0-99) or `"coarse"` (superclasses
#'   0-19).
#' @returns A list `list(train = list(x, y), test = list(x, y))` with the
#'   same structure and types as [dataset_cifar10()].
#' @family datasets
#' @export
#' @examples
#' # Not run: downloads the data from Keras's mirror on first use (then reads the cache).
#' \dontrun{
#' cifar100 <- dataset_cifar100(label_mode = "coarse")
#' table(cifar100$train$y)
#' }
dataset_cifar100 <- function(label_mode = c("fine", "coarse")) {
  modes <- c("fine", "coarse")
  # partial matching as match.arg() does in Keras for R, with a classed error
  if (is.character(label_mode) && length(label_mode) == 1L && !is.na(label_mode) &&
      !is.na(m <- pmatch(label_mode, modes))) {
    label_mode <- modes[m]
  }
  label_mode <- rk_arr_choice(label_mode, modes, "label_mode")
  dir <- rk_ds_cifar_dir("cifar100")
  key <- paste0(label_mode, "_labels")
  call <- environment()
  list(train = rk_ds_cifar_xy(list(rk_ds_cifar_batch(file.path(dir, "train"), key, call))),
       test = rk_ds_cifar_xy(list(rk_ds_cifar_batch(file.path(dir, "test"), key, call))))
}

# ---- internal helpers -------------------------------------------------------

#' Fetch and unpack one CIFAR archive; return the directory holding its batches
#' @noRd
rk_ds_cifar_dir <- function(which) {
  s <- rk_ds_cifar[[which]]
  file.path(get_file(s$dir, origin = s$origin, extract = TRUE, file_hash = s$sha256),
            s$inner)
}

#' Read one CIFAR batch file: its `n x 3072` uint8 rows and `n` labels
#' @noRd
rk_ds_cifar_batch <- function(path, label_key, call) {
  if (!file.exists(path)) {
    rk_abort(sprintf(paste0("The CIFAR file %s is missing. Delete the directory %s ",
                            "so that the archive is unpacked again."),
                     path, dirname(dirname(path))), "io", call = call)
  }
  bad <- function(what) {
    rk_abort(sprintf("%s is not a CIFAR batch: %s.", path, what), "io", call = call)
  }
  d <- rk_ds_read_pickle(path, call)
  if (!is.list(d) || is.null(names(d))) bad("it does not hold a dict")
  x <- d[["data"]]
  if (!inherits(x, "rk_pk_ndarray")) bad("it has no `data` array")
  if (!identical(x$dtype, "u1")) bad(sprintf("`data` has dtype %s, not uint8", x$dtype))
  n <- x$shape[1L]
  if (length(x$shape) != 2L || x$shape[2L] != 3072 || length(x$data) != n * 3072) {
    bad(sprintf("`data` has shape %s and %s bytes, not (n, 3072)",
                rk_arr_fmt(x$shape), length(x$data)))
  }
  y <- unlist(d[[label_key]], use.names = FALSE)
  if (!is.list(d[[label_key]]) || !is.numeric(y) || length(y) != n || anyNA(y)) {
    bad(sprintf("it has no list of %d integer `%s`", as.integer(n), label_key))
  }
  data <- x$data
  if (isTRUE(x$fortran)) data <- as.vector(t(matrix(data, nrow = n)))
  list(data = data, y = as.integer(y))
}

#' Stack CIFAR batches into Keras's channels-last `x` and an `n x 1` label matrix
#' @noRd
rk_ds_cifar_xy <- function(parts) {
  data <- unlist(lapply(parts, `[[`, "data"), use.names = FALSE)
  n <- length(data) %/% 3072L
  # Each stored row is image i in C order (3, 32, 32): byte k = ch*1024 + r*32 + c.
  # Transposed to one column per byte, column r + 32c + 1024ch of an R array
  # n x 32 x 32 x 3 is x[, r, c, ch], so reorder the columns accordingly.
  j <- 0:3071
  k <- (j %/% 32L) %% 32L + 32L * (j %% 32L) + 1024L * (j %/% 1024L)
  dim(data) <- c(3072L, n)
  data <- t(data)[, k + 1L, drop = FALSE]
  x <- readBin(as.vector(data), "integer", length(data), size = 1L, signed = FALSE)
  dim(x) <- c(n, 32L, 32L, 3L)
  y <- unlist(lapply(parts, `[[`, "y"), use.names = FALSE)
  list(x = x, y = matrix(y, ncol = 1L))
}
