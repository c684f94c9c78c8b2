//! The `train` and `sample` commands: flags → configuration → library calls, plus the
//! progress display. Everything that is not about the command line lives in the library.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::parser::ValueSource;
use clap::ArgMatches;

use crate::cli::{AdapterArgs, BenchArgs, BnStats, Preset, SampleArgs, TrainArgs};
use shadergan::data;
use shadergan::fsutil::{self, RunDir};
use shadergan::gpu::{AdapterChoice, Gpu};
use shadergan::model::{Conditional, DNorm, ModelConfig, ModelKind};
use shadergan::nn::Mode;
use shadergan::sample::{self, Generator};
use shadergan::train::checkpoint::{HostTensor, TensorFile, Values};
use shadergan::train::{AugmentConfig, Event, GanLoss, Optimizer, TrainConfig, Trainer};

/// A flag raised by Ctrl-C (SIGINT) or SIGTERM: the trainer finishes the step in flight,
/// checks and checkpoints it, and returns. A second signal exits at once (every file is
/// written atomically, so the last checkpoint stays intact).
fn stop_flag() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let flag = std::sync::Arc::new(AtomicBool::new(false));
    let raised = flag.clone();
    let installed = ctrlc::set_handler(move || {
        if raised.swap(true, Ordering::SeqCst) {
            eprintln!("\ninterrupted again: exiting now (the last checkpoint is intact)");
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: finishing this step and writing a checkpoint (interrupt again to exit at once)");
    });
    if let Err(e) = installed {
        eprintln!("warning: Ctrl-C will stop without a last checkpoint ({e})");
    }
    flag
}

/// Exit status of a run stopped by a signal (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;

/// The scorer of `train --eval-every`: FD and KID (10 subsets) of `eval_n` samples of the saved
/// generator against the training images (up to 10 000), in the classifier's features. The real
/// features are computed once; each score loads generator.safetensors, so the trainer's state
/// (and an exact resume) is untouched.
fn scorer(gpu: &Gpu, cfg: &TrainConfig, dataset: &data::Dataset) -> Result<shadergan::train::Evaluator> {
    use shadergan::classifier::Classifier;
    let path = cfg.eval_classifier.clone().context("--eval-every needs --eval-classifier")?;
    let classifier = Classifier::load(gpu, &path)?;
    let (c, m) = (&classifier.model, &cfg.model);
    if (c.channels, c.image_size) != (m.channels, m.image_size) {
        bail!("--eval-classifier {}: it takes {}x{}x{} images, but the model makes {}x{}x{}; train a classifier with --image-size {} --channels {}", path.display(), c.channels, c.image_size, c.image_size, m.channels, m.image_size, m.image_size, m.image_size, m.channels);
    }
    if dataset.classes > 0 && dataset.classes != c.classes {
        bail!("--eval-classifier {}: it knows {} classes, but {} has {}; train a classifier on this dataset", path.display(), c.classes, dataset.source, dataset.classes);
    }
    let (n, dim, seed) = (cfg.eval_n, c.features, cfg.seed);
    if n <= dim {
        bail!("--eval-n {n}: the Fréchet distance needs more samples than the classifier's {dim} features");
    }
    let first: Vec<usize> = (0..dataset.n.min(10_000)).collect();
    let real_images = data::to_unit_range(&dataset.subset(&first, "reference").pixels);
    let real: Vec<f32> = classifier.classify(gpu, &real_images, first.len())?.into_iter().flat_map(|v| v.features).collect();
    let per_image = m.channels * m.image_size * m.image_size;
    let gpu = gpu.clone();
    Ok(Box::new(move |file: &Path| {
        let g = Generator::load(&gpu, file)?;
        let k = g.classes();
        let labels: Vec<u32> = if k > 0 { (0..n).map(|i| (i % k) as u32).collect() } else { Vec::new() };
        // The same latents at every score: the curve follows the generator, not the draw.
        let z = sample::latents(&gpu, seed ^ 0x5c0e, n, g.model.nz)?;
        let mut fake = Vec::with_capacity(n * dim);
        g.generate_chunks(&gpu, &z, &labels, n, Mode::Eval, |_, images| {
            fake.extend(classifier.classify(&gpu, images, images.len() / per_image)?.into_iter().flat_map(|v| v.features));
            Ok(())
        })?;
        let fd = shadergan::eval::frechet_distance_of(&fake, &real, dim)?;
        let (kid, _) = shadergan::eval::kid_on_gpu(&gpu, &fake, &real, dim, 10, 1000, seed)?;
        Ok(vec![("FD".to_string(), fd), ("KID".to_string(), kid)])
    }))
}

pub(crate) fn open_gpu(a: &AdapterArgs) -> Result<Gpu> {
    let gpu = Gpu::new(&AdapterChoice { name: a.adapter.clone(), backend: a.backend.clone() })?;
    eprintln!("adapter: {}", gpu.describe());
    Ok(gpu)
}

/// Flags that may accompany --resume: they change how the run is observed, not what it computes.
/// --data may say where the dataset is now (checked against the one the run recorded).
const RESUME_FLAGS: &[&str] = &["resume", "steps", "log_every", "sample_every", "checkpoint_every", "save_initial", "adapter", "backend", "data", "strict"];

/// Flags of the classifier objective that mean nothing to a GAN.
const CLASSIFIER_ONLY_FLAGS: &[&str] = &["features"];

