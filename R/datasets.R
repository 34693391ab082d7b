rk_ds_url <- "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
rk_ds_mnist_sha256 <- "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48edd0db1b4e9d0"
# SHA-256 of the .gz files at `rk_ds_url`, as listed in Keras's
# keras/src/datasets/fashion_mnist.py (FILE_HASHES; they are also the
# checksums TensorFlow Datasets records for the original Zalando files).
# Debian's dataset-fashion-mnist ships recompressed .gz files with different
# hashes, so files found in the Debian directory are not hash-checked.
rk_ds_fashion_sha256 <- c(
  "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
  "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
  "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
  "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073")
names(rk_ds_fashion_sha256) <- paste0(c("train-labels-idx1", "train-images-idx3",
                                        "t10k-labels-idx1", "t10k-images-idx3"),
                                      "-ubyte.gz")

#' MNIST database of handwritten digits
#'
#' 60,000 28 x 28 grayscale training images of the 10 digits and 10,000
#' test images. The file is downloaded once from Keras's mirror into
#' `~/.keras/datasets/` (or `$KERAS_HOME/datasets/`) and checked against
#' its SHA-256 hash (skip the check with
#' `options(rkeras.verify_datasets = FALSE)`). Offline, place `mnist.npz`
#' in that directory yourself.
#'
#' @param path File name of the cached copy, relative to
#'   `~/.keras/datasets/`, or an absolute path.
#' @returns A list `list(train = list(x, y), test = list(x, y))`: `x` is an
#'   integer array `n x 28 x 28` with values 0-255 (`x[i, r, c]` is row `r`,
#'   column `c` of image `i`); `y` is an integer 1-d array (`dim(y) == n`) of
#'   digits 0-9.
#' @family datasets
#' @export
#' @examples
#' # Not run: downloads the data from Keras's mirror on first use (then reads the cache).
#' \dontrun{
#' mnist <- dataset_mnist()
#' dim(mnist$train$x)   # 60000 28 28
#' }
dataset_mnist <- function(path = "mnist.npz") {
  f <- get_file(path, origin = paste0(rk_ds_url, "mnist.npz"),
                file_hash = rk_ds_mnist_sha256)
  d <- rk_ds_read_npz(f, call = environment())
  need <- c("x_train", "y_train", "x_test", "y_test")
  miss <- setdiff(need, names(d))
  if (length(miss)) {
    rk_abort(sprintf("`%s` is not an MNIST archive: it lacks %s.", f,
                     paste0(miss, ".npy", collapse = ", ")), "io")
  }
  list(train = list(x = d$x_train, y = d$y_train),
       test = list(x = d$x_test, y = d$y_test))
}

#' Fashion-MNIST database of fashion article images
#'
#' 60,000 28 x 28 grayscale training images of 10 fashion categories and
#' 10,000 test images. Classes: 0 T-shirt/top, 1 Trouser, 2 Pullover,
#' 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot.
#'
#' The IDX files are looked up first in Debian's `dataset-fashion-mnist`
#' directory `/usr/share/datasets/fashion-mnist/` (override with
#' `options(rkeras.fashion_mnist_dir = )`; `.gz` or uncompressed), then in
#' the Keras cache `~/.keras/datasets/fashion-mnist/`, and are otherwise
#' downloaded there from Keras's mirror and hash-checked like
#' [dataset_mnist()].
#'
#' @returns A list `list(train = list(x, y), test = list(x, y))` with the
#'   same structure and types as [dataset_mnist()].
#' @family datasets
#' @export
#' @examples
#' \donttest{
#' # Reads Debian's copy when it is installed (apt-get install dataset-fashion-mnist);
#' # elsewhere the first call downloads the files.
#' if (dir.exists("/usr/share/datasets/fashion-mnist")) {
#'   fashion_mnist <- dataset_fashion_mnist()
#'   dim(fashion_mnist$train$x)   # 60000 28 28
#'   table(fashion_mnist$train$y)
#' }
#' }
dataset_fashion_mnist <- function() {
  files <- c(x_train = "train-images-idx3-ubyte", y_train = "train-labels-idx1-ubyte",
             x_test = "t10k-images-idx3-ubyte", y_test = "t10k-labels-idx1-ubyte")
  sysdir <- getOption("rkeras.fashion_mnist_dir", "/usr/share/datasets/fashion-mnist")
  call <- environment()
  d <- lapply(files, function(b) rk_ds_read_idx(rk_ds_fashion_file(b, sysdir), call))
  for (s in c("train", "test")) {
    x <- d[[paste0("x_", s)]]
    y <- d[[paste0("y_", s)]]
    if (length(dim(x)) != 3L || length(dim(y)) != 1L || dim(x)[1L] != dim(y)[1L]) {
      rk_abort(sprintf(paste0("The Fashion-MNIST %s files do not match: images ",
                              "have shape %s and labels %s."), s,
                       rk_arr_fmt(dim(x)), rk_arr_fmt(dim(y))), "io")
    }
  }
  list(train = list(x = d$x_train, y = d$y_train),
       test = list(x = d$x_test, y = d$y_test))
}

