//! The GAN trainer: builds both networks, the data pipeline and one iteration's program of
//! dispatches once, then records that program into one command encoder per iteration and
//! submits it. The host waits on the GPU only to read losses (every `log_every` iterations),
//! sample grids and checkpoints.
//!
//! One iteration, in recording order (pytorch/examples `dcgan/main.py`, with `d_steps`):
//!
//! ```text
//! repeat d_steps times:                                      (1) update D
//!     real batch → D.input               (data.wgsl; GPU counter DATA += 1)
//!     D.grads = 0
//!     D.forward, L_real = BCE(D(x), 1), D.backward (parameter gradients +=)
//!     z ~ N(0, 1) → G.input              (random.wgsl; GPU counter LATENT += 1)
//!     G.forward, copy G(z) → D.input
//!     D.forward, L_fake = BCE(D(G(z)), 0), D.backward (gradients +=: real and fake summed)
//!     [--r1 γ: after the real backward, dlogits = 1, D.backward_input_only → ∂D(x)/∂x,
//!      R1 = γ/2·E‖·‖² and its adjoint (penalty.wgsl), D.double_backward: gradients +=]
//!     [--gp λ: x̂ = ε·x + (1 − ε)·G(z) (ε ~ U(0, 1) per sample; GPU counter PENALTY += 1),
//!      D.forward(x̂), then as R1 with λ·E(‖·‖ − 1)²]
//!     Adam step of D                     (GPU counter D_ADAM += 1)
//! G.grads = 0                                                (2) update G
//! copy G(z) → D.input (the penalty's x̂ may be there)
//! D.forward on the same G(z) (D updated, in training mode as PyTorch: BatchNorm statistics
//!     of this batch, running statistics updated)
//! L_G = BCE(D(G(z)), 1)  [ns]   or   −BCE(D(G(z)), 0) = log(1 − D(G(z)))  [minimax]
//! D.backward_input_only: ∂L_G/∂G(z) through D; D's gradients and weights are not touched
//! G.backward (parameter gradients), Adam step of G   (GPU counter G_ADAM += 1)
//! [--g-ema β] G's moving average ← its bias-corrected EMA update (optim.wgsl:ema_update),
//!     weights and running statistics
//! ```
//!
//! A conditional model draws the real batch's labels with it (the dataset's labels of the
//! images drawn) and random labels with each z; the label joins z as one-hot channels
//! (labels.wgsl). With `--conditional concat` it joins D's input as K constant planes, and the
//! pass back from D to G drops the label channels of D's input gradient; with `projection` D
//! reads it in its projection head from a labels tensor that holds the real batch's labels
//! during the real forward and the fake ones (drawn a second time from the same key and
//! counter) from the draw of z on. With `acgan` D never sees the label: its output is
//! [B, 1 + K], the GAN loss takes column 0 and the softmax cross-entropy of columns 1..=K
//! against the label (real: the dataset's; fake: the one G was asked for) is added to D's real
//! and fake losses and to G's loss, all into one dlogits before each backward.
//!
//! When the losses are read back (every `log_every` iterations and before every checkpoint),
//! the same submit scans the whole state — both networks' weights, running statistics and
//! Adam moments — for non-finite values (ops::finite); a checkpoint is written only from a
//! state that passed.
//!
//! Every random draw (data order, augmentation, latents, dropout, initial weights) is a
//! Philox draw keyed by the seed and a GPU counter, so the run is a function of (config, seed,
//! adapter): the same seed gives the same checkpoint, and N steps + resume + M steps equals
//! N + M steps.

pub mod autoencoder;
pub mod checkpoint;
pub mod classifier;
pub mod config;
pub mod plot;
pub mod runner;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use config::{AugmentConfig, GanLoss, Optimizer, TrainConfig};

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::fsutil::{atomic_write, ensure_writable_dir};
use crate::gpu::tensor::map_read;
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor};
use crate::nn::label::LabelInput;
use crate::nn::{DropoutRng, Instance, Layer, Mode, NetSpec, ParamStore};
use crate::ops::data::GpuDataset;
use crate::ops::loss::Elementwise;
use crate::ops::optim::AdamConfig;
use crate::ops::random::{Distribution, RngKey};
use crate::ops::{self};
use checkpoint::TensorFile;

/// Slots of the GPU counter tensor (u32).
pub mod slot {
    /// Always 0: initial weights and the fixed latents are drawn at "step 0".
    pub const ZERO: usize = 0;
    /// Adam step count of D.
    pub const D_ADAM: usize = 1;
    /// Adam step count of G.
    pub const G_ADAM: usize = 2;
    /// Real batches drawn (position in the shuffled data).
    pub const DATA: usize = 3;
    /// Latent batches drawn.
    pub const LATENT: usize = 4;
    /// Training-mode forwards of D (dropout masks).
    pub const DROPOUT: usize = 5;
    /// WGAN-GP's interpolation weights drawn (one batch per D step).
    pub const PENALTY: usize = 6;
    pub const COUNT: usize = 8;
}

/// Slots of the loss/statistics tensor written by the loss kernels. "D(x)" is σ(logit) for
/// the BCE losses and the raw output (the critic's score) for the others.
mod stat {
    pub const D_REAL: usize = 0; // L_real, then mean D(x)
    pub const D_FAKE: usize = 2; // L_fake, then mean D(G(z)) before the D update
    pub const G: usize = 4; // L_G, then mean D(G(z)) after it
    pub const PENALTY: usize = 6; // the gradient penalty of the last D step (--gp, --r1)
    pub const MISMATCH: usize = 8; // W·L(D(x, ŷ), fake), then mean D(x, ŷ) (--mismatch-weight)
    // ACGAN's class cross-entropy, then the auxiliary classifier's accuracy: on the real batch
    // and on the fake batch in D's step, and on the fake batch in G's step.
    pub const AUX_REAL: usize = 10;
    pub const AUX_FAKE: usize = 12;
    pub const AUX_G: usize = 14;
    pub const COUNT: usize = 16;
}

/// Where G's moving average (--g-ema) is saved in a run, and its keys' prefix in the checkpoint.
pub const EMA_FILE: &str = "generator_ema.safetensors";
pub const EMA_PREFIX: &str = "netG_ema.";

/// Images in the fixed-latent sample grid (8×8).
pub const GRID: usize = 64;

/// Slots of the learning-rate tensor both optimizers read (optim.wgsl).
pub mod lr_slot {
    pub const D: usize = 0;
    pub const G: usize = 1;
    pub const COUNT: usize = 2;
}

/// One line of metrics.jsonl.
#[derive(Clone, Debug, Serialize)]
pub struct Record {
    pub step: u64,
    pub epoch: f64,
    #[serde(rename = "loss_D")]
    pub loss_d: f32,
    #[serde(rename = "loss_G")]
    pub loss_g: f32,
    #[serde(rename = "D_x")]
    pub d_x: f32,
    /// D(G(z)) before the D update (PyTorch's D_G_z1).
    #[serde(rename = "D_G_z1")]
    pub d_g_z1: f32,
    /// D(G(z)) after it, in the G step (D_G_z2).
    #[serde(rename = "D_G_z2")]
    pub d_g_z2: f32,
    /// The gradient penalty (--gp, --r1) of the last D step, not included in loss_D.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub penalty: Option<f32>,
    /// D(x, ŷ): D on real images with wrong labels (--mismatch-weight), whose loss is in loss_D.
    #[serde(rename = "D_x_mismatch", skip_serializing_if = "Option::is_none")]
    pub d_x_mismatch: Option<f32>,
    /// ACGAN: the auxiliary classifier's cross-entropy on the real batch and on the fake batch
    /// of D's step (both in loss_D), and on the fake batch of G's step (in loss_G).
    #[serde(rename = "C_real", skip_serializing_if = "Option::is_none")]
    pub c_real: Option<f32>,
    #[serde(rename = "C_fake", skip_serializing_if = "Option::is_none")]
    pub c_fake: Option<f32>,
    #[serde(rename = "C_G", skip_serializing_if = "Option::is_none")]
    pub c_g: Option<f32>,
    /// ACGAN: the share of the real batch, and of G's batch in G's step, whose class D's
    /// auxiliary classifier names right.
    #[serde(rename = "acc_real", skip_serializing_if = "Option::is_none")]
    pub acc_real: Option<f32>,
    #[serde(rename = "acc_fake", skip_serializing_if = "Option::is_none")]
    pub acc_fake: Option<f32>,
    /// With --lr-schedule/--lr-warmup: the learning rates of this step's D and G updates, as
    /// the GPU computed them (D's includes lazy R1's correction).
    #[serde(rename = "lr_D", skip_serializing_if = "Option::is_none")]
    pub lr_d: Option<f32>,
    #[serde(rename = "lr_G", skip_serializing_if = "Option::is_none")]
    pub lr_g: Option<f32>,
    pub images_per_s: f64,
    pub elapsed_s: f64,
}