fn resolve_fresh(args: &TrainArgs, matches: &ArgMatches) -> Result<TrainConfig> {
    if let Some(flag) = CLASSIFIER_ONLY_FLAGS.iter().find(|f| matches.value_source(f) == Some(ValueSource::CommandLine)) {
        bail!("--{flag} is a classifier or autoencoder setting; add --model classifier (or ae, vae), or drop it for a GAN");
    }
    refuse_vae_flags(matches, "GAN")?;
    let quick = args.preset == Preset::Quick;
    let model = args.model.unwrap_or(ModelKind::Dcgan);
    let image_size = args.image_size.unwrap_or(if quick { 32 } else { 64 });
    let channels = args.channels.unwrap_or(args.dataset.natural_channels());
    // quick: sized so that `shadergan train` shows learned shapes within 5 minutes on a 2-core
    // CPU's lavapipe (PERF.md); pytorch: pytorch/examples' defaults.
    let (nz, width) = if quick {
        (64, if model == ModelKind::Dcgan { 16 } else { 128 })
    } else {
        (100, if model == ModelKind::Dcgan { 64 } else { 256 })
    };
    // --sngan: Miyato et al.'s setting — hinge loss, spectral norm, no BatchNorm in D.
    let loss = if args.sngan { GanLoss::Hinge } else { args.loss };
    if args.sngan && args.loss != GanLoss::Hinge && matches.value_source("loss") == Some(ValueSource::CommandLine) {
        bail!("--sngan trains with the hinge loss; drop --loss {:?} or --sngan", args.loss);
    }
    let wgan = loss == GanLoss::Wgan;
    // WGAN-GP (Gulrajani et al.'s code): Adam 1e-4, β = (0.5, 0.9), 5 critic steps, no clipping.
    let wgan_gp = wgan && args.gp.is_some();
    let penalty = args.gp.is_some() || args.r1.is_some();
    let lr = args.lr.unwrap_or(if wgan_gp { 1e-4 } else if wgan { 5e-5 } else { 2e-4 });
    if !(lr.is_finite() && lr > 0.0 && lr < 1.0) {
        bail!("--lr: learning rate {lr} must lie in (0, 1)");
    }
    // quick: 1600 steps draw the shapes unconditionally within 5 minutes here; conditioned on
    // the shape (the default on the built-in set) 1200 draw one clean row per shape, and each
    // step costs 10–30 % more (PERF.md).
    let steps = args.steps.unwrap_or(match (quick, args.conditional()) {
        (true, Some(_)) => 1200,
        (true, None) => 1600,
        (false, _) => 4000,
    });
    let out = args.out.clone().unwrap_or_else(|| {
        let m = if model == ModelKind::Dcgan { "dcgan" } else { "mlp" };
        PathBuf::from("runs").join(format!("{}-{m}", format!("{:?}", args.dataset).to_lowercase()))
    });
    if args.label_embedding.is_some() && args.conditional().is_none() {
        bail!("--label-embedding codes the class label, so it needs a conditional model; add --conditional concat, projection or acgan");
    }
    let cfg = TrainConfig {
        model: ModelConfig {
            model,
            image_size,
            channels,
            nz: args.nz.unwrap_or(nz),
            ngf: args.ngf.unwrap_or(width),
            ndf: args.ndf.unwrap_or(width),
            dropout: args.dropout,
            conditional: match (args.conditional(), args.dataset.classes()) {
                (None, _) => None,
                (Some(mode), Some(classes)) => Some(Conditional { mode, classes, embedding: args.label_embedding }),
                // A folder's classes are its sub-directories, known once it is read (`train`
                // sets them then).
                (Some(_), None) => None,
            },
            spectral_norm: args.spectral_norm || args.sngan,
            d_norm: args.d_norm.unwrap_or(if args.sngan || penalty { DNorm::None } else { DNorm::BatchNorm }),
            minibatch_std: args.minibatch_std,
        },
        dataset: args.dataset,
        data: args.data.clone(),
        max_images: args.max_images,
        synthetic_images: args.synthetic_images,
        batch_size: args.batch_size.unwrap_or(if quick { 32 } else { 64 }),
        steps,
        d_steps: args.d_steps.unwrap_or(if wgan { 5 } else { 1 }),
        loss,
        optimizer: args.optimizer.unwrap_or(if wgan && !wgan_gp { Optimizer::Rmsprop } else { Optimizer::Adam }),
        clip: args.clip.or((wgan && !wgan_gp).then_some(0.01)),
        g_ema: args.g_ema,
        g_ema_rampup: args.g_ema_rampup,
        gp: args.gp,
        r1: args.r1,
        r1_every: args.r1_every,
        mismatch_weight: args.mismatch_weight,
        // A GAN trains on every image unless --holdout is given (its default is the classifier's).
        holdout: (matches.value_source("holdout") == Some(ValueSource::CommandLine)).then_some(args.holdout),
        // The horizon is this run's steps; a resume keeps it (the schedule is in config.json).
        lr_schedule: (args.lr_schedule.is_some() || args.lr_warmup.is_some()).then(|| shadergan::ops::optim::Schedule {
            kind: args.lr_schedule.unwrap_or(shadergan::ops::optim::ScheduleKind::Constant),
            horizon: steps,
            warmup: args.lr_warmup.unwrap_or(0),
        }),
        lr_d: args.lr_d.unwrap_or(lr),
        lr_g: args.lr_g.unwrap_or(lr),
        beta1: args.beta1.unwrap_or(0.5),
        beta2: if wgan_gp && matches.value_source("beta2") != Some(ValueSource::CommandLine) { 0.9 } else { args.beta2 },
        seed: args.seed,
        augment: AugmentConfig::parse(&args.augment, image_size)?,
        log_every: args.log_every,
        sample_every: args.sample_every.unwrap_or(if quick { 200 } else { 500 }),
        checkpoint_every: args.checkpoint_every.unwrap_or(if quick { 800 } else { 1000 }),
        out,
        eval_every: args.eval_every,
        eval_n: args.eval_n,
        eval_classifier: args.eval_classifier.clone(),
    };
    cfg.validate()?;
    check_fresh_out(&cfg.out, args.overwrite)?;
    Ok(cfg)
}

/// A fresh run may go only into a new or empty directory, or replace a run with --overwrite.
fn check_fresh_out(dir: &Path, overwrite: bool) -> Result<()> {
    let out = dir.display();
    match fsutil::run_dir_state(dir) {
        _ if overwrite => {}
        RunDir::Free => {}
        RunDir::Complete => bail!("--out {out} already holds a run; continue it with --resume {out}, pick another --out, or pass --overwrite to replace it"),
        RunDir::Incomplete => bail!(
            "--out {out} holds a run that stopped before its first checkpoint (config.json, no checkpoint.safetensors); pick another --out, or pass --overwrite to replace it"
        ),
        RunDir::Foreign(names) => {
            let shown: Vec<&str> = names.iter().take(3).map(String::as_str).collect();
            let more = if names.len() > 3 { format!(" and {} more", names.len() - 3) } else { String::new() };
            bail!(
                "--out {out} is not empty and is not a shadergan run (it holds {}{more}); pick a new or empty --out, or pass --overwrite to write the run beside those files",
                shown.join(", ")
            )
        }
    }
    Ok(())
}

/// Only the flags that observe a run (RESUME_FLAGS) may accompany --resume.
fn check_resume_flags(dir: &Path, matches: &ArgMatches) -> Result<()> {
    use clap::CommandFactory;
    // The train subcommand's own arguments (matches.ids() also lists clap's argument group).
    let cmd = crate::cli::Cli::command();
    let train = cmd.find_subcommand("train").expect("the train subcommand exists");
    for arg in train.get_arguments() {
        let name = arg.get_id().as_str();
        if matches.value_source(name) == Some(ValueSource::CommandLine) && !RESUME_FLAGS.contains(&name) {
            bail!(
                "--{} cannot change a resumed run (it continues with {}); only --steps, --log-every, --sample-every, --checkpoint-every and --data (where the same dataset is now) may be given",
                name.replace('_', "-"),
                dir.join("config.json").display()
            );
        }
    }
    Ok(())
}

/// A run's config.json, parsed (and its path, for messages).
fn read_run_json(dir: &Path) -> Result<(PathBuf, serde_json::Value)> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}: cannot read the run's config", path.display()))?;
    let v = serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", path.display()))?;
    Ok((path, v))
}

/// What `--resume` may change (RESUME_FLAGS): where the dataset is now, the total steps, and
/// how the run is observed.
struct Overrides {
    data: Option<PathBuf>,
    steps: Option<u64>,
    log_every: Option<u64>,
    sample_every: Option<u64>,
    checkpoint_every: Option<u64>,
}

impl Overrides {
    fn of(args: &TrainArgs, matches: &ArgMatches) -> Overrides {
        Overrides {
            data: args.data.clone(),
            steps: args.steps,
            // --log-every has a default; only an explicit one overrides the run's.
            log_every: (matches.value_source("log_every") == Some(ValueSource::CommandLine)).then_some(args.log_every),
            sample_every: args.sample_every,
            checkpoint_every: args.checkpoint_every,
        }
    }

    /// Replace each recorded value that was given again.
    fn apply(self, data: &mut Option<PathBuf>, steps: &mut u64, log_every: &mut u64, sample_every: &mut u64, checkpoint_every: &mut u64) {
        if self.data.is_some() {
            *data = self.data;
        }
        *steps = self.steps.unwrap_or(*steps);
        *log_every = self.log_every.unwrap_or(*log_every);
        *sample_every = self.sample_every.unwrap_or(*sample_every);
        *checkpoint_every = self.checkpoint_every.unwrap_or(*checkpoint_every);
    }
}

/// The configuration of the run in `dir`, and the number of training images it recorded.
fn resolve_resume(dir: &Path, args: &TrainArgs, matches: &ArgMatches) -> Result<(TrainConfig, Option<usize>)> {
    check_resume_flags(dir, matches)?;
    let (path, v) = read_run_json(dir)?;
    let mut cfg: TrainConfig =
        serde_json::from_value(v["config"].clone()).with_context(|| format!("{}: not a shadergan run config", path.display()))?;
    cfg.out = dir.to_path_buf();
    let o = Overrides::of(args, matches);
    o.apply(&mut cfg.data, &mut cfg.steps, &mut cfg.log_every, &mut cfg.sample_every, &mut cfg.checkpoint_every);
    cfg.validate()?;
    Ok((cfg, v["images"].as_u64().map(|n| n as usize)))
}

