//! Check cases of the batchnorm family.

use super::*;

pub(super) fn batchnorm_cases() -> Vec<Case> {
    let mut v = Vec::new();
    let shapes: &[[usize; 4]] = &[
        // The fewest values per channel whose input gradient is not degenerate: with 2, x̂ = ±1
        // and dx is 0 up to O(eps) terms, so a relative error would only measure rounding.
        [3, 1, 1, 1],
        [1, 3, 5, 5],
        [4, 7, 3, 3],
        [3, 65, 1, 1],
        [2, 3, 17, 13],
        // DCGAN: G 64×64 (BN 512@4, 256@8, 128@16, 64@32), D (128@16, 256@8, 512@4), and the
        // 32×32 G's 64@16.
        [64, 512, 4, 4],
        [64, 256, 8, 8],
        [64, 128, 16, 16],
        [64, 64, 32, 32],
        [64, 64, 16, 16],
    ];
    for &shape in shapes {
        v.push(Case::new("batchnorm", format!("batchnorm {shape:?}"), move |gpu, rng| batchnorm_case(gpu, rng, shape, false, 1.5)));
    }
    v.push(Case::new("batchnorm", "batchnorm [3, 12, 7, 9] folded", |gpu, rng| {
        let capped = folded(gpu, FOLD_CAP);
        batchnorm_case(&capped, rng, [3, 12, 7, 9], true, 1.5)
    }));
    // Ill-conditioned on purpose: each channel's values sit within ~0.05 of an offset of
    // ~±3, so |μ|·r ≈ 60 and the bound must follow the conditioning (see `bn_error_scales`).
    v.push(Case::new("batchnorm", "batchnorm [3, 17, 1, 1] clustered", |gpu, rng| batchnorm_case(gpu, rng, [3, 17, 1, 1], false, 0.05)));
    v.push(Case::new("batchnorm", "batchnorm [8, 5, 3, 3] clustered", |gpu, rng| batchnorm_case(gpu, rng, [8, 5, 3, 3], false, 0.05)));
    // More than 65 535 workgroups of 256 invocations: the eval kernel's 2-D grid for real.
    v.push(Case::new("batchnorm", "batchnorm eval > 65535 workgroups", |gpu, rng| {
        let shape = [64usize, 64, 64, 64];
        let n: usize = shape.iter().product();
        let c = shape[1];
        let cfg = BnConfig::default();
        let xs = rng.normals(n, 1.0);
        let (gamma, beta) = (rng.normals(c, 1.0), rng.normals(c, 1.0));
        let (rm, rv) = (rng.normals(c, 1.0), rng.uniforms(c, 0.5, 2.0));
        let want = cpu::batchnorm::forward_eval(&Tensor::from_f32(&shape, &xs), &f64s(&gamma), &f64s(&beta), &f64s(&rm), &f64s(&rv), cfg.eps as f64);
        let x = upload(gpu, &shape, &xs, "x")?;
        let (g, b) = (upload(gpu, &[c], &gamma, "gamma")?, upload(gpu, &[c], &beta, "beta")?);
        let (m, var) = (upload(gpu, &[c], &rm, "running_mean")?, upload(gpu, &[c], &rv, "running_var")?);
        let y = GpuTensor::zeros(gpu, &shape, DType::F32, "y")?;
        let d = ops::batchnorm::forward_eval(gpu, &cfg, &x, &g, &b, &m, &var, &y)?;
        let label = format!("{shape:?} grid {}x{}", d.grid.x, d.grid.y);
        let got = run_poisoned(gpu, "bn eval", &[d], &y)?;
        Ok(vec![Row::compare("batchnorm", "forward_eval", &label, "scalar", &got, &want.data, TRANSCENDENTAL_BOUND)])
    }));
    v
}

