// minibatch_std.wgsl — StyleGAN's minibatch standard deviation layer (Karras et al. 2018;
//          stylegan2-ada's MinibatchStdLayer with one channel): a plane per sample holding how
//          much its group of samples varies, so a discriminator without batch normalisation
//          can see a batch of near-copies (mode collapse). Its backward, and the backward of
//          the backward for gradient penalties (R1, WGAN-GP) through such a critic.
//
// MATH     Groups as stylegan2-ada's x.reshape(G, −1, F, c, H, W): with M = B/G groups,
//          sample b is member j = b / M of group n = b % M. Per group and feature q = (c, h, w):
//            μ_q = (1/G) Σ_i x_i,q,  d_i,q = x_i,q − μ_q,  σ_q = sqrt((1/G) Σ_i d_i,q² + ε)
//            s_n = (1/F) Σ_q σ_q                                 (F = C·H·W, ε = 1e-8)
//          forward:  y[b] = cat(x[b], s_n as one H×W plane)   (the stats kernel writes v[b] =
//                    s_n, embedding.wgsl's concat_planes appends it)
//          backward: with ds_n = Σ_{i ∈ n} Σ_hw dy[i, C, hw]  (concat_planes_backward gives the
//                    per-sample plane sums dv; this kernel sums them over the group):
//                      dx_j,q = dy[j, q] + ds_n · a_j,q,   a_j,q = d_j,q / (G·F·σ_q)
//          backward of the backward, for P(dx) with adj = ∂P/∂dx:
//            ∂P/∂dy[j, q] = adj_j,q;   ∂P/∂dy[j, C, hw] = A_n = Σ_{i ∈ n} Σ_q adj_i,q · a_i,q
//            ∂P/∂x_j,q = ds_n/(G·F) · [(adj_j,q − ā_q)/σ_q − T_q·d_j,q/(G·σ_q³)]
//          with ā_q = (1/G) Σ_i adj_i,q and T_q = Σ_i adj_i,q·d_i,q.
// ORDER    Fixed: in the per-group kernels invocation t visits features t, t + WG, … and the
//          G members in order, then a binary tree over the WG partials; the elementwise kernels
//          loop over the G members in order. No atomics: bit-identical on rerun.
// LAYOUT   x, dx, adj, ∂P/∂x: [B, C, H, W]. dy, ∂P/∂dy: [B, C + 1, H, W]. v, dv, w: [B] (one
//          value per sample: s_n, the plane sums, A_n).
// WORK     minibatch_std_stats, minibatch_std_adjoint_sums: 1 workgroup (WG = 256) = 1 group,
//          a loop over its F features, G members each. minibatch_std_backward_input,
//          minibatch_std_adjoint_input: 1 invocation = 1 element of x, a loop over G members.
// GRID     per group: M workgroups folded to (x, y) (Grid::linear), n = wid.x + wid.y·nwg.x.
//          elementwise: ceil(B·F / 256) workgroups folded to (x, y); i = gid.x + gid.y·nwg.x·WG.
// WRITES   v, dx, w, ∂P/∂x: overwrite (=).
// BINDINGS minibatch_std_stats:          0 x r | 1 v rw | 2 params
//          minibatch_std_backward_input: 0 x r | 1 dy r | 2 dv r | 3 dx rw | 4 params
//          minibatch_std_adjoint_sums:   0 x r | 1 adj r | 2 w rw | 3 params
//          minibatch_std_adjoint_input:  0 x r | 1 adj r | 2 dv r | 3 adj_x rw | 4 params
// REF      src/reference/minibatch_std.rs   TESTS src/check/cases/minibatch_std.rs (op
//          "minibatch_std")

// WG and workgroup_sum() come from workgroup_sum.wgsl, prepended (src/gpu/shaders.rs).
const EPS: f32 = 1e-8;

