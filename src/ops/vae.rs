//! Host side of shaders/vae.wgsl: the VAE latent — reparameterisation, KL divergence and
//! their backward, with β and the KL warm-up read on the GPU. Math and grids in the shader.

use bytemuck::{Pod, Zeroable};

use super::{expect_shape, u32_of};
use crate::error::{Error, Result};
use crate::gpu::shaders::VAE;
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor, Grid, KernelRef};

/// Mirrors `struct VaeParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct VaeParams {
    pub batch: u32,
    pub latent: u32,
    pub stat_index: u32,
    pub counter_index: u32,
    pub beta: f32,
    pub warmup: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}
const _: () = assert!(std::mem::size_of::<VaeParams>() % 16 == 0);

const OP: &str = "vae";

/// The KL term's weight: β (β-VAE; 1 for the ELBO), ramped linearly from 0 over `warmup`
/// steps of the GPU counter `counter_index` (0: no warm-up).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KlWeight {
    pub beta: f32,
    pub warmup: u32,
    pub counter_index: usize,
}

/// (B, nz) of eps [B, nz], with stats [B, 2·nz].
fn dims(stats: &GpuTensor, eps: &GpuTensor) -> Result<(usize, usize)> {
    let [b, nz] = eps.shape() else {
        return Err(Error::shape(OP, format!("ε {} must be [B, nz], got {:?}", eps.label(), eps.shape())));
    };
    if *b == 0 || *nz == 0 {
        return Err(Error::shape(OP, format!("ε {:?} is empty", eps.shape())));
    }
    expect_shape(OP, "encoder statistics (μ, log σ²)", stats, &[*b, 2 * nz])?;
    u32_of(OP, "latent elements", b * nz)?;
    Ok((*b, *nz))
}

fn params(b: usize, nz: usize) -> VaeParams {
    VaeParams { batch: b as u32, latent: nz as u32, stat_index: 0, counter_index: 0, beta: 0.0, warmup: 0, _pad0: 0, _pad1: 0 }
}

/// z = μ + exp(½ log σ²)·ε (overwrite).
pub fn reparameterize(gpu: &Gpu, stats: &GpuTensor, eps: &GpuTensor, z: &GpuTensor) -> Result<Dispatch> {
    let (b, nz) = dims(stats, eps)?;
    expect_shape(OP, "z", z, &[b, nz])?;
    let label = format!("vae_reparam {:?}", eps.shape());
    let grid = Grid::for_items(gpu, &label, (b * nz) as u64, 256)?;
    gpu.dispatch(&KernelRef::new(&VAE, "vae_reparam"), label, &[stats, eps], &[z], &params(b, nz), grid)
}

/// KL(N(μ, σ²) ‖ N(0, I)) summed over the latent, averaged over the batch, into
/// `out[stat_index]` (unweighted: the value to log).
pub fn kl(gpu: &Gpu, stats: &GpuTensor, latent: usize, out: &GpuTensor, stat_index: usize) -> Result<Dispatch> {
    let b = *stats.shape().first().unwrap_or(&0);
    if latent == 0 || stats.shape() != [b, 2 * latent] || b == 0 {
        return Err(Error::shape(OP, format!("encoder statistics {:?} must be [B, 2·{latent}]", stats.shape())));
    }
    if stat_index >= out.numel() {
        return Err(Error::shape(OP, format!("statistic slot {stat_index} of {:?}", out.shape())));
    }
    let p = VaeParams { stat_index: stat_index as u32, ..params(b, latent) };
    let label = format!("vae_kl {:?}", stats.shape());
    gpu.dispatch(&KernelRef::new(&VAE, "vae_kl"), label.clone(), &[stats], &[out], &p, Grid::new(gpu, &label, 1, 1, 1)?)
}

/// ∂L/∂(μ, log σ²) into `dstats` (overwrite) for L = (loss of z, whose gradient is `dz`) +
/// w·KL, w from `weight` and the step counter.
pub fn backward(gpu: &Gpu, stats: &GpuTensor, eps: &GpuTensor, dz: &GpuTensor, counters: &GpuTensor, weight: KlWeight, dstats: &GpuTensor) -> Result<Dispatch> {
    let (b, nz) = dims(stats, eps)?;
    expect_shape(OP, "∂L/∂z", dz, &[b, nz])?;
    expect_shape(OP, "∂L/∂(μ, log σ²)", dstats, &[b, 2 * nz])?;
    if !(weight.beta.is_finite() && weight.beta >= 0.0) {
        return Err(Error::invalid("--beta", format!("{} must be a finite number ≥ 0 (1 for the ELBO)", weight.beta)));
    }
    if counters.dtype() != DType::U32 || weight.counter_index >= counters.numel() {
        return Err(Error::shape(OP, format!("step counter slot {} of {:?}", weight.counter_index, counters.shape())));
    }
    let p = VaeParams { counter_index: weight.counter_index as u32, beta: weight.beta, warmup: weight.warmup, ..params(b, nz) };
    let label = format!("vae_backward {:?}", eps.shape());
    let grid = Grid::for_items(gpu, &label, (b * nz) as u64, 256)?;
    gpu.dispatch(&KernelRef::new(&VAE, "vae_backward"), label, &[stats, eps, dz, counters], &[dstats], &p, grid)
}
