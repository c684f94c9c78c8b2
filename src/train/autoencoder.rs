//! The autoencoder objectives (`train --model ae|vae`, AutoencoderModel): an encoder to a
//! latent of `nz` values and a GAN generator as decoder (the DCGAN's, or with `--arch mlp`
//! the MLP's), trained to reconstruct the images (optionally from corrupted inputs);
//! the VAE's encoder gives μ and log σ², its latent is z = μ + σ·ε, and its loss adds
//! β·KL(N(μ, σ²) ‖ N(0, I)) (with an optional linear warm-up of β).
//!
//! One iteration, recorded into one command encoder and submitted once:
//!
//! ```text
//! batch of the training split → the clean images               (data.wgsl; DATA += 1)
//! LATENT += 1; the step's draws from it, each its own stream:
//!   [--denoise]    noise ~ N(0, σ²)                            (random.wgsl)
//!   [--mask-ratio] u ~ U[0, 1) per patch                       (random.wgsl)
//!   [vae]          ε ~ N(0, I)                                 (random.wgsl)
//! enc.input = the clean images [+ noise] [patches with u < r blanked to 0] (mask.wgsl)
//! grads = 0, enc.forward
//! [vae] z = μ + exp(½ log σ²)·ε                                 (vae.wgsl)
//! [ae]  z = the encoder's output (the same memory)
//! dec.forward(z), L_rec per image, averaged over the batch    (loss.wgsl):
//!   --recon mse: ½·Σ_pixels (x̂ − x)²; --recon bce: Σ_pixels BCE(ℓ, (x + 1)/2) with logits ℓ
//! dec.backward (parameters and ∂L/∂z)
//! [vae] ∂L/∂(μ, log σ²) = reparameterisation backward + w·∂KL (w = β, warmed up on the GPU),
//!       KL into the statistics                                (vae.wgsl)
//! [ae]  ∂L/∂code = ∂L/∂z (a copy)
//! enc.backward (parameters), Adam steps of both               (ADAM += 1)
//! ```
//!
//! A fixed held-out batch (the first images of `data::holdout_split`) is scored in evaluation
//! mode every `sample_every` steps and at the end: reconstruction loss, KL and the negative
//! ELBO (reconstruction + KL: one ε drawn once from the seed), logged in metrics.jsonl; and
//! drawn: reconstructions.png (rows of held-out images over their reconstructions from μ),
//! for the VAE prior_samples.png (the decoder on fixed z ~ N(0, I)), traversals.png and
//! interpolations.png (the lectures' latent traversals: one latent swept, the others fixed).
//!
//! The run directory holds config.json, metrics.jsonl, checkpoint.safetensors (both networks,
//! their Adam moments and the counters: `--resume` continues bit for bit), encoder.safetensors
//! and decoder.safetensors (PyTorch nn.Sequential state dicts; the decoder is a DCGAN
//! generator's).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::runner::{self, Cadence, Objective, RunEvent, SavedNet};
use super::checkpoint::{self, TensorFile};
use super::AugmentConfig;
use crate::data::{Dataset, DatasetKind};
use crate::error::{Error, Result};
use crate::gpu::tensor::map_read;
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor};
use crate::model::AutoencoderModel;
use crate::nn::{DropoutRng, Instance, Mode, NetSpec, ParamStore};
use crate::ops::data::GpuDataset;
use crate::ops::loss::Elementwise;
use crate::ops::optim::AdamConfig;
use crate::ops::random::{Distribution, RngKey};
use crate::ops::vae::KlWeight;
use crate::ops::{self};
use crate::rng::Rng;

pub const FORMAT: &str = "shadergan-autoencoder-checkpoint-1";
/// config.json's `objective` for these runs.
pub const OBJECTIVE: &str = "autoencoder";

/// Slots of the GPU counter tensor.
pub mod slot {
    pub const ZERO: usize = 0;
    pub const ADAM: usize = 1;
    pub const DATA: usize = 2;
    pub const LATENT: usize = 3;
    pub const COUNT: usize = 4;
}

/// Where the loss kernels write: the reconstruction loss (and its mean statistic), then KL.
mod stat {
    pub const RECON: usize = 0;
    pub const KL: usize = 2;
    pub const COUNT: usize = 4;
}

/// Held-out images scored and drawn.
pub const HELDOUT_BATCH: usize = 64;

/// What config.json records and `--resume` restores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AutoencoderConfig {
    pub model: AutoencoderModel,
    pub dataset: DatasetKind,
    pub data: Option<PathBuf>,
    pub max_images: Option<usize>,
    pub synthetic_images: usize,
    /// Share of the images held out (data::holdout_split).
    pub holdout: f64,
    pub batch_size: usize,
    pub steps: u64,
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    /// The KL term's weight (β-VAE; 1 = the ELBO). VAE only.
    pub beta: f32,
    /// Steps over which the KL weight ramps linearly from 0 to β (0: none). VAE only.
    pub kl_warmup: u32,
    /// Denoising: Gaussian noise of this standard deviation (images in [−1, 1]) is added to
    /// the encoder's input, and the clean image is the target (0: none).
    #[serde(default)]
    pub denoise: f32,
    /// Masking (after He et al.'s masked autoencoders): each `patch`×`patch` patch of the
    /// encoder's input is blanked to 0 (mid-grey) with this probability, after any noise; the
    /// whole clean image is the target (0: none).
    #[serde(default)]
    pub mask_ratio: f32,
    /// Side of a masked patch in pixels; divides the image size.
    #[serde(default = "default_patch")]
    pub patch: usize,
    pub seed: u64,
    pub log_every: u64,
    /// Score and draw the held-out batch every this many steps (and at the end).
    pub sample_every: u64,
    pub checkpoint_every: u64,
    pub out: PathBuf,
}

