//! A trained image classifier (`train --model classifier`) run in evaluation mode: class
//! probabilities and penultimate-layer features for any number of images, in chunks that fit
//! the adapter. `eval` uses it to ask which class a generated image shows, and (the
//! evaluation issue) as its feature extractor.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::gpu::{DType, Gpu, GpuTensor};
use crate::model::ClassifierModel;
use crate::nn::{DropoutRng, Instance, Mode, NetSpec, ParamStore};
use crate::train::checkpoint::{self, TensorFile};

/// What `classifier.safetensors` says it is (metadata `net`).
pub const NET: &str = "classifier";

/// One image's verdict: the logits' softmax and its features.
#[derive(Clone, Debug)]
pub struct Classified {
    /// Softmax over the classes, computed in f64 from the f32 logits.
    pub probs: Vec<f64>,
    /// The penultimate layer (ClassifierModel::features values).
    pub features: Vec<f32>,
}

impl Classified {
    /// The most probable class and its probability.
    pub fn top(&self) -> (usize, f64) {
        argmax(&self.probs)
    }
}

/// The index of the largest value (the lowest index on a tie) and the value.
pub fn argmax(values: &[f64]) -> (usize, f64) {
    values.iter().enumerate().fold((0, f64::MIN), |best, (i, &p)| if p > best.1 { (i, p) } else { best })
}

