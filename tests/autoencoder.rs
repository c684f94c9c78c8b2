//! The autoencoder objectives (`train --model ae|vae`): both learn to reconstruct, the VAE's
//! KL is logged and its warm-up follows the step, resume is exact, the outputs are written,
//! and settings that do not fit are refused with one line.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use shadergan::data::{self, DatasetKind};
use shadergan::gpu::{AdapterChoice, Gpu};
use shadergan::model::{Arch, AutoencoderModel, Recon};
use shadergan::train::autoencoder::{AutoencoderConfig, AutoencoderEvent, AutoencoderRecord, AutoencoderTrainer};
use shadergan::train::checkpoint::TensorFile;

fn gpu() -> Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| Gpu::new(&AdapterChoice::default()).unwrap_or_else(|e| panic!("{e}"))).clone()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shadergan-autoencoder-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// An autoencoder of the built-in shapes at 16×16, small enough for a few seconds.
fn tiny(out: &Path, variational: bool, steps: u64) -> AutoencoderConfig {
    AutoencoderConfig {
        model: AutoencoderModel { variational, image_size: 16, channels: 3, nz: 8, ngf: 8, ndf: 8, recon: Recon::Mse, arch: Arch::Dcgan },
        dataset: DatasetKind::Synthetic,
        data: None,
        max_images: None,
        synthetic_images: 256,
        holdout: 0.1,
        batch_size: 16,
        steps,
        lr: 2e-3,
        beta1: 0.5,
        beta2: 0.999,
        beta: 1.0,
        kl_warmup: 0,
        denoise: 0.0,
        mask_ratio: 0.0,
        patch: 4,
        seed: 5,
        log_every: 5,
        sample_every: 20,
        checkpoint_every: 20,
        out: out.to_path_buf(),
    }
}

fn trainer(cfg: AutoencoderConfig) -> AutoencoderTrainer {
    let m = &cfg.model;
    let ds = data::load(cfg.dataset, None, m.image_size, m.channels, None, cfg.synthetic_images, false).unwrap();
    AutoencoderTrainer::new(gpu(), cfg, &ds).unwrap_or_else(|e| panic!("{e}"))
}

/// Train `cfg` from scratch, or resume from its run directory; the logged records.
fn train(cfg: AutoencoderConfig, resume: bool) -> Vec<AutoencoderRecord> {
    let mut t = trainer(cfg);
    if resume {
        t.restore(&t.cfg.out.join("checkpoint.safetensors")).unwrap();
    } else {
        t.initialize().unwrap();
    }
    t.prepare_run_dir().unwrap();
    let mut records = Vec::new();
    t.run(|e| {
        if let AutoencoderEvent::Logged(r) = e {
            records.push(r.clone());
        }
    })
    .unwrap_or_else(|e| panic!("{e}"));
    records
}

fn tensors(path: &Path) -> Vec<(String, Vec<u8>)> {
    let file = TensorFile::load(path).unwrap();
    file.tensors.iter().map(|(k, t)| (k.clone(), format!("{:?}", t.values).into_bytes())).collect()
}

