//! `shadergan eval`: is a generator realistic, diverse, and not memorising? Samples come from a
//! checkpoint or from any program (`--fake`); a classifier trained with `train --model
//! classifier` names their classes and gives the feature space. Against real images
//! (`--dataset`): Fréchet distance, KID, precision/recall, density/coverage, memorisation in
//! pixels and features, and the birthday-paradox test; each with the floor that the real
//! held-out tenth reaches against the other nine tenths. Prints a summary and writes eval.json,
//! eval.html and the panels.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::cli::{AdapterArgs, BnStats, EvalArgs};
use shadergan::classifier::{Classified, Classifier};
use shadergan::data;
use shadergan::eval::birthday::{self, Birthday, ClosePairs};
use shadergan::eval::memorisation::Memorisation;
use shadergan::eval::neighbours::{DistanceScan, Knn};
use shadergan::eval::prdc::{self, Prdc, Radii};
use shadergan::eval::{self as metrics, ClassReport};
use shadergan::fsutil;
use shadergan::gpu::Gpu;
use shadergan::images::save_grid;
use shadergan::nn::Mode;
use shadergan::sample::{self, Generator};

/// The feature space, and for a trained classifier the classes.
enum Extractor {
    /// A trained classifier (`trained`) or an untrained one from a seed.
    Net { net: Box<Classifier>, trained: bool },
    /// An autoencoder's encoder (`encoder:RUN`): the features are μ (the AE's code).
    Encoder(Box<sample::Encoder>),
    Pixels,
}

impl Extractor {
    /// `--classifier PATH` or `--extractor classifier:PATH|random[:SEED]|pixels`; the
    /// untrained network is built for the images' (channels, size).
    fn open(gpu: &Gpu, args: &EvalArgs, images: (usize, usize)) -> Result<Extractor> {
        let spec = match (&args.classifier, &args.extractor) {
            (Some(path), _) => format!("classifier:{}", path.display()),
            (None, Some(e)) => e.clone(),
            (None, None) => format!("classifier:{}", default_classifier(gpu, args, images)?.display()),
        };
        if let Some(path) = spec.strip_prefix("classifier:") {
            return Ok(Extractor::Net { net: Box::new(Classifier::load(gpu, Path::new(path))?), trained: true });
        }
        if spec == "pixels" {
            return Ok(Extractor::Pixels);
        }
        if let Some(path) = spec.strip_prefix("encoder:") {
            return Ok(Extractor::Encoder(Box::new(sample::Encoder::load(gpu, Path::new(path))?)));
        }
        if let Some(seed) = spec.strip_prefix("random") {
            let seed = match seed.strip_prefix(':') {
                None if seed.is_empty() => 0,
                Some(v) => v.parse().map_err(|_| anyhow::anyhow!("--extractor {spec}: the seed must be a whole number, as in random:7"))?,
                None => bail!("--extractor {spec}: write random or random:SEED"),
            };
            let (channels, size) = images;
            if !shadergan::model::DCGAN_SIZES.contains(&size) {
                bail!("--extractor random: the network takes {:?} pixel squares, these images are {size}x{size}; use --extractor pixels", shadergan::model::DCGAN_SIZES);
            }
            return Ok(Extractor::Net { net: Box::new(Classifier::random(gpu, size, channels, seed)?), trained: false });
        }
        bail!("--extractor {spec}: unknown; use classifier:PATH, encoder:RUN, random[:SEED] or pixels")
    }

    /// How reports name it ("only scores of the same extractor compare").
    fn name(&self) -> String {
        match self {
            Extractor::Net { net, trained: true } => format!("classifier:{}", net.source.display()),
            Extractor::Net { net, trained: false } => format!("{} (untrained, {} features)", net.source.display(), net.model.features),
            Extractor::Encoder(e) => format!("encoder:{} (μ of the {}, {} features)", e.source.display(), e.model.name(), e.model.nz),
            Extractor::Pixels => "pixels".into(),
        }
    }

    fn sha256(&self) -> &str {
        match self {
            Extractor::Net { net, .. } => &net.sha256,
            Extractor::Encoder(e) => &e.sha256,
            Extractor::Pixels => "-",
        }
    }

    fn trained(&self) -> Option<&Classifier> {
        match self {
            Extractor::Net { net, trained: true } => Some(net),
            _ => None,
        }
    }

    /// (channels, size) it needs, if fixed.
    fn takes(&self) -> Option<(usize, usize)> {
        match self {
            Extractor::Net { net, trained: true } => Some((net.model.channels, net.model.image_size)),
            Extractor::Encoder(e) => Some((e.model.channels, e.model.image_size)),
            _ => None,
        }
    }

    fn dim(&self, per_image: usize) -> usize {
        match self {
            Extractor::Net { net, .. } => net.model.features,
            Extractor::Encoder(e) => e.model.nz,
            Extractor::Pixels => per_image,
        }
    }

    /// Features [n, dim] of `n` images, and a trained classifier's verdicts.
    fn features(&self, gpu: &Gpu, images: &[f32], n: usize) -> Result<(Vec<f32>, Option<Vec<Classified>>)> {
        Ok(match self {
            Extractor::Net { net, trained } => {
                let v = net.classify(gpu, images, n)?;
                (features(&v), trained.then_some(v))
            }
            Extractor::Encoder(e) => {
                let (nz, width) = (e.model.nz, e.model.code_width());
                let codes = e.encode(gpu, images, n)?;
                (codes.chunks(width).flat_map(|row| row[..nz].to_vec()).collect(), None)
            }
            Extractor::Pixels => (images.to_vec(), None),
        })
    }
}

