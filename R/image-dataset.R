#' A dataset of images from a folder
#'
#' Lists the images (`.bmp`, `.gif`, `.jpeg`, `.jpg`, `.png`) below `directory` as Keras's
#' `image_dataset_from_directory()` does: with `labels = "inferred"` each subfolder is a class
#' (in alphanumeric order, or `class_names`'s), files in alphanumeric order below it, then
#' shuffled by NumPy's generator seeded with `seed` and split by `validation_split` and
#' `subset`, so the same `seed` gives Keras's files in Keras's order and the training and
#' validation subsets do not overlap. The result is a generator that `fit()`,
#' `evaluate()` and `predict()` take directly (they read its number of batches): each call
#' yields the next batch, `list(images, labels)`, the images `(batch, height, width,
#' channels)` of values 0-255 resized to `image_size` (bilinear or nearest, with half-pixel
#' centres and no antialiasing, as TensorFlow's `resize()`), decoded while the engine trains
#' on the previous batch. Each pass reshuffles the files when `shuffle` is `TRUE`.
#'
#' `class_names` and `file_paths` are attributes of the result (`attr(ds, "class_names")`).
#' Grayscale images of colour files use Pillow's luma (TensorFlow's decoders use their own);
#' JPEG files are decoded by another decoder than TensorFlow's (pixels within a level or two).
#' @param directory The folder of the images (with a subfolder per class for inferred labels).
#' @param labels `"inferred"`, `NULL` (no labels), or a vector of integer labels for the files
#'   in alphanumeric order of their paths.
#' @param label_mode `"int"` (class indices from 0), `"categorical"` (one-hot rows),
#'   `"binary"` (0/1, two classes), or `NULL` (no labels).
#' @param class_names With inferred labels: the subfolders to use, in the order of their
#'   indices.
#' @param color_mode `"rgb"`, `"rgba"` or `"grayscale"`.
#' @param batch_size Images per batch (the last batch may be smaller).
#' @param image_size `c(height, width)` of the images yielded.
#' @param shuffle Whether to shuffle the files (else alphanumeric order).
#' @param seed The shuffle's seed (needed with `validation_split`, so both subsets agree).
#' @param validation_split `NULL` or the fraction of the files held out for validation.
#' @param subset With `validation_split`: `"training"`, `"validation"` or `"both"` (a list of
#'   the two).
#' @param interpolation `"bilinear"` or `"nearest"`.
#' @param follow_links Whether to follow symbolic links to folders.
#' @param crop_to_aspect_ratio Whether to crop each image's centre to the aspect ratio of
#'   `image_size` before resizing (rather than stretching it).
#' @param pad_to_aspect_ratio Must be `FALSE` (not supported).
#' @param verbose Whether to print how many files and classes were found.
#' @param ... Not supported (an error names them).
#' @returns A dataset (a generator function of class `rkeras_image_dataset`), or with
#'   `subset = "both"` a list of the training and validation datasets.
#' @family image utilities
#' @export
#' @examples
#' dir <- file.path(tempdir(), "shapes")
#' for (cls in c("circle", "square")) {
#'   dir.create(file.path(dir, cls), recursive = TRUE, showWarnings = FALSE)
#'   for (i in 1:4) {
#'     image_array_save(array(runif(12 * 10 * 3), c(12, 10, 3)),
#'                      file.path(dir, cls, sprintf("%d.png", i)))
#'   }
#' }
#' ds <- image_dataset_from_directory(dir, image_size = c(8, 8), batch_size = 3, seed = 1)
#' attr(ds, "class_names")
#' batch <- ds()
#' dim(batch[[1]])
#' model <- keras_model_sequential(input_shape = c(8, 8, 3)) %>%
#'   layer_rescaling(1 / 255) %>% layer_flatten() %>% layer_dense(2, activation = "softmax")
#' model %>% compile(optimizer = "adam", loss = "sparse_categorical_crossentropy")
#' model %>% fit(ds, epochs = 1, verbose = 0)
#' unlink(dir, recursive = TRUE)
image_dataset_from_directory <- function(directory, labels = "inferred", label_mode = "int",
                                         class_names = NULL, color_mode = "rgb", batch_size = 32,
                                         image_size = c(256, 256), shuffle = TRUE, seed = NULL,
                                         validation_split = NULL, subset = NULL,
                                         interpolation = "bilinear", follow_links = FALSE,
                                         crop_to_aspect_ratio = FALSE, pad_to_aspect_ratio = FALSE,
                                         verbose = TRUE, ...) {
  check_no_dots(..., fn = "image_dataset_from_directory()")
  color_mode <- check_string(color_mode, "color_mode", choices = c("grayscale", "rgb", "rgba"))
  if (length(unlist(image_size)) != 2) {
    rk_abort(sprintf("`image_size` must be two positive whole numbers c(height, width), not %s.",
                     show_value(image_size)), "value")
  }
  image_size <- check_tuple(image_size, "image_size", 2L)
  interpolation <- tolower(check_string(interpolation, "interpolation"))
  interpolation <- check_string(interpolation, "interpolation", choices = c("bilinear", "nearest"))
  crop_to_aspect_ratio <- check_flag(crop_to_aspect_ratio, "crop_to_aspect_ratio")
  if (!isFALSE(check_flag(pad_to_aspect_ratio, "pad_to_aspect_ratio"))) {
    rk_abort("`pad_to_aspect_ratio = TRUE` is not supported by rkeras yet.", "unsupported")
  }
  directory_dataset(directory, labels, label_mode, class_names, batch_size, shuffle, seed, validation_split,
                    subset, follow_links, verbose, c(".bmp", ".gif", ".jpeg", ".jpg", ".png"), "images",
                    function(paths, labels, class_names, label_mode) {
                      new_image_dataset(paths, labels, class_names, label_mode, color_mode, batch_size,
                                        image_size, shuffle, interpolation, crop_to_aspect_ratio)
                    })
}