/// --patch's default: 4 pixels, 8×8 patches on a 32×32 image.
pub const DEFAULT_PATCH: usize = 4;

fn default_patch() -> usize {
    DEFAULT_PATCH
}

impl AutoencoderConfig {
    /// Whether the encoder's input differs from the target (--denoise or --mask-ratio).
    pub fn corrupts(&self) -> bool {
        self.denoise > 0.0 || self.mask_ratio > 0.0
    }

    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        let bad = |flag: &str, m: String| Err(Error::invalid(flag, m));
        super::config::validate_run(self.batch_size, self.steps, [self.beta1, self.beta2], [("--log-every", self.log_every), ("--sample-every", self.sample_every), ("--checkpoint-every", self.checkpoint_every)])?;
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr < 1.0) {
            return bad("--lr", format!("learning rate {} must lie in (0, 1)", self.lr));
        }
        if !(self.holdout > 0.0 && self.holdout < 1.0) {
            return bad("--holdout", format!("{} must lie in (0, 1): the share of images held out to score reconstructions", self.holdout));
        }
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return bad("--beta", format!("{} must be a finite number ≥ 0 (1 for the ELBO, > 1 for a β-VAE)", self.beta));
        }
        if !(self.denoise.is_finite() && (0.0..=2.0).contains(&self.denoise)) {
            return bad("--denoise", format!("{} must lie in [0, 2]: the noise's standard deviation on images in [−1, 1] (0.5 is heavy)", self.denoise));
        }
        if !(self.mask_ratio.is_finite() && (0.0..1.0).contains(&self.mask_ratio)) {
            return bad("--mask-ratio", format!("{} must lie in [0, 1): the share of patches blanked (1 would leave nothing to reconstruct from; 0.5 is heavy, MAE uses 0.75 on 224-pixel images)", self.mask_ratio));
        }
        if self.patch == 0 || self.model.image_size % self.patch != 0 {
            let fits: Vec<String> = (1..=self.model.image_size / 2).filter(|p| self.model.image_size % p == 0).map(|p| p.to_string()).collect();
            return bad("--patch", format!("{} must divide the image size {} (a patch is p×p pixels): use one of {}", self.patch, self.model.image_size, fits.join(", ")));
        }
        if !self.model.variational && (self.beta != 1.0 || self.kl_warmup != 0) {
            return bad(if self.kl_warmup != 0 { "--kl-warmup" } else { "--beta" }, "weighs the VAE's KL term; a plain autoencoder (--model ae) has none: use --model vae".into());
        }
        Ok(())
    }
}

/// One line of metrics.jsonl.
#[derive(Clone, Debug, Serialize)]
pub struct AutoencoderRecord {
    pub step: u64,
    pub epoch: f64,
    /// This step's training batch: reconstruction loss per image (½·Σ squared error, or
    /// with --recon bce Σ binary cross-entropy in nats) and KL (nats per image; VAE only).
    pub recon: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kl: Option<f32>,
    /// The held-out batch in evaluation mode, where scored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heldout_recon: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heldout_kl: Option<f32>,
    /// Reconstruction + KL: the negative ELBO for β = 1, one ε per image (in nats with --recon
    /// bce's Bernoulli decoder; with mse's Gaussian decoder of unit variance, up to its
    /// constant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heldout_neg_elbo: Option<f32>,
    /// --denoise, --mask-ratio: PSNR (dB, images in [−1, 1]) of the held-out corrupted
    /// inputs and of their reconstructions, both against the clean images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heldout_psnr_corrupted: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heldout_psnr_reconstructed: Option<f64>,
    pub images_per_s: f64,
    pub elapsed_s: f64,
}

/// What the trainer reports as it goes.
pub type AutoencoderEvent<'a> = RunEvent<'a, AutoencoderRecord>;

/// The held-out batch in evaluation mode: scored with one fixed ε, drawn with ε = 0 (z = μ),
/// and the decoder on fixed prior latents.
struct Heldout {
    /// The encoder's input (corrupted with --denoise, --mask-ratio) and the clean images.
    images: GpuTensor,
    clean: GpuTensor,
    /// The encoder's output on them: the code, or (μ, log σ²).
    codes: GpuTensor,
    score: Vec<Dispatch>,
    reconstruct: Vec<Dispatch>,
    /// The decoder on `latents` [n, nz, 1, 1].
    decode: Vec<Dispatch>,
    /// How the decoder's outputs become images.
    recon: crate::model::Recon,
    latents: GpuTensor,
    /// Fixed draws of N(0, I) for the prior samples.
    prior_z: Vec<f32>,
    stats: GpuTensor,
    decoded: GpuTensor,
    n: usize,
    nz: usize,
}

impl Heldout {
    /// The decoder on any number of latents ([m, nz] flat), `n` at a time.
    fn decode(&self, gpu: &Gpu, zs: &[f32]) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        for chunk in zs.chunks(self.n * self.nz) {
            let mut padded = chunk.to_vec();
            padded.resize(self.n * self.nz, 0.0);
            self.latents.write_f32(gpu, &padded)?;
            gpu.run("decode", &self.decode.iter().collect::<Vec<_>>())?;
            let mut images = self.decoded.read_f32(gpu)?;
            self.recon.to_images(&mut images);
            let per = images.len() / self.n;
            out.extend_from_slice(&images[..chunk.len() / self.nz * per]);
        }
        Ok(out)
    }
}

