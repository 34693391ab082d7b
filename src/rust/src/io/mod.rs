//! File formats: TensorBoard event files, HDF5, and Keras's model files.
pub mod crc32c;
pub mod hdf5;
pub mod keras_files;
pub mod npy_objects;
pub mod tfevents;
