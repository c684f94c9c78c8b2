//! `nn.ReLU`, `nn.LeakyReLU`, `nn.Tanh`, `nn.Sigmoid`: elementwise, shape-preserving. The
//! backward reads the input (ReLU, LeakyReLU) or the output (Tanh, Sigmoid), whichever the
//! derivative is cheaper from.

use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, GpuTensor};
use crate::nn::module::{BindCtx, Bound, Io, Module, Want};
use crate::ops::{self, activation::Activation};

#[derive(Clone, Debug, PartialEq)]
pub struct ActivationLayer(pub Activation);

impl Module for ActivationLayer {
    fn torch_name(&self) -> String {
        match self.0 {
            Activation::Relu => "ReLU()".into(),
            Activation::LeakyRelu(s) => format!("LeakyReLU({s})"),
            Activation::Tanh => "Tanh()".into(),
            Activation::Sigmoid => "Sigmoid()".into(),
        }
    }

    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        Ok(inputs[0].to_vec())
    }

    fn bind(&self, ctx: &BindCtx, io: &Io) -> Result<Box<dyn Bound>> {
        Ok(Box::new(BoundActivation {
            gpu: ctx.gpu.clone(),
            act: self.0,
            forward: ops::activation::forward(ctx.gpu, self.0, io.x(), io.output)?,
            saved: if self.0.backward_uses_output() { io.output.clone() } else { io.x().clone() },
            dx: io.dx().clone(),
            dy: io.output_grad.clone(),
            adjoint: io.adjoint.map(|a| (a.input.clone(), a.output.clone())),
        }))
    }
}

struct BoundActivation {
    gpu: Gpu,
    act: Activation,
    forward: Dispatch,
    saved: GpuTensor,
    dx: GpuTensor,
    dy: GpuTensor,
    adjoint: Option<(GpuTensor, GpuTensor)>,
}

impl Bound for BoundActivation {
    fn forward(&self) -> Vec<Dispatch> {
        vec![self.forward.clone()]
    }

    fn backward(&self, want: Want) -> Result<Vec<Dispatch>> {
        if !want.inputs {
            return Ok(Vec::new());
        }
        Ok(vec![ops::activation::backward(&self.gpu, self.act, &self.dy, &self.saved, &self.dx)?])
    }

    /// ReLU and LeakyReLU: dx = f'(x) ⊙ dy with f' piecewise constant, so the adjoint to dy is
    /// f'(x) ⊙ adj (the same backward kernel) and nothing flows to x. Tanh and Sigmoid have a
    /// second derivative: not supported (a penalty through them is refused).
    fn double_backward(&self) -> Option<Result<Vec<Dispatch>>> {
        let (adj_dx, adj_dy) = self.adjoint.as_ref()?;
        if !matches!(self.act, Activation::Relu | Activation::LeakyRelu(_)) {
            return None;
        }
        Some(ops::activation::backward(&self.gpu, self.act, adj_dx, &self.saved, adj_dy).map(|d| vec![d]))
    }
}
