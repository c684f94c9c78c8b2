// optim.wgsl — Adam (with L2 or decoupled weight decay), SGD (with optional momentum) and
// RMSprop, updating parameters in place, and the learning-rate schedule.
//
// MATH     adam_step, t = counters[counter_index] (already incremented for this step, t ≥ 1):
//            g  = grad + wd·param                     (L2, PyTorch Adam; skipped when decoupled)
//            param ← param · (1 − lr·wd)              (decoupled only, PyTorch AdamW)
//            m  ← β1·m + (1−β1)·g
//            v  ← β2·v + (1−β2)·g²
//            param ← param − lr · (m / (1−β1ᵗ)) / (sqrt(v / (1−β2ᵗ)) + eps)
//            with 1 − βᵗ computed as −expm1(t·ln β) (see one_minus_pow).
//          sgd_step:          param ← param − lr·(grad + wd·param)
//          sgd_momentum_step: buf ← μ·buf + (grad + wd·param);  param ← param − lr·buf
//            (PyTorch SGD without dampening/nesterov; buf starts at 0, which equals PyTorch's
//            "buf = grad on the first step".)
//          rmsprop_step:      g = grad + wd·param;  sq ← α·sq + (1−α)·g²;
//                             param ← param − lr·g / (sqrt(sq) + eps)
//            (PyTorch RMSprop, not centered, no momentum: the optimizer of WGAN, Arjovsky et al.)
//          ema_update (a network's exponential moving average, --g-ema β), t = counters[i] the
//          live network's optimizer steps (already incremented, t ≥ 1):
//            w = (1 − β) / (1 − βᵗ)          (1 at t = 1; → 1 − β as t grows; 1 at t = 0)
//            avg ← avg + w·(live − avg)
//            This is the bias-corrected average Σₛ βᵗ⁻ˢ·liveₛ / Σₛ βᵗ⁻ˢ over the steps
//            s = 1..t, computed recursively: the initial random weights carry no weight (a
//            plain EMA started from them keeps βᵗ of them: 5 % after 3 000 steps at 0.999),
//            and long runs get StyleGAN2/BigGAN's plain EMA. One dispatch per flat region
//            (weights, then BatchNorm running statistics, averaged too as BigGAN does).
//            With rampup r > 0 (StyleGAN2's ema_rampup), a plain EMA whose half-life grows with
//            training: β_t = min(β, 0.5^(1/(r·t))), w = 1 − β_t (≈ 1 early on: the average
//            follows the network while it still moves fast).
//          lr_schedule (one invocation), i = counters[counter_index] (iterations completed),
//          p = min(i / horizon, 1), warm = min(1, (i + 1) / warmup) (1 without warm-up):
//            lrs[out_index] = base · warm · f(p),  f = 1 (constant), 1 − p (linear),
//            ½(1 + cos πp) (cosine)
//          Adam and RMSprop read their learning rate from lrs[lr_index] (a GPU tensor, not the
//          uniform), so a schedule — this kernel, recorded before the optimizer steps, or the
//          host writing the tensor — changes it between steps without rebuilding a dispatch.
//          The step count lives on the GPU (a u32 in `counters`, bumped by
//          elementwise.wgsl:counter_add once per optimizer step) so a training step needs no
//          host write and several optimizer steps can share one submission.
// LAYOUT   param, grad, m, v, buf: same length, contiguous, padded to 4 → array<vec4<f32>>.
//          A whole model's parameters can be one flat buffer: one dispatch updates them all.
// WORK     1 invocation = 1 vec4. WG = 256. lr_schedule: 1 invocation.
// GRID     ceil(n4/256) workgroups folded to (x, y) (Grid::linear); guard i < n4.
//          lr_schedule: (1, 1, 1), one workgroup of 1.
// WRITES   param, m, v, buf, avg: updated in place (read-modify-write). grad, live are only read.
//          lr_schedule: lrs[out_index] overwritten, nothing else.
// BINDINGS adam_step:         0 grad r | 1 counters r (u32) | 2 lrs r | 3 param rw | 4 m rw
//                             | 5 v rw | 6 params
//          sgd_step:          0 grad r | 1 param rw | 2 params
//          sgd_momentum_step: 0 grad r | 1 param rw | 2 buf rw | 3 params
//          rmsprop_step:      0 grad r | 1 lrs r | 2 param rw | 3 sq rw | 4 params
//          ema_update:        0 live r | 1 counters r (u32) | 2 avg rw | 3 params
//          lr_schedule:       0 counters r (u32) | 1 lrs rw | 2 params
// REF      src/reference/optim.rs   TESTS src/check/cases/optim.rs (op "optim")

const WG: u32 = 256u;

struct AdamParams {
    n4: u32,             // ceil(n / 4)
    counter_index: u32,  // counters[counter_index] = t
    lr_index: u32,       // the learning rate is lrs[lr_index]
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    decoupled: u32,      // 1: AdamW-style decay; 0: L2 added to the gradient
}

struct SgdParams {
    n4: u32,
    lr: f32,
    weight_decay: f32,
    momentum: f32,
}

@group(0) @binding(0) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> counters: array<u32>;
@group(0) @binding(2) var<storage, read> lrs: array<f32>;
@group(0) @binding(3) var<storage, read_write> param: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> m: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> v: array<vec4<f32>>;
@group(0) @binding(6) var<uniform> ap: AdamParams;

