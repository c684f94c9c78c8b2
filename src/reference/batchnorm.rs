//! BatchNorm2d (PyTorch semantics), per channel over (batch, height, width).

use super::Tensor;

pub struct BnForward {
    pub y: Tensor,
    /// Batch mean per channel.
    pub mean: Vec<f64>,
    /// Biased batch variance per channel (what normalises).
    pub var: Vec<f64>,
    pub running_mean: Vec<f64>,
    pub running_var: Vec<f64>,
}

/// Values of channel c, in (b, h, w) order.
fn channel(x: &Tensor, c: usize) -> Vec<f64> {
    let (b, ch) = (x.shape[0], x.shape[1]);
    let inner = x.numel() / (b * ch);
    (0..b).flat_map(|n| x.data[(n * ch + c) * inner..(n * ch + c + 1) * inner].iter().copied()).collect()
}

fn map_channels(x: &Tensor, f: impl Fn(usize, f64) -> f64) -> Tensor {
    let (b, ch) = (x.shape[0], x.shape[1]);
    let inner = x.numel() / (b * ch);
    let data = x.data.iter().enumerate().map(|(i, &v)| f((i / inner) % ch, v)).collect();
    Tensor::new(&x.shape, data)
}

#[allow(clippy::too_many_arguments)]
pub fn forward_train(
    x: &Tensor,
    gamma: &[f64],
    beta: &[f64],
    running_mean: &[f64],
    running_var: &[f64],
    eps: f64,
    momentum: f64,
) -> BnForward {
    let c = x.shape[1];
    let mut mean = vec![0.0; c];
    let mut var = vec![0.0; c];
    let mut rm = running_mean.to_vec();
    let mut rv = running_var.to_vec();
    for ch in 0..c {
        let vals = channel(x, ch);
        let n = vals.len() as f64;
        mean[ch] = vals.iter().sum::<f64>() / n;
        var[ch] = vals.iter().map(|v| (v - mean[ch]).powi(2)).sum::<f64>() / n;
        rm[ch] = (1.0 - momentum) * rm[ch] + momentum * mean[ch];
        rv[ch] = (1.0 - momentum) * rv[ch] + momentum * var[ch] * n / (n - 1.0);
    }
    let y = map_channels(x, |ch, v| gamma[ch] * (v - mean[ch]) / (var[ch] + eps).sqrt() + beta[ch]);
    BnForward { y, mean, var, running_mean: rm, running_var: rv }
}

pub fn forward_eval(x: &Tensor, gamma: &[f64], beta: &[f64], running_mean: &[f64], running_var: &[f64], eps: f64) -> Tensor {
    map_channels(x, |ch, v| gamma[ch] * (v - running_mean[ch]) / (running_var[ch] + eps).sqrt() + beta[ch])
}

/// Gradients through the training forward, by the chain rule through μ and σ²:
///   y = γ·(x − μ)·(σ² + eps)^−½ + β,  μ = mean(x),  σ² = mean((x − μ)²)
///   ∂L/∂σ² = Σ dy·γ·(x − μ)·(−½)(σ² + eps)^−3/2
///   ∂L/∂μ  = Σ −dy·γ·(σ² + eps)^−½ + ∂L/∂σ² · Σ −2(x − μ)/n
///   dx     = dy·γ·(σ² + eps)^−½ + ∂L/∂σ²·2(x − μ)/n + ∂L/∂μ/n
/// Returns (dx, dγ, dβ).
pub fn backward(x: &Tensor, dy: &Tensor, gamma: &[f64], eps: f64) -> (Tensor, Vec<f64>, Vec<f64>) {
    let c = x.shape[1];
    let (mut dgamma, mut dbeta) = (vec![0.0; c], vec![0.0; c]);
    let mut dmean = vec![0.0; c];
    let mut dvar = vec![0.0; c];
    let mut mean = vec![0.0; c];
    let mut inv = vec![0.0; c];
    let mut count = 0.0;
    for ch in 0..c {
        let xs = channel(x, ch);
        let gs = channel(dy, ch);
        let n = xs.len() as f64;
        count = n;
        let mu = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / n;
        let r = 1.0 / (var + eps).sqrt();
        mean[ch] = mu;
        inv[ch] = r;
        for (xv, g) in xs.iter().zip(&gs) {
            dbeta[ch] += g;
            dgamma[ch] += g * (xv - mu) * r;
            dvar[ch] += g * gamma[ch] * (xv - mu) * -0.5 * r.powi(3);
        }
        let sum_dev: f64 = xs.iter().map(|v| -2.0 * (v - mu) / n).sum();
        dmean[ch] = gs.iter().map(|g| -g * gamma[ch] * r).sum::<f64>() + dvar[ch] * sum_dev;
    }
    let (b, ch_n) = (x.shape[0], x.shape[1]);
    let inner = x.numel() / (b * ch_n);
    let data = (0..x.numel())
        .map(|i| {
            let ch = (i / inner) % ch_n;
            dy.data[i] * gamma[ch] * inv[ch] + dvar[ch] * 2.0 * (x.data[i] - mean[ch]) / count + dmean[ch] / count
        })
        .collect();
    (Tensor::new(&x.shape, data), dgamma, dbeta)
}
