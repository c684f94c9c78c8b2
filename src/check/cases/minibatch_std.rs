//! Check cases of the minibatch standard deviation layer: the forward (statistic and
//! appended plane), the backward to the input and the backward of the backward (∂P/∂dy,
//! ∂P/∂x) — batch 1 (a group of one), groups of 2 to 16, more features than the workgroup has
//! invocations, ragged planes, the 32×32 DCGAN critic's last activation, and more groups than
//! one grid dimension holds (folded to 8 per dimension).

use super::*;

pub(super) fn minibatch_std_cases() -> Vec<Case> {
    // (B, C, H, W, group)
    let shapes: &[([usize; 4], usize)] = &[
        ([1, 3, 1, 1], 4),
        ([3, 1, 1, 17], 3),
        ([10, 5, 3, 3], 5),
        ([6, 65, 2, 1], 3),
        ([2, 1, 127, 1], 2),
        ([16, 3, 5, 7], 16),
        ([8, 300, 1, 1], 4),
        ([64, 128, 4, 4], 4),
    ];
    let mut v: Vec<Case> = shapes.iter().map(|&(shape, group)| Case::new("minibatch_std", format!("minibatch_std {shape:?} group {group}"), move |gpu, rng| minibatch_std_case(gpu, rng, shape, group, false))).collect();
    v.push(Case::new("minibatch_std", "minibatch_std [150, 2, 1, 3] group 3 folded", |gpu, rng| minibatch_std_case(&folded(gpu, FOLD_CAP), rng, [150, 2, 1, 3], 3, true)));
    v
}

