//! Reference for shaders/minibatch_std.wgsl: StyleGAN's minibatch standard deviation layer
//! (Karras et al. 2018, as stylegan2-ada's `MinibatchStdLayer` with one channel): each sample
//! gets one more channel, constant over the plane, holding the average over its features of
//! the standard deviation across its group of samples. A discriminator that sees it can tell a
//! batch of near-copies (mode collapse) from a varied one without batch normalisation.
//!
//! Groups as stylegan2-ada's `x.reshape(G, -1, F, c, H, W)`: with G = min(group, B) and
//! M = B / G, sample b is member b / M of group b % M. With d_i = x_i − mean over the group
//! (per feature q = (c, h, w)) and σ_q = √(mean_i d_i² + ε):
//!   s[n] = (1/F) Σ_q σ_q,   y[b] = cat(x[b], s[group(b)] as a plane).
//! Written as the chain rule through the mean, the variance and σ, not the kernels' closed forms.

/// stylegan2-ada's ε inside the square root.
pub const EPS: f64 = 1e-8;

/// (G, M): the group size used and the number of groups for a batch of `b` (G must divide b).
pub fn groups(b: usize, group: usize) -> (usize, usize) {
    let g = group.min(b);
    assert!(g > 0 && b % g == 0, "group {g} must divide the batch {b}");
    (g, b / g)
}

/// Per group n and feature q: (the deviations d[i][q] of the members i, σ_q).
fn stats(x: &[f64], b: usize, f: usize, group: usize, n: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
    let (g, m) = groups(b, group);
    let member = |i: usize| &x[(i * m + n) * f..(i * m + n + 1) * f];
    let mean: Vec<f64> = (0..f).map(|q| (0..g).map(|i| member(i)[q]).sum::<f64>() / g as f64).collect();
    let d: Vec<Vec<f64>> = (0..g).map(|i| (0..f).map(|q| member(i)[q] - mean[q]).collect()).collect();
    let sigma = (0..f).map(|q| ((0..g).map(|i| d[i][q] * d[i][q]).sum::<f64>() / g as f64 + EPS).sqrt()).collect();
    (d, sigma)
}

/// s [B]: each sample's group statistic (the appended plane's value). x: [B, F] flat, F = C·H·W.
pub fn statistic(x: &[f64], b: usize, f: usize, group: usize) -> Vec<f64> {
    let (_, m) = groups(b, group);
    let per_group: Vec<f64> = (0..m).map(|n| stats(x, b, f, group, n).1.iter().sum::<f64>() / f as f64).collect();
    (0..b).map(|s| per_group[s % m]).collect()
}

/// y = cat(x, s planes): x [B, C, P] → [B, C + 1, P].
pub fn forward(x: &[f64], b: usize, c: usize, p: usize, group: usize) -> Vec<f64> {
    super::embedding::concat_planes(x, &statistic(x, b, c * p, group), b, c, p, 1)
}

/// ∂L/∂x from ∂L/∂y [B, C + 1, P]: the first C channels pass through; the plane's sum ds per
/// sample, summed over the group, flows back through σ: ∂σ_q/∂x_i = d_i/(G σ_q).
pub fn backward(x: &[f64], dy: &[f64], b: usize, c: usize, p: usize, group: usize) -> Vec<f64> {
    let f = c * p;
    let (g, m) = groups(b, group);
    let ds = super::embedding::concat_planes_backward(dy, b, c, p, 1);
    let mut dx = vec![0.0; b * f];
    for s in 0..b {
        dx[s * f..(s + 1) * f].copy_from_slice(&dy[s * (f + p)..s * (f + p) + f]);
    }
    for n in 0..m {
        let (d, sigma) = stats(x, b, f, group, n);
        let ds_group: f64 = (0..g).map(|i| ds[i * m + n]).sum();
        for q in 0..f {
            // s = Σσ/F; σ = √(v + ε), v = Σ d²/G: ∂v/∂x_i = 2 d_i / G (Σ d = 0).
            let dsigma = ds_group / f as f64;
            let dv = dsigma / (2.0 * sigma[q]);
            for (i, di) in d.iter().enumerate() {
                dx[(i * m + n) * f + q] += dv * 2.0 * di[q] / g as f64;
            }
        }
    }
    dx
}

/// The backward of the backward, for a penalty P of dx: from adj = ∂P/∂dx [B, C, P], the
/// adjoint of dy ([B, C + 1, P]: adj itself on the first C channels, and on the plane of every
/// sample of group n the sum Σ_{i∈n, q} adj_i,q · ∂dx_i,q/∂ds) and the adjoint of x (dx depends
/// on x through d_i/σ_q). Returns (adj_dy, adj_x).
pub fn double_backward(x: &[f64], dy: &[f64], adj: &[f64], b: usize, c: usize, p: usize, group: usize) -> (Vec<f64>, Vec<f64>) {
    let f = c * p;
    let (g, m) = groups(b, group);
    let ds = super::embedding::concat_planes_backward(dy, b, c, p, 1);
    let gf = g as f64 * f as f64;
    let mut plane = vec![0.0; b];
    let mut adj_x = vec![0.0; b * f];
    for n in 0..m {
        let (d, sigma) = stats(x, b, f, group, n);
        let at = |i: usize, q: usize| adj[(i * m + n) * f + q];
        // dx_i,q = … + ds_n · a_i,q with a = d_i / (G F σ_q).
        let a_sum: f64 = (0..g).map(|i| (0..f).map(|q| at(i, q) * d[i][q] / (gf * sigma[q])).sum::<f64>()).sum();
        for i in 0..g {
            plane[i * m + n] = a_sum;
        }
        let ds_group: f64 = (0..g).map(|i| ds[i * m + n]).sum();
        for q in 0..f {
            // ∂/∂x_j of Σ_i adj_i d_i / σ: (adj_j − mean adj)/σ − (Σ_i adj_i d_i) d_j / (G σ³).
            let mean_adj = (0..g).map(|i| at(i, q)).sum::<f64>() / g as f64;
            let t: f64 = (0..g).map(|i| at(i, q) * d[i][q]).sum();
            for j in 0..g {
                let s = sigma[q];
                adj_x[(j * m + n) * f + q] = ds_group / gf * ((at(j, q) - mean_adj) / s - t * d[j][q] / (g as f64 * s * s * s));
            }
        }
    }
    (super::embedding::concat_planes(adj, &plane, b, c, p, 1), adj_x)
}