impl Record {
    pub fn finite(&self) -> bool {
        [self.loss_d, self.loss_g, self.d_x, self.d_g_z1, self.d_g_z2, self.penalty.unwrap_or(0.0), self.d_x_mismatch.unwrap_or(0.0), self.c_real.unwrap_or(0.0), self.c_fake.unwrap_or(0.0), self.c_g.unwrap_or(0.0)]
            .iter()
            .all(|v| v.is_finite())
    }
}

/// What a step that reads back returns: the statistics tensor (each loss and its mean
/// statistic at the slots of `stat`), and the first tensor of either network, its optimizer
/// state or running statistics that holds a non-finite value, if any.
#[derive(Clone, Debug)]
pub struct Readback {
    pub losses: [f32; stat::COUNT],
    /// The learning rates D's and G's last steps used (`lr_slot`).
    pub lrs: [f32; lr_slot::COUNT],
    pub nonfinite: Option<String>,
}

/// What the trainer reports as it goes (the CLI draws its progress bar from these).
pub type Event<'a> = runner::RunEvent<'a, Record>;

pub struct Trainer {
    pub gpu: Gpu,
    pub cfg: TrainConfig,
    pub g_spec: NetSpec,
    pub d_spec: NetSpec,
    pub g: ParamStore,
    pub d: ParamStore,
    /// The moving average of G (--g-ema): weights and running statistics, updated after each
    /// G step; the sample grids are drawn from it.
    pub g_ema: Option<ParamStore>,
    pub dataset_source: String,
    pub n_images: usize,
    counters: GpuTensor,
    stats: GpuTensor,
    /// The learning rates D's and G's optimizers read (`lr_slot`): written once here, or by
    /// the schedule at the start of every iteration (--lr-schedule); read back after `stats`.
    lrs: GpuTensor,
    stats_staging: wgpu::Buffer,
    /// The state guard: one u32 slot per region of `guard_regions`, written by a scan for the
    /// first non-finite value (ops::finite), recorded after the step whenever losses are read.
    guard: GpuTensor,
    guard_staging: wgpu::Buffer,
    guard_scans: Vec<Dispatch>,
    /// (network: 0 = G, 1 = D, 2 = G's moving average; region name; elements) per slot of `guard`.
    guard_regions: Vec<(usize, &'static str, usize)>,
    program: Vec<Dispatch>,
    /// --r1-every k: D's R1 step, recorded after `program` when step % k == 0.
    r1_step: Vec<Dispatch>,
    /// Where the generator update starts in `program`.
    g_start: usize,
    /// G in eval mode (running statistics) on the fixed latents, for sample grids.
    sampler: Instance,
    /// What runs before the sampler's forward: the fixed labels appended to the fixed latents
    /// (conditional models), and the latents' tensor ([GRID or 8·rows, latent...]).
    sampler_prep: Vec<Dispatch>,
    sampler_z: GpuTensor,
    /// Images per row and rows of the sample grid: 8×8, or 8 per class, one row per class.
    grid: (usize, usize),
    /// The first batch the data pipeline draws, for real_samples.png.
    preview: (Vec<Dispatch>, GpuTensor),
    /// Draw the next real batch into `inputs.0` and the next latents into `inputs.1` (and
    /// their labels into `input_labels`) without moving the counters (for `save_initial`).
    draw_inputs: Vec<Dispatch>,
    inputs: (GpuTensor, GpuTensor),
    input_labels: Option<(GpuTensor, GpuTensor)>,
    /// --gp: the interpolation weights ε of the next D step, drawn by `draw_inputs` too.
    gp_epsilon: Option<GpuTensor>,
    /// Completed iterations (generator updates).
    pub step: u64,
    history: Vec<plot::Point>,
    /// (step, FD) of the --eval-every scores so far, for the plot.
    eval_history: Vec<(u64, f64)>,
    /// Scores generator.safetensors (written just before) by name: set by the caller for
    /// --eval-every. Reads the file, never the trainer's state, so resume stays exact.
    evaluator: Option<Evaluator>,
    last_checkpoint: Option<u64>,
    /// Raised by a signal handler: finish this step, checkpoint, return (see `Event::Interrupted`).
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// Whether a stop flag is raised.
fn stopping(flag: Option<&std::sync::Arc<std::sync::atomic::AtomicBool>>) -> bool {
    flag.as_ref().is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst))
}

/// Rewrite `dir/metrics.jsonl` keeping the lines up to `step` (a resumed run rewrites what
/// came after its checkpoint; a fresh run, `step` 0, starts it empty) and return them parsed.
fn keep_metrics_up_to(dir: &Path, step: u64) -> Result<Vec<serde_json::Value>> {
    let path = dir.join("metrics.jsonl");
    let (mut kept, mut values) = (String::new(), Vec::new());
    if step > 0
        && let Ok(text) = std::fs::read_to_string(&path)
    {
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            if v["step"].as_u64().is_some_and(|s| s <= step) {
                kept.push_str(line);
                kept.push('\n');
                values.push(v);
            }
        }
    }
    atomic_write(&path, kept.as_bytes())?;
    Ok(values)
}

/// Scores a saved generator (its generator.safetensors) by name, e.g. [("FD", …), ("KID", …)].
pub type Evaluator = Box<dyn FnMut(&Path) -> Result<Vec<(String, f64)>>>;

/// metrics.jsonl of the run in `dir`, opened to append one line per logged step.
fn open_metrics(dir: &Path) -> Result<(PathBuf, std::fs::File)> {
    let path = dir.join("metrics.jsonl");
    let file = std::fs::OpenOptions::new().append(true).create(true).open(&path).map_err(|e| Error::io(&path, e))?;
    Ok((path, file))
}

