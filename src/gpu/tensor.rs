//! `GpuTensor`: a typed, shaped range of a GPU buffer, plus upload and readback.
//!
//! Layout conventions (ARCHITECTURE.md): contiguous row-major, activations NCHW, weights in
//! PyTorch's layouts. Every tensor's range is padded to a multiple of 4 elements (16 bytes) so the
//! elementwise kernels can read and write it as `array<vec4<f32>>`; the padding belongs to the
//! tensor, holds garbage, and is never compared or exported. Several tensors may share one
//! buffer (a model's flat parameter buffer), each at an offset aligned for binding.

use std::sync::Arc;

use super::Gpu;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    U32,
    /// Bytes, packed four to a `u32` word in WGSL (`array<u32>`), little-endian.
    U8,
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::U32 => 4,
            DType::U8 => 1,
        }
    }
}

#[derive(Clone)]
pub struct GpuTensor {
    buffer: Arc<wgpu::Buffer>,
    /// Byte offset of element 0 in `buffer`.
    offset: u64,
    shape: Vec<usize>,
    dtype: DType,
    label: Arc<str>,
}

impl std::fmt::Debug for GpuTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{:?}:{:?}", self.label, self.shape, self.dtype)
    }
}

/// Bytes a range of `numel` elements occupies, padded to 16 bytes (never 0: wgpu rejects
/// zero-sized bindings).
pub fn padded_bytes(numel: usize, dtype: DType) -> u64 {
    ((numel * dtype.size()).max(1)).next_multiple_of(16) as u64
}

const USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

impl GpuTensor {
    fn check_size(gpu: &Gpu, label: &str, bytes: u64) -> Result<()> {
        if bytes > gpu.limits.max_buffer_size {
            return Err(Error::Limit {
                kernel: format!("tensor {label}"),
                what: "buffer bytes",
                needed: bytes,
                allowed: gpu.limits.max_buffer_size,
            });
        }
        Ok(())
    }

