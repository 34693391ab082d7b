test_that("the live page grows epoch by epoch in headless Chromium, refreshing itself", {
  skip_on_cran()
  d <- view_classifier()
  rec <- view_recorder()
  withr::local_options(browser = rec$browser)
  art <- view_artifacts()
  shots <- file.path(art, c("view-metrics-epoch1.png", "view-metrics-final.png"))
  unlink(shots)
  mid <- new.env()
  # After epoch 1 (at the start of epoch 2, once the view has its data): a screenshot, the
  # DOM, and a browser left open on the page while training goes on.
  cb <- callback_lambda(on_epoch_begin = function(epoch, logs) {
    if (epoch != 1) return()
    page <- sub("^file://", "", utils::URLdecode(rec$urls[[1]]))
    mid$page <- page
    mid$data <- view_data(page)
    mid$dom <- view_chromium_run(page)
    view_chromium_run(page, screenshot = shots[[1]])
    mid$live <- view_live_browser(page)
    mid$title1 <- mid$live$wait_title("^Epoch 1 of 3 done")
  })
  on.exit(if (!is.null(mid$live)) mid$live$stop(), add = TRUE)
  h <- d$model %>% fit(d$x, d$y, epochs = 3, batch_size = 16, validation_split = 0.25, verbose = 0,
                       callbacks = list(cb), view_metrics = TRUE)
  final_title <- mid$live$wait_title("^Finished")
  page <- attr(h, "rkeras_view")$path

  # The page was opened once, at the start, and the history records it.
  expect_length(rec$urls, 1)
  expect_equal(normalizePath(mid$page), normalizePath(page))
  expect_true(file.exists(file.path(dirname(page), "uPlot.iife.min.js")))

  # After epoch 1: one point per series, training and validation on the same chart.
  expect_equal(mid$data$epoch, 1L)
  expect_false(mid$data$done)
  charts <- view_charts(mid$dom)
  expect_equal(charts$metric, c("loss", "accuracy"))
  expect_equal(charts$points, c(1L, 1L))
  expect_equal(charts$val_points, c(1L, 1L))
  expect_equal(view_body_attr(mid$dom, "data-status"), "training")

  # The browser opened at epoch 1 redrew itself to the end of training, without reloading.
  expect_match(mid$title1, "^Epoch 1 of 3 done")
  expect_match(final_title, "^Finished: 3 epochs")

  # After the last epoch: three points per series; the data says training is over.
  dom <- view_chromium_run(page)
  writeLines(dom, file.path(art, "view-metrics-final.html"))
  writeLines(mid$dom, file.path(art, "view-metrics-epoch1.html"))
  view_chromium_run(page, screenshot = shots[[2]])
  charts <- view_charts(dom)
  expect_equal(charts$metric, c("loss", "accuracy"))
  expect_equal(charts$points, c(3L, 3L))
  expect_equal(charts$val_points, c(3L, 3L))
  expect_equal(view_body_attr(dom, "data-status"), "finished")
  data <- view_data(page)
  expect_true(data$done)
  expect_equal(data$epoch, 1:3)
  expect_equal(names(data$metrics), c("loss", "accuracy", "val_loss", "val_accuracy"))
  for (k in names(data$metrics)) expect_equal(data$metrics[[k]], h$metrics[[k]], tolerance = 1e-7)

  # The screenshots are real pictures of the charts: 1000 x 800 PNGs, with pixels of both
  # series' colours (training blue, validation orange).
  for (f in shots) {
    expect_true(view_is_png(f), info = f)
    expect_gt(file.size(f), 15000)
    img <- png::readPNG(f)
    expect_equal(dim(img)[1:2], c(800L, 1000L))
    expect_gt(view_pixels_near(img, "#1f77b4"), 100)
    expect_gt(view_pixels_near(img, "#e6550d"), 100)
  }
})

