// layernorm.wgsl — LayerNorm over each sample's values (PyTorch nn.LayerNorm([C, H, W])):
//          forward, backward to the input, backward to γ and β, and the backward of the
//          backward (for gradient penalties through a layer-normalised critic).
//
// MATH     Per sample b over its N = C·H·W values:
//            μ = (1/N) Σ x,  σ² = (1/N) Σ (x − μ)²  (two-pass),  r = 1/sqrt(σ² + eps)
//            x̂ = (x − μ)·r,  y = γ ⊙ x̂ + β           (γ, β: [N], one value per position)
//          backward, g = γ ⊙ dy:
//            dx = r·(g − mean(g) − x̂·mean(g ⊙ x̂))
//            dγ += Σ_b dy ⊙ x̂,  dβ += Σ_b dy
//          backward of the backward, for P(dx) with a = ∂P/∂dx (dx is linear in g through the
//          symmetric map r·(I − 11ᵀ/N − x̂x̂ᵀ/N), and depends on x through x̂ and r):
//            a_g   = r·(a − ā − x̂·s_a/N)               ∂P/∂g
//            ∂P/∂dy = γ ⊙ a_g,   ∂P/∂γ += Σ_b dy ⊙ a_g
//            ∂P/∂x = −(r²/N)·[A·x̂ + s_g·(a − ā) + s_a·(g − ḡ) − 3·s_a·s_g·x̂/N]
//          with ā, ḡ the means, A = Σ (a − ā)(g − ḡ), s_a = Σ (a − ā)·x̂, s_g = Σ (g − ḡ)·x̂
//          (centred first: Σ x̂ = 0 in exact arithmetic, and the centred sums cancel less).
// ORDER    Fixed: invocation t visits values t, t + WG, … of its sample, then a binary tree
//          over the WG partials. Per-position kernels loop over b = 0 … B−1 in order. No
//          atomics: a rerun on the same adapter is bit-identical.
// LAYOUT   x, y, dy, dx, a, ∂P/∂dy, ∂P/∂x: [B, N] (= [B, C, H, W] contiguous).
//          γ, β, dγ, dβ: [N].  saved: [B, 2] = (μ, r).  sums: [B, 2] = (ā, s_a/N).
// WORK     forward / backward_input / double_backward: 1 workgroup (WG = 256) = 1 sample,
//          3 / 2 / 3 passes over its values.  backward_params / double_backward_params:
//          1 invocation = 1 position, a loop over the batch.
// GRID     per sample: B workgroups folded to (x, y) (Grid::linear), b = wid.x + wid.y·nwg.x.
//          per position: ceil(N / 256) workgroups folded to (x, y).
// WRITES   y, saved, dx, ∂P/∂dy, ∂P/∂x, sums: overwrite (=).  dγ, dβ (and P's ∂P/∂γ into
//          dγ): accumulate (+=) — parameter gradients.
// BINDINGS layernorm_forward:        0 x r | 1 gamma r | 2 beta r | 3 y rw | 4 saved rw | 5 params
//          layernorm_backward_input: 0 x r | 1 dy r | 2 gamma r | 3 saved r | 4 dx rw | 5 params
//          layernorm_backward_params: 0 x r | 1 dy r | 2 saved r | 3 dgamma rw | 4 dbeta rw
//                                     | 5 params
//          layernorm_double_backward: 0 x r | 1 dy r | 2 gamma r | 3 saved r | 4 adj r
//                                     | 5 adj_dy rw | 6 adj_x rw | 7 sums rw | 8 params
//          layernorm_double_backward_params: 0 x r | 1 dy r | 2 saved r | 3 adj r | 4 sums r
//                                     | 5 dgamma rw | 6 params
// REF      src/reference/layernorm.rs   TESTS src/check/cases/layernorm.rs (op "layernorm")

const WG: u32 = 256u;

struct LnParams {
    batch: u32,       // B
    per_sample: u32,  // N = C·H·W
    eps: f32,
    _pad0: u32,
}

// layernorm_forward
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> saved_out: array<f32>;
@group(0) @binding(5) var<uniform> p: LnParams;

// layernorm_backward_input (x as above)
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> bw_gamma: array<f32>;
@group(0) @binding(3) var<storage, read> saved: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<uniform> bp: LnParams;

// layernorm_backward_params (x, dy as above)
@group(0) @binding(2) var<storage, read> pw_saved: array<f32>;
@group(0) @binding(3) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(4) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(5) var<uniform> pp: LnParams;

// layernorm_double_backward (x, dy, bw_gamma, saved as above)
@group(0) @binding(4) var<storage, read> adj: array<f32>;
@group(0) @binding(5) var<storage, read_write> adj_dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> adj_x: array<f32>;
@group(0) @binding(7) var<storage, read_write> sums_out: array<f32>;
@group(0) @binding(8) var<uniform> dp: LnParams;

// layernorm_double_backward_params (x, dy, pw_saved as above)
@group(0) @binding(3) var<storage, read> dpp_adj: array<f32>;
@group(0) @binding(4) var<storage, read> sums: array<f32>;
@group(0) @binding(5) var<storage, read_write> dpp_dgamma: array<f32>;
@group(0) @binding(6) var<uniform> dpp: LnParams;

var<workgroup> part: array<vec4<f32>, WG>;

