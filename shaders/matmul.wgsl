// matmul.wgsl — dense GEMM  C = alpha · op(A)·op(B) + beta · C + bias   (f32, row-major).
//
// MATH     C[m, n] = alpha · Σ_k A(m, k)·B(k, n) + beta · C[m, n] + bias[n]
//          A(m, k) = trans_a ? a[k·M + m] : a[m·K + k]     (a is [M, K], or [K, M] transposed)
//          B(k, n) = trans_b ? b[n·K + k] : b[k·N + n]     (b is [K, N], or [N, K] transposed)
//          C is [M, N]. beta = 0 never reads C (so NaN there cannot leak in); has_bias = 0
//          never reads bias (bind any small tensor).
// KERNELS  Several kernels compute the same function; src/ops/matmul.rs picks one per adapter
//          (../shared/PLATFORM.md: on lavapipe every workgroup-memory access is a per-lane scalar
//          loop, so register blocks without workgroup memory win there; real GPUs want
//          workgroup-memory tiles). matmul_subgroup.wgsl adds a subgroup-broadcast variant.
// WORK     matmul_naive:         1 invocation = 1 output; scalar loads. The second oracle and
//                                the speed baseline.
//          matmul_regblock:      1 invocation = 8 consecutive rows × 8 consecutive columns;
//                                per 4 k, 32 scalar loads of A and 32 of B (gathered into vec4)
//                                feed gemm_block.wgsl's block_fma (256 FMAs). Any shape, any
//                                transposes.
//          matmul_regblock_vec4: the same block with vec4 loads: per 4 k, 8 vec4 of A (one per
//                                row) and 8 of B (2 per k). Needs no transposes, K % 4 = 0 and
//                                N % 4 = 0.
//          matmul_tiled:         256 invocations stage a 64×16 tile of A and a 16×64 tile of B
//                                in workgroup memory per 16 k (8 KiB, loads bounds-masked to 0,
//                                vec4 along m / n); each computes a 4×4 block (rows 4·ty.., cols
//                                4·tx..) in four vec4 accumulators. Any shape, any transposes.
// TILES    regblock, regblock_vec4, tiled: 64 × 64 outputs per workgroup.
// GRID     naive: (ceil(N/16), ceil(M/16)) workgroups of 16×16.
//          the others: (ceil(N/64), ceil(M/64)) workgroups of 64 (regblock) or 256 (tiled).
// EDGES    Rows/columns past M/N: loads use clamped indices (always in bounds, results unused)
//          and stores are skipped. K is looped exactly; a partial last chunk of 4 k reads A as 0.
// WRITES   C: overwrite (=), or accumulate with beta = 1 (C = AB + C).
// BINDINGS 0 a r | 1 b r | 2 bias r | 3 c rw | 4 params
// REF      src/reference/matmul.rs   TESTS src/check/cases/matmul.rs (op "matmul")

struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    trans_a: u32,   // 1: a is stored [K, M]
    trans_b: u32,   // 1: b is stored [N, K]
    has_bias: u32,  // 1: add bias[n]
    alpha: f32,
    beta: f32,      // 0: C is not read
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<uniform> p: MatmulParams;

// vec4 views of the same bindings, for matmul_regblock_vec4 only.
@group(0) @binding(0) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c4: array<vec4<f32>>;

fn a_at(m: u32, k: u32) -> f32 {
    if (p.trans_a != 0u) {
        return a[k * p.m + m];
    }
    return a[m * p.k + k];
}

fn b_at(k: u32, n: u32) -> f32 {
    if (p.trans_b != 0u) {
        return b[n * p.k + k];
    }
    return b[k * p.n + n];
}

// The epilogue shared by the scalar kernels: alpha, beta, bias.
fn store_c(m: u32, n: u32, acc: f32) {
    var v = p.alpha * acc;
    if (p.beta != 0.0) {
        v += p.beta * c[m * p.n + n];
    }
    if (p.has_bias != 0u) {
        v += bias[n];
    }
    c[m * p.n + n] = v;
}

// ---------------------------------------------------------------- naive
@compute @workgroup_size(16, 16)
fn matmul_naive(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n = gid.x;
    let m = gid.y;
    if (m >= p.m || n >= p.n) { return; }
    var acc = 0.0;
    for (var k = 0u; k < p.k; k++) {
        acc += a_at(m, k) * b_at(k, n);
    }
    store_c(m, n, acc);
}

