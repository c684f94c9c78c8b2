//! `shadergan sample`: images from a trained generator (or a VAE's decoder, a DCGAN
//! generator of z ~ N(0, I)).
//!
//! The generator comes from a run directory (its generator.safetensors), a full
//! checkpoint.safetensors, a generator.safetensors, or a state dict exported from PyTorch
//! (`safetensors.torch.save_file(netG.state_dict(), path)`): without shadergan metadata the
//! architecture is inferred from the tensor shapes (DCGAN or MLP, nz, ngf, channels, size).
//! A conditional generator takes a class label per sample besides its latent (appended to z
//! as one-hot, as in training).
//! By default BatchNorm uses its running statistics (PyTorch's `netG.eval()`); `batch` uses the
//! statistics of the sampled batch (`netG.train()`, as pytorch/examples draws its grids).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::gpu::{DType, Gpu, GpuTensor};
use crate::model::{DNorm, ModelConfig, ModelKind};
use crate::nn::{DropoutRng, Instance, Mode, ParamStore};
use crate::ops::random::{Distribution, RngKey};
use crate::train::checkpoint::{self, TensorFile, Values};

/// A conditional generator's input: z and the labels, and the dispatch that writes
/// cat(z, one_hot(labels)) into the network's input.
struct LabelledLatents {
    z: GpuTensor,
    labels: GpuTensor,
    /// G's input = cat(z, the label's code): one-hot, or the learned embedding's rows.
    concat: Vec<crate::gpu::Dispatch>,
}

/// A generator ready to run: its config and weights on the GPU.
pub struct Generator {
    pub model: ModelConfig,
    pub spec: crate::nn::NetSpec,
    pub store: ParamStore,
    pub source: PathBuf,
    /// Whether these are the moving-average weights of a run trained with --g-ema.
    pub ema: bool,
    /// What the network outputs: images (every GAN generator, a VAE decoder trained with
    /// --recon mse), or logits to map to images (--recon bce).
    pub output: crate::model::Recon,
}

/// Infer the architecture of a PyTorch state dict of one of our generators from its shapes.
fn infer(path: &Path, file: &TensorFile, prefix: &str) -> Result<ModelConfig> {
    let shape = |i: usize| file.tensors.get(&format!("{prefix}main.{i}.weight")).map(|t| t.shape.clone());
    let first = shape(0).ok_or_else(|| Error::bad_file(path, "has no main.0.weight: not a generator state dict of a DCGAN or MLP"))?;
    let weights: Vec<Vec<usize>> = (0..64).filter_map(shape).collect();
    match first.len() {
        4 => {
            // DCGAN: ConvTranspose weights [C_in, C_out, 4, 4]; BatchNorm weights are 1-D.
            let convs: Vec<&Vec<usize>> = weights.iter().filter(|s| s.len() == 4).collect();
            let last = convs.last().expect("at least main.0");
            let size = 4usize << (convs.len() - 1);
            Ok(ModelConfig { model: ModelKind::Dcgan, image_size: size, channels: last[1], nz: first[0], ngf: last[0], ndf: 64, dropout: 0.3, conditional: None, spectral_norm: false, d_norm: DNorm::BatchNorm, minibatch_std: None })
        }
        2 => {
            // MLP: Linear weights [out, in]; the last maps 4·ngf → C·S·S.
            let last = weights.last().expect("at least main.0");
            let out = last[0];
            let side = |c: usize| {
                let s = ((out / c) as f64).sqrt().round() as usize;
                (s * s * c == out).then_some(s)
            };
            let (channels, size) = match (side(3), side(1)) {
                (Some(s), _) => (3, s),
                (None, Some(s)) => (1, s),
                _ => return Err(Error::bad_file(path, format!("the last layer has {out} outputs, not C·S·S for C = 1 or 3"))),
            };
            Ok(ModelConfig { model: ModelKind::Mlp, image_size: size, channels, nz: first[1], ngf: first[0], ndf: 64, dropout: 0.3, conditional: None, spectral_norm: false, d_norm: DNorm::BatchNorm, minibatch_std: None })
        }
        _ => Err(Error::bad_file(path, format!("main.0.weight is {first:?}: not a generator shadergan knows"))),
    }
}