/// `train`: Ok(true) when the run reached its steps, Ok(false) when a signal stopped it (after
/// a last checkpoint).
pub fn train(adapter: &AdapterArgs, args: &TrainArgs, matches: &ArgMatches) -> Result<bool> {
    match objective_of(args)? {
        Objective::Classifier => return train_classifier(adapter, args, matches),
        Objective::Autoencoder => return train_autoencoder(adapter, args, matches),
        Objective::Gan => {}
    }
    let (cfg, recorded_images) = match &args.resume {
        Some(dir) => resolve_resume(dir, args, matches)?,
        None => (resolve_fresh(args, matches)?, None),
    };
    let t0 = Instant::now();
    let m = &cfg.model;
    let dataset = match data::load(cfg.dataset, cfg.data.as_deref(), m.image_size, m.channels, cfg.max_images, cfg.synthetic_images, args.strict) {
        Err(e @ (shadergan::Error::BadFile { .. } | shadergan::Error::Io { .. })) if args.resume.is_some() && args.data.is_none() => {
            bail!("{e} (the run's dataset; if it moved, add --data NEW_PATH to --resume)")
        }
        other => other?,
    };
    for w in &dataset.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!("dataset: {} ({:.1} s to load)", dataset.source, t0.elapsed().as_secs_f64());
    // --holdout: the held-out images leave the dataset before anything sees it.
    let dataset = match cfg.holdout {
        Some(f) => {
            let (train, held) = data::holdout_split(dataset.n, f);
            eprintln!("held out: {} of {} images for `eval` (not trained on)", held.len(), dataset.n);
            dataset.subset(&train, "training")
        }
        None => dataset,
    };
    if let (Some(recorded), Some(d)) = (recorded_images, &args.data)
        && recorded != dataset.n
    {
        bail!("--data {}: {} images, but the run was trained on {recorded}; --resume needs the same dataset", d.display(), dataset.n);
    }
    let mut cfg = cfg;
    if let (None, Some(mode), None) = (&args.resume, args.conditional(), cfg.model.conditional) {
        if dataset.classes == 0 {
            bail!(
                "--conditional: {} has no class labels; put each class's images in its own sub-directory of --data (as torchvision's ImageFolder), or use synthetic, mnist or cifar10",
                dataset.source
            );
        }
        cfg.model.conditional = Some(Conditional { mode, classes: dataset.classes, embedding: args.label_embedding });
        cfg.validate()?;
    }
    let gpu = open_gpu(adapter)?;
    let mut trainer = Trainer::new(gpu, cfg, &dataset).map_err(|e| match e {
        shadergan::Error::Limit { .. } => anyhow::anyhow!("{e}; lower --batch-size (or --ngf/--ndf, --image-size)"),
        e => e.into(),
    })?;
    if let Some(every) = trainer.cfg.eval_every {
        let evaluator = scorer(&trainer.gpu, &trainer.cfg, &dataset)?;
        trainer.set_evaluator(evaluator);
        eprintln!("scores every {every} steps: FD and KID of {} samples in the features of {}", trainer.cfg.eval_n, trainer.cfg.eval_classifier.as_deref().unwrap_or(Path::new("?")).display());
    }
    drop(dataset);
    match &args.resume {
        Some(dir) => {
            let ckpt = dir.join("checkpoint.safetensors");
            if !ckpt.is_file() {
                bail!("{}: no checkpoint to resume from (the run stopped before writing one); start it again with --out {} --overwrite", ckpt.display(), dir.display());
            }
            trainer.restore(&ckpt)?;
            if trainer.step >= trainer.cfg.steps {
                bail!("{} is already at step {}; pass a larger total to train further, e.g. --steps {}", dir.display(), trainer.step, trainer.step * 2);
            }
            eprintln!("resuming {} at step {}", dir.display(), trainer.step);
        }
        None => {
            trainer.initialize()?;
            for (net, path) in [("generator", &args.load_generator), ("discriminator", &args.load_discriminator)] {
                if let Some(p) = path {
                    trainer.load_weights(net, p)?;
                    eprintln!("{net}: weights from {}", p.display());
                }
            }
        }
    }
    if args.overwrite && args.resume.is_none() {
        // Only now, with the data loaded and the model built: a mistyped flag keeps the old run.
        fsutil::clear_run(&trainer.cfg.out)?;
    }
    trainer.prepare_run_dir()?;
    if args.save_initial {
        let path = trainer.cfg.out.join("initial.safetensors");
        trainer.save_initial(&path)?;
        eprintln!("initial state: {}", path.display());
    }
    let c = &trainer.cfg;
    eprintln!(
        "model: {:?}{} {}x{}x{} nz={} ngf={} ndf={} (G {} / D {} parameters), batch {}, {} steps, loss {:?}, {:?} lr {}/{}, {} D steps{}, seed {}",
        c.model.model,
        c.model.conditional.map(|k| format!(" conditional ({:?}, {} classes{})", k.mode, k.classes, k.embedding.map(|n| format!(", label embedding {n}")).unwrap_or_default()).to_lowercase()).unwrap_or_default(),
        c.model.channels,
        c.model.image_size,
        c.model.image_size,
        c.model.nz,
        c.model.ngf,
        c.model.ndf,
        trainer.g.trainable_count(),
        trainer.d.trainable_count(),
        c.batch_size,
        c.steps,
        c.loss,
        c.optimizer,
        c.lr_d,
        c.lr_g,
        c.d_steps,
        [
            c.clip.map(|v| format!(", clip ±{v}")),
            c.model.spectral_norm.then(|| ", spectral norm in D".to_string()),
            d_norm_note(c.model.model, c.model.d_norm),
            c.model.minibatch_std.map(|g| format!(", minibatch std (groups of {g}) in D")),
            c.g_ema.map(|b| format!(", G moving average {b}{}", c.g_ema_rampup.map(|r| format!(" (ramp-up {r})")).unwrap_or_default())),
            c.gp.map(|l| format!(", WGAN-GP penalty λ {l}")),
            c.r1.map(|g| format!(", R1 penalty γ {g}{}", c.r1_every.map(|k| format!(" every {k} steps")).unwrap_or_default())),
        ]
        .into_iter()
        .flatten()
        .collect::<String>(),
        c.seed
    );
    eprintln!("run directory: {} ({} dispatches per step, one submit)", c.out.display(), trainer.dispatches_per_step());

    let bar = indicatif::ProgressBar::new(trainer.cfg.steps);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_position(trainer.step);
    let plain = bar.is_hidden();
    let start = Instant::now();
    trainer.stop = Some(stop_flag());
    let mut interrupted = None;
    trainer.run(|e| match e {
        Event::Interrupted(step) => interrupted = Some(step),
        Event::Logged(r) => {
            let msg = format!(
                "loss_D {:.3} loss_G {:.3} D(x) {:.2}{} D(G(z)) {:.2}/{:.2}{} {:.0} img/s",
                r.loss_d,
                r.loss_g,
                r.d_x,
                r.d_x_mismatch.map(|m| format!(" D(x, wrong y) {m:.2}")).unwrap_or_default(),
                r.d_g_z1,
                r.d_g_z2,
                r.penalty.map(|p| format!(" penalty {p:.3}")).unwrap_or_default(),
                r.images_per_s
            );
            bar.set_position(r.step);
            if plain {
                eprintln!("step {:>6} epoch {:>6.2} {msg}", r.step, r.epoch);
            } else {
                bar.set_message(msg);
            }
        }
        // indicatif drops println on a hidden bar (stderr not a terminal): print it plainly.
        Event::Evaluated(step, scores) => {
            let line = format!("step {step:>6} {}", scores.iter().map(|(k, v)| format!("{k} {v:.4}")).collect::<Vec<_>>().join(" "));
            if plain { eprintln!("{line}") } else { bar.println(line) }
        }
        Event::Sampled(p) if plain => eprintln!("samples: {}", p.display()),
        Event::Sampled(p) => bar.println(format!("samples: {}", p.display())),
        Event::Checkpointed(p) if plain => eprintln!("checkpoint: {}", p.display()),
        Event::Checkpointed(p) => bar.println(format!("checkpoint: {}", p.display())),
    })?;
    bar.finish();
    let dir = &trainer.cfg.out;
    if let Some(step) = interrupted {
        eprintln!("stopped at step {step}: checkpoint written; continue with --resume {}", dir.display());
        return Ok(false);
    }
    eprintln!(
        "done in {:.1} min: {} (samples), {} (PyTorch-compatible G), {} (loss curves)",
        start.elapsed().as_secs_f64() / 60.0,
        dir.join("fake_samples.png").display(),
        dir.join("generator.safetensors").display(),
        dir.join("loss_curves.png").display()
    );
    Ok(true)
}

