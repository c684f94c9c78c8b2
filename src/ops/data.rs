//! Host side of shaders/data.wgsl: shuffled, augmented batches from a u8 dataset on the GPU.

use bytemuck::{Pod, Zeroable};

use super::u32_of;
use crate::error::{Error, Result};
use crate::gpu::shaders::DATA;
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor, Grid, KernelRef};

/// Mirrors `struct DataParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct DataParams {
    pub n_images: u32,
    pub batch: u32,
    pub channels: u32,
    pub size: u32,
    pub batches_per_epoch: u32,
    pub counter_index: u32,
    pub key_lo: u32,
    pub key_hi: u32,
    pub half_bits: u32,
    pub flip: u32,
    pub max_shift: u32,
    pub brightness: f32,
    pub images_per_chunk: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}
const _: () = assert!(std::mem::size_of::<DataParams>() % 16 == 0);

/// At most this many dataset chunks (storage bindings) per gather.
pub const MAX_CHUNKS: usize = 4;

/// Random augmentation applied per sample.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Augment {
    pub flip: bool,
    pub max_shift: u32,
    pub brightness: f32,
}

/// Half width of the Feistel permutation: the smallest h with 4^h ≥ n (at least 1).
pub fn half_bits(n: usize) -> u32 {
    let mut h = 1;
    while (1usize << (2 * h)) < n {
        h += 1;
    }
    h
}

/// A dataset of N images [C, size, size] as u8 on the GPU, split into chunks that each fit a
/// storage binding.
pub struct GpuDataset {
    pub chunks: Vec<GpuTensor>,
    pub n_images: usize,
    pub channels: usize,
    pub size: usize,
    pub images_per_chunk: usize,
}

impl GpuDataset {
    /// Upload `pixels` ([N, C, size, size] u8).
    pub fn upload(gpu: &Gpu, pixels: &[u8], n_images: usize, channels: usize, size: usize) -> Result<GpuDataset> {
        let per_image = channels * size * size;
        if n_images == 0 || pixels.len() != n_images * per_image {
            return Err(Error::shape("dataset", format!("{} bytes for {n_images} images of {channels}x{size}x{size}", pixels.len())));
        }
        let max_binding = gpu.limits.max_storage_buffer_binding_size as usize;
        let images_per_chunk = (max_binding - 16) / per_image;
        let chunks_needed = n_images.div_ceil(images_per_chunk.max(1));
        if images_per_chunk == 0 || chunks_needed > MAX_CHUNKS {
            return Err(Error::Limit {
                kernel: "dataset upload".into(),
                what: "dataset bytes on the GPU",
                needed: pixels.len() as u64,
                allowed: (MAX_CHUNKS * images_per_chunk * per_image) as u64,
            });
        }
        let chunks = pixels
            .chunks(images_per_chunk * per_image)
            .enumerate()
            .map(|(i, part)| GpuTensor::from_u8(gpu, &[part.len()], part, &format!("dataset.chunk{i}")))
            .collect::<Result<Vec<_>>>()?;
        Ok(GpuDataset { chunks, n_images, channels, size, images_per_chunk })
    }
}

/// The batch pipeline for one (dataset, batch size, seed, augmentation): two dispatches that
/// fill `out` [B, C, size, size] with batch number counters[counter_index].
#[allow(clippy::too_many_arguments)]
pub fn batch(
    gpu: &Gpu,
    dataset: &GpuDataset,
    batch: usize,
    seed: u64,
    augment: Augment,
    counters: &GpuTensor,
    counter_index: usize,
    sample_info: &GpuTensor,
    out: &GpuTensor,
) -> Result<Vec<Dispatch>> {
    let op = "data.batch";
    if batch == 0 || batch > dataset.n_images {
        return Err(Error::invalid(
            "--batch-size",
            format!("batch of {batch} from a dataset of {} images: use a batch of 1..={}", dataset.n_images, dataset.n_images),
        ));
    }
    let shape = [batch, dataset.channels, dataset.size, dataset.size];
    if out.shape() != shape {
        return Err(Error::shape(op, format!("batch tensor is {:?}, expected {shape:?}", out.shape())));
    }
    if sample_info.shape() != [batch, 8] || sample_info.dtype() != DType::U32 {
        return Err(Error::shape(op, format!("sample info must be u32 [{batch}, 8], got {:?}", sample_info.shape())));
    }
    if counters.dtype() != DType::U32 || counter_index >= counters.numel() {
        return Err(Error::shape(op, format!("counter slot {counter_index} of {:?}", counters.shape())));
    }
    if augment.max_shift as usize >= dataset.size || !(0.0..=2.0).contains(&augment.brightness) {
        return Err(Error::invalid("--augment", format!("shift {} (< image size {}) and brightness {} (0..=2)", augment.max_shift, dataset.size, augment.brightness)));
    }
    let params = DataParams {
        n_images: u32_of(op, "images", dataset.n_images)?,
        batch: u32_of(op, "batch", batch)?,
        channels: dataset.channels as u32,
        size: dataset.size as u32,
        batches_per_epoch: (dataset.n_images / batch) as u32,
        counter_index: counter_index as u32,
        key_lo: seed as u32,
        key_hi: (seed >> 32) as u32,
        half_bits: half_bits(dataset.n_images),
        flip: augment.flip as u32,
        max_shift: augment.max_shift,
        brightness: augment.brightness,
        images_per_chunk: dataset.images_per_chunk as u32,
        ..Default::default()
    };
    u32_of(op, "batch elements", out.numel())?;
    let label = format!("data.batch_indices B={batch}");
    let indices = gpu.dispatch(
        &KernelRef::new(&DATA, "batch_indices"),
        label.clone(),
        &[counters],
        &[sample_info],
        &params,
        Grid::new(gpu, &label, batch.div_ceil(64) as u64, 1, 1)?,
    )?;
    // Unused chunk bindings get the first chunk again (never read: no index reaches them).
    let c = |i: usize| dataset.chunks.get(i).unwrap_or(&dataset.chunks[0]);
    let label = format!("data.gather_batch {shape:?}");
    let grid = Grid::for_items(gpu, &label, out.numel() as u64, 256)?;
    let gather = gpu.dispatch(
        &KernelRef::new(&DATA, "gather_batch"),
        label,
        &[c(0), c(1), c(2), c(3), sample_info],
        &[out],
        &params,
        grid,
    )?;
    Ok(vec![indices, gather])
}