impl Generator {
    /// Load from a run directory, a checkpoint or a state dict; a run trained with --g-ema
    /// gives its moving average (generator_ema.safetensors, or `netG_ema.*` of a checkpoint).
    pub fn load(gpu: &Gpu, path: &Path) -> Result<Generator> {
        Self::load_with(gpu, path, true)
    }

    /// As `load`; with `use_ema` false, the trained weights themselves even where a moving
    /// average exists (`--no-ema`).
    pub fn load_with(gpu: &Gpu, path: &Path, use_ema: bool) -> Result<Generator> {
        let ema_file = path.join(crate::train::EMA_FILE);
        // A VAE run has no generator.safetensors: its decoder is one (a DCGAN generator).
        let decoder_file = path.join("decoder.safetensors");
        let file_path = match path.is_dir() {
            true if use_ema && ema_file.is_file() => ema_file,
            true if !path.join("generator.safetensors").is_file() && decoder_file.is_file() => decoder_file,
            true => path.join("generator.safetensors"),
            false => path.to_path_buf(),
        };
        if path.is_dir() && !file_path.is_file() && path.join("classifier.safetensors").is_file() {
            return Err(Error::bad_file(path, "is a run of an image classifier, not a generator; pass a GAN run to --checkpoint"));
        }
        if !file_path.is_file() {
            return Err(Error::bad_file(&file_path, "does not exist; pass a run directory or a .safetensors file with --checkpoint"));
        }
        let file = TensorFile::load(&file_path)?;
        if file.metadata.get("net").or(file.metadata.get("objective")).map(String::as_str) == Some(crate::classifier::NET) {
            return Err(Error::bad_file(&file_path, "is an image classifier, not a generator; pass a GAN run (its directory or generator.safetensors) to --checkpoint"));
        }
        let mut output = crate::model::Recon::Mse;
        let mut autoencoder = None;
        match file.metadata.get("net").map(String::as_str) {
            Some("encoder") => return Err(Error::bad_file(&file_path, "is an autoencoder's encoder; images are drawn from its decoder: pass the run directory or its decoder.safetensors")),
            Some("decoder") => {
                let model = file.metadata.get("autoencoder").and_then(|j| serde_json::from_str::<crate::model::AutoencoderModel>(j).ok());
                if model.as_ref().is_some_and(|m| !m.variational) {
                    return Err(Error::bad_file(&file_path, "is the decoder of a plain autoencoder, whose latent has no prior to draw from; train --model vae to sample"));
                }
                output = model.as_ref().map_or(output, |m| m.recon);
                autoencoder = model;
            }
            _ => {}
        }
        let has = |p: &str| file.tensors.keys().any(|k| k.starts_with(p));
        let prefix = match (use_ema && has(crate::train::EMA_PREFIX), has("netG.")) {
            (true, _) => crate::train::EMA_PREFIX,
            (false, true) => "netG.",
            (false, false) => "",
        };
        let ema = prefix == crate::train::EMA_PREFIX || file.metadata.contains_key("average");
        if checkpoint::which_net(&file, prefix) == Some("discriminator") {
            return Err(Error::bad_file(
                &file_path,
                "is a discriminator state dict; sample needs the generator: pass the run directory, its generator.safetensors or its checkpoint.safetensors to --checkpoint",
            ));
        }
        let model: ModelConfig = match (file.metadata.get("model"), &autoencoder) {
            (Some(json), _) => serde_json::from_str(json).map_err(|e| Error::bad_file(&file_path, format!("unreadable model metadata ({e})")))?,
            (None, Some(ae)) => ae.gan(),
            (None, None) => infer(&file_path, &file, prefix)?,
        };
        let mut spec = model.generator()?;
        if output == crate::model::Recon::Bce {
            // A decoder trained with --recon bce outputs logits: no Tanh (its images are
            // tanh(ℓ/2), formed after the readback).
            crate::model::remove_tanh(&mut spec);
        }
        let store = ParamStore::weights_only(gpu, "netG", spec.params())?;
        checkpoint::load_into(gpu, &file_path, &file, prefix, &spec, &store, None, " (its tensors do not match the model its metadata describes)")?;
        Ok(Generator { model, spec, store, source: file_path, ema, output })
    }

    /// The most samples one forward pass runs: every activation must fit one binding, and
    /// past a few thousand a bigger batch only costs memory.
    pub fn max_chunk(&self, gpu: &Gpu) -> Result<usize> {
        Ok(self.spec.max_batch(&gpu.limits)?.clamp(1, 4096))
    }

