//! Check cases of the layernorm family: forward, backward to the input and to γ, β, and the
//! backward of the backward (∂P/∂dy, ∂P/∂x, ∂P/∂γ), per sample over [C, H, W] — batch 1, one
//! value per channel, more values per sample than the workgroup has invocations, and the
//! layer-normalised DCGAN critic's shapes.

use super::*;

pub(super) fn layernorm_cases() -> Vec<Case> {
    let shapes: &[[usize; 4]] = &[
        [1, 3, 1, 1],
        [3, 1, 1, 17],
        [2, 5, 3, 3],
        [4, 65, 2, 1],
        [2, 1, 127, 1],
        [5, 3, 17, 13],
        // The 32×32 DCGAN critic with ndf 32 normalises [64, 8, 8] and [128, 4, 4], batch 64.
        [64, 64, 8, 8],
        [64, 128, 4, 4],
    ];
    let mut v: Vec<Case> = shapes.iter().map(|&shape| Case::new("layernorm", format!("layernorm {shape:?}"), move |gpu, rng| layernorm_case(gpu, rng, shape, false))).collect();
    v.push(Case::new("layernorm", "layernorm [3, 700, 2, 2] folded", |gpu, rng| layernorm_case(&folded(gpu, FOLD_CAP), rng, [3, 700, 2, 2], true)));
    v
}

