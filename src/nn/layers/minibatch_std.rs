//! StyleGAN's minibatch standard deviation layer (stylegan2-ada's `MinibatchStdLayer` with
//! `num_channels=1`): one more channel per sample, constant over the plane, holding the mean
//! over the features of their standard deviation across the sample's group. No parameters.
//! It mixes the samples of a group, so a discriminator that has it sees whether a batch is
//! varied, the signal batch normalisation gives and a LayerNorm or unnormalised critic lacks.
//! Its backward depends on its input (through d/σ), so a penalty's gradient also reaches the
//! layers below through the forward (`input_adjoint`), as LayerNorm's does.

use crate::error::{Error, Result};
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor};
use crate::nn::module::{BindCtx, Bound, Io, Module, Want};
use crate::ops;

#[derive(Clone, Debug, PartialEq)]
pub struct MinibatchStd {
    /// Samples per group (the batch's size if smaller; it must divide the batch).
    pub group: usize,
}

impl Module for MinibatchStd {
    fn torch_name(&self) -> String {
        format!("MinibatchStdLayer(group_size={}, num_channels=1)", self.group)
    }

    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        let shape = inputs[0];
        if shape.len() < 3 {
            return Err(Error::shape(self.torch_name(), format!("input {shape:?} must be [B, C, H, W]")));
        }
        ops::minibatch_std::group_for(shape[0], self.group)?;
        Ok(ops::minibatch_std::output_shape(shape))
    }

    fn bind(&self, ctx: &BindCtx, io: &Io) -> Result<Box<dyn Bound>> {
        let batch = io.x().shape()[0];
        let scratch = |name: &str, shape: &[usize]| GpuTensor::zeros(ctx.gpu, shape, DType::F32, &format!("{}.{}.{name}", ctx.tag, ctx.prefix));
        let statistic = scratch("statistic", &[batch, 1])?;
        let forward = ops::minibatch_std::forward(ctx.gpu, io.x(), self.group, &statistic, io.output)?;
        let second_order = match io.adjoint {
            Some(a) => Some(SecondOrder { adj_dx: a.input.clone(), adj_dy: a.output.clone(), adj_x: scratch("input.adjoint", io.x().shape())?, sums: scratch("adjoint sums", &[batch, 1])? }),
            None => None,
        };
        Ok(Box::new(BoundMinibatchStd {
            gpu: ctx.gpu.clone(),
            group: self.group,
            forward,
            _statistic: statistic,
            plane_grads: scratch("plane grads", &[batch, 1])?,
            x: io.x().clone(),
            dx: io.dx().clone(),
            dy: io.output_grad.clone(),
            second_order,
        }))
    }
}

/// The buffers of the backward of the backward.
struct SecondOrder {
    /// ∂P/∂dx (read), ∂P/∂dy (written), ∂P/∂x (written).
    adj_dx: GpuTensor,
    adj_dy: GpuTensor,
    adj_x: GpuTensor,
    /// Per sample, its group's Σ adj·d/(GFσ): the adjoint's value on the appended plane.
    sums: GpuTensor,
}

struct BoundMinibatchStd {
    gpu: Gpu,
    group: usize,
    forward: [Dispatch; 2],
    /// The statistic per sample (the forward's scratch; kept alive with its dispatches).
    _statistic: GpuTensor,
    /// The appended plane's gradient summed per sample, written by the backward to the input
    /// and read by the backward of the backward.
    plane_grads: GpuTensor,
    x: GpuTensor,
    dx: GpuTensor,
    dy: GpuTensor,
    second_order: Option<SecondOrder>,
}

impl Bound for BoundMinibatchStd {
    fn forward(&self) -> Vec<Dispatch> {
        self.forward.to_vec()
    }

    fn backward(&self, want: Want) -> Result<Vec<Dispatch>> {
        if !want.inputs {
            return Ok(Vec::new());
        }
        Ok(ops::minibatch_std::backward_input(&self.gpu, &self.x, &self.dy, self.group, &self.plane_grads, &self.dx)?.to_vec())
    }

    /// ∂P/∂dy (the adjoint on the first C channels, its group sum on the plane) and ∂P/∂x for
    /// the sweep below (`input_adjoint`).
    fn double_backward(&self) -> Option<Result<Vec<Dispatch>>> {
        let s = self.second_order.as_ref()?;
        Some(ops::minibatch_std::double_backward(&self.gpu, &self.x, self.group, &self.plane_grads, &s.adj_dx, &s.sums, &s.adj_dy, &s.adj_x).map(|d| d.to_vec()))
    }

    fn input_adjoint(&self) -> Option<&GpuTensor> {
        self.second_order.as_ref().map(|s| &s.adj_x)
    }
}
