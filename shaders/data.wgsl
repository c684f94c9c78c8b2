// data.wgsl — training batches from a u8 dataset resident on the GPU: shuffled each epoch,
// augmented, scaled to [−1, 1]. No host work per step: the batch number comes from a GPU
// counter, the shuffle is a keyed permutation, the augmentation a counter-based draw.
//
// MATH     Batch j = counters[counter_index] (batches drawn so far), epoch e = j / batches_per_epoch,
//          slot s = j mod batches_per_epoch. Sample b of the batch is dataset image
//            idx = π_e(s·B + b)
//          where π_e is a bijection of [0, N): a 4-round Feistel network on 2·half_bits bits
//          (2^(2·half_bits) ≥ N) keyed by Philox(seed; counter (e, PERM_STREAM, 0, 0)), with
//          cycle walking (re-apply until the value is < N), so every epoch visits every image
//          once in a fresh order. The last N mod B images of an epoch are dropped (full
//          batches only: BatchNorm statistics need a fixed batch size).
//          Augmentation of sample b from w = Philox(seed; (j, AUG_STREAM, b, 0)):
//            flip  = flip_enabled ∧ (w0 & 1)            horizontal mirror
//            shift = (w1 mod (2S+1)) − S, (w2 mod (2S+1)) − S   for S = max_shift (y, x)
//            δ     = brightness · (2·(w3 >> 8)·2⁻²⁴ − 1)        added in [−1, 1] units
//          out[b, c, y, x] = clamp(px(idx, c, Y, X)/127.5 − 1 + δ, −1, 1) with
//            X' = x − shift_x, Y = clamp(y − shift_y, 0, size−1), X = clamp(flip ? size−1−X' : X', 0, size−1)
//          (edges are replicated where a shift uncovers them).
// LAYOUT   dataset: [N, C, size, size] u8, packed 4 per u32 (array<u32>), split into up to 4
//          chunks of images_per_chunk images (one storage binding holds at most 128 MiB on
//          many adapters). sample_info: [B, 2] vec4<u32> = (idx, flip, shift_y, shift_x),
//          (bits of δ, 0, 0, 0). out: [B, C, size, size] f32.
// WORK     batch_indices: 1 invocation = 1 sample (Feistel walk + one Philox block).
//          gather_batch: 1 invocation = 1 output element.
// GRID     batch_indices: ceil(B/64) workgroups of 64. gather_batch: ceil(B·C·size²/256)
//          workgroups of 256, folded to (x, y) (Grid::linear).
// WRITES   sample_info, out: overwrite (=).
// BINDINGS batch_indices: 0 counters r (u32) | 1 sample_info rw | 2 params
//          gather_batch:  0..3 dataset chunks r (u32) | 4 sample_info r | 5 out rw | 6 params
// USE      Appended to random.wgsl (src/gpu/shaders.rs): it uses its philox4x32_10 and its
//          `counters` binding.
// REF      src/reference/data.rs   TESTS src/check/cases/data.rs (op "data")

const PERM_STREAM: u32 = 0x5045524Du;  // "PERM"
const AUG_STREAM: u32 = 0x00415547u;   // "AUG"

