//! Host side of shaders/layernorm.wgsl: LayerNorm over each sample's [C, H, W] — forward,
//! backward to the input, backward to γ and β, and the backward of the backward. Math, grids
//! and write modes in the shader.

use bytemuck::{Pod, Zeroable};

use super::{expect_shape, u32_of};
use crate::error::{Error, Result};
use crate::gpu::shaders::LAYERNORM;
use crate::gpu::{Dispatch, Gpu, GpuTensor, Grid, KernelRef};

/// Mirrors `struct LnParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct LnParams {
    pub batch: u32,
    pub per_sample: u32,
    pub eps: f32,
    pub _pad0: u32,
}
const _: () = assert!(std::mem::size_of::<LnParams>() % 16 == 0);

/// PyTorch's `nn.LayerNorm` default.
pub const EPS: f32 = 1e-5;

const OP: &str = "layernorm";

/// (B, N) of x [B, ...], with every per-position tensor [N...] of x's sample shape and every
/// per-sample tensor as x.
fn dims(x: &GpuTensor, per_position: &[(&str, &GpuTensor)], like_x: &[(&str, &GpuTensor)], saved: &[(&str, &GpuTensor)]) -> Result<LnParams> {
    let s = x.shape();
    if s.len() < 2 || x.numel() == 0 {
        return Err(Error::shape(OP, format!("input must be a non-empty [B, ...], got {s:?}")));
    }
    for (name, t) in per_position {
        expect_shape(OP, name, t, &s[1..])?;
    }
    for (name, t) in like_x {
        expect_shape(OP, name, t, s)?;
    }
    for (name, t) in saved {
        expect_shape(OP, name, t, &[s[0], 2])?;
    }
    Ok(LnParams { batch: u32_of(OP, "batch", s[0])?, per_sample: u32_of(OP, "values per sample", x.numel() / s[0])?, eps: EPS, _pad0: 0 })
}

fn per_sample(gpu: &Gpu, entry: &'static str, x: &GpuTensor, reads: &[&GpuTensor], writes: &[&GpuTensor], p: &LnParams) -> Result<Dispatch> {
    let label = format!("{entry} {:?}", x.shape());
    let grid = Grid::linear(gpu, &label, p.batch as u64)?;
    gpu.dispatch(&KernelRef::new(&LAYERNORM, entry), label, reads, writes, p, grid)
}

fn per_position(gpu: &Gpu, entry: &'static str, x: &GpuTensor, reads: &[&GpuTensor], writes: &[&GpuTensor], p: &LnParams) -> Result<Dispatch> {
    let label = format!("{entry} {:?}", x.shape());
    let grid = Grid::for_items(gpu, &label, p.per_sample as u64, 256)?;
    gpu.dispatch(&KernelRef::new(&LAYERNORM, entry), label, reads, writes, p, grid)
}

/// y = γ ⊙ x̂ + β; `saved` [B, 2] receives (μ, 1/σ) per sample for the backward passes.
pub fn forward(gpu: &Gpu, x: &GpuTensor, gamma: &GpuTensor, beta: &GpuTensor, y: &GpuTensor, saved: &GpuTensor) -> Result<Dispatch> {
    let p = dims(x, &[("gamma", gamma), ("beta", beta)], &[("output", y)], &[("saved statistics", saved)])?;
    per_sample(gpu, "layernorm_forward", x, &[x, gamma, beta], &[y, saved], &p)
}

/// dx (overwrite) from dy, through the forward that wrote `saved`.
pub fn backward_input(gpu: &Gpu, x: &GpuTensor, dy: &GpuTensor, gamma: &GpuTensor, saved: &GpuTensor, dx: &GpuTensor) -> Result<Dispatch> {
    let p = dims(x, &[("gamma", gamma)], &[("output gradient", dy), ("input gradient", dx)], &[("saved statistics", saved)])?;
    per_sample(gpu, "layernorm_backward_input", x, &[x, dy, gamma, saved], &[dx], &p)
}

/// dγ += Σ_b dy ⊙ x̂, dβ += Σ_b dy.
pub fn backward_params(gpu: &Gpu, x: &GpuTensor, dy: &GpuTensor, saved: &GpuTensor, dgamma: &GpuTensor, dbeta: &GpuTensor) -> Result<Dispatch> {
    let p = dims(x, &[("dgamma", dgamma), ("dbeta", dbeta)], &[("output gradient", dy)], &[("saved statistics", saved)])?;
    per_position(gpu, "layernorm_backward_params", x, &[x, dy, saved], &[dgamma, dbeta], &p)
}

/// The backward of the backward, for `adj` = ∂P/∂dx: ∂P/∂dy into `adj_dy` and ∂P/∂x into
/// `adj_x` (both overwritten), then ∂P/∂γ accumulated (+=) into `dgamma`. `sums` [B, 2] is
/// scratch passed from the first kernel to the second.
#[allow(clippy::too_many_arguments)]
pub fn double_backward(
    gpu: &Gpu,
    x: &GpuTensor,
    dy: &GpuTensor,
    gamma: &GpuTensor,
    saved: &GpuTensor,
    adj: &GpuTensor,
    adj_dy: &GpuTensor,
    adj_x: &GpuTensor,
    sums: &GpuTensor,
    dgamma: &GpuTensor,
) -> Result<[Dispatch; 2]> {
    let p = dims(
        x,
        &[("gamma", gamma), ("dgamma", dgamma)],
        &[("output gradient", dy), ("adjoint of the input gradient", adj), ("adjoint of the output gradient", adj_dy), ("adjoint of the input", adj_x)],
        &[("saved statistics", saved), ("sums", sums)],
    )?;
    Ok([
        per_sample(gpu, "layernorm_double_backward", x, &[x, dy, gamma, saved, adj], &[adj_dy, adj_x, sums], &p)?,
        per_position(gpu, "layernorm_double_backward_params", x, &[x, dy, saved, adj, sums], &[dgamma], &p)?,
    ])
}
