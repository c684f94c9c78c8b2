//! The classifier objective (`train --model classifier`): a small conv net (ClassifierModel)
//! trained with softmax cross-entropy on a labelled dataset, its held-out accuracy measured as
//! it goes. `eval` uses the result to name the class of generated images.
//!
//! One iteration, recorded into one command encoder and submitted once:
//!
//! ```text
//! batch of the training split → net.input, its labels      (data.wgsl, labels.wgsl; DATA += 1)
//! grads = 0, (DROPOUT += 1), forward (training mode)
//! L = mean −log softmax(logits)[y]; accuracy of the batch   (loss.wgsl: softmax_cross_entropy)
//! backward (parameter gradients), Adam step                 (ADAM += 1)
//! ```
//!
//! The held-out split (`data::holdout_split`, the same images for every seed) is scored in
//! evaluation mode (BatchNorm running statistics, no dropout) every `eval_every` steps and at
//! the end: mean cross-entropy and accuracy, in f64 on the host from the logits.
//!
//! The run directory holds config.json, metrics.jsonl (one line per logged step, with
//! `heldout_loss` and `heldout_accuracy` where measured), checkpoint.safetensors (network,
//! Adam moments, counters: `--resume` continues bit for bit) and classifier.safetensors (the
//! network's state dict, `main.*` keys, with its architecture and held-out accuracy in the
//! metadata).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::runner::{self, Cadence, Objective, RunEvent, SavedNet};
use super::AugmentConfig;
use crate::classifier::{argmax, softmax, EvalNet, NET};
use crate::data::{DatasetKind, Dataset};
use crate::error::{Error, Result};
use crate::gpu::tensor::map_read;
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor};
use crate::model::ClassifierModel;
use crate::nn::{DropoutRng, Instance, Layer, Mode, NetSpec, ParamStore};
use crate::ops::data::GpuDataset;
use crate::ops::optim::AdamConfig;
use crate::ops::{self};

pub const FORMAT: &str = "shadergan-classifier-checkpoint-1";

/// Slots of the GPU counter tensor.
pub mod slot {
    pub const ZERO: usize = 0;
    pub const ADAM: usize = 1;
    pub const DATA: usize = 2;
    pub const DROPOUT: usize = 3;
    pub const COUNT: usize = 4;
}

/// What config.json records and `--resume` restores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    pub model: ClassifierModel,
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
    pub seed: u64,
    pub augment: AugmentConfig,
    pub log_every: u64,
    /// Score the held-out split every this many steps (and at the end).
    pub eval_every: u64,
    pub checkpoint_every: u64,
    pub out: PathBuf,
}

impl ClassifierConfig {
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        let bad = |flag: &str, m: String| Err(Error::invalid(flag, m));
        super::config::validate_run(self.batch_size, self.steps, [self.beta1, self.beta2], [("--log-every", self.log_every), ("--sample-every", self.eval_every), ("--checkpoint-every", self.checkpoint_every)])?;
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr < 1.0) {
            return bad("--lr", format!("learning rate {} must lie in (0, 1)", self.lr));
        }
        if !(self.holdout > 0.0 && self.holdout < 1.0) {
            return bad("--holdout", format!("{} must lie in (0, 1): the share of images held out to measure accuracy", self.holdout));
        }
        if self.augment.shift as usize >= self.model.image_size {
            return bad("--augment", format!("shift {} must be smaller than the image", self.augment.shift));
        }
        Ok(())
    }
}

/// One line of metrics.jsonl.
#[derive(Clone, Debug, Serialize)]
pub struct ClassifierRecord {
    pub step: u64,
    pub epoch: f64,
    /// Cross-entropy and accuracy of this step's training batch (training mode).
    pub loss: f32,
    pub accuracy: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heldout_loss: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heldout_accuracy: Option<f64>,
    pub images_per_s: f64,
    pub elapsed_s: f64,
}

/// What the trainer reports as it goes.
pub type ClassifierEvent<'a> = RunEvent<'a, ClassifierRecord>;

