# One thread keeps tests deterministic and light under R CMD check.
withr::local_options(list(rkeras.num_threads = 1, rkeras.dynamic_display = FALSE), .local_envir = teardown_env())