struct DataParams {
    n_images: u32,           // N
    batch: u32,              // B
    channels: u32,           // C
    size: u32,               // image side
    batches_per_epoch: u32,  // floor(N / B)
    counter_index: u32,      // counters[counter_index] = batches drawn so far
    key_lo: u32,             // seed, low word
    key_hi: u32,             // seed, high word
    half_bits: u32,          // Feistel half width: 2^(2·half_bits) ≥ N
    flip: u32,               // 1: random horizontal flips
    max_shift: u32,          // random shifts of up to ± max_shift pixels
    brightness: f32,         // random brightness offsets of up to ± brightness
    images_per_chunk: u32,   // images in each dataset chunk binding
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// binding 0 of batch_indices is random.wgsl's `counters`.
@group(0) @binding(1) var<storage, read_write> info_out: array<vec4<u32>>;
@group(0) @binding(2) var<uniform> ip: DataParams;

@group(0) @binding(0) var<storage, read> chunk0: array<u32>;
@group(0) @binding(1) var<storage, read> chunk1: array<u32>;
@group(0) @binding(2) var<storage, read> chunk2: array<u32>;
@group(0) @binding(3) var<storage, read> chunk3: array<u32>;
@group(0) @binding(4) var<storage, read> sample_info: array<vec4<u32>>;
@group(0) @binding(5) var<storage, read_write> batch_out: array<f32>;
@group(0) @binding(6) var<uniform> gp: DataParams;

// The round function: murmur3's 32-bit finaliser of (half ⊕ round key).
fn feistel_round(half: u32, key: u32) -> u32 {
    var h = half ^ key;
    h ^= h >> 16u;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13u;
    h *= 0xC2B2AE35u;
    h ^= h >> 16u;
    return h;
}

fn feistel(v: u32, half_bits: u32, keys: vec4<u32>) -> u32 {
    let mask = (1u << half_bits) - 1u;
    var l = v >> half_bits;
    var r = v & mask;
    for (var i = 0u; i < 4u; i++) {
        let f = feistel_round(r, keys[i]) & mask;
        let next_r = l ^ f;
        l = r;
        r = next_r;
    }
    return (l << half_bits) | r;
}

// π(i) for i < n: walk the Feistel permutation until it lands below n. The walk stays on i's
// cycle, which contains i itself, so it ends; on average it takes 2^(2·half_bits)/n ≤ 4 steps.
fn permute(i: u32, n: u32, half_bits: u32, keys: vec4<u32>) -> u32 {
    var v = feistel(i, half_bits, keys);
    loop {
        if (v < n) { break; }
        v = feistel(v, half_bits, keys);
    }
    return v;
}

@compute @workgroup_size(64)
fn batch_indices(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.x;
    if (b >= ip.batch) { return; }
    let key = vec2<u32>(ip.key_lo, ip.key_hi);
    let j = counters[ip.counter_index];
    let epoch = j / ip.batches_per_epoch;
    let slot = j % ip.batches_per_epoch;
    let keys = philox4x32_10(vec4<u32>(epoch, PERM_STREAM, 0u, 0u), key);
    let idx = permute(slot * ip.batch + b, ip.n_images, ip.half_bits, keys);
    let w = philox4x32_10(vec4<u32>(j, AUG_STREAM, b, 0u), key);
    let span = 2u * ip.max_shift + 1u;
    let shift_y = i32(w.y % span) - i32(ip.max_shift);
    let shift_x = i32(w.z % span) - i32(ip.max_shift);
    let u = f32(w.w >> 8u) * 5.9604644775390625e-8;
    let delta = ip.brightness * (2.0 * u - 1.0);
    info_out[2u * b] = vec4<u32>(idx, ip.flip & w.x, bitcast<u32>(shift_y), bitcast<u32>(shift_x));
    info_out[2u * b + 1u] = vec4<u32>(bitcast<u32>(delta), 0u, 0u, 0u);
}

fn dataset_byte(idx: u32, offset: u32) -> u32 {
    let chunk = idx / gp.images_per_chunk;
    let local = idx - chunk * gp.images_per_chunk;
    let byte = local * gp.channels * gp.size * gp.size + offset;
    var word = 0u;
    switch chunk {
        case 0u: { word = chunk0[byte / 4u]; }
        case 1u: { word = chunk1[byte / 4u]; }
        case 2u: { word = chunk2[byte / 4u]; }
        default: { word = chunk3[byte / 4u]; }
    }
    return (word >> (8u * (byte % 4u))) & 0xFFu;
}

@compute @workgroup_size(256)
fn gather_batch(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    let plane = gp.size * gp.size;
    let per_sample = gp.channels * plane;
    if (i >= gp.batch * per_sample) { return; }
    let b = i / per_sample;
    let rem = i - b * per_sample;
    let c = rem / plane;
    let y = (rem - c * plane) / gp.size;
    let x = rem - c * plane - y * gp.size;
    let info = sample_info[2u * b];
    let delta = bitcast<f32>(sample_info[2u * b + 1u].x);
    let last = i32(gp.size) - 1;
    let sy = clamp(i32(y) - bitcast<i32>(info.z), 0, last);
    var sx = i32(x) - bitcast<i32>(info.w);
    if (info.y != 0u) {
        sx = last - sx;
    }
    sx = clamp(sx, 0, last);
    let px = dataset_byte(info.x, (c * gp.size + u32(sy)) * gp.size + u32(sx));
    batch_out[i] = clamp(f32(px) / 127.5 - 1.0 + delta, -1.0, 1.0);
}
