# plot(model) runs Graphviz's dot, which the test setup (scripts/setup.sh) installs: a
# missing dot fails these tests rather than skipping them.

plot_two_input_model <- function() {
  a <- layer_input(shape = 3, name = "left")
  b <- layer_input(shape = c(2, 2), name = "right")
  flat <- b %>% layer_flatten(name = "flat")
  merged <- layer_concatenate(list(a, flat), name = "merged")
  out <- merged %>% layer_dense(5, activation = "relu", name = "hidden") %>%
    layer_dense(2, activation = "softmax", name = "probs")
  keras_model(list(a, b), out)
}

test_that("plot(model, to_file =) writes a PNG of a Sequential and a two-input functional model", {
  skip_on_cran() # Graphviz is a system tool a check machine may not have; CI installs it
  expect_true(nzchar(Sys.which("dot")), label = "Graphviz's dot is installed (apt-get install graphviz)")
  art <- view_artifacts()
  seq_model <- tiny_model(input = 4, units = 3, hidden = 8, dropout = 0.2)
  fun_model <- plot_two_input_model()
  for (case in list(list(seq_model, "plot-model-sequential.png"), list(fun_model, "plot-model-functional.png"))) {
    f <- file.path(art, case[[2]])
    unlink(f)
    expect_equal(plot(case[[1]], show_shapes = TRUE, show_layer_activations = TRUE, to_file = f), f)
    expect_true(view_is_png(f), info = f)
    img <- png::readPNG(f)
    # A picture of boxes: several hundred pixels each way, black lines on white.
    expect_gt(nrow(img), 150)
    expect_gt(ncol(img), 150)
    expect_gt(view_pixels_near(img, "#000000", tol = 60), 500)
    expect_gt(view_pixels_near(img, "#ffffff", tol = 30), nrow(img) * ncol(img) / 2)
  }
  # The two-input model is taller (flatten, merge, two dense layers below the inputs).
  expect_gt(nrow(png::readPNG(file.path(art, "plot-model-functional.png"))),
            nrow(png::readPNG(file.path(art, "plot-model-sequential.png"))))
})

test_that("the DOT text holds every layer's name, class and shapes, and the graph's edges", {
  m <- plot_two_input_model()
  dot <- rkeras:::model_dot(m, show_shapes = TRUE)
  expect_match(dot, "^digraph G \\{")
  rows <- list(c("left", "InputLayer", "(None, 3)", "(None, 3)"),
               c("right", "InputLayer", "(None, 2, 2)", "(None, 2, 2)"),
               c("flat", "Flatten", "(None, 2, 2)", "(None, 4)"),
               c("merged", "Concatenate", "[(None, 3), (None, 4)]", "(None, 7)"),
               c("hidden", "Dense", "(None, 7)", "(None, 5)"),
               c("probs", "Dense", "(None, 5)", "(None, 2)"))
  for (r in rows) {
    expect_true(grepl(sprintf("{%s|%s}|{input:|output:}|{{%s}|{%s}}", r[[1]], r[[2]], r[[3]], r[[4]]), dot, fixed = TRUE),
                info = r[[1]])
  }
  node <- function(name) sub(sprintf("(?s).*  (layer\\d+) \\[label=\"\\{%s\\|.*", name), "\\1", dot, perl = TRUE)
  edge <- function(from, to) grepl(sprintf("%s -> %s;", node(from), node(to)), dot, fixed = TRUE)
  expect_true(edge("left", "merged"))
  expect_true(edge("right", "flat"))
  expect_true(edge("flat", "merged"))
  expect_true(edge("merged", "hidden"))
  expect_true(edge("hidden", "probs"))
  expect_equal(lengths(regmatches(dot, gregexpr(" -> ", dot))), 5)

  # A Sequential model: its input layer first, shapes through a fused dense chain.
  s <- tiny_model(input = 4, units = 3, hidden = 8, dropout = 0.2)
  dot <- rkeras:::model_dot(s, show_shapes = TRUE)
  names <- vapply(s$layers, function(l) l$name, "")
  for (nm in names) expect_match(dot, sprintf("{%s|", nm), fixed = TRUE)
  expect_match(dot, "|InputLayer}|{input:|output:}|{{(None, 4)}|{(None, 4)}}", fixed = TRUE)
  expect_match(dot, sprintf("{%s|Dense}|{input:|output:}|{{(None, 4)}|{(None, 8)}}", names[[1]]), fixed = TRUE)
  expect_match(dot, sprintf("{%s|Dropout}|{input:|output:}|{{(None, 8)}|{(None, 8)}}", names[[2]]), fixed = TRUE)
  expect_match(dot, sprintf("{%s|Dense}|{input:|output:}|{{(None, 8)}|{(None, 3)}}", names[[3]]), fixed = TRUE)

  # A Sequential model on the general engine, with image shapes.
  cnn <- keras_model_sequential() %>% layer_conv_2d(2, 3, input_shape = c(6, 6, 1), name = "conv") %>%
    layer_flatten(name = "fl") %>% layer_dense(2, name = "out")
  dot <- rkeras:::model_dot(cnn, show_shapes = TRUE)
  expect_match(dot, "{conv|Conv2D}|{input:|output:}|{{(None, 6, 6, 1)}|{(None, 4, 4, 2)}}", fixed = TRUE)
  expect_match(dot, "{fl|Flatten}|{input:|output:}|{{(None, 4, 4, 2)}|{(None, 32)}}", fixed = TRUE)

  # A layer's several outputs (return_state): one box, the picked output's shape on each edge.
  en <- layer_input(c(5, 3), name = "en"); de <- layer_input(c(4, 3), name = "de")
  enc <- layer_lstm(en, 4, return_state = TRUE, name = "enc")
  dec <- layer_lstm(units = 4, return_sequences = TRUE, name = "dec")(de, initial_state = enc[2:3])
  s2s <- keras_model(list(en, de), list(dec %>% layer_dense(2, name = "o"), enc[[1]]))
  dot <- rkeras:::model_dot(s2s, show_shapes = TRUE)
  expect_match(dot, "{enc|LSTM}|{input:|output:}|{{(None, 5, 3)}|{[(None, 4), (None, 4), (None, 4)]}}", fixed = TRUE)
  expect_match(dot, "{dec|LSTM}|{input:|output:}|{{[(None, 4, 3), (None, 4), (None, 4)]}|{(None, 4, 4)}}", fixed = TRUE)
  edges <- regmatches(dot, gregexpr("layer\\d+ -> layer\\d+", dot))[[1]]
  expect_setequal(edges, c("layer1 -> layer3", "layer2 -> layer4", "layer3 -> layer4", "layer4 -> layer5"))
  expect_false(any(vapply(strsplit(edges, " -> "), function(e) e[[1]] == e[[2]], TRUE)))
})

