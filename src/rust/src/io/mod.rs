//! File formats: TensorBoard event files.
pub mod crc32c;
pub mod tfevents;
