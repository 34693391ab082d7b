# Forked R processes use models trained in their parent: run by test-fork.R in a child R
# process under a time limit, so that a hang fails the test instead of stalling it.
# Prints one "CHECK <name> <TRUE|FALSE>" line per comparison, then "RESULT done".
library(rkeras)
library(parallel)
options(rkeras.num_threads = 2)
check <- function(name, ok) cat("CHECK", name, isTRUE(ok), "\n")
set.seed(1)
x <- matrix(rnorm(300 * 4), 300)
y <- to_categorical(sample(0:2, 300, TRUE), 3)
new_model <- function() {
  m <- keras_model_sequential() %>%
    layer_dense(16, activation = "relu", input_shape = 4) %>%
    layer_dropout(0.2) %>%
    layer_dense(3, activation = "softmax")
  m %>% compile(loss = "categorical_crossentropy", optimizer = "adam", metrics = "accuracy")
  m
}
m <- new_model()
m %>% fit(x, y, epochs = 2, batch_size = 32, verbose = 0)

# What the parent computes; each child must compute exactly the same.
p <- predict(m, x, verbose = 0)
e <- evaluate(m, x, y, verbose = 0)
refit <- function(model) {
  c2 <- clone_model(model)
  set_weights(c2, get_weights(model))
  c2 %>% compile(loss = "categorical_crossentropy", optimizer = "adam")
  set.seed(42)
  h <- c2 %>% fit(x, y, epochs = 2, batch_size = 50, verbose = 0)
  path <- tempfile(fileext = ".keras")
  save_model(c2, path)
  back <- load_model(path)
  unlink(path)
  list(loss = h$metrics$loss, weights = get_weights(c2), loaded = predict(back, x, verbose = 0))
}
f <- refit(m)

in_child <- function(i) {
  list(p = predict(m, x, verbose = 0), e = evaluate(m, x, y, verbose = 0), f = refit(m),
       # A child that forks again.
       grandchildren = mclapply(1:2, function(j) predict(m, x, verbose = 0), mc.cores = 2))
}
res <- mclapply(1:2, in_child, mc.cores = 2)
for (i in 1:2) {
  r <- res[[i]]
  check(sprintf("child%d_predict", i), identical(r$p, p))
  check(sprintf("child%d_evaluate", i), identical(r$e, e))
  check(sprintf("child%d_fit_losses", i), identical(r$f$loss, f$loss))
  check(sprintf("child%d_fit_weights", i), identical(r$f$weights, f$weights))
  check(sprintf("child%d_saved_and_loaded", i), identical(r$f$loaded, f$loaded))
  check(sprintf("child%d_grandchildren", i), all(vapply(r$grandchildren, identical, TRUE, p)))
}

# Forks while a training step runs on its own thread: fit() with an R generator overlaps
# the engine's step with the R code that makes the next batch, which here forks.
other <- new_model()
other %>% fit(x, y, epochs = 1, verbose = 0)
p_other <- predict(other, x, verbose = 0)
seen <- list()
calls <- 0
gen <- function() {
  calls <<- calls + 1
  if (calls %in% c(3, 6)) {
    seen[[length(seen) + 1]] <<- mclapply(1:2, function(i) {
      list(other = predict(other, x, verbose = 0), fitting = length(get_weights(m)))
    }, mc.cores = 2)
  }
  idx <- ((calls - 1) %% 10) * 30 + 1:30
  list(x[idx, , drop = FALSE], y[idx, , drop = FALSE])
}
m %>% fit(gen, steps_per_epoch = 5, epochs = 2, verbose = 0)
check("forks_during_fit", length(seen) == 2)
check("forks_during_fit_predict", all(unlist(lapply(seen, function(s) lapply(s, function(r) identical(r$other, p_other))))))
check("forks_during_fit_model", all(unlist(lapply(seen, function(s) lapply(s, function(r) identical(r$fitting, 4L))))))

# The parent keeps its pool and goes on.
m %>% fit(x, y, epochs = 1, verbose = 0)
check("parent_after", all(is.finite(predict(m, x, verbose = 0))))
cat("RESULT done\n")
