//! Spectral normalisation in f64 (shaders/spectral_norm.wgsl): the power iteration on W as a
//! matrix [rows, cols], W/σ, and the backward through W/σ with u and v constant (PyTorch's
//! `torch.nn.utils.spectral_norm`).

/// One power iteration from `u`: (u, v, σ) with v = Wᵀu/‖Wᵀu‖, u = Wv/‖Wv‖, σ = uᵀWv.
pub fn power_iteration(w: &[f64], rows: usize, cols: usize, u: &[f64], eps: f64) -> (Vec<f64>, Vec<f64>, f64) {
    let mut v: Vec<f64> = (0..cols).map(|c| (0..rows).map(|r| w[r * cols + c] * u[r]).sum()).collect();
    let nv = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(eps);
    v.iter_mut().for_each(|x| *x /= nv);
    let t = matvec(w, rows, cols, &v);
    let nt = t.iter().map(|x| x * x).sum::<f64>().sqrt();
    let u: Vec<f64> = t.iter().map(|x| x / nt.max(eps)).collect();
    let sigma = u.iter().zip(&t).map(|(a, b)| a * b).sum();
    (u, v, sigma)
}

/// σ = uᵀWv with the given u and v (evaluation mode).
pub fn sigma(w: &[f64], rows: usize, cols: usize, u: &[f64], v: &[f64]) -> f64 {
    matvec(w, rows, cols, v).iter().zip(u).map(|(a, b)| a * b).sum()
}

fn matvec(w: &[f64], rows: usize, cols: usize, v: &[f64]) -> Vec<f64> {
    (0..rows).map(|r| (0..cols).map(|c| w[r * cols + c] * v[c]).sum()).collect()
}

/// ∂L/∂W given ∂L/∂W_sn for W_sn = W/σ, σ = uᵀWv (u, v constant):
/// dW = dW_sn/σ − (⟨dW_sn, W⟩/σ²)·u vᵀ.
pub fn backward(w: &[f64], dw_sn: &[f64], u: &[f64], v: &[f64], sigma: f64) -> Vec<f64> {
    let cols = v.len();
    let dot: f64 = dw_sn.iter().zip(w).map(|(a, b)| a * b).sum();
    dw_sn.iter().enumerate().map(|(k, g)| g / sigma - dot / (sigma * sigma) * u[k / cols] * v[k % cols]).collect()
}
