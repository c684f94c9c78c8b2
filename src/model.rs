//! The GAN architectures, as `nn.Sequential` specs whose parameter names and shapes are those
//! of the PyTorch definitions they reproduce.
//!
//! DCGAN (Radford et al. 2015) as in pytorch/examples `dcgan/main.py`: 4×4 transposed
//! convolutions (stride 1 from the 1×1 latent, then stride 2, padding 1) with BatchNorm and ReLU
//! and a Tanh output; the discriminator mirrors it with LeakyReLU(0.2) and ends in a logit (the
//! example's final Sigmoid is folded into the loss: BCE with logits). No conv biases where
//! BatchNorm follows (its β is the shift); with `--d-norm none|layernorm` every discriminator
//! convolution has one, as in the WGAN-GP and SNGAN code: a bias-free LeakyReLU net without
//! normalisation is positively homogeneous (D(αx) = α·D(x)) and, measured on MNIST, cannot
//! even learn the black background. For
//! image size 64 the channel multipliers are 8, 4, 2, 1 exactly as the example; 32 drops the
//! first (4, 2, 1), 16 the first two, 128 adds 16.
//!
//! Conditional (`conditional: Some(..)`, mode concat, Mirza & Osindero 2014): G's input is
//! cat(z, one_hot(y)) — K more input channels of its first layer — and D's input is the image
//! with K one-hot planes appended (the MLP's: the flattened image with one_hot(y) appended). The
//! concatenations happen outside the networks (labels.wgsl, in the trainer and the sampler), so
//! the state dicts stay `nn.Sequential` ones: PyTorch's cDCGAN with `torch.cat` before `main`.
//! With `--label-embedding N` the label is a learned N-vector instead of one-hot: G's input
//! is cat(z, E_G[y]) and D's input the image with N constant planes of E_D[y] (the MLP's: E_D[y]
//! appended to the flat image), each table an `nn.Embedding(K, N)` registered beside `main`
//! as `label_emb` (`label_emb.weight` [K, N] in each state dict; nn::label).
//!
//! Mode projection (Miyato & Koyama 2018): G is conditioned as with concat; D sees the image
//! alone (no label planes) and its last layer becomes Flatten + a Projection head,
//! D(x, y) = ψ(φ(x)) + ⟨embed(y), φ(x)⟩ with φ the flattened features of the body. The head's
//! parameters are `main.N.linear.weight` [1, F], `main.N.linear.bias` [1] (ψ, as a Linear)
//! and `main.N.embed.weight` [K, F] (as an `nn.Embedding`), N the index after Flatten.
//!
//! Mode acgan (Odena et al. 2017): G is conditioned as with concat; D sees the image alone and
//! its last layer (the 4×4 convolution, the MLP's Linear) has 1 + K outputs instead of 1:
//! output 0 is the real/fake logit, outputs 1..=K the class logits of the auxiliary
//! classifier. One layer with 1 + K outputs is the two heads (source and class) of the paper
//! on the same features; in PyTorch, `main` is the same `nn.Sequential` and the trainer
//! splits `out[:, 0]` from `out[:, 1:]`.
//!
//! MLP: the fully connected GAN of Goodfellow et al. (2014): G = Linear-ReLU ×3 → Linear-Tanh,
//! D = Linear-LeakyReLU(0.2)-Dropout ×3 → Linear (a logit). The paper's maxout units in D are
//! replaced by LeakyReLU, as in most reimplementations; the output is Tanh (data in [−1, 1]).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::nn::{Init, Layer, NetSpec};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Dcgan,
    Mlp,
    /// Not a GAN: the image classifier of `train --model classifier` (ClassifierModel).
    Classifier,
    /// Not a GAN: the autoencoder of `train --model ae` (AutoencoderModel).
    Ae,
    /// Not a GAN: the variational autoencoder of `train --model vae` (AutoencoderModel).
    Vae,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Dcgan => "DCGAN",
            ModelKind::Mlp => "MLP GAN",
            ModelKind::Classifier => "classifier",
            ModelKind::Ae => "autoencoder",
            ModelKind::Vae => "VAE",
        }
    }
}