impl Trainer {
    /// Build everything for `cfg` on `gpu` with `dataset` (already at the model's size).
    pub fn new(gpu: Gpu, cfg: TrainConfig, dataset: &Dataset) -> Result<Trainer> {
        cfg.validate()?;
        let m = &cfg.model;
        if dataset.size != m.image_size || dataset.channels != m.channels {
            return Err(Error::shape("dataset", format!("images are {}x{}x{}, the model wants {}x{}x{}", dataset.channels, dataset.size, dataset.size, m.channels, m.image_size, m.image_size)));
        }
        let b = cfg.batch_size;
        if dataset.n < 2 {
            let (flag, fix) = if cfg.max_images.is_some() { ("--max-images", "; raise --max-images") } else { ("--data", "") };
            return Err(Error::invalid(flag, format!("{} has {} image; training needs at least 2 (BatchNorm uses batch statistics){fix}", dataset.source, dataset.n)));
        }
        if b > dataset.n {
            let more = if cfg.max_images.is_some() { ", or raise --max-images" } else { "" };
            return Err(Error::invalid("--batch-size", format!("{b} is larger than the dataset ({} images from {}); use --batch-size {} or less{more}", dataset.n, dataset.source, dataset.n)));
        }
        let g_spec = m.generator()?;
        let d_spec = m.discriminator()?;
        let max_batch = g_spec.max_batch(&gpu.limits)?.min(d_spec.max_batch(&gpu.limits)?);
        if b > max_batch {
            let per_sample = g_spec.largest_activation_per_sample()?.max(d_spec.largest_activation_per_sample()?);
            let fix = if max_batch >= 2 { format!("use --batch-size {max_batch} or less") } else { "lower --ngf/--ndf or --image-size".into() };
            return Err(Error::invalid(
                "--batch-size",
                format!(
                    "{b} does not fit this adapter: the largest activation holds {per_sample} values per image, and {} binds at most {} MiB per buffer; {fix}",
                    gpu.info.name,
                    gpu.limits.max_storage_buffer_binding_size.min(gpu.limits.max_buffer_size) >> 20
                ),
            ));
        }
        let classes = m.classes();
        if classes > 0 {
            let Some(labels) = &dataset.labels else {
                return Err(Error::invalid("--conditional", format!("{} has no class labels; a conditional model trains on labelled data (synthetic, mnist with its labels file, cifar10)", dataset.source)));
            };
            if let Some(i) = labels.iter().position(|&l| l as usize >= classes) {
                return Err(Error::invalid("--conditional", format!("image {i} of {} has label {}, but the model has {classes} classes", dataset.source, labels[i])));
            }
        }
        let g = ParamStore::new(&gpu, "netG", g_spec.params())?;
        let d = ParamStore::new(&gpu, "netD", d_spec.params())?;
        let g_ema = cfg.g_ema.map(|_| ParamStore::weights_only(&gpu, "netG_ema", g_spec.params())).transpose()?;
        let stores: Vec<&ParamStore> = [Some(&g), Some(&d), g_ema.as_ref()].into_iter().flatten().collect();
        let counters = GpuTensor::zeros(&gpu, &[slot::COUNT], DType::U32, "counters")?;
        let stats = GpuTensor::zeros(&gpu, &[stat::COUNT], DType::F32, "losses")?;
        // Lazy R1 (--r1-every k, StyleGAN2): the penalty is its own D step every k iterations,
        // weighted γ·k, and D's Adam takes lr·r and β^r with r = k/(k + 1) for every step.
        let lazy_r1 = cfg.r1.zip(cfg.r1_every);
        let d_ratio = lazy_r1.map_or(1.0, |(_, k)| k as f32 / (k as f32 + 1.0));
        let base_lrs = [cfg.lr_d * d_ratio, cfg.lr_g];
        let lrs = ops::optim::learning_rates(&gpu, &base_lrs)?;
        let stats_staging = gpu.create_buffer(&wgpu::BufferDescriptor {
            label: Some("losses readback"),
            size: stats.binding_size() + lrs.binding_size(),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })?;
        let mut guard_regions = Vec::new();
        for (net, store) in stores.iter().enumerate() {
            for (which, t) in store.regions() {
                guard_regions.push((net, which, t.numel()));
            }
        }
        let guard = GpuTensor::zeros(&gpu, &[guard_regions.len()], DType::U32, "state guard")?;
        let guard_staging = gpu.create_buffer(&wgpu::BufferDescriptor {
            label: Some("state guard readback"),
            size: guard.binding_size(),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })?;
        let mut guard_scans = Vec::new();
        for store in &stores {
            for (_, t) in store.regions() {
                guard_scans.push(ops::finite::first_nonfinite(&gpu, t, &guard, guard_scans.len())?);
            }
        }
        let gpu_data = GpuDataset::upload(&gpu, &dataset.pixels, dataset.n, dataset.channels, dataset.size)?;
        let dropout = DropoutRng { seed: cfg.seed, counter_index: slot::DROPOUT };

        // D first: its input gradient is G's output gradient (through the label concatenation
        // of a conditional model, which drops the label channels).
        let d_out_shape = d_spec.shapes(b)?.pop().expect("an output");
        let dlogits = GpuTensor::zeros(&gpu, &d_out_shape, DType::F32, "dlogits")?;
        // With a penalty, D also gets its backward of the backward (nn::Instance::double_backward).
        let penalised = cfg.gp.is_some() || cfg.r1.is_some();
        // A projection discriminator reads the labels of the batch it sees from `d_labels`:
        // the real batch's, then the fake batch's (written before each forward).
        let d_labels = if m.projection() { Some(GpuTensor::zeros(&gpu, &[b], DType::U32, "labels.discriminator")?) } else { None };
        let d_net = if let Some(labels) = &d_labels {
            Instance::labelled(&gpu, &d_spec, &d, b, Mode::Train, &counters, dropout, labels, Some(&dlogits), penalised)?
        } else if penalised {
            Instance::new_second_order(&gpu, &d_spec, &d, b, &counters, dropout, None, Some(&dlogits))?
        } else {
            Instance::new(&gpu, &d_spec, &d, b, Mode::Train, &counters, dropout, None, Some(&dlogits))?
        };
        let image_shape = [b, m.channels, m.image_size, m.image_size];
        let at = |per_sample: Vec<usize>, n: usize| [vec![n], per_sample].concat();
        // D's input is G's output, or (label planes appended) a tensor G's output is copied into.
        let d_planes = m.d_label_planes() > 0;
        let g_out_grad = if d_planes { GpuTensor::zeros(&gpu, &image_shape, DType::F32, "generator.output.grad")? } else { d_net.input_grad().clone() };
        let g_net = Instance::new(&gpu, &g_spec, &g, b, Mode::Train, &counters, dropout, None, Some(&g_out_grad))?;
        // Sample grids: 8×8, or one row of 8 per class (the first 16 classes).
        let grid = if classes > 0 { (8, classes.min(16)) } else { (8, GRID / 8) };
        let sampler = Instance::new(&gpu, &g_spec, g_ema.as_ref().unwrap_or(&g), grid.0 * grid.1, Mode::Eval, &counters, dropout, None, None)?;
        // Where the real batch and the latents are drawn: straight into the networks' inputs,
        // or, for a conditional model, into tensors that the label is then appended to.
        let real_x = if d_planes { GpuTensor::zeros(&gpu, &image_shape, DType::F32, "real")? } else { d_net.input().clone() };
        let (z, sampler_z) = if classes > 0 {
            (GpuTensor::zeros(&gpu, &at(m.latent_shape(), b), DType::F32, "z")?, GpuTensor::zeros(&gpu, &at(m.latent_shape(), grid.0 * grid.1), DType::F32, "fixed z")?)
        } else {
            (g_net.input().clone(), sampler.input().clone())
        };

        // Targets of the losses (loss.wgsl): 1 and 0 for BCE and least squares, ±1 for the
        // hinge and the Wasserstein critic.
        let ones = GpuTensor::from_f32(&gpu, &[b], &vec![1.0; b], "targets.real")?;
        let zeros = GpuTensor::from_f32(&gpu, &[b], &vec![0.0; b], "targets.fake")?;
        let minus_ones = GpuTensor::from_f32(&gpu, &[b], &vec![-1.0; b], "targets.fake.signed")?;
        let sample_info = GpuTensor::zeros(&gpu, &[b, 8], DType::U32, "sample_info")?;
        let mut data = ops::data::batch(&gpu, &gpu_data, b, cfg.seed, cfg.augment.kernel(), &counters, slot::DATA, &sample_info, &real_x)?;
        let latent = RngKey { seed: cfg.seed, stream: crate::nn::params::stream_of("latent"), counter_index: slot::LATENT };
        let mut draw_z = vec![ops::random::sample(&gpu, Distribution::Normal { mean: 0.0, std: 1.0 }, latent, &counters, &z)?];
        // G's output into D's input: a copy, or the concatenation with the fake labels.
        let fake_into_d;
        // D's input gradient into G's output gradient: shared memory, or the label channels dropped.
        let mut d_grad_into_g = Vec::new();
        let mut sampler_prep = Vec::new();
        let mut input_labels = None;
        // --mismatch-weight: the real batch again, with wrong labels, into D.
        let mut mismatch_into_d = Vec::new();
        // A learned label code's gradients (--label-embedding): D's for its real, mismatched
        // and fake passes, G's; empty for one-hot or an unconditional model.
        let mut d_label_grads: [Vec<Dispatch>; 3] = Default::default();
        let mut g_label_grads = Vec::new();
        if classes > 0 {
            let g_label = LabelInput::new(&g_spec, &g, classes)?;
            let labels_gpu = dataset.labels.as_ref().expect("checked above").iter().map(|&l| l as u32).collect::<Vec<_>>();
            let labels_gpu = GpuTensor::from_u32(&gpu, &[dataset.n], &labels_gpu, "dataset labels")?;
            let real_labels = GpuTensor::zeros(&gpu, &[b], DType::U32, "labels.real")?;
            let fake_labels = GpuTensor::zeros(&gpu, &[b], DType::U32, "labels.fake")?;
            let d_view = |t: &GpuTensor| t.reshaped(&at(m.image_view(), t.shape()[0]));
            data.push(ops::labels::gather_labels(&gpu, &labels_gpu, &sample_info, &real_labels)?);
            // Fake labels: the same counter as z, their own stream.
            let key = RngKey { seed: cfg.seed, stream: crate::nn::params::stream_of("labels"), counter_index: slot::LATENT };
            draw_z.push(ops::labels::random_labels(&gpu, key, classes, &counters, &fake_labels)?);
            draw_z.extend(g_label.forward(&gpu, &z, &fake_labels, g_net.input())?);
            // Wrong labels: drawn after the data counter moved, in their own stream.
            let wrong_key = RngKey { seed: cfg.seed, stream: crate::nn::params::stream_of("mismatched labels"), counter_index: slot::DATA };
            if let Some(d_labels) = &d_labels {
                // The projection head's labels: the real batch's with the real batch, then the
                // same draw as the fake labels (same key and counter: the same values) with z.
                data.push(ops::labels::gather_labels(&gpu, &labels_gpu, &sample_info, d_labels)?);
                if cfg.mismatch_weight.is_some() {
                    // D's input still holds the real batch; only the head's labels change.
                    mismatch_into_d.push(ops::labels::mismatched_labels(&gpu, wrong_key, classes, &counters, &real_labels, d_labels)?);
                }
                draw_z.push(ops::labels::random_labels(&gpu, key, classes, &counters, d_labels)?);
                fake_into_d = vec![ops::elementwise::copy(&gpu, g_net.output(), d_net.input())?];
            } else if m.aux_classes() > 0 {
                // ACGAN: D sees the image alone; the labels only enter its class loss.
                fake_into_d = vec![ops::elementwise::copy(&gpu, g_net.output(), d_net.input())?];
            } else {
                let d_label = LabelInput::new(&d_spec, &d, classes)?;
                let x_shape = d_view(&real_x)?.shape().to_vec();
                data.extend(d_label.forward(&gpu, &d_view(&real_x)?, &real_labels, d_net.input())?);
                // A learned code's gradient, from D's input gradient (backward_full).
                d_label_grads[0] = d_label.backward_params(&gpu, d_net.input_grad(), &x_shape, &real_labels)?;
                if cfg.mismatch_weight.is_some() {
                    let wrong = GpuTensor::zeros(&gpu, &[b], DType::U32, "labels.mismatched")?;
                    mismatch_into_d.push(ops::labels::mismatched_labels(&gpu, wrong_key, classes, &counters, &real_labels, &wrong)?);
                    mismatch_into_d.extend(d_label.forward(&gpu, &d_view(&real_x)?, &wrong, d_net.input())?);
                    d_label_grads[1] = d_label.backward_params(&gpu, d_net.input_grad(), &x_shape, &wrong)?;
                }
                fake_into_d = d_label.forward(&gpu, &d_view(g_net.output())?, &fake_labels, d_net.input())?;
                d_label_grads[2] = d_label.backward_params(&gpu, d_net.input_grad(), &x_shape, &fake_labels)?;
                d_grad_into_g.push(d_label.backward_input(&gpu, d_net.input_grad(), &d_view(&g_out_grad)?)?);
            }
            g_label_grads = g_label.backward_params(&gpu, g_net.input_grad(), z.shape(), &fake_labels)?;
            // The grid's labels: row r is class r.
            let n_grid = grid.0 * grid.1;
            let row_labels: Vec<u32> = (0..n_grid).map(|i| (i / grid.0) as u32).collect();
            let grid_labels = GpuTensor::from_u32(&gpu, &[n_grid], &row_labels, "labels.grid")?;
            let sampler_label = LabelInput::new(&g_spec, g_ema.as_ref().unwrap_or(&g), classes)?;
            sampler_prep.extend(sampler_label.forward(&gpu, &sampler_z, &grid_labels, sampler.input())?);
            input_labels = Some((real_labels, fake_labels));
        } else {
            fake_into_d = vec![ops::elementwise::copy(&gpu, g_net.output(), d_net.input())?];
        }
        let tick = |s: usize| ops::elementwise::counter_add(&gpu, &counters, s, 1);
        let has_dropout = d_spec.layers.iter().any(|l| matches!(l, Layer::Dropout(_)));
        let d_forward = |p: &mut Vec<Dispatch>| -> Result<()> {
            if has_dropout {
                p.push(tick(slot::DROPOUT)?);
            }
            p.extend(d_net.forward.iter().cloned());
            Ok(())
        };
        // D's backward for its update: the parameters, and (a learned label code in D's input)
        // down to the input, whose label planes give the code's gradient.
        let d_backward = |p: &mut Vec<Dispatch>, pass: usize| {
            if d_label_grads[pass].is_empty() {
                p.extend(d_net.backward_params.iter().cloned());
            } else {
                p.extend(d_net.backward_full.iter().cloned());
                p.extend(d_label_grads[pass].iter().cloned());
            }
        };
        let logits = d_net.output();
        // ACGAN's D outputs [B, 1 + K]: the GAN loss takes column 0, the class cross-entropy
        // columns 1..=K; together they write all of dlogits.
        let aux = m.aux_classes();
        let loss = |kind: Elementwise, targets: &GpuTensor, at: usize, scale: f32| {
            if aux > 0 {
                ops::loss::elementwise_column(&gpu, kind, logits, 0, targets, &dlogits, &stats, at, scale)
            } else {
                ops::loss::elementwise(&gpu, kind, logits, targets, &dlogits, &stats, at, scale)
            }
        };
        // The auxiliary classifier's loss against `labels` (ACGAN; nothing otherwise).
        let class_loss = |labels: Option<&GpuTensor>, at: usize| -> Result<Vec<Dispatch>> {
            match labels {
                Some(labels) if aux > 0 => ops::loss::softmax_cross_entropy_columns(&gpu, logits, 1, aux, labels, &dlogits, &stats, at, 1.0),
                _ => Ok(Vec::new()),
            }
        };
        let (real_labels, fake_labels) = (input_labels.as_ref().map(|l| &l.0), input_labels.as_ref().map(|l| &l.1));
        // (D on real, D on fake, G): the loss kind, its targets and its scale.
        let (d_real, d_fake, g_loss) = match cfg.loss {
            GanLoss::Ns => ((Elementwise::BceWithLogits, &ones, 1.0), (Elementwise::BceWithLogits, &zeros, 1.0), (Elementwise::BceWithLogits, &ones, 1.0)),
            // log(1 − D(G(z))) = −BCE(D(G(z)), 0)
            GanLoss::Minimax => ((Elementwise::BceWithLogits, &ones, 1.0), (Elementwise::BceWithLogits, &zeros, 1.0), (Elementwise::BceWithLogits, &zeros, -1.0)),
            // D: E[max(0, 1 − D(x))] + E[max(0, 1 + D(G(z)))]; G: −E[D(G(z))]
            GanLoss::Hinge => ((Elementwise::Hinge, &ones, 1.0), (Elementwise::Hinge, &minus_ones, 1.0), (Elementwise::Linear, &ones, 1.0)),
            // D: ½E[(D(x) − 1)²] + ½E[D(G(z))²]; G: ½E[(D(G(z)) − 1)²]
            GanLoss::Lsgan => ((Elementwise::LeastSquares, &ones, 1.0), (Elementwise::LeastSquares, &zeros, 1.0), (Elementwise::LeastSquares, &ones, 1.0)),
            // critic: E[D(G(z))] − E[D(x)]; G: −E[D(G(z))]
            GanLoss::Wgan => ((Elementwise::Linear, &ones, 1.0), (Elementwise::Linear, &minus_ones, 1.0), (Elementwise::Linear, &ones, 1.0)),
        };
        let step = |store: &ParamStore, slot: usize| -> Result<Dispatch> {
            let (ratio, lr) = if slot == slot::D_ADAM { (d_ratio, lr_slot::D) } else { (1.0, lr_slot::G) };
            let lr = ops::optim::Lr { tensor: &lrs, index: lr };
            match cfg.optimizer {
                Optimizer::Adam => {
                    // PyTorch's eps 1e-8; no weight decay.
                    let a = AdamConfig { beta1: cfg.beta1.powf(ratio), beta2: cfg.beta2.powf(ratio), eps: 1e-8, weight_decay: 0.0, decoupled: false };
                    ops::optim::adam_step(&gpu, &a, lr, &store.grads, &counters, slot, &store.params, &store.adam_m, &store.adam_v)
                }
                // PyTorch's defaults (alpha 0.99, eps 1e-8); the squared-gradient average lives
                // where Adam keeps its second moment.
                Optimizer::Rmsprop => ops::optim::rmsprop_step(&gpu, lr, 0.99, 1e-8, 0.0, &store.grads, &store.params, &store.adam_v),
            }
        };

        // The penalty of D's input gradient for the forward just recorded: ∂(Σ_b D(x_b))/∂x
        // (dlogits = 1), the penalty and its adjoint, and its gradient into D's (+=).
        let (pen_sq, pen_coef) = ops::penalty::scratch(&gpu, b)?;
        let penalty_passes = |p: &mut Vec<Dispatch>, which: ops::penalty::Penalty| -> Result<()> {
            p.push(ops::elementwise::fill(&gpu, &dlogits, 1.0)?);
            p.extend(d_net.backward_input_only.iter().cloned());
            p.extend(ops::penalty::penalty(&gpu, which, d_net.input_grad(), &pen_sq, &pen_coef, &d_net.adjs[0], &stats, stat::PENALTY)?);
            p.extend(d_net.double_backward.iter().cloned());
            Ok(())
        };
        // Lazy R1 reuses the last D step's real batch.
        let r1_real = match lazy_r1 {
            Some(_) => Some(GpuTensor::zeros(&gpu, &image_shape, DType::F32, "real.kept for R1")?),
            None => None,
        };
        // WGAN-GP: the real batch kept for the interpolates, ε per sample and its draw.
        let gp_inputs = match cfg.gp {
            Some(_) => {
                let eps = GpuTensor::zeros(&gpu, &[b], DType::F32, "gp.epsilon")?;
                let key = RngKey { seed: cfg.seed, stream: crate::nn::params::stream_of("gp epsilon"), counter_index: slot::PENALTY };
                let draw = ops::random::sample(&gpu, Distribution::Uniform { low: 0.0, high: 1.0 }, key, &counters, &eps)?;
                Some((GpuTensor::zeros(&gpu, &image_shape, DType::F32, "real.kept")?, eps, draw))
            }
            None => None,
        };

        let mut p: Vec<Dispatch> = Vec::new();
        if let Some(schedule) = &cfg.lr_schedule {
            // This iteration's learning rates from the iterations completed (G's step count).
            for (slot, base) in [lr_slot::D, lr_slot::G].into_iter().zip(base_lrs) {
                p.push(ops::optim::lr_schedule(&gpu, schedule, base, &counters, slot::G_ADAM, ops::optim::Lr { tensor: &lrs, index: slot })?);
            }
        }
        for _ in 0..cfg.d_steps {
            p.extend(data.iter().cloned());
            p.push(tick(slot::DATA)?);
            for kept in gp_inputs.iter().map(|g| &g.0).chain(&r1_real) {
                p.push(ops::elementwise::copy(&gpu, &real_x, kept)?);
            }
            p.push(ops::elementwise::fill(&gpu, &d.grads, 0.0)?);
            d_forward(&mut p)?;
            p.extend(loss(d_real.0, d_real.1, stat::D_REAL, d_real.2)?);
            p.extend(class_loss(real_labels, stat::AUX_REAL)?);
            d_backward(&mut p, 0);
            if let Some(w) = cfg.mismatch_weight {
                // GAN-CLS: the real images with wrong labels are fake, W of the fake side.
                p.extend(mismatch_into_d.iter().cloned());
                d_forward(&mut p)?;
                p.extend(loss(d_fake.0, d_fake.1, stat::MISMATCH, d_fake.2 * w)?);
                d_backward(&mut p, 1);
            }
            if let (Some(gamma), None) = (cfg.r1, lazy_r1) {
                // R1 on the real batch just forwarded.
                penalty_passes(&mut p, ops::penalty::Penalty::R1 { gamma })?;
            }
            p.extend(draw_z.iter().cloned());
            p.push(tick(slot::LATENT)?);
            p.extend(g_net.forward.iter().cloned());
            p.extend(fake_into_d.iter().cloned());
            d_forward(&mut p)?;
            p.extend(loss(d_fake.0, d_fake.1, stat::D_FAKE, d_fake.2 * (1.0 - cfg.mismatch_weight.unwrap_or(0.0)))?);
            p.extend(class_loss(fake_labels, stat::AUX_FAKE)?);
            d_backward(&mut p, 2);
            if let (Some((kept, eps, draw_eps)), Some(lambda)) = (&gp_inputs, cfg.gp) {
                // x̂ = ε·x + (1 − ε)·G(z) into D's input, then the penalty of D at x̂.
                p.push(tick(slot::PENALTY)?);
                p.push(draw_eps.clone());
                p.push(ops::penalty::interpolate(&gpu, kept, g_net.output(), eps, d_net.input())?);
                d_forward(&mut p)?;
                penalty_passes(&mut p, ops::penalty::Penalty::Gp { lambda })?;
            }
            p.push(tick(slot::D_ADAM)?);
            p.push(step(&d, slot::D_ADAM)?);
            if let Some(c) = cfg.clip {
                // WGAN's weight clipping: every trainable tensor of the critic into [−c, c].
                p.push(ops::elementwise::clamp(&gpu, &d.params, -c, c)?);
            }
        }
        // The lazy R1 step, recorded after the iteration every k iterations.
        let mut r1_step = Vec::new();
        if let (Some((gamma, k)), Some(kept)) = (lazy_r1, &r1_real) {
            r1_step.push(ops::elementwise::fill(&gpu, &d.grads, 0.0)?);
            r1_step.push(ops::elementwise::copy(&gpu, kept, d_net.input())?);
            d_forward(&mut r1_step)?;
            penalty_passes(&mut r1_step, ops::penalty::Penalty::R1 { gamma: gamma * k as f32 })?;
            r1_step.push(tick(slot::D_ADAM)?);
            r1_step.push(step(&d, slot::D_ADAM)?);
        }
        let g_start = p.len();
        p.push(ops::elementwise::fill(&gpu, &g.grads, 0.0)?);
        // G(z) into D's input again: D's step may have left something else there (WGAN-GP's
        // interpolates x̂ did, and G was trained on D's gradient at x̂ until this copy).
        p.extend(fake_into_d.iter().cloned());
        d_forward(&mut p)?;
        p.extend(loss(g_loss.0, g_loss.1, stat::G, g_loss.2)?);
        p.extend(class_loss(fake_labels, stat::AUX_G)?);
        p.extend(d_net.backward_input_only.iter().cloned());
        p.extend(d_grad_into_g);
        if g_label_grads.is_empty() {
            p.extend(g_net.backward_params.iter().cloned());
        } else {
            // A learned label code in G's input: down to the input, then the code's gradient.
            p.extend(g_net.backward_full.iter().cloned());
            p.extend(g_label_grads);
        }
        p.push(tick(slot::G_ADAM)?);
        p.push(step(&g, slot::G_ADAM)?);
        if let (Some(ema), Some(beta)) = (&g_ema, cfg.g_ema) {
            // After the step, with t = G's step count: weights, then running statistics.
            p.push(ops::optim::ema_update(&gpu, beta, cfg.g_ema_rampup, &g.params, &counters, slot::G_ADAM, &ema.params)?);
            if let (Some(live), Some(avg)) = (&g.buffers, &ema.buffers) {
                p.push(ops::optim::ema_update(&gpu, beta, cfg.g_ema_rampup, live, &counters, slot::G_ADAM, avg)?);
            }
        }

        // The preview grid: batch 0 of epoch 0 (augmented as training sees it), drawn through
        // the ZERO slot so it moves no counter.
        let pb = GRID.min(dataset.n);
        let preview_out = GpuTensor::zeros(&gpu, &[pb, m.channels, m.image_size, m.image_size], DType::F32, "preview")?;
        let preview_info = GpuTensor::zeros(&gpu, &[pb, 8], DType::U32, "preview.sample_info")?;
        let preview = ops::data::batch(&gpu, &gpu_data, pb, cfg.seed, cfg.augment.kernel(), &counters, slot::ZERO, &preview_info, &preview_out)?;

        let mut draw_inputs = data.clone();
        draw_inputs.extend(draw_z.iter().cloned());
        draw_inputs.extend(gp_inputs.iter().map(|g| g.2.clone()));
        let gp_epsilon = gp_inputs.map(|g| g.1);
        let inputs = (real_x, z);

        Ok(Trainer {
            draw_inputs,
            inputs,
            input_labels,
            gp_epsilon,
            dataset_source: dataset.source.clone(),
            n_images: dataset.n,
            gpu,
            cfg,
            g_spec,
            d_spec,
            g,
            d,
            g_ema,
            counters,
            stats,
            lrs,
            stats_staging,
            guard,
            guard_staging,
            guard_scans,
            guard_regions,
            program: p,
            r1_step,
            g_start,
            sampler,
            sampler_prep,
            sampler_z,
            grid,
            preview: (preview, preview_out),
            step: 0,
            history: Vec::new(),
            eval_history: Vec::new(),
            evaluator: None,
            last_checkpoint: None,
            stop: None,
        })
    }

