//! The resolved training configuration: what config.json records and `--resume` restores.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::data::DatasetKind;
use crate::error::{Error, Result};
use crate::model::ModelConfig;
use crate::ops::data::Augment;

/// The generator's objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum GanLoss {
    /// Non-saturating: G minimises −log D(G(z)) (Goodfellow et al.'s practical variant; the
    /// pytorch/examples DCGAN).
    Ns,
    /// Minimax: G minimises log(1 − D(G(z))), the saturating objective of the original paper.
    Minimax,
    /// Hinge: D minimises E[max(0, 1 − D(x))] + E[max(0, 1 + D(G(z)))], G minimises
    /// −E[D(G(z))] (Lim & Ye 2017; the SNGAN and BigGAN loss).
    Hinge,
    /// Least squares: D minimises ½E[(D(x) − 1)²] + ½E[D(G(z))²], G minimises
    /// ½E[(D(G(z)) − 1)²] (Mao et al. 2017, LSGAN).
    Lsgan,
    /// Wasserstein: the critic minimises E[D(G(z))] − E[D(x)], G minimises −E[D(G(z))];
    /// Lipschitz through weight clipping (Arjovsky et al. 2017: --clip 0.01, RMSprop, lr 5e-5,
    /// 5 critic steps — the defaults this loss brings).
    Wgan,
}

/// The optimizer of both networks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    /// Adam with --beta1/--beta2 (eps 1e-8), as DCGAN.
    #[default]
    Adam,
    /// RMSprop (PyTorch's defaults: alpha 0.99, eps 1e-8, not centered), as WGAN.
    Rmsprop,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AugmentConfig {
    pub flip: bool,
    /// Random shifts of up to ± this many pixels.
    pub shift: u32,
    /// Random brightness offsets of up to ± this (in [−1, 1] pixel units).
    pub brightness: f32,
}

impl AugmentConfig {
    pub fn none() -> Self {
        AugmentConfig { flip: false, shift: 0, brightness: 0.0 }
    }

    /// Parse `--augment flip,shift,brightness` (any subset; empty or "none" for none). The
    /// shift is an eighth of the image side, the brightness ±0.2.
    pub fn parse(list: &str, image_size: usize) -> Result<Self> {
        let mut a = AugmentConfig::none();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty() && *s != "none") {
            match item {
                "flip" => a.flip = true,
                "shift" => a.shift = (image_size as u32 / 8).max(1),
                "brightness" => a.brightness = 0.2,
                other => {
                    return Err(Error::invalid("--augment", format!("unknown augmentation '{other}'; use any of flip,shift,brightness")));
                }
            }
        }
        Ok(a)
    }

    pub fn kernel(&self) -> Augment {
        Augment { flip: self.flip, max_shift: self.shift, brightness: self.brightness }
    }
}

