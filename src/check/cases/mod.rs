//! The shape tables: every op, forward and every backward, on 1 element, smaller than a tile,
//! exactly a tile, tile + 1, odd primes, batch 1, stride 1 and 2, padding 0 and 1, kernels
//! 1, 3 and 4, grids folded past the workgroup limit, and the real DCGAN layer shapes (batch
//! 64, the 32×32×1 and 64×64×3 models of pytorch/examples with ngf = ndf = 64).
//!
//! One file per op family; the helpers they share are here.

mod elementwise;
mod reduce;
mod finite;
mod distance;
mod penalty;
mod vae;
mod mask;
mod projection;
mod pool;
mod spectral_norm;
mod activation;
mod loss;
mod optim;
mod random;
mod data;
mod embedding;
mod minibatch_std;
mod labels;
mod batchnorm;
mod layernorm;
mod matmul;
mod conv;
mod network;

use super::{cancellation_bound, norm, sum_bound, Case, Rng, Row, ELEMENTWISE_BOUND, F32_U, TRANSCENDENTAL_BOUND};
use crate::error::Result;
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor};
use crate::ops::activation::Activation;
use crate::ops::batchnorm::BnConfig;
use crate::ops::conv::ConvKernel;
use crate::ops::conv2d::{Conv2dShape, Conv2dSpec};
use crate::ops::conv_transpose2d::{ConvT2dShape, ConvT2dSpec};
use crate::ops::matmul::{MatmulKernel, MatmulSpec};
use crate::ops::optim::AdamConfig;
use crate::ops::random::{Distribution, RngKey};
use crate::ops::{self};
use crate::reference::{self as cpu, Tensor};

/// Every case, in the order `check` prints them.
pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(elementwise::elementwise_cases());
    v.extend(reduce::reduce_cases());
    v.extend(finite::finite_cases());
    v.extend(distance::distance_cases());
    v.extend(spectral_norm::spectral_norm_cases());
    v.extend(penalty::penalty_cases());
    v.extend(vae::vae_cases());
    v.extend(mask::mask_cases());
    v.extend(projection::projection_cases());
    v.extend(pool::pool_cases());
    v.extend(activation::activation_cases());
    v.extend(loss::loss_cases());
    v.extend(optim::optim_cases());
    v.extend(random::random_cases());
    v.extend(data::data_cases());
    v.extend(labels::labels_cases());
    v.extend(embedding::embedding_cases());
    v.extend(minibatch_std::minibatch_std_cases());
    v.extend(batchnorm::batchnorm_cases());
    v.extend(layernorm::layernorm_cases());
    v.extend(matmul::matmul_cases());
    v.extend(conv::conv2d_cases());
    v.extend(conv::conv_transpose2d_cases());
    v.extend(network::network_cases());
    v
}


fn upload(gpu: &Gpu, shape: &[usize], data: &[f32], label: &str) -> Result<GpuTensor> {
    GpuTensor::from_f32(gpu, shape, data, label)
}

/// Poison `out` with NaN, run `dispatches`, read `out` back.
fn run_poisoned(gpu: &Gpu, label: &str, dispatches: &[Dispatch], out: &GpuTensor) -> Result<Vec<f32>> {
    out.poison(gpu)?;
    gpu.run(label, &dispatches.iter().collect::<Vec<_>>())?;
    out.read_f32(gpu)
}

/// Run `dispatches` (outputs already initialised) and read `outs` back.
fn run_read(gpu: &Gpu, label: &str, dispatches: &[Dispatch], outs: &[&GpuTensor]) -> Result<Vec<Vec<f32>>> {
    gpu.run(label, &dispatches.iter().collect::<Vec<_>>())?;
    outs.iter().map(|t| t.read_f32(gpu)).collect()
}

/// The elementwise square of `v`, in f64.
fn sq(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| (x as f64).powi(2)).collect()
}

/// The elementwise square of `v`, in f64, as a tensor of `shape`.
fn square_f32(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::new(shape, sq(v))
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn add(a: &[f32], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(&x, &y)| x as f64 + y).collect()
}

/// A copy of `gpu` whose grids fold past `cap` workgroups per dimension, to exercise the
/// folding logic (shaders recover flat indices from 2-D grids) with small tensors.
fn folded(gpu: &Gpu, cap: u32) -> Gpu {
    gpu.with_workgroup_cap(cap)
}

const FOLD_CAP: u32 = 8;