/// Grids larger than this are refused: 10 000 images make a 530×82 502-pixel PNG already.
const MAX_GRID: usize = 10_000;

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// `sample` writes PNGs only where that loses nothing: `path` must end in .png and may replace
/// only an existing PNG (never a checkpoint, never a file of another kind).
fn check_png_target(flag: &str, path: &Path) -> Result<()> {
    if path.is_dir() {
        bail!("{flag} {} is a directory; give a .png file, or pass --single to write one PNG per sample into it", path.display());
    }
    if !has_extension(path, "png") {
        bail!("{flag} {}: sample writes PNG images; give a path ending in .png (or a directory with --single)", path.display());
    }
    if path.exists() {
        let mut magic = [0u8; 8];
        let is_png = std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic)).is_ok() && &magic == b"\x89PNG\r\n\x1a\n";
        if !is_png {
            bail!("{flag} {} exists and is not a PNG image; sample replaces only PNG files, choose another path", path.display());
        }
    }
    Ok(())
}

/// `--raw-out` may replace only an earlier `--raw-out` file (a model is never overwritten).
fn check_raw_target(path: &Path) -> Result<()> {
    if !has_extension(path, "safetensors") {
        bail!("--raw-out {}: the raw outputs are a safetensors file; give a path ending in .safetensors", path.display());
    }
    if path.exists() {
        let ours = TensorFile::load(path).is_ok_and(|f| f.metadata.contains_key("batchnorm") && f.tensors.keys().all(|k| k == "images" || k == "z" || k == "labels"));
        if !ours {
            bail!("--raw-out {} exists and was not written by `sample --raw-out` (it could be a model); choose another path", path.display());
        }
    }
    Ok(())
}

/// Where `sample` will write, checked before any GPU work.
fn check_sample_targets(args: &SampleArgs, n: usize) -> Result<()> {
    if let Some(raw) = &args.raw_out {
        check_raw_target(raw)?;
    }
    if args.interpolate {
        check_png_target("--out", &args.out)?;
        let stem = args.out.with_extension("");
        for tag in ["linear", "slerp"] {
            check_png_target("--out", &PathBuf::from(format!("{}_{tag}.png", stem.display())))?;
        }
    } else if args.single {
        if args.out.exists() && !args.out.is_dir() {
            bail!("--out {} is a file; with --single, --out names the directory to write the PNGs into", args.out.display());
        }
        for i in 0..n {
            let p = args.out.join(format!("sample_{i:04}.png"));
            if p.exists() {
                check_png_target("--out", &p)?;
            }
        }
    } else {
        check_png_target("--out", &args.out)?;
        if n > MAX_GRID {
            bail!("--n {n} is too many for one grid (at most {MAX_GRID}); pass --single to write one PNG per sample, or --raw-out FILE.safetensors for the raw values");
        }
    }
    Ok(())
}

pub fn sample(adapter: &AdapterArgs, args: &SampleArgs) -> Result<()> {
    if let Some(images) = &args.encode {
        return encode(adapter, args, images);
    }
    if args.n == Some(0) {
        bail!("--n must be at least 1");
    }
    if args.interpolate && args.steps < 2 {
        bail!("--steps must be at least 2 for --interpolate");
    }
    if args.latents.is_none() && args.class.is_none() && args.per_class.is_none() {
        check_sample_targets(args, args.n.unwrap_or(64))?;
    }
    let gpu = open_gpu(adapter)?;
    let generator = Generator::load_with(&gpu, &args.checkpoint, !args.no_ema)?;
    let m = &generator.model;
    let k = generator.classes();
    let cond = if k > 0 { format!(" conditional ({k} classes)") } else { String::new() };
    let average = if generator.ema { " (the moving average; --no-ema for the trained weights)" } else { "" };
    eprintln!("generator: {:?}{cond} {}x{}x{} nz={} from {}{average}", m.model, m.channels, m.image_size, m.image_size, m.nz, generator.source.display());
    // With --latents the count comes from the file; the labels are then --class, or the
    // classes in turn.
    let (mut labels, n_wanted) = if args.latents.is_some() && args.class.is_none() && args.per_class.is_none() {
        (Vec::new(), 0)
    } else {
        generator.labels(args.n, args.class, args.per_class)?
    };
    // One row per class when the grid shows every class.
    let row = if k > 0 && args.class.is_none() && args.latents.is_none() { n_wanted / k } else { 8 };
    let mode = match args.batchnorm {
        BnStats::Running => Mode::Eval,
        BnStats::Batch => Mode::Train,
    };
    let (z, n) = match &args.latents {
        Some(p) => {
            let (z, n) = sample::read_latents(p, m.nz)?;
            check_sample_targets(args, n)?;
            labels = match args.class {
                Some(c) => vec![c as u32; n],
                None => (0..n).map(|i| (i % k.max(1)) as u32).filter(|_| k > 0).collect(),
            };
            (z, n)
        }
        None => {
            check_sample_targets(args, n_wanted)?;
            let max = sample::max_latents(&gpu, m.nz);
            if n_wanted > max {
                bail!("--n {n_wanted}: the latents of at most {max} samples (nz = {}) fit one buffer on this adapter; use --n {max} or less, and another --seed for more", m.nz);
            }
            (sample::latents(&gpu, args.seed, n_wanted, m.nz)?, n_wanted)
        }
    };
    if let Some(dir) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        fsutil::remove_stale_temp_files(dir);
    }
    if args.interpolate {
        let rows = (n / 2).clamp(1, 16);
        let stem = args.out.with_extension("");
        for (spherical, tag) in [(false, "linear"), (true, "slerp")] {
            let mut zs = Vec::new();
            for r in 0..rows {
                let (a, b) = (&z[2 * r * m.nz..(2 * r + 1) * m.nz], &z[((2 * r + 1) % n) * m.nz..((2 * r + 1) % n + 1) * m.nz]);
                zs.extend(sample::interpolate(a, b, args.steps, spherical));
            }
            // A conditional strip keeps one class: --class, or class 0.
            let strip_labels = if k > 0 { vec![args.class.unwrap_or(0) as u32; rows * args.steps] } else { Vec::new() };
            let images = generator.generate(&gpu, &zs, &strip_labels, rows * args.steps, mode)?;
            let path = PathBuf::from(format!("{}_{tag}.png", stem.display()));
            shadergan::images::save_grid(&path, &images, rows * args.steps, m.channels, m.image_size, args.steps, 2)?;
            eprintln!("wrote {}", path.display());
        }
        return Ok(());
    }
    let keep_all = !args.single || args.raw_out.is_some();
    let mut images = Vec::new();
    // One chunk at a time: --single streams its PNGs out, so any --n fits in memory.
    generator.generate_chunks(&gpu, &z, &labels, n, mode, |first, chunk| {
        let count = chunk.len() / (m.channels * m.image_size * m.image_size);
        if args.single {
            shadergan::images::save_each(&args.out, "sample_", first, chunk, count, m.channels, m.image_size)?;
        }
        if keep_all {
            images.extend_from_slice(chunk);
        }
        Ok(())
    })?;
    if args.single {
        eprintln!("wrote {n} PNGs into {}", args.out.display());
    } else {
        shadergan::images::save_grid(&args.out, &images, n, m.channels, m.image_size, row, 2)?;
        eprintln!("wrote {}", args.out.display());
    }
    if let Some(raw) = &args.raw_out {
        let mut f = TensorFile::default();
        f.tensors.insert("images".into(), HostTensor { shape: vec![n, m.channels, m.image_size, m.image_size], values: Values::F32(images) });
        f.tensors.insert("z".into(), HostTensor { shape: vec![n, m.nz], values: Values::F32(z) });
        if k > 0 {
            f.tensors.insert("labels".into(), HostTensor { shape: vec![n], values: Values::U32(labels) });
        }
        f.metadata.insert("batchnorm".into(), format!("{:?}", args.batchnorm).to_lowercase());
        f.save(raw)?;
        eprintln!("wrote raw outputs to {}", raw.display());
    }
    Ok(())
}

