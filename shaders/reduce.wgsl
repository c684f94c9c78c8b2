// reduce.wgsl — fixed-order sums: per-channel sums (bias gradients of conv, conv-transpose,
// linear) and sums over a leading axis (the split-K partials of conv.wgsl's weight gradients).
//
// MATH     sum_channels:  out[c] (+)= Σ_{b<B, i<inner} x[b, c, i]
//          x is [B, C, inner] (NCHW with inner = H·W; a linear layer's [B, C] has inner = 1).
//          sum_leading:   out[i] (+)= Σ_{s<S} x[s, i]   for i < inner, s in increasing order.
// ORDER    Fixed: thread t of the workgroup adds the elements t, t+WG, t+2·WG, … of the
//          channel (flattened over (b, i)) in that order, then a binary tree over the WG
//          partial sums in workgroup memory. No atomics, so a rerun on the same adapter is
//          bit-identical.
// WORK     sum_channels: 1 workgroup = 1 channel; WG = 256 invocations, each a strided share
//          of B·inner.  sum_leading: 1 invocation = 1 output element, S loads in order.
// GRID     sum_channels: C workgroups folded to (x, y) (Grid::linear); channel = wid.x +
//          wid.y·nwg.x; guard c < C.  sum_leading: ceil(inner/256) workgroups folded to (x, y).
// WRITES   out: accumulate (+=) when accumulate = 1 (parameter gradients), overwrite otherwise.
// BINDINGS 0 x r | 1 out rw | 2 params
// REF      src/reference/reduce.rs   TESTS src/check/cases/reduce.rs (op "reduce")

const WG: u32 = 256u;

struct ReduceParams {
    batch: u32,       // B (sum_leading: S, the number of slices summed)
    channels: u32,    // C (sum_leading: unused)
    inner: u32,       // elements per (b, c): H·W (sum_leading: elements per slice)
    accumulate: u32,  // 1: out += sum, 0: out = sum
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: ReduceParams;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn sum_channels(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let c = wid.x + wid.y * nwg.x;
    // c is uniform across the workgroup, so this early exit cannot split a barrier.
    if (c >= p.channels) { return; }
    let count = p.batch * p.inner;
    var acc = 0.0;
    for (var e = t; e < count; e += WG) {
        let b = e / p.inner;
        let i = e - b * p.inner;
        acc += x[(b * p.channels + c) * p.inner + i];
    }
    partial[t] = acc;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
        if (t < half) {
            partial[t] += partial[t + half];
        }
        workgroupBarrier();
    }
    if (t == 0u) {
        if (p.accumulate != 0u) {
            out[c] += partial[0];
        } else {
            out[c] = partial[0];
        }
    }
}

@compute @workgroup_size(WG)
fn sum_leading(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.inner) { return; }
    var acc = 0.0;
    for (var s = 0u; s < p.batch; s++) {
        acc += x[s * p.inner + i];
    }
    if (p.accumulate != 0u) {
        out[i] += acc;
    } else {
        out[i] = acc;
    }
}
