//! Layers and sequential networks on the kernels. A network is described by [`Layer`]s; each
//! becomes a [`module::Module`] (one file per kind in `layers/`) that knows its parameters and
//! output shape and, bound to tensors, owns its saved state and prepares its forward, backward-
//! to-parameters and backward-to-inputs as separately recordable passes (so a later
//! backward-of-backward, for gradient penalties, composes per module). Parameters live in a
//! [`ParamStore`]; a network bound to a batch size — an [`Instance`] — allocates every
//! activation and gradient buffer once and prepares its dispatch lists once. Recording them is
//! all a training step does.
//!
//! Names and layouts follow PyTorch: a network is `main` (an `nn.Sequential`), parameters are
//! `main.<index>.weight`, `main.<index>.bias`, `main.<index>.running_mean`, …

pub mod label;
pub mod layers;
pub mod module;
pub mod params;

pub use params::{Init, Kind, ParamSpec, ParamStore};

use module::{BindCtx, Io, Want};

use crate::error::{Error, Result};
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor};
use crate::ops;

/// One layer of a sequential network.
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    /// y = x·Wᵀ + b; weight [out, in], bias [out]. The input is flattened per sample.
    Linear { in_features: usize, out_features: usize, bias: bool },
    /// weight [C_out, C_in, K, K], bias [C_out].
    Conv2d { c_in: usize, c_out: usize, kernel: usize, stride: usize, padding: usize, bias: bool },
    /// weight [C_in, C_out, K, K], bias [C_out].
    ConvTranspose2d { c_in: usize, c_out: usize, kernel: usize, stride: usize, padding: usize, output_padding: usize, bias: bool },
    /// weight (γ) [C], bias (β) [C], running_mean [C], running_var [C].
    BatchNorm2d { channels: usize },
    /// PyTorch `nn.LayerNorm(shape)` over every dimension after the batch: weight (γ) and
    /// bias (β) of that shape.
    LayerNorm(Vec<usize>),
    Relu,
    LeakyRelu(f32),
    Tanh,
    Sigmoid,
    /// Zeroes each element with probability p in training (scaling the rest by 1/(1−p)).
    Dropout(f32),
    /// [B, ...] → [B, n] (PyTorch `nn.Flatten`): a view, no dispatch.
    Flatten,
    /// [B, n] → [B, shape...] (PyTorch `nn.Unflatten(1, shape)`): a view, no dispatch.
    Unflatten(Vec<usize>),
    /// A Conv2d or Linear whose weight is spectrally normalised (PyTorch
    /// `torch.nn.utils.spectral_norm(layer)`): `weight_orig`, `weight_u`, `weight_v` instead
    /// of `weight`.
    SpectralNorm(Box<Layer>),
    /// The projection discriminator's head: [B, F] features φ → [B, 1],
    /// ψ(φ) + ⟨embed(y), φ⟩ with the class labels y as the network's second input
    /// (`Instance::labelled`); `linear.weight` [1, F], `linear.bias` [1], `embed.weight` [K, F].
    Projection { features: usize, classes: usize },
    /// PyTorch `nn.AvgPool2d(kernel, stride, padding)`: the mean of each window, padding
    /// counted as zeros. No parameters.
    AvgPool2d { kernel: usize, stride: usize, padding: usize },
    /// PyTorch `nn.MaxPool2d(kernel, stride, padding)`: the maximum of each window (the first
    /// on a tie). No parameters.
    MaxPool2d { kernel: usize, stride: usize, padding: usize },
    /// StyleGAN's minibatch standard deviation (stylegan2-ada's `MinibatchStdLayer`, one
    /// channel): [B, C, H, W] → [B, C + 1, H, W], the extra plane the mean over the features of
    /// their standard deviation across the sample's group of `group`. No parameters.
    MinibatchStd { group: usize },
}

impl Layer {
    /// The module that implements this layer.
    pub fn module(&self) -> Box<dyn module::Module> {
        layers::module_of(self)
    }

    /// The PyTorch module this layer mirrors, for printing.
    pub fn torch_name(&self) -> String {
        self.module().torch_name()
    }

    /// The layer's tensors with their shapes and initialisation (DCGAN: conv weights
    /// N(0, 0.02), BatchNorm γ N(1, 0.02) and β 0; Linear: PyTorch's default U(±1/√fan_in)).
    pub fn params(&self, prefix: &str, conv_init: Init) -> Vec<ParamSpec> {
        self.module().params(prefix, conv_init)
    }

    /// Output shape for an input of `shape` ([B, ...]), or why the input does not fit.
    pub fn output_shape(&self, shape: &[usize]) -> Result<Vec<usize>> {
        self.module().output_shape(&[shape])
    }
}