/// `spread`: the standard deviation of the values within a channel, around per-channel offsets
/// of standard deviation 3.
fn batchnorm_case(gpu: &Gpu, rng: &mut Rng, shape: [usize; 4], fold: bool, spread: f64) -> Result<Vec<Row>> {
    let cfg = BnConfig::default();
    let n: usize = shape.iter().product();
    let c = shape[1];
    let per_channel = n / c;
    // An offset mean per channel checks the two-pass variance.
    let offsets = rng.normals(c, 3.0);
    let xs: Vec<f32> = rng.normals(n, spread).iter().enumerate().map(|(i, &x)| x + offsets[(i / (shape[2] * shape[3])) % c]).collect();
    let dys = rng.normals(n, 1.0);
    let (gamma, beta) = (rng.normals(c, 1.0), rng.normals(c, 1.0));
    let (rm0, rv0) = (rng.normals(c, 1.0), rng.uniforms(c, 0.5, 2.0));
    let xt = Tensor::from_f32(&shape, &xs);
    let (eps, mom) = (cfg.eps as f64, cfg.momentum as f64);
    let fwd = cpu::batchnorm::forward_train(&xt, &f64s(&gamma), &f64s(&beta), &f64s(&rm0), &f64s(&rv0), eps, mom);
    let (dx_ref, dg_ref, db_ref) = cpu::batchnorm::backward(&xt, &Tensor::from_f32(&shape, &dys), &f64s(&gamma), eps);
    let eval_ref = cpu::batchnorm::forward_eval(&xt, &f64s(&gamma), &f64s(&beta), &f64s(&rm0), &f64s(&rv0), eps);

    let x = upload(gpu, &shape, &xs, "x")?;
    let dy = upload(gpu, &shape, &dys, "dy")?;
    let (g, b) = (upload(gpu, &[c], &gamma, "gamma")?, upload(gpu, &[c], &beta, "beta")?);
    let (rm, rv) = (upload(gpu, &[c], &rm0, "running_mean")?, upload(gpu, &[c], &rv0, "running_var")?);
    let y = GpuTensor::zeros(gpu, &shape, DType::F32, "y")?;
    let saved = GpuTensor::zeros(gpu, &[2, c], DType::F32, "saved")?;
    let label = format!("{shape:?}{}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() }, if spread < 1.0 { " clustered" } else { "" });
    let inv_ref: Vec<f64> = fwd.var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let k = sum_bound(per_channel).max(TRANSCENDENTAL_BOUND);
    let mut rows = Vec::new();

    // Eval mode first, while the running statistics are still the initial ones.
    let y_eval = GpuTensor::zeros(gpu, &shape, DType::F32, "y_eval")?;
    let got = run_poisoned(gpu, "bn eval", &[ops::batchnorm::forward_eval(gpu, &cfg, &x, &g, &b, &rm, &rv, &y_eval)?], &y_eval)?;
    rows.push(Row::compare("batchnorm", "forward_eval", &label, "scalar", &got, &eval_ref.data, TRANSCENDENTAL_BOUND));

    y.poison(gpu)?;
    saved.poison(gpu)?;
    let d = ops::batchnorm::forward_train(gpu, &cfg, &x, &g, &b, &y, &saved, &rm, &rv, true)?;
    let got = run_read(gpu, "bn train", &[d], &[&y, &saved, &rm, &rv])?;
    // Drawn here, after the forward's inputs, so that a seed replays the same values as before
    // the bounds needed them.
    let (dg0, db0) = (rng.normals(c, 1.0), rng.normals(c, 1.0));
    let inputs = BnInputs { shape, x: &xs, dy: &dys, gamma: &gamma, beta: &beta, running_mean: &rm0, dgamma0: &dg0, dbeta0: &db0, momentum: mom };
    let sc = bn_error_scales(&inputs, &fwd.mean, &inv_ref);
    rows.push(Row::compare("batchnorm", "forward_train", &label, "wg256/channel", &got[0], &fwd.y.data, bn_bound(k, &sc.y_terms, &sc.y_cond, &fwd.y.data)));
    rows.push(Row::compare("batchnorm", "saved_mean", &label, "wg256/channel", &got[1][..c], &fwd.mean, cancellation_bound(k, &sc.mean_terms, &fwd.mean)));
    rows.push(Row::compare("batchnorm", "saved_inv_std", &label, "wg256/channel", &got[1][c..], &inv_ref, k));
    rows.push(Row::compare("batchnorm", "running_mean", &label, "wg256/channel", &got[2], &fwd.running_mean, cancellation_bound(k, &sc.running_mean_terms, &fwd.running_mean)));
    rows.push(Row::compare("batchnorm", "running_var", &label, "wg256/channel", &got[3], &fwd.running_var, k));

    let dx = GpuTensor::zeros(gpu, &shape, DType::F32, "dx")?;
    let (dgt, dbt) = (upload(gpu, &[c], &dg0, "dgamma")?, upload(gpu, &[c], &db0, "dbeta")?);
    dx.poison(gpu)?;
    let d = ops::batchnorm::backward(gpu, &cfg, &x, &dy, &g, &saved, &dx, &dgt, &dbt)?;
    let got = run_read(gpu, "bn backward", &[d], &[&dx, &dgt, &dbt])?;
    rows.push(Row::compare("batchnorm", "backward_input", &label, "wg256/channel", &got[0], &dx_ref.data, bn_bound(k, &sc.dx_terms, &sc.dx_cond, &dx_ref.data)));
    let dgamma_want = add(&dg0, &dg_ref);
    rows.push(Row::compare("batchnorm", "backward_gamma +=", &label, "wg256/channel", &got[1], &dgamma_want, bn_bound(k, &sc.dgamma_terms, &sc.dgamma_cond, &dgamma_want)));
    let dbeta_want = add(&db0, &db_ref);
    rows.push(Row::compare("batchnorm", "backward_beta +=", &label, "wg256/channel", &got[2], &dbeta_want, cancellation_bound(k, &sc.dbeta_terms, &dbeta_want)));
    Ok(rows)
}

/// Per-output error scales for batch norm's outputs, from the f64 reference values.
///
/// `*_terms`: the size of the terms each output sums (see `cancellation_bound`) — y = γ·x̂ + β,
/// a single channel's Σdy, or the dx projection dy − m₁ − x̂·m₂ can each come out much smaller
/// than their terms.
///
/// `*_cond`: magnitudes `a` such that f32 storage of the mean perturbs each output by about u·a
/// (first order). Batch norm is ill-conditioned when a channel's values cluster far from zero
/// (|μ|·r ≫ 1, with r = 1/√(σ²+eps)): μ is an f32 (the saved statistic the backward reads), so
/// x − μ carries an error of about u·(|x| + |μ|), and x̂ = (x − μ)·r an error of about u·e with
/// e = r·(|x| + |μ|) + |x̂|. A channel of three values about a tenth apart at an offset of 5
/// gives e ≈ 100, which no f32 implementation (PyTorch's included) avoids. Tracing δx̂ = u·e
/// through the formulas (sums of independent errors add in quadrature; norms per channel):
///   y  = γ·x̂ + β                  a_y  = |γ|·e
///   dx = γ·r·(dy − m₁ − x̂·m₂)     a_dx = |γ·r|·(e·|m₂| + |x̂|·‖dy∘e‖/n),  m₂ = mean dy·x̂
///   dγ = Σ dy·x̂                   a_dγ = ‖dy∘e‖
/// A well-conditioned channel gives u·‖a‖/‖ref‖ far under the plain bound; the seed
/// 1795361709353749147 drew a [3, 65, 1, 1] channel with |μ|·r = 67 whose dx error was 1.2e-5.
struct BnErrorScales {
    y_terms: Vec<f64>,
    y_cond: Vec<f64>,
    mean_terms: Vec<f64>,
    running_mean_terms: Vec<f64>,
    dx_terms: Vec<f64>,
    dx_cond: Vec<f64>,
    dgamma_terms: Vec<f64>,
    dgamma_cond: Vec<f64>,
    dbeta_terms: Vec<f64>,
}

/// The inputs of one batch-norm case, as `batchnorm_case` draws them.
struct BnInputs<'a> {
    shape: [usize; 4],
    x: &'a [f32],
    dy: &'a [f32],
    gamma: &'a [f32],
    beta: &'a [f32],
    running_mean: &'a [f32],
    dgamma0: &'a [f32],
    dbeta0: &'a [f32],
    momentum: f64,
}

