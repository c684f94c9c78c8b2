//! Reference for shaders/distance.wgsl: squared Euclidean distances by direct differences
//! (not the norm expansion the GPU uses), in f64.

/// ‖x_i‖² for the `rows` vectors of `x` [rows, dim].
pub fn sq_norms(x: &[f64], rows: usize, dim: usize) -> Vec<f64> {
    (0..rows).map(|i| x[i * dim..(i + 1) * dim].iter().map(|v| v * v).sum()).collect()
}

/// d[i, j] = Σ_k (a[i, k] − b[j, k])² for a [n, dim] and b [m, dim] (b NOT transposed).
pub fn sq_distances(a: &[f64], b: &[f64], n: usize, m: usize, dim: usize) -> Vec<f64> {
    let mut d = vec![0f64; n * m];
    for i in 0..n {
        for j in 0..m {
            d[i * m + j] = (0..dim).map(|k| (a[i * dim + k] - b[j * dim + k]).powi(2)).sum();
        }
    }
    d
}
