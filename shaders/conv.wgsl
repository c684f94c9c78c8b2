// conv.wgsl — the convolution family as ONE implicit GEMM: conv2d and conv_transpose2d,
// forward, backward to the input and backward to the weight (six passes, three gather modes).
//
// MATH     out[m, n] (+)= Σ_k A[m, k] · G[k, n]  where G is gathered from x on the fly:
//   MODE_CONV   out[b, m, oy, ox] = bias[m] + Σ_{c,ky,kx} A[m, (c,ky,kx)] · x[b, c, oy·s−p+ky, ox·s−p+kx]
//               M = channels out, N = B·Ho·Wo, K = Cx·KH·KW, A = a [M, K] row-major.
//               conv2d forward (A = w [Cout, Cin·KH·KW]) and conv_transpose2d backward-input
//               (x := dy, A = w [Cin, Cout·KH·KW]: the same formula with the roles swapped).
//   MODE_CONVT  out[b, m, oy, ox] = bias[m] + Σ_{c,ky,kx} x[b, c, iy, ix] · w[c, m, ky, kx]
//               over the taps with oy = iy·s − p + ky (and the same for x).
//               conv_transpose2d forward (w [Cin, Cout, KH, KW]) and conv2d backward-input
//               (x := dy, w [Cout, Cin, KH, KW] read as [Cx, M, KH, KW]).
//               Split by output phase (ry, rx) = ((oy+p) mod s, (ox+p) mod s), grid z = ry·s + rx:
//               only the taps ky = ry + s·jy (jy < JY = ceil(KH/s)) reach a phase, and for them
//               iy = Qy − jy with Qy = (oy + p − ry)/s, so each phase is a dense GEMM with
//               K = Cx·JY·JX and no wasted (zero) taps. A = the weights repacked per phase by
//               conv_repack_convt: A[z][m, (c,jy,jx)] = w[c, m, ry+s·jy, rx+s·jx] (0 past KH/KW).
//   MODE_WGRAD  dw[m, (c,ky,kx)] += Σ_{b,oy,ox} g[b, m, oy, ox] · x[b, c, oy·s−p+ky, ox·s−p+kx]
//               M = channels of g, N = Cx·KH·KW, K = B·Ho·Wo (Ho×Wo = g's spatial size).
//               conv2d backward-weight (g = dy, x = input) and conv_transpose2d backward-weight
//               (g = input x [B, Cin, H, W], x := dy: the gather runs over dy).
//          All three modes gather with ONE function: G = x[xbase(n) + off(k) + iy·Wx + ix] with
//          iy = y0(n) + ty(k), ix = x0(n) + tx(k), zero outside [0,Hx)×[0,Wx) — only the column
//          decode (col_info) and the k walk (kstep_at / kstep_next) differ per mode.
// LAYOUT   x [B, Cx, Hx, Wx] (the gathered tensor), out [B, M, Ho, Wo] (CONV, CONVT) or
//          [M, N] (WGRAD), g [B, M, Ho, Wo], all NCHW contiguous f32; weights as PyTorch.
// WORK     conv_gemm_regblock: 1 invocation = 8 consecutive rows (m) × 8 consecutive columns
//          (n); per chunk of 4 k: 8 A rows as vec4 (one load each with A_VEC4, else 4 scalar
//          loads) and 32 gathers, into gemm_block.wgsl's block_fma (256 FMAs).
//          conv_gemm_tiled (real GPUs): 256 invocations stage a 64×16 A tile and a 16×64
//          gathered tile in workgroup memory (8 KiB, vec4 along m / n) per 16 k; each computes
//          a 4×4 block (rows 4·ty.., columns 4·tx..) in four vec4 accumulators.
//          conv_subgroup.wgsl adds the subgroup variant (lanes share columns).
//          conv_repack_convt: 1 invocation = 1 repacked weight.
// TILES    64 rows × 64 columns per workgroup (8×8 lanes × 8×8 block; tiled: 16×16 × 4×4);
//          conv_gemm_regblock with ROW_LANES = 2 (M ≤ 16): 16 × 256; = 1 (M ≤ 8): 8 × 512.
// GRID     (ceil(N/tile_n), ceil(M/tile_m), Z): Z = s² phases for MODE_CONVT; Z = splits for
//          MODE_WGRAD (split-K: the few 64×64 tiles of a weight gradient with K = B·Ho·Wo in
//          the tens of thousands would otherwise leave all but one core or SM idle), and for
//          MODE_CONV when k_split > 0 (a forward of few tiles and deep K, e.g. D's last layer);
//          else 1.
//          repack: ceil(s²·M·K / 256) workgroups folded to (x, y).
// EDGES    Rows past M and columns past N load clamped/zero values and are never stored;
//          k past K contributes zero (A is masked). Index math for iy/ix is in i32.
// WRITES   CONV/CONVT: out overwrite (=) + bias. WGRAD, 1 split: accumulate (+=) into dw, as
//          every parameter gradient (the caller zeroes it once per step). WGRAD, S > 1 splits:
//          out = partials [S, M, N] overwritten (=), then reduce.wgsl:sum_leading adds them to dw
//          in split order (fixed order: reruns are bit-identical). CONV with S > 1 splits: the
//          partials [S, B, M, Ho, Wo] (=, bias in split 0), then sum_leading writes out (=).
// BINDINGS gemm: 0 a r | 1 x r | 2 bias r | 3 out rw | 4 params
//          conv_repack_convt: 0 w r | 1 a_out rw | 2 params
// REF      src/reference/conv2d.rs, src/reference/conv_transpose2d.rs (a scatter)
// TESTS    src/check/cases/conv.rs (ops "conv2d", "conv_transpose2d")

