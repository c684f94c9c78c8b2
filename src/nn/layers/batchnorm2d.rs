//! `nn.BatchNorm2d`: weight (γ) [C], bias (β) [C], running_mean [C], running_var [C].
//! Training mode normalises with the batch statistics (saved for the backward) and updates the
//! running ones; eval mode uses the running ones.

use crate::error::{Error, Result};
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor};
use crate::nn::module::{BindCtx, Bound, Io, Module, Want};
use crate::nn::{Init, Kind, Mode, ParamSpec};
use crate::ops::{self, batchnorm::BnConfig};

#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm2d {
    pub channels: usize,
}

impl Module for BatchNorm2d {
    fn torch_name(&self) -> String {
        format!("BatchNorm2d({})", self.channels)
    }

    /// γ ~ N(1, 0.02) and β = 0 as DCGAN initialises them; running statistics (0, 1).
    fn params(&self, prefix: &str, _conv_init: Init) -> Vec<ParamSpec> {
        let c = self.channels;
        let p = |name: &str, kind, init| ParamSpec { name: format!("{prefix}.{name}"), shape: vec![c], kind, init };
        vec![
            p("weight", Kind::Trainable, Init::Normal { mean: 1.0, std: 0.02 }),
            p("bias", Kind::Trainable, Init::Constant(0.0)),
            p("running_mean", Kind::Buffer, Init::Constant(0.0)),
            p("running_var", Kind::Buffer, Init::Constant(1.0)),
        ]
    }

    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        let shape = inputs[0];
        if shape.len() < 2 || shape[1] != self.channels {
            return Err(Error::shape(self.torch_name(), format!("input {shape:?} does not have {} channels", self.channels)));
        }
        Ok(shape.to_vec())
    }

    fn bind(&self, ctx: &BindCtx, io: &Io) -> Result<Box<dyn Bound>> {
        let bn = BnConfig::default();
        let (gamma, beta) = (ctx.param("weight")?, ctx.param("bias")?);
        let (rm, rv) = (ctx.param("running_mean")?, ctx.param("running_var")?);
        let (forward, saved) = match ctx.mode {
            Mode::Train => {
                let saved = GpuTensor::zeros(ctx.gpu, &[2, self.channels], DType::F32, &format!("{}.{}.saved", ctx.tag, ctx.prefix))?;
                (ops::batchnorm::forward_train(ctx.gpu, &bn, io.x(), &gamma, &beta, io.output, &saved, &rm, &rv, true)?, Some(saved))
            }
            Mode::Eval => (ops::batchnorm::forward_eval(ctx.gpu, &bn, io.x(), &gamma, &beta, &rm, &rv, io.output)?, None),
        };
        Ok(Box::new(BoundBatchNorm {
            gpu: ctx.gpu.clone(),
            forward,
            saved,
            x: io.x().clone(),
            dx: io.dx().clone(),
            dy: io.output_grad.clone(),
            gamma,
            grads: ctx.grad("weight")?.zip(ctx.grad("bias")?),
            prefix: ctx.prefix.clone(),
            channels: self.channels,
        }))
    }
}

struct BoundBatchNorm {
    gpu: Gpu,
    forward: Dispatch,
    /// The batch mean and 1/σ of the training forward (None in eval mode).
    saved: Option<GpuTensor>,
    x: GpuTensor,
    dx: GpuTensor,
    dy: GpuTensor,
    gamma: GpuTensor,
    /// dγ, dβ; None in a weights-only store.
    grads: Option<(GpuTensor, GpuTensor)>,
    prefix: String,
    channels: usize,
}

impl Bound for BoundBatchNorm {
    fn forward(&self) -> Vec<Dispatch> {
        vec![self.forward.clone()]
    }

    fn backward(&self, want: Want) -> Result<Vec<Dispatch>> {
        if !want.params && !want.inputs {
            return Ok(Vec::new());
        }
        let saved = self.saved.as_ref().ok_or_else(|| Error::invalid(&self.prefix, "a backward needs the training-mode forward's statistics"))?;
        // One kernel computes dx, dγ and dβ; when this network is not being updated, dγ and dβ
        // go to scratch so its gradients stay untouched.
        let (dgamma, dbeta) = if want.params {
            self.grads.clone().ok_or_else(|| Error::invalid(&self.prefix, "parameter gradients of a network whose store holds weights only (ParamStore::weights_only)"))?
        } else {
            let z = |n: &str| GpuTensor::zeros(&self.gpu, &[self.channels], DType::F32, &format!("{}.{n}.discarded", self.prefix));
            (z("dgamma")?, z("dbeta")?)
        };
        Ok(vec![ops::batchnorm::backward(&self.gpu, &BnConfig::default(), &self.x, &self.dy, &self.gamma, saved, &self.dx, &dgamma, &dbeta)?])
    }
}