struct MinibatchStdParams {
    batch: u32,     // B
    features: u32,  // F = C·H·W
    plane: u32,     // H·W
    group: u32,     // G, members per group (divides B)
    groups: u32,    // M = B / G
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// minibatch_std_stats
@group(0) @binding(0) var<storage, read> st_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> st_v: array<f32>;
@group(0) @binding(2) var<uniform> stp: MinibatchStdParams;

// minibatch_std_backward_input
@group(0) @binding(0) var<storage, read> bw_x: array<f32>;
@group(0) @binding(1) var<storage, read> bw_dy: array<f32>;
@group(0) @binding(2) var<storage, read> bw_dv: array<f32>;
@group(0) @binding(3) var<storage, read_write> bw_dx: array<f32>;
@group(0) @binding(4) var<uniform> bwp: MinibatchStdParams;

// minibatch_std_adjoint_sums
@group(0) @binding(0) var<storage, read> as_x: array<f32>;
@group(0) @binding(1) var<storage, read> as_adj: array<f32>;
@group(0) @binding(2) var<storage, read_write> as_w: array<f32>;
@group(0) @binding(3) var<uniform> asp: MinibatchStdParams;

// minibatch_std_adjoint_input
@group(0) @binding(0) var<storage, read> ai_x: array<f32>;
@group(0) @binding(1) var<storage, read> ai_adj: array<f32>;
@group(0) @binding(2) var<storage, read> ai_dv: array<f32>;
@group(0) @binding(3) var<storage, read_write> ai_adj_x: array<f32>;
@group(0) @binding(4) var<uniform> aip: MinibatchStdParams;

@compute @workgroup_size(WG)
fn minibatch_std_stats(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let n = wid.x + wid.y * nwg.x;
    if (n >= stp.groups) { return; }  // uniform per workgroup
    let f = stp.features;
    let g = stp.group;
    var acc = 0.0;
    for (var q = t; q < f; q += WG) {
        var mean = 0.0;
        for (var i = 0u; i < g; i++) {
            mean += st_x[(i * stp.groups + n) * f + q];
        }
        mean /= f32(g);
        var sq = 0.0;
        for (var i = 0u; i < g; i++) {
            let d = st_x[(i * stp.groups + n) * f + q] - mean;
            sq += d * d;
        }
        acc += sqrt(sq / f32(g) + EPS);
    }
    let s = workgroup_sum(t, acc) / f32(f);
    if (t < g) {
        st_v[t * stp.groups + n] = s;
    }
}

@compute @workgroup_size(WG)
fn minibatch_std_backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * WG;
    let f = bwp.features;
    if (idx >= bwp.batch * f) { return; }
    let b = idx / f;
    let q = idx - b * f;
    let m = bwp.groups;
    let n = b % m;
    let g = bwp.group;
    var mean = 0.0;
    var ds = 0.0;
    for (var i = 0u; i < g; i++) {
        mean += bw_x[(i * m + n) * f + q];
        ds += bw_dv[i * m + n];
    }
    mean /= f32(g);
    var sq = 0.0;
    for (var i = 0u; i < g; i++) {
        let d = bw_x[(i * m + n) * f + q] - mean;
        sq += d * d;
    }
    let sigma = sqrt(sq / f32(g) + EPS);
    let through = ds * (bw_x[idx] - mean) / (f32(g) * f32(f) * sigma);
    bw_dx[idx] = bw_dy[b * (f + bwp.plane) + q] + through;
}

@compute @workgroup_size(WG)
fn minibatch_std_adjoint_sums(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let n = wid.x + wid.y * nwg.x;
    if (n >= asp.groups) { return; }
    let f = asp.features;
    let g = asp.group;
    let m = asp.groups;
    var acc = 0.0;
    for (var q = t; q < f; q += WG) {
        var mean = 0.0;
        for (var i = 0u; i < g; i++) {
            mean += as_x[(i * m + n) * f + q];
        }
        mean /= f32(g);
        var sq = 0.0;
        var ad = 0.0;
        for (var i = 0u; i < g; i++) {
            let k = (i * m + n) * f + q;
            let d = as_x[k] - mean;
            sq += d * d;
            ad += as_adj[k] * d;
        }
        acc += ad / sqrt(sq / f32(g) + EPS);
    }
    let total = workgroup_sum(t, acc) / (f32(g) * f32(f));
    if (t < g) {
        as_w[t * m + n] = total;
    }
}

@compute @workgroup_size(WG)
fn minibatch_std_adjoint_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * WG;
    let f = aip.features;
    if (idx >= aip.batch * f) { return; }
    let b = idx / f;
    let q = idx - b * f;
    let m = aip.groups;
    let n = b % m;
    let g = aip.group;
    var mean = 0.0;
    var mean_adj = 0.0;
    var ds = 0.0;
    for (var i = 0u; i < g; i++) {
        let k = (i * m + n) * f + q;
        mean += ai_x[k];
        mean_adj += ai_adj[k];
        ds += ai_dv[i * m + n];
    }
    mean /= f32(g);
    mean_adj /= f32(g);
    var sq = 0.0;
    var tq = 0.0;
    for (var i = 0u; i < g; i++) {
        let k = (i * m + n) * f + q;
        let d = ai_x[k] - mean;
        sq += d * d;
        tq += ai_adj[k] * d;
    }
    let sigma = sqrt(sq / f32(g) + EPS);
    let dj = ai_x[idx] - mean;
    let gf = f32(g) * f32(f);
    ai_adj_x[idx] = ds / gf * ((ai_adj[idx] - mean_adj) / sigma - tq * dj / (f32(g) * sigma * sigma * sigma));
}