/// The normalisation between the discriminator's convolutions (--d-norm).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DNorm {
    /// BatchNorm2d after every convolution but the first (DCGAN).
    #[default]
    #[value(name = "batchnorm")]
    BatchNorm,
    /// None (SNGAN's discriminator; a critic with a gradient penalty); the convolutions get
    /// biases.
    None,
    /// LayerNorm over each sample's [C, H, W] after every convolution but the first: per
    /// sample, so a gradient penalty stays per sample (the WGAN-GP paper's suggestion); the
    /// convolutions get biases.
    #[value(name = "layernorm")]
    LayerNorm,
}

/// How a conditional model takes its class label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ConditionMode {
    /// The label as one-hot, appended to z in G and as K constant planes (one-hot channels)
    /// appended to D's input (Mirza & Osindero 2014; the cDCGAN of most tutorials).
    Concat,
    /// G as with concat; D ends in the projection head D(x, y) = ψ(φ(x)) + ⟨embed(y), φ(x)⟩
    /// on its flattened last features φ (Miyato & Koyama 2018) instead of its final layer.
    Projection,
    /// G as with concat; D sees the image alone and its last layer has 1 + K outputs: the
    /// real/fake logit and K class logits, whose softmax cross-entropy against the label (the
    /// dataset's for real images, the one asked for for fakes) both networks add to their
    /// losses (Odena et al. 2017, the auxiliary-classifier GAN).
    Acgan,
}

/// A class-conditional model: the mode, the number of classes K and how the label is coded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conditional {
    pub mode: ConditionMode,
    pub classes: usize,
    /// `--label-embedding N`: the label joins G's input (and, with concat, D's) as a learned
    /// N-vector E[y] (`label_emb.weight` [K, N] in each network's state dict) instead of
    /// one-hot. None: one-hot (and every model saved before this existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<usize>,
}

/// The widest learned label embedding (--label-embedding).
pub const MAX_LABEL_EMBEDDING: usize = 1024;

/// The most classes a conditional model takes (grids show one row per class).
pub const MAX_CLASSES: usize = 1000;

/// Everything the architecture depends on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub model: ModelKind,
    pub image_size: usize,
    pub channels: usize,
    /// Latent size (PyTorch's --nz).
    pub nz: usize,
    /// Generator width (--ngf; MLP: hidden width of the first layer).
    pub ngf: usize,
    /// Discriminator width (--ndf).
    pub ndf: usize,
    /// MLP discriminator dropout.
    pub dropout: f32,
    /// Class-conditional (None: unconditional, and every model saved before this existed).
    #[serde(default)]
    pub conditional: Option<Conditional>,
    /// Spectral normalisation of every Conv2d/Linear weight of the discriminator
    /// (--spectral-norm; Miyato et al. 2018).
    #[serde(default)]
    pub spectral_norm: bool,
    /// The discriminator's normalisation layers (--d-norm).
    #[serde(default)]
    pub d_norm: DNorm,
    /// `--minibatch-std G`: StyleGAN's minibatch standard deviation layer, over groups of G
    /// samples, before the DCGAN discriminator's last layer (one more input channel there).
    /// None: no such layer (and every model saved before this existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minibatch_std: Option<usize>,
}

/// Image sizes the DCGAN can produce: 4·2^k, k ≥ 2.
pub const DCGAN_SIZES: [usize; 4] = [16, 32, 64, 128];

