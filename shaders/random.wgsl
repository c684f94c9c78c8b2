// random.wgsl — counter-based random numbers: Philox4x32-10 bits, uniform and normal samples.
//
// MATH     Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11):
//          10 rounds of  (c0,c1,c2,c3) → (hi(M1·c2) ⊕ c1 ⊕ k0, lo(M1·c2), hi(M0·c0) ⊕ c3 ⊕ k1, lo(M0·c0))
//          with M0 = 0xD2511F53, M1 = 0xCD9E8D57 and the key bumped by (0x9E3779B9, 0xBB67AE85)
//          between rounds. Matches Random123's philox4x32_10 known-answer vectors.
//          Counter of output block i: (i, stream, step, 0), step = counters[counter_index]
//          (a GPU-resident u32, so each training step draws fresh numbers without a host
//          write); key = (key_lo, key_hi) = the seed. Block i gives outputs 4i..4i+3, so every
//          output depends only on (seed, stream, step, its index): the same for any dispatch
//          size or adapter.
//          rng_bits:    the 4 raw u32 words.
//          rng_uniform: a + (b − a)·u,  u = (w >> 8)·2⁻²⁴ ∈ [0, 1)  (exact in f32).
//          rng_normal:  a + b·z, z from Box–Muller on word pairs (w0, w1) and (w2, w3):
//                       u1 = ((w0 >> 8) + 1)·2⁻²⁴ ∈ (0, 1], u2 = (w1 >> 8)·2⁻²⁴,
//                       z0 = sqrt(−2 ln u1)·cos(2π u2), z1 = sqrt(−2 ln u1)·sin(2π u2).
//          dropout_forward: element i keeps its value, scaled by 1/(1 − a), when
//                       u_i = (w_(i mod 4) of block ⌊i/4⌋ >> 8)·2⁻²⁴ ≥ a (= the drop rate),
//                       else 0; mask_i = that factor (1/(1 − a) or 0), y_i = x_i · mask_i.
//                       The backward is dx = dy ⊙ mask (elementwise.wgsl:mul).
// LAYOUT   out: contiguous, padded to a multiple of 4 → array<vec4<f32>> (array<vec4<u32>> for bits).
// WORK     1 invocation = 1 Philox block = 4 outputs (dropout: 4 elements). WG = 256.
// GRID     ceil(n4/256) workgroups folded to (x, y) (Grid::linear); i = gid.x + gid.y·nwg.x·WG; guard i < n4.
// WRITES   out, y, mask: overwrite (=).
// BINDINGS rng_*:           0 counters r (u32) | 1 out rw | 2 params
//          dropout_forward: 0 counters r (u32) | 1 x r | 2 y rw | 3 mask rw | 4 params
// REF      src/reference/random.rs   TESTS src/check/cases/random.rs (op "random")

const WG: u32 = 256u;
const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;
const TWO_POW_M24: f32 = 5.9604644775390625e-8;  // 2⁻²⁴
const TWO_PI: f32 = 6.283185307179586;

struct RngParams {
    n4: u32,             // ceil(n / 4) blocks
    key_lo: u32,         // seed, low word
    key_hi: u32,         // seed, high word
    stream: u32,         // which independent sequence (latents, dropout, init, ...)
    counter_index: u32,  // step = counters[counter_index]
    a: f32,              // uniform: low end; normal: mean; dropout: drop probability
    b: f32,              // uniform: high end; normal: standard deviation
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> counters: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out_bits: array<vec4<u32>>;
@group(0) @binding(2) var<uniform> p: RngParams;

@group(0) @binding(1) var<storage, read> drop_x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> drop_y: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> drop_mask: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> dp: RngParams;

// (high, low) words of the 64-bit product a·b, from 16-bit halves (WGSL has no 64-bit ints).
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xFFFFu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xFFFFu;
    let b_hi = b >> 16u;
    let p0 = a_lo * b_lo;
    let p1 = a_lo * b_hi;
    let p2 = a_hi * b_lo;
    let p3 = a_hi * b_hi;
    let mid = (p0 >> 16u) + (p1 & 0xFFFFu) + (p2 & 0xFFFFu);  // ≤ 3·0xFFFF: no overflow
    let hi = p3 + (p1 >> 16u) + (p2 >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox4x32_10(counter: vec4<u32>, key_in: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key_in;
    for (var r = 0u; r < 10u; r++) {
        if (r > 0u) {
            k = k + vec2<u32>(PHILOX_W0, PHILOX_W1);
        }
        let r0 = mulhilo(PHILOX_M0, c.x);
        let r1 = mulhilo(PHILOX_M1, c.z);
        c = vec4<u32>(r1.x ^ c.y ^ k.x, r1.y, r0.x ^ c.w ^ k.y, r0.y);
    }
    return c;
}

fn block_bits(i: u32) -> vec4<u32> {
    let step = counters[p.counter_index];
    return philox4x32_10(vec4<u32>(i, p.stream, step, 0u), vec2<u32>(p.key_lo, p.key_hi));
}

fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn rng_bits(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n4) { return; }
    out_bits[i] = block_bits(i);
}

@compute @workgroup_size(WG)
fn rng_uniform(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n4) { return; }
    let u = vec4<f32>(block_bits(i) >> vec4<u32>(8u)) * TWO_POW_M24;
    out[i] = p.a + (p.b - p.a) * u;
}

@compute @workgroup_size(WG)
fn rng_normal(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n4) { return; }
    let w = block_bits(i);
    let u1 = (vec2<f32>(vec2<u32>(w.x, w.z) >> vec2<u32>(8u)) + 1.0) * TWO_POW_M24;  // (0, 1]
    let u2 = vec2<f32>(vec2<u32>(w.y, w.w) >> vec2<u32>(8u)) * TWO_POW_M24;          // [0, 1)
    let r = sqrt(-2.0 * log(u1));
    let theta = TWO_PI * u2;
    let z = vec4<f32>(r.x * cos(theta.x), r.x * sin(theta.x), r.y * cos(theta.y), r.y * sin(theta.y));
    out[i] = p.a + p.b * z;
}

@compute @workgroup_size(WG)
fn dropout_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= dp.n4) { return; }
    let step = counters[dp.counter_index];
    let w = philox4x32_10(vec4<u32>(i, dp.stream, step, 0u), vec2<u32>(dp.key_lo, dp.key_hi));
    let u = vec4<f32>(w >> vec4<u32>(8u)) * TWO_POW_M24;
    let mask = select(vec4<f32>(0.0), vec4<f32>(1.0 / (1.0 - dp.a)), u >= vec4<f32>(dp.a));
    drop_mask[i] = mask;
    drop_y[i] = drop_x[i] * mask;
}