#' Keras's `*_dataset_from_directory()` common part: the arguments checked, the files of
#' `formats` indexed and labelled, shuffled with NumPy's generator as Keras does, split, and
#' each subset made a dataset by `make(paths, labels, class_names, label_mode)`
#' @noRd
directory_dataset <- function(directory, labels, label_mode, class_names, batch_size, shuffle, seed,
                              validation_split, subset, follow_links, verbose, formats, what, make,
                              call = rlang::caller_env()) {
  directory <- check_string(directory, "directory", call = call)
  if (!dir.exists(directory)) {
    rk_abort(sprintf("`directory` must be a folder; \"%s\" does not exist.", directory), "io", call)
  }
  if (!is.null(label_mode)) {
    label_mode <- check_string(label_mode, "label_mode", choices = c("int", "categorical", "binary"), call = call)
  }
  batch_size <- check_count(batch_size, "batch_size", max = 2^24, call = call)
  shuffle <- check_flag(shuffle, "shuffle", call = call)
  check_flag(follow_links, "follow_links", call = call)
  verbose <- check_flag(verbose, "verbose", call = call)
  if (!is.null(validation_split)) {
    validation_split <- check_number(validation_split, "validation_split", call = call)
    if (!(validation_split > 0 && validation_split < 1)) {
      rk_abort(sprintf("`validation_split` must be between 0 and 1, not %s.", format(validation_split)), "value", call)
    }
  }
  if (!is.null(subset)) subset <- check_string(subset, "subset", choices = c("training", "validation", "both"), call = call)
  if (is.null(validation_split) != is.null(subset)) {
    rk_abort("If `subset` is set, `validation_split` must be set, and inversely.", "value", call)
  }
  if (!is.null(validation_split) && shuffle && is.null(seed) && subset != "both") {
    rk_abort("With `validation_split` and shuffling, give a `seed`, so that the training and validation subsets do not overlap.",
             "value", call)
  }
  seed <- if (is.null(seed)) sample.int(1e6, 1) - 1 else check_count(seed, "seed", min = 0, max = 2^32 - 1, call = call)
  index <- index_directory(directory, labels, class_names, follow_links, formats, call = call)
  if (!is.null(labels) && identical(label_mode, "binary") && length(index$class_names) != 2) {
    rk_abort(sprintf("With `label_mode = \"binary\"` there must be exactly 2 classes, not %d (%s).",
                     length(index$class_names), paste(index$class_names, collapse = ", ")), "value", call)
  }
  if (is.null(labels) || is.null(label_mode)) index$labels <- NULL
  if (verbose) {
    if (is.null(labels)) {
      message(sprintf("Found %d files.", length(index$paths)))
    } else {
      message(sprintf("Found %d files belonging to %d classes.", length(index$paths), length(index$class_names)))
    }
  }
  if (shuffle && length(index$paths)) {
    perm <- rk_call(rk_numpy_shuffle(as.double(length(index$paths)), as.double(seed)))[[1]]
    index$paths <- index$paths[perm]
    if (!is.null(index$labels)) index$labels <- index$labels[perm]
  }
  subset_dataset <- function(which) {
    keep <- seq_along(index$paths)
    if (!is.null(validation_split)) {
      n_val <- as.integer(floor(validation_split * length(keep)))
      n_train <- length(keep) - n_val
      keep <- if (which == "training") keep[seq_len(n_train)] else keep[n_train + seq_len(n_val)]
      if (verbose) message(sprintf("Using %d files for %s.", length(keep), which))
    }
    if (!length(keep)) {
      rk_abort(sprintf("No %s found in directory \"%s\". Allowed formats: %s.", what, directory,
                       paste(formats, collapse = ", ")), "value", call)
    }
    make(index$paths[keep], index$labels[keep], index$class_names, label_mode)
  }
  if (identical(subset, "both")) return(list(subset_dataset("training"), subset_dataset("validation")))
  subset_dataset(subset %||% "all")
}

