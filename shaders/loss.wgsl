// loss.wgsl — binary cross-entropy with logits: value and gradient in one pass.
//
// MATH     ℓᵢ = max(xᵢ, 0) − xᵢ·tᵢ + log1p(e^−|xᵢ|)        (= −[t·log σ(x) + (1−t)·log(1−σ(x))])
//          L  = scale · (1/n) Σᵢ ℓᵢ
//          ∂L/∂xᵢ = scale · (σ(xᵢ) − tᵢ) / n
//          Also reports mean σ(xᵢ) (D(x) in GAN logs). `scale` = −1 with t = 0 gives the
//          saturating minimax generator loss log(1 − D(G(z))) of Goodfellow et al.
// STABLE   No exp of a positive number is ever taken, so |x| of 100, 1e4 or 1e30 gives finite
//          values: log1p(u) for u = e^−|x| ∈ (0, 1] uses log(1+u)·u/((1+u)−1), exact to a few
//          ulps even where 1+u rounds to 1 (then it returns u); σ(x) − t is formed without
//          cancelling when σ(x) and t are both near 1.
// ORDER    Fixed: thread t sums elements t, t+WG, … then a binary tree in workgroup memory;
//          bit-identical on rerun.
// WORK     1 workgroup of WG = 256 for the whole loss (n is a batch of logits, ≤ ~10⁵).
// GRID     (1, 1, 1)
// WRITES   dlogits: overwrite (=). out[out_index] = L, out[out_index + 1] = mean σ(x): overwrite.
// BINDINGS 0 logits r | 1 targets r | 2 dlogits rw | 3 out rw | 4 params
// REF      src/reference/loss.rs   TESTS src/check/cases.rs (op "loss")

const WG: u32 = 256u;

struct LossParams {
    n: u32,          // number of logits
    out_index: u32,  // where L and mean σ go in `out`
    scale: f32,      // multiplies L and its gradient
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<f32>;
@group(0) @binding(2) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: LossParams;

var<workgroup> loss_partial: array<f32, WG>;
var<workgroup> prob_partial: array<f32, WG>;

// log(1 + u) for u in [0, 1] without cancellation (Goldberg's trick, see "What Every Computer
// Scientist Should Know About Floating-Point Arithmetic", Theorem 4).
fn log1p_small(u: f32) -> f32 {
    let w = 1.0 + u;
    if (w == 1.0) {
        return u;
    }
    return log(w) * u / (w - 1.0);
}


@compute @workgroup_size(WG)
fn bce_with_logits(@builtin(local_invocation_index) t: u32) {
    let inv_n = 1.0 / f32(p.n);
    var loss_acc = 0.0;
    var prob_acc = 0.0;
    for (var i = t; i < p.n; i += WG) {
        let v = logits[i];
        let tgt = targets[i];
        let e = exp(-abs(v));           // in (0, 1]
        let s_small = e / (1.0 + e);    // σ(−|v|), precise even when tiny
        let pos = v >= 0.0;
        // σ(v) − t, formed so that neither σ(v) ≈ 1 nor t ≈ 1 cancels: for v ≥ 0 it is
        // (1 − t) − σ(−v), for v < 0 it is σ(v) − t.
        let resid = select(s_small - tgt, (1.0 - tgt) - s_small, pos);
        loss_acc += max(v, 0.0) - v * tgt + log1p_small(e);
        prob_acc += select(s_small, 1.0 - s_small, pos);
        dlogits[i] = p.scale * resid * inv_n;
    }
    loss_partial[t] = loss_acc;
    prob_partial[t] = prob_acc;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
        if (t < half) {
            loss_partial[t] += loss_partial[t + half];
            prob_partial[t] += prob_partial[t + half];
        }
        workgroupBarrier();
    }
    if (t == 0u) {
        out[p.out_index] = p.scale * loss_partial[0] * inv_n;
        out[p.out_index + 1u] = prob_partial[0] * inv_n;
    }
}
