//! The dense plan: the fused kernels a model runs on when its graph is a chain of dense,
//! dropout, activation, flatten and row-wise lambda layers over flat samples (`plan.rs`
//! compiles it from the graph and lends it the graph's weights). `chain.rs` holds its
//! layers' kernels, `function.rs` the lambdas' steps, `kernel.rs`
//! the AVX2 micro-kernel, `train.rs` its training steps, `infer.rs` its tiled inference and
//! `buffers.rs` the state its executors keep in a model between steps.

pub mod buffers;
pub mod chain;
pub mod function;
pub mod infer;
pub mod kernel;
pub mod plan;
pub mod train;
pub mod wide;