/// The checks every objective's configuration shares: the batch (BatchNorm needs 2), the
/// steps, Adam's betas and the cadences of logging, sampling or scoring, and checkpoints.
pub(crate) fn validate_run(batch_size: usize, steps: u64, betas: [f32; 2], every: [(&str, u64); 3]) -> Result<()> {
    let bad = |flag: &str, m: String| Err(Error::invalid(flag, m));
    if !(2..=4096).contains(&batch_size) {
        return bad("--batch-size", format!("{batch_size} is outside 2..=4096 (BatchNorm needs at least 2 samples)"));
    }
    if steps == 0 {
        return bad("--steps", "must be at least 1".into());
    }
    for (flag, b) in ["--beta1", "--beta2"].into_iter().zip(betas) {
        if !(0.0..1.0).contains(&b) {
            return bad(flag, format!("{b} must lie in [0, 1)"));
        }
    }
    for (flag, v) in every {
        if v == 0 {
            return bad(flag, "must be at least 1".into());
        }
    }
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub model: ModelConfig,
    pub dataset: DatasetKind,
    pub data: Option<PathBuf>,
    /// Use at most this many images of the dataset.
    pub max_images: Option<usize>,
    /// Images in the built-in synthetic dataset.
    pub synthetic_images: usize,
    pub batch_size: usize,
    /// Generator updates to train for (iterations).
    pub steps: u64,
    /// Discriminator updates per generator update.
    pub d_steps: usize,
    pub loss: GanLoss,
    /// (Runs recorded before the option existed used Adam.)
    #[serde(default)]
    pub optimizer: Optimizer,
    /// Clip every trainable tensor of D into [−clip, clip] after each of its steps (WGAN).
    #[serde(default)]
    pub clip: Option<f32>,
    pub lr_d: f32,
    pub lr_g: f32,
    /// Keep an exponential moving average of G's weights and BatchNorm statistics with this
    /// decay (--g-ema 0.999): sample grids, `sample` and `eval` use it.
    #[serde(default)]
    pub g_ema: Option<f32>,
    /// StyleGAN2's ramp-up of the moving average (--g-ema-rampup r): half-life r·t steps.
    #[serde(default)]
    pub g_ema_rampup: Option<f32>,
    /// WGAN-GP's gradient penalty λ·E[(‖∂D(x̂)/∂x̂‖ − 1)²] on interpolates x̂ (--gp λ).
    #[serde(default)]
    pub gp: Option<f32>,
    /// R1's penalty γ/2·E[‖∂D(x)/∂x‖²] on real images (--r1 γ).
    #[serde(default)]
    pub r1: Option<f32>,
    /// Lazy R1 (--r1-every k): the penalty as its own D step every k iterations (StyleGAN2).
    #[serde(default)]
    pub r1_every: Option<u64>,
    /// The matching-aware discriminator of GAN-CLS (Reed et al. 2016, --mismatch-weight W): a
    /// real image with a wrong label is a third batch of D's that counts as fake; D's fake
    /// side is (1 − W)·L(D(G(z), y), fake) + W·L(D(x, ŷ), fake), W = ½ being the paper's.
    #[serde(default)]
    pub mismatch_weight: Option<f32>,
    /// `--holdout F`: the share of the dataset held out of training (data::holdout_split, the
    /// same images for every seed), for `eval` to score realism and diversity against images
    /// the GAN never saw and memorisation against exactly those it trained on. None: every
    /// image is trained on (and eval uses the dataset's own split).
    #[serde(default)]
    pub holdout: Option<f64>,
    /// How both learning rates move over the run (--lr-schedule, --lr-warmup); None: constant.
    /// Its horizon is fixed when the run starts, so a resumed run keeps it.
    #[serde(default)]
    pub lr_schedule: Option<crate::ops::optim::Schedule>,
    pub beta1: f32,
    pub beta2: f32,
    pub seed: u64,
    pub augment: AugmentConfig,
    pub log_every: u64,
    pub sample_every: u64,
    pub checkpoint_every: u64,
    pub out: PathBuf,
    /// Score the generator every N steps (and at the end): FD and KID of `eval_n` samples
    /// against the dataset in `eval_classifier`'s features, into metrics.jsonl and the plot.
    #[serde(default)]
    pub eval_every: Option<u64>,
    #[serde(default)]
    pub eval_n: usize,
    #[serde(default)]
    pub eval_classifier: Option<PathBuf>,
}

