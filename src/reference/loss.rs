//! Binary cross-entropy with logits, as the textbook writes it: −[t·log σ(x) + (1−t)·log(1−σ(x))].

/// log σ(x), without overflow for large |x|.
fn log_sigmoid(x: f64) -> f64 {
    if x >= 0.0 { -(-x).exp().ln_1p() } else { x - x.exp().ln_1p() }
}

/// (L, mean σ(x)) with L = scale · (1/n) Σ ℓᵢ.
pub fn bce_with_logits(logits: &[f64], targets: &[f64], scale: f64) -> (f64, f64) {
    let n = logits.len() as f64;
    let mut loss = 0.0;
    let mut prob = 0.0;
    for (&x, &t) in logits.iter().zip(targets) {
        // log(1 − σ(x)) = log σ(−x)
        loss += -(t * log_sigmoid(x) + (1.0 - t) * log_sigmoid(-x));
        prob += log_sigmoid(x).exp();
    }
    (scale * loss / n, prob / n)
}

/// ∂L/∂xᵢ = scale · (σ(xᵢ) − tᵢ) / n
pub fn bce_with_logits_grad(logits: &[f64], targets: &[f64], scale: f64) -> Vec<f64> {
    let n = logits.len() as f64;
    logits.iter().zip(targets).map(|(&x, &t)| scale * (log_sigmoid(x).exp() - t) / n).collect()
}