override MODE: u32 = 0u;
const MODE_CONV: u32 = 0u;
const MODE_CONVT: u32 = 1u;
const MODE_WGRAD: u32 = 2u;
// A rows can be read as vec4: K % 4 = 0 (CONV, CONVT) or Ho·Wo % 4 = 0 (WGRAD). Set by the host.
override A_VEC4: bool = false;
// conv_gemm_regblock: lanes of the 64 that stack on rows (8: a 64×64 tile; 2: 16×256 for
// M ≤ 16; 1: 8×512 for M ≤ 8 — with 8 row lanes a 3-channel output would leave 7 of every 8
// lanes computing clamped duplicate rows). Set by the host.
override ROW_LANES: u32 = 8u;

struct ConvParams {
    batch: u32,     // B
    cx: u32,        // channels of the gathered tensor x
    hx: u32,        // x height
    wx: u32,        // x width
    m: u32,         // GEMM rows: output channels (CONV, CONVT) or channels of g (WGRAD)
    ho: u32,        // output (CONV, CONVT) or g (WGRAD) height
    wo: u32,        // ... width
    has_bias: u32,  // 1: add bias[m] (CONV, CONVT)
    kh: u32,        // kernel height
    kw: u32,        // kernel width
    stride: u32,
    pad: u32,
    n: u32,         // GEMM columns (CONVT: unused, computed per phase)
    k: u32,         // GEMM depth (CONVT: Cx·JY·JX per phase)
    jy: u32,        // CONVT: taps per phase along y = ceil(KH / s)
    jx: u32,        // CONVT: ... along x
    k_split: u32,   // WGRAD: k per split (a multiple of 4); split z covers [z·k_split, (z+1)·k_split)
    accumulate: u32, // WGRAD: 1: out += (out is dw); 0: out = (out is the split partials)
    _pad0: u32,
    _pad1: u32,
}

// A is read only through this vec4 view (scalars as a4[i / 4][i % 4]): naga refuses an entry
// point that uses two views of one binding, even behind an override-dependent branch.
@group(0) @binding(0) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: ConvParams;

