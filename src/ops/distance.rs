//! Host side of shaders/distance.wgsl: pairwise squared Euclidean distances between two sets
//! of vectors, as −2·A·Bᵀ on the matmul kernels plus the two norms. Used by `eval`'s nearest
//! neighbours; math, layouts and grids are in the shader header.

use bytemuck::{Pod, Zeroable};

use super::matmul::{matmul, MatmulSpec};
use super::{expect_shape, u32_of};
use crate::error::{Error, Result};
use crate::gpu::shaders::DISTANCE;
use crate::gpu::{Dispatch, Gpu, GpuTensor, Grid, KernelRef};

/// Mirrors `struct NormParams` in shaders/distance.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct NormParams {
    pub rows: u32,
    pub dim: u32,
    pub transposed: u32,
    pub _pad: u32,
}
const _: () = assert!(std::mem::size_of::<NormParams>() % 16 == 0);

/// Mirrors `struct FinishParams` in shaders/distance.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct FinishParams {
    pub n: u32,
    pub m: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}
const _: () = assert!(std::mem::size_of::<FinishParams>() % 16 == 0);

const OP: &str = "distance";

/// `norms[i] = ‖x_i‖²` for the `rows` vectors of `x`: stored [rows, dim], or [dim, rows]
/// when `transposed`.
pub fn sq_norms(gpu: &Gpu, x: &GpuTensor, norms: &GpuTensor, transposed: bool) -> Result<Dispatch> {
    let [a, b] = x.shape() else {
        return Err(Error::shape(OP, format!("x ({}) must be a matrix, has shape {:?}", x.label(), x.shape())));
    };
    let (rows, dim) = if transposed { (*b, *a) } else { (*a, *b) };
    expect_shape(OP, "norms", norms, &[rows])?;
    let params = NormParams { rows: u32_of(OP, "rows", rows)?, dim: u32_of(OP, "dim", dim)?, transposed: transposed as u32, _pad: 0 };
    let label = format!("sq_norms {}", x.label());
    let grid = Grid::for_items(gpu, &label, rows as u64, 256)?;
    gpu.dispatch(&KernelRef::new(&DISTANCE, "sq_norms"), label, &[x], &[norms], &params, grid)
}

/// `d[i, j] = ‖a_i − b_j‖²` for `a` [n, dim] and `b_t` = Bᵀ [dim, m], given the squared norms
/// of both (`sq_norms`): the matmul (alpha = −2) and the finish, in recording order.
pub fn sq_distances(gpu: &Gpu, a: &GpuTensor, b_t: &GpuTensor, a_norms: &GpuTensor, b_norms: &GpuTensor, d: &GpuTensor) -> Result<[Dispatch; 2]> {
    let ([n, dim], [dim_b, m]) = (a.shape(), b_t.shape()) else {
        return Err(Error::shape(OP, format!("a {:?} and b_t {:?} must be matrices", a.shape(), b_t.shape())));
    };
    let (n, m, dim) = (*n, *m, *dim);
    if *dim_b != dim {
        return Err(Error::shape(OP, format!("a has {dim} features per row but b_t ({}) has {dim_b}", b_t.label())));
    }
    expect_shape(OP, "a_norms", a_norms, &[n])?;
    expect_shape(OP, "b_norms", b_norms, &[m])?;
    expect_shape(OP, "d", d, &[n, m])?;
    let elements = n.checked_mul(m).ok_or_else(|| Error::shape(OP, format!("{n} × {m} distances overflow")))?;
    let params = FinishParams { n: u32_of(OP, "rows", n)?, m: u32_of(OP, "columns", m)?, _pad0: 0, _pad1: 0 };
    u32_of(OP, "rows × columns", elements)?;
    let gram = matmul(gpu, &MatmulSpec { alpha: -2.0, ..MatmulSpec::new(n, m, dim) }, a, b_t, None, d, None)?;
    let label = format!("sqdist_finish {n}x{m}");
    let grid = Grid::for_items(gpu, &label, elements as u64, 256)?;
    let finish = gpu.dispatch(&KernelRef::new(&DISTANCE, "sqdist_finish"), label, &[a_norms, b_norms], &[d], &params, grid)?;
    Ok([gram, finish])
}
