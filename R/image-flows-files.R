#' Generate batches of augmented images from a folder
#'
#' Keras 2's `ImageDataGenerator.flow_from_directory()`: an endless iterator over the image
#' files below `directory`, one subfolder per class, read and resized to `target_size` as they
#' are needed, transformed and normalized by `generator`. Files are PNG, JPEG, BMP or PPM
#' (`.png`, `.jpg`, `.jpeg`, `.bmp`, `.ppm`; Keras also lists `.tif` and `.tiff` files, which
#' rkeras cannot read: a folder with one is an error), in Keras's order (classes in
#' alphabetical order, files as Python's `os.walk()` lists them). `fit()`, `evaluate()` and
#' `predict()` take the iterator directly. Besides the fields of [flow_images_from_data()]'s
#' iterators it carries `directory`, `classes` (the class index of each file, from 0),
#' `class_indices` (a named list), `num_classes`, `filenames` (relative to `directory`),
#' `filepaths`, `samples`, `image_shape`, `target_size`, `color_mode`, `class_mode` and
#' `labels`.
#' @inheritParams flow_images_from_data
#' @param directory A folder with one subfolder of images per class.
#' @param generator An [image_data_generator()] (the default transforms nothing).
#' @param target_size The height and width images are resized to.
#' @param color_mode `"rgb"`, `"rgba"` or `"grayscale"`: 3, 4 or 1 channels.
#' @param classes `NULL` (every subfolder, in alphabetical order) or the class subfolders to
#'   use, in the order of their indices.
#' @param class_mode The labels: `"categorical"` (one-hot rows), `"binary"` or `"sparse"`
#'   (the class index as a number), `"input"` (the images themselves, for autoencoders), or
#'   `NULL` (no labels, for prediction).
#' @param follow_links Whether to follow symbolic links to folders.
#' @param subset `NULL`, `"training"` or `"validation"`: with the generator's
#'   `validation_split`, the validation subset is the first `validation_split` of each class's
#'   files, the training subset the rest.
#' @param interpolation How images are resized: `"nearest"`, `"bilinear"`, `"bicubic"`,
#'   `"lanczos"`, `"box"` or `"hamming"` (Pillow's filters, as [image_load()]).
#' @returns An image iterator (a generator function).
#' @family image preprocessing
#' @export
#' @examples
#' dir <- file.path(tempdir(), "flow-example")
#' for (cls in c("cats", "dogs")) {
#'   dir.create(file.path(dir, cls), recursive = TRUE, showWarnings = FALSE)
#'   for (i in 1:3) {
#'     image_array_save(array(runif(10 * 10 * 3), c(10, 10, 3)),
#'                      file.path(dir, cls, paste0(i, ".png")))
#'   }
#' }
#' flow <- flow_images_from_directory(dir, target_size = c(8, 8), batch_size = 4,
#'                                    class_mode = "binary")
#' flow$class_indices
#' str(generator_next(flow))
flow_images_from_directory <- function(directory, generator = image_data_generator(), target_size = c(256, 256),
                                       color_mode = "rgb", classes = NULL, class_mode = "categorical",
                                       batch_size = 32, shuffle = TRUE, seed = NULL, save_to_dir = NULL,
                                       save_prefix = "", save_format = "png", follow_links = FALSE, subset = NULL,
                                       interpolation = "nearest") {
  check_image_data_generator(generator, "generator")
  directory <- check_string(directory, "directory")
  if (!dir.exists(directory)) rk_abort(sprintf("`directory` must be a folder; \"%s\" is not.", directory), "io")
  common <- check_flow_args(batch_size, shuffle, seed, save_to_dir, save_prefix, save_format, subset)
  class_mode <- check_string(class_mode, "class_mode", allow_null = TRUE,
                             choices = c("categorical", "binary", "sparse", "input"))
  check_flag(follow_links, "follow_links")
  if (is.null(classes)) {
    subdirs <- sort(list.files(directory, all.files = TRUE, no.. = TRUE), method = "radix")
    classes <- subdirs[dir.exists(file.path(directory, subdirs))]
  } else if (!is.character(classes) || anyNA(classes) || !all(dir.exists(file.path(directory, classes)))) {
    rk_abort(sprintf("`classes` must be NULL or names of subfolders of \"%s\", not %s.", directory,
                     show_value(classes)), "value")
  }
  files <- character()
  labels <- integer()
  split <- if (is.null(common$subset)) NULL
           else if (common$subset == "validation") c(0, generator$validation_split)
           else c(generator$validation_split, 1)
  for (k in seq_along(classes)) {
    root <- file.path(directory, classes[[k]])
    found <- index_directory(root, NULL, NULL, follow_links, flow_formats)$paths
    found <- file.path(classes[[k]], substring(found, nchar(root) + 2L))
    if (!is.null(split)) found <- found[seq_along(found) > floor(split[[1]] * length(found)) &
                                          seq_along(found) <= floor(split[[2]] * length(found))]
    files <- c(files, found)
    labels <- c(labels, rep(k - 1L, length(found)))
  }
  message(sprintf("Found %d images belonging to %d classes.", length(files), length(classes)))
  class_indices <- stats::setNames(as.list(seq_along(classes) - 1L), classes)
  file_flow(file.path(directory, files), labels, class_indices, class_mode, generator, common, target_size,
            color_mode, interpolation,
            list(directory = directory, filenames = files, classes = labels), "a folder")
}

