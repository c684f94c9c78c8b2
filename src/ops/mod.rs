//! Host launchers, one module per kernel family in `shaders/`. Each `prepare`-style function
//! checks shapes and limits, then returns a [`Dispatch`](crate::gpu::Dispatch) that can be
//! recorded any number of times. The math, layouts and grids are documented in the shader
//! headers; the launchers do not repeat them.

pub mod activation;
pub mod batchnorm;
pub mod conv;
pub mod conv2d;
pub mod conv_transpose2d;
pub mod data;
pub mod distance;
pub mod elementwise;
pub mod embedding;
pub mod finite;
pub mod labels;
pub mod layernorm;
pub mod loss;
pub mod mask;
pub mod matmul;
pub mod minibatch_std;
pub mod optim;
pub mod penalty;
pub mod pool;
pub mod projection;
pub mod random;
pub mod reduce;
pub mod spectral_norm;
pub mod vae;

use crate::error::{Error, Result};
use crate::gpu::GpuTensor;

/// `t` must have exactly `shape`.
pub(crate) fn expect_shape(op: &str, name: &str, t: &GpuTensor, shape: &[usize]) -> Result<()> {
    if t.shape() != shape {
        return Err(Error::shape(op, format!("{name} ({}) has shape {:?}, expected {shape:?}", t.label(), t.shape())));
    }
    Ok(())
}

/// Dimensions as u32 for a params struct, or a shape error when one does not fit.
pub(crate) fn u32_of(op: &str, what: &str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::shape(op, format!("{what} = {v} does not fit in 32 bits")))
}
