#' Print a summary of a model
#'
#' Keras's table: layer name and class, output shape and parameter count, then totals.
#' @param object,x A model.
#' @param line_length Total width; default `getOption("width")`.
#' @param ... Nothing else: Keras's `positions`, `expand_nested`, `show_trainable` and
#'   `layer_range` are not supported, and any argument here is an error.
#' @returns `summary()`: the lines, invisibly; `print()`: the model, invisibly.
#' @family model functions
#' @export
#' @examples
#' model <- keras_model_sequential() %>%
#'   layer_dense(units = 4, activation = "relu", input_shape = 3) %>%
#'   layer_dense(units = 1)
#' summary(model)
summary.rkeras_model <- function(object, line_length = getOption("width"), ...) {
  check_no_dots(..., fn = "summary()")
  lines <- format(object, line_length = line_length)
  cat(lines, sep = "\n")
  invisible(lines)
}

#' @rdname summary.rkeras_model
#' @export
format.rkeras_model <- function(x, line_length = getOption("width"), ...) {
  if (rk_ptr_dead(x$ptr)) return("<rkeras model restored from disk: its engine state no longer exists>")
  if (!has_graph(x)) return("Model: <no summary available, model was not built>")
  info <- graph_summary_info(x)
  if (!info$built) return("Model: <no summary available, model was not built>")
  width <- max(40L, as.integer(line_length %||% 80L))
  functional <- inherits(x, "rkeras_functional")
  edges <- as.integer(floor(width * if (functional) c(0.33, 0.55, 0.67, 1) else c(0.45, 0.85, 1)))
  # One row of cells; a value wider than its column wraps at spaces onto more lines, as
  # Keras prints a layer's several output shapes.
  cell <- function(values) {
    widths <- diff(c(0L, edges[seq_along(values)]))
    parts <- Map(function(v, w) {
      lead <- if (startsWith(v, " ")) " " else ""
      lines <- if (nchar(v) > w - 1L) strwrap(v, width = w - 1L, initial = lead, prefix = lead) else v
      lines <- if (length(lines)) lines else ""
      ifelse(nchar(lines) > w - 1L, substr(lines, 1L, w - 1L), lines)
    }, values, widths)
    n <- max(lengths(parts))
    vapply(seq_len(n), function(k) {
      out <- vapply(seq_along(parts), function(i) formatC(if (k <= length(parts[[i]])) parts[[i]][[k]] else "", width = -widths[[i]]), "")
      sub("\\s+$", "", paste0(out, collapse = ""))
    }, "")
  }
  rows <- unlist(lapply(seq_along(info$name), function(i) {
    cell(c(paste0(" ", info$name[[i]], " (", info$class[[i]], ")"),
           info$shape[[i]],
           format(info$params[[i]], scientific = FALSE),
           if (functional) info$inbound[[i]]))
  }))
  if (!is.null(x$text_vectorization)) {
    # The text vectorization or string lookup layer runs in R before the engine's layers.
    layer <- x$text_vectorization
    width_out <- r_layer_width(layer)
    rows <- c(cell(c(paste0(" ", attr(layer, "state")$name, " (", r_layer_class(layer), ")"),
                     paste0("(None, ", if (is.na(width_out)) "None" else width_out, ")"), "0")), rows)
  }
  total <- sum(info$params)
  frozen <- sum(info$params - info$trainable_params)
  big <- function(n) format(n, big.mark = ",", scientific = FALSE)
  c(sprintf("Model: \"%s\"", x$name),
    strrep("_", width),
    cell(c(" Layer (type)", "Output Shape", "Param #", if (functional) "Connected to")),
    strrep("=", width),
    rows,
    strrep("=", width),
    paste0("Total params: ", big(total)),
    paste0("Trainable params: ", big(total - frozen)),
    paste0("Non-trainable params: ", big(frozen)),
    strrep("_", width))
}

#' @rdname summary.rkeras_model
#' @export
print.rkeras_model <- function(x, ...) {
  cat(format(x, ...), sep = "\n")
  invisible(x)
}

#' The layer table of a model; a Sequential model's input layer is
#' not listed, as Keras does not list it
#' @noRd
graph_summary_info <- function(model) {
  info <- graph_info(model)
  keep <- if (inherits(model, "rkeras_functional")) rep(TRUE, length(info$name)) else info$class != "InputLayer"
  out <- lapply(info[c("name", "class", "shape", "params", "trainable_params", "trainable", "inbound")], function(v) v[keep])
  out$built <- info$built
  out
}
