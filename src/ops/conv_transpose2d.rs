//! conv_transpose2d (PyTorch's `nn.ConvTranspose2d`, NCHW, weight [C_in, C_out, KH, KW],
//! square stride and padding, output_padding, optional bias): forward and the three backward
//! passes, each mapped onto the implicit-GEMM core of shaders/conv.wgsl (see its header).

use super::conv::{conv_gemm, ConvKernel, GemmProblem, Mode};
use super::{expect_shape, reduce};
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, GpuTensor};

const OP: &str = "conv_transpose2d";

/// Stride, zero padding and output padding, the same along both axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvT2dSpec {
    pub stride: usize,
    pub padding: usize,
    pub output_padding: usize,
}

/// Sizes shared by every pass, from x [B, C_in, H, W] and w [C_in, C_out, KH, KW].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvT2dShape {
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

impl ConvT2dShape {
    /// PyTorch's output size: (H − 1)·s − 2p + KH + output_padding.
    pub fn new(spec: &ConvT2dSpec, x: &[usize], w: &[usize]) -> Result<ConvT2dShape> {
        let [batch, c_in, h, wd] = *x else {
            return Err(Error::shape(OP, format!("input must be [B, C_in, H, W], got {x:?}")));
        };
        let [wc_in, c_out, kh, kw] = *w else {
            return Err(Error::shape(OP, format!("weight must be [C_in, C_out, KH, KW], got {w:?}")));
        };
        if wc_in != c_in {
            return Err(Error::shape(OP, format!("input has {c_in} channels but the weight expects {wc_in}")));
        }
        if spec.stride == 0 {
            return Err(Error::shape(OP, "stride must be at least 1"));
        }
        if spec.output_padding >= spec.stride {
            return Err(Error::shape(
                OP,
                format!("output_padding {} must be smaller than the stride {}", spec.output_padding, spec.stride),
            ));
        }
        if [batch, c_in, h, wd, c_out, kh, kw].contains(&0) {
            return Err(Error::shape(OP, format!("empty tensor: input {x:?}, weight {w:?}")));
        }
        let full_h = (h - 1) * spec.stride + kh + spec.output_padding;
        let full_w = (wd - 1) * spec.stride + kw + spec.output_padding;
        if full_h <= 2 * spec.padding || full_w <= 2 * spec.padding {
            return Err(Error::shape(OP, format!("padding {} leaves no output for input {h}x{wd}", spec.padding)));
        }
        Ok(ConvT2dShape {
            batch,
            c_in,
            h,
            w: wd,
            c_out,
            kh,
            kw,
            h_out: full_h - 2 * spec.padding,
            w_out: full_w - 2 * spec.padding,
        })
    }

    pub fn input(&self) -> [usize; 4] {
        [self.batch, self.c_in, self.h, self.w]
    }
    pub fn weight(&self) -> [usize; 4] {
        [self.c_in, self.c_out, self.kh, self.kw]
    }
    pub fn output(&self) -> [usize; 4] {
        [self.batch, self.c_out, self.h_out, self.w_out]
    }

    /// Multiply-adds ×2 of one forward as a scatter (every input pixel × every tap).
    pub fn flops(&self) -> f64 {
        2.0 * (self.batch * self.c_in * self.h * self.w * self.c_out * self.kh * self.kw) as f64
    }
}

fn gather_problem(mode: Mode, spec: &ConvT2dSpec, sh: &ConvT2dShape) -> GemmProblem {
    match mode {
        // y[b,co,o] = Σ x[b,ci,i]·w[ci,co,k]: transposed gather over x.
        Mode::ConvT => GemmProblem {
            mode,
            batch: sh.batch,
            cx: sh.c_in,
            hx: sh.h,
            wx: sh.w,
            m: sh.c_out,
            ho: sh.h_out,
            wo: sh.w_out,
            kh: sh.kh,
            kw: sh.kw,
            stride: spec.stride,
            pad: spec.padding,
        },
        // dx[b,ci,i] = Σ w[ci,(co,k)]·dy[b,co,i·s−p+k] (Conv) and
        // dw[ci,(co,k)] += Σ x[b,ci,i]·dy[b,co,i·s−p+k] (WGrad): both gather over dy.
        Mode::Conv | Mode::WGrad => GemmProblem {
            mode,
            batch: sh.batch,
            cx: sh.c_out,
            hx: sh.h_out,
            wx: sh.w_out,
            m: sh.c_in,
            ho: sh.h,
            wo: sh.w,
            kh: sh.kh,
            kw: sh.kw,
            stride: spec.stride,
            pad: spec.padding,
        },
    }
}

/// Output padding implied by the output tensor's size, checked against PyTorch's rule.
fn spec_for_output(spec: &ConvT2dSpec, x: &[usize], w: &[usize], y: &[usize]) -> Result<ConvT2dShape> {
    let sh = ConvT2dShape::new(spec, x, w)?;
    if y != sh.output() {
        return Err(Error::shape(
            OP,
            format!(
                "output is {y:?} but input {x:?} with weight {w:?}, stride {}, padding {}, output_padding {} gives {:?}",
                spec.stride, spec.padding, spec.output_padding, sh.output()
            ),
        ));
    }
    Ok(sh)
}

/// y = conv_transpose2d(x, w) + bias.  x [B,C_in,H,W], w [C_in,C_out,KH,KW], y [B,C_out,Ho,Wo].
pub fn forward(
    gpu: &Gpu,
    spec: &ConvT2dSpec,
    x: &GpuTensor,
    w: &GpuTensor,
    bias: Option<&GpuTensor>,
    y: &GpuTensor,
    kernel: Option<ConvKernel>,
) -> Result<Vec<Dispatch>> {
    let sh = spec_for_output(spec, x.shape(), w.shape(), y.shape())?;
    if let Some(b) = bias {
        expect_shape(OP, "bias", b, &[sh.c_out])?;
    }
    let problem = gather_problem(Mode::ConvT, spec, &sh);
    conv_gemm(gpu, "conv_transpose2d.forward", &problem, w, x, bias, y, kernel)
}

/// dx = ∂L/∂x (overwrite): an ordinary convolution of dy with w.
pub fn backward_input(
    gpu: &Gpu,
    spec: &ConvT2dSpec,
    dy: &GpuTensor,
    w: &GpuTensor,
    dx: &GpuTensor,
    kernel: Option<ConvKernel>,
) -> Result<Vec<Dispatch>> {
    let sh = spec_for_output(spec, dx.shape(), w.shape(), dy.shape())?;
    let problem = gather_problem(Mode::Conv, spec, &sh);
    conv_gemm(gpu, "conv_transpose2d.backward_input", &problem, w, dy, None, dx, kernel)
}

/// dw += ∂L/∂w (accumulate).
pub fn backward_weight(
    gpu: &Gpu,
    spec: &ConvT2dSpec,
    x: &GpuTensor,
    dy: &GpuTensor,
    dw: &GpuTensor,
    kernel: Option<ConvKernel>,
) -> Result<Vec<Dispatch>> {
    let sh = spec_for_output(spec, x.shape(), dw.shape(), dy.shape())?;
    let problem = gather_problem(Mode::WGrad, spec, &sh);
    conv_gemm(gpu, "conv_transpose2d.backward_weight", &problem, x, dy, None, dw, kernel)
}

/// dbias += Σ_{b,h,w} dy (accumulate).
pub fn backward_bias(gpu: &Gpu, dy: &GpuTensor, dbias: &GpuTensor) -> Result<Dispatch> {
    reduce::sum_channels(gpu, "conv_transpose2d.backward_bias", dy, dbias, true)
}