test_that("fit_generator() and fit() with a generator write the same page", {
  skip_on_cran()
  d <- view_classifier()
  rec <- view_recorder()
  withr::local_options(browser = rec$browser)
  gen <- function() {
    i <- sample.int(nrow(d$x), 16)
    list(d$x[i, , drop = FALSE], d$y[i, , drop = FALSE])
  }
  h <- d$model %>% fit_generator(gen, steps_per_epoch = 3, epochs = 2, verbose = 0, view_metrics = TRUE,
                                 validation_data = gen, validation_steps = 2)
  page <- attr(h, "rkeras_view")$path
  expect_length(rec$urls, 1)
  data <- view_data(page)
  expect_true(data$done)
  expect_equal(data$epoch, 1:2)
  expect_equal(names(data$metrics), c("loss", "accuracy", "val_loss", "val_accuracy"))
  charts <- view_charts(view_chromium_run(page))
  expect_equal(charts$points, c(2L, 2L))
  expect_equal(charts$val_points, c(2L, 2L))

  h2 <- d$model %>% fit(gen, steps_per_epoch = 2, epochs = 4, initial_epoch = 2, verbose = 0, view_metrics = TRUE)
  expect_length(rec$urls, 2)
  data <- view_data(attr(h2, "rkeras_view")$path)
  # Epochs count from initial_epoch, as the progress output does.
  expect_equal(data$epoch, 3:4)
  expect_equal(names(data$metrics), c("loss", "accuracy"))
})

test_that("view_metrics(history) reopens the page, or writes it again when it is gone", {
  d <- view_classifier()
  rec <- view_recorder()
  withr::local_options(browser = rec$browser)
  h <- d$model %>% fit(d$x, d$y, epochs = 2, verbose = 0, view_metrics = TRUE)
  page <- attr(h, "rkeras_view")$path
  expect_equal(view_metrics(h), page)
  expect_length(rec$urls, 2)
  expect_equal(rec$urls[[2]], rec$urls[[1]])
  expect_match(rec$urls[[2]], "^file:///.*index\\.html$")

  unlink(dirname(page), recursive = TRUE)
  page2 <- view_metrics(h)
  expect_false(page2 == page)
  data <- view_data(page2)
  expect_true(data$done)
  expect_equal(data$model, "viewed")
  expect_equal(data$metrics$loss, h$metrics$loss, tolerance = 1e-7)

  # A history without a page (view off, or built by hand) gets one too.
  plain <- structure(list(params = list(verbose = 1L, epochs = 3L, steps = 5L),
                          metrics = list(loss = c(0.9, 0.6, NA), val_loss = c(1, NA, 0.7))),
                     class = "keras_training_history")
  page3 <- view_metrics(plain)
  data <- view_data(page3)
  expect_equal(data$epoch, 1:3)
  expect_equal(data$metrics$loss, c(0.9, 0.6, NA))
  expect_length(rec$urls, 4)
  expect_error(view_metrics(list(metrics = 1)), "`history` must be a training history", class = "rkeras_error_type")
  expect_error(view_metrics(structure(list(metrics = list(1, "a")), class = "keras_training_history")),
               "history\\$metrics", class = "rkeras_error_value")
})

test_that("a view that cannot be opened or written warns once and training completes", {
  d <- view_classifier()
  # A browser that fails.
  withr::local_options(browser = function(url) stop("no browser here"))
  expect_warning(h <- d$model %>% fit(d$x, d$y, epochs = 3, verbose = 0, view_metrics = TRUE),
                 "could not be opened \\(no browser here\\)", class = "rkeras_warning_view")
  expect_length(h$metrics$loss, 3)
  expect_true(view_data(attr(h, "rkeras_view")$path)$done)

  # No browser set, or none that can show anything (no display).
  withr::local_options(browser = "")
  expect_warning(h <- d$model %>% fit(d$x, d$y, epochs = 2, verbose = 0, view_metrics = TRUE),
                 "no web browser is set", class = "rkeras_warning_view")
  withr::local_options(browser = "xdg-open")
  withr::local_envvar(DISPLAY = "", WAYLAND_DISPLAY = "")
  expect_warning(h <- d$model %>% fit(d$x, d$y, epochs = 2, verbose = 0, view_metrics = TRUE),
                 "no display", class = "rkeras_warning_view")
  expect_length(h$metrics$loss, 2)

  # The page cannot be opened, then cannot be written either (its directory vanishes after
  # epoch 1): still one warning, and all epochs run.
  withr::local_options(browser = function(url) stop("no browser here"))
  gone <- callback_lambda(on_epoch_begin = function(epoch, logs) {
    if (epoch == 1) unlink(dirname(getOption("rkeras_test_page")), recursive = TRUE)
  })
  rec <- view_recorder()
  withr::local_options(browser = function(url) {
    options(rkeras_test_page = sub("^file://", "", utils::URLdecode(url)))
    stop("no browser here")
  })
  warnings <- list()
  h <- withCallingHandlers(
    d$model %>% fit(d$x, d$y, epochs = 4, verbose = 0, view_metrics = TRUE, callbacks = list(gone)),
    warning = function(w) {
      warnings[[length(warnings) + 1L]] <<- w
      invokeRestart("muffleWarning")
    })
  options(rkeras_test_page = NULL)
  expect_length(warnings, 1)
  expect_length(h$metrics$loss, 4)
})

