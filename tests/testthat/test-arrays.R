test_that("array_reshape() fills rows first (C order)", {
  r <- array_reshape(1:6, c(2, 3))
  expect_equal(dim(r), c(2L, 3L))
  expect_equal(r[1, ], c(1, 2, 3))
  expect_equal(r[2, ], c(4, 5, 6))
  expect_identical(storage.mode(r), "integer")
  expect_identical(storage.mode(array_reshape(as.double(1:6), c(3, 2))), "double")
})

test_that("array_reshape() unrolls each sample row by row (3-d -> 2-d)", {
  x <- array(seq_len(5 * 3 * 4) * 1.5, c(5, 3, 4))
  r <- array_reshape(x, c(5, 12))
  expect_equal(dim(r), c(5L, 12L))
  for (i in 1:5) for (a in 1:3) for (b in 1:4) {
    expect_equal(r[i, (a - 1) * 4 + b], x[i, a, b])
  }
  expect_equal(array_reshape(x, c(-1, 12)), r)
  # a full C-order flatten agrees with the explicit formula too
  v <- array_reshape(x, 60)
  expect_equal(as.vector(v), as.vector(aperm(x, 3:1)))
})

test_that("array_reshape() rebuilds images from flat rows (2-d -> 4-d)", {
  m <- matrix(seq_len(2 * 12), 2, 12)
  r <- array_reshape(m, c(2, 3, 4, 1))
  expect_equal(dim(r), c(2L, 3L, 4L, 1L))
  for (i in 1:2) for (a in 1:3) for (b in 1:4) {
    expect_equal(r[i, a, b, 1], m[i, (a - 1) * 4 + b])
  }
  # round trip
  expect_equal(array_reshape(r, c(2, 12)), m)
  # a reshape that also changes the first extent
  r2 <- array_reshape(m, c(4, 2, 3))
  flat <- as.vector(t(m))
  for (i in 1:4) for (a in 1:2) for (b in 1:3) {
    expect_equal(r2[i, a, b], flat[(i - 1) * 6 + (a - 1) * 3 + b])
  }
})

test_that("order = 'F' equals dim<- and unit axes agree under both orders", {
  x <- array(runif(24), c(2, 3, 4))
  y <- x
  dim(y) <- c(6, 4)
  expect_identical(array_reshape(x, c(6, 4), order = "F"), y)
  expect_identical(array_reshape(x, c(2, 3, 4, 1)), array(x, c(2, 3, 4, 1)))
  v <- c(a = 1, b = 2, c = 3, d = 4)
  expect_identical(array_reshape(v, c(2, 2), "F"), matrix(c(1, 2, 3, 4), 2))
})

test_that("array_reshape() validates its arguments", {
  expect_error(array_reshape(1:6, c(4, 2)), "must equal length", class = "rkeras_error_value")
  expect_error(array_reshape(1:6, c(-1, -1)), "at most one", class = "rkeras_error_value")
  expect_error(array_reshape(1:7, c(-1, 2)), "multiple of 2", class = "rkeras_error_value")
  expect_error(array_reshape(1:6, c(2.5, 2)), "whole numbers", class = "rkeras_error_value")
  expect_error(array_reshape(1:6, c(2, NA)), class = "rkeras_error_value")
  expect_error(array_reshape(1:6, "2"), "numeric", class = "rkeras_error_type")
  expect_error(array_reshape(list(1, 2), 2), "atomic", class = "rkeras_error_type")
  expect_error(array_reshape(1:6, c(2, 3), order = "X"), "order",
               class = "rkeras_error_value")
  expect_error(array_reshape(1:6, c(1e6, 1e6)), "must equal length",
               class = "rkeras_error_value")
})

test_that("to_categorical() one-hot encodes 0-based labels", {
  r <- to_categorical(c(0, 2, 1))
  expect_identical(r, matrix(c(1, 0, 0, 0, 0, 1, 0, 1, 0), 3))
  expect_identical(storage.mode(r), "double")
  r4 <- to_categorical(c(0L, 2L, 1L), 4)
  expect_equal(dim(r4), c(3L, 4L))
  expect_equal(rowSums(r4), c(1, 1, 1))
  expect_equal(r4[2, 3], 1)
  # doubles are truncated, 1-d arrays and n x 1 matrices act as vectors
  expect_identical(to_categorical(c(0.9, 2.2)), to_categorical(c(0, 2)))
  expect_equal(dim(to_categorical(array(c(1L, 0L), 2))), c(2L, 2L))
  expect_equal(dim(to_categorical(matrix(c(1, 0, 2), 3, 1))), c(3L, 3L))
  # other arrays gain a trailing class axis
  y <- matrix(c(0, 1, 2, 0), 2)
  r3 <- to_categorical(y)
  expect_equal(dim(r3), c(2L, 2L, 3L))
  expect_equal(r3[2, 1, 2], 1)
  expect_equal(r3[1, 2, 3], 1)
  expect_identical(storage.mode(to_categorical(1:2, dtype = "int32")), "integer")
})

test_that("to_categorical() rejects bad labels and arguments", {
  expect_error(to_categorical(c(0, NA)), "NA at position 2", class = "rkeras_error_value")
  expect_error(to_categorical(c(0, -1)), "found -1", class = "rkeras_error_value")
  expect_error(to_categorical(c(0, 10), 10), "label 10", class = "rkeras_error_value")
  expect_error(to_categorical(1, -1), "`num_classes` must be a positive whole number, not -1",
               class = "rkeras_error_value")
  expect_error(to_categorical(1, 2.5), "num_classes", class = "rkeras_error_value")
  expect_error(to_categorical(factor("a")), "factor", class = "rkeras_error_type")
  expect_error(to_categorical(1, dtype = "complex"), "dtype", class = "rkeras_error_value")
})

test_that("normalize() divides by the norm and keeps zero rows", {
  expect_equal(normalize(c(3, 4)), c(0.6, 0.8))
  expect_equal(normalize(c(0, 0)), c(0, 0))
  m <- rbind(c(3, 4), c(0, 0))
  expect_equal(normalize(m), rbind(c(0.6, 0.8), c(0, 0)))
  expect_equal(normalize(m, axis = 1), rbind(c(1, 1), c(0, 0)))
  expect_equal(normalize(m, order = 1), rbind(c(3, 4) / 7, c(0, 0)))
  a <- array(1:8, c(2, 2, 2))
  n2 <- normalize(a, axis = 2)
  expect_equal(dim(n2), c(2L, 2L, 2L))
  expect_equal(n2[1, , 2], c(5, 7) / sqrt(25 + 49))
  expect_error(normalize(m, axis = 3), "axis", class = "rkeras_error_value")
  expect_error(normalize("a"), class = "rkeras_error_type")
})