#' Download a file into the Keras cache, unless it is already there
#'
#' Returns the local path of `fname`, downloading it from `origin` first if
#' it is not yet in the cache directory. Files are downloaded to a temporary
#' file and moved into place only when complete (and, when `file_hash` is
#' given, only when the hash matches).
#'
#' @param fname File name in the cache (or an absolute path, used as is).
#' @param origin URL to download the file from.
#' @param file_hash Expected SHA-256 or MD5 hash of the file, or `NULL` to
#'   skip verification. The check is also skipped with
#'   `options(rkeras.verify_datasets = FALSE)`.
#' @param cache_subdir Subdirectory of `cache_dir` holding the file.
#' @param hash_algorithm `"auto"` (SHA-256 for a 64-character hash, MD5
#'   otherwise), `"sha256"` or `"md5"`.
#' @param extract If `TRUE`, the file is a zip or tar archive to unpack, as
#'   Keras 3 does it: `fname` (without a dot) names the directory it is
#'   unpacked into, the archive itself is kept beside it as
#'   `<fname>_archive`, and that directory is returned; a `fname` with a dot
#'   names the archive, unpacked into `<fname up to the dot>_extracted`.
#'   Keras unpacks on every call; rkeras only when the directory is missing
#'   or the archive was just downloaded.
#' @param cache_dir Cache root; default `Sys.getenv("KERAS_HOME")` when set,
#'   else `~/.keras`.
#' @param ... `untar = TRUE` (Keras's older name for `extract = TRUE`),
#'   `md5_hash` (old name of `file_hash`) and `archive_format` (ignored) are
#'   accepted for compatibility.
#' @returns The path of the local file, or of the directory the archive was
#'   unpacked into (a character string).
#' @family datasets
#' @export
#' @examples
#' # Any URL download.file() reads works; a local file stands in for a server here.
#' src <- tempfile(fileext = ".csv")
#' write.csv(data.frame(x = 1:3, y = c(2, 4, 6)), src, row.names = FALSE)
#' cache <- tempfile("keras")
#' url <- paste0("file://", normalizePath(src, winslash = "/"))
#' path <- get_file("numbers.csv", origin = url, cache_dir = cache,
#'                  file_hash = digest::digest(file = src, algo = "sha256"))
#' read.csv(path)
#' # A second call finds the file in the cache and downloads nothing.
#' identical(get_file("numbers.csv", origin = "https://example.org/numbers.csv",
#'                    cache_dir = cache), path)
#' \dontrun{
#' # Keras's own files, cached in ~/.keras/datasets/
#' path <- get_file("mnist.npz",
#'   "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz")
#' }
get_file <- function(fname, origin, file_hash = NULL, cache_subdir = "datasets",
                     hash_algorithm = "auto", extract = FALSE, cache_dir = NULL, ...) {
  dots <- list(...)
  nms <- names(dots)
  if (is.null(nms)) nms <- character(length(dots))
  bad <- !nms %in% c("untar", "md5_hash", "archive_format")
  if (any(bad)) {
    rk_abort(sprintf("`get_file()` got unsupported argument(s): %s.",
                     paste(ifelse(nzchar(nms[bad]), paste0("`", nms[bad], "`"),
                                 "an unnamed argument"), collapse = ", ")), "value")
  }
  for (a in c("fname", "origin", "cache_subdir")) {
    v <- get(a)
    if (!is.character(v) || length(v) != 1L || is.na(v) || !nzchar(v)) {
      rk_abort(sprintf("`%s` must be a single non-empty string, not %s.", a,
                       rk_arr_fmt(v)), "type")
    }
  }
  if (is.null(file_hash) && !is.null(dots$md5_hash)) {
    file_hash <- dots$md5_hash
    hash_algorithm <- "md5"
  }
  algo <- rk_arr_choice(hash_algorithm, c("auto", "sha256", "md5"), "hash_algorithm")
  if (!is.null(file_hash)) {
    if (!is.character(file_hash) || length(file_hash) != 1L || is.na(file_hash)) {
      rk_abort(sprintf("`file_hash` must be a hex string or NULL, not %s.",
                       rk_arr_fmt(file_hash)), "type")
    }
    if (algo == "auto") algo <- if (nchar(file_hash) == 64L) "sha256" else "md5"
  }
  if (is.null(cache_dir)) {
    cache_dir <- Sys.getenv("KERAS_HOME", "")
    if (!nzchar(cache_dir)) cache_dir <- "~/.keras"
  }
  datadir <- path.expand(if (rk_ds_is_abs(cache_subdir)) cache_subdir
                         else file.path(cache_dir, cache_subdir))
  fpath <- path.expand(if (rk_ds_is_abs(fname)) fname else file.path(datadir, fname))
  exdir <- NULL
  if (isTRUE(extract) || isTRUE(dots$untar)) {
    # Keras 3's layout (keras/src/utils/file_utils.py), so caches are shared
    base <- basename(fpath)
    if (grepl(".", base, fixed = TRUE)) {
      exdir <- file.path(dirname(fpath), paste0(sub("[.].*$", "", base), "_extracted"))
    } else {
      exdir <- fpath
      fpath <- paste0(fpath, "_archive")
    }
  }
  verify <- !is.null(file_hash) && !isFALSE(getOption("rkeras.verify_datasets", TRUE))
  fresh <- !file.exists(fpath)
  if (fresh) {
    rk_ds_download(origin, fpath, if (verify) file_hash, algo)
  } else if (verify) {
    rk_ds_check_hash(fpath, file_hash, algo, origin)
  }
  if (is.null(exdir)) return(fpath)
  if (fresh || !dir.exists(exdir)) rk_ds_extract(fpath, exdir)
  exdir
}

