//! The only code that names extendr_api: one file per R family.
pub mod data;
pub mod datasets;
pub mod graph;
pub mod handle;
pub mod images;
pub mod metrics;
pub mod model;
pub mod ops;
pub mod preprocessing;
pub mod saving;
pub mod shapes;
pub mod tensorboard;
