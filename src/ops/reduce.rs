//! Host side of shaders/reduce.wgsl: fixed-order per-channel sums (bias gradients) and sums
//! over a leading axis (split-K partials).

use bytemuck::{Pod, Zeroable};

use super::u32_of;
use crate::error::{Error, Result};
use crate::gpu::shaders::REDUCE;
use crate::gpu::{Dispatch, Gpu, GpuTensor, Grid, KernelRef};

/// Mirrors `struct ReduceParams` in shaders/reduce.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct ReduceParams {
    pub batch: u32,
    pub channels: u32,
    pub inner: u32,
    pub accumulate: u32,
}
const _: () = assert!(std::mem::size_of::<ReduceParams>() % 16 == 0);

/// `out[c] (+)= Σ_{b, i} x[b, c, i]` for x of shape [B, C, ...] (any trailing dims, or none)
/// and out of shape [C]. `accumulate`: += (parameter gradients) instead of =.
pub fn sum_channels(gpu: &Gpu, op: &str, x: &GpuTensor, out: &GpuTensor, accumulate: bool) -> Result<Dispatch> {
    let shape = x.shape();
    if shape.len() < 2 {
        return Err(Error::shape(op, format!("sum over channels needs [B, C, ...], got {shape:?}")));
    }
    let (batch, channels) = (shape[0], shape[1]);
    let inner: usize = shape[2..].iter().product();
    if out.shape() != [channels] {
        return Err(Error::shape(op, format!("channel sums of {shape:?} go to [{channels}], got {:?}", out.shape())));
    }
    let params = ReduceParams {
        batch: u32_of(op, "batch", batch)?,
        channels: u32_of(op, "channels", channels)?,
        inner: u32_of(op, "inner size", inner)?,
        accumulate: accumulate as u32,
    };
    u32_of(op, "elements", x.numel())?;
    let label = format!("{op}.sum_channels {shape:?}");
    let grid = Grid::linear(gpu, &label, channels as u64)?;
    gpu.dispatch(&KernelRef::new(&REDUCE, "sum_channels"), label, &[x], &[out], &params, grid)
}

/// `out[i] (+)= Σ_s x[s, i]` for x of shape [S, ...] and out with the trailing element count.
pub fn sum_leading(gpu: &Gpu, op: &str, x: &GpuTensor, out: &GpuTensor, accumulate: bool) -> Result<Dispatch> {
    let slices = *x.shape().first().unwrap_or(&1);
    let inner = x.numel() / slices.max(1);
    if out.numel() != inner {
        return Err(Error::shape(op, format!("sum over the first axis of {:?} has {inner} elements, out has {:?}", x.shape(), out.shape())));
    }
    let params = ReduceParams {
        batch: u32_of(op, "slices", slices)?,
        channels: 0,
        inner: u32_of(op, "elements", inner)?,
        accumulate: accumulate as u32,
    };
    u32_of(op, "elements", x.numel())?;
    let label = format!("{op}.sum_leading {:?}", x.shape());
    let grid = Grid::for_items(gpu, &label, inner as u64, 256)?;
    gpu.dispatch(&KernelRef::new(&REDUCE, "sum_leading"), label, &[x], &[out], &params, grid)
}