// repack bindings
@group(0) @binding(0) var<storage, read> w_convt: array<f32>;
@group(0) @binding(1) var<storage, read_write> a_out: array<f32>;
@group(0) @binding(2) var<uniform> rp: ConvParams;

// ---------------------------------------------------------------- gather geometry

// One GEMM column n: where its gathered values live and where its results go.
struct Col {
    ok: bool,    // inside the problem (n < N, or the phase's N for CONVT)
    xbase: u32,  // CONV/CONVT: b·Cx·Hx·Wx.   WGRAD: c·Hx·Wx
    y0: i32,     // CONV: oy·s − p.  CONVT: Qy.  WGRAD: ky
    x0: i32,     // CONV: ox·s − p.  CONVT: Qx.  WGRAD: kx
    dst: u32,    // out index of row m = 0 (CONV/CONVT: b·M·Ho·Wo + oy·Wo + ox; WGRAD: n)
}

// One step k of the reduction, walked incrementally (no divisions in the inner loop).
struct KStep {
    k: u32,      // index, for the k < K mask
    off: u32,    // CONV/CONVT: c·Hx·Wx.       WGRAD: b·Cx·Hx·Wx
    ty: i32,     // CONV: ky.  CONVT: −jy.      WGRAD: oy·s − p
    tx: i32,     // CONV: kx.  CONVT: −jx.      WGRAD: ox·s − p
    a_off: u32,  // column of A: A[m, k] = a[m·a_stride() + a_off]
}

// Phase of grid z for MODE_CONVT: (ry, rx), the first Q and the phase's output count.
struct Phase {
    ry: u32,
    rx: u32,
    qy0: u32,
    qx0: u32,
    hq: u32,
    wq: u32,
}

fn phase_of(z: u32) -> Phase {
    var ph: Phase;
    if (MODE != MODE_CONVT) {
        return ph;
    }
    let s = p.stride;
    ph.ry = z / s;
    ph.rx = z % s;
    // Outputs of the phase: oy = Q·s + ry − p for Q in [qy0, (Ho + p − ry + s − 1)/s).
    ph.qy0 = (p.pad + s - 1u - ph.ry) / s;
    ph.qx0 = (p.pad + s - 1u - ph.rx) / s;
    ph.hq = (p.ho + p.pad + s - 1u - ph.ry) / s - ph.qy0;
    ph.wq = (p.wo + p.pad + s - 1u - ph.rx) / s - ph.qx0;
    return ph;
}

fn a_stride() -> u32 {
    if (MODE == MODE_WGRAD) {
        return p.ho * p.wo;
    }
    return p.k;
}

fn col_info(n: u32, ph: Phase) -> Col {
    var col: Col;
    if (MODE == MODE_WGRAD) {
        // n = (c, ky, kx) of the weight gradient
        col.ok = n < p.n;
        let nn = min(n, p.n - 1u);
        let taps = p.kh * p.kw;
        let c = nn / taps;
        let r = nn - c * taps;
        let ky = r / p.kw;
        col.xbase = c * p.hx * p.wx;
        col.y0 = i32(ky);
        col.x0 = i32(r - ky * p.kw);
        col.dst = n;
    } else if (MODE == MODE_CONVT) {
        // n = (b, qy, qx) within the phase
        let per_b = ph.hq * ph.wq;
        col.ok = n < p.batch * per_b;
        if (!col.ok) {
            return col;
        }
        let b = n / per_b;
        let r = n - b * per_b;
        let qy = ph.qy0 + r / ph.wq;
        let qx = ph.qx0 + r % ph.wq;
        let oy = qy * p.stride + ph.ry - p.pad;
        let ox = qx * p.stride + ph.rx - p.pad;
        col.xbase = b * p.cx * p.hx * p.wx;
        col.y0 = i32(qy);
        col.x0 = i32(qx);
        col.dst = b * p.m * p.ho * p.wo + oy * p.wo + ox;
    } else {
        // n = (b, oy, ox)
        let plane = p.ho * p.wo;
        col.ok = n < p.n;
        let nn = min(n, p.n - 1u);
        let b = nn / plane;
        let pix = nn - b * plane;
        let oy = pix / p.wo;
        let ox = pix - oy * p.wo;
        col.xbase = b * p.cx * p.hx * p.wx;
        col.y0 = i32(oy * p.stride) - i32(p.pad);
        col.x0 = i32(ox * p.stride) - i32(p.pad);
        col.dst = b * p.m * plane + pix;
    }
    return col;
}

