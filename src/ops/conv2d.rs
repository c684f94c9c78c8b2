//! conv2d (PyTorch's `nn.Conv2d`, NCHW, weight [C_out, C_in, KH, KW], square stride and
//! padding, optional bias): forward and the three backward passes, each mapped onto the
//! implicit-GEMM core of shaders/conv.wgsl (see its header for the mapping).

use super::conv::{conv_gemm, ConvKernel, GemmProblem, Mode};
use super::{expect_shape, reduce};
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, GpuTensor};

const OP: &str = "conv2d";

/// Stride and zero padding, the same along both axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dSpec {
    pub stride: usize,
    pub padding: usize,
}

/// Sizes shared by every pass, derived from x [B, C_in, H, W] and w [C_out, C_in, KH, KW].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dShape {
    pub batch: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub h_out: usize,
    pub w_out: usize,
}

impl Conv2dShape {
    /// PyTorch's output size: floor((H + 2p − KH) / s) + 1.
    pub fn new(spec: &Conv2dSpec, x: &[usize], w: &[usize]) -> Result<Conv2dShape> {
        let [batch, c_in, h, wd] = *x else {
            return Err(Error::shape(OP, format!("input must be [B, C_in, H, W], got {x:?}")));
        };
        let [c_out, wc_in, kh, kw] = *w else {
            return Err(Error::shape(OP, format!("weight must be [C_out, C_in, KH, KW], got {w:?}")));
        };
        if wc_in != c_in {
            return Err(Error::shape(OP, format!("input has {c_in} channels but the weight expects {wc_in}")));
        }
        if spec.stride == 0 {
            return Err(Error::shape(OP, "stride must be at least 1"));
        }
        if [batch, c_in, h, wd, c_out, kh, kw].contains(&0) {
            return Err(Error::shape(OP, format!("empty tensor: input {x:?}, weight {w:?}")));
        }
        let (hp, wp) = (h + 2 * spec.padding, wd + 2 * spec.padding);
        if hp < kh || wp < kw {
            return Err(Error::shape(
                OP,
                format!("kernel {kh}x{kw} is larger than the padded input {hp}x{wp} (input {h}x{wd}, padding {})", spec.padding),
            ));
        }
        Ok(Conv2dShape {
            batch,
            c_in,
            h,
            w: wd,
            c_out,
            kh,
            kw,
            h_out: (hp - kh) / spec.stride + 1,
            w_out: (wp - kw) / spec.stride + 1,
        })
    }

    pub fn input(&self) -> [usize; 4] {
        [self.batch, self.c_in, self.h, self.w]
    }
    pub fn weight(&self) -> [usize; 4] {
        [self.c_out, self.c_in, self.kh, self.kw]
    }
    pub fn output(&self) -> [usize; 4] {
        [self.batch, self.c_out, self.h_out, self.w_out]
    }

    /// The implicit GEMM of a pass: the forward and the weight gradient gather over x, the
    /// input gradient is a transposed gather over dy (see shaders/conv.wgsl).
    fn problem(&self, mode: Mode, spec: &Conv2dSpec) -> GemmProblem {
        let (cx, hx, wx, m, ho, wo) = match mode {
            Mode::Conv | Mode::WGrad => (self.c_in, self.h, self.w, self.c_out, self.h_out, self.w_out),
            Mode::ConvT => (self.c_out, self.h_out, self.w_out, self.c_in, self.h, self.w),
        };
        GemmProblem { mode, batch: self.batch, cx, hx, wx, m, ho, wo, kh: self.kh, kw: self.kw, stride: spec.stride, pad: spec.padding }
    }

    /// Multiply-adds ×2 of one forward (each backward costs the same).
    pub fn flops(&self) -> f64 {
        2.0 * (self.batch * self.c_out * self.h_out * self.w_out * self.c_in * self.kh * self.kw) as f64
    }
}

/// y = conv2d(x, w) + bias.   x [B,C_in,H,W], w [C_out,C_in,KH,KW], bias [C_out], y [B,C_out,Ho,Wo].
pub fn forward(
    gpu: &Gpu,
    spec: &Conv2dSpec,
    x: &GpuTensor,
    w: &GpuTensor,
    bias: Option<&GpuTensor>,
    y: &GpuTensor,
    kernel: Option<ConvKernel>,
) -> Result<Vec<Dispatch>> {
    let sh = Conv2dShape::new(spec, x.shape(), w.shape())?;
    expect_shape(OP, "output", y, &sh.output())?;
    if let Some(b) = bias {
        expect_shape(OP, "bias", b, &[sh.c_out])?;
    }
    let problem = sh.problem(Mode::Conv, spec);
    conv_gemm(gpu, "conv2d.forward", &problem, w, x, bias, y, kernel)
}

/// dx = ∂L/∂x (overwrite), a transposed convolution of dy with w.
pub fn backward_input(
    gpu: &Gpu,
    spec: &Conv2dSpec,
    dy: &GpuTensor,
    w: &GpuTensor,
    dx: &GpuTensor,
    kernel: Option<ConvKernel>,
) -> Result<Vec<Dispatch>> {
    let sh = Conv2dShape::new(spec, dx.shape(), w.shape())?;
    expect_shape(OP, "output gradient", dy, &sh.output())?;
    let problem = sh.problem(Mode::ConvT, spec);
    conv_gemm(gpu, "conv2d.backward_input", &problem, w, dy, None, dx, kernel)
}

/// dw += ∂L/∂w (accumulate: a parameter gradient).
pub fn backward_weight(
    gpu: &Gpu,
    spec: &Conv2dSpec,
    x: &GpuTensor,
    dy: &GpuTensor,
    dw: &GpuTensor,
    kernel: Option<ConvKernel>,
) -> Result<Vec<Dispatch>> {
    let sh = Conv2dShape::new(spec, x.shape(), dw.shape())?;
    expect_shape(OP, "output gradient", dy, &sh.output())?;
    let problem = sh.problem(Mode::WGrad, spec);
    conv_gemm(gpu, "conv2d.backward_weight", &problem, dy, x, None, dw, kernel)
}

/// dbias += Σ_{b,h,w} dy (accumulate).
pub fn backward_bias(gpu: &Gpu, dy: &GpuTensor, dbias: &GpuTensor) -> Result<Dispatch> {
    reduce::sum_channels(gpu, "conv2d.backward_bias", dy, dbias, true)
}