flow_formats <- c(".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff")

#' Python's `os.path.join(directory, name)`: an absolute `name` stays as it is
#' @noRd
join_path <- function(directory, names) {
  if (is.null(directory) || !nzchar(directory)) return(names)
  ifelse(startsWith(names, "/"), names, file.path(directory, names))
}

#' The iterator of a flow over image files: `labels` are class indices (a list of them for
#' multi-label rows), or the targets themselves for `class_mode = "raw"`/`"multi_output"`
#' @noRd
file_flow <- function(paths, labels, class_indices, class_mode, generator, common, target_size, color_mode,
                      interpolation, fields, kind, call = rlang::caller_env()) {
  target_size <- check_tuple(target_size, "target_size", 2L, call = call)
  color_mode <- check_string(color_mode, "color_mode", choices = c("rgb", "rgba", "grayscale"), call = call)
  interpolation <- check_string(interpolation, "interpolation",
                                choices = c("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos"),
                                call = call)
  tiff <- paths[endsWith(tolower(paths), ".tif") | endsWith(tolower(paths), ".tiff")]
  if (length(tiff)) {
    rk_abort(sprintf("rkeras reads PNG, JPEG, BMP and PPM images, not TIFF: \"%s\"%s.", tiff[[1]],
                     if (length(tiff) > 1) sprintf(" and %d more", length(tiff) - 1) else ""), "unsupported", call)
  }
  channels <- c(grayscale = 1L, rgb = 3L, rgba = 4L)[[color_mode]]
  n_classes <- length(class_indices)
  get_batch <- function(idx) {
    x <- array(0, c(length(idx), target_size, channels))
    for (i in seq_along(idx)) {
      img <- image_load(paths[[idx[[i]]]], color_mode = color_mode, target_size = target_size,
                        interpolation = interpolation)
      x[i, , , ] <- unclass(img)
    }
    x <- idg_standardize(generator, idg_transform(generator, x))
    save_batch(x, idx, common, 1e7)
    x <- to_data_format(x, generator$data_format)
    y <- switch(class_mode %||% "none",
                none = return(list(x)),
                input = x,
                binary = , sparse = as.double(unlist(labels[idx])),
                categorical = {
                  y <- matrix(0, length(idx), n_classes)
                  for (i in seq_along(idx)) y[i, unlist(labels[[idx[[i]]]]) + 1L] <- 1
                  y
                },
                raw = if (is.null(dim(labels))) labels[idx] else labels[idx, , drop = FALSE],
                multi_output = lapply(labels, function(v) v[idx]))
    list(x, y)
  }
  shape <- if (generator$data_format == "channels_last") c(target_size, channels) else c(channels, target_size)
  fields <- c(fields, list(filepaths = paths, samples = length(paths), class_indices = class_indices, labels = labels,
                           num_classes = n_classes, image_shape = shape, target_size = target_size,
                           color_mode = color_mode, class_mode = class_mode))
  new_image_iterator(length(paths), common, generator, get_batch, fields, kind)
}