#[test]
fn both_autoencoders_learn_write_their_outputs_and_resume_exactly() {
    for variational in [false, true] {
        let name = if variational { "vae" } else { "ae" };
        let a = tmp(name);
        let records = train(tiny(&a, variational, 60), false);
        assert!(records.iter().all(|r| r.recon.is_finite() && r.kl.is_none_or(f32::is_finite)), "{name}: {records:?}");
        assert_eq!(records.iter().all(|r| r.kl.is_some()), variational, "{name}: KL logged for the VAE only");
        // Reconstruction improves: the held-out batch at the end against the first training batches.
        let (first, last) = (records[0].recon, records.last().unwrap().heldout_recon.expect("scored at the end"));
        assert!(last < 0.7 * first, "{name}: reconstruction {first} → held out {last}");
        let end = records.last().unwrap();
        assert_eq!(end.heldout_neg_elbo.is_some(), variational, "{name}: {end:?}");
        if let (Some(e), Some(k)) = (end.heldout_neg_elbo, end.heldout_kl) {
            assert!(k > 0.0 && (e - end.heldout_recon.unwrap() - k).abs() <= 1e-3 * e.abs(), "{name}: {end:?}");
        }
        let mut files = vec!["config.json", "metrics.jsonl", "checkpoint.safetensors", "encoder.safetensors", "decoder.safetensors", "reconstructions.png", "traversals.png", "interpolations.png"];
        if variational {
            files.push("prior_samples.png");
        }
        for f in files {
            assert!(a.join(f).is_file(), "{name}: {f} not written");
        }
        // One traversal row per latent, 9 steps each; 4 interpolation rows of 10.
        let dims = |f: &str| image::image_dimensions(a.join(f)).unwrap();
        assert_eq!(dims("traversals.png"), (9 * 18 + 2, 8 * 18 + 2), "{name}");
        assert_eq!(dims("interpolations.png"), (10 * 18 + 2, 4 * 18 + 2), "{name}");
        // The state dicts have PyTorch's nn.Sequential keys; the encoder's head is 2·nz wide for the VAE.
        let enc = TensorFile::load(&a.join("encoder.safetensors")).unwrap();
        let head = enc.tensors.keys().rfind(|k| k.ends_with(".weight")).unwrap().clone();
        assert_eq!(enc.tensors[&head].shape[0], if variational { 16 } else { 8 }, "{name}: {head}");
        assert!(TensorFile::load(&a.join("decoder.safetensors")).unwrap().tensors.contains_key("main.0.weight"));

        // 25 steps straight = 15 + resume + 10 (the VAE's ε draws and the data order included).
        let (b, c) = (tmp(&format!("{name}-straight")), tmp(&format!("{name}-resumed")));
        train(tiny(&b, variational, 25), false);
        train(tiny(&c, variational, 15), false);
        train(AutoencoderConfig { steps: 25, ..tiny(&c, variational, 15) }, true);
        assert_eq!(tensors(&b.join("checkpoint.safetensors")), tensors(&c.join("checkpoint.safetensors")), "{name}: 25 steps differ from 15 + resume + 10");
    }
}

/// The KL warm-up: at step t of W the KL term's weight is β·t/W, so with a long warm-up the
/// VAE behaves like an autoencoder at first and its KL grows larger than without one.
#[test]
fn the_kl_warm_up_lets_the_kl_grow_at_first() {
    let (a, b) = (tmp("warm"), tmp("cold"));
    let warm = train(AutoencoderConfig { kl_warmup: 10_000, ..tiny(&a, true, 20) }, false);
    let cold = train(tiny(&b, true, 20), false);
    let (kw, kc) = (warm.last().unwrap().kl.unwrap(), cold.last().unwrap().kl.unwrap());
    assert!(kw > kc, "KL after 20 steps: {kw} with a warm-up, {kc} without");
}

/// The denoising autoencoder (--denoise σ): trained on noisy inputs against clean targets, its
/// held-out reconstructions are closer to the clean images than the noisy inputs are, and the
/// grid shows clean, noisy and reconstructed rows.
#[test]
fn the_denoising_autoencoder_removes_the_noise_it_was_trained_on() {
    let a = tmp("denoise");
    let records = train(AutoencoderConfig { denoise: 0.5, ..tiny(&a, false, 60) }, false);
    let end = records.last().unwrap();
    let (noisy, denoised) = (end.heldout_psnr_corrupted.expect("logged"), end.heldout_psnr_reconstructed.expect("logged"));
    // σ = 0.5 on [−1, 1]: the noisy input's PSNR is 10·log10(4/0.25) ≈ 12 dB.
    assert!((noisy - 12.04).abs() < 0.3, "noisy PSNR {noisy}");
    assert!(denoised > noisy + 2.0, "PSNR {noisy:.2} dB noisy → {denoised:.2} dB reconstructed");
    // Clean, noisy and reconstructed rows for each group of 8: the 25 held-out images of the
    // 256 give 3 whole groups, 9 rows.
    assert_eq!(image::image_dimensions(a.join("reconstructions.png")).unwrap(), (8 * 18 + 2, 9 * 18 + 2));
    assert!(records.iter().all(|r| r.heldout_recon.is_none() || r.heldout_psnr_corrupted.is_some()));
}