// ---------------------------------------------------------------- register blocks: shared pieces
// Stores one row of the 8×8 block (two vec4) with the epilogue; skips what lies past M or N.
fn store_row4(m: u32, n0: u32, n4: u32, lo: vec4<f32>, hi: vec4<f32>) {
    if (m >= p.m) { return; }
    let row = m * n4;
    let nv = n0 / 4u;
    for (var h = 0u; h < 2u; h++) {
        if (nv + h >= n4) { return; }
        var v = p.alpha * select(lo, hi, h == 1u);
        if (p.beta != 0.0) {
            v += p.beta * c4[row + nv + h];
        }
        if (p.has_bias != 0u) {
            v += bias4[nv + h];
        }
        c4[row + nv + h] = v;
    }
}

// B[k..k+3] at the 8 columns of vec4 indices nv0, nv1, as one chunk (vec4 kernels).
fn b_chunk4(kb: u32, n4: u32, nv0: u32, nv1: u32) -> BChunk {
    return BChunk(
        b4[kb * n4 + nv0], b4[kb * n4 + nv1],
        b4[(kb + 1u) * n4 + nv0], b4[(kb + 1u) * n4 + nv1],
        b4[(kb + 2u) * n4 + nv0], b4[(kb + 2u) * n4 + nv1],
        b4[(kb + 3u) * n4 + nv0], b4[(kb + 3u) * n4 + nv1]);
}

// The 8×8 block at (m0, n0) through the vec4 epilogue.
fn store_block4(m0: u32, n0: u32, n4: u32, acc: Block8x8) {
    store_row4(m0, n0, n4, acc.c00, acc.c01);
    store_row4(m0 + 1u, n0, n4, acc.c10, acc.c11);
    store_row4(m0 + 2u, n0, n4, acc.c20, acc.c21);
    store_row4(m0 + 3u, n0, n4, acc.c30, acc.c31);
    store_row4(m0 + 4u, n0, n4, acc.c40, acc.c41);
    store_row4(m0 + 5u, n0, n4, acc.c50, acc.c51);
    store_row4(m0 + 6u, n0, n4, acc.c60, acc.c61);
    store_row4(m0 + 7u, n0, n4, acc.c70, acc.c71);
}

// ---------------------------------------------------------------- register block, scalar loads
// A(m, k..k+3) as a vec4; k past K reads as 0, so the last partial chunk adds nothing.
fn a_chunk(m: u32, kb: u32) -> vec4<f32> {
    let last = p.k - 1u;
    return vec4<f32>(
        a_at(m, min(kb, last)),
        select(0.0, a_at(m, min(kb + 1u, last)), kb + 1u < p.k),
        select(0.0, a_at(m, min(kb + 2u, last)), kb + 2u < p.k),
        select(0.0, a_at(m, min(kb + 3u, last)), kb + 3u < p.k));
}

// One row of the 8×8 block through the scalar epilogue; skips what lies past M or N.
fn store_row8(m: u32, n0: u32, lo: vec4<f32>, hi: vec4<f32>) {
    if (m >= p.m) { return; }
    for (var j = 0u; j < 4u; j++) {
        if (n0 + j < p.n) { store_c(m, n0 + j, lo[j]); }
        if (n0 + 4u + j < p.n) { store_c(m, n0 + 4u + j, hi[j]); }
    }
}

