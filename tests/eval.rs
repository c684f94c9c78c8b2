//! The host-side statistics of `eval`, in f64: the symmetric eigendecomposition, the matrix
//! square root and the Fréchet distance, against closed forms, on fresh random inputs (the
//! seed is printed so a failure can be replayed).

use shadergan::eval::{frechet_distance, frechet_distance_of, kid, mean_covariance, mmd2_unbiased, sqrt_psd, symmetric_eigen, symmetric_eigen_jacobi};
use shadergan::rng::Rng;

fn seed() -> u64 {
    let s = std::env::var("SHADERGAN_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("seed {s} (SHADERGAN_SEED={s} replays it)");
    s
}

fn random_symmetric(rng: &mut Rng, n: usize) -> Vec<f64> {
    let mut a = vec![0f64; n * n];
    for i in 0..n {
        for j in i..n {
            let v = rng.normal();
            a[i * n + j] = v;
            a[j * n + i] = v;
        }
    }
    a
}

/// A random covariance: B·Bᵀ / n + a small ridge (positive definite).
fn random_covariance(rng: &mut Rng, n: usize) -> Vec<f64> {
    let b: Vec<f64> = (0..n * n).map(|_| rng.normal()).collect();
    let mut c = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            c[i * n + j] = (0..n).map(|k| b[i * n + k] * b[j * n + k]).sum::<f64>() / n as f64 + if i == j { 0.1 } else { 0.0 };
        }
    }
    c
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt();
    d / b.iter().map(|y| y * y).sum::<f64>().sqrt().max(1e-300)
}

#[test]
fn the_eigendecomposition_reconstructs_and_its_vectors_are_orthonormal() {
    let mut rng = Rng::for_case(seed(), "eigen");
    for n in [1usize, 2, 3, 17, 65] {
        let a = random_symmetric(&mut rng, n);
        let (lambda, v) = symmetric_eigen(&a, n);
        let mut back = vec![0f64; n * n];
        let mut gram = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                back[i * n + j] = (0..n).map(|k| v[i * n + k] * lambda[k] * v[j * n + k]).sum();
                gram[i * n + j] = (0..n).map(|k| v[k * n + i] * v[k * n + j]).sum();
            }
        }
        assert!(rel(&back, &a) < 1e-10, "n = {n}: V·Λ·Vᵀ differs from A by {}", rel(&back, &a));
        let eye: Vec<f64> = (0..n * n).map(|k| if k / n == k % n { 1.0 } else { 0.0 }).collect();
        assert!(rel(&gram, &eye) < 1e-10, "n = {n}: VᵀV ≠ I");
        // sqrt_psd of a covariance squares back to it.
        let c = random_covariance(&mut rng, n);
        let s = sqrt_psd(&c, n);
        let sq: Vec<f64> = (0..n * n).map(|k| (0..n).map(|m| s[(k / n) * n + m] * s[m * n + k % n]).sum()).collect();
        assert!(rel(&sq, &c) < 1e-10, "n = {n}: √C·√C ≠ C");
    }
}

#[test]
fn householder_ql_and_jacobi_agree_also_on_repeated_and_zero_eigenvalues() {
    let mut rng = Rng::for_case(seed(), "eigen ql");
    let sorted = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v
    };
    // Random, 100-dimensional; the identity (all eigenvalues repeated); a matrix with a zero
    // block (Householder's zero-scale branch) and a rank-1 covariance (n − 1 zero eigenvalues).
    let n = 100;
    let random = random_symmetric(&mut rng, n);
    let eye: Vec<f64> = (0..n * n).map(|k| if k / n == k % n { 1.0 } else { 0.0 }).collect();
    let mut blocky = vec![0f64; 9];
    blocky[0] = 2.0;
    blocky[1] = 1.0;
    blocky[3] = 1.0;
    let u: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    let rank1: Vec<f64> = (0..n * n).map(|k| u[k / n] * u[k % n]).collect();
    for (name, a, n) in [("random", &random, n), ("identity", &eye, n), ("zero block", &blocky, 3), ("rank 1", &rank1, n)] {
        let (ql, v) = symmetric_eigen(a, n);
        let (jacobi, _) = symmetric_eigen_jacobi(a, n);
        let (ql, jacobi) = (sorted(ql), sorted(jacobi));
        let scale = jacobi.iter().fold(1f64, |m, x| m.max(x.abs()));
        assert!(ql.iter().zip(&jacobi).all(|(p, q)| (p - q).abs() < 1e-10 * scale), "{name}: {ql:?} vs {jacobi:?}");
        let (lambda, _) = symmetric_eigen(a, n);
        let back: Vec<f64> = (0..n * n).map(|k| (0..n).map(|m| v[(k / n) * n + m] * lambda[m] * v[(k % n) * n + m]).sum()).collect();
        assert!(rel(&back, a) < 1e-10, "{name}: V·Λ·Vᵀ differs from A by {}", rel(&back, a));
    }
}

