//! Check cases of the reduce family.

use super::*;

pub(super) fn reduce_cases() -> Vec<Case> {
    let mut v = Vec::new();
    let shapes: &[(&[usize], bool)] = &[
        (&[1, 1], false),
        (&[3, 5, 7], false),
        (&[64, 65, 17], false),
        (&[1, 3, 127], false),
        (&[64, 512, 4, 4], false),
        (&[5, 10, 3], true),
    ];
    for &(shape, fold) in shapes {
        let shape = shape.to_vec();
        let name = format!("reduce {shape:?}{}", if fold { " folded" } else { "" });
        v.push(Case::new("reduce", name, move |gpu, rng| {
            let capped;
            let gpu = if fold {
                capped = folded(gpu, FOLD_CAP);
                &capped
            } else {
                gpu
            };
            let n: usize = shape.iter().product();
            let c = shape[1];
            let label = format!("{shape:?}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });
            let xs = rng.normals(n, 1.0);
            let x = upload(gpu, &shape, &xs, "x")?;
            let reference = cpu::reduce::sum_channels(&Tensor::from_f32(&shape, &xs));
            // Each sum's terms, in quadrature: Σx² through the same reduction.
            let squares = square_f32(&shape, &xs);
            let terms: Vec<f64> = cpu::reduce::sum_channels(&squares).iter().map(|s| s.sqrt()).collect();
            let k = n / c;
            let mut rows = Vec::new();
            let out = GpuTensor::zeros(gpu, &[c], DType::F32, "sum")?;
            let got = run_poisoned(gpu, "sum_channels", &[ops::reduce::sum_channels(gpu, "reduce", &x, &out, false)?], &out)?;
            rows.push(Row::compare("reduce", "sum_channels", &label, "wg256", &got, &reference, cancellation_bound(sum_bound(k), &terms, &reference)));
            let init = rng.normals(c, 1.0);
            out.write_f32(gpu, &init)?;
            let got = run_read(gpu, "sum_channels +=", &[ops::reduce::sum_channels(gpu, "reduce", &x, &out, true)?], &[&out])?.remove(0);
            let want = add(&init, &reference);
            let terms_acc: Vec<f64> = terms.iter().zip(&init).map(|(t, &i)| t.hypot(i as f64)).collect();
            rows.push(Row::compare("reduce", "sum_channels +=", &label, "wg256", &got, &want, cancellation_bound(sum_bound(k + 1), &terms_acc, &want)));
            // The same tensor seen as [S, rest]: sums over the leading axis.
            let lead = cpu::reduce::sum_leading(&Tensor::from_f32(&shape, &xs));
            let lead_terms: Vec<f64> = cpu::reduce::sum_leading(&squares).iter().map(|s| s.sqrt()).collect();
            let out2 = GpuTensor::zeros(gpu, &[n / shape[0]], DType::F32, "sum_leading")?;
            let got = run_poisoned(gpu, "sum_leading", &[ops::reduce::sum_leading(gpu, "reduce", &x, &out2, false)?], &out2)?;
            rows.push(Row::compare("reduce", "sum_leading", &label, "scalar", &got, &lead, cancellation_bound(sum_bound(shape[0]), &lead_terms, &lead)));
            Ok(rows)
        }));
    }
    v
}
