//! Optimizer updates, as PyTorch's `torch.optim.Adam` / `AdamW` / `SGD` / `RMSprop` document them.

/// One Adam step at step count t ≥ 1; updates param, m, v in place.
#[allow(clippy::too_many_arguments)]
pub fn adam_step(
    param: &mut [f64],
    grad: &[f64],
    m: &mut [f64],
    v: &mut [f64],
    t: u32,
    (lr, beta1, beta2, eps): (f64, f64, f64, f64),
    weight_decay: f64,
    decoupled: bool,
) {
    for i in 0..param.len() {
        let mut g = grad[i];
        if decoupled {
            param[i] *= 1.0 - lr * weight_decay;
        } else {
            g += weight_decay * param[i];
        }
        m[i] = beta1 * m[i] + (1.0 - beta1) * g;
        v[i] = beta2 * v[i] + (1.0 - beta2) * g * g;
        let m_hat = m[i] / (1.0 - beta1.powi(t as i32));
        let v_hat = v[i] / (1.0 - beta2.powi(t as i32));
        param[i] -= lr * m_hat / (v_hat.sqrt() + eps);
    }
}

/// One SGD step; with momentum, buf ← μ·buf + g, param ← param − lr·buf.
pub fn sgd_step(param: &mut [f64], grad: &[f64], lr: f64, weight_decay: f64, momentum: Option<(f64, &mut [f64])>) {
    match momentum {
        None => {
            for (p, g) in param.iter_mut().zip(grad) {
                *p -= lr * (g + weight_decay * *p);
            }
        }
        Some((mu, buf)) => {
            for i in 0..param.len() {
                buf[i] = mu * buf[i] + grad[i] + weight_decay * param[i];
                param[i] -= lr * buf[i];
            }
        }
    }
}

/// One RMSprop step: g = grad + wd·param, sq ← α·sq + (1 − α)·g², param ← param − lr·g/(√sq + eps).
pub fn rmsprop_step(param: &mut [f64], grad: &[f64], sq: &mut [f64], (lr, alpha, eps): (f64, f64, f64), weight_decay: f64) {
    for i in 0..param.len() {
        let g = grad[i] + weight_decay * param[i];
        sq[i] = alpha * sq[i] + (1.0 - alpha) * g * g;
        param[i] -= lr * g / (sq[i].sqrt() + eps);
    }
}

/// The moving average's step t (≥ 1): bias-corrected, avg ← avg + (1 − β)/(1 − βᵗ)·(live − avg)
/// (at t ≤ 1 the average becomes `live`); with `rampup` r, a plain EMA with
/// β_t = min(β, 0.5^(1/(r·t))).
pub fn ema_update(avg: &mut [f64], live: &[f64], beta: f64, t: u32, rampup: Option<f64>) {
    let w = match rampup {
        Some(r) => 1.0 - beta.min(0.5f64.powf(1.0 / (r * t.max(1) as f64))),
        None if t <= 1 => 1.0,
        None => (1.0 - beta) / (1.0 - beta.powi(t as i32)),
    };
    for (a, &l) in avg.iter_mut().zip(live) {
        *a += w * (l - *a);
    }
}

/// The learning-rate schedule's factor at iteration i (0-based): warm-up min(1, (i + 1)/warmup)
/// (1 without) times f(p), p = min(i/horizon, 1): 1 (constant), 1 − p (linear),
/// ½(1 + cos πp) (cosine). optim.wgsl:lr_schedule writes base · this.
pub fn lr_schedule_factor(schedule: &crate::ops::optim::Schedule, i: u64) -> f64 {
    use crate::ops::optim::ScheduleKind;
    let p = (i as f64 / schedule.horizon.max(1) as f64).min(1.0);
    let f = match schedule.kind {
        ScheduleKind::Constant => 1.0,
        ScheduleKind::Linear => 1.0 - p,
        ScheduleKind::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * p).cos()),
    };
    let warm = if schedule.warmup > 0 { ((i + 1) as f64 / schedule.warmup as f64).min(1.0) } else { 1.0 };
    warm * f
}