/// `sample --encode IMAGES`: the codes of images under an autoencoder's encoder.
fn encode(adapter: &AdapterArgs, args: &SampleArgs, images: &Path) -> Result<()> {
    let drawing = [
        ("--n", args.n.is_some()),
        ("--class", args.class.is_some()),
        ("--per-class", args.per_class.is_some()),
        ("--latents", args.latents.is_some()),
        ("--single", args.single),
        ("--raw-out", args.raw_out.is_some()),
        ("--interpolate", args.interpolate),
    ];
    if let Some((flag, _)) = drawing.iter().find(|(_, given)| *given) {
        bail!("{flag} draws samples; --encode writes the codes of images instead: drop one of them");
    }
    // --out's default is for drawing (samples.png); encoding writes tensors.
    let out = if args.out_given { args.out.clone() } else { PathBuf::from("codes.safetensors") };
    if out.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        bail!("--out {}: --encode writes a .safetensors file (e.g. --out codes.safetensors)", out.display());
    }
    let gpu = open_gpu(adapter)?;
    let encoder = sample::Encoder::load(&gpu, &args.checkpoint)?;
    let m = &encoder.model;
    let files = if images.is_dir() {
        let (files, warnings) = data::folder::list(images)?;
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        if files.is_empty() {
            bail!("{}: contains no .png, .jpg or .jpeg files (searched recursively)", images.display());
        }
        files
    } else if images.is_file() {
        vec![images.to_path_buf()]
    } else {
        bail!("{}: no such image or folder (--encode takes a PNG/JPEG or a folder of them)", images.display());
    };
    let mut pixels = Vec::with_capacity(files.len() * m.channels * m.image_size * m.image_size);
    for f in &files {
        let bytes = std::fs::read(f).with_context(|| format!("{}: cannot read it", f.display()))?;
        if let Some(why) = data::folder::truncation(&bytes) {
            bail!("{}: {why}; remove or replace it", f.display());
        }
        pixels.extend(data::folder::decode(f, &bytes, m.image_size, m.channels)?);
    }
    let n = files.len();
    let codes = encoder.encode(&gpu, &data::to_unit_range(&pixels), n)?;
    let (nz, width) = (m.nz, m.code_width());
    let column = |offset: usize| -> Vec<f32> { codes.chunks(width).flat_map(|row| row[offset..offset + nz].to_vec()).collect() };
    let mu = column(0);
    let mut f = TensorFile::default();
    f.tensors.insert("mu".into(), HostTensor { shape: vec![n, nz], values: Values::F32(mu.clone()) });
    f.tensors.insert("z".into(), HostTensor { shape: vec![n, nz], values: Values::F32(mu) });
    if m.variational {
        f.tensors.insert("logvar".into(), HostTensor { shape: vec![n, nz], values: Values::F32(column(nz)) });
    }
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    f.metadata.insert("files".into(), serde_json::to_string(&names)?);
    f.metadata.insert("encoder".into(), encoder.source.display().to_string());
    f.metadata.insert("autoencoder".into(), serde_json::to_string(m)?);
    f.save(&out)?;
    let what = if m.variational { "mu, logvar and z = mu" } else { "mu and z (the codes)" };
    eprintln!("encoded {n} image(s) of {} with the {} encoder of {}: {what} [{n}, {nz}] in {}", images.display(), m.name(), encoder.source.display(), out.display());
    Ok(())
}

/// `bench --op train-step`: one real DCGAN training iteration on synthetic data.
pub fn bench_train_step(adapter: &AdapterArgs, args: &BenchArgs) -> Result<()> {
    match args.model {
        None | Some(ModelKind::Dcgan) => {}
        Some(ModelKind::Ae | ModelKind::Vae) => return bench_autoencoder_step(adapter, args),
        Some(other) => bail!("--model {}: bench --op train-step times dcgan, ae or vae", format!("{other:?}").to_lowercase()),
    }
    let conditional = args.conditional.and_then(|c| c.mode());
    if args.label_embedding.is_some() && conditional.is_none() {
        bail!("--label-embedding: an unconditional model has no labels to embed; add --conditional concat or --conditional projection");
    }
    let m = ModelConfig { model: ModelKind::Dcgan, image_size: args.image_size, channels: args.channels, nz: args.nz, ngf: args.width, ndf: args.width, dropout: 0.3, conditional: conditional.map(|mode| Conditional { mode, classes: data::synthetic::CLASSES.len(), embedding: args.label_embedding }), spectral_norm: args.spectral_norm, d_norm: args.d_norm.unwrap_or(if args.gp.is_some() { DNorm::None } else { DNorm::BatchNorm }), minibatch_std: args.minibatch_std };
    let cfg = TrainConfig {
        model: m.clone(),
        dataset: data::DatasetKind::Synthetic,
        data: None,
        max_images: None,
        synthetic_images: (2 * args.batch).max(256),
        batch_size: args.batch,
        steps: 1,
        d_steps: 1,
        loss: if args.gp.is_some() { GanLoss::Wgan } else { GanLoss::Ns },
        optimizer: Optimizer::Adam,
        clip: None,
        g_ema: args.g_ema,
        g_ema_rampup: None,
        gp: args.gp,
        r1: None,
        r1_every: None,
        mismatch_weight: None,
        holdout: None,
        lr_schedule: None,
        lr_d: 2e-4,
        lr_g: 2e-4,
        beta1: 0.5,
        beta2: 0.999,
        seed: 1,
        augment: AugmentConfig::none(),
        log_every: 1,
        sample_every: 1,
        checkpoint_every: 1,
        out: std::env::temp_dir(),
        eval_every: None,
        eval_n: 0,
        eval_classifier: None,
    };
    cfg.validate()?;
    let dataset = data::load(cfg.dataset, None, m.image_size, m.channels, None, cfg.synthetic_images, false)?;
    let gpu = open_gpu(adapter)?;
    let bytes0 = gpu.allocated().1;
    let mut trainer = Trainer::new(gpu, cfg, &dataset)?;
    let memory = trainer.gpu.allocated().1 - bytes0;
    trainer.initialize()?;
    let protocol = shadergan::bench::Protocol { warmup: args.warmup, reps: args.reps, ..Default::default() };
    let r = shadergan::bench::bench_train_step(&trainer, &protocol, args.profile)?;
    let med = r.timing.median_ms();
    println!(
        "DCGAN {}x{}x{} ngf=ndf={} nz={} batch {}{}{}: median {:.1} ms/step (min {:.1}, {} samples, {} timer), {:.1} img/s, {} dispatches in one pass, {} buffers created after the first step, {:.1} MB of GPU buffers",
        m.channels,
        m.image_size,
        m.image_size,
        m.ngf,
        m.nz,
        args.batch,
        [
            m.conditional.map(|c| {
                let embedding = c.embedding.map(|n| format!(", label embedding {n}")).unwrap_or_default();
                format!(", conditional ({}, {} classes{embedding})", format!("{:?}", c.mode).to_lowercase(), c.classes)
            }),
            args.spectral_norm.then(|| ", spectral norm in D".to_string()),
            d_norm_note(m.model, m.d_norm),
            m.minibatch_std.map(|g| format!(", minibatch std (groups of {g}) in D")),
            args.gp.map(|l| format!(", WGAN-GP λ {l}")),
        ]
        .into_iter()
        .flatten()
        .collect::<String>(),
        args.g_ema.map(|b| format!(", G moving average {b}")).unwrap_or_default(),
        med, r.timing.min_ms(), r.timing.samples_ms.len(), r.timing.method, args.batch as f64 / med * 1e3, r.dispatches, r.buffers_created, memory as f64 / 1e6
    );
    print_profile(&r, args.profile);
    Ok(())
}

