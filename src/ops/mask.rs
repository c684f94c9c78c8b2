//! Host side of shaders/mask.wgsl: random patches of each image blanked (the masked
//! autoencoder's corruption, `train --model ae|vae --mask-ratio r --patch p`). Math and grid in
//! the shader.

use bytemuck::{Pod, Zeroable};

use super::{expect_shape, u32_of};
use crate::error::{Error, Result};
use crate::gpu::shaders::MASK;
use crate::gpu::{Dispatch, Gpu, GpuTensor, Grid, KernelRef};

/// Mirrors `struct MaskParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct MaskParams {
    pub n: u32,
    pub channels: u32,
    pub size: u32,
    pub patch_side: u32,
    pub ratio: f32,
    pub fill: f32,
    pub _pad0: u32,
    pub _pad1: u32,
}
const _: () = assert!(std::mem::size_of::<MaskParams>() % 16 == 0);

const OP: &str = "mask";

/// Patches of an image of side `size` cut into p×p squares: (S/p)².
pub fn patches(size: usize, patch: usize) -> usize {
    (size / patch).pow(2)
}

/// y = x with each p×p patch of each image set to `fill` where its uniform draw u[b, patch] <
/// `ratio` (overwrite). x, y [B, C, S, S]; u [B, (S/p)²].
pub fn patch_mask(gpu: &Gpu, x: &GpuTensor, u: &GpuTensor, y: &GpuTensor, patch: usize, ratio: f32, fill: f32) -> Result<Dispatch> {
    let [b, c, s, s2] = x.shape() else {
        return Err(Error::shape(OP, format!("images {} must be [B, C, S, S], got {:?}", x.label(), x.shape())));
    };
    if s != s2 || *b == 0 || *c == 0 || *s == 0 {
        return Err(Error::shape(OP, format!("images {:?} must be non-empty squares", x.shape())));
    }
    if patch == 0 || s % patch != 0 {
        return Err(Error::invalid("--patch", format!("{patch} must divide the image side {s} (a patch is p×p pixels)")));
    }
    if !(ratio.is_finite() && (0.0..1.0).contains(&ratio)) {
        return Err(Error::invalid("--mask-ratio", format!("{ratio} must lie in [0, 1): the share of patches blanked")));
    }
    expect_shape(OP, "output", y, x.shape())?;
    expect_shape(OP, "uniform draws", u, &[*b, patches(*s, patch)])?;
    let n = b * c * s * s;
    let p = MaskParams { n: u32_of(OP, "elements", n)?, channels: *c as u32, size: *s as u32, patch_side: patch as u32, ratio, fill, _pad0: 0, _pad1: 0 };
    let label = format!("patch_mask {:?} p={patch}", x.shape());
    let grid = Grid::for_items(gpu, &label, n as u64, 256)?;
    gpu.dispatch(&KernelRef::new(&MASK, "patch_mask"), label, &[x, u], &[y], &p, grid)
}