# ---- internal helpers -------------------------------------------------------

rk_ds_is_abs <- function(p) grepl("^(/|~|[A-Za-z]:[/\\\\]|\\\\\\\\)", p)

rk_ds_check_hash <- function(path, file_hash, algo, origin, downloaded = FALSE,
                          call = rlang::caller_env()) {
  got <- digest::digest(file = path, algo = algo)
  if (identical(tolower(got), tolower(file_hash))) return(invisible(TRUE))
  what <- sprintf("has %s hash %s, but %s was expected", algo, got, tolower(file_hash))
  msg <- if (downloaded) {
    sprintf(paste0("The file downloaded from %s %s; it was discarded ",
                   "(incomplete or corrupted download?)."), origin, what)
  } else {
    sprintf(paste0("The file at %s %s. Delete it to download it again from %s, ",
                   "replace it with a correct copy, or skip the check with ",
                   "`options(rkeras.verify_datasets = FALSE)`."), path, what, origin)
  }
  rk_abort(msg, "io", call = call)
}

rk_ds_download <- function(origin, fpath, file_hash, algo, call = rlang::caller_env()) {
  place <- sprintf("To work offline, download %s yourself and place it at %s.",
                   origin, fpath)
  dir <- dirname(fpath)
  if (!dir.exists(dir)) dir.create(dir, recursive = TRUE, showWarnings = FALSE)
  if (!dir.exists(dir)) {
    rk_abort(sprintf("Cannot create the cache directory %s. %s", dir, place), "io",
             call = call)
  }
  tmp <- tempfile(paste0(basename(fpath), ".part"), tmpdir = dir)
  on.exit(unlink(tmp), add = TRUE)
  old <- options(timeout = max(600, getOption("timeout", 60)))
  on.exit(options(old), add = TRUE)
  message("Downloading data from ", origin)
  reason <- NULL
  status <- tryCatch(
    withCallingHandlers(
      utils::download.file(origin, tmp, mode = "wb", quiet = TRUE),
      warning = function(w) {
        reason <<- c(reason, conditionMessage(w))
        invokeRestart("muffleWarning")
      }),
    error = function(e) {
      reason <<- c(reason, conditionMessage(e))
      -1L
    })
  if (!identical(as.integer(status), 0L) || !file.exists(tmp)) {
    why <- if (length(reason)) paste(unique(reason), collapse = "; ") else
      paste("status", status)
    rk_abort(sprintf("Could not download %s (%s). %s", origin, why, place), "io",
             call = call)
  }
  if (!is.null(file_hash)) rk_ds_check_hash(tmp, file_hash, algo, origin, TRUE, call)
  if (!file.rename(tmp, fpath) && !file.copy(tmp, fpath, overwrite = TRUE)) {
    unlink(fpath)
    rk_abort(sprintf("Could not write the downloaded file to %s.", fpath), "io",
             call = call)
  }
  invisible(fpath)
}

