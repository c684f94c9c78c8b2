// finite.wgsl — where is the first non-finite value? The trainer's state guard: before a
// checkpoint is written (and with every loss read-back) each parameter, running statistic and
// optimizer moment is scanned, because BatchNorm and ReLU can swallow a NaN and leave the
// losses finite while the weights are not.
//
// MATH     first_nonfinite:  r = min{ i < n : x[i] is ±inf or NaN }, stored as
//          out[slot] = max(out[slot], n − r) so that 0 means "all finite" and the first bad
//          index is n − out[slot]. Non-finite ⇔ all 8 exponent bits set (tested on the bits:
//          compilers may assume finite floats and fold x != x away).
// ORDER    Max is commutative and exact, so the result does not depend on the order the
//          invocations run in: bit-identical on every rerun.
// WORK     1 invocation = 1 element; only an invocation that finds a non-finite value touches
//          the atomic.
// GRID     ceil(n/256) workgroups folded to (x, y) (Grid::for_items); i = gid.x + gid.y·nwg.x·WG;
//          guard i < n.
// WRITES   out[slot]: atomic max into the caller's zeroed slot (several tensors, one slot each,
//          read back together).
// BINDINGS 0 x r | 1 out rw (u32, atomic) | 2 params
// REF      src/reference/finite.rs   TESTS tests/gpu_ops.rs, src/check/cases/finite.rs (op "finite")

const WG: u32 = 256u;

struct FiniteParams {
    n: u32,      // elements of x scanned
    slot: u32,   // element of out this scan writes
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<atomic<u32>>;
@group(0) @binding(2) var<uniform> p: FiniteParams;

@compute @workgroup_size(WG)
fn first_nonfinite(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) { return; }
    if ((bitcast<u32>(x[i]) & 0x7f800000u) == 0x7f800000u) {
        atomicMax(&out[p.slot], p.n - i);
    }
}