// Decode step k from scratch (the tiled kernel; the start of the incremental walk).
fn kstep_at(k: u32, z: u32) -> KStep {
    var st: KStep;
    st.k = k;
    if (MODE == MODE_WGRAD) {
        let plane = p.ho * p.wo;
        let b = k / plane;
        let pix = k - b * plane;
        let oy = pix / p.wo;
        st.off = b * p.cx * p.hx * p.wx;
        st.ty = i32(oy * p.stride) - i32(p.pad);
        st.tx = i32((pix - oy * p.wo) * p.stride) - i32(p.pad);
        st.a_off = b * p.m * plane + pix;
    } else if (MODE == MODE_CONVT) {
        let taps = p.jy * p.jx;
        let c = k / taps;
        let r = k - c * taps;
        let jy = r / p.jx;
        st.off = c * p.hx * p.wx;
        st.ty = -i32(jy);
        st.tx = -i32(r - jy * p.jx);
        st.a_off = z * p.m * p.k + k;
    } else {
        let taps = p.kh * p.kw;
        let c = k / taps;
        let r = k - c * taps;
        let ky = r / p.kw;
        st.off = c * p.hx * p.wx;
        st.ty = i32(ky);
        st.tx = i32(r - ky * p.kw);
        st.a_off = k;
    }
    return st;
}

// Step k → k + 1 with adds and compares only.
fn kstep_next(st: KStep) -> KStep {
    var t = st;
    t.k = st.k + 1u;
    t.a_off = st.a_off + 1u;
    if (MODE == MODE_WGRAD) {
        let s = i32(p.stride);
        t.tx = st.tx + s;
        if (t.tx >= i32(p.wo) * s - i32(p.pad)) {
            t.tx = -i32(p.pad);
            t.ty = st.ty + s;
            if (t.ty >= i32(p.ho) * s - i32(p.pad)) {
                t.ty = -i32(p.pad);
                t.off = st.off + p.cx * p.hx * p.wx;
                t.a_off = t.a_off + (p.m - 1u) * p.ho * p.wo;  // next sample of g
            }
        }
    } else if (MODE == MODE_CONVT) {
        t.tx = st.tx - 1;
        if (t.tx <= -i32(p.jx)) {
            t.tx = 0;
            t.ty = st.ty - 1;
            if (t.ty <= -i32(p.jy)) {
                t.ty = 0;
                t.off = st.off + p.hx * p.wx;
            }
        }
    } else {
        t.tx = st.tx + 1;
        if (t.tx >= i32(p.kw)) {
            t.tx = 0;
            t.ty = st.ty + 1;
            if (t.ty >= i32(p.kh)) {
                t.ty = 0;
                t.off = st.off + p.hx * p.wx;
            }
        }
    }
    return t;
}

// G[k, n]: the gathered value, 0 outside the image, past K or past N.
fn gather(col: Col, st: KStep) -> f32 {
    let iy = col.y0 + st.ty;
    let ix = col.x0 + st.tx;
    if (col.ok && st.k < p.k && iy >= 0 && iy < i32(p.hx) && ix >= 0 && ix < i32(p.wx)) {
        return x[col.xbase + st.off + u32(iy) * p.wx + u32(ix)];
    }
    return 0.0;
}

fn a_at(i: u32) -> f32 {
    return a4[i / 4u][i % 4u];
}