pub struct ClassifierTrainer {
    pub gpu: Gpu,
    pub cfg: ClassifierConfig,
    pub spec: NetSpec,
    pub store: ParamStore,
    pub dataset_source: String,
    pub n_train: usize,
    counters: GpuTensor,
    stats: GpuTensor,
    stats_staging: wgpu::Buffer,
    program: Vec<Dispatch>,
    /// The held-out images as the network sees them ([n, C, S, S] in [−1, 1]) and their labels.
    heldout: (Vec<f32>, Vec<u8>),
    /// The network in evaluation mode on chunks of the held-out split, prepared once.
    eval_net: EvalNet,
    pub step: u64,
    last_checkpoint: Option<u64>,
    /// The last held-out (loss, accuracy).
    pub heldout_score: Option<(f64, f64)>,
    /// Raised by a signal handler: finish this step, checkpoint, return.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl ClassifierTrainer {
    /// Build the network, the data pipeline and one iteration's program for `cfg`, with the
    /// labelled `dataset` (already at the model's size) split into training and held-out parts.
    pub fn new(gpu: Gpu, cfg: ClassifierConfig, dataset: &Dataset) -> Result<ClassifierTrainer> {
        cfg.validate()?;
        let m = &cfg.model;
        if dataset.size != m.image_size || dataset.channels != m.channels {
            return Err(Error::shape("dataset", format!("images are {}x{}x{}, the classifier wants {}x{}x{}", dataset.channels, dataset.size, dataset.size, m.channels, m.image_size, m.image_size)));
        }
        let Some(labels) = &dataset.labels else {
            return Err(Error::invalid(
                "--dataset",
                format!("{} has no class labels; a classifier trains on labelled data (synthetic, mnist with its labels file, cifar10, or a folder with one sub-directory per class)", dataset.source),
            ));
        };
        if let Some(i) = labels.iter().position(|&l| l as usize >= m.classes) {
            return Err(Error::invalid("--dataset", format!("image {i} of {} has label {}, but the classifier has {} classes", dataset.source, labels[i], m.classes)));
        }
        let (train_idx, held_idx) = crate::data::holdout_split(dataset.n, cfg.holdout);
        let b = cfg.batch_size;
        if b > train_idx.len() {
            return Err(Error::invalid("--batch-size", format!("{b} is larger than the training split ({} of the {} images of {}); use --batch-size {} or less", train_idx.len(), dataset.n, dataset.source, train_idx.len())));
        }
        let train = dataset.subset(&train_idx, "training split");
        let held = dataset.subset(&held_idx, "held out");
        let spec = m.spec()?;
        if b > spec.max_batch(&gpu.limits)? {
            return Err(Error::invalid("--batch-size", format!("{b} does not fit this adapter's buffers; use --batch-size {} or less", spec.max_batch(&gpu.limits)?)));
        }
        let store = ParamStore::new(&gpu, "classifier", spec.params())?;
        let counters = GpuTensor::zeros(&gpu, &[slot::COUNT], DType::U32, "counters")?;
        let stats = GpuTensor::zeros(&gpu, &[4], DType::F32, "loss and accuracy")?;
        let stats_staging = gpu.create_buffer(&wgpu::BufferDescriptor {
            label: Some("loss readback"),
            size: stats.binding_size(),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })?;
        let gpu_data = GpuDataset::upload(&gpu, &train.pixels, train.n, train.channels, train.size)?;
        let train_labels: Vec<u32> = train.labels.as_ref().expect("a subset of labelled data").iter().map(|&l| l as u32).collect();
        let train_labels = GpuTensor::from_u32(&gpu, &[train.n], &train_labels, "dataset labels")?;
        let dlogits = GpuTensor::zeros(&gpu, &[b, m.classes], DType::F32, "dlogits")?;
        let dropout = DropoutRng { seed: cfg.seed, counter_index: slot::DROPOUT };
        let net = Instance::new(&gpu, &spec, &store, b, Mode::Train, &counters, dropout, None, Some(&dlogits))?;
        let sample_info = GpuTensor::zeros(&gpu, &[b, 8], DType::U32, "sample_info")?;
        let batch_labels = GpuTensor::zeros(&gpu, &[b], DType::U32, "labels")?;
        let tick = |s: usize| ops::elementwise::counter_add(&gpu, &counters, s, 1);
        let adam = AdamConfig { beta1: cfg.beta1, beta2: cfg.beta2, eps: 1e-8, weight_decay: 0.0, decoupled: false };
        // A constant learning rate, in the GPU tensor Adam reads it from.
        let lrs = ops::optim::learning_rates(&gpu, &[cfg.lr])?;

        let mut p = ops::data::batch(&gpu, &gpu_data, b, cfg.seed, cfg.augment.kernel(), &counters, slot::DATA, &sample_info, net.input())?;
        p.push(ops::labels::gather_labels(&gpu, &train_labels, &sample_info, &batch_labels)?);
        p.push(tick(slot::DATA)?);
        p.push(ops::elementwise::fill(&gpu, &store.grads, 0.0)?);
        if spec.layers.iter().any(|l| matches!(l, Layer::Dropout(p) if *p > 0.0)) {
            p.push(tick(slot::DROPOUT)?);
        }
        p.extend(net.forward.iter().cloned());
        p.extend(ops::loss::softmax_cross_entropy(&gpu, net.output(), &batch_labels, &dlogits, &stats, 0, 1.0)?);
        p.extend(net.backward_params.iter().cloned());
        p.push(tick(slot::ADAM)?);
        p.push(ops::optim::adam_step(&gpu, &adam, ops::optim::Lr { tensor: &lrs, index: 0 }, &store.grads, &counters, slot::ADAM, &store.params, &store.adam_m, &store.adam_v)?);

        let heldout_images = crate::data::to_unit_range(&held.pixels);
        let eval_net = EvalNet::new(&gpu, m, &spec, &store, spec.max_batch(&gpu.limits)?.clamp(1, 500).min(held.n))?;
        Ok(ClassifierTrainer {
            dataset_source: dataset.source.clone(),
            n_train: train.n,
            heldout: (heldout_images, held.labels.expect("a subset of labelled data")),
            eval_net,
            gpu,
            cfg,
            spec,
            store,
            counters,
            stats,
            stats_staging,
            program: p,
            step: 0,
            last_checkpoint: None,
            heldout_score: None,
            stop: None,
        })
    }

