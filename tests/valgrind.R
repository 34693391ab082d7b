# The fit/predict/generator path for a memcheck run (see README, Development):
#   R -d "valgrind --error-exitcode=1 --track-origins=yes" --vanilla -f tests/valgrind.R
library(rkeras)
options(rkeras.num_threads = 2, rkeras.dynamic_display = FALSE)
set.seed(1)
x <- matrix(runif(600 * 20), 600)
y <- to_categorical(sample(0:2, 600, TRUE), 3)
model <- keras_model_sequential() %>%
  layer_dense(32, activation = "relu", input_shape = 20) %>%
  layer_dropout(0.3) %>%
  layer_dense(3, activation = "softmax")
model %>% compile(loss = "categorical_crossentropy", optimizer = "adam", metrics = "accuracy")
h <- model %>% fit(x, y, epochs = 2, batch_size = 64, validation_split = 0.2, verbose = 0)
p <- predict(model, x, verbose = 0)
s <- evaluate(model, x, y, verbose = 0)
gen <- function() { i <- sample(600, 32); list(x[i, ], y[i, ]) }
model %>% fit_generator(gen, steps_per_epoch = 5, epochs = 1, verbose = 0)
set_weights(model, get_weights(model))
log_dir <- tempfile()
model %>% fit(x, y, epochs = 1, verbose = 0, callbacks = list(callback_tensorboard(log_dir), callback_csv_logger(tempfile())))
stopifnot(all(is.finite(p)), is.finite(s$loss))
cat("valgrind script done\n")