/// The masked autoencoder (--mask-ratio r --patch p): trained on images with three patches in
/// four blanked, against the whole clean image, its held-out reconstructions are closer to the
/// clean images than the masked inputs are (13.4 → 15.3 dB after 100 steps of the tiny model;
/// at lighter masking the tiny model's own reconstruction error dominates). With noise, masking and the VAE's ε all drawn in one step
/// (three streams of one counter), resume stays bit-exact.
#[test]
fn the_masked_autoencoder_fills_in_the_patches_and_resumes_exactly() {
    let a = tmp("mask");
    let records = train(AutoencoderConfig { mask_ratio: 0.75, patch: 4, ..tiny(&a, false, 100) }, false);
    let end = records.last().unwrap();
    let (masked, filled) = (end.heldout_psnr_corrupted.expect("logged"), end.heldout_psnr_reconstructed.expect("logged"));
    assert!(filled > masked + 1.0, "PSNR {masked:.2} dB masked → {filled:.2} dB reconstructed");

    let (b, c) = (tmp("mask-straight"), tmp("mask-resumed"));
    let all = |out: &Path, steps| AutoencoderConfig { mask_ratio: 0.3, patch: 8, denoise: 0.2, ..tiny(out, true, steps) };
    train(all(&b, 25), false);
    train(all(&c, 15), false);
    train(AutoencoderConfig { steps: 25, ..all(&c, 15) }, true);
    assert_eq!(tensors(&b.join("checkpoint.safetensors")), tensors(&c.join("checkpoint.safetensors")), "25 steps differ from 15 + resume + 10");
}