#' Keras's `index_directory()`: the files of `formats` below `directory` in Keras's order,
#' their labels and the class names
#' @noRd
index_directory <- function(directory, labels, class_names, follow_links, formats,
                                  call = rlang::caller_env()) {
  py_sort <- function(x) sort(x, method = "radix")
  inferred <- identical(labels, "inferred")
  if (inferred) {
    subdirs <- py_sort(list.files(directory, all.files = TRUE, no.. = TRUE))
    subdirs <- subdirs[dir.exists(file.path(directory, subdirs)) & !startsWith(subdirs, ".")]
    if (!is.null(class_names)) {
      if (!is.character(class_names) || !all(class_names %in% subdirs)) {
        rk_abort(sprintf("`class_names` must name subfolders of \"%s\" (%s), not %s.", directory,
                         paste(subdirs, collapse = ", "), show_value(class_names)), "value", call)
      }
      subdirs <- class_names
    }
  } else {
    if (!is.null(class_names)) {
      rk_abort("`class_names` can only be given with `labels = \"inferred\"`.", "value", call)
    }
    if (!is.null(labels) && !(is.numeric(labels) && !anyNA(labels) && all(labels == round(labels)) && all(labels >= 0))) {
      rk_abort(sprintf("`labels` must be \"inferred\", NULL or a vector of class indices (0, 1, ...), not %s.",
                       show_value(labels)), "value", call)
    }
    subdirs <- ""
  }
  paths <- character()
  found <- integer()
  for (k in seq_along(subdirs)) {
    root <- if (nzchar(subdirs[[k]])) file.path(directory, subdirs[[k]]) else directory
    files <- list.files(root, recursive = TRUE, all.files = TRUE, no.. = TRUE)
    if (!follow_links) files <- files[!under_link(root, files)]
    files <- files[Reduce(`|`, lapply(formats, function(f) endsWith(tolower(basename(files)), f)), FALSE)]
    # os.walk's order: folders by path, files by name within each.
    folder <- ifelse(dirname(files) == ".", root, file.path(root, dirname(files)))
    files <- files[order(folder, basename(files), method = "radix")]
    paths <- c(paths, file.path(root, files))
    found <- c(found, rep(k - 1L, length(files)))
  }
  if (inferred) {
    list(paths = paths, labels = found, class_names = subdirs)
  } else if (is.null(labels)) {
    list(paths = paths, labels = NULL, class_names = NULL)
  } else {
    if (length(labels) != length(paths)) {
      rk_abort(sprintf("`labels` has %d values but \"%s\" has %d files.", length(labels), directory,
                       length(paths)), "value", call)
    }
    list(paths = paths, labels = as.integer(labels), class_names = as.character(py_sort(unique(labels))))
  }
}

