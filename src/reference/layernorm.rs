//! LayerNorm over each sample's [C, H, W] (PyTorch `nn.LayerNorm([C, H, W])`): forward, backward
//! and the backward of the backward, in f64.
//!
//! Per sample, over its N values: μ = mean(x), σ = sqrt(var(x) + eps) (biased variance),
//! x̂ = (x − μ)/σ, y = γ ⊙ x̂ + β with γ, β of the sample's shape.

use super::Tensor;

/// (μ, 1/σ) of each sample.
pub fn stats(x: &Tensor, eps: f64) -> Vec<(f64, f64)> {
    let n = x.numel() / x.shape[0];
    x.data
        .chunks(n)
        .map(|s| {
            let mean = s.iter().sum::<f64>() / n as f64;
            let var = s.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
            (mean, 1.0 / (var + eps).sqrt())
        })
        .collect()
}

fn xhat(x: &Tensor, eps: f64) -> Vec<f64> {
    let n = x.numel() / x.shape[0];
    let st = stats(x, eps);
    x.data.iter().enumerate().map(|(i, v)| (v - st[i / n].0) * st[i / n].1).collect()
}

pub fn forward(x: &Tensor, gamma: &[f64], beta: &[f64], eps: f64) -> Tensor {
    let n = gamma.len();
    Tensor::new(&x.shape, xhat(x, eps).iter().enumerate().map(|(i, h)| gamma[i % n] * h + beta[i % n]).collect())
}

/// (dx, dγ, dβ) for ∂L/∂y = `dy`: with g = γ ⊙ dy, dx = (g − mean(g) − x̂·mean(g ⊙ x̂))/σ.
pub fn backward(x: &Tensor, dy: &Tensor, gamma: &[f64], eps: f64) -> (Tensor, Vec<f64>, Vec<f64>) {
    let n = gamma.len();
    let st = stats(x, eps);
    let xh = xhat(x, eps);
    let mut dx = vec![0.0; x.numel()];
    let (mut dgamma, mut dbeta) = (vec![0.0; n], vec![0.0; n]);
    for b in 0..x.shape[0] {
        let r = b * n..(b + 1) * n;
        let g: Vec<f64> = dy.data[r.clone()].iter().enumerate().map(|(i, d)| gamma[i] * d).collect();
        let mean_g = g.iter().sum::<f64>() / n as f64;
        let mean_gx = g.iter().zip(&xh[r.clone()]).map(|(a, h)| a * h).sum::<f64>() / n as f64;
        for i in 0..n {
            let h = xh[b * n + i];
            dx[b * n + i] = st[b].1 * (g[i] - mean_g - h * mean_gx);
            dgamma[i] += dy.data[b * n + i] * h;
            dbeta[i] += dy.data[b * n + i];
        }
    }
    (Tensor::new(&x.shape, dx), dgamma, dbeta)
}

/// The backward of the backward: for a function P of dx = backward(x, dy, γ) with
/// `adj` = ∂P/∂dx, returns (∂P/∂dy, ∂P/∂x, ∂P/∂γ). dx is linear in g = γ ⊙ dy through the
/// symmetric map (I − 11ᵀ/N − x̂x̂ᵀ/N)/σ, so ∂P/∂g is that map applied to `adj`; unlike a
/// convolution's, this backward also depends on x (through x̂ and σ):
/// ∂P/∂x = −(1/(Nσ²))·[A x̂ + s_g (a − ā) + s_a (g − ḡ) − 3 s_a s_g x̂/N]
/// with A = Σ(a − ā)(g − ḡ), s_a = Σ a x̂, s_g = Σ g x̂ over the sample.
pub fn double_backward(x: &Tensor, dy: &Tensor, gamma: &[f64], adj: &Tensor, eps: f64) -> (Tensor, Tensor, Vec<f64>) {
    let n = gamma.len();
    let nf = n as f64;
    let st = stats(x, eps);
    let xh = xhat(x, eps);
    let (mut adj_dy, mut adj_x, mut adj_gamma) = (vec![0.0; x.numel()], vec![0.0; x.numel()], vec![0.0; n]);
    for (b, &(_, r)) in st.iter().enumerate() {
        let s = |i: usize| b * n + i;
        let a: Vec<f64> = (0..n).map(|i| adj.data[s(i)]).collect();
        let g: Vec<f64> = (0..n).map(|i| gamma[i] * dy.data[s(i)]).collect();
        let (mean_a, mean_g) = (a.iter().sum::<f64>() / nf, g.iter().sum::<f64>() / nf);
        let big_a: f64 = (0..n).map(|i| (a[i] - mean_a) * (g[i] - mean_g)).sum();
        let s_a: f64 = (0..n).map(|i| a[i] * xh[s(i)]).sum();
        let s_g: f64 = (0..n).map(|i| g[i] * xh[s(i)]).sum();
        for i in 0..n {
            let h = xh[s(i)];
            let adj_g = r * (a[i] - mean_a - h * s_a / nf);
            adj_dy[s(i)] = gamma[i] * adj_g;
            adj_gamma[i] += dy.data[s(i)] * adj_g;
            adj_x[s(i)] = -(r * r / nf) * (big_a * h + s_g * (a[i] - mean_a) + s_a * (g[i] - mean_g) - 3.0 * s_a * s_g * h / nf);
        }
    }
    (Tensor::new(&x.shape, adj_dy), Tensor::new(&x.shape, adj_x), adj_gamma)
}