/// --recon bce: the decoder outputs logits of a Bernoulli per pixel (no Tanh), trained with
/// BCE against images scaled to [0, 1]; its reconstructions and samples come out as images in
/// [−1, 1] (tanh(ℓ/2) = 2σ(ℓ) − 1), in the trainer's grids and through `sample`.
#[test]
fn the_bernoulli_decoder_learns_and_draws_images() {
    let a = tmp("bce");
    let cfg = |steps| AutoencoderConfig { model: AutoencoderModel { recon: Recon::Bce, ..tiny(&a, true, 1).model }, ..tiny(&a, true, steps) };
    assert!(!cfg(1).model.decoder().unwrap().layers.contains(&shadergan::nn::Layer::Tanh));
    let records = train(cfg(100), false);
    let (first, last) = (records[0].recon, records.last().unwrap().heldout_recon.expect("scored at the end"));
    // BCE in nats per image (16·16·3 pixels) is at least the targets' own entropy Σ H(t) (it
    // equals it only where σ(ℓ) = t); above that floor it falls as the decoder learns.
    let ds = data::load(DatasetKind::Synthetic, None, 16, 3, None, 256, false).unwrap();
    let h = |t: f64| if t <= 0.0 || t >= 1.0 { 0.0 } else { -(t * t.ln() + (1.0 - t) * (1.0 - t).ln()) };
    let floor = ds.pixels.iter().map(|&p| h(p as f64 / 255.0)).sum::<f64>() / ds.n as f64;
    let (first, last) = (first as f64 - floor, last as f64 - floor);
    assert!(first > 0.0 && last < 0.7 * first, "BCE above its floor ({floor:.1} nats): {first:.1} → held out {last:.1}");
    // The decoder as `sample` and `eval` load it: logits out of the network (no Tanh), images
    // = tanh(ℓ/2) of exactly those logits.
    let g = &gpu();
    let generator = shadergan::sample::Generator::load(g, &a).unwrap();
    assert_eq!(generator.output, Recon::Bce);
    assert!(!generator.spec.layers.contains(&shadergan::nn::Layer::Tanh));
    let n = 6;
    let z = shadergan::sample::latents(g, 3, n, 8).unwrap();
    let images = generator.generate(g, &z, &[], n, shadergan::nn::Mode::Eval).unwrap();
    let counters = shadergan::gpu::GpuTensor::zeros(g, &[1], shadergan::gpu::DType::U32, "counters").unwrap();
    let net = shadergan::nn::Instance::new(g, &generator.spec, &generator.store, n, shadergan::nn::Mode::Eval, &counters, shadergan::nn::DropoutRng { seed: 0, counter_index: 0 }, None, None).unwrap();
    net.input().write_f32(g, &z).unwrap();
    g.run("logits", &net.forward.iter().collect::<Vec<_>>()).unwrap();
    let logits = net.output().read_f32(g).unwrap();
    assert!(logits.iter().any(|l| l.abs() > 1.0), "logits, not images");
    let want: Vec<f32> = logits.iter().map(|l| (0.5 * l).tanh()).collect();
    assert_eq!(images, want);
    // And through the command line.
    let (code, _, stderr) = common::shadergan(&["sample", "--checkpoint", a.to_str().unwrap(), "--n", "16", "--out", a.join("drawn.png").to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
}

/// --arch mlp: the MLP GAN's networks as encoder (Linear-LeakyReLU, no dropout, + Linear to
/// the code) and decoder (its generator, ending in Tanh then Unflatten; without the Tanh for
/// --recon bce). It learns, resumes exactly, and `sample` draws from its decoder.
#[test]
fn the_fully_connected_autoencoders_learn_resume_and_draw() {
    let mlp = |out: &Path, steps, recon| AutoencoderConfig { model: AutoencoderModel { arch: Arch::Mlp, recon, ..tiny(out, true, 1).model }, lr: 1e-3, ..tiny(out, true, steps) };
    let spec = mlp(&tmp("mlp-spec"), 1, Recon::Bce).model.decoder().unwrap();
    assert!(!spec.layers.contains(&shadergan::nn::Layer::Tanh) && matches!(spec.layers.last(), Some(shadergan::nn::Layer::Unflatten(_))), "{spec:?}");
    let enc = mlp(&tmp("mlp-spec"), 1, Recon::Mse).model.encoder().unwrap();
    assert!(!enc.layers.iter().any(|l| matches!(l, shadergan::nn::Layer::Dropout(_))), "{enc:?}");
    let a = tmp("mlp");
    // Masking works on the flattened input too.
    train(AutoencoderConfig { mask_ratio: 0.25, ..mlp(&tmp("mlp-masked"), 2, Recon::Mse) }, false);
    let records = train(mlp(&a, 60, Recon::Mse), false);
    let (first, last) = (records[0].recon, records.last().unwrap().heldout_recon.expect("scored at the end"));
    assert!(last < 0.7 * first, "reconstruction {first} → held out {last}");
    let (b, c) = (tmp("mlp-straight"), tmp("mlp-resumed"));
    train(mlp(&b, 25, Recon::Mse), false);
    train(mlp(&c, 15, Recon::Mse), false);
    train(AutoencoderConfig { steps: 25, ..mlp(&c, 15, Recon::Mse) }, true);
    assert_eq!(tensors(&b.join("checkpoint.safetensors")), tensors(&c.join("checkpoint.safetensors")), "25 steps differ from 15 + resume + 10");
    let raw = a.join("raw.safetensors");
    let (code, _, stderr) = common::shadergan(&["sample", "--checkpoint", a.to_str().unwrap(), "--n", "8", "--out", a.join("drawn.png").to_str().unwrap(), "--raw-out", raw.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(TensorFile::load(&raw).unwrap().tensors["images"].shape, vec![8, 3, 16, 16]);
}

#[test]
fn settings_that_do_not_fit_are_refused_naming_the_flag() {
    let out = tmp("bad");
    for (cfg, needles) in [
        (AutoencoderConfig { beta: -1.0, ..tiny(&out, true, 5) }, vec!["--beta", "≥ 0"]),
        (AutoencoderConfig { beta: 4.0, ..tiny(&out, false, 5) }, vec!["--beta", "--model vae"]),
        (AutoencoderConfig { kl_warmup: 10, ..tiny(&out, false, 5) }, vec!["--kl-warmup", "--model vae"]),
        (AutoencoderConfig { denoise: -0.1, ..tiny(&out, false, 5) }, vec!["--denoise", "[0, 2]"]),
        (AutoencoderConfig { mask_ratio: 1.0, ..tiny(&out, false, 5) }, vec!["--mask-ratio", "[0, 1)"]),
        (AutoencoderConfig { mask_ratio: 0.5, patch: 5, ..tiny(&out, false, 5) }, vec!["--patch", "divide the image size 16", "1, 2, 4, 8"]),
        (AutoencoderConfig { model: AutoencoderModel { image_size: 20, ..tiny(&out, true, 5).model }, ..tiny(&out, true, 5) }, vec!["--image-size"]),
    ] {
        let e = cfg.validate().expect_err("refused").to_string();
        assert!(!e.contains('\n'), "{e}");
        for n in needles {
            assert!(e.contains(n), "{e:?} lacks {n:?}");
        }
    }
}

/// `train --model vae` end to end: a fresh run, `--resume` to more steps, and one-line errors
/// for flags that are not the autoencoders' or do not fit.
#[test]
fn the_command_line_trains_resumes_and_refuses_what_does_not_fit() {
    let out = tmp("cli");
    let o = out.to_str().unwrap();
    let flags = ["--dataset", "synthetic", "--synthetic-images", "128", "--image-size", "16", "--nz", "4", "--ngf", "4", "--ndf", "4", "--batch-size", "8", "--log-every", "2", "--sample-every", "4"];
    let (code, _, stderr) = common::shadergan(&[&["train", "--model", "vae", "--steps", "4", "--kl-warmup", "10", "--save-initial", "--out", o][..], &flags].concat());
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("model: vae") && stderr.contains("warmed up over 10 steps") && stderr.contains("negative ELBO"), "{stderr}");
    let init = TensorFile::load(&out.join("initial.safetensors")).unwrap();
    assert!(["images", "input", "eps", "encoder.main.0.weight", "decoder.main.0.weight"].iter().all(|k| init.tensors.contains_key(*k)), "{:?}", init.tensors.keys());
    let (code, _, stderr) = common::shadergan(&["train", "--resume", o, "--steps", "6"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("resuming") && stderr.contains("at step 4"), "{stderr}");
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 3, "{metrics}");
    assert!(metrics.lines().last().unwrap().contains("\"step\":6"), "{metrics}");

    // The VAE's decoder draws like a generator (sample, and so eval); an AE's has no prior.
    let grid = out.join("drawn.png");
    let (code, _, stderr) = common::shadergan(&["sample", "--checkpoint", o, "--n", "8", "--out", grid.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(grid.is_file());
    // sample --encode: images (here the VAE's own samples, one PNG each) → μ, log σ² and z = μ,
    // which --latents decodes; an image's code does not depend on the others encoded with it.
    let pngs = out.join("pngs");
    let (code, _, stderr) = common::shadergan(&["sample", "--checkpoint", o, "--n", "5", "--single", "--out", pngs.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let codes = out.join("codes.safetensors");
    let (code, _, stderr) = common::shadergan(&["sample", "--checkpoint", o, "--encode", pngs.to_str().unwrap(), "--out", codes.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("encoded 5 image(s)"), "{stderr}");
    let file = TensorFile::load(&codes).unwrap();
    for name in ["mu", "logvar", "z"] {
        assert_eq!(file.tensors[name].shape, vec![5, 4], "{name}");
    }
    let mu = file.tensors["mu"].f32().unwrap().to_vec();
    assert!(mu.iter().all(|v| v.is_finite()) && mu.iter().any(|v| *v != 0.0), "{mu:?}");
    assert_eq!(file.tensors["z"].f32().unwrap(), &mu[..]);
    let files: Vec<String> = serde_json::from_str(&file.metadata["files"]).unwrap();
    assert_eq!(files.len(), 5);
    let one = out.join("one.safetensors");
    let (code, _, stderr) = common::shadergan(&["sample", "--checkpoint", o, "--encode", &files[2], "--out", one.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(TensorFile::load(&one).unwrap().tensors["mu"].f32().unwrap(), &mu[8..12], "image 2 alone and among 5");
    let (code, _, stderr) = common::shadergan(&["sample", "--checkpoint", o, "--latents", codes.to_str().unwrap(), "--out", grid.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");

    // eval scores the VAE's samples in the feature space of its own encoder (μ, 4 features).
    let report = out.join("eval-encoder");
    let (code, stdout, stderr) = common::shadergan(&["eval", "--checkpoint", o, "--extractor", &format!("encoder:{o}"), "--dataset", "synthetic", "--n", "64", "--trials", "2", "--out", report.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("encoder:") && stdout.contains("coverage (k=5)"), "{stdout}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(report.join("eval.json")).unwrap()).unwrap();
    assert!(json["extractor"].as_str().unwrap().starts_with("encoder:") && json["frechet_distance"].as_f64().is_some_and(f64::is_finite), "{json}");
    let sha = {
        use sha2::Digest;
        sha2::Sha256::digest(std::fs::read(out.join("encoder.safetensors")).unwrap()).iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    assert_eq!(json["extractor_sha256"].as_str(), Some(sha.as_str()));

    let ae = tmp("cli-ae");
    let (code, _, stderr) = common::shadergan(&[&["train", "--model", "ae", "--steps", "2", "--out", ae.to_str().unwrap()][..], &flags].concat());
    assert_eq!(code, 0, "{stderr}");
    for (what, path) in [("plain autoencoder", ae.clone()), ("encoder", out.join("encoder.safetensors"))] {
        let (code, _, stderr) = common::shadergan(&["sample", "--checkpoint", path.to_str().unwrap(), "--out", grid.to_str().unwrap()]);
        assert_eq!(code, 1, "{what}: {stderr}");
        assert!(stderr.lines().filter(|l| l.starts_with("error: ")).count() == 1 && stderr.contains(what), "{what}: {stderr}");
    }
    // --encode needs an encoder: not a GAN run, not a decoder; and it draws nothing.
    let gan = tmp("cli-gan");
    let (code, _, stderr) = common::shadergan(&[&["train", "--model", "dcgan", "--steps", "1", "--out", gan.to_str().unwrap()][..], &flags].concat());
    assert_eq!(code, 0, "{stderr}");
    for (checkpoint, extra, needles) in [
        (gan.clone(), vec![], vec!["GAN run", "no encoder"]),
        (out.join("decoder.safetensors"), vec![], vec!["decoder", "encoder.safetensors"]),
        (out.clone(), vec!["--n", "3"], vec!["--n", "--encode"]),
        (out.clone(), vec!["--out", "codes.png"], vec!["--out", ".safetensors"]),
        // An explicit --out samples.png is taken at its word (not as the drawing default).
        (out.clone(), vec!["--out", "samples.png"], vec!["--out samples.png", ".safetensors"]),
    ] {
        let args = [&["sample", "--checkpoint", checkpoint.to_str().unwrap(), "--encode", pngs.to_str().unwrap()][..], &extra].concat();
        common::assert_one_error(&args, &[], &needles);
    }

    // bench times a VAE step beside a DCGAN step of the same widths, with the memory each holds.
    let small = ["--op", "train-step", "--image-size", "16", "--channels", "1", "--width", "4", "--nz", "8", "--batch", "4", "--reps", "2", "--warmup", "1"];
    for model in ["vae", "dcgan"] {
        let (code, stdout, stderr) = common::shadergan(&[&["bench", "--model", model][..], &small].concat());
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains(&model.to_uppercase()) && stdout.contains("ms/step") && stdout.contains("MB of GPU buffers") && stdout.contains("0 buffers created"), "{stdout}");
    }

    let bad = tmp("cli-bad");
    let b = bad.to_str().unwrap();
    for (args, needles) in [
        (vec!["train", "--model", "vae", "--beta", "-1", "--out", b], vec!["--beta", "≥ 0"]),
        (vec!["train", "--model", "ae", "--beta", "2", "--out", b], vec!["--beta", "--model vae"]),
        (vec!["train", "--model", "vae", "--gp", "10", "--out", b], vec!["--gp", "not an autoencoder setting"]),
        (vec!["train", "--model", "dcgan", "--kl-warmup", "100", "--out", b], vec!["--kl-warmup", "--model vae"]),
        (vec!["train", "--model", "dcgan", "--denoise", "0.3", "--out", b], vec!["--denoise", "--model ae or vae"]),
        (vec!["train", "--model", "dcgan", "--mask-ratio", "0.3", "--out", b], vec!["--mask-ratio", "--model ae or vae"]),
        (vec!["train", "--model", "ae", "--mask-ratio", "1.0", "--out", b], vec!["--mask-ratio", "[0, 1)"]),
        (vec!["train", "--model", "ae", "--patch", "8", "--out", b], vec!["--patch", "add --mask-ratio"]),
        (vec!["train", "--model", "dcgan", "--recon", "bce", "--out", b], vec!["--recon", "--model ae or vae"]),
        (vec!["train", "--model", "mlp", "--arch", "mlp", "--out", b], vec!["--arch", "--model ae or vae"]),
        (vec!["train", "--model", "vae", "--image-size", "20", "--out", b], vec!["--image-size"]),
    ] {
        common::assert_one_error(&args, &[], &needles);
    }
}

/// `--save-initial` for autoencoders: initial.safetensors holds the initial weights and the
/// first step's inputs (clean images, noisy encoder input, ε), from which the f64 reference
/// network reproduces that step's logged reconstruction loss and KL (what
/// scripts/pytorch_parity.py --iteration does in PyTorch); and writing it does not move the
/// run: 3 steps with it give the same checkpoint as 3 steps without.
#[test]
fn initial_safetensors_holds_the_first_iteration_and_leaves_the_run_unchanged() {
    use shadergan::reference::{net, vae, Tensor};
    use shadergan::train::checkpoint::Values;
    let (a, b) = (tmp("initial"), tmp("initial-without"));
    let cfg = |out: &Path, steps| AutoencoderConfig { denoise: 0.2, log_every: 1, ..tiny(out, true, steps) };
    let mut t = trainer(cfg(&a, 3));
    t.initialize().unwrap();
    t.prepare_run_dir().unwrap();
    t.save_initial(&a.join("initial.safetensors")).unwrap();
    let mut records = Vec::new();
    t.run(|e| {
        if let AutoencoderEvent::Logged(r) = e {
            records.push(r.clone());
        }
    })
    .unwrap();
    train(cfg(&b, 3), false);
    assert_eq!(tensors(&a.join("checkpoint.safetensors")), tensors(&b.join("checkpoint.safetensors")), "writing initial.safetensors changed the run");

    let init = TensorFile::load(&a.join("initial.safetensors")).unwrap();
    let f64s = |key: &str| match &init.tensors[key].values {
        Values::F32(v) => v.iter().map(|&x| x as f64).collect::<Vec<f64>>(),
        Values::I64(v) => v.iter().map(|&x| x as f64).collect(),
        Values::U32(v) => v.iter().map(|&x| x as f64).collect(),
    };
    let params = |prefix: &str| -> net::Params { init.tensors.keys().filter_map(|k| k.strip_prefix(prefix).map(|name| (name.to_string(), f64s(k)))).collect() };
    let m = &t.cfg.model;
    let (bsz, nz) = (t.cfg.batch_size, m.nz);
    let images = f64s("images");
    let (input, eps) = (f64s("input"), f64s("eps"));
    assert_eq!(init.tensors["images"].shape, vec![bsz, m.channels, m.image_size, m.image_size]);
    assert_eq!((input.len(), eps.len()), (images.len(), bsz * nz));
    // The encoder's input is the clean images plus N(0, 0.2²) noise.
    let noise: Vec<f64> = input.iter().zip(&images).map(|(x, c)| x - c).collect();
    let sd = (noise.iter().map(|v| v * v).sum::<f64>() / noise.len() as f64).sqrt();
    assert!((sd - 0.2).abs() < 0.02, "noise standard deviation {sd}, not --denoise 0.2");
    assert!(images.iter().all(|v| (-1.0..=1.0).contains(v)) && images.iter().any(|&v| v != images[0]));

    let enc_acts = net::forward(&m.encoder().unwrap(), &params("encoder."), &Tensor::new(&init.tensors["input"].shape, input), &[], &Default::default());
    let stats = &enc_acts.last().unwrap().data;
    let z = vae::reparameterize(stats, &eps, nz);
    let kl = vae::kl(stats, bsz, nz);
    let dec_acts = net::forward(&m.decoder().unwrap(), &params("decoder."), &Tensor::new(&[bsz, nz, 1, 1], z), &[], &Default::default());
    let out = &dec_acts.last().unwrap().data;
    let recon = 0.5 * out.iter().zip(&images).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / bsz as f64;
    let first = &records[0];
    assert_eq!(first.step, 1);
    let rel = |gpu: f32, reference: f64| (gpu as f64 - reference).abs() / reference.abs();
    assert!(rel(first.recon, recon) < 1e-5, "step 1 reconstruction: GPU {} vs reference on initial.safetensors {recon}", first.recon);
    assert!(rel(first.kl.unwrap(), kl) < 1e-5, "step 1 KL: GPU {:?} vs reference {kl}", first.kl);
}
