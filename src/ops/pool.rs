//! Host side of shaders/pool.wgsl: 2-D average and max pooling (PyTorch `nn.AvgPool2d`,
//! `nn.MaxPool2d`), their input gradients and the max pool's gather at the saved argmax.
//! Math, layouts and grids in the shader.

use bytemuck::{Pod, Zeroable};

use super::{expect_shape, u32_of};
use crate::error::{Error, Result};
use crate::gpu::shaders::POOL;
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor, Grid, KernelRef};

/// Mirrors `struct PoolParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct PoolParams {
    pub planes: u32,
    pub h: u32,
    pub w: u32,
    pub oh: u32,
    pub ow: u32,
    pub kernel: u32,
    pub stride: u32,
    pub padding: u32,
}
const _: () = assert!(std::mem::size_of::<PoolParams>() % 16 == 0);

const OP: &str = "pool";
const WG: u64 = 256;

/// A pooling window: kernel k, stride s, padding p (PyTorch's arguments, square).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Window {
    /// The output side for an input side, or why the window does not fit (PyTorch's rules:
    /// k, s ≥ 1, p ≤ k/2, at least one output).
    pub fn output(&self, side: usize) -> Result<usize> {
        let Window { kernel: k, stride: s, padding: p } = *self;
        if k == 0 || s == 0 {
            return Err(Error::shape(OP, format!("kernel {k} and stride {s} must be at least 1")));
        }
        if 2 * p > k {
            return Err(Error::shape(OP, format!("padding {p} must be at most half the kernel {k}")));
        }
        if side + 2 * p < k {
            return Err(Error::shape(OP, format!("a {k}×{k} window does not fit an input of side {side} with padding {p}")));
        }
        Ok((side + 2 * p - k) / s + 1)
    }

    /// [B, C, OH, OW] for x [B, C, H, W].
    pub fn output_shape(&self, x: &[usize]) -> Result<Vec<usize>> {
        let [b, c, h, w] = x else {
            return Err(Error::shape(OP, format!("the input must be [B, C, H, W], got {x:?}")));
        };
        Ok(vec![*b, *c, self.output(*h)?, self.output(*w)?])
    }
}

/// The params for x [B, C, H, W] and its pooled shape.
fn params(x: &GpuTensor, window: Window) -> Result<(PoolParams, Vec<usize>)> {
    let out = window.output_shape(x.shape())?;
    let s = x.shape();
    u32_of(OP, "elements", x.numel().max(out.iter().product()))?;
    let p = PoolParams {
        planes: (s[0] * s[1]) as u32,
        h: s[2] as u32,
        w: s[3] as u32,
        oh: out[2] as u32,
        ow: out[3] as u32,
        kernel: u32_of(OP, "kernel", window.kernel)?,
        stride: u32_of(OP, "stride", window.stride)?,
        padding: u32_of(OP, "padding", window.padding)?,
    };
    Ok((p, out))
}

fn expect_argmax(t: &GpuTensor, shape: &[usize]) -> Result<()> {
    if t.dtype() != DType::U32 || t.shape() != shape {
        return Err(Error::shape(OP, format!("argmax ({}) must be u32 {shape:?}, got {:?} {:?}", t.label(), t.dtype(), t.shape())));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn launch(gpu: &Gpu, entry: &'static str, window: Window, x: &GpuTensor, items: usize, reads: &[&GpuTensor], writes: &[&GpuTensor], params: &PoolParams) -> Result<Dispatch> {
    let label = format!("{entry} {:?} k={} s={} p={}", x.shape(), window.kernel, window.stride, window.padding);
    let grid = Grid::for_items(gpu, &label, items as u64, WG)?;
    gpu.dispatch(&KernelRef::new(&POOL, entry), label, reads, writes, params, grid)
}

/// out [B, C, OH, OW] = the mean over each window of x [B, C, H, W] (padding counts as 0).
pub fn avg_forward(gpu: &Gpu, window: Window, x: &GpuTensor, out: &GpuTensor) -> Result<Dispatch> {
    let (p, shape) = params(x, window)?;
    expect_shape(OP, "output", out, &shape)?;
    launch(gpu, "avg_pool_forward", window, x, out.numel(), &[x], &[out], &p)
}

/// dx [B, C, H, W] from dy [B, C, OH, OW]: each window's gradient spread evenly, overwritten.
pub fn avg_backward(gpu: &Gpu, window: Window, dy: &GpuTensor, dx: &GpuTensor) -> Result<Dispatch> {
    let (p, shape) = params(dx, window)?;
    expect_shape(OP, "output gradient", dy, &shape)?;
    launch(gpu, "avg_pool_backward", window, dx, dx.numel(), &[dy], &[dx], &p)
}

/// out = the maximum of each window of x and argmax (u32, the index iy·W + ix in its plane).
pub fn max_forward(gpu: &Gpu, window: Window, x: &GpuTensor, out: &GpuTensor, argmax: &GpuTensor) -> Result<Dispatch> {
    let (p, shape) = params(x, window)?;
    expect_shape(OP, "output", out, &shape)?;
    expect_argmax(argmax, &shape)?;
    launch(gpu, "max_pool_forward", window, x, out.numel(), &[x], &[out, argmax], &p)
}

/// dx [B, C, H, W] = the sum of dy over the windows whose maximum is that element, overwritten.
pub fn max_backward(gpu: &Gpu, window: Window, dy: &GpuTensor, argmax: &GpuTensor, dx: &GpuTensor) -> Result<Dispatch> {
    let (p, shape) = params(dx, window)?;
    expect_shape(OP, "output gradient", dy, &shape)?;
    expect_argmax(argmax, &shape)?;
    launch(gpu, "max_pool_backward", window, dx, dx.numel(), &[dy, argmax], &[dx], &p)
}

/// out [B, C, OH, OW] = x at the saved argmax of each window (the backward of `max_backward`).
pub fn max_gather(gpu: &Gpu, window: Window, x: &GpuTensor, argmax: &GpuTensor, out: &GpuTensor) -> Result<Dispatch> {
    let (p, shape) = params(x, window)?;
    expect_shape(OP, "output", out, &shape)?;
    expect_argmax(argmax, &shape)?;
    launch(gpu, "max_pool_gather", window, x, out.numel(), &[x, argmax], &[out], &p)
}
