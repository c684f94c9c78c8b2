//! C = alpha·op(A)·op(B) + beta·C + bias, and the gradients of C = A·B.

use super::par_map;

/// op(A)[m, k] for A stored [M, K] (or [K, M] when transposed).
fn a_at(a: &[f64], m: usize, k: usize, big_m: usize, big_k: usize, trans: bool) -> f64 {
    if trans { a[k * big_m + m] } else { a[m * big_k + k] }
}

#[allow(clippy::too_many_arguments)]
pub fn matmul(
    a: &[f64],
    b: &[f64],
    c_in: Option<&[f64]>,
    bias: Option<&[f64]>,
    (m, n, k): (usize, usize, usize),
    (trans_a, trans_b): (bool, bool),
    alpha: f64,
    beta: f64,
) -> Vec<f64> {
    let rows = par_map(m, |i| {
        let mut row = vec![0.0; n];
        for (j, out) in row.iter_mut().enumerate() {
            let mut acc = 0.0;
            for kk in 0..k {
                acc += a_at(a, i, kk, m, k, trans_a) * if trans_b { b[j * k + kk] } else { b[kk * n + j] };
            }
            let mut v = alpha * acc;
            if beta != 0.0 {
                v += beta * c_in.expect("beta ≠ 0 needs C")[i * n + j];
            }
            if let Some(bias) = bias {
                v += bias[j];
            }
            *out = v;
        }
        row
    });
    rows.concat()
}

/// For C = A·B with A [M, K], B [K, N] and upstream gradient dC [M, N]:
/// dA = dC·Bᵀ, dB = Aᵀ·dC, dbias = Σ_rows dC.
pub fn matmul_backward(a: &[f64], b: &[f64], dc: &[f64], (m, n, k): (usize, usize, usize)) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut da = vec![0.0; m * k];
    let mut db = vec![0.0; k * n];
    let mut dbias = vec![0.0; n];
    for i in 0..m {
        for j in 0..n {
            let g = dc[i * n + j];
            dbias[j] += g;
            for kk in 0..k {
                da[i * k + kk] += g * b[kk * n + j];
                db[kk * n + j] += g * a[i * k + kk];
            }
        }
    }
    (da, db, dbias)
}
