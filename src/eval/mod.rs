//! `shadergan eval`, first part: what a trained classifier says about generated images —
//! which classes they show, how many of the classes are covered, how sure the classifier is,
//! and for a conditional generator the share of samples recognised as the class they were
//! asked for (the test of issue 8: "a classifier … recognises at least 90 % of the samples as
//! the class they were asked for").

pub mod birthday;
pub mod memorisation;
pub mod neighbours;
pub mod prdc;

use serde::Serialize;

use crate::classifier::Classified;

/// The class statistics of `n` samples.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ClassReport {
    pub samples: usize,
    pub classes: usize,
    /// Samples per predicted class (the classifier's top class).
    pub histogram: Vec<usize>,
    /// Classes predicted for at least one sample.
    pub classes_covered: usize,
    /// Entropy of the predicted-class histogram in nats, and as a share of ln K (1: every
    /// class equally often; 0: one class only — mode collapse).
    pub entropy: f64,
    pub entropy_normalised: f64,
    /// Mean probability of the top class.
    pub mean_confidence: f64,
    /// Conditional generators: the share recognised as the requested class, overall and per
    /// requested class (None for unconditional ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recognised: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recognised_per_class: Option<Vec<f64>>,
}

impl ClassReport {
    /// The report of `verdicts`, with `requested` (one label per verdict) for a conditional
    /// generator or empty for an unconditional one.
    pub fn new(verdicts: &[Classified], requested: &[u32]) -> ClassReport {
        assert!(requested.is_empty() || requested.len() == verdicts.len(), "one requested label per sample");
        let classes = verdicts.first().map_or(0, |v| v.probs.len());
        let mut histogram = vec![0usize; classes];
        let mut confidence = 0f64;
        let (mut asked, mut hits) = (vec![0usize; classes], vec![0usize; classes]);
        for (i, v) in verdicts.iter().enumerate() {
            let (top, p) = v.top();
            histogram[top] += 1;
            confidence += p;
            if let Some(&y) = requested.get(i) {
                asked[y as usize] += 1;
                hits[y as usize] += (top == y as usize) as usize;
            }
        }
        let n = verdicts.len();
        let entropy = -histogram.iter().filter(|&&c| c > 0).map(|&c| c as f64 / n as f64).map(|p| p * p.ln()).sum::<f64>();
        let (recognised, recognised_per_class) = if requested.is_empty() || n == 0 {
            (None, None)
        } else {
            (
                Some(hits.iter().sum::<usize>() as f64 / n as f64),
                Some(asked.iter().zip(&hits).map(|(&a, &h)| if a == 0 { f64::NAN } else { h as f64 / a as f64 }).collect()),
            )
        };
        ClassReport {
            samples: n,
            classes,
            classes_covered: histogram.iter().filter(|&&c| c > 0).count(),
            entropy,
            entropy_normalised: if classes > 1 { entropy / (classes as f64).ln() } else { 0.0 },
            mean_confidence: if n == 0 { f64::NAN } else { confidence / n as f64 },
            histogram,
            recognised,
            recognised_per_class,
        }
    }
}

