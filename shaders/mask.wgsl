// mask.wgsl — masked-autoencoder corruption: random square patches of each image blanked.
//
// MATH     Each image is cut into P = (S/p)² patches of p×p pixels, numbered row-major. With
//          u [B, P] uniform on [0, 1) given (random.wgsl, one draw per patch per image, the
//          same for every channel):
//            y[b, c, i, j] = fill                if u[b, (i/p)·(S/p) + j/p] < ratio
//                            x[b, c, i, j]       otherwise
//          so each patch is blanked with probability `ratio` (Bernoulli per patch, as the
//          masked-autoencoder recipe of He et al. 2021 but without a fixed count per image).
// LAYOUT   x, y: [B, C, S, S] row-major.  u: [B, (S/p)²].  S divisible by p (the launcher
//          checks).
// WORK     1 invocation = 1 element of y.
// GRID     ceil(B·C·S·S / 256) workgroups folded to (x, y) (Grid::for_items).
// WRITES   y: overwrite (=), every element.
// BINDINGS patch_mask: 0 x r | 1 u r | 2 y rw | 3 params
// REF      src/reference/mask.rs   TESTS src/check/cases/mask.rs (op "mask")

struct MaskParams {
    n: u32,          // B·C·S·S
    channels: u32,   // C
    size: u32,       // S
    patch_side: u32, // p
    ratio: f32,      // blanking probability per patch
    fill: f32,       // the value of a blanked pixel
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> mp: MaskParams;

@compute @workgroup_size(256)
fn patch_mask(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= mp.n) { return; }
    let plane = mp.size * mp.size;
    let col = i % mp.size;
    let row = (i / mp.size) % mp.size;
    let b = i / (plane * mp.channels);
    let side = mp.size / mp.patch_side;
    let k = b * side * side + (row / mp.patch_side) * side + col / mp.patch_side;
    if (u[k] < mp.ratio) {
        y[i] = mp.fill;
    } else {
        y[i] = x[i];
    }
}
