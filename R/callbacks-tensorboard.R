#' TensorBoard logging
#'
#' Writes TensorBoard event files: `log_dir/train/` and `log_dir/validation/` runs with
#' Keras's scalar tags (`epoch_loss`, `epoch_accuracy`, `epoch_learning_rate`, and
#' `batch_*` when `update_freq` is `"batch"` or a number of batches), the model's Keras
#' config for the Graphs tab, and weight histograms every `histogram_freq` epochs. Files
#' are flushed as each epoch ends, so a running TensorBoard shows live progress.
#' @param log_dir Folder for the runs (default `"logs"`); created if needed.
#' @param histogram_freq Write weight histograms every this many epochs (0: never).
#' @param batch_size,write_grads,embeddings_freq,embeddings_layer_names,embeddings_metadata,embeddings_data,profile_batch Accepted for compatibility.
#' @param write_graph Write the model config so TensorBoard can show the model.
#' @param write_images Not supported (must be `FALSE`).
#' @param update_freq `"epoch"`, `"batch"` or a number of batches.
#' @returns A callback.
#' @family callbacks
#' @export
#' @examples
#' x <- matrix(rnorm(200), 100)
#' y <- x %*% c(1, -1) + rnorm(100, sd = 0.1)
#' model <- keras_model_sequential() %>% layer_dense(1, input_shape = 2)
#' model %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
#' log_dir <- tempfile("logs")
#' model %>% fit(x, y, epochs = 3, validation_split = 0.2, verbose = 0,
#'               callbacks = list(callback_tensorboard(log_dir)))
#' list.files(log_dir, recursive = TRUE)   # train/ and validation/ runs
#' # tensorboard(log_dir) shows them, when Python's TensorBoard is installed
callback_tensorboard <- function(log_dir = NULL, histogram_freq = 0, batch_size = NULL, write_graph = TRUE,
                                 write_grads = FALSE, write_images = FALSE, embeddings_freq = 0,
                                 embeddings_layer_names = NULL, embeddings_metadata = NULL,
                                 embeddings_data = NULL, update_freq = "epoch", profile_batch = 0) {
  if (isTRUE(write_images)) rk_abort("`write_images = TRUE` is not supported by rkeras.", "unsupported")
  freq <- if (identical(update_freq, "epoch")) 0L else if (identical(update_freq, "batch")) 1L
          else check_count(update_freq, "update_freq")
  TensorBoard$new(log_dir = check_string(log_dir %||% "logs", "log_dir"),
                  histogram_freq = check_count(histogram_freq, "histogram_freq", min = 0),
                  write_graph = check_flag(write_graph, "write_graph"), batch_freq = freq)
}

TensorBoard <- R6::R6Class("TensorBoard", inherit = KerasCallback,
  public = list(
    log_dir = NULL, histogram_freq = 0, write_graph = TRUE, batch_freq = 0L,
    train = NULL, validation = NULL, step = 0,
    initialize = function(log_dir, histogram_freq, write_graph, batch_freq) {
      self$log_dir <- log_dir; self$histogram_freq <- histogram_freq
      self$write_graph <- write_graph; self$batch_freq <- batch_freq
    },
    listens = function(hooks) self$batch_freq > 0 && any(hooks %in% c("on_train_batch_end", "on_batch_end")),
    writer = function(run) {
      if (is.null(self[[run]])) {
        dir <- file.path(self$log_dir, run)
        self[[run]] <- rk_call(rk_tb_open(dir, Sys.info()[["nodename"]]))
      }
      self[[run]]
    },
    on_train_begin = function(logs = NULL) {
      ensure_writable(file.path(self$log_dir, "train", "x"), "log_dir", shown = self$log_dir)
      self$close()
      self$step <- rk_call(rk_model_get(self$model$ptr, "iterations"))
      w <- self$writer("train")
      if (self$write_graph) rk_call(rk_tb_keras_model(w, model_to_json(self$model)))
    },
    on_train_batch_end = function(batch, logs = NULL) {
      self$step <- self$step + 1
      if (self$batch_freq > 0 && self$step %% self$batch_freq == 0) {
        rk_call(rk_tb_scalars(self$writer("train"), paste0("batch_", names(logs)), self$step, as.numeric(unlist(logs))))
      }
    },
    on_epoch_end = function(epoch, logs = NULL) {
      keys <- names(logs)
      train_keys <- keys[!startsWith(keys, "val_") & keys != "lr"]
      vals <- as.numeric(unlist(logs[train_keys]))
      tags <- paste0("epoch_", train_keys)
      lr <- tryCatch(current_lr(self$model), error = function(e) NA)
      if (!is.na(lr)) { tags <- c(tags, "epoch_learning_rate"); vals <- c(vals, lr) }
      rk_call(rk_tb_scalars(self$writer("train"), tags, epoch, vals))
      val_keys <- keys[startsWith(keys, "val_")]
      if (length(val_keys)) {
        base <- sub("^val_", "", val_keys)
        iters <- rk_call(rk_model_get(self$model$ptr, "iterations"))
        v <- as.numeric(unlist(logs[val_keys]))
        w <- self$writer("validation")
        rk_call(rk_tb_scalars(w, paste0("epoch_", base), epoch, v))
        rk_call(rk_tb_scalars(w, paste0("evaluation_", base, "_vs_iterations"), iters, v))
      }
      if (self$histogram_freq > 0 && epoch %% self$histogram_freq == 0) self$histograms(epoch)
    },
    histograms = function(epoch) {
      w <- self$writer("train")
      weights <- get_weights(self$model)
      names <- weight_names(self$model)
      for (k in seq_along(weights)) {
        rk_call(rk_tb_histogram(w, paste0(names[[k]], "_0"), epoch, as.numeric(weights[[k]])))
      }
    },
    close = function() {
      for (run in c("train", "validation")) {
        if (!is.null(self[[run]])) rk_call(rk_tb_close(self[[run]]))
        self[[run]] <- NULL
      }
    },
    on_train_end = function(logs = NULL) self$close()
  )
)

