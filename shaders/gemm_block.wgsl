// gemm_block.wgsl — the register-block micro-kernels shared by every GEMM: 8×8 (register-blocked
//          kernels) and 4×4 (the workgroup-tiled kernels, at the end).
//
// MATH     acc[i, j] += Σ_{kk<4} a_i[kk] · b_kk[j]   for i, j < 8: one chunk of 4 k of an 8×8
//          output block, 256 FMAs as 64 vec4 FMAs.
// LAYOUT   AChunk: a_i = A[row i, k..k+3] (vec4 over k), i < 8.
//          BChunk: B[k + kk, columns 0..3] and [4..7] as two vec4 per kk < 4.
//          Block8x8: accumulators c_i0 (columns 0..3) and c_i1 (4..7) of row i.
// WHY      Written out in full and passed by value: llvmpipe keeps named values in registers but
//          spills private arrays, which made the loop-and-array form of the same kernel 3–5×
//          slower (PERF.md); naga's SPIR-V writer also rejects pointers to array elements passed
//          to functions. After inlining, the struct is plain SSA values.
// USE      Not a module of its own: src/gpu/shaders.rs prepends this file to matmul.wgsl and
//          conv.wgsl (WGSL has no includes), so they share one copy.

// An 8×8 block of accumulators: row i, columns 0..3 in c{i}0 and 4..7 in c{i}1.
struct Block8x8 {
    c00: vec4<f32>,
    c01: vec4<f32>,
    c10: vec4<f32>,
    c11: vec4<f32>,
    c20: vec4<f32>,
    c21: vec4<f32>,
    c30: vec4<f32>,
    c31: vec4<f32>,
    c40: vec4<f32>,
    c41: vec4<f32>,
    c50: vec4<f32>,
    c51: vec4<f32>,
    c60: vec4<f32>,
    c61: vec4<f32>,
    c70: vec4<f32>,
    c71: vec4<f32>,
}

// Rows 0..7 of A at one chunk of 4 k: a_i = A[row i, k..k+3].
struct AChunk {
    a0: vec4<f32>,
    a1: vec4<f32>,
    a2: vec4<f32>,
    a3: vec4<f32>,
    a4: vec4<f32>,
    a5: vec4<f32>,
    a6: vec4<f32>,
    a7: vec4<f32>,
}

// Rows k..k+3 of B at 8 columns: k{kk}lo = B[k + kk, columns 0..3], k{kk}hi = columns 4..7.
struct BChunk {
    k0lo: vec4<f32>,
    k0hi: vec4<f32>,
    k1lo: vec4<f32>,
    k1hi: vec4<f32>,
    k2lo: vec4<f32>,
    k2hi: vec4<f32>,
    k3lo: vec4<f32>,
    k3hi: vec4<f32>,
}