#' Which of `files` (relative to `root`) lie below a symbolic link to a folder, which
#' Python's `os.walk(followlinks = False)` does not enter
#' @noRd
under_link <- function(root, files) {
  dirs <- unique(dirname(files[dirname(files) != "."]))
  if (!length(dirs)) return(logical(length(files)))
  # Every folder on the way to each file's folder.
  parts <- unique(unlist(lapply(strsplit(dirs, "/", fixed = TRUE), function(p) {
    vapply(seq_along(p), function(k) paste(p[seq_len(k)], collapse = "/"), "")
  })))
  links <- parts[nzchar(Sys.readlink(file.path(root, parts)))]
  if (!length(links)) return(logical(length(files)))
  Reduce(`|`, lapply(links, function(l) startsWith(files, paste0(l, "/"))), logical(length(files)))
}

#' The generator of a directory dataset: batches of decoded, resized images and their labels
#' @noRd
new_image_dataset <- function(paths, labels, class_names, label_mode, color_mode, batch_size,
                              image_size, shuffle, interpolation, crop) {
  channels <- c(grayscale = 1L, rgb = 3L, rgba = 4L)[[color_mode]]
  read <- function(files) {
    x <- array(0, c(length(files), image_size, channels))
    for (i in seq_along(files)) {
      x[i, , , ] <- load_dataset_image(files[[i]], color_mode, image_size, interpolation, crop)
    }
    x
  }
  file_dataset(paths, labels, class_names, label_mode, batch_size, shuffle, read, "image")
}

#' The generator of a dataset of files: each call reads the next `batch_size` files with
#' `read(paths)` and gives them with their labels (as `label_mode` says), starting over (and
#' reshuffling) after the last
#' @noRd
file_dataset <- function(paths, labels, class_names, label_mode, batch_size, shuffle, read, kind) {
  n <- length(paths)
  state <- new.env(parent = emptyenv())
  state$order <- seq_len(n)
  state$pos <- 0L
  gen <- function() {
    if (state$pos >= n) {
      state$pos <- 0L
      if (shuffle) state$order <- sample.int(n)
    }
    take <- state$order[seq(state$pos + 1L, min(state$pos + batch_size, n))]
    state$pos <- state$pos + length(take)
    x <- read(paths[take])
    if (is.null(labels)) return(list(x))
    y <- labels[take]
    y <- switch(label_mode, int = y, binary = as.double(y),
                categorical = to_categorical(y, length(class_names)))
    list(x, y)
  }
  structure(gen, class = c(sprintf("rkeras_%s_dataset", kind), "rkeras_file_dataset", "function"),
            steps = as.integer(ceiling(n / batch_size)), class_names = class_names, file_paths = paths,
            batch_size = batch_size, kind = kind)
}

#' @export
print.rkeras_file_dataset <- function(x, ...) {
  cat(sprintf("<%s dataset: %d files%s, %d batches of up to %d>\n", attr(x, "kind"), length(attr(x, "file_paths")),
              if (length(attr(x, "class_names"))) sprintf(", %d classes", length(attr(x, "class_names"))) else "",
              attr(x, "steps"), attr(x, "batch_size")))
  invisible(x)
}

#' One image of a dataset: decoded in `color_mode`, cropped to the aspect ratio of `size` when
#' asked, and resized to `size` as TensorFlow's `resize()` does
#' @noRd
load_dataset_image <- function(path, color_mode, size, interpolation, crop) {
  img <- decode_image_file(path, color_mode)
  storage.mode(img) <- "double"
  if (crop) {
    h <- dim(img)[[1]]
    w <- dim(img)[[2]]
    ch <- max(min(h, as.integer(w * size[[1]] / size[[2]])), 1L)
    cw <- max(min(w, as.integer(h * size[[2]] / size[[1]])), 1L)
    top <- as.integer((h - ch) / 2)
    left <- as.integer((w - cw) / 2)
    img <- img[top + seq_len(ch), left + seq_len(cw), , drop = FALSE]
  }
  resize_axis_tf(resize_axis_tf(img, 1L, size[[1]], interpolation), 2L, size[[2]], interpolation)
}

#' TensorFlow's `resize()` along one axis of a 3-d array: half-pixel centres, no
#' antialiasing; bilinear interpolation between the two nearest pixels, or the nearest one
#' @noRd
resize_axis_tf <- function(x, axis, n, interpolation) {
  m <- dim(x)[[axis]]
  if (m == n) return(x)
  scale <- m / n
  if (interpolation == "nearest") {
    idx <- pmin(floor((seq_len(n) - 0.5) * scale), m - 1) + 1
    return(if (axis == 1L) x[idx, , , drop = FALSE] else x[, idx, , drop = FALSE])
  }
  pos <- (seq_len(n) - 0.5) * scale - 0.5
  lo <- pmax(floor(pos), 0)
  hi <- pmin(ceiling(pos), m - 1)
  t <- pos - floor(pos)
  if (axis == 1L) {
    a <- x[lo + 1, , , drop = FALSE]
    b <- x[hi + 1, , , drop = FALSE]
    a + (b - a) * t
  } else {
    a <- x[, lo + 1, , drop = FALSE]
    b <- x[, hi + 1, , drop = FALSE]
    a + (b - a) * rep(t, each = dim(x)[[1]])
  }
}

