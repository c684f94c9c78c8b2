//! Layers and sequential networks on the kernels: each layer has an explicit forward and
//! backward (so a later backward-of-backward, for gradient penalties, composes the same
//! passes), its parameters live in a [`ParamStore`], and a network bound to a batch size — an
//! [`Instance`] — allocates every activation and gradient buffer once and prepares its
//! dispatch lists once. Recording them is all a training step does.
//!
//! Names and layouts follow PyTorch: a network is `main` (an `nn.Sequential`), parameters are
//! `main.<index>.weight`, `main.<index>.bias`, `main.<index>.running_mean`, …

pub mod params;

pub use params::{Init, Kind, ParamSpec, ParamStore};

use crate::error::{Error, Result};
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor};
use crate::ops::activation::Activation;
use crate::ops::batchnorm::BnConfig;
use crate::ops::conv2d::Conv2dSpec;
use crate::ops::conv_transpose2d::ConvT2dSpec;
use crate::ops::matmul::MatmulSpec;
use crate::ops::random::RngKey;
use crate::ops::{self};

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
}

impl Layer {
    /// The PyTorch module this layer mirrors, for printing.
    pub fn torch_name(&self) -> String {
        match self {
            Layer::Linear { in_features, out_features, bias } => format!("Linear({in_features}, {out_features}, bias={bias})"),
            Layer::Conv2d { c_in, c_out, kernel, stride, padding, bias } => {
                format!("Conv2d({c_in}, {c_out}, {kernel}, {stride}, {padding}, bias={bias})")
            }
            Layer::ConvTranspose2d { c_in, c_out, kernel, stride, padding, output_padding, bias } => {
                format!("ConvTranspose2d({c_in}, {c_out}, {kernel}, {stride}, {padding}, output_padding={output_padding}, bias={bias})")
            }
            Layer::BatchNorm2d { channels } => format!("BatchNorm2d({channels})"),
            Layer::Relu => "ReLU()".into(),
            Layer::LeakyRelu(s) => format!("LeakyReLU({s})"),
            Layer::Tanh => "Tanh()".into(),
            Layer::Sigmoid => "Sigmoid()".into(),
            Layer::Dropout(p) => format!("Dropout({p})"),
            Layer::Flatten => "Flatten()".into(),
            Layer::Unflatten(s) => format!("Unflatten(1, {s:?})"),
        }
    }

    /// The layer's tensors with their shapes and initialisation (DCGAN: conv weights
    /// N(0, 0.02), BatchNorm γ N(1, 0.02) and β 0; Linear: PyTorch's default U(±1/√fan_in)).
    pub fn params(&self, prefix: &str, conv_init: Init) -> Vec<ParamSpec> {
        let p = |name: &str, shape: Vec<usize>, kind, init| ParamSpec { name: format!("{prefix}.{name}"), shape, kind, init };
        match *self {
            Layer::Linear { in_features, out_features, bias } => {
                let bound = 1.0 / (in_features as f32).sqrt();
                let mut v = vec![p("weight", vec![out_features, in_features], Kind::Trainable, Init::Uniform { bound })];
                if bias {
                    v.push(p("bias", vec![out_features], Kind::Trainable, Init::Uniform { bound }));
                }
                v
            }
            Layer::Conv2d { c_in, c_out, kernel, bias, .. } => {
                let mut v = vec![p("weight", vec![c_out, c_in, kernel, kernel], Kind::Trainable, conv_init)];
                if bias {
                    v.push(p("bias", vec![c_out], Kind::Trainable, Init::Constant(0.0)));
                }
                v
            }
            Layer::ConvTranspose2d { c_in, c_out, kernel, bias, .. } => {
                let mut v = vec![p("weight", vec![c_in, c_out, kernel, kernel], Kind::Trainable, conv_init)];
                if bias {
                    v.push(p("bias", vec![c_out], Kind::Trainable, Init::Constant(0.0)));
                }
                v
            }
            Layer::BatchNorm2d { channels } => vec![
                p("weight", vec![channels], Kind::Trainable, Init::Normal { mean: 1.0, std: 0.02 }),
                p("bias", vec![channels], Kind::Trainable, Init::Constant(0.0)),
                p("running_mean", vec![channels], Kind::Buffer, Init::Constant(0.0)),
                p("running_var", vec![channels], Kind::Buffer, Init::Constant(1.0)),
            ],
            _ => vec![],
        }
    }

