//! What every node of a network is: a [`Module`] describes a layer (its parameters, its
//! output shape, its PyTorch name); bound to tensors it becomes a [`Bound`] that owns its saved
//! state (BatchNorm statistics, dropout masks) and prepares its passes. Each pass is recorded
//! separately — forward, backward to the parameters, backward to the inputs — so a training
//! program can ask for exactly the gradients it needs (D's update wants both; the pass through
//! D in G's update wants only the input gradient), and a later pass (the gradient penalty's
//! backward of the backward) can be added per module without touching the others.
//!
//! Inputs are slices so that a node with several inputs (concatenation, a projection) has the
//! same shape of interface as a layer with one.

use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, GpuTensor};

use super::{DropoutRng, Init, Mode, ParamSpec, ParamStore};

/// Everything a module needs to bind itself: the device, its network's parameters, the mode,
/// where dropout draws its masks, and its names (`prefix` is its state-dict prefix, e.g.
/// `main.3`; `tag` labels its buffers).
pub struct BindCtx<'a> {
    pub gpu: &'a Gpu,
    pub store: &'a ParamStore,
    pub mode: Mode,
    pub counters: &'a GpuTensor,
    pub dropout: DropoutRng,
    /// The network's name ("generator", "discriminator"): part of dropout's stream id.
    pub net: &'a str,
    pub tag: &'a str,
    pub prefix: String,
    /// The tensor (and its gradient) that stands in for `<prefix>.weight`: spectral
    /// normalisation binds the layer it wraps to W/σ instead of the stored weight.
    pub weight: Option<(GpuTensor, Option<GpuTensor>)>,
    /// The class labels (u32 [B]) of a network with a label input (the projection head).
    pub labels: Option<&'a GpuTensor>,
}

impl BindCtx<'_> {
    /// The tensor `<prefix>.<name>` of the store (weights, or a running statistic).
    pub fn param(&self, name: &str) -> Result<GpuTensor> {
        if let (Some((w, _)), "weight") = (&self.weight, name) {
            return Ok(w.clone());
        }
        self.store.param(&format!("{}.{name}", self.prefix))
    }

    /// The gradient of `<prefix>.<name>`; None in a store that holds weights only.
    pub fn grad(&self, name: &str) -> Result<Option<GpuTensor>> {
        if let (Some((_, g)), "weight") = (&self.weight, name) {
            return Ok(g.clone());
        }
        if !self.store.has_gradients() {
            return Ok(None);
        }
        self.store.grad(&format!("{}.{name}", self.prefix)).map(Some)
    }
}

/// A parameter gradient a backward to the parameters needs: an error for a network bound to
/// a weights-only store (a sampler, a feature extractor, the generator's moving average).
pub fn param_grad(grad: &Option<GpuTensor>) -> Result<&GpuTensor> {
    grad.as_ref().ok_or_else(|| crate::error::Error::invalid("backward", "parameter gradients of a network whose store holds weights only (ParamStore::weights_only)"))
}

/// The tensors a module is bound to: its inputs, its output, and their gradients.
pub struct Io<'a> {
    pub inputs: &'a [GpuTensor],
    pub output: &'a GpuTensor,
    pub input_grads: &'a [GpuTensor],
    pub output_grad: &'a GpuTensor,
    /// For a backward of the backward (gradient penalties): the adjoints of the gradients.
    pub adjoint: Option<Adjoint<'a>>,
}

/// The adjoints a backward of the backward works on, for a penalty P of the network's input
/// gradient: `input` = ∂P/∂(∂L/∂input) (read), `output` = ∂P/∂(∂L/∂output) (written).
#[derive(Clone, Copy)]
pub struct Adjoint<'a> {
    pub input: &'a GpuTensor,
    pub output: &'a GpuTensor,
}

impl Io<'_> {
    /// The only input of a single-input module.
    pub fn x(&self) -> &GpuTensor {
        &self.inputs[0]
    }

    pub fn dx(&self) -> &GpuTensor {
        &self.input_grads[0]
    }
}

/// Which gradients a backward pass computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Want {
    /// Accumulate the parameters' gradients (+=) into the store.
    pub params: bool,
    /// Write the inputs' gradients (=).
    pub inputs: bool,
}

pub trait Module: std::fmt::Debug {
    /// The PyTorch module this mirrors, as PyTorch prints it.
    fn torch_name(&self) -> String;

    /// Its tensors under `prefix` with their shapes and initialisation.
    fn params(&self, _prefix: &str, _conv_init: Init) -> Vec<ParamSpec> {
        Vec::new()
    }

    /// The output shape for inputs of these shapes ([B, ...] each), or why they do not fit.
    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>>;

    /// Whether the output is the input's memory viewed in another shape (no dispatch, and the
    /// gradients share memory too).
    fn is_view(&self, _mode: Mode) -> bool {
        false
    }

    /// Prepare the passes of this module on these tensors (allocating its saved state).
    fn bind(&self, ctx: &BindCtx, io: &Io) -> Result<Box<dyn Bound>>;
}

/// A module bound to its tensors.
pub trait Bound {
    /// The forward pass (in the mode it was bound in).
    fn forward(&self) -> Vec<Dispatch>;

    /// The backward pass for `want`; nothing when neither is wanted.
    fn backward(&self, want: Want) -> Result<Vec<Dispatch>>;

    /// The backward of the backward: this module's backward-to-inputs maps ∂L/∂output to
    /// ∂L/∂input; given the adjoint of its result (`Adjoint::input`), write the adjoint of its
    /// argument (`Adjoint::output`, =) and accumulate P's gradient into the parameters (+=).
    /// Bound with an `Adjoint` only. The default: this module has none (a penalty through it
    /// is refused when the network is built).
    fn double_backward(&self) -> Option<Result<Vec<Dispatch>>> {
        None
    }

    /// ∂P/∂input, written by `double_backward`, for a module whose backward-to-inputs depends
    /// on its input other than through a piecewise-constant mask (LayerNorm): P then also
    /// reaches the layers below through the forward, and the network runs one more backward
    /// from here down (`Instance::double_backward`). None for every other module.
    fn input_adjoint(&self) -> Option<&GpuTensor> {
        None
    }
}

/// The bound form of a view or an identity: no pass at all.
pub struct NoPass;

impl Bound for NoPass {
    fn forward(&self) -> Vec<Dispatch> {
        Vec::new()
    }

    fn backward(&self, _want: Want) -> Result<Vec<Dispatch>> {
        Ok(Vec::new())
    }

    /// A view's adjoints are views of each other too.
    fn double_backward(&self) -> Option<Result<Vec<Dispatch>>> {
        Some(Ok(Vec::new()))
    }
}
