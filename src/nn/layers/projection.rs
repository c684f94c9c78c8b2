//! The projection discriminator's head (Miyato & Koyama 2018): D(x, y) = ψ(φ) + ⟨E[y], φ⟩ on
//! the features φ of the layers below, ψ = Linear(F, 1) and E = Embedding(K, F). The class
//! labels are the network's second input (`BindCtx::labels`). Parameters, as a PyTorch module
//! with submodules `linear` and `embed`: `<prefix>.linear.weight` [1, F], `.linear.bias` [1],
//! `.embed.weight` [K, F].

use super::flat;
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, GpuTensor};
use crate::nn::module::{param_grad, BindCtx, Bound, Io, Module, Want};
use crate::nn::{Init, Kind, ParamSpec};
use crate::ops::projection::{self, Head};

#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    pub features: usize,
    pub classes: usize,
}

impl Module for Projection {
    fn torch_name(&self) -> String {
        format!("Projection(linear=Linear({}, 1), embed=Embedding({}, {}))", self.features, self.classes, self.features)
    }

    /// ψ as PyTorch's default Linear, U(±1/√F); E Xavier-uniform, U(±√(6/(K + F))), as the
    /// SNGAN authors' projection discriminator (nn.Embedding's default N(0, 1) would make
    /// ⟨E[y], φ⟩ √F times larger than ψ(φ) at the start).
    fn params(&self, prefix: &str, _conv_init: Init) -> Vec<ParamSpec> {
        let linear = Init::Uniform { bound: 1.0 / (self.features as f32).sqrt() };
        let embed = Init::Uniform { bound: (6.0 / (self.classes + self.features) as f32).sqrt() };
        vec![
            ParamSpec { name: format!("{prefix}.linear.weight"), shape: vec![1, self.features], kind: Kind::Trainable, init: linear },
            ParamSpec { name: format!("{prefix}.linear.bias"), shape: vec![1], kind: Kind::Trainable, init: linear },
            ParamSpec { name: format!("{prefix}.embed.weight"), shape: vec![self.classes, self.features], kind: Kind::Trainable, init: embed },
        ]
    }

    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        let shape = inputs[0];
        let per_sample: usize = shape[1..].iter().product();
        if per_sample != self.features {
            return Err(Error::shape(self.torch_name(), format!("input {shape:?} has {per_sample} features per sample, expected {}", self.features)));
        }
        Ok(vec![shape[0], 1])
    }

    fn bind(&self, ctx: &BindCtx, io: &Io) -> Result<Box<dyn Bound>> {
        let labels = ctx.labels.ok_or_else(|| Error::invalid(ctx.tag, format!("{} {} needs the class labels: build the network with nn::Instance::labelled", ctx.prefix, self.torch_name())))?;
        let batch = io.x().shape()[0];
        let phi = io.x().reshaped(&flat(io.x().shape()))?;
        let (weight, bias, embed) = (ctx.param("linear.weight")?.reshaped(&[self.features])?, ctx.param("linear.bias")?, ctx.param("embed.weight")?);
        let forward = projection::forward(ctx.gpu, &phi, labels, Head { weight: &weight, bias: &bias, embed: &embed }, &io.output.reshaped(&[batch])?, true)?;
        Ok(Box::new(BoundProjection {
            gpu: ctx.gpu.clone(),
            forward,
            labels: labels.clone(),
            phi,
            dy: io.output_grad.reshaped(&[batch])?,
            dphi: io.dx().reshaped(&flat(io.dx().shape()))?,
            weight,
            bias,
            embed,
            grads: [ctx.grad("linear.weight")?.map(|w| w.reshaped(&[self.features])).transpose()?, ctx.grad("linear.bias")?, ctx.grad("embed.weight")?],
            adjoint: match io.adjoint {
                Some(a) => Some((a.input.reshaped(&flat(a.input.shape()))?, a.output.reshaped(&[batch])?)),
                None => None,
            },
        }))
    }
}

struct BoundProjection {
    gpu: Gpu,
    forward: Dispatch,
    labels: GpuTensor,
    /// φ [B, F] and the gradients of φ and of the output [B].
    phi: GpuTensor,
    dy: GpuTensor,
    dphi: GpuTensor,
    weight: GpuTensor,
    bias: GpuTensor,
    embed: GpuTensor,
    /// dw [F], dbias [1], dE [K, F]; None in a weights-only store.
    grads: [Option<GpuTensor>; 3],
    /// (∂P/∂dφ read, ∂P/∂dy written) for a backward of the backward.
    adjoint: Option<(GpuTensor, GpuTensor)>,
}

impl BoundProjection {
    fn head(&self) -> Head<'_> {
        Head { weight: &self.weight, bias: &self.bias, embed: &self.embed }
    }

    fn grad_head(&self) -> Result<Head<'_>> {
        let [w, b, e] = &self.grads;
        Ok(Head { weight: param_grad(w)?, bias: param_grad(b)?, embed: param_grad(e)? })
    }
}

impl Bound for BoundProjection {
    fn forward(&self) -> Vec<Dispatch> {
        vec![self.forward.clone()]
    }

    fn backward(&self, want: Want) -> Result<Vec<Dispatch>> {
        let mut out = Vec::new();
        if want.inputs {
            out.push(projection::backward_input(&self.gpu, &self.dy, &self.labels, self.head(), &self.dphi)?);
        }
        if want.params {
            out.push(projection::backward_params(&self.gpu, &self.dy, &self.labels, &self.phi, self.grad_head()?, true)?);
        }
        Ok(out)
    }

    /// dφ = dy·(w + E[y]) is linear in dy and does not depend on φ: the adjoint to dy is the
    /// forward without bias on the adjoint A = ∂P/∂dφ, and P's parameter gradients are the
    /// parameter backward with A in place of φ (no bias: dφ does not depend on it).
    fn double_backward(&self) -> Option<Result<Vec<Dispatch>>> {
        let (adj_dphi, adj_dy) = self.adjoint.as_ref()?;
        Some((|| {
            Ok(vec![
                projection::forward(&self.gpu, adj_dphi, &self.labels, self.head(), adj_dy, false)?,
                projection::backward_params(&self.gpu, &self.dy, &self.labels, adj_dphi, self.grad_head()?, false)?,
            ])
        })())
    }
}
