//! Host side of shaders/penalty.wgsl: the WGAN-GP and R1 gradient penalties on a critic's input
//! gradient, per sample over C×H×W — the value (into the trainer's statistics) and its adjoint
//! ∂P/∂g, the input of the critic's backward of the backward. Math and grids in the shader.

use bytemuck::{Pod, Zeroable};

use super::u32_of;
use crate::error::{Error, Result};
use crate::gpu::shaders::PENALTY;
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor, Grid, KernelRef};

/// Mirrors `struct PenaltyParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct PenaltyParams {
    pub batch: u32,
    pub per_sample: u32,
    pub mode: u32,
    pub stat_index: u32,
    pub weight: f32,
    pub eps: f32,
    pub _pad0: u32,
    pub _pad1: u32,
}
const _: () = assert!(std::mem::size_of::<PenaltyParams>() % 16 == 0);

/// Which penalty, with its weight.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Penalty {
    /// λ·E[(‖g‖ − 1)²], ‖g‖ = sqrt(Σg² + EPS) (WGAN-GP).
    Gp { lambda: f32 },
    /// γ/2·E[‖g‖²] (R1).
    R1 { gamma: f32 },
}

/// The ε inside WGAN-GP's square root: keeps ∂‖g‖/∂g finite where g = 0.
pub const EPS: f32 = 1e-12;

const OP: &str = "penalty";

/// Scratch the penalty needs for a batch of `batch`: (sq, coef), [batch] each.
pub fn scratch(gpu: &Gpu, batch: usize) -> Result<(GpuTensor, GpuTensor)> {
    Ok((GpuTensor::zeros(gpu, &[batch], DType::F32, "penalty.sq")?, GpuTensor::zeros(gpu, &[batch], DType::F32, "penalty.coef")?))
}

/// P into `stats[stat_index]` and ∂P/∂g into `adj` (same shape as `g`, [B, ...]), in
/// recording order; `sq` and `coef` are [B] scratch (`scratch`).
#[allow(clippy::too_many_arguments)]
pub fn penalty(gpu: &Gpu, which: Penalty, g: &GpuTensor, sq: &GpuTensor, coef: &GpuTensor, adj: &GpuTensor, stats: &GpuTensor, stat_index: usize) -> Result<[Dispatch; 3]> {
    let batch = *g.shape().first().ok_or_else(|| Error::shape(OP, format!("{} is a scalar", g.label())))?;
    if batch == 0 || g.numel() == 0 {
        return Err(Error::shape(OP, format!("{} {:?} is empty", g.label(), g.shape())));
    }
    let per = g.numel() / batch;
    if adj.shape() != g.shape() || sq.shape() != [batch] || coef.shape() != [batch] {
        return Err(Error::shape(OP, format!("adj {:?} must be {:?}, sq {:?} and coef {:?} [{batch}]", adj.shape(), g.shape(), sq.shape(), coef.shape())));
    }
    if stat_index >= stats.numel() {
        return Err(Error::shape(OP, format!("statistic slot {stat_index} of {:?}", stats.shape())));
    }
    let (mode, weight) = match which {
        Penalty::Gp { lambda } => (0, lambda),
        Penalty::R1 { gamma } => (1, gamma),
    };
    if !(weight.is_finite() && weight >= 0.0) {
        return Err(Error::invalid(OP, format!("weight {weight} must be a finite number ≥ 0")));
    }
    u32_of(OP, "elements", g.numel())?;
    let params = PenaltyParams { batch: u32_of(OP, "batch", batch)?, per_sample: u32_of(OP, "per sample", per)?, mode, stat_index: stat_index as u32, weight, eps: EPS, _pad0: 0, _pad1: 0 };
    let name = if mode == 0 { "gp" } else { "r1" };
    let label = format!("pen_norms {name} {}", g.label());
    let norms = gpu.dispatch(&KernelRef::new(&PENALTY, "pen_norms"), label.clone(), &[g], &[sq], &params, Grid::linear(gpu, &label, batch as u64)?)?;
    let label = format!("pen_finish {name}");
    let finish = gpu.dispatch(&KernelRef::new(&PENALTY, "pen_finish"), label.clone(), &[sq], &[coef, stats], &params, Grid::new(gpu, &label, 1, 1, 1)?)?;
    let label = format!("pen_adjoint {name} {}", g.label());
    let grid = Grid::for_items(gpu, &label, g.numel() as u64, 256)?;
    let adjoint = gpu.dispatch(&KernelRef::new(&PENALTY, "pen_adjoint"), label, &[g, coef], &[adj], &params, grid)?;
    Ok([norms, finish, adjoint])
}

/// WGAN-GP's x̂ = ε·real + (1 − ε)·fake per sample into `out` ([B, ...] each; `eps` [B]).
pub fn interpolate(gpu: &Gpu, real: &GpuTensor, fake: &GpuTensor, eps: &GpuTensor, out: &GpuTensor) -> Result<Dispatch> {
    let batch = *real.shape().first().ok_or_else(|| Error::shape(OP, format!("{} is a scalar", real.label())))?;
    if fake.shape() != real.shape() || out.shape() != real.shape() || eps.shape() != [batch] || batch == 0 {
        return Err(Error::shape(OP, format!("real {:?}, fake {:?} and out {:?} must match, eps {:?} be [{batch}]", real.shape(), fake.shape(), out.shape(), eps.shape())));
    }
    let params = PenaltyParams { batch: u32_of(OP, "batch", batch)?, per_sample: u32_of(OP, "per sample", real.numel() / batch)?, mode: 0, stat_index: 0, weight: 0.0, eps: 0.0, _pad0: 0, _pad1: 0 };
    u32_of(OP, "elements", real.numel())?;
    let label = format!("pen_interpolate {}", out.label());
    let grid = Grid::for_items(gpu, &label, real.numel() as u64, 256)?;
    gpu.dispatch(&KernelRef::new(&PENALTY, "pen_interpolate"), label, &[real, fake, eps], &[out], &params, grid)
}