    /// Output shape for an input of `shape` ([B, ...]), or why the input does not fit.
    pub fn output_shape(&self, shape: &[usize]) -> Result<Vec<usize>> {
        let b = shape[0];
        let per_sample: usize = shape[1..].iter().product();
        let err = |m: String| Err(Error::shape(self.torch_name(), m));
        match self {
            Layer::Linear { in_features, out_features, .. } => {
                if per_sample != *in_features {
                    return err(format!("input {shape:?} has {per_sample} features per sample, expected {in_features}"));
                }
                Ok(vec![b, *out_features])
            }
            Layer::Conv2d { c_in, c_out, kernel, stride, padding, .. } => {
                let w = [*c_out, *c_in, *kernel, *kernel];
                let sh = ops::conv2d::Conv2dShape::new(&Conv2dSpec { stride: *stride, padding: *padding }, shape, &w)?;
                Ok(sh.output().to_vec())
            }
            Layer::ConvTranspose2d { c_in, c_out, kernel, stride, padding, output_padding, .. } => {
                let w = [*c_in, *c_out, *kernel, *kernel];
                let spec = ConvT2dSpec { stride: *stride, padding: *padding, output_padding: *output_padding };
                Ok(ops::conv_transpose2d::ConvT2dShape::new(&spec, shape, &w)?.output().to_vec())
            }
            Layer::BatchNorm2d { channels } => {
                if shape.len() < 2 || shape[1] != *channels {
                    return err(format!("input {shape:?} does not have {channels} channels"));
                }
                Ok(shape.to_vec())
            }
            Layer::Flatten => Ok(vec![b, per_sample]),
            Layer::Unflatten(s) => {
                if s.iter().product::<usize>() != per_sample {
                    return err(format!("input {shape:?} cannot be viewed as [{b}, {s:?}]"));
                }
                Ok([vec![b], s.clone()].concat())
            }
            _ => Ok(shape.to_vec()),
        }
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
}

impl NetSpec {
    /// Every parameter, in PyTorch state-dict order.
    pub fn params(&self) -> Vec<ParamSpec> {
        self.layers.iter().enumerate().flat_map(|(i, l)| l.params(&format!("main.{i}"), self.conv_init)).collect()
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
        s
    }
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
    /// every layer but the first: the update of this network.
    pub backward_params: Vec<Dispatch>,
    /// Input gradients only, down to grads[0]; no parameter gradient is touched: the pass
    /// through a network that is not being updated (D during the generator step).
    pub backward_input_only: Vec<Dispatch>,
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
        let shapes = spec.shapes(batch)?;
        let tag = format!("{}[{}]", spec.name, match mode { Mode::Train => "train", Mode::Eval => "eval" });
        let n = spec.layers.len();
        // Views share their producer's buffer: Flatten/Unflatten outputs, and a dropout in
        // eval mode (the identity).
        let is_view = |l: &Layer| matches!(l, Layer::Flatten | Layer::Unflatten(_)) || (mode == Mode::Eval && matches!(l, Layer::Dropout(_)));
        // Activations from the input forward: a view layer's output is its input's memory.
        let mut acts: Vec<GpuTensor> = Vec::with_capacity(n + 1);
        acts.push(match input {
            Some(t) if t.shape() == shapes[0].as_slice() => t.clone(),
            Some(t) => return Err(Error::shape(&tag, format!("input {:?} must be {:?}", t.shape(), shapes[0]))),
            None => GpuTensor::zeros(gpu, &shapes[0], DType::F32, &format!("{tag}.input"))?,
        });
        for i in 1..=n {
            acts.push(if is_view(&spec.layers[i - 1]) {
                acts[i - 1].reshaped(&shapes[i])?
            } else {
                GpuTensor::zeros(gpu, &shapes[i], DType::F32, &format!("{tag}.main.{}.out", i - 1))?
            });
        }
        // Gradients from the output backward, so a given output gradient (another network's
        // input gradient) reaches through trailing views.
        let mut grads: Vec<Option<GpuTensor>> = vec![None; n + 1];
        grads[n] = Some(match output_grad {
            Some(g) if g.shape() == shapes[n].as_slice() => g.clone(),
            Some(g) => return Err(Error::shape(&tag, format!("output gradient {:?} must be {:?}", g.shape(), shapes[n]))),
            None => GpuTensor::zeros(gpu, &shapes[n], DType::F32, &format!("{tag}.output.grad"))?,
        });
        for i in (0..n).rev() {
            let next = grads[i + 1].as_ref().expect("filled from the end");
            grads[i] = Some(if is_view(&spec.layers[i]) {
                next.reshaped(&shapes[i])?
            } else {
                GpuTensor::zeros(gpu, &shapes[i], DType::F32, &format!("{tag}.main.{i}.in.grad"))?
            });
        }
        let grads: Vec<GpuTensor> = grads.into_iter().map(|g| g.expect("every gradient assigned")).collect();

