// pool.wgsl — 2-D average and max pooling (PyTorch nn.AvgPool2d, nn.MaxPool2d) and their
// gradients, as gathers: every output element is written by one invocation, no atomics.
//
// MATH     Window of output (oy, ox): input rows iy = oy·s − p + ky, columns ix = ox·s − p + kx,
//          0 ≤ ky, kx < k; OH = ⌊(H + 2p − k)/s⌋ + 1, OW likewise (PyTorch's ceil_mode=False).
//          avg_pool_forward:  out = (1/k²)·Σ_window x, padding counted as zeros
//                             (count_include_pad=True, PyTorch's default).
//          avg_pool_backward: dx[iy, ix] = (1/k²)·Σ_{windows ∋ (iy, ix)} dy[oy, ox].
//                             Linear in dy: the backward of this backward (a gradient penalty's
//                             adjoint, dy ← adj_dx) is avg_pool_forward itself.
//          max_pool_forward:  out = max_window x (padding is −∞), argmax = iy·W + ix of the
//                             first maximum in row-major window order (PyTorch's tie rule; a
//                             NaN counts as the maximum).
//          max_pool_backward: dx[iy, ix] = Σ_{windows ∋ (iy, ix), argmax = iy·W + ix} dy[oy, ox].
//          max_pool_gather:   out[o] = x[argmax[o]] in o's plane — the backward of
//                             max_pool_backward (adj_dy = adj_dx at the argmax), and the
//                             forward again given the saved argmax.
// LAYOUT   x, dx: [N, H, W] with N = B·C planes (NCHW); out, dy, argmax: [N, OH, OW]; argmax
//          u32. Requires p ≤ k/2 (as PyTorch) so every window holds an input element.
// WORK     1 invocation = 1 element of the tensor it writes: forward k² reads; backward
//          ⌈k/s⌉² window candidates per dx element.
// GRID     ceil(items/256) workgroups folded to (x, y) (Grid::for_items); i = gid.x + gid.y·nwg.x·WG;
//          guard i < items.
// WRITES   out, argmax, dx: overwrite (=).
// BINDINGS avg_pool_forward, avg_pool_backward: 0 in r | 1 out rw | 2 params
//          max_pool_forward:  0 x r | 1 out rw | 2 argmax rw (u32) | 3 params
//          max_pool_backward: 0 dy r | 1 argmax r (u32) | 2 dx rw | 3 params
//          max_pool_gather:   0 x r | 1 argmax r (u32) | 2 out rw | 3 params
// REF      src/reference/pool.rs   TESTS src/check/cases/pool.rs (op "pool")

const WG: u32 = 256u;

struct PoolParams {
    planes: u32,   // N = B·C
    h: u32,        // input height
    w: u32,        // input width
    oh: u32,       // output height
    ow: u32,       // output width
    kernel: u32,   // k
    stride: u32,   // s
    padding: u32,  // p
}

@group(0) @binding(0) var<storage, read> pool_in: array<f32>;
@group(0) @binding(1) var<storage, read_write> pool_out: array<f32>;
@group(0) @binding(2) var<uniform> ap: PoolParams;

@group(0) @binding(0) var<storage, read> mx_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> mx_out: array<f32>;
@group(0) @binding(2) var<storage, read_write> mx_argmax: array<u32>;
@group(0) @binding(3) var<uniform> mp: PoolParams;

@group(0) @binding(0) var<storage, read> mb_dy: array<f32>;
@group(0) @binding(1) var<storage, read> mb_argmax: array<u32>;
@group(0) @binding(2) var<storage, read_write> mb_dx: array<f32>;
@group(0) @binding(3) var<uniform> mbp: PoolParams;

@group(0) @binding(0) var<storage, read> mg_x: array<f32>;
@group(0) @binding(1) var<storage, read> mg_argmax: array<u32>;
@group(0) @binding(2) var<storage, read_write> mg_out: array<f32>;
@group(0) @binding(3) var<uniform> mgp: PoolParams;

// The range [first, last] of window starts o with o·s − p ≤ i < o·s − p + k, clipped to
// [0, outs − 1]; empty when first > last.
fn windows_of(i: u32, k: u32, s: u32, p: u32, outs: u32) -> vec2<i32> {
    let ip = i32(i + p);
    // o ≥ (i + p − k + 1)/s rounded up; o ≤ (i + p)/s rounded down.
    let lo = max(ip - i32(k) + i32(s), 0) / i32(s);
    let hi = min(ip / i32(s), i32(outs) - 1);
    return vec2<i32>(lo, hi);
}

