// vae.wgsl — the variational autoencoder's latent: the reparameterisation z = μ + σ ⊙ ε and
//          the KL divergence of N(μ, σ²) from N(0, I), with their gradients.
//
// MATH     The encoder's head writes stats [B, 2·nz]: μ = stats[b, 0..nz], ℓ = log σ² =
//          stats[b, nz..2·nz]. With ε ~ N(0, I) given (random.wgsl):
//            vae_reparam:    z[b, k] = μ + exp(½ℓ)·ε
//            vae_kl:         KL = (1/B) Σ_b Σ_k −½(1 + ℓ − μ² − e^ℓ)   (nats per sample)
//            vae_backward:   for L = (loss of z) + w·KL, given dz = ∂L/∂z:
//                              ∂L/∂μ = dz + (w/B)·μ
//                              ∂L/∂ℓ = dz·ε·½exp(½ℓ) + (w/B)·½(e^ℓ − 1)
//          w = β·min(1, t/warmup) with t = counters[counter_index] (the step, already
//          incremented for this step; warmup = 0: w = β), so the KL warm-up lives on the GPU.
// ORDER    vae_kl: one workgroup; invocation i sums elements i, i + WG, … in order, then the
//          fixed binary tree of workgroup_sum.wgsl: bit-identical on rerun.
// LAYOUT   stats, dstats: [B, 2·nz] (μ then log σ² per row).  eps, z, dz: [B, nz].
//          counters: u32 step counters.  out: f32 statistics (the trainer's).
// WORK     vae_reparam, vae_backward: 1 invocation = 1 latent element (b, k).
//          vae_kl: 1 workgroup (WG = 256) over the B·nz elements.
// GRID     elementwise: ceil(B·nz / 256) workgroups folded to (x, y). vae_kl: (1, 1, 1).
// WRITES   z, dstats, out[stat_index]: overwrite (=).
// BINDINGS vae_reparam:  0 stats r | 1 eps r | 2 z rw | 3 params
//          vae_kl:       0 stats r | 1 out rw | 2 params
//          vae_backward: 0 stats r | 1 eps r | 2 dz r | 3 counters r (u32) | 4 dstats rw | 5 params
// REF      src/reference/vae.rs   TESTS src/check/cases/vae.rs (op "vae")

struct VaeParams {
    batch: u32,          // B
    latent: u32,         // nz
    stat_index: u32,     // vae_kl: where KL goes in `out`
    counter_index: u32,  // vae_backward: the step counter of the warm-up
    beta: f32,           // β (β-VAE); 1 for the plain ELBO
    warmup: u32,         // steps over which w ramps from 0 to β; 0: none
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> stats: array<f32>;
@group(0) @binding(1) var<storage, read> eps: array<f32>;
@group(0) @binding(2) var<storage, read_write> z: array<f32>;
@group(0) @binding(3) var<uniform> rp: VaeParams;

@group(0) @binding(1) var<storage, read_write> kl_out: array<f32>;
@group(0) @binding(2) var<uniform> kp: VaeParams;

@group(0) @binding(2) var<storage, read> dz: array<f32>;
@group(0) @binding(3) var<storage, read> counters: array<u32>;
@group(0) @binding(4) var<storage, read_write> dstats: array<f32>;
@group(0) @binding(5) var<uniform> bp: VaeParams;

// (index of μ, index of log σ²) in stats for latent element i = (b, k).
fn stat_indices(i: u32, latent: u32) -> vec2<u32> {
    let b = i / latent;
    let k = i - b * latent;
    let mu = b * 2u * latent + k;
    return vec2<u32>(mu, mu + latent);
}

@compute @workgroup_size(256)
fn vae_reparam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= rp.batch * rp.latent) { return; }
    let s = stat_indices(i, rp.latent);
    z[i] = stats[s.x] + exp(0.5 * stats[s.y]) * eps[i];
}

@compute @workgroup_size(256)
fn vae_kl(@builtin(local_invocation_index) lid: u32) {
    let n = kp.batch * kp.latent;
    var acc = 0.0;
    for (var i = lid; i < n; i += WG) {
        let s = stat_indices(i, kp.latent);
        let mu = stats[s.x];
        let lv = stats[s.y];
        acc += -0.5 * (1.0 + lv - mu * mu - exp(lv));
    }
    let total = workgroup_sum(lid, acc);
    if (lid == 0u) {
        kl_out[kp.stat_index] = total / f32(kp.batch);
    }
}

@compute @workgroup_size(256)
fn vae_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= bp.batch * bp.latent) { return; }
    var w = bp.beta;
    if (bp.warmup > 0u) {
        w = bp.beta * min(1.0, f32(counters[bp.counter_index]) / f32(bp.warmup));
    }
    let wb = w / f32(bp.batch);
    let s = stat_indices(i, bp.latent);
    let mu = stats[s.x];
    let lv = stats[s.y];
    let g = dz[i];
    dstats[s.x] = g + wb * mu;
    dstats[s.y] = g * eps[i] * 0.5 * exp(0.5 * lv) + wb * 0.5 * (exp(lv) - 1.0);
}