#[test]
fn the_frechet_distance_matches_its_closed_forms() {
    let mut rng = Rng::for_case(seed(), "frechet");
    for n in [1usize, 3, 17, 40] {
        let mu1: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let mu2: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        // Commuting covariances Q·D·Qᵀ: FD = ‖Δμ‖² + Σ (√d₁ − √d₂)².
        let (_, q) = symmetric_eigen(&random_symmetric(&mut rng, n), n);
        let d1: Vec<f64> = (0..n).map(|_| 0.1 + rng.uniform() * 3.0).collect();
        let d2: Vec<f64> = (0..n).map(|_| 0.1 + rng.uniform() * 3.0).collect();
        let rotate = |d: &[f64]| -> Vec<f64> { (0..n * n).map(|k| (0..n).map(|m| q[(k / n) * n + m] * d[m] * q[(k % n) * n + m]).sum()).collect() };
        let (c1, c2) = (rotate(&d1), rotate(&d2));
        let expected = mu1.iter().zip(&mu2).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() + d1.iter().zip(&d2).map(|(a, b)| (a.sqrt() - b.sqrt()).powi(2)).sum::<f64>();
        let got = frechet_distance(&mu1, &c1, &mu2, &c2);
        assert!((got - expected).abs() < 1e-9 * expected.max(1.0), "n = {n}: {got} vs {expected}");
        // A distribution is at distance 0 from itself; the distance is symmetric also when the
        // covariances do not commute.
        let (a, b) = (random_covariance(&mut rng, n), random_covariance(&mut rng, n));
        let tr: f64 = (0..n).map(|i| a[i * n + i]).sum();
        assert!(frechet_distance(&mu1, &a, &mu1, &a).abs() < 1e-9 * tr, "n = {n}: FD(X, X) ≠ 0");
        let (ab, ba) = (frechet_distance(&mu1, &a, &mu2, &b), frechet_distance(&mu2, &b, &mu1, &a));
        assert!(ab > 0.0 && (ab - ba).abs() < 1e-9 * ab, "n = {n}: FD(a, b) = {ab}, FD(b, a) = {ba}");
    }
}

