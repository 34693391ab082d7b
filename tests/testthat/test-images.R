# Image files: image_load() and image_to_array() against Keras 3's load_img() and
# img_to_array() (Pillow) on files Pillow writes (oracle/keras_images.py), image_from_array()
# against array_to_img(), image_array_resize() against SciPy's zoom(order = 1).

images_oracle <- function() {
  dir <- oracle_once("keras_images.py")
  list(dir = dir, cases = read_json(file.path(dir, "cases.json")))
}

test_that("image_load() and image_to_array() give Keras's (Pillow's) pixels for every mode, size and filter", {
  o <- images_oracle()
  n <- 0
  for (case in o$cases$load) {
    size <- if (!is.null(case$target_size)) as.integer(unlist(case$target_size))
    img <- image_load(file.path(o$dir, case$file), color_mode = case$color_mode, target_size = size,
                      interpolation = case$interpolation, keep_aspect_ratio = case$keep_aspect_ratio)
    got <- image_to_array(img)
    want <- unflat(case$array)
    info <- sprintf("%s %s %s %s keep=%s", case$file, case$color_mode, paste(size, collapse = "x"),
                    case$interpolation, case$keep_aspect_ratio)
    expect_equal(dim(got), dim(want), info = info)
    if (case$file == "photo.jpg") {
      # Another JPEG decoder (zune-jpeg, not libjpeg): pixels within a few levels.
      expect_lt(mean(abs(got - want)), 1, label = info)
      expect_lte(max(abs(got - want)), 12, label = info)
    } else {
      expect_identical(got, want, info = info)
    }
    n <- n + 1
  }
  expect_gt(n, 800)
})

test_that("image_from_array() and image_array_save() scale and cast as Keras's array_to_img()", {
  o <- images_oracle()
  for (case in o$cases$from_array) {
    x <- unflat(case$x)
    img <- image_from_array(x, scale = case$scale)
    expect_identical(image_to_array(img), unflat(case$array))
  }
  # A saved PNG reads back as the same pixels; a JPEG within a few levels.
  x <- array(runif(6 * 7 * 3), c(6, 7, 3))
  png <- withr::local_tempfile(fileext = ".png")
  expect_identical(image_array_save(x, png), x)
  expect_identical(image_to_array(image_load(png)), image_to_array(image_from_array(x)))
  gray <- image_from_array(array(0:11 * 20, c(3, 4, 1)), scale = FALSE)
  bmp <- withr::local_tempfile(fileext = ".bmp")
  image_array_save(gray, bmp)
  expect_identical(image_to_array(image_load(bmp, color_mode = "grayscale")), image_to_array(gray))
  # JPEG is lossy: a smooth picture comes back within a few levels.
  smooth <- outer(1:16, 1:16, function(i, j) 8 * i + 4 * j)
  smooth <- array(c(smooth, 255 - smooth, smooth / 2), c(16, 16, 3))
  jpg <- withr::local_tempfile(fileext = ".txt")
  image_array_save(smooth, jpg, file_format = "jpeg", scale = FALSE)
  expect_lt(mean(abs(image_to_array(image_load(jpg)) - smooth)), 3)
  expect_equal(dim(image_to_array(image_load(png), data_format = "channels_first")), c(3L, 6L, 7L))
  expect_identical(storage.mode(image_to_array(image_load(png), dtype = "int32")), "integer")
  expect_output(print(image_load(png)), "<image RGB, 6 x 7 (height x width)>", fixed = TRUE)
  expect_s3_class(as.raster(image_load(png)), "raster")
})

test_that("image_array_resize() interpolates as SciPy's zoom(order = 1)", {
  o <- images_oracle()
  for (case in o$cases$zoom) {
    got <- image_array_resize(unflat(case$x), case$height, case$width)
    expect_equal(got, unflat(case$array), tolerance = 1e-12)
  }
  x <- array(runif(2 * 3 * 4), c(1, 2, 3, 4))
  expect_equal(dim(image_array_resize(x, 5, 6)), c(1L, 5L, 6L, 4L))
  expect_equal(dim(image_array_resize(array(1, c(3, 2, 4)), 7, 5, data_format = "channels_first")), c(3L, 7L, 5L))
})

test_that("bad image files and arguments are R errors naming the file or argument", {
  dir <- withr::local_tempdir()
  junk <- file.path(dir, "junk.png")
  writeLines("not an image", junk)
  expect_error(image_load(junk), "junk.png", class = "rkeras_error_value")
  good <- file.path(dir, "good.jpg")
  image_array_save(array(runif(32 * 32 * 3), c(32, 32, 3)), good)
  bytes <- readBin(good, "raw", file.size(good))
  cut <- file.path(dir, "cut.jpg")
  writeBin(bytes[seq_len(length(bytes) %/% 3)], cut)
  expect_error(image_load(cut), "cut.jpg", class = "rkeras_error")
  expect_error(image_load(file.path(dir, "missing.png")), "missing.png", class = "rkeras_error_io")
  expect_error(image_load(dir), "does not exist", class = "rkeras_error_io")
  expect_error(image_load(good, target_size = 5), "`target_size`", class = "rkeras_error_value")
  expect_error(image_load(good, target_size = c(0, 4)), "`target_size`", class = "rkeras_error_value")
  expect_error(image_load(good, target_size = c(4, 4), interpolation = "cubic"), "`interpolation`",
               class = "rkeras_error_value")
  expect_error(image_load(good, color_mode = "cmyk"), "`color_mode`", class = "rkeras_error_value")
  expect_error(image_to_array("x"), "`img`", class = "rkeras_error_type")
  expect_error(image_from_array(array(1, c(2, 2, 2))), "1, 3 or 4 channels", class = "rkeras_error_value")
  expect_error(image_from_array(matrix(1, 2, 2)), "3 dimensions", class = "rkeras_error_value")
  expect_error(image_from_array(array(300, c(2, 2, 1)), scale = FALSE), "above 255",
               class = "rkeras_error_unsupported")
  expect_error(image_array_save(array(1, c(2, 2, 3)), file.path(dir, "x.tiff")), "x.tiff",
               class = "rkeras_error_value")
  expect_error(image_array_save(array(1, c(2, 2, 3)), file.path(dir, "no", "such", "x.png")),
               "cannot write", class = "rkeras_error_io")
  expect_length(list.files(dir, pattern = "^\\.rkeras-", all.files = TRUE), 0)
  expect_error(image_array_resize(array(1, c(2, 2, 3)), 0, 3), "`height`", class = "rkeras_error_value")
})
