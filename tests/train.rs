//! Training end to end on small models: losses finite, parameters changed, the discriminator
//! untouched by the generator update, files written, resume exact, runs deterministic, and
//! state dicts with exactly PyTorch's keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use shadergan::data::{self, DatasetKind};
use shadergan::gpu::{AdapterChoice, Gpu};
use shadergan::model::{ConditionMode, Conditional, DNorm, ModelConfig, ModelKind};
use shadergan::train::checkpoint::{TensorFile, Values};
use shadergan::train::{AugmentConfig, Event, GanLoss, Record, TrainConfig, Trainer};

fn gpu() -> Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| Gpu::new(&AdapterChoice::default()).unwrap_or_else(|e| panic!("{e}"))).clone()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shadergan-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A DCGAN small enough to take milliseconds per step: 16×16×3, widths 8, batch 8.
fn tiny(out: &Path, model: ModelKind) -> TrainConfig {
    TrainConfig {
        model: ModelConfig { model, image_size: 16, channels: 3, nz: 16, ngf: 8, ndf: 8, dropout: 0.3, conditional: None, spectral_norm: false, d_norm: DNorm::BatchNorm, minibatch_std: None },
        dataset: DatasetKind::Synthetic,
        data: None,
        max_images: None,
        synthetic_images: 48,
        batch_size: 8,
        steps: 6,
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
        augment: AugmentConfig { flip: true, shift: 2, brightness: 0.1 },
        log_every: 2,
        sample_every: 3,
        checkpoint_every: 6,
        out: out.to_path_buf(),
        eval_every: None,
        eval_n: 0,
        eval_classifier: None,
    }
}

fn trainer(cfg: TrainConfig) -> Trainer {
    let m = &cfg.model;
    let ds = data::load(cfg.dataset, None, m.image_size, m.channels, None, cfg.synthetic_images, false).unwrap();
    Trainer::new(gpu(), cfg, &ds).unwrap()
}

/// Train `cfg` from scratch (or resume from its out dir) and return the logged records.
fn train(cfg: TrainConfig, resume: bool) -> (Trainer, Vec<Record>) {
    let mut t = trainer(cfg);
    if resume {
        let ckpt = t.cfg.out.join("checkpoint.safetensors");
        t.restore(&ckpt).unwrap();
    } else {
        t.initialize().unwrap();
    }
    t.prepare_run_dir().unwrap();
    let mut records = Vec::new();
    t.run(|e| {
        if let Event::Logged(r) = e {
            records.push(r.clone());
        }
    })
    .unwrap();
    (t, records)
}

fn tensors(path: &Path) -> BTreeMap<String, Values> {
    TensorFile::load(path).unwrap().tensors.into_iter().map(|(k, t)| (k, t.values)).collect()
}

#[test]
fn a_few_steps_train_and_write_every_output() {
    let out = tmp("smoke");
    let mut t = trainer(tiny(&out, ModelKind::Dcgan));
    t.initialize().unwrap();
    let g0 = t.g.params.read_f32(&t.gpu).unwrap();
    let d0 = t.d.params.read_f32(&t.gpu).unwrap();
    t.prepare_run_dir().unwrap();
    let mut records = Vec::new();
    t.run(|e| {
        if let Event::Logged(r) = e {
            records.push(r.clone());
        }
    })
    .unwrap();
    assert_eq!(records.iter().map(|r| r.step).collect::<Vec<_>>(), vec![2, 4, 6]);
    assert!(records.iter().all(|r| r.finite() && r.loss_d > 0.0 && r.loss_g > 0.0), "{records:?}");
    assert!(records.iter().all(|r| (0.0..=1.0).contains(&r.d_x) && (0.0..=1.0).contains(&r.d_g_z1)));
    let changed = |a: &[f32], b: &[f32]| a.iter().zip(b).filter(|(x, y)| x != y).count();
    let (g1, d1) = (t.g.params.read_f32(&t.gpu).unwrap(), t.d.params.read_f32(&t.gpu).unwrap());
    assert!(changed(&g0, &g1) > g0.len() / 2, "generator parameters did not train");
    assert!(changed(&d0, &d1) > d0.len() / 2, "discriminator parameters did not train");
    for f in ["config.json", "real_samples.png", "fake_samples.png", "samples/step_000003.png", "samples/step_000006.png", "loss_curves.png", "checkpoint.safetensors", "generator.safetensors", "discriminator.safetensors"] {
        let p = out.join(f);
        assert!(p.is_file() && std::fs::metadata(&p).unwrap().len() > 0, "{} missing", p.display());
    }
    for png in ["real_samples.png", "fake_samples.png", "loss_curves.png"] {
        let img = image::open(out.join(png)).unwrap_or_else(|e| panic!("{png}: {e}"));
        assert!(img.width() > 16 && img.height() > 16);
    }
    // 8×8 grid of 16-pixel images with 2-pixel padding, like torchvision's save_image.
    let grid = image::open(out.join("fake_samples.png")).unwrap();
    assert_eq!((grid.width(), grid.height()), (8 * 18 + 2, 8 * 18 + 2));
    let lines = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 3);
    let v: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    for key in ["step", "epoch", "loss_D", "loss_G", "D_x", "D_G_z1", "D_G_z2", "images_per_s", "elapsed_s"] {
        assert!(!v[key].is_null(), "metrics.jsonl lacks {key}: {v}");
    }
}

#[test]
fn the_generator_update_leaves_the_discriminator_untouched() {
    let out = tmp("g-step");
    let mut t = trainer(tiny(&out, ModelKind::Dcgan));
    t.initialize().unwrap();
    // One full iteration first, so D has non-zero gradients and Adam moments to protect.
    t.gpu.run("iteration", &t.program().iter().collect::<Vec<_>>()).unwrap();
    let snapshot = |t: &Trainer| {
        [&t.d.params, &t.d.grads, &t.d.adam_m, &t.d.adam_v].map(|x| x.read_f32(&t.gpu).unwrap())
    };
    let before = snapshot(&t);
    let g_before = t.g.params.read_f32(&t.gpu).unwrap();
    t.gpu.run("generator step", &t.generator_step().iter().collect::<Vec<_>>()).unwrap();
    let after = snapshot(&t);
    for (name, (b, a)) in ["weights", "gradients", "Adam m", "Adam v"].iter().zip(before.iter().zip(&after)) {
        assert!(b.iter().zip(a).all(|(x, y)| x.to_bits() == y.to_bits()), "the generator step changed D's {name}");
    }
    let g_after = t.g.params.read_f32(&t.gpu).unwrap();
    assert!(g_before != g_after, "the generator step did not update G");
    // Running statistics do change (D runs in training mode, as in PyTorch) but that is all:
    assert!(t.d.buffers.is_some());
}