impl ModelConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |flag: &str, m: String| Err(Error::invalid(flag, m));
        if matches!(self.model, ModelKind::Classifier | ModelKind::Ae | ModelKind::Vae) {
            return bad("--model", format!("the {} is not a GAN: it has no generator or discriminator", self.model.name()));
        }
        if self.model == ModelKind::Dcgan && !DCGAN_SIZES.contains(&self.image_size) {
            return bad(
                "--image-size",
                format!("the DCGAN cannot produce {}x{} images; use one of {DCGAN_SIZES:?} (images are resized to it)", self.image_size, self.image_size),
            );
        }
        if self.model == ModelKind::Mlp && !(4..=256).contains(&self.image_size) {
            return bad("--image-size", format!("{} is outside 4..=256 for the MLP", self.image_size));
        }
        if !matches!(self.channels, 1 | 3) {
            return bad("--channels", format!("{} channels: use 1 (grayscale) or 3 (RGB)", self.channels));
        }
        for (flag, v) in [("--nz", self.nz), ("--ngf", self.ngf), ("--ndf", self.ndf)] {
            if v == 0 || v > 4096 {
                return bad(flag, format!("{v} is outside 1..=4096"));
            }
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("--dropout", format!("{} must lie in [0, 1)", self.dropout));
        }
        if self.d_norm == DNorm::LayerNorm && self.model == ModelKind::Mlp {
            return bad("--d-norm", "layernorm normalises the DCGAN discriminator's convolutions; the MLP discriminator has none (use --model dcgan, or leave --d-norm out)".into());
        }
        if self.spectral_norm && self.model == ModelKind::Mlp && self.dropout > 0.0 {
            return bad(
                "--spectral-norm",
                format!("the MLP discriminator's dropout scales activations by 1/(1 − p) = {:.2} in training, which undoes the Lipschitz bound spectral norm gives; use --model dcgan, or --dropout 0", 1.0 / (1.0 - self.dropout)),
            );
        }
        if let Some(c) = self.conditional
            && !(1..=MAX_CLASSES).contains(&c.classes)
        {
            return bad("--conditional", format!("{} classes is outside 1..={MAX_CLASSES}", c.classes));
        }
        if let Some(n) = self.conditional.and_then(|c| c.embedding)
            && !(1..=MAX_LABEL_EMBEDDING).contains(&n)
        {
            return bad("--label-embedding", format!("{n} is outside 1..={MAX_LABEL_EMBEDDING}"));
        }
        if let Some(g) = self.minibatch_std {
            if self.model != ModelKind::Dcgan {
                return bad("--minibatch-std", "adds a plane to the DCGAN discriminator's last feature maps; the MLP discriminator has none (use --model dcgan)".into());
            }
            if !(1..=crate::ops::minibatch_std::MAX_GROUP).contains(&g) {
                return bad("--minibatch-std", format!("a group of {g} is outside 1..={} (StyleGAN uses 4)", crate::ops::minibatch_std::MAX_GROUP));
            }
        }
        Ok(())
    }

    /// A discriminator layer with a weight, spectrally normalised with --spectral-norm.
    fn weighted(&self, layer: Layer) -> Layer {
        if self.spectral_norm { Layer::SpectralNorm(Box::new(layer)) } else { layer }
    }

    /// Classes of a conditional model (0 when unconditional).
    pub fn classes(&self) -> usize {
        self.conditional.map_or(0, |c| c.classes)
    }

    /// The channels the label adds to G's input: K one-hot, or N with --label-embedding N
    /// (0 when unconditional).
    pub fn label_width(&self) -> usize {
        self.conditional.map_or(0, |c| c.embedding.unwrap_or(c.classes))
    }

    /// The label planes appended to D's input: the label's width with concat conditioning,
    /// else none.
    pub fn d_label_planes(&self) -> usize {
        match self.conditional {
            Some(Conditional { mode: ConditionMode::Concat, .. }) => self.label_width(),
            _ => 0,
        }
    }

    /// The learned label embedding of a network whose input takes `width` label channels.
    fn label_embedding(&self, width: usize) -> Option<crate::nn::label::LabelEmbedding> {
        let c = self.conditional?;
        c.embedding.filter(|_| width > 0).map(|dim| crate::nn::label::LabelEmbedding { classes: c.classes, dim })
    }

    /// The class logits D outputs after its real/fake logit: K for ACGAN, else none.
    pub fn aux_classes(&self) -> usize {
        match self.conditional {
            Some(Conditional { mode: ConditionMode::Acgan, classes, .. }) => classes,
            _ => 0,
        }
    }

    /// Whether D takes the label through a projection head (a network with a label input).
    pub fn projection(&self) -> bool {
        matches!(self.conditional, Some(Conditional { mode: ConditionMode::Projection, .. }))
    }

    /// The latent z per sample as G's input sees it, before the label is appended:
    /// [nz, 1, 1] for the DCGAN (a 1×1 image of nz channels), [nz] for the MLP.
    pub fn latent_shape(&self) -> Vec<usize> {
        match self.model {
            ModelKind::Dcgan | ModelKind::Classifier | ModelKind::Ae | ModelKind::Vae => vec![self.nz, 1, 1],
            ModelKind::Mlp => vec![self.nz],
        }
    }

    /// An image per sample as D's input sees it, before the label planes are appended:
    /// [C, S, S] for the DCGAN, flattened [C·S·S] for the MLP (whose label is a one-hot vector).
    pub fn image_view(&self) -> Vec<usize> {
        match self.model {
            ModelKind::Dcgan | ModelKind::Classifier | ModelKind::Ae | ModelKind::Vae => vec![self.channels, self.image_size, self.image_size],
            ModelKind::Mlp => vec![self.channels * self.image_size * self.image_size],
        }
    }

    /// `shape` with `width` label channels appended to its first dimension.
    fn with_label(&self, shape: Vec<usize>, width: usize) -> Vec<usize> {
        let mut s = shape;
        s[0] += width;
        s
    }

    /// log2(image_size / 4): the number of stride-2 layers of the DCGAN.
    fn doublings(&self) -> usize {
        (self.image_size / 4).trailing_zeros() as usize
    }

    pub fn generator(&self) -> Result<NetSpec> {
        self.validate()?;
        let conv_init = Init::Normal { mean: 0.0, std: 0.02 };
        let layers = match self.model {
            ModelKind::Dcgan => {
                let mut m = 1 << (self.doublings() - 1); // 8 for 64×64
                let convt = |c_in, c_out, stride, padding| Layer::ConvTranspose2d {
                    c_in,
                    c_out,
                    kernel: 4,
                    stride,
                    padding,
                    output_padding: 0,
                    bias: false,
                };
                let mut l = vec![convt(self.nz + self.label_width(), self.ngf * m, 1, 0), Layer::BatchNorm2d { channels: self.ngf * m }, Layer::Relu];
                while m > 1 {
                    l.extend([convt(self.ngf * m, self.ngf * m / 2, 2, 1), Layer::BatchNorm2d { channels: self.ngf * m / 2 }, Layer::Relu]);
                    m /= 2;
                }
                l.extend([convt(self.ngf, self.channels, 2, 1), Layer::Tanh]);
                l
            }
            ModelKind::Mlp => {
                let h = self.ngf;
                let out = self.channels * self.image_size * self.image_size;
                let lin = |i, o| Layer::Linear { in_features: i, out_features: o, bias: true };
                vec![
                    lin(self.nz + self.label_width(), h),
                    Layer::Relu,
                    lin(h, 2 * h),
                    Layer::Relu,
                    lin(2 * h, 4 * h),
                    Layer::Relu,
                    lin(4 * h, out),
                    Layer::Tanh,
                    Layer::Unflatten(vec![self.channels, self.image_size, self.image_size]),
                ]
            }
            ModelKind::Classifier | ModelKind::Ae | ModelKind::Vae => unreachable!("validate refuses what is not a GAN"),
        };
        let input = self.with_label(self.latent_shape(), self.label_width());
        Ok(NetSpec { name: "generator".into(), input, layers, conv_init, label_embedding: self.label_embedding(self.label_width()) })
    }

    pub fn discriminator(&self) -> Result<NetSpec> {
        self.validate()?;
        let conv_init = Init::Normal { mean: 0.0, std: 0.02 };
        let layers = match self.model {
            ModelKind::Dcgan => {
                let top = 1 << (self.doublings() - 1);
                // A bias where no BatchNorm follows: see the module doc.
                let conv = |c_in, c_out, stride, padding| self.weighted(Layer::Conv2d { c_in, c_out, kernel: 4, stride, padding, bias: self.d_norm != DNorm::BatchNorm });
                let mut l = vec![conv(self.channels + self.d_label_planes(), self.ndf, 2, 1), Layer::LeakyRelu(0.2)];
                let (mut m, mut size) = (1, self.image_size / 2);
                while m < top {
                    l.push(conv(self.ndf * m, self.ndf * m * 2, 2, 1));
                    size /= 2;
                    match self.d_norm {
                        DNorm::BatchNorm => l.push(Layer::BatchNorm2d { channels: self.ndf * m * 2 }),
                        DNorm::LayerNorm => l.push(Layer::LayerNorm(vec![self.ndf * m * 2, size, size])),
                        DNorm::None => {}
                    }
                    l.push(Layer::LeakyRelu(0.2));
                    m *= 2;
                }
                // StyleGAN's place for it: on the last 4×4 features, before the final layer.
                let features = self.ndf * top + usize::from(self.minibatch_std.is_some());
                if let Some(group) = self.minibatch_std {
                    l.push(Layer::MinibatchStd { group });
                }
                // The last 4×4 convolution to one logit is a Linear on the flattened features;
                // the projection head replaces it, with those same features as φ.
                match self.conditional {
                    Some(Conditional { mode: ConditionMode::Projection, classes, .. }) => l.extend([Layer::Flatten, Layer::Projection { features: features * 16, classes }]),
                    _ => l.push(conv(features, 1 + self.aux_classes(), 1, 0)),
                }
                l
            }
            ModelKind::Mlp => {
                let h = self.ndf;
                let inp = self.channels * self.image_size * self.image_size + self.d_label_planes();
                let lin = |i, o| self.weighted(Layer::Linear { in_features: i, out_features: o, bias: true });
                let mut l = vec![Layer::Flatten];
                for (i, o) in [(inp, 4 * h), (4 * h, 2 * h), (2 * h, h)] {
                    l.extend([lin(i, o), Layer::LeakyRelu(0.2), Layer::Dropout(self.dropout)]);
                }
                match self.conditional {
                    Some(Conditional { mode: ConditionMode::Projection, classes, .. }) => l.push(Layer::Projection { features: h, classes }),
                    _ => l.push(lin(h, 1 + self.aux_classes())),
                }
                l
            }
            ModelKind::Classifier | ModelKind::Ae | ModelKind::Vae => unreachable!("validate refuses what is not a GAN"),
        };
        // The image as it is, or (conditional) the view the label planes are appended to.
        let input = if self.d_label_planes() > 0 { self.with_label(self.image_view(), self.d_label_planes()) } else { vec![self.channels, self.image_size, self.image_size] };
        Ok(NetSpec { name: "discriminator".into(), input, layers, conv_init, label_embedding: self.label_embedding(self.d_label_planes()) })
    }
}

