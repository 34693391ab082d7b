# The Keras-for-R MNIST MLP, run as written with library(rkeras). MNIST itself needs a
# download; Fashion-MNIST (same shapes, installed by Debian) is used when MNIST is not
# available offline.
library(rkeras)
mnist <- tryCatch(dataset_mnist(), rkeras_error_io = function(e) {
  message("MNIST is not available offline; using Fashion-MNIST (same shapes).")
  dataset_fashion_mnist()
})
x_train <- mnist$train$x
y_train <- mnist$train$y
x_test <- mnist$test$x
y_test <- mnist$test$y

# reshape
x_train <- array_reshape(x_train, c(nrow(x_train), 784))
x_test <- array_reshape(x_test, c(nrow(x_test), 784))
# rescale
x_train <- x_train / 255
x_test <- x_test / 255

# one-hot encoding the label
y_train <- to_categorical(y_train, 10)
y_test <- to_categorical(y_test, 10)

# define the computational graph
model <- keras_model_sequential()
model %>%
  layer_dense(units = 256, activation = 'relu', input_shape = c(784)) %>%
  layer_dropout(rate = 0.4) %>%
  layer_dense(units = 128, activation = 'relu') %>%
  layer_dropout(rate = 0.3) %>%
  layer_dense(units = 10, activation = 'softmax')
summary(model)

# compile model
model %>% compile(
  loss = 'categorical_crossentropy',
  optimizer = optimizer_rmsprop(),
  metrics = c('accuracy'))

# model training
history <- model %>% fit(
  x_train, y_train,
  epochs = as.integer(Sys.getenv("RKERAS_EPOCHS", "30")), batch_size = 128,
  validation_split = 0.2
)
print(history)
cat("\nTest set:\n")
print(unlist(model %>% evaluate(x_test, y_test, verbose = 0)))
