//! `shadergan train` and `shadergan sample` from the command line: bad input of every kind
//! gives exit status 1 and one line naming the file or flag; `sample` reproduces grids and
//! writes what its flags promise.

mod common;
use std::path::{Path, PathBuf};

use common::shadergan as run;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("shadergan-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Status 1 and an `error: ` line mentioning every needle; other stderr lines are progress.
/// A `train` without --out or --resume gets a fresh run directory, so that runs left in the
/// checkout's default directories cannot change what the test sees.
fn assert_error(args: &[&str], needles: &[&str]) {
    let key = args.join(" ").bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
    let fresh = tmp(&format!("out-{key:016x}"));
    let fresh = fresh.to_str().unwrap().to_string();
    let mut args = args.to_vec();
    if args.first() == Some(&"train") && !args.contains(&"--out") && !args.contains(&"--resume") {
        args.extend(["--out", fresh.as_str()]);
    }
    let args = &args[..];
    let (code, _, stderr) = run(args);
    assert_eq!(code, 1, "{args:?}: status {code}\n{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{args:?}: expected one error line:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    for n in needles {
        assert!(errors[0].contains(n), "{args:?}: {:?} lacks {n:?}", errors[0]);
    }
}

/// A tiny, fast training run into `out`.
fn tiny_train(out: &Path, extra: &[&str]) -> Vec<String> {
    tiny_train_width(out, "4", extra)
}

fn tiny_train_width(out: &Path, width: &str, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = ["train", "--image-size", "16", "--ngf", width, "--ndf", "4", "--nz", "8", "--batch-size", "4", "--synthetic-images", "16", "--steps", "2", "--log-every", "1", "--out"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.push(out.to_string_lossy().to_string());
    a.extend(extra.iter().map(|s| s.to_string()));
    // The built-in shapes train conditional by default; these runs test the plain GAN.
    if !extra.contains(&"--conditional") {
        a.extend(["--conditional".to_string(), "none".to_string()]);
    }
    a
}

fn train_ok(out: &Path, extra: &[&str]) {
    train_ok_width(out, "4", extra);
}

fn train_ok_width(out: &Path, width: &str, extra: &[&str]) {
    let a = tiny_train_width(out, width, extra);
    let args: Vec<&str> = a.iter().map(String::as_str).collect();
    let (code, _, stderr) = run(&args);
    assert_eq!(code, 0, "{stderr}");
}

fn idx_images(n: u32, rows: u32, cols: u32, pixels: usize) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 3];
    for d in [n, rows, cols] {
        v.extend(d.to_be_bytes());
    }
    v.extend(std::iter::repeat_n(7u8, pixels));
    v
}

#[test]
fn mnist_files_that_are_missing_truncated_or_corrupt_are_refused() {
    let d = tmp("mnist");
    assert_error(&["train", "--dataset", "mnist"], &["--data"]);
    assert_error(&["train", "--dataset", "mnist", "--data", "/no/such/dir"], &["/no/such/dir", "does not exist"]);
    assert_error(&["train", "--dataset", "mnist", "--data", d.to_str().unwrap()], &["no MNIST images file"]);
    let f = d.join("train-images-idx3-ubyte");
    std::fs::write(&f, idx_images(10, 28, 28, 28 * 28 * 3)).unwrap();
    assert_error(&["train", "--dataset", "mnist", "--data", d.to_str().unwrap()], &["train-images-idx3-ubyte", "truncated", "10 images of 28x28"]);
    let mut labels = idx_images(10, 28, 28, 28 * 28 * 10);
    labels[3] = 1; // 0x00000801: a labels file
    std::fs::write(&f, labels).unwrap();
    assert_error(&["train", "--dataset", "mnist", "--data", f.to_str().unwrap()], &["magic 0x00000801", "labels file"]);
    std::fs::write(&f, [0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7]).unwrap();
    assert_error(&["train", "--dataset", "mnist", "--data", f.to_str().unwrap()], &["corrupt gzip"]);
    std::fs::write(&f, [1, 2, 3]).unwrap();
    assert_error(&["train", "--dataset", "mnist", "--data", f.to_str().unwrap()], &["too short"]);
}

