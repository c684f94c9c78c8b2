//! A conditional network's class label, appended to its input outside `main` (as PyTorch's
//! cGANs do with `torch.cat` before `main`): as K one-hot channels, or — with a learned
//! embedding (`--label-embedding N`, an `nn.Embedding(K, N)` named `label_emb`) — as the N
//! channels of E[y]. A channel is a constant plane over the input's trailing dims: one value
//! for z [B, nz, 1, 1] or a flat MLP input, H·W for an image.
//!
//! [`LabelInput`] binds the code to a network's store and prepares its passes: the forward
//! (labels.wgsl's one-hot concatenation, or embedding.wgsl's gather and plane concatenation),
//! the gradient to the input (the label channels dropped), and the embedding's gradient from
//! the network's input gradient (plane sums, then the fixed-order scatter-add into
//! `label_emb.weight`'s gradient). Each call allocates its own scratch, so passes prepared for
//! different batches (real, fake, mismatched) never share a buffer.

use crate::error::{Error, Result};
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor};
use crate::nn::{Init, Kind, NetSpec, ParamSpec, ParamStore};
use crate::ops;

/// The state-dict key of the embedding table.
pub const LABEL_EMBEDDING: &str = "label_emb.weight";

/// `nn.Embedding(classes, dim)`: the table a network's label input reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelEmbedding {
    pub classes: usize,
    pub dim: usize,
}

impl LabelEmbedding {
    /// The table [K, N], initialised N(0, 1) as PyTorch's `nn.Embedding`.
    pub fn param(&self) -> ParamSpec {
        ParamSpec { name: LABEL_EMBEDDING.into(), shape: vec![self.classes, self.dim], kind: Kind::Trainable, init: Init::Normal { mean: 0.0, std: 1.0 } }
    }
}

/// A network's label input, bound to its store: one-hot, or the embedding table (and its
/// gradient, None in a weights-only store).
pub struct LabelInput {
    classes: usize,
    table: Option<(GpuTensor, Option<GpuTensor>)>,
}

impl LabelInput {
    /// The label input of `spec` with `classes` classes: its embedding (bound to `store`)
    /// where the spec has one, one-hot otherwise.
    pub fn new(spec: &NetSpec, store: &ParamStore, classes: usize) -> Result<LabelInput> {
        let table = match spec.label_embedding {
            Some(e) if e.classes != classes => return Err(Error::shape(&spec.name, format!("its label embedding has {} classes, the model {classes}", e.classes))),
            Some(_) => Some((store.param(LABEL_EMBEDDING)?, if store.has_gradients() { Some(store.grad(LABEL_EMBEDDING)?) } else { None })),
            None => None,
        };
        Ok(LabelInput { classes, table })
    }

    /// The channels the label adds: N with an embedding, K one-hot.
    pub fn width(&self) -> usize {
        self.table.as_ref().map_or(self.classes, |(t, _)| t.shape()[1])
    }

    /// Whether the code has parameters (whose gradient needs the network's input gradient).
    pub fn learned(&self) -> bool {
        self.table.is_some()
    }

    /// out [B, C + width, ...] = cat(x [B, C, ...], code(labels)), overwritten.
    pub fn forward(&self, gpu: &Gpu, x: &GpuTensor, labels: &GpuTensor, out: &GpuTensor) -> Result<Vec<Dispatch>> {
        match &self.table {
            None => Ok(vec![ops::labels::concat_one_hot(gpu, x, labels, self.classes, out)?]),
            Some((table, _)) => {
                let vectors = GpuTensor::zeros(gpu, &[x.shape()[0], self.width()], DType::F32, "label_emb.out")?;
                Ok(vec![ops::embedding::forward(gpu, labels, table, &vectors)?, ops::embedding::concat_planes(gpu, x, &vectors, out)?])
            }
        }
    }

    /// dx [B, C, ...] = dout without the label channels, overwritten.
    pub fn backward_input(&self, gpu: &Gpu, dout: &GpuTensor, dx: &GpuTensor) -> Result<Dispatch> {
        // Dropping the last `width` channels is the one-hot concatenation's gradient for any width.
        ops::labels::concat_one_hot_backward(gpu, dout, self.width(), dx)
    }

    /// The embedding's gradient from the network's input gradient `dout` [B, C + N, ...] for
    /// the batch of `labels` whose unlabelled input was `x_shape` [B, C, ...], accumulated (+=)
    /// into `label_emb.weight`'s gradient. Nothing for one-hot.
    pub fn backward_params(&self, gpu: &Gpu, dout: &GpuTensor, x_shape: &[usize], labels: &GpuTensor) -> Result<Vec<Dispatch>> {
        let Some((_, grad)) = &self.table else { return Ok(Vec::new()) };
        let grad = crate::nn::module::param_grad(grad)?;
        let dvectors = GpuTensor::zeros(gpu, &[x_shape[0], self.width()], DType::F32, "label_emb.out.grad")?;
        Ok(vec![ops::embedding::concat_planes_backward(gpu, dout, x_shape, &dvectors)?, ops::embedding::backward(gpu, labels, &dvectors, grad)?])
    }
}
