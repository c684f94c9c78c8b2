//! Reference for shaders/embedding.wgsl: a class embedding E[y] and its gradient, and vectors
//! appended to a tensor as constant planes, with the vectors' gradient.

/// out [B, N] = table[labels[b]] for a table [K, N] (flat, row-major).
pub fn forward(labels: &[u32], table: &[f64], dim: usize) -> Vec<f64> {
    labels.iter().flat_map(|&y| table[y as usize * dim..(y as usize + 1) * dim].iter().copied()).collect()
}

/// ∂L/∂table [K, N] from ∂L/∂out [B, N]: row k sums the rows of the samples labelled k.
pub fn backward(labels: &[u32], dout: &[f64], classes: usize, dim: usize) -> Vec<f64> {
    let mut d = vec![0.0; classes * dim];
    for (b, &y) in labels.iter().enumerate() {
        for n in 0..dim {
            d[y as usize * dim + n] += dout[b * dim + n];
        }
    }
    d
}

/// cat([x, v per position], dim 1): x [B, C, P], v [B, N] → [B, C + N, P] (all flat).
pub fn concat_planes(x: &[f64], v: &[f64], b: usize, c: usize, p: usize, dim: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(b * (c + dim) * p);
    for s in 0..b {
        out.extend_from_slice(&x[s * c * p..(s + 1) * c * p]);
        for n in 0..dim {
            out.extend(std::iter::repeat_n(v[s * dim + n], p));
        }
    }
    out
}

/// ∂L/∂v [B, N] of `concat_planes` from ∂L/∂out: the sum of each appended plane.
pub fn concat_planes_backward(dout: &[f64], b: usize, c: usize, p: usize, dim: usize) -> Vec<f64> {
    (0..b * dim)
        .map(|i| {
            let (s, n) = (i / dim, i % dim);
            let first = (s * (c + dim) + c + n) * p;
            dout[first..first + p].iter().sum()
        })
        .collect()
}
