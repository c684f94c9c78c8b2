//! Nothing lost, nothing silent: what a bad-input and fault campaign found in `train` and
//! `sample`, one test per defect. Each of these failed before its fix.

mod common;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::shadergan as run;
use shadergan::data::{self, DatasetKind};
use shadergan::gpu::{AdapterChoice, Gpu};
use shadergan::model::{DNorm, ModelConfig, ModelKind};
use shadergan::train::checkpoint::{TensorFile, Values};
use shadergan::train::{AugmentConfig, GanLoss, TrainConfig, Trainer};

fn gpu() -> Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| Gpu::new(&AdapterChoice::default()).unwrap_or_else(|e| panic!("{e}"))).clone()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("shadergan-robust-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The tiny training command of the CLI tests, into `out`, plus `extra`.
fn tiny(out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = ["train", "--image-size", "16", "--ngf", "4", "--ndf", "4", "--nz", "8", "--batch-size", "4", "--synthetic-images", "16", "--steps", "2", "--log-every", "1", "--out"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.push(s(out).to_string());
    a.extend(extra.iter().map(|s| s.to_string()));
    // The built-in shapes train conditional by default; these runs test the plain GAN.
    if !extra.contains(&"--conditional") {
        a.extend(["--conditional".to_string(), "none".to_string()]);
    }
    a
}

fn run_owned(a: &[String]) -> (i32, String, String) {
    run(&a.iter().map(String::as_str).collect::<Vec<_>>())
}

fn train_ok(out: &Path, extra: &[&str]) -> String {
    let (code, _, stderr) = run_owned(&tiny(out, extra));
    assert_eq!(code, 0, "{stderr}");
    stderr
}

/// Status 1 and exactly one `error: ` line containing every needle; returns that line.
fn expect_error(args: &[String], needles: &[&str]) -> String {
    let (code, _, stderr) = run_owned(args);
    assert_eq!(code, 1, "{args:?}: status {code}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{args:?}: expected one error line:\n{stderr}");
    for n in needles {
        assert!(errors[0].contains(n), "{args:?}: {:?} lacks {n:?}", errors[0]);
    }
    errors[0].to_string()
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn set_tensor(path: &Path, key: &str, index: usize, value: f32) {
    let mut f = TensorFile::load(path).unwrap();
    match &mut f.tensors.get_mut(key).unwrap_or_else(|| panic!("{key} in {}", path.display())).values {
        Values::F32(v) => v[index] = value,
        other => panic!("{key} is {other:?}"),
    }
    f.save(path).unwrap();
}

// ---------------------------------------------------------------- 1. the guard checks the state

/// A DCGAN of a few milliseconds per step (as tests/train.rs).
fn tiny_cfg(out: &Path) -> TrainConfig {
    TrainConfig {
        model: ModelConfig { model: ModelKind::Dcgan, image_size: 16, channels: 3, nz: 16, ngf: 8, ndf: 8, dropout: 0.3, conditional: None, spectral_norm: false, d_norm: DNorm::BatchNorm, minibatch_std: None },
        dataset: DatasetKind::Synthetic,
        data: None,
        max_images: None,
        synthetic_images: 48,
        batch_size: 8,
        steps: 2,
        d_steps: 1,
        loss: GanLoss::Ns,
        optimizer: shadergan::train::Optimizer::Adam,
        clip: None,
        g_ema: None,
        g_ema_rampup: None,
        gp: None,
        r1: None,
        r1_every: None,
        mismatch_weight: None,
        holdout: None,
        lr_schedule: None,
        lr_d: 2e-4,
        lr_g: 2e-4,
        beta1: 0.5,
        beta2: 0.999,
        seed: 7,
        augment: AugmentConfig::none(),
        log_every: 1,
        sample_every: 2,
        checkpoint_every: 2,
        out: out.to_path_buf(),
        eval_every: None,
        eval_n: 0,
        eval_classifier: None,
    }
}

#[test]
fn non_finite_running_statistics_stop_training_although_the_losses_are_finite() {
    use shadergan::gpu::shaders::BATCHNORM;
    let out = tmp("guard-state");
    let cfg = tiny_cfg(&out);
    let ds = data::load(cfg.dataset, None, 16, 3, None, cfg.synthetic_images, false).unwrap();
    let mut t = Trainer::new(gpu(), cfg.clone(), &ds).unwrap();
    t.initialize().unwrap();
    t.prepare_run_dir().unwrap();
    t.run(|_| {}).unwrap();
    let ckpt = out.join("checkpoint.safetensors");
    let good = std::fs::read(&ckpt).unwrap();
    // A BatchNorm whose running variance overflows to +inf: training-mode forwards use the batch
    // statistics, so every loss stays finite while the state to be saved is not.
    let find = "running_var[c] = (1.0 - p.momentum) * running_var[c] + p.momentum * var_biased * n / (n - 1.0);";
    assert_eq!(BATCHNORM.source.matches(find).count(), 1);
    let broken = gpu().with_shader_source(&BATCHNORM, BATCHNORM.source.replacen(find, "running_var[c] = bitcast<f32>(0x7f800000u);", 1));
    let mut t = Trainer::new(broken, TrainConfig { steps: 4, ..cfg }, &ds).unwrap();
    t.restore(&ckpt).unwrap();
    t.prepare_run_dir().unwrap();
    let mut losses_finite = true;
    let err = t
        .run(|e| {
            if let shadergan::train::Event::Logged(r) = e {
                losses_finite &= r.finite();
            }
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("diverged at step 3"), "{err}");
    assert!(err.contains("running_var") && err.contains("not finite"), "names the tensor: {err}");
    assert!(err.contains("last good checkpoint (step 2)"), "{err}");
    assert!(losses_finite);
    assert_eq!(std::fs::read(&ckpt).unwrap(), good, "the last good checkpoint was overwritten");
}

#[test]
fn a_model_with_non_finite_values_is_refused_when_loaded() {
    let r = tmp("guard-load");
    train_ok(&r, &[]);
    let g = r.join("generator.safetensors");
    set_tensor(&g, "main.1.running_var", 2, f32::INFINITY);
    let out = r.join("x.png");
    expect_error(&args(&["sample", "--checkpoint", s(&g), "--out", s(&out)]), &["generator.safetensors", "main.1.running_var", "non-finite", "index 2"]);
    assert!(!out.exists());
    let second = tmp("guard-load-2");
    expect_error(&tiny(&second, &["--load-generator", s(&g)]), &["main.1.running_var", "non-finite"]);
    // The full checkpoint, optimizer state included, is checked on --resume.
    set_tensor(&r.join("checkpoint.safetensors"), "optD.exp_avg_sq.main.0.weight", 0, f32::NAN);
    expect_error(&args(&["train", "--resume", s(&r), "--steps", "3"]), &["optD.exp_avg_sq.main.0.weight", "non-finite"]);
}

// ------------------------------------------------------------- 2. never overwrite what is not ours

#[test]
fn train_writes_only_into_a_new_or_empty_directory_or_its_own_run() {
    let foreign = tmp("own-foreign");
    std::fs::write(foreign.join("thesis.tex"), b"years of work").unwrap();
    expect_error(&tiny(&foreign, &[]), &["--out", "not a shadergan run", "thesis.tex", "--overwrite"]);
    // A run that stopped before its first checkpoint: its config.json, no checkpoint.
    let incomplete = tmp("own-incomplete");
    train_ok(&incomplete, &[]);
    std::fs::remove_file(incomplete.join("checkpoint.safetensors")).unwrap();
    let g_before = std::fs::read(incomplete.join("generator.safetensors")).unwrap();
    expect_error(&tiny(&incomplete, &[]), &["--out", "before its first checkpoint", "--overwrite"]);
    assert_eq!(std::fs::read(incomplete.join("generator.safetensors")).unwrap(), g_before, "the refused run touched the old model");
    // --resume of that directory says what to do instead.
    expect_error(&args(&["train", "--resume", s(&incomplete), "--steps", "3"]), &["no checkpoint", "--overwrite"]);

    // --overwrite: one run afterwards, old run files gone, other files kept.
    let dir = tmp("own-overwrite");
    train_ok(&dir, &["--save-initial", "--sample-every", "1"]);
    std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
    assert!(dir.join("samples/step_000001.png").exists() && dir.join("initial.safetensors").exists());
    let (code, _, stderr) = run_owned(&tiny(&dir, &["--overwrite"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(!dir.join("initial.safetensors").exists(), "the old run's initial.safetensors was left");
    // This run samples only at its last step.
    let samples: Vec<String> = std::fs::read_dir(dir.join("samples")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(samples, vec!["step_000002.png".to_string()], "old samples left beside the new run's");
    assert_eq!(std::fs::read(dir.join("notes.txt")).unwrap(), b"mine");
    // A mistyped flag with --overwrite keeps the old run.
    let g = std::fs::read(dir.join("generator.safetensors")).unwrap();
    expect_error(&tiny(&dir, &["--overwrite", "--augment", "rotate"]), &["--augment"]);
    assert_eq!(std::fs::read(dir.join("generator.safetensors")).unwrap(), g);
}

#[test]
fn sample_writes_only_pngs_and_never_replaces_another_file() {
    let r = tmp("sample-own");
    train_ok(&r, &[]);
    let g = r.join("generator.safetensors");
    let model = std::fs::read(&g).unwrap();
    // Not a PNG path, least of all the model itself.
    expect_error(&args(&["sample", "--checkpoint", s(&r), "--out", s(&g)]), &["--out", ".png"]);
    expect_error(&args(&["sample", "--checkpoint", s(&r), "--out", s(&r.join("grid.jpg"))]), &["--out", ".png"]);
    // An existing file with a .png name that is not a PNG.
    let fake = r.join("notes.png");
    std::fs::write(&fake, b"not an image").unwrap();
    expect_error(&args(&["sample", "--checkpoint", s(&r), "--out", s(&fake)]), &["notes.png", "not a PNG"]);
    assert_eq!(std::fs::read(&fake).unwrap(), b"not an image");
    // --single into a file; --raw-out onto a model.
    expect_error(&args(&["sample", "--checkpoint", s(&r), "--single", "--out", s(&fake)]), &["--single", "directory"]);
    let ok_png = r.join("ok.png");
    expect_error(&args(&["sample", "--checkpoint", s(&r), "--out", s(&ok_png), "--raw-out", s(&g)]), &["--raw-out", "not written by `sample --raw-out`"]);
    assert_eq!(std::fs::read(&g).unwrap(), model, "the model was replaced");
    assert!(!ok_png.exists(), "the refused command wrote its grid anyway");
    // Replacing its own outputs is fine.
    for _ in 0..2 {
        let (code, _, e) = run(&["sample", "--checkpoint", s(&r), "--n", "4", "--out", s(&ok_png), "--raw-out", s(&r.join("raw.safetensors"))]);
        assert_eq!(code, 0, "{e}");
    }
}

// ------------------------------------------------------------- 3. no panics, no aborts, no hangs

#[test]
fn an_idx_header_whose_size_overflows_is_a_clear_error() {
    let d = tmp("idx-overflow");
    // 2^31 images of 2^31 × 4 pixels: the product wraps to 0 in 64 bits, matching a
    // 16-byte file, and the loader then reserved 2^31 · 1024 bytes.
    let mut v = vec![0, 0, 8, 3];
    for x in [1u32 << 31, 1 << 31, 4] {
        v.extend(x.to_be_bytes());
    }
    std::fs::write(d.join("train-images-idx3-ubyte"), &v).unwrap();
    expect_error(&tiny(&d.join("run"), &["--dataset", "mnist", "--data", s(&d)]), &["train-images-idx3-ubyte", "corrupt header"]);
}

#[test]
fn running_out_of_gpu_memory_is_an_error_naming_the_flag() {
    // SHADERGAN_MEMORY_LIMIT takes the place of a full device (which cannot be made on
    // demand): the same error, from the same place, for a device that has no room.
    let out = tmp("oom");
    let a = tiny(&out, &[]);
    let o = Command::new(env!("CARGO_BIN_EXE_shadergan"))
        .args(&a)
        .env("SHADERGAN_MEMORY_LIMIT", "64K")
        .env_remove("SHADERGAN_ADAPTER")
        .env_remove("SHADERGAN_BACKEND")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let line = stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("no error line:\n{stderr}"));
    assert!(line.contains("out of GPU memory") && line.contains("MiB") && line.contains("--batch-size"), "{line}");
    assert!(!stderr.contains("panicked") && !stderr.contains("bug in shadergan"), "{stderr}");
    // A limit that is not a size is its own error.
    let o = Command::new(env!("CARGO_BIN_EXE_shadergan")).args(["check", "--op", "finite"]).env("SHADERGAN_MEMORY_LIMIT", "lots").output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: SHADERGAN_MEMORY_LIMIT: 'lots' is not a byte count"), "{stderr}");
}

#[test]
fn running_out_of_memory_in_the_library_is_a_typed_error() {
    let g = gpu().with_memory_limit(1 << 20);
    let err = shadergan::GpuTensor::zeros(&g, &[1 << 19], shadergan::gpu::DType::F32, "activations").unwrap_err();
    assert!(matches!(err, shadergan::Error::OutOfMemory { .. }), "{err}");
    assert!(err.to_string().contains("activations needs 2.0 MiB"), "{err}");
}

fn write_images(dir: &Path, n: u8) {
    for i in 0..n {
        image::RgbImage::from_fn(20, 20, |x, y| image::Rgb([x as u8 * 10, y as u8 * 9, i * 40])).save(dir.join(format!("{i}.png"))).unwrap();
    }
}

#[test]
fn the_folder_walk_survives_link_loops_and_skips_what_is_not_a_file() {
    let d = tmp("walk");
    write_images(&d, 4);
    std::os::unix::fs::symlink(".", d.join("loop")).unwrap();
    std::fs::create_dir(d.join("sub")).unwrap();
    std::os::unix::fs::symlink("..", d.join("sub/back")).unwrap();
    // A FIFO named like an image: reading it would block forever.
    assert!(Command::new("mkfifo").arg(d.join("pipe.png")).status().unwrap().success());
    let (code, _, stderr) = run_owned(&tiny(&d.join("run"), &["--dataset", "folder", "--data", s(&d)]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("(4 images)"), "each image once: {stderr}");
    assert!(stderr.contains("warning: ") && stderr.contains("pipe.png") && stderr.contains("not a regular file"), "{stderr}");
}

// ------------------------------------------------ 4. limits are flags' errors; big requests chunk

#[test]
fn a_batch_that_cannot_fit_the_adapter_names_the_largest_that_does() {
    let out = tmp("big-batch");
    let a = args(&["train", "--out", s(&out), "--image-size", "64", "--ngf", "64", "--ndf", "64", "--batch-size", "4096", "--synthetic-images", "4096", "--steps", "1"]);
    let line = expect_error(&a, &["--batch-size", "4096", "does not fit", "or less"]);
    let largest: usize = line.split("use --batch-size ").nth(1).and_then(|t| t.split_whitespace().next()).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{line}"));
    assert!((2..4096).contains(&largest), "{line}");
}

#[test]
fn sampling_more_than_one_pass_can_hold_runs_in_chunks_with_the_same_images() {
    use shadergan::nn::Mode;
    use shadergan::sample::{self, Generator};
    let r = tmp("chunks");
    train_ok(&r, &[]);
    let whole = Generator::load(&gpu(), &r).unwrap();
    let n = 37;
    let z = sample::latents(&gpu(), 3, n, whole.model.nz).unwrap();
    let want = whole.generate(&gpu(), &z, &[], n, Mode::Eval).unwrap();
    // The same device allowing a tenth of that batch per binding: five chunks.
    let per_sample = whole.spec.largest_activation_per_sample().unwrap() as u64 * 4;
    let small = gpu().with_limits(|l| l.max_storage_buffer_binding_size = per_sample * 8);
    let chunked = Generator::load(&small, &r).unwrap();
    assert_eq!(chunked.max_chunk(&small).unwrap(), 8);
    let got = chunked.generate(&small, &z, &[], n, Mode::Eval).unwrap();
    assert_eq!(got.len(), want.len());
    assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "chunked samples differ from one pass");
    // The CLI: a grid too large to be useful is refused with what to do instead.
    expect_error(&args(&["sample", "--checkpoint", s(&r), "--n", "100000", "--out", s(&r.join("huge.png"))]), &["--n 100000", "--single"]);
}

// ------------------------------------------------------------------ 5. same seed, same bytes

#[test]
fn two_identical_runs_write_byte_identical_files() {
    let dir = tmp("bytes");
    let saved = tmp("bytes-first");
    train_ok(&dir, &[]);
    let files = ["checkpoint.safetensors", "generator.safetensors", "discriminator.safetensors"];
    for f in files {
        std::fs::copy(dir.join(f), saved.join(f)).unwrap();
    }
    train_ok(&dir, &["--overwrite"]);
    for f in files {
        let status = Command::new("cmp").arg(saved.join(f)).arg(dir.join(f)).status().expect("cmp (diffutils)");
        assert!(status.success(), "{f} differs between two runs of the same seed");
    }
}

// ------------------------------------------------------------ 6. advice that can be followed

#[test]
fn every_suggested_fix_is_a_command_that_works() {
    // One image: no batch size can train on it, so none is suggested.
    let one = tmp("advice-one");
    write_images(&one, 1);
    let line = expect_error(&tiny(&one.join("run"), &["--dataset", "folder", "--data", s(&one)]), &["at least 2"]);
    assert!(!line.contains("--batch-size 1"), "{line}");

    // --resume of a run whose dataset moved: --data says where it is now.
    let data_dir = tmp("advice-data");
    write_images(&data_dir, 6);
    let run_dir = tmp("advice-run");
    train_ok(&run_dir, &["--dataset", "folder", "--data", s(&data_dir), "--overwrite"]);
    let moved = data_dir.with_extension("moved");
    let _ = std::fs::remove_dir_all(&moved);
    std::fs::rename(&data_dir, &moved).unwrap();
    expect_error(&args(&["train", "--resume", s(&run_dir), "--steps", "3"]), &["--resume", "--data"]);
    let (code, _, stderr) = run(&["train", "--resume", s(&run_dir), "--steps", "3", "--data", s(&moved)]);
    assert_eq!(code, 0, "the advice did not work: {stderr}");
    // …and it must be the same dataset.
    let other = tmp("advice-other");
    write_images(&other, 5);
    expect_error(&args(&["train", "--resume", s(&run_dir), "--steps", "4", "--data", s(&other)]), &["--data", "5 images", "trained on 6"]);
    // "already at step N" suggests a --steps that works.
    let line = expect_error(&args(&["train", "--resume", s(&run_dir), "--data", s(&moved)]), &["already at step 3", "--steps 6"]);
    assert!(line.contains("--steps 6"), "{line}");

    // sample has no --image-size or width flags to suggest.
    let r = tmp("advice-sample");
    train_ok(&r, &[]);
    let g = r.join("generator.safetensors");
    let mut f = TensorFile::load(&g).unwrap();
    let model = f.metadata["model"].replace("\"ngf\":4", "\"ngf\":8");
    assert_ne!(model, f.metadata["model"]);
    f.metadata.insert("model".into(), model);
    let bad = r.join("mismatch.safetensors");
    f.save(&bad).unwrap();
    let line = expect_error(&args(&["sample", "--checkpoint", s(&bad)]), &["mismatch.safetensors"]);
    assert!(!line.contains("--image-size") && !line.contains("--ngf"), "sample has no such flags: {line}");
    // A discriminator where a generator is expected says so, with or without metadata.
    let d = r.join("discriminator.safetensors");
    expect_error(&args(&["sample", "--checkpoint", s(&d)]), &["discriminator", "generator"]);
    let mut stripped = TensorFile::load(&d).unwrap();
    stripped.metadata.clear();
    let netd = r.join("netD.safetensors");
    stripped.save(&netd).unwrap();
    expect_error(&args(&["sample", "--checkpoint", s(&netd)]), &["is a discriminator"]);
    expect_error(&tiny(&tmp("advice-load"), &["--load-generator", s(&d)]), &["is a discriminator", "--load-generator"]);
}

// -------------------------------------------------------------------- 7. nothing accepted silently

#[test]
fn truncated_images_are_skipped_with_a_warning_or_refused_with_strict() {
    let d = tmp("truncated");
    write_images(&d, 5);
    let png = std::fs::read(d.join("0.png")).unwrap();
    std::fs::write(d.join("0.png"), &png[..png.len() - 30]).unwrap();
    let mut jpeg = Vec::new();
    image::RgbImage::from_fn(24, 24, |x, y| image::Rgb([x as u8 * 9, y as u8 * 9, 100]))
        .write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
        .unwrap();
    std::fs::write(d.join("cut.jpg"), &jpeg[..jpeg.len() * 2 / 3]).unwrap();
    let (code, _, stderr) = run_owned(&tiny(&d.join("run"), &["--dataset", "folder", "--data", s(&d)]));
    assert_eq!(code, 0, "{stderr}");
    for name in ["0.png", "cut.jpg"] {
        assert!(stderr.lines().any(|l| l.starts_with("warning: ") && l.contains(name) && l.contains("truncated")), "{name}: {stderr}");
    }
    assert!(stderr.contains("(4 images)"), "{stderr}");
    expect_error(&tiny(&d.join("run2"), &["--dataset", "folder", "--data", s(&d), "--strict"]), &["truncated", "--strict"]);
}

#[test]
fn a_cifar_directory_with_a_batch_missing_says_which() {
    let d = tmp("cifar-missing");
    let record = |label: u8| [vec![label], vec![label * 20; 3072]].concat();
    for i in [1, 3] {
        std::fs::write(d.join(format!("data_batch_{i}.bin")), (0..4).flat_map(|k| record(k as u8)).collect::<Vec<u8>>()).unwrap();
    }
    let (code, _, stderr) = run_owned(&tiny(&d.join("run"), &["--dataset", "cifar10", "--data", s(&d)]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.lines().any(|l| l.starts_with("warning: ") && l.contains("data_batch_2.bin, data_batch_4.bin, data_batch_5.bin missing")), "{stderr}");
    expect_error(&tiny(&d.join("run2"), &["--dataset", "cifar10", "--data", s(&d), "--strict"]), &["data_batch_2.bin", "missing"]);
}

#[test]
fn temporary_files_of_a_killed_write_are_removed_by_the_next_run() {
    let r = tmp("leftovers");
    train_ok(&r, &[]);
    // Names atomic_write uses, from a process id that no longer runs (above Linux's pid_max).
    let stale = [r.join(".checkpoint.safetensors.4194999.tmp"), r.join("samples/.step_000002.png.4194999.tmp"), r.join(".write-test.4194999")];
    for p in &stale {
        std::fs::write(p, b"half a file").unwrap();
    }
    let (code, _, stderr) = run(&["train", "--resume", s(&r), "--steps", "3"]);
    assert_eq!(code, 0, "{stderr}");
    for p in &stale {
        assert!(!p.exists(), "{} was left", p.display());
    }
}

#[test]
fn mesa_does_not_print_lines_that_look_like_our_errors_on_a_headless_machine() {
    let o = Command::new(env!("CARGO_BIN_EXE_shadergan")).arg("devices").env_remove("XDG_RUNTIME_DIR").output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(!stderr.contains("XDG_RUNTIME_DIR"), "{stderr}");
}

#[test]
fn ctrl_c_and_sigterm_finish_the_step_write_a_checkpoint_and_resume() {
    use std::io::{BufRead, BufReader};
    for (signal, model) in [("-INT", "dcgan"), ("-TERM", "classifier")] {
        let d = tmp(&format!("signal{signal}"));
        let model_flags: &[&str] = if model == "classifier" {
            &["--model", "classifier", "--ndf", "4", "--features", "8"]
        } else {
            &["--ngf", "4", "--ndf", "4", "--nz", "8", "--sample-every", "100000"]
        };
        let mut a = vec!["train", "--image-size", "16", "--batch-size", "4", "--synthetic-images", "64", "--steps", "100000", "--log-every", "1", "--checkpoint-every", "100000", "--out", s(&d)];
        a.extend_from_slice(model_flags);
        let mut child = Command::new(env!("CARGO_BIN_EXE_shadergan"))
            .args(&a)
            .env("XDG_RUNTIME_DIR", std::env::temp_dir())
            .env_remove("SHADERGAN_ADAPTER")
            .env_remove("SHADERGAN_BACKEND")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until it is training (a logged step), then signal it.
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        let mut line = String::new();
        while stderr.read_line(&mut line).unwrap() > 0 {
            seen.push_str(&line);
            if line.starts_with("step") {
                break;
            }
            line.clear();
        }
        assert!(Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success());
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
        let status = child.wait().unwrap();
        seen.push_str(&rest);
        assert_eq!(status.code(), Some(130), "{signal} {model}: {seen}");
        assert!(seen.contains("stopped at step") && seen.contains("--resume"), "{seen}");
        let f = shadergan::train::checkpoint::TensorFile::load(&d.join("checkpoint.safetensors")).unwrap();
        let step: u64 = f.metadata["step"].parse().unwrap();
        assert!(step >= 1, "{seen}");
        // The run goes on from there.
        let (code, _, e) = run(&["train", "--resume", s(&d), "--steps", &(step + 2).to_string()]);
        assert_eq!(code, 0, "{e}");
        assert!(e.contains(&format!("resuming {} at step {step}", d.display())), "{e}");
    }
}
