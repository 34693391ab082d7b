#' Plot a model's layer graph
#'
#' Draws the graph of a model's layers as Keras's `plot_model()` does: one box per layer
#' with its name and class (optionally its activation, dtype, and input and output
#' shapes), arrows from each layer to the layers it feeds. It works for Sequential and
#' functional models (several inputs and outputs, shared layers). The picture is made by
#' Graphviz's `dot` program, which must be installed (Debian/Ubuntu:
#' `apt-get install graphviz`; macOS: `brew install graphviz`; Windows: the installer from
#' graphviz.org, with `dot` on the `PATH`); no R package is needed for the file.
#'
#' With `to_file`, the picture is written there (atomically: a failed call leaves what was
#' there). Without it, the picture is drawn on the current graphics device when the png
#' package is installed (as Keras for R does); otherwise it is written as SVG to a page in
#' the session's temporary directory and shown in RStudio's viewer or the browser.
#'
#' A model used as a layer is one box; with `expand_nested = TRUE`, its layers are drawn
#' in its place.
#' Every layer's dtype is `float32`, rkeras's compute type.
#' @param x A model.
#' @param show_shapes Show each layer's input and output shapes (`None` is the batch).
#' @param show_dtype Show each layer's dtype.
#' @param show_layer_names Show each layer's name.
#' @param ... Nothing else; any other argument is an error.
#' @param rankdir Direction of the graph: `"TB"` (top to bottom), `"LR"` (left to right),
#'   `"BT"` or `"RL"`.
#' @param expand_nested Draw the layers of models used as layers instead of one box each.
#' @param dpi Resolution in dots per inch.
#' @param layer_range `NULL` (all layers) or two strings: regular expressions matching the
#'   start of the names of the first and the last layer to draw (in the order of
#'   `model$layers`, input layers first).
#' @param show_layer_activations Show the activation of layers that have one.
#' @param to_file `NULL` (draw it), or the file to write. The format comes from the
#'   extension: `png` (also for no extension), `pdf`, `svg`, `jpg`/`jpeg`, `gif`, `ps`, or
#'   `dot` (Graphviz's own text, with the layout).
#' @returns `to_file`, invisibly; `NULL` when drawn on the device, or the page's path
#'   when shown in the viewer.
#' @family model functions
#' @export
#' @examples
#' a <- layer_input(shape = 3, name = "a")
#' b <- layer_input(shape = 4, name = "b")
#' out <- layer_concatenate(list(a, b)) %>% layer_dense(2, activation = "softmax")
#' model <- keras_model(list(a, b), out)
#' \donttest{
#' if (nzchar(Sys.which("dot"))) {
#'   f <- tempfile(fileext = ".png")
#'   plot(model, show_shapes = TRUE, to_file = f)
#'   file.size(f)
#' }
#' }
plot.rkeras_model <- function(x, show_shapes = FALSE, show_dtype = FALSE, show_layer_names = TRUE, ...,
                              rankdir = "TB", expand_nested = FALSE, dpi = 96, layer_range = NULL,
                              show_layer_activations = FALSE, to_file = NULL) {
  check_model(x, "x")
  check_no_dots(..., fn = "plot()")
  check_flag(expand_nested, "expand_nested")
  dot_text <- model_dot(x, show_shapes = show_shapes, show_dtype = show_dtype, show_layer_names = show_layer_names,
                        rankdir = rankdir, dpi = dpi, layer_range = layer_range,
                        show_layer_activations = show_layer_activations, expand_nested = expand_nested)
  if (!is.null(to_file)) {
    to_file <- check_string(to_file, "to_file")
    format <- plot_format(to_file)
    dir <- dirname(to_file)
    if (!dir.exists(dir)) {
      rk_abort(sprintf("`to_file` is in a directory that does not exist: '%s'.", dir), "io")
    }
    render_dot(dot_text, to_file, format)
    return(invisible(to_file))
  }
  dot <- find_dot()
  if (requireNamespace("png", quietly = TRUE)) {
    f <- tempfile("rkeras-model-", fileext = ".png")
    on.exit(unlink(f), add = TRUE)
    render_dot(dot_text, f, "png", dot)
    draw_png(f)
    return(invisible(NULL))
  }
  invisible(show_model_page(dot_text, dot))
}