        let bn = BnConfig::default();
        let mut forward = Vec::new();
        let mut backward_params = Vec::new();
        let mut backward_input_only = Vec::new();
        // Per-layer state the backward needs: BatchNorm's saved statistics and dropout masks.
        let mut bn_saved: Vec<Option<GpuTensor>> = vec![None; n];
        let mut dropout_masks: Vec<Option<GpuTensor>> = vec![None; n];
        for (i, layer) in spec.layers.iter().enumerate() {
            let (x, y) = (&acts[i], &acts[i + 1]);
            let pre = format!("main.{i}");
            let w = || store.param(&format!("{pre}.weight"));
            let b = |on: bool| -> Result<Option<GpuTensor>> { if on { Ok(Some(store.param(&format!("{pre}.bias"))?)) } else { Ok(None) } };
            match layer {
                Layer::Linear { bias, .. } => {
                    let (x2, y2) = (x.reshaped(&flat(x.shape()))?, y.reshaped(&flat(y.shape()))?);
                    let (m, k) = (x2.shape()[0], x2.shape()[1]);
                    let spec = MatmulSpec { trans_b: true, ..MatmulSpec::new(m, y2.shape()[1], k) };
                    forward.push(ops::matmul::matmul(gpu, &spec, &x2, &w()?, b(*bias)?.as_ref(), &y2, None)?);
                }
                Layer::Conv2d { stride, padding, bias, .. } => {
                    let s = Conv2dSpec { stride: *stride, padding: *padding };
                    forward.extend(ops::conv2d::forward(gpu, &s, x, &w()?, b(*bias)?.as_ref(), y, None)?);
                }
                Layer::ConvTranspose2d { stride, padding, output_padding, bias, .. } => {
                    let s = ConvT2dSpec { stride: *stride, padding: *padding, output_padding: *output_padding };
                    forward.extend(ops::conv_transpose2d::forward(gpu, &s, x, &w()?, b(*bias)?.as_ref(), y, None)?);
                }
                Layer::BatchNorm2d { channels } => {
                    let (gamma, beta) = (w()?, store.param(&format!("{pre}.bias"))?);
                    let (rm, rv) = (store.param(&format!("{pre}.running_mean"))?, store.param(&format!("{pre}.running_var"))?);
                    forward.push(match mode {
                        Mode::Train => {
                            let saved = GpuTensor::zeros(gpu, &[2, *channels], DType::F32, &format!("{tag}.{pre}.saved"))?;
                            let d = ops::batchnorm::forward_train(gpu, &bn, x, &gamma, &beta, y, &saved, &rm, &rv, true)?;
                            bn_saved[i] = Some(saved);
                            d
                        }
                        Mode::Eval => ops::batchnorm::forward_eval(gpu, &bn, x, &gamma, &beta, &rm, &rv, y)?,
                    });
                }
                Layer::Relu => forward.push(ops::activation::forward(gpu, Activation::Relu, x, y)?),
                Layer::LeakyRelu(s) => forward.push(ops::activation::forward(gpu, Activation::LeakyRelu(*s), x, y)?),
                Layer::Tanh => forward.push(ops::activation::forward(gpu, Activation::Tanh, x, y)?),
                Layer::Sigmoid => forward.push(ops::activation::forward(gpu, Activation::Sigmoid, x, y)?),
                Layer::Dropout(p) => {
                    if mode == Mode::Train {
                        let mask = GpuTensor::zeros(gpu, x.shape(), DType::F32, &format!("{tag}.{pre}.mask"))?;
                        let key = RngKey { seed: dropout.seed, stream: params::stream_of(&format!("{}.{pre}.dropout", spec.name)), counter_index: dropout.counter_index };
                        forward.push(ops::random::dropout_forward(gpu, *p, key, counters, x, y, &mask)?);
                        dropout_masks[i] = Some(mask);
                    }
                }
                Layer::Flatten | Layer::Unflatten(_) => {}
            }
        }

        if mode == Mode::Train {
            // Below the first layer with a kernel there is nothing to propagate into.
            let first_real = spec.layers.iter().position(|l| !is_view(l)).unwrap_or(n);
            for i in (0..n).rev() {
                let layer = &spec.layers[i];
                let pre = format!("main.{i}");
                let (x, y, dy, dx) = (&acts[i], &acts[i + 1], &grads[i + 1], &grads[i]);
                for want_params in [true, false] {
                    let list = if want_params { &mut backward_params } else { &mut backward_input_only };
                    // The input gradient of the first real layer is only wanted when passing
                    // through the network to the one before it.
                    let want_dx = !want_params || i > first_real;
                    layer_backward(gpu, store, layer, &pre, x, y, dy, dx, want_params, want_dx, &bn_saved[i], &dropout_masks[i], list)?;
                }
            }
        }
        Ok(Instance { batch, mode, acts, grads, forward, backward_params, backward_input_only })
    }
}

