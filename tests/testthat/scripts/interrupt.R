# Child process for interrupt tests: writes its pid, then runs `what` for a long time; the
# parent sends SIGINT. The interrupt must be catchable and the model usable afterwards.
args <- commandArgs(trailingOnly = TRUE)
what <- args[[1]]; pidfile <- args[[2]]
suppressPackageStartupMessages(library(rkeras))
options(rkeras.num_threads = 2, rkeras.dynamic_display = FALSE)
set.seed(1)
x <- matrix(runif(20000 * 100), 20000); y <- to_categorical(sample(0:9, 20000, TRUE), 10)
model <- keras_model_sequential() %>% layer_dense(256, activation = "relu", input_shape = 100) %>%
  layer_dropout(0.3) %>% layer_dense(10, activation = "softmax")
model %>% compile(loss = "categorical_crossentropy", optimizer = "rmsprop", metrics = "accuracy")
gen <- function() { i <- sample(20000, 64); Sys.sleep(0.001); list(x[i, ], y[i, ]) }
writeLines(as.character(Sys.getpid()), pidfile)
t0 <- proc.time()[[3]]
r <- tryCatch({
  switch(what,
    fit = model %>% fit(x, y, epochs = 1000, verbose = 0),
    fit_generator = model %>% fit_generator(gen, steps_per_epoch = 100000, verbose = 0),
    predict = for (i in 1:10000) predict(model, x, verbose = 0))
  "finished"
}, interrupt = function(e) "interrupted")
latency <- proc.time()[[3]] - t0
p <- predict(model, x[1:5, ], verbose = 0)
h <- model %>% fit(x[1:256, ], y[1:256, ], epochs = 1, verbose = 0)
stopifnot(all(is.finite(p)), is.finite(h$metrics$loss))
cat("RESULT", r, "OK\n")
