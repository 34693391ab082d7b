new_history <- function(params, metrics) {
  structure(list(params = params, metrics = metrics), class = "keras_training_history")
}

#' Training history
#'
#' `fit()` returns a `keras_training_history`: `params` (`verbose`, `epochs`, `steps`)
#' and `metrics` (one numeric vector per metric, one value per epoch run).
#' @param x A history.
#' @param y Unused.
#' @param metrics Metrics to plot (default: all, without `val_`).
#' @param method `"auto"` (ggplot2 when installed), `"ggplot2"` or `"base"`.
#' @param smooth Add a loess smooth when there are 10 or more epochs.
#' @param theme_bw Use ggplot2's black-and-white theme.
#' @param row.names,optional Unused.
#' @param ... Unused.
#' @returns `print()`: `x` invisibly; `plot()`: a ggplot or `NULL` invisibly (base);
#'   `as.data.frame()`: a long data frame with columns `epoch`, `value`, `metric`, `data`.
#' @family model functions
#' @name history
#' @examples
#' h <- structure(list(params = list(verbose = 1L, epochs = 2L, steps = 5L),
#'   metrics = list(loss = c(0.7, 0.5), val_loss = c(0.8, 0.6))), class = "keras_training_history")
#' h
#' as.data.frame(h)
NULL

#' @rdname history
#' @export
print.keras_training_history <- function(x, ...) {
  m <- x$metrics
  n <- length(m[[1]] %||% numeric())
  cat("\nFinal epoch (plot to see history):\n")
  if (n > 0) {
    vals <- vapply(m, function(v) prettyNum(v[[n]], digits = 4, big.mark = ","), "")
    w <- max(nchar(names(m)))
    cat(paste0(formatC(names(m), width = w), ": ", vals), sep = "\n")
  }
  invisible(x)
}

#' @rdname history
#' @export
as.data.frame.keras_training_history <- function(x, row.names = NULL, optional = FALSE, ...) {
  epochs <- x$params$epochs
  m <- x$metrics
  nm <- names(m)
  base <- unique(sub("^val_", "", nm))
  rows <- lapply(nm, function(k) {
    v <- m[[k]]
    v <- c(v, rep(NA_real_, max(0, epochs - length(v))))[seq_len(epochs)]
    data.frame(epoch = seq_len(epochs), value = v, metric = sub("^val_", "", k),
               data = if (startsWith(k, "val_")) "validation" else "training", stringsAsFactors = FALSE)
  })
  df <- do.call(rbind, rows)
  df$metric <- factor(df$metric, levels = base)
  df$data <- factor(df$data, levels = c("training", "validation"))
  df
}

#' @rdname history
#' @export
plot.keras_training_history <- function(x, y, metrics = NULL, method = c("auto", "ggplot2", "base"),
                                        smooth = getOption("keras.plot.history.smooth", TRUE),
                                        theme_bw = getOption("keras.plot.history.theme_bw", FALSE), ...) {
  method <- match.arg(method)
  if (method == "auto") method <- if (requireNamespace("ggplot2", quietly = TRUE)) "ggplot2" else "base"
  df <- as.data.frame(x)
  if (is.null(metrics)) metrics <- levels(df$metric)
  df <- df[df$metric %in% metrics, , drop = FALSE]
  if (method == "ggplot2") {
    p <- ggplot2::ggplot(df[!is.na(df$value), ], ggplot2::aes(x = .data$epoch, y = .data$value,
                                                              colour = .data$data, fill = .data$data)) +
      ggplot2::geom_point(shape = 21) +
      ggplot2::facet_grid(metric ~ ., switch = "y", scales = "free_y") +
      ggplot2::theme(axis.title.y = ggplot2::element_blank(), strip.placement = "outside")
    if (smooth && x$params$epochs >= 10) p <- p + ggplot2::geom_smooth(method = "loess", formula = y ~ x, se = FALSE)
    if (theme_bw) p <- p + ggplot2::theme_bw()
    return(p)
  }
  op <- graphics::par(mfrow = c(length(metrics), 1), mar = c(3, 4, 1, 1))
  on.exit(graphics::par(op))
  for (m in metrics) {
    d <- df[df$metric == m, ]
    tr <- d[d$data == "training", ]
    va <- d[d$data == "validation", ]
    graphics::plot(tr$epoch, tr$value, pch = 1, ylim = range(d$value, na.rm = TRUE), xlab = "epoch", ylab = m)
    if (nrow(va) && any(!is.na(va$value))) graphics::points(va$epoch, va$value, pch = 4)
    graphics::legend("topright", legend = c("training", "validation"), pch = c(1, 4), bty = "n")
  }
  invisible(NULL)
}