impl TrainConfig {
    /// Every value checked once, up front, with the flag to fix in the message.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        let bad = |flag: &str, m: String| Err(Error::invalid(flag, m));
        validate_run(self.batch_size, self.steps, [self.beta1, self.beta2], [("--log-every", self.log_every), ("--sample-every", self.sample_every), ("--checkpoint-every", self.checkpoint_every)])?;
        if !(1..=100).contains(&self.d_steps) {
            return bad("--d-steps", format!("{} is outside 1..=100", self.d_steps));
        }
        for (flag, lr) in [("--lr-d", self.lr_d), ("--lr-g", self.lr_g)] {
            if !(lr.is_finite() && lr > 0.0 && lr < 1.0) {
                return bad(flag, format!("learning rate {lr} must lie in (0, 1)"));
            }
        }
        if let Some(c) = self.clip
            && !(c.is_finite() && c > 0.0)
        {
            return bad("--clip", format!("{c} must be a positive number (WGAN uses 0.01)"));
        }
        if let Some(b) = self.g_ema
            && !(b.is_finite() && b > 0.0 && b < 1.0)
        {
            return bad("--g-ema", format!("{b} must lie in (0, 1); StyleGAN2 and BigGAN use about 0.999"));
        }
        if let Some(sch) = &self.lr_schedule {
            if sch.horizon == 0 || sch.horizon > u32::MAX as u64 {
                return bad("--lr-schedule", format!("its horizon, the run's --steps ({}), must lie in 1..={}", sch.horizon, u32::MAX));
            }
            if sch.warmup > u32::MAX as u64 {
                return bad("--lr-warmup", format!("{} exceeds {}", sch.warmup, u32::MAX));
            }
        }
        // The layer's own rule (ops::minibatch_std::group_for), told in terms of the flags.
        if let Some(g) = self.model.minibatch_std
            && crate::ops::minibatch_std::group_for(self.batch_size, g).is_err()
        {
            let (below, above) = ((self.batch_size / g * g).max(g), self.batch_size.div_ceil(g) * g);
            return bad("--minibatch-std", format!("groups of {g} do not divide --batch-size {}: D sees whole batches of real and of generated images; use a batch size that is a multiple of {g}, e.g. {below} or {above}", self.batch_size));
        }
        if let Some(k) = self.r1_every {
            if k == 0 {
                return bad("--r1-every", "must be at least 1 (StyleGAN2 uses 16)".into());
            }
            if self.r1.is_none() {
                return bad("--r1-every", "sets how often R1 runs; add --r1 γ".into());
            }
        }
        for (flag, v) in [("--gp", self.gp), ("--r1", self.r1)] {
            let Some(w) = v else { continue };
            if !(w.is_finite() && w > 0.0) {
                return bad(flag, format!("{w} must be a positive number (WGAN-GP uses 10, R1 on MNIST-sized data about 0.1–10)"));
            }
            if self.gp.is_some() && self.r1.is_some() {
                return bad(flag, "--gp and --r1 are two penalties of the same gradient; choose one".into());
            }
            let m = &self.model;
            if m.model == crate::model::ModelKind::Dcgan && m.d_norm == crate::model::DNorm::BatchNorm {
                return bad(flag, "the critic has BatchNorm, which mixes the samples of a batch, so ∂D/∂x of one sample is not that sample's own gradient (the WGAN-GP paper drops it for this reason); add --d-norm none or --d-norm layernorm".into());
            }
            if m.model == crate::model::ModelKind::Mlp && m.dropout > 0.0 {
                return bad(flag, "the MLP critic's dropout layers have no backward of their backward yet; add --dropout 0".into());
            }
            if m.conditional.is_some() {
                return bad(flag, "penalties on conditional critics (whose input carries the label planes) are not supported yet; add --conditional none".into());
            }
            if self.clip.is_some() {
                return bad(flag, "the penalty replaces WGAN's weight clipping; drop --clip".into());
            }
        }
        if let Some(f) = self.holdout
            && !(f > 0.0 && f < 1.0)
        {
            return bad("--holdout", format!("{f} must lie in (0, 1): the share of the images held out of training for `eval`"));
        }
        if let Some(w) = self.mismatch_weight {
            if !(w.is_finite() && w > 0.0 && w < 1.0) {
                return bad("--mismatch-weight", format!("{w} must lie in (0, 1): the share of D's fake side given to real images with wrong labels (GAN-CLS uses 0.5)"));
            }
            match self.model.conditional {
                None => return bad("--mismatch-weight", "pairs real images with wrong labels, so it needs a conditional model; add --conditional concat or projection".into()),
                Some(c) if c.mode == crate::model::ConditionMode::Acgan => {
                    return bad("--mismatch-weight", "ACGAN's discriminator is never given the label (it predicts it), so a wrong label changes nothing; use --conditional concat or projection".into());
                }
                Some(c) if c.classes < 2 => return bad("--mismatch-weight", format!("a wrong label needs at least 2 classes; the dataset has {}", c.classes)),
                Some(_) => {}
            }
        }
        if let Some(r) = self.g_ema_rampup {
            if !(r.is_finite() && r > 0.0) {
                return bad("--g-ema-rampup", format!("{r} must be a positive number (StyleGAN2 uses 0.05)"));
            }
            if self.g_ema.is_none() {
                return bad("--g-ema-rampup", "ramps up the moving average; add --g-ema 0.999".into());
            }
        }
        if let Some(e) = self.eval_every {
            if e == 0 {
                return bad("--eval-every", "must be at least 1".into());
            }
            if self.eval_classifier.is_none() {
                return bad("--eval-every", "needs --eval-classifier RUN (a run of `train --model classifier` on this dataset) for its features".into());
            }
            if !(2..=100_000).contains(&self.eval_n) {
                return bad("--eval-n", format!("{} is outside 2..=100000 (FD needs more samples than the classifier has features)", self.eval_n));
            }
        }
        if self.synthetic_images < 2 {
            return bad("--synthetic-images", format!("{} is too few", self.synthetic_images));
        }
        if self.max_images == Some(0) {
            return bad("--max-images", "must be at least 1".into());
        }
        if self.augment.shift as usize >= self.model.image_size {
            return bad("--augment", format!("shift {} must be smaller than the image", self.augment.shift));
        }
        Ok(())
    }
}