/// Traversal steps: each latent swept over −3 … 3 in 9 steps.
const TRAVERSAL: [f32; 9] = [-3.0, -2.25, -1.5, -0.75, 0.0, 0.75, 1.5, 2.25, 3.0];

pub struct AutoencoderTrainer {
    pub gpu: Gpu,
    pub cfg: AutoencoderConfig,
    pub encoder_spec: NetSpec,
    pub decoder_spec: NetSpec,
    pub encoder: ParamStore,
    pub decoder: ParamStore,
    pub dataset_source: String,
    pub n_train: usize,
    counters: GpuTensor,
    stats: GpuTensor,
    stats_staging: wgpu::Buffer,
    program: Vec<Dispatch>,
    /// The next step's inputs drawn without the step's counter ticks (for `save_initial`):
    /// the batch, the random draws and the corruption.
    draw_inputs: Vec<Dispatch>,
    /// What `save_initial` writes besides the weights: the clean batch (`images`), the
    /// encoder's input (`input`, corrupted with --denoise, --mask-ratio) and the VAE's ε (`eps`).
    inputs: Vec<(&'static str, GpuTensor)>,
    heldout: Heldout,
    pub step: u64,
    last_checkpoint: Option<u64>,
    /// The last held-out (reconstruction, KL).
    pub heldout_score: Option<(f32, f32)>,
    /// --denoise, --mask-ratio: the last held-out PSNR (dB) of the corrupted inputs and of
    /// their reconstructions.
    pub heldout_psnr: Option<(f64, f64)>,
    /// Raised by a signal handler: finish this step, checkpoint, return.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl AutoencoderTrainer {
    /// Build both networks, the data pipeline, one iteration's program and the held-out
    /// passes for `cfg`, with `dataset` (already at the model's size) split into training and
    /// held-out parts.
    pub fn new(gpu: Gpu, cfg: AutoencoderConfig, dataset: &Dataset) -> Result<AutoencoderTrainer> {
        cfg.validate()?;
        let m = &cfg.model;
        if dataset.size != m.image_size || dataset.channels != m.channels {
            return Err(Error::shape("dataset", format!("images are {}x{}x{}, the model wants {}x{}x{}", dataset.channels, dataset.size, dataset.size, m.channels, m.image_size, m.image_size)));
        }
        let (train_idx, held_idx) = crate::data::holdout_split(dataset.n, cfg.holdout);
        let b = cfg.batch_size;
        if b > train_idx.len() {
            return Err(Error::invalid("--batch-size", format!("{b} is larger than the training split ({} of the {} images of {}); use --batch-size {} or less", train_idx.len(), dataset.n, dataset.source, train_idx.len())));
        }
        let train = dataset.subset(&train_idx, "training split");
        let (encoder_spec, decoder_spec) = (m.encoder()?, m.decoder()?);
        let max_batch = encoder_spec.max_batch(&gpu.limits)?.min(decoder_spec.max_batch(&gpu.limits)?);
        if b > max_batch {
            return Err(Error::invalid("--batch-size", format!("{b} does not fit this adapter's buffers; use --batch-size {max_batch} or less")));
        }
        let encoder = ParamStore::new(&gpu, "encoder", encoder_spec.params())?;
        let decoder = ParamStore::new(&gpu, "decoder", decoder_spec.params())?;
        let counters = GpuTensor::zeros(&gpu, &[slot::COUNT], DType::U32, "counters")?;
        let stats = GpuTensor::zeros(&gpu, &[stat::COUNT], DType::F32, "losses")?;
        let stats_staging = gpu.create_buffer(&wgpu::BufferDescriptor {
            label: Some("loss readback"),
            size: stats.binding_size(),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })?;
        let gpu_data = GpuDataset::upload(&gpu, &train.pixels, train.n, train.channels, train.size)?;
        let nets = Nets::new(&gpu, &cfg, &encoder_spec, &decoder_spec, &encoder, &decoder, b, Mode::Train, &counters)?;
        let sample_info = GpuTensor::zeros(&gpu, &[b, 8], DType::U32, "sample_info")?;
        let tick = |s: usize| ops::elementwise::counter_add(&gpu, &counters, s, 1);
        let adam = AdamConfig { beta1: cfg.beta1, beta2: cfg.beta2, eps: 1e-8, weight_decay: 0.0, decoupled: false };
        // A constant learning rate, in the GPU tensor Adam reads it from.
        let lrs = ops::optim::learning_rates(&gpu, &[cfg.lr])?;
        let no_augment = AugmentConfig { flip: false, shift: 0, brightness: 0.0 };

        let batch = ops::data::batch(&gpu, &gpu_data, b, cfg.seed, no_augment.kernel(), &counters, slot::DATA, &sample_info, nets.images())?;
        let mut draw_inputs = batch.clone();
        let mut p = batch;
        p.push(tick(slot::DATA)?);
        // The step's random draws: one tick of LATENT, then each draw from its own stream.
        let draw = |stream: &str, dist: Distribution, out: &GpuTensor| {
            let key = RngKey { seed: cfg.seed, stream: crate::nn::params::stream_of(stream), counter_index: slot::LATENT };
            ops::random::sample(&gpu, dist, key, &counters, out)
        };
        let draws: Vec<(&str, Distribution, &GpuTensor)> = [
            nets.corruption.noise.as_ref().map(|t| ("denoise noise", Distribution::Normal { mean: 0.0, std: cfg.denoise }, t)),
            nets.corruption.mask_draws.as_ref().map(|t| ("mask patches", Distribution::Uniform { low: 0.0, high: 1.0 }, t)),
            nets.eps.as_ref().map(|t| ("vae epsilon", Distribution::Normal { mean: 0.0, std: 1.0 }, t)),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !draws.is_empty() {
            p.push(tick(slot::LATENT)?);
        }
        let mut draws_and_corruption = Vec::new();
        for (stream, dist, out) in draws {
            draws_and_corruption.push(draw(stream, dist, out)?);
        }
        draws_and_corruption.extend(nets.corrupt(&gpu, &cfg)?);
        // save_initial runs the same draws without the ticks (it moves LATENT itself).
        draw_inputs.extend(draws_and_corruption.iter().cloned());
        p.extend(draws_and_corruption);
        p.push(ops::elementwise::fill(&gpu, &encoder.grads, 0.0)?);
        p.push(ops::elementwise::fill(&gpu, &decoder.grads, 0.0)?);
        p.extend(nets.forward_and_loss(&gpu, &stats)?);
        p.extend(nets.dec.backward_full.iter().cloned());
        // The step count, ticked before the KL warm-up reads it (t = 1 at the first step).
        p.push(tick(slot::ADAM)?);
        p.extend(nets.code_gradient(&gpu, &counters, KlWeight { beta: cfg.beta, warmup: cfg.kl_warmup, counter_index: slot::ADAM })?);
        p.extend(nets.enc.backward_params.iter().cloned());
        for store in [&encoder, &decoder] {
            p.push(ops::optim::adam_step(&gpu, &adam, ops::optim::Lr { tensor: &lrs, index: 0 }, &store.grads, &counters, slot::ADAM, &store.params, &store.adam_m, &store.adam_v)?);
        }

        let mut input_tensors = vec![("images", nets.images().clone()), ("input", nets.enc.input().clone())];
        if let Some(eps) = &nets.eps {
            input_tensors.push(("eps", eps.clone()));
        }
        let heldout = Heldout::new(&gpu, &cfg, dataset, &held_idx, &encoder_spec, &decoder_spec, &encoder, &decoder, &counters)?;
        Ok(AutoencoderTrainer {
            draw_inputs,
            inputs: input_tensors,
            dataset_source: dataset.source.clone(),
            n_train: train.n,
            gpu,
            cfg,
            encoder_spec,
            decoder_spec,
            encoder,
            decoder,
            counters,
            stats,
            stats_staging,
            program: p,
            heldout,
            step: 0,
            last_checkpoint: None,
            heldout_score: None,
            heldout_psnr: None,
            stop: None,
        })
    }

    pub fn dispatches_per_step(&self) -> usize {
        self.program.len()
    }

    pub fn heldout_images(&self) -> usize {
        self.heldout.n
    }

    /// One iteration's program (for tests and benchmarks).
    pub fn program(&self) -> &[Dispatch] {
        &self.program
    }

    /// Fresh weights from the seed (convolutions N(0, 0.02), BatchNorm γ N(1, 0.02), Linear as
    /// PyTorch's default), zero Adam moments and counters.
    pub fn initialize(&mut self) -> Result<()> {
        self.counters.write_u32(&self.gpu, &[0; slot::COUNT])?;
        let mut d = self.encoder.init_dispatches(&self.gpu, self.cfg.seed, &self.counters, slot::ZERO)?;
        d.extend(self.decoder.init_dispatches(&self.gpu, self.cfg.seed, &self.counters, slot::ZERO)?);
        self.gpu.run("initialize", &d.iter().collect::<Vec<_>>())?;
        self.step = 0;
        Ok(())
    }

    /// Write `path` with the current weights of both networks (`encoder.*`, `decoder.*`,
    /// PyTorch keys), the next step's clean batch (`images`, [B, C, S, S]), the encoder's input
    /// (`input`: the same images, or with --denoise / --mask-ratio their corrupted version) and
    /// for the VAE its ε (`eps`, [B, nz]): everything another implementation needs to reproduce
    /// the next iteration (scripts/pytorch_parity.py --iteration). The counters are left as
    /// they were, so the run goes on exactly as without it.
    pub fn save_initial(&self, path: &Path) -> Result<()> {
        // The step ticks LATENT before its draws.
        super::draw_ahead(&self.gpu, &self.counters, slot::LATENT, &self.draw_inputs)?;
        let mut f = TensorFile::default();
        for net in self.saved_nets() {
            for (k, t) in checkpoint::state_dict(&self.gpu, net.spec, net.store, self.bn_forwards())? {
                f.tensors.insert(format!("{}{k}", net.prefix), t);
            }
        }
        for (name, t) in &self.inputs {
            f.tensors.insert((*name).into(), checkpoint::HostTensor { shape: t.shape().to_vec(), values: checkpoint::Values::F32(t.read_f32(&self.gpu)?) });
        }
        f.metadata = self.metadata()?;
        f.save(path)
    }

    /// Record and submit one iteration; with `read`, wait for and return (reconstruction, KL)
    /// of its batch.
    pub fn iterate(&mut self, read: bool) -> Result<Option<(f32, f32)>> {
        let mut enc = self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("autoencoder step") });
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("autoencoder step"), timestamp_writes: None });
            for d in &self.program {
                d.record(&mut pass);
            }
        }
        if read {
            enc.copy_buffer_to_buffer(self.stats.buffer(), 0, &self.stats_staging, 0, self.stats.binding_size());
        }
        self.gpu.queue.submit([enc.finish()]);
        self.step += 1;
        if !read {
            return Ok(None);
        }
        let v: Vec<f32> = bytemuck::pod_collect_to_vec(&map_read(&self.gpu, &self.stats_staging, "loss")?[..4 * stat::COUNT]);
        Ok(Some((v[stat::RECON], v[stat::KL])))
    }

    /// (reconstruction, KL) of the held-out batch in evaluation mode, one fixed ε per image.
    pub fn evaluate(&mut self) -> Result<(f32, f32)> {
        self.gpu.run("held-out score", &self.heldout.score.iter().collect::<Vec<_>>())?;
        let v = self.heldout.stats.read_f32(&self.gpu)?;
        let score = (v[stat::RECON], if self.cfg.model.variational { v[stat::KL] } else { 0.0 });
        self.heldout_score = Some(score);
        Ok(score)
    }

    /// reconstructions.png (held-out rows over their reconstructions from μ) and, for the VAE,
    /// prior_samples.png, each also kept as samples/<name>_<step>.png; traversals.png (one row
    /// per latent: that latent of a held-out image's μ swept over ±3, the others fixed) and
    /// interpolations.png (rows from one held-out image's μ to another's).
    pub fn write_grids(&mut self) -> Result<()> {
        let (c, s) = (self.cfg.model.channels, self.cfg.model.image_size);
        let per = c * s * s;
        let dir = self.cfg.out.clone();
        let samples_dir = dir.join("samples");
        std::fs::create_dir_all(&samples_dir).map_err(|e| Error::io(&samples_dir, e))?;
        let h = &self.heldout;
        self.gpu.run("held-out reconstructions", &h.reconstruct.iter().collect::<Vec<_>>())?;
        let (inputs, mut recons, clean) = (h.images.read_f32(&self.gpu)?, h.decoded.read_f32(&self.gpu)?, h.clean.read_f32(&self.gpu)?);
        h.recon.to_images(&mut recons);
        let denoising = self.cfg.corrupts();
        // PSNR against the clean images, range 2 ([−1, 1]): of the corrupted input and of its
        // reconstruction.
        let psnr = |a: &[f32]| {
            let mse = a.iter().zip(&clean).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum::<f64>() / a.len() as f64;
            10.0 * (4.0 / mse.max(1e-30)).log10()
        };
        self.heldout_psnr = denoising.then(|| (psnr(&inputs), psnr(&recons)));
        // μ (or the code) of the held-out images, read before any decode reuses the buffers
        // (an AE's decoder input is the encoder's output).
        let codes = h.codes.read_f32(&self.gpu)?;
        // Rows of 8: the images, (--denoise, --mask-ratio: their corrupted versions,) their
        // reconstructions.
        // Whole groups of 8 only, so the rows stay aligned (all of them when fewer than 8).
        let cols = 8.min(h.n);
        let shown = 32.min(h.n) / cols * cols;
        let sources: Vec<&Vec<f32>> = if denoising { vec![&clean, &inputs, &recons] } else { vec![&inputs, &recons] };
        let mut grid = Vec::with_capacity(sources.len() * shown * per);
        for row in 0..shown.div_ceil(cols) {
            let range = row * cols..((row + 1) * cols).min(shown);
            for src in &sources {
                for i in range.clone() {
                    grid.extend_from_slice(&src[i * per..(i + 1) * per]);
                }
            }
        }
        let save = |name: &str, images: &[f32], n: usize| -> Result<()> {
            crate::images::save_grid(&dir.join(format!("{name}.png")), images, n, c, s, cols, 2)?;
            crate::images::save_grid(&dir.join("samples").join(format!("{name}_{:06}.png", self.step)), images, n, c, s, cols, 2)
        };
        save("reconstructions", &grid, sources.len() * shown)?;
        let h = &self.heldout;
        let nz = h.nz;
        if self.cfg.model.variational {
            let samples = h.decode(&self.gpu, &h.prior_z)?;
            save("prior_samples", &samples, h.n)?;
        }
        let width = self.cfg.model.code_width();
        let mu = |i: usize| codes[i * width..i * width + nz].to_vec();
        // Traversals: one row per latent, that latent of held-out image 0's μ swept over ±3.
        let base = mu(0);
        let mut zs = Vec::with_capacity(nz * TRAVERSAL.len() * nz);
        for k in 0..nz {
            for v in TRAVERSAL {
                let mut z = base.clone();
                z[k] += v;
                zs.extend(z);
            }
        }
        let images = h.decode(&self.gpu, &zs)?;
        crate::images::save_grid(&dir.join("traversals.png"), &images, nz * TRAVERSAL.len(), c, s, TRAVERSAL.len(), 2)?;
        // Interpolations: rows from held-out image 2r's μ to image 2r + 1's, in 10 steps.
        let (rows, steps) = (4.min(h.n / 2), 10);
        let mut zs = Vec::with_capacity(rows * steps * nz);
        for r in 0..rows {
            let (a, b) = (mu(2 * r), mu(2 * r + 1));
            for t in 0..steps {
                let w = t as f32 / (steps - 1) as f32;
                zs.extend(a.iter().zip(&b).map(|(x, y)| (1.0 - w) * x + w * y));
            }
        }
        let images = h.decode(&self.gpu, &zs)?;
        crate::images::save_grid(&dir.join("interpolations.png"), &images, rows * steps, c, s, steps, 2)?;
        Ok(())
    }

    /// PyTorch's num_batches_tracked: one training-mode forward of each network per step.
    fn bn_forwards(&self) -> u64 {
        self.step
    }

    fn metadata(&self) -> Result<HashMap<String, String>> {
        let mut md = HashMap::new();
        md.insert("format".into(), FORMAT.into());
        md.insert("objective".into(), OBJECTIVE.into());
        md.insert("step".into(), self.step.to_string());
        md.insert("config".into(), to_json(&self.cfg)?);
        md.insert("autoencoder".into(), to_json(&self.cfg.model)?);
        md.insert("adapter".into(), self.gpu.describe());
        if let Some((recon, kl)) = self.heldout_score {
            md.insert("heldout_recon".into(), recon.to_string());
            md.insert("heldout_kl".into(), kl.to_string());
        }
        Ok(md)
    }

    fn saved_nets(&self) -> [SavedNet<'_>; 2] {
        [
            SavedNet { file: "encoder", prefix: "encoder.", opt: "opt_encoder", spec: &self.encoder_spec, store: &self.encoder },
            SavedNet { file: "decoder", prefix: "decoder.", opt: "opt_decoder", spec: &self.decoder_spec, store: &self.decoder },
        ]
    }

    /// Write checkpoint.safetensors (the full state), encoder.safetensors and
    /// decoder.safetensors (state dicts), each atomically, after checking every value is finite.
    pub fn save_checkpoints(&mut self) -> Result<PathBuf> {
        let path = runner::save_checkpoints(&self.gpu, &self.cfg.out, self.metadata()?, &self.saved_nets(), &self.counters, self.bn_forwards(), self.step, self.last_checkpoint)?;
        self.last_checkpoint = Some(self.step);
        Ok(path)
    }

    /// Restore the full state from a checkpoint.safetensors of this objective.
    pub fn restore(&mut self, path: &Path) -> Result<()> {
        let (step, md) = runner::restore(&self.gpu, path, FORMAT, "autoencoder", &self.saved_nets(), &self.counters)?;
        self.heldout_score = match (md.get("heldout_recon"), md.get("heldout_kl")) {
            (Some(r), Some(k)) => r.parse().ok().zip(k.parse().ok()),
            _ => None,
        };
        self.step = step;
        self.last_checkpoint = Some(step);
        Ok(())
    }

    fn epoch(&self, step: u64) -> f64 {
        step as f64 / (self.n_train / self.cfg.batch_size) as f64
    }

    /// config.json, and metrics.jsonl kept up to the current step when resuming.
    pub fn prepare_run_dir(&mut self) -> Result<()> {
        #[derive(Serialize)]
        struct RunInfo<'a> {
            shadergan: &'static str,
            objective: &'static str,
            config: &'a AutoencoderConfig,
            adapter: String,
            dataset: &'a str,
            images: usize,
            heldout_images: usize,
            encoder: String,
            decoder: String,
            parameters: usize,
        }
        let info = RunInfo {
            shadergan: env!("CARGO_PKG_VERSION"),
            objective: OBJECTIVE,
            config: &self.cfg,
            adapter: self.gpu.describe(),
            dataset: &self.dataset_source,
            images: self.n_train,
            heldout_images: self.heldout_images(),
            encoder: self.encoder_spec.describe(),
            decoder: self.decoder_spec.describe(),
            parameters: self.encoder.trainable_count() + self.decoder.trainable_count(),
        };
        runner::prepare_run_dir(&self.cfg.out, &info, self.step)
    }

    /// Train to `cfg.steps`, scoring and drawing the held-out batch every `sample_every`
    /// steps and at the end.
    pub fn run(&mut self, on_event: impl FnMut(AutoencoderEvent)) -> Result<()> {
        runner::run(self, on_event)
    }
}

