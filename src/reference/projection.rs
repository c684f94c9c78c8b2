//! The projection discriminator's head in plain Rust (shaders/projection.wgsl):
//! out[b] = φ[b]·(w + E[y_b]) + bias, and its gradients.

/// out [B] for φ [B, F], labels [B], w [F], E [K, F].
pub fn forward(phi: &[f64], labels: &[u32], w: &[f64], bias: f64, embed: &[f64]) -> Vec<f64> {
    let f = w.len();
    labels.iter().enumerate().map(|(b, &y)| bias + (0..f).map(|j| phi[b * f + j] * (w[j] + embed[y as usize * f + j])).sum::<f64>()).collect()
}

/// ∂L/∂φ [B, F] for ∂L/∂out = g [B].
pub fn backward_input(g: &[f64], labels: &[u32], w: &[f64], embed: &[f64]) -> Vec<f64> {
    let f = w.len();
    labels.iter().enumerate().flat_map(|(b, &y)| (0..f).map(move |j| g[b] * (w[j] + embed[y as usize * f + j]))).collect()
}

/// (∂L/∂w [F], ∂L/∂bias, ∂L/∂E [K, F]) for ∂L/∂out = g.
pub fn backward_params(g: &[f64], labels: &[u32], phi: &[f64], features: usize, classes: usize) -> (Vec<f64>, f64, Vec<f64>) {
    let mut dw = vec![0.0; features];
    let mut de = vec![0.0; classes * features];
    for (b, &y) in labels.iter().enumerate() {
        for j in 0..features {
            dw[j] += g[b] * phi[b * features + j];
            de[y as usize * features + j] += g[b] * phi[b * features + j];
        }
    }
    (dw, g.iter().sum(), de)
}