#[test]
fn cifar_and_folder_inputs_that_cannot_be_used_are_refused() {
    let d = tmp("cifar");
    std::fs::write(d.join("data_batch_1.bin"), vec![3u8; 3000]).unwrap();
    assert_error(&["train", "--dataset", "cifar10", "--data", d.to_str().unwrap()], &["data_batch_1.bin", "3073"]);
    let empty = tmp("empty");
    assert_error(&["train", "--dataset", "folder", "--data", empty.to_str().unwrap()], &["no .png"]);
    let tiny = tmp("tiny");
    image::RgbImage::new(4, 4).save(tiny.join("a.png")).unwrap();
    assert_error(&["train", "--dataset", "folder", "--data", tiny.to_str().unwrap()], &["a.png", "4x4 is too small"]);
    let broken = tmp("broken");
    std::fs::write(broken.join("b.jpg"), b"not a jpeg").unwrap();
    assert_error(&["train", "--dataset", "folder", "--data", broken.to_str().unwrap()], &["b.jpg", "cannot decode"]);
}

#[test]
fn a_folder_of_images_trains() {
    let d = tmp("folder-ok");
    std::fs::create_dir_all(d.join("nested")).unwrap();
    for i in 0..6u8 {
        let img = image::RgbImage::from_fn(20 + i as u32, 24, |x, y| image::Rgb([x as u8 * 10, y as u8 * 9, i * 40]));
        img.save(d.join(if i % 2 == 0 { format!("{i}.png") } else { format!("nested/{i}.jpg") })).unwrap();
    }
    let out = tmp("folder-run");
    let a = tiny_train(&out, &["--dataset", "folder", "--data", d.to_str().unwrap()]);
    let args: Vec<&str> = a.iter().map(String::as_str).collect();
    let (code, _, stderr) = run(&args);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("6 images"), "{stderr}");
    // Piped (not a terminal), the progress lines still say where the files went.
    assert!(stderr.contains("samples: ") && stderr.contains("checkpoint: "), "{stderr}");
}