impl Objective for AutoencoderTrainer {
    type Readback = (f32, f32);
    type Score = (f32, f32);
    type Record = AutoencoderRecord;

    fn out(&self) -> &Path {
        &self.cfg.out
    }

    fn cadence(&self) -> Cadence {
        Cadence { steps: self.cfg.steps, log_every: self.cfg.log_every, eval_every: self.cfg.sample_every, checkpoint_every: self.cfg.checkpoint_every }
    }

    fn step(&self) -> u64 {
        self.step
    }

    fn last_checkpoint(&self) -> Option<u64> {
        self.last_checkpoint
    }

    fn stop_flag(&self) -> Option<&Arc<AtomicBool>> {
        self.stop.as_ref()
    }

    fn images_per_step(&self) -> f64 {
        self.cfg.batch_size as f64
    }

    fn iterate(&mut self, read: bool) -> Result<Option<(f32, f32)>> {
        AutoencoderTrainer::iterate(self, read)
    }

    fn diverged(&self, &(recon, kl): &(f32, f32)) -> Option<String> {
        (!(recon.is_finite() && kl.is_finite())).then(|| format!("the loss is {recon} (KL {kl})"))
    }

    /// The held-out score, and the grids drawn from it.
    fn evaluate(&mut self, _emit: &mut dyn FnMut(AutoencoderEvent)) -> Result<(f32, f32)> {
        let score = AutoencoderTrainer::evaluate(self)?;
        self.write_grids()?;
        Ok(score)
    }