/// Where cached default classifiers live: SHADERGAN_CACHE, else $XDG_CACHE_HOME/shadergan,
/// else ~/.cache/shadergan.
fn cache_dir() -> Result<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("SHADERGAN_CACHE")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("shadergan")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("shadergan")))
        .context("no cache directory for the default classifier: set SHADERGAN_CACHE, or pass --classifier RUN")
}

/// The default classifier of a labelled `--dataset` at the images' (channels, size): the run
/// directory of one trained with `train --model classifier`'s defaults for `--classifier-steps`
/// on the dataset's training split, trained here the first time and cached under a key of the
/// dataset's name, shape, step count and the SHA-256 of its pixels and labels.
fn default_classifier(gpu: &Gpu, args: &EvalArgs, (channels, size): (usize, usize)) -> Result<PathBuf> {
    use shadergan::model::ClassifierModel;
    use shadergan::train::classifier::{ClassifierConfig, ClassifierEvent, ClassifierTrainer};
    let Some(kind) = args.dataset else {
        bail!("give --classifier RUN (a run of `train --model classifier`), --extractor encoder:RUN|random|pixels, or a labelled --dataset to train the default classifier on");
    };
    if !shadergan::model::DCGAN_SIZES.contains(&size) {
        bail!("--dataset {}: the default classifier takes {:?} pixel squares, the samples are {size}x{size}; pass --extractor pixels", kind.name(), shadergan::model::DCGAN_SIZES);
    }
    let dataset = data::load(kind, args.data.as_deref(), size, channels, None, 10_000, false)?;
    if dataset.classes == 0 {
        bail!("--dataset: {} has no class labels, so there is no default classifier; pass --extractor encoder:RUN (an autoencoder trained on it), random or pixels", dataset.source);
    }
    if args.classifier_steps == 0 {
        bail!("--classifier-steps must be at least 1");
    }
    let hash = {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(&dataset.pixels);
        h.update(dataset.labels.as_deref().unwrap_or_default());
        h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect::<String>()
    };
    let key = format!("{}-{channels}x{size}x{size}-{}steps-{hash}", format!("{kind:?}").to_lowercase(), args.classifier_steps);
    let root = cache_dir()?.join("classifiers");
    let dir = root.join(&key);
    if dir.join("classifier.safetensors").is_file() {
        eprintln!("classifier: the default one for {} at {channels}x{size}x{size}, cached in {}", dataset.source, dir.display());
        return Ok(dir);
    }
    // Trained into a private directory and renamed into place when done: an interrupted
    // training never leaves a half-trained classifier in the cache.
    let partial = root.join(format!("{key}.partial-{}", std::process::id()));
    let cfg = ClassifierConfig {
        model: ClassifierModel { image_size: size, channels, width: 32, features: 128, classes: dataset.classes, dropout: 0.5 },
        dataset: kind,
        data: args.data.clone(),
        max_images: None,
        synthetic_images: 10_000,
        holdout: 0.1,
        batch_size: 64,
        steps: args.classifier_steps,
        lr: 3e-4,
        beta1: 0.9,
        beta2: 0.999,
        seed: 1,
        augment: shadergan::train::AugmentConfig { flip: false, shift: 0, brightness: 0.0 },
        log_every: 100,
        eval_every: 500.min(args.classifier_steps),
        checkpoint_every: args.classifier_steps,
        out: partial.clone(),
    };
    eprintln!(
        "classifier: none given; training the default one for {} at {channels}x{size}x{size} ({} steps, once: it is cached in {})",
        dataset.source,
        args.classifier_steps,
        dir.display()
    );
    let t0 = Instant::now();
    let mut trainer = ClassifierTrainer::new(gpu.clone(), cfg, &dataset)?;
    drop(dataset);
    trainer.initialize()?;
    trainer.prepare_run_dir()?;
    trainer.run(|e| {
        if let ClassifierEvent::Logged(r) = e
            && let Some(acc) = r.heldout_accuracy
        {
            eprintln!("classifier: step {:>6} held-out accuracy {:.2}%", r.step, 100.0 * acc);
        }
    })?;
    let acc = trainer.heldout_score.map(|s| s.1).unwrap_or(f64::NAN);
    drop(trainer);
    if let Err(e) = std::fs::rename(&partial, &dir) {
        // Another eval cached the same classifier meanwhile: use that one.
        if !dir.join("classifier.safetensors").is_file() {
            return Err(e).with_context(|| format!("cannot move the trained classifier {} to {}", partial.display(), dir.display()));
        }
        let _ = std::fs::remove_dir_all(&partial);
    }
    eprintln!("classifier: trained in {:.1} min, held-out accuracy {:.2}%: {}", t0.elapsed().as_secs_f64() / 60.0, 100.0 * acc, dir.display());
    Ok(dir)
}

/// (channels, size) of the images the --checkpoint generator makes, to train the default
/// classifier for before they are drawn.
fn generator_shape(gpu: &Gpu, args: &EvalArgs) -> Result<(usize, usize)> {
    let ckpt = args.checkpoint.as_ref().context("give --checkpoint RUN or --fake PATH")?;
    let g = Generator::load_with(gpu, ckpt, !args.no_ema)?;
    Ok((g.model.channels, g.model.image_size))
}

/// The images scored: [n, C, S, S] in [−1, 1], with the classes asked for (conditional).
struct Samples {
    images: Vec<f32>,
    n: usize,
    requested: Vec<u32>,
    source: String,
    channels: usize,
    size: usize,
}