#[test]
fn the_generator_step_scores_the_fake_batch_the_critic_step_scored() {
    // A critic learning rate too small to move any f32 weight: D(G(z)) in G's step must then
    // be D(G(z)) of D's step. Whatever D's step leaves in D's input (the penalty's interpolates
    // x̂, the real batch kept for R1) must not be what G is scored and trained on.
    for (name, loss, gp, r1, d_norm) in [
        ("ns", GanLoss::Ns, None, None, DNorm::None),
        ("wgan-gp", GanLoss::Wgan, Some(10.0f32), None, DNorm::None),
        ("wgan-gp-layernorm", GanLoss::Wgan, Some(10.0f32), None, DNorm::LayerNorm),
        ("r1", GanLoss::Ns, None, Some(1.0f32), DNorm::None),
    ] {
        let out = tmp(&format!("g-scores-{name}"));
        let mut cfg = TrainConfig { loss, gp, r1, lr_d: 1e-30, steps: 3, log_every: 1, checkpoint_every: 100, ..tiny(&out, ModelKind::Dcgan) };
        cfg.model.d_norm = d_norm;
        let (_, records) = train(cfg, false);
        for r in &records {
            let tol = 1e-6 * r.d_g_z1.abs().max(1e-3);
            assert!((r.d_g_z2 - r.d_g_z1).abs() <= tol, "{name} step {}: G's step scored D(G(z)) = {} but D's step {}", r.step, r.d_g_z2, r.d_g_z1);
        }
    }
}

#[test]
fn resume_gives_the_same_weights_as_training_straight_through() {
    let (a, b) = (tmp("straight"), tmp("resumed"));
    let cfg_a = TrainConfig { checkpoint_every: 100, ..tiny(&a, ModelKind::Dcgan) };
    let (_, rec_a) = train(cfg_a, false);
    // 4 steps, then resume to 6.
    let cfg_b = TrainConfig { steps: 4, checkpoint_every: 100, ..tiny(&b, ModelKind::Dcgan) };
    train(cfg_b.clone(), false);
    let (t, rec_b) = train(TrainConfig { steps: 6, ..cfg_b }, true);
    assert_eq!(t.step, 6);
    assert_eq!(rec_b.iter().map(|r| r.step).collect::<Vec<_>>(), vec![6]);
    for f in ["checkpoint.safetensors", "generator.safetensors", "discriminator.safetensors"] {
        assert_eq!(tensors(&a.join(f)), tensors(&b.join(f)), "{f} differs between 6 steps and 4 + resume + 2");
    }
    let last = |r: &[Record]| r.last().map(|r| (r.loss_d.to_bits(), r.loss_g.to_bits()));
    assert_eq!(last(&rec_a), last(&rec_b), "the losses at step 6 differ");
    // metrics.jsonl holds each step once.
    let steps: Vec<u64> = std::fs::read_to_string(b.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, vec![2, 4, 6]);
}

#[test]
fn the_same_seed_gives_the_same_checkpoint_and_another_seed_does_not() {
    let (a, b, c) = (tmp("seed-a"), tmp("seed-b"), tmp("seed-c"));
    train(tiny(&a, ModelKind::Dcgan), false);
    train(tiny(&b, ModelKind::Dcgan), false);
    train(TrainConfig { seed: 8, ..tiny(&c, ModelKind::Dcgan) }, false);
    let ta = tensors(&a.join("checkpoint.safetensors"));
    assert_eq!(ta, tensors(&b.join("checkpoint.safetensors")), "two runs with seed 7 differ");
    assert_ne!(ta, tensors(&c.join("checkpoint.safetensors")), "seeds 7 and 8 gave the same run");
}

#[test]
fn the_mlp_gan_trains_with_dropout_and_minimax_loss() {
    let out = tmp("mlp");
    let cfg = TrainConfig { loss: GanLoss::Minimax, d_steps: 2, ..tiny(&out, ModelKind::Mlp) };
    let (t, records) = train(cfg, false);
    assert!(records.iter().all(|r| r.finite()));
    // The minimax generator loss log(1 − D(G(z))) is negative.
    assert!(records.iter().all(|r| r.loss_g < 0.0), "{records:?}");
    let sd = tensors(&out.join("discriminator.safetensors"));
    assert!(sd.contains_key("main.1.weight") && sd.contains_key("main.10.bias"), "{:?}", sd.keys());
    assert_eq!(t.bn_forwards(), (12, 30));
}

#[test]
fn every_gan_loss_trains_and_wgan_keeps_its_critic_clipped() {
    use shadergan::train::Optimizer;
    for (loss, optimizer, clip) in [(GanLoss::Hinge, Optimizer::Adam, None), (GanLoss::Lsgan, Optimizer::Adam, None), (GanLoss::Wgan, Optimizer::Rmsprop, Some(0.01f32))] {
        let out = tmp(&format!("loss-{loss:?}"));
        let cfg = TrainConfig { loss, optimizer, clip, d_steps: 2, lr_d: 5e-4, lr_g: 5e-4, ..tiny(&out, ModelKind::Dcgan) };
        let mut t = trainer(cfg.clone());
        t.initialize().unwrap();
        let (g0, d0) = (t.g.params.read_f32(&t.gpu).unwrap(), t.d.params.read_f32(&t.gpu).unwrap());
        t.prepare_run_dir().unwrap();
        let mut records = Vec::new();
        t.run(|e| {
            if let Event::Logged(r) = e {
                records.push(r.clone());
            }
        })
        .unwrap();
        assert!(records.iter().all(|r| r.finite()), "{loss:?}: {records:?}");
        let changed = |a: &[f32], b: &[f32]| a.iter().zip(b).filter(|(x, y)| x != y).count();
        let (g1, d1) = (t.g.params.read_f32(&t.gpu).unwrap(), t.d.params.read_f32(&t.gpu).unwrap());
        assert!(changed(&g0, &g1) > g0.len() / 2, "{loss:?}: G did not train");
        assert!(changed(&d0, &d1) > d0.len() / 2, "{loss:?}: D did not train");
        match loss {
            // Both terms are ≥ 0 and the hinge's G loss is −E[D(G(z))] = −D_G_z2.
            GanLoss::Hinge => assert!(records.iter().all(|r| r.loss_d >= 0.0 && (r.loss_g + r.d_g_z2).abs() < 1e-6), "{records:?}"),
            GanLoss::Lsgan => assert!(records.iter().all(|r| r.loss_d >= 0.0 && r.loss_g >= 0.0), "{records:?}"),
            _ => {
                // The critic's loss is E[D(G(z))] − E[D(x)]; every weight stays in [−c, c].
                assert!(records.iter().all(|r| (r.loss_d - (r.d_g_z1 - r.d_x)).abs() < 1e-5), "{records:?}");
                assert!(d1.iter().all(|w| w.abs() <= 0.01), "a critic weight escaped the clip");
                assert!(g1.iter().any(|w| w.abs() > 0.01), "the generator must not be clipped");
            }
        }
        // The config round-trips through config.json (what --resume reads).
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
        let back: TrainConfig = serde_json::from_value(json["config"].clone()).unwrap();
        assert_eq!(back, cfg);
    }
}

/// `tiny` made class-conditional (one-hot concatenation) on the four synthetic shapes.
fn tiny_conditional(out: &Path, model: ModelKind) -> TrainConfig {
    tiny_conditioned(out, model, ConditionMode::Concat)
}

fn tiny_conditioned(out: &Path, model: ModelKind, mode: ConditionMode) -> TrainConfig {
    let mut cfg = tiny(out, model);
    cfg.model.conditional = Some(Conditional { mode, classes: 4, embedding: None });
    cfg
}