// Fixed-order tree sum of up to four values per invocation; every invocation gets the totals.
// Call from uniform control flow (it has barriers).
fn workgroup_sum4(t: u32, v: vec4<f32>) -> vec4<f32> {
    part[t] = v;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
        if (t < half) {
            part[t] += part[t + half];
        }
        workgroupBarrier();
    }
    let total = part[0];
    workgroupBarrier();  // everyone has read part[0] before it is reused
    return total;
}

@compute @workgroup_size(WG)
fn layernorm_forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let b = wid.x + wid.y * nwg.x;
    if (b >= p.batch) { return; }  // uniform per workgroup: no barrier is split
    let n = p.per_sample;
    let base = b * n;

    var s = 0.0;
    for (var i = t; i < n; i += WG) {
        s += x[base + i];
    }
    let mean = workgroup_sum4(t, vec4<f32>(s, 0.0, 0.0, 0.0)).x / f32(n);
    var sq = 0.0;
    for (var i = t; i < n; i += WG) {
        let d = x[base + i] - mean;
        sq += d * d;
    }
    let r = 1.0 / sqrt(workgroup_sum4(t, vec4<f32>(sq, 0.0, 0.0, 0.0)).x / f32(n) + p.eps);
    for (var i = t; i < n; i += WG) {
        y[base + i] = gamma[i] * ((x[base + i] - mean) * r) + beta[i];
    }
    if (t == 0u) {
        saved_out[2u * b] = mean;
        saved_out[2u * b + 1u] = r;
    }
}

@compute @workgroup_size(WG)
fn layernorm_backward_input(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let b = wid.x + wid.y * nwg.x;
    if (b >= bp.batch) { return; }
    let n = bp.per_sample;
    let base = b * n;
    let mean = saved[2u * b];
    let r = saved[2u * b + 1u];

    var s_g = 0.0;
    var s_gx = 0.0;
    for (var i = t; i < n; i += WG) {
        let g = bw_gamma[i] * dy[base + i];
        s_g += g;
        s_gx += g * ((x[base + i] - mean) * r);
    }
    let tot = workgroup_sum4(t, vec4<f32>(s_g, s_gx, 0.0, 0.0));
    let mean_g = tot.x / f32(n);
    let mean_gx = tot.y / f32(n);
    for (var i = t; i < n; i += WG) {
        let xhat = (x[base + i] - mean) * r;
        dx[base + i] = r * (bw_gamma[i] * dy[base + i] - mean_g - xhat * mean_gx);
    }
}

@compute @workgroup_size(WG)
fn layernorm_backward_params(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let n = pp.per_sample;
    if (i >= n) { return; }
    var s_dyx = 0.0;
    var s_dy = 0.0;
    for (var b = 0u; b < pp.batch; b++) {
        let d = dy[b * n + i];
        s_dyx += d * ((x[b * n + i] - pw_saved[2u * b]) * pw_saved[2u * b + 1u]);
        s_dy += d;
    }
    dgamma[i] += s_dyx;
    dbeta[i] += s_dy;
}

@compute @workgroup_size(WG)
fn layernorm_double_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let b = wid.x + wid.y * nwg.x;
    if (b >= dp.batch) { return; }
    let n = dp.per_sample;
    let nf = f32(n);
    let base = b * n;
    let mean = saved[2u * b];
    let r = saved[2u * b + 1u];

    // Pass 1: the means of a and g.
    var s_a = 0.0;
    var s_g = 0.0;
    for (var i = t; i < n; i += WG) {
        s_a += adj[base + i];
        s_g += bw_gamma[i] * dy[base + i];
    }
    let means = workgroup_sum4(t, vec4<f32>(s_a, s_g, 0.0, 0.0)) / nf;
    // Pass 2: A = Σ(a − ā)(g − ḡ), s_a = Σ(a − ā)x̂, s_g = Σ(g − ḡ)x̂.
    var big_a = 0.0;
    var s_ax = 0.0;
    var s_gx = 0.0;
    for (var i = t; i < n; i += WG) {
        let ac = adj[base + i] - means.x;
        let gc = bw_gamma[i] * dy[base + i] - means.y;
        let xhat = (x[base + i] - mean) * r;
        big_a += ac * gc;
        s_ax += ac * xhat;
        s_gx += gc * xhat;
    }
    let tot = workgroup_sum4(t, vec4<f32>(big_a, s_ax, s_gx, 0.0));
    let k = -(r * r) / nf;
    let cross = 3.0 * tot.y * tot.z / nf;
    // Pass 3: write both adjoints.
    for (var i = t; i < n; i += WG) {
        let ac = adj[base + i] - means.x;
        let gc = bw_gamma[i] * dy[base + i] - means.y;
        let xhat = (x[base + i] - mean) * r;
        adj_dy[base + i] = bw_gamma[i] * (r * (ac - xhat * tot.y / nf));
        adj_x[base + i] = k * (tot.x * xhat + tot.z * ac + tot.y * gc - cross * xhat);
    }
    if (t == 0u) {
        sums_out[2u * b] = means.x;
        sums_out[2u * b + 1u] = tot.y / nf;
    }
}

@compute @workgroup_size(WG)
fn layernorm_double_backward_params(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let n = dpp.per_sample;
    if (i >= n) { return; }
    var s = 0.0;
    for (var b = 0u; b < dpp.batch; b++) {
        let r = pw_saved[2u * b + 1u];
        let xhat = (x[b * n + i] - pw_saved[2u * b]) * r;
        let adj_g = r * (dpp_adj[b * n + i] - sums[2u * b] - xhat * sums[2u * b + 1u]);
        s += dy[b * n + i] * adj_g;
    }
    dpp_dgamma[i] += s;
}
