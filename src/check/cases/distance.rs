//! Check cases of the distance family: squared norms in both layouts, and pairwise squared
//! distances (matmul + finish) against direct differences in f64.

use super::*;

pub(super) fn distance_cases() -> Vec<Case> {
    // (queries n, reference m, dim, folded grid); the last rows are eval's shapes: features of
    // the classifier (128) and 32×32 pixels.
    let shapes: &[(usize, usize, usize, bool)] = &[
        (1, 1, 1, false),
        (3, 5, 7, false),
        (17, 65, 3, false),
        (1, 127, 64, false),
        (65, 127, 128, false),
        (127, 17, 1024, false),
        (33, 70, 20, true),
        (256, 1000, 128, false),
    ];
    let mut v = Vec::new();
    for &(n, m, dim, fold) in shapes {
        let name = format!("distance {n}x{m} dim={dim}{}", if fold { " folded" } else { "" });
        v.push(Case::new("distance", name, move |gpu, rng| {
            let capped;
            let gpu = if fold {
                capped = folded(gpu, FOLD_CAP);
                &capped
            } else {
                gpu
            };
            let a_data = rng.normals(n * dim, 1.0);
            let mut b_data = rng.normals(m * dim, 1.0);
            // Some reference rows are exact copies of queries (memorisation's case: distance
            // exactly 0 up to the expansion's rounding, never negative).
            for j in (0..m).step_by(3) {
                let i = j % n;
                b_data[j * dim..(j + 1) * dim].copy_from_slice(&a_data[i * dim..(i + 1) * dim]);
            }
            let b_t: Vec<f32> = (0..dim * m).map(|idx| b_data[(idx % m) * dim + idx / m]).collect();
            let (a64, b64) = (f64s(&a_data), f64s(&b_data));
            let na_want = cpu::distance::sq_norms(&a64, n, dim);
            let nb_want = cpu::distance::sq_norms(&b64, m, dim);
            let want = cpu::distance::sq_distances(&a64, &b64, n, m, dim);
            let a = upload(gpu, &[n, dim], &a_data, "a")?;
            let bt = upload(gpu, &[dim, m], &b_t, "b_t")?;
            let na = GpuTensor::zeros(gpu, &[n], DType::F32, "a norms")?;
            let nb = GpuTensor::zeros(gpu, &[m], DType::F32, "b norms")?;
            let d = GpuTensor::zeros(gpu, &[n, m], DType::F32, "distances")?;
            let shape = format!("{n}x{m} dim={dim}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });
            let mut rows = Vec::new();
            let norm_bound = sum_bound(dim);
            let got = run_poisoned(gpu, "sq_norms", &[ops::distance::sq_norms(gpu, &a, &na, false)?], &na)?;
            rows.push(Row::compare("distance", "sq_norms", &shape, "rows", &got, &na_want, norm_bound));
            let got = run_poisoned(gpu, "sq_norms", &[ops::distance::sq_norms(gpu, &bt, &nb, true)?], &nb)?;
            rows.push(Row::compare("distance", "sq_norms", &shape, "transposed", &got, &nb_want, norm_bound));
            // The expansion cancels: its rounding is relative to ‖a‖² + ‖b‖², not to the
            // distance (`cancellation_bound`).
            let terms: Vec<f64> = (0..n * m).map(|k| na_want[k / m] + nb_want[k % m]).collect();
            let bound = cancellation_bound(sum_bound(dim + 2), &terms, &want);
            let got = run_poisoned(gpu, "sq_distances", &ops::distance::sq_distances(gpu, &a, &bt, &na, &nb, &d)?, &d)?;
            if let Some(k) = got.iter().position(|x| x.is_nan() || *x < 0.0) {
                return Err(crate::error::Error::invalid("sq_distances", format!("distance {k} is {} (must be ≥ 0)", got[k])));
            }
            rows.push(Row::compare("distance", "sq_distances", &shape, "gemm+finish", &got, &want, bound));
            Ok(rows)
        }));
    }
    v
}
