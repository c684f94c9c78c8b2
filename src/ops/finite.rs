//! Host side of shaders/finite.wgsl: the index of the first non-finite value of a tensor,
//! found on the GPU (the trainer's guard against saving a diverged model).

use bytemuck::{Pod, Zeroable};

use super::u32_of;
use crate::error::{Error, Result};
use crate::gpu::shaders::FINITE;
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor, Grid, KernelRef};

/// Mirrors `struct FiniteParams` in shaders/finite.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct FiniteParams {
    pub n: u32,
    pub slot: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}
const _: () = assert!(std::mem::size_of::<FiniteParams>() % 16 == 0);

/// `out[slot] = max(out[slot], n − first non-finite index of x)` (0 stays 0 when x is all
/// finite). `out` is a u32 tensor the caller zeroes before the scans it groups.
pub fn first_nonfinite(gpu: &Gpu, x: &GpuTensor, out: &GpuTensor, slot: usize) -> Result<Dispatch> {
    let op = "first_nonfinite";
    if x.dtype() != DType::F32 || out.dtype() != DType::U32 || slot >= out.numel() {
        return Err(Error::shape(op, format!("scans an f32 tensor into a u32 slot: x {} {:?}, slot {slot} of {} {:?} {:?}", x.label(), x.dtype(), out.label(), out.shape(), out.dtype())));
    }
    let n = x.numel();
    // n − i must stay positive for i = 0 and distinct from "none" (0).
    let params = FiniteParams { n: u32_of(op, "elements", n)?, slot: slot as u32, _pad0: 0, _pad1: 0 };
    let label = format!("{op} {}", x.label());
    let grid = Grid::for_items(gpu, &label, n as u64, 256)?;
    gpu.dispatch(&KernelRef::new(&FINITE, "first_nonfinite"), label, &[x], &[out], &params, grid)
}

/// Decode a slot written by `first_nonfinite` over `n` elements: the first bad index, if any.
pub fn decode(value: u32, n: usize) -> Option<usize> {
    (value != 0).then(|| n - value as usize)
}