#' Unpack a zip or tar archive into `exdir`, replacing it
#'
#' Unpacks into a temporary sibling first and renames it into place, so an
#' interrupted extraction never leaves a half-filled `exdir` that later calls
#' would take as complete.
#' @noRd
rk_ds_extract <- function(archive, exdir, call = rlang::caller_env()) {
  tmp <- tempfile(paste0(basename(exdir), ".part"), tmpdir = dirname(exdir))
  on.exit(unlink(tmp, recursive = TRUE), add = TRUE)
  head <- readBin(archive, "raw", 262L)
  starts <- function(bytes, at = 1L) {
    length(head) >= at + length(bytes) - 1L &&
      identical(head[at:(at + length(bytes) - 1L)], as.raw(bytes))
  }
  # zip; gzip, bzip2, xz or plain tar (only these reach the unpackers)
  zip <- starts(c(0x50, 0x4b, 0x03, 0x04))
  tar <- starts(c(0x1f, 0x8b)) || starts(charToRaw("BZh")) ||
    starts(c(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) || starts(charToRaw("ustar"), 258L)
  ok <- (zip || tar) && tryCatch({
    if (zip) {
      length(utils::unzip(archive, exdir = tmp)) > 0L
    } else {
      utils::untar(archive, exdir = tmp) == 0L
    }
  }, error = function(e) FALSE, warning = function(w) FALSE)
  if (isTRUE(ok)) {
    unlink(exdir, recursive = TRUE)
    ok <- file.rename(tmp, exdir)
  }
  if (!isTRUE(ok)) {
    rk_abort(sprintf(paste0("Could not extract the archive %s into %s. Delete the ",
                            "archive to download it again."), archive, exdir),
             "io", call = call)
  }
  invisible(exdir)
}

#' Read every array of a NumPy .npz archive into a named list
#' @noRd
rk_ds_read_npz <- function(path, call = rlang::caller_env()) {
  td <- tempfile("rkeras-npz-")
  dir.create(td)
  on.exit(unlink(td, recursive = TRUE), add = TRUE)
  files <- tryCatch(utils::unzip(path, exdir = td),
                    error = function(e) character(), warning = function(w) character())
  files <- files[grepl("\\.npy$", files)]
  if (!length(files)) {
    rk_abort(sprintf("%s is not a readable .npz archive (no .npy file inside).", path),
             "io", call = call)
  }
  out <- lapply(files, rk_ds_read_npy, call = call)
  names(out) <- sub("\\.npy$", "", basename(files))
  out
}

#' Read one .npy file into an R array with logical indices preserved
#' @noRd
rk_ds_read_npy <- function(path, call = rlang::caller_env()) {
  con <- file(path, "rb")
  on.exit(close(con), add = TRUE)
  fail <- function(what) {
    rk_abort(sprintf("%s is not a valid .npy file: %s.", path, what), "io", call = call)
  }
  magic <- readBin(con, "raw", 8L)
  if (length(magic) < 8L ||
      !identical(magic[1:6], as.raw(c(0x93, charToRaw("NUMPY"))))) {
    fail("bad magic string")
  }
  ver <- as.integer(magic[7L])
  hlen <- switch(as.character(ver),
                 "1" = readBin(con, "integer", 1L, size = 2L, signed = FALSE,
                               endian = "little"),
                 "2" = , "3" = readBin(con, "integer", 1L, size = 4L, endian = "little"),
                 fail(sprintf("unsupported format version %d", ver)))
  header <- rawToChar(readBin(con, "raw", hlen))
  field <- function(re) regmatches(header, regexec(re, header))[[1L]][2L]
  descr <- field("'descr'\\s*:\\s*'([^']*)'")
  shape_txt <- field("'shape'\\s*:\\s*\\(([^)]*)\\)")
  if (is.na(descr) || is.na(shape_txt)) fail("unreadable header")
  fortran <- grepl("'fortran_order'\\s*:\\s*True", header)
  parts <- trimws(strsplit(shape_txt, ",")[[1L]])
  shape <- as.numeric(sub("L$", "", parts[nzchar(parts)]))
  n <- prod(shape)
  if (anyNA(shape) || any(shape < 0) || n > 2^33) fail("implausible shape")
  if (descr == "|O") {
    # An object array (Keras's IMDB and Reuters sequences): pickled lists of integers.
    close(con)
    on.exit()
    return(rk_call(rk_npy_integer_lists(readBin(path, "raw", file.size(path))), call = call))
  }
  m <- regmatches(descr, regexec("^([<>|=]?)([biuf?])([0-9]+)$", descr))[[1L]]
  if (!length(m)) fail(sprintf("unsupported dtype '%s'", descr))
  endian <- if (m[2L] == ">") "big" else "little"
  size <- as.integer(m[4L])
  kind <- paste0(if (m[3L] == "?") "b" else m[3L], size)
  data <- switch(kind,
    b1 = as.integer(readBin(con, "raw", n)) != 0L,
    u1 = as.integer(readBin(con, "raw", n)),
    i1 = , i2 = , i4 = readBin(con, "integer", n, size = size, endian = endian),
    u2 = readBin(con, "integer", n, size = 2L, signed = FALSE, endian = endian),
    u4 = , i8 = , u8 = rk_ds_read_wide_int(con, n, kind, endian),
    f4 = , f8 = readBin(con, "double", n, size = size, endian = endian),
    fail(sprintf("unsupported dtype '%s'", descr)))
  if (length(data) < n) fail(sprintf("expected %s values, found %s", n, length(data)))
  rk_ds_c_order_array(data, shape, fortran)
}

#' Read uint32 / int64 / uint64 values as integer when they fit, else double
#' @noRd
rk_ds_read_wide_int <- function(con, n, kind, endian) {
  u32 <- function(v) ifelse(v < 0, v + 2^32, v)
  w <- as.double(readBin(con, "integer", if (kind == "u4") n else 2 * n, size = 4L,
                         endian = endian))
  if (kind == "u4") {
    v <- u32(w)
  } else {
    w <- matrix(w, 2L)
    if (endian == "big") w <- w[2:1, , drop = FALSE]
    v <- (if (kind == "u8") u32(w[2L, ]) else w[2L, ]) * 2^32 + u32(w[1L, ])
  }
  if (all(abs(v) <= .Machine$integer.max)) as.integer(v) else v
}

#' Turn a flat C-order (or Fortran-order) buffer into an R array
#' @noRd
rk_ds_c_order_array <- function(data, shape, fortran = FALSE) {
  k <- length(shape)
  if (k == 0L) return(data[1L])
  shape <- as.integer(shape)
  if (fortran || k == 1L) {
    dim(data) <- shape
    return(data)
  }
  dim(data) <- rev(shape)
  aperm(data, k:1L)
}

#' Read an unsigned-byte IDX file (gzip-compressed or not)
#' @noRd
rk_ds_read_idx <- function(path, call = rlang::caller_env()) {
  con <- gzfile(path, "rb")
  on.exit(close(con), add = TRUE)
  magic <- readBin(con, "integer", 1L, size = 4L, endian = "big")
  if (length(magic) != 1L || magic < 2049L || magic > 2303L) {
    rk_abort(sprintf("%s is not an unsigned-byte IDX file (magic number %s).", path,
                     if (length(magic)) magic else "missing"), "io", call = call)
  }
  shape <- readBin(con, "integer", magic - 2048L, size = 4L, endian = "big")
  n <- prod(as.double(shape))
  if (anyNA(shape) || any(shape < 0L) || n > 2^33) {
    rk_abort(sprintf("%s is not a valid IDX file (implausible shape %s).", path,
                     rk_arr_fmt(shape)), "io", call = call)
  }
  bytes <- readBin(con, "raw", n)
  if (length(shape) != magic - 2048L || length(bytes) < n) {
    rk_abort(sprintf("%s is truncated: expected %s pixel/label bytes, found %s.", path,
                     format(n), length(bytes)), "io", call = call)
  }
  rk_ds_c_order_array(as.integer(bytes), shape)
}

#' Locate one Fashion-MNIST file: Debian directory first, then the Keras cache
#' @noRd
rk_ds_fashion_file <- function(base, sysdir) {
  if (is.character(sysdir) && length(sysdir) == 1L && nzchar(sysdir)) {
    cand <- file.path(sysdir, c(paste0(base, ".gz"), base))
    cand <- cand[file.exists(cand)]
    if (length(cand)) return(cand[1L])
  }
  fname <- paste0(base, ".gz")
  get_file(fname, origin = paste0(rk_ds_url, fname),
           file_hash = rk_ds_fashion_sha256[[fname]],
           cache_subdir = file.path("datasets", "fashion-mnist"))
}
