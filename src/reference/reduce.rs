//! Sums.

use super::Tensor;

/// out[c] = Σ_{b, i} x[b, c, i] for x [B, C, ...].
pub fn sum_channels(x: &Tensor) -> Vec<f64> {
    let (b, c) = (x.shape[0], x.shape[1]);
    let inner = x.numel() / (b * c);
    let mut out = vec![0.0; c];
    for n in 0..b {
        for (ch, o) in out.iter_mut().enumerate() {
            *o += x.data[(n * c + ch) * inner..(n * c + ch + 1) * inner].iter().sum::<f64>();
        }
    }
    out
}

/// out[i] = Σ_s x[s, i] for x [S, ...].
pub fn sum_leading(x: &Tensor) -> Vec<f64> {
    let s = x.shape[0];
    let inner = x.numel() / s;
    (0..inner).map(|i| (0..s).map(|k| x.data[k * inner + i]).sum()).collect()
}
