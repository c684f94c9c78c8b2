//! One file per module kind. [`module_of`] turns a network description's [`Layer`] into its
//! module.

mod activation;
mod batchnorm2d;
mod conv2d;
mod conv_transpose2d;
mod dropout;
mod layernorm;
mod linear;
mod minibatch_std;
mod pool;
mod projection;
mod spectral_norm;
mod view;

pub use activation::ActivationLayer;
pub use batchnorm2d::BatchNorm2d;
pub use conv2d::Conv2d;
pub use conv_transpose2d::ConvTranspose2d;
pub use dropout::Dropout;
pub use layernorm::LayerNorm;
pub use linear::Linear;
pub use minibatch_std::MinibatchStd;
pub use pool::{Pool2d, PoolKind};
pub use projection::Projection;
pub use spectral_norm::SpectralNorm;
pub use view::{Flatten, Unflatten};

use super::module::Module;
use super::Layer;
use crate::ops::activation::Activation;
use crate::ops::pool::Window;

/// The module that implements `layer`.
pub fn module_of(layer: &Layer) -> Box<dyn Module> {
    match layer {
        &Layer::Linear { in_features, out_features, bias } => Box::new(Linear { in_features, out_features, bias }),
        &Layer::Conv2d { c_in, c_out, kernel, stride, padding, bias } => Box::new(Conv2d { c_in, c_out, kernel, stride, padding, bias }),
        &Layer::ConvTranspose2d { c_in, c_out, kernel, stride, padding, output_padding, bias } => {
            Box::new(ConvTranspose2d { c_in, c_out, kernel, stride, padding, output_padding, bias })
        }
        &Layer::BatchNorm2d { channels } => Box::new(BatchNorm2d { channels }),
        Layer::LayerNorm(shape) => Box::new(LayerNorm { shape: shape.clone() }),
        Layer::Relu => Box::new(ActivationLayer(Activation::Relu)),
        &Layer::LeakyRelu(s) => Box::new(ActivationLayer(Activation::LeakyRelu(s))),
        Layer::Tanh => Box::new(ActivationLayer(Activation::Tanh)),
        Layer::Sigmoid => Box::new(ActivationLayer(Activation::Sigmoid)),
        &Layer::Dropout(p) => Box::new(Dropout { p }),
        Layer::Flatten => Box::new(Flatten),
        Layer::Unflatten(s) => Box::new(Unflatten(s.clone())),
        &Layer::Projection { features, classes } => Box::new(Projection { features, classes }),
        &Layer::AvgPool2d { kernel, stride, padding } => Box::new(Pool2d { kind: PoolKind::Avg, window: Window { kernel, stride, padding } }),
        &Layer::MaxPool2d { kernel, stride, padding } => Box::new(Pool2d { kind: PoolKind::Max, window: Window { kernel, stride, padding } }),
        Layer::SpectralNorm(inner) => Box::new(SpectralNorm { inner: module_of(inner) }),
        &Layer::MinibatchStd { group } => Box::new(MinibatchStd { group }),
    }
}

/// [B, ...] → [B, rest]
pub(crate) fn flat(shape: &[usize]) -> Vec<usize> {
    vec![shape[0], shape[1..].iter().product()]
}