fn draw(gpu: &Gpu, args: &EvalArgs, path: &Path, classifier: Option<&Classifier>) -> Result<Samples> {
    let generator = Generator::load_with(gpu, path, !args.no_ema)?;
    let g = &generator.model;
    let k = generator.classes();
    if let Some(classifier) = classifier {
    let c = &classifier.model;
    if (g.channels, g.image_size) != (c.channels, c.image_size) {
        bail!(
            "--classifier {}: it takes {}x{}x{} images, but the generator makes {}x{}x{}; train a classifier with --image-size {} --channels {}",
            classifier.source.display(),
            c.channels,
            c.image_size,
            c.image_size,
            g.channels,
            g.image_size,
            g.image_size,
            g.image_size,
            g.channels
        );
    }
    if k > 0 && k != c.classes {
        bail!("--classifier {}: it knows {} classes, but the generator is conditioned on {k}", classifier.source.display(), c.classes);
    }
    }
    // Conditional: equally many of each class, in a shuffled order so that batch statistics
    // (--batchnorm batch) never see one class alone.
    let n = if k > 0 { args.n.div_ceil(k) * k } else { args.n };
    let mut requested: Vec<u32> = if k > 0 { (0..n).map(|i| (i % k) as u32).collect() } else { Vec::new() };
    shadergan::rng::Rng::for_case(args.seed, "eval labels").shuffle(&mut requested);
    let z = sample::latents(gpu, args.seed, n, g.nz)?;
    let mode = if args.batchnorm == BnStats::Batch { Mode::Train } else { Mode::Eval };
    // Chunk by chunk: any n fits in GPU memory.
    let mut images = Vec::with_capacity(n * g.channels * g.image_size * g.image_size);
    generator.generate_chunks(gpu, &z, &requested, n, mode, |_, chunk| {
        images.extend_from_slice(chunk);
        Ok(())
    })?;
    let source = format!("{}{}", generator.source.display(), if generator.ema { " (moving average)" } else { "" });
    Ok(Samples { images, n, requested, source, channels: g.channels, size: g.image_size })
}

/// `--fake` (or `--reference`, named by `flag` in errors): a folder of images or a safetensors file with `images` [N, C, H, W] in [−1, 1],
/// at the classifier's size and channels (refused otherwise: resizing would change the scores).
fn load_fake(flag: &str, path: &Path, expect: Option<(usize, usize)>) -> Result<Samples> {
    let square = |c: usize, h: usize, w: usize| -> Result<(usize, usize)> {
        if h != w || !matches!(c, 1 | 3) {
            bail!("{flag} {}: the images are {w}x{h} with {c} channel(s); eval takes square grayscale or RGB images", path.display());
        }
        Ok((c, h))
    };
    let (images, n, channels, size) = if path.is_dir() {
        let first = first_image(path)?.with_context(|| format!("{flag} {}: the folder holds no .png, .jpg or .jpeg files", path.display()))?;
        let img = image::open(&first).with_context(|| format!("{flag} {}: cannot read {}", path.display(), first.display()))?;
        let c = if img.color().has_color() { 3 } else { 1 };
        let (channels, size) = match expect {
            Some(e) => e,
            None => square(c, img.height() as usize, img.width() as usize)?,
        };
        if (img.width() as usize, img.height() as usize, c) != (size, size, channels) {
            bail!(
                "{flag} {}: {} is {}x{} with {c} channel(s), but the classifier takes {size}x{size} with {channels}; give images of the classifier's size",
                path.display(),
                first.display(),
                img.width(),
                img.height()
            );
        }
        let ds = data::load(data::DatasetKind::Folder, Some(path), size, channels, None, 0, false)?;
        (data::to_unit_range(&ds.pixels), ds.n, channels, size)
    } else {
        let bytes = std::fs::read(path).with_context(|| format!("{flag} {}: cannot read it", path.display()))?;
        let file = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| anyhow::anyhow!("{flag} {}: not a safetensors file ({e}); give a folder of PNG/JPEG or a safetensors with `images`", path.display()))?;
        let t = file.tensor("images").map_err(|_| anyhow::anyhow!("{flag} {}: has no tensor `images` [N, C, H, W]", path.display()))?;
        let shape = t.shape().to_vec();
        let (channels, size) = match (expect, shape.len()) {
            (Some(e), _) => e,
            (None, 4) => square(shape[1], shape[2], shape[3])?,
            (None, _) => bail!("{flag} {}: `images` has shape {shape:?}, not [N, C, H, W]", path.display()),
        };
        if t.dtype() != safetensors::Dtype::F32 || shape.len() != 4 || shape[1..] != [channels, size, size] || shape[0] == 0 {
            bail!("{flag} {}: `images` is {:?} {shape:?}, the classifier needs F32 [N, {channels}, {size}, {size}] in [−1, 1]", path.display(), t.dtype());
        }
        let images: Vec<f32> = t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        if let Some(i) = images.iter().position(|v| !v.is_finite()) {
            bail!("{flag} {}: `images` holds a non-finite value at element {i}", path.display());
        }
        (images, shape[0], channels, size)
    };
    Ok(Samples { images, n, requested: Vec::new(), source: path.display().to_string(), channels, size })
}