    /// A zero-filled tensor with its own buffer.
    pub fn zeros(gpu: &Gpu, shape: &[usize], dtype: DType, label: &str) -> Result<GpuTensor> {
        let numel: usize = shape.iter().product();
        let bytes = padded_bytes(numel, dtype);
        Self::check_size(gpu, label, bytes)?;
        let buffer = gpu.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes,
            usage: USAGE,
            mapped_at_creation: false,
        })?;
        Ok(GpuTensor { buffer: Arc::new(buffer), offset: 0, shape: shape.to_vec(), dtype, label: label.into() })
    }

    fn from_bytes(gpu: &Gpu, shape: &[usize], dtype: DType, bytes: &[u8], label: &str) -> Result<GpuTensor> {
        let numel: usize = shape.iter().product();
        if bytes.len() != numel * dtype.size() {
            return Err(Error::shape(
                format!("upload {label}"),
                format!("{} values for shape {shape:?} ({numel} elements)", bytes.len() / dtype.size()),
            ));
        }
        let padded = padded_bytes(numel, dtype) as usize;
        Self::check_size(gpu, label, padded as u64)?;
        let mut contents = bytes.to_vec();
        contents.resize(padded, 0);
        let buffer = gpu.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: &contents,
            usage: USAGE,
        })?;
        Ok(GpuTensor { buffer: Arc::new(buffer), offset: 0, shape: shape.to_vec(), dtype, label: label.into() })
    }

    pub fn from_f32(gpu: &Gpu, shape: &[usize], data: &[f32], label: &str) -> Result<GpuTensor> {
        Self::from_bytes(gpu, shape, DType::F32, bytemuck::cast_slice(data), label)
    }

    pub fn from_u32(gpu: &Gpu, shape: &[usize], data: &[u32], label: &str) -> Result<GpuTensor> {
        Self::from_bytes(gpu, shape, DType::U32, bytemuck::cast_slice(data), label)
    }

    pub fn from_u8(gpu: &Gpu, shape: &[usize], data: &[u8], label: &str) -> Result<GpuTensor> {
        Self::from_bytes(gpu, shape, DType::U8, data, label)
    }

    /// A tensor viewing `shape` elements of `buffer` from byte `offset` (a model's flat
    /// parameter buffer). The offset must satisfy the adapter's binding alignment.
    pub fn view(
        gpu: &Gpu,
        buffer: Arc<wgpu::Buffer>,
        offset: u64,
        shape: &[usize],
        dtype: DType,
        label: &str,
    ) -> Result<GpuTensor> {
        let numel: usize = shape.iter().product();
        let align = gpu.limits.min_storage_buffer_offset_alignment as u64;
        if offset % align != 0 || offset + padded_bytes(numel, dtype) > buffer.size() {
            return Err(Error::shape(
                format!("view {label}"),
                format!("offset {offset} / {} bytes do not fit a buffer of {} bytes aligned to {align}",
                    padded_bytes(numel, dtype), buffer.size()),
            ));
        }
        Ok(GpuTensor { buffer, offset, shape: shape.to_vec(), dtype, label: label.into() })
    }

    /// A view whose offset the caller guarantees to be aligned for binding (a multiple of 256
    /// bytes, the largest alignment WebGPU allows); only the bounds are checked.
    pub fn view_unchecked(buffer: Arc<wgpu::Buffer>, offset: u64, shape: &[usize], dtype: DType, label: &str) -> Result<GpuTensor> {
        let numel: usize = shape.iter().product();
        if offset % 256 != 0 || offset + padded_bytes(numel, dtype) > buffer.size() {
            return Err(Error::shape(
                format!("view {label}"),
                format!("offset {offset} + {} bytes do not fit a buffer of {} bytes at 256-byte alignment", padded_bytes(numel, dtype), buffer.size()),
            ));
        }
        Ok(GpuTensor { buffer, offset, shape: shape.to_vec(), dtype, label: label.into() })
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn buffer(&self) -> &Arc<wgpu::Buffer> {
        &self.buffer
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The bound range in bytes, padding included.
    pub fn binding_size(&self) -> u64 {
        padded_bytes(self.numel(), self.dtype)
    }

    /// The same data under another shape with the same element count (a free reshape).
    pub fn reshaped(&self, shape: &[usize]) -> Result<GpuTensor> {
        let numel: usize = shape.iter().product();
        if numel != self.numel() {
            return Err(Error::shape(
                format!("reshape {}", self.label),
                format!("{:?} has {} elements, {shape:?} has {numel}", self.shape, self.numel()),
            ));
        }
        Ok(GpuTensor { shape: shape.to_vec(), ..self.clone() })
    }

    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: self.offset,
            size: wgpu::BufferSize::new(self.binding_size()),
        })
    }

    /// Overwrite the tensor's elements from the host (queued; ordered before the next submit).
    pub fn write_f32(&self, gpu: &Gpu, data: &[f32]) -> Result<()> {
        self.write_bytes(gpu, bytemuck::cast_slice(data), DType::F32)
    }

    pub fn write_u32(&self, gpu: &Gpu, data: &[u32]) -> Result<()> {
        self.write_bytes(gpu, bytemuck::cast_slice(data), DType::U32)
    }

    fn write_bytes(&self, gpu: &Gpu, bytes: &[u8], dtype: DType) -> Result<()> {
        if dtype != self.dtype || bytes.len() != self.numel() * dtype.size() {
            return Err(Error::shape(
                format!("write {}", self.label),
                format!("{} {:?} bytes into {:?} {:?}", bytes.len(), dtype, self.shape, self.dtype),
            ));
        }
        // write_buffer needs a multiple of 4 bytes; U8 tensors are padded to 16.
        let mut padded;
        let bytes = if bytes.len() % 4 != 0 {
            padded = bytes.to_vec();
            padded.resize(bytes.len().next_multiple_of(4), 0);
            &padded[..]
        } else {
            bytes
        };
        gpu.queue.write_buffer(&self.buffer, self.offset, bytes);
        Ok(())
    }

    /// Fill every element, padding included, with NaN (tests poison outputs before a dispatch so
    /// that an element a kernel forgets to write cannot pass).
    pub fn poison(&self, gpu: &Gpu) -> Result<()> {
        let words = (self.binding_size() / 4) as usize;
        gpu.queue.write_buffer(&self.buffer, self.offset, bytemuck::cast_slice(&vec![f32::NAN; words]));
        Ok(())
    }

    /// Copy the tensor's bytes (without padding) to the host. Blocks until the GPU is done.
    pub fn read_bytes(&self, gpu: &Gpu) -> Result<Vec<u8>> {
        let size = self.binding_size();
        let staging = gpu.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback staging"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })?;
        let mut enc = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("readback") });
        enc.copy_buffer_to_buffer(&self.buffer, self.offset, &staging, 0, size);
        gpu.queue.submit([enc.finish()]);
        let bytes = map_read(gpu, &staging, &self.label)?;
        Ok(bytes[..self.numel() * self.dtype.size()].to_vec())
    }

    pub fn read_f32(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        Ok(bytemuck::pod_collect_to_vec(&self.read_bytes(gpu)?))
    }

    pub fn read_u32(&self, gpu: &Gpu) -> Result<Vec<u32>> {
        Ok(bytemuck::pod_collect_to_vec(&self.read_bytes(gpu)?))
    }
}

/// Map a MAP_READ buffer whose copy has been submitted, wait, and return its bytes.
///
/// Waits for the map callback itself, not only for the device: when several threads share the
/// device, whichever thread polls runs the callbacks, so this thread's poll can return while
/// another is still delivering this buffer's callback.
pub fn map_read(gpu: &Gpu, staging: &wgpu::Buffer, what: &str) -> Result<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        let _ = tx.send(r);
    });
    gpu.wait()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    let outcome = loop {
        match rx.recv_timeout(std::time::Duration::from_millis(5)) {
            Ok(r) => break r,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if std::time::Instant::now() < deadline => {
                let _ = gpu.device.poll(wgpu::PollType::Poll);
            }
            Err(_) => return Err(Error::Readback { what: what.to_string(), message: "the map callback never ran".into() }),
        }
    };
    outcome.map_err(|e| Error::Readback { what: what.to_string(), message: e.to_string() })?;
    let bytes = {
        let view = staging
            .get_mapped_range(..)
            .map_err(|e| Error::Readback { what: what.to_string(), message: e.to_string() })?;
        view.to_vec()
    };
    staging.unmap();
    Ok(bytes)
}