    fn record(&self, (recon, kl): (f32, f32), held: Option<(f32, f32)>, images_per_s: f64, elapsed_s: f64) -> AutoencoderRecord {
        let vae = self.cfg.model.variational;
        AutoencoderRecord {
            step: self.step,
            epoch: self.epoch(self.step),
            recon,
            kl: vae.then_some(kl),
            heldout_recon: held.map(|h| h.0),
            heldout_kl: held.filter(|_| vae).map(|h| h.1),
            heldout_neg_elbo: held.filter(|_| vae).map(|h| h.0 + h.1),
            heldout_psnr_corrupted: held.and(self.heldout_psnr).map(|p| p.0),
            heldout_psnr_reconstructed: held.and(self.heldout_psnr).map(|p| p.1),
            images_per_s,
            elapsed_s,
        }
    }

    fn save_checkpoints(&mut self) -> Result<PathBuf> {
        AutoencoderTrainer::save_checkpoints(self)
    }
}

/// Encoder and decoder bound to one batch size and mode, with the tensors between them.
struct Nets {
    enc: Instance,
    dec: Instance,
    latent: usize,
    /// VAE: ε [B, nz] and z [B, nz] (the decoder's input, viewed); None for the plain AE.
    eps: Option<GpuTensor>,
    z: GpuTensor,
    /// ∂L/∂(encoder output): ∂L/∂(μ, log σ²) or ∂L/∂code.
    dcode: GpuTensor,
    /// ∂L/∂(decoder output), written by the loss.
    drecon: GpuTensor,
    /// --denoise, --mask-ratio: the clean target and the corruption's draws.
    corruption: Corruption,
    /// --recon bce: the target scaled to [0, 1].
    target01: Option<GpuTensor>,
}

