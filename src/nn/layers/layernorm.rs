//! `nn.LayerNorm([C, H, W])`: weight (γ) and bias (β) of the sample's shape, statistics per
//! sample — no running statistics, the same in training and evaluation, and no mixing of the
//! samples of a batch, so a gradient penalty's per-sample input gradient is the sample's own
//! (the normalisation the WGAN-GP paper suggests in place of batch norm).

use crate::error::{Error, Result};
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor};
use crate::nn::module::{param_grad, BindCtx, Bound, Io, Module, Want};
use crate::nn::{Init, Kind, ParamSpec};
use crate::ops;

#[derive(Clone, Debug, PartialEq)]
pub struct LayerNorm {
    /// The normalised shape: every dimension after the batch.
    pub shape: Vec<usize>,
}

impl Module for LayerNorm {
    fn torch_name(&self) -> String {
        let dims: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
        format!("LayerNorm(({},), eps={:e}, elementwise_affine=True)", dims.join(", "), ops::layernorm::EPS)
    }

    /// γ = 1 and β = 0, PyTorch's initialisation.
    fn params(&self, prefix: &str, _conv_init: Init) -> Vec<ParamSpec> {
        let p = |name: &str, v| ParamSpec { name: format!("{prefix}.{name}"), shape: self.shape.clone(), kind: Kind::Trainable, init: Init::Constant(v) };
        vec![p("weight", 1.0), p("bias", 0.0)]
    }

    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        let shape = inputs[0];
        if shape.len() < 2 || shape[1..] != self.shape[..] {
            return Err(Error::shape(self.torch_name(), format!("input {shape:?} is not [B, {:?}]", self.shape)));
        }
        Ok(shape.to_vec())
    }

    fn bind(&self, ctx: &BindCtx, io: &Io) -> Result<Box<dyn Bound>> {
        let (gamma, beta) = (ctx.param("weight")?, ctx.param("bias")?);
        let batch = io.x().shape()[0];
        let scratch = |name: &str, shape: &[usize]| GpuTensor::zeros(ctx.gpu, shape, DType::F32, &format!("{}.{}.{name}", ctx.tag, ctx.prefix));
        let saved = scratch("saved", &[batch, 2])?;
        let forward = ops::layernorm::forward(ctx.gpu, io.x(), &gamma, &beta, io.output, &saved)?;
        let second_order = match io.adjoint {
            Some(a) => Some(SecondOrder { adj_dx: a.input.clone(), adj_dy: a.output.clone(), adj_x: scratch("input.adjoint", io.x().shape())?, sums: scratch("sums", &[batch, 2])? }),
            None => None,
        };
        Ok(Box::new(BoundLayerNorm {
            gpu: ctx.gpu.clone(),
            forward,
            saved,
            x: io.x().clone(),
            dx: io.dx().clone(),
            dy: io.output_grad.clone(),
            gamma,
            dgamma: ctx.grad("weight")?,
            dbeta: ctx.grad("bias")?,
            second_order,
        }))
    }
}

/// The buffers of the backward of the backward.
struct SecondOrder {
    /// ∂P/∂dx (read), ∂P/∂dy (written).
    adj_dx: GpuTensor,
    adj_dy: GpuTensor,
    /// ∂P/∂x (written): this backward depends on x, so P reaches the layers below through it.
    adj_x: GpuTensor,
    /// Per-sample (ā, s_a/N) from the first kernel to the second.
    sums: GpuTensor,
}

struct BoundLayerNorm {
    gpu: Gpu,
    forward: Dispatch,
    /// (μ, 1/σ) per sample from the forward.
    saved: GpuTensor,
    x: GpuTensor,
    dx: GpuTensor,
    dy: GpuTensor,
    gamma: GpuTensor,
    dgamma: Option<GpuTensor>,
    dbeta: Option<GpuTensor>,
    second_order: Option<SecondOrder>,
}

impl Bound for BoundLayerNorm {
    fn forward(&self) -> Vec<Dispatch> {
        vec![self.forward.clone()]
    }

    fn backward(&self, want: Want) -> Result<Vec<Dispatch>> {
        let mut out = Vec::new();
        if want.params {
            out.push(ops::layernorm::backward_params(&self.gpu, &self.x, &self.dy, &self.saved, param_grad(&self.dgamma)?, param_grad(&self.dbeta)?)?);
        }
        if want.inputs {
            out.push(ops::layernorm::backward_input(&self.gpu, &self.x, &self.dy, &self.gamma, &self.saved, &self.dx)?);
        }
        Ok(out)
    }

    /// ∂P/∂dy and ∂P/∂γ (β does not enter dx), and ∂P/∂x for the sweep below (`input_adjoint`).
    fn double_backward(&self) -> Option<Result<Vec<Dispatch>>> {
        let s = self.second_order.as_ref()?;
        Some((|| {
            let d = ops::layernorm::double_backward(&self.gpu, &self.x, &self.dy, &self.gamma, &self.saved, &s.adj_dx, &s.adj_dy, &s.adj_x, &s.sums, param_grad(&self.dgamma)?)?;
            Ok(d.to_vec())
        })())
    }

    fn input_adjoint(&self) -> Option<&GpuTensor> {
        self.second_order.as_ref().map(|s| &s.adj_x)
    }
}
