//! Command-line interface: flags, their help text and their validation. `--help` is generated
//! from the doc comments here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use shadergan::data::DatasetKind;
use shadergan::model::{ConditionMode, DNorm, ModelKind};
use shadergan::train::{GanLoss, Optimizer};

#[derive(Parser, Debug)]
#[command(
    name = "shadergan",
    version,
    about = "GAN training as hand-written WGSL compute kernels on wgpu (Vulkan, Metal, DX12, GL)",
    long_about = None
)]
pub struct Cli {
    #[command(flatten)]
    pub adapter: AdapterArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct AdapterArgs {
    /// GPU adapter: its index in `shadergan devices` or part of its name (default: the best one:
    /// discrete > integrated > CPU, Vulkan/Metal/DX12 before GL).
    #[arg(long, global = true, env = "SHADERGAN_ADAPTER")]
    pub adapter: Option<String>,
    /// Restrict adapters to one backend: vulkan, metal, dx12 or gl.
    #[arg(long, global = true, env = "SHADERGAN_BACKEND")]
    pub backend: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a GAN (default: a small DCGAN on the built-in synthetic shapes).
    Train(Box<TrainArgs>),
    /// Generate images with a trained generator.
    Sample(SampleArgs),
    /// Score a generator (or other programs' images): the classes its samples show, and against
    /// real images FD, KID, precision/recall, density/coverage, memorisation and the
    /// birthday-paradox test, each beside the held-out floor.
    Eval(EvalArgs),
    /// Play the minimax game V(x, y) = xy with simultaneous and alternating gradient descent
    /// (which never converge) beside extragradient and consensus optimisation (which do); writes
    /// game.csv and game.png. Runs on the host: no GPU needed.
    Game(GameArgs),
    /// List the GPU adapters wgpu can see, with backend and driver.
    Devices,
    /// Check every kernel against the f64 CPU reference on this adapter.
    Check(CheckArgs),
    /// Time kernels on this adapter (GPU timestamps where available).
    Bench(BenchArgs),
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Check only this op (see the list in the error message for an unknown name).
    #[arg(long)]
    pub op: Option<String>,
    /// Seed for the random inputs; a failing run prints its seed so it can be replayed.
    #[arg(long, env = "SHADERGAN_SEED")]
    pub seed: Option<u64>,
    /// Print only failing rows and the summary.
    #[arg(long)]
    pub failures_only: bool,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// What to time: `matmul` (the GEMM kernels) or `train-step` (one whole DCGAN training
    /// iteration, by default pytorch/examples' 64×64×3 model at batch 64).
    #[arg(long, default_value = "matmul")]
    pub op: String,
    /// train-step: image side (16, 32, 64, 128).
    #[arg(long, default_value_t = 64)]
    pub image_size: usize,
    /// train-step: image channels.
    #[arg(long, default_value_t = 3)]
    pub channels: usize,
    /// train-step: ngf = ndf.
    #[arg(long, default_value_t = 64)]
    pub width: usize,
    /// train-step: latent size.
    #[arg(long, default_value_t = 100)]
    pub nz: usize,
    /// train-step: batch size.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// train-step: also print the GPU time of each kernel of one iteration.
    #[arg(long)]
    pub profile: bool,
    /// train-step: spectral normalisation in D (as train --spectral-norm).
    #[arg(long)]
    pub spectral_norm: bool,
    /// train-step: keep G's moving average (as train --g-ema).
    #[arg(long, value_name = "DECAY")]
    pub g_ema: Option<f32>,
    /// train-step: the Wasserstein loss with WGAN-GP's penalty λ (and no BatchNorm in D);
    /// compare with --d-norm none alone.
    #[arg(long, value_name = "LAMBDA")]
    pub gp: Option<f32>,
    /// train-step: the discriminator's normalisation (batchnorm, layernorm or none).
    #[arg(long, value_enum)]
    pub d_norm: Option<DNorm>,
    /// train-step: train --minibatch-std G.
    #[arg(long, value_name = "G")]
    pub minibatch_std: Option<usize>,
    /// train-step: condition on the built-in shapes' 4 classes (concat, projection or acgan), as
    /// train --conditional; default none.
    #[arg(long = "conditional", value_enum, value_name = "MODE")]
    pub conditional: Option<Conditioning>,
    /// train --label-embedding (with --conditional); default one-hot.
    #[arg(long, value_name = "N")]
    pub label_embedding: Option<usize>,
    /// train-step: dcgan (default), or ae / vae: the autoencoder of the same widths (encoder =
    /// D's convolutions, decoder = G), to compare with a DCGAN step.
    #[arg(long, value_enum)]
    pub model: Option<ModelKind>,
    /// Square sizes n (C[n,n] = A[n,n]·B[n,n]), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "256,1024,2048")]
    pub sizes: Vec<usize>,
    /// Kernels to time, comma-separated (default: every kernel this adapter supports).
    #[arg(long, value_delimiter = ',')]
    pub kernels: Vec<String>,
    /// Timed samples per case (the median is reported).
    #[arg(long, default_value_t = 15)]
    pub reps: usize,
    /// Untimed runs before the samples (the first compiles the shader).
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Time the naive kernel at every size (it needs ~45 s per 2048³ run on lavapipe, so by
    /// default it stops at 1024).
    #[arg(long)]
    pub naive_all: bool,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct GameArgs {
    /// Learning rate η of both players.
    #[arg(long, default_value_t = 0.1)]
    pub lr: f64,
    /// Iterations to play.
    #[arg(long, default_value_t = 300)]
    pub steps: usize,
    /// Starting point X,Y.
    #[arg(long, value_delimiter = ',', num_args = 1, default_value = "1,1", allow_hyphen_values = true)]
    pub start: Vec<f64>,
    /// Consensus optimisation's weight γ on ½‖v‖² (Mescheder et al. 2017).
    #[arg(long, default_value_t = 1.0)]
    pub gamma: f64,
    /// Methods to play, comma-separated: simultaneous, alternating, extragradient, consensus.
    #[arg(long, value_delimiter = ',', default_value = "simultaneous,alternating,extragradient,consensus")]
    pub methods: Vec<String>,
    /// Directory for game.csv and game.png.
    #[arg(long, default_value = "runs/game")]
    pub out: PathBuf,
}

/// `--conditional`: how the GAN takes the class label, or `none`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Conditioning {
    None,
    Concat,
    Projection,
    Acgan,
}

impl Conditioning {
    /// The model's mode, or None for `none`.
    pub fn mode(self) -> Option<ConditionMode> {
        match self {
            Conditioning::None => None,
            Conditioning::Concat => Some(ConditionMode::Concat),
            Conditioning::Projection => Some(ConditionMode::Projection),
            Conditioning::Acgan => Some(ConditionMode::Acgan),
        }
    }
}

impl TrainArgs {
    /// The conditioning asked for, or the default: concat on the built-in shapes with the quick
    /// preset (so the first run shows one row per shape), none otherwise.
    pub fn conditional(&self) -> Option<ConditionMode> {
        match self.conditional_flag {
            Some(c) => c.mode(),
            None => (self.dataset == DatasetKind::Synthetic && self.preset == Preset::Quick).then_some(ConditionMode::Concat),
        }
    }
}

/// Settings bundles; individual flags still override them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// Small and quick (32×32, ngf = ndf = 16, batch 32, 1200 steps conditional or 1600
    /// unconditional): learns the built-in shapes in minutes on a 2-core CPU's lavapipe.
    Quick,
    /// pytorch/examples dcgan/main.py defaults: 64×64, nz 100, ngf = ndf = 64, batch 64,
    /// Adam lr 2e-4, β1 0.5 — for real GPUs.
    Pytorch,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Defaults bundle; flags given explicitly override it.
    #[arg(long, value_enum, default_value = "quick")]
    pub preset: Preset,
    /// Architecture: the DCGAN of Radford et al., the fully connected GAN of Goodfellow et al.,
    /// or `classifier`: a small conv net trained with softmax cross-entropy on a labelled
    /// dataset, its held-out accuracy logged (eval uses it to recognise generated images;
    /// defaults: --ndf 32, --dropout 0.5, batch 64, 2000 steps, Adam lr 3e-4, β1 0.9);
    /// or `ae` / `vae`: an autoencoder / variational autoencoder, encoder = the DCGAN
    /// discriminator's convolutions + Linear, decoder = the DCGAN generator (defaults: nz 16,
    /// ngf = ndf = 32, batch 64, 2000 steps, Adam lr 1e-3, β1 0.9; --beta, --kl-warmup, --recon, --arch, --denoise, --mask-ratio).
    #[arg(long, value_enum)]
    pub model: Option<ModelKind>,
    /// Training images.
    #[arg(long, value_enum, default_value = "synthetic")]
    pub dataset: DatasetKind,
    /// Where the dataset lives: a directory (or file) for mnist, cifar10, folder.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Side of the square images the model makes (DCGAN: 16, 32, 64 or 128); data is resized
    /// (MNIST 28→32 is padded).
    #[arg(long)]
    pub image_size: Option<usize>,
    /// 1 (grayscale) or 3 (RGB); default: the dataset's own.
    #[arg(long)]
    pub channels: Option<usize>,
    /// Latent size.
    #[arg(long)]
    pub nz: Option<usize>,
    /// Generator width.
    #[arg(long)]
    pub ngf: Option<usize>,
    /// Discriminator width.
    #[arg(long)]
    pub ndf: Option<usize>,
    /// Class-conditional: concat appends the label as one-hot to z and as constant planes to
    /// D's input (Mirza & Osindero 2014); projection appends it to z and ends D in
    /// ψ(φ(x)) + ⟨embed(y), φ(x)⟩ (Miyato & Koyama 2018); acgan appends it to z and gives D,
    /// which never sees it, K class logits beside its real/fake logit, whose cross-entropy
    /// both networks add to their losses (Odena et al. 2017); none trains an unconditional GAN. Needs labelled
    /// data: synthetic (4 shapes), mnist, cifar10, or a folder with one sub-directory per
    /// class. Sample grids then show one row per class. Default: concat for the built-in
    /// shapes with the quick preset (one row per shape), none otherwise.
    #[arg(id = "conditional", long = "conditional", value_name = "MODE", value_enum)]
    pub conditional_flag: Option<Conditioning>,
    /// Dropout in the MLP discriminator (and before the classifier's last layer, default 0.5
    /// there).
    #[arg(long, default_value_t = 0.3)]
    pub dropout: f32,
    /// Classifier: size of its penultimate layer, the features `eval` compares.
    #[arg(long, default_value_t = 128)]
    pub features: usize,
    /// Share of the images held out of training (the same images for every seed). Classifier
    /// and autoencoders: to measure accuracy or held-out loss (default 0.1). GAN: none unless
    /// given; with it `eval --checkpoint RUN` scores realism and diversity against the images
    /// the GAN never saw and memorisation against the ones it trained on (for datasets
    /// without a test split, such as a folder).
    #[arg(long, default_value_t = 0.1)]
    pub holdout: f64,
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Generator updates to train for.
    #[arg(long)]
    pub steps: Option<u64>,
    /// Discriminator updates per generator update (default 1; 5 with --loss wgan).
    #[arg(long)]
    pub d_steps: Option<usize>,
    /// The GAN loss: ns (BCE, G minimises −log D(G(z))), minimax (G minimises
    /// log(1 − D(G(z)))), hinge, lsgan (least squares) or wgan (Wasserstein with weight
    /// clipping; brings WGAN's defaults: --optimizer rmsprop --lr 5e-5 --d-steps 5 --clip 0.01).
    #[arg(long, value_enum, default_value = "ns")]
    pub loss: GanLoss,
    /// Optimizer of both networks (default adam; rmsprop with --loss wgan).
    #[arg(long, value_enum)]
    pub optimizer: Option<Optimizer>,
    /// Clip D's weights into [−C, C] after each D step (WGAN's Lipschitz constraint; default
    /// 0.01 with --loss wgan, none otherwise).
    #[arg(long)]
    pub clip: Option<f32>,
    /// Matching-aware discriminator (GAN-CLS, Reed et al. 2016): real images paired with a
    /// wrong label also count as fake, taking this share W of D's fake side (0.5 as the paper);
    /// concat and projection only (ACGAN's D is not given the label).
    #[arg(long, value_name = "W")]
    pub mismatch_weight: Option<f32>,
    /// Code the class label as a learned N-vector (an nn.Embedding(K, N) in each network,
    /// `label_emb.weight`) instead of one-hot: appended to z in G, and with concat as N
    /// constant planes to D's input. Needs --conditional.
    #[arg(long, value_name = "N")]
    pub label_embedding: Option<usize>,
    /// How both learning rates move over the run's --steps: constant, linear (to 0 at the
    /// last step) or cosine (½(1 + cos πp)). Computed on the GPU from its step counter each
    /// iteration; logged as lr_D and lr_G. GANs only.
    #[arg(long, value_enum, value_name = "KIND")]
    pub lr_schedule: Option<shadergan::ops::optim::ScheduleKind>,
    /// Linear learning-rate warm-up over the first N iterations (lr·(i + 1)/N), before and
    /// together with --lr-schedule. GANs only.
    #[arg(long, value_name = "N")]
    pub lr_warmup: Option<u64>,
    /// Keep an exponential moving average of the generator's weights (and BatchNorm statistics)
    /// with this decay, e.g. 0.999 (StyleGAN2, BigGAN). Sample grids use it; `sample` and `eval`
    /// use it unless given --no-ema. Saved as generator_ema.safetensors.
    #[arg(long, value_name = "DECAY")]
    pub g_ema: Option<f32>,
    /// Ramp the moving average up as StyleGAN2 does: its half-life is R·t steps at step t (until
    /// the decay's own), so early averages follow the network while it moves fast (e.g. 0.05).
    #[arg(long, value_name = "R")]
    pub g_ema_rampup: Option<f32>,
    /// Spectrally normalise every weight of the discriminator (Miyato et al. 2018): one power
    /// iteration per training forward; saved under PyTorch's `weight_orig`, `weight_u`,
    /// `weight_v` names.
    #[arg(long)]
    pub spectral_norm: bool,
    /// The discriminator's normalisation between convolutions: batchnorm (DCGAN), layernorm
    /// (per sample over [C, H, W]; works with --gp and --r1) or none (default: batchnorm;
    /// none with --sngan, --gp or --r1).
    #[arg(long, value_enum)]
    pub d_norm: Option<DNorm>,
    /// Add StyleGAN's minibatch standard deviation layer before the DCGAN discriminator's
    /// last layer, over groups of G samples (StyleGAN: 4; G must divide the batch size): a
    /// plane telling D how varied the batch is, against mode collapse where D has no
    /// BatchNorm (--d-norm none|layernorm; works with --gp and --r1).
    #[arg(long, value_name = "G")]
    pub minibatch_std: Option<usize>,
    /// SNGAN (Miyato et al. 2018): --loss hinge --spectral-norm --d-norm none.
    #[arg(long)]
    pub sngan: bool,
    /// WGAN-GP's gradient penalty λ·E[(‖∂D(x̂)/∂x̂‖ − 1)²] on random interpolates of real and
    /// fake images (Gulrajani et al. 2017; λ = 10). With --loss wgan it brings the paper's
    /// settings unless given: Adam lr 1e-4, β = (0.5, 0.9), --d-steps 5, no clipping. The
    /// critic must have no BatchNorm (--d-norm none, the default with a penalty, or layernorm).
    #[arg(long, value_name = "LAMBDA")]
    pub gp: Option<f32>,
    /// R1's penalty γ/2·E[‖∂D(x)/∂x‖²] on real images (Mescheder et al. 2018), with any loss.
    #[arg(long, value_name = "GAMMA")]
    pub r1: Option<f32>,
    /// Lazy R1 (StyleGAN2): the penalty as its own D step every K iterations, weighted γ·K, with
    /// D's Adam lr and betas corrected by K/(K + 1).
    #[arg(long, value_name = "K")]
    pub r1_every: Option<u64>,
    /// The VAE's KL weight β (1: the ELBO; > 1: a β-VAE). --model vae only.
    #[arg(long, allow_hyphen_values = true)]
    pub beta: Option<f32>,
    /// Steps over which the VAE's KL weight ramps linearly from 0 to β. --model vae only.
    #[arg(long, value_name = "STEPS")]
    pub kl_warmup: Option<u32>,
    /// Denoising autoencoder: Gaussian noise of this standard deviation (images in [−1, 1])
    /// on the encoder's input, the clean image as the target. --model ae|vae only.
    #[arg(long, value_name = "SIGMA", allow_hyphen_values = true)]
    pub denoise: Option<f32>,
    /// Masked autoencoder: each --patch × --patch patch of the encoder's input is blanked
    /// (set to mid-grey) with this probability, after any --denoise noise; the whole clean
    /// image is the target. --model ae|vae only.
    #[arg(long, value_name = "RATIO", allow_hyphen_values = true)]
    pub mask_ratio: Option<f32>,
    /// The autoencoders' reconstruction loss: mse (½‖x̂ − x‖² per image, decoder ends in Tanh;
    /// default) or bce (binary cross-entropy with logits on images scaled to [0, 1], summed
    /// per image; the decoder outputs logits). --model ae|vae only.
    #[arg(long, value_enum)]
    pub recon: Option<shadergan::model::Recon>,
    /// The autoencoders' architecture: dcgan (convolutional; default) or mlp (fully connected,
    /// the MLP GAN's networks). --model ae|vae only.
    #[arg(long, value_enum)]
    pub arch: Option<shadergan::model::Arch>,
    /// Side of a masked patch in pixels, dividing the image size (default 4). With
    /// --mask-ratio only.
    #[arg(long, value_name = "PIXELS")]
    pub patch: Option<usize>,
    /// Learning rate of both networks (default 2e-4; 5e-5 with --loss wgan; 1e-3 for the
    /// autoencoders).
    #[arg(long)]
    pub lr: Option<f32>,
    /// Learning rate of the discriminator (overrides --lr).
    #[arg(long)]
    pub lr_d: Option<f32>,
    /// Learning rate of the generator (overrides --lr).
    #[arg(long)]
    pub lr_g: Option<f32>,
    #[arg(long)]
    pub beta1: Option<f32>,
    #[arg(long, default_value_t = 0.999)]
    pub beta2: f32,
    /// Seed of everything random: weights, data order, latents, augmentation, dropout.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// GPU augmentation, comma-separated: flip, shift, brightness.
    #[arg(long, default_value = "")]
    pub augment: String,
    /// Use at most this many images of the dataset.
    #[arg(long)]
    pub max_images: Option<usize>,
    /// Images in the synthetic dataset.
    #[arg(long, default_value_t = 10_000)]
    pub synthetic_images: usize,
    /// Read the losses back and log them every N steps (the only GPU wait in the loop).
    #[arg(long, default_value_t = 20)]
    pub log_every: u64,
    /// Write an 8×8 grid of G(fixed latents) every N steps.
    #[arg(long)]
    pub sample_every: Option<u64>,
    /// Write the checkpoints every N steps (and at the end).
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    /// Score the generator every N steps and at the end: Fréchet distance and KID (10 subsets)
    /// of --eval-n samples against the dataset in --eval-classifier's features, logged into
    /// metrics.jsonl and drawn in loss_curves.png, to see quality and collapse during training.
    #[arg(long, requires = "eval_classifier")]
    pub eval_every: Option<u64>,
    /// Samples per score of --eval-every.
    #[arg(long, default_value_t = 2000)]
    pub eval_n: usize,
    /// The classifier whose features --eval-every scores in: a run of `train --model classifier`
    /// on the same dataset and image size.
    #[arg(long)]
    pub eval_classifier: Option<PathBuf>,
    /// Run directory (default: runs/<dataset>-<model>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in this directory from its checkpoint (its config is used; --steps may
    /// raise the total; --data may say where its dataset is now).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Replace a run already in --out (its checkpoints, samples and metrics are removed first),
    /// or write into a directory that holds other files.
    #[arg(long)]
    pub overwrite: bool,
    /// Refuse a dataset with anything odd (a truncated image, a missing CIFAR-10 batch) instead
    /// of skipping it with a warning.
    #[arg(long)]
    pub strict: bool,
    /// Also write initial.safetensors: the initial weights and the first iteration's inputs
    /// (a GAN's real batch and latents; an autoencoder's images, encoder input and ε), to
    /// reproduce that iteration elsewhere (scripts/pytorch_parity.py --iteration).
    #[arg(long)]
    pub save_initial: bool,
    /// Start the generator from this state dict instead of random weights: a
    /// generator.safetensors, or `netG.state_dict()` saved from PyTorch with safetensors.
    #[arg(long)]
    pub load_generator: Option<PathBuf>,
    /// Start the discriminator from this state dict (as --load-generator).
    #[arg(long)]
    pub load_discriminator: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The generator: a GAN run directory, its checkpoint.safetensors or generator.safetensors.
    #[arg(long, required_unless_present = "fake", conflicts_with = "fake")]
    pub checkpoint: Option<PathBuf>,
    /// With a run trained with --g-ema: use the trained generator's own weights instead of
    /// their moving average.
    #[arg(long, conflicts_with = "fake")]
    pub no_ema: bool,
    /// Score images made by any other program instead: a folder of PNG/JPEG (searched
    /// recursively) or a safetensors file with `images` [N, C, H, W] f32 in [−1, 1].
    #[arg(long)]
    pub fake: Option<PathBuf>,
    /// The classifier that names the class of each sample and whose penultimate layer is the
    /// feature space: a run of `train --model classifier` (its directory or
    /// classifier.safetensors), at the images' size. Same as --extractor classifier:PATH.
    /// Without it or --extractor, a labelled --dataset gets its default classifier: trained
    /// on the dataset's training split at the images' size the first time (printing its
    /// held-out accuracy), then reused from the cache (SHADERGAN_CACHE, else
    /// $XDG_CACHE_HOME/shadergan or ~/.cache/shadergan).
    #[arg(long, conflicts_with = "extractor")]
    pub classifier: Option<PathBuf>,
    /// Steps to train the default classifier (part of its cache key).
    #[arg(long, default_value_t = 2000, value_name = "STEPS")]
    pub classifier_steps: u64,
    /// The feature space, for data without labels: `encoder:RUN` (μ of an autoencoder trained
    /// with `train --model ae|vae` on such data), `random[:SEED]` (an untrained network of
    /// the classifier's architecture, Naeem et al. 2020), `pixels`, or `classifier:PATH`.
    /// Scores from different extractors are not comparable.
    #[arg(long)]
    pub extractor: Option<String>,
    /// Samples to draw (default 10 000; conditional generators: equally many of each class).
    #[arg(long, default_value_t = 10_000)]
    pub n: usize,
    /// Seed of the latents (and of the requested classes' order).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// BatchNorm statistics of the generator: running (default) or batch.
    #[arg(long, value_enum, default_value = "running")]
    pub batchnorm: BnStats,
    /// Where eval.json, eval.html and the panels go (default: the generator's run directory;
    /// with --fake, FAKE-eval beside it).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write the JSON report here instead of OUT/eval.json.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Shuffles of the samples for the birthday-paradox test.
    #[arg(long, default_value_t = 100)]
    pub trials: usize,
    /// Sample sizes s at which the birthday test reports P(a duplicate among s samples),
    /// comma-separated (default 64,128,…,2048; sizes above --n are left out). The ½ crossing
    /// is found over every s whatever these are.
    #[arg(long, value_delimiter = ',', value_name = "S,S,…")]
    pub birthday_sizes: Vec<usize>,
    /// Real images to compare the samples with (with --data as for `train`): Fréchet distance,
    /// KID, precision/recall, density/coverage in the classifier's features; memorisation
    /// (nearest training images in pixels and features) and the birthday-paradox test. The
    /// dataset's fixed held-out tenth, scored against the other nine tenths, is the floor a
    /// generator can reach and the yardstick of memorisation.
    #[arg(long, value_enum)]
    pub dataset: Option<DatasetKind>,
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Held-out real images to measure realism and diversity against (Fréchet distance, KID,
    /// precision/recall, density/coverage) instead of the whole --dataset: a folder of
    /// PNG/JPEG or a safetensors with `images` [N, C, H, W] in [−1, 1], at the samples' size.
    /// Memorisation and the floors still use --dataset's training images and held-out tenth.
    #[arg(long)]
    pub reference: Option<PathBuf>,
}

/// BatchNorm statistics when sampling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BnStats {
    /// Running statistics (PyTorch netG.eval()): each sample independent of the others.
    Running,
    /// Statistics of the sampled batch (PyTorch netG.train(), as pytorch/examples' grids).
    Batch,
}

#[derive(Args, Debug)]
pub struct SampleArgs {
    /// A run directory, checkpoint.safetensors, generator.safetensors, or a state dict exported
    /// from PyTorch (the architecture is then inferred from the shapes).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// With a run trained with --g-ema: use the trained generator's own weights instead of
    /// their moving average.
    #[arg(long)]
    pub no_ema: bool,
    /// Number of samples (default 64; a conditional generator makes --per-class of each class
    /// unless --class is given).
    #[arg(long)]
    pub n: Option<usize>,
    /// Conditional generators: make every sample of this class (0-based).
    #[arg(long)]
    pub class: Option<usize>,
    /// Conditional generators: this many samples of each class, one grid row per class
    /// (default 8).
    #[arg(long)]
    pub per_class: Option<usize>,
    /// Seed of the latents.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Render these latents instead: a safetensors file with a tensor `z` of shape [N, nz].
    #[arg(long)]
    pub latents: Option<PathBuf>,
    /// Output: a PNG grid (8 per row), or with --single a directory of PNGs.
    #[arg(long, default_value = "samples.png")]
    pub out: PathBuf,
    /// Whether --out was given (set from the parsed matches): --encode's default is
    /// codes.safetensors, not samples.png.
    #[arg(skip)]
    pub out_given: bool,
    /// One PNG per sample (into the --out directory) instead of a grid.
    #[arg(long)]
    pub single: bool,
    /// Also write the raw generator outputs (float32 [N, C, S, S] in [−1, 1], before
    /// quantisation to 8 bits) as tensor `images` of this safetensors file.
    #[arg(long)]
    pub raw_out: Option<PathBuf>,
    /// Write latent interpolation strips instead: rows of --steps images from one latent to
    /// another, linear (<out>_linear.png) and spherical (<out>_slerp.png).
    #[arg(long)]
    pub interpolate: bool,
    /// Images per interpolation strip.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// BatchNorm statistics: running (default; eval mode) or batch (train mode).
    #[arg(long, value_enum, default_value = "running")]
    pub batchnorm: BnStats,
    /// Encode instead of drawing: these images (a PNG/JPEG, or a folder of them, read
    /// recursively in sorted order) through the encoder of the autoencoder run given by
    /// --checkpoint, written to --out (a .safetensors; default codes.safetensors) as `mu`
    /// [N, nz] (the code of a plain autoencoder), `logvar` [N, nz] (VAE) and `z` = μ, which
    /// `sample --latents` decodes.
    #[arg(long, value_name = "IMAGES")]
    pub encode: Option<PathBuf>,
}