/// The image classifier of `train --model classifier`, the feature extractor of `eval`: the
/// DCGAN discriminator's convolutions (4×4, stride 2, BatchNorm from the second, LeakyReLU 0.2)
/// down to 4×4, then Linear → LeakyReLU → Dropout → Linear to one logit per class.
///
/// ```text
/// main.0 Conv2d(C, w, 4, 2, 1), main.1 LeakyReLU        S → S/2
/// [Conv2d(w·m, 2w·m, 4, 2, 1), BatchNorm2d, LeakyReLU]  … → 4×4
/// Flatten, Linear(w·top·16, features), LeakyReLU        the features (eval's embedding)
/// Dropout(p), Linear(features, classes)                 the logits
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierModel {
    pub image_size: usize,
    pub channels: usize,
    /// Width of the first convolution (--ndf).
    pub width: usize,
    /// Size of the penultimate layer: the feature vector `eval` compares.
    pub features: usize,
    pub classes: usize,
    pub dropout: f32,
}

impl ClassifierModel {
    pub fn validate(&self) -> Result<()> {
        let bad = |flag: &str, m: String| Err(Error::invalid(flag, m));
        if !DCGAN_SIZES.contains(&self.image_size) {
            return bad("--image-size", format!("the classifier takes {}x{} images only as one of {DCGAN_SIZES:?} (images are resized to it)", self.image_size, self.image_size));
        }
        if !matches!(self.channels, 1 | 3) {
            return bad("--channels", format!("{} channels: use 1 (grayscale) or 3 (RGB)", self.channels));
        }
        for (flag, v) in [("--ndf", self.width), ("--features", self.features)] {
            if v == 0 || v > 4096 {
                return bad(flag, format!("{v} is outside 1..=4096"));
            }
        }
        if !(2..=MAX_CLASSES).contains(&self.classes) {
            return bad("--dataset", format!("a classifier needs 2..={MAX_CLASSES} classes, this data has {}", self.classes));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("--dropout", format!("{} must lie in [0, 1)", self.dropout));
        }
        Ok(())
    }

