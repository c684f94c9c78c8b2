//! Host side of shaders/batchnorm.wgsl: BatchNorm2d training forward, eval forward, backward.

use bytemuck::{Pod, Zeroable};

use super::{expect_shape, u32_of};
use crate::error::{Error, Result};
use crate::gpu::shaders::BATCHNORM;
use crate::gpu::{Dispatch, Gpu, GpuTensor, Grid, KernelRef};

/// Mirrors `struct BnParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BnParams {
    pub batch: u32,
    pub channels: u32,
    pub inner: u32,
    pub update_running: u32,
    pub eps: f32,
    pub momentum: f32,
    pub _pad0: u32,
    pub _pad1: u32,
}
const _: () = assert!(std::mem::size_of::<BnParams>() % 16 == 0);

/// PyTorch's BatchNorm2d hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BnConfig {
    pub eps: f32,
    pub momentum: f32,
}

impl Default for BnConfig {
    fn default() -> Self {
        BnConfig { eps: 1e-5, momentum: 0.1 }
    }
}

const OP: &str = "batchnorm2d";

/// (B, C, H·W) of x [B, C, ...] with per-channel tensors of size C.
fn dims(x: &GpuTensor, per_channel: &[(&str, &GpuTensor)]) -> Result<(usize, usize, usize)> {
    let s = x.shape();
    if s.len() < 2 {
        return Err(Error::shape(OP, format!("input must be [B, C, ...], got {s:?}")));
    }
    let (b, c) = (s[0], s[1]);
    let inner: usize = s[2..].iter().product();
    for (name, t) in per_channel {
        expect_shape(OP, name, t, &[c])?;
    }
    u32_of(OP, "elements", x.numel())?;
    Ok((b, c, inner))
}

fn params(b: usize, c: usize, inner: usize, cfg: &BnConfig, update_running: bool) -> Result<BnParams> {
    Ok(BnParams {
        batch: u32_of(OP, "batch", b)?,
        channels: u32_of(OP, "channels", c)?,
        inner: u32_of(OP, "inner", inner)?,
        update_running: update_running as u32,
        eps: cfg.eps,
        momentum: cfg.momentum,
        _pad0: 0,
        _pad1: 0,
    })
}

/// Training forward: batch statistics; `saved` [2, C] receives (mean, 1/std) for the backward;
/// running statistics are updated when `update_running`.
#[allow(clippy::too_many_arguments)]
pub fn forward_train(
    gpu: &Gpu,
    cfg: &BnConfig,
    x: &GpuTensor,
    gamma: &GpuTensor,
    beta: &GpuTensor,
    y: &GpuTensor,
    saved: &GpuTensor,
    running_mean: &GpuTensor,
    running_var: &GpuTensor,
    update_running: bool,
) -> Result<Dispatch> {
    let (b, c, inner) =
        dims(x, &[("gamma", gamma), ("beta", beta), ("running_mean", running_mean), ("running_var", running_var)])?;
    expect_shape(OP, "output", y, x.shape())?;
    expect_shape(OP, "saved statistics", saved, &[2, c])?;
    if b * inner < 2 {
        return Err(Error::shape(
            OP,
            format!("training needs more than 1 value per channel, got input {:?} (use batch > 1 or eval mode)", x.shape()),
        ));
    }
    let p = params(b, c, inner, cfg, update_running)?;
    let label = format!("batchnorm.forward_train {:?}", x.shape());
    let grid = Grid::linear(gpu, &label, c as u64)?;
    gpu.dispatch(
        &KernelRef::new(&BATCHNORM, "batchnorm_forward_train"),
        label,
        &[x, gamma, beta],
        &[y, saved, running_mean, running_var],
        &p,
        grid,
    )
}

/// Eval forward with the running statistics.
#[allow(clippy::too_many_arguments)]
pub fn forward_eval(
    gpu: &Gpu,
    cfg: &BnConfig,
    x: &GpuTensor,
    gamma: &GpuTensor,
    beta: &GpuTensor,
    running_mean: &GpuTensor,
    running_var: &GpuTensor,
    y: &GpuTensor,
) -> Result<Dispatch> {
    let (b, c, inner) =
        dims(x, &[("gamma", gamma), ("beta", beta), ("running_mean", running_mean), ("running_var", running_var)])?;
    expect_shape(OP, "output", y, x.shape())?;
    let p = params(b, c, inner, cfg, false)?;
    let label = format!("batchnorm.forward_eval {:?}", x.shape());
    let grid = Grid::for_items(gpu, &label, x.numel() as u64, 256)?;
    gpu.dispatch(
        &KernelRef::new(&BATCHNORM, "batchnorm_forward_eval"),
        label,
        &[x, gamma, beta, running_mean, running_var],
        &[y],
        &p,
        grid,
    )
}

/// Backward through the training forward: dx (overwrite), dgamma and dbeta (accumulate).
#[allow(clippy::too_many_arguments)]
pub fn backward(
    gpu: &Gpu,
    cfg: &BnConfig,
    x: &GpuTensor,
    dy: &GpuTensor,
    gamma: &GpuTensor,
    saved: &GpuTensor,
    dx: &GpuTensor,
    dgamma: &GpuTensor,
    dbeta: &GpuTensor,
) -> Result<Dispatch> {
    let (b, c, inner) = dims(x, &[("gamma", gamma), ("dgamma", dgamma), ("dbeta", dbeta)])?;
    expect_shape(OP, "output gradient", dy, x.shape())?;
    expect_shape(OP, "input gradient", dx, x.shape())?;
    expect_shape(OP, "saved statistics", saved, &[2, c])?;
    let p = params(b, c, inner, cfg, false)?;
    let label = format!("batchnorm.backward {:?}", x.shape());
    let grid = Grid::linear(gpu, &label, c as u64)?;
    gpu.dispatch(
        &KernelRef::new(&BATCHNORM, "batchnorm_backward"),
        label,
        &[x, dy, gamma, saved],
        &[dx, dgamma, dbeta],
        &p,
        grid,
    )
}