/// `bench --op train-step --model ae|vae`: one autoencoder iteration of the DCGAN's widths.
fn bench_autoencoder_step(adapter: &AdapterArgs, args: &BenchArgs) -> Result<()> {
    use shadergan::model::AutoencoderModel;
    use shadergan::train::autoencoder::{AutoencoderConfig, AutoencoderTrainer};
    if let Some(mode) = args.conditional.and_then(|c| c.mode()) {
        bail!("--conditional {}: bench --model ae|vae times the unconditional autoencoders; drop --conditional, or time a conditional GAN with --model dcgan", format!("{mode:?}").to_lowercase());
    }
    let variational = args.model == Some(ModelKind::Vae);
    let model = AutoencoderModel { variational, image_size: args.image_size, channels: args.channels, nz: args.nz, ngf: args.width, ndf: args.width, recon: shadergan::model::Recon::Mse, arch: shadergan::model::Arch::Dcgan };
    let cfg = AutoencoderConfig {
        model: model.clone(),
        dataset: data::DatasetKind::Synthetic,
        data: None,
        max_images: None,
        synthetic_images: (3 * args.batch).max(256),
        holdout: 0.1,
        batch_size: args.batch,
        steps: 1,
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        beta: 1.0,
        kl_warmup: 0,
        denoise: 0.0,
        mask_ratio: 0.0,
        patch: shadergan::train::autoencoder::DEFAULT_PATCH,
        seed: 1,
        log_every: 1,
        sample_every: 1,
        checkpoint_every: 1,
        out: std::env::temp_dir(),
    };
    cfg.validate()?;
    let dataset = data::load(cfg.dataset, None, model.image_size, model.channels, None, cfg.synthetic_images, false)?;
    let gpu = open_gpu(adapter)?;
    let bytes0 = gpu.allocated().1;
    let mut trainer = AutoencoderTrainer::new(gpu, cfg, &dataset)?;
    let memory = trainer.gpu.allocated().1 - bytes0;
    trainer.initialize()?;
    let protocol = shadergan::bench::Protocol { warmup: args.warmup, reps: args.reps, ..Default::default() };
    let r = shadergan::bench::bench_program(&trainer.gpu, trainer.program(), &protocol, args.profile)?;
    let med = r.timing.median_ms();
    println!(
        "{} {}x{}x{} ngf=ndf={} nz={} batch {}: median {:.1} ms/step (min {:.1}, {} samples, {} timer), {:.1} img/s, {} dispatches in one pass, {} buffers created after the first step, {:.1} MB of GPU buffers (with the held-out batch's)",
        model.name().to_uppercase(),
        model.channels,
        model.image_size,
        model.image_size,
        model.ngf,
        model.nz,
        args.batch,
        med, r.timing.min_ms(), r.timing.samples_ms.len(), r.timing.method, args.batch as f64 / med * 1e3, r.dispatches, r.buffers_created, memory as f64 / 1e6
    );
    print_profile(&r, args.profile);
    Ok(())
}

fn print_profile(r: &shadergan::bench::TrainStepBench, profile: bool) {
    if profile {
        let total: f64 = r.profile.iter().map(|p| p.1).sum();
        println!("{:>10} {:>6} {:>4}  kernel (one iteration, each dispatch in its own timed pass)", "ms", "%", "n");
        for (label, ms, n) in &r.profile {
            println!("{ms:>10.2} {:>5.1}% {n:>4}  {label}", 100.0 * ms / total);
        }
        println!("{total:>10.2} total");
    }
}

/// What `train` trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Objective {
    Gan,
    Classifier,
    Autoencoder,
}

/// The objective `train` is asked for: by `--model`, or for a resumed run by its config.json.
fn objective_of(args: &TrainArgs) -> Result<Objective> {
    let Some(dir) = &args.resume else {
        return Ok(match args.model {
            Some(ModelKind::Classifier) => Objective::Classifier,
            Some(ModelKind::Ae | ModelKind::Vae) => Objective::Autoencoder,
            _ => Objective::Gan,
        });
    };
    // An unreadable config is the GAN path's to report (with its own advice).
    if !dir.join("config.json").is_file() {
        return Ok(Objective::Gan);
    }
    let v = read_run_json(dir)?.1;
    Ok(if v["objective"] == shadergan::classifier::NET {
        Objective::Classifier
    } else if v["objective"] == shadergan::train::autoencoder::OBJECTIVE {
        Objective::Autoencoder
    } else {
        Objective::Gan
    })
}

/// Flags of the VAE that mean nothing to a GAN or a classifier.
const VAE_ONLY_FLAGS: &[&str] = &["beta", "kl_warmup", "denoise", "mask_ratio", "patch", "recon", "arch"];

fn refuse_vae_flags(matches: &ArgMatches, objective: &str) -> Result<()> {
    if let Some(flag) = VAE_ONLY_FLAGS.iter().find(|f| matches.value_source(f) == Some(ValueSource::CommandLine)) {
        let what = if *flag == "recon" { "is an autoencoder's reconstruction loss; add --model ae or vae" } else if *flag == "arch" { "picks an autoencoder's architecture (the GANs have --model dcgan|mlp); add --model ae or vae" } else if matches!(*flag, "denoise" | "mask_ratio" | "patch") { "corrupts an autoencoder's input; add --model ae or vae" } else { "weighs a VAE's KL term; add --model vae" };
        bail!("--{} {what}, or drop it for the {objective}", flag.replace('_', "-"));
    }
    Ok(())
}

/// Flags of the GAN objective that mean nothing to the classifier.
const GAN_ONLY_FLAGS: &[&str] = &["nz", "ngf", "conditional", "mismatch_weight", "label_embedding", "lr_schedule", "lr_warmup", "loss", "d_steps", "optimizer", "clip", "g_ema", "g_ema_rampup", "spectral_norm", "d_norm", "minibatch_std", "sngan", "gp", "r1", "r1_every", "lr_d", "lr_g", "save_initial", "load_generator", "load_discriminator", "eval_every", "eval_n", "eval_classifier"];

