# The live view of training metrics: an HTML page in a fresh directory under tempdir(), with
# the chart library shipped in inst/view/. R rewrites the page's data.js at each epoch's end;
# the page (inst/view/view.js) reloads that file alone and redraws.

#' View the metrics of a training run
#'
#' `fit()` and [fit_generator()] can show a live chart of the loss and metrics that grows as
#' each epoch ends, one chart per metric with its validation values (`val_*`) on the same
#' chart, x = epoch, as Keras for R does in RStudio. Their `view_metrics` argument decides:
#' `TRUE` shows it, `FALSE` does not, and `"auto"` (the default, from option
#' `keras.view_metrics`) shows it when R runs interactively inside RStudio, training is
#' verbose and runs more than one epoch, or whenever option `rkeras.view_metrics` is `TRUE`.
#'
#' The view is an HTML page written to a new directory in the session's temporary directory,
#' with its chart library (uPlot, shipped with rkeras; nothing is downloaded). It refreshes
#' itself after every epoch without reloading; when training ends it stays as a static
#' record. It opens in RStudio's viewer when the rstudioapi package is installed and RStudio
#' is running, else in the browser set by `options(browser = )` (a function there is called
#' with the page's URL). A view that cannot be opened (no browser, no display) never stops
#' training: `fit()` warns once and goes on writing the page.
#'
#' `view_metrics()` opens the page of a training history again. When that page is gone (for
#' example in a new R session), it writes a new static page from the history's metrics.
#' @param history A `keras_training_history` from `fit()` or `fit_generator()`.
#' @returns The path of the page's HTML file, invisibly.
#' @family model functions
#' @export
#' @examples
#' h <- structure(list(params = list(verbose = 1L, epochs = 3L, steps = 5L),
#'   metrics = list(loss = c(0.9, 0.6, 0.5), val_loss = c(1, 0.8, 0.7))),
#'   class = "keras_training_history")
#' # Record the page's address instead of opening a browser.
#' op <- options(browser = function(url) message("page at ", url))
#' view_metrics(h)
#' options(op)
view_metrics <- function(history) {
  if (!inherits(history, "keras_training_history")) {
    rk_abort(sprintf("`history` must be a training history (from fit()), not %s.", show_value(history)), "type")
  }
  metrics <- history$metrics
  if (!is.list(metrics) || (length(metrics) && (is.null(names(metrics)) || !all(vapply(metrics, is.numeric, TRUE))))) {
    rk_abort("`history$metrics` must be a named list of numeric vectors, as fit() returns.", "value")
  }
  rec <- attr(history, "rkeras_view")
  path <- if (is.list(rec)) rec$path
  if (!is.character(path) || length(path) != 1 || is.na(path) || !file.exists(path)) {
    n <- max(0L, lengths(metrics))
    first <- if (is.list(rec) && is.numeric(rec$first_epoch)) as.integer(rec$first_epoch)[[1]] else 1L
    model <- if (is.list(rec) && is.character(rec$model)) rec$model[[1]] else ""
    epochs <- suppressWarnings(as.integer(history$params$epochs)[1])
    if (length(epochs) != 1 || is.na(epochs)) epochs <- first + n - 1L
    view <- new_view(model, first, max(epochs, first + n - 1L))
    view_write(view, metrics, status = "finished")
    if (!is.null(view$error)) rk_abort(paste0("The metrics page could not be written: ", view$error), "io")
    path <- view$path
  }
  problem <- tryCatch({ show_page(path); NULL }, error = conditionMessage)
  if (!is.null(problem)) {
    rlang::warn(sprintf("The metrics page %s could not be opened: %s", path, problem), class = "rkeras_warning_view")
  }
  invisible(path)
}

#' `view_metrics` of fit() and fit_generator() as TRUE or FALSE
#' @noRd
resolve_view_metrics <- function(view_metrics, verbose, epochs, call = rlang::caller_env()) {
  if (identical(view_metrics, "auto")) {
    return(isTRUE(getOption("rkeras.view_metrics")) ||
             (interactive() && identical(Sys.getenv("RSTUDIO"), "1") && verbose > 0 && epochs > 1))
  }
  if (is.logical(view_metrics) && length(view_metrics) == 1 && !is.na(view_metrics)) return(view_metrics)
  rk_abort(sprintf("`view_metrics` must be TRUE, FALSE or \"auto\", not %s.", show_value(view_metrics)), "value", call)
}

#' A page in a fresh directory, its files copied from inst/view/; errors are kept in
#' `view$error` (the view is then dead), never raised
#' @noRd
new_view <- function(model_name, first_epoch, epochs) {
  view <- new.env(parent = emptyenv())
  view$dir <- tempfile("rkeras-metrics-")
  view$path <- file.path(view$dir, "index.html")
  view$model <- model_name
  view$first_epoch <- as.integer(first_epoch)
  view$epochs <- as.integer(epochs)
  view$n <- 0L
  view$done <- FALSE
  view$error <- NULL
  view$warned <- FALSE
  view_guard(view, {
    files <- c("index.html", "view.js", "view.css", "uPlot.iife.min.js", "uPlot.min.css", "uPlot-LICENSE")
    src <- system.file("view", files, package = "rkeras")
    if (length(src) != length(files) || !all(nzchar(src))) stop("rkeras's page files (inst/view) are missing from its installation")
    if (!dir.create(view$dir)) stop(sprintf("cannot create directory %s", view$dir))
    if (!all(file.copy(src, view$dir))) stop(sprintf("cannot copy the page's files to %s", view$dir))
  })
  view
}

