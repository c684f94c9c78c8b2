//! Check cases of the vae family: the reparameterisation, the KL divergence (one workgroup over
//! more elements than it has invocations) and the backward of both, with β and with the KL
//! warm-up read from a GPU step counter — batch 1, one latent, and the MNIST VAE's shapes.

use super::*;

pub(super) fn vae_cases() -> Vec<Case> {
    let shapes: &[(usize, usize)] = &[(1, 1), (3, 17), (5, 300), (64, 16), (1, 2048)];
    shapes.iter().map(|&(batch, latent)| Case::new("vae", format!("vae B={batch} nz={latent}"), move |gpu, rng| vae_case(gpu, rng, batch, latent))).collect()
}

fn vae_case(gpu: &Gpu, rng: &mut Rng, batch: usize, latent: usize) -> Result<Vec<Row>> {
    let n = batch * latent;
    let shape = format!("B={batch} nz={latent}");
    // log σ² over about ±3: σ from 0.2 to 5.
    let stats_data = rng.normals(2 * n, 1.5);
    let (eps_data, dz_data) = (rng.normals(n, 1.0), rng.normals(n, 1.0));
    let (stats64, eps64, dz64) = (f64s(&stats_data), f64s(&eps_data), f64s(&dz_data));
    let split = |i: usize| (stats64[(i / latent) * 2 * latent + i % latent], stats64[(i / latent) * 2 * latent + latent + i % latent]);
    let stats = upload(gpu, &[batch, 2 * latent], &stats_data, "stats")?;
    let eps = upload(gpu, &[batch, latent], &eps_data, "eps")?;
    let dz = upload(gpu, &[batch, latent], &dz_data, "dz")?;
    let z = GpuTensor::zeros(gpu, &[batch, latent], DType::F32, "z")?;
    let dstats = GpuTensor::zeros(gpu, &[batch, 2 * latent], DType::F32, "dstats")?;
    let out = GpuTensor::zeros(gpu, &[4], DType::F32, "out")?;
    let mut rows = Vec::new();

    // z = μ + exp(½ℓ)ε: one exp, one fma; cancels where μ ≈ −σε.
    let want = cpu::vae::reparameterize(&stats64, &eps64, latent);
    let terms: Vec<f64> = (0..n).map(|i| split(i).0.abs() + ((0.5 * split(i).1).exp() * eps64[i]).abs()).collect();
    let got = run_poisoned(gpu, "vae_reparam", &[ops::vae::reparameterize(gpu, &stats, &eps, &z)?], &z)?;
    rows.push(Row::compare("vae", "reparameterize", &shape, "elementwise", &got, &want, cancellation_bound(TRANSCENDENTAL_BOUND, &terms, &want)));

    // KL: n terms ½(μ² + e^ℓ − 1 − ℓ) ≥ 0 each, which cancel inside where ℓ ≈ 0.
    let want = cpu::vae::kl(&stats64, batch, latent);
    let size: f64 = (0..n).map(|i| 0.5 * (split(i).0.powi(2) + split(i).1.exp() + 1.0 + split(i).1.abs())).sum::<f64>() / batch as f64;
    let got = run_poisoned(gpu, "vae_kl", &[ops::vae::kl(gpu, &stats, latent, &out, 2)?], &out)?;
    rows.push(Row::compare("vae", "kl", &shape, "1 WG", &got[2..3], &[want], cancellation_bound(sum_bound(n) + TRANSCENDENTAL_BOUND, &[size], &[want])));

    // The backward, without and with the warm-up (t = 3 of 10 steps: w = 0.3·β).
    for (warmup, t, what) in [(0u32, 7u32, "backward"), (10, 3, "backward warm-up")] {
        let beta = 0.8f32;
        let counters = GpuTensor::from_u32(gpu, &[2], &[99, t], "counters")?;
        let w = cpu::vae::kl_weight(beta as f64, warmup, t);
        let want = cpu::vae::backward(&stats64, &eps64, &dz64, latent, w);
        let wb = w / batch as f64;
        let mut terms = vec![0.0; 2 * n];
        for i in 0..n {
            let (mu, lv) = split(i);
            let (b, k) = (i / latent, i % latent);
            terms[b * 2 * latent + k] = dz64[i].abs() + (wb * mu).abs();
            terms[b * 2 * latent + latent + k] = (dz64[i] * eps64[i] * 0.5 * (0.5 * lv).exp()).abs() + wb * 0.5 * (lv.exp() + 1.0);
        }
        let weight = ops::vae::KlWeight { beta, warmup, counter_index: 1 };
        let got = run_poisoned(gpu, "vae_backward", &[ops::vae::backward(gpu, &stats, &eps, &dz, &counters, weight, &dstats)?], &dstats)?;
        rows.push(Row::compare("vae", what, &shape, "elementwise", &got, &want, cancellation_bound(TRANSCENDENTAL_BOUND, &terms, &want)));
    }
    Ok(rows)
}
