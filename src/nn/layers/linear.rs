//! `nn.Linear`: y = x·Wᵀ + b; weight [out, in], bias [out]. The input is flattened per sample.

use super::flat;
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, GpuTensor};
use crate::nn::module::{param_grad, BindCtx, Bound, Io, Module, Want};
use crate::nn::{Init, Kind, ParamSpec};
use crate::ops::{self, matmul::MatmulSpec};

#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    pub in_features: usize,
    pub out_features: usize,
    pub bias: bool,
}

impl Module for Linear {
    fn torch_name(&self) -> String {
        format!("Linear({}, {}, bias={})", self.in_features, self.out_features, self.bias)
    }

    /// PyTorch's default initialisation, U(±1/√fan_in) for both (kaiming_uniform(a = √5)).
    fn params(&self, prefix: &str, _conv_init: Init) -> Vec<ParamSpec> {
        let init = Init::Uniform { bound: 1.0 / (self.in_features as f32).sqrt() };
        let mut v = vec![ParamSpec { name: format!("{prefix}.weight"), shape: vec![self.out_features, self.in_features], kind: Kind::Trainable, init }];
        if self.bias {
            v.push(ParamSpec { name: format!("{prefix}.bias"), shape: vec![self.out_features], kind: Kind::Trainable, init });
        }
        v
    }

    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        let shape = inputs[0];
        let per_sample: usize = shape[1..].iter().product();
        if per_sample != self.in_features {
            return Err(Error::shape(self.torch_name(), format!("input {shape:?} has {per_sample} features per sample, expected {}", self.in_features)));
        }
        Ok(vec![shape[0], self.out_features])
    }

    fn bind(&self, ctx: &BindCtx, io: &Io) -> Result<Box<dyn Bound>> {
        let (x, y) = (io.x().reshaped(&flat(io.x().shape()))?, io.output.reshaped(&flat(io.output.shape()))?);
        let (batch, in_f, out_f) = (x.shape()[0], x.shape()[1], y.shape()[1]);
        let weight = ctx.param("weight")?;
        let bias = if self.bias { Some(ctx.param("bias")?) } else { None };
        let spec = MatmulSpec { trans_b: true, ..MatmulSpec::new(batch, out_f, in_f) };
        let forward = ops::matmul::matmul(ctx.gpu, &spec, &x, &weight, bias.as_ref(), &y, None)?;
        Ok(Box::new(BoundLinear {
            gpu: ctx.gpu.clone(),
            forward,
            dims: (batch, in_f, out_f),
            dy: io.output_grad.reshaped(&flat(io.output_grad.shape()))?,
            dx: io.dx().reshaped(&flat(io.dx().shape()))?,
            x,
            weight,
            dweight: ctx.grad("weight")?,
            dbias: if self.bias { ctx.grad("bias")? } else { None },
            adjoint: match io.adjoint {
                Some(a) => Some((a.input.reshaped(&flat(a.input.shape()))?, a.output.reshaped(&flat(a.output.shape()))?)),
                None => None,
            },
        }))
    }
}

struct BoundLinear {
    gpu: Gpu,
    forward: Dispatch,
    dims: (usize, usize, usize),
    x: GpuTensor,
    dy: GpuTensor,
    dx: GpuTensor,
    weight: GpuTensor,
    dweight: Option<GpuTensor>,
    dbias: Option<GpuTensor>,
    /// (∂P/∂dx read, ∂P/∂dy written) for a backward of the backward, flattened.
    adjoint: Option<(GpuTensor, GpuTensor)>,
}

impl Bound for BoundLinear {
    fn forward(&self) -> Vec<Dispatch> {
        vec![self.forward.clone()]
    }

    fn backward(&self, want: Want) -> Result<Vec<Dispatch>> {
        let (batch, in_f, out_f) = self.dims;
        let mut out = Vec::new();
        if want.inputs {
            // dx [B, in] = dy [B, out] · W [out, in]
            out.push(ops::matmul::matmul(&self.gpu, &MatmulSpec::new(batch, in_f, out_f), &self.dy, &self.weight, None, &self.dx, None)?);
        }
        if want.params {
            // dW [out, in] += dyᵀ · x
            let spec = MatmulSpec { trans_a: true, beta: 1.0, ..MatmulSpec::new(out_f, in_f, batch) };
            out.push(ops::matmul::matmul(&self.gpu, &spec, &self.dy, &self.x, None, param_grad(&self.dweight)?, None)?);
            if let Some(db) = &self.dbias {
                out.push(ops::reduce::sum_channels(&self.gpu, "linear.backward_bias", &self.dy, db, true)?);
            }
        }
        Ok(out)
    }

    /// dx = dy·W: the adjoint to dy is adj·Wᵀ (the forward without bias), to W it is dyᵀ·adj.
    fn double_backward(&self) -> Option<Result<Vec<Dispatch>>> {
        let (adj_dx, adj_dy) = self.adjoint.as_ref()?;
        let (batch, in_f, out_f) = self.dims;
        Some((|| {
            let forward = MatmulSpec { trans_b: true, ..MatmulSpec::new(batch, out_f, in_f) };
            let weight = MatmulSpec { trans_a: true, beta: 1.0, ..MatmulSpec::new(out_f, in_f, batch) };
            Ok(vec![
                ops::matmul::matmul(&self.gpu, &forward, adj_dx, &self.weight, None, adj_dy, None)?,
                ops::matmul::matmul(&self.gpu, &weight, &self.dy, adj_dx, None, param_grad(&self.dweight)?, None)?,
            ])
        })())
    }
}
