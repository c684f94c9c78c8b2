// loss.wgsl — the losses of GAN and classifier training: value and gradient in one pass,
// reduced over any number of elements in a fixed order.
//
// MATH     elementwise_loss, per element i with logit xᵢ and target tᵢ, by `kind`:
//            0 BCE with logits   ℓ = max(x, 0) − x·t + log1p(e^−|x|)   ∂ℓ/∂x = σ(x) − t
//                                (= −[t·log σ(x) + (1−t)·log(1−σ(x))]; stat σ(x))
//            1 least squares     ℓ = ½(x − t)²                         ∂ℓ/∂x = x − t
//                                (Mao et al. 2017, LSGAN; stat x)
//            2 hinge             ℓ = max(0, 1 − t·x), t = ±1           ∂ℓ/∂x = −t·[1 − t·x > 0]
//                                (the SNGAN/BigGAN discriminator; stat x)
//            3 linear            ℓ = −t·x                              ∂ℓ/∂x = −t
//                                (Wasserstein critic with t = +1 real, −1 fake; the hinge and
//                                WGAN generator with t = +1; stat x)
//          softmax_cross_entropy, per row b of logits [B, C] with label y_b:
//            ℓ_b = logsumexp(x_b) − x_b[y_b]   ∂ℓ_b/∂x_bc = softmax(x_b)_c − [c = y_b]
//            stat: 1 when argmax_c x_bc = y_b (first maximum on ties), so mean stat = accuracy.
//          L = scale · (1/n) Σᵢ ℓᵢ and ∂L/∂xᵢ = scale · (∂ℓ/∂x)ᵢ / n, n = elements (rows for
//          softmax); out[out_index] = L, out[out_index + 1] = (1/n) Σ statᵢ. `scale` = −1 with
//          BCE and t = 0 gives the saturating minimax generator loss log(1 − D(G(z))).
// LAYOUT   logits and dlogits may be a column view of a wider tensor: element i (softmax:
//          row b's class c) sits at i·stride + offset (b·stride + offset + c). A contiguous
//          loss has stride 1 (softmax: C) and offset 0. ACGAN's discriminator output [B, 1+K]
//          takes the GAN loss on column 0 (stride 1+K, offset 0) and the class cross-entropy
//          on columns 1..K (stride 1+K, offset 1): the two calls write disjoint parts of dlogits.
// STABLE   BCE takes no exp of a positive number, so |x| of 100, 1e4 or 1e30 stays finite:
//          log1p(u) for u = e^−|x| ∈ (0, 1] uses log(1+u)·u/((1+u)−1) (exact to a few ulps
//          even where 1+u rounds to 1); σ(x) − t is formed without cancelling when σ(x) and t
//          are both near 1. Softmax subtracts the row maximum before exp.
// ORDER    Fixed: workgroup g owns elements [g·CHUNK, (g+1)·CHUNK); thread t sums elements
//          g·CHUNK + t, + WG, … in order, then a binary tree in workgroup memory. With one
//          workgroup (n ≤ CHUNK) that sum is the result; otherwise each workgroup writes its
//          partial sums and loss_finish adds them in workgroup order the same way. No atomics:
//          bit-identical on rerun, and independent of how the hardware schedules workgroups.
// WORK     elementwise_loss: 1 invocation = ≤ 4 elements (CHUNK = 4·WG = 1024 per
//          workgroup); softmax_cross_entropy: 1 invocation = ≤ 4 rows of C classes;
//          loss_finish: 1 workgroup of WG over the `groups` partial pairs.
// GRID     elementwise_loss, softmax_cross_entropy: ceil(n/CHUNK) workgroups folded to (x, y)
//          (Grid::linear), g = wid.x + wid.y·nwg.x, guard g < groups. loss_finish: (1, 1, 1).
// WRITES   dlogits: overwrite (=) at the view's positions only; the rest is untouched. out[out_index], out[out_index + 1]: overwrite, by the only
//          workgroup or by loss_finish. partials[2g], partials[2g + 1]: overwrite (scratch).
// BINDINGS elementwise_loss:      0 logits r | 1 targets r | 2 dlogits rw | 3 out rw
//                                 | 4 partials rw | 5 params
//          softmax_cross_entropy: 0 logits r | 1 labels r (u32) | 2 dlogits rw | 3 out rw
//                                 | 4 partials rw | 5 params
//          loss_finish:           0 partials r | 1 out rw | 2 params
// REF      src/reference/loss.rs   TESTS src/check/cases/loss.rs (op "loss")

const WG: u32 = 256u;
const CHUNK: u32 = 1024u;

