# Calls the public API with many generated bad arguments; every call must fail with an
# R error carrying a non-empty message (or succeed), never crash. Prints a summary line.
suppressPackageStartupMessages(library(rkeras))
options(rkeras.num_threads = 1, rkeras.dynamic_display = FALSE)
# fit(view_metrics = TRUE) and view_metrics() open a page: never in a real browser here.
options(browser = function(url) invisible())
# The dataset calls below must fail on their arguments before any download; should
# one get through, it still cannot touch the user's ~/.keras.
Sys.setenv(KERAS_HOME = file.path(tempdir(), "keras-home"))
set.seed(1)
bad_values <- list(NULL, NA, NA_integer_, NA_real_, NA_character_, NaN, Inf, -Inf, -1, 0, 0.5, -0.5,
                   1e12, 2^31, .Machine$integer.max, 1e308, "a", "", c(1, 2), character(), numeric(),
                   integer(), list(), list(1, 2), TRUE, FALSE, c(TRUE, FALSE), matrix(1:4, 2), function() 1,
                   new.env(), as.raw(1), 1i, factor("a"), data.frame(a = 1), quote(x), -1e12)
good_model <- function() {
  m <- keras_model_sequential() %>% layer_dense(4, activation = "relu", input_shape = 3) %>%
    layer_dropout(0.2) %>% layer_dense(2, activation = "softmax")
  m %>% compile(loss = "categorical_crossentropy", optimizer = "adam", metrics = "accuracy")
  m
}
model <- good_model()
x <- matrix(runif(30), 10); y <- to_categorical(rep(0:1, 5), 2)
fa <- layer_input(shape = 3, name = "fa"); fb <- layer_input(shape = 3, name = "fb")
sa <- layer_input(shape = c(4, 3), name = "sa")
open_in <- layer_input(shape = list(NULL, 2))
fmodel <- keras_model(list(fa, fb), list(layer_add(list(fa, fb)) %>% layer_dense(2, activation = "softmax", name = "fo1"),
                                         layer_concatenate(list(fa, fb)) %>% layer_dense(1, name = "fo2")))
fmodel %>% compile(loss = list("categorical_crossentropy", "mse"), optimizer = "adam", loss_weights = c(1, 0.5))
img <- layer_input(shape = c(6, 6, 2), name = "img"); seq1 <- layer_input(shape = c(8, 2), name = "seq1")
cnn <- keras_model_sequential() %>% layer_conv_2d(2, 3, input_shape = c(6, 6, 1)) %>% layer_flatten() %>%
  layer_dense(2, activation = "softmax")