/// The first image file under `dir` in sorted order (recursively).
fn first_image(dir: &Path) -> Result<Option<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if let Some(f) = first_image(&p)? {
                return Ok(Some(f));
            }
        } else if p.extension().and_then(|e| e.to_str()).is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str())) {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// Rows `idx` of a row-major [n, dim] matrix.
fn rows(x: &[f32], dim: usize, idx: &[usize]) -> Vec<f32> {
    idx.iter().flat_map(|&i| x[i * dim..(i + 1) * dim].iter().copied()).collect()
}

fn features(v: &[Classified]) -> Vec<f32> {
    v.iter().flat_map(|c| c.features.iter().copied()).collect()
}

/// Scores against real images, with the floors of the held-out tenth.
#[derive(Serialize)]
struct RealScores {
    /// What realism and diversity are measured against: --reference, or the whole dataset.
    reference: String,
    reference_images: usize,
    /// The dataset whose split gives the floors and the training images of memorisation.
    dataset: String,
    train_images: usize,
    heldout_images: usize,
    frechet_distance: f64,
    /// The first as many samples as held-out images, against the nine tenths.
    frechet_distance_matched: Option<f64>,
    frechet_distance_heldout_floor: Option<f64>,
    /// (mean, std) over the subsets.
    kid: (f64, f64),
    kid_heldout_floor: Option<(f64, f64)>,
    /// All samples against all real images.
    prdc: Prdc,
    /// As many samples as held-out images against the nine tenths, and the held-out images.
    prdc_matched: Prdc,
    prdc_heldout_floor: Prdc,
    memorisation_features: Memorisation,
    memorisation_pixels: Memorisation,
    birthday: Birthday,
    /// Seconds per phase, in order: where eval's time goes (PERF.md).
    seconds_per_phase: Vec<(&'static str, f64)>,
}

pub fn eval(adapter: &AdapterArgs, args: &EvalArgs) -> Result<()> {
    if args.n == 0 || args.n > 1_000_000 {
        bail!("--n {} is outside 1..=1000000", args.n);
    }
    if args.data.is_some() && args.dataset.is_none() {
        bail!("--data needs --dataset (mnist, cifar10, folder, …) to say how to read it");
    }
    if let (Some(r), None) = (&args.reference, &args.dataset) {
        bail!("--reference {}: memorisation and the floors need the training images too; add --dataset (and --data)", r.display());
    }
    if args.trials == 0 || args.trials > 100_000 {
        bail!("--trials {} is outside 1..=100000", args.trials);
    }
    // Checked before the minutes of sampling; used by the birthday test.
    birthday_sizes(&args.birthday_sizes)?;
    let gpu = crate::commands::open_gpu(adapter)?;
    let (out, source_path) = match (&args.checkpoint, &args.fake) {
        (Some(ckpt), _) => (args.out.clone().unwrap_or_else(|| if ckpt.is_dir() { ckpt.clone() } else { ckpt.parent().map(Path::to_path_buf).unwrap_or_default() }), ckpt.clone()),
        (None, Some(fake)) => {
            let name = format!("{}-eval", fake.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "fake".into()));
            (args.out.clone().unwrap_or_else(|| fake.with_file_name(name)), fake.clone())
        }
        (None, None) => bail!("give --checkpoint RUN or --fake PATH"),
    };
    let t0 = Instant::now();
    // A trained classifier fixes the image size, so it is opened (and checked) first; an
    // untrained network is built for the images' size once they are known.
    // Without --classifier or --extractor: the default classifier, trained for the images'
    // shape before they are drawn.
    let default = args.classifier.is_none() && args.extractor.is_none();
    let trained = default || args.classifier.is_some() || args.extractor.as_deref().is_some_and(|e| e.starts_with("classifier:") || e.starts_with("encoder:"));
    // --fake images are read once, first when their shape picks the default classifier.
    let fake_first = if default && args.fake.is_some() { Some(load_fake("--fake", &source_path, None)?) } else { None };
    let shape = match (&fake_first, default) {
        (Some(s), _) => (s.channels, s.size),
        (None, true) => generator_shape(&gpu, args)?,
        (None, false) => (0, 0),
    };
    let early = if trained { Some(Extractor::open(&gpu, args, shape)?) } else { None };
    let samples = match (fake_first, &args.fake) {
        (Some(s), _) => s,
        (None, Some(_)) => load_fake("--fake", &source_path, early.as_ref().and_then(Extractor::takes))?,
        (None, None) => draw(&gpu, args, &source_path, early.as_ref().and_then(Extractor::trained))?,
    };
    let extractor = match early {
        Some(e) => e,
        None => Extractor::open(&gpu, args, (samples.channels, samples.size))?,
    };
    if let (Extractor::Encoder(e), Some((c, size))) = (&extractor, extractor.takes())
        && (c, size) != (samples.channels, samples.size)
    {
        bail!("--extractor encoder:{}: it takes {c}x{size}x{size} images, but the samples are {}x{}x{}; use an autoencoder trained at that size", e.source.display(), samples.channels, samples.size, samples.size);
    }
    let n = samples.n;
    let (fake_features, verdicts) = extractor.features(&gpu, &samples.images, n)?;
    let report = verdicts.as_ref().map(|v| ClassReport::new(v, &samples.requested));
    let t_samples = t0.elapsed().as_secs_f64();
    std::fs::create_dir_all(&out).with_context(|| format!("--out {}: cannot create it", out.display()))?;
    let real = match args.dataset {
        Some(kind) => Some(score_against_real(&gpu, args, kind, &extractor, &samples, &fake_features, &out)?),
        None => None,
    };
    let seconds = t0.elapsed().as_secs_f64();
    print_summary(&samples, &extractor, report.as_ref(), real.as_ref(), t_samples, seconds);

    #[derive(Serialize)]
    struct Report<'a> {
        samples_from: &'a str,
        /// Present when no classifier names the classes (with one, the class report has it).
        #[serde(skip_serializing_if = "Option::is_none")]
        samples: Option<usize>,
        /// The feature extractor and the SHA-256 of its weights file: only scores of the same
        /// extractor are comparable.
        extractor: String,
        extractor_sha256: &'a str,
        classifier_heldout_accuracy: Option<f64>,
        seed: u64,
        batchnorm: &'a str,
        trials: usize,
        #[serde(flatten)]
        classes: Option<&'a ClassReport>,
        #[serde(flatten)]
        real: Option<&'a RealScores>,
        elapsed_seconds: f64,
    }
    let r = Report {
        samples_from: &samples.source,
        samples: report.is_none().then_some(n),
        extractor: extractor.name(),
        extractor_sha256: extractor.sha256(),
        classifier_heldout_accuracy: extractor.trained().and_then(|c| c.heldout_accuracy),
        seed: args.seed,
        batchnorm: if args.batchnorm == BnStats::Batch { "batch" } else { "running" },
        trials: args.trials,
        classes: report.as_ref(),
        real: real.as_ref(),
        elapsed_seconds: seconds,
    };
    let json = serde_json::to_vec_pretty(&r).context("serialising the report")?;
    let path = args.report.clone().unwrap_or_else(|| out.join("eval.json"));
    fsutil::atomic_write(&path, &json)?;
    // A few random samples for the page.
    save_grid(&out.join("eval_samples.png"), &samples.images, n.min(64), samples.channels, samples.size, 8, 2)?;
    write_html(&out, &r.extractor, extractor.sha256(), &samples, report.as_ref(), real.as_ref())?;
    eprintln!("report: {} and {}", path.display(), out.join("eval.html").display());
    Ok(())
}