/// Mean and covariance (unbiased, divided by n − 1) of `n` feature vectors of `dim` values
/// each, stored row after row, accumulated in f64.
pub fn mean_covariance(features: &[f32], n: usize, dim: usize) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(features.len(), n * dim, "n rows of dim features");
    let mut mean = vec![0f64; dim];
    for row in features.chunks(dim) {
        for (m, &x) in mean.iter_mut().zip(row) {
            *m += x as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut cov = vec![0f64; dim * dim];
    let mut centred = vec![0f64; dim];
    for row in features.chunks(dim) {
        for ((c, &x), m) in centred.iter_mut().zip(row).zip(&mean) {
            *c = x as f64 - m;
        }
        for i in 0..dim {
            let ci = centred[i];
            for j in i..dim {
                cov[i * dim + j] += ci * centred[j];
            }
        }
    }
    let denom = (n.max(2) - 1) as f64;
    for i in 0..dim {
        for j in i..dim {
            let v = cov[i * dim + j] / denom;
            cov[i * dim + j] = v;
            cov[j * dim + i] = v;
        }
    }
    (mean, cov)
}

/// Eigenvalues and eigenvectors of the symmetric `n`×`n` matrix `a` (row-major) by cyclic
/// Jacobi rotations, in f64: returns (λ, V) with A = V·diag(λ)·Vᵀ, V's columns the vectors.
/// Sweeps until the off-diagonal mass is below 1e-22 of the total (at most 100 sweeps).
pub fn symmetric_eigen_jacobi(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(a.len(), n * n);
    let mut a = a.to_vec();
    let mut v = vec![0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let total: f64 = a.iter().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
    for _ in 0..100 {
        let off: f64 = (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| a[i * n + j] * a[i * n + j]).sum();
        if off <= 1e-22 * total {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                // The rotation that zeroes a[p][q] (Golub & Van Loan, sym.schur2).
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// The square root of a symmetric positive semi-definite matrix (negative eigenvalues from
/// rounding are taken as 0).
pub fn sqrt_psd(a: &[f64], n: usize) -> Vec<f64> {
    let (lambda, v) = symmetric_eigen(a, n);
    let root: Vec<f64> = lambda.iter().map(|&l| l.max(0.0).sqrt()).collect();
    let mut out = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            out[i * n + j] = (0..n).map(|k| v[i * n + k] * root[k] * v[j * n + k]).sum();
        }
    }
    out
}

fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut c = vec![0f64; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            for j in 0..n {
                c[i * n + j] += aik * b[k * n + j];
            }
        }
    }
    c
}

/// Fréchet distance between N(μ₁, Σ₁) and N(μ₂, Σ₂): ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ −
/// 2 tr √(Σ₁^½ Σ₂ Σ₁^½). The last term through the eigenvalues of the symmetric PSD matrix
/// Σ₁^½ Σ₂ Σ₁^½ (no complex square root, unlike scipy's sqrtm of Σ₁Σ₂).
pub fn frechet_distance(mu1: &[f64], cov1: &[f64], mu2: &[f64], cov2: &[f64]) -> f64 {
    let n = mu1.len();
    let s1 = sqrt_psd(cov1, n);
    let m = matmul(&matmul(&s1, cov2, n), &s1, n);
    // Symmetrise what rounding broke before the eigendecomposition.
    let m: Vec<f64> = (0..n * n).map(|k| 0.5 * (m[k] + m[(k % n) * n + k / n])).collect();
    let (lambda, _) = symmetric_eigen(&m, n);
    let tr_sqrt: f64 = lambda.iter().map(|&l| l.max(0.0).sqrt()).sum();
    let d2: f64 = mu1.iter().zip(mu2).map(|(a, b)| (a - b) * (a - b)).sum();
    let tr = |c: &[f64]| (0..n).map(|i| c[i * n + i]).sum::<f64>();
    d2 + tr(cov1) + tr(cov2) - 2.0 * tr_sqrt
}

/// The Fréchet distance between two sets of feature rows (`dim` values each), or an error
/// naming the flag when either set has no more samples than dimensions (its covariance would
/// be singular and the distance meaningless).
pub fn frechet_distance_of(a: &[f32], b: &[f32], dim: usize) -> crate::error::Result<f64> {
    let (na, nb) = (a.len() / dim, b.len() / dim);
    if na <= dim || nb <= dim {
        return Err(crate::error::Error::invalid(
            "--n",
            format!("the Fréchet distance needs more samples than feature dimensions ({dim}) in both sets; got {na} generated and {nb} reference images"),
        ));
    }
    let (m1, c1) = mean_covariance(a, na, dim);
    let (m2, c2) = mean_covariance(b, nb, dim);
    Ok(frechet_distance(&m1, &c1, &m2, &c2))
}

/// The cubic polynomial kernel of KID: k(x, y) = (xᵀy / d + 1)³.
fn poly_kernel(x: &[f32], y: &[f32]) -> f64 {
    // Four independent f64 partial sums, so the compiler can keep them in one vector register
    // (a single running sum is a serial dependency chain); summed in a fixed order.
    let mut acc = [0f64; 4];
    let (cx, cy) = (x.chunks_exact(4), y.chunks_exact(4));
    let tail: f64 = cx.remainder().iter().zip(cy.remainder()).map(|(a, b)| *a as f64 * *b as f64).sum();
    for (a, b) in cx.zip(cy) {
        for l in 0..4 {
            acc[l] += a[l] as f64 * b[l] as f64;
        }
    }
    let dot = (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail;
    (dot / x.len() as f64 + 1.0).powi(3)
}

/// The unbiased MMD² between the rows of `x` and `y` (each `dim` values) under the cubic
/// polynomial kernel: the mean of k over distinct pairs within x, plus the same within y,
/// minus twice the mean of k over all pairs across (Bińkowski et al. 2018).
pub fn mmd2_unbiased(x: &[f32], y: &[f32], dim: usize) -> f64 {
    let (m, n) = (x.len() / dim, y.len() / dim);
    let within = |z: &[f32], k: usize| -> f64 {
        let mut s = 0f64;
        for i in 0..k {
            for j in i + 1..k {
                s += poly_kernel(&z[i * dim..(i + 1) * dim], &z[j * dim..(j + 1) * dim]);
            }
        }
        2.0 * s / (k * (k - 1)) as f64
    };
    let mut cross = 0f64;
    for i in 0..m {
        for j in 0..n {
            cross += poly_kernel(&x[i * dim..(i + 1) * dim], &y[j * dim..(j + 1) * dim]);
        }
    }
    within(x, m) + within(y, n) - 2.0 * cross / (m * n) as f64
}

/// Kernel Inception Distance in any feature space: the unbiased MMD² of `subsets` random
/// subsets of `subset_size` rows from each set (without replacement within a subset; the
/// draws seeded), as (mean, standard deviation over the subsets). Needs at least 2 rows per
/// subset.
pub fn kid(x: &[f32], y: &[f32], dim: usize, subsets: usize, subset_size: usize, seed: u64) -> crate::error::Result<(f64, f64)> {
    kid_with(x, y, dim, subsets, subset_size, seed, |a, b| Ok(mmd2_unbiased(a, b, dim)))
}

/// The same subsets and estimator with the inner products on the GPU: per subset one matmul
/// G = Z·Zᵀ/d of Z = [a; b] ([2m, d]; `dim` 128 and m = 1 000: 5·10⁸ MACs, the host's cost),
/// read back and turned into kernel sums in f64 on the host. Agrees with `kid` to f32 rounding
/// of the inner products (tests/eval_neighbours.rs).
pub fn kid_on_gpu(gpu: &crate::gpu::Gpu, x: &[f32], y: &[f32], dim: usize, subsets: usize, subset_size: usize, seed: u64) -> crate::error::Result<(f64, f64)> {
    use crate::gpu::{DType, GpuTensor};
    use crate::ops::matmul::{matmul, MatmulSpec};
    let m = subset_size.min(x.len() / dim).min(y.len() / dim);
    if m < 2 || subsets == 0 {
        return kid(x, y, dim, subsets, subset_size, seed);
    }
    let rows = 2 * m;
    let z = GpuTensor::zeros(gpu, &[rows, dim], DType::F32, "kid subsets")?;
    let z_t = GpuTensor::zeros(gpu, &[dim, rows], DType::F32, "kid subsets (transposed)")?;
    let gram = GpuTensor::zeros(gpu, &[rows, rows], DType::F32, "kid gram")?;
    let product = matmul(gpu, &MatmulSpec { alpha: 1.0 / dim as f32, ..MatmulSpec::new(rows, rows, dim) }, &z, &z_t, None, &gram, None)?;
    let mut rows_host = vec![0f32; rows * dim];
    let mut transposed = vec![0f32; rows * dim];
    kid_with(x, y, dim, subsets, subset_size, seed, |a, b| {
        rows_host[..m * dim].copy_from_slice(a);
        rows_host[m * dim..].copy_from_slice(b);
        for (i, row) in rows_host.chunks_exact(dim).enumerate() {
            for (k, &v) in row.iter().enumerate() {
                transposed[k * rows + i] = v;
            }
        }
        z.write_f32(gpu, &rows_host)?;
        z_t.write_f32(gpu, &transposed)?;
        gpu.run("kid gram", &[&product])?;
        let g = gram.read_f32(gpu)?;
        let k = |i: usize, j: usize| (g[i * rows + j] as f64 + 1.0).powi(3);
        let (mut xx, mut yy, mut xy) = (0f64, 0f64, 0f64);
        for i in 0..m {
            for j in i + 1..m {
                xx += k(i, j);
                yy += k(m + i, m + j);
            }
            for j in 0..m {
                xy += k(i, m + j);
            }
        }
        let pairs = (m * (m - 1)) as f64;
        Ok(2.0 * xx / pairs + 2.0 * yy / pairs - 2.0 * xy / (m * m) as f64)
    })
}

/// `kid`'s subsets and statistics around any MMD² estimator.
fn kid_with(x: &[f32], y: &[f32], dim: usize, subsets: usize, subset_size: usize, seed: u64, mut mmd: impl FnMut(&[f32], &[f32]) -> crate::error::Result<f64>) -> crate::error::Result<(f64, f64)> {
    let (nx, ny) = (x.len() / dim, y.len() / dim);
    let m = subset_size.min(nx).min(ny);
    if m < 2 || subsets == 0 {
        return Err(crate::error::Error::invalid("--n", format!("KID needs at least 2 samples in each set; got {nx} generated and {ny} reference")));
    }
    let mut rng = crate::rng::Rng::for_case(seed, "kid subsets");
    let mut pick = |n: usize, from: &[f32]| -> Vec<f32> {
        let mut idx: Vec<usize> = (0..n).collect();
        for i in 0..m {
            let j = i + (rng.next_u64() % (n - i) as u64) as usize;
            idx.swap(i, j);
        }
        idx[..m].iter().flat_map(|&i| from[i * dim..(i + 1) * dim].iter().copied()).collect()
    };
    let mut values = Vec::with_capacity(subsets);
    for _ in 0..subsets {
        let (a, b) = (pick(nx, x), pick(ny, y));
        values.push(mmd(&a, &b)?);
    }
    let mean = values.iter().sum::<f64>() / subsets as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (subsets.max(2) - 1) as f64;
    Ok((mean, var.sqrt()))
}

/// Symmetric eigendecomposition by Householder tridiagonalisation and the implicit QL
/// algorithm (tred2/tql2 of EISPACK, as in JAMA): ~(4/3 + 9)·n³ flops once, where each cyclic
/// Jacobi sweep costs ~3n³ and a 1 024-dimensional feature space needs ~10 of them.
/// Returns (eigenvalues, eigenvectors as the columns of an n×n row-major matrix). Measured
/// against the Jacobi method it replaced (`symmetric_eigen_jacobi`, kept as the tests' second
/// opinion): 1.1 s instead of 13.2 s at n = 512, eigenvalues equal to 1e-11.
// The index loops follow JAMA's tred2/tql2 line for line, so each can be checked against it.
#[allow(clippy::needless_range_loop)]
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(a.len(), n * n);
    if n == 0 {
        return (Vec::new(), Vec::new());
    }
    let mut v = a.to_vec();
    let (mut d, mut e) = (vec![0f64; n], vec![0f64; n]);
    let at = |i: usize, j: usize| i * n + j;
    // tred2: V ← the orthogonal Q with Qᵀ A Q tridiagonal (diagonal d, subdiagonal e).
    for j in 0..n {
        d[j] = v[at(n - 1, j)];
    }
    for i in (1..n).rev() {
        let mut scale = 0f64;
        let mut h = 0f64;
        for k in 0..i {
            scale += d[k].abs();
        }
        if scale == 0.0 {
            e[i] = d[i - 1];
            for j in 0..i {
                d[j] = v[at(i - 1, j)];
                v[at(i, j)] = 0.0;
                v[at(j, i)] = 0.0;
            }
        } else {
            for k in 0..i {
                d[k] /= scale;
                h += d[k] * d[k];
            }
            let mut f = d[i - 1];
            let mut g = h.sqrt();
            if f > 0.0 {
                g = -g;
            }
            e[i] = scale * g;
            h -= f * g;
            d[i - 1] = f - g;
            for j in 0..i {
                e[j] = 0.0;
            }
            for j in 0..i {
                f = d[j];
                v[at(j, i)] = f;
                g = e[j] + v[at(j, j)] * f;
                for k in j + 1..i {
                    g += v[at(k, j)] * d[k];
                    e[k] += v[at(k, j)] * f;
                }
                e[j] = g;
            }
            f = 0.0;
            for j in 0..i {
                e[j] /= h;
                f += e[j] * d[j];
            }
            let hh = f / (h + h);
            for j in 0..i {
                e[j] -= hh * d[j];
            }
            for j in 0..i {
                f = d[j];
                g = e[j];
                for k in j..i {
                    v[at(k, j)] -= f * e[k] + g * d[k];
                }
                d[j] = v[at(i - 1, j)];
                v[at(i, j)] = 0.0;
            }
        }
        d[i] = h;
    }
    for i in 0..n - 1 {
        v[at(n - 1, i)] = v[at(i, i)];
        v[at(i, i)] = 1.0;
        let h = d[i + 1];
        if h != 0.0 {
            for k in 0..=i {
                d[k] = v[at(k, i + 1)] / h;
            }
            for j in 0..=i {
                let mut g = 0f64;
                for k in 0..=i {
                    g += v[at(k, i + 1)] * v[at(k, j)];
                }
                for k in 0..=i {
                    v[at(k, j)] -= g * d[k];
                }
            }
        }
        for k in 0..=i {
            v[at(k, i + 1)] = 0.0;
        }
    }
    for j in 0..n {
        d[j] = v[at(n - 1, j)];
        v[at(n - 1, j)] = 0.0;
    }
    v[at(n - 1, n - 1)] = 1.0;
    e[0] = 0.0;

    // tql2: diagonalise the tridiagonal matrix, accumulating the rotations into V.
    for i in 1..n {
        e[i - 1] = e[i];
    }
    e[n - 1] = 0.0;
    let mut f = 0f64;
    let mut tst1 = 0f64;
    let eps = f64::EPSILON;
    for l in 0..n {
        tst1 = tst1.max(d[l].abs() + e[l].abs());
        let mut m = l;
        while m < n {
            if e[m].abs() <= eps * tst1 {
                break;
            }
            m += 1;
        }
        let m = m.min(n - 1);
        if m > l {
            loop {
                let mut g = d[l];
                let mut p = (d[l + 1] - g) / (2.0 * e[l]);
                let mut r = p.hypot(1.0);
                if p < 0.0 {
                    r = -r;
                }
                d[l] = e[l] / (p + r);
                d[l + 1] = e[l] * (p + r);
                let dl1 = d[l + 1];
                let mut h = g - d[l];
                for di in d.iter_mut().take(n).skip(l + 2) {
                    *di -= h;
                }
                f += h;
                p = d[m];
                let (mut c, mut c2, mut c3) = (1f64, 1f64, 1f64);
                let el1 = e[l + 1];
                let (mut s, mut s2) = (0f64, 0f64);
                for i in (l..m).rev() {
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    g = c * e[i];
                    h = c * p;
                    r = p.hypot(e[i]);
                    e[i + 1] = s * r;
                    s = e[i] / r;
                    c = p / r;
                    p = c * d[i] - s * g;
                    d[i + 1] = h + s * (c * g + s * d[i]);
                    for k in 0..n {
                        let vk1 = v[at(k, i + 1)];
                        v[at(k, i + 1)] = s * v[at(k, i)] + c * vk1;
                        v[at(k, i)] = c * v[at(k, i)] - s * vk1;
                    }
                }
                p = -s * s2 * c3 * el1 * e[l] / dl1;
                e[l] = s * p;
                d[l] = c * p;
                if e[l].abs() <= eps * tst1 {
                    break;
                }
            }
        }
        d[l] += f;
        e[l] = 0.0;
    }
    (d, v)
}