#' Generate batches of augmented images from the files a data frame names
#'
#' Keras 2's `ImageDataGenerator.flow_from_dataframe()`: an endless iterator over the image
#' files named in column `x_col` (relative to `directory`), labelled by column `y_col`, read,
#' resized, transformed and normalized as [flow_images_from_directory()] does. Rows whose file
#' does not exist or is not an image file (by its extension) are left out with a warning, as
#' Keras does. The iterator carries the fields of [flow_images_from_directory()]'s.
#' @inheritParams flow_images_from_directory
#' @param dataframe A data frame with a column of file names and, for most `class_mode`s, a
#'   column of labels.
#' @param directory `NULL` (the file names are paths) or the folder they are relative to.
#' @param x_col Name of the column of file names.
#' @param y_col Name of the column of labels (several names for `"raw"` and
#'   `"multi_output"`).
#' @param classes `NULL` (the labels found, in alphabetical order) or the classes to keep, in
#'   the order of their indices (rows of other classes are left out).
#' @param class_mode `"categorical"` (one-hot rows; a list-column of labels gives multi-label
#'   rows), `"binary"` (two classes) or `"sparse"` (the class index), `"raw"` (the values of
#'   `y_col`; `"other"` is its Keras 2.2 name), `"multi_output"` (a list of the columns
#'   `y_col`), `"input"` (the images themselves) or `NULL` (no labels).
#' @param drop_duplicates Ignored with a warning, as Keras for R does with TensorFlow 2.3 and
#'   later: remove duplicate rows yourself.
#' @returns An image iterator (a generator function).
#' @family image preprocessing
#' @export
#' @examples
#' dir <- file.path(tempdir(), "flow-df-example")
#' dir.create(dir, showWarnings = FALSE)
#' files <- sprintf("img%d.png", 1:4)
#' for (f in files) image_array_save(array(runif(10 * 10 * 3), c(10, 10, 3)), file.path(dir, f))
#' df <- data.frame(filename = files, class = c("a", "b", "a", "b"))
#' flow <- flow_images_from_dataframe(df, dir, target_size = c(8, 8), batch_size = 2)
#' flow$class_indices
flow_images_from_dataframe <- function(dataframe, directory = NULL, x_col = "filename", y_col = "class",
                                       generator = image_data_generator(), target_size = c(256, 256),
                                       color_mode = "rgb", classes = NULL, class_mode = "categorical",
                                       batch_size = 32, shuffle = TRUE, seed = NULL, save_to_dir = NULL,
                                       save_prefix = "", save_format = "png", subset = NULL,
                                       interpolation = "nearest", drop_duplicates = NULL) {
  check_image_data_generator(generator, "generator")
  if (!is.data.frame(dataframe)) {
    rk_abort(sprintf("`dataframe` must be a data frame, not %s.", show_value(dataframe)), "type")
  }
  directory <- check_string(directory, "directory", allow_null = TRUE)
  common <- check_flow_args(batch_size, shuffle, seed, save_to_dir, save_prefix, save_format, subset)
  class_mode <- check_string(class_mode, "class_mode", allow_null = TRUE,
                             choices = c("categorical", "binary", "sparse", "input", "raw", "other", "multi_output"))
  if (identical(class_mode, "other")) class_mode <- "raw"
  if (!is.null(drop_duplicates)) {
    warning("'drop_duplicates' is deprecated as of tensorflow 2.3 and will be ignored. Make sure the supplied dataframe does not contain duplicates.",
            call. = FALSE)
  }
  x_col <- check_string(x_col, "x_col")
  labelled <- !is.null(class_mode) && class_mode != "input"
  if (!is.character(y_col) || !length(y_col) || anyNA(y_col) || (length(y_col) > 1 && !identical(class_mode, "multi_output") && !identical(class_mode, "raw"))) {
    rk_abort(sprintf("`y_col` must be a column name (several for class_mode \"raw\" or \"multi_output\"), not %s.",
                     show_value(y_col)), "value")
  }
  if (!is.null(classes) && !(labelled && class_mode %in% c("categorical", "binary", "sparse"))) {
    warning(sprintf("`classes` will be ignored given the class_mode=\"%s\"", class_mode %||% "None"), call. = FALSE)
  }
  for (col in c(x_col, if (labelled) y_col)) {
    if (!col %in% names(dataframe)) {
      rk_abort(sprintf("`dataframe` has no column \"%s\" (its columns: %s).", col, paste(names(dataframe), collapse = ", ")),
               "value")
    }
  }
  # Factors are strings to Keras (reticulate gives pandas their levels).
  for (col in intersect(c(x_col, y_col), names(dataframe))) {
    if (is.factor(dataframe[[col]])) dataframe[[col]] <- as.character(dataframe[[col]])
  }
  if (!is.character(dataframe[[x_col]]) || anyNA(dataframe[[x_col]])) {
    rk_abort(sprintf("All values in column x_col=%s must be strings.", x_col), "type")
  }
  if (labelled && class_mode %in% c("binary", "sparse") && (!is.character(dataframe[[y_col]]) || anyNA(dataframe[[y_col]]))) {
    rk_abort(sprintf("If class_mode=\"%s\", y_col=\"%s\" column values must be strings.", class_mode, y_col), "type")
  }
  categorical <- identical(class_mode, "categorical")
  if (categorical && !((is.character(dataframe[[y_col]]) && !anyNA(dataframe[[y_col]])) ||
                       (is.list(dataframe[[y_col]]) && all(vapply(dataframe[[y_col]], function(l) is.character(l) && !anyNA(l), TRUE))))) {
    rk_abort(sprintf("If class_mode=\"categorical\", y_col=\"%s\" column values must be strings or lists of strings.",
                     y_col), "type")
  }
  paths <- join_path(directory, dataframe[[x_col]])
  valid <- Reduce(`|`, lapply(flow_formats, function(f) endsWith(tolower(paths), f)), FALSE) &
    file.exists(paths) & !dir.exists(paths)
  if (any(!valid)) {
    warning(sprintf("Found %d invalid image filename(s) in x_col=\"%s\". These filename(s) will be ignored.",
                    sum(!valid), x_col), call. = FALSE)
  }
  df <- dataframe[valid, , drop = FALSE]
  class_indices <- list()
  if (labelled && class_mode %in% c("categorical", "binary", "sparse")) {
    labels <- as.list(df[[y_col]])
    given <- classes
    if (!is.null(classes)) {
      if (!is.character(classes) || anyNA(classes)) {
        rk_abort(sprintf("`classes` must be NULL or class names, not %s.", show_value(classes)), "value")
      }
      classes <- unique(classes)
      labels <- lapply(labels, function(l) l[l %in% classes])
      keep <- lengths(labels) > 0
      df <- df[keep, , drop = FALSE]
      labels <- labels[keep]
    } else {
      classes <- sort(unique(unlist(labels)), method = "radix")
    }
    if (class_mode == "binary" && length(unique(c(classes, if (is.null(given)) dataframe[[y_col]]))) != 2) {
      rk_abort(sprintf("If class_mode=\"binary\" there must be 2 classes. Found %d classes.", length(classes)), "value")
    }
    class_indices <- stats::setNames(as.list(seq_along(classes) - 1L), classes)
  }
  n <- nrow(df)
  keep <- seq_len(n)
  if (!is.null(common$subset)) {
    split <- if (common$subset == "validation") c(0, generator$validation_split) else c(generator$validation_split, 1)
    keep <- keep[keep > floor(split[[1]] * n) & keep <= floor(split[[2]] * n)]
  }
  df <- df[keep, , drop = FALSE]
  labels <- switch(class_mode %||% "none",
                   raw = if (length(y_col) == 1) df[[y_col]] else as.matrix(df[y_col]),
                   multi_output = lapply(y_col, function(col) df[[col]]),
                   categorical = , binary = , sparse = lapply(labels[keep], function(l) match(l, classes) - 1L),
                   NULL)
  message(sprintf("Found %d validated image filenames%s.", nrow(df),
                  if (length(class_indices)) sprintf(" belonging to %d classes", length(class_indices)) else ""))
  file_flow(join_path(directory, df[[x_col]]), labels, class_indices,
            class_mode, generator, common, target_size, color_mode, interpolation,
            list(directory = directory, filenames = df[[x_col]],
                 classes = if (is.list(labels) && length(class_indices)) unlist(lapply(labels, `[`, 1)) else NULL),
            "a data frame")
}
