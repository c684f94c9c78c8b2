//! Activations and their derivatives, elementwise.

/// The GPU's Activation without the GPU: (name, slope).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    Relu,
    LeakyRelu(f64),
    Tanh,
    Sigmoid,
}

pub fn forward(act: Act, x: &[f64]) -> Vec<f64> {
    x.iter()
        .map(|&v| match act {
            Act::Relu => v.max(0.0),
            Act::LeakyRelu(s) => if v > 0.0 { v } else { s * v },
            Act::Tanh => v.tanh(),
            Act::Sigmoid => 1.0 / (1.0 + (-v).exp()),
        })
        .collect()
}

/// dx = dy·f'(x), from the forward input x (the derivative at 0 is the left one, as PyTorch).
pub fn backward(act: Act, x: &[f64], dy: &[f64]) -> Vec<f64> {
    x.iter()
        .zip(dy)
        .map(|(&v, &g)| {
            g * match act {
                Act::Relu => if v > 0.0 { 1.0 } else { 0.0 },
                Act::LeakyRelu(s) => if v > 0.0 { 1.0 } else { s },
                Act::Tanh => 1.0 - v.tanh().powi(2),
                Act::Sigmoid => {
                    let s = 1.0 / (1.0 + (-v).exp());
                    s * (1.0 - s)
                }
            }
        })
        .collect()
}
