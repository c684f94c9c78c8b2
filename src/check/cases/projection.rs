//! Check cases of the projection family: the projection discriminator's head — one feature and
//! one class, F smaller and larger than a workgroup (256), K = 1000 with a small batch (most
//! embedding rows get no gradient), folded grids, and the MNIST DCGAN's head (B = 64, F = 2048).

use super::*;

pub(super) fn projection_cases() -> Vec<Case> {
    // (B, F, K, fold)
    let shapes: &[(usize, usize, usize, bool)] = &[(1, 1, 1, false), (3, 17, 4, false), (17, 65, 10, true), (5, 300, 3, false), (2, 127, 1000, false), (64, 2048, 10, false)];
    shapes
        .iter()
        .map(|&(b, f, k, fold)| Case::new("projection", format!("projection B={b} F={f} K={k} fold={fold}"), move |gpu, rng| projection_case(gpu, rng, b, f, k, fold)))
        .collect()
}

fn projection_case(gpu: &Gpu, rng: &mut Rng, b: usize, f: usize, k: usize, fold: bool) -> Result<Vec<Row>> {
    let capped;
    let gpu = if fold {
        capped = folded(gpu, FOLD_CAP);
        &capped
    } else {
        gpu
    };
    let shape = format!("B={b} F={f} K={k}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });
    let (phi_d, w_d, e_d, g_d) = (rng.normals(b * f, 1.0), rng.normals(f, 0.5), rng.normals(k * f, 0.5), rng.normals(b, 1.0));
    let bias_d = rng.normals(1, 1.0);
    let labels: Vec<u32> = (0..b).map(|_| (rng.next_u64() % k as u64) as u32).collect();
    // Gradients accumulate: start from random values, not zeros.
    let (dw0, db0, de0) = (rng.normals(f, 1.0), rng.normals(1, 1.0), rng.normals(k * f, 1.0));
    let (phi64, w64, e64, g64) = (f64s(&phi_d), f64s(&w_d), f64s(&e_d), f64s(&g_d));

    let phi = upload(gpu, &[b, f], &phi_d, "phi")?;
    let y = GpuTensor::from_u32(gpu, &[b], &labels, "labels")?;
    let w = upload(gpu, &[f], &w_d, "w")?;
    let bias = upload(gpu, &[1], &bias_d, "bias")?;
    let embed = upload(gpu, &[k, f], &e_d, "embed")?;
    let g = upload(gpu, &[b], &g_d, "g")?;
    let out = GpuTensor::zeros(gpu, &[b], DType::F32, "out")?;
    let dphi = GpuTensor::zeros(gpu, &[b, f], DType::F32, "dphi")?;
    let dw = upload(gpu, &[f], &dw0, "dw")?;
    let dbias = upload(gpu, &[1], &db0, "dbias")?;
    let dembed = upload(gpu, &[k, f], &de0, "dembed")?;
    let head = ops::projection::Head { weight: &w, bias: &bias, embed: &embed };
    let mut rows = Vec::new();

    // out: F products per sample (and the bias), summed in a tree; they cancel by chance.
    let rss: Vec<f64> = (0..b).map(|s| (0..f).map(|j| (phi64[s * f + j] * (w64[j] + e64[labels[s] as usize * f + j])).powi(2)).sum::<f64>().sqrt()).collect();
    for with_bias in [true, false] {
        let bias_v = if with_bias { bias_d[0] as f64 } else { 0.0 };
        let want = cpu::projection::forward(&phi64, &labels, &w64, bias_v, &e64);
        let terms: Vec<f64> = rss.iter().map(|r| r + bias_v.abs()).collect();
        let got = run_poisoned(gpu, "projection_forward", &[ops::projection::forward(gpu, &phi, &y, head, &out, with_bias)?], &out)?;
        let pass = if with_bias { "forward" } else { "forward_no_bias" };
        rows.push(Row::compare("projection", pass, &shape, "1 WG/sample", &got, &want, cancellation_bound(sum_bound(f + 1), &terms, &want)));
    }

    // dφ = g·(w + E[y]): one add, one product per element.
    let want = cpu::projection::backward_input(&g64, &labels, &w64, &e64);
    let terms: Vec<f64> = (0..b * f).map(|i| (g64[i / f] * w64[i % f]).abs() + (g64[i / f] * e64[labels[i / f] as usize * f + i % f]).abs()).collect();
    let got = run_poisoned(gpu, "projection_backward_input", &[ops::projection::backward_input(gpu, &g, &y, head, &dphi)?], &dphi)?;
    rows.push(Row::compare("projection", "backward_input", &shape, "wg256", &got, &want, cancellation_bound(ELEMENTWISE_BOUND, &terms, &want)));

    // Parameter gradients: sums over the batch, added to what was there.
    let (dw_ref, db_ref, de_ref) = cpu::projection::backward_params(&g64, &labels, &phi64, f, k);
    let grads = ops::projection::Head { weight: &dw, bias: &dbias, embed: &dembed };
    let got = run_read(gpu, "projection_backward_params", &[ops::projection::backward_params(gpu, &g, &y, &phi, grads, true)?], &[&dw, &dbias, &dembed])?;
    let term_dw: Vec<f64> = (0..f).map(|j| (dw0[j] as f64).abs() + (0..b).map(|s| (g64[s] * phi64[s * f + j]).powi(2)).sum::<f64>().sqrt()).collect();
    let term_de: Vec<f64> = (0..k * f).map(|i| (de0[i] as f64).abs() + (0..b).filter(|&s| labels[s] as usize == i / f).map(|s| (g64[s] * phi64[s * f + i % f]).powi(2)).sum::<f64>().sqrt()).collect();
    let term_db = (db0[0] as f64).abs() + g64.iter().map(|v| v * v).sum::<f64>().sqrt();
    let (want_dw, want_db, want_de) = (add(&dw0, &dw_ref), add(&db0, &[db_ref]), add(&de0, &de_ref));
    rows.push(Row::compare("projection", "backward_weight", &shape, "wg256", &got[0], &want_dw, cancellation_bound(sum_bound(b + 1), &term_dw, &want_dw)));
    rows.push(Row::compare("projection", "backward_bias", &shape, "wg256", &got[1], &want_db, cancellation_bound(sum_bound(b + 1), &[term_db], &want_db)));
    rows.push(Row::compare("projection", "backward_embedding", &shape, "wg256", &got[2], &want_de, cancellation_bound(sum_bound(b + 1), &term_de, &want_de)));

    // Without the bias (the backward of the backward): dbias stays as it was, exactly.
    dbias.write_f32(gpu, &db0)?;
    let got = run_read(gpu, "projection_backward_params no bias", &[ops::projection::backward_params(gpu, &g, &y, &phi, grads, false)?], &[&dbias])?;
    rows.push(Row::compare("projection", "backward_no_bias_untouched", &shape, "wg256", &got[0], &f64s(&db0), 0.0));
    Ok(rows)
}