/// The images a GAN run held out of training (`train --holdout F`), as its config.json
/// records them.
struct RunHoldout {
    run: PathBuf,
    fraction: f64,
    dataset: data::DatasetKind,
    synthetic_images: usize,
    max_images: Option<usize>,
    /// The images the run trained on (the rest of its dataset was held out).
    train_images: usize,
}

/// The held-out split of the run behind --checkpoint, if it recorded one.
fn run_holdout(args: &EvalArgs) -> Result<Option<RunHoldout>> {
    let Some(ckpt) = &args.checkpoint else { return Ok(None) };
    let dir = if ckpt.is_dir() { ckpt.clone() } else { ckpt.parent().map(Path::to_path_buf).unwrap_or_default() };
    let path = dir.join("config.json");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
    let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}: unreadable run config", path.display()))?;
    let Ok(cfg) = serde_json::from_value::<shadergan::train::TrainConfig>(v["config"].clone()) else { return Ok(None) };
    let (Some(fraction), Some(train_images)) = (cfg.holdout, v["images"].as_u64()) else { return Ok(None) };
    Ok(Some(RunHoldout { run: dir, fraction, dataset: cfg.dataset, synthetic_images: cfg.synthetic_images, max_images: cfg.max_images, train_images: train_images as usize }))
}

