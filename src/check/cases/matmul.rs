//! Check cases of the matmul family.

use super::*;

pub(super) fn matmul_cases() -> Vec<Case> {
    // (M, N, K, trans_a, trans_b, bias, beta)
    let shapes: &[(usize, usize, usize, bool, bool, bool, f32)] = &[
        (1, 1, 1, false, false, false, 0.0),
        (3, 5, 7, false, false, true, 0.0),
        (17, 3, 65, false, false, false, 1.0),
        (64, 64, 64, false, false, false, 0.0),
        (65, 65, 65, false, false, true, 0.0),
        (64, 128, 128, false, false, true, 1.0),
        (7, 13, 127, false, false, false, 0.0),
        (127, 1, 13, false, false, false, 0.0),
        (1, 127, 64, false, false, true, 0.0),
        (123, 255, 72, false, false, false, 0.0),
        (33, 17, 20, true, false, false, 0.0),
        (33, 17, 20, false, true, true, 0.0),
        (33, 17, 20, true, true, false, 1.0),
        (256, 256, 256, false, false, false, 0.0),
        // The MLP GAN's linear layers at batch 64: x·Wᵀ, dy·W, dyᵀ·x.
        (64, 1024, 784, false, true, true, 0.0),
        (64, 784, 1024, false, false, false, 0.0),
        (1024, 784, 64, true, false, false, 1.0),
    ];
    let mut v = Vec::new();
    for &(m, n, k, ta, tb, with_bias, beta) in shapes {
        let spec = MatmulSpec { m, n, k, trans_a: ta, trans_b: tb, alpha: 1.0, beta };
        let spec = if k == 20 { MatmulSpec { alpha: -0.5, ..spec } } else { spec };
        let name = format!("matmul {m}x{n}x{k} ta={ta} tb={tb} bias={with_bias} beta={beta}");
        v.push(Case::new("matmul", name, move |gpu, rng| {
            let a_data = rng.normals(m * k, 1.0);
            let b_data = rng.normals(k * n, 1.0);
            let c0 = rng.normals(m * n, 1.0);
            let bias_data = rng.normals(n, 1.0);
            let want = cpu::matmul::matmul(
                &f64s(&a_data),
                &f64s(&b_data),
                Some(&f64s(&c0)),
                with_bias.then(|| f64s(&bias_data)).as_deref(),
                (m, n, k),
                (ta, tb),
                spec.alpha as f64,
                beta as f64,
            );
            // Each output's terms in quadrature (see `cancellation_bound`): the same product of
            // the squares, α² and β² — cheap for every shape here.
            let terms: Vec<f64> = cpu::matmul::matmul(
                &sq(&a_data),
                &sq(&b_data),
                Some(&sq(&c0)),
                with_bias.then(|| sq(&bias_data)).as_deref(),
                (m, n, k),
                (ta, tb),
                (spec.alpha as f64).powi(2),
                (beta as f64).powi(2),
            )
            .iter()
            .map(|s| s.sqrt())
            .collect();
            let bound = cancellation_bound(sum_bound(k + 2), &terms, &want);
            let a = upload(gpu, &if ta { [k, m] } else { [m, k] }, &a_data, "a")?;
            let b = upload(gpu, &if tb { [n, k] } else { [k, n] }, &b_data, "b")?;
            let bias = upload(gpu, &[n], &bias_data, "bias")?;
            let c = GpuTensor::zeros(gpu, &[m, n], DType::F32, "c")?;
            let shape = format!("{m}x{n}x{k}{}{}{}{}", if ta { " Aᵀ" } else { "" }, if tb { " Bᵀ" } else { "" }, if with_bias { " +bias" } else { "" }, if beta != 0.0 { " +C" } else { "" });
            let mut rows = Vec::new();
            for kernel in MatmulKernel::ALL {
                if !kernel.supports(gpu, &spec) {
                    continue;
                }
                let d = ops::matmul::matmul(gpu, &spec, &a, &b, with_bias.then_some(&bias), &c, Some(kernel))?;
                let got = if beta != 0.0 {
                    c.write_f32(gpu, &c0)?;
                    run_read(gpu, "matmul", &[d], &[&c])?.remove(0)
                } else {
                    run_poisoned(gpu, "matmul", &[d], &c)?
                };
                rows.push(Row::compare("matmul", "forward", &shape, kernel.name(), &got, &want, bound));
            }
            Ok(rows)
        }));
    }
    v
}