    /// Number of dispatches one iteration records.
    pub fn dispatches_per_step(&self) -> usize {
        self.program.len()
    }

    /// The prepared dispatches of one iteration, in recording order (for profiling).
    pub fn program(&self) -> &[Dispatch] {
        &self.program
    }

    /// The generator update alone: the tail of `program` (for tests and profiles).
    pub fn generator_step(&self) -> &[Dispatch] {
        &self.program[self.g_start..]
    }

    /// Fresh weights from the seed (N(0, 0.02) convolutions, N(1, 0.02) BatchNorm γ, …), zero
    /// optimizer state and counters, and the fixed latents.
    pub fn initialize(&mut self) -> Result<()> {
        self.counters.write_u32(&self.gpu, &[0; slot::COUNT])?;
        let mut d = self.g.init_dispatches(&self.gpu, self.cfg.seed, &self.counters, slot::ZERO)?;
        d.extend(self.d.init_dispatches(&self.gpu, self.cfg.seed, &self.counters, slot::ZERO)?);
        d.extend(self.ema_from_generator()?);
        d.push(self.fixed_latents()?);
        self.gpu.run("initialize", &d.iter().collect::<Vec<_>>())?;
        self.step = 0;
        Ok(())
    }

    /// Replace the initial weights of the generator ("generator") or discriminator with a state
    /// dict (`main.*` keys, e.g. `netG.state_dict()` saved from PyTorch with safetensors, or a
    /// shadergan generator.safetensors). Call after `initialize`.
    pub fn load_weights(&self, net: &str, path: &Path) -> Result<()> {
        let file = TensorFile::load(path)?;
        let (spec, store) = match net {
            "generator" => (&self.g_spec, &self.g),
            _ => (&self.d_spec, &self.d),
        };
        let prefix = if file.tensors.keys().any(|k| k.starts_with("netG.") || k.starts_with("netD.")) {
            if net == "generator" { "netG." } else { "netD." }
        } else {
            ""
        };
        if let Some(other) = checkpoint::which_net(&file, prefix).filter(|w| *w != net) {
            return Err(Error::bad_file(
                path,
                format!("is a {other} state dict, but --load-{net} needs a {net} (a run's {net}.safetensors, or its checkpoint.safetensors)"),
            ));
        }
        let fix = " (the flags --model, --nz, --ngf, --ndf, --channels and --image-size must match the saved model)";
        checkpoint::load_into(&self.gpu, path, &file, prefix, spec, store, None, fix)?;
        if net == "generator" {
            // The moving average starts from the generator it averages.
            self.gpu.run("moving average", &self.ema_from_generator()?.iter().collect::<Vec<_>>())?;
        }
        Ok(())
    }