/// `train --model classifier`: a small conv net on a labelled dataset, held-out accuracy
/// measured as it trains (shadergan::train::classifier).
fn train_classifier(adapter: &AdapterArgs, args: &TrainArgs, matches: &ArgMatches) -> Result<bool> {
    use shadergan::model::ClassifierModel;
    use shadergan::train::classifier::{ClassifierConfig, ClassifierEvent, ClassifierTrainer};
    let t0 = Instant::now();
    let (cfg, dataset) = match &args.resume {
        Some(dir) => {
            check_resume_flags(dir, matches)?;
            let (path, v) = read_run_json(dir)?;
            let mut cfg: ClassifierConfig = serde_json::from_value(v["config"].clone()).with_context(|| format!("{}: not a shadergan classifier config", path.display()))?;
            cfg.out = dir.to_path_buf();
            // --sample-every sets how often the classifier scores its held-out split.
            Overrides::of(args, matches).apply(&mut cfg.data, &mut cfg.steps, &mut cfg.log_every, &mut cfg.eval_every, &mut cfg.checkpoint_every);
            cfg.validate()?;
            let m = &cfg.model;
            let dataset = data::load(cfg.dataset, cfg.data.as_deref(), m.image_size, m.channels, cfg.max_images, cfg.synthetic_images, args.strict)?;
            (cfg, dataset)
        }
        None => {
            if let Some(flag) = GAN_ONLY_FLAGS.iter().find(|f| matches.value_source(f) == Some(ValueSource::CommandLine)) {
                bail!("--{} is a GAN setting; the classifier (--model classifier) takes --ndf, --features, --dropout, --lr, --beta1, --holdout", flag.replace('_', "-"));
            }
            refuse_vae_flags(matches, "classifier")?;
            let quick = args.preset == Preset::Quick;
            let image_size = args.image_size.unwrap_or(if quick { 32 } else { 64 });
            let channels = args.channels.unwrap_or(args.dataset.natural_channels());
            let dataset = data::load(args.dataset, args.data.as_deref(), image_size, channels, args.max_images, args.synthetic_images, args.strict)?;
            if dataset.classes == 0 {
                bail!(
                    "--dataset: {} has no class labels; a classifier trains on labelled data (synthetic, mnist, cifar10, or a folder with one sub-directory per class)",
                    dataset.source
                );
            }
            let cfg = ClassifierConfig {
                // Dropout 0.5 and lr 3e-4 unless given: 98.4 % held out on MNIST where the
                // MLP GAN's 0.3 and lr 1e-3 overfit to 96.8 % (PERF.md).
                model: ClassifierModel {
                    image_size,
                    channels,
                    width: args.ndf.unwrap_or(32),
                    features: args.features,
                    classes: dataset.classes,
                    dropout: if matches.value_source("dropout") == Some(ValueSource::CommandLine) { args.dropout } else { 0.5 },
                },
                dataset: args.dataset,
                data: args.data.clone(),
                max_images: args.max_images,
                synthetic_images: args.synthetic_images,
                holdout: args.holdout,
                batch_size: args.batch_size.unwrap_or(64),
                steps: args.steps.unwrap_or(2000),
                lr: args.lr.unwrap_or(3e-4),
                beta1: args.beta1.unwrap_or(0.9),
                beta2: args.beta2,
                seed: args.seed,
                augment: AugmentConfig::parse(&args.augment, image_size)?,
                log_every: args.log_every,
                eval_every: args.sample_every.unwrap_or(500),
                checkpoint_every: args.checkpoint_every.unwrap_or(1000),
                out: args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-classifier", format!("{:?}", args.dataset).to_lowercase()))),
            };
            cfg.validate()?;
            check_fresh_out(&cfg.out, args.overwrite)?;
            (cfg, dataset)
        }
    };
    for w in &dataset.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!("dataset: {} ({:.1} s to load)", dataset.source, t0.elapsed().as_secs_f64());
    let gpu = open_gpu(adapter)?;
    let mut trainer = ClassifierTrainer::new(gpu, cfg, &dataset)?;
    drop(dataset);
    match &args.resume {
        Some(dir) => {
            let ckpt = dir.join("checkpoint.safetensors");
            if !ckpt.is_file() {
                bail!("{}: no checkpoint to resume from (the run stopped before writing one); start it again with --out {} --overwrite", ckpt.display(), dir.display());
            }
            trainer.restore(&ckpt)?;
            if trainer.step >= trainer.cfg.steps {
                bail!("{} is already at step {}; pass a larger total to train further, e.g. --steps {}", dir.display(), trainer.step, trainer.step * 2);
            }
            eprintln!("resuming {} at step {}", dir.display(), trainer.step);
        }
        None => trainer.initialize()?,
    }
    if args.overwrite && args.resume.is_none() {
        fsutil::clear_run(&trainer.cfg.out)?;
    }
    trainer.prepare_run_dir()?;
    let c = &trainer.cfg;
    eprintln!(
        "model: classifier {}x{}x{} → {} classes, width {}, {} features ({} parameters), batch {}, {} steps, Adam lr {}, {} images held out, seed {}",
        c.model.channels,
        c.model.image_size,
        c.model.image_size,
        c.model.classes,
        c.model.width,
        c.model.features,
        trainer.store.trainable_count(),
        c.batch_size,
        c.steps,
        c.lr,
        trainer.heldout_images(),
        c.seed
    );
    eprintln!("run directory: {} ({} dispatches per step, one submit)", c.out.display(), trainer.dispatches_per_step());
    let bar = indicatif::ProgressBar::new(trainer.cfg.steps);
    bar.set_style(indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]").expect("static template").progress_chars("=> "));
    bar.set_position(trainer.step);
    let plain = bar.is_hidden();
    let start = Instant::now();
    trainer.stop = Some(stop_flag());
    let mut interrupted = None;
    trainer.run(|e| match e {
        ClassifierEvent::Interrupted(step) => interrupted = Some(step),
        ClassifierEvent::Logged(r) => {
            let held = r.heldout_accuracy.zip(r.heldout_loss).map(|(a, l)| format!(" held-out accuracy {:.2}% loss {l:.4}", 100.0 * a)).unwrap_or_default();
            let msg = format!("loss {:.4} accuracy {:.1}%{held} {:.0} img/s", r.loss, 100.0 * r.accuracy, r.images_per_s);
            bar.set_position(r.step);
            if plain {
                eprintln!("step {:>6} epoch {:>6.2} {msg}", r.step, r.epoch);
            } else if r.heldout_accuracy.is_some() {
                bar.println(format!("step {:>6} epoch {:>6.2} {msg}", r.step, r.epoch));
            } else {
                bar.set_message(msg);
            }
        }
        ClassifierEvent::Checkpointed(p) if plain => eprintln!("checkpoint: {}", p.display()),
        ClassifierEvent::Checkpointed(p) => bar.println(format!("checkpoint: {}", p.display())),
        ClassifierEvent::Sampled(_) | ClassifierEvent::Evaluated(..) => {}
    })?;
    bar.finish();
    let (loss, acc) = trainer.heldout_score.expect("scored at the last step");
    if let Some(step) = interrupted {
        eprintln!("stopped at step {step} (held-out accuracy {:.2}%): checkpoint written; continue with --resume {}", 100.0 * acc, trainer.cfg.out.display());
        return Ok(false);
    }
    eprintln!(
        "done in {:.1} min: held-out accuracy {:.2}% (loss {loss:.4}, {} images); {}",
        start.elapsed().as_secs_f64() / 60.0,
        100.0 * acc,
        trainer.heldout_images(),
        trainer.cfg.out.join("classifier.safetensors").display()
    );
    Ok(true)
}

/// How D is normalised, for the one-line model summary (nothing for the DCGAN default).
fn d_norm_note(model: ModelKind, d_norm: DNorm) -> Option<String> {
    match (model, d_norm) {
        (ModelKind::Dcgan, DNorm::None) => Some(", no BatchNorm in D".into()),
        (ModelKind::Dcgan, DNorm::LayerNorm) => Some(", LayerNorm in D".into()),
        _ => None,
    }
}

/// Flags of the GAN and the classifier that mean nothing to the autoencoders.
const NOT_AUTOENCODER_FLAGS: &[&str] = &["conditional", "mismatch_weight", "label_embedding", "lr_schedule", "lr_warmup", "loss", "d_steps", "optimizer", "clip", "g_ema", "g_ema_rampup", "spectral_norm", "d_norm", "minibatch_std", "sngan", "gp", "r1", "r1_every", "lr_d", "lr_g", "load_generator", "load_discriminator", "eval_every", "eval_n", "eval_classifier", "features", "dropout", "augment"];

