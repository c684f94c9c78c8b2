//! eval's nearest-neighbour statistics on the GPU: the k-nearest scan against a brute-force
//! f64 search, precision/recall/density/coverage on sets whose answer is known, the birthday
//! estimator on a generator with a known finite support, and memorisation on copies and on
//! held-out data. Fresh random inputs each run; the seed is printed.

use std::sync::OnceLock;

use shadergan::eval::birthday::{birthday, ClosePairs};
use shadergan::eval::memorisation::Memorisation;
use shadergan::eval::neighbours::{DistanceScan, Knn};
use shadergan::eval::prdc::{prdc, prdc_brute_force};
use shadergan::gpu::{AdapterChoice, Gpu};
use shadergan::rng::Rng;

fn gpu() -> Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| Gpu::new(&AdapterChoice::default()).unwrap_or_else(|e| panic!("{e}"))).clone()
}

fn seed() -> u64 {
    let s = std::env::var("SHADERGAN_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("seed {s} (SHADERGAN_SEED={s} replays it)");
    s
}

#[test]
fn the_gpu_knn_scan_finds_the_same_neighbours_as_brute_force() {
    let gpu = gpu();
    let mut rng = Rng::for_case(seed(), "knn");
    // (queries, reference, dim, block rows): one row per block, ragged blocks, batch 1.
    for &(n, m, dim, rows) in &[(1usize, 7usize, 3usize, 4usize), (17, 65, 20, 1), (65, 127, 64, 16), (200, 300, 128, 4096)] {
        let reference = rng.normals(m * dim, 1.0);
        let queries = rng.normals(n * dim, 1.0);
        let scan = DistanceScan::new(&gpu, &reference, m, dim, rows).unwrap();
        let k = 5.min(m - 1);
        let got = Knn::compute(&gpu, &scan, &queries, n, k, false).unwrap();
        let want = Knn::brute_force(&reference, m, &queries, n, dim, k, false);
        // The same neighbours, except where two reference vectors are equally far from the
        // query within f32 rounding (then either order is right): a different index must have
        // the f64 distance of the neighbour it replaces.
        let d64 = |q: usize, j: usize| -> f64 { (0..dim).map(|c| (queries[q * dim + c] as f64 - reference[j * dim + c] as f64).powi(2)).sum() };
        for i in 0..n * k {
            let (g, w) = (got.index[i] as usize, want.index[i] as usize);
            let (dg, dw) = (d64(i / k, g), d64(i / k, w));
            assert!(g == w || (dg - dw).abs() <= 1e-5 * dw.max(1.0), "n={n} m={m} dim={dim}: query {} rank {}: neighbour {g} (d² {dg}) instead of {w} (d² {dw})", i / k, i % k);
        }
        for (g, w) in got.dist.iter().zip(&want.dist) {
            assert!((g - w).abs() <= 1e-4 * w.max(1.0), "n={n} m={m} dim={dim}: distance {g} vs {w}");
        }
        // Within one set: a vector is not its own neighbour.
        let own = Knn::compute(&gpu, &scan, &reference, m, k, true).unwrap();
        let own_want = Knn::brute_force(&reference, m, &reference, m, dim, k, true);
        let r64 = |q: usize, j: usize| -> f64 { (0..dim).map(|c| (reference[q * dim + c] as f64 - reference[j * dim + c] as f64).powi(2)).sum() };
        for i in 0..m * k {
            let (g, w) = (own.index[i] as usize, own_want.index[i] as usize);
            let (dg, dw) = (r64(i / k, g), r64(i / k, w));
            assert!(g == w || (dg - dw).abs() <= 1e-5 * dw.max(1.0), "m={m}: within the set, vector {} rank {}: neighbour {g} (d² {dg}) instead of {w} (d² {dw})", i / k, i % k);
        }
        assert!((0..m).all(|i| (0..k).all(|r| own.index[i * k + r] as usize != i)), "a vector found itself");
    }
}

/// `n` points around `centre` (unit Gaussian noise) in `dim` dimensions.
fn cluster(rng: &mut Rng, n: usize, dim: usize, centre: f32) -> Vec<f32> {
    rng.normals(n * dim, 1.0).into_iter().map(|v| v + centre).collect()
}

#[test]
fn precision_recall_density_coverage_on_sets_with_known_answers() {
    let gpu = gpu();
    let mut rng = Rng::for_case(seed(), "prdc");
    let dim = 16;
    let a = cluster(&mut rng, 300, dim, 0.0);
    let b = cluster(&mut rng, 300, dim, 50.0);
    let real: Vec<f32> = a.iter().chain(&b).copied().collect();
    // The real images themselves: every score is 1. Density counts, for each real, the fakes
    // strictly inside its 5-NN ball: itself and its 4 nearest, 5 per real, 5·n in all. Its 5th
    // neighbour lies exactly on the edge, so in f32 the asymmetry of d(i, j) and d(j, i) (two
    // rows of the scan) may put it inside: exact on the host, within those edge points on the GPU.
    let host = prdc_brute_force(&real, &real, dim);
    for (name, v) in [("precision", host.precision), ("recall", host.recall), ("density", host.density), ("coverage", host.coverage)] {
        assert!((v - 1.0).abs() < 1e-9, "copies of the reals, host: {name} = {v}");
    }
    let same = prdc(&gpu, &real, &real, dim).unwrap();
    for (name, v) in [("precision", same.precision), ("recall", same.recall), ("coverage", same.coverage)] {
        assert!((v - 1.0).abs() < 1e-9, "copies of the reals: {name} = {v}");
    }
    assert!((same.density - 1.0).abs() <= 0.2 * 0.05, "copies of the reals: density {} (more than 5 % of the edge points flipped)", same.density);
    // Mode collapse: copies of one of the two clusters. Realistic (precision 1), but half the
    // data is missed (recall and coverage ½).
    let collapsed = prdc(&gpu, &real, &a, dim).unwrap();
    assert!((collapsed.precision - 1.0).abs() < 1e-9, "{collapsed:?}");
    assert!((collapsed.recall - 0.5).abs() < 1e-9 && (collapsed.coverage - 0.5).abs() < 1e-9, "{collapsed:?}");
    // Far from the data: nothing.
    let far = cluster(&mut rng, 200, dim, -80.0);
    let none = prdc(&gpu, &real, &far, dim).unwrap();
    assert_eq!((none.precision, none.recall, none.density, none.coverage), (0.0, 0.0, 0.0, 0.0), "{none:?}");
    // A fresh sample of the same distribution against the f64 host computation: the same up
    // to (fake, ball) pairs within f32 rounding (~1e-6 relative) of the ball's edge. Of the
    // 300 000 pairs here about one lies that close, so up to 4 counts may differ.
    let fresh: Vec<f32> = cluster(&mut rng, 250, dim, 0.0).into_iter().chain(cluster(&mut rng, 250, dim, 50.0)).collect();
    let (g, w) = (prdc(&gpu, &real, &fresh, dim).unwrap(), prdc_brute_force(&real, &fresh, dim));
    for (name, x, y, unit) in [("precision", g.precision, w.precision, 4.0 / 500.0), ("recall", g.recall, w.recall, 4.0 / 600.0), ("density", g.density, w.density, 4.0 / 2500.0), ("coverage", g.coverage, w.coverage, 4.0 / 600.0)] {
        assert!((x - y).abs() <= unit + 1e-12, "{name}: GPU {x} vs host {y}");
    }
    assert!(g.precision > 0.5 && g.recall > 0.5 && g.density > 0.5 && g.coverage > 0.5, "one distribution scores high: {g:?}");
}

#[test]
fn the_birthday_test_estimates_a_known_support() {
    let gpu = gpu();
    let mut rng = Rng::for_case(seed(), "birthday");
    // A generator with 300 distinct outputs, drawn with replacement.
    let (support, n, dim) = (300usize, 3000usize, 32usize);
    let distinct = rng.normals(support * dim, 1.0);
    let draws: Vec<usize> = (0..n).map(|_| (rng.next_u64() % support as u64) as usize).collect();
    let samples: Vec<f32> = draws.iter().flat_map(|&i| distinct[i * dim..(i + 1) * dim].iter().copied()).collect();
    let scan = DistanceScan::new(&gpu, &samples, n, dim, 512).unwrap();
    // Distinct outputs are ~2·dim apart (squared); copies 0 up to rounding.
    let threshold = 1.0;
    let mut pairs = ClosePairs::default();
    scan.scan(&gpu, &samples, n, |first, rows, d| {
        pairs.block(first, rows, n, d, threshold);
        Ok(())
    })
    .unwrap();
    let expected_pairs: usize = (0..n).map(|i| (i + 1..n).filter(|&j| draws[i] == draws[j]).count()).sum();
    assert_eq!(pairs.pairs.len(), expected_pairs, "close pairs = the pairs of equal draws");
    let result = birthday(n, &pairs, threshold, 400, &[8, 16, 32, 64], 7);
    let estimate = result.support.expect("300 outputs collide well within 3000 samples");
    assert!((150.0..=600.0).contains(&estimate), "support estimate {estimate} not within 2× of {support}: {result:?}");
    // P(duplicate among 16 of 300 equally likely outputs) = 1 − Π_{i<16}(1 − i/300).
    let exact = 1.0 - (0..16).map(|i| 1.0 - i as f64 / support as f64).product::<f64>();
    let p16 = result.probability.iter().find(|p| p.0 == 16).unwrap().1;
    assert!((p16 - exact).abs() < 0.1, "P(16) = {p16}, the birthday formula gives {exact}");
    // No close pairs: no crossing, probability 0.
    let none = birthday(n, &ClosePairs::default(), threshold, 10, &[64], 7);
    assert!(none.crossing.is_none() && none.probability[0].1 == 0.0);
}

#[test]
fn memorisation_flags_copies_of_training_images_and_about_one_percent_of_held_out_ones() {
    let gpu = gpu();
    let mut rng = Rng::for_case(seed(), "memorisation");
    let dim = 24;
    let train = rng.normals(600 * dim, 1.0);
    let held = rng.normals(300 * dim, 1.0);
    let scan = DistanceScan::new(&gpu, &train, 600, dim, 4096).unwrap();
    let held_knn = Knn::compute(&gpu, &scan, &held, 300, 3, false).unwrap();
    // Copies of training images (every one of 200 copies flagged).
    let copies: Vec<f32> = train[..200 * dim].to_vec();
    let copied = Memorisation::new("features", &Knn::compute(&gpu, &scan, &copies, 200, 3, false).unwrap(), &held_knn);
    assert_eq!(copied.flagged, 1.0, "{copied:?}");
    // The held-out images themselves: below the 1st percentile, so at most 1 %.
    let own = Memorisation::new("features", &held_knn, &held_knn);
    assert!(own.flagged <= 0.01, "{own:?}");
    // Fresh samples of the same distribution: about 1 %, far from all.
    let fresh = rng.normals(1000 * dim, 1.0);
    let m = Memorisation::new("features", &Knn::compute(&gpu, &scan, &fresh, 1000, 3, false).unwrap(), &held_knn);
    assert!(m.flagged < 0.05, "{m:?}");
    assert!(copied.median_sample_nearest < 1e-3 && m.median_sample_nearest > 0.5 * m.median_heldout_nearest, "{copied:?} {m:?}");
}

#[test]
fn kid_on_the_gpu_matches_the_host_on_the_same_subsets() {
    let gpu = gpu();
    let mut rng = Rng::for_case(seed(), "kid gpu");
    // Ragged: a subset size that is no multiple of 4 (the scalar matmul kernel), and one
    // that is (vec4), with features away from the origin like a ReLU net's.
    for &(n, dim, size) in &[(150usize, 7usize, 33usize), (400, 32, 200)] {
        let x: Vec<f32> = rng.normals(n * dim, 1.0).into_iter().map(|v| v.abs()).collect();
        let y: Vec<f32> = rng.normals(n * dim, 1.2).into_iter().map(|v| v.abs() + 0.1).collect();
        let host = shadergan::eval::kid(&x, &y, dim, 6, size, 3).unwrap();
        let dev = shadergan::eval::kid_on_gpu(&gpu, &x, &y, dim, 6, size, 3).unwrap();
        eprintln!("n={n} dim={dim}: host {host:?}, GPU {dev:?}");
        // f32 inner products: measured ~1e-7 relative on the mean (3e-7 of 2.7).
        let close = |a: f64, b: f64| (a - b).abs() < 1e-5 * a.abs().max(1.0);
        assert!(close(host.0, dev.0) && close(host.1, dev.1), "n={n} dim={dim}: host {host:?} vs GPU {dev:?}");
        assert!(host.0.abs() > 1e-3, "the sets differ: KID {host:?} must not be ~0");
    }
}
