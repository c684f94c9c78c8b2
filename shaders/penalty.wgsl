// penalty.wgsl — gradient penalties on a critic's input gradient g = ∂D(x)/∂x, per sample b
// over all C×H×W elements: the value and its adjoint ∂P/∂g, which the critic's backward of the
// backward (nn::Instance::double_backward) carries into the critic's weights.
//
// MATH     s_b = Σ_k g[b, k]²  (k over the sample's C·H·W elements)
//          mode 0, WGAN-GP (Gulrajani et al. 2017):  n_b = sqrt(s_b + eps)
//              P = (w/B) Σ_b (n_b − 1)²            ∂P/∂g[b, k] = (w/B)·2(n_b − 1)/n_b · g[b, k]
//          mode 1, R1 (Mescheder et al. 2018):
//              P = (w/B) Σ_b ½ s_b                 ∂P/∂g[b, k] = (w/B) · g[b, k]
//          (w = λ or γ; P is the batch mean, as the papers' code takes it.)
//          pen_interpolate (WGAN-GP's x̂): x̂[b, k] = ε_b·real[b, k] + (1 − ε_b)·fake[b, k]
// LAYOUT   g, adj: [B, per] row-major (any [B, C, H, W] flattened per sample). sq, coef: [B].
//          stats: the trainer's loss/statistics tensor, P written at stats[stat_index].
// WORK     pen_norms: one workgroup of 256 per sample, a fixed-order tree sum (bit-reproducible).
//          pen_finish: one workgroup of 256 over the batch (fixed order). pen_adjoint: 1
//          invocation = 1 element, WG = 256.
// GRID     pen_norms: B workgroups folded to (x, y) (Grid::linear). pen_finish: (1, 1, 1).
//          pen_adjoint, pen_interpolate: ceil(B·per/256) folded; guard k < B·per.
// WRITES   sq, coef, stats[stat_index], adj, out: overwritten.
// BINDINGS pen_norms:   0 g r | 1 sq w | 2 params
//          pen_finish:  0 sq r | 1 coef w | 2 stats rw | 3 params
//          pen_adjoint: 0 g r | 1 coef r | 2 adj w | 3 params
//          pen_interpolate: 0 real r | 1 fake r | 2 eps r | 3 out w | 4 params (per_sample, batch)
// SHARED   WG and workgroup_sum come from workgroup_sum.wgsl (prepended).
// REF      src/reference/penalty.rs   TESTS src/check/cases/penalty.rs (op "penalty")

struct PenaltyParams {
    batch: u32,
    per_sample: u32,
    mode: u32,         // 0: WGAN-GP (‖g‖ − 1)², 1: R1 ½‖g‖²
    stat_index: u32,
    weight: f32,       // λ or γ
    eps: f32,          // inside the square root of WGAN-GP's norm
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> sq: array<f32>;
@group(0) @binding(2) var<uniform> pp: PenaltyParams;

@compute @workgroup_size(WG)
fn pen_norms(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let b = wid.x + wid.y * nwg.x;
    // Uniform per workgroup: the whole workgroup returns together, before any barrier.
    if (b >= pp.batch) { return; }
    let base = b * pp.per_sample;
    var acc = 0.0;
    for (var k = lid; k < pp.per_sample; k += WG) {
        let x = g[base + k];
        acc += x * x;
    }
    let total = workgroup_sum(lid, acc);
    if (lid == 0u) {
        sq[b] = total;
    }
}

@group(0) @binding(0) var<storage, read> fin_sq: array<f32>;
@group(0) @binding(1) var<storage, read_write> fin_coef: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;
@group(0) @binding(3) var<uniform> fp: PenaltyParams;

@compute @workgroup_size(WG)
fn pen_finish(@builtin(local_invocation_index) lid: u32) {
    let scale = fp.weight / f32(fp.batch);
    var acc = 0.0;
    for (var b = lid; b < fp.batch; b += WG) {
        let s = fin_sq[b];
        if (fp.mode == 0u) {
            let n = sqrt(s + fp.eps);
            acc += (n - 1.0) * (n - 1.0);
            fin_coef[b] = scale * 2.0 * (n - 1.0) / n;
        } else {
            acc += 0.5 * s;
            fin_coef[b] = scale;
        }
    }
    let total = workgroup_sum(lid, acc);
    if (lid == 0u) {
        stats[fp.stat_index] = scale * total;
    }
}

@group(0) @binding(0) var<storage, read> adj_g: array<f32>;
@group(0) @binding(1) var<storage, read> adj_coef: array<f32>;
@group(0) @binding(2) var<storage, read_write> adj_out: array<f32>;
@group(0) @binding(3) var<uniform> ap: PenaltyParams;

@compute @workgroup_size(WG)
fn pen_adjoint(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = gid.x + gid.y * nwg.x * WG;
    if (k >= ap.batch * ap.per_sample) { return; }
    adj_out[k] = adj_coef[k / ap.per_sample] * adj_g[k];
}

@group(0) @binding(0) var<storage, read> ip_real: array<f32>;
@group(0) @binding(1) var<storage, read> ip_fake: array<f32>;
@group(0) @binding(2) var<storage, read> ip_eps: array<f32>;
@group(0) @binding(3) var<storage, read_write> ip_out: array<f32>;
@group(0) @binding(4) var<uniform> ipp: PenaltyParams;

@compute @workgroup_size(WG)
fn pen_interpolate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = gid.x + gid.y * nwg.x * WG;
    if (k >= ipp.batch * ipp.per_sample) { return; }
    let e = ip_eps[k / ipp.per_sample];
    ip_out[k] = e * ip_real[k] + (1.0 - e) * ip_fake[k];
}