#' The model's graph in Graphviz's DOT language, as Keras's `model_to_dot()` builds it:
#' record-shaped nodes whose label is a table of name, class, activation, dtype and shapes
#' @noRd
model_dot <- function(model, show_shapes = FALSE, show_dtype = FALSE, show_layer_names = TRUE, rankdir = "TB",
                      dpi = 96, layer_range = NULL, show_layer_activations = FALSE, expand_nested = FALSE,
                      call = rlang::caller_env()) {
  check_flag(show_shapes, "show_shapes", call = call)
  check_flag(show_dtype, "show_dtype", call = call)
  check_flag(show_layer_names, "show_layer_names", call = call)
  check_flag(show_layer_activations, "show_layer_activations", call = call)
  rankdir <- check_string(rankdir, "rankdir", choices = c("TB", "LR", "BT", "RL"), call = call)
  dpi <- check_number(dpi, "dpi", min = 1, max = 2400, call = call)
  g <- plot_graph(model, expand_nested)
  keep <- layer_range_rows(g$name, layer_range, call)
  esc <- function(s) gsub("([{}|<>\"\\\\])", "\\\\\\1", s)
  labels <- vapply(keep, function(i) {
    label <- esc(g$class[[i]])
    act <- g$activation[[i]]
    if (show_layer_activations && !is.na(act)) label <- sprintf("{%s|%s}", label, esc(act))
    if (show_layer_names) label <- paste0(esc(g$name[[i]]), "|", label)
    if (show_dtype) label <- paste0(label, "|float32")
    if (show_shapes) {
      label <- sprintf("{%s}|{input:|output:}|{{%s}|{%s}}", label, esc(g$input_shape[[i]]), esc(g$shape[[i]]))
    }
    label
  }, "")
  nodes <- sprintf("  layer%d [label=\"%s\"];", keep, labels)
  e <- g$edges[g$edges[, 1] %in% keep & g$edges[, 2] %in% keep, , drop = FALSE]
  e <- unique(e)
  edges <- if (nrow(e)) sprintf("  layer%d -> layer%d;", e[, 1], e[, 2]) else character()
  paste(c("digraph G {",
          sprintf("  graph [rankdir=%s, concentrate=true, dpi=%s];", rankdir, format(dpi)),
          "  node [shape=record];",
          nodes, edges, "}"), collapse = "\n")
}