#[test]
fn nonsensical_settings_name_their_flag() {
    // An explicit --out: the checkout may hold a run in the default directory.
    let out = tmp("nonsense");
    let o = out.to_str().unwrap();
    assert_error(&["train", "--out", o, "--image-size", "48"], &["--image-size", "48x48", "[16, 32, 64, 128]"]);
    assert_error(&["train", "--out", o, "--lr=-1"], &["--lr", "(0, 1)"]);
    assert_error(&["train", "--out", o, "--batch-size", "1"], &["--batch-size"]);
    assert_error(&["train", "--out", o, "--holdout", "0"], &["--holdout", "(0, 1)"]);
    assert_error(&["train", "--out", o, "--minibatch-std", "4", "--batch-size", "30"], &["--minibatch-std", "--batch-size 30", "28 or 32"]);
    assert_error(&["train", "--out", o, "--minibatch-std", "4", "--model", "mlp"], &["--minibatch-std", "MLP", "--model dcgan"]);
    assert_error(&["train", "--out", o, "--minibatch-std", "0"], &["--minibatch-std", "1..=256"]);
    assert_error(&["train", "--out", o, "--minibatch-std", "4", "--model", "vae"], &["--minibatch-std", "not an autoencoder setting"]);
    assert_error(&["train", "--out", o, "--steps", "0"], &["--steps"]);
    assert_error(&["train", "--out", o, "--g-ema", "1"], &["--g-ema", "(0, 1)"]);
    assert_error(&["train", "--out", o, "--model", "mlp", "--spectral-norm"], &["--spectral-norm", "dropout", "--dropout 0"]);
    assert_error(&["train", "--out", o, "--sngan", "--loss", "wgan"], &["--sngan", "hinge"]);
    assert_error(&["train", "--out", o, "--gp", "10", "--d-norm", "batchnorm"], &["--gp", "BatchNorm", "--d-norm none", "layernorm"]);
    assert_error(&["train", "--out", o, "--model", "mlp", "--d-norm", "layernorm"], &["--d-norm", "MLP"]);
    assert_error(&["train", "--out", o, "--r1", "1", "--d-norm", "batchnorm"], &["--r1", "BatchNorm"]);
    assert_error(&["train", "--out", o, "--loss", "wgan", "--gp", "10", "--clip", "0.01", "--conditional", "none"], &["--gp", "--clip"]);
    assert_error(&["train", "--out", o, "--gp", "0"], &["--gp", "positive"]);
    assert_error(&["train", "--out", o, "--gp", "10", "--r1", "1"], &["choose one"]);
    assert_error(&["train", "--out", o, "--model", "mlp", "--r1", "1"], &["--r1", "dropout", "--dropout 0"]);
    assert_error(&["train", "--out", o, "--gp", "10"], &["--gp", "conditional", "--conditional none"]);
    assert_error(&["train", "--out", o, "--r1", "1", "--r1-every", "0", "--conditional", "none"], &["--r1-every", "at least 1"]);
    assert_error(&["train", "--out", o, "--r1-every", "4"], &["--r1-every", "--r1"]);
    assert_error(&["train", "--out", o, "--mismatch-weight", "0.5", "--conditional", "none"], &["--mismatch-weight", "--conditional concat"]);
    assert_error(&["train", "--out", o, "--mismatch-weight", "1"], &["--mismatch-weight", "(0, 1)"]);
    assert_error(&["train", "--out", o, "--model", "vae", "--mismatch-weight", "0.5"], &["--mismatch-weight", "not an autoencoder setting"]);
    assert_error(&["train", "--out", o, "--mismatch-weight", "0.5", "--conditional", "acgan"], &["--mismatch-weight", "concat or projection"]);
    assert_error(&["train", "--out", o, "--label-embedding", "8", "--conditional", "none"], &["--label-embedding", "--conditional concat"]);
    assert_error(&["train", "--out", o, "--label-embedding", "0"], &["--label-embedding", "1..="]);
    assert_error(&["train", "--out", o, "--model", "vae", "--label-embedding", "8"], &["--label-embedding", "not an autoencoder setting"]);
    assert_error(&["train", "--out", o, "--model", "classifier", "--lr-schedule", "cosine"], &["--lr-schedule"]);
    assert_error(&["train", "--out", o, "--model", "vae", "--lr-warmup", "10"], &["--lr-warmup", "not an autoencoder setting"]);
    assert_error(&["train", "--out", o, "--g-ema=-0.5"], &["--g-ema", "(0, 1)"]);
    assert_error(&["train", "--out", o, "--g-ema-rampup", "0.05"], &["--g-ema-rampup", "--g-ema 0.999"]);
    assert_error(&["train", "--out", o, "--g-ema", "0.999", "--g-ema-rampup", "0"], &["--g-ema-rampup", "positive"]);
    assert_error(&["train", "--out", o, "--model", "classifier", "--dataset", "synthetic", "--g-ema", "0.999"], &["--g-ema"]);
    assert_error(&["train", "--out", o, "--channels", "2"], &["--channels"]);
    assert_error(&["train", "--out", o, "--augment", "rotate"], &["--augment", "rotate"]);
    assert_error(&["train", "--out", o, "--synthetic-images", "10", "--batch-size", "32"], &["--batch-size", "32", "10 images"]);
    assert_error(&["sample", "--checkpoint", "/no/such/run"], &["/no/such/run"]);
}

#[test]
fn an_unwritable_run_directory_is_refused_before_training() {
    assert_error(&tiny_train(Path::new("/proc/shadergan-run"), &[]).iter().map(String::as_str).collect::<Vec<_>>(), &["--out", "/proc/shadergan-run"]);
}

