# Forked R processes (parallel::mclapply(), future's multicore plan, doMC) use models their
# parent trained: the engine's worker threads are not copied by fork(), so a child builds its
# own. The forking code runs in a separate R process under a time limit, with its whole
# process tree killed on timeout: a hang fails the test instead of stalling the run.

test_that("children and grandchildren of a forked R process predict, evaluate, fit and save as the parent", {
  skip_on_os("windows") # no fork() there; mclapply() runs serially
  wd <- withr::local_tempdir("fork-wd")
  res <- processx::run(file.path(R.home("bin"), "Rscript"),
                       c("--vanilla", normalizePath(test_path("scripts", "fork.R"))),
                       wd = wd, timeout = 180, error_on_status = FALSE, cleanup_tree = TRUE,
                       stderr_to_stdout = TRUE)
  out <- strsplit(res$stdout, "\n")[[1]]
  info <- paste(tail(out, 30), collapse = "\n")
  expect_false(isTRUE(res$timeout), info = paste("the forked children hung:", info))
  expect_equal(res$status, 0L, info = info)
  checks <- grep("^CHECK ", out, value = TRUE)
  expect_length(checks, 16)
  expect_true(all(grepl(" TRUE\\s*$", checks)), info = paste(checks, collapse = "\n"))
  expect_true(any(out == "RESULT done"), info = info)
})
