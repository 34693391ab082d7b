#' Generate batches of augmented images from an array
#'
#' Keras 2's `ImageDataGenerator.flow()`: an endless iterator over the images of `x` (and
#' their labels) in batches, each image transformed and normalized by `generator`. `fit()`,
#' `evaluate()` and `predict()` (and their `*_generator()` forms) take it directly; one epoch
#' is `ceiling(n / batch_size)` batches unless `steps_per_epoch` says otherwise, and the
#' iterator reshuffles after each pass. [generator_next()] draws one batch.
#'
#' The iterator carries Keras's fields, read with `$`: `n`, `batch_size`, `shuffle`, `seed`,
#' `batch_index`, `total_batches_seen`, `index_array`, `x`, `y`, `image_data_generator`;
#' `$reset()` starts the next batch from the beginning.
#' @param x An array of images, 4 dimensions (in `generator`'s data format).
#' @param y `NULL` or the labels: a vector, matrix or array with one row per image.
#' @param generator An [image_data_generator()].
#' @param batch_size Images per batch.
#' @param shuffle Whether to shuffle the images (again after each pass).
#' @param sample_weight `NULL` or a weight per image (needs `y`).
#' @param seed `NULL` or a seed: batch `k` (counted from 0) is then drawn with seed
#'   `seed + k`, as Keras does, without touching the session's random numbers.
#' @param save_to_dir `NULL` or a folder where each image of each batch is written (for a
#'   look at the augmentation).
#' @param save_prefix Prefix of the files written to `save_to_dir`.
#' @param save_format `"png"` or `"jpeg"`.
#' @param subset `NULL`, `"training"` or `"validation"`: with the generator's
#'   `validation_split`, the validation subset is the first `floor(n * validation_split)`
#'   images, the training subset the rest.
#' @returns An image iterator: a generator function (`list(x, y)` or `list(x, y,
#'   sample_weight)` per call, or `list(x)` without labels).
#' @family image preprocessing
#' @export
#' @examples
#' x <- array(runif(20 * 12 * 12 * 1, 0, 255), c(20, 12, 12, 1))
#' y <- to_categorical(rep(0:1, 10), 2)
#' datagen <- image_data_generator(rescale = 1 / 255, zoom_range = 0.1)
#' flow <- flow_images_from_data(x, y, datagen, batch_size = 8, seed = 1)
#' model <- keras_model_sequential(input_shape = c(12, 12, 1)) %>%
#'   layer_flatten() %>% layer_dense(2, activation = "softmax")
#' model %>% compile(loss = "categorical_crossentropy", optimizer = "adam")
#' model %>% fit(flow, epochs = 2, verbose = 0)
flow_images_from_data <- function(x, y = NULL, generator = image_data_generator(), batch_size = 32,
                                  shuffle = TRUE, sample_weight = NULL, seed = NULL, save_to_dir = NULL,
                                  save_prefix = "", save_format = "png", subset = NULL) {
  check_image_data_generator(generator, "generator")
  common <- check_flow_args(batch_size, shuffle, seed, save_to_dir, save_prefix, save_format, subset)
  x <- check_image_batch(x, "x", generator$data_format)
  n <- dim(x)[[1]]
  rows <- function(v) if (is.null(dim(v))) length(v) else dim(v)[[1]]
  if (!is.null(y) && (!(is.numeric(y) || is.logical(y)) || rows(y) != n)) {
    rk_abort(sprintf("`y` must be NULL or numeric labels with one row per image (%d), not %s.", n, show_value(y)),
             "value")
  }
  if (!is.null(sample_weight) && (!is.numeric(sample_weight) || length(sample_weight) != n)) {
    rk_abort(sprintf("`sample_weight` must be NULL or one number per image (%d), not %s.", n,
                     show_value(sample_weight)), "value")
  }
  if (!is.null(common$subset)) {
    split <- as.integer(floor(n * generator$validation_split))
    if (!is.null(y) && !identical(sort(unique(as.vector(take(y, seq_len(split))))),
                                  sort(unique(as.vector(take(y, setdiff(seq_len(n), seq_len(split)))))))) {
      rk_abort(paste("Training and validation subsets have different number of classes after the split.",
                     "If your arrays are sorted by the label, you might want to shuffle them."), "value")
    }
    keep <- if (common$subset == "validation") seq_len(split) else setdiff(seq_len(n), seq_len(split))
    x <- x[keep, , , , drop = FALSE]
    y <- take(y, keep)
    sample_weight <- take(sample_weight, keep)
    n <- length(keep)
  }
  # Images one after another in memory: a batch gathers whole blocks.
  images <- aperm(x, c(2L, 3L, 4L, 1L))
  get_batch <- function(idx) {
    xb <- aperm(images[, , , idx, drop = FALSE], c(4L, 1L, 2L, 3L))
    xb <- idg_standardize(generator, idg_transform(generator, xb))
    save_batch(xb, idx, common, 1e4)
    xb <- to_data_format(xb, generator$data_format)
    if (is.null(y)) return(list(xb))
    c(list(xb, take(y, idx)), if (!is.null(sample_weight)) list(sample_weight[idx]))
  }
  fields <- list(x = to_data_format(x, generator$data_format), y = y, sample_weight = sample_weight)
  new_image_iterator(n, common, generator, get_batch, fields, "array")
}

#' Rows `idx` of labels `v`: a vector's values, an array's slices on its first axis
#' @noRd
take <- function(v, idx) {
  if (is.null(v)) return(NULL)
  d <- dim(v)
  if (length(d) <= 1) return(as.vector(v)[idx])
  do.call(`[`, c(list(v, idx), rep(list(TRUE), length(d) - 1L), drop = FALSE))
}

