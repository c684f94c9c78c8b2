// elementwise.wgsl — small helpers: fill, copy, scale, axpy, axpby, and the GPU step counter.
//
// MATH     fill:    y = value
//          copy:    y = x
//          scale:   y = alpha·x
//          axpy:    y = alpha·x + y          (in place on y)
//          axpby:   z = alpha·x + beta·y
//          mul:     z = x ⊙ y
//          clamp:   y = min(max(y, alpha), beta)   (in place: WGAN's weight clipping)
//          counter_add: counters[index] += delta   (one u32; see src/ops/elementwise.rs)
// LAYOUT   every tensor is a contiguous range padded to a multiple of 4 f32 (src/gpu/tensor.rs),
//          read and written as array<vec4<f32>>; the padding lanes are computed on garbage and
//          written back to padding, which nothing reads.
// WORK     1 invocation = 1 vec4 (4 elements). WG = 256 invocations per workgroup.
// GRID     n4 = ceil(n/4) invocations; ceil(n4/256) workgroups folded to (x, y) with x ≤ 65535
//          (src/gpu/dispatch.rs Grid::linear). i = gid.x + gid.y·nwg.x·WG; guard i < n4.
//          counter_add: 1 workgroup of 1.
// WRITES   fill/copy/scale/axpby/mul overwrite (=); clamp rewrites in place; axpy and
//          counter_add accumulate (+=).
// BINDINGS read-only tensors, then written tensors, then the params uniform (per entry point):
//          fill, clamp 0 y rw | 1 params
//          copy/scale  0 x r  | 1 y rw | 2 params
//          axpy        0 x r  | 1 y rw | 2 params
//          axpby, mul  0 x r  | 1 y r  | 2 z rw | 3 params
//          counter_add 0 counters rw (u32) | 1 params
// REF      the one-line formulas in src/check/cases/elementwise.rs   TESTS same file (op "elementwise")

const WG: u32 = 256u;

struct EwParams {
    n4: u32,     // number of vec4 to process = ceil(n / 4)
    alpha: f32,
    beta: f32,
    value: f32,  // fill value
}

struct CounterParams {
    index: u32,  // which counter
    delta: u32,  // added to it
    _pad0: u32,
    _pad1: u32,
}

// Entry points bind different tensors at the same binding numbers: each entry point's
// interface is checked on its own, so the names below say which entry point uses which.
@group(0) @binding(0) var<storage, read_write> fill_y: array<vec4<f32>>;
@group(0) @binding(1) var<uniform> fill_p: EwParams;

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: EwParams;

@group(0) @binding(1) var<storage, read> axpby_y: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> axpby_z: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> axpby_p: EwParams;

@group(0) @binding(0) var<storage, read_write> counters: array<u32>;
@group(0) @binding(1) var<uniform> counter_p: CounterParams;

fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= fill_p.n4) { return; }
    fill_y[i] = vec4<f32>(fill_p.value);
}

@compute @workgroup_size(WG)
fn clamp_in_place(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= fill_p.n4) { return; }
    fill_y[i] = min(max(fill_y[i], vec4<f32>(fill_p.alpha)), vec4<f32>(fill_p.beta));
}

@compute @workgroup_size(WG)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n4) { return; }
    y[i] = x[i];
}

@compute @workgroup_size(WG)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n4) { return; }
    y[i] = p.alpha * x[i];
}

@compute @workgroup_size(WG)
fn axpy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n4) { return; }
    y[i] = p.alpha * x[i] + y[i];
}

@compute @workgroup_size(WG)
fn axpby(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= axpby_p.n4) { return; }
    axpby_z[i] = axpby_p.alpha * x[i] + axpby_p.beta * axpby_y[i];
}

@compute @workgroup_size(WG)
fn mul(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= axpby_p.n4) { return; }
    axpby_z[i] = x[i] * axpby_y[i];
}

@compute @workgroup_size(1)
fn counter_add() {
    counters[counter_p.index] = counters[counter_p.index] + counter_p.delta;
}