#' A dataset of texts from a folder of text files
#'
#' Keras's `text_dataset_from_directory()`: the `.txt` files below `directory`, labelled by
#' the subfolder they are in (`labels = "inferred"`, classes in alphabetical order), by
#' `labels` (class indices in the order of the files), or not at all (`NULL`), in batches of
#' `batch_size` texts. Files are indexed, shuffled (NumPy's generator seeded by `seed`) and
#' split by `validation_split`/`subset` as Keras does, so subsets hold the same files as
#' Keras's; the order within later passes is R's. Each text is the file's content (UTF-8),
#' cut to its first `max_length` bytes when given.
#'
#' A model that starts with [layer_text_vectorization()] trains on the dataset directly.
#' @inheritParams image_dataset_from_directory
#' @param max_length `NULL` or the number of bytes to keep of each text.
#' @returns A dataset (a generator function of class `rkeras_text_dataset` whose batches are
#'   `list(texts, labels)`, or `list(texts)` without labels), or with `subset = "both"` a
#'   list of the training and validation datasets.
#' @family text preprocessing
#' @export
#' @examples
#' dir <- file.path(tempdir(), "reviews")
#' for (cls in c("neg", "pos")) dir.create(file.path(dir, cls), recursive = TRUE, showWarnings = FALSE)
#' writeLines("a dull, slow film", file.path(dir, "neg", "1.txt"))
#' writeLines("awful acting", file.path(dir, "neg", "2.txt"))
#' writeLines("a great film", file.path(dir, "pos", "1.txt"))
#' writeLines("wonderful acting", file.path(dir, "pos", "2.txt"))
#' ds <- text_dataset_from_directory(dir, batch_size = 2, seed = 1)
#' ds()
#' vectorize <- layer_text_vectorization(max_tokens = 20, output_sequence_length = 4)
#' adapt(vectorize, c("a dull slow film", "awful acting", "a great film", "wonderful acting"))
#' model <- keras_model_sequential() %>% vectorize() %>% layer_embedding(20, 4) %>%
#'   layer_global_average_pooling_1d() %>% layer_dense(1, activation = "sigmoid")
#' model %>% compile(loss = "binary_crossentropy", optimizer = "adam")
#' model %>% fit(ds, epochs = 1, verbose = 0)
#' unlink(dir, recursive = TRUE)
text_dataset_from_directory <- function(directory, labels = "inferred", label_mode = "int",
                                        class_names = NULL, batch_size = 32, max_length = NULL,
                                        shuffle = TRUE, seed = NULL, validation_split = NULL,
                                        subset = NULL, follow_links = FALSE, verbose = TRUE, ...) {
  check_no_dots(..., fn = "text_dataset_from_directory()")
  max_length <- check_count(max_length, "max_length", allow_null = TRUE)
  directory_dataset(directory, labels, label_mode, class_names, batch_size, shuffle, seed, validation_split,
                    subset, follow_links, verbose, ".txt", "text files",
                    function(paths, labels, class_names, label_mode) {
                      new_text_dataset(paths, labels, class_names, label_mode, batch_size, shuffle, max_length)
                    })
}

#' The generator of a text directory dataset: batches of file contents and their labels
#' @noRd
new_text_dataset <- function(paths, labels, class_names, label_mode, batch_size, shuffle, max_length) {
  read_text <- function(path) {
    bytes <- readBin(path, "raw", file.size(path))
    if (!is.null(max_length) && length(bytes) > max_length) bytes <- bytes[seq_len(max_length)]
    text <- rawToChar(bytes)
    Encoding(text) <- "UTF-8"
    text
  }
  read <- function(files) vapply(files, read_text, "", USE.NAMES = FALSE)
  file_dataset(paths, labels, class_names, label_mode, batch_size, shuffle, read, "text")
}