#[test]
fn conditional_gans_train_resume_exactly_and_grid_one_row_per_class() {
    let modes = [ConditionMode::Concat, ConditionMode::Projection, ConditionMode::Acgan];
    for (model, mode) in [ModelKind::Dcgan, ModelKind::Mlp].into_iter().flat_map(|m| modes.map(|mode| (m, mode))) {
        let tiny_conditional = |out: &Path, model| tiny_conditioned(out, model, mode);
        let (a, b) = (tmp(&format!("cond-{model:?}-{mode:?}")), tmp(&format!("cond-resumed-{model:?}-{mode:?}")));
        let g0 = {
            let mut fresh = trainer(tiny_conditional(&a, model));
            fresh.initialize().unwrap();
            fresh.g.params.read_f32(&fresh.gpu).unwrap()
        };
        let (t, records) = train(tiny_conditional(&a, model), false);
        assert!(records.iter().all(|r| r.finite()), "{model:?}: {records:?}");
        assert_ne!(g0, t.g.params.read_f32(&t.gpu).unwrap(), "{model:?}: G did not train");
        // G's first layer takes nz + K inputs either way. Concatenation: D's first layer takes
        // C + K channels (or C·S·S + K); projection: D sees the image alone and ends in a head
        // with an embedding of K rows.
        let gshape = TensorFile::load(&a.join("generator.safetensors")).unwrap().tensors["main.0.weight"].shape.clone();
        let d = TensorFile::load(&a.join("discriminator.safetensors")).unwrap().tensors;
        let dshape = d[if model == ModelKind::Dcgan { "main.0.weight" } else { "main.1.weight" }].shape.clone();
        let label_inputs = if mode == ConditionMode::Concat { 4 } else { 0 };
        match model {
            ModelKind::Dcgan => {
                assert_eq!(gshape[0], 16 + 4, "{gshape:?}");
                assert_eq!(dshape[1], 3 + label_inputs, "{dshape:?}");
            }
            ModelKind::Mlp => {
                assert_eq!(gshape[1], 16 + 4, "{gshape:?}");
                assert_eq!(dshape[1], 3 * 16 * 16 + label_inputs, "{dshape:?}");
            }
            ModelKind::Classifier | ModelKind::Ae | ModelKind::Vae => unreachable!("not a GAN"),
        }
        let embeds: Vec<_> = d.iter().filter(|(k, _)| k.ends_with(".embed.weight")).map(|(k, t)| (k.clone(), t.shape.clone())).collect();
        if mode == ConditionMode::Projection {
            assert!(embeds.len() == 1 && embeds[0].1[0] == 4, "{model:?}: projection head {embeds:?}");
            let head = embeds[0].0.trim_end_matches(".embed.weight");
            assert_eq!(d[&format!("{head}.linear.weight")].shape, vec![1, embeds[0].1[1]], "{model:?}");
            assert_eq!(d[&format!("{head}.linear.bias")].shape, vec![1], "{model:?}");
        } else {
            assert!(embeds.is_empty(), "{model:?}: {embeds:?}");
        }
        // D's last layer: 1 output, or ACGAN's real/fake logit and 4 class logits.
        let last = d.keys().filter(|k| k.ends_with(".weight")).max_by_key(|k| k.split('.').nth(1).and_then(|i| i.parse::<usize>().ok())).unwrap();
        if mode != ConditionMode::Projection {
            assert_eq!(d[last].shape[0], if mode == ConditionMode::Acgan { 1 + 4 } else { 1 }, "{model:?} {mode:?}: {last}");
        }
        // ACGAN logs its auxiliary classifier's losses and accuracies, and D's loss holds its
        // class losses; the other modes log none of them.
        for r in &records {
            if mode == ConditionMode::Acgan {
                let (c_real, c_fake, c_g) = (r.c_real.unwrap(), r.c_fake.unwrap(), r.c_g.unwrap());
                let (acc_real, acc_fake) = (r.acc_real.unwrap(), r.acc_fake.unwrap());
                assert!(c_real > 0.0 && c_fake > 0.0 && c_g > 0.0 && r.loss_d > c_real + c_fake && r.loss_g > c_g, "{model:?}: {r:?}");
                assert!((0.0..=1.0).contains(&acc_real) && (0.0..=1.0).contains(&acc_fake), "{model:?}: {r:?}");
            } else {
                assert!(r.c_real.is_none() && r.acc_fake.is_none(), "{model:?} {mode:?}: {r:?}");
            }
        }
        if mode == ConditionMode::Acgan {
            let metrics = std::fs::read_to_string(a.join("metrics.jsonl")).unwrap();
            assert!(metrics.lines().all(|l| l.contains("\"C_real\"") && l.contains("\"acc_fake\"")), "{metrics}");
        }
        // 8 columns, one row per class (4 classes).
        let grid = image::open(a.join("fake_samples.png")).unwrap();
        assert_eq!((grid.width(), grid.height()), (8 * 18 + 2, 4 * 18 + 2), "{model:?}");
        // 4 steps + resume + 2 = 6 steps straight through: the labels' draws are on the GPU
        // counters too.
        let cfg_b = TrainConfig { steps: 4, ..tiny_conditional(&b, model) };
        train(cfg_b.clone(), false);
        train(TrainConfig { steps: 6, ..cfg_b }, true);
        let ta = tensors(&a.join("checkpoint.safetensors"));
        assert_eq!(ta, tensors(&b.join("checkpoint.safetensors")), "{model:?} {mode:?}: 6 steps differ from 4 + resume + 2");
    }
}

#[test]
fn a_matching_aware_discriminator_sees_wrong_labels_and_resumes_exactly() {
    for mode in [ConditionMode::Concat, ConditionMode::Projection] {
        let with = |out: &Path| TrainConfig { mismatch_weight: Some(0.5), ..tiny_conditioned(out, ModelKind::Dcgan, mode) };
        let (a, b, plain) = (tmp(&format!("mismatch-{mode:?}")), tmp(&format!("mismatch-resumed-{mode:?}")), tmp(&format!("mismatch-none-{mode:?}")));
        let (t, records) = train(with(&a), false);
        assert!(!records.is_empty(), "{mode:?}: nothing logged");
        // D(x, ŷ) is logged at every step, a probability; loss_D has its third term.
        for r in &records {
            let m = r.d_x_mismatch.unwrap_or_else(|| panic!("{mode:?}: no D(x, wrong y) in {r:?}"));
            assert!(r.finite() && m > 0.0 && m < 1.0 && r.loss_d > 0.0, "{mode:?}: {r:?}");
        }
        let metrics = std::fs::read_to_string(a.join("metrics.jsonl")).unwrap();
        assert!(metrics.lines().all(|l| l.contains("\"D_x_mismatch\"")), "{metrics}");
        // D's BatchNorm ran 3 times per D step (real, real with wrong labels, fake) and once in
        // the G step: num_batches_tracked says so, as PyTorch's would.
        let steps = t.cfg.steps;
        let d = TensorFile::load(&a.join("discriminator.safetensors")).unwrap().tensors;
        let tracked: Vec<_> = d.iter().filter(|(k, _)| k.ends_with("num_batches_tracked")).map(|(_, v)| v.values.clone()).collect();
        assert!(!tracked.is_empty() && tracked.iter().all(|v| *v == Values::I64(vec![(steps * 4) as i64])), "{mode:?}: {tracked:?} after {steps} steps");
        // The wrong labels change D's update: the same run without them ends elsewhere.
        let (t0, _) = train(tiny_conditioned(&plain, ModelKind::Dcgan, mode), false);
        assert_ne!(t.d.params.read_f32(&t.gpu).unwrap(), t0.d.params.read_f32(&t0.gpu).unwrap(), "{mode:?}: --mismatch-weight changed nothing");
        // 4 steps + resume + 2 = 6 straight through: the wrong labels' draws are on the counters.
        let cfg_b = TrainConfig { steps: 4, ..with(&b) };
        train(cfg_b.clone(), false);
        train(TrainConfig { steps: 6, ..cfg_b }, true);
        assert_eq!(tensors(&a.join("checkpoint.safetensors")), tensors(&b.join("checkpoint.safetensors")), "{mode:?}: 6 steps differ from 4 + resume + 2");
    }
    // ACGAN's D never sees the label, so a wrong one has nothing to act on.
    let acgan = TrainConfig { mismatch_weight: Some(0.5), ..tiny_conditioned(&tmp("mismatch-acgan"), ModelKind::Dcgan, ConditionMode::Acgan) };
    let err = acgan.validate().expect_err("refused").to_string();
    assert!(err.contains("--mismatch-weight") && err.contains("concat or projection"), "{err}");
}