struct RmspropParams {
    n4: u32,
    lr_index: u32,       // the learning rate is lrs[lr_index]
    alpha: f32,          // smoothing of the squared-gradient average (PyTorch: 0.99)
    eps: f32,
    weight_decay: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(1) var<storage, read> rms_lrs: array<f32>;
@group(0) @binding(2) var<storage, read_write> rms_param: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> rms_sq: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> rp: RmspropParams;

struct ScheduleParams {
    counter_index: u32,  // counters[counter_index] = i, iterations completed
    out_index: u32,      // lrs[out_index] ← the learning rate of iteration i
    base: f32,
    kind: u32,           // 0 constant, 1 linear, 2 cosine
    horizon: u32,        // iterations over which f falls from 1 to 0 (≥ 1)
    warmup: u32,         // iterations of linear warm-up (0: none)
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> sched_counters: array<u32>;
@group(0) @binding(1) var<storage, read_write> sched_lrs: array<f32>;
@group(0) @binding(2) var<uniform> sched: ScheduleParams;

struct EmaParams {
    n4: u32,
    counter_index: u32,  // counters[counter_index] = t, the live network's optimizer steps
    beta: f32,
    rampup: f32,         // 0: bias-corrected EMA; r > 0: half-life r·t steps, capped by β's
}

@group(0) @binding(0) var<storage, read> ema_live: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> ema_avg: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> ep: EmaParams;

@group(0) @binding(1) var<storage, read_write> sgd_param: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> sp: SgdParams;
@group(0) @binding(2) var<storage, read_write> sgd_buf: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> smp: SgdParams;

fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

// ln β for β in (0, 1). Near 1, drivers' log is accurate only to ~1e-7 absolute (llvmpipe:
// 6e-5 relative on ln 0.999), so there it is the series ln(1 − d) = −Σ dᵏ/k with d = 1 − β,
// which is exact in f32; the remainder d⁶/6 is < 1e-12·d for d < 0.01.
fn log_beta(beta: f32) -> f32 {
    let d = 1.0 - beta;
    if (d < 0.01) {
        return -d * (1.0 + d * (0.5 + d * (1.0 / 3.0 + d * (0.25 + d * 0.2))));
    }
    return log(beta);
}

// 1 − βᵗ without the cancellation of `1.0 - pow(β, t)`: with β2 = 0.999 and t = 1 that form
// loses ~4 of f32's 7 digits (the bias correction is 0.001 while pow rounds at 1e-7 absolute).
// 1 − βᵗ = −expm1(t·ln β), with expm1 from its Taylor series where |y| is small.
fn one_minus_pow(beta: f32, t: f32) -> f32 {
    let y = t * log_beta(beta);
    if (abs(y) < 0.1) {
        // Σ_{k=1..6} y^k/k!; the remainder y⁷/7! < 2e-11 relative.
        let poly = y * (1.0 + y * (0.5 + y * (1.0 / 6.0 + y * (1.0 / 24.0 + y * (1.0 / 120.0 + y * (1.0 / 720.0))))));
        return -poly;
    }
    return 1.0 - exp(y);
}

@compute @workgroup_size(WG)
fn adam_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= ap.n4) { return; }
    let t = f32(counters[ap.counter_index]);
    let lr = lrs[ap.lr_index];
    var w = param[i];
    var g = grad[i];
    if (ap.decoupled != 0u) {
        w = w * (1.0 - lr * ap.weight_decay);
    } else {
        g = g + ap.weight_decay * w;
    }
    let m_new = ap.beta1 * m[i] + (1.0 - ap.beta1) * g;
    let v_new = ap.beta2 * v[i] + (1.0 - ap.beta2) * g * g;
    m[i] = m_new;
    v[i] = v_new;
    let bias1 = one_minus_pow(ap.beta1, t);
    let bias2 = one_minus_pow(ap.beta2, t);
    param[i] = w - lr * (m_new / bias1) / (sqrt(v_new / bias2) + ap.eps);
}

@compute @workgroup_size(WG)
fn sgd_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= sp.n4) { return; }
    let w = sgd_param[i];
    sgd_param[i] = w - sp.lr * (grad[i] + sp.weight_decay * w);
}

@compute @workgroup_size(WG)
fn sgd_momentum_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= smp.n4) { return; }
    let w = sgd_param[i];
    let b = smp.momentum * sgd_buf[i] + (grad[i] + smp.weight_decay * w);
    sgd_buf[i] = b;
    sgd_param[i] = w - smp.lr * b;
}

@compute @workgroup_size(WG)
fn rmsprop_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= rp.n4) { return; }
    let w = rms_param[i];
    let g = grad[i] + rp.weight_decay * w;
    let sq = rp.alpha * rms_sq[i] + (1.0 - rp.alpha) * g * g;
    rms_sq[i] = sq;
    rms_param[i] = w - rms_lrs[rp.lr_index] * g / (sqrt(sq) + rp.eps);
}

@compute @workgroup_size(1)
fn lr_schedule() {
    let i = f32(sched_counters[sched.counter_index]);
    let p = min(i / f32(sched.horizon), 1.0);
    var f = 1.0;
    switch sched.kind {
        case 1u: { f = 1.0 - p; }
        case 2u: { f = 0.5 * (1.0 + cos(3.14159265358979 * p)); }
        default: {}
    }
    var warm = 1.0;
    if (sched.warmup > 0u) {
        warm = min(1.0, (i + 1.0) / f32(sched.warmup));
    }
    sched_lrs[sched.out_index] = sched.base * warm * f;
}

@compute @workgroup_size(WG)
fn ema_update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= ep.n4) { return; }
    let t = f32(counters[ep.counter_index]);
    // At t = 0 (no step yet) and t = 1 the average is the live network itself.
    var w = 1.0;
    if (ep.rampup > 0.0) {
        w = 1.0 - min(ep.beta, exp2(-1.0 / (ep.rampup * max(t, 1.0))));
    } else if (t > 1.0) {
        w = (1.0 - ep.beta) / one_minus_pow(ep.beta, t);
    }
    let a = ema_avg[i];
    ema_avg[i] = a + w * (ema_live[i] - a);
}