/// `train --model ae|vae`: an autoencoder or VAE on any dataset, its held-out reconstruction
/// (and KL, negative ELBO) measured as it trains (shadergan::train::autoencoder).
fn train_autoencoder(adapter: &AdapterArgs, args: &TrainArgs, matches: &ArgMatches) -> Result<bool> {
    use shadergan::model::AutoencoderModel;
    use shadergan::train::autoencoder::{AutoencoderConfig, AutoencoderEvent, AutoencoderTrainer};
    let t0 = Instant::now();
    let cfg = match &args.resume {
        Some(dir) => {
            check_resume_flags(dir, matches)?;
            let (path, v) = read_run_json(dir)?;
            let mut cfg: AutoencoderConfig = serde_json::from_value(v["config"].clone()).with_context(|| format!("{}: not a shadergan autoencoder config", path.display()))?;
            cfg.out = dir.to_path_buf();
            Overrides::of(args, matches).apply(&mut cfg.data, &mut cfg.steps, &mut cfg.log_every, &mut cfg.sample_every, &mut cfg.checkpoint_every);
            cfg
        }
        None => {
            if let Some(flag) = NOT_AUTOENCODER_FLAGS.iter().find(|f| matches.value_source(f) == Some(ValueSource::CommandLine)) {
                bail!("--{} is not an autoencoder setting; --model ae|vae takes --nz, --ngf, --ndf, --lr, --beta1, --holdout and (vae) --beta, --kl-warmup, and --recon, --arch, --denoise, --mask-ratio, --patch", flag.replace('_', "-"));
            }
            let variational = args.model == Some(ModelKind::Vae);
            if !variational && let Some(flag) = ["beta", "kl_warmup"].iter().find(|f| matches.value_source(f) == Some(ValueSource::CommandLine)) {
                bail!("--{} weighs a VAE's KL term; a plain autoencoder (--model ae) has none: use --model vae", flag.replace('_', "-"));
            }
            if args.patch.is_some() && args.mask_ratio.is_none_or(|r| r == 0.0) {
                bail!("--patch sizes the patches --mask-ratio blanks; add --mask-ratio (e.g. 0.25) or drop --patch");
            }
            let image_size = args.image_size.unwrap_or(32);
            let cfg = AutoencoderConfig {
                model: AutoencoderModel {
                    variational,
                    image_size,
                    channels: args.channels.unwrap_or(args.dataset.natural_channels()),
                    nz: args.nz.unwrap_or(16),
                    ngf: args.ngf.unwrap_or(32),
                    ndf: args.ndf.unwrap_or(32),
                    recon: args.recon.unwrap_or_default(),
                    arch: args.arch.unwrap_or_default(),
                },
                dataset: args.dataset,
                data: args.data.clone(),
                max_images: args.max_images,
                synthetic_images: args.synthetic_images,
                holdout: args.holdout,
                batch_size: args.batch_size.unwrap_or(64),
                steps: args.steps.unwrap_or(2000),
                lr: args.lr.unwrap_or(1e-3),
                beta1: args.beta1.unwrap_or(0.9),
                beta2: args.beta2,
                beta: args.beta.unwrap_or(1.0),
                kl_warmup: args.kl_warmup.unwrap_or(0),
                denoise: args.denoise.unwrap_or(0.0),
                mask_ratio: args.mask_ratio.unwrap_or(0.0),
                patch: args.patch.unwrap_or(shadergan::train::autoencoder::DEFAULT_PATCH),
                seed: args.seed,
                log_every: args.log_every,
                sample_every: args.sample_every.unwrap_or(500),
                checkpoint_every: args.checkpoint_every.unwrap_or(1000),
                out: args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-{}", format!("{:?}", args.dataset).to_lowercase(), if variational { "vae" } else { "ae" }))),
            };
            cfg.validate()?;
            check_fresh_out(&cfg.out, args.overwrite)?;
            cfg
        }
    };
    cfg.validate()?;
    let m = &cfg.model;
    let dataset = data::load(cfg.dataset, cfg.data.as_deref(), m.image_size, m.channels, cfg.max_images, cfg.synthetic_images, args.strict)?;
    for w in &dataset.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!("dataset: {} ({:.1} s to load)", dataset.source, t0.elapsed().as_secs_f64());
    let gpu = open_gpu(adapter)?;
    let mut trainer = AutoencoderTrainer::new(gpu, cfg, &dataset)?;
    drop(dataset);
    match &args.resume {
        Some(dir) => {
            let ckpt = dir.join("checkpoint.safetensors");
            if !ckpt.is_file() {
                bail!("{}: no checkpoint to resume from (the run stopped before writing one); start it again with --out {} --overwrite", ckpt.display(), dir.display());
            }
            trainer.restore(&ckpt)?;
            if trainer.step >= trainer.cfg.steps {
                bail!("{} is already at step {}; pass a larger total to train further, e.g. --steps {}", dir.display(), trainer.step, trainer.step * 2);
            }
            eprintln!("resuming {} at step {}", dir.display(), trainer.step);
        }
        None => trainer.initialize()?,
    }
    if args.overwrite && args.resume.is_none() {
        fsutil::clear_run(&trainer.cfg.out)?;
    }
    trainer.prepare_run_dir()?;
    if args.save_initial {
        let path = trainer.cfg.out.join("initial.safetensors");
        trainer.save_initial(&path)?;
        eprintln!("initial state: {}", path.display());
    }
    let c = &trainer.cfg;
    let kl = if c.model.variational {
        format!(", KL weight β {}{}", c.beta, if c.kl_warmup > 0 { format!(" warmed up over {} steps", c.kl_warmup) } else { String::new() })
    } else {
        String::new()
    } + &if c.denoise > 0.0 { format!(", denoising (noise σ {})", c.denoise) } else { String::new() }
        + if c.model.recon == shadergan::model::Recon::Bce { ", reconstruction loss BCE with logits (a Bernoulli decoder)" } else { "" }
        + &if c.mask_ratio > 0.0 { format!(", masking {}×{} patches with probability {}", c.patch, c.patch, c.mask_ratio) } else { String::new() };
    eprintln!(
        "model: {}{} {}x{}x{}, nz {}, ngf {} / ndf {} ({} parameters), batch {}, {} steps, Adam lr {}{kl}, {} held-out images scored, seed {}",
        c.model.name(),
        if c.model.arch == shadergan::model::Arch::Mlp { " (MLP)" } else { "" },
        c.model.channels,
        c.model.image_size,
        c.model.image_size,
        c.model.nz,
        c.model.ngf,
        c.model.ndf,
        trainer.encoder.trainable_count() + trainer.decoder.trainable_count(),
        c.batch_size,
        c.steps,
        c.lr,
        trainer.heldout_images(),
        c.seed
    );
    eprintln!("run directory: {} ({} dispatches per step, one submit)", c.out.display(), trainer.dispatches_per_step());
    let bar = indicatif::ProgressBar::new(trainer.cfg.steps);
    bar.set_style(indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]").expect("static template").progress_chars("=> "));
    bar.set_position(trainer.step);
    let plain = bar.is_hidden();
    let start = Instant::now();
    trainer.stop = Some(stop_flag());
    let mut interrupted = None;
    trainer.run(|e| match e {
        AutoencoderEvent::Interrupted(step) => interrupted = Some(step),
        AutoencoderEvent::Logged(r) => {
            let kl = r.kl.map(|k| format!(" KL {k:.3}")).unwrap_or_default();
            let held = match (r.heldout_recon, r.heldout_neg_elbo) {
                (Some(rec), Some(e)) => format!(" held-out recon {rec:.3} −ELBO {e:.3}"),
                (Some(rec), None) => format!(" held-out recon {rec:.3}"),
                _ => String::new(),
            };
            let psnr = r.heldout_psnr_corrupted.zip(r.heldout_psnr_reconstructed).map(|(a, b)| format!(" PSNR corrupted {a:.2} dB → reconstructed {b:.2} dB")).unwrap_or_default();
            let msg = format!("recon {:.3}{kl}{held}{psnr} {:.0} img/s", r.recon, r.images_per_s);
            bar.set_position(r.step);
            if plain {
                eprintln!("step {:>6} epoch {:>6.2} {msg}", r.step, r.epoch);
            } else if r.heldout_recon.is_some() {
                bar.println(format!("step {:>6} epoch {:>6.2} {msg}", r.step, r.epoch));
            } else {
                bar.set_message(msg);
            }
        }
        AutoencoderEvent::Checkpointed(p) if plain => eprintln!("checkpoint: {}", p.display()),
        AutoencoderEvent::Checkpointed(p) => bar.println(format!("checkpoint: {}", p.display())),
        AutoencoderEvent::Sampled(_) | AutoencoderEvent::Evaluated(..) => {}
    })?;
    bar.finish();
    let (recon, kl) = trainer.heldout_score.expect("scored at the last step");
    let psnr = trainer.heldout_psnr.map(|(a, b)| format!(", held-out PSNR {a:.2} dB corrupted → {b:.2} dB reconstructed")).unwrap_or_default();
    let scores = if trainer.cfg.model.variational { format!("held-out reconstruction {recon:.3}, KL {kl:.3}, negative ELBO {:.3}", recon + kl) } else { format!("held-out reconstruction {recon:.3}") };
    if let Some(step) = interrupted {
        eprintln!("stopped at step {step} ({scores}{psnr}): checkpoint written; continue with --resume {}", trainer.cfg.out.display());
        return Ok(false);
    }
    eprintln!("done in {:.1} min: {scores}{psnr}; {}", start.elapsed().as_secs_f64() / 60.0, trainer.cfg.out.join("reconstructions.png").display());
    Ok(true)
}