fn bn_error_scales(inp: &BnInputs, mean: &[f64], inv_std: &[f64]) -> BnErrorScales {
    let [b, c, h, w] = inp.shape;
    let inner = h * w;
    let n = (b * inner) as f64;
    let (x, dy) = (inp.x, inp.dy);
    let numel = x.len();
    let mut s = BnErrorScales {
        y_terms: vec![0.0; numel],
        y_cond: vec![0.0; numel],
        mean_terms: vec![0.0; c],
        running_mean_terms: vec![0.0; c],
        dx_terms: vec![0.0; numel],
        dx_cond: vec![0.0; numel],
        dgamma_terms: vec![0.0; c],
        dgamma_cond: vec![0.0; c],
        dbeta_terms: vec![0.0; c],
    };
    for ch in 0..c {
        let (mu, r, g) = (mean[ch], inv_std[ch], inp.gamma[ch] as f64);
        let idx: Vec<usize> = (0..b).flat_map(|bi| (0..inner).map(move |j| (bi * c + ch) * inner + j)).collect();
        let (xv, dyv) = (|i: usize| x[i] as f64, |i: usize| dy[i] as f64);
        let xhat = |i: usize| (xv(i) - mu) * r;
        let e = |i: usize| r * (xv(i).abs() + mu.abs()) + xhat(i).abs();
        let rss = |f: &dyn Fn(usize) -> f64| idx.iter().map(|&i| f(i).powi(2)).sum::<f64>().sqrt();
        let m1 = idx.iter().map(|&i| dyv(i)).sum::<f64>() / n;
        let m2 = idx.iter().map(|&i| dyv(i) * xhat(i)).sum::<f64>() / n;
        let dy_e = rss(&|i| dyv(i) * e(i));
        for &i in &idx {
            s.y_terms[i] = (g * xhat(i)).abs() + (inp.beta[ch] as f64).abs();
            s.y_cond[i] = g.abs() * e(i);
            s.dx_terms[i] = (g * r).abs() * (dyv(i).abs() + m1.abs() + (xhat(i) * m2).abs());
            s.dx_cond[i] = (g * r).abs() * (e(i) * m2.abs() + xhat(i).abs() * dy_e / n);
        }
        s.mean_terms[ch] = rss(&xv) / n;
        s.running_mean_terms[ch] = (1.0 - inp.momentum) * (inp.running_mean[ch] as f64).abs() + inp.momentum * s.mean_terms[ch];
        s.dgamma_terms[ch] = rss(&|i| dyv(i) * xhat(i)).hypot(inp.dgamma0[ch] as f64);
        s.dgamma_cond[ch] = dy_e;
        s.dbeta_terms[ch] = rss(&dyv).hypot(inp.dbeta0[ch] as f64);
    }
    s
}

/// The plain bound `k` where the result is the size of its terms and well conditioned, else
/// k·‖terms‖/‖ref‖ plus 8·u·‖cond‖/‖ref‖. The 8 covers the roundings on δx̂'s path (μ's sum
/// and storage, x − μ, ·r with r's own 2-ulp error), each up to u of the terms in e.
fn bn_bound(k: f64, terms: &[f64], cond: &[f64], want: &[f64]) -> f64 {
    let w = norm(want);
    let conditioning = if w == 0.0 { 0.0 } else { 8.0 * F32_U * norm(cond) / w };
    cancellation_bound(k, terms, want) + conditioning
}
