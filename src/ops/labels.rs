//! Host side of shaders/labels.wgsl: class labels for conditional models — drawn at random,
//! gathered for a training batch, and appended to a tensor as one-hot channels.

use bytemuck::{Pod, Zeroable};

use super::u32_of;
use crate::error::{Error, Result};
use crate::gpu::shaders::LABELS;
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor, Grid, KernelRef};
use crate::ops::random::RngKey;

/// Mirrors `struct LabelParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct LabelParams {
    pub batch: u32,
    pub classes: u32,
    pub channels: u32,
    pub plane: u32,
    pub key_lo: u32,
    pub key_hi: u32,
    pub stream: u32,
    pub counter_index: u32,
}
const _: () = assert!(std::mem::size_of::<LabelParams>() % 16 == 0);

fn expect_labels(op: &str, t: &GpuTensor, batch: Option<usize>) -> Result<usize> {
    let ok = t.dtype() == DType::U32 && t.shape().len() == 1 && batch.is_none_or(|b| t.shape()[0] == b);
    if !ok {
        let want = batch.map_or("[B]".to_string(), |b| format!("[{b}]"));
        return Err(Error::shape(op, format!("labels ({}) must be u32 {want}, got {:?} {:?}", t.label(), t.dtype(), t.shape())));
    }
    Ok(t.shape()[0])
}

fn expect_classes(op: &str, classes: usize) -> Result<u32> {
    if classes == 0 {
        return Err(Error::shape(op, "a conditional model needs at least 1 class".to_string()));
    }
    u32_of(op, "classes", classes)
}

/// A Philox label draw of `op` into `labels` ([n] u32; `reads` after `counters`): both draws
/// share the key, the counter slot and the grid, one invocation per label.
fn draw(gpu: &Gpu, op: &'static str, key: RngKey, classes: usize, counters: &GpuTensor, reads: &[&GpuTensor], labels: &GpuTensor) -> Result<Dispatch> {
    let n = expect_labels(op, labels, None)?;
    if counters.dtype() != DType::U32 || key.counter_index >= counters.numel() {
        return Err(Error::shape(op, format!("counter slot {} of {:?}", key.counter_index, counters.shape())));
    }
    let params = LabelParams {
        batch: u32_of(op, "labels", n)?,
        classes: expect_classes(op, classes)?,
        key_lo: key.seed as u32,
        key_hi: (key.seed >> 32) as u32,
        stream: key.stream,
        counter_index: key.counter_index as u32,
        ..Default::default()
    };
    let label = format!("{op} n={n} K={classes}");
    let grid = Grid::for_items(gpu, &label, n as u64, 256)?;
    gpu.dispatch(&KernelRef::new(&LABELS, op), label, &[&[counters][..], reads].concat(), &[labels], &params, grid)
}

/// `labels[i]` uniform in [0, classes), fresh at every value of counters[key.counter_index].
pub fn random_labels(gpu: &Gpu, key: RngKey, classes: usize, counters: &GpuTensor, labels: &GpuTensor) -> Result<Dispatch> {
    draw(gpu, "random_labels", key, classes, counters, &[], labels)
}

/// `labels[i]` uniform over the classes other than `given[i]` (each < classes, classes ≥ 2):
/// the wrong labels of a matching-aware discriminator, fresh at every counter value.
pub fn mismatched_labels(gpu: &Gpu, key: RngKey, classes: usize, counters: &GpuTensor, given: &GpuTensor, labels: &GpuTensor) -> Result<Dispatch> {
    let op = "mismatched_labels";
    expect_labels(op, given, Some(expect_labels(op, labels, None)?))?;
    if classes < 2 {
        return Err(Error::shape(op, format!("a wrong label needs at least 2 classes, got {classes}")));
    }
    draw(gpu, op, key, classes, counters, &[given], labels)
}

/// `labels[b] = dataset_labels[image of sample b]`, the image being the one ops::data::batch
/// recorded in `sample_info` ([B, 8] u32).
pub fn gather_labels(gpu: &Gpu, dataset_labels: &GpuTensor, sample_info: &GpuTensor, labels: &GpuTensor) -> Result<Dispatch> {
    let op = "gather_labels";
    let b = expect_labels(op, labels, None)?;
    expect_labels(op, dataset_labels, None)?;
    if sample_info.dtype() != DType::U32 || sample_info.shape() != [b, 8] {
        return Err(Error::shape(op, format!("sample info must be u32 [{b}, 8], got {:?}", sample_info.shape())));
    }
    let params = LabelParams { batch: u32_of(op, "batch", b)?, ..Default::default() };
    let label = format!("{op} B={b}");
    let grid = Grid::for_items(gpu, &label, b as u64, 256)?;
    gpu.dispatch(&KernelRef::new(&LABELS, op), label, &[dataset_labels, sample_info], &[labels], &params, grid)
}

/// (B, C, P) of `x` [B, C, ...] and the shape of its concatenation with K one-hot channels.
fn concat_dims(op: &str, x_shape: &[usize], classes: usize) -> Result<(usize, usize, usize, Vec<usize>)> {
    if x_shape.len() < 2 {
        return Err(Error::shape(op, format!("input {x_shape:?} must be [B, C, ...]")));
    }
    let (b, c, p) = (x_shape[0], x_shape[1], x_shape[2..].iter().product::<usize>());
    let mut out = x_shape.to_vec();
    out[1] = c + classes;
    Ok((b, c, p, out))
}

/// `out = cat([x, one_hot(labels, K) broadcast over x's trailing dims], dim = 1)`:
/// x [B, C, ...] → out [B, C + K, ...].
pub fn concat_one_hot(gpu: &Gpu, x: &GpuTensor, labels: &GpuTensor, classes: usize, out: &GpuTensor) -> Result<Dispatch> {
    let op = "concat_one_hot";
    let (b, c, p, out_shape) = concat_dims(op, x.shape(), classes)?;
    expect_labels(op, labels, Some(b))?;
    super::expect_shape(op, "output", out, &out_shape)?;
    let params = LabelParams {
        batch: u32_of(op, "batch", b)?,
        classes: expect_classes(op, classes)?,
        channels: u32_of(op, "channels", c)?,
        plane: u32_of(op, "plane", p)?,
        ..Default::default()
    };
    u32_of(op, "output elements", out.numel())?;
    let label = format!("{op} {:?}+{classes}", x.shape());
    let grid = Grid::for_items(gpu, &label, out.numel() as u64, 256)?;
    gpu.dispatch(&KernelRef::new(&LABELS, op), label, &[x, labels], &[out], &params, grid)
}

/// The gradient of `concat_one_hot` with respect to x: dx = dout[:, :C] (overwritten).
pub fn concat_one_hot_backward(gpu: &Gpu, dout: &GpuTensor, classes: usize, dx: &GpuTensor) -> Result<Dispatch> {
    let op = "concat_one_hot_backward";
    let (b, c, p, out_shape) = concat_dims(op, dx.shape(), classes)?;
    super::expect_shape(op, "output gradient", dout, &out_shape)?;
    let params = LabelParams {
        batch: u32_of(op, "batch", b)?,
        classes: expect_classes(op, classes)?,
        channels: u32_of(op, "channels", c)?,
        plane: u32_of(op, "plane", p)?,
        ..Default::default()
    };
    u32_of(op, "output elements", dout.numel())?;
    let label = format!("{op} {:?}+{classes}", dx.shape());
    let grid = Grid::for_items(gpu, &label, dx.numel() as u64, 256)?;
    gpu.dispatch(&KernelRef::new(&LABELS, op), label, &[dout], &[dx], &params, grid)
}