// Four consecutive steps of the k walk: one chunk of block_fma. The next chunk starts at
// kstep_next(ch.s3).
struct KChunk {
    s0: KStep,
    s1: KStep,
    s2: KStep,
    s3: KStep,
}

fn kchunk(st: KStep) -> KChunk {
    let s1 = kstep_next(st);
    let s2 = kstep_next(s1);
    return KChunk(st, s1, s2, kstep_next(s2));
}

// A[m, k] for the 4 steps of a chunk; k past K gives 0 (so gathered garbage cannot count).
fn a_chunk(m: u32, ch: KChunk) -> vec4<f32> {
    let row = min(m, p.m - 1u) * a_stride();
    if (A_VEC4) {
        // The 4 steps are consecutive in A and the chunk never straddles K (K % 4 = 0).
        return select(vec4<f32>(0.0), a4[(row + ch.s0.a_off) / 4u], ch.s0.k < p.k);
    }
    return vec4<f32>(
        select(0.0, a_at(row + ch.s0.a_off), ch.s0.k < p.k),
        select(0.0, a_at(row + ch.s1.a_off), ch.s1.k < p.k),
        select(0.0, a_at(row + ch.s2.a_off), ch.s2.k < p.k),
        select(0.0, a_at(row + ch.s3.a_off), ch.s3.k < p.k));
}

// Rows m0..m0+7 of A at one chunk.
fn a_rows(m0: u32, ch: KChunk) -> AChunk {
    return AChunk(a_chunk(m0, ch), a_chunk(m0 + 1u, ch), a_chunk(m0 + 2u, ch), a_chunk(m0 + 3u, ch),
                  a_chunk(m0 + 4u, ch), a_chunk(m0 + 5u, ch), a_chunk(m0 + 6u, ch), a_chunk(m0 + 7u, ch));
}

// One column's gathered values at the chunk's 4 steps.
fn gather4(col: Col, ch: KChunk) -> vec4<f32> {
    return vec4<f32>(gather(col, ch.s0), gather(col, ch.s1), gather(col, ch.s2), gather(col, ch.s3));
}

// The 8 consecutive columns from n0.
struct Cols8 {
    c0: Col,
    c1: Col,
    c2: Col,
    c3: Col,
    c4: Col,
    c5: Col,
    c6: Col,
    c7: Col,
}

fn cols8(n0: u32, ph: Phase) -> Cols8 {
    return Cols8(col_info(n0, ph), col_info(n0 + 1u, ph), col_info(n0 + 2u, ph), col_info(n0 + 3u, ph),
                 col_info(n0 + 4u, ph), col_info(n0 + 5u, ph), col_info(n0 + 6u, ph), col_info(n0 + 7u, ph));
}

// The B chunk of 8 columns, each gathered by this invocation (32 gathers).
fn gather_b(c: Cols8, ch: KChunk) -> BChunk {
    let g0 = gather4(c.c0, ch);
    let g1 = gather4(c.c1, ch);
    let g2 = gather4(c.c2, ch);
    let g3 = gather4(c.c3, ch);
    let g4 = gather4(c.c4, ch);
    let g5 = gather4(c.c5, ch);
    let g6 = gather4(c.c6, ch);
    let g7 = gather4(c.c7, ch);
    return BChunk(
        vec4<f32>(g0.x, g1.x, g2.x, g3.x), vec4<f32>(g4.x, g5.x, g6.x, g7.x),
        vec4<f32>(g0.y, g1.y, g2.y, g3.y), vec4<f32>(g4.y, g5.y, g6.y, g7.y),
        vec4<f32>(g0.z, g1.z, g2.z, g3.z), vec4<f32>(g4.z, g5.z, g6.z, g7.z),
        vec4<f32>(g0.w, g1.w, g2.w, g3.w), vec4<f32>(g4.w, g5.w, g6.w, g7.w));
}