fn layernorm_case(gpu: &Gpu, rng: &mut Rng, shape: [usize; 4], fold: bool) -> Result<Vec<Row>> {
    let b = shape[0];
    let n = shape[1..].iter().product::<usize>();
    let total = b * n;
    let per = &shape[1..];
    // An offset per sample checks the two-pass variance.
    let offsets = rng.normals(b, 2.0);
    let xs: Vec<f32> = rng.normals(total, 1.0).iter().enumerate().map(|(i, &x)| x + offsets[i / n]).collect();
    let (dys, adjs) = (rng.normals(total, 1.0), rng.normals(total, 1.0));
    let (gamma, beta) = (rng.normals(n, 1.0), rng.normals(n, 1.0));
    let (dg0, db0) = (rng.normals(n, 1.0), rng.normals(n, 1.0));
    let eps = ops::layernorm::EPS as f64;
    let t = |v: &[f32]| Tensor::from_f32(&shape, v);
    let st = cpu::layernorm::stats(&t(&xs), eps);
    let y_ref = cpu::layernorm::forward(&t(&xs), &f64s(&gamma), &f64s(&beta), eps);
    let (dx_ref, dg_ref, db_ref) = cpu::layernorm::backward(&t(&xs), &t(&dys), &f64s(&gamma), eps);
    let (ady_ref, ax_ref, ag_ref) = cpu::layernorm::double_backward(&t(&xs), &t(&dys), &f64s(&gamma), &t(&adjs), eps);

    let label = format!("{shape:?}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });
    let x = upload(gpu, &shape, &xs, "x")?;
    let dy = upload(gpu, &shape, &dys, "dy")?;
    let adj = upload(gpu, &shape, &adjs, "adj")?;
    let (g, bt) = (upload(gpu, per, &gamma, "gamma")?, upload(gpu, per, &beta, "beta")?);
    let z = |shape: &[usize], name: &str| GpuTensor::zeros(gpu, shape, DType::F32, name);
    let (y, saved, dx, ady, ax, sums) = (z(&shape, "y")?, z(&[b, 2], "saved")?, z(&shape, "dx")?, z(&shape, "adj_dy")?, z(&shape, "adj_x")?, z(&[b, 2], "sums")?);
    // Sums over a sample (and, for the parameters, over the batch) of products: the usual
    // bound, relative to the size of the terms where the result cancels.
    let k = sum_bound(n.max(b)) + TRANSCENDENTAL_BOUND;
    let mut rows = Vec::new();

    saved.poison(gpu)?;
    let got = run_read(gpu, "ln forward", &[ops::layernorm::forward(gpu, &x, &g, &bt, &y, &saved)?], &[&y, &saved])?;
    // y = γx̂ + β may cancel: relative to |γx̂| + |β|.
    let xhat: Vec<f64> = xs.iter().enumerate().map(|(i, &v)| (v as f64 - st[i / n].0) * st[i / n].1).collect();
    let y_terms: Vec<f64> = (0..total).map(|i| (gamma[i % n] as f64 * xhat[i]).abs() + (beta[i % n] as f64).abs()).collect();
    rows.push(Row::compare("layernorm", "forward", &label, "wg256/sample", &got[0], &y_ref.data, cancellation_bound(k, &y_terms, &y_ref.data)));
    let saved_ref: Vec<f64> = st.iter().flat_map(|&(m, r)| [m, r]).collect();
    let saved_terms: Vec<f64> = st.iter().flat_map(|&(_, r)| [offsets.iter().map(|o| (*o as f64).abs()).fold(1.0, f64::max), r]).collect();
    rows.push(Row::compare("layernorm", "saved (mean, 1/std)", &label, "wg256/sample", &got[1], &saved_ref, cancellation_bound(k, &saved_terms, &saved_ref)));

    // dx = r(g − ḡ − x̂·mean(gx̂)): relative to r(|g| + |ḡ| + |x̂·mean(gx̂)|).
    let gs: Vec<f64> = (0..total).map(|i| gamma[i % n] as f64 * dys[i] as f64).collect();
    let mean_over = |v: &[f64], s: usize| v[s * n..(s + 1) * n].iter().sum::<f64>() / n as f64;
    let gx: Vec<f64> = gs.iter().zip(&xhat).map(|(a, h)| a * h).collect();
    let dx_terms: Vec<f64> = (0..total).map(|i| st[i / n].1 * (gs[i].abs() + mean_over(&gs, i / n).abs() + (xhat[i] * mean_over(&gx, i / n)).abs())).collect();
    let got = run_poisoned(gpu, "ln backward_input", &[ops::layernorm::backward_input(gpu, &x, &dy, &g, &saved, &dx)?], &dx)?;
    rows.push(Row::compare("layernorm", "backward_input", &label, "wg256/sample", &got, &dx_ref.data, cancellation_bound(k, &dx_terms, &dx_ref.data)));

    let (dgt, dbt) = (upload(gpu, per, &dg0, "dgamma")?, upload(gpu, per, &db0, "dbeta")?);
    let got = run_read(gpu, "ln backward_params", &[ops::layernorm::backward_params(gpu, &x, &dy, &saved, &dgt, &dbt)?], &[&dgt, &dbt])?;
    let per_position = |f: &dyn Fn(usize) -> f64| -> Vec<f64> { (0..n).map(|i| (0..b).map(|s| f(s * n + i).abs()).sum::<f64>()).collect() };
    let dg_want = add(&dg0, &dg_ref);
    let dg_terms: Vec<f64> = per_position(&|i| dys[i] as f64 * xhat[i]).iter().zip(&dg0).map(|(s, d)| s + (*d as f64).abs()).collect();
    rows.push(Row::compare("layernorm", "backward_gamma +=", &label, "1 inv/position", &got[0], &dg_want, cancellation_bound(k, &dg_terms, &dg_want)));
    let db_want = add(&db0, &db_ref);
    let db_terms: Vec<f64> = per_position(&|i| dys[i] as f64).iter().zip(&db0).map(|(s, d)| s + (*d as f64).abs()).collect();
    rows.push(Row::compare("layernorm", "backward_beta +=", &label, "1 inv/position", &got[1], &db_want, cancellation_bound(k, &db_terms, &db_want)));

    // The backward of the backward, accumulating ∂P/∂γ onto dγ as it stands (dg0 + dγ).
    ady.poison(gpu)?;
    ax.poison(gpu)?;
    sums.poison(gpu)?;
    let d = ops::layernorm::double_backward(gpu, &x, &dy, &g, &saved, &adj, &ady, &ax, &sums, &dgt)?;
    let got = run_read(gpu, "ln double_backward", &d, &[&ady, &ax, &dgt])?;
    let a: Vec<f64> = f64s(&adjs);
    let ax_mean: Vec<f64> = a.iter().zip(&xhat).map(|(p, h)| p * h).collect();
    let adj_g_terms: Vec<f64> = (0..total).map(|i| st[i / n].1 * (a[i].abs() + mean_over(&a, i / n).abs() + (xhat[i] * mean_over(&ax_mean, i / n)).abs())).collect();
    let ady_terms: Vec<f64> = adj_g_terms.iter().enumerate().map(|(i, t)| t * (gamma[i % n] as f64).abs()).collect();
    rows.push(Row::compare("layernorm", "double_backward dy", &label, "wg256/sample", &got[0], &ady_ref.data, cancellation_bound(k, &ady_terms, &ady_ref.data)));
    // ∂P/∂x: four products of per-sample sums with centred values, which cancel each other.
    let ax_terms: Vec<f64> = (0..total)
        .map(|i| {
            let s = i / n;
            let r = st[s].1;
            let (am, gm) = (mean_over(&a, s), mean_over(&gs, s));
            let nf = n as f64;
            let big_a: f64 = (0..n).map(|j| ((a[s * n + j] - am) * (gs[s * n + j] - gm)).abs()).sum();
            let s_a: f64 = (0..n).map(|j| (a[s * n + j] * xhat[s * n + j]).abs()).sum();
            let s_g: f64 = (0..n).map(|j| (gs[s * n + j] * xhat[s * n + j]).abs()).sum();
            r * r / nf * (big_a * xhat[i].abs() + s_g * (a[i] - am).abs() + s_a * (gs[i] - gm).abs() + 3.0 * s_a * s_g * xhat[i].abs() / nf)
        })
        .collect();
    rows.push(Row::compare("layernorm", "double_backward x", &label, "wg256/sample", &got[1], &ax_ref.data, cancellation_bound(k, &ax_terms, &ax_ref.data)));
    let dg2_want: Vec<f64> = dg_want.iter().zip(&ag_ref).map(|(a, b)| a + b).collect();
    let dg2_terms: Vec<f64> = per_position(&|i| dys[i] as f64 * adj_g_terms[i]).iter().zip(&dg_terms).map(|(s, d)| s + d).collect();
    rows.push(Row::compare("layernorm", "double_backward gamma +=", &label, "1 inv/position", &got[2], &dg2_want, cancellation_bound(k, &dg2_terms, &dg2_want)));
    Ok(rows)
}