fn score_against_real(gpu: &Gpu, args: &EvalArgs, kind: data::DatasetKind, extractor: &Extractor, samples: &Samples, fake_f: &[f32], out: &Path) -> Result<RealScores> {
    let (channels, size) = (samples.channels, samples.size);
    let per_image = channels * size * size;
    let (n, dim) = (samples.n, extractor.dim(per_image));
    let mut phases: Vec<(&'static str, f64)> = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &'static str| {
        phases.push((name, clock.elapsed().as_secs_f64()));
        clock = Instant::now();
    };
    if let (Some(fake), true) = (&args.fake, n <= dim) {
        bail!("--fake {}: {n} images, but the Fréchet distance needs more samples than feature dimensions ({dim}); give more images", fake.display());
    }
    // A run that held images out of training is scored on its own split: the dataset read
    // as training read it, the held-out images as the reference.
    let holdout = run_holdout(args)?;
    if let Some(h) = &holdout
        && h.dataset != kind
    {
        bail!("--dataset {kind:?}: {} was trained on {:?} with --holdout {}; pass --dataset {:?} (and its --data) to score it on its held-out images", h.run.display(), h.dataset, h.fraction, h.dataset);
    }
    let ds = data::load(kind, args.data.as_deref(), size, channels, holdout.as_ref().and_then(|h| h.max_images), holdout.as_ref().map_or(10_000, |h| h.synthetic_images), false)?;
    if let Some(c) = extractor.trained() {
        if ds.classes > 0 && ds.classes != c.model.classes {
            bail!("--classifier {}: it knows {} classes, but {} has {}; train a classifier on this dataset", c.source.display(), c.model.classes, ds.source, ds.classes);
        }
    }
    let (train, held) = data::holdout_split(ds.n, holdout.as_ref().map_or(0.1, |h| h.fraction));
    if let Some(h) = &holdout
        && train.len() != h.train_images
    {
        bail!("--data: {} has {} images, so --holdout {} would leave {} to train on, but {} trained on {}; pass the dataset the run was trained on", ds.source, ds.n, h.fraction, train.len(), h.run.display(), h.train_images);
    }
    let real_px = data::to_unit_range(&ds.pixels);
    let (real_f, _) = extractor.features(gpu, &real_px, ds.n)?;
    let (train_f, held_f) = (rows(&real_f, dim, &train), rows(&real_f, dim, &held));
    let (train_px, held_px) = (rows(&real_px, per_image, &train), rows(&real_px, per_image, &held));
    let matched = held.len().min(n);
    // Realism and diversity are measured against --reference when given (a held-out folder or
    // safetensors of the same size), else against every image of the dataset; the floors and
    // memorisation always use the dataset's fixed split.
    let reference = match &args.reference {
        Some(path) => {
            let r = load_fake("--reference", path, Some((channels, size)))?;
            if r.n <= dim {
                bail!("--reference {}: {} images, but the Fréchet distance needs more images than feature dimensions ({dim}); give more images", path.display(), r.n);
            }
            let (f, _) = extractor.features(gpu, &r.images, r.n)?;
            Some((f, r.n, r.source))
        }
        None => None,
    };
    let (ref_f, ref_n, ref_name) = match (&reference, &holdout) {
        (Some((f, n, name)), _) => (&f[..], *n, name.clone()),
        (None, Some(h)) => (&held_f[..], held.len(), format!("the {} images of {} that {} held out of training", held.len(), ds.source, h.run.display())),
        (None, None) => (&real_f[..], ds.n, ds.source.clone()),
    };
    lap("real images: load and classify");

    // Realism and diversity of the whole distribution.
    let fd = metrics::frechet_distance_of(fake_f, ref_f, dim)?;
    let fd_matched = metrics::frechet_distance_of(&fake_f[..matched * dim], &train_f, dim).ok();
    let fd_floor = metrics::frechet_distance_of(&held_f[..matched * dim], &train_f, dim).ok();
    let kid = metrics::kid_on_gpu(gpu, fake_f, ref_f, dim, 100, 1000, args.seed)?;
    let kid_floor = metrics::kid_on_gpu(gpu, &held_f, &train_f, dim, 100, 1000, args.seed).ok();
    lap("Fréchet distance and KID (host, f64)");

    // k-NN balls: of all reals, of the nine tenths, of the samples (whose scan also finds
    // the close pairs of the birthday test), of the matched samples and of the held-out tenth.
    let need = prdc::K_DC + 1;
    if n < need || held.len() < need {
        bail!("--n {n}: precision/recall need more than {} samples and held-out images", prdc::K_DC);
    }
    let ball_radii = |scan: &DistanceScan, set: &[f32], m: usize, k: usize| -> Result<Radii> { Ok(Radii::of(&Knn::compute(gpu, scan, set, m, k, true)?)) };
    if ref_n < need {
        bail!("--reference: precision/recall need more than {} reference images", prdc::K_DC);
    }
    let real_scan = DistanceScan::new(gpu, ref_f, ref_n, dim, 4096)?;
    let real_radii = ball_radii(&real_scan, ref_f, ref_n, prdc::K_DC)?;
    let train_scan = DistanceScan::new(gpu, &train_f, train.len(), dim, 4096)?;
    let train_radii = ball_radii(&train_scan, &train_f, train.len(), prdc::K_DC)?;

    // Memorisation in features: the samples' and the held-out images' nearest training images.
    let mem_f = Memorisation::new("features", &Knn::compute(gpu, &train_scan, fake_f, n, 3, false)?, &Knn::compute(gpu, &train_scan, &held_f, held.len(), 1, false)?);

    // The samples against themselves: their P/R balls and the close pairs (birthday).
    let fake_scan = DistanceScan::new(gpu, fake_f, n, dim, 4096)?;
    let mut fake_knn = Knn::empty(n, prdc::K_PR);
    let mut pairs = ClosePairs::default();
    fake_scan.scan(gpu, fake_f, n, |first, r, d| {
        shadergan::eval::neighbours::knn_of_block(&mut fake_knn, first, r, n, d, true);
        pairs.block(first, r, n, d, mem_f.threshold);
        Ok(())
    })?;
    drop(fake_scan);
    let fake_radii = Radii::of(&fake_knn);
    let prdc_all = prdc::prdc_of(gpu, &real_scan, &real_radii, fake_f, &fake_radii)?;
    drop(real_scan);
    let matched_f = &fake_f[..matched * dim];
    let prdc_matched = prdc::prdc(gpu, &train_f, matched_f, dim)?;
    let floor = prdc::prdc_of(gpu, &train_scan, &train_radii, &held_f, &{
        let s = DistanceScan::new(gpu, &held_f, held.len(), dim, 4096)?;
        ball_radii(&s, &held_f, held.len(), prdc::K_PR)?
    })?;
    let sizes = birthday_sizes(&args.birthday_sizes)?;
    // Asked-for sizes that all exceed the samples are a mistake; the default's are left out.
    if !args.birthday_sizes.is_empty() && sizes.iter().all(|&s| s > n) {
        bail!("--birthday-sizes are all larger than the {n} samples; give sizes ≤ {n}");
    }
    let bday = birthday::birthday(n, &pairs, mem_f.threshold, args.trials, &sizes, args.seed);
    lap("k-NN balls, P/R/D/C, memorisation and close pairs in features");

    // Memorisation in pixels, and the panels: each row a sample and its 3 nearest training
    // images in pixel space.
    let px_scan = DistanceScan::new(gpu, &train_px, train.len(), per_image, 1024)?;
    let fake_px_knn = Knn::compute(gpu, &px_scan, &samples.images, n, 3, false)?;
    let mem_px = Memorisation::new("pixels", &fake_px_knn, &Knn::compute(gpu, &px_scan, &held_px, held.len(), 1, false)?);
    drop(px_scan);
    lap("memorisation in pixels");
    let panel = |which: &[usize], file: &str| -> Result<()> {
        let mut batch = Vec::new();
        for &i in which {
            batch.extend_from_slice(&samples.images[i * per_image..(i + 1) * per_image]);
            for r in 0..3 {
                let j = fake_px_knn.index[i * 3 + r] as usize;
                batch.extend_from_slice(&train_px[j * per_image..(j + 1) * per_image]);
            }
        }
        save_grid(&out.join(file), &batch, which.len() * 4, channels, size, 4, 2)?;
        Ok(())
    };
    let mut by_nearest: Vec<usize> = (0..n).collect();
    by_nearest.sort_by(|&a, &b| fake_px_knn.nearest(a).0.total_cmp(&fake_px_knn.nearest(b).0));
    panel(&by_nearest[..n.min(8)], "memorisation_nearest.png")?;
    panel(&(0..n.min(8)).collect::<Vec<_>>(), "memorisation_random.png")?;

    // The birthday curve, and the 20 closest pairs among panel_size samples for a human to
    // judge whether they are duplicates.
    shadergan::train::plot::save_birthday_plot(&out.join("birthday.png"), &bday.probability, "birthday-paradox test: P(duplicate among s samples)")?;
    let s = bday.panel_size.min(n);
    let mut order: Vec<usize> = (0..n).collect();
    shadergan::rng::Rng::for_case(args.seed, "birthday panel").shuffle(&mut order);
    let subset = &order[..s];
    let sub_f = rows(fake_f, dim, subset);
    let sub_scan = DistanceScan::new(gpu, &sub_f, s, dim, 4096)?;
    // The 20 smallest so far, pruned a row at a time: only pairs below the current 20th
    // enter (a whole block of pairs would be ~10⁷ tuples).
    let mut closest: Vec<(f32, usize, usize)> = Vec::new();
    let mut cutoff = f32::INFINITY;
    sub_scan.scan(gpu, &sub_f, s, |first, r, d| {
        for a in 0..r {
            let i = first + a;
            closest.extend(d[a * s..(a + 1) * s].iter().enumerate().skip(i + 1).filter(|p| *p.1 < cutoff).map(|(j, &v)| (v, i, j)));
            if closest.len() > 40 {
                closest.select_nth_unstable_by(19, |x, y| x.0.total_cmp(&y.0));
                closest.truncate(20);
                cutoff = closest.iter().map(|c| c.0).fold(f32::NEG_INFINITY, f32::max);
            }
        }
        Ok(())
    })?;
    closest.sort_by(|x, y| x.0.total_cmp(&y.0));
    closest.truncate(20);
    let mut batch = Vec::new();
    for &(_, i, j) in &closest {
        for k in [subset[i], subset[j]] {
            batch.extend_from_slice(&samples.images[k * per_image..(k + 1) * per_image]);
        }
    }
    save_grid(&out.join("birthday_pairs.png"), &batch, closest.len() * 2, channels, size, 4, 2)?;
    lap("panels and plot");

    Ok(RealScores {
        reference: ref_name,
        reference_images: ref_n,
        dataset: ds.source.clone(),
        train_images: train.len(),
        heldout_images: held.len(),
        frechet_distance: fd,
        frechet_distance_matched: fd_matched,
        frechet_distance_heldout_floor: fd_floor,
        kid,
        kid_heldout_floor: kid_floor,
        prdc: prdc_all,
        prdc_matched,
        prdc_heldout_floor: floor,
        memorisation_features: mem_f,
        memorisation_pixels: mem_px,
        birthday: bday,
        seconds_per_phase: phases,
    })
}

fn print_summary(samples: &Samples, extractor: &Extractor, report: Option<&ClassReport>, real: Option<&RealScores>, t_samples: f64, seconds: f64) {
    let n = samples.n;
    let acc = extractor.trained().and_then(|c| c.heldout_accuracy).map(|a| format!(", held-out accuracy {:.2}%", 100.0 * a)).unwrap_or_default();
    println!("samples:    {n} from {} ({t_samples:.1} s to get them and their features)", samples.source);
    println!("extractor:  {}{acc}, sha256 {}", extractor.name(), extractor.sha256());
    if let Some(report) = report {
        print_classes(n, report);
    }
    print_real(real, t_samples, seconds);
}

fn print_classes(n: usize, report: &ClassReport) {
    let asked = report.recognised_per_class.is_some();
    println!("class        share of samples{}", if asked { "   recognised as asked" } else { "" });
    for (i, &count) in report.histogram.iter().enumerate() {
        let r = report.recognised_per_class.as_ref().map(|r| format!("   {:>6.2}%", 100.0 * r[i])).unwrap_or_default();
        println!("{i:>5}        {:>6.2}%{r}", 100.0 * count as f64 / n as f64);
    }
    println!("classes covered: {} of {}", report.classes_covered, report.classes);
    println!("entropy of the classes: {:.3} nats ({:.3} of uniform)", report.entropy, report.entropy_normalised);
    println!("mean confidence: {:.3}", report.mean_confidence);
    if let Some(r) = report.recognised {
        println!("recognised as the class asked for: {:.2}%", 100.0 * r);
    }
}

fn print_real(real: Option<&RealScores>, t_samples: f64, seconds: f64) {
    let Some(s) = real else {
        println!("eval took {seconds:.1} s (with --dataset it also scores realism, diversity and memorisation)");
        return;
    };
    let (nh, nt) = (s.heldout_images, s.train_images);
    if s.reference == s.dataset {
        println!("against {} ({nt} training images, {nh} held out):", s.reference);
    } else {
        println!("against {} ({} images); floors and memorisation from {} ({nt} training images, {nh} held out):", s.reference, s.reference_images, s.dataset);
    }
    println!("                              samples   {nh} samples   held-out floor");
    let opt = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.4}"));
    println!("  Fréchet distance        {:>11.4}   {:>11}   {:>11}", s.frechet_distance, opt(s.frechet_distance_matched), opt(s.frechet_distance_heldout_floor));
    println!("  KID                     {:>11.5}   {:>11}   {:>11}", s.kid.0, "", s.kid_heldout_floor.map_or("—".into(), |k| format!("{:.5}", k.0)));
    for (((name, a), (_, m)), (_, f)) in s.prdc.named().into_iter().zip(s.prdc_matched.named()).zip(s.prdc_heldout_floor.named()) {
        println!("  {name:<22}  {a:>11.4}   {m:>11.4}   {f:>11.4}");
    }
    for m in [&s.memorisation_features, &s.memorisation_pixels] {
        println!(
            "memorised ({}): {:.2}% of samples nearer to a training image than 99% of held-out images are (held-out: 1% by construction); median nearest distance² {:.3} vs held-out {:.3}",
            m.space,
            100.0 * m.flagged,
            m.median_sample_nearest,
            m.median_heldout_nearest
        );
    }
    let b = &s.birthday;
    let curve: Vec<String> = b.probability.iter().map(|(s, p)| format!("{s}: {p:.2}")).collect();
    println!("birthday test ({} shuffles, {} close pairs{}): P(duplicate) at s = {}", b.trials, b.close_pairs, if b.truncated { ", list truncated" } else { "" }, curve.join(", "));
    match (b.crossing, b.support) {
        (Some(c), Some(sup)) => println!("  P crosses ½ at s = {c}: estimated support ≈ s² = {sup:.0} distinct images"),
        _ => println!("  P stays below ½ up to s = {}: support > {}", b.samples, b.samples * b.samples),
    }
    let phases: Vec<String> = s.seconds_per_phase.iter().map(|(name, t)| format!("{name} {t:.1} s")).collect();
    println!("eval took {seconds:.1} s: samples {t_samples:.1} s, {}", phases.join(", "));
}

