// projection.wgsl — the head of the projection discriminator (Miyato & Koyama 2018):
//          D(x, y) = ψ(φ(x)) + ⟨embed(y), φ(x)⟩ with ψ(φ) = w·φ + bias, a Linear(F, 1).
//
// MATH     projection_forward:         out[b] = Σ_f φ[b, f] · (w[f] + E[y_b, f])  (+ bias[0] if
//                                      with_bias). The pass of the backward of the backward
//                                      is the same sum on the adjoint A in place of φ, no bias.
//          projection_backward_input:  dφ[b, f] = g[b] · (w[f] + E[y_b, f])
//          projection_backward_params: dw[f]    += Σ_b g[b] · φ[b, f]
//                                      dE[k, f] += Σ_{b : y_b = k} g[b] · φ[b, f]
//                                      dbias[0] += Σ_b g[b]            (with_bias only)
//          Every sum runs over b in ascending order (no atomics): the embedding's gradient is a
//          fixed-order scatter-add, so the result does not depend on the schedule.
// LAYOUT   φ (phi), dφ: [B, F] row-major. y: u32 [B], each < K (the launcher does not read
//          labels; a label ≥ K reads 0 for E and adds to no row of dE). w, dw: [F] (PyTorch
//          Linear(F, 1).weight [1, F]); bias, dbias: [1]; E, dE: [K, F] (nn.Embedding(K, F)).
//          g (the upstream gradient ∂L/∂out) and out: [B].
// WORK     forward: 1 workgroup of WG = 256 = 1 sample; invocation t sums f = t, t + WG, …, then
//          workgroup_sum adds the 256 partial sums in a fixed tree.
//          backward_input: 1 invocation = 1 element of dφ.
//          backward_params: 1 invocation = 1 parameter: i < F → dw[i]; F ≤ i < F + K·F →
//          dE[(i − F) / F, (i − F) % F]; i = F + K·F → dbias (a loop over B each).
// GRID     forward: B workgroups folded to (x, y) (Grid::linear); b = wid.x + wid.y·nwg.x.
//          backward_input: ceil(B·F/256); backward_params: ceil((F + K·F + 1)/256), folded
//          (Grid::for_items); i = gid.x + gid.y·nwg.x·WG; guard i < items.
// WRITES   out, dφ: overwrite (=). dw, dE, dbias: accumulate (+=), as every parameter gradient.
// BINDINGS projection_forward:         0 phi r | 1 labels r (u32) | 2 w r | 3 bias r | 4 embed r |
//                                      5 out rw | 6 params
//          projection_backward_input:  0 g r | 1 labels r | 2 w r | 3 embed r | 4 dphi rw | 5 params
//          projection_backward_params: 0 g r | 1 labels r | 2 phi r | 3 dw rw | 4 dembed rw |
//                                      5 dbias rw | 6 params
// USE      workgroup_sum.wgsl is prepended (src/gpu/shaders.rs).
// REF      src/reference/projection.rs   TESTS src/check/cases/projection.rs (op "projection")

struct ProjectionParams {
    batch: u32,      // B
    features: u32,   // F
    classes: u32,    // K
    with_bias: u32,  // 1: add bias[0] (forward) / accumulate dbias (backward_params)
}

@group(0) @binding(0) var<storage, read> fw_phi: array<f32>;
@group(0) @binding(1) var<storage, read> fw_labels: array<u32>;
@group(0) @binding(2) var<storage, read> fw_w: array<f32>;
@group(0) @binding(3) var<storage, read> fw_bias: array<f32>;
@group(0) @binding(4) var<storage, read> fw_embed: array<f32>;
@group(0) @binding(5) var<storage, read_write> fw_out: array<f32>;
@group(0) @binding(6) var<uniform> fp: ProjectionParams;

// w[f] + E[y, f], with E's row read only for a valid label.
fn projected(w: f32, e: f32, y: u32, classes: u32) -> f32 {
    return select(w, w + e, y < classes);
}

@compute @workgroup_size(WG)
fn projection_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let b = wid.x + wid.y * nwg.x;
    // The whole workgroup leaves together, so workgroup_sum's barriers stay uniform.
    if (b >= fp.batch) { return; }
    let y = fw_labels[b];
    let row = min(y, fp.classes - 1u) * fp.features;
    var acc = 0.0;
    for (var f = lid; f < fp.features; f = f + WG) {
        acc = acc + fw_phi[b * fp.features + f] * projected(fw_w[f], fw_embed[row + f], y, fp.classes);
    }
    let total = workgroup_sum(lid, acc);
    if (lid == 0u) {
        fw_out[b] = total + select(0.0, fw_bias[0], fp.with_bias != 0u);
    }
}

@group(0) @binding(0) var<storage, read> bi_g: array<f32>;
@group(0) @binding(1) var<storage, read> bi_labels: array<u32>;
@group(0) @binding(2) var<storage, read> bi_w: array<f32>;
@group(0) @binding(3) var<storage, read> bi_embed: array<f32>;
@group(0) @binding(4) var<storage, read_write> bi_dphi: array<f32>;
@group(0) @binding(5) var<uniform> bip: ProjectionParams;

@compute @workgroup_size(WG)
fn projection_backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= bip.batch * bip.features) { return; }
    let b = i / bip.features;
    let f = i % bip.features;
    let y = bi_labels[b];
    let e = bi_embed[min(y, bip.classes - 1u) * bip.features + f];
    bi_dphi[i] = bi_g[b] * projected(bi_w[f], e, y, bip.classes);
}

@group(0) @binding(0) var<storage, read> bp_g: array<f32>;
@group(0) @binding(1) var<storage, read> bp_labels: array<u32>;
@group(0) @binding(2) var<storage, read> bp_phi: array<f32>;
@group(0) @binding(3) var<storage, read_write> bp_dw: array<f32>;
@group(0) @binding(4) var<storage, read_write> bp_dembed: array<f32>;
@group(0) @binding(5) var<storage, read_write> bp_dbias: array<f32>;
@group(0) @binding(6) var<uniform> pp: ProjectionParams;

@compute @workgroup_size(WG)
fn projection_backward_params(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let f_count = pp.features;
    let embed_count = pp.classes * f_count;
    if (i < f_count) {
        var acc = 0.0;
        for (var b = 0u; b < pp.batch; b = b + 1u) {
            acc = acc + bp_g[b] * bp_phi[b * f_count + i];
        }
        bp_dw[i] = bp_dw[i] + acc;
    } else if (i < f_count + embed_count) {
        let k = (i - f_count) / f_count;
        let f = (i - f_count) % f_count;
        var acc = 0.0;
        for (var b = 0u; b < pp.batch; b = b + 1u) {
            if (bp_labels[b] == k) {
                acc = acc + bp_g[b] * bp_phi[b * f_count + f];
            }
        }
        bp_dembed[i - f_count] = bp_dembed[i - f_count] + acc;
    } else if (i == f_count + embed_count && pp.with_bias != 0u) {
        var acc = 0.0;
        for (var b = 0u; b < pp.batch; b = b + 1u) {
            acc = acc + bp_g[b];
        }
        bp_dbias[0] = bp_dbias[0] + acc;
    }
}
