// embedding.wgsl — a learned class embedding (PyTorch nn.Embedding) and the concatenation of
// per-sample vectors to a tensor as constant planes: with them a conditional model takes its
// label as E[y] instead of one-hot (--label-embedding N): G's input cat(z, E_G[y]), D's input
// the image with N planes of E_D[y] (Mirza & Osindero 2014 with a learned code).
//
// MATH     embedding_forward:       out[b, n] = E[y_b, n]            (0 for a label y_b ≥ K)
//          embedding_backward:      dE[k, n] += Σ_{b : y_b = k} dout[b, n]
//                                   b ascending: a fixed-order scatter-add (no atomics), so the
//                                   result does not depend on the schedule.
//          concat_planes:           out[b, c, p] = x[b, c, p]        for c < C
//                                                = v[b, c − C]       for C ≤ c < C + N
//          concat_planes_backward:  dv[b, n] = Σ_p dout[b, C + n, p]  (p ascending)
//                                   (∂L/∂x is dout's first C channels: labels.wgsl's
//                                   concat_one_hot_backward with K = N.)
// LAYOUT   E, dE: [K, N] row-major (nn.Embedding(K, N).weight). Labels: u32 [B]. out of the
//          embedding, v, dv: [B, N]. x: [B, C, P], out/dout of the concatenation: [B, C + N, P],
//          P = the product of the trailing dims (H·W for images, 1 for z or a flat MLP input).
// WORK     embedding_forward: 1 invocation = 1 element of out. embedding_backward: 1 invocation
//          = 1 element of dE, a loop over the B labels. concat_planes: 1 invocation = 1 output
//          element. concat_planes_backward: 1 invocation = 1 element of dv, a loop over P
//          (≤ 128² for the largest DCGAN; B·N invocations is few, but the pass is ~0.1 % of a
//          discriminator backward).
// GRID     ceil(items/256) workgroups folded to (x, y) (Grid::for_items); i = gid.x + gid.y·nwg.x·WG;
//          guard i < items.
// WRITES   out, dv: overwrite (=). dE: accumulate (+=), as every parameter gradient.
// BINDINGS embedding_forward:      0 labels r (u32) | 1 embed r | 2 out rw | 3 params
//          embedding_backward:     0 labels r (u32) | 1 dout r | 2 dembed rw | 3 params
//          concat_planes:          0 x r | 1 v r | 2 out rw | 3 params
//          concat_planes_backward: 0 dout r | 1 dv rw | 2 params
// REF      src/reference/embedding.rs   TESTS src/check/cases/embedding.rs (op "embedding")

const WG: u32 = 256u;

struct EmbeddingParams {
    batch: u32,     // B
    classes: u32,   // K (embedding passes)
    dim: u32,       // N, values per label (the vector width, the planes appended)
    channels: u32,  // C, channels of x (concatenation passes)
    plane: u32,     // P, values per channel (concatenation passes)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> ef_labels: array<u32>;
@group(0) @binding(1) var<storage, read> ef_embed: array<f32>;
@group(0) @binding(2) var<storage, read_write> ef_out: array<f32>;
@group(0) @binding(3) var<uniform> efp: EmbeddingParams;

@group(0) @binding(0) var<storage, read> eb_labels: array<u32>;
@group(0) @binding(1) var<storage, read> eb_dout: array<f32>;
@group(0) @binding(2) var<storage, read_write> eb_dembed: array<f32>;
@group(0) @binding(3) var<uniform> ebp: EmbeddingParams;

@group(0) @binding(0) var<storage, read> cf_x: array<f32>;
@group(0) @binding(1) var<storage, read> cf_v: array<f32>;
@group(0) @binding(2) var<storage, read_write> cf_out: array<f32>;
@group(0) @binding(3) var<uniform> cfp: EmbeddingParams;

@group(0) @binding(0) var<storage, read> cb_dout: array<f32>;
@group(0) @binding(1) var<storage, read_write> cb_dv: array<f32>;
@group(0) @binding(2) var<uniform> cbp: EmbeddingParams;

@compute @workgroup_size(WG)
fn embedding_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= efp.batch * efp.dim) { return; }
    let b = i / efp.dim;
    let n = i - b * efp.dim;
    let y = ef_labels[b];
    // An out-of-range label reads no row (the host checks labels; this keeps reads in bounds).
    ef_out[i] = select(0.0, ef_embed[min(y, efp.classes - 1u) * efp.dim + n], y < efp.classes);
}

@compute @workgroup_size(WG)
fn embedding_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= ebp.classes * ebp.dim) { return; }
    let k = i / ebp.dim;
    let n = i - k * ebp.dim;
    var sum = 0.0;
    for (var b = 0u; b < ebp.batch; b = b + 1u) {
        if (eb_labels[b] == k) {
            sum = sum + eb_dout[b * ebp.dim + n];
        }
    }
    eb_dembed[i] = eb_dembed[i] + sum;
}

@compute @workgroup_size(WG)
fn concat_planes(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let per_sample = (cfp.channels + cfp.dim) * cfp.plane;
    if (i >= cfp.batch * per_sample) { return; }
    let b = i / per_sample;
    let rem = i - b * per_sample;
    let c = rem / cfp.plane;
    let pix = rem - c * cfp.plane;
    if (c < cfp.channels) {
        cf_out[i] = cf_x[(b * cfp.channels + c) * cfp.plane + pix];
    } else {
        cf_out[i] = cf_v[b * cfp.dim + (c - cfp.channels)];
    }
}

@compute @workgroup_size(WG)
fn concat_planes_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= cbp.batch * cbp.dim) { return; }
    let b = i / cbp.dim;
    let n = i - b * cbp.dim;
    let first = ((b * (cbp.channels + cbp.dim)) + cbp.channels + n) * cbp.plane;
    var sum = 0.0;
    for (var p = 0u; p < cbp.plane; p = p + 1u) {
        sum = sum + cb_dout[first + p];
    }
    cb_dv[i] = sum;
}