/// How the encoder's input is made from the clean images: noise added (--denoise), then
/// patches blanked (--mask-ratio). Without either, the clean images are the encoder's input.
struct Corruption {
    /// The target when the input is corrupted; None: the encoder's input is the target.
    clean: Option<GpuTensor>,
    /// --denoise: the noise [B, C, S, S].
    noise: Option<GpuTensor>,
    /// --mask-ratio: one uniform draw per patch [B, (S/p)²].
    mask_draws: Option<GpuTensor>,
    /// Both: clean + noise, which the mask reads.
    noisy: Option<GpuTensor>,
}

impl Nets {
    #[allow(clippy::too_many_arguments)]
    fn new(gpu: &Gpu, cfg: &AutoencoderConfig, enc_spec: &NetSpec, dec_spec: &NetSpec, encoder: &ParamStore, decoder: &ParamStore, b: usize, mode: Mode, counters: &GpuTensor) -> Result<Nets> {
        let m = &cfg.model;
        let nz = m.nz;
        let tag = match mode { Mode::Train => "train", Mode::Eval => "eval" };
        let dcode = GpuTensor::zeros(gpu, &[b, m.code_width()], DType::F32, &format!("encoder[{tag}].output.grad"))?;
        // No dropout in either network; the counter slot is never read.
        let dropout = DropoutRng { seed: cfg.seed, counter_index: slot::ZERO };
        let enc = Instance::new(gpu, enc_spec, encoder, b, mode, counters, dropout, None, Some(&dcode))?;
        // The decoder's input: [B, nz, 1, 1] (DCGAN) or [B, nz] (MLP).
        let z_shape = [vec![b], dec_spec.input.clone()].concat();
        let (eps, z) = if m.variational {
            (Some(GpuTensor::zeros(gpu, &[b, nz], DType::F32, &format!("vae[{tag}].epsilon"))?), GpuTensor::zeros(gpu, &z_shape, DType::F32, &format!("vae[{tag}].z"))?)
        } else {
            (None, enc.output().reshaped(&z_shape)?)
        };
        let drecon = GpuTensor::zeros(gpu, &dec_spec.shapes(b)?.last().expect("an output").clone(), DType::F32, &format!("decoder[{tag}].output.grad"))?;
        let dec = Instance::new(gpu, dec_spec, decoder, b, mode, counters, dropout, Some(&z), Some(&drecon))?;
        let shape = enc.input().shape().to_vec();
        let image_tensor = |what: &str| GpuTensor::zeros(gpu, &shape, DType::F32, &format!("autoencoder[{tag}].{what}"));
        let (noising, masking) = (cfg.denoise > 0.0, cfg.mask_ratio > 0.0);
        let corruption = Corruption {
            clean: if cfg.corrupts() { Some(image_tensor("clean")?) } else { None },
            noise: if noising { Some(image_tensor("noise")?) } else { None },
            mask_draws: if masking { Some(GpuTensor::zeros(gpu, &[b, ops::mask::patches(m.image_size, cfg.patch)], DType::F32, &format!("autoencoder[{tag}].mask_draws"))?) } else { None },
            noisy: if noising && masking { Some(image_tensor("noisy")?) } else { None },
        };
        let target01 = if m.recon == crate::model::Recon::Bce { Some(image_tensor("target01")?) } else { None };
        Ok(Nets { enc, dec, latent: nz, eps, z, dcode, drecon, corruption, target01 })
    }