struct LossParams {
    n: u32,          // elements (softmax: rows)
    out_index: u32,  // where L and the mean statistic go in `out`
    scale: f32,      // multiplies L and its gradient
    kind: u32,       // elementwise_loss: 0 BCE, 1 least squares, 2 hinge, 3 linear
    groups: u32,     // workgroups of the first pass; 1 → it writes `out` itself
    classes: u32,    // softmax: C
    stride: u32,     // elementwise: logits between consecutive elements (1: contiguous);
                     // softmax: logits between consecutive rows (C: contiguous)
    offset: u32,     // where element 0 (softmax: row 0's class 0) sits in logits/dlogits
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> partials: array<f32>;
@group(0) @binding(5) var<uniform> p: LossParams;

@group(0) @binding(0) var<storage, read> fin_partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> fin_out: array<f32>;
@group(0) @binding(2) var<uniform> fp: LossParams;

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

// (ℓ, ∂ℓ/∂x, stat) of one element.
fn element_loss(kind: u32, v: f32, tgt: f32) -> vec3<f32> {
    switch kind {
        case 1u: {
            let d = v - tgt;
            return vec3<f32>(0.5 * d * d, d, v);
        }
        case 2u: {
            let margin = 1.0 - tgt * v;
            return vec3<f32>(max(margin, 0.0), select(0.0, -tgt, margin > 0.0), v);
        }
        case 3u: {
            return vec3<f32>(-tgt * v, -tgt, v);
        }
        default: {
            let e = exp(-abs(v));           // in (0, 1]
            let s_small = e / (1.0 + e);    // σ(−|v|), precise even when tiny
            let pos = v >= 0.0;
            // σ(v) − t, formed so that neither σ(v) ≈ 1 nor t ≈ 1 cancels: for v ≥ 0 it is
            // (1 − t) − σ(−v), for v < 0 it is σ(v) − t.
            let resid = select(s_small - tgt, (1.0 - tgt) - s_small, pos);
            return vec3<f32>(max(v, 0.0) - v * tgt + log1p_small(e), resid, select(s_small, 1.0 - s_small, pos));
        }
    }
}

// The workgroup's tree over loss_partial/prob_partial, then its result: `out` when it is the
// only workgroup, else its slot of `partials`. Called by every invocation of the workgroup.
fn reduce_and_store(t: u32, g: u32, loss_acc: f32, prob_acc: f32) {
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
        if (p.groups == 1u) {
            let inv_n = 1.0 / f32(p.n);
            out[p.out_index] = p.scale * loss_partial[0] * inv_n;
            out[p.out_index + 1u] = prob_partial[0] * inv_n;
        } else {
            partials[2u * g] = loss_partial[0];
            partials[2u * g + 1u] = prob_partial[0];
        }
    }
}

@compute @workgroup_size(WG)
fn elementwise_loss(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let g = wid.x + wid.y * nwg.x;
    // g is uniform across the workgroup, so this exit cannot split a barrier.
    if (g >= p.groups) { return; }
    let inv_n = 1.0 / f32(p.n);
    let end = min(g * CHUNK + CHUNK, p.n);
    var loss_acc = 0.0;
    var prob_acc = 0.0;
    for (var i = g * CHUNK + t; i < end; i += WG) {
        let at = i * p.stride + p.offset;
        let v = logits[at];
        let tgt = targets[i];
        let e = element_loss(p.kind, v, tgt);
        loss_acc += e.x;
        prob_acc += e.z;
        dlogits[at] = p.scale * e.y * inv_n;
    }
    reduce_and_store(t, g, loss_acc, prob_acc);
}

@compute @workgroup_size(WG)
fn softmax_cross_entropy(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let g = wid.x + wid.y * nwg.x;
    if (g >= p.groups) { return; }
    let inv_n = 1.0 / f32(p.n);
    let c_n = p.classes;
    let end = min(g * CHUNK + CHUNK, p.n);
    var loss_acc = 0.0;
    var hit_acc = 0.0;
    for (var b = g * CHUNK + t; b < end; b += WG) {
        let row = b * p.stride + p.offset;
        var best = logits[row];
        var arg = 0u;
        for (var c = 1u; c < c_n; c++) {
            let v = logits[row + c];
            if (v > best) {
                best = v;
                arg = c;
            }
        }
        var z = 0.0;
        for (var c = 0u; c < c_n; c++) {
            z += exp(logits[row + c] - best);
        }
        let y = labels[b];
        loss_acc += log(z) - (logits[row + y] - best);
        hit_acc += select(0.0, 1.0, arg == y);
        for (var c = 0u; c < c_n; c++) {
            let q = exp(logits[row + c] - best) / z;
            dlogits[row + c] = p.scale * (q - select(0.0, 1.0, c == y)) * inv_n;
        }
    }
    reduce_and_store(t, g, loss_acc, hit_acc);
}

@compute @workgroup_size(WG)
fn loss_finish(@builtin(local_invocation_index) t: u32) {
    var loss_acc = 0.0;
    var prob_acc = 0.0;
    for (var g = t; g < fp.groups; g += WG) {
        loss_acc += fin_partials[2u * g];
        prob_acc += fin_partials[2u * g + 1u];
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
        let inv_n = 1.0 / f32(fp.n);
        fin_out[fp.out_index] = fp.scale * loss_partial[0] * inv_n;
        fin_out[fp.out_index + 1u] = prob_partial[0] * inv_n;
    }
}