// The epilogue: bias for CONV/CONVT, accumulation for WGRAD. Skips rows past M.
fn store(m: u32, col: Col, v: f32, z: u32) {
    if (m >= p.m || !col.ok) {
        return;
    }
    if (MODE == MODE_WGRAD) {
        let i = (z * p.m + m) * p.n + col.dst;
        if (p.accumulate != 0u) {
            out[i] = out[i] + v;
        } else {
            out[i] = v;
        }
    } else {
        var r = v;
        // Split MODE_CONV: out is the partials [S, B, M, Ho, Wo]; split 0 carries the bias.
        if (p.has_bias != 0u && (z == 0u || !conv_split())) {
            r += bias[m];
        }
        var slice = 0u;
        if (conv_split()) {
            slice = z * p.batch * p.m * p.ho * p.wo;
        }
        out[slice + col.dst + m * p.ho * p.wo] = r;
    }
}

fn store_row(m: u32, c: Cols8, lo: vec4<f32>, hi: vec4<f32>, z: u32) {
    store(m, c.c0, lo.x, z);
    store(m, c.c1, lo.y, z);
    store(m, c.c2, lo.z, z);
    store(m, c.c3, lo.w, z);
    store(m, c.c4, hi.x, z);
    store(m, c.c5, hi.y, z);
    store(m, c.c6, hi.z, z);
    store(m, c.c7, hi.w, z);
}

// The 8×8 block of rows m0.. and columns `c` through the epilogue.
fn store_block(m0: u32, c: Cols8, acc: Block8x8, z: u32) {
    store_row(m0, c, acc.c00, acc.c01, z);
    store_row(m0 + 1u, c, acc.c10, acc.c11, z);
    store_row(m0 + 2u, c, acc.c20, acc.c21, z);
    store_row(m0 + 3u, c, acc.c30, acc.c31, z);
    store_row(m0 + 4u, c, acc.c40, acc.c41, z);
    store_row(m0 + 5u, c, acc.c50, acc.c51, z);
    store_row(m0 + 6u, c, acc.c60, acc.c61, z);
    store_row(m0 + 7u, c, acc.c70, acc.c71, z);
}

// Split-K in MODE_CONV (k_split > 0): a forward with a handful of tiles and a deep K (the
// discriminator's last layer: M = 1, N = B, K = 8 192) would leave one workgroup walking all of K.
fn conv_split() -> bool {
    return MODE == MODE_CONV && p.k_split != 0u;
}

// The k range of grid slice z: all of K, or split z (MODE_WGRAD, split MODE_CONV).
fn k_range(z: u32) -> vec2<u32> {
    if (MODE == MODE_WGRAD || conv_split()) {
        let begin = z * p.k_split;
        return vec2<u32>(begin, min(p.k, begin + p.k_split));
    }
    return vec2<u32>(0u, p.k);
}

// ---------------------------------------------------------------- register block (no subgroups)
@compute @workgroup_size(64)
fn conv_gemm_regblock(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let ph = phase_of(wid.z);
    let col_lanes = 64u / ROW_LANES;
    let m0 = (wid.y * ROW_LANES + lid / col_lanes) * 8u;   // 8 consecutive rows
    let n0 = (wid.x * col_lanes + lid % col_lanes) * 8u;   // 8 consecutive columns
    let cols = cols8(n0, ph);
    var acc: Block8x8;
    let kr = k_range(wid.z);
    var st = kstep_at(kr.x, wid.z);
    for (var kb = kr.x; kb < kr.y; kb += 4u) {
        let ch = kchunk(st);
        st = kstep_next(ch.s3);
        acc = block_fma(acc, a_rows(m0, ch), gather_b(cols, ch));
    }
    store_block(m0, cols, acc, wid.z);
}

