//! The classifier objective (`train --model classifier`): it learns, its held-out split is
//! fixed and disjoint from training, resume is exact, its state dict has PyTorch's keys, and
//! what does not fit is refused with one line.

mod common;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use shadergan::classifier::Classifier;
use shadergan::data::{self, DatasetKind};
use shadergan::gpu::{AdapterChoice, Gpu};
use shadergan::model::ClassifierModel;
use shadergan::train::checkpoint::TensorFile;
use shadergan::train::classifier::{ClassifierConfig, ClassifierTrainer};
use shadergan::train::AugmentConfig;

fn gpu() -> Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| Gpu::new(&AdapterChoice::default()).unwrap_or_else(|e| panic!("{e}"))).clone()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shadergan-classifier-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A classifier of the 4 built-in shapes at 16×16, small enough for a few seconds.
fn tiny(out: &Path, steps: u64) -> ClassifierConfig {
    ClassifierConfig {
        model: ClassifierModel { image_size: 16, channels: 3, width: 16, features: 32, classes: 4, dropout: 0.2 },
        dataset: DatasetKind::Synthetic,
        data: None,
        max_images: None,
        synthetic_images: 400,
        holdout: 0.1,
        batch_size: 16,
        steps,
        lr: 2e-3,
        beta1: 0.9,
        beta2: 0.999,
        seed: 3,
        augment: AugmentConfig { flip: true, shift: 1, brightness: 0.0 },
        log_every: 10,
        eval_every: 30,
        checkpoint_every: 30,
        out: out.to_path_buf(),
    }
}

fn dataset(cfg: &ClassifierConfig) -> data::Dataset {
    let m = &cfg.model;
    data::load(cfg.dataset, None, m.image_size, m.channels, None, cfg.synthetic_images, false).unwrap()
}

/// Train `cfg` from scratch, or resume from its run directory.
fn train(cfg: ClassifierConfig, resume: bool) -> ClassifierTrainer {
    let ds = dataset(&cfg);
    let mut t = ClassifierTrainer::new(gpu(), cfg, &ds).unwrap_or_else(|e| panic!("{e}"));
    if resume {
        t.restore(&t.cfg.out.join("checkpoint.safetensors")).unwrap();
    } else {
        t.initialize().unwrap();
    }
    t.prepare_run_dir().unwrap();
    t.run(|_| {}).unwrap_or_else(|e| panic!("{e}"));
    t
}

fn data_section(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    bytes[8 + n..].to_vec()
}

#[test]
fn the_held_out_split_is_fixed_disjoint_and_covers_every_image() {
    for n in [3usize, 17, 400, 10_000] {
        let (train, held) = data::holdout_split(n, 0.1);
        assert!(!held.is_empty() && train.len() >= 2, "n = {n}");
        let mut all: Vec<usize> = train.iter().chain(&held).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>(), "n = {n}: the split must partition the images");
        assert_eq!(data::holdout_split(n, 0.1), (train, held.clone()), "the split depends on nothing but n and the fraction");
        if n >= 400 {
            assert_eq!(held.len(), n / 10);
            // Not the last tenth: a folder sorted by class would lose one class to it.
            assert!(held.iter().any(|&i| i < n / 2), "n = {n}: held-out images spread over the data");
        }
    }
}