#[test]
fn the_class_changes_what_g_draws_and_unlabelled_data_is_refused() {
    // One z, every class: a conditional G must draw a different image per class.
    let out = tmp("cond-label");
    let (t, _) = train(tiny_conditional(&out, ModelKind::Dcgan), false);
    let generator = shadergan::sample::Generator::load(&t.gpu, &out).unwrap();
    let z = shadergan::sample::latents(&t.gpu, 3, 1, 16).unwrap();
    let images: Vec<Vec<f32>> = (0..4u32).map(|y| generator.generate(&t.gpu, &z, &[y], 1, shadergan::nn::Mode::Eval).unwrap()).collect();
    for y in 1..4 {
        assert_ne!(images[0], images[y], "class {y} draws the same image as class 0 from the same z");
    }
    // Unlabelled data cannot train a conditional model: a folder has no labels.
    let m = &t.cfg.model;
    let mut ds = data::load(DatasetKind::Synthetic, None, m.image_size, m.channels, None, 16, false).unwrap();
    ds.labels = None;
    let err = Trainer::new(gpu(), tiny_conditional(&tmp("cond-nolabels"), ModelKind::Dcgan), &ds).err().expect("refused");
    assert!(err.to_string().contains("--conditional") && err.to_string().contains("no class labels"), "{err}");
}

#[test]
fn a_config_written_before_the_optimizer_option_still_resumes_with_adam() {
    let out = tmp("old-config");
    let mut v = serde_json::to_value(tiny(&out, ModelKind::Dcgan)).unwrap();
    let obj = v.as_object_mut().unwrap();
    obj.remove("optimizer");
    obj.remove("clip");
    let cfg: TrainConfig = serde_json::from_value(v).unwrap();
    assert_eq!((cfg.optimizer, cfg.clip), (shadergan::train::Optimizer::Adam, None));
}

/// (key, shape) of each tensor of a state dict.
type StateDictShapes = Vec<(&'static str, Vec<usize>)>;

/// Keys and shapes of pytorch/examples' `netG.state_dict()` and `netD.state_dict()` for
/// nz = 100, ngf = ndf = 64, nc = 3 (64×64), written out from the spec of dcgan/main.py.
fn pytorch_dcgan64() -> (StateDictShapes, StateDictShapes) {
    let bn = |i: &'static [&'static str; 5], c: usize| -> Vec<(&'static str, Vec<usize>)> {
        vec![(i[0], vec![c]), (i[1], vec![c]), (i[2], vec![c]), (i[3], vec![c]), (i[4], vec![])]
    };
    let mut g = vec![("main.0.weight", vec![100, 512, 4, 4])];
    g.extend(bn(&["main.1.weight", "main.1.bias", "main.1.running_mean", "main.1.running_var", "main.1.num_batches_tracked"], 512));
    g.push(("main.3.weight", vec![512, 256, 4, 4]));
    g.extend(bn(&["main.4.weight", "main.4.bias", "main.4.running_mean", "main.4.running_var", "main.4.num_batches_tracked"], 256));
    g.push(("main.6.weight", vec![256, 128, 4, 4]));
    g.extend(bn(&["main.7.weight", "main.7.bias", "main.7.running_mean", "main.7.running_var", "main.7.num_batches_tracked"], 128));
    g.push(("main.9.weight", vec![128, 64, 4, 4]));
    g.extend(bn(&["main.10.weight", "main.10.bias", "main.10.running_mean", "main.10.running_var", "main.10.num_batches_tracked"], 64));
    g.push(("main.12.weight", vec![64, 3, 4, 4]));
    let mut d = vec![("main.0.weight", vec![64, 3, 4, 4]), ("main.2.weight", vec![128, 64, 4, 4])];
    d.extend(bn(&["main.3.weight", "main.3.bias", "main.3.running_mean", "main.3.running_var", "main.3.num_batches_tracked"], 128));
    d.push(("main.5.weight", vec![256, 128, 4, 4]));
    d.extend(bn(&["main.6.weight", "main.6.bias", "main.6.running_mean", "main.6.running_var", "main.6.num_batches_tracked"], 256));
    d.push(("main.8.weight", vec![512, 256, 4, 4]));
    d.extend(bn(&["main.9.weight", "main.9.bias", "main.9.running_mean", "main.9.running_var", "main.9.num_batches_tracked"], 512));
    d.push(("main.11.weight", vec![1, 512, 4, 4]));
    (g, d)
}

#[test]
fn state_dicts_have_exactly_pytorchs_keys_and_shapes() {
    let m = ModelConfig { model: ModelKind::Dcgan, image_size: 64, channels: 3, nz: 100, ngf: 64, ndf: 64, dropout: 0.3, conditional: None, spectral_norm: false, d_norm: DNorm::BatchNorm, minibatch_std: None };
    let (want_g, want_d) = pytorch_dcgan64();
    for (spec, want) in [(m.generator().unwrap(), want_g), (m.discriminator().unwrap(), want_d)] {
        let mut got: Vec<(String, Vec<usize>)> = spec.params().into_iter().map(|p| (p.name, p.shape)).collect();
        for (i, l) in spec.layers.iter().enumerate() {
            if matches!(l, shadergan::nn::Layer::BatchNorm2d { .. }) {
                got.push((format!("main.{i}.num_batches_tracked"), vec![]));
            }
        }
        got.sort();
        let mut want: Vec<(String, Vec<usize>)> = want.into_iter().map(|(k, s)| (k.to_string(), s)).collect();
        want.sort();
        assert_eq!(got, want, "{} state dict differs from pytorch/examples", spec.name);
    }
    // And the file written by training carries them, num_batches_tracked as int64.
    let out = tmp("keys");
    train(TrainConfig { steps: 2, log_every: 1, ..tiny(&out, ModelKind::Dcgan) }, false);
    let g = TensorFile::load(&out.join("generator.safetensors")).unwrap();
    let t = &g.tensors["main.1.num_batches_tracked"];
    assert_eq!((t.shape.clone(), t.values.clone()), (vec![], Values::I64(vec![2])));
    assert_eq!(g.tensors["main.0.weight"].shape, vec![16, 16, 4, 4]);
}