#' A model's layers for drawing: names, classes, activations (`NA` for none), output and
#' input shapes as Keras prints them, and the edges between layers (a two-column matrix of
#' row indices). Input layers come first, as in `model$layers`.
#' @noRd
plot_graph <- function(model, expand_nested = FALSE) {
  if (has_graph(model) || inherits(model, "rkeras_functional")) {
    gr <- model$graph
    info <- graph_info(model)
    states <- gr$states
    name <- vapply(states, function(s) s$spec$name, "")
    node_layer <- vapply(gr$nodes, function(n) as.integer(n$layer), 1L)
    node_shape <- vapply(info$node_shapes, function(d) if (is.null(d)) "?" else shape_text(d), "")
    row <- match(name, info$name)
    first <- match(seq_along(states), node_layer)
    class <- ifelse(is.na(row), vapply(states, function(s) s$spec$class_name %||% "Layer", ""), info$class[row])
    shape <- ifelse(is.na(row), ifelse(is.na(first), "?", node_shape[first]), info$shape[row])
    activation <- vapply(states, function(s) layer_activation_name(s$spec$config), "")
    # Edges between layer calls; a part node (one of a call's several outputs) is an edge
    # from its layer that carries that output's shape.
    calls <- which(vapply(gr$nodes, function(n) is.null(n$take), TRUE))
    pairs <- unlist(lapply(calls, function(k) lapply(gr$nodes[[k]]$inputs, function(i) c(node_layer[[i]], node_layer[[k]], i))),
                    recursive = FALSE)
    edges <- if (length(pairs)) do.call(rbind, pairs) else matrix(integer(), 0, 3)
    edge_shape <- node_shape[edges[, 3]]
    edges <- edges[, 1:2, drop = FALSE]
    if (!expand_nested && length(gr$nested)) {
      # A model used as a layer is one box, with the row summary() gives it.
      owner <- layer_owners(gr)
      unit_key <- vapply(seq_along(states), function(i) if (is.null(owner[[i]])) states[[i]]$key else model_key(owner[[i]]), "")
      unit <- match(unit_key, unique(unit_key))
      lead <- match(seq_len(max(unit)), unit)
      nested_name <- vapply(lead, function(i) if (is.null(owner[[i]])) NA_character_ else owner[[i]]$name, "")
      r <- match(nested_name, info$name)
      name <- ifelse(is.na(nested_name), name[lead], nested_name)
      class <- ifelse(is.na(r), class[lead], info$class[r])
      shape <- ifelse(is.na(r), shape[lead], info$shape[r])
      activation <- ifelse(is.na(nested_name), activation[lead], NA_character_)
      edges <- matrix(unit[edges], ncol = 2)
      cross <- edges[, 1] != edges[, 2]
      edges <- edges[cross, , drop = FALSE]
      edge_shape <- edge_shape[cross]
    }
  } else {
    # A Sequential model without layers: its input alone.
    name <- model$input_state$spec$name %||% "input_layer"
    class <- "InputLayer"
    shape <- if (is.null(model$input_shape)) "?" else shape_text(model$input_shape)
    activation <- NA_character_
    edges <- matrix(integer(), 0, 2)
    edge_shape <- character()
  }
  storage.mode(edges) <- "integer"
  if (!is.null(model$text_vectorization)) {
    # The text vectorization or string lookup layer runs in R, before the engine's input.
    st <- attr(model$text_vectorization, "state")
    name <- c(st$name, name)
    class <- c(r_layer_class(model$text_vectorization), class)
    shape <- c("?", shape)
    activation <- c(NA_character_, activation)
    edges <- rbind(c(1L, 2L), edges + 1L)
    edge_shape <- c("?", edge_shape)
  }
  ins <- vapply(seq_along(name), function(i) {
    from <- edge_shape[edges[, 2] == i]
    if (!length(from)) return(shape[[i]])
    if (length(from) == 1) from else paste0("[", paste(from, collapse = ", "), "]")
  }, "")
  list(name = name, class = class, activation = unname(activation), shape = shape, input_shape = ins, edges = edges)
}

shape_text <- function(dims) paste0("(None, ", paste(dims, collapse = ", "), ")")

#' The activation a layer's config names, or NA
#' @noRd
layer_activation_name <- function(config) {
  if (inherits(config, "rkeras_json")) {
    config <- tryCatch(rk_call(rk_json_parse(unclass(config))), error = function(e) NULL)
  }
  act <- if (is.list(config)) config$activation
  if (is.character(act) && length(act) == 1) return(act)
  if (is.list(act)) {
    nm <- act$config$name %||% act$class_name
    if (is.character(nm) && length(nm) == 1) return(nm)
  }
  NA_character_
}

#' Rows from the first layer matching `layer_range[1]` to the last matching
#' `layer_range[2]`, as Keras's `get_layer_index_bound_by_layer_name()`
#' @noRd
layer_range_rows <- function(names, layer_range, call) {
  if (is.null(layer_range)) return(seq_along(names))
  if (!is.character(layer_range) || length(layer_range) != 2 || anyNA(layer_range) || !all(nzchar(layer_range))) {
    rk_abort(sprintf("`layer_range` must be NULL or two layer names (regular expressions), not %s.",
                     show_value(layer_range)), "value", call)
  }
  find <- function(p) {
    hits <- tryCatch(suppressWarnings(grepl(paste0("^(?:", p, ")"), names, perl = TRUE)), error = function(e) {
      rk_abort(sprintf("`layer_range` holds an invalid regular expression: \"%s\".", p), "value", call)
    })
    if (!any(hits)) {
      rk_abort(sprintf("`layer_range` names \"%s\", which matches no layer of the model (layers: %s).",
                       p, paste(names, collapse = ", ")), "value", call)
    }
    which(hits)
  }
  lo <- find(layer_range[[1]])
  hi <- find(layer_range[[2]])
  if (min(lo) > max(hi)) return(seq(min(hi), max(lo)))
  seq(min(lo), max(hi))
}