    pub fn spec(&self) -> Result<NetSpec> {
        self.validate()?;
        let top = 1 << ((self.image_size / 4).trailing_zeros() as usize - 1);
        let conv = |c_in, c_out| Layer::Conv2d { c_in, c_out, kernel: 4, stride: 2, padding: 1, bias: false };
        let w = self.width;
        let mut l = vec![conv(self.channels, w), Layer::LeakyRelu(0.2)];
        let mut m = 1;
        while m < top {
            l.extend([conv(w * m, w * m * 2), Layer::BatchNorm2d { channels: w * m * 2 }, Layer::LeakyRelu(0.2)]);
            m *= 2;
        }
        l.extend([
            Layer::Flatten,
            Layer::Linear { in_features: w * top * 16, out_features: self.features, bias: true },
            Layer::LeakyRelu(0.2),
            Layer::Dropout(self.dropout),
            Layer::Linear { in_features: self.features, out_features: self.classes, bias: true },
        ]);
        Ok(NetSpec { name: "classifier".into(), input: vec![self.channels, self.image_size, self.image_size], layers: l, conv_init: Init::Normal { mean: 0.0, std: 0.02 }, label_embedding: None })
    }

    /// Index of the activation (`Instance::acts`) that holds the features: the output of the
    /// LeakyReLU after the first Linear (acts[i + 1] is layer i's output).
    pub fn feature_act(&self) -> Result<usize> {
        let n = self.spec()?.layers.len();
        Ok(n - 2)
    }
}

