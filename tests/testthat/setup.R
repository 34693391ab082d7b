# One thread keeps tests deterministic and light under R CMD check.
withr::local_options(list(rkeras.num_threads = 1, rkeras.dynamic_display = FALSE), .local_envir = teardown_env())

# fit_generator() and friends warn once per session that they are deprecated, as Keras for R
# 2.x does; the tests call them throughout, so the warnings are taken as given here
# (test-model-generator.R checks them).
for (fn in c("fit_generator", "evaluate_generator", "predict_generator")) {
  assign(paste0("warned_", fn), TRUE, envir = rkeras:::rk_cache)
}
