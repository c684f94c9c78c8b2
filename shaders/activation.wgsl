// activation.wgsl — ReLU, LeakyReLU(slope), tanh, sigmoid: forward and backward.
//
// MATH     relu:        y = max(x, 0)                 dx = dy · [x > 0]
//          leaky_relu:  y = x > 0 ? x : slope·x       dx = dy · (x > 0 ? 1 : slope)
//          tanh:        y = tanh(x)                   dx = dy · (1 − y²)
//          sigmoid:     y = 1 / (1 + e^−x)            dx = dy · y·(1 − y)
//          The backward of relu/leaky_relu reads the forward INPUT x; the backward of
//          tanh/sigmoid reads the forward OUTPUT y (cheaper than recomputing). The derivative
//          at x = 0 is taken from the right-open side, as PyTorch does (relu'(0) = 0).
//          sigmoid uses the two-sided form so that e^x never overflows: for x < 0 it computes
//          e^x / (1 + e^x). tanh saturates to ±1 without NaN for any finite x.
// LAYOUT   contiguous ranges padded to a multiple of 4 (src/gpu/tensor.rs), as array<vec4<f32>>.
// WORK     1 invocation = 1 vec4. WG = 256.
// GRID     ceil(n4/256) workgroups folded to (x, y) (Grid::linear); i = gid.x + gid.y·nwg.x·WG; guard i < n4.
// WRITES   y and dx: overwrite (=). In-place (y aliasing x) is not allowed (WebGPU forbids
//          binding one buffer read-only and read-write in one dispatch).
// BINDINGS *_forward:  0 x r | 1 y rw | 2 params
//          *_backward: 0 dy r | 1 saved r (x or y, see MATH) | 2 dx rw | 3 params
// REF      src/reference/activation.rs   TESTS src/check/cases/activation.rs (op "activation")

const WG: u32 = 256u;

struct ActParams {
    n4: u32,     // ceil(n / 4)
    slope: f32,  // LeakyReLU negative slope (unused by the others)
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: ActParams;

@group(0) @binding(0) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> saved: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dx: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> bp: ActParams;

fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

fn sigmoid4(v: vec4<f32>) -> vec4<f32> {
    let e = exp(-abs(v));   // in (0, 1]: never overflows
    // σ(|v|) = 1/(1+e); σ(−|v|) = e/(1+e), computed directly rather than as 1 − σ(|v|),
    // which would round to 0 for v < −17 and lose all relative precision before that.
    return select(e, vec4<f32>(1.0), v >= vec4<f32>(0.0)) / (1.0 + e);
}

fn tanh4(v: vec4<f32>) -> vec4<f32> {
    // Clamp first: tanh(±15) is ±1 in f32, and some drivers compute tanh through e^2x, which
    // overflows to inf/inf = NaN for large arguments.
    return tanh(clamp(v, vec4<f32>(-15.0), vec4<f32>(15.0)));
}

@compute @workgroup_size(WG)
fn relu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n4) { return; }
    y[i] = max(x[i], vec4<f32>(0.0));
}

@compute @workgroup_size(WG)
fn relu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= bp.n4) { return; }
    dx[i] = select(vec4<f32>(0.0), dy[i], saved[i] > vec4<f32>(0.0));
}

@compute @workgroup_size(WG)
fn leaky_relu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n4) { return; }
    let v = x[i];
    y[i] = select(p.slope * v, v, v > vec4<f32>(0.0));
}

@compute @workgroup_size(WG)
fn leaky_relu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= bp.n4) { return; }
    let g = dy[i];
    dx[i] = select(bp.slope * g, g, saved[i] > vec4<f32>(0.0));
}

@compute @workgroup_size(WG)
fn tanh_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n4) { return; }
    y[i] = tanh4(x[i]);
}

@compute @workgroup_size(WG)
fn tanh_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= bp.n4) { return; }
    let t = saved[i];
    dx[i] = dy[i] * (1.0 - t * t);
}

@compute @workgroup_size(WG)
fn sigmoid_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n4) { return; }
    y[i] = sigmoid4(x[i]);
}

@compute @workgroup_size(WG)
fn sigmoid_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= bp.n4) { return; }
    let s = saved[i];
    dx[i] = dy[i] * s * (1.0 - s);
}
