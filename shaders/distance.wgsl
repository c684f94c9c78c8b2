// distance.wgsl — pairwise squared Euclidean distances, for eval's nearest neighbours
// (precision/recall, density/coverage, memorisation, the birthday-paradox test).
//
// MATH     D[i, j] = ‖a_i − b_j‖² = ‖a_i‖² + ‖b_j‖² − 2·a_i·b_j, with the Gram term −2·A·Bᵀ from
//          the matmul family (alpha = −2, B stored transposed as [d, m] so the vec4 kernels
//          apply) and the two norms added here:
//            sq_norms:        norms[i] = Σ_k x(i, k)²,   x(i, k) = transposed ? x[k·rows + i]
//                                                                      : x[i·dim + k]
//            sqdist_finish:   D[i, j] = max(G[i, j] + na[i] + nb[j], 0)   (G = −2·A·Bᵀ)
//          The clamp: the expansion can round a distance of 0 (a duplicate) to a tiny negative
//          value; its absolute error is ~ε·(‖a‖² + ‖b‖²), far below any distance between two
//          different images or feature vectors, so thresholds on D are unaffected.
// LAYOUT   A [n, d], B as Bᵀ [d, m] (row-major); D, G: [n, m] (G is D before the finish, in
//          place); na [n], nb [m].
// WORK     sq_norms: 1 invocation = 1 row (a loop over dim). sqdist_finish: 1 invocation = 1
//          element of D.
// GRID     ceil(rows/256) resp. ceil(n·m/256) workgroups folded to (x, y) (Grid::for_items);
//          i = gid.x + gid.y·nwg.x·WG; guard i < rows resp. n·m.
// WRITES   norms: overwrite (=). D: read-modify-write in place (D = G + na + nb, clamped).
// BINDINGS sq_norms:      0 x r | 1 norms rw | 2 params
//          sqdist_finish: 0 na r | 1 nb r | 2 d rw | 3 params
// REF      src/reference/distance.rs   TESTS src/check/cases/distance.rs (op "distance")

const WG: u32 = 256u;

struct NormParams {
    rows: u32,
    dim: u32,
    transposed: u32, // 1: x is stored [dim, rows]
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> norm_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> norm_out: array<f32>;
@group(0) @binding(2) var<uniform> np: NormParams;

@compute @workgroup_size(WG)
fn sq_norms(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= np.rows) { return; }
    var s = 0.0;
    for (var k = 0u; k < np.dim; k++) {
        var v: f32;
        if (np.transposed == 1u) { v = norm_x[k * np.rows + i]; } else { v = norm_x[i * np.dim + k]; }
        s = fma(v, v, s);
    }
    norm_out[i] = s;
}

struct FinishParams {
    n: u32, // rows of D (the queries)
    m: u32, // columns of D (the reference set)
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> fin_na: array<f32>;
@group(0) @binding(1) var<storage, read> fin_nb: array<f32>;
@group(0) @binding(2) var<storage, read_write> fin_d: array<f32>;
@group(0) @binding(3) var<uniform> fp: FinishParams;

@compute @workgroup_size(WG)
fn sqdist_finish(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= fp.n * fp.m) { return; }
    let row = i / fp.m;
    let col = i - row * fp.m;
    fin_d[i] = max(fin_d[i] + fin_na[row] + fin_nb[col], 0.0);
}
