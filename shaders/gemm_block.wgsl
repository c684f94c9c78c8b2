// gemm_block.wgsl — the 8×8 register-block micro-kernel shared by every register-blocked GEMM.
//
// MATH     acc[i, j] += Σ_{kk<4} a_i[kk] · b_kk[j]   for i, j < 8: one chunk of 4 k of an 8×8
//          output block, 256 FMAs as 64 vec4 FMAs.
// LAYOUT   a_i = A[row i, k..k+3] (vec4 over k); b_kk = (b_kk0, b_kk1) = B[k + kk, columns 0..7]
//          (two vec4 over columns); accumulators c_i0 (columns 0..3) and c_i1 (4..7) of row i.
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

// acc += A·B for one chunk of 4 k: a_i = A[row i, k..k+3], bkh = B[k + kk, columns 4h..4h+3].
// Written out in full: llvmpipe keeps named values in registers but spills private arrays,
// which made the loop-and-array form of the kernels 3–5× slower (PERF.md).
fn block_fma(acc: Block8x8, a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>,
             a4v: vec4<f32>, a5: vec4<f32>, a6: vec4<f32>, a7: vec4<f32>,
             b00: vec4<f32>, b01: vec4<f32>, b10: vec4<f32>, b11: vec4<f32>,
             b20: vec4<f32>, b21: vec4<f32>, b30: vec4<f32>, b31: vec4<f32>) -> Block8x8 {
    var r = acc;
    r.c00 = fma(vec4<f32>(a0.x), b00, r.c00);
    r.c01 = fma(vec4<f32>(a0.x), b01, r.c01);
    r.c00 = fma(vec4<f32>(a0.y), b10, r.c00);
    r.c01 = fma(vec4<f32>(a0.y), b11, r.c01);
    r.c00 = fma(vec4<f32>(a0.z), b20, r.c00);
    r.c01 = fma(vec4<f32>(a0.z), b21, r.c01);
    r.c00 = fma(vec4<f32>(a0.w), b30, r.c00);
    r.c01 = fma(vec4<f32>(a0.w), b31, r.c01);
    r.c10 = fma(vec4<f32>(a1.x), b00, r.c10);
    r.c11 = fma(vec4<f32>(a1.x), b01, r.c11);
    r.c10 = fma(vec4<f32>(a1.y), b10, r.c10);
    r.c11 = fma(vec4<f32>(a1.y), b11, r.c11);
    r.c10 = fma(vec4<f32>(a1.z), b20, r.c10);
    r.c11 = fma(vec4<f32>(a1.z), b21, r.c11);
    r.c10 = fma(vec4<f32>(a1.w), b30, r.c10);
    r.c11 = fma(vec4<f32>(a1.w), b31, r.c11);
    r.c20 = fma(vec4<f32>(a2.x), b00, r.c20);
    r.c21 = fma(vec4<f32>(a2.x), b01, r.c21);
    r.c20 = fma(vec4<f32>(a2.y), b10, r.c20);
    r.c21 = fma(vec4<f32>(a2.y), b11, r.c21);
    r.c20 = fma(vec4<f32>(a2.z), b20, r.c20);
    r.c21 = fma(vec4<f32>(a2.z), b21, r.c21);
    r.c20 = fma(vec4<f32>(a2.w), b30, r.c20);
    r.c21 = fma(vec4<f32>(a2.w), b31, r.c21);
    r.c30 = fma(vec4<f32>(a3.x), b00, r.c30);
    r.c31 = fma(vec4<f32>(a3.x), b01, r.c31);
    r.c30 = fma(vec4<f32>(a3.y), b10, r.c30);
    r.c31 = fma(vec4<f32>(a3.y), b11, r.c31);
    r.c30 = fma(vec4<f32>(a3.z), b20, r.c30);
    r.c31 = fma(vec4<f32>(a3.z), b21, r.c31);
    r.c30 = fma(vec4<f32>(a3.w), b30, r.c30);
    r.c31 = fma(vec4<f32>(a3.w), b31, r.c31);
    r.c40 = fma(vec4<f32>(a4v.x), b00, r.c40);
    r.c41 = fma(vec4<f32>(a4v.x), b01, r.c41);
    r.c40 = fma(vec4<f32>(a4v.y), b10, r.c40);
    r.c41 = fma(vec4<f32>(a4v.y), b11, r.c41);
    r.c40 = fma(vec4<f32>(a4v.z), b20, r.c40);
    r.c41 = fma(vec4<f32>(a4v.z), b21, r.c41);
    r.c40 = fma(vec4<f32>(a4v.w), b30, r.c40);
    r.c41 = fma(vec4<f32>(a4v.w), b31, r.c41);
    r.c50 = fma(vec4<f32>(a5.x), b00, r.c50);
    r.c51 = fma(vec4<f32>(a5.x), b01, r.c51);
    r.c50 = fma(vec4<f32>(a5.y), b10, r.c50);
    r.c51 = fma(vec4<f32>(a5.y), b11, r.c51);
    r.c50 = fma(vec4<f32>(a5.z), b20, r.c50);
    r.c51 = fma(vec4<f32>(a5.z), b21, r.c51);
    r.c50 = fma(vec4<f32>(a5.w), b30, r.c50);
    r.c51 = fma(vec4<f32>(a5.w), b31, r.c51);
    r.c60 = fma(vec4<f32>(a6.x), b00, r.c60);
    r.c61 = fma(vec4<f32>(a6.x), b01, r.c61);
    r.c60 = fma(vec4<f32>(a6.y), b10, r.c60);
    r.c61 = fma(vec4<f32>(a6.y), b11, r.c61);
    r.c60 = fma(vec4<f32>(a6.z), b20, r.c60);
    r.c61 = fma(vec4<f32>(a6.z), b21, r.c61);
    r.c60 = fma(vec4<f32>(a6.w), b30, r.c60);
    r.c61 = fma(vec4<f32>(a6.w), b31, r.c61);
    r.c70 = fma(vec4<f32>(a7.x), b00, r.c70);
    r.c71 = fma(vec4<f32>(a7.x), b01, r.c71);
    r.c70 = fma(vec4<f32>(a7.y), b10, r.c70);
    r.c71 = fma(vec4<f32>(a7.y), b11, r.c71);
    r.c70 = fma(vec4<f32>(a7.z), b20, r.c70);
    r.c71 = fma(vec4<f32>(a7.z), b21, r.c71);
    r.c70 = fma(vec4<f32>(a7.w), b30, r.c70);
    r.c71 = fma(vec4<f32>(a7.w), b31, r.c71);
    return r;
}
