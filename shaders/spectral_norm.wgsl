// spectral_norm.wgsl — spectral normalisation of a weight (Miyato et al. 2018), as PyTorch's
// torch.nn.utils.spectral_norm: W_sn = W / σ(W), σ estimated by power iteration with a
// persistent vector u, u and v treated as constants in the backward.
//
// MATH     W is the weight viewed as a matrix [rows, cols] (rows = output channels/features,
//          cols = the rest: C_in·K·K for Conv2d, in_features for Linear; PyTorch's dim = 0).
//          sn_power, update = 1 (a training forward: one power iteration, u and v updated):
//            v ← Wᵀu / max(‖Wᵀu‖, eps);   t ← W v;   u ← t / max(‖t‖, eps)
//            σ ← uᵀ t  (= ‖t‖²/max(‖t‖, eps))
//          sn_power, update = 0 (evaluation): σ ← uᵀ(W v) with the stored u, v.
//          sn_scale:    W_sn[k] = W[k] / σ
//          sn_dot:      dot ← Σ_k dW_sn[k]·W[k]
//          sn_backward: dW[r, c] += dW_sn[r, c]/σ − (dot/σ²)·u[r]·v[c]
//            (∂/∂W of L(W/σ) with σ = uᵀWv, ∂σ/∂W = u vᵀ.)
// LAYOUT   w, dw, w_sn, dw_sn: [rows, cols] row-major (the weight's own layout). u [rows],
//          v [cols], sigma [1], dot [1]: f32 storage.
// WORK     sn_power, sn_dot: ONE workgroup of 256 invocations; each invocation owns the
//          columns (then rows, then elements) k ≡ lid (mod 256) and the partial sums are
//          reduced in workgroup memory in a fixed tree, so results are bit-reproducible. The
//          weights are small (DCGAN D: ≤ 128 × 2048), a single workgroup is latency, not
//          throughput. sn_scale, sn_backward: 1 invocation = 1 element, WG = 256.
// GRID     sn_power, sn_dot: (1, 1, 1). sn_scale, sn_backward: ceil(n/256) workgroups folded
//          to (x, y) (Grid::linear); guard k < n.
// WRITES   sn_power: u, v (update = 1 only) and sigma overwritten. sn_scale: w_sn overwritten.
//          sn_dot: dot overwritten. sn_backward: dw ACCUMULATED (+=), as every parameter
//          gradient of a network.
// BINDINGS sn_power:    0 w r | 1 u rw | 2 v rw | 3 sigma rw | 4 params
//          sn_scale:    0 w r | 1 sigma r | 2 w_sn w | 3 params
//          sn_dot:      0 w r | 1 dw_sn r | 2 dot w | 3 params
//          sn_backward: 0 dw_sn r | 1 u r | 2 v r | 3 sigma r | 4 dot r | 5 dw rw | 6 params
// SHARED   WG and workgroup_sum come from workgroup_sum.wgsl (prepended).
// REF      src/reference/spectral_norm.rs   TESTS src/check/cases/spectral_norm.rs (op "spectral_norm")

struct SnParams {
    rows: u32,
    cols: u32,
    update: u32,  // sn_power: 1 = power iteration (training), 0 = σ from the stored u, v
    eps: f32,     // PyTorch's 1e-12
}

fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read_write> u: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> sigma: array<f32>;
@group(0) @binding(4) var<uniform> pp: SnParams;

@compute @workgroup_size(WG)
fn sn_power(@builtin(local_invocation_index) lid: u32) {
    let rows = pp.rows;
    let cols = pp.cols;
    if (pp.update != 0u) {
        // v = Wᵀu, then normalised.
        var sq = 0.0;
        for (var c = lid; c < cols; c += WG) {
            var acc = 0.0;
            for (var r = 0u; r < rows; r++) {
                acc += w[r * cols + c] * u[r];
            }
            v[c] = acc;
            sq += acc * acc;
        }
        let scale_v = 1.0 / max(sqrt(workgroup_sum(lid, sq)), pp.eps);
        for (var c = lid; c < cols; c += WG) {
            v[c] = v[c] * scale_v;
        }
        // Every invocation reads all of v next.
        storageBarrier();
        workgroupBarrier();
    }
    // t = W v; u = t/‖t‖ (update) and σ = uᵀt.
    var sq = 0.0;
    var ut = 0.0;
    for (var r = lid; r < rows; r += WG) {
        var acc = 0.0;
        for (var c = 0u; c < cols; c++) {
            acc += w[r * cols + c] * v[c];
        }
        sq += acc * acc;
        if (pp.update != 0u) {
            u[r] = acc;  // t for now; normalised below by the invocation that wrote it
        } else {
            ut += u[r] * acc;
        }
    }
    if (pp.update != 0u) {
        let norm = sqrt(workgroup_sum(lid, sq));
        let scale_u = 1.0 / max(norm, pp.eps);
        for (var r = lid; r < rows; r += WG) {
            u[r] = u[r] * scale_u;
        }
        if (lid == 0u) {
            sigma[0] = sq_over(norm, pp.eps);
        }
    } else {
        let s = workgroup_sum(lid, ut);
        if (lid == 0u) {
            sigma[0] = s;
        }
    }
}

// uᵀt with u = t/max(‖t‖, eps): ‖t‖²/max(‖t‖, eps).
fn sq_over(norm: f32, eps: f32) -> f32 {
    return norm * norm / max(norm, eps);
}

struct ElemParams {
    n: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> sc_w: array<f32>;
@group(0) @binding(1) var<storage, read> sc_sigma: array<f32>;
@group(0) @binding(2) var<storage, read_write> sc_out: array<f32>;
@group(0) @binding(3) var<uniform> ep: ElemParams;

@compute @workgroup_size(WG)
fn sn_scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = flat_index(gid, nwg);
    if (k >= ep.n) { return; }
    sc_out[k] = sc_w[k] / sc_sigma[0];
}

@group(0) @binding(1) var<storage, read> dot_dw_sn: array<f32>;
@group(0) @binding(2) var<storage, read_write> dot_out: array<f32>;

@compute @workgroup_size(WG)
fn sn_dot(@builtin(local_invocation_index) lid: u32) {
    var acc = 0.0;
    for (var k = lid; k < ep.n; k += WG) {
        acc += dot_dw_sn[k] * sc_w[k];
    }
    let total = workgroup_sum(lid, acc);
    if (lid == 0u) {
        dot_out[0] = total;
    }
}

@group(0) @binding(0) var<storage, read> bw_dw_sn: array<f32>;
@group(0) @binding(1) var<storage, read> bw_u: array<f32>;
@group(0) @binding(2) var<storage, read> bw_v: array<f32>;
@group(0) @binding(3) var<storage, read> bw_sigma: array<f32>;
@group(0) @binding(4) var<storage, read> bw_dot: array<f32>;
@group(0) @binding(5) var<storage, read_write> bw_dw: array<f32>;
@group(0) @binding(6) var<uniform> bp: ElemParams;

@compute @workgroup_size(WG)
fn sn_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = flat_index(gid, nwg);
    if (k >= bp.n) { return; }
    let s = bw_sigma[0];
    let r = k / bp.cols;
    let c = k - r * bp.cols;
    bw_dw[k] = bw_dw[k] + bw_dw_sn[k] / s - (bw_dot[0] / (s * s)) * bw_u[r] * bw_v[c];
}