    pub fn dispatches_per_step(&self) -> usize {
        self.program.len()
    }

    pub fn heldout_images(&self) -> usize {
        self.heldout.1.len()
    }

    /// Fresh weights from the seed (convolutions N(0, 0.02), BatchNorm γ N(1, 0.02), Linear
    /// as PyTorch's default), zero Adam moments and counters.
    pub fn initialize(&mut self) -> Result<()> {
        self.counters.write_u32(&self.gpu, &[0; slot::COUNT])?;
        let d = self.store.init_dispatches(&self.gpu, self.cfg.seed, &self.counters, slot::ZERO)?;
        self.gpu.run("initialize", &d.iter().collect::<Vec<_>>())?;
        self.step = 0;
        Ok(())
    }

    /// Record and submit one iteration; with `read`, wait for and return (loss, accuracy) of
    /// its batch.
    pub fn iterate(&mut self, read: bool) -> Result<Option<(f32, f32)>> {
        let mut enc = self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("classifier step") });
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("classifier step"), timestamp_writes: None });
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
        let v: Vec<f32> = bytemuck::pod_collect_to_vec(&map_read(&self.gpu, &self.stats_staging, "loss")?[..8]);
        Ok(Some((v[0], v[1])))
    }

    /// Mean cross-entropy and accuracy on the held-out split (evaluation mode), in f64.
    pub fn evaluate(&mut self) -> Result<(f64, f64)> {
        let (images, labels) = &self.heldout;
        let classes = self.cfg.model.classes;
        let (mut loss, mut correct) = (0f64, 0usize);
        self.eval_net.run(&self.gpu, images, labels.len(), |start, logits, _| {
            for (i, row) in logits.chunks(classes).enumerate() {
                let y = labels[start + i] as usize;
                let p = softmax(row);
                loss -= p[y].max(f64::MIN_POSITIVE).ln();
                correct += (argmax(&p).0 == y) as usize;
            }
            Ok(())
        })?;
        let n = labels.len() as f64;
        let score = (loss / n, correct as f64 / n);
        self.heldout_score = Some(score);
        Ok(score)
    }

    /// PyTorch's num_batches_tracked: one training-mode forward per step.
    fn bn_forwards(&self) -> u64 {
        self.step
    }

    fn metadata(&self) -> Result<HashMap<String, String>> {
        let mut md = HashMap::new();
        md.insert("format".into(), FORMAT.into());
        md.insert("objective".into(), NET.into());
        md.insert("step".into(), self.step.to_string());
        md.insert("config".into(), to_json(&self.cfg)?);
        md.insert("classifier".into(), to_json(&self.cfg.model)?);
        md.insert("adapter".into(), self.gpu.describe());
        if let Some((loss, acc)) = self.heldout_score {
            md.insert("heldout_loss".into(), loss.to_string());
            md.insert("heldout_accuracy".into(), acc.to_string());
            md.insert("heldout_images".into(), self.heldout_images().to_string());
        }
        Ok(md)
    }

    fn saved_net(&self) -> SavedNet<'_> {
        SavedNet { file: NET, prefix: "net.", opt: "opt", spec: &self.spec, store: &self.store }
    }

    /// Write checkpoint.safetensors (the full state) and classifier.safetensors (the state
    /// dict), each atomically, after checking every value is finite.
    pub fn save_checkpoints(&mut self) -> Result<PathBuf> {
        let path = runner::save_checkpoints(&self.gpu, &self.cfg.out, self.metadata()?, &[self.saved_net()], &self.counters, self.bn_forwards(), self.step, self.last_checkpoint)?;
        self.last_checkpoint = Some(self.step);
        Ok(path)
    }

    /// Restore the full state from a checkpoint.safetensors of this objective.
    pub fn restore(&mut self, path: &Path) -> Result<()> {
        let (step, md) = runner::restore(&self.gpu, path, FORMAT, "classifier", &[self.saved_net()], &self.counters)?;
        self.heldout_score = match (md.get("heldout_loss"), md.get("heldout_accuracy")) {
            (Some(l), Some(a)) => l.parse().ok().zip(a.parse().ok()),
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
            config: &'a ClassifierConfig,
            adapter: String,
            dataset: &'a str,
            images: usize,
            heldout_images: usize,
            classifier: String,
            parameters: usize,
        }
        let info = RunInfo {
            shadergan: env!("CARGO_PKG_VERSION"),
            objective: NET,
            config: &self.cfg,
            adapter: self.gpu.describe(),
            dataset: &self.dataset_source,
            images: self.n_train,
            heldout_images: self.heldout_images(),
            classifier: self.spec.describe(),
            parameters: self.store.trainable_count(),
        };
        runner::prepare_run_dir(&self.cfg.out, &info, self.step)
    }

    /// Train to `cfg.steps`, scoring the held-out split every `eval_every` steps and at the end.
    pub fn run(&mut self, on_event: impl FnMut(ClassifierEvent)) -> Result<()> {
        runner::run(self, on_event)
    }
}

