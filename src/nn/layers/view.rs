//! `nn.Flatten` ([B, ...] → [B, n]) and `nn.Unflatten(1, shape)` ([B, n] → [B, shape...]):
//! the output and its gradient are views of the input's memory; no pass.

use crate::error::{Error, Result};
use crate::nn::module::{BindCtx, Bound, Io, Module, NoPass};
use crate::nn::Mode;

#[derive(Clone, Debug, PartialEq)]
pub struct Flatten;

impl Module for Flatten {
    fn torch_name(&self) -> String {
        "Flatten()".into()
    }

    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        Ok(super::flat(inputs[0]))
    }

    fn is_view(&self, _mode: Mode) -> bool {
        true
    }

    fn bind(&self, _ctx: &BindCtx, _io: &Io) -> Result<Box<dyn Bound>> {
        Ok(Box::new(NoPass))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Unflatten(pub Vec<usize>);

impl Module for Unflatten {
    fn torch_name(&self) -> String {
        format!("Unflatten(1, {:?})", self.0)
    }

    fn output_shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>> {
        let shape = inputs[0];
        let per_sample: usize = shape[1..].iter().product();
        if self.0.iter().product::<usize>() != per_sample {
            return Err(Error::shape(self.torch_name(), format!("input {shape:?} cannot be viewed as [{}, {:?}]", shape[0], self.0)));
        }
        Ok([vec![shape[0]], self.0.clone()].concat())
    }

    fn is_view(&self, _mode: Mode) -> bool {
        true
    }

    fn bind(&self, _ctx: &BindCtx, _io: &Io) -> Result<Box<dyn Bound>> {
        Ok(Box::new(NoPass))
    }
}
