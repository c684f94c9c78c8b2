//! Gradient penalties in f64 (shaders/penalty.wgsl): on a critic's input gradient g [B, ...],
//! per sample over all its elements, the batch mean — WGAN-GP's λ(‖g‖ − 1)² with ‖g‖ =
//! sqrt(Σg² + eps), and R1's γ/2·‖g‖² — with the adjoint ∂P/∂g.

/// (P, ∂P/∂g) for `g` holding `batch` samples; `gp` selects WGAN-GP (else R1).
pub fn penalty(g: &[f64], batch: usize, gp: bool, weight: f64, eps: f64) -> (f64, Vec<f64>) {
    let per = g.len() / batch;
    let scale = weight / batch as f64;
    let mut value = 0.0;
    let mut adj = vec![0.0; g.len()];
    for b in 0..batch {
        let s: f64 = g[b * per..(b + 1) * per].iter().map(|x| x * x).sum();
        let coef = if gp {
            let n = (s + eps).sqrt();
            value += (n - 1.0) * (n - 1.0);
            2.0 * (n - 1.0) / n
        } else {
            value += 0.5 * s;
            1.0
        };
        for k in b * per..(b + 1) * per {
            adj[k] = scale * coef * g[k];
        }
    }
    (scale * value, adj)
}

/// WGAN-GP's x̂ = ε·real + (1 − ε)·fake, per sample.
pub fn interpolate(real: &[f64], fake: &[f64], eps: &[f64]) -> Vec<f64> {
    let per = real.len() / eps.len();
    (0..real.len()).map(|k| eps[k / per] * real[k] + (1.0 - eps[k / per]) * fake[k]).collect()
}