#[test]
fn training_steps_allocate_nothing_after_the_first() {
    let out = tmp("alloc");
    let cfg = tiny(&out, ModelKind::Dcgan);
    let ds = data::load(cfg.dataset, None, 16, 3, None, cfg.synthetic_images, false).unwrap();
    // A fork with its own allocation counter: other tests run in parallel on the shared one.
    let mut t = Trainer::new(gpu().with_limits(|_| {}), cfg, &ds).unwrap();
    t.initialize().unwrap();
    t.iterate(true).unwrap();
    let (buffers, bytes) = t.gpu.allocated();
    for i in 0..6 {
        t.iterate(i % 3 == 0).unwrap();
    }
    t.gpu.wait().unwrap();
    assert_eq!(t.gpu.allocated(), (buffers, bytes), "a training step created GPU buffers");
}

#[test]
fn a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint() {
    use shadergan::gpu::shaders::LOSS;
    let out = tmp("nan");
    let cfg = TrainConfig { steps: 2, checkpoint_every: 2, ..tiny(&out, ModelKind::Dcgan) };
    train(cfg.clone(), false);
    let ckpt = out.join("checkpoint.safetensors");
    let good = std::fs::read(&ckpt).unwrap();
    // The same device, with a loss kernel that reports NaN.
    let find = "out[p.out_index] = p.scale * loss_partial[0] * inv_n;";
    assert_eq!(LOSS.source.matches(find).count(), 1);
    let broken = gpu().with_shader_source(&LOSS, LOSS.source.replacen(find, "out[p.out_index] = bitcast<f32>(0x7fc00000u);", 1));
    let m = &cfg.model;
    let ds = data::load(cfg.dataset, None, m.image_size, m.channels, None, cfg.synthetic_images, false).unwrap();
    // Losses are read back (and checked) every step here, so the NaN is seen at step 3.
    let mut t = Trainer::new(broken, TrainConfig { steps: 4, log_every: 1, ..cfg }, &ds).unwrap();
    t.restore(&ckpt).unwrap();
    t.prepare_run_dir().unwrap();
    let err = t.run(|_| {}).unwrap_err().to_string();
    assert!(err.contains("diverged at step 3") && err.contains("step 2"), "{err}");
    assert_eq!(std::fs::read(&ckpt).unwrap(), good, "the last good checkpoint was overwritten");
}

/// --g-ema: the moving average follows the f64 recursion of G's weights and running
/// statistics step by step (bias-corrected, so step 1 is a copy), training itself is untouched
/// (G and D byte-identical to a run without it), and resume is exact.
#[test]
fn the_generator_moving_average_follows_its_recursion_and_leaves_training_untouched() {
    let (a, b) = (tmp("ema"), tmp("no-ema"));
    let beta = 0.9f32;
    let cfg = TrainConfig { g_ema: Some(beta), checkpoint_every: 100, ..tiny(&a, ModelKind::Dcgan) };
    // Bias-corrected, and with StyleGAN2's ramp-up (r = 0.5: β_t = min(β, 0.5^(1/(r·t))), so
    // the ramp decides the first steps).
    for rampup in [None, Some(0.5f32)] {
        ema_follows_its_recursion(TrainConfig { g_ema_rampup: rampup, ..cfg.clone() });
    }
    // Whole runs: with and without the average, G and D are the same bytes.
    train(cfg.clone(), false);
    train(TrainConfig { out: b.clone(), g_ema: None, ..cfg.clone() }, false);
    for f in ["generator.safetensors", "discriminator.safetensors"] {
        assert_eq!(tensors(&a.join(f)), tensors(&b.join(f)), "{f}: --g-ema changed training");
    }
    let ema_sd = tensors(&a.join("generator_ema.safetensors"));
    let g_sd = tensors(&a.join("generator.safetensors"));
    assert_eq!(ema_sd.keys().collect::<Vec<_>>(), g_sd.keys().collect::<Vec<_>>(), "the average has the generator's PyTorch keys");
    assert_ne!(ema_sd, g_sd);
    let ckpt = tensors(&a.join("checkpoint.safetensors"));
    for (k, v) in &ema_sd {
        assert_eq!(ckpt.get(&format!("netG_ema.{k}")), Some(v), "checkpoint's netG_ema.{k}");
    }
    assert!(!b.join("generator_ema.safetensors").exists());
    // 4 steps + resume + 2 = 6 steps, the average included.
    let c = tmp("ema-resumed");
    train(TrainConfig { out: c.clone(), steps: 4, ..cfg.clone() }, false);
    train(TrainConfig { out: c.clone(), steps: 6, ..cfg }, true);
    for f in ["checkpoint.safetensors", "generator_ema.safetensors"] {
        assert_eq!(tensors(&a.join(f)), tensors(&c.join(f)), "{f} differs between 6 steps and 4 + resume + 2");
    }
    // Sampling takes the average by default, the trained weights with --no-ema.
    let g = shadergan::sample::Generator::load(&gpu(), &a).unwrap();
    assert!(g.ema && g.source.ends_with("generator_ema.safetensors"));
    let g = shadergan::sample::Generator::load(&gpu(), &a.join("checkpoint.safetensors")).unwrap();
    assert!(g.ema);
    assert_eq!(g.store.params.read_f32(&gpu()).unwrap(), shadergan::sample::Generator::load(&gpu(), &a).unwrap().store.params.read_f32(&gpu()).unwrap());
    let g = shadergan::sample::Generator::load_with(&gpu(), &a, false).unwrap();
    assert!(!g.ema && g.source.ends_with("generator.safetensors"));
    // A checkpoint without the average cannot resume a run that keeps one.
    let mut t = trainer(TrainConfig { out: b.clone(), g_ema: Some(beta), ..tiny(&b, ModelKind::Dcgan) });
    let err = t.restore(&b.join("checkpoint.safetensors")).unwrap_err().to_string();
    assert!(err.contains("netG_ema") && err.contains("--g-ema"), "{err}");
}

/// SNGAN's setting (hinge loss, spectral norm, no BatchNorm in D) trains; D's state dict has
/// PyTorch's spectral_norm names; u and v move with every training forward of D (three per
/// iteration) and resume is exact, u and v included.
#[test]
fn spectral_norm_trains_saves_pytorch_names_and_resumes_exactly() {
    let (a, b) = (tmp("sn"), tmp("sn-resumed"));
    let mut cfg = TrainConfig { loss: GanLoss::Hinge, checkpoint_every: 100, ..tiny(&a, ModelKind::Dcgan) };
    cfg.model.spectral_norm = true;
    cfg.model.d_norm = DNorm::None;
    let (t, records) = train(cfg.clone(), false);
    assert!(records.iter().all(|r| r.finite()), "{records:?}");
    let sd = tensors(&a.join("discriminator.safetensors"));
    let keys: Vec<&String> = sd.keys().collect();
    assert!(keys.iter().all(|k| !k.ends_with(".weight") && !k.contains("running_")), "D has no plain weight and no BatchNorm: {keys:?}");
    for i in [0, 2, 4] {
        for n in ["weight_orig", "weight_u", "weight_v"] {
            assert!(sd.contains_key(&format!("main.{i}.{n}")), "main.{i}.{n} missing from {keys:?}");
        }
    }
    // After training, u and v are unit vectors (the power iteration normalises them).
    for k in keys.iter().filter(|k| k.ends_with("weight_u") || k.ends_with("weight_v")) {
        let Values::F32(v) = &sd[*k] else { panic!("{k} is not f32") };
        let norm = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{k}: ‖·‖ = {norm}");
    }
    // D's output scale is bounded: σ(W/σ) = 1 per layer; the hinge loss stays near its
    // starting value for a few steps rather than blowing up.
    assert!(records.iter().all(|r| r.loss_d < 4.0), "{records:?}");
    drop(t);
    train(TrainConfig { out: b.clone(), steps: 4, ..cfg.clone() }, false);
    train(TrainConfig { out: b.clone(), steps: 6, ..cfg }, true);
    for f in ["checkpoint.safetensors", "discriminator.safetensors", "generator.safetensors"] {
        assert_eq!(tensors(&a.join(f)), tensors(&b.join(f)), "{f} differs between 6 steps and 4 + resume + 2");
    }
}