impl Objective for ClassifierTrainer {
    type Readback = (f32, f32);
    type Score = (f64, f64);
    type Record = ClassifierRecord;

    fn out(&self) -> &Path {
        &self.cfg.out
    }

    fn cadence(&self) -> Cadence {
        Cadence { steps: self.cfg.steps, log_every: self.cfg.log_every, eval_every: self.cfg.eval_every, checkpoint_every: self.cfg.checkpoint_every }
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
        ClassifierTrainer::iterate(self, read)
    }

    fn diverged(&self, &(loss, _): &(f32, f32)) -> Option<String> {
        (!loss.is_finite()).then(|| format!("the loss is {loss}"))
    }

    fn evaluate(&mut self, _emit: &mut dyn FnMut(ClassifierEvent)) -> Result<(f64, f64)> {
        ClassifierTrainer::evaluate(self)
    }

    fn record(&self, (loss, accuracy): (f32, f32), held: Option<(f64, f64)>, images_per_s: f64, elapsed_s: f64) -> ClassifierRecord {
        ClassifierRecord {
            step: self.step,
            epoch: self.epoch(self.step),
            loss,
            accuracy,
            heldout_loss: held.map(|h| h.0),
            heldout_accuracy: held.map(|h| h.1),
            images_per_s,
            elapsed_s,
        }
    }

    fn save_checkpoints(&mut self) -> Result<PathBuf> {
        ClassifierTrainer::save_checkpoints(self)
    }
}

/// JSON for the metadata (serialising these types cannot fail; if it did, a one-line error).
fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::invalid("config", e.to_string()))
}
