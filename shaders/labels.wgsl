// labels.wgsl — class labels for conditional models: random labels for the generator, the
// labels of a training batch, wrong labels for a matching-aware discriminator (Reed et al.
// 2016), and a label appended to a tensor as one-hot channels (Mirza & Osindero 2014: y joins z
// in G's input and x in D's input).
//
// MATH     random_labels:  y_i = ⌊w_i · K / 2³²⌋ = hi32(w_i · K) ∈ [0, K), w_i = word (i mod 4) of
//                          Philox block ⌊i/4⌋ at counter (⌊i/4⌋, stream, counters[counter_index], 0)
//                          under key = seed (random.wgsl). Bias ≤ K/2³² per class.
//          mismatched_labels: ŷ_i = (y_i + 1 + hi32(w_i · (K − 1))) mod K, w_i the word
//                          random_labels would use: a label uniform over the K − 1 classes
//                          other than y_i (never y_i itself; K ≥ 2, each y_i < K).
//          gather_labels:  y_b = dataset_labels[idx_b], idx_b = sample_info[2b].x, the dataset
//                          image data.wgsl's batch_indices chose for sample b.
//          concat_one_hot: out[b, c, p] = x[b, c, p]           for c < C
//                                       = [y_b = c − C]  (1 or 0) for C ≤ c < C + K
//          concat_one_hot_backward: dx[b, c, p] = dout[b, c, p] for c < C (the label channels
//                          carry no gradient: labels are not differentiable).
// LAYOUT   x: [B, C, P] f32, out/dout: [B, C + K, P] f32, P = the product of the trailing dims
//          (H·W for images, 1 for vectors such as z). Labels: u32 [B]. dataset_labels: u32 [N].
//          sample_info: [B, 2] vec4<u32> as data.wgsl writes it.
// WORK     random_labels, mismatched_labels: 1 invocation = 1 label (one Philox block per
//          label: the 3 unused words cost less than a second pass). gather_labels: 1 invocation = 1 label.
//          concat_one_hot: 1 invocation = 1 output element. backward: 1 invocation = 1 dx element.
// GRID     ceil(items/256) workgroups folded to (x, y) (Grid::for_items); i = gid.x + gid.y·nwg.x·WG;
//          guard i < items.
// WRITES   labels, out, dx: overwrite (=).
// BINDINGS random_labels:           0 counters r (u32) | 1 labels rw (u32) | 2 params
//          mismatched_labels:       0 counters r (u32) | 1 given r (u32) | 2 labels rw (u32) | 3 params
//          gather_labels:           0 dataset_labels r (u32) | 1 sample_info r | 2 labels rw (u32) | 3 params
//          concat_one_hot:          0 x r | 1 labels r (u32) | 2 out rw | 3 params
//          concat_one_hot_backward: 0 dout r | 1 dx rw | 2 params
// USE      Appended to random.wgsl (src/gpu/shaders.rs): it uses its philox4x32_10, mulhilo and
//          `counters`.
// REF      src/reference/labels.rs   TESTS src/check/cases/labels.rs (op "labels")

struct LabelParams {
    batch: u32,          // B (random_labels: labels drawn)
    classes: u32,        // K
    channels: u32,       // C, channels of x
    plane: u32,          // P, values per channel
    key_lo: u32,         // seed, low word
    key_hi: u32,         // seed, high word
    stream: u32,         // the Philox stream of the labels
    counter_index: u32,  // step = counters[counter_index]
}

@group(0) @binding(1) var<storage, read_write> labels_drawn: array<u32>;
@group(0) @binding(2) var<uniform> rp: LabelParams;

@group(0) @binding(1) var<storage, read> mismatch_given: array<u32>;
@group(0) @binding(2) var<storage, read_write> mismatch_drawn: array<u32>;
@group(0) @binding(3) var<uniform> mp: LabelParams;

@group(0) @binding(0) var<storage, read> dataset_labels: array<u32>;
@group(0) @binding(1) var<storage, read> batch_info: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> labels_gathered: array<u32>;
@group(0) @binding(3) var<uniform> gp_labels: LabelParams;

@group(0) @binding(0) var<storage, read> cat_x: array<f32>;
@group(0) @binding(1) var<storage, read> cat_labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> cat_out: array<f32>;
@group(0) @binding(3) var<uniform> cp: LabelParams;

@group(0) @binding(0) var<storage, read> cat_dout: array<f32>;
@group(0) @binding(1) var<storage, read_write> cat_dx: array<f32>;
@group(0) @binding(2) var<uniform> bp: LabelParams;

@compute @workgroup_size(WG)
fn random_labels(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= rp.batch) { return; }
    let step = counters[rp.counter_index];
    let w = philox4x32_10(vec4<u32>(i / 4u, rp.stream, step, 0u), vec2<u32>(rp.key_lo, rp.key_hi));
    labels_drawn[i] = mulhilo(w[i % 4u], rp.classes).x;
}

@compute @workgroup_size(WG)
fn mismatched_labels(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= mp.batch) { return; }
    let step = counters[mp.counter_index];
    let w = philox4x32_10(vec4<u32>(i / 4u, mp.stream, step, 0u), vec2<u32>(mp.key_lo, mp.key_hi));
    // A shift in [1, K − 1]: every other class equally likely, the given one never.
    let shift = 1u + mulhilo(w[i % 4u], mp.classes - 1u).x;
    mismatch_drawn[i] = (mismatch_given[i] + shift) % mp.classes;
}

@compute @workgroup_size(WG)
fn gather_labels(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let b = gid.x + gid.y * nwg.x * WG;
    if (b >= gp_labels.batch) { return; }
    labels_gathered[b] = dataset_labels[batch_info[2u * b].x];
}

@compute @workgroup_size(WG)
fn concat_one_hot(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let width = cp.channels + cp.classes;
    let per_sample = width * cp.plane;
    if (i >= cp.batch * per_sample) { return; }
    let b = i / per_sample;
    let rem = i - b * per_sample;
    let c = rem / cp.plane;
    let pix = rem - c * cp.plane;
    if (c < cp.channels) {
        cat_out[i] = cat_x[(b * cp.channels + c) * cp.plane + pix];
    } else {
        cat_out[i] = select(0.0, 1.0, cat_labels[b] == c - cp.channels);
    }
}

@compute @workgroup_size(WG)
fn concat_one_hot_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let per_sample = bp.channels * bp.plane;
    if (i >= bp.batch * per_sample) { return; }
    let b = i / per_sample;
    let rem = i - b * per_sample;
    cat_dx[i] = cat_dout[b * (bp.channels + bp.classes) * bp.plane + rem];
}