#[test]
fn a_classifier_learns_the_shapes_resumes_exactly_and_loads_for_eval() {
    let out = tmp("learn");
    let straight = train(tiny(&out, 90), false);
    let (loss, accuracy) = straight.heldout_score.expect("scored at the end");
    // 4 classes: chance is 25 %. The shapes are easy; 90 steps of 16 get most of them.
    assert!(accuracy >= 0.85 && loss.is_finite(), "held-out accuracy {accuracy}, loss {loss}");
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = metrics.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.iter().map(|v| v["step"].as_u64().unwrap()).collect::<Vec<_>>(), vec![10, 20, 30, 40, 50, 60, 70, 80, 90]);
    assert!(lines[2]["heldout_accuracy"].is_f64() && lines[1].get("heldout_accuracy").is_none(), "held-out scores at eval steps only");

    // 45 steps, then resume to 90: the same bytes as 90 straight.
    let split = tmp("resume");
    train(tiny(&split, 45), false);
    train(tiny(&split, 90), true);
    for f in ["checkpoint.safetensors", "classifier.safetensors"] {
        assert!(data_section(&out.join(f)) == data_section(&split.join(f)), "{f}: resumed run differs from the straight one");
    }

    // The state dict: nn.Sequential keys, the architecture in the metadata.
    let file = TensorFile::load(&out.join("classifier.safetensors")).unwrap();
    for key in ["main.0.weight", "main.3.weight", "main.3.running_mean", "main.3.num_batches_tracked", "main.6.weight", "main.6.bias", "main.9.weight", "main.9.bias"] {
        assert!(file.tensors.contains_key(key), "{key} missing: {:?}", file.tensors.keys().collect::<Vec<_>>());
    }
    assert_eq!(file.tensors["main.9.weight"].shape, vec![4, 32], "the last Linear maps the 32 features to 4 classes");
    assert_eq!(file.metadata["net"], "classifier");

    // Loaded for eval, it scores the held-out images exactly as the trainer did.
    let c = Classifier::load(&gpu(), &out).unwrap();
    assert_eq!(c.heldout_accuracy, Some(accuracy));
    let cfg = tiny(&out, 90);
    let ds = dataset(&cfg);
    let (_, held) = data::holdout_split(ds.n, cfg.holdout);
    let sub = ds.subset(&held, "held out");
    let images = data::to_unit_range(&sub.pixels);
    let verdicts = c.classify(&gpu(), &images, sub.n).unwrap();
    let labels = sub.labels.unwrap();
    let correct = verdicts.iter().zip(&labels).filter(|(v, y)| v.top().0 == **y as usize).count();
    assert_eq!(correct as f64 / sub.n as f64, accuracy);
    assert!(verdicts.iter().all(|v| v.features.len() == 32 && v.features.iter().all(|x| x.is_finite()) && (v.probs.iter().sum::<f64>() - 1.0).abs() < 1e-9));

    // A classifier is not a generator, and a generator is not a classifier.
    let err = shadergan::sample::Generator::load(&gpu(), &out.join("classifier.safetensors")).err().expect("refused");
    assert!(err.to_string().contains("classifier"), "{err}");
}

#[test]
fn unlabelled_data_and_bad_settings_are_refused() {
    let cfg = tiny(&tmp("refuse"), 10);
    let mut ds = dataset(&cfg);
    ds.labels = None;
    let err = ClassifierTrainer::new(gpu(), cfg.clone(), &ds).err().expect("refused");
    assert!(err.to_string().contains("no class labels"), "{err}");
    for (mutate, flag) in [
        (Box::new(|c: &mut ClassifierConfig| c.holdout = 1.0) as Box<dyn Fn(&mut ClassifierConfig)>, "--holdout"),
        (Box::new(|c: &mut ClassifierConfig| c.model.image_size = 28), "--image-size"),
        (Box::new(|c: &mut ClassifierConfig| c.model.classes = 1), "--dataset"),
        (Box::new(|c: &mut ClassifierConfig| c.batch_size = 1000), "--batch-size"),
        (Box::new(|c: &mut ClassifierConfig| c.lr = 0.0), "--lr"),
    ] {
        let mut c = cfg.clone();
        mutate(&mut c);
        let ds = dataset(&c);
        let err = ClassifierTrainer::new(gpu(), c, &ds).err().expect("refused");
        assert!(err.to_string().contains(flag), "{flag}: {err}");
    }
}