    /// Copies of G's weights and running statistics into its moving average (none without
    /// --g-ema): the average of zero steps is the network itself.
    fn ema_from_generator(&self) -> Result<Vec<Dispatch>> {
        let Some(ema) = &self.g_ema else { return Ok(Vec::new()) };
        let mut d = vec![ops::elementwise::copy(&self.gpu, &self.g.params, &ema.params)?];
        if let (Some(live), Some(avg)) = (&self.g.buffers, &ema.buffers) {
            d.push(ops::elementwise::copy(&self.gpu, live, avg)?);
        }
        Ok(d)
    }

    fn fixed_latents(&self) -> Result<Dispatch> {
        let key = RngKey { seed: self.cfg.seed, stream: crate::nn::params::stream_of("fixed latents"), counter_index: slot::ZERO };
        ops::random::sample(&self.gpu, Distribution::Normal { mean: 0.0, std: 1.0 }, key, &self.counters, &self.sampler_z)
    }

    /// Write `path` with the current weights of both networks (`netG.*`, `netD.*`, PyTorch
    /// keys), the next real batch (`real`, [B, C, S, S]), the next latents (`z`, [B, nz]) and
    /// with --gp the next interpolation weights (`gp_epsilon`, [B]): everything another
    /// implementation needs to reproduce the next iteration of one D step. The counters are
    /// left as they were, so the run goes on exactly as without it.
    pub fn save_initial(&self, path: &Path) -> Result<()> {
        // The D step ticks PENALTY before drawing ε (the data and z are drawn before theirs).
        draw_ahead(&self.gpu, &self.counters, slot::PENALTY, &self.draw_inputs)?;
        let (g_fwd, d_fwd) = self.bn_forwards();
        let mut f = TensorFile::default();
        for (net, spec, store, fwd) in [("netG", &self.g_spec, &self.g, g_fwd), ("netD", &self.d_spec, &self.d, d_fwd)] {
            for (k, t) in checkpoint::state_dict(&self.gpu, spec, store, fwd)? {
                f.tensors.insert(format!("{net}.{k}"), t);
            }
        }
        let (real, z) = &self.inputs;
        let host = |t: &GpuTensor, shape: Vec<usize>| -> Result<checkpoint::HostTensor> {
            Ok(checkpoint::HostTensor { shape, values: checkpoint::Values::F32(t.read_f32(&self.gpu)?) })
        };
        f.tensors.insert("real".into(), host(real, real.shape().to_vec())?);
        f.tensors.insert("z".into(), host(z, vec![self.cfg.batch_size, self.cfg.model.nz])?);
        if let Some(eps) = &self.gp_epsilon {
            f.tensors.insert("gp_epsilon".into(), host(eps, vec![self.cfg.batch_size])?);
        }
        if let Some((real, fake)) = &self.input_labels {
            for (name, t) in [("labels_real", real), ("labels_fake", fake)] {
                f.tensors.insert(name.into(), checkpoint::HostTensor { shape: vec![self.cfg.batch_size], values: checkpoint::Values::U32(t.read_u32(&self.gpu)?) });
            }
        }
        f.metadata = self.metadata()?;
        f.save(path)
    }