#[test]
fn runs_are_not_overwritten_and_resume_keeps_the_config() {
    let out = tmp("guard");
    train_ok(&out, &[]);
    let a = tiny_train(&out, &[]);
    assert_error(&a.iter().map(String::as_str).collect::<Vec<_>>(), &["already holds a run", "--resume"]);
    let o = out.to_str().unwrap();
    assert_error(&["train", "--resume", o, "--ngf", "8"], &["--ngf", "cannot change a resumed run"]);
    assert_error(&["train", "--resume", o], &["already at step 2", "--steps"]);
    let (code, _, stderr) = run(&["train", "--resume", o, "--steps", "3"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("resuming") && stderr.contains("step 2"), "{stderr}");
}

#[test]
fn a_checkpoint_of_another_architecture_is_refused() {
    let (a, b) = (tmp("arch-a"), tmp("arch-b"));
    train_ok(&a, &[]);
    train_ok_width(&b, "8", &[]);
    std::fs::copy(b.join("checkpoint.safetensors"), a.join("checkpoint.safetensors")).unwrap();
    assert_error(&["train", "--resume", a.to_str().unwrap(), "--steps", "4"], &["checkpoint.safetensors", "main.0.weight", "another architecture"]);
    // A discriminator is not a generator.
    assert_error(&["sample", "--checkpoint", b.join("discriminator.safetensors").to_str().unwrap()], &["discriminator.safetensors"]);
    std::fs::write(a.join("garbage.safetensors"), b"\x08\x00\x00\x00\x00\x00\x00\x00{}").unwrap();
    assert_error(&["sample", "--checkpoint", a.join("garbage.safetensors").to_str().unwrap()], &["garbage.safetensors"]);
}

#[test]
fn sample_reproduces_grids_and_writes_what_its_flags_promise() {
    let run_dir = tmp("sample-run");
    train_ok(&run_dir, &[]);
    let d = tmp("sample-out");
    let r = run_dir.to_str().unwrap();
    let (g1, g2, g3) = (d.join("a.png"), d.join("b.png"), d.join("c.png"));
    for (g, seed) in [(&g1, "5"), (&g2, "5"), (&g3, "6")] {
        let (code, _, e) = run(&["sample", "--checkpoint", r, "--n", "16", "--seed", seed, "--out", g.to_str().unwrap()]);
        assert_eq!(code, 0, "{e}");
    }
    assert_eq!(std::fs::read(&g1).unwrap(), std::fs::read(&g2).unwrap(), "the same seed must give the same grid");
    assert_ne!(std::fs::read(&g1).unwrap(), std::fs::read(&g3).unwrap());
    // Single PNGs, raw outputs, given latents, both BatchNorm modes, interpolation.
    let raw = d.join("raw.safetensors");
    let (code, _, e) = run(&["sample", "--checkpoint", r, "--n", "3", "--single", "--out", d.join("single").to_str().unwrap(), "--raw-out", raw.to_str().unwrap(), "--batchnorm", "batch"]);
    assert_eq!(code, 0, "{e}");
    assert_eq!(std::fs::read_dir(d.join("single")).unwrap().count(), 3);
    let f = shadergan::train::checkpoint::TensorFile::load(&raw).unwrap();
    assert_eq!(f.tensors["images"].shape, vec![3, 3, 16, 16]);
    assert_eq!(f.tensors["z"].shape, vec![3, 8]);
    let (code, _, e) = run(&["sample", "--checkpoint", r, "--latents", raw.to_str().unwrap(), "--out", d.join("from_z.png").to_str().unwrap(), "--raw-out", d.join("raw2.safetensors").to_str().unwrap(), "--batchnorm", "batch"]);
    assert_eq!(code, 0, "{e}");
    let again = shadergan::train::checkpoint::TensorFile::load(&d.join("raw2.safetensors")).unwrap();
    assert_eq!(again.tensors["images"], f.tensors["images"], "rendering the saved latents must give the saved images");
    let (code, _, e) = run(&["sample", "--checkpoint", r, "--interpolate", "--steps", "5", "--n", "4", "--out", d.join("interp.png").to_str().unwrap()]);
    assert_eq!(code, 0, "{e}");
    for tag in ["linear", "slerp"] {
        let img = image::open(d.join(format!("interp_{tag}.png"))).unwrap();
        assert_eq!((img.width(), img.height()), (5 * 18 + 2, 2 * 18 + 2));
    }
    let bad_z = d.join("bad_z.safetensors");
    let mut t = shadergan::train::checkpoint::TensorFile::default();
    t.tensors.insert("z".into(), shadergan::train::checkpoint::HostTensor { shape: vec![2, 5], values: shadergan::train::checkpoint::Values::F32(vec![0.0; 10]) });
    t.save(&bad_z).unwrap();
    assert_error(&["sample", "--checkpoint", r, "--latents", bad_z.to_str().unwrap()], &["bad_z.safetensors", "[2, 5]", "[N, 8]"]);
}

#[test]
fn conditional_runs_sample_by_class_and_refuse_what_does_not_fit() {
    let run_dir = tmp("cond-run");
    train_ok(&run_dir, &["--conditional", "concat"]);
    let r = run_dir.to_str().unwrap();
    let d = tmp("cond-out");
    // Default: 8 per class, one row per class (4 shapes); --per-class N: N columns.
    for (extra, size) in [(&[][..], (8 * 18 + 2, 4 * 18 + 2)), (&["--per-class", "3"][..], (3 * 18 + 2, 4 * 18 + 2)), (&["--class", "2", "--n", "16"][..], (8 * 18 + 2, 2 * 18 + 2))] {
        let out = d.join(format!("grid{}.png", extra.len()));
        let mut a = vec!["sample", "--checkpoint", r, "--out", out.to_str().unwrap()];
        a.extend_from_slice(extra);
        let (code, _, e) = run(&a);
        assert_eq!(code, 0, "{a:?}: {e}");
        let img = image::open(&out).unwrap();
        assert_eq!((img.width(), img.height()), size, "{extra:?}");
    }
    let raw = d.join("raw.safetensors");
    let (code, _, e) = run(&["sample", "--checkpoint", r, "--class", "1", "--n", "3", "--out", d.join("c1.png").to_str().unwrap(), "--raw-out", raw.to_str().unwrap()]);
    assert_eq!(code, 0, "{e}");
    let f = shadergan::train::checkpoint::TensorFile::load(&raw).unwrap();
    assert_eq!(f.tensors["labels"].values, shadergan::train::checkpoint::Values::U32(vec![1, 1, 1]));
    assert_error(&["sample", "--checkpoint", r, "--class", "4"], &["--class", "4 classes"]);
    assert_error(&["sample", "--checkpoint", r, "--n", "10"], &["--n", "--per-class"]);
    // An unconditional generator takes no class.
    let plain = tmp("cond-plain");
    train_ok(&plain, &[]);
    assert_error(&["sample", "--checkpoint", plain.to_str().unwrap(), "--class", "1"], &["--class", "unconditional"]);
    assert_error(&["sample", "--checkpoint", plain.to_str().unwrap(), "--per-class", "2"], &["--per-class", "unconditional"]);
    // A dataset without labels cannot train a conditional model.
    assert_error(&["train", "--dataset", "folder", "--data", d.to_str().unwrap(), "--conditional", "concat"], &["--conditional", "no"]);
    // The built-in shapes with the quick preset train conditional by default (one grid row
    // per shape); --conditional none trains the plain GAN.
    let default_run = tmp("cond-default");
    let (code, _, e) = run(&["train", "--image-size", "16", "--ngf", "4", "--ndf", "4", "--nz", "8", "--batch-size", "4", "--synthetic-images", "16", "--steps", "1", "--out", default_run.to_str().unwrap()]);
    assert_eq!(code, 0, "{e}");
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(default_run.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["config"]["model"]["conditional"]["classes"], 4, "{config}");
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(plain.join("config.json")).unwrap()).unwrap();
    assert!(config["config"]["model"]["conditional"].is_null(), "{config}");
    // --conditional cannot change a resumed run.
    assert_error(&["train", "--resume", r, "--conditional", "concat", "--steps", "4"], &["--conditional", "cannot change"]);
}

