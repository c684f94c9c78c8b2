// conv_subgroup.wgsl — conv.wgsl's implicit GEMM with the gathered operand shared across a
// subgroup: the fast variant on lavapipe.
//
// MATH     as conv.wgsl (all three modes, its Col/KStep/KChunk/gather4/a_rows/store_block).
// WHY      The gathered operand cannot be loaded as vec4 (its addresses jump with the stride
//          and the image borders), so in conv_gemm_regblock each lane pays 32 scalar gathers
//          per chunk of 4 k. Here the 8 lanes of a subgroup share 8 columns: lane j gathers
//          column j's 4 values once and subgroupBroadcast (a register shuffle on lavapipe,
//          ../shared/PLATFORM.md §3) hands them to every lane, while each lane owns 8 rows of A
//          loaded as vec4. Per chunk a lane does 4 gathers + 8 A loads (vs 32 + 8) for the
//          same 256 FMAs of gemm_block.wgsl's block_fma.
// WORK     1 invocation = 8 consecutive rows × the subgroup's 8 consecutive columns.
// TILES    a subgroup covers 8·SG rows × 8 columns; the 64/SG subgroups of a workgroup stack
//          on columns: 8·SG rows × (64/SG)·8 columns per workgroup (64 × 64 for SG = 8).
// GRID     (ceil(N / ((64/SG)·8)), ceil(M / (8·SG)), Z) with Z as in conv.wgsl.
// WRITES   as conv.wgsl.
// BINDINGS as conv.wgsl's gemm: 0 a r | 1 x r | 2 bias r | 3 out rw | 4 params
// USE      Appended to gemm_block.wgsl + conv.wgsl (src/gpu/shaders.rs); compiled only where
//          the device has SUBGROUP with a fixed size SG ≥ 8.

override SG: u32 = 8u;  // the adapter's subgroup size (src/ops/conv.rs checks)

@compute @workgroup_size(64)
fn conv_gemm_subgroup(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_id) sg: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let ph = phase_of(wid.z);
    let m0 = (wid.y * SG + lane) * 8u;            // this lane's 8 rows
    let n0 = (wid.x * (64u / SG) + sg) * 8u;      // the subgroup's 8 columns
    let mine = col_info(n0 + lane % 8u, ph);      // the column this lane gathers (lanes ≥ 8 duplicate)
    var acc: Block8x8;
    let kr = k_range(wid.z);
    var st = kstep_at(kr.x, wid.z);
    for (var kb = kr.x; kb < kr.y; kb += 4u) {
        let ch = kchunk(st);
        st = kstep_next(ch.s3);
        // Lane j holds column j at the chunk's 4 steps; lj = lane j's vec4, so the B vector of
        // step kk for columns 0..3 is (l0[kk], l1[kk], l2[kk], l3[kk]).
        let g = gather4(mine, ch);
        let l0 = subgroupBroadcast(g, 0u);
        let l1 = subgroupBroadcast(g, 1u);
        let l2 = subgroupBroadcast(g, 2u);
        let l3 = subgroupBroadcast(g, 3u);
        let l4 = subgroupBroadcast(g, 4u);
        let l5 = subgroupBroadcast(g, 5u);
        let l6 = subgroupBroadcast(g, 6u);
        let l7 = subgroupBroadcast(g, 7u);
        let b = BChunk(
            vec4<f32>(l0.x, l1.x, l2.x, l3.x), vec4<f32>(l4.x, l5.x, l6.x, l7.x),
            vec4<f32>(l0.y, l1.y, l2.y, l3.y), vec4<f32>(l4.y, l5.y, l6.y, l7.y),
            vec4<f32>(l0.z, l1.z, l2.z, l3.z), vec4<f32>(l4.z, l5.z, l6.z, l7.z),
            vec4<f32>(l0.w, l1.w, l2.w, l3.w), vec4<f32>(l4.w, l5.w, l6.w, l7.w));
        acc = block_fma(acc, a_rows(m0, ch), b);
    }
    store_block(m0, cols8(n0, ph), acc, wid.z);
}