/// A sequential network: its layers and the per-sample input shape.
#[derive(Clone, Debug, PartialEq)]
pub struct NetSpec {
    /// "generator" / "discriminator": labels and error messages.
    pub name: String,
    pub input: Vec<usize>,
    pub layers: Vec<Layer>,
    pub conv_init: Init,
    /// A learned class embedding whose rows the caller appends to the input (outside `main`,
    /// see `label::LabelInput`): its table `label_emb.weight` [K, N] lives in the network's
    /// store. None: no embedding (unconditional, or the label as one-hot).
    pub label_embedding: Option<label::LabelEmbedding>,
}

impl NetSpec {
    /// Every parameter, in PyTorch state-dict order (`main`, then the label embedding).
    pub fn params(&self) -> Vec<ParamSpec> {
        let main = self.layers.iter().enumerate().flat_map(|(i, l)| l.params(&format!("main.{i}"), self.conv_init));
        main.chain(self.label_embedding.map(|e| e.param())).collect()
    }

    /// Shapes of the input and every layer's output for a batch of `batch`.
    pub fn shapes(&self, batch: usize) -> Result<Vec<Vec<usize>>> {
        let mut shapes = vec![[vec![batch], self.input.clone()].concat()];
        for l in &self.layers {
            let next = l.output_shape(shapes.last().expect("input shape"))?;
            shapes.push(next);
        }
        Ok(shapes)
    }

    /// Values per sample of the largest activation (input included): what grows with the batch.
    pub fn largest_activation_per_sample(&self) -> Result<usize> {
        Ok(self.shapes(1)?.iter().map(|s| s.iter().product::<usize>()).max().unwrap_or(1))
    }

    /// The largest batch whose every activation fits one storage binding (and one buffer) of
    /// `limits`: beyond it a kernel could not bind its input or output.
    pub fn max_batch(&self, limits: &wgpu::Limits) -> Result<usize> {
        let per_sample = 4 * self.largest_activation_per_sample()? as u64;
        Ok((limits.max_storage_buffer_binding_size.min(limits.max_buffer_size) / per_sample) as usize)
    }

    /// `nn.Sequential` as PyTorch prints it.
    pub fn describe(&self) -> String {
        let mut s = format!("{} (input {:?} per sample):\n", self.name, self.input);
        for (i, l) in self.layers.iter().enumerate() {
            s += &format!("  ({i}): {}\n", l.torch_name());
        }
        if let Some(e) = self.label_embedding {
            s += &format!("  (label_emb): Embedding({}, {})\n", e.classes, e.dim);
        }
        s
    }
}

/// The first layer that is not a view: its input gradient is wanted only when passing through
/// the network to the one before it.
fn first_real_layer(modules: &[Box<dyn module::Module>], mode: Mode) -> usize {
    modules.iter().position(|m| !m.is_view(mode)).unwrap_or(modules.len())
}

/// Forward behaviour: batch statistics and dropout (training) or running statistics and no
/// dropout (evaluation, sampling).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

/// Where dropout draws its masks: one GPU step counter slot and the seed.
#[derive(Clone, Copy, Debug)]
pub struct DropoutRng {
    pub seed: u64,
    pub counter_index: usize,
}

/// A network bound to a batch size and a mode, with every buffer and dispatch prepared.
///
/// Buffers, for layer i with input `acts[i]` and output `acts[i + 1]`:
/// `acts[0]` is the input [B, input...]; `grads[i]` is ∂L/∂acts[i] (`grads[0]` is the input
/// gradient, filled only by `backward_input_only`).
pub struct Instance {
    pub batch: usize,
    pub mode: Mode,
    pub acts: Vec<GpuTensor>,
    pub grads: Vec<GpuTensor>,
    pub forward: Vec<Dispatch>,
    /// Parameter gradients (accumulated into the store's grads) and the input gradients of
    /// every layer but the first: the update of this network (empty for a weights-only store).
    pub backward_params: Vec<Dispatch>,
    /// Input gradients only, down to grads[0]; no parameter gradient is touched: the pass
    /// through a network that is not being updated (D during the generator step).
    pub backward_input_only: Vec<Dispatch>,
    /// Parameter gradients and every input gradient down to grads[0]: the update of a network
    /// whose input came from another trained one (an autoencoder's decoder). Empty for a
    /// weights-only store.
    pub backward_full: Vec<Dispatch>,
    /// With `new_second_order`: `adjs[i]` = ∂P/∂grads[i] for a penalty P of the input gradient
    /// grads[0] (the penalty writes adjs[0]); empty otherwise.
    pub adjs: Vec<GpuTensor>,
    /// The backward of `backward_input_only`, from the input up: every adjs[i + 1] from
    /// adjs[i], and P's gradient accumulated (+=) into the parameters' gradients. Run after
    /// `backward_input_only` (it reads the gradients that pass saved) and the penalty.
    pub double_backward: Vec<Dispatch>,
}

