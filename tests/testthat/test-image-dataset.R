# image_dataset_from_directory() against Keras 3 (oracle/keras_image_dataset.py): Keras's own
# index_directory() and split give the files, order and labels; keras.ops.image.resize (which
# equals TensorFlow's resize) and smart_resize give the pixels.

dataset_oracle <- function() {
  dir <- oracle_once("keras_image_dataset.py")
  list(root = file.path(dir, "images"), cases = read_json(file.path(dir, "cases.json")))
}

relative <- function(paths, root) substring(paths, nchar(root) + 2L)

test_that("the files, their order, labels and class names are Keras's, shuffled or not, split or not", {
  o <- dataset_oracle()
  for (case in o$cases$index) {
    a <- case$args
    ds <- image_dataset_from_directory(o$root, shuffle = a$shuffle, seed = a$seed, batch_size = 100,
                                       image_size = c(4, 4), class_names = unlist(a$class_names),
                                       validation_split = a$validation_split, subset = a$subset,
                                       verbose = FALSE)
    info <- paste(names(a), unlist(a), collapse = " ")
    expect_identical(relative(attr(ds, "file_paths"), o$root), unlist(case$paths), info = info)
    expect_identical(attr(ds, "class_names"), unlist(case$class_names), info = info)
    expect_identical(as.integer(ds()[[2]]), as.integer(unlist(case$labels)), info = info)
  }
  both <- image_dataset_from_directory(o$root, seed = 7, validation_split = 0.25, subset = "both",
                                       image_size = c(4, 4), verbose = FALSE)
  expect_length(both, 2)
  expect_length(intersect(attr(both[[1]], "file_paths"), attr(both[[2]], "file_paths")), 0)
  expect_message(image_dataset_from_directory(o$root, image_size = c(4, 4)), "Found 12 files belonging to 3 classes")
})

test_that("each image is resized as TensorFlow resizes it (bilinear, nearest, crop to the aspect ratio)", {
  o <- dataset_oracle()
  for (case in o$cases$pixels) {
    got <- rkeras:::load_dataset_image(file.path(o$root, case$path), "rgb", as.integer(unlist(case$size)),
                                       case$interpolation, case$crop)
    expect_equal(got, unflat(case$array), tolerance = 1e-5,
                 info = paste(case$path, case$interpolation, case$crop))
  }
})

test_that("fit(), evaluate() and predict() take a dataset directly, with labels in each mode", {
  o <- dataset_oracle()
  set.seed(2)
  sets <- image_dataset_from_directory(o$root, seed = 7, validation_split = 0.25, subset = "both",
                                       image_size = c(8, 8), batch_size = 4, verbose = FALSE)
  expect_output(print(sets[[1]]), "<image dataset: 9 files, 3 classes, 3 batches of up to 4>", fixed = TRUE)
  model <- keras_model_sequential(input_shape = c(8, 8, 3)) %>% layer_rescaling(1 / 255) %>%
    layer_conv_2d(4, 3, activation = "relu") %>% layer_global_average_pooling_2d() %>%
    layer_dense(3, activation = "softmax")
  model %>% compile(optimizer = "adam", loss = "sparse_categorical_crossentropy", metrics = "accuracy")
  history <- model %>% fit(sets[[1]], epochs = 2, validation_data = sets[[2]], verbose = 0)
  expect_named(history$metrics, c("loss", "accuracy", "val_loss", "val_accuracy"), ignore.order = TRUE)
  expect_length(history$metrics$loss, 2)
  expect_named(evaluate(model, sets[[2]], verbose = 0), c("loss", "accuracy"))
  expect_equal(dim(predict(model, sets[[2]], verbose = 0)), c(3L, 3L))
  cat_ds <- image_dataset_from_directory(o$root, label_mode = "categorical", image_size = c(5, 6),
                                         shuffle = FALSE, verbose = FALSE, batch_size = 5)
  b <- cat_ds()
  expect_equal(dim(b[[1]]), c(5L, 5L, 6L, 3L))
  expect_equal(b[[2]], to_categorical(c(0, 0, 0, 0, 1), 3))
  expect_equal(dim(cat_ds()[[1]])[[1]], 5L)
  expect_equal(dim(cat_ds()[[1]])[[1]], 2L) # the last, smaller batch
  unlabeled <- image_dataset_from_directory(o$root, labels = NULL, image_size = c(3, 3), color_mode = "grayscale",
                                            verbose = FALSE)
  expect_length(unlabeled(), 1)
  # Without inferred labels every image below the folder counts, a hidden folder's too (os.walk).
  expect_equal(dim(unlabeled()[[1]]), c(13L, 3L, 3L, 1L))
})

test_that("bad folders and arguments are R errors naming them", {
  o <- dataset_oracle()
  empty <- withr::local_tempdir()
  expect_error(image_dataset_from_directory(empty, verbose = FALSE), "No images found", class = "rkeras_error_value")
  expect_error(image_dataset_from_directory(file.path(empty, "nope")), "does not exist", class = "rkeras_error_io")
  expect_error(image_dataset_from_directory(o$root, label_mode = "binary", verbose = FALSE), "exactly 2 classes",
               class = "rkeras_error_value")
  expect_error(image_dataset_from_directory(o$root, validation_split = 0.2, subset = "training"), "`seed`",
               class = "rkeras_error_value")
  expect_error(image_dataset_from_directory(o$root, validation_split = 0.2), "`subset`", class = "rkeras_error_value")
  expect_error(image_dataset_from_directory(o$root, image_size = 5), "`image_size`", class = "rkeras_error_value")
  expect_error(image_dataset_from_directory(o$root, interpolation = "bicubic"), "`interpolation`",
               class = "rkeras_error_value")
  expect_error(image_dataset_from_directory(o$root, class_names = c("a", "zz")), "`class_names`",
               class = "rkeras_error_value")
  expect_error(image_dataset_from_directory(o$root, labels = c(0, 1)), "13 files", class = "rkeras_error_value")
  expect_error(image_dataset_from_directory(o$root, pad_to_aspect_ratio = TRUE), class = "rkeras_error_unsupported")
})