/// [B, ...] → [B, rest]
fn flat(shape: &[usize]) -> Vec<usize> {
    vec![shape[0], shape[1..].iter().product()]
}

#[allow(clippy::too_many_arguments)]
fn layer_backward(
    gpu: &Gpu,
    store: &ParamStore,
    layer: &Layer,
    pre: &str,
    x: &GpuTensor,
    y: &GpuTensor,
    dy: &GpuTensor,
    dx: &GpuTensor,
    want_params: bool,
    want_dx: bool,
    bn_saved: &Option<GpuTensor>,
    mask: &Option<GpuTensor>,
    out: &mut Vec<Dispatch>,
) -> Result<()> {
    let w = || store.param(&format!("{pre}.weight"));
    let g = |name: &str| store.grad(&format!("{pre}.{name}"));
    match layer {
        Layer::Linear { bias, .. } => {
            let (x2, dy2, dx2) = (x.reshaped(&flat(x.shape()))?, dy.reshaped(&flat(dy.shape()))?, dx.reshaped(&flat(dx.shape()))?);
            let (batch, in_f, out_f) = (x2.shape()[0], x2.shape()[1], dy2.shape()[1]);
            if want_dx {
                // dx [B, in] = dy [B, out] · W [out, in]
                out.push(ops::matmul::matmul(gpu, &MatmulSpec::new(batch, in_f, out_f), &dy2, &w()?, None, &dx2, None)?);
            }
            if want_params {
                // dW [out, in] += dyᵀ · x
                let spec = MatmulSpec { trans_a: true, beta: 1.0, ..MatmulSpec::new(out_f, in_f, batch) };
                out.push(ops::matmul::matmul(gpu, &spec, &dy2, &x2, None, &g("weight")?, None)?);
                if *bias {
                    out.push(ops::reduce::sum_channels(gpu, "linear.backward_bias", &dy2, &g("bias")?, true)?);
                }
            }
        }
        Layer::Conv2d { stride, padding, bias, .. } => {
            let s = Conv2dSpec { stride: *stride, padding: *padding };
            if want_params {
                out.extend(ops::conv2d::backward_weight(gpu, &s, x, dy, &g("weight")?, None)?);
                if *bias {
                    out.push(ops::conv2d::backward_bias(gpu, dy, &g("bias")?)?);
                }
            }
            if want_dx {
                out.extend(ops::conv2d::backward_input(gpu, &s, dy, &w()?, dx, None)?);
            }
        }
        Layer::ConvTranspose2d { stride, padding, output_padding, bias, .. } => {
            let s = ConvT2dSpec { stride: *stride, padding: *padding, output_padding: *output_padding };
            if want_params {
                out.extend(ops::conv_transpose2d::backward_weight(gpu, &s, x, dy, &g("weight")?, None)?);
                if *bias {
                    out.push(ops::conv_transpose2d::backward_bias(gpu, dy, &g("bias")?)?);
                }
            }
            if want_dx {
                out.extend(ops::conv_transpose2d::backward_input(gpu, &s, dy, &w()?, dx, None)?);
            }
        }
        Layer::BatchNorm2d { channels } => {
            let saved = bn_saved.as_ref().expect("training forward saved the statistics");
            // The kernel always produces dγ and dβ; when this network is not being updated
            // they go to scratch tensors so its gradients stay untouched.
            let (dgamma, dbeta) = if want_params {
                (g("weight")?, g("bias")?)
            } else {
                let z = |n: &str| GpuTensor::zeros(gpu, &[*channels], DType::F32, &format!("{pre}.{n}.discarded"));
                (z("dgamma")?, z("dbeta")?)
            };
            out.push(ops::batchnorm::backward(gpu, &BnConfig::default(), x, dy, &w()?, saved, dx, &dgamma, &dbeta)?);
        }
        Layer::Relu => out.push(ops::activation::backward(gpu, Activation::Relu, dy, x, dx)?),
        Layer::LeakyRelu(s) => out.push(ops::activation::backward(gpu, Activation::LeakyRelu(*s), dy, x, dx)?),
        Layer::Tanh => out.push(ops::activation::backward(gpu, Activation::Tanh, dy, y, dx)?),
        Layer::Sigmoid => out.push(ops::activation::backward(gpu, Activation::Sigmoid, dy, y, dx)?),
        Layer::Dropout(_) => {
            let mask = mask.as_ref().expect("training forward drew a mask");
            out.push(ops::elementwise::mul(gpu, dy, mask, dx)?);
        }
        // Views: the gradient buffers are the same memory.
        Layer::Flatten | Layer::Unflatten(_) => {}
    }
    Ok(())
}
