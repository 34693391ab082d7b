# Helpers for the tests of the live metrics page and of plot(model) (prefixed `view_`):
# headless Chromium, the artifacts directory, and reading PNG files and dumped pages.

# Chromium's program. The test setup (scripts/run-tests.sh) installs Debian's chromium, so
# a missing browser fails the tests that need it rather than skipping them.
view_chromium <- function() {
  bin <- Sys.which(c("chromium", "chromium-browser", "google-chrome"))
  bin <- bin[nzchar(bin)]
  if (!length(bin)) {
    stop("These tests need Chromium (Debian: apt-get install chromium); scripts/run-tests.sh installs it.")
  }
  unname(bin[[1]])
}

view_chromium_args <- function(profile) {
  c("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
    "--disable-extensions", paste0("--user-data-dir=", profile))
}

# Screenshots and page dumps are kept for CI under $RKERAS_ARTIFACTS, else under
# tests/testthat/_artifacts (ignored by git and by R CMD build).
view_artifacts <- function() {
  d <- Sys.getenv("RKERAS_ARTIFACTS", testthat::test_path("_artifacts"))
  dir.create(d, recursive = TRUE, showWarnings = FALSE)
  d
}

# The directories Chromium leaves in the temporary directory (TMPDIR) for its singleton
# socket, before a run, and their removal after it: only those the run made.
chromium_tmp_files <- function() {
  tmp <- Sys.getenv("TMPDIR")
  list.files(if (nzchar(tmp)) tmp else "/tmp", pattern = "^\\.?org\\.chromium\\.", all.files = TRUE,
             full.names = TRUE)
}
chromium_tmp_clean <- function(before) {
  for (d in setdiff(chromium_tmp_files(), before)) {
    # Each holds a socket, which unlink() leaves in place: file.remove() takes it.
    file.remove(list.files(d, all.files = TRUE, full.names = TRUE, no.. = TRUE))
    unlink(d, recursive = TRUE)
  }
}
# What all the runs left is looked for again when the tests end.
local({
  at_start <- chromium_tmp_files()
  withr::defer(chromium_tmp_clean(at_start), envir = testthat::teardown_env())
})

# Load `page` in headless Chromium, let its timers run for a few (virtual) seconds, and
# return the page's DOM as text; with `screenshot`, write a PNG of the window instead and
# return its path.
view_chromium_run <- function(page, screenshot = NULL, size = c(1000, 800)) {
  profile <- tempfile("chromium-profile-")
  dir.create(profile)
  on.exit(unlink(profile, recursive = TRUE), add = TRUE)
  url <- paste0("file://", normalizePath(page))
  what <- if (is.null(screenshot)) "--dump-dom" else paste0("--screenshot=", screenshot)
  before <- chromium_tmp_files()
  on.exit(chromium_tmp_clean(before), add = TRUE)
  out <- suppressWarnings(system2(view_chromium(), c(view_chromium_args(profile), what,
                                  sprintf("--window-size=%d,%d", size[[1]], size[[2]]),
                                  "--virtual-time-budget=3000", shQuote(url)),
                                  stdout = TRUE, stderr = FALSE, timeout = 60))
  if (!is.null(screenshot)) return(screenshot)
  paste(out, collapse = "\n")
}

# The charts of a dumped page: metric, training points and validation points drawn.
view_charts <- function(dom) {
  tags <- regmatches(dom, gregexpr("<section class=\"chart\"[^>]*>", dom))[[1]]
  attr_of <- function(tag, a) sub(sprintf(".*%s=\"([^\"]*)\".*", a), "\\1", tag)
  data.frame(metric = vapply(tags, attr_of, "", a = "data-metric"),
             points = as.integer(vapply(tags, attr_of, "", a = "data-points")),
             val_points = as.integer(vapply(tags, attr_of, "", a = "data-val-points")),
             row.names = NULL, stringsAsFactors = FALSE)
}

view_body_attr <- function(dom, a) {
  body <- regmatches(dom, regexpr("<body[^>]*>", dom))
  sub(sprintf(".*%s=\"([^\"]*)\".*", a), "\\1", body)
}

