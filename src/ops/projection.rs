//! Host side of shaders/projection.wgsl: the projection discriminator's head,
//! out[b] = φ[b]·(w + E[y_b]) + bias (Miyato & Koyama 2018), its input gradient and its
//! parameter gradients. Math, layouts and grids in the shader.

use bytemuck::{Pod, Zeroable};

use super::{expect_shape, u32_of};
use crate::error::{Error, Result};
use crate::gpu::shaders::PROJECTION;
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor, Grid, KernelRef};

/// Mirrors `struct ProjectionParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct ProjectionParams {
    pub batch: u32,
    pub features: u32,
    pub classes: u32,
    pub with_bias: u32,
}
const _: () = assert!(std::mem::size_of::<ProjectionParams>() % 16 == 0);

const OP: &str = "projection";
const WG: u64 = 256;

/// The head's parameters: w [F] (Linear(F, 1).weight viewed flat), bias [1], E [K, F].
#[derive(Clone, Copy)]
pub struct Head<'a> {
    pub weight: &'a GpuTensor,
    pub bias: &'a GpuTensor,
    pub embed: &'a GpuTensor,
}

/// (B, F, K) from φ [B, F], labels u32 [B] and the head, or a shape error.
fn dims(phi: &GpuTensor, labels: &GpuTensor, head: Head) -> Result<(usize, usize, usize)> {
    let [b, f] = phi.shape() else {
        return Err(Error::shape(OP, format!("features {} must be [B, F], got {:?}", phi.label(), phi.shape())));
    };
    let [k, f2] = head.embed.shape() else {
        return Err(Error::shape(OP, format!("embedding {} must be [K, F], got {:?}", head.embed.label(), head.embed.shape())));
    };
    if *b == 0 || *f == 0 || *k == 0 || f2 != f {
        return Err(Error::shape(OP, format!("features {:?} and embedding {:?} must be non-empty with the same F", phi.shape(), head.embed.shape())));
    }
    if labels.dtype() != DType::U32 || labels.shape() != [*b] {
        return Err(Error::shape(OP, format!("labels ({}) must be u32 [{b}], got {:?} {:?}", labels.label(), labels.dtype(), labels.shape())));
    }
    expect_shape(OP, "weight", head.weight, &[*f])?;
    expect_shape(OP, "bias", head.bias, &[1])?;
    Ok((*b, *f, *k))
}

fn params(b: usize, f: usize, k: usize, with_bias: bool) -> Result<ProjectionParams> {
    u32_of(OP, "elements", b * f.max(k * f + f + 1))?;
    Ok(ProjectionParams { batch: b as u32, features: f as u32, classes: k as u32, with_bias: with_bias as u32 })
}

/// out [B] = φ·(w + E[y]) (+ bias with `with_bias`; without it, the backward of the backward's
/// pass from the adjoint of dφ to that of the upstream gradient), overwritten.
pub fn forward(gpu: &Gpu, phi: &GpuTensor, labels: &GpuTensor, head: Head, out: &GpuTensor, with_bias: bool) -> Result<Dispatch> {
    let (b, f, k) = dims(phi, labels, head)?;
    expect_shape(OP, "output", out, &[b])?;
    let label = format!("projection_forward B={b} F={f} K={k}");
    let grid = Grid::linear(gpu, &label, b as u64)?;
    gpu.dispatch(&KernelRef::new(&PROJECTION, "projection_forward"), label, &[phi, labels, head.weight, head.bias, head.embed], &[out], &params(b, f, k, with_bias)?, grid)
}

/// dφ [B, F] = g[b]·(w + E[y_b]), overwritten; g [B].
pub fn backward_input(gpu: &Gpu, g: &GpuTensor, labels: &GpuTensor, head: Head, dphi: &GpuTensor) -> Result<Dispatch> {
    let (b, f, k) = dims(dphi, labels, head)?;
    expect_shape(OP, "upstream gradient", g, &[b])?;
    let label = format!("projection_backward_input B={b} F={f} K={k}");
    let grid = Grid::for_items(gpu, &label, (b * f) as u64, WG)?;
    gpu.dispatch(&KernelRef::new(&PROJECTION, "projection_backward_input"), label, &[g, labels, head.weight, head.embed], &[dphi], &params(b, f, k, true)?, grid)
}

/// dw += gᵀφ, dE[k] += Σ_{y_b = k} g[b]·φ[b], dbias += Σ g (with `with_bias`): `grads` holds
/// (dw [F], dbias [1], dE [K, F]) in the head's shapes.
pub fn backward_params(gpu: &Gpu, g: &GpuTensor, labels: &GpuTensor, phi: &GpuTensor, grads: Head, with_bias: bool) -> Result<Dispatch> {
    let (b, f, k) = dims(phi, labels, grads)?;
    expect_shape(OP, "upstream gradient", g, &[b])?;
    let label = format!("projection_backward_params B={b} F={f} K={k}");
    let grid = Grid::for_items(gpu, &label, (f + k * f + 1) as u64, WG)?;
    gpu.dispatch(&KernelRef::new(&PROJECTION, "projection_backward_params"), label, &[g, labels, phi], &[grads.weight, grads.embed, grads.bias], &params(b, f, k, with_bias)?, grid)
}