    /// Classes of a conditional generator (0: unconditional).
    pub fn classes(&self) -> usize {
        self.model.classes()
    }

    /// The labels a conditional generator needs besides its latents: `class` for every sample,
    /// or `per_class` samples of each class in class order (one grid row per class). For an
    /// unconditional generator, asking for a class is an error naming the flag.
    pub fn labels(&self, n: Option<usize>, class: Option<usize>, per_class: Option<usize>) -> Result<(Vec<u32>, usize)> {
        let k = self.classes();
        let path = self.source.display();
        match (k, class, per_class) {
            (0, Some(_), _) => Err(Error::invalid("--class", format!("{path} is an unconditional generator; it takes no class (drop --class)"))),
            (0, None, Some(_)) => Err(Error::invalid("--per-class", format!("{path} is an unconditional generator; it has no classes (use --n)"))),
            (0, None, None) => Ok((Vec::new(), n.unwrap_or(64))),
            (_, Some(c), _) if c >= k => Err(Error::invalid("--class", format!("{c} is not a class of {path}: it has {k} classes, 0..={}", k - 1))),
            (_, Some(_), Some(_)) => Err(Error::invalid("--per-class", "give either --class K (all samples of class K) or --per-class N (N of each class)")),
            (_, Some(c), None) => {
                let n = n.unwrap_or(64);
                Ok((vec![c as u32; n], n))
            }
            (_, None, per) => {
                if n.is_some() {
                    return Err(Error::invalid("--n", format!("{path} is conditional ({k} classes): use --per-class N for N samples of every class, or --class K with --n")));
                }
                let per = per.unwrap_or(8);
                if per == 0 {
                    return Err(Error::invalid("--per-class", "must be at least 1"));
                }
                Ok(((0..k * per).map(|i| (i / per) as u32).collect(), k * per))
            }
        }
    }

    /// G(z, y) for latents z [n, nz] (row-major) and, for a conditional generator, labels
    /// y [n] (empty otherwise), BatchNorm in `mode`: [n, C, S, S] in [−1, 1].
    /// Runs in chunks of at most `max_chunk` samples, so any n fits the adapter's limits. With
    /// running statistics each sample is independent of the others and chunking changes
    /// nothing; with batch statistics each chunk is one batch.
    pub fn generate(&self, gpu: &Gpu, z: &[f32], labels: &[u32], n: usize, mode: Mode) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(n * self.model.channels * self.model.image_size * self.model.image_size);
        self.generate_chunks(gpu, z, labels, n, mode, |_, images| {
            out.extend_from_slice(images);
            Ok(())
        })?;
        Ok(out)
    }

    /// As `generate`, handing each chunk's images to `on_chunk(first sample index, images)` as
    /// it is made, so that any n can be written out without holding all of it.
    pub fn generate_chunks(&self, gpu: &Gpu, z: &[f32], labels: &[u32], n: usize, mode: Mode, mut on_chunk: impl FnMut(usize, &[f32]) -> Result<()>) -> Result<()> {
        let nz = self.model.nz;
        let k = self.classes();
        if z.len() != n * nz {
            return Err(Error::shape("sample", format!("{} latent values for {n} samples of {nz}", z.len())));
        }
        if labels.len() != if k > 0 { n } else { 0 } || labels.iter().any(|&l| l as usize >= k) {
            return Err(Error::shape("sample", format!("{} labels for {n} samples of a generator with {k} classes", labels.len())));
        }
        if mode == Mode::Train && n < 2 {
            return Err(Error::invalid("--batchnorm batch", "batch statistics need at least 2 samples (--n 2 or more)"));
        }
        let max = self.max_chunk(gpu)?;
        let chunks = n.div_ceil(max);
        // Equal chunks (batch statistics over similar batch sizes; never a tail of 1).
        let per = n.div_ceil(chunks);
        let counters = GpuTensor::zeros(gpu, &[1], DType::U32, "counters")?;
        let mut net: Option<(Instance, Option<LabelledLatents>)> = None;
        for start in (0..n).step_by(per) {
            let len = per.min(n - start);
            if net.as_ref().is_none_or(|(i, _)| i.input().shape()[0] != len) {
                let inst = Instance::new(gpu, &self.spec, &self.store, len, mode, &counters, DropoutRng { seed: 0, counter_index: 0 }, None, None)?;
                let cond = if k > 0 {
                    let zt = GpuTensor::zeros(gpu, &[vec![len], self.model.latent_shape()].concat(), DType::F32, "z")?;
                    let yt = GpuTensor::zeros(gpu, &[len], DType::U32, "labels")?;
                    let cat = crate::nn::label::LabelInput::new(&self.spec, &self.store, k)?.forward(gpu, &zt, &yt, inst.input())?;
                    Some(LabelledLatents { z: zt, labels: yt, concat: cat })
                } else {
                    None
                };
                net = Some((inst, cond));
            }
            let (net, cond) = net.as_ref().expect("built above");
            let mut run: Vec<&crate::gpu::Dispatch> = Vec::new();
            match cond {
                Some(c) => {
                    c.z.write_f32(gpu, &z[start * nz..(start + len) * nz])?;
                    c.labels.write_u32(gpu, &labels[start..start + len])?;
                    run.extend(&c.concat);
                }
                None => net.input().write_f32(gpu, &z[start * nz..(start + len) * nz])?,
            }
            run.extend(&net.forward);
            gpu.run("sample", &run)?;
            let mut images = net.output().read_f32(gpu)?;
            self.output.to_images(&mut images);
            on_chunk(start, &images)?;
        }
        Ok(())
    }
}

