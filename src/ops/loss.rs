//! Host side of shaders/loss.wgsl: binary cross-entropy with logits, value and gradient.

use bytemuck::{Pod, Zeroable};

use super::u32_of;
use crate::error::{Error, Result};
use crate::gpu::shaders::LOSS;
use crate::gpu::{Dispatch, Gpu, GpuTensor, Grid, KernelRef};

/// Mirrors `struct LossParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct LossParams {
    pub n: u32,
    pub out_index: u32,
    pub scale: f32,
    pub _pad: u32,
}
const _: () = assert!(std::mem::size_of::<LossParams>() % 16 == 0);

/// L = scale·mean BCE(logits, targets) into out[out_index], mean σ(logits) into
/// out[out_index + 1], dlogits = ∂L/∂logits (overwrite).
pub fn bce_with_logits(
    gpu: &Gpu,
    logits: &GpuTensor,
    targets: &GpuTensor,
    dlogits: &GpuTensor,
    out: &GpuTensor,
    out_index: usize,
    scale: f32,
) -> Result<Dispatch> {
    let op = "bce_with_logits";
    let n = logits.numel();
    if targets.numel() != n || dlogits.numel() != n {
        return Err(Error::shape(
            op,
            format!("logits {:?}, targets {:?} and gradient {:?} must have the same size", logits.shape(), targets.shape(), dlogits.shape()),
        ));
    }
    if out_index + 2 > out.numel() {
        return Err(Error::shape(op, format!("out[{out_index}..{}] lies past {:?}", out_index + 2, out.shape())));
    }
    let params = LossParams { n: u32_of(op, "logits", n)?, out_index: out_index as u32, scale, _pad: 0 };
    gpu.dispatch(
        &KernelRef::new(&LOSS, op),
        format!("{op} {:?}", logits.shape()),
        &[logits, targets],
        &[dlogits, out],
        &params,
        Grid::new(gpu, op, 1, 1, 1)?,
    )
}
