//! Host side of shaders/embedding.wgsl: a learned class embedding E[y] (PyTorch
//! `nn.Embedding`) with its fixed-order scatter-add gradient, and per-sample vectors appended
//! to a tensor as constant planes, with the vectors' gradient. Math, layouts and grids in the
//! shader.

use bytemuck::{Pod, Zeroable};

use super::{expect_shape, u32_of};
use crate::error::{Error, Result};
use crate::gpu::shaders::EMBEDDING;
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor, Grid, KernelRef};

/// Mirrors `struct EmbeddingParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct EmbeddingParams {
    pub batch: u32,
    pub classes: u32,
    pub dim: u32,
    pub channels: u32,
    pub plane: u32,
    pub _pad: [u32; 3],
}
const _: () = assert!(std::mem::size_of::<EmbeddingParams>() % 16 == 0);

const WG: u64 = 256;

/// (B, K, N) from labels u32 [B], a table [K, N] and vectors [B, N], or a shape error.
fn embedding_dims(op: &str, labels: &GpuTensor, table: &GpuTensor, vectors: &GpuTensor) -> Result<EmbeddingParams> {
    let [k, n] = table.shape() else {
        return Err(Error::shape(op, format!("embedding {} must be [K, N], got {:?}", table.label(), table.shape())));
    };
    let [b] = labels.shape() else {
        return Err(Error::shape(op, format!("labels ({}) must be u32 [B], got {:?}", labels.label(), labels.shape())));
    };
    if labels.dtype() != DType::U32 || *b == 0 || *k == 0 || *n == 0 {
        return Err(Error::shape(op, format!("labels {:?} {:?} and embedding {:?} must be non-empty, labels u32", labels.dtype(), labels.shape(), table.shape())));
    }
    expect_shape(op, "vectors", vectors, &[*b, *n])?;
    u32_of(op, "elements", (b * n).max(k * n))?;
    Ok(EmbeddingParams { batch: *b as u32, classes: *k as u32, dim: *n as u32, ..Default::default() })
}

/// out [B, N] = E[labels] (overwritten): the rows of `table` [K, N] the labels pick.
pub fn forward(gpu: &Gpu, labels: &GpuTensor, table: &GpuTensor, out: &GpuTensor) -> Result<Dispatch> {
    let op = "embedding_forward";
    let p = embedding_dims(op, labels, table, out)?;
    let label = format!("{op} B={} K={} N={}", p.batch, p.classes, p.dim);
    let grid = Grid::for_items(gpu, &label, out.numel() as u64, WG)?;
    gpu.dispatch(&KernelRef::new(&EMBEDDING, op), label, &[labels, table], &[out], &p, grid)
}

/// dtable [K, N] += Σ_{b : labels[b] = k} dout[b] for every class k, b ascending.
pub fn backward(gpu: &Gpu, labels: &GpuTensor, dout: &GpuTensor, dtable: &GpuTensor) -> Result<Dispatch> {
    let op = "embedding_backward";
    let p = embedding_dims(op, labels, dtable, dout)?;
    let label = format!("{op} B={} K={} N={}", p.batch, p.classes, p.dim);
    let grid = Grid::for_items(gpu, &label, dtable.numel() as u64, WG)?;
    gpu.dispatch(&KernelRef::new(&EMBEDDING, op), label, &[labels, dout], &[dtable], &p, grid)
}

/// (B, C, P, N) of `x` [B, C, ...] and vectors [B, N], with the concatenation's shape
/// [B, C + N, ...].
fn concat_dims(op: &str, x_shape: &[usize], vectors: &GpuTensor) -> Result<(EmbeddingParams, Vec<usize>)> {
    let ([b, c, rest @ ..], [bv, n]) = (x_shape, vectors.shape()) else {
        return Err(Error::shape(op, format!("input {x_shape:?} must be [B, C, ...] and vectors {:?} [B, N]", vectors.shape())));
    };
    if b != bv || *n == 0 {
        return Err(Error::shape(op, format!("vectors {:?} must be [{b}, N ≥ 1] for input {x_shape:?}", vectors.shape())));
    }
    let p: usize = rest.iter().product();
    let mut out = x_shape.to_vec();
    out[1] = c + n;
    u32_of(op, "output elements", out.iter().product())?;
    let params = EmbeddingParams { batch: *b as u32, dim: *n as u32, channels: *c as u32, plane: p as u32, ..Default::default() };
    Ok((params, out))
}

/// out = cat([x, v broadcast over x's trailing dims], dim = 1): x [B, C, ...], v [B, N] →
/// out [B, C + N, ...] (overwritten).
pub fn concat_planes(gpu: &Gpu, x: &GpuTensor, vectors: &GpuTensor, out: &GpuTensor) -> Result<Dispatch> {
    let op = "concat_planes";
    let (p, out_shape) = concat_dims(op, x.shape(), vectors)?;
    expect_shape(op, "output", out, &out_shape)?;
    let label = format!("{op} {:?}+{}", x.shape(), p.dim);
    let grid = Grid::for_items(gpu, &label, out.numel() as u64, WG)?;
    gpu.dispatch(&KernelRef::new(&EMBEDDING, op), label, &[x, vectors], &[out], &p, grid)
}

/// The gradient of `concat_planes` with respect to the vectors: dv [B, N] = Σ over each
/// appended plane of dout [B, C + N, ...] (overwritten). `x_shape` is the concatenation's
/// input [B, C, ...]. (Its gradient with respect to x is dout's first C channels:
/// `ops::labels::concat_one_hot_backward` with K = N.)
pub fn concat_planes_backward(gpu: &Gpu, dout: &GpuTensor, x_shape: &[usize], dvectors: &GpuTensor) -> Result<Dispatch> {
    let op = "concat_planes_backward";
    let (p, out_shape) = concat_dims(op, x_shape, dvectors)?;
    expect_shape(op, "output gradient", dout, &out_shape)?;
    let label = format!("{op} {x_shape:?}+{}", p.dim);
    let grid = Grid::for_items(gpu, &label, dvectors.numel() as u64, WG)?;
    gpu.dispatch(&KernelRef::new(&EMBEDDING, op), label, &[dout], &[dvectors], &p, grid)
}