#[test]
fn feature_statistics_and_their_limits() {
    let mut rng = Rng::for_case(seed(), "features");
    // mean_covariance against a direct two-pass computation.
    let (n, dim) = (65usize, 3usize);
    let x: Vec<f32> = rng.normals(n * dim, 2.0);
    let (mean, cov) = mean_covariance(&x, n, dim);
    for i in 0..dim {
        let m: f64 = (0..n).map(|r| x[r * dim + i] as f64).sum::<f64>() / n as f64;
        assert!((mean[i] - m).abs() < 1e-12);
        for j in 0..dim {
            let mj: f64 = (0..n).map(|r| x[r * dim + j] as f64).sum::<f64>() / n as f64;
            let c: f64 = (0..n).map(|r| (x[r * dim + i] as f64 - m) * (x[r * dim + j] as f64 - mj)).sum::<f64>() / (n - 1) as f64;
            assert!((cov[i * dim + j] - c).abs() < 1e-12, "cov[{i}][{j}]");
        }
    }
    // Two samples of one Gaussian are close; a shifted one is far.
    let a: Vec<f32> = rng.normals(4000 * dim, 1.0);
    let b: Vec<f32> = rng.normals(4000 * dim, 1.0);
    let shifted: Vec<f32> = b.iter().map(|v| v + 1.0).collect();
    let same = frechet_distance_of(&a, &b, dim).unwrap();
    let far = frechet_distance_of(&a, &shifted, dim).unwrap();
    // Shifting one set moves only the ‖Δμ‖² term: exactly, whatever the sample noise.
    let (ma, _) = mean_covariance(&a, 4000, dim);
    let (mb, _) = mean_covariance(&b, 4000, dim);
    let expected = same - ma.iter().zip(&mb).map(|(x, y)| (x - y).powi(2)).sum::<f64>() + ma.iter().zip(&mb).map(|(x, y)| (x - y - 1.0).powi(2)).sum::<f64>();
    assert!(same < 0.02, "two samples of N(0, I): {same}");
    assert!((far - expected).abs() < 1e-6 * expected, "shifted by 1 in 3 dims: {far} vs {expected}");
    // No more samples than dimensions: an error naming --n, not a NaN.
    let err = frechet_distance_of(&a[..3 * dim], &b, dim).expect_err("refused");
    assert!(err.to_string().contains("--n") && err.to_string().contains("more samples than feature dimensions"), "{err}");
}

#[test]
fn kid_is_the_unbiased_mmd_of_the_cubic_kernel_and_near_zero_for_one_distribution() {
    let mut rng = Rng::for_case(seed(), "kid");
    // Against the formula written out: (xᵀy/d + 1)³, distinct pairs within, all pairs across.
    let (dim, m, n) = (3usize, 4usize, 5usize);
    let x = rng.normals(m * dim, 1.0);
    let y = rng.normals(n * dim, 1.0);
    let k = |a: &[f32], b: &[f32]| (a.iter().zip(b).map(|(p, q)| *p as f64 * *q as f64).sum::<f64>() / dim as f64 + 1.0).powi(3);
    let row = |z: &[f32], i: usize| z[i * dim..(i + 1) * dim].to_vec();
    let (mut xx, mut yy, mut xy) = (0f64, 0f64, 0f64);
    for i in 0..m {
        for j in 0..m {
            if i != j {
                xx += k(&row(&x, i), &row(&x, j));
            }
        }
        for j in 0..n {
            xy += k(&row(&x, i), &row(&y, j));
        }
    }
    for i in 0..n {
        for j in 0..n {
            if i != j {
                yy += k(&row(&y, i), &row(&y, j));
            }
        }
    }
    let expected = xx / (m * (m - 1)) as f64 + yy / (n * (n - 1)) as f64 - 2.0 * xy / (m * n) as f64;
    assert!((mmd2_unbiased(&x, &y, dim) - expected).abs() < 1e-12 * expected.abs().max(1.0));

    // Two samples of one Gaussian: about 0 (unbiased); a shifted one: clearly positive.
    let dim = 8;
    let a = rng.normals(1000 * dim, 1.0);
    let b = rng.normals(1000 * dim, 1.0);
    let shifted: Vec<f32> = rng.normals(1000 * dim, 1.0).iter().map(|v| v + 0.5).collect();
    let (same, same_std) = kid(&a, &b, dim, 20, 200, 1).unwrap();
    let (far, _) = kid(&a, &shifted, dim, 20, 200, 1).unwrap();
    assert!(far > 0.0 && same.abs() < 0.05 * far, "same {same} ± {same_std}, shifted {far}");
    assert!(same_std > 0.0);
    // The subsets are seeded: the same seed, the same value.
    assert_eq!(kid(&a, &b, dim, 5, 100, 9).unwrap(), kid(&a, &b, dim, 5, 100, 9).unwrap());
    assert!(kid(&a[..dim], &b, dim, 5, 100, 9).expect_err("one sample").to_string().contains("at least 2"));
}