#[test]
fn the_command_line_trains_a_classifier_and_refuses_gan_flags() {
    let out = tmp("cli");
    let o = out.to_str().unwrap();
    let base = ["train", "--model", "classifier", "--image-size", "16", "--ndf", "4", "--features", "8", "--synthetic-images", "64", "--batch-size", "8", "--log-every", "2"];
    let with = |extra: &[&str]| -> Vec<String> { base.iter().chain(extra).map(|s| s.to_string()).collect() };
    let run = |a: Vec<String>| common::shadergan(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let (code, _, stderr) = run(with(&["--steps", "4", "--out", o]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("held-out accuracy") && stderr.contains("classes"), "{stderr}");
    let (code, _, stderr) = common::shadergan(&["train", "--resume", o, "--steps", "6"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("resuming") && stderr.contains("at step 4"), "{stderr}");
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["objective"], "classifier");
    // GAN flags mean nothing here; --resume takes no model flag.
    for (extra, needle) in [(&["--nz", "10"][..], "--nz"), (&["--conditional", "concat"][..], "--conditional"), (&["--loss", "hinge"][..], "--loss")] {
        let (code, _, stderr) = run(with(&[&["--out", tmp("gan-flag").to_str().unwrap()][..], extra].concat()));
        assert_eq!(code, 1, "{extra:?}: {stderr}");
        assert!(stderr.lines().any(|l| l.starts_with("error: ") && l.contains(needle) && l.contains("GAN")), "{extra:?}: {stderr}");
    }
    let (code, _, stderr) = common::shadergan(&["train", "--resume", o, "--steps", "8", "--ndf", "8"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("--ndf cannot change a resumed run"), "{stderr}");
}

#[test]
fn the_class_report_counts_covers_and_measures_what_was_asked() {
    use shadergan::classifier::Classified;
    use shadergan::eval::ClassReport;
    let v = |probs: &[f64]| Classified { probs: probs.to_vec(), features: vec![] };
    // Three classes; samples asked for 0, 0, 1, 2; the classifier says 0, 1, 1, 1.
    let verdicts = [v(&[0.9, 0.05, 0.05]), v(&[0.2, 0.7, 0.1]), v(&[0.1, 0.6, 0.3]), v(&[0.3, 0.4, 0.3])];
    let r = ClassReport::new(&verdicts, &[0, 0, 1, 2]);
    assert_eq!(r.histogram, vec![1, 3, 0]);
    assert_eq!(r.classes_covered, 2);
    assert!((r.mean_confidence - (0.9 + 0.7 + 0.6 + 0.4) / 4.0).abs() < 1e-12);
    let h = -(0.25f64 * 0.25f64.ln() + 0.75 * 0.75f64.ln());
    assert!((r.entropy - h).abs() < 1e-12 && (r.entropy_normalised - h / 3f64.ln()).abs() < 1e-12);
    assert_eq!(r.recognised, Some(0.5));
    assert_eq!(r.recognised_per_class.as_deref().map(|p| p[..2].to_vec()), Some(vec![0.5, 1.0]));
    assert!(r.recognised_per_class.unwrap()[2] == 0.0);
    // Every class equally often: entropy ln K, normalised 1; unconditional: nothing asked.
    let uniform = ClassReport::new(&[v(&[0.6, 0.4]), v(&[0.4, 0.6])], &[]);
    assert!((uniform.entropy_normalised - 1.0).abs() < 1e-12 && uniform.recognised.is_none());
}

/// Without --classifier or --extractor, a labelled --dataset gets its default classifier:
/// trained the first time for the samples' shape (into a private directory renamed into the
/// cache when done), found in the cache afterwards.
#[test]
fn eval_trains_the_default_classifier_once_and_reuses_it() {
    let (gan, cache) = (tmp("default-gan"), tmp("default-cache"));
    let g = gan.to_str().unwrap();
    let (code, _, stderr) = common::shadergan(&["train", "--image-size", "16", "--synthetic-images", "64", "--batch-size", "8", "--steps", "2", "--ngf", "4", "--ndf", "4", "--nz", "8", "--conditional", "none", "--out", g]);
    assert_eq!(code, 0, "{stderr}");
    let env = [("SHADERGAN_CACHE", cache.to_str().unwrap())];
    let args = ["eval", "--checkpoint", g, "--dataset", "synthetic", "--n", "200", "--trials", "2", "--classifier-steps", "30"];
    let report = || -> serde_json::Value { serde_json::from_slice(&std::fs::read(gan.join("eval.json")).unwrap()).unwrap() };
    let (code, stdout, stderr) = common::shadergan_env(&args, &env);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("training the default one") && stderr.contains("held-out accuracy"), "{stderr}");
    assert!(stdout.contains("classes covered"), "the classifier names the classes: {stdout}");
    let first = report();
    assert!(first["extractor"].as_str().unwrap().contains(cache.to_str().unwrap()), "{first}");
    let cached: Vec<_> = std::fs::read_dir(cache.join("classifiers")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(cached.len() == 1 && cached[0].starts_with("synthetic-3x16x16-30steps-") && !cached[0].contains("partial"), "{cached:?}");
    let (code, _, stderr) = common::shadergan_env(&args, &env);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("cached in") && !stderr.contains("training the default one"), "{stderr}");
    assert_eq!(report()["extractor_sha256"], first["extractor_sha256"]);
    // Another program's images of that shape find the same classifier.
    let fake = gan.join("fake.safetensors");
    let (code, _, stderr) = common::shadergan(&["sample", "--checkpoint", g, "--n", "200", "--out", gan.join("fake.png").to_str().unwrap(), "--raw-out", fake.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let fake_out = gan.join("fake-eval");
    let (code, _, stderr) = common::shadergan_env(&["eval", "--fake", fake.to_str().unwrap(), "--dataset", "synthetic", "--trials", "2", "--classifier-steps", "30", "--out", fake_out.to_str().unwrap()], &env);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("cached in"), "{stderr}");
    let fake_report: serde_json::Value = serde_json::from_slice(&std::fs::read(fake_out.join("eval.json")).unwrap()).unwrap();
    assert_eq!(fake_report["extractor_sha256"], first["extractor_sha256"]);
    // --reference: realism and diversity against other real images, here the samples
    // themselves: FD(X, X) = 0, KID unbiased ≈ 0 and every sample inside the other set's
    // balls; memorisation and the floors still come from the dataset.
    let ref_out = gan.join("reference-eval");
    let (code, stdout, stderr) = common::shadergan_env(&["eval", "--fake", fake.to_str().unwrap(), "--reference", fake.to_str().unwrap(), "--dataset", "synthetic", "--trials", "2", "--classifier-steps", "30", "--out", ref_out.to_str().unwrap()], &env);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("floors and memorisation from"), "{stdout}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(ref_out.join("eval.json")).unwrap()).unwrap();
    // The real-image scores sit at the report's top level.
    let real = &r;
    assert!(real["reference"].as_str().unwrap().ends_with("fake.safetensors") && real["reference_images"] == 200, "{real}");
    assert!(real["frechet_distance"].as_f64().unwrap().abs() < 1e-6, "{real}");
    assert!(real["prdc"]["precision"] == 1.0 && real["prdc"]["recall"] == 1.0 && real["prdc"]["coverage"] == 1.0, "{real}");
    assert_eq!(real["heldout_images"], fake_report["heldout_images"], "the floors keep the dataset's split");
    common::assert_one_error(&["eval", "--fake", fake.to_str().unwrap(), "--reference", fake.to_str().unwrap(), "--classifier-steps", "30"], &env, &["--reference", "--dataset"]);
    common::assert_one_error(&["eval", "--fake", fake.to_str().unwrap(), "--reference", gan.join("nothing-here").to_str().unwrap(), "--dataset", "synthetic", "--trials", "2", "--classifier-steps", "30"], &env, &["--reference", "nothing-here"]);

    // No labels, no dataset: nothing to train it on.
    let unlabelled = tmp("default-unlabelled");
    std::fs::create_dir_all(&unlabelled).unwrap();
    for i in 0..3u8 {
        image::GrayImage::from_pixel(16, 16, image::Luma([60 * i])).save(unlabelled.join(format!("{i}.png"))).unwrap();
    }
    for (extra, needles) in [
        (vec!["--dataset", "folder", "--data", unlabelled.to_str().unwrap()], vec!["no class labels", "--extractor"]),
        (vec![], vec!["--classifier", "--dataset"]),
    ] {
        let a = [&["eval", "--checkpoint", g, "--n", "8"][..], &extra].concat();
        common::assert_one_error(&a, &env, &needles);
    }
}

#[test]
fn eval_names_the_classes_of_a_conditional_generator_and_refuses_what_does_not_fit() {
    let cls = tmp("eval-classifier");
    let gan = tmp("eval-gan");
    let (c, g) = (cls.to_str().unwrap(), gan.to_str().unwrap());
    let common_flags = ["--image-size", "16", "--synthetic-images", "64", "--batch-size", "8", "--steps", "4", "--log-every", "2"];
    let train = |extra: &[&str]| {
        let a: Vec<&str> = ["train"].iter().chain(&common_flags).chain(extra).copied().collect();
        let (code, _, stderr) = common::shadergan(&a);
        assert_eq!(code, 0, "{a:?}: {stderr}");
    };
    train(&["--model", "classifier", "--ndf", "4", "--features", "8", "--out", c]);
    train(&["--conditional", "concat", "--ngf", "4", "--ndf", "4", "--nz", "8", "--out", g]);
    let report = gan.join("eval.json");
    let (code, stdout, stderr) = common::shadergan(&["eval", "--checkpoint", g, "--classifier", c, "--n", "10"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("recognised as the class asked for") && stdout.contains("classes covered"), "{stdout}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    // 10 rounded up to equally many of each of the 4 classes.
    assert_eq!(r["samples"], 12);
    // The extractor is named with the SHA-256 of its weights file.
    let digest = r["extractor_sha256"].as_str().unwrap().to_string();
    assert_eq!(digest.len(), 64, "{r}");
    let sum = std::process::Command::new("sha256sum").arg(cls.join("classifier.safetensors")).output().expect("sha256sum (coreutils)");
    assert!(String::from_utf8_lossy(&sum.stdout).starts_with(&digest), "{digest} vs sha256sum");
    assert_eq!(r["histogram"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).sum::<u64>(), 12);
    let recognised = r["recognised"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&recognised) && (recognised * 12.0).fract() == 0.0, "{recognised}");
    // The same seed gives the same report.
    let first = std::fs::read(&report).unwrap();
    let (code, _, stderr) = common::shadergan(&["eval", "--checkpoint", g, "--classifier", c, "--n", "10"]);
    assert_eq!(code, 0, "{stderr}");
    let strip = |b: &[u8]| String::from_utf8_lossy(b).lines().filter(|l| !l.contains("elapsed")).collect::<Vec<_>>().join("\n");
    assert_eq!(strip(&first), strip(&std::fs::read(&report).unwrap()));

    // With real images: the Fréchet distance in the classifier's features, and at equal sizes
    // the held-out floor.
    let fd_report = gan.join("fd.json");
    let (code, stdout, stderr) = common::shadergan(&["eval", "--checkpoint", g, "--classifier", c, "--n", "10", "--dataset", "synthetic", "--report", fd_report.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Fréchet distance") && stdout.contains("held-out floor") && stdout.contains("coverage (k=5)"), "{stdout}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&fd_report).unwrap()).unwrap();
    assert!(r["kid"][0].as_f64().is_some_and(f64::is_finite) && r["kid"][1].as_f64().is_some_and(|s| s >= 0.0), "{r}");
    assert!(r["kid_heldout_floor"][0].as_f64().is_some_and(f64::is_finite), "{r}");
    for key in ["frechet_distance", "frechet_distance_matched", "frechet_distance_heldout_floor"] {
        assert!(r[key].as_f64().is_some_and(|v| v.is_finite() && v >= -1e-9), "{key}: {r}");
    }
    let (code, _, stderr) = common::shadergan(&["eval", "--checkpoint", g, "--classifier", c, "--data", "/tmp"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("--data needs --dataset"), "{stderr}");

    // An unconditional generator: the histogram and coverage, nothing "asked for".
    let plain = tmp("eval-plain-gan");
    train(&["--conditional", "none", "--ngf", "4", "--ndf", "4", "--nz", "8", "--out", plain.to_str().unwrap()]);
    let plain_report = plain.join("r.json");
    let (code, stdout, stderr) = common::shadergan(&["eval", "--checkpoint", plain.to_str().unwrap(), "--classifier", c, "--n", "10", "--report", plain_report.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("classes covered") && !stdout.contains("recognised"), "{stdout}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&plain_report).unwrap()).unwrap();
    assert_eq!(r["samples"], 10);
    assert!(r.get("recognised").is_none(), "{r}");

    // A classifier of another image size; a generator given as the classifier.
    let other = tmp("eval-classifier-32");
    let (code, _, stderr) = common::shadergan(&["train", "--model", "classifier", "--image-size", "32", "--ndf", "4", "--features", "8", "--synthetic-images", "64", "--batch-size", "8", "--steps", "2", "--out", other.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    for (args, needles) in [
        (vec!["eval", "--checkpoint", g, "--classifier", other.to_str().unwrap()], vec!["--classifier", "32x32", "16x16", "--image-size 16"]),
        (vec!["eval", "--checkpoint", g, "--classifier", g], vec!["classifier.safetensors", "does not exist"]),
        (vec!["eval", "--checkpoint", g, "--classifier", gan.join("generator.safetensors").to_str().unwrap()], vec!["generator state dict, not a classifier"]),
        (vec!["eval", "--checkpoint", c, "--classifier", c], vec!["classifier", "not a generator"]),
    ] {
        let (code, _, stderr) = common::shadergan(&args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
        for n in needles {
            assert!(errors[0].contains(n), "{args:?}: {:?} lacks {n:?}", errors[0]);
        }
    }
}

/// Images in [−1, 1] as a safetensors file with `images` [n, C, S, S].
fn write_images(path: &Path, images: &[f32], n: usize, channels: usize, size: usize) {
    let bytes: Vec<u8> = images.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![n, channels, size, size], &bytes).unwrap();
    std::fs::write(path, safetensors::serialize([("images", view)], None).unwrap()).unwrap();
}

#[test]
fn eval_of_other_programs_images_flags_copies_of_training_images_and_refuses_what_does_not_fit() {
    let cls = tmp("fake-classifier");
    let c = cls.to_str().unwrap();
    let (code, _, stderr) = common::shadergan(&["train", "--model", "classifier", "--image-size", "16", "--ndf", "4", "--features", "8", "--synthetic-images", "64", "--batch-size", "8", "--steps", "4", "--out", c]);
    assert_eq!(code, 0, "{stderr}");
    // The images eval compares with: the synthetic set as `--dataset synthetic` builds it.
    let ds = data::load(DatasetKind::Synthetic, None, 16, 3, None, 10_000, false).unwrap();
    let (train, held) = data::holdout_split(ds.n, 0.1);
    let pick = |idx: &[usize]| -> Vec<f32> { data::to_unit_range(&ds.subset(idx, "picked").pixels) };
    let dir = tmp("fake-images");
    std::fs::create_dir_all(&dir).unwrap();
    let run = |file: &str, images: &[f32], n: usize| -> serde_json::Value {
        let path = dir.join(file);
        write_images(&path, images, n, 3, 16);
        let out = dir.join(format!("{file}-eval"));
        let (code, stdout, stderr) = common::shadergan(&["eval", "--fake", path.to_str().unwrap(), "--classifier", c, "--dataset", "synthetic", "--trials", "20", "--out", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{file}: {stderr}");
        assert!(stdout.contains("precision") && stdout.contains("birthday test") && stdout.contains("memorised (pixels)"), "{stdout}");
        for f in ["eval.json", "eval.html", "birthday.png", "birthday_pairs.png", "memorisation_nearest.png", "memorisation_random.png"] {
            assert!(out.join(f).is_file(), "{file}: {f} not written");
        }
        serde_json::from_slice(&std::fs::read(out.join("eval.json")).unwrap()).unwrap()
    };
    // 300 copies of training images: every one is memorised in pixels.
    let copies_file = dir.join("copies.safetensors");
    let copies = run("copies.safetensors", &pick(&train[..300]), 300);
    assert_eq!(copies["samples"], 300);
    assert_eq!(copies["memorisation_pixels"]["flagged"].as_f64(), Some(1.0), "{copies}");
    // The birthday test at the sizes asked for, sorted, those above the 300 samples left out.
    let out = dir.join("copies-sizes-eval");
    let (code, _, stderr) = common::shadergan(&["eval", "--fake", copies_file.to_str().unwrap(), "--classifier", c, "--dataset", "synthetic", "--trials", "5", "--birthday-sizes", "16,4,300,5000", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("eval.json")).unwrap()).unwrap();
    let sizes: Vec<u64> = report["birthday"]["probability"].as_array().unwrap().iter().map(|p| p[0].as_u64().unwrap()).collect();
    assert_eq!(sizes, [4, 16, 300], "{}", report["birthday"]);
    // The held-out images themselves: at most 1 % by construction, and as realistic as the
    // floor (they are the floor's images).
    let heldout = run("heldout.safetensors", &pick(&held), held.len());
    for space in ["memorisation_pixels", "memorisation_features"] {
        assert!(heldout[space]["flagged"].as_f64().unwrap() <= 0.01, "{space}: {heldout}");
    }
    assert_eq!(heldout["prdc_matched"], heldout["prdc_heldout_floor"], "{heldout}");

    // Without labels: an untrained network of the classifier's architecture (He-initialised,
    // from a seed), or the pixels. No class report; the extractor is named with its seed and
    // weights' hash, the same for the same seed.
    let no_labels = |extractor: &str, out: &str| -> serde_json::Value {
        let out = dir.join(out);
        let (code, stdout, stderr) = common::shadergan(&["eval", "--fake", copies_file.to_str().unwrap(), "--extractor", extractor, "--dataset", "synthetic", "--trials", "5", "--out", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{extractor}: {stderr}");
        assert!(!stdout.contains("classes covered") && stdout.contains("coverage (k=5)"), "{extractor}: {stdout}");
        serde_json::from_slice(&std::fs::read(out.join("eval.json")).unwrap()).unwrap()
    };
    let random = no_labels("random:5", "random-5");
    assert_eq!(random["samples"], 300);
    assert!(random["extractor"].as_str().unwrap().starts_with("random:5") && random.get("histogram").is_none(), "{random}");
    let hash = |seed| Classifier::random(&gpu(), 16, 3, seed).unwrap().sha256;
    assert_eq!(random["extractor_sha256"].as_str(), Some(hash(5).as_str()), "one seed, one network");
    assert_ne!(hash(5), hash(6));
    // Copies of training images are memorised in any feature space.
    assert_eq!(random["memorisation_features"]["flagged"].as_f64(), Some(1.0), "{random}");

    // What does not fit: one line naming the flag or file.
        let empty = tmp("fake-empty");
    std::fs::create_dir_all(&empty).unwrap();
    let big = dir.join("big.safetensors");
    write_images(&big, &vec![0.5; 2 * 3 * 32 * 32], 2, 3, 32);
    let wrong_png = tmp("fake-32px");
    std::fs::create_dir_all(&wrong_png).unwrap();
    image::GrayImage::new(32, 32).save(wrong_png.join("a.png")).unwrap();
    let three = dir.join("three.safetensors");
    write_images(&three, &pick(&train[..3]), 3, 3, 16);
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"not a tensor file").unwrap();
    for (args, needles) in [
        (vec!["eval", "--fake", empty.to_str().unwrap(), "--classifier", c], vec!["--fake", "no .png"]),
        (vec!["eval", "--fake", big.to_str().unwrap(), "--classifier", c], vec!["--fake", "[N, 3, 16, 16]"]),
        (vec!["eval", "--fake", wrong_png.to_str().unwrap(), "--classifier", c], vec!["--fake", "32x32", "16x16"]),
        (vec!["eval", "--fake", garbage.to_str().unwrap(), "--classifier", c], vec!["--fake", "not a safetensors"]),
        (vec!["eval", "--fake", big.to_str().unwrap(), "--classifier", c, "--trials", "0"], vec!["--trials"]),
        (vec!["eval", "--fake", copies_file.to_str().unwrap(), "--extractor", "random:x"], vec!["--extractor", "random:7"]),
        (vec!["eval", "--fake", three.to_str().unwrap(), "--classifier", c, "--dataset", "synthetic"], vec!["--fake", "3 images", "more samples than feature dimensions", "give more images"]),
        (vec!["eval", "--fake", copies_file.to_str().unwrap(), "--extractor", "inception"], vec!["--extractor inception", "unknown"]),
        (vec!["eval", "--fake", copies_file.to_str().unwrap(), "--classifier", c, "--birthday-sizes", "64,1"], vec!["--birthday-sizes 1", "at least 2"]),
        (vec!["eval", "--fake", copies_file.to_str().unwrap(), "--classifier", c, "--dataset", "synthetic", "--birthday-sizes", "400,5000"], vec!["--birthday-sizes", "300 samples"]),
        (vec!["eval", "--fake", copies_file.to_str().unwrap(), "--classifier", c, "--dataset", "mnist", "--data", "/nonexistent"], vec!["/nonexistent"]),
    ] {
        let (code, _, stderr) = common::shadergan(&args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
        for n in needles {
            assert!(errors[0].contains(n), "{args:?}: {:?} lacks {n:?}", errors[0]);
        }
    }
    // A generator and other images at once: refused by the argument parser.
    let (code, _, stderr) = common::shadergan(&["eval", "--fake", big.to_str().unwrap(), "--checkpoint", c, "--classifier", c]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn train_eval_every_logs_fd_and_kid_without_changing_the_training() {
    let cls = tmp("scorer-classifier");
    let c = cls.to_str().unwrap();
    let flags = ["--image-size", "16", "--synthetic-images", "64", "--batch-size", "8", "--log-every", "2", "--conditional", "none", "--ngf", "4", "--ndf", "4", "--nz", "8"];
    let (code, _, stderr) = common::shadergan(&["train", "--model", "classifier", "--image-size", "16", "--synthetic-images", "64", "--batch-size", "8", "--steps", "4", "--ndf", "4", "--features", "8", "--out", c]);
    assert_eq!(code, 0, "{stderr}");
    let run = |out: &Path, extra: &[&str]| {
        let a: Vec<&str> = ["train", "--steps", "4", "--out", out.to_str().unwrap()].iter().chain(&flags).chain(extra).copied().collect();
        let (code, _, stderr) = common::shadergan(&a);
        assert_eq!(code, 0, "{a:?}: {stderr}");
        stderr
    };
    let (scored, plain) = (tmp("scored-gan"), tmp("plain-gan"));
    let stderr = run(&scored, &["--eval-every", "2", "--eval-n", "20", "--eval-classifier", c]);
    assert!(stderr.contains("step      2 FD") && stderr.contains("KID"), "{stderr}");
    run(&plain, &[]);
    // Scoring reads the saved generator only: the weights are those of the run without it.
    assert_eq!(std::fs::read(scored.join("generator.safetensors")).unwrap(), std::fs::read(plain.join("generator.safetensors")).unwrap());
    let lines = |dir: &Path| -> Vec<serde_json::Value> { std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect() };
    let scores: Vec<(u64, f64)> = lines(&scored).iter().filter_map(|v| Some((v["step"].as_u64()?, v["FD"].as_f64()?))).collect();
    assert_eq!(scores.iter().map(|s| s.0).collect::<Vec<_>>(), vec![2, 4], "{:?}", lines(&scored));
    assert!(scores.iter().all(|s| s.1.is_finite() && s.1 >= 0.0));
    assert!(lines(&scored).iter().filter(|v| v.get("FD").is_some()).all(|v| v["KID"].as_f64().is_some_and(f64::is_finite)));
    // Resumed, the run keeps scoring with the classifier its config names.
    let (code, _, stderr) = common::shadergan(&["train", "--resume", scored.to_str().unwrap(), "--steps", "6"]);
    assert_eq!(code, 0, "{stderr}");
    let steps: Vec<u64> = lines(&scored).iter().filter(|v| v.get("FD").is_some()).map(|v| v["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, vec![2, 4, 6]);
    // Bad settings: one line naming the flag.
    let bad = tmp("bad-scored");
    for (extra, needle) in [(&["--eval-every", "2", "--eval-n", "5", "--eval-classifier", c][..], "--eval-n"), (&["--eval-every", "0", "--eval-classifier", c][..], "--eval-every")] {
        let a: Vec<&str> = ["train", "--steps", "2", "--out", bad.to_str().unwrap()].iter().chain(&flags).chain(extra).copied().collect();
        let (code, _, stderr) = common::shadergan(&a);
        assert_eq!(code, 1, "{a:?}: {stderr}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
        assert!(errors.len() == 1 && errors[0].contains(needle), "{a:?}: {stderr}");
    }
}

/// `train --holdout F` keeps F of a GAN's images out of training and records it in the run;
/// `eval --checkpoint RUN` then scores realism and diversity against exactly those images and
/// memorisation against the ones trained on; a resumed run keeps the split.
#[test]
fn eval_scores_a_run_against_the_images_it_held_out() {
    let gan = tmp("holdout-gan");
    let g = gan.to_str().unwrap();
    let (code, _, stderr) = common::shadergan(&["train", "--image-size", "16", "--synthetic-images", "600", "--batch-size", "8", "--steps", "2", "--ngf", "4", "--ndf", "4", "--nz", "8", "--conditional", "none", "--holdout", "0.25", "--out", g]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("held out: 150 of 600 images"), "{stderr}");
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(gan.join("config.json")).unwrap()).unwrap();
    assert_eq!((config["config"]["holdout"].as_f64(), config["images"].as_u64()), (Some(0.25), Some(450)), "{config}");
    let (code, _, stderr) = common::shadergan(&["train", "--resume", g, "--steps", "3"]);
    assert_eq!(code, 0, "{stderr}");

    let (code, stdout, stderr) = common::shadergan(&["eval", "--checkpoint", g, "--dataset", "synthetic", "--n", "200", "--trials", "2", "--extractor", "random"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("held out of training"), "{stdout}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(gan.join("eval.json")).unwrap()).unwrap();
    assert!(r["reference"].as_str().unwrap().contains("held out of training") && r["reference_images"] == 150, "{r}");
    assert!(r["train_images"] == 450 && r["heldout_images"] == 150, "{r}");
    // Another dataset than the run's cannot hold its images.
    common::assert_one_error(&["eval", "--checkpoint", g, "--dataset", "mnist", "--data", "nowhere", "--n", "200", "--extractor", "random"], &[], &["--dataset", "--holdout"]);
    common::assert_one_error(&["train", "--out", tmp("holdout-bad").to_str().unwrap(), "--holdout", "1"], &[], &["--holdout", "(0, 1)"]);
}
