// batchnorm.wgsl — BatchNorm2d (PyTorch semantics): training forward, eval forward, backward.
//
// MATH     Per channel c over the n = B·H·W values x[b, c, h, w]:
//          train:  μ = (1/n) Σ x,  σ² = (1/n) Σ (x − μ)²   (biased: used to normalise)
//                  x̂ = (x − μ)·r,  r = 1/sqrt(σ² + eps),   y = γ·x̂ + β
//                  running_mean ← (1−m)·running_mean + m·μ
//                  running_var  ← (1−m)·running_var  + m·σ²·n/(n−1)   (unbiased, as PyTorch)
//                  saved = (μ, r) for the backward.
//          eval:   y = γ·(x − running_mean)/sqrt(running_var + eps) + β
//          backward (training statistics):
//                  Σdy = Σ dy,  Σdyx̂ = Σ dy·x̂
//                  dx = γ·r·(dy − Σdy/n − x̂·Σdyx̂/n)
//                  dγ += Σdyx̂,  dβ += Σdy
//          The variance is two-pass (mean first, then squared deviations): the one-pass
//          E[x²] − μ² cancels badly in f32 when |μ| ≫ σ.
// ORDER    Fixed: thread t visits elements t, t+WG, … of the channel (flattened over (b, h·w)),
//          then a binary tree over the WG partials in workgroup memory. No atomics: a rerun on
//          the same adapter is bit-identical.
// LAYOUT   x, y, dy, dx: [B, C, H, W] contiguous.  γ, β, running_*, dγ, dβ: [C].
//          saved: [2, C] = (μ, r) per channel.
// WORK     train/backward: 1 workgroup (WG = 256) = 1 channel, 3 (train) / 2 (backward) passes
//          over its values.  eval: 1 invocation = 1 element.
// GRID     train/backward: C workgroups folded to (x, y) (Grid::linear), c = wid.x + wid.y·nwg.x.
//          eval: ceil(B·C·H·W / 256) workgroups folded to (x, y).
// WRITES   y, dx, saved, running_*: overwrite (=).  dγ, dβ: accumulate (+=) — parameter gradients.
// BINDINGS batchnorm_forward_train: 0 x r | 1 gamma r | 2 beta r | 3 y rw | 4 saved rw
//                                   | 5 running_mean rw | 6 running_var rw | 7 params
//          batchnorm_forward_eval:  0 x r | 1 gamma r | 2 beta r | 3 running_mean r
//                                   | 4 running_var r | 5 y rw | 6 params
//          batchnorm_backward:      0 x r | 1 dy r | 2 gamma r | 3 saved r | 4 dx rw
//                                   | 5 dgamma rw | 6 dbeta rw | 7 params
// REF      src/reference/batchnorm.rs   TESTS src/check/cases/batchnorm.rs (op "batchnorm")

const WG: u32 = 256u;

struct BnParams {
    batch: u32,           // B
    channels: u32,        // C
    inner: u32,           // H·W
    update_running: u32,  // 1: update running statistics (training forward)
    eps: f32,
    momentum: f32,
    _pad0: u32,
    _pad1: u32,
}

// forward_train
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> saved_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(7) var<uniform> p: BnParams;

// forward_eval (x, gamma, beta as above)
@group(0) @binding(3) var<storage, read> eval_mean: array<f32>;
@group(0) @binding(4) var<storage, read> eval_var: array<f32>;
@group(0) @binding(5) var<storage, read_write> eval_y: array<f32>;
@group(0) @binding(6) var<uniform> ep: BnParams;

// backward (x as above)
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> bw_gamma: array<f32>;
@group(0) @binding(3) var<storage, read> saved: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(7) var<uniform> bp: BnParams;

var<workgroup> part_a: array<f32, WG>;
var<workgroup> part_b: array<f32, WG>;

