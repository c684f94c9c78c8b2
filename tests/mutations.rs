//! Break a kernel on purpose and see the correctness suite catch it. Each mutation below is a
//! one-token bug of the kind that index math invites (an off-by-one bound, a wrong stride, a
//! swapped operand, a dropped factor); the mutated module replaces the real one on a forked
//! device and the op's cases must report at least one FAIL (or a GPU error). If a mutation
//! stops matching the source, the test says so instead of passing vacuously.

use std::sync::OnceLock;

use shadergan::check;
use shadergan::gpu::shaders::{self, Shader};
use shadergan::gpu::{AdapterChoice, Gpu};

fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| Gpu::new(&AdapterChoice::default()).unwrap_or_else(|e| panic!("{e}")))
}

/// (module, op whose cases must fail, text to find exactly once, replacement, what the bug is)
type Mutation = (&'static Shader, &'static str, &'static str, &'static str, &'static str);

const MUTATIONS: &[Mutation] = &[
    (&shaders::CONV, "conv2d", "iy < i32(p.hx)", "iy <= i32(p.hx)", "gather reads one row past the image"),
    (&shaders::CONV, "conv2d", "if (t.tx >= i32(p.kw)) {", "if (t.tx > i32(p.kw)) {", "k walk wraps one tap late"),
    (&shaders::CONV, "conv_transpose2d", "ph.qy0 = (p.pad + s - 1u - ph.ry) / s;", "ph.qy0 = (p.pad + s - ph.ry) / s;", "phase starts at the wrong row"),
    (&shaders::CONV, "conv2d", "t.a_off = t.a_off + (p.m - 1u) * p.ho * p.wo;", "t.a_off = t.a_off + p.m * p.ho * p.wo;", "weight gradient skips a sample of g"),
    (&shaders::CONV, "conv_transpose2d", "let kx = z % rp.stride + rp.stride * jx;", "let kx = z % rp.stride + jx;", "repacked weights use the wrong tap"),
    (&shaders::CONV_SUBGROUP, "conv2d", "let l3 = subgroupBroadcast(g, 3u);", "let l3 = subgroupBroadcast(g, 2u);", "column 3 takes lane 2's values"),
    (&shaders::MATMUL, "matmul", "let nv1 = min(n0 / 4u + 1u, n4 - 1u);", "let nv1 = min(n0 / 4u, n4 - 1u);", "second column vec4 duplicates the first"),
    (&shaders::MATMUL, "matmul", "let k3 = min(kb + 3u, p.k - 1u);", "let k3 = min(kb + 2u, p.k - 1u);", "fourth k of a chunk repeats the third"),
    (&shaders::MATMUL, "matmul", "r.c70 = fma(vec4<f32>(a.a7.w), b.k3lo, r.c70);", "r.c70 = fma(vec4<f32>(a.a7.w), b.k3hi, r.c70);", "micro-kernel uses the wrong B vector"),
    // (Loading one column past N into the tile is NOT a bug: that column is never stored. An
    // earlier version of this list had it and the test reported it as uncaught, correctly.)
    (&shaders::MATMUL, "matmul", "for (var kk = 0u; kk < T_BK; kk++) {", "for (var kk = 0u; kk < T_BK - 1u; kk++) {", "tiled kernel skips the last k of each stage"),
    (&shaders::BATCHNORM, "batchnorm", "let var_biased = workgroup_sum(t, sq) / n;", "let var_biased = workgroup_sum(t, sq) / (n - 1.0);", "normalises with the unbiased variance"),
    (&shaders::BATCHNORM, "batchnorm", "dx[i] = k * (dy[i] - mean_dy - xhat * mean_dyx);", "dx[i] = k * (dy[i] - mean_dy + xhat * mean_dyx);", "backward sign error"),
    (&shaders::LAYERNORM, "layernorm", "dx[base + i] = r * (bw_gamma[i] * dy[base + i] - mean_g - xhat * mean_gx);", "dx[base + i] = r * (bw_gamma[i] * dy[base + i] - mean_g);", "backward drops the x̂ term"),
    (&shaders::LAYERNORM, "layernorm", "let cross = 3.0 * tot.y * tot.z / nf;", "let cross = 2.0 * tot.y * tot.z / nf;", "double backward to x with the wrong cross term"),
    (&shaders::LAYERNORM, "layernorm", "let r = pw_saved[2u * b + 1u];", "let r = pw_saved[2u * b];", "∂P/∂γ scaled by μ instead of 1/σ"),
    (&shaders::VAE, "vae", "z[i] = stats[s.x] + exp(0.5 * stats[s.y]) * eps[i];", "z[i] = stats[s.x] + exp(stats[s.y]) * eps[i];", "σ taken as the variance"),
    (&shaders::VAE, "vae", "let mu = b * 2u * latent + k;", "let mu = b * latent + k;", "μ and log σ² read with the wrong row stride"),
    (&shaders::VAE, "vae", "w = bp.beta * min(1.0, f32(counters[bp.counter_index]) / f32(bp.warmup));", "w = bp.beta * max(1.0, f32(counters[bp.counter_index]) / f32(bp.warmup));", "KL warm-up never ramps (max for min)"),
    (&shaders::MASK, "mask", "let k = b * side * side + (row / mp.patch_side) * side + col / mp.patch_side;", "let k = b * side * side + (col / mp.patch_side) * side + row / mp.patch_side;", "patches numbered column-major"),
    (&shaders::MASK, "mask", "let b = i / (plane * mp.channels);", "let b = i / plane;", "each channel reads another image's mask"),
    (&shaders::PROJECTION, "projection", "if (bp_labels[b] == k) {", "if (bp_labels[b] <= k) {", "embedding gradient scattered into every row from the label up"),
    (&shaders::PROJECTION, "projection", "let row = min(y, fp.classes - 1u) * fp.features;", "let row = min(y, fp.classes - 1u);", "embedding row read without its stride"),
    (&shaders::PROJECTION, "projection", "for (var f = lid; f < fp.features; f = f + WG) {", "for (var f = lid; f < fp.features; f = f + 2u * WG) {", "forward skips every other stride of features"),
    (&shaders::ACTIVATION, "activation", "dx[i] = select(vec4<f32>(0.0), dy[i], saved[i] > vec4<f32>(0.0));", "dx[i] = select(vec4<f32>(0.0), dy[i], saved[i] >= vec4<f32>(0.0));", "relu'(0) = 1 instead of 0"),
    (&shaders::LOSS, "loss", "dlogits[at] = p.scale * e.y * inv_n;", "dlogits[at] = p.scale * e.y;", "gradient not divided by n"),
    (&shaders::LOSS, "loss", "let at = i * p.stride + p.offset;", "let at = i + p.offset;", "column view read as contiguous"),
    (&shaders::LOSS, "loss", "let row = b * p.stride + p.offset;", "let row = b * p.classes + p.offset;", "softmax rows of a column view take the class count as their stride"),
    (&shaders::LOSS, "loss", "return vec3<f32>(max(margin, 0.0), select(0.0, -tgt, margin > 0.0), v);", "return vec3<f32>(max(margin, 0.0), select(0.0, -tgt, margin >= 0.0), v);", "hinge gradient at the kink"),
    (&shaders::LOSS, "loss", "loss_acc += fin_partials[2u * g];", "loss_acc += fin_partials[2u * g + 1u];", "two-pass sum adds the statistic"),
    (&shaders::LOSS, "loss", "dlogits[row + c] = p.scale * (q - select(0.0, 1.0, c == y)) * inv_n;", "dlogits[row + c] = p.scale * (q - select(0.0, 1.0, c == arg)) * inv_n;", "softmax gradient uses the prediction for the label"),
    (&shaders::OPTIM, "optim", "let bias1 = one_minus_pow(ap.beta1, t);", "let bias1 = one_minus_pow(ap.beta2, t);", "first-moment bias correction uses beta2"),
    (&shaders::RANDOM, "random", "const PHILOX_W1: u32 = 0xBB67AE85u;", "const PHILOX_W1: u32 = 0xBB67AE84u;", "wrong Weyl constant"),
    (&shaders::REDUCE, "reduce", "for (var half = WG / 2u; half > 0u; half /= 2u) {", "for (var half = WG / 4u; half > 0u; half /= 2u) {", "tree drops half the partial sums"),
    (&shaders::DATA, "data", "let slot = j % ip.batches_per_epoch;", "let slot = j % (ip.batches_per_epoch + 1u);", "epoch boundary off by one batch"),
    (&shaders::DATA, "data", "sx = last - sx;", "sx = last - sx - 1;", "flip is off by one pixel"),
    (&shaders::LABELS, "labels", "labels_drawn[i] = mulhilo(w[i % 4u], rp.classes).x;", "labels_drawn[i] = mulhilo(w[i % 3u], rp.classes).x;", "random labels reuse a Philox word"),
    (&shaders::POOL, "pool", "let lo = max(ip - i32(k) + i32(s), 0) / i32(s);", "let lo = max(ip - i32(k), 0) / i32(s);", "pooling gradients miss the first window covering an element"),
    (&shaders::POOL, "pool", "if (arg == 0xffffffffu || v > best || v != v) {", "if (arg == 0xffffffffu || v >= best || v != v) {", "max pooling's last maximum wins a tie"),
    (&shaders::POOL, "pool", "let ix = i32(ox * ap.stride + kx) - i32(ap.padding);", "let ix = i32(ox * ap.stride + kx) - i32(ap.padding) + 1;", "average pool window shifted by one column"),
    (&shaders::LABELS, "labels", "let shift = 1u + mulhilo(w[i % 4u], mp.classes - 1u).x;", "let shift = mulhilo(w[i % 4u], mp.classes).x;", "a wrong label that can be the right one"),
    (&shaders::LABELS, "labels", "cat_labels[b] == c - cp.channels", "cat_labels[b] == c - cp.channels + 1u", "one-hot channel off by one"),
    (&shaders::LABELS, "labels", "cat_dx[i] = cat_dout[b * (bp.channels + bp.classes) * bp.plane + rem];", "cat_dx[i] = cat_dout[b * bp.channels * bp.plane + rem];", "backward ignores the label channels' stride"),
    (&shaders::EMBEDDING, "embedding", "if (eb_labels[b] == k) {", "if (eb_labels[b] >= k) {", "embedding gradient scattered into every row up to the label"),
    (&shaders::EMBEDDING, "embedding", "ef_embed[min(y, efp.classes - 1u) * efp.dim + n]", "ef_embed[min(y, efp.classes - 1u) + n]", "embedding row read without its stride"),
    (&shaders::EMBEDDING, "embedding", "for (var p = 0u; p < cbp.plane; p = p + 1u) {", "for (var p = 1u; p < cbp.plane; p = p + 1u) {", "plane gradient skips the first position"),
    (&shaders::EMBEDDING, "embedding", "cf_out[i] = cf_v[b * cfp.dim + (c - cfp.channels)];", "cf_out[i] = cf_v[b + (c - cfp.channels)];", "appended planes read without the vectors' row stride"),
    (&shaders::MINIBATCH_STD, "minibatch_std", "sq += d * d;\n        }\n        acc += sqrt(sq / f32(g) + EPS);", "sq += d * d;\n        }\n        acc += sqrt(sq / f32(g - 1u) + EPS);", "statistic with the unbiased variance (stylegan2-ada's is biased)"),
    (&shaders::MINIBATCH_STD, "minibatch_std", "st_v[t * stp.groups + n] = s;", "st_v[t + n * stp.group] = s;", "statistic written to consecutive samples instead of the group's members"),
    (&shaders::MINIBATCH_STD, "minibatch_std", "ds += bw_dv[i * m + n];", "ds += bw_dv[b];", "plane gradient of the sample only, not summed over its group"),
    (&shaders::MINIBATCH_STD, "minibatch_std", "tq * dj / (f32(g) * sigma * sigma * sigma)", "tq * dj / (f32(g) * sigma * sigma)", "adjoint of x with σ² for σ³"),
    (&shaders::RANDOM, "random", "select(vec4<f32>(0.0), vec4<f32>(1.0 / (1.0 - dp.a)), u >= vec4<f32>(dp.a));", "select(vec4<f32>(0.0), vec4<f32>(1.0), u >= vec4<f32>(dp.a));", "dropout does not rescale kept values"),
    (&shaders::DISTANCE, "distance", "max(fin_d[i] + fin_na[row] + fin_nb[col], 0.0)", "max(fin_d[i] + fin_na[row] + fin_nb[row], 0.0)", "reference norm indexed by the query row"),
    (&shaders::DISTANCE, "distance", "v = norm_x[k * np.rows + i];", "v = norm_x[k * np.dim + i];", "transposed norms use the wrong stride"),
    (&shaders::FINITE, "finite", "atomicMax(&out[p.slot], p.n - i);", "atomicMax(&out[p.slot], p.n - i - 1u);", "reports the element after the first bad one"),
    (&shaders::FINITE, "finite", "& 0x7f800000u) == 0x7f800000u", "& 0x7fc00000u) == 0x7fc00000u", "misses infinities (tests the quiet-NaN bit)"),
    (&shaders::OPTIM, "optim", "w = (1.0 - ep.beta) / one_minus_pow(ep.beta, t);", "w = 1.0 - ep.beta;", "moving average without the bias correction"),
    (&shaders::SPECTRAL_NORM, "spectral_norm", "let scale_v = 1.0 / max(sqrt(workgroup_sum(lid, sq)), pp.eps);", "let scale_v = 1.0 / max(workgroup_sum(lid, sq), pp.eps);", "v normalised by ‖v‖² instead of ‖v‖"),
    (&shaders::SPECTRAL_NORM, "spectral_norm", "- (bw_dot[0] / (s * s)) * bw_u[r] * bw_v[c];", "- (bw_dot[0] / s) * bw_u[r] * bw_v[c];", "backward through W/σ divides the projection by σ, not σ²"),
    (&shaders::PENALTY, "penalty", "fin_coef[b] = scale * 2.0 * (n - 1.0) / n;", "fin_coef[b] = scale * 2.0 * (n - 1.0);", "WGAN-GP adjoint without the 1/‖g‖ of the norm's derivative"),
    (&shaders::PENALTY, "penalty", "for (var k = lid; k < pp.per_sample; k += WG) {", "for (var k = lid; k < pp.per_sample; k += 2u * WG) {", "per-sample norms skip half the elements"),
    (&shaders::OPTIM, "optim", "let sq = rp.alpha * rms_sq[i] + (1.0 - rp.alpha) * g * g;", "let sq = rp.alpha * rms_sq[i] + (1.0 - rp.alpha) * g;", "RMSprop averages g instead of g²"),
    (&shaders::OPTIM, "optim", "warm = min(1.0, (i + 1.0) / f32(sched.warmup));", "warm = min(1.0, i / f32(sched.warmup));", "warm-up starts at 0 (the first step does not move)"),
    (&shaders::ELEMENTWISE, "elementwise", "min(max(fill_y[i], vec4<f32>(fill_p.alpha)), vec4<f32>(fill_p.beta))", "min(max(fill_y[i], vec4<f32>(fill_p.alpha)), vec4<f32>(-fill_p.alpha))", "clamp's upper bound is −lo"),
    (&shaders::ELEMENTWISE, "elementwise", "axpby_p.beta * axpby_y[i]", "axpby_p.alpha * axpby_y[i]", "axpby scales y by alpha"),
];

#[test]
fn every_mutation_is_caught() {
    let seed = check::seed_from_env_or_clock();
    // SHADERGAN_MUTANT_OP=op: only that op's mutations (while writing a kernel).
    let only = std::env::var("SHADERGAN_MUTANT_OP").ok();
    let mut missed = Vec::new();
    for &(shader, op, find, replace, bug) in MUTATIONS.iter().filter(|m| only.as_deref().is_none_or(|o| o == m.1)) {
        if shader.needs_subgroups && !gpu().caps.subgroups {
            eprintln!("{}: no SUBGROUP on this adapter, mutation '{bug}' not applicable", shader.file);
            continue;
        }
        assert_eq!(shader.source.matches(find).count(), 1, "{}: mutation target {find:?} must occur exactly once", shader.file);
        let mutated = gpu().with_shader_source(shader, shader.source.replacen(find, replace, 1));
        // Small cases only: the DCGAN shapes would add minutes and catch nothing new.
        let outcome = check::run_cases(&mutated, |c| c.op == op && !c.name.contains("dcgan"), seed, |_| {});
        let caught = match &outcome {
            Err(e) => {
                eprintln!("{}: '{bug}' caught as an error: {e}", shader.file);
                true
            }
            Ok(rows) => {
                let failed = rows.iter().filter(|r| !r.ok).count();
                eprintln!("{}: '{bug}' → {failed} of {} {op} checks fail", shader.file, rows.len());
                failed > 0
            }
        };
        if !caught {
            missed.push(format!("{} ({op}): {bug}", shader.file));
        }
    }
    assert!(missed.is_empty(), "mutations the suite did not catch (seed {seed}): {missed:#?}");
}