// ---------------------------------------------------------------- workgroup-memory tiles
const T_BK: u32 = 16u;
// vec4 along m (A) and n (G), so one workgroup load feeds 4 rows or 4 columns and the 4×4 block
// is gemm_block.wgsl's Block4x4 (a private array indexed in loops went to local memory on
// NVIDIA's compiler: see matmul.wgsl's tiled kernel and PERF.md).
var<workgroup> tile_a: array<vec4<f32>, 256>;  // [T_BK][64 / 4]: k-major, vec4 over m
var<workgroup> tile_g: array<vec4<f32>, 256>;  // [T_BK][64 / 4]: k-major, vec4 over n

@compute @workgroup_size(256)
fn conv_gemm_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let ph = phase_of(wid.z);
    let tm0 = wid.y * 64u;
    let tn0 = wid.x * 64u;
    // Staging: invocation lid loads row/column lid % 64 at k = lid / 64 + 4·r, r < 4, so its
    // column (and A row) is fixed and decoded once.
    let lane64 = lid % 64u;
    let stage_col = col_info(tn0 + lane64, ph);
    let stage_row = min(tm0 + lane64, p.m - 1u) * a_stride();
    let stage_row_ok = tm0 + lane64 < p.m;
    // Compute: rows 4·ty..4·ty+3 × columns 4·tx..4·tx+3 of the tile.
    let tx = lid % 16u;
    let ty = lid / 16u;
    var acc: Block4x4;  // zero-initialised
    let kr = k_range(wid.z);
    for (var k0 = kr.x; k0 < kr.y; k0 += T_BK) {
        for (var r = 0u; r < 4u; r++) {
            let kk = lid / 64u + 4u * r;
            let st = kstep_at(k0 + kk, wid.z);
            var av = 0.0;
            // k_split is a multiple of T_BK when tiled, so a stage never crosses a split.
            if (stage_row_ok && st.k < kr.y) {
                av = a_at(stage_row + st.a_off);
            }
            tile_a[kk * 16u + lane64 / 4u][lane64 % 4u] = av;
            var gv = 0.0;
            if (st.k < kr.y) {
                gv = gather(stage_col, st);
            }
            tile_g[kk * 16u + lane64 / 4u][lane64 % 4u] = gv;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < T_BK; kk++) {
            acc = outer_fma4(acc, tile_a[kk * 16u + ty], tile_g[kk * 16u + tx]);
        }
        workgroupBarrier();
    }
    let m0 = tm0 + 4u * ty;
    for (var j = 0u; j < 4u; j++) {
        let col = col_info(tn0 + 4u * tx + j, ph);
        store(m0, col, acc.c0[j], wid.z);
        store(m0 + 1u, col, acc.c1[j], wid.z);
        store(m0 + 2u, col, acc.c2[j], wid.z);
        store(m0 + 3u, col, acc.c3[j], wid.z);
    }
}

// ---------------------------------------------------------------- weight repack for MODE_CONVT
// a_out[z][m][(c, jy, jx)] = w[c, m, ry + s·jy, rx + s·jx], 0 where the tap lies past KH/KW.
// w is [Cx, M, KH, KW]; a_out is [s², M, Cx·JY·JX]. 1 invocation = 1 element of a_out.
@compute @workgroup_size(256)
fn conv_repack_convt(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    let per_phase = rp.m * rp.k;
    if (i >= rp.stride * rp.stride * per_phase) { return; }
    let z = i / per_phase;
    let rem = i - z * per_phase;
    let m = rem / rp.k;
    let kk = rem - m * rp.k;
    let taps = rp.jy * rp.jx;
    let c = kk / taps;
    let t = kk - c * taps;
    let jy = t / rp.jx;
    let jx = t - jy * rp.jx;
    let ky = z / rp.stride + rp.stride * jy;
    let kx = z % rp.stride + rp.stride * jx;
    var v = 0.0;
    if (ky < rp.kh && kx < rp.kw) {
        v = w_convt[((c * rp.m + m) * rp.kh + ky) * rp.kw + kx];
    }
    a_out[i] = v;
}