/// WGAN-GP (with and without LayerNorm in D) and R1 train the tiny DCGAN without BatchNorm in
/// D: the penalty is logged, finite and
/// positive; it changes D's update (the weights differ from the same run without it) but not
/// G's first step; resume is exact with the penalty's own random draws (ε) and with lazy R1
/// (its extra D step every k iterations, the resumed run at a step where it is due).
#[test]
fn gradient_penalties_train_log_and_resume_exactly() {
    // (name, λ, γ, lazy R1 interval, D's normalisation, minibatch std group)
    let runs = [
        ("wgan-gp", Some(10.0f32), None, None, DNorm::None, None),
        ("wgan-gp-layernorm", Some(10.0f32), None, None, DNorm::LayerNorm, None),
        ("r1", None, Some(1.0f32), None, DNorm::None, None),
        ("r1-lazy", None, Some(1.0f32), Some(2), DNorm::None, None),
        // The minibatch standard deviation layer: its backward of the backward, and (the
        // run without a penalty) its plain training step.
        ("r1-minibatch-std", None, Some(1.0f32), None, DNorm::None, Some(4)),
        ("wgan-gp-layernorm-minibatch-std", Some(10.0f32), None, None, DNorm::LayerNorm, Some(4)),
    ];
    for (name, gp, r1, r1_every, d_norm, minibatch_std) in runs {
        let (a, b, c) = (tmp(name), tmp(&format!("{name}-resumed")), tmp(&format!("{name}-none")));
        let mut cfg = TrainConfig { gp, r1, r1_every, checkpoint_every: 100, ..tiny(&a, ModelKind::Dcgan) };
        cfg.model.d_norm = d_norm;
        cfg.model.minibatch_std = minibatch_std;
        if gp.is_some() {
            cfg.loss = GanLoss::Wgan;
            cfg.d_steps = 2;
        }
        let (_, records) = train(cfg.clone(), false);
        assert!(records.iter().all(|r| r.finite() && r.penalty.is_some_and(|p| p > 0.0)), "{name}: {records:?}");
        let line = std::fs::read_to_string(a.join("metrics.jsonl")).unwrap();
        assert!(line.lines().next().unwrap().contains("\"penalty\""), "{name}: metrics.jsonl lacks the penalty");
        train(TrainConfig { out: c.clone(), gp: None, r1: None, r1_every: None, ..cfg.clone() }, false);
        assert_ne!(tensors(&a.join("discriminator.safetensors")), tensors(&c.join("discriminator.safetensors")), "{name}: the penalty did not change D");
        train(TrainConfig { out: b.clone(), steps: 4, ..cfg.clone() }, false);
        train(TrainConfig { out: b.clone(), steps: 6, ..cfg }, true);
        assert_eq!(tensors(&a.join("checkpoint.safetensors")), tensors(&b.join("checkpoint.safetensors")), "{name}: 6 steps differ from 4 + resume + 2");
    }
}

/// `--save-initial` with WGAN-GP: initial.safetensors holds the initial weights and the first
/// D step's inputs (real batch, z, the interpolation weights ε), from which the f64 reference
/// reproduces step 1's logged critic scores and gradient penalty (what
/// scripts/pytorch_parity.py --iteration does in PyTorch); writing it does not move the run.
#[test]
fn initial_safetensors_holds_the_first_wgan_gp_iteration_and_leaves_the_run_unchanged() {
    use shadergan::reference::{net, penalty, Tensor};
    let (a, b) = (tmp("gan-initial"), tmp("gan-initial-without"));
    let cfg = |out: &Path| {
        let mut c = TrainConfig { loss: GanLoss::Wgan, gp: Some(10.0), steps: 3, log_every: 1, checkpoint_every: 100, ..tiny(out, ModelKind::Dcgan) };
        c.model.d_norm = DNorm::LayerNorm;
        c
    };
    let mut t = trainer(cfg(&a));
    t.initialize().unwrap();
    t.prepare_run_dir().unwrap();
    t.save_initial(&a.join("initial.safetensors")).unwrap();
    let mut records = Vec::new();
    t.run(|e| {
        if let Event::Logged(r) = e {
            records.push(r.clone());
        }
    })
    .unwrap();
    train(cfg(&b), false);
    assert_eq!(tensors(&a.join("checkpoint.safetensors")), tensors(&b.join("checkpoint.safetensors")), "writing initial.safetensors changed the run");

    let init = tensors(&a.join("initial.safetensors"));
    let f64s = |key: &str| match &init[key] {
        Values::F32(v) => v.iter().map(|&x| x as f64).collect::<Vec<f64>>(),
        Values::I64(v) => v.iter().map(|&x| x as f64).collect(),
        Values::U32(v) => v.iter().map(|&x| x as f64).collect(),
    };
    let params = |prefix: &str| -> net::Params { init.keys().filter_map(|k| k.strip_prefix(prefix).map(|name| (name.to_string(), f64s(k)))).collect() };
    let m = &t.cfg.model;
    let bsz = t.cfg.batch_size;
    let eps = f64s("gp_epsilon");
    assert_eq!(eps.len(), bsz);
    assert!(eps.iter().all(|e| (0.0..1.0).contains(e)) && eps.iter().any(|&e| e != eps[0]), "ε is not a U(0, 1) draw: {eps:?}");
    let (g_spec, d_spec) = (m.generator().unwrap(), m.discriminator().unwrap());
    let (g_params, d_params) = (params("netG."), params("netD."));
    let image = [bsz, m.channels, m.image_size, m.image_size];
    let fake = net::forward(&g_spec, &g_params, &Tensor::new(&[bsz, m.nz, 1, 1], f64s("z")), &[], &Default::default()).pop().unwrap().data;
    let real = f64s("real");
    let critic_mean = |x: &[f64]| net::forward(&d_spec, &d_params, &Tensor::new(&image, x.to_vec()), &[], &Default::default()).pop().unwrap().data.iter().sum::<f64>() / bsz as f64;
    let per = real.len() / bsz;
    let x_hat: Vec<f64> = (0..real.len()).map(|k| eps[k / per] * real[k] + (1.0 - eps[k / per]) * fake[k]).collect();
    let acts = net::forward(&d_spec, &d_params, &Tensor::new(&image, x_hat), &[], &Default::default());
    let ones = Tensor::new(&acts.last().unwrap().shape, vec![1.0; bsz]);
    let (_, deltas) = net::backward_all(&d_spec, &d_params, &acts, &ones, &[], &Default::default());
    let (gp, _) = penalty::penalty(&deltas[0].data, bsz, true, 10.0, shadergan::ops::penalty::EPS as f64);
    let first = &records[0];
    assert_eq!(first.step, 1);
    let close = |gpu: f32, reference: f64| (gpu as f64 - reference).abs() <= 1e-5 * reference.abs().max(1e-2);
    assert!(close(first.d_x, critic_mean(&real)), "step 1 D(x): GPU {} vs reference on initial.safetensors {}", first.d_x, critic_mean(&real));
    assert!(close(first.d_g_z1, critic_mean(&fake)), "step 1 D(G(z)): GPU {} vs reference {}", first.d_g_z1, critic_mean(&fake));
    assert!(close(first.penalty.unwrap(), gp), "step 1 gradient penalty: GPU {:?} vs reference on initial.safetensors {gp}", first.penalty);
}