    /// Restore the full state from `checkpoint.safetensors` of a run.
    pub fn restore(&mut self, path: &Path) -> Result<()> {
        let file = TensorFile::load(path)?;
        if file.metadata.get("format").map(String::as_str) != Some(checkpoint::FORMAT) {
            return Err(Error::bad_file(path, format!("not a shadergan training checkpoint (metadata format ≠ {})", checkpoint::FORMAT)));
        }
        let step: u64 = file.metadata.get("step").and_then(|s| s.parse().ok()).ok_or_else(|| Error::bad_file(path, "has no step in its metadata"))?;
        let fix = " (the run's config.json describes another model: was this checkpoint copied from another run?)";
        checkpoint::load_into(&self.gpu, path, &file, "netG.", &self.g_spec, &self.g, Some("optG"), fix)?;
        checkpoint::load_into(&self.gpu, path, &file, "netD.", &self.d_spec, &self.d, Some("optD"), fix)?;
        if let Some(ema) = &self.g_ema {
            if !file.tensors.keys().any(|k| k.starts_with(EMA_PREFIX)) {
                return Err(Error::bad_file(path, format!("has no {EMA_PREFIX}* tensors, but the run's config.json asks for --g-ema (was this checkpoint copied from another run?)")));
            }
            checkpoint::load_into(&self.gpu, path, &file, EMA_PREFIX, &self.g_spec, ema, None, fix)?;
        }
        let counters = match file.tensors.get("counters").map(|t| &t.values) {
            Some(checkpoint::Values::U32(c)) if c.len() == slot::COUNT => c.clone(),
            _ => return Err(Error::bad_file(path, format!("has no u32 'counters' tensor of {} values", slot::COUNT))),
        };
        self.counters.write_u32(&self.gpu, &counters)?;
        self.gpu.run("fixed latents", &[&self.fixed_latents()?])?;
        self.step = step;
        self.last_checkpoint = Some(step);
        Ok(())
    }