// acc += A·B for one chunk of 4 k: 256 FMAs as 64 vec4 FMAs.
fn block_fma(acc: Block8x8, a: AChunk, b: BChunk) -> Block8x8 {
    var r = acc;
    r.c00 = fma(vec4<f32>(a.a0.x), b.k0lo, r.c00);
    r.c01 = fma(vec4<f32>(a.a0.x), b.k0hi, r.c01);
    r.c00 = fma(vec4<f32>(a.a0.y), b.k1lo, r.c00);
    r.c01 = fma(vec4<f32>(a.a0.y), b.k1hi, r.c01);
    r.c00 = fma(vec4<f32>(a.a0.z), b.k2lo, r.c00);
    r.c01 = fma(vec4<f32>(a.a0.z), b.k2hi, r.c01);
    r.c00 = fma(vec4<f32>(a.a0.w), b.k3lo, r.c00);
    r.c01 = fma(vec4<f32>(a.a0.w), b.k3hi, r.c01);
    r.c10 = fma(vec4<f32>(a.a1.x), b.k0lo, r.c10);
    r.c11 = fma(vec4<f32>(a.a1.x), b.k0hi, r.c11);
    r.c10 = fma(vec4<f32>(a.a1.y), b.k1lo, r.c10);
    r.c11 = fma(vec4<f32>(a.a1.y), b.k1hi, r.c11);
    r.c10 = fma(vec4<f32>(a.a1.z), b.k2lo, r.c10);
    r.c11 = fma(vec4<f32>(a.a1.z), b.k2hi, r.c11);
    r.c10 = fma(vec4<f32>(a.a1.w), b.k3lo, r.c10);
    r.c11 = fma(vec4<f32>(a.a1.w), b.k3hi, r.c11);
    r.c20 = fma(vec4<f32>(a.a2.x), b.k0lo, r.c20);
    r.c21 = fma(vec4<f32>(a.a2.x), b.k0hi, r.c21);
    r.c20 = fma(vec4<f32>(a.a2.y), b.k1lo, r.c20);
    r.c21 = fma(vec4<f32>(a.a2.y), b.k1hi, r.c21);
    r.c20 = fma(vec4<f32>(a.a2.z), b.k2lo, r.c20);
    r.c21 = fma(vec4<f32>(a.a2.z), b.k2hi, r.c21);
    r.c20 = fma(vec4<f32>(a.a2.w), b.k3lo, r.c20);
    r.c21 = fma(vec4<f32>(a.a2.w), b.k3hi, r.c21);
    r.c30 = fma(vec4<f32>(a.a3.x), b.k0lo, r.c30);
    r.c31 = fma(vec4<f32>(a.a3.x), b.k0hi, r.c31);
    r.c30 = fma(vec4<f32>(a.a3.y), b.k1lo, r.c30);
    r.c31 = fma(vec4<f32>(a.a3.y), b.k1hi, r.c31);
    r.c30 = fma(vec4<f32>(a.a3.z), b.k2lo, r.c30);
    r.c31 = fma(vec4<f32>(a.a3.z), b.k2hi, r.c31);
    r.c30 = fma(vec4<f32>(a.a3.w), b.k3lo, r.c30);
    r.c31 = fma(vec4<f32>(a.a3.w), b.k3hi, r.c31);
    r.c40 = fma(vec4<f32>(a.a4.x), b.k0lo, r.c40);
    r.c41 = fma(vec4<f32>(a.a4.x), b.k0hi, r.c41);
    r.c40 = fma(vec4<f32>(a.a4.y), b.k1lo, r.c40);
    r.c41 = fma(vec4<f32>(a.a4.y), b.k1hi, r.c41);
    r.c40 = fma(vec4<f32>(a.a4.z), b.k2lo, r.c40);
    r.c41 = fma(vec4<f32>(a.a4.z), b.k2hi, r.c41);
    r.c40 = fma(vec4<f32>(a.a4.w), b.k3lo, r.c40);
    r.c41 = fma(vec4<f32>(a.a4.w), b.k3hi, r.c41);
    r.c50 = fma(vec4<f32>(a.a5.x), b.k0lo, r.c50);
    r.c51 = fma(vec4<f32>(a.a5.x), b.k0hi, r.c51);
    r.c50 = fma(vec4<f32>(a.a5.y), b.k1lo, r.c50);
    r.c51 = fma(vec4<f32>(a.a5.y), b.k1hi, r.c51);
    r.c50 = fma(vec4<f32>(a.a5.z), b.k2lo, r.c50);
    r.c51 = fma(vec4<f32>(a.a5.z), b.k2hi, r.c51);
    r.c50 = fma(vec4<f32>(a.a5.w), b.k3lo, r.c50);
    r.c51 = fma(vec4<f32>(a.a5.w), b.k3hi, r.c51);
    r.c60 = fma(vec4<f32>(a.a6.x), b.k0lo, r.c60);
    r.c61 = fma(vec4<f32>(a.a6.x), b.k0hi, r.c61);
    r.c60 = fma(vec4<f32>(a.a6.y), b.k1lo, r.c60);
    r.c61 = fma(vec4<f32>(a.a6.y), b.k1hi, r.c61);
    r.c60 = fma(vec4<f32>(a.a6.z), b.k2lo, r.c60);
    r.c61 = fma(vec4<f32>(a.a6.z), b.k2hi, r.c61);
    r.c60 = fma(vec4<f32>(a.a6.w), b.k3lo, r.c60);
    r.c61 = fma(vec4<f32>(a.a6.w), b.k3hi, r.c61);
    r.c70 = fma(vec4<f32>(a.a7.x), b.k0lo, r.c70);
    r.c71 = fma(vec4<f32>(a.a7.x), b.k0hi, r.c71);
    r.c70 = fma(vec4<f32>(a.a7.y), b.k1lo, r.c70);
    r.c71 = fma(vec4<f32>(a.a7.y), b.k1hi, r.c71);
    r.c70 = fma(vec4<f32>(a.a7.z), b.k2lo, r.c70);
    r.c71 = fma(vec4<f32>(a.a7.z), b.k2hi, r.c71);
    r.c70 = fma(vec4<f32>(a.a7.w), b.k3lo, r.c70);
    r.c71 = fma(vec4<f32>(a.a7.w), b.k3hi, r.c71);
    return r;
}

// ---------------------------------------------------------------- 4×4 block (the tiled kernels)
// Rows 0..3 of a 4×4 output block, columns 0..3 as one vec4 each: four named vec4s, not a
// private array (NVIDIA's compiler put a loop-indexed array in local memory: PERF.md).
struct Block4x4 {
    c0: vec4<f32>,
    c1: vec4<f32>,
    c2: vec4<f32>,
    c3: vec4<f32>,
}

// acc += a ⊗ b for one k: a = A[rows 0..3, k], b = B[k, columns 0..3]. 16 FMAs as 4 vec4 FMAs.
fn outer_fma4(acc: Block4x4, a: vec4<f32>, b: vec4<f32>) -> Block4x4 {
    return Block4x4(
        fma(vec4<f32>(a.x), b, acc.c0),
        fma(vec4<f32>(a.y), b, acc.c1),
        fma(vec4<f32>(a.z), b, acc.c2),
        fma(vec4<f32>(a.w), b, acc.c3),
    );
}