plot_formats <- c(png = "png", pdf = "pdf", svg = "svg", jpg = "jpg", jpeg = "jpg", gif = "gif", ps = "ps", dot = "dot")

plot_format <- function(to_file, call = rlang::caller_env()) {
  ext <- tolower(tools::file_ext(to_file))
  if (!nzchar(ext)) return("png")
  if (!ext %in% names(plot_formats)) {
    rk_abort(sprintf("`to_file` must end in one of %s, not '.%s' ('%s').",
                     paste0(".", names(plot_formats), collapse = ", "), ext, to_file), "value", call)
  }
  plot_formats[[ext]]
}

#' Graphviz's `dot` program, or an error saying how to install it
#' @noRd
find_dot <- function(call = rlang::caller_env()) {
  dot <- Sys.which("dot")
  if (!nzchar(dot)) {
    rk_abort(paste0("plot() needs Graphviz's `dot` program to draw a model, and it is not on the PATH. ",
                    "Install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz; ",
                    "Windows: https://graphviz.org/download/) and try again."), "unsupported", call)
  }
  unname(dot)
}

#' Run `dot` on `dot_text`, writing `file` in `format`; the file appears whole or not at all
#' @noRd
render_dot <- function(dot_text, file, format, dot = find_dot(call), call = rlang::caller_env()) {
  src <- tempfile("rkeras-model-", fileext = ".dot")
  on.exit(unlink(src), add = TRUE)
  writeLines(dot_text, src, useBytes = TRUE)
  tmp <- file.path(dirname(file), paste0(".", basename(file), ".", Sys.getpid(), ".tmp"))
  on.exit(unlink(tmp), add = TRUE)
  out <- suppressWarnings(system2(dot, c(paste0("-T", format), "-o", shQuote(tmp), shQuote(src)),
                                  stdout = TRUE, stderr = TRUE))
  status <- attr(out, "status") %||% 0L
  if (status != 0L || !file.exists(tmp)) {
    rk_abort(sprintf("Graphviz's dot could not write '%s' (status %d)%s", file, status,
                     if (length(out)) paste0(": ", paste(out, collapse = " ")) else "."), "io", call)
  }
  if (!file.rename(tmp, file)) rk_abort(sprintf("Could not write '%s'.", file), "io", call)
  invisible(file)
}

#' Draw a PNG file on the current device, filling it at the picture's aspect ratio (as
#' Keras for R's `plot()` of a model)
#' @noRd
draw_png <- function(file) {
  img <- png::readPNG(file, native = TRUE)
  d <- dim(img)
  graphics::plot.new()
  op <- graphics::par(mar = c(0, 0, 0, 0))
  on.exit(graphics::par(op), add = TRUE)
  graphics::plot.window(xlim = c(0, d[[2]]), ylim = c(0, d[[1]]), asp = 1, xaxs = "i", yaxs = "i")
  graphics::rasterImage(img, 0, 0, d[[2]], d[[1]], interpolate = FALSE)
  invisible()
}

#' Without the png package: write the picture as SVG into a page under tempdir() and show
#' it in the viewer or browser (a warning when it cannot be shown). Returns the page.
#' @noRd
show_model_page <- function(dot_text, dot = find_dot()) {
  dir <- tempfile("rkeras-model-")
  dir.create(dir)
  render_dot(dot_text, file.path(dir, "model.svg"), "svg", dot)
  page <- file.path(dir, "index.html")
  writeLines(c("<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Model</title></head>",
               "<body><img src=\"model.svg\" alt=\"The model's layer graph\"></body></html>"), page)
  problem <- tryCatch({ show_page(page); NULL }, error = conditionMessage)
  if (!is.null(problem)) {
    rlang::warn(sprintf("The picture of the model (%s) could not be shown: %s. Install the png package to draw it on the R device, or give `to_file`.",
                        file.path(dir, "model.svg"), problem), class = "rkeras_warning_view")
  }
  page
}