#' Arguments every flow takes, checked
#' @noRd
check_flow_args <- function(batch_size, shuffle, seed, save_to_dir, save_prefix, save_format, subset,
                            call = rlang::caller_env()) {
  out <- list(batch_size = check_count(batch_size, "batch_size", max = 2^24, call = call),
              shuffle = check_flag(shuffle, "shuffle", call = call),
              seed = check_count(seed, "seed", min = 0, max = 2^31 - 2^24, allow_null = TRUE, call = call),
              save_prefix = if (is.character(save_prefix) && length(save_prefix) == 1 && !is.na(save_prefix)) save_prefix
                            else rk_abort(sprintf("`save_prefix` must be a string, not %s.", show_value(save_prefix)),
                                          "value", call),
              save_format = check_string(save_format, "save_format", choices = c("png", "jpeg", "jpg"), call = call),
              subset = check_string(subset, "subset", allow_null = TRUE, choices = c("training", "validation"),
                                    call = call))
  if (!is.null(save_to_dir)) {
    save_to_dir <- check_string(save_to_dir, "save_to_dir", call = call)
    if (!dir.exists(save_to_dir)) {
      rk_abort(sprintf("`save_to_dir` must be an existing folder; \"%s\" is not.", save_to_dir), "io", call)
    }
    out$save_to_dir <- normalizePath(save_to_dir)
  }
  out
}

#' An endless iterator over `n` items in batches, as Keras's `Iterator.__next__()`: the order
#' is drawn at the start of each pass; the last batch of a pass may be short
#' @noRd
new_image_iterator <- function(n, common, generator, get_batch, fields, kind) {
  if (!is.null(common$subset) && generator$validation_split == 0) {
    rk_abort("`subset` needs a generator with a `validation_split`.", "value", rlang::caller_env())
  }
  batch_size <- common$batch_size
  seed <- common$seed
  state <- list2env(c(list(n = n, batch_size = batch_size, shuffle = common$shuffle, seed = seed, batch_index = 0L,
                           total_batches_seen = 0L, index_array = NULL, image_data_generator = generator), fields))
  set_index <- function() state$index_array <- if (common$shuffle) sample.int(n) else seq_len(n)
  state$reset <- function() invisible(state$batch_index <- 0L)
  state$on_epoch_end <- function() invisible(set_index())
  next_batch <- function() {
    if (n == 0) rk_abort(sprintf("The %s iterator has no images to give.", kind), "value")
    if (!is.null(seed)) local_seed(seed + state$total_batches_seen)
    if (state$batch_index == 0L) set_index()
    current <- (state$batch_index * batch_size) %% n
    state$batch_index <- if (n > current + batch_size) state$batch_index + 1L else 0L
    state$total_batches_seen <- state$total_batches_seen + 1L
    get_batch(state$index_array[seq.int(current + 1, min(current + batch_size, n))])
  }
  structure(next_batch, class = c("rkeras_image_iterator", "function"), steps = as.integer(ceiling(n / batch_size)),
            kind = kind)
}

#' @export
`$.rkeras_image_iterator` <- function(x, name) {
  state <- environment(x)$state
  if (!exists(name, envir = state, inherits = FALSE)) {
    rk_abort(sprintf("An image iterator has no field `%s`; it has %s.", name,
                     paste(sort(ls(state)), collapse = ", ")), "value")
  }
  get(name, envir = state, inherits = FALSE)
}

#' @export
print.rkeras_image_iterator <- function(x, ...) {
  s <- environment(x)$state
  cat(sprintf("<image iterator over %s: %d images%s, batches of %d>\n", attr(x, "kind"), s$n,
              if (length(s$class_indices)) sprintf(", %d classes", length(s$class_indices)) else "", s$batch_size))
  invisible(x)
}

#' Retrieve the next item from a generator
#'
#' Calls a generator once: an image iterator's next batch (`list(x, y)`, or the images alone
#' when it has no labels), or what an R generator function returns.
#' @param generator An iterator from [flow_images_from_data()],
#'   [flow_images_from_directory()] or [flow_images_from_dataframe()], or a generator function.
#' @param completed Returned when the generator returns `NULL` (it is done).
#' @returns The next batch.
#' @family image preprocessing
#' @export
#' @examples
#' flow <- flow_images_from_data(array(runif(4 * 8 * 8 * 3), c(4, 8, 8, 3)), batch_size = 2)
#' dim(generator_next(flow))
generator_next <- function(generator, completed = NULL) {
  check_generator(generator, "generator")
  out <- generator()
  if (is.null(out)) return(completed)
  if (inherits(generator, "rkeras_image_iterator") && length(out) == 1L) out[[1]] else out
}

#' A channels-last batch in `data_format`
#' @noRd
to_data_format <- function(x, data_format) {
  if (data_format == "channels_first") aperm(x, c(1L, 4L, 2L, 3L)) else x
}

#' Write each image of a batch to `save_to_dir` as Keras does: `<prefix>_<index>_<random>.<format>`
#' @noRd
save_batch <- function(x, idx, common, draws) {
  if (is.null(common$save_to_dir)) return(invisible())
  for (i in seq_along(idx)) {
    name <- sprintf("%s_%d_%d.%s", common$save_prefix, idx[[i]] - 1L, sample.int(draws, 1) - 1L, common$save_format)
    image_array_save(array(x[i, , , ], dim(x)[-1]), file.path(common$save_to_dir, name), scale = TRUE)
  }
}
