//! Host side of shaders/minibatch_std.wgsl: StyleGAN's minibatch standard deviation layer —
//! forward (the group statistic, appended as a plane by embedding.wgsl's `concat_planes`),
//! backward to the input, and the backward of the backward for gradient penalties. Math,
//! layouts and grids in the shader.

use bytemuck::{Pod, Zeroable};

use super::{embedding, expect_shape, u32_of};
use crate::error::{Error, Result};
use crate::gpu::shaders::MINIBATCH_STD;
use crate::gpu::{Dispatch, Gpu, GpuTensor, Grid, KernelRef};

/// Mirrors `struct MinibatchStdParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct MinibatchStdParams {
    pub batch: u32,
    pub features: u32,
    pub plane: u32,
    pub group: u32,
    pub groups: u32,
    pub _pad: [u32; 3],
}
const _: () = assert!(std::mem::size_of::<MinibatchStdParams>() % 16 == 0);

/// The largest group: the stats kernels write one value per member from as many invocations.
pub const MAX_GROUP: usize = 256;

const OP: &str = "minibatch_std";

/// The group size used for a batch of `batch` with groups of (at most) `group`: min(group, B),
/// which must divide B (stylegan2-ada's rule), or an error saying which batch sizes fit.
pub fn group_for(batch: usize, group: usize) -> Result<usize> {
    let g = group.min(batch);
    if g == 0 || g > MAX_GROUP || batch % g != 0 {
        return Err(Error::shape(OP, format!("a batch of {batch} does not split into groups of {g} (the group must divide the batch and lie in 1..={MAX_GROUP}); use a batch size that is a multiple of {group}")));
    }
    Ok(g)
}

/// Params for x [B, C, H, W] (or [B, C, P]) with groups of `group`.
fn dims(x: &GpuTensor, group: usize) -> Result<MinibatchStdParams> {
    let [b, c, rest @ ..] = x.shape() else {
        return Err(Error::shape(OP, format!("input must be [B, C, ...], got {:?}", x.shape())));
    };
    let plane: usize = rest.iter().product();
    if *b == 0 || *c == 0 || plane == 0 {
        return Err(Error::shape(OP, format!("input must be non-empty, got {:?}", x.shape())));
    }
    let g = group_for(*b, group)?;
    u32_of(OP, "output elements", b * (c + 1) * plane)?;
    Ok(MinibatchStdParams { batch: *b as u32, features: (c * plane) as u32, plane: plane as u32, group: g as u32, groups: (b / g) as u32, _pad: [0; 3] })
}

/// x's shape with one more channel: the layer's output.
pub fn output_shape(x_shape: &[usize]) -> Vec<usize> {
    let mut s = x_shape.to_vec();
    s[1] += 1;
    s
}

fn per_group(gpu: &Gpu, entry: &'static str, x: &GpuTensor, reads: &[&GpuTensor], writes: &[&GpuTensor], p: &MinibatchStdParams) -> Result<Dispatch> {
    let label = format!("{entry} {:?} group {}", x.shape(), p.group);
    let grid = Grid::linear(gpu, &label, p.groups as u64)?;
    gpu.dispatch(&KernelRef::new(&MINIBATCH_STD, entry), label, reads, writes, p, grid)
}

fn per_element(gpu: &Gpu, entry: &'static str, x: &GpuTensor, reads: &[&GpuTensor], writes: &[&GpuTensor], p: &MinibatchStdParams) -> Result<Dispatch> {
    let label = format!("{entry} {:?} group {}", x.shape(), p.group);
    let grid = Grid::for_items(gpu, &label, x.numel() as u64, 256)?;
    gpu.dispatch(&KernelRef::new(&MINIBATCH_STD, entry), label, reads, writes, p, grid)
}

/// y = cat(x, s planes) (overwritten): the group statistic per sample into `v` [B, 1], then
/// appended to x [B, C, ...] as one more channel of y [B, C + 1, ...].
pub fn forward(gpu: &Gpu, x: &GpuTensor, group: usize, v: &GpuTensor, y: &GpuTensor) -> Result<[Dispatch; 2]> {
    let p = dims(x, group)?;
    expect_shape(OP, "statistic", v, &[x.shape()[0], 1])?;
    expect_shape(OP, "output", y, &output_shape(x.shape()))?;
    Ok([per_group(gpu, "minibatch_std_stats", x, &[x], &[v], &p)?, embedding::concat_planes(gpu, x, v, y)?])
}

/// dx (overwritten) from dy [B, C + 1, ...]: the appended planes' sums per sample into `dv`
/// [B, 1] (kept: the backward of the backward reads them), then dx.
pub fn backward_input(gpu: &Gpu, x: &GpuTensor, dy: &GpuTensor, group: usize, dv: &GpuTensor, dx: &GpuTensor) -> Result<[Dispatch; 2]> {
    let p = dims(x, group)?;
    expect_shape(OP, "output gradient", dy, &output_shape(x.shape()))?;
    expect_shape(OP, "input gradient", dx, x.shape())?;
    Ok([embedding::concat_planes_backward(gpu, dy, x.shape(), dv)?, per_element(gpu, "minibatch_std_backward_input", x, &[x, dy, dv], &[dx], &p)?])
}

/// The backward of the backward, for `adj` = ∂P/∂dx: A_n per sample into `w` [B, 1], ∂P/∂dy
/// = cat(adj, w planes) into `adj_dy`, and ∂P/∂x into `adj_x` (all overwritten). `dv` holds
/// the plane sums of the first-order backward (`backward_input`) of the same dy.
#[allow(clippy::too_many_arguments)]
pub fn double_backward(gpu: &Gpu, x: &GpuTensor, group: usize, dv: &GpuTensor, adj: &GpuTensor, w: &GpuTensor, adj_dy: &GpuTensor, adj_x: &GpuTensor) -> Result<[Dispatch; 3]> {
    let p = dims(x, group)?;
    for (name, t) in [("adjoint of the input gradient", adj), ("adjoint of the input", adj_x)] {
        expect_shape(OP, name, t, x.shape())?;
    }
    for (name, t) in [("plane sums", dv), ("adjoint sums", w)] {
        expect_shape(OP, name, t, &[x.shape()[0], 1])?;
    }
    Ok([
        per_group(gpu, "minibatch_std_adjoint_sums", x, &[x, adj], &[w], &p)?,
        embedding::concat_planes(gpu, adj, w, adj_dy)?,
        per_element(gpu, "minibatch_std_adjoint_input", x, &[x, adj, dv], &[adj_x], &p)?,
    ])
}
