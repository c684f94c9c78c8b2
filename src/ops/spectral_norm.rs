//! Host side of shaders/spectral_norm.wgsl: spectral normalisation of a weight viewed as a
//! matrix [rows, cols] — the power iteration with its persistent u and v, W/σ, and the
//! backward through W/σ. Math, layouts and grids are in the shader header.

use bytemuck::{Pod, Zeroable};

use super::{expect_shape, u32_of};
use crate::error::{Error, Result};
use crate::gpu::shaders::SPECTRAL_NORM;
use crate::gpu::{Dispatch, Gpu, GpuTensor, Grid, KernelRef};

/// Mirrors `struct SnParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct SnParams {
    pub rows: u32,
    pub cols: u32,
    pub update: u32,
    pub eps: f32,
}
const _: () = assert!(std::mem::size_of::<SnParams>() % 16 == 0);

/// Mirrors `struct ElemParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct ElemParams {
    pub n: u32,
    pub cols: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}
const _: () = assert!(std::mem::size_of::<ElemParams>() % 16 == 0);

const OP: &str = "spectral_norm";

/// PyTorch's `eps` of `spectral_norm`: the floor of the norms u and v are divided by.
pub const EPS: f32 = 1e-12;

/// The weight `w` (any shape whose first dimension is `rows`) as a matrix [rows, cols].
pub fn matrix_of(w: &GpuTensor) -> Result<(usize, usize)> {
    let rows = *w.shape().first().ok_or_else(|| Error::shape(OP, format!("{} is a scalar", w.label())))?;
    if rows == 0 || w.numel() == 0 {
        return Err(Error::shape(OP, format!("{} {:?} is empty", w.label(), w.shape())));
    }
    Ok((rows, w.numel() / rows))
}

fn scalar(op: &str, name: &str, t: &GpuTensor) -> Result<()> {
    expect_shape(op, name, t, &[1])
}

/// σ of `w` into `sigma` [1]: with `update` (a training forward), one power iteration first,
/// writing u [rows] and v [cols] in place; without, from the stored u and v.
pub fn power(gpu: &Gpu, w: &GpuTensor, u: &GpuTensor, v: &GpuTensor, sigma: &GpuTensor, update: bool) -> Result<Dispatch> {
    let (rows, cols) = matrix_of(w)?;
    expect_shape(OP, "u", u, &[rows])?;
    expect_shape(OP, "v", v, &[cols])?;
    scalar(OP, "sigma", sigma)?;
    let params = SnParams { rows: u32_of(OP, "rows", rows)?, cols: u32_of(OP, "cols", cols)?, update: update as u32, eps: EPS };
    let label = format!("sn_power {} [{rows}x{cols}]{}", w.label(), if update { "" } else { " (eval)" });
    let grid = Grid::new(gpu, &label, 1, 1, 1)?;
    gpu.dispatch(&KernelRef::new(&SPECTRAL_NORM, "sn_power"), label, &[w], &[u, v, sigma], &params, grid)
}

/// `w_sn = w / σ`.
pub fn scale(gpu: &Gpu, w: &GpuTensor, sigma: &GpuTensor, w_sn: &GpuTensor) -> Result<Dispatch> {
    let (_, cols) = matrix_of(w)?;
    expect_shape(OP, "w_sn", w_sn, w.shape())?;
    scalar(OP, "sigma", sigma)?;
    let params = ElemParams { n: u32_of(OP, "elements", w.numel())?, cols: cols as u32, _pad0: 0, _pad1: 0 };
    let label = format!("sn_scale {}", w.label());
    let grid = Grid::for_items(gpu, &label, w.numel() as u64, 256)?;
    gpu.dispatch(&KernelRef::new(&SPECTRAL_NORM, "sn_scale"), label, &[w, sigma], &[w_sn], &params, grid)
}

/// The backward through `w_sn = w/σ` (u, v constant): `dot = ⟨dw_sn, w⟩`, then
/// `dw += dw_sn/σ − (dot/σ²)·u vᵀ`. In recording order.
#[allow(clippy::too_many_arguments)]
pub fn backward(gpu: &Gpu, w: &GpuTensor, dw_sn: &GpuTensor, u: &GpuTensor, v: &GpuTensor, sigma: &GpuTensor, dot: &GpuTensor, dw: &GpuTensor) -> Result<[Dispatch; 2]> {
    let (rows, cols) = matrix_of(w)?;
    expect_shape(OP, "dw_sn", dw_sn, w.shape())?;
    expect_shape(OP, "dw", dw, w.shape())?;
    expect_shape(OP, "u", u, &[rows])?;
    expect_shape(OP, "v", v, &[cols])?;
    scalar(OP, "sigma", sigma)?;
    scalar(OP, "dot", dot)?;
    let params = ElemParams { n: u32_of(OP, "elements", w.numel())?, cols: u32_of(OP, "cols", cols)?, _pad0: 0, _pad1: 0 };
    let label = format!("sn_dot {}", w.label());
    let grid = Grid::new(gpu, &label, 1, 1, 1)?;
    let d = gpu.dispatch(&KernelRef::new(&SPECTRAL_NORM, "sn_dot"), label, &[w, dw_sn], &[dot], &params, grid)?;
    let label = format!("sn_backward {}", w.label());
    let grid = Grid::for_items(gpu, &label, w.numel() as u64, 256)?;
    let b = gpu.dispatch(&KernelRef::new(&SPECTRAL_NORM, "sn_backward"), label, &[dw_sn, u, v, sigma, dot], &[dw], &params, grid)?;
    Ok([d, b])
}