/// The autoencoders of `train --model ae|vae`: an encoder mirroring the DCGAN discriminator
/// (its convolutions, BatchNorm from the second, LeakyReLU 0.2, down to 4×4) ending in a Linear
/// layer to the latent, and a decoder that is the DCGAN generator. With `arch: Mlp` (--arch
/// mlp), the MLP GAN's networks the same way (see [`Arch`]).
///
/// ```text
/// encoder: [Conv2d(C, w, 4, 2, 1), LeakyReLU] [Conv2d, BatchNorm2d, LeakyReLU]… → 4×4,
///          Flatten, Linear(w·top·16, nz)    (ae)   or   Linear(w·top·16, 2·nz) = (μ, log σ²)   (vae)
/// decoder: the DCGAN generator from z [nz, 1, 1]: ConvTranspose2d … Tanh   (--recon mse)
///          the same without the Tanh: a logit per pixel                   (--recon bce)
/// ```
///
/// With `--recon bce` the decoder's output is the logit ℓ of a Bernoulli per pixel of the
/// image scaled to [0, 1]: the image is σ(ℓ), and in shadergan's [−1, 1] range 2σ(ℓ) − 1 =
/// tanh(ℓ/2) ([`Recon::to_images`]); in PyTorch, the DCGAN generator without its Tanh,
/// followed by `torch.sigmoid`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AutoencoderModel {
    /// A VAE (the encoder gives μ and log σ², z = μ + σ·ε) or a plain autoencoder (z = code).
    pub variational: bool,
    pub image_size: usize,
    pub channels: usize,
    pub nz: usize,
    /// Width of the decoder (the generator's --ngf) and of the encoder (--ndf).
    pub ngf: usize,
    pub ndf: usize,
    /// The reconstruction loss, which fixes the decoder's output (--recon).
    #[serde(default)]
    pub recon: Recon,
    /// Convolutional (the DCGAN's networks) or fully connected (the MLP GAN's) (--arch).
    #[serde(default)]
    pub arch: Arch,
}