# The 8-byte signature every PNG file starts with.
view_is_png <- function(file) {
  file.exists(file) && identical(readBin(file, "raw", 8), as.raw(c(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)))
}

# How many pixels of a PNG are within `tol` (0-255 per channel) of colour `hex`.
view_pixels_near <- function(img, hex, tol = 40) {
  rgb <- grDevices::col2rgb(hex)[, 1] / 255
  d <- abs(img[, , 1] - rgb[[1]]) + abs(img[, , 2] - rgb[[2]]) + abs(img[, , 3] - rgb[[3]])
  sum(d < tol / 255)
}

# The page's data as R data (data.js is `window.rkerasMetrics = {...};`).
view_data <- function(page) {
  js <- paste(readLines(file.path(dirname(page), "data.js"), warn = FALSE), collapse = "\n")
  jsonlite::fromJSON(sub(";\\s*$", "", sub("^window\\.rkerasMetrics = ", "", js)), simplifyVector = TRUE)
}

# A browser that records the URLs it is asked to open, instead of opening them.
view_recorder <- function() {
  env <- new.env()
  env$urls <- character()
  env$browser <- function(url) env$urls <- c(env$urls, url)
  env
}

# A tiny classifier and its data for the page tests.
view_classifier <- function() {
  withr::local_seed(3)
  x <- matrix(rnorm(240), 80, 3)
  y <- to_categorical(as.integer(x[, 1] + x[, 2] > 0), 2)
  m <- keras_model_sequential(name = "viewed") %>%
    layer_dense(8, activation = "relu", input_shape = 3) %>%
    layer_dense(2, activation = "softmax")
  m %>% compile(loss = "categorical_crossentropy", optimizer = optimizer_adam(0.01), metrics = "accuracy")
  list(model = m, x = x, y = y)
}

# Chromium kept running on `page` (in real time, unlike the one-shot runs above), and the
# page's title read through Chromium's DevTools HTTP endpoint: to watch a page that R
# updates while it is open.
view_live_browser <- function(page) {
  before <- chromium_tmp_files()
  profile <- tempfile("chromium-live-")
  dir.create(profile)
  url <- paste0("file://", normalizePath(page))
  proc <- processx::process$new(view_chromium(), c(view_chromium_args(profile), "--remote-debugging-port=0",
                                                   "--window-size=1000,800", url),
                                stdout = NULL, stderr = NULL, cleanup = TRUE)
  port_file <- file.path(profile, "DevToolsActivePort")
  deadline <- Sys.time() + 30
  port <- ""
  while (!grepl("^[0-9]+$", port) && Sys.time() < deadline) {
    Sys.sleep(0.1)
    if (file.exists(port_file)) port <- readLines(port_file, warn = FALSE)[1] %||% ""
  }
  if (!grepl("^[0-9]+$", port)) stop("Chromium did not start its DevTools endpoint")
  title <- function() {
    txt <- withr::with_envvar(c(no_proxy = "127.0.0.1,localhost", NO_PROXY = "127.0.0.1,localhost"), tryCatch({
      con <- url(sprintf("http://127.0.0.1:%s/json/list", port))
      on.exit(close(con))
      paste(readLines(con, warn = FALSE), collapse = "")
    }, error = function(e) ""))
    if (!nzchar(txt)) return(NA_character_)
    targets <- jsonlite::fromJSON(txt)
    pages <- targets[targets$type == "page" & startsWith(targets$url, "file://"), , drop = FALSE]
    if (!nrow(pages)) NA_character_ else pages$title[[1]]
  }
  list(
    title = title,
    wait_title = function(pattern, timeout = 30) {
      deadline <- Sys.time() + timeout
      repeat {
        t <- title()
        if (!is.na(t) && grepl(pattern, t)) return(t)
        if (Sys.time() > deadline) return(t)
        Sys.sleep(0.2)
      }
    },
    stop = function() {
      # The browser's own child processes (renderers) go with it.
      tryCatch(proc$kill_tree(), error = function(e) proc$kill())
      unlink(profile, recursive = TRUE)
      chromium_tmp_clean(before)
    })
}