fn write_html(out: &Path, extractor: &str, sha: &str, samples: &Samples, report: Option<&ClassReport>, real: Option<&RealScores>) -> Result<()> {
    use base64::Engine;
    let img = |file: &str, caption: &str| -> String {
        match std::fs::read(out.join(file)) {
            Ok(bytes) => format!(
                "<figure><img src=\"data:image/png;base64,{}\"><figcaption>{caption}</figcaption></figure>",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            ),
            Err(_) => String::new(),
        }
    };
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let mut h = String::from("<!doctype html><meta charset=\"utf-8\"><title>shadergan eval</title><style>body{font-family:sans-serif;max-width:980px;margin:2em auto}td,th{padding:2px 10px;text-align:right}figure{display:inline-block;margin:8px}img{image-rendering:pixelated}</style>");
    h += &format!("<h1>shadergan eval</h1><p>{} samples from <code>{}</code><br>extractor <code>{}</code>, sha256 <code>{}</code> (scores of different extractors are not comparable)</p>", samples.n, esc(&samples.source), esc(extractor), sha);
    if let Some(report) = report {
        h += &format!("<p>classes covered {} of {}, entropy {:.3} of uniform, mean confidence {:.3}{}</p>", report.classes_covered, report.classes, report.entropy_normalised, report.mean_confidence, report.recognised.map(|r| format!(", recognised as asked {:.2}%", 100.0 * r)).unwrap_or_default());
    }
    if let Some(s) = real {
        h += &format!("<h2>Against {}</h2><table><tr><th></th><th>samples</th><th>{} samples</th><th>held-out floor</th></tr>", esc(&s.reference), s.heldout_images);
        let opt = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.4}"));
        h += &format!("<tr><td>Fréchet distance</td><td>{:.4}</td><td>{}</td><td>{}</td></tr>", s.frechet_distance, opt(s.frechet_distance_matched), opt(s.frechet_distance_heldout_floor));
        h += &format!("<tr><td>KID</td><td>{:.5} ± {:.5}</td><td></td><td>{}</td></tr>", s.kid.0, s.kid.1, s.kid_heldout_floor.map_or("—".into(), |k| format!("{:.5} ± {:.5}", k.0, k.1)));
        for (((name, a), (_, m)), (_, f)) in s.prdc.named().into_iter().zip(s.prdc_matched.named()).zip(s.prdc_heldout_floor.named()) {
            h += &format!("<tr><td>{name}</td><td>{a:.4}</td><td>{m:.4}</td><td>{f:.4}</td></tr>");
        }
        h += "</table>";
        for m in [&s.memorisation_features, &s.memorisation_pixels] {
            h += &format!("<p>memorised in {}: {:.2}% of samples (held-out images: 1% by construction)</p>", m.space, 100.0 * m.flagged);
        }
        let b = &s.birthday;
        h += &format!(
            "<p>birthday test: {}</p>",
            match b.support {
                Some(sup) => format!("P(duplicate) crosses ½ at s = {}, support ≈ {sup:.0}", b.crossing.unwrap_or(0)),
                None => format!("no crossing up to s = {}", b.samples),
            }
        );
        h += &img("birthday.png", "P(a duplicate pair among s samples)");
        h += &img("birthday_pairs.png", &format!("the 20 closest pairs among {} samples", b.panel_size));
        h += &img("memorisation_nearest.png", "the samples nearest to a training image | their 3 nearest training images (pixels)");
        h += &img("memorisation_random.png", "random samples | their 3 nearest training images (pixels)");
    }
    h += &img("eval_samples.png", "samples");
    fsutil::atomic_write(&out.join("eval.html"), h.as_bytes())?;
    Ok(())
}

/// The birthday test's reported sizes: `--birthday-sizes` sorted, or the default; each a
/// sample size of at least 2 (sizes above the number of samples are left out later).
fn birthday_sizes(given: &[usize]) -> Result<Vec<usize>> {
    if given.is_empty() {
        return Ok(birthday::default_sizes());
    }
    if let Some(s) = given.iter().find(|&&s| s < 2) {
        bail!("--birthday-sizes {s}: a duplicate needs a sample of at least 2");
    }
    let mut sizes = given.to_vec();
    sizes.sort_unstable();
    sizes.dedup();
    Ok(sizes)
}