/// Five steps of `cfg` (with --g-ema), the moving average compared after each with the f64
/// recursion of G's weights and running statistics.
fn ema_follows_its_recursion(cfg: TrainConfig) {
    let (beta, rampup) = (cfg.g_ema.unwrap(), cfg.g_ema_rampup.map(f64::from));
    let mut t = trainer(cfg);
    t.initialize().unwrap();
    let ema = t.g_ema.as_ref().expect("a moving-average store");
    let read = |x: &shadergan::GpuTensor| x.read_f32(&t.gpu).unwrap();
    // Before any step the average is G itself.
    assert_eq!(read(&ema.params), read(&t.g.params));
    let g_buffers = t.g.buffers.as_ref().expect("the DCGAN generator has BatchNorm");
    let e_buffers = ema.buffers.as_ref().unwrap();
    assert_eq!(read(e_buffers), read(g_buffers));
    let f64s = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<f64>>();
    let (mut avg_w, mut avg_b) = (f64s(read(&t.g.params)), f64s(read(g_buffers)));
    for step in 1..=5u32 {
        t.gpu.run("iteration", &t.program().iter().collect::<Vec<_>>()).unwrap();
        shadergan::reference::optim::ema_update(&mut avg_w, &f64s(read(&t.g.params)), beta as f64, step, rampup);
        shadergan::reference::optim::ema_update(&mut avg_b, &f64s(read(g_buffers)), beta as f64, step, rampup);
        let ema = t.g_ema.as_ref().unwrap();
        for (what, got, want) in [("weights", read(&ema.params), &avg_w), ("running statistics", read(ema.buffers.as_ref().unwrap()), &avg_b)] {
            let (mut num, mut den) = (0f64, 0f64);
            for (g, w) in got.iter().zip(want.iter()) {
                num += (*g as f64 - w).powi(2);
                den += w * w;
            }
            let rel = (num / den).sqrt();
            assert!(rel < 1e-6, "step {step}: the average's {what} are {rel:e} from the f64 recursion");
        }
        if step == 1 && rampup.is_none() {
            assert!(read(&t.g_ema.as_ref().unwrap().params) == read(&t.g.params), "at step 1 the bias-corrected average is a copy");
        }
    }
}

#[test]
fn a_learning_rate_schedule_runs_on_the_gpu_logs_what_it_used_and_resumes_exactly() {
    use shadergan::ops::optim::{Schedule, ScheduleKind};
    for (kind, warmup) in [(ScheduleKind::Linear, 2u64), (ScheduleKind::Cosine, 0)] {
        let schedule = Schedule { kind, horizon: 6, warmup };
        // Lazy R1 scales D's rate by k/(k + 1): the schedule multiplies what the optimizer
        // would use without it.
        let with = |out: &Path| TrainConfig {
            lr_schedule: Some(schedule),
            lr_d: 4e-4,
            log_every: 1,
            r1: Some(1.0),
            r1_every: Some(2),
            model: ModelConfig { d_norm: DNorm::None, ..tiny(out, ModelKind::Dcgan).model },
            ..tiny(out, ModelKind::Dcgan)
        };
        let (a, b, plain) = (tmp(&format!("sched-{kind:?}")), tmp(&format!("sched-resumed-{kind:?}")), tmp(&format!("sched-none-{kind:?}")));
        let (t, records) = train(with(&a), false);
        assert_eq!(records.len(), 6, "{records:?}");
        for r in &records {
            // Step s logs iteration s − 1's rates, as the GPU computed them.
            let f = shadergan::reference::optim::lr_schedule_factor(&schedule, r.step - 1);
            let (want_d, want_g) = (4e-4 * (2.0 / 3.0) * f, 2e-4 * f);
            let (got_d, got_g) = (r.lr_d.expect("lr_D logged") as f64, r.lr_g.expect("lr_G logged") as f64);
            assert!((got_d - want_d).abs() <= 1e-6 * 4e-4 && (got_g - want_g).abs() <= 1e-6 * 2e-4, "{kind:?} step {}: ({got_d}, {got_g}) vs ({want_d}, {want_g})", r.step);
        }
        let metrics = std::fs::read_to_string(a.join("metrics.jsonl")).unwrap();
        assert!(metrics.lines().all(|l| l.contains("\"lr_D\"") && l.contains("\"lr_G\"")), "{metrics}");
        // It changes the run: the constant rates end elsewhere.
        let (t0, r0) = train(TrainConfig { lr_schedule: None, ..with(&plain) }, false);
        assert!(r0.iter().all(|r| r.lr_d.is_none()), "a run without a schedule logs no rates");
        assert_ne!(t.g.params.read_f32(&t.gpu).unwrap(), t0.g.params.read_f32(&t0.gpu).unwrap(), "{kind:?}: the schedule changed nothing");
        // 4 steps + resume + 2 = 6 straight through: the horizon is the config's (6), and the
        // iteration is the GPU's counter, restored with the checkpoint.
        let cfg_b = TrainConfig { steps: 4, ..with(&b) };
        train(cfg_b.clone(), false);
        train(TrainConfig { steps: 6, ..cfg_b }, true);
        assert_eq!(tensors(&a.join("checkpoint.safetensors")), tensors(&b.join("checkpoint.safetensors")), "{kind:?}: 6 steps differ from 4 + resume + 2");
    }
    // A schedule without a horizon is refused by its flag.
    let bad = TrainConfig { lr_schedule: Some(Schedule { kind: ScheduleKind::Linear, horizon: 0, warmup: 0 }), ..tiny(&tmp("sched-bad"), ModelKind::Dcgan) };
    assert!(bad.validate().unwrap_err().to_string().contains("--lr-schedule"));
}

/// `tiny_conditioned` with the label coded by a learned N-vector (--label-embedding N).
fn tiny_embedded(out: &Path, model: ModelKind, mode: ConditionMode, n: usize) -> TrainConfig {
    let mut cfg = tiny_conditioned(out, model, mode);
    cfg.model.conditional.as_mut().unwrap().embedding = Some(n);
    cfg
}