/// The most latents `latents` draws in one buffer on this adapter.
pub fn max_latents(gpu: &Gpu, nz: usize) -> usize {
    (gpu.limits.max_storage_buffer_binding_size.min(gpu.limits.max_buffer_size) / (4 * nz as u64)) as usize
}

/// n latents from the Philox stream of `seed` (the same seed gives the same latents).
pub fn latents(gpu: &Gpu, seed: u64, n: usize, nz: usize) -> Result<Vec<f32>> {
    let counters = GpuTensor::zeros(gpu, &[1], DType::U32, "counters")?;
    let z = GpuTensor::zeros(gpu, &[n, nz], DType::F32, "latents")?;
    let key = RngKey { seed, stream: crate::nn::params::stream_of("sample latents"), counter_index: 0 };
    gpu.run("latents", &[&crate::ops::random::sample(gpu, Distribution::Normal { mean: 0.0, std: 1.0 }, key, &counters, &z)?])?;
    z.read_f32(gpu)
}

/// Latents z [N, nz] from a safetensors file (tensor `z`).
pub fn read_latents(path: &Path, nz: usize) -> Result<(Vec<f32>, usize)> {
    let file = TensorFile::load(path)?;
    let t = file.tensors.get("z").ok_or_else(|| Error::bad_file(path, "has no tensor named 'z' (expected z of shape [N, nz])"))?;
    let n = match t.shape[..] {
        [n, d] if d == nz => n,
        [n, d, 1, 1] if d == nz => n,
        _ => return Err(Error::bad_file(path, format!("z is {:?}; this generator needs [N, {nz}]", t.shape))),
    };
    match &t.values {
        Values::F32(v) if n > 0 => Ok((v.clone(), n)),
        _ => Err(Error::bad_file(path, "z must be a non-empty float32 tensor")),
    }
}

/// Interpolation paths between latent pairs (a_i, b_i): `steps` points each, linear or
/// spherical (slerp, along the great circle: it keeps the norm of Gaussian latents typical).
pub fn interpolate(a: &[f32], b: &[f32], steps: usize, spherical: bool) -> Vec<f32> {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let (na, nb) = (a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt(), b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt());
    let omega = (dot / (na * nb).max(1e-12)).clamp(-1.0, 1.0).acos();
    let mut out = Vec::with_capacity(steps * a.len());
    for s in 0..steps {
        let t = if steps == 1 { 0.0 } else { s as f64 / (steps - 1) as f64 };
        let (wa, wb) = if spherical && omega.sin().abs() > 1e-6 {
            (((1.0 - t) * omega).sin() / omega.sin(), (t * omega).sin() / omega.sin())
        } else {
            (1.0 - t, t)
        };
        out.extend(a.iter().zip(b).map(|(x, y)| (wa * *x as f64 + wb * *y as f64) as f32));
    }
    out
}