    /// BatchNorm training forwards so far: G runs once per D step, D three times per iteration
    /// with one D step (real, fake, and in the G step; four with --mismatch-weight, the real
    /// images with wrong labels) — PyTorch's num_batches_tracked.
    pub fn bn_forwards(&self) -> (u64, u64) {
        let k = self.cfg.d_steps as u64;
        let per_d_step = if self.cfg.mismatch_weight.is_some() { 3 } else { 2 };
        (self.step * k, self.step * (per_d_step * k + 1))
    }

    /// Record and submit one iteration; with `read_losses`, also scan the whole state for
    /// non-finite values, copy the losses and the scan out and wait.
    pub fn iterate(&mut self, read_losses: bool) -> Result<Option<Readback>> {
        let mut enc = self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("train step") });
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("train step"), timestamp_writes: None });
            for d in &self.program {
                d.record(&mut pass);
            }
            if self.cfg.r1_every.is_some_and(|k| self.step % k == 0) {
                for d in &self.r1_step {
                    d.record(&mut pass);
                }
            }
        }
        if read_losses {
            enc.clear_buffer(self.guard.buffer(), 0, None);
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("state guard"), timestamp_writes: None });
                for d in &self.guard_scans {
                    d.record(&mut pass);
                }
            }
            enc.copy_buffer_to_buffer(self.stats.buffer(), 0, &self.stats_staging, 0, self.stats.binding_size());
            enc.copy_buffer_to_buffer(self.lrs.buffer(), 0, &self.stats_staging, self.stats.binding_size(), self.lrs.binding_size());
            enc.copy_buffer_to_buffer(self.guard.buffer(), 0, &self.guard_staging, 0, self.guard.binding_size());
        }
        self.gpu.queue.submit([enc.finish()]);
        self.step += 1;
        if !read_losses {
            return Ok(None);
        }
        let bytes = map_read(&self.gpu, &self.stats_staging, "losses")?;
        let mut losses = [0.0f32; stat::COUNT];
        losses.copy_from_slice(&bytemuck::pod_collect_to_vec::<u8, f32>(&bytes[..4 * stat::COUNT]));
        // The learning rates of the step just taken.
        let at = self.stats.binding_size() as usize;
        let lrs: Vec<f32> = bytemuck::pod_collect_to_vec(&bytes[at..at + 4 * lr_slot::COUNT]);
        let slots: Vec<u32> = bytemuck::pod_collect_to_vec(&map_read(&self.gpu, &self.guard_staging, "state guard")?[..4 * self.guard_regions.len()]);
        let nonfinite = self.guard_regions.iter().zip(&slots).find_map(|(&(net, which, n), &slot)| {
            let store = match net {
                0 => &self.g,
                1 => &self.d,
                _ => self.g_ema.as_ref().expect("a guard region of the moving average exists only with it"),
            };
            ops::finite::decode(slot, n).map(|i| store.locate(which, i))
        });
        Ok(Some(Readback { losses, lrs: [lrs[lr_slot::D], lrs[lr_slot::G]], nonfinite }))
    }

    /// Write the grid of G(fixed latents) (running statistics) to `path`: 8×8, or for a
    /// conditional model one row of 8 per class.
    pub fn sample_grid(&self, path: &Path) -> Result<()> {
        let d: Vec<&Dispatch> = self.sampler_prep.iter().chain(&self.sampler.forward).collect();
        self.gpu.run("sample", &d)?;
        let out = self.sampler.output().read_f32(&self.gpu)?;
        let m = &self.cfg.model;
        crate::images::save_grid(path, &out, self.grid.0 * self.grid.1, m.channels, m.image_size, self.grid.0, 2)
    }

    /// Write a grid of real training images (as augmented) to `path`.
    pub fn real_grid(&self, path: &Path) -> Result<()> {
        self.gpu.run("preview", &self.preview.0.iter().collect::<Vec<_>>())?;
        let out = self.preview.1.read_f32(&self.gpu)?;
        let m = &self.cfg.model;
        crate::images::save_grid(path, &out, self.preview.1.shape()[0], m.channels, m.image_size, 8, 2)
    }

    fn metadata(&self) -> Result<HashMap<String, String>> {
        let mut md = HashMap::new();
        md.insert("format".into(), checkpoint::FORMAT.into());
        md.insert("step".into(), self.step.to_string());
        md.insert("config".into(), serde_json::to_string(&self.cfg).map_err(|e| Error::invalid("config", e.to_string()))?);
        md.insert("model".into(), serde_json::to_string(&self.cfg.model).map_err(|e| Error::invalid("config", e.to_string()))?);
        md.insert("adapter".into(), self.gpu.describe());
        Ok(md)
    }

    /// Write checkpoint.safetensors, generator.safetensors and discriminator.safetensors into
    /// the run directory, each atomically.
    pub fn save_checkpoints(&mut self) -> Result<PathBuf> {
        let dir = &self.cfg.out;
        let counters = self.counters.read_u32(&self.gpu)?;
        let md = self.metadata()?;
        let (g_fwd, d_fwd) = self.bn_forwards();
        let mut full = checkpoint::full_state(&self.gpu, &self.g_spec, &self.g, &self.d_spec, &self.d, &counters, (g_fwd, d_fwd), md.clone())?;
        let ema_dict = self.g_ema.as_ref().map(|ema| checkpoint::state_dict(&self.gpu, &self.g_spec, ema, g_fwd)).transpose()?;
        for (k, t) in ema_dict.iter().flatten() {
            full.tensors.insert(format!("{EMA_PREFIX}{k}"), t.clone());
        }
        let path = dir.join("checkpoint.safetensors");
        full.save(&path)?;
        let mut model_md = HashMap::new();
        for k in ["format", "step", "model", "adapter"] {
            model_md.insert(k.to_string(), md[k].clone());
        }
        model_md.insert("format".into(), "shadergan-state-dict-1 (PyTorch nn.Sequential keys)".into());
        for (name, spec, store, fwd) in [("generator", &self.g_spec, &self.g, g_fwd), ("discriminator", &self.d_spec, &self.d, d_fwd)] {
            let mut md = model_md.clone();
            md.insert("net".into(), name.into());
            let f = TensorFile { tensors: checkpoint::state_dict(&self.gpu, spec, store, fwd)?, metadata: md };
            f.save(&dir.join(format!("{name}.safetensors")))?;
        }
        if let Some(tensors) = ema_dict {
            // G's moving average as its own PyTorch-keyed state dict; `sample` and `eval` take it.
            let mut md = model_md.clone();
            md.insert("net".into(), "generator".into());
            let ramp = self.cfg.g_ema_rampup.map(|r| format!(", ramp-up {r}")).unwrap_or_default();
            md.insert("average".into(), format!("exponential moving average of the generator's weights and running statistics, decay {}{ramp}", self.cfg.g_ema.unwrap_or_default()));
            TensorFile { tensors, metadata: md }.save(&dir.join(EMA_FILE))?;
        }
        self.last_checkpoint = Some(self.step);
        Ok(path)
    }

    fn epoch(&self, step: u64) -> f64 {
        let per_epoch = (self.n_images / self.cfg.batch_size) as f64;
        (step * self.cfg.d_steps as u64) as f64 / per_epoch
    }

    /// Prepare the run directory: config.json, real_samples.png, and metrics.jsonl (kept up to
    /// the current step when resuming).
    pub fn prepare_run_dir(&mut self) -> Result<()> {
        let dir = self.cfg.out.clone();
        ensure_writable_dir(&dir)?;
        std::fs::create_dir_all(dir.join("samples")).map_err(|e| Error::io(dir.join("samples"), e))?;
        // Temporary files of a write that a kill interrupted: never complete, never read.
        crate::fsutil::remove_stale_temp_files(&dir);
        crate::fsutil::remove_stale_temp_files(&dir.join("samples"));
        #[derive(Serialize)]
        struct RunInfo<'a> {
            shadergan: &'static str,
            config: &'a TrainConfig,
            adapter: String,
            dataset: &'a str,
            images: usize,
            generator: String,
            discriminator: String,
            generator_parameters: usize,
            discriminator_parameters: usize,
        }
        let info = RunInfo {
            shadergan: env!("CARGO_PKG_VERSION"),
            config: &self.cfg,
            adapter: self.gpu.describe(),
            dataset: &self.dataset_source,
            images: self.n_images,
            generator: self.g_spec.describe(),
            discriminator: self.d_spec.describe(),
            generator_parameters: self.g.trainable_count(),
            discriminator_parameters: self.d.trainable_count(),
        };
        let json = serde_json::to_vec_pretty(&info).map_err(|e| Error::invalid("config", e.to_string()))?;
        atomic_write(&dir.join("config.json"), &json)?;
        self.real_grid(&dir.join("real_samples.png"))?;
        // The plot history from the metrics kept up to this step: loss lines and score lines.
        let kept = keep_metrics_up_to(&dir, self.step)?;
        self.eval_history = kept.iter().filter_map(|v| Some((v["step"].as_u64()?, v["FD"].as_f64()?))).collect();
        self.history = kept.iter().filter_map(plot::Point::of_metrics).collect();
        Ok(())
    }

    /// Score the generator every `cfg.eval_every` steps with `evaluator` (--eval-every).
    pub fn set_evaluator(&mut self, evaluator: Evaluator) {
        self.evaluator = Some(evaluator);
    }

    /// Train to `cfg.steps`, reporting through `on_event` (runner::run). Stops with an error
    /// (keeping the last good checkpoint) if a loss or any weight becomes NaN or infinite.
    pub fn run(&mut self, on_event: impl FnMut(Event)) -> Result<()> {
        runner::run(self, on_event)
    }
}