impl Instance {
    pub fn input(&self) -> &GpuTensor {
        &self.acts[0]
    }

    pub fn output(&self) -> &GpuTensor {
        self.acts.last().expect("a network has an output")
    }

    pub fn input_grad(&self) -> &GpuTensor {
        &self.grads[0]
    }

    pub fn output_grad(&self) -> &GpuTensor {
        self.grads.last().expect("a network has an output gradient")
    }

    /// Build the instance of `spec` with parameters in `store`, for `batch` samples.
    /// `output_grad`: use this tensor as ∂L/∂output (e.g. the loss kernel's output) instead of
    /// allocating one. `input`: read the input from this tensor instead of allocating one.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Gpu,
        spec: &NetSpec,
        store: &ParamStore,
        batch: usize,
        mode: Mode,
        counters: &GpuTensor,
        dropout: DropoutRng,
        input: Option<&GpuTensor>,
        output_grad: Option<&GpuTensor>,
    ) -> Result<Instance> {
        Self::build(gpu, spec, store, batch, mode, counters, dropout, None, input, output_grad, false)
    }

    /// As `new` or (`second_order`) `new_second_order`, for a network whose nodes also read
    /// the class labels (u32 [batch]): the projection discriminator. The labels tensor is
    /// read at every recording, so the caller writes the batch's labels into it before a
    /// forward.
    #[allow(clippy::too_many_arguments)]
    pub fn labelled(
        gpu: &Gpu,
        spec: &NetSpec,
        store: &ParamStore,
        batch: usize,
        mode: Mode,
        counters: &GpuTensor,
        dropout: DropoutRng,
        labels: &GpuTensor,
        output_grad: Option<&GpuTensor>,
        second_order: bool,
    ) -> Result<Instance> {
        if labels.dtype() != DType::U32 || labels.shape() != [batch] {
            return Err(Error::shape(&spec.name, format!("labels ({}) must be u32 [{batch}], got {:?} {:?}", labels.label(), labels.dtype(), labels.shape())));
        }
        Self::build(gpu, spec, store, batch, mode, counters, dropout, Some(labels), None, output_grad, second_order)
    }

    /// As `new` (training mode), with the backward of the backward prepared for a penalty on
    /// the input gradient (WGAN-GP, R1): `adjs` and `double_backward`. An error names the first
    /// layer that has none (BatchNorm, Dropout, Tanh, Sigmoid).
    #[allow(clippy::too_many_arguments)]
    pub fn new_second_order(
        gpu: &Gpu,
        spec: &NetSpec,
        store: &ParamStore,
        batch: usize,
        counters: &GpuTensor,
        dropout: DropoutRng,
        input: Option<&GpuTensor>,
        output_grad: Option<&GpuTensor>,
    ) -> Result<Instance> {
        Self::build(gpu, spec, store, batch, Mode::Train, counters, dropout, None, input, output_grad, true)
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        gpu: &Gpu,
        spec: &NetSpec,
        store: &ParamStore,
        batch: usize,
        mode: Mode,
        counters: &GpuTensor,
        dropout: DropoutRng,
        labels: Option<&GpuTensor>,
        input: Option<&GpuTensor>,
        output_grad: Option<&GpuTensor>,
        second_order: bool,
    ) -> Result<Instance> {
        let shapes = spec.shapes(batch)?;
        let tag = format!("{}[{}]", spec.name, match mode { Mode::Train => "train", Mode::Eval => "eval" });
        let n = spec.layers.len();
        let modules: Vec<Box<dyn module::Module>> = spec.layers.iter().map(Layer::module).collect();
        // Views share their producer's buffer: Flatten/Unflatten outputs, and a dropout in
        // eval mode (the identity).
        let is_view = |i: usize| modules[i].is_view(mode);
        // Activations from the input forward: a view layer's output is its input's memory.
        let mut acts: Vec<GpuTensor> = Vec::with_capacity(n + 1);
        acts.push(match input {
            Some(t) if t.shape() == shapes[0].as_slice() => t.clone(),
            Some(t) => return Err(Error::shape(&tag, format!("input {:?} must be {:?}", t.shape(), shapes[0]))),
            None => GpuTensor::zeros(gpu, &shapes[0], DType::F32, &format!("{tag}.input"))?,
        });
        for i in 1..=n {
            acts.push(if is_view(i - 1) {
                acts[i - 1].reshaped(&shapes[i])?
            } else {
                GpuTensor::zeros(gpu, &shapes[i], DType::F32, &format!("{tag}.main.{}.out", i - 1))?
            });
        }
        // Gradients from the output backward, so a given output gradient (another network's
        // input gradient) reaches through trailing views; a view layer's input gradient is its
        // output gradient's memory.
        let from_the_end = |last: GpuTensor, suffix: &str| -> Result<Vec<GpuTensor>> {
            let mut t = vec![last];
            for i in (0..n).rev() {
                let next = t.last().expect("filled from the end");
                t.push(if is_view(i) { next.reshaped(&shapes[i])? } else { GpuTensor::zeros(gpu, &shapes[i], DType::F32, &format!("{tag}.main.{i}.in.{suffix}"))? });
            }
            t.reverse();
            Ok(t)
        };
        let grads = from_the_end(
            match output_grad {
                Some(g) if g.shape() == shapes[n].as_slice() => g.clone(),
                Some(g) => return Err(Error::shape(&tag, format!("output gradient {:?} must be {:?}", g.shape(), shapes[n]))),
                None => GpuTensor::zeros(gpu, &shapes[n], DType::F32, &format!("{tag}.output.grad"))?,
            },
            "grad",
        )?;
        // The adjoints mirror the gradients, views included.
        let adjs = if second_order { from_the_end(GpuTensor::zeros(gpu, &shapes[n], DType::F32, &format!("{tag}.output.grad.adjoint"))?, "grad.adjoint")? } else { Vec::new() };

        let mut forward = Vec::new();
        let mut bound = Vec::with_capacity(n);
        for (i, m) in modules.iter().enumerate() {
            let ctx = BindCtx { gpu, store, mode, counters, dropout, net: &spec.name, tag: &tag, prefix: format!("main.{i}"), weight: None, labels };
            let adjoint = second_order.then(|| module::Adjoint { input: &adjs[i], output: &adjs[i + 1] });
            let io = Io { inputs: &acts[i..=i], output: &acts[i + 1], input_grads: &grads[i..=i], output_grad: &grads[i + 1], adjoint };
            let b = m.bind(&ctx, &io)?;
            forward.extend(b.forward());
            bound.push(b);
        }

        let mut backward_params = Vec::new();
        let mut backward_input_only = Vec::new();
        let mut backward_full = Vec::new();
        if mode == Mode::Train {
            // Below the first layer with a kernel there is nothing to propagate into.
            let first_real = first_real_layer(&modules, mode);
            for i in (0..n).rev() {
                // The input gradient of the first real layer is only wanted when passing
                // through the network to the one before it.
                // A weights-only store (sampling with batch statistics) has no gradients to fill.
                if store.has_gradients() {
                    backward_params.extend(bound[i].backward(Want { params: true, inputs: i > first_real })?);
                    backward_full.extend(bound[i].backward(Want { params: true, inputs: true })?);
                }
                backward_input_only.extend(bound[i].backward(Want { params: false, inputs: true })?);
            }
        }
        let mut double_backward = Vec::new();
        if second_order {
            for (i, b) in bound.iter().enumerate() {
                let passes = b.double_backward().ok_or_else(|| {
                    Error::invalid(
                        &tag,
                        format!("main.{i} {} has no backward of its backward: a gradient penalty needs Conv2d, ConvTranspose2d, Linear, ReLU/LeakyReLU, LayerNorm, minibatch standard deviation, spectral norm, the projection head, 2-D max and average pooling and views only", spec.layers[i].torch_name()),
                    )
                })?;
                double_backward.extend(passes?);
            }
            // A backward that depends on its input (LayerNorm's through x̂ and σ, the minibatch
            // standard deviation's through d/σ) sends P's
            // gradient into the forward below it too: one more backward, from the highest such
            // layer down, on ∂P/∂acts held in the gradient buffers (free again once the backward
            // of the backward has read them), adding each such layer's ∂P/∂input on the way.
            let through_input: Vec<(usize, &GpuTensor)> = bound.iter().enumerate().filter_map(|(i, b)| b.input_adjoint().map(|a| (i, a))).filter(|&(i, _)| i > first_real_layer(&modules, mode)).collect();
            if let Some(&(top, adj_top)) = through_input.last() {
                double_backward.push(ops::elementwise::copy(gpu, adj_top, &grads[top])?);
                let first_real = first_real_layer(&modules, mode);
                for i in (first_real..top).rev() {
                    double_backward.extend(bound[i].backward(Want { params: true, inputs: i > first_real })?);
                    if let Some(&(_, adj)) = through_input.iter().find(|&&(j, _)| j == i && i > first_real) {
                        double_backward.push(ops::elementwise::axpy(gpu, 1.0, adj, &grads[i])?);
                    }
                }
            }
        }
        Ok(Instance { batch, mode, acts, grads, forward, backward_params, backward_input_only, backward_full, adjs, double_backward })
    }
}