/// An autoencoder's encoder ready to run (`sample --encode`): images → codes (the AE's
/// latent, or the VAE's μ and log σ²).
pub struct Encoder {
    pub model: crate::model::AutoencoderModel,
    pub spec: crate::nn::NetSpec,
    pub store: ParamStore,
    pub source: PathBuf,
    /// SHA-256 of the weights file (eval names its feature extractor by it).
    pub sha256: String,
}

impl Encoder {
    /// From an autoencoder run directory (its encoder.safetensors) or an encoder.safetensors;
    /// anything else (a GAN, a classifier, a decoder) is a one-line error naming the path.
    pub fn load(gpu: &Gpu, path: &Path) -> Result<Encoder> {
        let file_path = if path.is_dir() {
            let enc = path.join("encoder.safetensors");
            if !enc.is_file() {
                let what = if path.join("generator.safetensors").is_file() {
                    "is a GAN run, which has no encoder"
                } else if path.join("classifier.safetensors").is_file() {
                    "is an image classifier's run, not an autoencoder's"
                } else {
                    "holds no encoder.safetensors"
                };
                return Err(Error::bad_file(path, format!("{what}; --encode needs the run of an autoencoder (train --model ae|vae) or its encoder.safetensors")));
            }
            enc
        } else {
            path.to_path_buf()
        };
        if !file_path.is_file() {
            return Err(Error::bad_file(&file_path, "does not exist; pass an autoencoder's run directory or its encoder.safetensors with --checkpoint"));
        }
        let sha256 = crate::fsutil::sha256_of_file(&file_path)?;
        let file = TensorFile::load(&file_path)?;
        match file.metadata.get("net").map(String::as_str) {
            Some("encoder") => {}
            Some("decoder") => return Err(Error::bad_file(&file_path, "is an autoencoder's decoder; --encode needs its encoder: pass the run directory or its encoder.safetensors")),
            Some(other) => return Err(Error::bad_file(&file_path, format!("is a {other} state dict, not an autoencoder's encoder; --encode needs a run of train --model ae|vae"))),
            None => return Err(Error::bad_file(&file_path, "has no shadergan 'net' metadata, so it is not an encoder written by train --model ae|vae; pass such a run's encoder.safetensors")),
        }
        let json = file.metadata.get("autoencoder").ok_or_else(|| Error::bad_file(&file_path, "has no 'autoencoder' metadata describing the model"))?;
        let model: crate::model::AutoencoderModel = serde_json::from_str(json).map_err(|e| Error::bad_file(&file_path, format!("unreadable autoencoder metadata ({e})")))?;
        let spec = model.encoder()?;
        let store = ParamStore::weights_only(gpu, "encoder", spec.params())?;
        checkpoint::load_into(gpu, &file_path, &file, "", &spec, &store, None, " (its tensors do not match the model its metadata describes)")?;
        Ok(Encoder { model, spec, store, source: file_path, sha256 })
    }

    /// Codes of n images [n, C, S, S] in [−1, 1]: [n, nz] for the AE, [n, 2·nz] (μ then
    /// log σ² per row) for the VAE; BatchNorm with its running statistics (PyTorch's
    /// `eval()`), so each image's code is independent of the others and of the chunking.
    pub fn encode(&self, gpu: &Gpu, images: &[f32], n: usize) -> Result<Vec<f32>> {
        let m = &self.model;
        let per = m.channels * m.image_size * m.image_size;
        if images.len() != n * per || n == 0 {
            return Err(Error::shape("encode", format!("{} values for {n} images of {per}", images.len())));
        }
        let max = self.spec.max_batch(&gpu.limits)?.clamp(1, 4096);
        let chunk = n.div_ceil(n.div_ceil(max));
        let counters = GpuTensor::zeros(gpu, &[1], DType::U32, "counters")?;
        let mut net: Option<Instance> = None;
        let mut codes = Vec::with_capacity(n * m.code_width());
        for start in (0..n).step_by(chunk) {
            let len = chunk.min(n - start);
            if net.as_ref().is_none_or(|i| i.batch != len) {
                net = Some(Instance::new(gpu, &self.spec, &self.store, len, Mode::Eval, &counters, DropoutRng { seed: 0, counter_index: 0 }, None, None)?);
            }
            let net = net.as_ref().expect("built above");
            net.input().write_f32(gpu, &images[start * per..(start + len) * per])?;
            gpu.run("encode", &net.forward.iter().collect::<Vec<_>>())?;
            codes.extend(net.output().read_f32(gpu)?);
        }
        Ok(codes)
    }
}
