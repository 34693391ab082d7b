# Tiny CIFAR archives in the real files' format: Python 2 cPickle, protocol 2
# (str as SHORT_BINSTRING/BINSTRING, memo ids from 1, BINPUT after memoized
# objects, lists in MARK ... APPENDS batches of 1000), the images a numpy uint8
# array written as numpy.core.multiarray._reconstruct + BUILD with raw bytes.

pk_op <- function(...) as.raw(c(...))
pk_u32 <- function(v) writeBin(as.integer(v), raw(), size = 4, endian = "little")

# A writer with cPickle's memo counter.
pk_writer <- function() {
  st <- new.env()
  st$id <- 0L
  put <- function() {
    st$id <- st$id + 1L
    if (st$id < 256L) pk_op(0x71, st$id) else c(pk_op(0x72), pk_u32(st$id))
  }
  str <- function(s, memo = TRUE) {
    r <- if (is.raw(s)) s else charToRaw(s)
    head <- if (length(r) < 256L) pk_op(0x55, length(r))
            else c(pk_op(0x54), pk_u32(length(r)))
    c(head, r, if (memo) put())
  }
  int <- function(v) {
    if (v >= 0 && v < 256) return(pk_op(0x4b, v))
    if (v >= 0 && v < 65536) return(c(pk_op(0x4d), writeBin(as.integer(v), raw(), size = 2,
                                                          endian = "little")))
    c(pk_op(0x4a), pk_u32(v))
  }
  list_of <- function(items) {
    out <- c(pk_op(0x5d), put())
    for (b in split(items, ceiling(seq_along(items) / 1000))) {
      out <- c(out, if (length(b) == 1L) c(b[[1]], pk_op(0x61))
                    else c(pk_op(0x28), unlist(b), pk_op(0x65)))
    }
    out
  }
  uint8_matrix <- function(m) {
    c(pk_op(0x63), charToRaw("numpy.core.multiarray\n_reconstruct\n"), put(),
      pk_op(0x63), charToRaw("numpy\nndarray\n"), put(),
      int(0), pk_op(0x85), str("b", memo = FALSE), pk_op(0x87, 0x52), put(),
      pk_op(0x28), int(1), int(nrow(m)), int(ncol(m)), pk_op(0x86),
      pk_op(0x63), charToRaw("numpy\ndtype\n"), put(),
      str("u1", memo = FALSE), int(0), int(1), pk_op(0x87, 0x52), put(),
      pk_op(0x28), int(3), str("|", memo = FALSE), pk_op(0x4e, 0x4e, 0x4e),
      pk_op(0x4a), pk_u32(-1), pk_op(0x4a), pk_u32(-1), int(0), pk_op(0x74, 0x62),
      pk_op(0x89), str(as.raw(t(m)), memo = FALSE), pk_op(0x74, 0x62))
  }
  list(put = put, str = str, int = int, list_of = list_of, uint8_matrix = uint8_matrix)
}

# A dict of str keys like CIFAR's: values are "data" (a uint8 matrix), integer
# vectors (label lists), or character vectors (a list of str, or one str).
write_py2_pickle <- function(path, d) {
  w <- pk_writer()
  out <- c(pk_op(0x80, 0x02, 0x7d), w$put(), pk_op(0x28))
  for (k in names(d)) {
    v <- d[[k]]
    key <- w$str(k)
    val <- if (is.matrix(v)) w$uint8_matrix(v)
      else if (is.numeric(v)) w$list_of(lapply(v, w$int))
      else if (length(v) == 1L && !identical(k, "filenames")) w$str(v)
      else w$list_of(lapply(v, w$str))
    out <- c(out, key, val)
  }
  writeBin(c(out, pk_op(0x75, 0x2e)), path)
}

# Random CIFAR rows: n images, each 3072 bytes in the stored (3, 32, 32) order.
cifar_rows <- function(n) matrix(sample(0:255, n * 3072, TRUE), n, 3072)

# Writes a CIFAR-10 archive (5 training batches of `per_batch` images and a
# test batch of `n_test`) to `archive`; returns the rows and labels written.
write_tiny_cifar10 <- function(archive, per_batch = 4, n_test = 3) {
  src <- withr::local_tempdir()
  dir <- file.path(src, "cifar-10-batches-py")
  dir.create(dir)
  batch <- function(name, n, label) {
    d <- list(data = cifar_rows(n), labels = sample(0:9, n, TRUE),
              batch_label = label, filenames = sprintf("img_%s_%d.png", name, seq_len(n)))
    write_py2_pickle(file.path(dir, name), d)
    d
  }
  train <- lapply(1:5, function(i) batch(paste0("data_batch_", i), per_batch,
                                         sprintf("training batch %d of 5", i)))
  test <- batch("test_batch", n_test, "testing batch 1 of 1")
  write_py2_pickle(file.path(dir, "batches.meta"),
                   list(label_names = c("airplane", "automobile")))
  tar_into(archive, src, "cifar-10-batches-py")
  list(x_train = do.call(rbind, lapply(train, `[[`, "data")),
       y_train = unlist(lapply(train, `[[`, "labels")),
       x_test = test$data, y_test = test$labels)
}

write_tiny_cifar100 <- function(archive, n_train = 25, n_test = 3) {
  src <- withr::local_tempdir()
  dir <- file.path(src, "cifar-100-python")
  dir.create(dir)
  part <- function(name, n) {
    d <- list(filenames = sprintf("%s_%d.png", name, seq_len(n)), batch_label = name,
              fine_labels = sample(0:99, n, TRUE), coarse_labels = sample(0:19, n, TRUE),
              data = cifar_rows(n))
    write_py2_pickle(file.path(dir, name), d)
    d
  }
  out <- list(train = part("train", n_train), test = part("test", n_test))
  tar_into(archive, src, "cifar-100-python")
  out
}

tar_into <- function(archive, src, what) {
  dir.create(dirname(archive), recursive = TRUE, showWarnings = FALSE)
  withr::with_dir(src, utils::tar(archive, what, compression = "gzip"))
}

# pixel [i, r, c, ch] of Keras's channels-last array is stored byte
# ch*1024 + r*32 + c of row i (all 0-based).
expect_cifar_pixels <- function(x, rows) {
  g <- expand.grid(i = seq_len(nrow(rows)), r = 0:31, c = 0:31, ch = 0:2)
  expect_identical(x[cbind(g$i, g$r + 1L, g$c + 1L, g$ch + 1L)],
                   as.integer(rows[cbind(g$i, g$ch * 1024L + g$r * 32L + g$c + 1L)]))
}
