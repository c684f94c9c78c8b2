//! `nn.Conv2d`: weight [C_out, C_in, K, K], bias [C_out].

use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, GpuTensor};
use crate::nn::module::{param_grad, BindCtx, Bound, Io, Module, Want};
use crate::nn::{Init, Kind, ParamSpec};
use crate::ops::{self, conv2d::Conv2dSpec};

#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d {
    pub c_in: usize,
    pub c_out: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub bias: bool,
}

impl Conv2d {
    fn spec(&self) -> Conv2dSpec {
        Conv2dSpec { stride: self.stride, padding: self.padding }
    }
}

impl Module for Conv2d {
    fn torch_name(&self) -> String {
        format!("Conv2d({}, {}, {}, {}, {}, bias={})", self.c_in, self.c_out, self.kernel, self.stride, self.padding, self.bias)
    }

    fn params(&self, prefix: &str, conv_init: Init) -> Vec<ParamSpec> {
        let mut v = vec![ParamSpec { name: format!("{prefix}.weight"), shape: vec![self.c_out, self.c_in, self.kernel, self.kernel], kind: Kind::Trainable, init: conv_init }];
        if self.bias {
            v.push(ParamSpec { name: format!("{prefix}.bias"), shape: vec![self.c_out], kind: Kind::Trainable, init: Init::Constant(0.0) });
        }
        v
    }

    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        let w = [self.c_out, self.c_in, self.kernel, self.kernel];
        Ok(ops::conv2d::Conv2dShape::new(&self.spec(), inputs[0], &w)?.output().to_vec())
    }

    fn bind(&self, ctx: &BindCtx, io: &Io) -> Result<Box<dyn Bound>> {
        let weight = ctx.param("weight")?;
        let bias = if self.bias { Some(ctx.param("bias")?) } else { None };
        let forward = ops::conv2d::forward(ctx.gpu, &self.spec(), io.x(), &weight, bias.as_ref(), io.output, None)?;
        Ok(Box::new(BoundConv2d {
            gpu: ctx.gpu.clone(),
            spec: self.spec(),
            forward,
            x: io.x().clone(),
            dx: io.dx().clone(),
            dy: io.output_grad.clone(),
            weight,
            dweight: ctx.grad("weight")?,
            dbias: if self.bias { ctx.grad("bias")? } else { None },
            adjoint: io.adjoint.map(|a| (a.input.clone(), a.output.clone())),
        }))
    }
}

struct BoundConv2d {
    gpu: Gpu,
    spec: Conv2dSpec,
    forward: Vec<Dispatch>,
    x: GpuTensor,
    dx: GpuTensor,
    dy: GpuTensor,
    weight: GpuTensor,
    dweight: Option<GpuTensor>,
    dbias: Option<GpuTensor>,
    /// (∂P/∂dx read, ∂P/∂dy written) for a backward of the backward.
    adjoint: Option<(GpuTensor, GpuTensor)>,
}

impl Bound for BoundConv2d {
    fn forward(&self) -> Vec<Dispatch> {
        self.forward.clone()
    }

    fn backward(&self, want: Want) -> Result<Vec<Dispatch>> {
        let mut out = Vec::new();
        if want.params {
            out.extend(ops::conv2d::backward_weight(&self.gpu, &self.spec, &self.x, &self.dy, param_grad(&self.dweight)?, None)?);
            if let Some(db) = &self.dbias {
                out.push(ops::conv2d::backward_bias(&self.gpu, &self.dy, db)?);
            }
        }
        if want.inputs {
            out.extend(ops::conv2d::backward_input(&self.gpu, &self.spec, &self.dy, &self.weight, &self.dx, None)?);
        }
        Ok(out)
    }

    /// dx = backward_input(dy, W) is bilinear in (dy, W): its adjoint to dy is the forward
    /// on the adjoint (no bias), its adjoint to W the weight gradient with the adjoint as input.
    fn double_backward(&self) -> Option<Result<Vec<Dispatch>>> {
        let (adj_dx, adj_dy) = self.adjoint.as_ref()?;
        Some((|| {
            let mut d = ops::conv2d::forward(&self.gpu, &self.spec, adj_dx, &self.weight, None, adj_dy, None)?;
            d.extend(ops::conv2d::backward_weight(&self.gpu, &self.spec, adj_dx, &self.dy, param_grad(&self.dweight)?, None)?);
            Ok(d)
        })())
    }
}
