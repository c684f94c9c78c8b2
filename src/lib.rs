//! shadergan: GAN training as hand-written WGSL compute kernels on wgpu.
//!
//! - [`gpu`]: the device context, tensors, pipeline cache and prepared dispatches.
//! - [`ops`]: one host launcher per kernel family in `shaders/`.
//! - [`reference`]: the plain f64 CPU reference of every op, forward and backward.
//! - [`check`]: the GPU-vs-reference correctness cases run by `shadergan check` and the tests.

pub mod classifier;
pub mod data;
pub mod error;
pub mod eval;
pub mod game;
pub mod fsutil;
pub mod images;
pub mod model;
pub mod gpu;
pub mod nn;
pub mod ops;
pub mod reference;
pub mod rng;
pub mod sample;
pub mod train;
pub mod bench;
pub mod check;

pub use error::{Error, Result};
pub use gpu::{Gpu, GpuTensor};
