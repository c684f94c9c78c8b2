//! The VAE latent in f64: the reparameterisation z = μ + exp(½ log σ²)·ε and the KL divergence
//! of N(μ, σ²) from N(0, I), with their gradients. `stats` is the encoder head's [B, 2·nz]
//! output (μ then log σ² per row).

/// z [B, nz].
pub fn reparameterize(stats: &[f64], eps: &[f64], latent: usize) -> Vec<f64> {
    (0..eps.len()).map(|i| {
        let (mu, lv) = split(stats, i, latent);
        mu + (0.5 * lv).exp() * eps[i]
    }).collect()
}

/// KL = (1/B) Σ_b Σ_k −½(1 + ℓ − μ² − e^ℓ), in nats per sample.
pub fn kl(stats: &[f64], batch: usize, latent: usize) -> f64 {
    (0..batch * latent).map(|i| {
        let (mu, lv) = split(stats, i, latent);
        -0.5 * (1.0 + lv - mu * mu - lv.exp())
    }).sum::<f64>() / batch as f64
}

/// ∂L/∂stats for L = (a loss of z with ∂/∂z = `dz`) + `weight`·KL.
pub fn backward(stats: &[f64], eps: &[f64], dz: &[f64], latent: usize, weight: f64) -> Vec<f64> {
    let batch = eps.len() / latent;
    let wb = weight / batch as f64;
    let mut d = vec![0.0; stats.len()];
    for i in 0..eps.len() {
        let (mu, lv) = split(stats, i, latent);
        let (b, k) = (i / latent, i % latent);
        d[b * 2 * latent + k] = dz[i] + wb * mu;
        d[b * 2 * latent + latent + k] = dz[i] * eps[i] * 0.5 * (0.5 * lv).exp() + wb * 0.5 * (lv.exp() - 1.0);
    }
    d
}

/// The KL weight at step t (≥ 1): β·min(1, t/warmup), or β without a warm-up.
pub fn kl_weight(beta: f64, warmup: u32, t: u32) -> f64 {
    if warmup == 0 { beta } else { beta * (t as f64 / warmup as f64).min(1.0) }
}

fn split(stats: &[f64], i: usize, latent: usize) -> (f64, f64) {
    let (b, k) = (i / latent, i % latent);
    (stats[b * 2 * latent + k], stats[b * 2 * latent + latent + k])
}
