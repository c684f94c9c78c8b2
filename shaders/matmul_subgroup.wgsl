// matmul_subgroup.wgsl — dense GEMM with A shared across a subgroup by subgroupBroadcast.
//
// MATH     as matmul.wgsl without transposes: C[m, n] = alpha·Σ_k a[m·K + k]·b[k·N + n]
//          + beta·C[m, n] + bias[n].  Needs K % 4 = 0 and N % 4 = 0 (vec4 rows).
// WHY      On lavapipe each storage load is a scalar loop over the 8 SIMD lanes, while
//          subgroupBroadcast is a register shuffle (../shared/PLATFORM.md §3). All lanes of a
//          subgroup work on the same 8 rows of A, so lane r loads row r once and broadcasts it:
//          per 4 k a lane does 1 vec4 load of A and 8 of B for 256 FMAs (matmul_regblock_vec4
//          does 8 + 8). Lives in its own file because a module using subgroup operations does
//          not compile where the device lacks SUBGROUP (GL); src/ops/matmul.rs falls back.
// WORK     1 invocation = 8 rows × 8 contiguous columns (2 vec4 accumulators per row).
//          A subgroup of SG lanes covers 8 rows × 8·SG columns; the 64/SG subgroups of a
//          workgroup stack on rows. SG is the adapter's fixed subgroup size (override; ≥ 8).
// TILES    workgroup tile = (64/SG)·8 rows × 8·SG columns (64 × 64 for SG = 8).
// GRID     (ceil(N / (8·SG)), ceil(M / ((64/SG)·8))).
// WRITES   C: overwrite (=), or accumulate with beta = 1.
// BINDINGS 0 a r | 1 b r | 2 bias r | 3 c rw | 4 params   (matmul.wgsl's vec4 views)
// USE      Appended to gemm_block.wgsl + matmul.wgsl (src/gpu/shaders.rs): it uses their
//          bindings, MatmulParams, block_fma, b_chunk4 and store_block4.
// REF      src/reference/matmul.rs   TESTS src/check/cases/matmul.rs (op "matmul")

override SG: u32 = 8u;  // subgroup size; must equal the adapter's (src/ops/matmul.rs checks)

@compute @workgroup_size(64)
fn matmul_sgbcast_vec4(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_id) sg: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let rows_per_wg = (64u / SG) * 8u;
    let m0 = wid.y * rows_per_wg + sg * 8u;          // this subgroup's 8 rows
    let n0 = (wid.x * SG + lane) * 8u;               // this lane's 8 columns
    let k4 = p.k / 4u;
    let n4 = p.n / 4u;
    let nv0 = min(n0 / 4u, n4 - 1u);
    let nv1 = min(n0 / 4u + 1u, n4 - 1u);
    // Lane l (l < 8) loads row m0 + l; lanes ≥ 8 load a duplicate that nobody reads.
    let my_row = min(m0 + (lane % 8u), p.m - 1u) * k4;

    var acc: Block8x8;
    for (var kc = 0u; kc < k4; kc++) {
        let mine = a4[my_row + kc];
        // subgroupBroadcast takes a constant lane: row i comes from lane i.
        let a = AChunk(
            subgroupBroadcast(mine, 0u), subgroupBroadcast(mine, 1u), subgroupBroadcast(mine, 2u), subgroupBroadcast(mine, 3u),
            subgroupBroadcast(mine, 4u), subgroupBroadcast(mine, 5u), subgroupBroadcast(mine, 6u), subgroupBroadcast(mine, 7u));
        acc = block_fma(acc, a, b_chunk4(kc * 4u, n4, nv0, nv1));
    }
    store_block4(m0, n0, n4, acc);
}