// Same 8×8 block and block_fma as matmul_regblock_vec4, with scalar loads gathered into
// vec4: 32 loads of A and 32 of B per 4 k, for any shape and transposes.
@compute @workgroup_size(64)
fn matmul_regblock(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let lx = lid % 8u;
    let ly = lid / 8u;
    let row0 = (wid.y * 8u + ly) * 8u;  // first of 8 consecutive rows
    let col0 = (wid.x * 8u + lx) * 8u;  // first of 8 consecutive columns
    // Clamped indices: loads stay in bounds; results past M or N are never stored.
    let m0 = min(row0 + 0u, p.m - 1u);
    let m1 = min(row0 + 1u, p.m - 1u);
    let m2 = min(row0 + 2u, p.m - 1u);
    let m3 = min(row0 + 3u, p.m - 1u);
    let m4 = min(row0 + 4u, p.m - 1u);
    let m5 = min(row0 + 5u, p.m - 1u);
    let m6 = min(row0 + 6u, p.m - 1u);
    let m7 = min(row0 + 7u, p.m - 1u);
    let n0 = min(col0 + 0u, p.n - 1u);
    let n1 = min(col0 + 1u, p.n - 1u);
    let n2 = min(col0 + 2u, p.n - 1u);
    let n3 = min(col0 + 3u, p.n - 1u);
    let n4 = min(col0 + 4u, p.n - 1u);
    let n5 = min(col0 + 5u, p.n - 1u);
    let n6 = min(col0 + 6u, p.n - 1u);
    let n7 = min(col0 + 7u, p.n - 1u);
    var acc: Block8x8;
    for (var kb = 0u; kb < p.k; kb += 4u) {
        let k0 = kb;
        let k1 = min(kb + 1u, p.k - 1u);
        let k2 = min(kb + 2u, p.k - 1u);
        let k3 = min(kb + 3u, p.k - 1u);
        let b = BChunk(
            vec4<f32>(b_at(k0, n0), b_at(k0, n1), b_at(k0, n2), b_at(k0, n3)), vec4<f32>(b_at(k0, n4), b_at(k0, n5), b_at(k0, n6), b_at(k0, n7)),
            vec4<f32>(b_at(k1, n0), b_at(k1, n1), b_at(k1, n2), b_at(k1, n3)), vec4<f32>(b_at(k1, n4), b_at(k1, n5), b_at(k1, n6), b_at(k1, n7)),
            vec4<f32>(b_at(k2, n0), b_at(k2, n1), b_at(k2, n2), b_at(k2, n3)), vec4<f32>(b_at(k2, n4), b_at(k2, n5), b_at(k2, n6), b_at(k2, n7)),
            vec4<f32>(b_at(k3, n0), b_at(k3, n1), b_at(k3, n2), b_at(k3, n3)), vec4<f32>(b_at(k3, n4), b_at(k3, n5), b_at(k3, n6), b_at(k3, n7)));
        let a = AChunk(a_chunk(m0, kb), a_chunk(m1, kb), a_chunk(m2, kb), a_chunk(m3, kb),
                       a_chunk(m4, kb), a_chunk(m5, kb), a_chunk(m6, kb), a_chunk(m7, kb));
        acc = block_fma(acc, a, b);
    }
    store_row8(row0 + 0u, col0, acc.c00, acc.c01);
    store_row8(row0 + 1u, col0, acc.c10, acc.c11);
    store_row8(row0 + 2u, col0, acc.c20, acc.c21);
    store_row8(row0 + 3u, col0, acc.c30, acc.c31);
    store_row8(row0 + 4u, col0, acc.c40, acc.c41);
    store_row8(row0 + 5u, col0, acc.c50, acc.c51);
    store_row8(row0 + 6u, col0, acc.c60, acc.c61);
    store_row8(row0 + 7u, col0, acc.c70, acc.c71);
}

// ---------------------------------------------------------------- register block, vec4 loads
@compute @workgroup_size(64)
fn matmul_regblock_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let lx = lid % 8u;
    let ly = lid / 8u;
    let m0 = (wid.y * 8u + ly) * 8u;       // first of 8 consecutive rows
    let n0 = (wid.x * 8u + lx) * 8u;       // first of 8 consecutive columns (2 vec4)
    let k4 = p.k / 4u;
    let n4 = p.n / 4u;
    // Column vec4 indices, clamped; the second half may lie past N when N % 8 = 4.
    let nv0 = min(n0 / 4u, n4 - 1u);
    let nv1 = min(n0 / 4u + 1u, n4 - 1u);
    // Row starts (in vec4) of the 8 rows, clamped to the last row.
    let r0 = min(m0 + 0u, p.m - 1u) * k4;
    let r1 = min(m0 + 1u, p.m - 1u) * k4;
    let r2 = min(m0 + 2u, p.m - 1u) * k4;
    let r3 = min(m0 + 3u, p.m - 1u) * k4;
    let r4 = min(m0 + 4u, p.m - 1u) * k4;
    let r5 = min(m0 + 5u, p.m - 1u) * k4;
    let r6 = min(m0 + 6u, p.m - 1u) * k4;
    let r7 = min(m0 + 7u, p.m - 1u) * k4;
    var acc: Block8x8;
    for (var kc = 0u; kc < k4; kc++) {
        let a = AChunk(a4[r0 + kc], a4[r1 + kc], a4[r2 + kc], a4[r3 + kc], a4[r4 + kc], a4[r5 + kc], a4[r6 + kc], a4[r7 + kc]);
        acc = block_fma(acc, a, b_chunk4(kc * 4u, n4, nv0, nv1));
    }
    store_block4(m0, n0, n4, acc);
}