test_that("training that fails leaves a page saying it stopped", {
  d <- view_classifier()
  rec <- view_recorder()
  withr::local_options(browser = rec$browser)
  boom <- callback_lambda(on_epoch_end = function(epoch, logs) if (epoch == 1) stop("boom"))
  expect_error(d$model %>% fit(d$x, d$y, epochs = 5, verbose = 0, view_metrics = TRUE, callbacks = list(boom)), "boom")
  page <- sub("^file://", "", utils::URLdecode(rec$urls[[1]]))
  data <- view_data(page)
  expect_equal(data$status, "stopped")
  expect_true(data$done)
  expect_equal(data$epoch, 1L)
})

test_that("\"auto\" shows the view only in RStudio, interactively, or when asked by option", {
  d <- view_classifier()
  rec <- view_recorder()
  withr::local_options(browser = rec$browser, rkeras.view_metrics = NULL, keras.view_metrics = NULL)
  withr::local_envvar(RSTUDIO = "1")
  # Tests run non-interactively: "auto" (the default) is off, even with RSTUDIO set.
  expect_false(interactive())
  utils::capture.output(h <- d$model %>% fit(d$x, d$y, epochs = 2, verbose = 1, view_metrics = "auto"))
  expect_null(attr(h, "rkeras_view"))
  h <- d$model %>% fit(d$x, d$y, epochs = 2, verbose = 0)
  expect_length(rec$urls, 0)
  expect_null(attr(h, "rkeras_view"))
  expect_false(rkeras:::resolve_view_metrics("auto", verbose = 1, epochs = 5))

  withr::local_options(rkeras.view_metrics = TRUE)
  h <- d$model %>% fit(d$x, d$y, epochs = 2, verbose = 0)
  expect_length(rec$urls, 1)
  expect_false(is.null(attr(h, "rkeras_view")))

  # Keras's option sets the argument's default; FALSE is never shown.
  withr::local_options(rkeras.view_metrics = NULL, keras.view_metrics = TRUE)
  d$model %>% fit(d$x, d$y, epochs = 1, verbose = 0)
  expect_length(rec$urls, 2)
  d$model %>% fit(d$x, d$y, epochs = 2, verbose = 0, view_metrics = FALSE)
  expect_length(rec$urls, 2)
})

test_that("bad view_metrics values are errors naming the argument", {
  d <- view_classifier()
  gen <- function() list(d$x[1:8, ], d$y[1:8, ])
  for (v in list("yes", NA, c(TRUE, FALSE), 1, NULL, list(TRUE))) {
    expect_error(d$model %>% fit(d$x, d$y, epochs = 1, verbose = 0, view_metrics = v),
                 "`view_metrics` must be TRUE, FALSE or \"auto\"", class = "rkeras_error_value")
    expect_error(d$model %>% fit_generator(gen, steps_per_epoch = 1, verbose = 0, view_metrics = v),
                 "`view_metrics` must be TRUE, FALSE or \"auto\"", class = "rkeras_error_value")
  }
})
