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

/// The elementwise losses of loss.wgsl other than BCE, as their definitions read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bce,
    /// ½(x − t)²
    LeastSquares,
    /// max(0, 1 − t·x)
    Hinge,
    /// −t·x
    Linear,
}

/// (L, mean statistic) with L = scale · (1/n) Σ ℓᵢ; the statistic is σ(x) for BCE, x otherwise.
pub fn elementwise(kind: Kind, logits: &[f64], targets: &[f64], scale: f64) -> (f64, f64) {
    if kind == Kind::Bce {
        return bce_with_logits(logits, targets, scale);
    }
    let n = logits.len() as f64;
    let loss: f64 = logits
        .iter()
        .zip(targets)
        .map(|(&x, &t)| match kind {
            Kind::LeastSquares => 0.5 * (x - t) * (x - t),
            Kind::Hinge => (1.0 - t * x).max(0.0),
            _ => -t * x,
        })
        .sum();
    (scale * loss / n, logits.iter().sum::<f64>() / n)
}

/// ∂L/∂xᵢ of `elementwise` (the hinge's subgradient at its kink is 0, as relu'(0) in PyTorch).
pub fn elementwise_grad(kind: Kind, logits: &[f64], targets: &[f64], scale: f64) -> Vec<f64> {
    if kind == Kind::Bce {
        return bce_with_logits_grad(logits, targets, scale);
    }
    let n = logits.len() as f64;
    logits
        .iter()
        .zip(targets)
        .map(|(&x, &t)| {
            scale / n
                * match kind {
                    Kind::LeastSquares => x - t,
                    Kind::Hinge if 1.0 - t * x > 0.0 => -t,
                    Kind::Hinge => 0.0,
                    _ => -t,
                }
        })
        .collect()
}

/// Softmax cross-entropy of rows of `classes` logits against `labels`:
/// (scale · mean −log softmax(x_b)[y_b], accuracy of the argmax, first maximum on ties).
pub fn softmax_cross_entropy(logits: &[f64], classes: usize, labels: &[usize], scale: f64) -> (f64, f64) {
    let mut loss = 0.0;
    let mut hits = 0.0;
    for (row, &y) in logits.chunks(classes).zip(labels) {
        // log Σ e^v = m + log Σ e^(v − m): no overflow, and exactly 0 for one class.
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        loss += row.iter().map(|v| (v - m).exp()).sum::<f64>().ln() - (row[y] - m);
        let arg = row.iter().enumerate().fold(0, |best, (c, &v)| if v > row[best] { c } else { best });
        hits += (arg == y) as u8 as f64;
    }
    let n = labels.len() as f64;
    (scale * loss / n, hits / n)
}

/// ∂L/∂x of `softmax_cross_entropy`: scale · (softmax(x_b) − onehot(y_b)) / B.
pub fn softmax_cross_entropy_grad(logits: &[f64], classes: usize, labels: &[usize], scale: f64) -> Vec<f64> {
    let n = labels.len() as f64;
    let mut out = Vec::with_capacity(logits.len());
    for (row, &y) in logits.chunks(classes).zip(labels) {
        let z: f64 = row.iter().map(|v| v.exp()).sum();
        out.extend(row.iter().enumerate().map(|(c, v)| scale * (v.exp() / z - (c == y) as u8 as f64) / n));
    }
    out
}