/// The autoencoders' architecture (--arch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// Encoder: the DCGAN discriminator's convolutions + Linear; decoder: the DCGAN generator.
    #[default]
    Dcgan,
    /// Encoder: the MLP discriminator's Linear-LeakyReLU layers (4w, 2w, w; no dropout) +
    /// Linear; decoder: the MLP generator (Linear-ReLU w, 2w, 4w → Linear-Tanh).
    Mlp,
}

/// The autoencoders' reconstruction loss (--recon).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Recon {
    /// ½‖x̂ − x‖² per image on [−1, 1] (a Gaussian decoder of unit variance); the decoder ends
    /// in Tanh.
    #[default]
    Mse,
    /// Binary cross-entropy with logits against the image scaled to [0, 1] (a Bernoulli decoder,
    /// as pytorch/examples' VAE), summed over the pixels; the decoder outputs logits.
    Bce,
}

impl Recon {
    /// The decoder's outputs as images in [−1, 1] (in place): nothing for mse, tanh(ℓ/2) =
    /// 2σ(ℓ) − 1 for bce's logits.
    pub fn to_images(self, out: &mut [f32]) {
        if self == Recon::Bce {
            for v in out {
                *v = (0.5 * *v).tanh();
            }
        }
    }
}

impl AutoencoderModel {
    pub fn name(&self) -> &'static str {
        if self.variational { "vae" } else { "ae" }
    }

    /// The GAN (DCGAN or MLP, by `arch`) whose generator is the decoder and whose
    /// discriminator's layers, without its last, are the encoder's.
    pub fn gan(&self) -> ModelConfig {
        let model = match self.arch {
            Arch::Dcgan => ModelKind::Dcgan,
            Arch::Mlp => ModelKind::Mlp,
        };
        ModelConfig { model, image_size: self.image_size, channels: self.channels, nz: self.nz, ngf: self.ngf, ndf: self.ndf, dropout: 0.0, conditional: None, spectral_norm: false, d_norm: DNorm::BatchNorm, minibatch_std: None }
    }

    pub fn validate(&self) -> Result<()> {
        self.gan().validate()
    }

    /// Values per sample the encoder's last layer writes: nz, or (μ, log σ²) = 2·nz.
    pub fn code_width(&self) -> usize {
        if self.variational { 2 * self.nz } else { self.nz }
    }

    pub fn encoder(&self) -> Result<NetSpec> {
        let mut spec = self.gan().discriminator()?;
        let width = match (self.arch, spec.layers.pop()) {
            // The DCGAN discriminator's last layer is the 4×4 convolution to one logit.
            (Arch::Dcgan, Some(Layer::Conv2d { c_in, .. })) => {
                spec.layers.push(Layer::Flatten);
                c_in * 16
            }
            // The MLP's is Linear(w, 1); its dropout (p = 0 here) goes.
            (Arch::Mlp, Some(Layer::Linear { in_features, .. })) => {
                spec.layers.retain(|l| !matches!(l, Layer::Dropout(_)));
                in_features
            }
            (_, last) => unreachable!("the discriminator ends in its logit layer, not {last:?}"),
        };
        spec.layers.push(Layer::Linear { in_features: width, out_features: self.code_width(), bias: true });
        spec.name = "encoder".into();
        Ok(spec)
    }

    pub fn decoder(&self) -> Result<NetSpec> {
        let mut spec = self.gan().generator()?;
        spec.name = "decoder".into();
        if self.recon == Recon::Bce {
            remove_tanh(&mut spec);
        }
        Ok(spec)
    }
}

/// A generator's output without its Tanh (a decoder of logits, --recon bce): the last Tanh
/// goes (the MLP's is followed by its Unflatten).
pub fn remove_tanh(spec: &mut NetSpec) {
    if let Some(i) = spec.layers.iter().rposition(|l| *l == Layer::Tanh) {
        spec.layers.remove(i);
    }
}