#' Read the scalars of a TensorBoard event file
#'
#' Checks the file's framing and checksums: a truncated or corrupted file is an error.
#' @param path An `events.out.tfevents.*` file.
#' @returns A data frame with columns `tag`, `step`, `value`.
#' @family callbacks
#' @export
#' @examples
#' x <- matrix(rnorm(200), 100)
#' y <- x %*% c(1, -1) + rnorm(100, sd = 0.1)
#' model <- keras_model_sequential() %>% layer_dense(1, input_shape = 2)
#' model %>% compile(optimizer = optimizer_sgd(0.1), loss = "mse")
#' log_dir <- tempfile("logs")
#' model %>% fit(x, y, epochs = 3, verbose = 0, callbacks = list(callback_tensorboard(log_dir)))
#' events <- list.files(file.path(log_dir, "train"), pattern = "tfevents", full.names = TRUE)
#' read_tensorboard_scalars(events)
read_tensorboard_scalars <- function(path) {
  path <- check_string(path, "path")
  if (!file.exists(path)) rk_abort(sprintf("`path` does not exist: '%s'.", path), "io")
  r <- rk_call(rk_tb_read_scalars(normalizePath(path)))
  data.frame(tag = r$tag, step = r$step, value = r$value, stringsAsFactors = FALSE)
}

#' Run TensorBoard
#'
#' Starts the `tensorboard` program (from Python's `tensorboard` package) on `log_dir`,
#' as Keras for R does. TensorBoard is a separate viewer; rkeras itself needs no Python.
#' @param log_dir Folder(s) of runs.
#' @param action `"start"` or `"stop"`.
#' @param host,port Where TensorBoard serves.
#' @param launch_browser Open a browser.
#' @param reload_interval,purge_orphaned_data Passed to TensorBoard.
#' @returns The process (invisibly) for `"start"`.
#' @family callbacks
#' @export
#' @examples
#' # Not run: needs Python's `tensorboard` program and starts a server in the background.
#' \dontrun{
#' tensorboard("logs")   # serve the runs under ./logs and open the browser
#' }
tensorboard <- function(log_dir, action = c("start", "stop"), host = "127.0.0.1", port = "auto",
                        launch_browser = getOption("tensorboard.launch_browser", interactive()),
                        reload_interval = 5, purge_orphaned_data = TRUE) {
  action <- match.arg(action)
  exe <- Sys.which("tensorboard")
  if (!nzchar(exe)) {
    rk_abort(paste0("The `tensorboard` program was not found on the PATH. Install it with ",
                    "`pip install tensorboard` (for example in a Python virtual environment) and make ",
                    "sure `tensorboard` is on the PATH; rkeras writes the event files it reads."), "io")
  }
  if (action == "stop") {
    if (!is.null(rk_names$tensorboard_pid)) tools::pskill(rk_names$tensorboard_pid)
    rk_names$tensorboard_pid <- NULL
    return(invisible(NULL))
  }
  if (identical(port, "auto")) port <- 6006L
  logdir <- if (length(log_dir) > 1) paste0(names(log_dir) %||% basename(log_dir), ":", log_dir, collapse = ",") else log_dir
  args <- c(if (length(log_dir) > 1) "--logdir_spec" else "--logdir", shQuote(logdir), "--host", host,
            "--port", port, "--reload_interval", reload_interval)
  system2(exe, args, wait = FALSE, stdout = FALSE, stderr = FALSE)
  url <- sprintf("http://%s:%s", host, port)
  message("Started TensorBoard at ", url)
  if (isTRUE(launch_browser)) utils::browseURL(url)
  invisible(url)
}
