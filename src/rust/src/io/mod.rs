//! File formats: TensorBoard event files, HDF5, Keras's model files, and image files.
pub mod affine;
pub mod crc32c;
pub mod hdf5;
pub mod image;
pub mod keras_files;
pub mod npy_objects;
pub mod tfevents;