cnn %>% compile(loss = "categorical_crossentropy", optimizer = "sgd")
ximg <- array(runif(10 * 36), c(10, 6, 6, 1))
# Saved files, and damaged copies of them (cut short, bytes changed, junk after, noise).
saved_keras <- file.path(tempdir(), "good.keras"); save_model(model, saved_keras)
saved_h5 <- file.path(tempdir(), "good.h5"); save_model_hdf5(model, saved_h5)
saved_weights <- file.path(tempdir(), "good_weights.h5"); save_model_weights_hdf5(model, saved_weights)
good_bytes <- lapply(c(saved_keras, saved_h5, saved_weights), function(f) readBin(f, "raw", file.size(f)))
corrupt_k <- 0
emb_model <- keras_model_sequential() %>% layer_embedding(5, 2, input_length = 3) %>% layer_flatten()
tokenizer <- text_tokenizer(num_words = 5)
fit_text_tokenizer(tokenizer, c("a b c", "b c d"))
corrupt_bytes <- function(v) {
  corrupt_k <<- corrupt_k + 1
  b <- good_bytes[[corrupt_k %% 3 + 1]]
  switch(corrupt_k %% 4 + 1,
         b[seq_len(sample(length(b) - 1, 1))],
         { i <- sample(length(b), 20); b[i] <- as.raw(sample(0:255, 20, TRUE)); b },
         c(b, as.raw(sample(0:255, 100, TRUE))),
         as.raw(sample(0:255, 500, TRUE)))
}
corrupt_file <- function(v) { f <- tempfile(fileext = ".keras"); writeBin(corrupt_bytes(v), f); f }
calls <- list(
  conv_2d_filters = function(v) img %>% layer_conv_2d(filters = v, kernel_size = 3),
  conv_2d_kernel = function(v) img %>% layer_conv_2d(filters = 2, kernel_size = v),
  conv_2d_strides = function(v) img %>% layer_conv_2d(2, 3, strides = v),
  conv_2d_padding = function(v) img %>% layer_conv_2d(2, 3, padding = v),
  conv_2d_dilation = function(v) img %>% layer_conv_2d(2, 3, dilation_rate = v),
  conv_2d_format = function(v) img %>% layer_conv_2d(2, 3, data_format = v),
  conv_2d_groups = function(v) img %>% layer_conv_2d(2, 3, groups = v),
  conv_2d_act = function(v) img %>% layer_conv_2d(2, 3, activation = v),
  conv_2d_shape = function(v) keras_model_sequential() %>% layer_conv_2d(2, 3, input_shape = v),
  conv_1d_kernel = function(v) seq1 %>% layer_conv_1d(2, kernel_size = v),
  conv_1d_padding = function(v) seq1 %>% layer_conv_1d(2, 3, padding = v),
  conv_2d_transpose = function(v) img %>% layer_conv_2d_transpose(2, kernel_size = v, strides = 2),
  conv_2d_transpose_pad = function(v) img %>% layer_conv_2d_transpose(2, 3, output_padding = v),
  max_pooling_2d = function(v) img %>% layer_max_pooling_2d(pool_size = v),
  max_pooling_2d_strides = function(v) img %>% layer_max_pooling_2d(strides = v),
  max_pooling_1d = function(v) seq1 %>% layer_max_pooling_1d(pool_size = v),
  average_pooling_2d = function(v) img %>% layer_average_pooling_2d(padding = v),
  average_pooling_1d = function(v) seq1 %>% layer_average_pooling_1d(strides = v),
  global_max_pooling_2d = function(v) img %>% layer_global_max_pooling_2d(keepdims = v),
  global_max_pooling_1d = function(v) layer_global_max_pooling_1d(v),
  global_average_pooling_2d = function(v) layer_global_average_pooling_2d(data_format = v),
  global_average_pooling_1d = function(v) seq1 %>% layer_global_average_pooling_1d(keepdims = v),
  batch_norm_axis = function(v) img %>% layer_batch_normalization(axis = v),
  batch_norm_momentum = function(v) img %>% layer_batch_normalization(momentum = v),
  batch_norm_epsilon = function(v) img %>% layer_batch_normalization(epsilon = v),
  batch_norm_center = function(v) img %>% layer_batch_normalization(center = v),
  batch_norm_init = function(v) img %>% layer_batch_normalization(gamma_initializer = v),
  layer_norm_axis = function(v) img %>% layer_layer_normalization(axis = v),
  layer_norm_scale = function(v) img %>% layer_layer_normalization(scale = v),
  zero_padding_2d = function(v) img %>% layer_zero_padding_2d(padding = v),
  cropping_2d = function(v) img %>% layer_cropping_2d(cropping = v),
  upsampling_2d = function(v) img %>% layer_upsampling_2d(size = v),
  upsampling_2d_interp = function(v) img %>% layer_upsampling_2d(interpolation = v),
  spatial_dropout_2d = function(v) img %>% layer_spatial_dropout_2d(rate = v),
  spatial_dropout_1d = function(v) seq1 %>% layer_spatial_dropout_1d(rate = v),
  leaky_relu = function(v) img %>% layer_activation_leaky_relu(alpha = v),
  leaky_relu_slope = function(v) img %>% layer_activation_leaky_relu(negative_slope = v),
  relu_max = function(v) img %>% layer_activation_relu(max_value = v),
  relu_threshold = function(v) img %>% layer_activation_relu(threshold = v),
  elu = function(v) img %>% layer_activation_elu(alpha = v),
  softmax_axis = function(v) img %>% layer_activation_softmax(axis = v),
  fit_cnn_x = function(v) cnn %>% fit(v, y, epochs = 1, verbose = 0),
  predict_cnn_x = function(v) predict(cnn, v, verbose = 0),
  layer_input = function(v) layer_input(shape = v),
  layer_input_name = function(v) layer_input(shape = 3, name = v),
  layer_input_batch = function(v) layer_input(batch_shape = v),
  keras_model_in = function(v) keras_model(v, fa %>% layer_dense(2)),
  keras_model_out = function(v) keras_model(fa, v),
  keras_model_name = function(v) keras_model(fa, fa %>% layer_dense(2), name = v),
  layer_concatenate = function(v) layer_concatenate(v),
  layer_concatenate_axis = function(v) layer_concatenate(list(fa, fb), axis = v),
  layer_add = function(v) layer_add(v),
  layer_add_mixed = function(v) layer_add(list(fa, v)),
  layer_subtract = function(v) layer_subtract(list(fa, fb, v)),
  layer_multiply = function(v) layer_multiply(v),
  layer_maximum = function(v) layer_maximum(v),
  layer_dot = function(v) layer_dot(list(fa, fb), axes = v),
  layer_dot_norm = function(v) layer_dot(list(fa, fb), axes = 1, normalize = v),
  layer_reshape = function(v) fa %>% layer_reshape(target_shape = v),
  layer_permute = function(v) layer_reshape(fa, c(3, 1)) %>% layer_permute(dims = v),
  layer_repeat_vector = function(v) fa %>% layer_repeat_vector(n = v),
  layer_on_value = function(v) layer_dense(v, units = 2),
  get_layer_name = function(v) get_layer(model, name = v),
  get_layer_index = function(v) get_layer(model, index = v),
  pop_layer = function(v) pop_layer(v),
  freeze_from = function(v) freeze_weights(good_model(), from = v),
  freeze_which = function(v) freeze_weights(good_model(), which = v),
  unfreeze_which = function(v) unfreeze_weights(good_model(), which = v),
  model_trainable = function(v) { m <- good_model(); m$trainable <- v },
  model_set_field = function(v) { m <- good_model(); m$stop_training <- v },
  layer_trainable = function(v) { l <- layer_dense(units = 2); l$trainable <- v },
  layer_trainable_arg = function(v) layer_dense(units = 2, trainable = v),
  lstm_trainable_arg = function(v) layer_lstm(units = 2, trainable = v),
  get_weights_trainable = function(v) get_weights(good_model(), trainable = v),
  layer_add_separate = function(v) layer_add(fa, v),
  layer_concatenate_separate = function(v) layer_concatenate(fa, fb, v),
  layer_dropout_rate = function(v) layer_dropout(rate = v),
  layer_call_training = function(v) layer_dense(units = 2)(fa, training = v),
  model_call_training = function(v) fmodel(list(fa, fb), training = v),
  text_to_word_sequence = function(v) text_to_word_sequence(v),
  text_to_word_sequence_split = function(v) text_to_word_sequence("a b", split = v),
  make_sampling_table = function(v) make_sampling_table(v),
  skipgrams_sequence = function(v) skipgrams(v, 10),
  skipgrams_window = function(v) skipgrams(c(1, 2, 3), 10, window_size = v),
  skipgrams_table = function(v) skipgrams(c(1, 2, 3), 10, sampling_table = v),
  sequences_to_texts = function(v) sequences_to_texts(text_tokenizer(), v),
  layer_multi_head_attention_heads = function(v) layer_multi_head_attention(num_heads = v, key_dim = 2),
  layer_multi_head_attention_key_dim = function(v) layer_multi_head_attention(num_heads = 2, key_dim = v),
  layer_multi_head_attention_value_dim = function(v) layer_multi_head_attention(num_heads = 2, key_dim = 2, value_dim = v),
  layer_multi_head_attention_dropout = function(v) layer_multi_head_attention(num_heads = 2, key_dim = 2, dropout = v),
  layer_multi_head_attention_output = function(v) layer_multi_head_attention(num_heads = 2, key_dim = 2, output_shape = v),
  layer_multi_head_attention_call = function(v) layer_multi_head_attention(num_heads = 2, key_dim = 2)(sa, v),
  layer_multi_head_attention_mask = function(v) layer_multi_head_attention(num_heads = 2, key_dim = 2)(sa, sa, attention_mask = v),
  layer_multi_head_attention_causal = function(v) layer_multi_head_attention(num_heads = 2, key_dim = 2)(sa, sa, use_causal_mask = v),
  layer_attention_inputs = function(v) layer_attention(v),
  layer_attention_scale = function(v) layer_attention(use_scale = v),
  layer_attention_mode = function(v) layer_attention(score_mode = v),
  layer_attention_scores = function(v) layer_attention()(list(sa, sa), return_attention_scores = v),
  layer_additive_attention_dropout = function(v) layer_additive_attention(dropout = v),
  layer_gaussian_noise = function(v) layer_gaussian_noise(stddev = v),
  layer_gaussian_noise_seed = function(v) layer_gaussian_noise(stddev = 0.1, seed = v),
  layer_gaussian_dropout = function(v) layer_gaussian_dropout(rate = v),
  layer_alpha_dropout = function(v) layer_alpha_dropout(rate = v),
  layer_unit_normalization = function(v) layer_unit_normalization(axis = v),
  layer_prelu_axes = function(v) layer_activation_parametric_relu(shared_axes = v),
  layer_prelu_init = function(v) layer_activation_parametric_relu(alpha_initializer = v),
  layer_thresholded_relu = function(v) layer_activation_thresholded_relu(theta = v),
  layer_activation_selu = function(v) layer_activation_selu(name = v),
  layer_activity_regularization_l1 = function(v) layer_activity_regularization(l1 = v),
  layer_activity_regularization_l2 = function(v) layer_activity_regularization(l2 = v),
  dense_activity_regularizer = function(v) layer_dense(units = 2, activity_regularizer = v),
  conv_activity_regularizer = function(v) layer_conv_1d(filters = 2, kernel_size = 2, activity_regularizer = v),
  layer_input_open = function(v) layer_input(shape = list(NULL, v)),
  predict_open = function(v) predict(keras_model(open_in, open_in %>% layer_lstm(2)), v, verbose = 0),
  unfreeze_to = function(v) unfreeze_weights(good_model(), to = v),
  model_from_json = function(v) model_from_json(v),
  from_config = function(v) from_config(v),
  get_config = function(v) get_config(v),
  model_to_json = function(v) model_to_json(v),
  fit_functional_x = function(v) fmodel %>% fit(v, list(y, x[, 1]), epochs = 1, verbose = 0),
  fit_functional_y = function(v) fmodel %>% fit(list(x, x), v, epochs = 1, verbose = 0),
  fit_functional_y2 = function(v) fmodel %>% fit(list(x, x), list(y, v), epochs = 1, verbose = 0),
  compile_loss_weights = function(v) fmodel %>% compile(loss = "mse", optimizer = "adam", loss_weights = v),
  predict_functional = function(v) predict(fmodel, list(x, v), verbose = 0),
  set_weights_functional = function(v) set_weights(fmodel, v),
  model_called = function(v) fmodel(v),
  model_called_list = function(v) fmodel(list(fa, v)),
  layer_object_called = function(v) layer_dense(units = 2)(v),
  layer_dense = function(v) keras_model_sequential() %>% layer_dense(units = v, input_shape = 3),
  layer_dense_act = function(v) layer_dense(units = 2, activation = v),
  layer_dense_shape = function(v) keras_model_sequential() %>% layer_dense(units = 2, input_shape = v),
  layer_dense_bias = function(v) layer_dense(units = 2, use_bias = v),
  layer_dense_init = function(v) layer_dense(units = 2, kernel_initializer = v),
  layer_dense_name = function(v) layer_dense(units = 2, name = v),
  layer_dense_reg = function(v) layer_dense(units = 2, kernel_regularizer = v),
  layer_dropout = function(v) layer_dropout(rate = v),
  layer_activation = function(v) layer_activation(activation = v),
  compile_loss = function(v) model %>% compile(loss = v, optimizer = "adam"),
  compile_opt = function(v) model %>% compile(loss = "categorical_crossentropy", optimizer = v),
  compile_metrics = function(v) model %>% compile(loss = "categorical_crossentropy", optimizer = "adam", metrics = v),
  optimizer_lr = function(v) optimizer_adam(learning_rate = v),
  optimizer_rho = function(v) optimizer_rmsprop(rho = v),
  optimizer_momentum = function(v) optimizer_sgd(momentum = v),
  optimizer_adadelta = function(v) optimizer_adadelta(rho = v),
  optimizer_adamax = function(v) optimizer_adamax(beta_2 = v),
  optimizer_nadam = function(v) optimizer_nadam(learning_rate = v),
  optimizer_clipnorm = function(v) optimizer_sgd(clipnorm = v),
  optimizer_clipvalue = function(v) optimizer_rmsprop(clipvalue = v),
  optimizer_global_clipnorm = function(v) optimizer_adam(global_clipnorm = v),
  optimizer_weight_decay = function(v) optimizer_adagrad(weight_decay = v),
  optimizer_decay = function(v) optimizer_sgd(lr = 0.01, decay = v),
  optimizer_use_ema = function(v) optimizer_sgd(use_ema = v),
  fit_clipped = function(v) { m <- good_model(); m %>% compile(loss = "categorical_crossentropy", optimizer = optimizer_sgd(clipnorm = 1)); m %>% fit(v, y, epochs = 1, verbose = 0) },
  loss_from_logits = function(v) loss_categorical_crossentropy(from_logits = v),
  loss_label_smoothing = function(v) loss_binary_crossentropy(label_smoothing = v),
  predict_classes = function(v) predict_classes(model, v),
  metric_threshold = function(v) metric_binary_accuracy(threshold = v),
  metric_name = function(v) model %>% compile(loss = "categorical_crossentropy", optimizer = "adam", metrics = metric_categorical_accuracy(name = v)),
  loss_object = function(v) model %>% compile(loss = loss_categorical_crossentropy(from_logits = v), optimizer = "adam"),
  predict_proba = function(v) predict_proba(model, v),
  fit_x = function(v) model %>% fit(v, y, verbose = 0, epochs = 1),
  fit_y = function(v) model %>% fit(x, v, verbose = 0, epochs = 1),
  fit_epochs = function(v) model %>% fit(x, y, epochs = v, verbose = 0),
  fit_batch = function(v) model %>% fit(x, y, batch_size = v, epochs = 1, verbose = 0),
  fit_verbose = function(v) model %>% fit(x, y, verbose = v, epochs = 1),
  fit_vsplit = function(v) model %>% fit(x, y, validation_split = v, epochs = 1, verbose = 0),
  fit_vdata = function(v) model %>% fit(x, y, validation_data = v, epochs = 1, verbose = 0),
  fit_sw = function(v) model %>% fit(x, y, sample_weight = v, epochs = 1, verbose = 0),
  fit_cw = function(v) model %>% fit(x, y, class_weight = v, epochs = 1, verbose = 0),
  fit_shuffle = function(v) model %>% fit(x, y, shuffle = v, epochs = 1, verbose = 0),
  fit_callbacks = function(v) model %>% fit(x, y, callbacks = v, epochs = 1, verbose = 0),
  fit_initial = function(v) model %>% fit(x, y, initial_epoch = v, epochs = 1, verbose = 0),
  evaluate_x = function(v) evaluate(model, v, y, verbose = 0),
  evaluate_batch = function(v) evaluate(model, x, y, batch_size = v, verbose = 0),
  predict_x = function(v) predict(model, v, verbose = 0),
  predict_batch = function(v) predict(model, x, batch_size = v, verbose = 0),
  train_on_batch = function(v) train_on_batch(model, v, y),
  set_weights = function(v) set_weights(model, v),
  set_weights_item = function(v) { w <- get_weights(model); w[[1]] <- v; set_weights(model, w) },
  gen_output = function(v) fit_generator(model, function() v, steps_per_epoch = 1, verbose = 0),
  gen_x = function(v) fit_generator(model, function() list(v, y), steps_per_epoch = 1, verbose = 0),
  gen_steps = function(v) fit_generator(model, function() list(x, y), steps_per_epoch = v, verbose = 0),
  predict_gen_steps = function(v) predict_generator(model, function() list(x), steps = v),
  dataset_cifar100 = function(v) dataset_cifar100(label_mode = v),
  to_categorical = function(v) to_categorical(v, 3),
  to_categorical_n = function(v) to_categorical(c(0, 1), v),
  array_reshape = function(v) array_reshape(1:6, v),
  array_reshape_x = function(v) array_reshape(v, c(2, 3)),
  csv_logger = function(v) callback_csv_logger(v),
  early_stopping = function(v) callback_early_stopping(patience = v),
  early_stopping_monitor = function(v) callback_early_stopping(monitor = v),
  tensorboard = function(v) callback_tensorboard(log_dir = v),
  lr_scheduler = function(v) callback_learning_rate_scheduler(v),
  normalize = function(v) normalize(v, axis = 1),
  count_params = function(v) count_params(v),
  get_weights = function(v) get_weights(v),
  summary = function(v) summary(v),
  embedding_input_dim = function(v) layer_embedding(input_dim = v, output_dim = 2),
  embedding_output_dim = function(v) layer_embedding(input_dim = 5, output_dim = v),
  embedding_mask = function(v) layer_embedding(input_dim = 5, output_dim = 2, mask_zero = v),
  embedding_length = function(v) keras_model_sequential() %>% layer_embedding(5, 2, input_length = v),
  embedding_ids = function(v) predict(emb_model, v, verbose = 0),
  lstm_units = function(v) seq1 %>% layer_lstm(units = v),
  lstm_activation = function(v) seq1 %>% layer_lstm(3, activation = v),
  lstm_return = function(v) seq1 %>% layer_lstm(3, return_sequences = v),
  lstm_state = function(v) seq1 %>% layer_lstm(3, return_state = v),
  gru_reset = function(v) seq1 %>% layer_gru(3, reset_after = v),
  gru_dropout = function(v) seq1 %>% layer_gru(3, dropout = v),
  rnn_backwards = function(v) seq1 %>% layer_simple_rnn(3, go_backwards = v),
  rnn_recurrent_dropout = function(v) seq1 %>% layer_simple_rnn(3, recurrent_dropout = v),
  rnn_on_matrix = function(v) layer_input(shape = v) %>% layer_lstm(2),
  bidirectional_layer = function(v) seq1 %>% bidirectional(v),
  bidirectional_merge = function(v) seq1 %>% bidirectional(layer_gru(units = 2), merge_mode = v),
  masking_value = function(v) seq1 %>% layer_masking(mask_value = v),
  time_distributed_layer = function(v) seq1 %>% time_distributed(v),
  embedding_mask_zero = function(v) layer_input(3) %>% layer_embedding(5, 2, mask_zero = v) %>% layer_lstm(units = 2),
  pad_sequences = function(v) pad_sequences(v),
  pad_sequences_maxlen = function(v) pad_sequences(list(1:3), maxlen = v),
  pad_sequences_padding = function(v) pad_sequences(list(1:3), padding = v),
  pad_sequences_value = function(v) pad_sequences(list(1:3), value = v),
  tokenizer_words = function(v) text_tokenizer(num_words = v),
  tokenizer_split = function(v) text_tokenizer(split = v),
  tokenizer_fit = function(v) fit_text_tokenizer(tokenizer, v),
  tokenizer_sequences = function(v) texts_to_sequences(tokenizer, v),
  tokenizer_matrix = function(v) texts_to_matrix(tokenizer, "a b", mode = v),
  tokenizer_seq_matrix = function(v) sequences_to_matrix(tokenizer, v),
  dataset_imdb = function(v) dataset_imdb(num_words = v),
  dataset_imdb_maxlen = function(v) dataset_imdb(maxlen = v),
  dataset_reuters = function(v) dataset_reuters(test_split = v),
  dataset_boston = function(v) dataset_boston_housing(seed = v),
  checkpoint_path = function(v) callback_model_checkpoint(v),
  checkpoint_freq = function(v) callback_model_checkpoint("x.h5", save_freq = v),
  checkpoint_mode = function(v) callback_model_checkpoint("x.h5", mode = v),
  backup_dir = function(v) callback_backup_and_restore(v),
  save_model_tf = function(v) save_model_tf(model, v),
  load_model_tf = function(v) load_model_tf(v),
  load_weights_tf = function(v) load_model_weights_tf(model, v),
  save_model_path = function(v) save_model(model, v),
  save_model_optimizer = function(v) save_model(model, file.path(tempdir(), "f.keras"), include_optimizer = v),
  save_model_overwrite = function(v) save_model(model, file.path(tempdir(), "f.keras"), overwrite = v),
  load_model_path = function(v) load_model(v),
  load_model_compile = function(v) load_model(saved_keras, compile = v),
  load_model_damaged = function(v) load_model(corrupt_file(v)),
  save_model_hdf5_path = function(v) save_model_hdf5(model, v),
  load_model_hdf5_damaged = function(v) load_model_hdf5(corrupt_file(v)),
  save_weights_hdf5_path = function(v) save_model_weights_hdf5(model, v),
  load_weights_hdf5_damaged = function(v) load_model_weights_hdf5(model, corrupt_file(v)),
  load_weights_hdf5_other = function(v) load_model_weights_hdf5(cnn, saved_weights, by_name = v),
  load_weights_hdf5_skip = function(v) load_model_weights_hdf5(model, saved_weights, by_name = TRUE, skip_mismatch = v),
  save_weights_path = function(v) save_model_weights(model, v),
  load_weights_damaged = function(v) load_model_weights(cnn, corrupt_file(v)),
  serialize_model = function(v) serialize_model(v),
  serialize_model_optimizer = function(v) serialize_model(model, include_optimizer = v),
  unserialize_model = function(v) unserialize_model(v),
  unserialize_model_damaged = function(v) unserialize_model(corrupt_bytes(v)),
  loss_huber_delta = function(v) loss_huber(delta = v),
  loss_on_data = function(v) loss_kl_divergence(v, matrix(0.5, 2, 2)),
  loss_on_pred = function(v) loss_categorical_hinge(diag(2), v),
  metric_k = function(v) metric_top_k_categorical_accuracy(k = v),
  metric_auc_args = function(v) metric_auc(num_thresholds = v),
  metric_auc_curve = function(v) metric_auc(curve = v),
  metric_precision_t = function(v) metric_precision(thresholds = v),
  metric_recall_class = function(v) metric_recall(class_id = v),
  metric_on_data = function(v) metric_auc(v, c(0.2, 0.7)),
  custom_metric_name = function(v) custom_metric(v, function(y_true, y_pred) 1),
  custom_metric_fn = function(v) custom_metric("m", v),
  custom_metric_fit = function(v) { m <- good_model(); m %>% compile(loss = "categorical_crossentropy", optimizer = "adam",
                                                                      metrics = list(bad = function(y_true, y_pred) v)); m %>% fit(x, y, epochs = 1, verbose = 0) },
  weighted_metrics = function(v) model %>% compile(loss = "categorical_crossentropy", optimizer = "adam", weighted_metrics = v),
  schedule_exp = function(v) learning_rate_schedule_exponential_decay(v, 10, 0.5),
  schedule_exp_steps = function(v) learning_rate_schedule_exponential_decay(0.1, v, 0.5),
  schedule_piecewise = function(v) learning_rate_schedule_piecewise_constant_decay(v, c(0.1, 0.2)),
  schedule_poly = function(v) learning_rate_schedule_polynomial_decay(0.1, 10, power = v),
  schedule_cosine = function(v) learning_rate_schedule_cosine_decay(0.1, 10, warmup_target = v),
  schedule_restarts = function(v) learning_rate_schedule_cosine_decay_restarts(0.1, 10, t_mul = v),
  schedule_inverse = function(v) learning_rate_schedule_inverse_time_decay(0.1, 10, 0.5, staircase = v),
  text_vectorization_max = function(v) layer_text_vectorization(max_tokens = v),
  text_vectorization_mode = function(v) layer_text_vectorization(output_mode = v),
  text_vectorization_len = function(v) layer_text_vectorization(output_sequence_length = v),
  text_vectorization_std = function(v) layer_text_vectorization(standardize = v),
  text_vectorization_split = function(v) layer_text_vectorization(split = v),
  text_vectorization_ngrams = function(v) layer_text_vectorization(ngrams = v),
  text_vectorization_vocab = function(v) layer_text_vectorization(vocabulary = v),
  text_vectorization_adapt = function(v) adapt(layer_text_vectorization(), v),
  text_vectorization_call = function(v) { t <- layer_text_vectorization(); adapt(t, c("a b", "b c")); t(v) },
  get_vocabulary_flag = function(v) get_vocabulary(layer_text_vectorization(), include_special_tokens = v),
  reset_states = function(v) reset_states(v),
  lstm_stateful = function(v) layer_lstm(units = 2, stateful = v),
  schedule_in_optimizer = function(v) optimizer_sgd(learning_rate_schedule_exponential_decay(0.1, 10, 0.5), decay = v),
  fit_view_metrics = function(v) model %>% fit(x, y, epochs = 1, verbose = 0, view_metrics = v),
  gen_view_metrics = function(v) fit_generator(model, function() list(x, y), steps_per_epoch = 1, verbose = 0, view_metrics = v),
  view_metrics = function(v) view_metrics(v),
  view_metrics_history = function(v) view_metrics(structure(list(params = list(epochs = v), metrics = list(loss = v)),
                                                            class = "keras_training_history")),
  plot_model = function(v) getS3method("plot", "rkeras_model")(v, to_file = "m.png"),
  plot_model_file = function(v) plot(model, to_file = v),
  plot_model_shapes = function(v) plot(fmodel, show_shapes = v, to_file = "m.png"),
  plot_model_names = function(v) plot(fmodel, show_layer_names = v, to_file = "m.svg"),
  plot_model_rankdir = function(v) plot(model, rankdir = v, to_file = "m.png"),
  plot_model_dpi = function(v) plot(cnn, dpi = v, to_file = "m.png"),
  plot_model_range = function(v) plot(fmodel, layer_range = v, to_file = "m.png"),
  plot_model_range_end = function(v) plot(fmodel, layer_range = c("fa", v), to_file = "m.png"),
  plot_model_nested = function(v) plot(model, expand_nested = v, to_file = "m.png"),
  plot_model_dots = function(v) plot(model, v, to_file = "m.png")
)
n <- 0; errors <- 0; empty <- 0; other <- 0
for (nm in names(calls)) {
  for (v in bad_values) {
    n <- n + 1
    # Valid but huge values (steps_per_epoch = 2^31 - 1) would train for ever: a time
    # limit ends those calls, which counts as accepted input.
    setTimeLimit(elapsed = 3, transient = TRUE)
    res <- tryCatch({ suppressWarnings(calls[[nm]](v)); "ok" },
                    error = function(e) {
                      # The limit must not fire again while the message is formatted.
                      setTimeLimit()
                      msg <- conditionMessage(e)
                      if (grepl("time limit", msg)) "ok"
                      else if (!nzchar(msg)) "empty" else if (inherits(e, "rkeras_error")) "rkeras" else "other"
                    })
    setTimeLimit()
    if (res == "empty") { empty <- empty + 1; cat("EMPTY MESSAGE:", nm, "\n") }
    if (res %in% c("rkeras", "other")) errors <- errors + 1
    if (res == "other") { other <- other + 1; if (nzchar(Sys.getenv("RKERAS_FUZZ_SHOW"))) cat("OTHER:", nm, "\n") }
  }
}
# The model still trains and predicts.
model <- good_model()
h <- model %>% fit(x, y, epochs = 2, verbose = 0)
stopifnot(all(is.finite(h$metrics$loss)), all(dim(predict(model, x, verbose = 0)) == c(10, 2)))
fmodel %>% compile(loss = list("categorical_crossentropy", "mse"), optimizer = "adam")
h <- fmodel %>% fit(list(x, x), list(y, x[, 1]), epochs = 2, verbose = 0)
stopifnot(all(is.finite(h$metrics$loss)), length(predict(fmodel, list(x, x), verbose = 0)) == 2)
h <- cnn %>% fit(ximg, y, epochs = 2, verbose = 0)
stopifnot(all(is.finite(h$metrics$loss)), all(dim(predict(cnn, ximg, verbose = 0)) == c(10, 2)))
cat(sprintf("FUZZ calls=%d errors=%d non_rkeras=%d empty=%d\n", n, errors, other, empty))
