// workgroup_sum.wgsl — the fixed-order tree sum over one workgroup, shared by the
//          single-workgroup reductions of spectral_norm.wgsl and penalty.wgsl (prepended to
//          their modules, see src/gpu/shaders.rs).
//
// MATH     workgroup_sum(lid, x) = Σ of x over the WG = 256 invocations, added in a fixed
//          binary tree, so the result is bit-reproducible; every invocation gets the total.
//          Call it from uniform control flow (it has barriers).
// LAYOUT   partial: WG f32 of workgroup memory, free again when the call returns.

const WG: u32 = 256u;

var<workgroup> partial: array<f32, WG>;

fn workgroup_sum(lid: u32, x: f32) -> f32 {
    partial[lid] = x;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (lid < s) {
            partial[lid] = partial[lid] + partial[lid + s];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    workgroupBarrier();
    return total;
}