// ---------------------------------------------------------------- workgroup-memory tiles
const T_BM: u32 = 64u;  // tile rows
const T_BN: u32 = 64u;  // tile columns
const T_BK: u32 = 16u;  // k per stage
// Invocation (tx, ty) = (lid % 16, lid / 16) computes rows 4·ty..4·ty+3 × columns 4·tx..4·tx+3.
// 2 · 16 · 64 · 4 B = 8 KiB of workgroup memory (limit 16 KiB).
// The tiles hold vec4 along m (A) and n (B), so one workgroup load feeds 4 rows or 4 columns,
// and the 4×4 block is gemm_block.wgsl's Block4x4: a private array indexed in a loop (the first
// version) went to local memory on NVIDIA's compiler and ran at 0.37 TFLOP/s on an H100
// (PERF.md).
var<workgroup> tile_a: array<vec4<f32>, 256>;  // [T_BK][T_BM / 4]: k-major, vec4 over m
var<workgroup> tile_b: array<vec4<f32>, 256>;  // [T_BK][T_BN / 4]: k-major, vec4 over n

@compute @workgroup_size(256)
fn matmul_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let tm0 = wid.y * T_BM;
    let tn0 = wid.x * T_BN;
    let tx = lid % 16u;
    let ty = lid / 16u;
    var acc: Block4x4;  // rows 4·ty.., columns 4·tx.. (zero-initialised)
    let k_tiles = (p.k + T_BK - 1u) / T_BK;
    for (var kt = 0u; kt < k_tiles; kt++) {
        let k0 = kt * T_BK;
        // Stage 1024 elements of each tile, 4 per invocation; out-of-range elements are 0.
        // Consecutive invocations walk the operand's contiguous axis (coalesced loads): k for
        // A stored [M, K] and B stored [N, K], m or n otherwise.
        for (var e = lid; e < T_BK * T_BM; e += 256u) {
            var kk = e / T_BM;
            var mm = e % T_BM;
            if (p.trans_a == 0u) {
                kk = e % T_BK;
                mm = e / T_BK;
            }
            let ka = k0 + kk;
            let m = tm0 + mm;
            var va = 0.0;
            if (ka < p.k && m < p.m) { va = a_at(m, ka); }
            tile_a[kk * 16u + mm / 4u][mm % 4u] = va;
            var kb = e / T_BN;
            var nn = e % T_BN;
            if (p.trans_b != 0u) {
                kb = e % T_BK;
                nn = e / T_BK;
            }
            let kbk = k0 + kb;
            let n = tn0 + nn;
            var vb = 0.0;
            if (kbk < p.k && n < p.n) { vb = b_at(kbk, n); }
            tile_b[kb * 16u + nn / 4u][nn % 4u] = vb;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < T_BK; kk++) {
            acc = outer_fma4(acc, tile_a[kk * 16u + ty], tile_b[kk * 16u + tx]);
        }
        workgroupBarrier();
    }
    let m0 = tm0 + 4u * ty;
    for (var j = 0u; j < 4u; j++) {
        let n = tn0 + 4u * tx + j;
        if (n < p.n) {
            if (m0 < p.m) { store_c(m0, n, acc.c0[j]); }
            if (m0 + 1u < p.m) { store_c(m0 + 1u, n, acc.c1[j]); }
            if (m0 + 2u < p.m) { store_c(m0 + 2u, n, acc.c2[j]); }
            if (m0 + 3u < p.m) { store_c(m0 + 3u, n, acc.c3[j]); }
        }
    }
}