impl runner::Objective for Trainer {
    type Readback = Readback;
    type Score = ();
    type Record = Record;

    fn out(&self) -> &Path {
        &self.cfg.out
    }

    /// Grids every `sample_every` steps (the GAN's evaluation); checkpoints also where
    /// --eval-every scores.
    fn cadence(&self) -> runner::Cadence {
        runner::Cadence { steps: self.cfg.steps, log_every: self.cfg.log_every, eval_every: self.cfg.sample_every, checkpoint_every: self.cfg.checkpoint_every }
    }

    fn step(&self) -> u64 {
        self.step
    }

    fn last_checkpoint(&self) -> Option<u64> {
        self.last_checkpoint
    }

    fn stop_flag(&self) -> Option<&std::sync::Arc<std::sync::atomic::AtomicBool>> {
        self.stop.as_ref()
    }

    fn images_per_step(&self) -> f64 {
        (self.cfg.batch_size * self.cfg.d_steps) as f64
    }

    fn iterate(&mut self, read: bool) -> Result<Option<Readback>> {
        Trainer::iterate(self, read)
    }

    /// BatchNorm and ReLU can swallow a NaN: the losses may be finite while the state is not,
    /// so the state guard's finding comes first.
    fn diverged(&self, r: &Readback) -> Option<String> {
        if let Some(tensor) = &r.nonfinite {
            return Some(format!("{tensor} is not finite (NaN or infinite)"));
        }
        let rec = self.record(r.clone(), None, 0.0, 0.0);
        (!rec.finite()).then(|| format!("loss_D = {}, loss_G = {}", rec.loss_d, rec.loss_g))
    }

    /// The grid of G on the fixed latents: samples/step_N.png and fake_samples.png.
    fn evaluate(&mut self, emit: &mut dyn FnMut(Event)) -> Result<()> {
        let dir = &self.cfg.out;
        let path = dir.join("samples").join(format!("step_{:06}.png", self.step));
        self.sample_grid(&path)?;
        std::fs::copy(&path, dir.join("fake_samples.png")).map_err(|e| Error::io(dir.join("fake_samples.png"), e))?;
        emit(Event::Sampled(&path));
        Ok(())
    }

    fn record(&self, r: Readback, _score: Option<()>, images_per_s: f64, elapsed_s: f64) -> Record {
        let l = r.losses;
        let acgan = self.cfg.model.aux_classes() > 0;
        // Each loss kernel wrote its scaled term: with --mismatch-weight W, L_fake holds
        // (1 − W)·L and MISMATCH W·L_mismatch; slots of terms the run does not have are never
        // written and stay 0.
        let aux = |at: usize| acgan.then_some(l[at]);
        Record {
            step: self.step,
            epoch: self.epoch(self.step),
            loss_d: l[stat::D_REAL] + l[stat::D_FAKE] + l[stat::MISMATCH] + l[stat::AUX_REAL] + l[stat::AUX_FAKE],
            loss_g: l[stat::G] + l[stat::AUX_G],
            d_x: l[stat::D_REAL + 1],
            d_g_z1: l[stat::D_FAKE + 1],
            d_g_z2: l[stat::G + 1],
            penalty: (self.cfg.gp.is_some() || self.cfg.r1.is_some()).then_some(l[stat::PENALTY]),
            d_x_mismatch: self.cfg.mismatch_weight.map(|_| l[stat::MISMATCH + 1]),
            c_real: aux(stat::AUX_REAL),
            c_fake: aux(stat::AUX_FAKE),
            c_g: aux(stat::AUX_G),
            acc_real: aux(stat::AUX_REAL + 1),
            acc_fake: aux(stat::AUX_G + 1),
            lr_d: self.cfg.lr_schedule.map(|_| r.lrs[lr_slot::D]),
            lr_g: self.cfg.lr_schedule.map(|_| r.lrs[lr_slot::G]),
            images_per_s,
            elapsed_s,
        }
    }

    fn save_checkpoints(&mut self) -> Result<PathBuf> {
        Trainer::save_checkpoints(self)
    }

    fn lr_flag(&self) -> &'static str {
        "--lr-d/--lr-g"
    }

    fn logs_when_evaluating(&self) -> bool {
        false
    }

    /// A score reads the generator file, so it is written first.
    fn checkpoint_due(&self, next: u64, last: bool) -> bool {
        self.evaluator.is_some() && self.cfg.eval_every.is_some_and(|e| next % e == 0 || last)
    }

    fn logged(&mut self, rec: &Record) {
        self.history.push(plot::Point { step: rec.step, loss_d: rec.loss_d, loss_g: rec.loss_g, d_x: rec.d_x, d_g_z: rec.d_g_z1, penalty: rec.penalty, c_real: rec.c_real, c_g: rec.c_g });
    }

    /// --eval-every: score the generator file just written (into metrics.jsonl and the plot);
    /// then redraw the loss plot.
    fn checkpointed(&mut self, last: bool, metrics: &mut std::fs::File, emit: &mut dyn FnMut(Event)) -> Result<()> {
        let dir = self.cfg.out.clone();
        if self.checkpoint_due(self.step, last)
            && let Some(evaluator) = self.evaluator.as_mut()
        {
            // The weights the grids, `sample` and `eval` use: the moving average if any.
            let scored = if self.g_ema.is_some() { EMA_FILE } else { "generator.safetensors" };
            let scores = evaluator(&dir.join(scored))?;
            let mut line = serde_json::Map::new();
            line.insert("step".into(), self.step.into());
            for (name, v) in &scores {
                line.insert(name.clone(), (*v).into());
            }
            let path = dir.join("metrics.jsonl");
            writeln!(metrics, "{}", serde_json::Value::Object(line)).map_err(|e| Error::io(&path, e))?;
            if let Some(fd) = scores.iter().find(|s| s.0 == "FD") {
                self.eval_history.push((self.step, fd.1));
            }
            emit(Event::Evaluated(self.step, &scores));
        }
        plot::save_loss_plot(&dir.join("loss_curves.png"), &self.history, &self.eval_history, &format!("{} on {}", self.cfg.model.model.name(), self.cfg.dataset.name()))
    }
}

/// Run `draws` (prepared draws of a step's inputs) as the step will see them, without moving
/// the run: the counters are read, `ticked_first` (the slot the step ticks before its draws)
/// is moved one ahead, the draws run, and the counters are written back as they were. For
/// `save_initial`, which must leave the run exactly as without it.
pub(crate) fn draw_ahead(gpu: &Gpu, counters: &GpuTensor, ticked_first: usize, draws: &[Dispatch]) -> Result<()> {
    let saved = counters.read_u32(gpu)?;
    let mut ahead = saved.clone();
    ahead[ticked_first] += 1;
    counters.write_u32(gpu, &ahead)?;
    gpu.run("draw inputs", &draws.iter().collect::<Vec<_>>())?;
    counters.write_u32(gpu, &saved)
}