/// --label-embedding: with the tables set to the identity (N = K) the first D update is the
/// one-hot model's, bit for bit, and so is G's where D has no table (the planes, the input
/// gradients and every parameter update are wired as with one-hot); trained, both tables move, the state dicts hold
/// `label_emb.weight` [K, N], resume is exact, and `sample` draws each class from the file.
#[test]
fn label_embedding_is_one_hot_at_the_identity_and_trains_its_tables() {
    let identity: Vec<f32> = (0..16).map(|i| if i % 5 == 0 { 1.0 } else { 0.0 }).collect();
    for (model, mode) in [(ModelKind::Dcgan, ConditionMode::Concat), (ModelKind::Mlp, ConditionMode::Concat), (ModelKind::Dcgan, ConditionMode::Acgan)] {
        let what = format!("{model:?} {mode:?}");
        let d_has_table = mode == ConditionMode::Concat;
        let mut one_hot = trainer(tiny_conditioned(&tmp(&format!("emb-onehot-{what}")), model, mode));
        let mut embedded = trainer(tiny_embedded(&tmp(&format!("emb-identity-{what}")), model, mode, 4));
        one_hot.initialize().unwrap();
        embedded.initialize().unwrap();
        let mut tables = vec![embedded.g.param("label_emb.weight").unwrap()];
        tables.extend(d_has_table.then(|| embedded.d.param("label_emb.weight").unwrap()));
        assert_eq!(embedded.d.param("label_emb.weight").is_ok(), d_has_table, "{what}: D's table");
        for t in &tables {
            t.write_f32(&embedded.gpu, &identity).unwrap();
        }
        one_hot.iterate(false).unwrap();
        embedded.iterate(false).unwrap();
        // The tables come last in each store, so `main` is the same prefix of both. G's step
        // reads D's label planes through D's table as D's step left it (PyTorch's D(G(z), y)
        // after optD.step()): where D has a table it has moved off the identity, and G's update
        // is one-hot's only where D has none.
        let nets = if d_has_table { vec![(&one_hot.d, &embedded.d, "D")] } else { vec![(&one_hot.g, &embedded.g, "G"), (&one_hot.d, &embedded.d, "D")] };
        for (a, b, net) in nets {
            let (a, b) = (a.params.read_f32(&one_hot.gpu).unwrap(), b.params.read_f32(&embedded.gpu).unwrap());
            assert_eq!(a[..], b[..a.len()], "{what}: {net}'s main differs from one-hot's after one iteration at E = I");
        }
        for t in &tables {
            let after = t.read_f32(&embedded.gpu).unwrap();
            assert!(after.iter().zip(&identity).any(|(a, b)| a != b), "{what}: a table did not train");
        }

        // N ≠ K, trained, resumed.
        let (a, b) = (tmp(&format!("emb-{what}")), tmp(&format!("emb-resumed-{what}")));
        let initial = {
            let mut fresh = trainer(tiny_embedded(&a, model, mode, 3));
            fresh.initialize().unwrap();
            fresh.g.param("label_emb.weight").unwrap().read_f32(&fresh.gpu).unwrap()
        };
        let (_, records) = train(tiny_embedded(&a, model, mode, 3), false);
        assert!(records.iter().all(|r| r.finite()), "{what}: {records:?}");
        let g = TensorFile::load(&a.join("generator.safetensors")).unwrap().tensors;
        let d = TensorFile::load(&a.join("discriminator.safetensors")).unwrap().tensors;
        assert_eq!(g["label_emb.weight"].shape, vec![4, 3], "{what}");
        assert_ne!(g["label_emb.weight"].values, Values::F32(initial), "{what}: G's table did not train");
        let first = if model == ModelKind::Dcgan { "main.0.weight" } else { "main.1.weight" };
        match model {
            ModelKind::Dcgan => assert_eq!(g["main.0.weight"].shape[0], 16 + 3, "{what}"),
            _ => assert_eq!(g["main.0.weight"].shape[1], 16 + 3, "{what}"),
        }
        if d_has_table {
            assert_eq!(d["label_emb.weight"].shape, vec![4, 3], "{what}");
            let planes = if model == ModelKind::Dcgan { 3 + 3 } else { 3 * 16 * 16 + 3 };
            assert_eq!(d[first].shape[1], planes, "{what}");
        } else {
            assert!(!d.contains_key("label_emb.weight"), "{what}");
        }
        let cfg_b = TrainConfig { steps: 4, ..tiny_embedded(&b, model, mode, 3) };
        train(cfg_b.clone(), false);
        train(TrainConfig { steps: 6, ..cfg_b }, true);
        assert_eq!(tensors(&a.join("checkpoint.safetensors")), tensors(&b.join("checkpoint.safetensors")), "{what}: 6 steps differ from 4 + resume + 2");

        // `sample`: the file's table codes each class; one latent drawn as each class gives
        // four different images.
        let generator = shadergan::sample::Generator::load(&gpu(), &a.join("generator.safetensors")).unwrap();
        let z = shadergan::sample::latents(&gpu(), 7, 1, 16).unwrap().repeat(4);
        let images = generator.generate(&gpu(), &z, &[0, 1, 2, 3], 4, shadergan::nn::Mode::Eval).unwrap();
        let per = images.len() / 4;
        assert!(images.iter().all(|v| v.is_finite()), "{what}");
        for k in 1..4 {
            assert_ne!(images[..per], images[k * per..(k + 1) * per], "{what}: class {k} draws class 0's image");
        }
    }
}

/// `--minibatch-std G`: D gets StyleGAN's layer before its last convolution, which takes one
/// more input channel (PyTorch names and shapes follow), config.json records it, and D's
/// output on a batch depends on the other samples of each group (the layer's point), on none
/// outside it.
#[test]
fn the_minibatch_std_layer_sits_before_the_last_convolution_and_mixes_each_group() {
    use shadergan::nn::{DropoutRng, Instance, Layer, Mode};
    let a = tmp("minibatch-std");
    let mut cfg = tiny(&a, ModelKind::Dcgan);
    cfg.model.minibatch_std = Some(2);
    let spec = cfg.model.discriminator().unwrap();
    let n = spec.layers.len();
    assert_eq!(spec.layers[n - 2], Layer::MinibatchStd { group: 2 });
    assert!(matches!(spec.layers[n - 1], Layer::Conv2d { c_in: 17, .. }), "{:?}", spec.layers[n - 1]);
    assert!(spec.describe().contains("MinibatchStdLayer(group_size=2, num_channels=1)"), "{}", spec.describe());
    let (t, _) = train(cfg.clone(), false);
    let d = TensorFile::load(&a.join("discriminator.safetensors")).unwrap();
    assert_eq!(d.tensors[&format!("main.{}.weight", n - 1)].shape, vec![1, 17, 4, 4]);
    let info: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(a.join("config.json")).unwrap()).unwrap();
    assert_eq!(info["config"]["model"]["minibatch_std"], 2);

    // Batch 4 in groups of 2 (samples 0, 2 and 1, 3): changing sample 2 moves D(sample 0)
    // and not D(sample 1).
    let gpu = gpu();
    let counters = shadergan::gpu::GpuTensor::zeros(&gpu, &[4], shadergan::gpu::DType::U32, "counters").unwrap();
    let net = Instance::new(&gpu, &spec, &t.d, 4, Mode::Eval, &counters, DropoutRng { seed: 1, counter_index: 0 }, None, None).unwrap();
    let per = 3 * 16 * 16;
    let mut rng = shadergan::rng::Rng::for_case(3, "minibatch std batch");
    let x: Vec<f32> = rng.normals(4 * per, 0.5);
    let outputs = |x: &[f32]| {
        net.input().write_f32(&gpu, x).unwrap();
        gpu.run("d", &net.forward.iter().collect::<Vec<_>>()).unwrap();
        net.output().read_f32(&gpu).unwrap()
    };
    let before = outputs(&x);
    let mut changed = x.clone();
    changed[2 * per..3 * per].iter_mut().for_each(|v| *v = -*v);
    let after = outputs(&changed);
    assert_ne!(before[0], after[0], "D(sample 0) does not see its group");
    assert_eq!(before[1], after[1], "D(sample 1) sees a sample outside its group");
}
