//! `nn.AvgPool2d(k, s, p)` and `nn.MaxPool2d(k, s, p)` (count_include_pad=True, ceil_mode=False,
//! dilation 1, as PyTorch's defaults): no parameters. The max pool saves each window's argmax
//! in its forward; both backwards are gathers (shaders/pool.wgsl). Their backwards are linear
//! in the output gradient and do not depend on the input but through the max pool's argmax (a
//! piecewise-constant choice), so the backward of the backward is the average pool of the
//! adjoint, or the gather at the argmax, and nothing flows to the input.

use crate::error::Result;
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor};
use crate::nn::module::{BindCtx, Bound, Io, Module, Want};
use crate::ops::{self, pool::Window};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Avg,
    Max,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pool2d {
    pub kind: PoolKind,
    pub window: Window,
}

impl Module for Pool2d {
    fn torch_name(&self) -> String {
        let Window { kernel, stride, padding } = self.window;
        match self.kind {
            PoolKind::Avg => format!("AvgPool2d(kernel_size={kernel}, stride={stride}, padding={padding})"),
            PoolKind::Max => format!("MaxPool2d(kernel_size={kernel}, stride={stride}, padding={padding}, dilation=1, ceil_mode=False)"),
        }
    }

    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        self.window.output_shape(inputs[0])
    }

    fn bind(&self, ctx: &BindCtx, io: &Io) -> Result<Box<dyn Bound>> {
        let w = self.window;
        let (forward, argmax) = match self.kind {
            PoolKind::Avg => (ops::pool::avg_forward(ctx.gpu, w, io.x(), io.output)?, None),
            PoolKind::Max => {
                let argmax = GpuTensor::zeros(ctx.gpu, io.output.shape(), DType::U32, &format!("{}.{}.argmax", ctx.tag, ctx.prefix))?;
                (ops::pool::max_forward(ctx.gpu, w, io.x(), io.output, &argmax)?, Some(argmax))
            }
        };
        Ok(Box::new(BoundPool {
            gpu: ctx.gpu.clone(),
            window: w,
            forward,
            argmax,
            dx: io.dx().clone(),
            dy: io.output_grad.clone(),
            adjoint: io.adjoint.map(|a| (a.input.clone(), a.output.clone())),
        }))
    }
}

struct BoundPool {
    gpu: Gpu,
    window: Window,
    forward: Dispatch,
    /// The max pool's argmax per output element (u32), written by the forward.
    argmax: Option<GpuTensor>,
    dx: GpuTensor,
    dy: GpuTensor,
    /// (∂P/∂dx read, ∂P/∂dy written) of a backward of the backward.
    adjoint: Option<(GpuTensor, GpuTensor)>,
}

impl Bound for BoundPool {
    fn forward(&self) -> Vec<Dispatch> {
        vec![self.forward.clone()]
    }

    fn backward(&self, want: Want) -> Result<Vec<Dispatch>> {
        if !want.inputs {
            return Ok(Vec::new());
        }
        Ok(vec![match &self.argmax {
            None => ops::pool::avg_backward(&self.gpu, self.window, &self.dy, &self.dx)?,
            Some(argmax) => ops::pool::max_backward(&self.gpu, self.window, &self.dy, argmax, &self.dx)?,
        }])
    }

    /// dx = Bᵀ·dy with B the pooling matrix, so the adjoint of dy is B·adj_dx: the average
    /// pool of the adjoint, or the adjoint at the saved argmax.
    fn double_backward(&self) -> Option<Result<Vec<Dispatch>>> {
        let (adj_dx, adj_dy) = self.adjoint.as_ref()?;
        Some(
            match &self.argmax {
                None => ops::pool::avg_forward(&self.gpu, self.window, adj_dx, adj_dy),
                Some(argmax) => ops::pool::max_gather(&self.gpu, self.window, adj_dx, argmax, adj_dy),
            }
            .map(|d| vec![d]),
        )
    }
}