#[test]
fn a_folder_with_one_sub_directory_per_class_trains_a_conditional_model() {
    // torchvision's ImageFolder layout: the sub-directories, in sorted order, are the classes.
    let data = tmp("cond-folder-data");
    for (class, colour) in [("b_dark", 40u8), ("a_light", 220u8)] {
        std::fs::create_dir_all(data.join(class).join("nested")).unwrap();
        for i in 0..3u8 {
            image::RgbImage::from_fn(20, 20, |x, _| image::Rgb([colour, colour.wrapping_add(i * 5), x as u8])).save(data.join(class).join(format!("{i}.png"))).unwrap();
        }
        // Images in deeper directories belong to their top-level class.
        image::RgbImage::from_fn(20, 20, |_, y| image::Rgb([colour, y as u8, 0])).save(data.join(class).join("nested").join("x.png")).unwrap();
    }
    let run_dir = tmp("cond-folder-run");
    let a = tiny_train(&run_dir, &["--dataset", "folder", "--data", data.to_str().unwrap(), "--conditional", "concat"]);
    let args: Vec<&str> = a.iter().map(String::as_str).collect();
    let (code, _, stderr) = run(&args);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("8 images in 2 classes: a_light, b_dark"), "{stderr}");
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(run_dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["config"]["model"]["conditional"]["classes"], 2, "{config}");
    // One row per class in the grid.
    let img = image::open(run_dir.join("fake_samples.png")).unwrap();
    assert_eq!((img.width(), img.height()), (8 * 18 + 2, 2 * 18 + 2));
    // An image beside the class directories makes the folder unlabelled.
    image::RgbImage::from_fn(20, 20, |x, y| image::Rgb([x as u8, y as u8, 9])).save(data.join("loose.png")).unwrap();
    assert_error(&["train", "--dataset", "folder", "--data", data.to_str().unwrap(), "--conditional", "concat"], &["--conditional", "no class labels", "sub-directory"]);
}

