//! Check cases of the spectral_norm family: the power iteration (u, v, σ), σ from stored
//! vectors, W/σ and the backward through W/σ, on ragged matrices — one row, one column, more
//! rows or columns than the single workgroup has invocations.

use super::*;

pub(super) fn spectral_norm_cases() -> Vec<Case> {
    // (rows, cols): the DCGAN discriminator's last conv is 1 × 2048 (ndf 128), its widest
    // 128 × 1024; 300 and 517 take several passes of the 256 invocations.
    let shapes: &[(usize, usize)] = &[(1, 1), (1, 17), (3, 65), (17, 3), (64, 512), (127, 33), (300, 7), (5, 517), (1, 2048)];
    let mut v = Vec::new();
    for &(rows, cols) in shapes {
        v.push(Case::new("spectral_norm", format!("spectral_norm {rows}x{cols}"), move |gpu, rng| {
            let n = rows * cols;
            let shape = format!("W [{rows}, {cols}]");
            let (w_data, u0, v0) = (rng.normals(n, 0.3), rng.normals(rows, 1.0), rng.normals(cols, 1.0));
            let w64 = f64s(&w_data);
            let eps = ops::spectral_norm::EPS as f64;
            let (u_want, v_want, sigma_want) = cpu::spectral_norm::power_iteration(&w64, rows, cols, &f64s(&u0), eps);
            let w = upload(gpu, &[rows, cols], &w_data, "w")?;
            let (u, vt) = (upload(gpu, &[rows], &u0, "u")?, upload(gpu, &[cols], &v0, "v")?);
            let sigma = GpuTensor::zeros(gpu, &[1], DType::F32, "sigma")?;
            sigma.poison(gpu)?;
            // Each vector entry is a dot of `rows` or `cols` terms, normalised: a few such
            // reductions deep.
            let bound = 4.0 * sum_bound(rows.max(cols)) + TRANSCENDENTAL_BOUND;
            let got = run_read(gpu, "sn_power", &[ops::spectral_norm::power(gpu, &w, &u, &vt, &sigma, true)?], &[&u, &vt, &sigma])?;
            let mut out = vec![
                Row::compare("spectral_norm", "power_u", &shape, "1 WG", &got[0], &u_want, bound),
                Row::compare("spectral_norm", "power_v", &shape, "1 WG", &got[1], &v_want, bound),
                Row::compare("spectral_norm", "power_sigma", &shape, "1 WG", &got[2][..1], &[sigma_want], bound),
            ];
            let (u_gpu, v_gpu, sigma_gpu) = (f64s(&got[0]), f64s(&got[1]), got[2][0] as f64);

            // Evaluation: σ = uᵀWv from fresh stored vectors, which stay untouched.
            let (ue, ve) = (rng.normals(rows, 1.0), rng.normals(cols, 1.0));
            let (ut, vt2) = (upload(gpu, &[rows], &ue, "u")?, upload(gpu, &[cols], &ve, "v")?);
            sigma.poison(gpu)?;
            let got = run_read(gpu, "sn_power eval", &[ops::spectral_norm::power(gpu, &w, &ut, &vt2, &sigma, false)?], &[&ut, &vt2, &sigma])?;
            let want = cpu::spectral_norm::sigma(&w64, rows, cols, &f64s(&ue), &f64s(&ve));
            // uᵀWv of unnormalised vectors may cancel: bound relative to Σ|u_r W_rc v_c|.
            let magnitude: f64 = (0..n).map(|k| (ue[k / cols] as f64 * w64[k] * ve[k % cols] as f64).abs()).sum();
            out.push(Row::compare("spectral_norm", "eval_sigma", &shape, "1 WG", &got[2][..1], &[want], cancellation_bound(sum_bound(n), &[magnitude], &[want])));
            let untouched = (got[0] == ue && got[1] == ve) as u8 as f64;
            out.push(Row::scalar("spectral_norm", "eval leaves u, v (1 = untouched)", &shape, "1 WG", untouched, 1.0));

            // W/σ against the reference's σ.
            let w_sn = GpuTensor::zeros(gpu, &[rows, cols], DType::F32, "w_sn")?;
            let got = run_poisoned(gpu, "sn_scale", &[ops::spectral_norm::scale(gpu, &w, &sigma_after_power(gpu, &w, &u0, &v0)?, &w_sn)?], &w_sn)?;
            let want: Vec<f64> = w64.iter().map(|x| x / sigma_want).collect();
            out.push(Row::compare("spectral_norm", "scale", &shape, "elementwise", &got, &want, bound));

            // The backward, on the GPU's own u, v, σ, accumulated into a non-zero gradient.
            let (g_data, dw0) = (rng.normals(n, 1.0), rng.normals(n, 1.0));
            let dw_sn = upload(gpu, &[rows, cols], &g_data, "dw_sn")?;
            let dw = upload(gpu, &[rows, cols], &dw0, "dw")?;
            let (us, vs) = (upload(gpu, &[rows], &to_f32(&u_gpu), "u")?, upload(gpu, &[cols], &to_f32(&v_gpu), "v")?);
            let s = upload(gpu, &[1], &[sigma_gpu as f32], "sigma")?;
            let dot = GpuTensor::zeros(gpu, &[1], DType::F32, "dot")?;
            dot.poison(gpu)?;
            let got = run_read(gpu, "sn_backward", &ops::spectral_norm::backward(gpu, &w, &dw_sn, &us, &vs, &s, &dot, &dw)?, &[&dw])?;
            let delta = cpu::spectral_norm::backward(&w64, &f64s(&g_data), &u_gpu, &v_gpu, sigma_gpu);
            let got_delta: Vec<f32> = got[0].iter().zip(&dw0).map(|(a, b)| a - b).collect();
            // δ = g/σ − (W·g)/σ² · u vᵀ cancels where g is nearly parallel to u vᵀ — exactly for
            // a 1 × 1 W, whose δ is 0 up to the rounding of u and v — so the bound is relative
            // to the size of the two terms, not of δ.
            let dot: f64 = g_data.iter().zip(&w64).map(|(a, b)| *a as f64 * b).sum();
            let terms: Vec<f64> = (0..n)
                .map(|k| (g_data[k] as f64 / sigma_gpu).abs() + (dot / (sigma_gpu * sigma_gpu) * u_gpu[k / cols] * v_gpu[k % cols]).abs())
                .collect();
            let bound = cancellation_bound(4.0 * sum_bound(n) + TRANSCENDENTAL_BOUND, &terms, &delta)
                + 2.0 * F32_U * norm(&f64s(&got[0])) / norm(&delta).max(f64::MIN_POSITIVE);
            out.push(Row::compare("spectral_norm", "backward_delta_dw", &shape, "1 WG + elementwise", &got_delta, &delta, bound));
            Ok(out)
        }));
    }
    v
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// σ after one power iteration from (u0, v0), on the GPU, in a fresh tensor.
fn sigma_after_power(gpu: &Gpu, w: &GpuTensor, u0: &[f32], v0: &[f32]) -> Result<GpuTensor> {
    let (u, v) = (upload(gpu, &[u0.len()], u0, "u")?, upload(gpu, &[v0.len()], v0, "v")?);
    let sigma = GpuTensor::zeros(gpu, &[1], DType::F32, "sigma")?;
    gpu.run("sn_power", &[&ops::spectral_norm::power(gpu, w, &u, &v, &sigma, true)?])?;
    Ok(sigma)
}