test_that("plot()'s options change the picture as Keras's do", {
  m <- plot_two_input_model()
  plain <- rkeras:::model_dot(m)
  expect_match(plain, "layer\\d+ \\[label=\"hidden\\|Dense\"\\];")
  expect_false(grepl("input:", plain, fixed = TRUE))
  expect_match(rkeras:::model_dot(m, show_layer_names = FALSE), "layer\\d+ \\[label=\"Dense\"\\];")
  expect_match(rkeras:::model_dot(m, show_layer_activations = TRUE), "label=\"hidden\\|\\{Dense\\|relu\\}\"")
  expect_match(rkeras:::model_dot(m, show_layer_activations = TRUE), "label=\"probs\\|\\{Dense\\|softmax\\}\"")
  expect_match(rkeras:::model_dot(m, show_layer_activations = TRUE), "label=\"merged\\|Concatenate\"")
  expect_match(rkeras:::model_dot(m, show_dtype = TRUE), "label=\"hidden\\|Dense\\|float32\"")
  expect_match(rkeras:::model_dot(m, rankdir = "LR", dpi = 200), "graph [rankdir=LR, concentrate=true, dpi=200];", fixed = TRUE)
  # layer_range: from the first layer matching the first pattern to the last matching the second.
  part <- rkeras:::model_dot(m, layer_range = c("merged", "hid"))
  expect_match(part, "label=\"merged|Concatenate\"", fixed = TRUE)
  expect_match(part, "label=\"hidden|Dense\"", fixed = TRUE)
  expect_false(grepl("probs|left|right|flat", part))
  expect_equal(lengths(regmatches(part, gregexpr(" -> ", part))), 1)
  # expand_nested: a model used as a layer is one box, or its layers in its place.
  inner <- keras_model_sequential(name = "inner") %>% layer_dense(3, input_shape = 3, name = "inner_dense")
  x <- layer_input(shape = 3, name = "x")
  nested <- keras_model(x, x %>% inner %>% layer_dense(1, name = "o"))
  expect_match(rkeras:::model_dot(nested), "inner|Sequential", fixed = TRUE)
  expect_false(grepl("inner_dense", rkeras:::model_dot(nested), fixed = TRUE))
  expect_match(rkeras:::model_dot(nested, expand_nested = TRUE), "inner_dense|Dense", fixed = TRUE)
  skip_on_cran() # the rest runs Graphviz
  f1 <- withr::local_tempfile(fileext = ".dot")
  f2 <- withr::local_tempfile(fileext = ".dot")
  plot(nested, expand_nested = TRUE, to_file = f1)
  plot(nested, expand_nested = FALSE, to_file = f2)
  expect_true(any(grepl("inner_dense", readLines(f1))))
  expect_false(any(grepl("inner_dense", readLines(f2))))
})

