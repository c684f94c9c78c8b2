//! Check cases of the elementwise family.

use super::*;

pub(super) fn elementwise_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for &(n, fold) in &[(1usize, false), (3, false), (17, false), (1000, false), (65_537, false), (10_007, true)] {
        let name = format!("elementwise n={n}{}", if fold { " folded" } else { "" });
        v.push(Case::new("elementwise", name, move |gpu, rng| {
            let capped;
            let gpu = if fold {
                capped = folded(gpu, FOLD_CAP);
                &capped
            } else {
                gpu
            };
            let shape = format!("n={n}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });
            let xs = rng.normals(n, 1.0);
            let ys = rng.normals(n, 1.0);
            let (alpha, beta, value) = (rng.normal() as f32, rng.normal() as f32, rng.normal() as f32);
            let x = upload(gpu, &[n], &xs, "x")?;
            let y_in = upload(gpu, &[n], &ys, "y")?;
            let out = GpuTensor::zeros(gpu, &[n], DType::F32, "out")?;
            let mut rows = Vec::new();
            // `terms`: the size of each output's terms where it can cancel (empty: it cannot).
            let mut cmp = |pass: &str, got: Vec<f32>, want: Vec<f64>, terms: Vec<f64>| {
                rows.push(Row::compare("elementwise", pass, &shape, "vec4", &got, &want, cancellation_bound(ELEMENTWISE_BOUND, &terms, &want)));
            };
            // a·x + b·y can cancel: bound relative to |a·x| + |b·y|.
            let two_terms = |a: f32, b: f32| -> Vec<f64> { xs.iter().zip(&ys).map(|(&x, &y)| (a as f64 * x as f64).abs() + (b as f64 * y as f64).abs()).collect() };
            let got = run_poisoned(gpu, "fill", &[ops::elementwise::fill(gpu, &out, value)?], &out)?;
            cmp("fill", got, vec![value as f64; n], Vec::new());
            let got = run_poisoned(gpu, "copy", &[ops::elementwise::copy(gpu, &x, &out)?], &out)?;
            cmp("copy", got, f64s(&xs), Vec::new());
            let got = run_poisoned(gpu, "scale", &[ops::elementwise::scale(gpu, &x, &out, alpha)?], &out)?;
            cmp("scale", got, xs.iter().map(|&a| alpha as f64 * a as f64).collect(), Vec::new());
            let got = run_poisoned(gpu, "axpby", &[ops::elementwise::axpby(gpu, alpha, &x, beta, &y_in, &out)?], &out)?;
            cmp("axpby", got, xs.iter().zip(&ys).map(|(&a, &b)| alpha as f64 * a as f64 + beta as f64 * b as f64).collect(), two_terms(alpha, beta));
            let got = run_poisoned(gpu, "mul", &[ops::elementwise::mul(gpu, &x, &y_in, &out)?], &out)?;
            cmp("mul", got, xs.iter().zip(&ys).map(|(&a, &b)| a as f64 * b as f64).collect(), Vec::new());
            // clamp in place, to a range that cuts both tails of the normals.
            let (lo, hi) = (-(alpha.abs() + 0.1), beta.abs() + 0.1);
            out.write_f32(gpu, &ys)?;
            let got = run_read(gpu, "clamp", &[ops::elementwise::clamp(gpu, &out, lo, hi)?], &[&out])?.remove(0);
            cmp("clamp", got, ys.iter().map(|&b| (b as f64).clamp(lo as f64, hi as f64)).collect(), Vec::new());
            out.write_f32(gpu, &ys)?;
            let got = run_read(gpu, "axpy", &[ops::elementwise::axpy(gpu, alpha, &x, &out)?], &[&out])?.remove(0);
            cmp("axpy", got, xs.iter().zip(&ys).map(|(&a, &b)| alpha as f64 * a as f64 + b as f64).collect(), two_terms(alpha, 1.0));
            Ok(rows)
        }));
    }
    v.push(Case::new("elementwise", "counter_add", |gpu, rng| {
        let start: Vec<u32> = (0..5).map(|_| rng.next_u64() as u32 >> 1).collect();
        let counters = GpuTensor::from_u32(gpu, &[5], &start, "counters")?;
        let delta = 1 + (rng.next_u64() % 1000) as u32;
        gpu.run("counter_add", &[&ops::elementwise::counter_add(gpu, &counters, 3, delta)?])?;
        let got = counters.read_u32(gpu)?;
        let mut want = start.clone();
        want[3] = want[3].wrapping_add(delta);
        let err = got.iter().zip(&want).filter(|(a, b)| a != b).count() as f64;
        Ok(vec![Row::scalar("elementwise", "counter_add", "5 counters", "scalar", err, 0.0)])
    }));
    v
}