#[test]
fn a_state_dict_without_shadergan_metadata_loads_by_its_shapes() {
    // What `safetensors.torch.save_file(netG.state_dict(), path)` writes: the keys, no metadata.
    let run_dir = tmp("export-run");
    train_ok(&run_dir, &[]);
    let mut f = shadergan::train::checkpoint::TensorFile::load(&run_dir.join("generator.safetensors")).unwrap();
    f.metadata.clear();
    let exported = run_dir.join("netG_from_pytorch.safetensors");
    f.save(&exported).unwrap();
    let d = tmp("export-out");
    let (a, b) = (d.join("meta.png"), d.join("shapes.png"));
    for (ckpt, out) in [(run_dir.join("generator.safetensors"), &a), (exported, &b)] {
        let (code, _, e) = run(&["sample", "--checkpoint", ckpt.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{e}");
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn training_can_start_from_saved_weights() {
    let first = tmp("load-first");
    train_ok(&first, &[]);
    let g = first.join("generator.safetensors");
    let d = first.join("discriminator.safetensors");
    let second = tmp("load-second");
    let mut a = tiny_train(&second, &["--load-generator", g.to_str().unwrap(), "--load-discriminator", d.to_str().unwrap(), "--save-initial"]);
    a.push("--overwrite".into());
    let args: Vec<&str> = a.iter().map(String::as_str).collect();
    let (code, _, stderr) = run(&args);
    assert_eq!(code, 0, "{stderr}");
    let init = shadergan::train::checkpoint::TensorFile::load(&second.join("initial.safetensors")).unwrap();
    let saved = shadergan::train::checkpoint::TensorFile::load(&g).unwrap();
    assert_eq!(init.tensors["netG.main.0.weight"], saved.tensors["main.0.weight"], "training did not start from the loaded generator");
    // Weights of another architecture are refused, naming the file and the tensor.
    let a = tiny_train_width(&tmp("load-bad"), "8", &["--load-generator", g.to_str().unwrap()]);
    assert_error(&a.iter().map(String::as_str).collect::<Vec<_>>(), &["generator.safetensors", "main.0.weight", "another architecture"]);
}