test_that("plot() writes SVG, PDF and other formats by extension, and draws on the device", {
  skip_on_cran() # Graphviz
  m <- plot_two_input_model()
  svg <- withr::local_tempfile(fileext = ".svg")
  plot(m, to_file = svg)
  expect_match(paste(readLines(svg), collapse = "\n"), "<svg")
  expect_match(paste(readLines(svg), collapse = "\n"), "merged")
  pdf_file <- withr::local_tempfile(fileext = ".pdf")
  plot(m, to_file = pdf_file)
  expect_equal(readBin(pdf_file, "raw", 4), charToRaw("%PDF"))
  noext <- withr::local_tempfile()
  plot(m, to_file = noext)
  expect_true(view_is_png(noext))
  # No file: drawn on the current device (the png package is installed).
  out <- withr::local_tempfile(fileext = ".png")
  grDevices::png(out, width = 400, height = 400)
  res <- withVisible(plot(m, show_shapes = TRUE))
  grDevices::dev.off()
  expect_null(res$value)
  expect_false(res$visible)
  img <- png::readPNG(out)
  expect_gt(view_pixels_near(img, "#000000", tol = 100), 200)
  # Without the png package: an SVG on a page, opened in the viewer or browser.
  rec <- view_recorder()
  withr::local_options(browser = rec$browser)
  page <- rkeras:::show_model_page(rkeras:::model_dot(m))
  expect_length(rec$urls, 1)
  expect_true(file.exists(file.path(dirname(page), "model.svg")))
  expect_match(paste(readLines(page), collapse = ""), "<img src=\"model.svg\"")
})

test_that("plot() errors name the argument: missing directory, bad options, no Graphviz", {
  m <- tiny_model()
  missing_dir <- file.path(tempfile("no-such-dir-"), "model.png")
  expect_error(plot(m, to_file = missing_dir), "`to_file` is in a directory that does not exist", class = "rkeras_error_io")
  expect_false(file.exists(missing_dir))
  expect_error(plot(m, to_file = file.path(tempdir(), "model.xyz")), "`to_file` must end in one of", class = "rkeras_error_value")
  expect_error(plot(m, to_file = ""), "`to_file`", class = "rkeras_error_value")
  expect_error(plot(m, to_file = 1), "`to_file`", class = "rkeras_error_value")
  expect_error(plot(m, show_shapes = "yes"), "`show_shapes` must be TRUE or FALSE", class = "rkeras_error_value")
  expect_error(plot(m, show_dtype = NA), "`show_dtype`", class = "rkeras_error_value")
  expect_error(plot(m, show_layer_names = 1), "`show_layer_names`", class = "rkeras_error_value")
  expect_error(plot(m, show_layer_activations = NULL), "`show_layer_activations`", class = "rkeras_error_value")
  expect_error(plot(m, expand_nested = "no"), "`expand_nested`", class = "rkeras_error_value")
  expect_error(plot(m, rankdir = "XY"), "`rankdir` must be one of", class = "rkeras_error_value")
  expect_error(plot(m, dpi = -1), "`dpi`", class = "rkeras_error_value")
  expect_error(plot(m, layer_range = "dense"), "`layer_range` must be NULL or two layer names", class = "rkeras_error_value")
  expect_error(plot(m, layer_range = c("nope", "dense")), "`layer_range` names \"nope\", which matches no layer",
               class = "rkeras_error_value")
  expect_error(plot(m, layer_range = c("(", "dense")), "invalid regular expression", class = "rkeras_error_value")
  expect_error(plot(m, colour = "red"), "plot\\(\\) got `colour` it does not take", class = "rkeras_error_value")
  # As in Keras for R, the second argument is show_shapes.
  expect_error(plot(m, 1), "`show_shapes` must be TRUE or FALSE", class = "rkeras_error_value")
  expect_error(plot(m, TRUE, FALSE, TRUE, 1), "plot\\(\\) got an unnamed argument", class = "rkeras_error_value")
  # No Graphviz: an error saying what to install, and no file.
  out <- file.path(tempdir(), "never.png")
  withr::local_envvar(PATH = "")
  expect_error(plot(m, to_file = out), "apt-get install graphviz", class = "rkeras_error_unsupported")
  expect_error(plot(m), "needs Graphviz's `dot` program", class = "rkeras_error_unsupported")
  expect_false(file.exists(out))
})