    /// Where the data batch goes: the clean images (when corrupted) or the encoder's input.
    fn images(&self) -> &GpuTensor {
        self.corruption.clean.as_ref().unwrap_or(self.enc.input())
    }

    /// The encoder's input from the clean images and the draws made before: + noise, then
    /// patches blanked (nothing without corruption: the data went to the input directly).
    fn corrupt(&self, gpu: &Gpu, cfg: &AutoencoderConfig) -> Result<Vec<Dispatch>> {
        let c = &self.corruption;
        let Some(clean) = &c.clean else { return Ok(Vec::new()) };
        let input = self.enc.input();
        let mut p = Vec::new();
        // Where the noisy images go: the mask's source when masking too, else the input.
        let noisy = c.noisy.as_ref().unwrap_or(input);
        if let Some(noise) = &c.noise {
            p.push(ops::elementwise::axpby(gpu, 1.0, clean, 1.0, noise, noisy)?);
        }
        if let Some(u) = &c.mask_draws {
            let source = if c.noise.is_some() { noisy } else { clean };
            // Viewed as images: the MLP's encoder takes them flattened.
            let m = &cfg.model;
            let images = [self.enc.batch, m.channels, m.image_size, m.image_size];
            p.push(ops::mask::patch_mask(gpu, &source.reshaped(&images)?, u, &input.reshaped(&images)?, cfg.patch, cfg.mask_ratio, 0.0)?);
        }
        Ok(p)
    }

