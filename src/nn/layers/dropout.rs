//! `nn.Dropout(p)`: in training, each element is zeroed with probability p and the rest scaled
//! by 1/(1 − p), with a mask drawn from the Philox stream of (seed, network, layer) at the
//! GPU's dropout counter; in eval mode it is the identity (a view).

use crate::error::Result;
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor};
use crate::nn::module::{BindCtx, Bound, Io, Module, NoPass, Want};
use crate::nn::{params, Mode};
use crate::ops::{self, random::RngKey};

#[derive(Clone, Debug, PartialEq)]
pub struct Dropout {
    pub p: f32,
}

impl Module for Dropout {
    fn torch_name(&self) -> String {
        format!("Dropout({})", self.p)
    }

    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        Ok(inputs[0].to_vec())
    }

    fn is_view(&self, mode: Mode) -> bool {
        mode == Mode::Eval
    }

    fn bind(&self, ctx: &BindCtx, io: &Io) -> Result<Box<dyn Bound>> {
        if ctx.mode == Mode::Eval {
            return Ok(Box::new(NoPass));
        }
        let mask = GpuTensor::zeros(ctx.gpu, io.x().shape(), DType::F32, &format!("{}.{}.mask", ctx.tag, ctx.prefix))?;
        let key = RngKey { seed: ctx.dropout.seed, stream: params::stream_of(&format!("{}.{}.dropout", ctx.net, ctx.prefix)), counter_index: ctx.dropout.counter_index };
        let forward = ops::random::dropout_forward(ctx.gpu, self.p, key, ctx.counters, io.x(), io.output, &mask)?;
        Ok(Box::new(BoundDropout { gpu: ctx.gpu.clone(), forward, mask, dx: io.dx().clone(), dy: io.output_grad.clone() }))
    }
}

struct BoundDropout {
    gpu: Gpu,
    forward: Dispatch,
    mask: GpuTensor,
    dx: GpuTensor,
    dy: GpuTensor,
}

impl Bound for BoundDropout {
    fn forward(&self) -> Vec<Dispatch> {
        vec![self.forward.clone()]
    }

    fn backward(&self, want: Want) -> Result<Vec<Dispatch>> {
        if !want.inputs {
            return Ok(Vec::new());
        }
        Ok(vec![ops::elementwise::mul(&self.gpu, &self.dy, &self.mask, &self.dx)?])
    }
}
