test_that("1000+ bad arguments never crash R and always give an R error with a message", {
  skip_on_cran()
  # The child works in a directory of its own: a bad call given a plain name such as "a"
  # as a file path may succeed and write that file.
  wd <- tempfile("fuzz-wd"); dir.create(wd)
  on.exit(unlink(wd, recursive = TRUE), add = TRUE)
  res <- run_child(c(sprintf("setwd(%s)", deparse(wd)), readLines(test_path("scripts", "fuzz.R"))), timeout = 300)
  summary <- grep("^FUZZ", res$output, value = TRUE)
  expect_equal(res$status, 0L, info = paste(tail(res$output, 20), collapse = "\n"))
  expect_length(summary, 1)
  n <- as.integer(sub(".*calls=(\\d+).*", "\\1", summary))
  expect_gte(n, 1000)
  expect_match(summary, "empty=0")
  expect_false(any(grepl("EMPTY MESSAGE", res$output)))
})

interrupt_child <- function(what, after = 2) {
  pidfile <- withr::local_tempfile()
  out <- withr::local_tempfile()
  rscript <- file.path(R.home("bin"), "Rscript")
  system2(rscript, c("--vanilla", test_path("scripts", "interrupt.R"), what, pidfile), stdout = out, stderr = out, wait = FALSE)
  deadline <- Sys.time() + 60
  while (!file.exists(pidfile) && Sys.time() < deadline) Sys.sleep(0.1)
  pid <- as.integer(readLines(pidfile))
  Sys.sleep(after)
  tools::pskill(pid, tools::SIGINT)
  deadline <- Sys.time() + 60
  while (!any(grepl("RESULT|Error", readLines(out))) && Sys.time() < deadline) Sys.sleep(0.2)
  Sys.sleep(0.3)
  readLines(out)
}

test_that("Ctrl-C during fit, fit_generator and predict is an R interrupt; the model stays usable", {
  skip_on_cran()
  skip_on_os("windows")
  for (what in c("fit", "fit_generator", "predict")) {
    out <- interrupt_child(what)
    expect_true(any(grepl("RESULT interrupted OK", out)), info = paste(what, paste(out, collapse = "\n")))
  }
})