/// Softmax of one row of logits, in f64 (max subtracted first).
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().fold(f64::MIN, |m, &v| m.max(v as f64));
    let e: Vec<f64> = logits.iter().map(|&v| (v as f64 - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}

/// A classifier network in evaluation mode (BatchNorm running statistics, no dropout), bound
/// to a chunk of images with every buffer and dispatch prepared once: the trainer scores its
/// held-out split with it every few hundred steps without allocating anything.
pub struct EvalNet {
    model: ClassifierModel,
    net: Instance,
    /// Index of the features in `net.acts` (ClassifierModel::feature_act).
    features: usize,
}

impl EvalNet {
    pub fn new(gpu: &Gpu, model: &ClassifierModel, spec: &NetSpec, store: &ParamStore, chunk: usize) -> Result<EvalNet> {
        let counters = GpuTensor::zeros(gpu, &[1], DType::U32, "counters")?;
        let net = Instance::new(gpu, spec, store, chunk.max(1), Mode::Eval, &counters, DropoutRng { seed: 0, counter_index: 0 }, None, None)?;
        Ok(EvalNet { model: model.clone(), net, features: model.feature_act()? })
    }

    /// Run on `n` images [n, C, S, S] in [−1, 1] a chunk at a time; hand each chunk's logits
    /// [len, K] and features [len, F] to `on_chunk(first index, logits, features)`.
    pub fn run(&self, gpu: &Gpu, images: &[f32], n: usize, mut on_chunk: impl FnMut(usize, &[f32], &[f32]) -> Result<()>) -> Result<()> {
        let m = &self.model;
        let per = m.channels * m.image_size * m.image_size;
        if images.len() != n * per {
            return Err(Error::shape("classifier", format!("{} values for {n} images of {}x{}x{}", images.len(), m.channels, m.image_size, m.image_size)));
        }
        let chunk = self.net.batch;
        let mut padded = vec![0f32; chunk * per];
        for start in (0..n).step_by(chunk) {
            let len = chunk.min(n - start);
            // A short last chunk is padded with blank images: in evaluation mode each image is
            // independent of the others, and only the first `len` results are kept.
            padded[..len * per].copy_from_slice(&images[start * per..(start + len) * per]);
            padded[len * per..].fill(0.0);
            self.net.input().write_f32(gpu, &padded)?;
            gpu.run("classify", &self.net.forward.iter().collect::<Vec<_>>())?;
            let logits = self.net.output().read_f32(gpu)?;
            let feats = self.net.acts[self.features].read_f32(gpu)?;
            on_chunk(start, &logits[..len * m.classes], &feats[..len * m.features])?;
        }
        Ok(())
    }
}

/// A classifier loaded from a run directory, its classifier.safetensors or checkpoint.
pub struct Classifier {
    pub model: ClassifierModel,
    pub spec: NetSpec,
    pub store: ParamStore,
    eval: EvalNet,
    pub source: PathBuf,
    /// The held-out accuracy recorded when it was saved, if any.
    pub heldout_accuracy: Option<f64>,
    /// SHA-256 of the file the weights came from (hex): scores from different extractors are
    /// not comparable, so every report names the one it used.
    pub sha256: String,
}

impl Classifier {
    pub fn load(gpu: &Gpu, path: &Path) -> Result<Classifier> {
        let file_path = if path.is_dir() { path.join("classifier.safetensors") } else { path.to_path_buf() };
        if !file_path.is_file() {
            return Err(Error::bad_file(&file_path, "does not exist; pass a run of `train --model classifier` (or its classifier.safetensors)"));
        }
        let sha256 = crate::fsutil::sha256_of_file(&file_path)?;
        let file = TensorFile::load(&file_path)?;
        let prefix = if file.tensors.keys().any(|k| k.starts_with("net.")) { "net." } else { "" };
        let is_classifier = file.metadata.get("net").map(String::as_str) == Some(NET) || file.metadata.get("objective").map(String::as_str) == Some(NET);
        if !is_classifier {
            let what = file.metadata.get("net").map_or("not a classifier".to_string(), |n| format!("a {n} state dict, not a classifier"));
            return Err(Error::bad_file(&file_path, format!("is {what}; train one with `shadergan train --model classifier --dataset …` and pass its run directory")));
        }
        let json = file.metadata.get("classifier").ok_or_else(|| Error::bad_file(&file_path, "has no classifier metadata (the architecture)"))?;
        let model: ClassifierModel = serde_json::from_str(json).map_err(|e| Error::bad_file(&file_path, format!("unreadable classifier metadata ({e})")))?;
        let spec = model.spec()?;
        let store = ParamStore::weights_only(gpu, "classifier", spec.params())?;
        checkpoint::load_into(gpu, &file_path, &file, prefix, &spec, &store, None, " (its tensors do not match the architecture its metadata describes)")?;
        let heldout_accuracy = file.metadata.get("heldout_accuracy").and_then(|s| s.parse().ok());
        // Chunks of up to 256: enough to keep a GPU busy, small enough at 128×128.
        let eval = EvalNet::new(gpu, &model, &spec, &store, spec.max_batch(&gpu.limits)?.clamp(1, 256))?;
        Ok(Classifier { model, spec, store, eval, source: file_path, heldout_accuracy, sha256 })
    }

    /// An untrained network of the classifier's architecture (64 channels wide, 128
    /// features), its weights drawn from `seed` as training would start them: the random
    /// embedding Naeem et al. (2020) found to rank generators sensibly on data without labels.
    /// Its logits mean nothing; `sha256` hashes the weights and buffers it drew.
    pub fn random(gpu: &Gpu, image_size: usize, channels: usize, seed: u64) -> Result<Classifier> {
        let model = ClassifierModel { image_size, channels, width: 64, features: 128, classes: 2, dropout: 0.0 };
        let spec = model.spec()?;
        // He initialisation for the convolutions (std √(2/(1 + 0.2²)/fan_in), LeakyReLU 0.2):
        // variance-preserving, so the features keep the scale of the input. The DCGAN init
        // (std 0.02) that training starts from would shrink them ~10× per layer, leaving FD
        // figures of 1e-4.
        let params = spec
            .params()
            .into_iter()
            .map(|mut p| {
                if p.shape.len() == 4 && p.name.ends_with("weight") {
                    let fan_in = (p.shape[1] * p.shape[2] * p.shape[3]) as f32;
                    p.init = crate::nn::Init::Normal { mean: 0.0, std: (2.0 / 1.04 / fan_in).sqrt() };
                }
                p
            })
            .collect();
        let store = ParamStore::weights_only(gpu, "random extractor", params)?;
        let counters = GpuTensor::zeros(gpu, &[1], DType::U32, "counters")?;
        let init = store.init_dispatches(gpu, seed, &counters, 0)?;
        gpu.run("random extractor", &init.iter().collect::<Vec<_>>())?;
        let sha256 = {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            for (_, t) in store.regions().into_iter().filter(|(which, _)| matches!(*which, "param" | "buffer")) {
                for v in t.read_f32(gpu)? {
                    h.update(v.to_le_bytes());
                }
            }
            h.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        let eval = EvalNet::new(gpu, &model, &spec, &store, spec.max_batch(&gpu.limits)?.clamp(1, 256))?;
        Ok(Classifier { model, spec, store, eval, source: PathBuf::from(format!("random:{seed}")), heldout_accuracy: None, sha256 })
    }

    /// Classify `n` images [n, C, S, S] in [−1, 1].
    pub fn classify(&self, gpu: &Gpu, images: &[f32], n: usize) -> Result<Vec<Classified>> {
        let mut out = Vec::with_capacity(n);
        let (k, f) = (self.model.classes, self.model.features);
        self.eval.run(gpu, images, n, |_, logits, feats| {
            for (row, fr) in logits.chunks(k).zip(feats.chunks(f)) {
                out.push(Classified { probs: softmax(row), features: fr.to_vec() });
            }
            Ok(())
        })?;
        Ok(out)
    }
}
