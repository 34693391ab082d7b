# Run the testthat suite against the installed package; print "N passed, N failed".
library(testthat)
res <- as.data.frame(test_dir("tests/testthat", package = "rkeras", load_package = "installed",
                              reporter = ProgressReporter$new(show_praise = FALSE), stop_on_failure = FALSE))
passed <- sum(res$nb - res$failed - res$skipped - res$warning)
failed <- sum(res$failed) + sum(res$error)
skipped <- sum(res$skipped)
cat(sprintf("\n%d passed, %d failed, %d skipped\n", passed, failed, skipped))
quit(status = if (failed > 0) 1 else 0)