    fn z_flat(&self) -> Result<GpuTensor> {
        self.z.reshaped(&[self.enc.batch, self.latent])
    }

    /// Encoder forward, the latent, decoder forward and the reconstruction loss (value into
    /// `stats[RECON]`, gradient into drecon) per image, averaged over the batch (the mean
    /// elementwise loss with scale = pixels per image): ½·Σ_pixels (x̂ − x)², or for
    /// --recon bce Σ_pixels BCE(ℓ, t) with t = (x + 1)/2 formed first.
    fn forward_and_loss(&self, gpu: &Gpu, stats: &GpuTensor) -> Result<Vec<Dispatch>> {
        let mut p: Vec<Dispatch> = self.enc.forward.clone();
        if let Some(eps) = &self.eps {
            p.push(ops::vae::reparameterize(gpu, self.enc.output(), eps, &self.z_flat()?)?);
            p.push(ops::vae::kl(gpu, self.enc.output(), self.latent, stats, stat::KL)?);
        }
        p.extend(self.dec.forward.iter().cloned());
        let per_image = self.dec.output().numel() / self.dec.batch;
        let (kind, target) = match &self.target01 {
            Some(t) => {
                p.push(ops::elementwise::fill(gpu, t, 0.5)?);
                p.push(ops::elementwise::axpy(gpu, 0.5, self.images(), t)?);
                (Elementwise::BceWithLogits, t)
            }
            None => (Elementwise::LeastSquares, self.images()),
        };
        p.extend(ops::loss::elementwise(gpu, kind, self.dec.output(), target, &self.drecon, stats, stat::RECON, per_image as f32)?);
        Ok(p)
    }

    /// ∂L/∂(encoder output) from ∂L/∂z (the decoder's input gradient).
    fn code_gradient(&self, gpu: &Gpu, counters: &GpuTensor, weight: KlWeight) -> Result<Vec<Dispatch>> {
        let dz = self.dec.input_grad().reshaped(&[self.enc.batch, self.latent])?;
        Ok(vec![match &self.eps {
            Some(eps) => ops::vae::backward(gpu, self.enc.output(), eps, &dz, counters, weight, &self.dcode)?,
            None => ops::elementwise::copy(gpu, &dz, &self.dcode)?,
        }])
    }
}

impl Heldout {
    #[allow(clippy::too_many_arguments)]
    fn new(gpu: &Gpu, cfg: &AutoencoderConfig, dataset: &Dataset, held_idx: &[usize], enc_spec: &NetSpec, dec_spec: &NetSpec, encoder: &ParamStore, decoder: &ParamStore, counters: &GpuTensor) -> Result<Heldout> {
        let n = HELDOUT_BATCH.min(held_idx.len());
        if n == 0 {
            return Err(Error::invalid("--holdout", format!("no image of {} is held out; raise --holdout", dataset.source)));
        }
        let held = dataset.subset(&held_idx[..n], "held out");
        let nets = Nets::new(gpu, cfg, enc_spec, dec_spec, encoder, decoder, n, Mode::Eval, counters)?;
        let clean_images = crate::data::to_unit_range(&held.pixels);
        nets.images().write_f32(gpu, &clean_images)?;
        let mut rng = Rng::for_case(cfg.seed, "autoencoder held-out");
        if let Some(noise) = &nets.corruption.noise {
            noise.write_f32(gpu, &rng.normals(clean_images.len(), cfg.denoise as f64))?;
        }
        if let Some(u) = &nets.corruption.mask_draws {
            u.write_f32(gpu, &rng.uniforms(u.numel(), 0.0, 1.0))?;
        }
        let corrupt = nets.corrupt(gpu, cfg)?;
        let stats = GpuTensor::zeros(gpu, &[stat::COUNT], DType::F32, "held-out losses")?;
        let nz = cfg.model.nz;
        let (score_eps, prior_z) = (rng.normals(n * nz, 1.0), rng.normals(n * nz, 1.0));
        let prior_z_host = prior_z.clone();
        let zero_eps = GpuTensor::zeros(gpu, &[n, nz], DType::F32, "vae[eval].epsilon zero")?;
        let mut score = corrupt.clone();
        score.extend(nets.forward_and_loss(gpu, &stats)?);
        // Reconstructions from μ: the same passes with ε = 0 (for the AE, they are the passes).
        let mut reconstruct = corrupt;
        reconstruct.extend(nets.enc.forward.iter().cloned());
        if nets.eps.is_some() {
            reconstruct.push(ops::vae::reparameterize(gpu, nets.enc.output(), &zero_eps, &nets.z_flat()?)?);
        }
        reconstruct.extend(nets.dec.forward.iter().cloned());
        if let Some(eps) = &nets.eps {
            eps.write_f32(gpu, &score_eps)?;
        }
        // The decoder on latents written into `latents` (the prior's first, for the VAE).
        let latents = GpuTensor::from_f32(gpu, nets.z.shape(), &prior_z, "autoencoder[eval].latents")?;
        let mut decode = vec![ops::elementwise::copy(gpu, &latents, &nets.z)?];
        decode.extend(nets.dec.forward.iter().cloned());
        Ok(Heldout { images: nets.enc.input().clone(), clean: nets.images().clone(), codes: nets.enc.output().clone(), decoded: nets.dec.output().clone(), score, reconstruct, decode, recon: cfg.model.recon, latents, prior_z: prior_z_host, stats, n, nz })
    }
}

/// JSON for the metadata (serialising these types cannot fail; if it did, a one-line error).
fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::invalid("config", e.to_string()))
}