// Index of the e-th value of channel c (e over the flattened (b, h·w)).
fn channel_index(e: u32, c: u32, channels: u32, inner: u32) -> u32 {
    let b = e / inner;
    return (b * channels + c) * inner + (e - b * inner);
}

// Fixed-order tree sum of one value per invocation; every invocation gets the total.
fn workgroup_sum(t: u32, v: f32) -> f32 {
    part_a[t] = v;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
        if (t < half) {
            part_a[t] += part_a[t + half];
        }
        workgroupBarrier();
    }
    let total = part_a[0];
    workgroupBarrier();  // everyone has read part_a[0] before it is reused
    return total;
}

// Two sums at once (the backward needs Σdy and Σdy·x̂ from one pass).
fn workgroup_sum2(t: u32, a: f32, b: f32) -> vec2<f32> {
    part_a[t] = a;
    part_b[t] = b;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
        if (t < half) {
            part_a[t] += part_a[t + half];
            part_b[t] += part_b[t + half];
        }
        workgroupBarrier();
    }
    let total = vec2<f32>(part_a[0], part_b[0]);
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(WG)
fn batchnorm_forward_train(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let c = wid.x + wid.y * nwg.x;
    if (c >= p.channels) { return; }  // uniform per workgroup: no barrier is split
    let count = p.batch * p.inner;
    let n = f32(count);

    var s = 0.0;
    for (var e = t; e < count; e += WG) {
        s += x[channel_index(e, c, p.channels, p.inner)];
    }
    let mean = workgroup_sum(t, s) / n;

    var sq = 0.0;
    for (var e = t; e < count; e += WG) {
        let d = x[channel_index(e, c, p.channels, p.inner)] - mean;
        sq += d * d;
    }
    let var_biased = workgroup_sum(t, sq) / n;
    let r = 1.0 / sqrt(var_biased + p.eps);

    let scale = gamma[c] * r;
    let shift = beta[c] - mean * scale;
    for (var e = t; e < count; e += WG) {
        let i = channel_index(e, c, p.channels, p.inner);
        y[i] = x[i] * scale + shift;
    }
    if (t == 0u) {
        saved_out[c] = mean;
        saved_out[p.channels + c] = r;
        if (p.update_running != 0u) {
            running_mean[c] = (1.0 - p.momentum) * running_mean[c] + p.momentum * mean;
            running_var[c] = (1.0 - p.momentum) * running_var[c] + p.momentum * var_biased * n / (n - 1.0);
        }
    }
}

@compute @workgroup_size(WG)
fn batchnorm_forward_eval(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= ep.batch * ep.channels * ep.inner) { return; }
    let c = (i / ep.inner) % ep.channels;
    let r = 1.0 / sqrt(eval_var[c] + ep.eps);
    eval_y[i] = gamma[c] * (x[i] - eval_mean[c]) * r + beta[c];
}

@compute @workgroup_size(WG)
fn batchnorm_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let c = wid.x + wid.y * nwg.x;
    if (c >= bp.channels) { return; }
    let count = bp.batch * bp.inner;
    let n = f32(count);
    let mean = saved[c];
    let r = saved[bp.channels + c];

    var s_dy = 0.0;
    var s_dyx = 0.0;
    for (var e = t; e < count; e += WG) {
        let i = channel_index(e, c, bp.channels, bp.inner);
        let g = dy[i];
        s_dy += g;
        s_dyx += g * (x[i] - mean) * r;
    }
    let sums = workgroup_sum2(t, s_dy, s_dyx);
    let mean_dy = sums.x / n;
    let mean_dyx = sums.y / n;
    let k = bw_gamma[c] * r;
    for (var e = t; e < count; e += WG) {
        let i = channel_index(e, c, bp.channels, bp.inner);
        let xhat = (x[i] - mean) * r;
        dx[i] = k * (dy[i] - mean_dy - xhat * mean_dyx);
    }
    if (t == 0u) {
        dgamma[c] += sums.y;
        dbeta[c] += sums.x;
    }
}
