//! rkeras: a Keras-compatible deep-learning engine for R.

pub mod activations;
pub mod compile;
pub mod config;
pub mod data;
pub mod dense;
pub mod error;
pub mod graph;
pub mod initializers;
pub mod io;
pub mod layers;
pub mod losses;
pub mod metrics;
pub mod model;
pub mod ops;
pub mod optimizers;
pub mod r_api;
pub mod rng;
pub mod saving;
pub mod simd;
pub mod step;
pub mod tensor;
#[cfg(test)]
pub mod testing;
pub mod threads;

use extendr_api::prelude::*;
use r_api::data as rk_data_api;
use r_api::datasets as rk_datasets_api;
use r_api::graph as rk_graph_api;
use r_api::images as rk_images_api;
use r_api::metrics as rk_metrics_api;
use r_api::model as rk_model_api;
use r_api::ops as rk_ops_api;
use r_api::preprocessing as rk_preprocessing_api;
use r_api::saving as rk_saving_api;
use r_api::tensorboard as rk_tensorboard_api;

extendr_module! {
    mod rkeras;
    use rk_data_api;
    use rk_datasets_api;
    use rk_graph_api;
    use rk_images_api;
    use rk_metrics_api;
    use rk_model_api;
    use rk_ops_api;
    use rk_preprocessing_api;
    use rk_saving_api;
    use rk_tensorboard_api;
}
