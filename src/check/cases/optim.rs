//! Check cases of the optim family.

use super::*;

/// Bound for an optimizer step compared as Δ = p_new − p_old: the update's own arithmetic
/// (through sqrt and the bias corrections: TRANSCENDENTAL_BOUND) plus storing p_new in f32,
/// which alone costs u·|p_new| per element — large next to a small step. Computed from the
/// reference, so a step that is tiny relative to its parameter gets the room it needs.
fn step_bound(p_new: &[f64], delta: &[f64]) -> f64 {
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    TRANSCENDENTAL_BOUND + 2.0 * super::F32_U * norm(p_new) / norm(delta).max(f64::MIN_POSITIVE)
}

pub(super) fn optim_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for &(n, t, wd, decoupled, fold) in &[
        (1usize, 1u32, 0.0f32, false, false),
        (17, 1, 0.0, false, false),
        (1000, 7, 0.01, false, false),
        (1003, 250, 0.05, true, false),
        (10_007, 3, 0.0, false, true),
    ] {
        let name = format!("adam n={n} t={t} wd={wd} decoupled={decoupled}{}", if fold { " folded" } else { "" });
        v.push(Case::new("optim", name, move |gpu, rng| {
            let capped;
            let gpu = if fold {
                capped = folded(gpu, FOLD_CAP);
                &capped
            } else {
                gpu
            };
            // lr is large so that the step itself (not the parameter) is measured: the
            // comparison is on Δparam = new − old.
            let (lr, cfg) = (0.1f32, AdamConfig { beta1: 0.5, beta2: 0.999, eps: 1e-8, weight_decay: wd, decoupled });
            let (p0, g, m0, v0) = (rng.normals(n, 1.0), rng.normals(n, 1.0), rng.normals(n, 0.1), rng.uniforms(n, 0.0, 1.0));
            let (mut p, mut m, mut vv) = (f64s(&p0), f64s(&m0), f64s(&v0));
            let hyper = (lr as f64, cfg.beta1 as f64, cfg.beta2 as f64, cfg.eps as f64);
            cpu::optim::adam_step(&mut p, &f64s(&g), &mut m, &mut vv, t, hyper, wd as f64, decoupled);
            let counters = GpuTensor::from_u32(gpu, &[2], &[99, t - 1], "counters")?;
            // The learning rate is read from a tensor, at a slot other than 0.
            let lrs = upload(gpu, &[3], &[f32::NAN, lr, f32::NAN], "lrs")?;
            let (param, grad) = (upload(gpu, &[n], &p0, "param")?, upload(gpu, &[n], &g, "grad")?);
            let (mt, vt) = (upload(gpu, &[n], &m0, "m")?, upload(gpu, &[n], &v0, "v")?);
            // The step counter is bumped on the GPU first, as the trainer does.
            let d = [
                ops::elementwise::counter_add(gpu, &counters, 1, 1)?,
                ops::optim::adam_step(gpu, &cfg, ops::optim::Lr { tensor: &lrs, index: 1 }, &grad, &counters, 1, &param, &mt, &vt)?,
            ];
            let got = run_read(gpu, "adam", &d, &[&param, &mt, &vt])?;
            let delta_gpu: Vec<f32> = got[0].iter().zip(&p0).map(|(a, b)| a - b).collect();
            let delta_ref: Vec<f64> = p.iter().zip(&p0).map(|(a, &b)| a - b as f64).collect();
            let shape = format!("n={n} t={t} wd={wd}{}{}", if decoupled { " AdamW" } else { "" }, if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });
            Ok(vec![
                Row::compare("optim", "adam_delta_param", &shape, "vec4", &delta_gpu, &delta_ref, step_bound(&p, &delta_ref)),
                Row::compare("optim", "adam_m", &shape, "vec4", &got[1], &m, ELEMENTWISE_BOUND),
                Row::compare("optim", "adam_v", &shape, "vec4", &got[2], &vv, ELEMENTWISE_BOUND),
            ])
        }));
    }
    for &(n, momentum) in &[(1usize, None), (1001, None), (3, Some(0.9f32)), (1001, Some(0.9))] {
        v.push(Case::new("optim", format!("sgd n={n} momentum={momentum:?}"), move |gpu, rng| {
            let (lr, wd) = (0.1f32, 0.01f32);
            let (p0, g, b0) = (rng.normals(n, 1.0), rng.normals(n, 1.0), rng.normals(n, 0.1));
            let mut p = f64s(&p0);
            let mut buf = f64s(&b0);
            cpu::optim::sgd_step(&mut p, &f64s(&g), lr as f64, wd as f64, momentum.map(|mu| (mu as f64, &mut buf[..])));
            let (param, grad, bt) = (upload(gpu, &[n], &p0, "param")?, upload(gpu, &[n], &g, "grad")?, upload(gpu, &[n], &b0, "buf")?);
            let d = ops::optim::sgd_step(gpu, lr, wd, momentum.map(|mu| (mu, &bt)), &grad, &param)?;
            let got = run_read(gpu, "sgd", &[d], &[&param, &bt])?;
            let delta_gpu: Vec<f32> = got[0].iter().zip(&p0).map(|(a, b)| a - b).collect();
            let delta_ref: Vec<f64> = p.iter().zip(&p0).map(|(a, &b)| a - b as f64).collect();
            let shape = format!("n={n} momentum={momentum:?}");
            let mut rows = vec![Row::compare("optim", "sgd_delta_param", &shape, "vec4", &delta_gpu, &delta_ref, step_bound(&p, &delta_ref))];
            if momentum.is_some() {
                rows.push(Row::compare("optim", "sgd_momentum_buf", &shape, "vec4", &got[1], &buf, ELEMENTWISE_BOUND));
            }
            Ok(rows)
        }));
    }
    for &(n, wd, fold) in &[(1usize, 0.0f32, false), (17, 0.0, false), (1003, 0.01, false), (10_007, 0.0, true)] {
        v.push(Case::new("optim", format!("rmsprop n={n} wd={wd}{}", if fold { " folded" } else { "" }), move |gpu, rng| {
            let capped;
            let gpu = if fold {
                capped = folded(gpu, FOLD_CAP);
                &capped
            } else {
                gpu
            };
            let (lr, alpha, eps) = (0.05f32, 0.99f32, 1e-8f32);
            let (p0, g, s0) = (rng.normals(n, 1.0), rng.normals(n, 1.0), rng.uniforms(n, 0.0, 1.0));
            let (mut p, mut sq) = (f64s(&p0), f64s(&s0));
            cpu::optim::rmsprop_step(&mut p, &f64s(&g), &mut sq, (lr as f64, alpha as f64, eps as f64), wd as f64);
            let (param, grad, st) = (upload(gpu, &[n], &p0, "param")?, upload(gpu, &[n], &g, "grad")?, upload(gpu, &[n], &s0, "sq")?);
            let lrs = upload(gpu, &[2], &[f32::NAN, lr], "lrs")?;
            let d = ops::optim::rmsprop_step(gpu, ops::optim::Lr { tensor: &lrs, index: 1 }, alpha, eps, wd, &grad, &param, &st)?;
            let got = run_read(gpu, "rmsprop", &[d], &[&param, &st])?;
            let delta_gpu: Vec<f32> = got[0].iter().zip(&p0).map(|(a, b)| a - b).collect();
            let delta_ref: Vec<f64> = p.iter().zip(&p0).map(|(a, &b)| a - b as f64).collect();
            let shape = format!("n={n} wd={wd}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });
            Ok(vec![
                Row::compare("optim", "rmsprop_delta_param", &shape, "vec4", &delta_gpu, &delta_ref, step_bound(&p, &delta_ref)),
                Row::compare("optim", "rmsprop_square_avg", &shape, "vec4", &got[1], &sq, ELEMENTWISE_BOUND),
            ])
        }));
    }
    // The learning-rate schedule: each kind, with and without warm-up, at the first iteration,
    // inside the warm-up, mid-way, at and past the horizon. The slot is NaN-poisoned and its
    // neighbours must keep their poison.
    use ops::optim::{Schedule, ScheduleKind};
    for &(kind, horizon, warmup) in &[(ScheduleKind::Constant, 1u64, 0u64), (ScheduleKind::Linear, 1000, 0), (ScheduleKind::Cosine, 3000, 100), (ScheduleKind::Linear, 7, 3)] {
        v.push(Case::new("optim", format!("lr_schedule {kind:?} horizon={horizon} warmup={warmup}"), move |gpu, rng| {
            let schedule = Schedule { kind, horizon, warmup };
            let base = rng.uniforms(1, 1e-5, 1e-2)[0];
            let steps: Vec<u64> = [0, 1, warmup.saturating_sub(1), warmup, horizon / 3, horizon / 2, horizon - 1, horizon, horizon + 5].into_iter().chain((0..3).map(|_| rng.next_u64() % (horizon + 1))).collect();
            let lrs = GpuTensor::zeros(gpu, &[3], DType::F32, "lrs")?;
            let counters = GpuTensor::zeros(gpu, &[2], DType::U32, "counters")?;
            let d = ops::optim::lr_schedule(gpu, &schedule, base, &counters, 1, ops::optim::Lr { tensor: &lrs, index: 2 })?;
            let (mut got, mut want, mut untouched) = (Vec::new(), Vec::new(), 0usize);
            for &i in &steps {
                counters.write_u32(gpu, &[7, i as u32])?;
                let out = run_poisoned(gpu, "lr_schedule", std::slice::from_ref(&d), &lrs)?;
                untouched += out[..2].iter().filter(|x| x.is_nan()).count();
                got.push(out[2]);
                want.push(base as f64 * cpu::optim::lr_schedule_factor(&schedule, i));
            }
            let shape = format!("horizon={horizon} warmup={warmup} base={base:.2e}, {} iterations", steps.len());
            Ok(vec![
                // cos and a few roundings of values ≤ 1.
                Row::compare("optim", &format!("lr_schedule_{kind:?}").to_lowercase(), &shape, "1 invocation", &got, &want, TRANSCENDENTAL_BOUND),
                Row::scalar("optim", "lr_schedule_other_slots_untouched", &shape, "1 invocation", (2 * steps.len() - untouched) as f64, 0.0),
            ])
        }));
    }
    // The moving average: t = 1 copies, small t has large weights, large t reaches 1 − β.
    let ema_cases: &[(usize, f32, u32, bool, Option<f32>)] = &[
        (1, 0.999, 1, false, None),
        (17, 0.999, 2, false, None),
        (1003, 0.9, 37, false, None),
        (1003, 0.999, 5000, false, None),
        (10_007, 0.99, 250, true, None),
        (17, 0.999, 1, false, Some(0.05)),
        (1003, 0.999, 300, false, Some(0.05)),
        (1003, 0.999, 100_000, false, Some(0.05)),
    ];
    for &(n, beta, t, fold, rampup) in ema_cases {
        v.push(Case::new("optim", format!("ema n={n} beta={beta} t={t} rampup={rampup:?}{}", if fold { " folded" } else { "" }), move |gpu, rng| {
            let capped;
            let gpu = if fold {
                capped = folded(gpu, FOLD_CAP);
                &capped
            } else {
                gpu
            };
            let (a0, live) = (rng.normals(n, 1.0), rng.normals(n, 1.0));
            let mut a = f64s(&a0);
            cpu::optim::ema_update(&mut a, &f64s(&live), beta as f64, t, rampup.map(f64::from));
            let counters = GpuTensor::from_u32(gpu, &[3], &[7, 99, t], "counters")?;
            let (avg, live_t) = (upload(gpu, &[n], &a0, "avg")?, upload(gpu, &[n], &live, "live")?);
            let d = ops::optim::ema_update(gpu, beta, rampup, &live_t, &counters, 2, &avg)?;
            let got = run_read(gpu, "ema", &[d], &[&avg])?;
            let delta_gpu: Vec<f32> = got[0].iter().zip(&a0).map(|(x, y)| x - y).collect();
            let delta_ref: Vec<f64> = a.iter().zip(&a0).map(|(x, &y)| x - y as f64).collect();
            let shape = format!("n={n} β={beta} t={t}{}{}", rampup.map(|r| format!(" ramp {r}")).unwrap_or_default(), if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });
            Ok(vec![Row::compare("optim", "ema_delta_avg", &shape, "vec4", &delta_gpu, &delta_ref, step_bound(&a, &delta_ref))])
        }));
    }
    v
}