fn minibatch_std_case(gpu: &Gpu, rng: &mut Rng, shape: [usize; 4], group: usize, fold: bool) -> Result<Vec<Row>> {
    let [b, c, h, w] = shape;
    let (p, f) = (h * w, c * h * w);
    let (g, m) = cpu::minibatch_std::groups(b, group);
    let out_shape = [b, c + 1, h, w];
    // An offset per group checks the two-pass variance.
    let offsets = rng.normals(m, 2.0);
    let xs: Vec<f32> = rng.normals(b * f, 1.0).iter().enumerate().map(|(i, &x)| x + offsets[(i / f) % m]).collect();
    let (dys, adjs) = (rng.normals(b * (c + 1) * p, 1.0), rng.normals(b * f, 1.0));
    let (x64, dy64, adj64) = (f64s(&xs), f64s(&dys), f64s(&adjs));
    let label = format!("{shape:?} group {g}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });

    // Per element: d = x − group mean, σ of its feature in its group.
    let mut d = vec![0.0; b * f];
    let mut sigma = vec![0.0; b * f];
    for n in 0..m {
        for q in 0..f {
            let at = |i: usize| (i * m + n) * f + q;
            let mean = (0..g).map(|i| x64[at(i)]).sum::<f64>() / g as f64;
            let s = ((0..g).map(|i| (x64[at(i)] - mean).powi(2)).sum::<f64>() / g as f64 + cpu::minibatch_std::EPS).sqrt();
            for i in 0..g {
                d[at(i)] = x64[at(i)] - mean;
                sigma[at(i)] = s;
            }
        }
    }
    let group_sum = |per_sample: &[f64], s: usize| (0..g).map(|i| per_sample[i * m + s % m]).sum::<f64>();
    // Each statistic and plane sum adds G·F (or G·P) terms; σ adds a square root.
    let k = sum_bound(g * f.max(p)) + TRANSCENDENTAL_BOUND;

    let x = upload(gpu, &shape, &xs, "x")?;
    let dy = upload(gpu, &out_shape, &dys, "dy")?;
    let adj = upload(gpu, &shape, &adjs, "adj")?;
    let z = |shape: &[usize], name: &str| GpuTensor::zeros(gpu, shape, DType::F32, name);
    let (v, y, dv, dx, wsum, ady, ax) = (z(&[b, 1], "statistic")?, z(&out_shape, "y")?, z(&[b, 1], "dv")?, z(&shape, "dx")?, z(&[b, 1], "adjoint sums")?, z(&out_shape, "adj_dy")?, z(&shape, "adj_x")?);
    let mut rows = Vec::new();

    // The statistic: a mean of square roots of sums of squares, no cancellation in it.
    v.poison(gpu)?;
    let got = run_poisoned(gpu, "minibatch_std forward", &ops::minibatch_std::forward(gpu, &x, group, &v, &y)?, &y)?;
    let want = cpu::minibatch_std::forward(&x64, b, c, p, group);
    rows.push(Row::compare("minibatch_std", "forward", &label, "wg256/group", &got, &want, k));

    // dx = dy + ds·d/(GFσ): relative to |dy| + Σ|plane of the group|·|d|/(GFσ).
    let abs_dy: Vec<f64> = dy64.iter().map(|v| v.abs()).collect();
    let plane_abs = cpu::embedding::concat_planes_backward(&abs_dy, b, c, p, 1);
    let gf = (g * f) as f64;
    let dx_terms: Vec<f64> = (0..b * f).map(|i| dy64[(i / f) * (f + p) + i % f].abs() + group_sum(&plane_abs, i / f) * d[i].abs() / (gf * sigma[i])).collect();
    let want = cpu::minibatch_std::backward(&x64, &dy64, b, c, p, group);
    let got = run_poisoned(gpu, "minibatch_std backward_input", &ops::minibatch_std::backward_input(gpu, &x, &dy, group, &dv, &dx)?, &dx)?;
    rows.push(Row::compare("minibatch_std", "backward_input", &label, "1 inv/element", &got, &want, cancellation_bound(k, &dx_terms, &want)));

    // The backward of the backward, after the backward above wrote dv.
    let (ady_ref, ax_ref) = cpu::minibatch_std::double_backward(&x64, &dy64, &adj64, b, c, p, group);
    ady.poison(gpu)?;
    ax.poison(gpu)?;
    wsum.poison(gpu)?;
    let got = run_read(gpu, "minibatch_std double_backward", &ops::minibatch_std::double_backward(gpu, &x, group, &dv, &adj, &wsum, &ady, &ax)?, &[&ady, &ax])?;
    // ∂P/∂dy: adj copied, and on the plane Σ_group adj·d/(GFσ), relative to Σ|adj·d|/(GFσ).
    let a_terms: Vec<f64> = (0..b * f).map(|i| (adj64[i] * d[i]).abs() / (gf * sigma[i])).collect();
    let per_sample_a: Vec<f64> = (0..b).map(|s| a_terms[s * f..(s + 1) * f].iter().sum()).collect();
    let group_a: Vec<f64> = (0..b).map(|s| group_sum(&per_sample_a, s)).collect();
    let ady_terms = cpu::embedding::concat_planes(&adj64.iter().map(|v| v.abs()).collect::<Vec<_>>(), &group_a, b, c, p, 1);
    rows.push(Row::compare("minibatch_std", "double_backward dy", &label, "wg256/group", &got[0], &ady_ref, cancellation_bound(k, &ady_terms, &ady_ref)));
    // ∂P/∂x = ds/(GF)·[(adj − ā)/σ − T·d/(Gσ³)]: two terms that cancel, each bounded by sizes.
    // For G = 2 they cancel exactly (d/σ = ±1 whatever x): the row then bounds the GPU's
    // rounding absolutely, by the terms' size.
    let ax_terms: Vec<f64> = (0..b * f)
        .map(|i| {
            let (s, q) = (i / f, i % f);
            let at = |j: usize| (j * m + s % m) * f + q;
            let mean_abs_adj = (0..g).map(|j| adj64[at(j)].abs()).sum::<f64>() / g as f64;
            let t_abs: f64 = (0..g).map(|j| (adj64[at(j)] * d[at(j)]).abs()).sum();
            let sg = sigma[i];
            group_sum(&plane_abs, s) / gf * ((adj64[i].abs() + mean_abs_adj) / sg + t_abs * d[i].abs() / (g as f64 * sg * sg * sg))
        })
        .collect();
    rows.push(Row::compare("minibatch_std", "double_backward x", &label, "1 inv/element", &got[1], &ax_ref, cancellation_bound(k, &ax_terms, &ax_ref)));
    Ok(rows)
}