@compute @workgroup_size(WG)
fn avg_pool_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let per_plane = ap.oh * ap.ow;
    if (i >= ap.planes * per_plane) { return; }
    let n = i / per_plane;
    let oy = (i % per_plane) / ap.ow;
    let ox = i % ap.ow;
    var acc = 0.0;
    for (var ky = 0u; ky < ap.kernel; ky++) {
        let iy = i32(oy * ap.stride + ky) - i32(ap.padding);
        if (iy < 0 || iy >= i32(ap.h)) { continue; }
        for (var kx = 0u; kx < ap.kernel; kx++) {
            let ix = i32(ox * ap.stride + kx) - i32(ap.padding);
            if (ix < 0 || ix >= i32(ap.w)) { continue; }
            acc = acc + pool_in[(n * ap.h + u32(iy)) * ap.w + u32(ix)];
        }
    }
    pool_out[i] = acc / f32(ap.kernel * ap.kernel);
}

// in = dy [N, OH, OW], out = dx [N, H, W].
@compute @workgroup_size(WG)
fn avg_pool_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let per_plane = ap.h * ap.w;
    if (i >= ap.planes * per_plane) { return; }
    let n = i / per_plane;
    let iy = (i % per_plane) / ap.w;
    let ix = i % ap.w;
    let ry = windows_of(iy, ap.kernel, ap.stride, ap.padding, ap.oh);
    let rx = windows_of(ix, ap.kernel, ap.stride, ap.padding, ap.ow);
    var acc = 0.0;
    for (var oy = ry.x; oy <= ry.y; oy++) {
        for (var ox = rx.x; ox <= rx.y; ox++) {
            acc = acc + pool_in[(n * ap.oh + u32(oy)) * ap.ow + u32(ox)];
        }
    }
    pool_out[i] = acc / f32(ap.kernel * ap.kernel);
}

@compute @workgroup_size(WG)
fn max_pool_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let per_plane = mp.oh * mp.ow;
    if (i >= mp.planes * per_plane) { return; }
    let n = i / per_plane;
    let oy = (i % per_plane) / mp.ow;
    let ox = i % mp.ow;
    var best = 0.0;
    var arg = 0xffffffffu;
    for (var ky = 0u; ky < mp.kernel; ky++) {
        let iy = i32(oy * mp.stride + ky) - i32(mp.padding);
        if (iy < 0 || iy >= i32(mp.h)) { continue; }
        for (var kx = 0u; kx < mp.kernel; kx++) {
            let ix = i32(ox * mp.stride + kx) - i32(mp.padding);
            if (ix < 0 || ix >= i32(mp.w)) { continue; }
            let at = u32(iy) * mp.w + u32(ix);
            let v = mx_x[n * mp.h * mp.w + at];
            // Strictly greater: the first maximum wins a tie; a NaN wins and stays (PyTorch
            // propagates it, so the state guard sees it).
            if (arg == 0xffffffffu || v > best || v != v) {
                best = v;
                arg = at;
            }
        }
    }
    mx_out[i] = best;
    mx_argmax[i] = arg;
}

@compute @workgroup_size(WG)
fn max_pool_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let per_plane = mbp.h * mbp.w;
    if (i >= mbp.planes * per_plane) { return; }
    let n = i / per_plane;
    let at = i % per_plane;
    let ry = windows_of(at / mbp.w, mbp.kernel, mbp.stride, mbp.padding, mbp.oh);
    let rx = windows_of(at % mbp.w, mbp.kernel, mbp.stride, mbp.padding, mbp.ow);
    var acc = 0.0;
    for (var oy = ry.x; oy <= ry.y; oy++) {
        for (var ox = rx.x; ox <= rx.y; ox++) {
            let o = (n * mbp.oh + u32(oy)) * mbp.ow + u32(ox);
            if (mb_argmax[o] == at) {
                acc = acc + mb_dy[o];
            }
        }
    }
    mb_dx[i] = acc;
}

@compute @workgroup_size(WG)
fn max_pool_gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let per_plane = mgp.oh * mgp.ow;
    if (i >= mgp.planes * per_plane) { return; }
    let n = i / per_plane;
    mg_out[i] = mg_x[n * mgp.h * mgp.w + mg_argmax[i]];
}
