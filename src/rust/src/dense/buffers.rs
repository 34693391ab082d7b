//! State the dense plan's executors keep in a model between steps (packed weights, tile
//! buffers) and the layouts they exchange: defined here so that the model (`model.rs`) holds
//! them without depending on the executors (`train.rs`, `infer.rs`).

use crate::dense::kernel;
use crate::error::RkResult;

/// A dense layer's packed weights and its packed dL/dz (empty for other layers).
#[derive(Clone, Debug, Default)]
pub struct DensePack {
    pub(crate) in_dim: usize,
    pub(crate) out_dim: usize,
    pub(crate) fwd: Vec<f32>,
    pub(crate) bwd: Vec<f32>,
    pub(crate) dzt: Vec<f32>,
}

/// Per-layer packs, and whether they hold the current weights.
#[derive(Clone, Debug, Default)]
pub struct TrainPacks {
    pub(crate) layers: Vec<DensePack>,
    pub(crate) cap: usize,
    pub(crate) fresh: bool,
    /// Seconds spent in each of the three phases by the kernel's steps so far (profiling).
    pub(crate) phase_secs: [f64; 3],
    /// Counts changes of the weights (steps, `invalidate()`): other packed copies of the
    /// weights (inference's) are current while it is unchanged.
    pub(crate) generation: u64,
}

impl TrainPacks {
    /// Forget the packed weights (they are rebuilt from the layers at the next step). Every
    /// change of the weights outside a kernel step must call this.
    pub fn invalidate(&mut self) {
        self.fresh = false;
        self.generation += 1;
    }

    /// The weights' generation (see `generation`).
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// How a tile's input rows are laid out for the first layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Layout {
    /// Row-major `[rows, d]`.
    Rows,
    /// Panel-major (`kernel.rs`): blocks of `MR` rows, each `[d, MR]`; rows past the tile
    /// in its last block are zero.
    Panels,
}

/// One worker's buffers: the tile's input, two activation buffers used in turn, and two
/// row-major buffers (pre-activation and output).
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    pub(crate) x: Vec<f32>,
    pub(crate) z: Vec<f32>,
    pub(crate) r: Vec<f32>,
    pub(crate) a: [Vec<f32>; 2],
}

/// A tile source over row-major rows of width `d` (a batch, or rows of a stored dataset).
pub fn row_source(
    x: &[f32],
    d: usize,
) -> impl Fn(usize, usize, Layout, &mut [f32]) -> RkResult<()> + Sync + '_ {
    move |r0, r1, layout, buf| {
        let src = &x[r0 * d..r1 * d];
        match layout {
            Layout::Rows => buf[..src.len()].copy_from_slice(src),
            Layout::Panels => kernel::from_rows(src, r1 - r0, d, d, buf),
        }
        Ok(())
    }
}
