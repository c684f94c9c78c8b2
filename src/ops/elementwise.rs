//! Host side of shaders/elementwise.wgsl: fill, copy, scale, axpy, axpby and the GPU step
//! counter.

use bytemuck::{Pod, Zeroable};

use super::u32_of;
use crate::error::{Error, Result};
use crate::gpu::shaders::ELEMENTWISE;
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor, Grid, KernelRef};

/// Mirrors `struct EwParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct EwParams {
    pub n4: u32,
    pub alpha: f32,
    pub beta: f32,
    pub value: f32,
}
const _: () = assert!(std::mem::size_of::<EwParams>() % 16 == 0);

/// Mirrors `struct CounterParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct CounterParams {
    pub index: u32,
    pub delta: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

/// Elements processed 4 at a time (tensors are padded to 4).
pub(crate) fn vec4_count(op: &str, t: &GpuTensor) -> Result<u32> {
    u32_of(op, "elements / 4", t.numel().div_ceil(4))
}

pub(crate) fn vec4_grid(gpu: &Gpu, label: &str, n4: u32) -> Result<Grid> {
    Grid::for_items(gpu, label, n4 as u64, 256)
}

fn same_len(op: &str, a: &GpuTensor, b: &GpuTensor) -> Result<()> {
    if a.numel() != b.numel() {
        return Err(Error::shape(
            op,
            format!("{} {:?} and {} {:?} differ in size", a.label(), a.shape(), b.label(), b.shape()),
        ));
    }
    Ok(())
}

fn ew(gpu: &Gpu, entry: &'static str, reads: &[&GpuTensor], writes: &[&GpuTensor], alpha: f32, beta: f32, value: f32) -> Result<Dispatch> {
    let target = writes[0];
    for t in reads.iter().chain(writes) {
        same_len(entry, t, target)?;
        if t.dtype() != DType::F32 {
            return Err(Error::shape(entry, format!("{} must be f32", t.label())));
        }
    }
    let n4 = vec4_count(entry, target)?;
    let label = format!("{entry} {} {:?}", target.label(), target.shape());
    let grid = vec4_grid(gpu, &label, n4)?;
    gpu.dispatch(&KernelRef::new(&ELEMENTWISE, entry), label, reads, writes, &EwParams { n4, alpha, beta, value }, grid)
}

/// y = value
pub fn fill(gpu: &Gpu, y: &GpuTensor, value: f32) -> Result<Dispatch> {
    ew(gpu, "fill", &[], &[y], 0.0, 0.0, value)
}

/// y = min(max(y, lo), hi), in place (WGAN's weight clipping: lo = −c, hi = c).
pub fn clamp(gpu: &Gpu, y: &GpuTensor, lo: f32, hi: f32) -> Result<Dispatch> {
    if lo.partial_cmp(&hi).is_none_or(|o| o == std::cmp::Ordering::Greater) {
        return Err(Error::invalid("clamp", format!("the range [{lo}, {hi}] is empty")));
    }
    ew(gpu, "clamp_in_place", &[], &[y], lo, hi, 0.0)
}

/// y = x
pub fn copy(gpu: &Gpu, x: &GpuTensor, y: &GpuTensor) -> Result<Dispatch> {
    ew(gpu, "copy", &[x], &[y], 1.0, 0.0, 0.0)
}

/// y = alpha·x
pub fn scale(gpu: &Gpu, x: &GpuTensor, y: &GpuTensor, alpha: f32) -> Result<Dispatch> {
    ew(gpu, "scale", &[x], &[y], alpha, 0.0, 0.0)
}

/// y += alpha·x
pub fn axpy(gpu: &Gpu, alpha: f32, x: &GpuTensor, y: &GpuTensor) -> Result<Dispatch> {
    ew(gpu, "axpy", &[x], &[y], alpha, 0.0, 0.0)
}

/// z = alpha·x + beta·y
pub fn axpby(gpu: &Gpu, alpha: f32, x: &GpuTensor, beta: f32, y: &GpuTensor, z: &GpuTensor) -> Result<Dispatch> {
    ew(gpu, "axpby", &[x, y], &[z], alpha, beta, 0.0)
}

/// counters[index] += delta (a u32 tensor of GPU-resident step counters).
pub fn counter_add(gpu: &Gpu, counters: &GpuTensor, index: usize, delta: u32) -> Result<Dispatch> {
    if counters.dtype() != DType::U32 || index >= counters.numel() {
        return Err(Error::shape(
            "counter_add",
            format!("slot {index} of {} {:?} {:?}", counters.label(), counters.shape(), counters.dtype()),
        ));
    }
    let params = CounterParams { index: index as u32, delta, _pad0: 0, _pad1: 0 };
    gpu.dispatch(
        &KernelRef::new(&ELEMENTWISE, "counter_add"),
        format!("counter_add {}[{index}]", counters.label()),
        &[],
        &[counters],
        &params,
        Grid::new(gpu, "counter_add", 1, 1, 1)?,
    )
}

/// z = x ⊙ y
pub fn mul(gpu: &Gpu, x: &GpuTensor, y: &GpuTensor, z: &GpuTensor) -> Result<Dispatch> {
    ew(gpu, "mul", &[x, y], &[z], 1.0, 0.0, 0.0)
}
