//! Spectral normalisation of a Conv2d or Linear (PyTorch `torch.nn.utils.spectral_norm`,
//! Miyato et al. 2018): the layer computes with W/σ(W), σ the largest singular value of W as a
//! matrix [out, rest], estimated by one power iteration per training forward from a persistent
//! u. Its tensors keep PyTorch's names — `weight_orig` (trained), `weight_u`, `weight_v`
//! (buffers) — so the state dict loads into a PyTorch model wrapped the same way.
//!
//! Passes (ops::spectral_norm): forward = power iteration (training; evaluation only computes
//! σ = uᵀWv), W_sn = W/σ, then the wrapped layer on W_sn; backward to the parameters = the
//! wrapped layer's into a zeroed dW_sn, then dW += dW_sn/σ − (⟨dW_sn, W⟩/σ²)·u vᵀ; backward to
//! the inputs = the wrapped layer's, on W_sn.

use crate::error::{Error, Result};
use crate::gpu::{DType, Dispatch, GpuTensor};
use crate::nn::module::{param_grad, BindCtx, Bound, Io, Module, Want};
use crate::nn::{Init, Kind, Mode, ParamSpec};
use crate::ops;

#[derive(Debug)]
pub struct SpectralNorm {
    pub inner: Box<dyn Module>,
}

impl SpectralNorm {
    /// The wrapped layer's weight spec: [rows, ...] → (rows, cols).
    fn matrix(&self, prefix: &str) -> Result<(usize, usize)> {
        let name = format!("{prefix}.weight");
        let w = self.inner.params(prefix, Init::Constant(0.0)).into_iter().find(|p| p.name == name);
        let w = w.ok_or_else(|| Error::invalid(prefix, format!("spectral norm wraps a layer with a weight, not {}", self.inner.torch_name())))?;
        let rows = w.shape[0];
        Ok((rows, w.shape.iter().product::<usize>() / rows))
    }
}

impl Module for SpectralNorm {
    fn torch_name(&self) -> String {
        self.inner.torch_name()
    }

    fn params(&self, prefix: &str, conv_init: Init) -> Vec<ParamSpec> {
        let weight = format!("{prefix}.weight");
        let mut v: Vec<ParamSpec> = self
            .inner
            .params(prefix, conv_init)
            .into_iter()
            .map(|p| if p.name == weight { ParamSpec { name: format!("{weight}_orig"), ..p } } else { p })
            .collect();
        if let Ok((rows, cols)) = self.matrix(prefix) {
            // PyTorch draws both from N(0, 1) (and normalises them; the first power iteration
            // normalises ours).
            let normal = Init::Normal { mean: 0.0, std: 1.0 };
            v.push(ParamSpec { name: format!("{weight}_u"), shape: vec![rows], kind: Kind::Buffer, init: normal });
            v.push(ParamSpec { name: format!("{weight}_v"), shape: vec![cols], kind: Kind::Buffer, init: normal });
        }
        v
    }

    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        self.inner.output_shape(inputs)
    }

    fn bind(&self, ctx: &BindCtx, io: &Io) -> Result<Box<dyn Bound>> {
        self.matrix(&ctx.prefix)?;
        let (w, u, v) = (ctx.param("weight_orig")?, ctx.param("weight_u")?, ctx.param("weight_v")?);
        let scratch = |name: &str, shape: &[usize]| GpuTensor::zeros(ctx.gpu, shape, DType::F32, &format!("{}.{}.{name}", ctx.tag, ctx.prefix));
        let w_sn = scratch("weight_sn", w.shape())?;
        let dw = ctx.grad("weight_orig")?;
        // ∂L/∂W_sn exists only where the network is trained.
        let dw_sn = match (ctx.mode, &dw) {
            (Mode::Train, Some(_)) => Some(scratch("weight_sn.grad", w.shape())?),
            _ => None,
        };
        let (sigma, dot) = (scratch("sigma", &[1])?, scratch("dot", &[1])?);
        let inner_ctx = BindCtx {
            gpu: ctx.gpu,
            store: ctx.store,
            mode: ctx.mode,
            counters: ctx.counters,
            dropout: ctx.dropout,
            net: ctx.net,
            tag: ctx.tag,
            prefix: ctx.prefix.clone(),
            weight: Some((w_sn.clone(), dw_sn.clone())),
            labels: ctx.labels,
        };
        let inner = self.inner.bind(&inner_ctx, io)?;
        let mut forward = vec![
            ops::spectral_norm::power(ctx.gpu, &w, &u, &v, &sigma, ctx.mode == Mode::Train)?,
            ops::spectral_norm::scale(ctx.gpu, &w, &sigma, &w_sn)?,
        ];
        forward.extend(inner.forward());
        let backward_weight = match (&dw_sn, &dw) {
            (Some(dw_sn), Some(dw)) => {
                let mut d = vec![ops::elementwise::fill(ctx.gpu, dw_sn, 0.0)?];
                d.extend(ops::spectral_norm::backward(ctx.gpu, &w, dw_sn, &u, &v, &sigma, &dot, dw)?);
                Some(d)
            }
            _ => None,
        };
        Ok(Box::new(BoundSpectralNorm { forward, inner, backward_weight, dw, adjoint: io.adjoint.is_some() }))
    }
}

struct BoundSpectralNorm {
    forward: Vec<Dispatch>,
    inner: Box<dyn Bound>,
    /// [zero dW_sn, ⟨dW_sn, W⟩, dW += …]: around the wrapped layer's backward to its weight.
    backward_weight: Option<Vec<Dispatch>>,
    dw: Option<GpuTensor>,
    /// Bound for a backward of the backward.
    adjoint: bool,
}

impl Bound for BoundSpectralNorm {
    fn forward(&self) -> Vec<Dispatch> {
        self.forward.clone()
    }

    fn backward(&self, want: Want) -> Result<Vec<Dispatch>> {
        if !want.params {
            return self.inner.backward(want);
        }
        param_grad(&self.dw)?;
        let around = self.backward_weight.as_ref().ok_or_else(|| Error::invalid("spectral norm", "a backward to the parameters needs a training-mode network"))?;
        let mut d = vec![around[0].clone()];
        d.extend(self.inner.backward(want)?);
        d.extend(around[1..].iter().cloned());
        Ok(d)
    }

    /// The wrapped layer's backward of the backward on W/σ, its weight part into a zeroed
    /// ∂P/∂W_sn and then through W/σ as in the first-order backward (u, v constant).
    fn double_backward(&self) -> Option<Result<Vec<Dispatch>>> {
        if !self.adjoint {
            return None;
        }
        let inner = self.inner.double_backward()?;
        Some((|| {
            let around = self.backward_weight.as_ref().ok_or_else(|| Error::invalid("spectral norm", "a backward of the backward needs a trained network"))?;
            let mut d = vec![around[0].clone()];
            d.extend(inner?);
            d.extend(around[1..].iter().cloned());
            Ok(d)
        })())
    }
}
