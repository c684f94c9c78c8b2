//! Host side of shaders/random.wgsl: Philox4x32-10 bits, uniform and normal samples.

use bytemuck::{Pod, Zeroable};

use super::elementwise::{vec4_count, vec4_grid};
use crate::error::{Error, Result};
use crate::gpu::shaders::RANDOM;
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor, KernelRef};

/// Mirrors `struct RngParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct RngParams {
    pub n4: u32,
    pub key_lo: u32,
    pub key_hi: u32,
    pub stream: u32,
    pub counter_index: u32,
    pub a: f32,
    pub b: f32,
    pub _pad: u32,
}
const _: () = assert!(std::mem::size_of::<RngParams>() % 16 == 0);

/// What to draw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// Raw Philox words into a u32 tensor.
    Bits,
    /// Uniform on [low, high).
    Uniform { low: f32, high: f32 },
    /// Normal with this mean and standard deviation.
    Normal { mean: f32, std: f32 },
}

/// Where in the random sequence: the seed (Philox key), an independent stream id, and the slot
/// of the GPU step counter that supplies the third counter word (see the shader header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RngKey {
    pub seed: u64,
    pub stream: u32,
    pub counter_index: usize,
}

impl RngParams {
    /// `n4` Philox blocks at `key`, with the distribution's two parameters.
    fn at(key: RngKey, n4: u32, a: f32, b: f32) -> RngParams {
        RngParams {
            n4,
            key_lo: key.seed as u32,
            key_hi: (key.seed >> 32) as u32,
            stream: key.stream,
            counter_index: key.counter_index as u32,
            a,
            b,
            _pad: 0,
        }
    }
}

/// Fill `out` from the Philox sequence at `key`.
pub fn sample(gpu: &Gpu, dist: Distribution, key: RngKey, counters: &GpuTensor, out: &GpuTensor) -> Result<Dispatch> {
    let (entry, want, a, b) = match dist {
        Distribution::Bits => ("rng_bits", DType::U32, 0.0, 0.0),
        Distribution::Uniform { low, high } => ("rng_uniform", DType::F32, low, high),
        Distribution::Normal { mean, std } => ("rng_normal", DType::F32, mean, std),
    };
    if out.dtype() != want {
        return Err(Error::shape(entry, format!("{} must be {want:?}", out.label())));
    }
    if counters.dtype() != DType::U32 || key.counter_index >= counters.numel() {
        return Err(Error::shape(entry, format!("step counter slot {} of {:?}", key.counter_index, counters.shape())));
    }
    let n4 = vec4_count(entry, out)?;
    let params = RngParams::at(key, n4, a, b);
    let label = format!("{entry} {} {:?}", out.label(), out.shape());
    let grid = vec4_grid(gpu, &label, n4)?;
    gpu.dispatch(&KernelRef::new(&RANDOM, entry), label, &[counters], &[out], &params, grid)
}

/// y = x ⊙ mask with mask = 1/(1 − p) where the draw keeps the element, 0 where it drops it
/// (probability p); the mask is kept for the backward (`elementwise::mul(dy, mask, dx)`).
pub fn dropout_forward(
    gpu: &Gpu,
    p: f32,
    key: RngKey,
    counters: &GpuTensor,
    x: &GpuTensor,
    y: &GpuTensor,
    mask: &GpuTensor,
) -> Result<Dispatch> {
    let op = "dropout_forward";
    if !(0.0..1.0).contains(&p) {
        return Err(Error::invalid("dropout", format!("drop probability {p} must lie in [0, 1)")));
    }
    for t in [y, mask] {
        if t.shape() != x.shape() {
            return Err(Error::shape(op, format!("{} {:?} must match the input {:?}", t.label(), t.shape(), x.shape())));
        }
    }
    if counters.dtype() != DType::U32 || key.counter_index >= counters.numel() {
        return Err(Error::shape(op, format!("step counter slot {} of {:?}", key.counter_index, counters.shape())));
    }
    let n4 = vec4_count(op, x)?;
    let params = RngParams::at(key, n4, p, 0.0);
    let label = format!("{op} {} {:?}", x.label(), x.shape());
    let grid = vec4_grid(gpu, &label, n4)?;
    gpu.dispatch(&KernelRef::new(&RANDOM, op), label, &[counters, x], &[y, mask], &params, grid)
}
