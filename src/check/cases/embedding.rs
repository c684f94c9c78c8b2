//! Check cases of the embedding family: a class embedding E[y] and its scatter-add gradient
//! (one class, K = 1000 with a small batch so most rows get no gradient, a batch of one
//! label repeated), and vectors appended as constant planes with the vectors' gradient (z as
//! [B, nz, 1, 1], an MLP input, a 32×32 image with the planes summed over 1024 positions).
//! Gathers and copies are exact (bound 0); the sums get the usual derived bounds.

use super::*;

pub(super) fn embedding_cases() -> Vec<Case> {
    let mut v = Vec::new();
    // (B, K, N, fold)
    let tables: &[(usize, usize, usize, bool)] = &[(1, 1, 1, false), (3, 10, 5, false), (17, 4, 127, true), (64, 10, 100, false), (2, 1000, 3, false), (300, 3, 17, false)];
    for &(b, k, n, fold) in tables {
        v.push(Case::new("embedding", format!("embedding B={b} K={k} N={n} fold={fold}"), move |gpu, rng| embedding_case(gpu, rng, b, k, n, fold)));
    }
    // (B, C, trailing dims, N)
    let planes: &[(usize, usize, &[usize], usize)] = &[(1, 1, &[], 1), (3, 100, &[1, 1], 10), (17, 3, &[7, 9], 5), (64, 1, &[32, 32], 10), (2, 65, &[], 127)];
    for &(b, c, rest, n) in planes {
        let fits_folded = b * (c + n) * rest.iter().product::<usize>() <= 64 * 256;
        for fold in [false, true].into_iter().filter(|&f| !f || fits_folded) {
            v.push(Case::new("embedding", format!("concat_planes B={b} C={c} {rest:?} N={n} fold={fold}"), move |gpu, rng| planes_case(gpu, rng, b, c, rest, n, fold)));
        }
    }
    v
}

fn grid_of(gpu: &Gpu, fold: bool) -> Gpu {
    if fold { folded(gpu, FOLD_CAP) } else { gpu.clone() }
}

fn embedding_case(gpu: &Gpu, rng: &mut Rng, b: usize, k: usize, n: usize, fold: bool) -> Result<Vec<Row>> {
    let gpu = &grid_of(gpu, fold);
    let shape = format!("B={b} K={k} N={n}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });
    // With B = 300 and K = 3 every row sums ~100 samples; with K = 1000 most rows get none.
    let labels: Vec<u32> = (0..b).map(|_| (rng.next_u64() % k as u64) as u32).collect();
    let table_d = rng.normals(k * n, 1.0);
    let dout_d = rng.normals(b * n, 1.0);
    // The gradient accumulates: start from random values, not zeros.
    let dtable0 = rng.normals(k * n, 1.0);
    let y = GpuTensor::from_u32(gpu, &[b], &labels, "labels")?;
    let table = upload(gpu, &[k, n], &table_d, "table")?;
    let out = GpuTensor::zeros(gpu, &[b, n], DType::F32, "out")?;
    let dout = upload(gpu, &[b, n], &dout_d, "dout")?;
    let dtable = upload(gpu, &[k, n], &dtable0, "dtable")?;

    let got = run_poisoned(gpu, "embedding_forward", &[ops::embedding::forward(gpu, &y, &table, &out)?], &out)?;
    let want = cpu::embedding::forward(&labels, &f64s(&table_d), n);
    let mut rows = vec![Row::compare("embedding", "forward", &shape, "wg256", &got, &want, 0.0)];

    let got = run_read(gpu, "embedding_backward", &[ops::embedding::backward(gpu, &y, &dout, &dtable)?], &[&dtable])?;
    let want = add(&dtable0, &cpu::embedding::backward(&labels, &f64s(&dout_d), k, n));
    // Element i adds to dtable0[i] the samples labelled i/N: a sum of at most `most` + 1 terms.
    let count = |row: usize| labels.iter().filter(|&&l| l as usize == row).count();
    let terms: Vec<f64> = (0..k * n).map(|i| (dtable0[i] as f64).abs() + labels.iter().enumerate().filter(|&(_, &l)| l as usize == i / n).map(|(s, _)| (dout_d[s * n + i % n] as f64).powi(2)).sum::<f64>().sqrt()).collect();
    let most = (0..k).map(count).max().unwrap_or(0);
    rows.push(Row::compare("embedding", "backward", &shape, "wg256", &got[0], &want, cancellation_bound(sum_bound(most + 1), &terms, &want)));
    Ok(rows)
}

fn planes_case(gpu: &Gpu, rng: &mut Rng, b: usize, c: usize, rest: &[usize], n: usize, fold: bool) -> Result<Vec<Row>> {
    let gpu = &grid_of(gpu, fold);
    let p: usize = rest.iter().product();
    let x_shape = [&[b, c][..], rest].concat();
    let out_shape = [&[b, c + n][..], rest].concat();
    let shape = format!("{x_shape:?}+{n}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });
    let (xs, vs, douts) = (rng.normals(b * c * p, 1.0), rng.normals(b * n, 1.0), rng.normals(b * (c + n) * p, 1.0));
    let x = upload(gpu, &x_shape, &xs, "x")?;
    let vectors = upload(gpu, &[b, n], &vs, "vectors")?;
    let out = GpuTensor::zeros(gpu, &out_shape, DType::F32, "out")?;
    let dout = upload(gpu, &out_shape, &douts, "dout")?;
    let dv = GpuTensor::zeros(gpu, &[b, n], DType::F32, "dv")?;
    let got = run_poisoned(gpu, "concat_planes", &[ops::embedding::concat_planes(gpu, &x, &vectors, &out)?], &out)?;
    let want = cpu::embedding::concat_planes(&f64s(&xs), &f64s(&vs), b, c, p, n);
    let mut rows = vec![Row::compare("embedding", "concat_planes", &shape, "wg256", &got, &want, 0.0)];
    let got = run_poisoned(gpu, "concat_planes_backward", &[ops::embedding::concat_planes_backward(gpu, &dout, &x_shape, &dv)?], &dv)?;
    let d64 = f64s(&douts);
    let want = cpu::embedding::concat_planes_backward(&d64, b, c, p, n);
    // Each dv element sums one plane of P values: their root-sum-square is the terms' size.
    let squares: Vec<f64> = d64.iter().map(|v| v * v).collect();
    let terms: Vec<f64> = cpu::embedding::concat_planes_backward(&squares, b, c, p, n).iter().map(|s| s.sqrt()).collect();
    rows.push(Row::compare("embedding", "concat_planes_backward", &shape, "wg256", &got, &want, cancellation_bound(sum_bound(p), &terms, &want)));
    Ok(rows)
}