#' Run `expr` for a view; the first error kills the view and is kept in `view$error`
#' @noRd
view_guard <- function(view, expr) {
  if (!is.null(view$error)) return(invisible(FALSE))
  # Connections warn before they fail ("cannot open file"): the error says it all.
  ok <- tryCatch(suppressWarnings({ expr; TRUE }), error = function(e) { view$error <- conditionMessage(e); FALSE })
  invisible(ok)
}

#' Write the page's data: every metric so far, and whether training is over. A new file
#' renamed over the old one, so the page never reads half a file.
#' @noRd
view_write <- function(view, metrics, status = "training") {
  view_guard(view, {
    view$n <- view$n + 1L
    k <- max(0L, lengths(metrics))
    epoch <- view$first_epoch + seq_len(k) - 1L
    vals <- vapply(metrics, function(v) {
      v <- c(as.numeric(v), rep(NA_real_, k - length(v)))
      paste0("[", paste(ifelse(is.finite(v), sprintf("%.9g", v), "null"), collapse = ", "), "]")
    }, "")
    done <- status != "training"
    data <- paste0(
      "window.rkerasMetrics = {",
      "\"n\": ", view$n, ", ",
      "\"status\": ", json_string(status), ", ",
      "\"done\": ", if (done) "true" else "false", ", ",
      "\"model\": ", json_string(view$model), ", ",
      "\"first_epoch\": ", view$first_epoch, ", ",
      "\"epochs\": ", max(view$epochs, view$first_epoch + k - 1L), ", ",
      "\"epoch\": [", paste(epoch, collapse = ", "), "], ",
      "\"metrics\": {", if (length(metrics)) paste0(json_string(names(metrics)), ": ", vals, collapse = ", "), "}",
      "};")
    tmp <- file.path(view$dir, sprintf("data-%d.js.tmp", view$n))
    writeLines(data, tmp, useBytes = TRUE)
    target <- file.path(view$dir, "data.js")
    if (!file.rename(tmp, target)) {
      unlink(tmp)
      stop(sprintf("cannot replace %s", target))
    }
    view$done <- done
  })
}

#' Start the view of a training run: write the page (no epochs yet) and open it. Problems
#' give one warning; training goes on.
#' @noRd
start_view <- function(model, first_epoch, epochs) {
  view <- new_view(model$name, first_epoch, epochs)
  view_write(view, list())
  if (!is.null(view$error)) {
    view_warn(view, "could not be written", view$error)
    return(view)
  }
  problem <- tryCatch({ show_page(view$path); NULL }, error = conditionMessage)
  if (!is.null(problem)) view_warn(view, "could not be opened", problem)
  view
}

#' Update the view after an epoch, or mark training over (`status` "finished" or "stopped")
#' @noRd
update_view <- function(view, metrics, status = "training") {
  if (is.null(view) || view$done) return(invisible())
  view_write(view, metrics, status)
  if (!is.null(view$error)) view_warn(view, "could not be updated", view$error)
  invisible()
}

#' At most one warning per training run
#' @noRd
view_warn <- function(view, what, problem) {
  if (view$warned) return(invisible())
  view$warned <- TRUE
  rlang::warn(sprintf("The live metrics view %s (%s); training goes on without it.", what, problem),
              class = "rkeras_warning_view")
}

#' Open a local page: RStudio's viewer when available, else the browser. Raises an error
#' (that callers turn into a warning) rather than start a browser that cannot show anything.
#' @noRd
show_page <- function(path) {
  if (requireNamespace("rstudioapi", quietly = TRUE) && rstudioapi::isAvailable()) {
    rstudioapi::viewer(path)
    return(invisible())
  }
  url <- file_url(path)
  browser <- getOption("browser")
  if (is.function(browser)) {
    browser(url)
    return(invisible())
  }
  if (.Platform$OS.type == "windows") {
    utils::browseURL(url)
    return(invisible())
  }
  if (!is.character(browser) || length(browser) != 1 || is.na(browser) || !nzchar(browser)) {
    stop("no web browser is set (options(browser = ))", call. = FALSE)
  }
  # Linux's xdg-open without a display falls back to terminal browsers, which would take
  # over the R session's terminal.
  if (Sys.info()[["sysname"]] != "Darwin" && !nzchar(Sys.getenv("DISPLAY")) && !nzchar(Sys.getenv("WAYLAND_DISPLAY"))) {
    stop("there is no display to show it on", call. = FALSE)
  }
  cmd <- strsplit(trimws(browser), "\\s+")[[1]][[1]]
  if (!nzchar(Sys.which(cmd))) stop(sprintf("the browser '%s' was not found", browser), call. = FALSE)
  utils::browseURL(url, browser = browser)
  invisible()
}

file_url <- function(path) {
  p <- normalizePath(path, winslash = "/", mustWork = TRUE)
  paste0("file://", if (!startsWith(p, "/")) "/", utils::URLencode(p))
}
