//! Host side of shaders/activation.wgsl: ReLU, LeakyReLU, tanh, sigmoid, forward and backward.

use bytemuck::{Pod, Zeroable};

use super::elementwise::{vec4_count, vec4_grid};
use crate::error::{Error, Result};
use crate::gpu::shaders::ACTIVATION;
use crate::gpu::{Dispatch, Gpu, GpuTensor, KernelRef};

/// Mirrors `struct ActParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct ActParams {
    pub n4: u32,
    pub slope: f32,
    pub _pad0: u32,
    pub _pad1: u32,
}
const _: () = assert!(std::mem::size_of::<ActParams>() % 16 == 0);

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Relu,
    LeakyRelu(f32),
    Tanh,
    Sigmoid,
}

impl Activation {
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::LeakyRelu(_) => "leaky_relu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
        }
    }

    fn entries(self) -> (&'static str, &'static str) {
        match self {
            Activation::Relu => ("relu_forward", "relu_backward"),
            Activation::LeakyRelu(_) => ("leaky_relu_forward", "leaky_relu_backward"),
            Activation::Tanh => ("tanh_forward", "tanh_backward"),
            Activation::Sigmoid => ("sigmoid_forward", "sigmoid_backward"),
        }
    }

    fn slope(self) -> f32 {
        match self {
            Activation::LeakyRelu(s) => s,
            _ => 0.0,
        }
    }

    /// The backward reads the forward output (tanh, sigmoid) rather than its input.
    pub fn backward_uses_output(self) -> bool {
        matches!(self, Activation::Tanh | Activation::Sigmoid)
    }
}

fn check(op: &str, tensors: &[&GpuTensor]) -> Result<()> {
    for t in &tensors[1..] {
        if t.shape() != tensors[0].shape() {
            return Err(Error::shape(op, format!("{} {:?} vs {} {:?}", tensors[0].label(), tensors[0].shape(), t.label(), t.shape())));
        }
    }
    Ok(())
}

/// y = f(x)
pub fn forward(gpu: &Gpu, act: Activation, x: &GpuTensor, y: &GpuTensor) -> Result<Dispatch> {
    let (entry, _) = act.entries();
    check(entry, &[x, y])?;
    let n4 = vec4_count(entry, x)?;
    let label = format!("{entry} {:?}", x.shape());
    let grid = vec4_grid(gpu, &label, n4)?;
    let params = ActParams { n4, slope: act.slope(), _pad0: 0, _pad1: 0 };
    gpu.dispatch(&KernelRef::new(&ACTIVATION, entry), label, &[x], &[y], &params, grid)
}

/// dx = dy · f'(·); `saved` is the forward input x (relu, leaky_relu) or output y (tanh, sigmoid).
pub fn backward(gpu: &Gpu, act: Activation, dy: &GpuTensor, saved: &GpuTensor, dx: &GpuTensor) -> Result<Dispatch> {
    let (_, entry) = act.entries();
    check(entry, &[dy, saved, dx])?;
    let n4 = vec4_count(entry, dy)?;
    let label = format!("{entry} {:?}", dy.shape());
    let grid = vec4_grid(gpu, &label, n4)?;
    let params = ActParams { n4, slope: act.slope(), _pad0: 0, _pad1: 0 };
    gpu.dispatch(&KernelRef::new(&ACTIVATION, entry), label, &[dy, saved], &[dx], &params, grid)
}
