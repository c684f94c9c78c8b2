//! Check cases of the random family.

use super::*;

pub(super) fn random_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for &(n, fold) in &[(1usize, false), (7, false), (1027, false), (10_007, true)] {
        v.push(Case::new("random", format!("philox n={n}{}", if fold { " folded" } else { "" }), move |gpu, rng| {
            let capped;
            let gpu = if fold {
                capped = folded(gpu, FOLD_CAP);
                &capped
            } else {
                gpu
            };
            let seed = rng.next_u64();
            let stream = rng.next_u64() as u32;
            let step = rng.next_u64() as u32;
            let key = RngKey { seed, stream, counter_index: 1 };
            let counters = GpuTensor::from_u32(gpu, &[2], &[0, step], "counters")?;
            let shape = format!("n={n}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });
            let bits = GpuTensor::zeros(gpu, &[n], DType::U32, "bits")?;
            gpu.run("rng bits", &[&ops::random::sample(gpu, Distribution::Bits, key, &counters, &bits)?])?;
            let got_bits = bits.read_u32(gpu)?;
            let want_bits = cpu::random::bits(seed, stream, step, n);
            let wrong = got_bits.iter().zip(&want_bits).filter(|(a, b)| a != b).count() as f64;
            let out = GpuTensor::zeros(gpu, &[n], DType::F32, "samples")?;
            // Ranges away from 0: low + (high − low)·u cancels where the result nears 0, and
            // a relative comparison of one such element would measure that, not the kernel.
            let uni = Distribution::Uniform { low: 0.5, high: 3.0 };
            let got_u = run_poisoned(gpu, "rng uniform", &[ops::random::sample(gpu, uni, key, &counters, &out)?], &out)?;
            let nor = Distribution::Normal { mean: 0.0, std: 2.0 };
            let got_n = run_poisoned(gpu, "rng normal", &[ops::random::sample(gpu, nor, key, &counters, &out)?], &out)?;
            // Box–Muller: z = std·r·cos θ (sin θ for the pair's second), so the driver's cos
            // and sin errors are absolute, of size std·r = |pair| — the size of z's terms.
            let want_n = cpu::random::normal(seed, stream, step, n, 0.0, 2.0);
            let pairs = cpu::random::normal(seed, stream, step, n.next_multiple_of(2), 0.0, 2.0);
            let radius: Vec<f64> = (0..n).map(|i| pairs[i & !1].hypot(pairs[i | 1])).collect();
            Ok(vec![
                Row::scalar("random", "philox_bits (words differing)", &shape, "vec4", wrong, 0.0),
                Row::compare("random", "uniform", &shape, "vec4", &got_u, &cpu::random::uniform(seed, stream, step, n, 0.5, 3.0), ELEMENTWISE_BOUND),
                Row::compare("random", "normal", &shape, "vec4", &got_n, &want_n, cancellation_bound(TRANSCENDENTAL_BOUND, &radius, &want_n)),
            ])
        }));
    }
    for &(n, p) in &[(1usize, 0.5f32), (17, 0.3), (10_001, 0.5), (1000, 0.9)] {
        v.push(Case::new("random", format!("dropout n={n} p={p}"), move |gpu, rng| {
            let seed = rng.next_u64();
            let (stream, step) = (rng.next_u64() as u32, rng.next_u64() as u32);
            let key = RngKey { seed, stream, counter_index: 0 };
            let counters = GpuTensor::from_u32(gpu, &[1], &[step], "counters")?;
            let (xs, dys) = (rng.normals(n, 1.0), rng.normals(n, 1.0));
            let (y_ref, mask_ref) = cpu::random::dropout(&f64s(&xs), p as f64, seed, stream, step);
            let dx_ref: Vec<f64> = dys.iter().zip(&mask_ref).map(|(&g, m)| g as f64 * m).collect();
            let x = upload(gpu, &[n], &xs, "x")?;
            let dy = upload(gpu, &[n], &dys, "dy")?;
            let (y, mask, dx) = (GpuTensor::zeros(gpu, &[n], DType::F32, "y")?, GpuTensor::zeros(gpu, &[n], DType::F32, "mask")?, GpuTensor::zeros(gpu, &[n], DType::F32, "dx")?);
            y.poison(gpu)?;
            mask.poison(gpu)?;
            let got = run_read(gpu, "dropout", &[ops::random::dropout_forward(gpu, p, key, &counters, &x, &y, &mask)?], &[&y, &mask])?;
            let got_dx = run_poisoned(gpu, "dropout bwd", &[ops::elementwise::mul(gpu, &dy, &mask, &dx)?], &dx)?;
            let shape = format!("n={n} p={p}");
            Ok(vec![
                Row::compare("random", "dropout_forward", &shape, "vec4", &got[0], &y_ref, ELEMENTWISE_BOUND),
                Row::compare("random", "dropout_mask", &shape, "vec4", &got[1], &mask_ref, ELEMENTWISE_BOUND),
                Row::compare("random", "dropout_backward", &shape, "vec4", &got_dx, &dx_ref, ELEMENTWISE_BOUND),
            ])
        }));
    }
    v.push(Case::new("random", "statistics and reproducibility", |gpu, rng| {
        let n = 1 << 20;
        let seed = rng.next_u64();
        let counters = GpuTensor::from_u32(gpu, &[1], &[0], "counters")?;
        let key = RngKey { seed, stream: 0, counter_index: 0 };
        let out = GpuTensor::zeros(gpu, &[n], DType::F32, "normals")?;
        let normal = Distribution::Normal { mean: 0.0, std: 1.0 };
        let a = run_poisoned(gpu, "rng normal", &[ops::random::sample(gpu, normal, key, &counters, &out)?], &out)?;
        let mean = a.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
        let var = a.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
        // Sample mean ~ N(0, 1/n); sample variance ~ N(1, 2/n): 5 standard deviations.
        let (mean_bound, var_bound) = (5.0 / (n as f64).sqrt(), 5.0 * (2.0 / n as f64).sqrt());
        // Same seed again: the same bits.
        let b = run_poisoned(gpu, "rng normal again", &[ops::random::sample(gpu, normal, key, &counters, &out)?], &out)?;
        let differing = a.iter().zip(&b).filter(|(x, y)| x.to_bits() != y.to_bits()).count() as f64;
        // A smaller dispatch draws a prefix of the same sequence.
        let small = GpuTensor::zeros(gpu, &[1001], DType::F32, "prefix")?;
        let c = run_poisoned(gpu, "rng prefix", &[ops::random::sample(gpu, normal, key, &counters, &small)?], &small)?;
        let prefix_diff = c.iter().zip(&a).filter(|(x, y)| x.to_bits() != y.to_bits()).count() as f64;
        // Another step (counter) draws different numbers.
        counters.write_u32(gpu, &[1])?;
        let d = run_poisoned(gpu, "rng next step", &[ops::random::sample(gpu, normal, key, &counters, &out)?], &out)?;
        let same_as_prev = a.iter().zip(&d).filter(|(x, y)| x.to_bits() == y.to_bits()).count() as f64 / n as f64;
        let shape = format!("n={n}");
        Ok(vec![
            Row::scalar("random", "normal |mean|", &shape, "vec4", mean.abs(), mean_bound),
            Row::scalar("random", "normal |var − 1|", &shape, "vec4", (var - 1.0).abs(), var_bound),
            Row::scalar("random", "same seed → same bits (values differing)", &shape, "vec4", differing, 0.0),
            Row::scalar("random", "dispatch size independence (prefix differing)", "n=1001 vs 2^20", "vec4", prefix_diff, 0.0),
            Row::scalar("random", "next step differs (fraction equal)", &shape, "vec4", same_as_prev, 1e-3),
        ])
    }));
    v
}
