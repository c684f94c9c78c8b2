//! The shape tables: every op, forward and every backward, on 1 element, smaller than a tile,
//! exactly a tile, tile + 1, odd primes, batch 1, stride 1 and 2, padding 0 and 1, kernels
//! 1, 3 and 4, grids folded past the workgroup limit, and the real DCGAN layer shapes (batch
//! 64, the 32×32×1 and 64×64×3 models of pytorch/examples with ngf = ndf = 64).

use super::{cancellation_bound, norm, sum_bound, Case, Rng, Row, ELEMENTWISE_BOUND, F32_U, TRANSCENDENTAL_BOUND};
use crate::error::Result;
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor};
use crate::ops::activation::Activation;
use crate::ops::batchnorm::BnConfig;
use crate::ops::conv::ConvKernel;
use crate::ops::conv2d::{Conv2dShape, Conv2dSpec};
use crate::ops::conv_transpose2d::{ConvT2dShape, ConvT2dSpec};
use crate::ops::matmul::{MatmulKernel, MatmulSpec};
use crate::ops::optim::AdamConfig;
use crate::ops::random::{Distribution, RngKey};
use crate::ops::{self};
use crate::reference::{self as cpu, Tensor};

/// Every case, in the order `check` prints them.
pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(elementwise_cases());
    v.extend(reduce_cases());
    v.extend(finite_cases());
    v.extend(activation_cases());
    v.extend(loss_cases());
    v.extend(optim_cases());
    v.extend(random_cases());
    v.extend(data_cases());
    v.extend(batchnorm_cases());
    v.extend(matmul_cases());
    v.extend(conv2d_cases());
    v.extend(conv_transpose2d_cases());
    v.extend(network_cases());
    v
}

// ------------------------------------------------------------------------------------ helpers

fn upload(gpu: &Gpu, shape: &[usize], data: &[f32], label: &str) -> Result<GpuTensor> {
    GpuTensor::from_f32(gpu, shape, data, label)
}

/// Poison `out` with NaN, run `dispatches`, read `out` back.
fn run_poisoned(gpu: &Gpu, label: &str, dispatches: &[Dispatch], out: &GpuTensor) -> Result<Vec<f32>> {
    out.poison(gpu)?;
    gpu.run(label, &dispatches.iter().collect::<Vec<_>>())?;
    out.read_f32(gpu)
}

/// Run `dispatches` (outputs already initialised) and read `outs` back.
fn run_read(gpu: &Gpu, label: &str, dispatches: &[Dispatch], outs: &[&GpuTensor]) -> Result<Vec<Vec<f32>>> {
    gpu.run(label, &dispatches.iter().collect::<Vec<_>>())?;
    outs.iter().map(|t| t.read_f32(gpu)).collect()
}

/// The elementwise square of `v`, in f64.
fn sq(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| (x as f64).powi(2)).collect()
}

/// The elementwise square of `v`, in f64, as a tensor of `shape`.
fn square_f32(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::new(shape, sq(v))
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn add(a: &[f32], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(&x, &y)| x as f64 + y).collect()
}

/// A copy of `gpu` whose grids fold past `cap` workgroups per dimension, to exercise the
/// folding logic (shaders recover flat indices from 2-D grids) with small tensors.
fn folded(gpu: &Gpu, cap: u32) -> Gpu {
    gpu.with_workgroup_cap(cap)
}

const FOLD_CAP: u32 = 8;

// ------------------------------------------------------------------------------- elementwise

fn elementwise_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for &(n, fold) in &[(1usize, false), (3, false), (17, false), (1000, false), (65_537, false), (10_007, true)] {
        let name = format!("elementwise n={n}{}", if fold { " folded" } else { "" });
        v.push(Case::new("elementwise", name, move |gpu, rng| {
            let capped;
            let gpu = if fold {
                capped = folded(gpu, FOLD_CAP);
                &capped
            } else {
                gpu
            };
            let shape = format!("n={n}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });
            let xs = rng.normals(n, 1.0);
            let ys = rng.normals(n, 1.0);
            let (alpha, beta, value) = (rng.normal() as f32, rng.normal() as f32, rng.normal() as f32);
            let x = upload(gpu, &[n], &xs, "x")?;
            let y_in = upload(gpu, &[n], &ys, "y")?;
            let out = GpuTensor::zeros(gpu, &[n], DType::F32, "out")?;
            let mut rows = Vec::new();
            // `terms`: the size of each output's terms where it can cancel (empty: it cannot).
            let mut cmp = |pass: &str, got: Vec<f32>, want: Vec<f64>, terms: Vec<f64>| {
                rows.push(Row::compare("elementwise", pass, &shape, "vec4", &got, &want, cancellation_bound(ELEMENTWISE_BOUND, &terms, &want)));
            };
            // a·x + b·y can cancel: bound relative to |a·x| + |b·y|.
            let two_terms = |a: f32, b: f32| -> Vec<f64> { xs.iter().zip(&ys).map(|(&x, &y)| (a as f64 * x as f64).abs() + (b as f64 * y as f64).abs()).collect() };
            let got = run_poisoned(gpu, "fill", &[ops::elementwise::fill(gpu, &out, value)?], &out)?;
            cmp("fill", got, vec![value as f64; n], Vec::new());
            let got = run_poisoned(gpu, "copy", &[ops::elementwise::copy(gpu, &x, &out)?], &out)?;
            cmp("copy", got, f64s(&xs), Vec::new());
            let got = run_poisoned(gpu, "scale", &[ops::elementwise::scale(gpu, &x, &out, alpha)?], &out)?;
            cmp("scale", got, xs.iter().map(|&a| alpha as f64 * a as f64).collect(), Vec::new());
            let got = run_poisoned(gpu, "axpby", &[ops::elementwise::axpby(gpu, alpha, &x, beta, &y_in, &out)?], &out)?;
            cmp("axpby", got, xs.iter().zip(&ys).map(|(&a, &b)| alpha as f64 * a as f64 + beta as f64 * b as f64).collect(), two_terms(alpha, beta));
            let got = run_poisoned(gpu, "mul", &[ops::elementwise::mul(gpu, &x, &y_in, &out)?], &out)?;
            cmp("mul", got, xs.iter().zip(&ys).map(|(&a, &b)| a as f64 * b as f64).collect(), Vec::new());
            // clamp in place, to a range that cuts both tails of the normals.
            let (lo, hi) = (-(alpha.abs() + 0.1), beta.abs() + 0.1);
            out.write_f32(gpu, &ys)?;
            let got = run_read(gpu, "clamp", &[ops::elementwise::clamp(gpu, &out, lo, hi)?], &[&out])?.remove(0);
            cmp("clamp", got, ys.iter().map(|&b| (b as f64).clamp(lo as f64, hi as f64)).collect(), Vec::new());
            out.write_f32(gpu, &ys)?;
            let got = run_read(gpu, "axpy", &[ops::elementwise::axpy(gpu, alpha, &x, &out)?], &[&out])?.remove(0);
            cmp("axpy", got, xs.iter().zip(&ys).map(|(&a, &b)| alpha as f64 * a as f64 + b as f64).collect(), two_terms(alpha, 1.0));
            Ok(rows)
        }));
    }
    v.push(Case::new("elementwise", "counter_add", |gpu, rng| {
        let start: Vec<u32> = (0..5).map(|_| rng.next_u64() as u32 >> 1).collect();
        let counters = GpuTensor::from_u32(gpu, &[5], &start, "counters")?;
        let delta = 1 + (rng.next_u64() % 1000) as u32;
        gpu.run("counter_add", &[&ops::elementwise::counter_add(gpu, &counters, 3, delta)?])?;
        let got = counters.read_u32(gpu)?;
        let mut want = start.clone();
        want[3] = want[3].wrapping_add(delta);
        let err = got.iter().zip(&want).filter(|(a, b)| a != b).count() as f64;
        Ok(vec![Row::scalar("elementwise", "counter_add", "5 counters", "scalar", err, 0.0)])
    }));
    v
}

// ------------------------------------------------------------------------------------ reduce

fn reduce_cases() -> Vec<Case> {
    let mut v = Vec::new();
    let shapes: &[(&[usize], bool)] = &[
        (&[1, 1], false),
        (&[3, 5, 7], false),
        (&[64, 65, 17], false),
        (&[1, 3, 127], false),
        (&[64, 512, 4, 4], false),
        (&[5, 10, 3], true),
    ];
    for &(shape, fold) in shapes {
        let shape = shape.to_vec();
        let name = format!("reduce {shape:?}{}", if fold { " folded" } else { "" });
        v.push(Case::new("reduce", name, move |gpu, rng| {
            let capped;
            let gpu = if fold {
                capped = folded(gpu, FOLD_CAP);
                &capped
            } else {
                gpu
            };
            let n: usize = shape.iter().product();
            let c = shape[1];
            let label = format!("{shape:?}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });
            let xs = rng.normals(n, 1.0);
            let x = upload(gpu, &shape, &xs, "x")?;
            let reference = cpu::reduce::sum_channels(&Tensor::from_f32(&shape, &xs));
            // Each sum's terms, in quadrature: Σx² through the same reduction.
            let squares = square_f32(&shape, &xs);
            let terms: Vec<f64> = cpu::reduce::sum_channels(&squares).iter().map(|s| s.sqrt()).collect();
            let k = n / c;
            let mut rows = Vec::new();
            let out = GpuTensor::zeros(gpu, &[c], DType::F32, "sum")?;
            let got = run_poisoned(gpu, "sum_channels", &[ops::reduce::sum_channels(gpu, "reduce", &x, &out, false)?], &out)?;
            rows.push(Row::compare("reduce", "sum_channels", &label, "wg256", &got, &reference, cancellation_bound(sum_bound(k), &terms, &reference)));
            let init = rng.normals(c, 1.0);
            out.write_f32(gpu, &init)?;
            let got = run_read(gpu, "sum_channels +=", &[ops::reduce::sum_channels(gpu, "reduce", &x, &out, true)?], &[&out])?.remove(0);
            let want = add(&init, &reference);
            let terms_acc: Vec<f64> = terms.iter().zip(&init).map(|(t, &i)| t.hypot(i as f64)).collect();
            rows.push(Row::compare("reduce", "sum_channels +=", &label, "wg256", &got, &want, cancellation_bound(sum_bound(k + 1), &terms_acc, &want)));
            // The same tensor seen as [S, rest]: sums over the leading axis.
            let lead = cpu::reduce::sum_leading(&Tensor::from_f32(&shape, &xs));
            let lead_terms: Vec<f64> = cpu::reduce::sum_leading(&squares).iter().map(|s| s.sqrt()).collect();
            let out2 = GpuTensor::zeros(gpu, &[n / shape[0]], DType::F32, "sum_leading")?;
            let got = run_poisoned(gpu, "sum_leading", &[ops::reduce::sum_leading(gpu, "reduce", &x, &out2, false)?], &out2)?;
            rows.push(Row::compare("reduce", "sum_leading", &label, "scalar", &got, &lead, cancellation_bound(sum_bound(shape[0]), &lead_terms, &lead)));
            Ok(rows)
        }));
    }
    v
}

// ------------------------------------------------------------------------------------ finite

fn finite_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for &(n, fold) in &[(1usize, false), (3, false), (17, false), (65, false), (127, false), (70_001, false), (3001, true)] {
        let name = format!("finite n={n}{}", if fold { " folded" } else { "" });
        v.push(Case::new("finite", name, move |gpu, rng| {
            let capped;
            let gpu = if fold {
                capped = folded(gpu, FOLD_CAP);
                &capped
            } else {
                gpu
            };
            // Three tensors: all finite; one bad value; several (the first must win whatever
            // order the invocations run in). Bad values: NaN, +inf, −inf in turn.
            let bad = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
            let mut inputs = [rng.normals(n, 1.0), rng.normals(n, 1.0), rng.normals(n, 1.0)];
            let at = |rng: &mut Rng| (rng.next_u64() % n as u64) as usize;
            let one = at(rng);
            inputs[1][one] = bad[one % 3];
            for k in 0..5 {
                let i = at(rng);
                inputs[2][i] = bad[k % 3];
            }
            let out = GpuTensor::from_u32(gpu, &[4], &[0; 4], "first bad")?;
            let mut dispatches = Vec::new();
            let mut tensors = Vec::new();
            for (slot, xs) in inputs.iter().enumerate() {
                tensors.push(upload(gpu, &[n], xs, "x")?);
                dispatches.push(ops::finite::first_nonfinite(gpu, &tensors[slot], &out, slot)?);
            }
            gpu.run("first_nonfinite", &dispatches.iter().collect::<Vec<_>>())?;
            let slots = out.read_u32(gpu)?;
            // Index of the first bad value, −1 for none; slot 3 is never written and stays 0.
            let got: Vec<f32> = (0..3).map(|s| ops::finite::decode(slots[s], n).map_or(-1.0, |i| i as f32)).chain([slots[3] as f32]).collect();
            let want: Vec<f64> = inputs.iter().map(|xs| cpu::finite::first_nonfinite(xs).map_or(-1.0, |i| i as f64)).chain([0.0]).collect();
            let label = format!("n={n}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });
            Ok(vec![Row::compare("finite", "first_nonfinite", &label, "wg256", &got, &want, 0.0)])
        }));
    }
    v
}

// -------------------------------------------------------------------------------- activation

fn activation_cases() -> Vec<Case> {
    let acts = [Activation::Relu, Activation::LeakyRelu(0.2), Activation::Tanh, Activation::Sigmoid];
    let mut v = Vec::new();
    // (n, scale of x, grid folded)
    for &(n, scale, fold) in &[
        (1usize, 1.0, false),
        (3, 1.0, false),
        (17, 2.0, false),
        (127, 3.0, false),
        (262_147, 2.0, false),
        (1000, 100.0, false),
        (10_007, 2.0, true),
    ] {
        for act in acts {
            let name = format!("{} n={n} scale={scale}{}", act.name(), if fold { " folded" } else { "" });
            v.push(Case::new("activation", name, move |gpu, rng| {
                let capped;
                let gpu = if fold {
                    capped = folded(gpu, FOLD_CAP);
                    &capped
                } else {
                    gpu
                };
                let mut xs = rng.normals(n, scale);
                // Exact zeros pin the derivative convention at 0 (PyTorch: relu'(0) = 0);
                // large magnitudes check saturation without NaN.
                if n >= 17 {
                    xs[1] = 0.0;
                    xs[5] = 1e4;
                    xs[6] = -1e4;
                    xs[7] = -0.0;
                }
                let dys = rng.normals(n, 1.0);
                let shape = format!("n={n} |x|~{scale}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });
                let cpu_act = match act {
                    Activation::Relu => cpu::activation::Act::Relu,
                    Activation::LeakyRelu(s) => cpu::activation::Act::LeakyRelu(s as f64),
                    Activation::Tanh => cpu::activation::Act::Tanh,
                    Activation::Sigmoid => cpu::activation::Act::Sigmoid,
                };
                let xd = f64s(&xs);
                let y_ref = cpu::activation::forward(cpu_act, &xd);
                let dx_ref = cpu::activation::backward(cpu_act, &xd, &f64s(&dys));
                let bound = match act {
                    Activation::Tanh | Activation::Sigmoid => TRANSCENDENTAL_BOUND,
                    _ => ELEMENTWISE_BOUND,
                };
                let x = upload(gpu, &[n], &xs, "x")?;
                let dy = upload(gpu, &[n], &dys, "dy")?;
                let y = GpuTensor::zeros(gpu, &[n], DType::F32, "y")?;
                let dx = GpuTensor::zeros(gpu, &[n], DType::F32, "dx")?;
                let got_y = run_poisoned(gpu, "act fwd", &[ops::activation::forward(gpu, act, &x, &y)?], &y)?;
                let saved = if act.backward_uses_output() { &y } else { &x };
                let got_dx = run_poisoned(gpu, "act bwd", &[ops::activation::backward(gpu, act, &dy, saved, &dx)?], &dx)?;
                Ok(vec![
                    Row::compare("activation", &format!("{}_forward", act.name()), &shape, "vec4", &got_y, &y_ref, bound),
                    Row::compare("activation", &format!("{}_backward", act.name()), &shape, "vec4", &got_dx, &dx_ref, bound),
                ])
            }));
        }
    }
    v
}

// -------------------------------------------------------------------------------------- loss

fn loss_cases() -> Vec<Case> {
    use ops::loss::Elementwise;
    let mut v = Vec::new();
    // (kind, n, logit spread, scale, folded grid): 100 and 1e4 check BCE's stability far
    // beyond where e^x overflows; n > 1024 takes the two-pass reduction.
    let cases: &[(Elementwise, usize, f64, f64, bool)] = &[
        (Elementwise::BceWithLogits, 1, 1.0, 1.0, false),
        (Elementwise::BceWithLogits, 3, 2.0, 1.0, false),
        (Elementwise::BceWithLogits, 64, 3.0, 1.0, false),
        (Elementwise::BceWithLogits, 64, 3.0, -1.0, false),
        (Elementwise::BceWithLogits, 127, 100.0, 1.0, false),
        (Elementwise::BceWithLogits, 1000, 1e4, 1.0, false),
        (Elementwise::BceWithLogits, 4099, 5.0, 0.5, false),
        (Elementwise::LeastSquares, 1, 1.0, 1.0, false),
        (Elementwise::LeastSquares, 65, 2.0, 1.0, false),
        (Elementwise::LeastSquares, 70_001, 2.0, 0.5, false),
        (Elementwise::Hinge, 3, 2.0, 1.0, false),
        (Elementwise::Hinge, 1025, 2.0, 1.0, false),
        (Elementwise::Hinge, 20_000, 2.0, 1.0, true),
        (Elementwise::Linear, 1, 1.0, 1.0, false),
        (Elementwise::Linear, 127, 3.0, -1.0, false),
        (Elementwise::Linear, 5000, 3.0, 1.0, false),
    ];
    for &(kind, n, spread, scale, fold) in cases {
        let name = format!("{} n={n} |x|~{spread} scale={scale}{}", kind.name(), if fold { " folded" } else { "" });
        v.push(Case::new("loss", name, move |gpu, rng| {
            let capped;
            let gpu = if fold {
                capped = folded(gpu, FOLD_CAP);
                &capped
            } else {
                gpu
            };
            let xs = rng.normals(n, spread);
            // Targets: BCE mostly hard labels, some soft; least squares any value; hinge and
            // linear the signs ±1 they are defined with.
            let ts: Vec<f32> = (0..n)
                .map(|i| match (kind, i % 3) {
                    (Elementwise::BceWithLogits, 0) => 1.0,
                    (Elementwise::BceWithLogits, 1) => 0.0,
                    (Elementwise::BceWithLogits, _) => rng.uniform() as f32,
                    (Elementwise::LeastSquares, _) => rng.normals(1, 1.0)[0],
                    (_, r) => if r == 1 { -1.0 } else { 1.0 },
                })
                .collect();
            // The hinge's kink, 1 − t·x = 0 exactly, where its subgradient must be 0.
            let mut xs = xs;
            if kind == Elementwise::Hinge {
                for i in (0..n).step_by(7) {
                    xs[i] = ts[i];
                }
            }
            let cpu_kind = match kind {
                Elementwise::BceWithLogits => cpu::loss::Kind::Bce,
                Elementwise::LeastSquares => cpu::loss::Kind::LeastSquares,
                Elementwise::Hinge => cpu::loss::Kind::Hinge,
                Elementwise::Linear => cpu::loss::Kind::Linear,
            };
            let (xd, td) = (f64s(&xs), f64s(&ts));
            let (loss_ref, stat_ref) = cpu::loss::elementwise(cpu_kind, &xd, &td, scale);
            let grad_ref = cpu::loss::elementwise_grad(cpu_kind, &xd, &td, scale);
            let logits = upload(gpu, &[n], &xs, "logits")?;
            let targets = upload(gpu, &[n], &ts, "targets")?;
            let dlogits = GpuTensor::zeros(gpu, &[n], DType::F32, "dlogits")?;
            let out = GpuTensor::zeros(gpu, &[4], DType::F32, "loss")?;
            out.poison(gpu)?;
            let got_grad = run_poisoned(gpu, kind.name(), &ops::loss::elementwise(gpu, kind, &logits, &targets, &dlogits, &out, 1, scale as f32)?, &dlogits)?;
            let got_out = out.read_f32(gpu)?;
            let shape = format!("n={n} |x|~{spread} scale={scale}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });
            // The sums cancel (signed terms): bound them by their terms' size.
            let terms_loss = scale.abs() * xd.iter().zip(&td).map(|(&x, &t)| cpu::loss::elementwise(cpu_kind, &[x], &[t], 1.0).0.abs()).sum::<f64>() / n as f64;
            let terms_stat = match kind {
                Elementwise::BceWithLogits => stat_ref.abs(),
                _ => xd.iter().map(|x| x.abs()).sum::<f64>() / n as f64,
            };
            let k_bound = sum_bound(n).max(TRANSCENDENTAL_BOUND);
            let kernel = if n > ops::loss::CHUNK { "2-pass" } else { "wg256" };
            Ok(vec![
                Row::compare("loss", &format!("{}_value", kind.name()), &shape, kernel, &got_out[1..2], &[loss_ref], cancellation_bound(k_bound, &[terms_loss], &[loss_ref])),
                Row::compare("loss", &format!("{}_mean_stat", kind.name()), &shape, kernel, &got_out[2..3], &[stat_ref], cancellation_bound(k_bound, &[terms_stat], &[stat_ref])),
                Row::compare("loss", &format!("{}_gradient", kind.name()), &shape, kernel, &got_grad, &grad_ref, TRANSCENDENTAL_BOUND),
            ])
        }));
    }
    // Softmax cross-entropy: (rows, classes, spread), one class, ragged sizes, two passes.
    for &(rows, classes, spread) in &[(1usize, 1usize, 1.0f64), (3, 10, 3.0), (65, 7, 30.0), (1500, 10, 2.0)] {
        v.push(Case::new("loss", format!("softmax_ce {rows}x{classes} |x|~{spread}"), move |gpu, rng| {
            let xs = rng.normals(rows * classes, spread);
            let labels: Vec<u32> = (0..rows).map(|_| (rng.next_u64() % classes as u64) as u32).collect();
            let lab: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
            let xd = f64s(&xs);
            let (loss_ref, acc_ref) = cpu::loss::softmax_cross_entropy(&xd, classes, &lab, 1.0);
            let grad_ref = cpu::loss::softmax_cross_entropy_grad(&xd, classes, &lab, 1.0);
            let logits = upload(gpu, &[rows, classes], &xs, "logits")?;
            let labels_t = GpuTensor::from_u32(gpu, &[rows], &labels, "labels")?;
            let dlogits = GpuTensor::zeros(gpu, &[rows, classes], DType::F32, "dlogits")?;
            let out = GpuTensor::zeros(gpu, &[2], DType::F32, "loss")?;
            out.poison(gpu)?;
            let got_grad = run_poisoned(gpu, "softmax_ce", &ops::loss::softmax_cross_entropy(gpu, &logits, &labels_t, &dlogits, &out, 0, 1.0)?, &dlogits)?;
            let got_out = out.read_f32(gpu)?;
            let shape = format!("[{rows}, {classes}] |x|~{spread}");
            let kernel = if rows > ops::loss::CHUNK { "2-pass" } else { "wg256" };
            // Per row ℓ = log z − (x_y − max): the two terms cancel when the row is confident,
            // so the bound is relative to their size.
            let terms: f64 = xd
                .chunks(classes)
                .zip(&lab)
                .map(|(row, &y)| {
                    let best = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    row.iter().map(|v| (v - best).exp()).sum::<f64>().ln() + (best - row[y])
                })
                .sum::<f64>()
                / rows as f64;
            let k_bound = sum_bound(rows + classes).max(TRANSCENDENTAL_BOUND);
            Ok(vec![
                Row::compare("loss", "softmax_ce_value", &shape, kernel, &got_out[0..1], &[loss_ref], cancellation_bound(k_bound, &[terms], &[loss_ref])),
                // The accuracy counts argmax hits exactly (integers below 2^24 sum exactly in
                // f32); only hits·(1/B) rounds: 2u. A wrong hit is off by ≥ 1/B ≫ 2u.
                Row::compare("loss", "softmax_ce_accuracy", &shape, kernel, &got_out[1..2], &[acc_ref], 2.0 * super::F32_U),
                Row::compare("loss", "softmax_ce_gradient", &shape, kernel, &got_grad, &grad_ref, TRANSCENDENTAL_BOUND),
            ])
        }));
    }
    v
}

// ------------------------------------------------------------------------------------- optim

/// Bound for an optimizer step compared as Δ = p_new − p_old: the update's own arithmetic
/// (through sqrt and the bias corrections: TRANSCENDENTAL_BOUND) plus storing p_new in f32,
/// which alone costs u·|p_new| per element — large next to a small step. Computed from the
/// reference, so a step that is tiny relative to its parameter gets the room it needs.
fn step_bound(p_new: &[f64], delta: &[f64]) -> f64 {
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    TRANSCENDENTAL_BOUND + 2.0 * super::F32_U * norm(p_new) / norm(delta).max(f64::MIN_POSITIVE)
}

fn optim_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for &(n, t, wd, decoupled, fold) in &[
        (1usize, 1u32, 0.0f32, false, false),
        (17, 1, 0.0, false, false),
        (1000, 7, 0.01, false, false),
        (1003, 250, 0.05, true, false),
        (10_007, 3, 0.0, false, true),
    ] {
        let name = format!("adam n={n} t={t} wd={wd} decoupled={decoupled}{}", if fold { " folded" } else { "" });
        v.push(Case::new("optim", name, move |gpu, rng| {
            let capped;
            let gpu = if fold {
                capped = folded(gpu, FOLD_CAP);
                &capped
            } else {
                gpu
            };
            // lr is large so that the step itself (not the parameter) is measured: the
            // comparison is on Δparam = new − old.
            let cfg = AdamConfig { lr: 0.1, beta1: 0.5, beta2: 0.999, eps: 1e-8, weight_decay: wd, decoupled };
            let (p0, g, m0, v0) = (rng.normals(n, 1.0), rng.normals(n, 1.0), rng.normals(n, 0.1), rng.uniforms(n, 0.0, 1.0));
            let (mut p, mut m, mut vv) = (f64s(&p0), f64s(&m0), f64s(&v0));
            let hyper = (cfg.lr as f64, cfg.beta1 as f64, cfg.beta2 as f64, cfg.eps as f64);
            cpu::optim::adam_step(&mut p, &f64s(&g), &mut m, &mut vv, t, hyper, wd as f64, decoupled);
            let counters = GpuTensor::from_u32(gpu, &[2], &[99, t - 1], "counters")?;
            let (param, grad) = (upload(gpu, &[n], &p0, "param")?, upload(gpu, &[n], &g, "grad")?);
            let (mt, vt) = (upload(gpu, &[n], &m0, "m")?, upload(gpu, &[n], &v0, "v")?);
            // The step counter is bumped on the GPU first, as the trainer does.
            let d = [
                ops::elementwise::counter_add(gpu, &counters, 1, 1)?,
                ops::optim::adam_step(gpu, &cfg, &grad, &counters, 1, &param, &mt, &vt)?,
            ];
            let got = run_read(gpu, "adam", &d, &[&param, &mt, &vt])?;
            let delta_gpu: Vec<f32> = got[0].iter().zip(&p0).map(|(a, b)| a - b).collect();
            let delta_ref: Vec<f64> = p.iter().zip(&p0).map(|(a, &b)| a - b as f64).collect();
            let shape = format!("n={n} t={t} wd={wd}{}{}", if decoupled { " AdamW" } else { "" }, if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });
            Ok(vec![
                Row::compare("optim", "adam_delta_param", &shape, "vec4", &delta_gpu, &delta_ref, step_bound(&p, &delta_ref)),
                Row::compare("optim", "adam_m", &shape, "vec4", &got[1], &m, ELEMENTWISE_BOUND),
                Row::compare("optim", "adam_v", &shape, "vec4", &got[2], &vv, ELEMENTWISE_BOUND),
            ])
        }));
    }
    for &(n, momentum) in &[(1usize, None), (1001, None), (3, Some(0.9f32)), (1001, Some(0.9))] {
        v.push(Case::new("optim", format!("sgd n={n} momentum={momentum:?}"), move |gpu, rng| {
            let (lr, wd) = (0.1f32, 0.01f32);
            let (p0, g, b0) = (rng.normals(n, 1.0), rng.normals(n, 1.0), rng.normals(n, 0.1));
            let mut p = f64s(&p0);
            let mut buf = f64s(&b0);
            cpu::optim::sgd_step(&mut p, &f64s(&g), lr as f64, wd as f64, momentum.map(|mu| (mu as f64, &mut buf[..])));
            let (param, grad, bt) = (upload(gpu, &[n], &p0, "param")?, upload(gpu, &[n], &g, "grad")?, upload(gpu, &[n], &b0, "buf")?);
            let d = ops::optim::sgd_step(gpu, lr, wd, momentum.map(|mu| (mu, &bt)), &grad, &param)?;
            let got = run_read(gpu, "sgd", &[d], &[&param, &bt])?;
            let delta_gpu: Vec<f32> = got[0].iter().zip(&p0).map(|(a, b)| a - b).collect();
            let delta_ref: Vec<f64> = p.iter().zip(&p0).map(|(a, &b)| a - b as f64).collect();
            let shape = format!("n={n} momentum={momentum:?}");
            let mut rows = vec![Row::compare("optim", "sgd_delta_param", &shape, "vec4", &delta_gpu, &delta_ref, step_bound(&p, &delta_ref))];
            if momentum.is_some() {
                rows.push(Row::compare("optim", "sgd_momentum_buf", &shape, "vec4", &got[1], &buf, ELEMENTWISE_BOUND));
            }
            Ok(rows)
        }));
    }
    for &(n, wd, fold) in &[(1usize, 0.0f32, false), (17, 0.0, false), (1003, 0.01, false), (10_007, 0.0, true)] {
        v.push(Case::new("optim", format!("rmsprop n={n} wd={wd}{}", if fold { " folded" } else { "" }), move |gpu, rng| {
            let capped;
            let gpu = if fold {
                capped = folded(gpu, FOLD_CAP);
                &capped
            } else {
                gpu
            };
            let (lr, alpha, eps) = (0.05f32, 0.99f32, 1e-8f32);
            let (p0, g, s0) = (rng.normals(n, 1.0), rng.normals(n, 1.0), rng.uniforms(n, 0.0, 1.0));
            let (mut p, mut sq) = (f64s(&p0), f64s(&s0));
            cpu::optim::rmsprop_step(&mut p, &f64s(&g), &mut sq, (lr as f64, alpha as f64, eps as f64), wd as f64);
            let (param, grad, st) = (upload(gpu, &[n], &p0, "param")?, upload(gpu, &[n], &g, "grad")?, upload(gpu, &[n], &s0, "sq")?);
            let d = ops::optim::rmsprop_step(gpu, lr, alpha, eps, wd, &grad, &param, &st)?;
            let got = run_read(gpu, "rmsprop", &[d], &[&param, &st])?;
            let delta_gpu: Vec<f32> = got[0].iter().zip(&p0).map(|(a, b)| a - b).collect();
            let delta_ref: Vec<f64> = p.iter().zip(&p0).map(|(a, &b)| a - b as f64).collect();
            let shape = format!("n={n} wd={wd}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });
            Ok(vec![
                Row::compare("optim", "rmsprop_delta_param", &shape, "vec4", &delta_gpu, &delta_ref, step_bound(&p, &delta_ref)),
                Row::compare("optim", "rmsprop_square_avg", &shape, "vec4", &got[1], &sq, ELEMENTWISE_BOUND),
            ])
        }));
    }
    v
}

// ------------------------------------------------------------------------------------ random

fn random_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for &(n, fold) in &[(1usize, false), (7, false), (1027, false), (10_007, true)] {
        v.push(Case::new("random", format!("philox n={n}{}", if fold { " folded" } else { "" }), move |gpu, rng| {
            let capped;
            let gpu = if fold {
                capped = folded(gpu, FOLD_CAP);
                &capped
            } else {
                gpu
            };
            let seed = rng.next_u64();
            let stream = rng.next_u64() as u32;
            let step = rng.next_u64() as u32;
            let key = RngKey { seed, stream, counter_index: 1 };
            let counters = GpuTensor::from_u32(gpu, &[2], &[0, step], "counters")?;
            let shape = format!("n={n}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });
            let bits = GpuTensor::zeros(gpu, &[n], DType::U32, "bits")?;
            gpu.run("rng bits", &[&ops::random::sample(gpu, Distribution::Bits, key, &counters, &bits)?])?;
            let got_bits = bits.read_u32(gpu)?;
            let want_bits = cpu::random::bits(seed, stream, step, n);
            let wrong = got_bits.iter().zip(&want_bits).filter(|(a, b)| a != b).count() as f64;
            let out = GpuTensor::zeros(gpu, &[n], DType::F32, "samples")?;
            // Ranges away from 0: low + (high − low)·u cancels where the result nears 0, and
            // a relative comparison of one such element would measure that, not the kernel.
            let uni = Distribution::Uniform { low: 0.5, high: 3.0 };
            let got_u = run_poisoned(gpu, "rng uniform", &[ops::random::sample(gpu, uni, key, &counters, &out)?], &out)?;
            let nor = Distribution::Normal { mean: 0.0, std: 2.0 };
            let got_n = run_poisoned(gpu, "rng normal", &[ops::random::sample(gpu, nor, key, &counters, &out)?], &out)?;
            // Box–Muller: z = std·r·cos θ (sin θ for the pair's second), so the driver's cos
            // and sin errors are absolute, of size std·r = |pair| — the size of z's terms.
            let want_n = cpu::random::normal(seed, stream, step, n, 0.0, 2.0);
            let pairs = cpu::random::normal(seed, stream, step, n.next_multiple_of(2), 0.0, 2.0);
            let radius: Vec<f64> = (0..n).map(|i| pairs[i & !1].hypot(pairs[i | 1])).collect();
            Ok(vec![
                Row::scalar("random", "philox_bits (words differing)", &shape, "vec4", wrong, 0.0),
                Row::compare("random", "uniform", &shape, "vec4", &got_u, &cpu::random::uniform(seed, stream, step, n, 0.5, 3.0), ELEMENTWISE_BOUND),
                Row::compare("random", "normal", &shape, "vec4", &got_n, &want_n, cancellation_bound(TRANSCENDENTAL_BOUND, &radius, &want_n)),
            ])
        }));
    }
    for &(n, p) in &[(1usize, 0.5f32), (17, 0.3), (10_001, 0.5), (1000, 0.9)] {
        v.push(Case::new("random", format!("dropout n={n} p={p}"), move |gpu, rng| {
            let seed = rng.next_u64();
            let (stream, step) = (rng.next_u64() as u32, rng.next_u64() as u32);
            let key = RngKey { seed, stream, counter_index: 0 };
            let counters = GpuTensor::from_u32(gpu, &[1], &[step], "counters")?;
            let (xs, dys) = (rng.normals(n, 1.0), rng.normals(n, 1.0));
            let (y_ref, mask_ref) = cpu::random::dropout(&f64s(&xs), p as f64, seed, stream, step);
            let dx_ref: Vec<f64> = dys.iter().zip(&mask_ref).map(|(&g, m)| g as f64 * m).collect();
            let x = upload(gpu, &[n], &xs, "x")?;
            let dy = upload(gpu, &[n], &dys, "dy")?;
            let (y, mask, dx) = (GpuTensor::zeros(gpu, &[n], DType::F32, "y")?, GpuTensor::zeros(gpu, &[n], DType::F32, "mask")?, GpuTensor::zeros(gpu, &[n], DType::F32, "dx")?);
            y.poison(gpu)?;
            mask.poison(gpu)?;
            let got = run_read(gpu, "dropout", &[ops::random::dropout_forward(gpu, p, key, &counters, &x, &y, &mask)?], &[&y, &mask])?;
            let got_dx = run_poisoned(gpu, "dropout bwd", &[ops::elementwise::mul(gpu, &dy, &mask, &dx)?], &dx)?;
            let shape = format!("n={n} p={p}");
            Ok(vec![
                Row::compare("random", "dropout_forward", &shape, "vec4", &got[0], &y_ref, ELEMENTWISE_BOUND),
                Row::compare("random", "dropout_mask", &shape, "vec4", &got[1], &mask_ref, ELEMENTWISE_BOUND),
                Row::compare("random", "dropout_backward", &shape, "vec4", &got_dx, &dx_ref, ELEMENTWISE_BOUND),
            ])
        }));
    }
    v.push(Case::new("random", "statistics and reproducibility", |gpu, rng| {
        let n = 1 << 20;
        let seed = rng.next_u64();
        let counters = GpuTensor::from_u32(gpu, &[1], &[0], "counters")?;
        let key = RngKey { seed, stream: 0, counter_index: 0 };
        let out = GpuTensor::zeros(gpu, &[n], DType::F32, "normals")?;
        let normal = Distribution::Normal { mean: 0.0, std: 1.0 };
        let a = run_poisoned(gpu, "rng normal", &[ops::random::sample(gpu, normal, key, &counters, &out)?], &out)?;
        let mean = a.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
        let var = a.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
        // Sample mean ~ N(0, 1/n); sample variance ~ N(1, 2/n): 5 standard deviations.
        let (mean_bound, var_bound) = (5.0 / (n as f64).sqrt(), 5.0 * (2.0 / n as f64).sqrt());
        // Same seed again: the same bits.
        let b = run_poisoned(gpu, "rng normal again", &[ops::random::sample(gpu, normal, key, &counters, &out)?], &out)?;
        let differing = a.iter().zip(&b).filter(|(x, y)| x.to_bits() != y.to_bits()).count() as f64;
        // A smaller dispatch draws a prefix of the same sequence.
        let small = GpuTensor::zeros(gpu, &[1001], DType::F32, "prefix")?;
        let c = run_poisoned(gpu, "rng prefix", &[ops::random::sample(gpu, normal, key, &counters, &small)?], &small)?;
        let prefix_diff = c.iter().zip(&a).filter(|(x, y)| x.to_bits() != y.to_bits()).count() as f64;
        // Another step (counter) draws different numbers.
        counters.write_u32(gpu, &[1])?;
        let d = run_poisoned(gpu, "rng next step", &[ops::random::sample(gpu, normal, key, &counters, &out)?], &out)?;
        let same_as_prev = a.iter().zip(&d).filter(|(x, y)| x.to_bits() == y.to_bits()).count() as f64 / n as f64;
        let shape = format!("n={n}");
        Ok(vec![
            Row::scalar("random", "normal |mean|", &shape, "vec4", mean.abs(), mean_bound),
            Row::scalar("random", "normal |var − 1|", &shape, "vec4", (var - 1.0).abs(), var_bound),
            Row::scalar("random", "same seed → same bits (values differing)", &shape, "vec4", differing, 0.0),
            Row::scalar("random", "dispatch size independence (prefix differing)", "n=1001 vs 2^20", "vec4", prefix_diff, 0.0),
            Row::scalar("random", "next step differs (fraction equal)", &shape, "vec4", same_as_prev, 1e-3),
        ])
    }));
    v
}

// -------------------------------------------------------------------------------------- data

fn data_cases() -> Vec<Case> {
    use ops::data::{Augment, GpuDataset};
    let mut v = Vec::new();
    // (images, channels, size, batch, first batch number, augment, lowered binding limit)
    let cases: &[(usize, usize, usize, usize, u32, Augment, Option<u32>)] = &[
        (1, 1, 4, 1, 0, Augment { flip: false, max_shift: 0, brightness: 0.0 }, None),
        (7, 3, 5, 3, 0, Augment { flip: true, max_shift: 2, brightness: 0.3 }, None),
        (1000, 1, 8, 64, 14, Augment { flip: false, max_shift: 0, brightness: 0.0 }, None),
        (1000, 3, 8, 64, 30, Augment { flip: true, max_shift: 1, brightness: 0.1 }, None),
        // Four chunk bindings: 300 images of 192 bytes at a binding limit lowered to 16 KiB.
        (300, 3, 8, 16, 5, Augment { flip: true, max_shift: 3, brightness: 0.0 }, Some(16384)),
    ];
    for &(n, c, size, batch, first, aug, binding) in cases {
        let name = format!("data n={n} c={c} size={size} batch={batch} from {first} {aug:?} binding={binding:?}");
        v.push(Case::new("data", name, move |gpu, rng| {
            let lowered;
            let gpu = match binding {
                Some(b) => {
                    lowered = gpu.with_limits(|l| l.max_storage_buffer_binding_size = b as u64);
                    &lowered
                }
                None => gpu,
            };
            let pixels: Vec<u8> = (0..n * c * size * size).map(|_| rng.next_u64() as u8).collect();
            let seed = rng.next_u64();
            let ds = GpuDataset::upload(gpu, &pixels, n, c, size)?;
            let counters = GpuTensor::from_u32(gpu, &[2], &[7, first], "counters")?;
            let info = GpuTensor::zeros(gpu, &[batch, 8], DType::U32, "sample_info")?;
            let out = GpuTensor::zeros(gpu, &[batch, c, size, size], DType::F32, "batch")?;
            let mut d = ops::data::batch(gpu, &ds, batch, seed, aug, &counters, 1, &info, &out)?;
            d.push(ops::elementwise::counter_add(gpu, &counters, 1, 1)?);
            let shape = format!("N={n} [{batch},{c},{size},{size}] chunks={} aug={}", ds.chunks.len(), aug != Augment::default());
            let hb = ops::data::half_bits(n);
            let mut rows = Vec::new();
            // Three consecutive batches: crosses epoch boundaries for the small datasets.
            for j in first..first + 3 {
                let got = run_poisoned(gpu, "data batch", &d, &out)?;
                let want = cpu::data::batch(&pixels, n, c, size, batch, j, hb, seed, aug.flip, aug.max_shift, aug.brightness as f64);
                rows.push(Row::compare("data", &format!("batch #{j}"), &shape, "scalar", &got, &want, ELEMENTWISE_BOUND));
            }
            Ok(rows)
        }));
    }
    v
}

// --------------------------------------------------------------------------------- batchnorm

fn batchnorm_cases() -> Vec<Case> {
    let mut v = Vec::new();
    let shapes: &[[usize; 4]] = &[
        // The fewest values per channel whose input gradient is not degenerate: with 2, x̂ = ±1
        // and dx is 0 up to O(eps) terms, so a relative error would only measure rounding.
        [3, 1, 1, 1],
        [1, 3, 5, 5],
        [4, 7, 3, 3],
        [3, 65, 1, 1],
        [2, 3, 17, 13],
        // DCGAN: G 64×64 (BN 512@4, 256@8, 128@16, 64@32), D (128@16, 256@8, 512@4), and the
        // 32×32 G's 64@16.
        [64, 512, 4, 4],
        [64, 256, 8, 8],
        [64, 128, 16, 16],
        [64, 64, 32, 32],
        [64, 64, 16, 16],
    ];
    for &shape in shapes {
        v.push(Case::new("batchnorm", format!("batchnorm {shape:?}"), move |gpu, rng| batchnorm_case(gpu, rng, shape, false, 1.5)));
    }
    v.push(Case::new("batchnorm", "batchnorm [3, 12, 7, 9] folded", |gpu, rng| {
        let capped = folded(gpu, FOLD_CAP);
        batchnorm_case(&capped, rng, [3, 12, 7, 9], true, 1.5)
    }));
    // Ill-conditioned on purpose: each channel's values sit within ~0.05 of an offset of
    // ~±3, so |μ|·r ≈ 60 and the bound must follow the conditioning (see `bn_error_scales`).
    v.push(Case::new("batchnorm", "batchnorm [3, 17, 1, 1] clustered", |gpu, rng| batchnorm_case(gpu, rng, [3, 17, 1, 1], false, 0.05)));
    v.push(Case::new("batchnorm", "batchnorm [8, 5, 3, 3] clustered", |gpu, rng| batchnorm_case(gpu, rng, [8, 5, 3, 3], false, 0.05)));
    // More than 65 535 workgroups of 256 invocations: the eval kernel's 2-D grid for real.
    v.push(Case::new("batchnorm", "batchnorm eval > 65535 workgroups", |gpu, rng| {
        let shape = [64usize, 64, 64, 64];
        let n: usize = shape.iter().product();
        let c = shape[1];
        let cfg = BnConfig::default();
        let xs = rng.normals(n, 1.0);
        let (gamma, beta) = (rng.normals(c, 1.0), rng.normals(c, 1.0));
        let (rm, rv) = (rng.normals(c, 1.0), rng.uniforms(c, 0.5, 2.0));
        let want = cpu::batchnorm::forward_eval(&Tensor::from_f32(&shape, &xs), &f64s(&gamma), &f64s(&beta), &f64s(&rm), &f64s(&rv), cfg.eps as f64);
        let x = upload(gpu, &shape, &xs, "x")?;
        let (g, b) = (upload(gpu, &[c], &gamma, "gamma")?, upload(gpu, &[c], &beta, "beta")?);
        let (m, var) = (upload(gpu, &[c], &rm, "running_mean")?, upload(gpu, &[c], &rv, "running_var")?);
        let y = GpuTensor::zeros(gpu, &shape, DType::F32, "y")?;
        let d = ops::batchnorm::forward_eval(gpu, &cfg, &x, &g, &b, &m, &var, &y)?;
        let label = format!("{shape:?} grid {}x{}", d.grid.x, d.grid.y);
        let got = run_poisoned(gpu, "bn eval", &[d], &y)?;
        Ok(vec![Row::compare("batchnorm", "forward_eval", &label, "scalar", &got, &want.data, TRANSCENDENTAL_BOUND)])
    }));
    v
}

/// `spread`: the standard deviation of the values within a channel, around per-channel offsets
/// of standard deviation 3.
fn batchnorm_case(gpu: &Gpu, rng: &mut Rng, shape: [usize; 4], fold: bool, spread: f64) -> Result<Vec<Row>> {
    let cfg = BnConfig::default();
    let n: usize = shape.iter().product();
    let c = shape[1];
    let per_channel = n / c;
    // An offset mean per channel checks the two-pass variance.
    let offsets = rng.normals(c, 3.0);
    let xs: Vec<f32> = rng.normals(n, spread).iter().enumerate().map(|(i, &x)| x + offsets[(i / (shape[2] * shape[3])) % c]).collect();
    let dys = rng.normals(n, 1.0);
    let (gamma, beta) = (rng.normals(c, 1.0), rng.normals(c, 1.0));
    let (rm0, rv0) = (rng.normals(c, 1.0), rng.uniforms(c, 0.5, 2.0));
    let xt = Tensor::from_f32(&shape, &xs);
    let (eps, mom) = (cfg.eps as f64, cfg.momentum as f64);
    let fwd = cpu::batchnorm::forward_train(&xt, &f64s(&gamma), &f64s(&beta), &f64s(&rm0), &f64s(&rv0), eps, mom);
    let (dx_ref, dg_ref, db_ref) = cpu::batchnorm::backward(&xt, &Tensor::from_f32(&shape, &dys), &f64s(&gamma), eps);
    let eval_ref = cpu::batchnorm::forward_eval(&xt, &f64s(&gamma), &f64s(&beta), &f64s(&rm0), &f64s(&rv0), eps);

    let x = upload(gpu, &shape, &xs, "x")?;
    let dy = upload(gpu, &shape, &dys, "dy")?;
    let (g, b) = (upload(gpu, &[c], &gamma, "gamma")?, upload(gpu, &[c], &beta, "beta")?);
    let (rm, rv) = (upload(gpu, &[c], &rm0, "running_mean")?, upload(gpu, &[c], &rv0, "running_var")?);
    let y = GpuTensor::zeros(gpu, &shape, DType::F32, "y")?;
    let saved = GpuTensor::zeros(gpu, &[2, c], DType::F32, "saved")?;
    let label = format!("{shape:?}{}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() }, if spread < 1.0 { " clustered" } else { "" });
    let inv_ref: Vec<f64> = fwd.var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let k = sum_bound(per_channel).max(TRANSCENDENTAL_BOUND);
    let mut rows = Vec::new();

    // Eval mode first, while the running statistics are still the initial ones.
    let y_eval = GpuTensor::zeros(gpu, &shape, DType::F32, "y_eval")?;
    let got = run_poisoned(gpu, "bn eval", &[ops::batchnorm::forward_eval(gpu, &cfg, &x, &g, &b, &rm, &rv, &y_eval)?], &y_eval)?;
    rows.push(Row::compare("batchnorm", "forward_eval", &label, "scalar", &got, &eval_ref.data, TRANSCENDENTAL_BOUND));

    y.poison(gpu)?;
    saved.poison(gpu)?;
    let d = ops::batchnorm::forward_train(gpu, &cfg, &x, &g, &b, &y, &saved, &rm, &rv, true)?;
    let got = run_read(gpu, "bn train", &[d], &[&y, &saved, &rm, &rv])?;
    // Drawn here, after the forward's inputs, so that a seed replays the same values as before
    // the bounds needed them.
    let (dg0, db0) = (rng.normals(c, 1.0), rng.normals(c, 1.0));
    let inputs = BnInputs { shape, x: &xs, dy: &dys, gamma: &gamma, beta: &beta, running_mean: &rm0, dgamma0: &dg0, dbeta0: &db0, momentum: mom };
    let sc = bn_error_scales(&inputs, &fwd.mean, &inv_ref);
    rows.push(Row::compare("batchnorm", "forward_train", &label, "wg256/channel", &got[0], &fwd.y.data, bn_bound(k, &sc.y_terms, &sc.y_cond, &fwd.y.data)));
    rows.push(Row::compare("batchnorm", "saved_mean", &label, "wg256/channel", &got[1][..c], &fwd.mean, cancellation_bound(k, &sc.mean_terms, &fwd.mean)));
    rows.push(Row::compare("batchnorm", "saved_inv_std", &label, "wg256/channel", &got[1][c..], &inv_ref, k));
    rows.push(Row::compare("batchnorm", "running_mean", &label, "wg256/channel", &got[2], &fwd.running_mean, cancellation_bound(k, &sc.running_mean_terms, &fwd.running_mean)));
    rows.push(Row::compare("batchnorm", "running_var", &label, "wg256/channel", &got[3], &fwd.running_var, k));

    let dx = GpuTensor::zeros(gpu, &shape, DType::F32, "dx")?;
    let (dgt, dbt) = (upload(gpu, &[c], &dg0, "dgamma")?, upload(gpu, &[c], &db0, "dbeta")?);
    dx.poison(gpu)?;
    let d = ops::batchnorm::backward(gpu, &cfg, &x, &dy, &g, &saved, &dx, &dgt, &dbt)?;
    let got = run_read(gpu, "bn backward", &[d], &[&dx, &dgt, &dbt])?;
    rows.push(Row::compare("batchnorm", "backward_input", &label, "wg256/channel", &got[0], &dx_ref.data, bn_bound(k, &sc.dx_terms, &sc.dx_cond, &dx_ref.data)));
    let dgamma_want = add(&dg0, &dg_ref);
    rows.push(Row::compare("batchnorm", "backward_gamma +=", &label, "wg256/channel", &got[1], &dgamma_want, bn_bound(k, &sc.dgamma_terms, &sc.dgamma_cond, &dgamma_want)));
    let dbeta_want = add(&db0, &db_ref);
    rows.push(Row::compare("batchnorm", "backward_beta +=", &label, "wg256/channel", &got[2], &dbeta_want, cancellation_bound(k, &sc.dbeta_terms, &dbeta_want)));
    Ok(rows)
}

/// Per-output error scales for batch norm's outputs, from the f64 reference values.
///
/// `*_terms`: the size of the terms each output sums (see `cancellation_bound`) — y = γ·x̂ + β,
/// a single channel's Σdy, or the dx projection dy − m₁ − x̂·m₂ can each come out much smaller
/// than their terms.
///
/// `*_cond`: magnitudes `a` such that f32 storage of the mean perturbs each output by about u·a
/// (first order). Batch norm is ill-conditioned when a channel's values cluster far from zero
/// (|μ|·r ≫ 1, with r = 1/√(σ²+eps)): μ is an f32 (the saved statistic the backward reads), so
/// x − μ carries an error of about u·(|x| + |μ|), and x̂ = (x − μ)·r an error of about u·e with
/// e = r·(|x| + |μ|) + |x̂|. A channel of three values about a tenth apart at an offset of 5
/// gives e ≈ 100, which no f32 implementation (PyTorch's included) avoids. Tracing δx̂ = u·e
/// through the formulas (sums of independent errors add in quadrature; norms per channel):
///   y  = γ·x̂ + β                  a_y  = |γ|·e
///   dx = γ·r·(dy − m₁ − x̂·m₂)     a_dx = |γ·r|·(e·|m₂| + |x̂|·‖dy∘e‖/n),  m₂ = mean dy·x̂
///   dγ = Σ dy·x̂                   a_dγ = ‖dy∘e‖
/// A well-conditioned channel gives u·‖a‖/‖ref‖ far under the plain bound; the seed
/// 1795361709353749147 drew a [3, 65, 1, 1] channel with |μ|·r = 67 whose dx error was 1.2e-5.
struct BnErrorScales {
    y_terms: Vec<f64>,
    y_cond: Vec<f64>,
    mean_terms: Vec<f64>,
    running_mean_terms: Vec<f64>,
    dx_terms: Vec<f64>,
    dx_cond: Vec<f64>,
    dgamma_terms: Vec<f64>,
    dgamma_cond: Vec<f64>,
    dbeta_terms: Vec<f64>,
}

/// The inputs of one batch-norm case, as `batchnorm_case` draws them.
struct BnInputs<'a> {
    shape: [usize; 4],
    x: &'a [f32],
    dy: &'a [f32],
    gamma: &'a [f32],
    beta: &'a [f32],
    running_mean: &'a [f32],
    dgamma0: &'a [f32],
    dbeta0: &'a [f32],
    momentum: f64,
}

fn bn_error_scales(inp: &BnInputs, mean: &[f64], inv_std: &[f64]) -> BnErrorScales {
    let [b, c, h, w] = inp.shape;
    let inner = h * w;
    let n = (b * inner) as f64;
    let (x, dy) = (inp.x, inp.dy);
    let numel = x.len();
    let mut s = BnErrorScales {
        y_terms: vec![0.0; numel],
        y_cond: vec![0.0; numel],
        mean_terms: vec![0.0; c],
        running_mean_terms: vec![0.0; c],
        dx_terms: vec![0.0; numel],
        dx_cond: vec![0.0; numel],
        dgamma_terms: vec![0.0; c],
        dgamma_cond: vec![0.0; c],
        dbeta_terms: vec![0.0; c],
    };
    for ch in 0..c {
        let (mu, r, g) = (mean[ch], inv_std[ch], inp.gamma[ch] as f64);
        let idx: Vec<usize> = (0..b).flat_map(|bi| (0..inner).map(move |j| (bi * c + ch) * inner + j)).collect();
        let (xv, dyv) = (|i: usize| x[i] as f64, |i: usize| dy[i] as f64);
        let xhat = |i: usize| (xv(i) - mu) * r;
        let e = |i: usize| r * (xv(i).abs() + mu.abs()) + xhat(i).abs();
        let rss = |f: &dyn Fn(usize) -> f64| idx.iter().map(|&i| f(i).powi(2)).sum::<f64>().sqrt();
        let m1 = idx.iter().map(|&i| dyv(i)).sum::<f64>() / n;
        let m2 = idx.iter().map(|&i| dyv(i) * xhat(i)).sum::<f64>() / n;
        let dy_e = rss(&|i| dyv(i) * e(i));
        for &i in &idx {
            s.y_terms[i] = (g * xhat(i)).abs() + (inp.beta[ch] as f64).abs();
            s.y_cond[i] = g.abs() * e(i);
            s.dx_terms[i] = (g * r).abs() * (dyv(i).abs() + m1.abs() + (xhat(i) * m2).abs());
            s.dx_cond[i] = (g * r).abs() * (e(i) * m2.abs() + xhat(i).abs() * dy_e / n);
        }
        s.mean_terms[ch] = rss(&xv) / n;
        s.running_mean_terms[ch] = (1.0 - inp.momentum) * (inp.running_mean[ch] as f64).abs() + inp.momentum * s.mean_terms[ch];
        s.dgamma_terms[ch] = rss(&|i| dyv(i) * xhat(i)).hypot(inp.dgamma0[ch] as f64);
        s.dgamma_cond[ch] = dy_e;
        s.dbeta_terms[ch] = rss(&dyv).hypot(inp.dbeta0[ch] as f64);
    }
    s
}

/// The plain bound `k` where the result is the size of its terms and well conditioned, else
/// k·‖terms‖/‖ref‖ plus 8·u·‖cond‖/‖ref‖. The 8 covers the roundings on δx̂'s path (μ's sum
/// and storage, x − μ, ·r with r's own 2-ulp error), each up to u of the terms in e.
fn bn_bound(k: f64, terms: &[f64], cond: &[f64], want: &[f64]) -> f64 {
    let w = norm(want);
    let conditioning = if w == 0.0 { 0.0 } else { 8.0 * F32_U * norm(cond) / w };
    cancellation_bound(k, terms, want) + conditioning
}

// ------------------------------------------------------------------------------------ matmul

fn matmul_cases() -> Vec<Case> {
    // (M, N, K, trans_a, trans_b, bias, beta)
    let shapes: &[(usize, usize, usize, bool, bool, bool, f32)] = &[
        (1, 1, 1, false, false, false, 0.0),
        (3, 5, 7, false, false, true, 0.0),
        (17, 3, 65, false, false, false, 1.0),
        (64, 64, 64, false, false, false, 0.0),
        (65, 65, 65, false, false, true, 0.0),
        (64, 128, 128, false, false, true, 1.0),
        (7, 13, 127, false, false, false, 0.0),
        (127, 1, 13, false, false, false, 0.0),
        (1, 127, 64, false, false, true, 0.0),
        (123, 255, 72, false, false, false, 0.0),
        (33, 17, 20, true, false, false, 0.0),
        (33, 17, 20, false, true, true, 0.0),
        (33, 17, 20, true, true, false, 1.0),
        (256, 256, 256, false, false, false, 0.0),
        // The MLP GAN's linear layers at batch 64: x·Wᵀ, dy·W, dyᵀ·x.
        (64, 1024, 784, false, true, true, 0.0),
        (64, 784, 1024, false, false, false, 0.0),
        (1024, 784, 64, true, false, false, 1.0),
    ];
    let mut v = Vec::new();
    for &(m, n, k, ta, tb, with_bias, beta) in shapes {
        let spec = MatmulSpec { m, n, k, trans_a: ta, trans_b: tb, alpha: 1.0, beta };
        let spec = if k == 20 { MatmulSpec { alpha: -0.5, ..spec } } else { spec };
        let name = format!("matmul {m}x{n}x{k} ta={ta} tb={tb} bias={with_bias} beta={beta}");
        v.push(Case::new("matmul", name, move |gpu, rng| {
            let a_data = rng.normals(m * k, 1.0);
            let b_data = rng.normals(k * n, 1.0);
            let c0 = rng.normals(m * n, 1.0);
            let bias_data = rng.normals(n, 1.0);
            let want = cpu::matmul::matmul(
                &f64s(&a_data),
                &f64s(&b_data),
                Some(&f64s(&c0)),
                with_bias.then(|| f64s(&bias_data)).as_deref(),
                (m, n, k),
                (ta, tb),
                spec.alpha as f64,
                beta as f64,
            );
            // Each output's terms in quadrature (see `cancellation_bound`): the same product of
            // the squares, α² and β² — cheap for every shape here.
            let terms: Vec<f64> = cpu::matmul::matmul(
                &sq(&a_data),
                &sq(&b_data),
                Some(&sq(&c0)),
                with_bias.then(|| sq(&bias_data)).as_deref(),
                (m, n, k),
                (ta, tb),
                (spec.alpha as f64).powi(2),
                (beta as f64).powi(2),
            )
            .iter()
            .map(|s| s.sqrt())
            .collect();
            let bound = cancellation_bound(sum_bound(k + 2), &terms, &want);
            let a = upload(gpu, &if ta { [k, m] } else { [m, k] }, &a_data, "a")?;
            let b = upload(gpu, &if tb { [n, k] } else { [k, n] }, &b_data, "b")?;
            let bias = upload(gpu, &[n], &bias_data, "bias")?;
            let c = GpuTensor::zeros(gpu, &[m, n], DType::F32, "c")?;
            let shape = format!("{m}x{n}x{k}{}{}{}{}", if ta { " Aᵀ" } else { "" }, if tb { " Bᵀ" } else { "" }, if with_bias { " +bias" } else { "" }, if beta != 0.0 { " +C" } else { "" });
            let mut rows = Vec::new();
            for kernel in MatmulKernel::ALL {
                if !kernel.supports(gpu, &spec) {
                    continue;
                }
                let d = ops::matmul::matmul(gpu, &spec, &a, &b, with_bias.then_some(&bias), &c, Some(kernel))?;
                let got = if beta != 0.0 {
                    c.write_f32(gpu, &c0)?;
                    run_read(gpu, "matmul", &[d], &[&c])?.remove(0)
                } else {
                    run_poisoned(gpu, "matmul", &[d], &c)?
                };
                rows.push(Row::compare("matmul", "forward", &shape, kernel.name(), &got, &want, bound));
            }
            Ok(rows)
        }));
    }
    v
}

// ------------------------------------------------------------------------------------- convs

/// Which conv kernels a case runs: every one the adapter has (small shapes), or only the one
/// the adapter uses (the large DCGAN shapes, where each kernel costs seconds on lavapipe).
#[derive(Clone, Copy)]
enum Kernels {
    All,
    Default,
}

/// Kernels to run: Some(k) forces k; None lets each op choose per pass (as training does).
fn conv_kernels(gpu: &Gpu, which: Kernels) -> Vec<Option<ConvKernel>> {
    match which {
        Kernels::All => ConvKernel::ALL.into_iter().filter(|k| k.available(gpu)).map(Some).collect(),
        Kernels::Default => vec![None],
    }
}

/// The row label of `kernel` for a pass with `m` GEMM rows.
fn kernel_name(gpu: &Gpu, kernel: Option<ConvKernel>, m: usize) -> String {
    match kernel {
        Some(k) => k.name().to_string(),
        None => format!("auto:{}", ConvKernel::choose(gpu, m).name()),
    }
}

#[derive(Clone, Copy, Debug)]
struct ConvCase {
    batch: usize,
    c_in: usize,
    h: usize,
    w: usize,
    c_out: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    pad: usize,
    /// conv_transpose2d only.
    output_padding: usize,
    bias: bool,
}

#[allow(clippy::too_many_arguments)]
const fn cc(batch: usize, c_in: usize, h: usize, w: usize, c_out: usize, k: usize, stride: usize, pad: usize, bias: bool) -> ConvCase {
    ConvCase { batch, c_in, h, w, c_out, kh: k, kw: k, stride, pad, output_padding: 0, bias }
}

fn conv2d_cases() -> Vec<Case> {
    let small: &[ConvCase] = &[
        cc(1, 1, 1, 1, 1, 1, 1, 0, true),
        cc(1, 3, 5, 5, 2, 3, 1, 1, true),
        cc(2, 3, 7, 7, 5, 3, 2, 1, false),
        cc(1, 4, 13, 13, 3, 4, 2, 1, true),
        cc(3, 5, 17, 17, 65, 1, 1, 0, true),
        cc(2, 16, 8, 8, 64, 3, 1, 1, false),
        cc(1, 1, 127, 3, 1, 3, 1, 0, true),
        cc(2, 7, 9, 11, 13, 4, 2, 0, true),
        ConvCase { kh: 3, kw: 2, ..cc(2, 3, 10, 7, 4, 3, 2, 1, true) },
        cc(4, 32, 16, 16, 64, 4, 2, 1, false),
        // One tile and K = 549: the forward splits K (two ragged slices, bias in split 0).
        cc(2, 61, 5, 5, 3, 3, 1, 0, true),
    ];
    // DCGAN discriminators (pytorch/examples, ndf = 64, batch 64, no bias).
    let dcgan: &[ConvCase] = &[
        cc(64, 1, 32, 32, 64, 4, 2, 1, false),
        cc(64, 64, 16, 16, 128, 4, 2, 1, false),
        cc(64, 128, 8, 8, 256, 4, 2, 1, false),
        cc(64, 256, 4, 4, 1, 4, 1, 0, false),
        cc(64, 3, 64, 64, 64, 4, 2, 1, false),
        cc(64, 64, 32, 32, 128, 4, 2, 1, false),
        cc(64, 128, 16, 16, 256, 4, 2, 1, false),
        cc(64, 256, 8, 8, 512, 4, 2, 1, false),
        cc(64, 512, 4, 4, 1, 4, 1, 0, false),
    ];
    let mut v = Vec::new();
    for (cases, which, tag) in [(small, Kernels::All, ""), (dcgan, Kernels::Default, " dcgan")] {
        for &case in cases {
            v.push(Case::new("conv2d", format!("conv2d{tag} {case:?}"), move |gpu, rng| conv_case::<Conv2dOp>(gpu, rng, case, which)));
        }
    }
    v
}

fn conv_transpose2d_cases() -> Vec<Case> {
    let small: &[ConvCase] = &[
        cc(1, 1, 1, 1, 1, 1, 1, 0, true),
        cc(1, 3, 5, 5, 2, 3, 1, 1, true),
        cc(2, 3, 7, 7, 5, 3, 2, 1, false),
        cc(1, 4, 13, 13, 3, 4, 2, 1, true),
        cc(3, 5, 17, 17, 65, 1, 1, 0, true),
        cc(2, 64, 8, 8, 16, 3, 1, 1, false),
        ConvCase { output_padding: 1, ..cc(2, 7, 5, 6, 13, 3, 2, 1, true) },
        // Stride 3 with a 2-tap kernel: phase 2 of each axis receives no tap at all.
        cc(2, 3, 4, 5, 4, 2, 3, 0, true),
        ConvCase { kh: 4, kw: 3, ..cc(2, 3, 6, 5, 4, 4, 2, 1, true) },
        cc(4, 64, 8, 8, 32, 4, 2, 1, false),
    ];
    // DCGAN generators (pytorch/examples, ngf = 64, nz = 100, batch 64, no bias).
    let dcgan: &[ConvCase] = &[
        cc(64, 100, 1, 1, 256, 4, 1, 0, false),
        cc(64, 256, 4, 4, 128, 4, 2, 1, false),
        cc(64, 128, 8, 8, 64, 4, 2, 1, false),
        cc(64, 64, 16, 16, 1, 4, 2, 1, false),
        cc(64, 100, 1, 1, 512, 4, 1, 0, false),
        cc(64, 512, 4, 4, 256, 4, 2, 1, false),
        cc(64, 256, 8, 8, 128, 4, 2, 1, false),
        cc(64, 128, 16, 16, 64, 4, 2, 1, false),
        cc(64, 64, 32, 32, 3, 4, 2, 1, false),
    ];
    let mut v = Vec::new();
    for (cases, which, tag) in [(small, Kernels::All, ""), (dcgan, Kernels::Default, " dcgan")] {
        for &case in cases {
            v.push(Case::new("conv_transpose2d", format!("conv_transpose2d{tag} {case:?}"), move |gpu, rng| {
                conv_case::<ConvT2dOp>(gpu, rng, case, which)
            }));
        }
    }
    v
}

/// What differs between conv2d and conv_transpose2d in their checks; `conv_case` does the rest.
trait ConvOp {
    const OP: &'static str;
    /// Input, weight and output shapes.
    fn shapes(cs: &ConvCase) -> Result<[[usize; 4]; 3]>;
    /// (y, dx, dw, dbias) from the CPU reference.
    fn reference(cs: &ConvCase, x: &Tensor, w: &Tensor, dy: &Tensor, bias: Option<&[f64]>) -> (Tensor, Tensor, Tensor, Vec<f64>);
    fn forward(gpu: &Gpu, cs: &ConvCase, x: &GpuTensor, w: &GpuTensor, b: Option<&GpuTensor>, y: &GpuTensor, k: Option<ConvKernel>) -> Result<Vec<Dispatch>>;
    fn backward_input(gpu: &Gpu, cs: &ConvCase, dy: &GpuTensor, w: &GpuTensor, dx: &GpuTensor, k: Option<ConvKernel>) -> Result<Vec<Dispatch>>;
    fn backward_weight(gpu: &Gpu, cs: &ConvCase, x: &GpuTensor, dy: &GpuTensor, dw: &GpuTensor, k: Option<ConvKernel>) -> Result<Vec<Dispatch>>;
    fn backward_bias(gpu: &Gpu, dy: &GpuTensor, db: &GpuTensor) -> Result<Dispatch>;
    /// GEMM rows of the weight-gradient pass (C_out for conv2d, C_in for conv_transpose2d).
    fn wgrad_rows(cs: &ConvCase) -> usize;
}

struct Conv2dOp;
impl ConvOp for Conv2dOp {
    const OP: &'static str = "conv2d";
    fn shapes(cs: &ConvCase) -> Result<[[usize; 4]; 3]> {
        let sh = Conv2dShape::new(&Self::spec(cs), &[cs.batch, cs.c_in, cs.h, cs.w], &[cs.c_out, cs.c_in, cs.kh, cs.kw])?;
        Ok([sh.input(), sh.weight(), sh.output()])
    }
    fn reference(cs: &ConvCase, x: &Tensor, w: &Tensor, dy: &Tensor, bias: Option<&[f64]>) -> (Tensor, Tensor, Tensor, Vec<f64>) {
        (
            cpu::conv2d::forward(x, w, bias, cs.stride, cs.pad),
            cpu::conv2d::backward_input(dy, w, &x.shape, cs.stride, cs.pad),
            cpu::conv2d::backward_weight(x, dy, &w.shape, cs.stride, cs.pad),
            cpu::conv2d::backward_bias(dy),
        )
    }
    fn forward(gpu: &Gpu, cs: &ConvCase, x: &GpuTensor, w: &GpuTensor, b: Option<&GpuTensor>, y: &GpuTensor, k: Option<ConvKernel>) -> Result<Vec<Dispatch>> {
        ops::conv2d::forward(gpu, &Self::spec(cs), x, w, b, y, k)
    }
    fn backward_input(gpu: &Gpu, cs: &ConvCase, dy: &GpuTensor, w: &GpuTensor, dx: &GpuTensor, k: Option<ConvKernel>) -> Result<Vec<Dispatch>> {
        ops::conv2d::backward_input(gpu, &Self::spec(cs), dy, w, dx, k)
    }
    fn backward_weight(gpu: &Gpu, cs: &ConvCase, x: &GpuTensor, dy: &GpuTensor, dw: &GpuTensor, k: Option<ConvKernel>) -> Result<Vec<Dispatch>> {
        ops::conv2d::backward_weight(gpu, &Self::spec(cs), x, dy, dw, k)
    }
    fn backward_bias(gpu: &Gpu, dy: &GpuTensor, db: &GpuTensor) -> Result<Dispatch> {
        ops::conv2d::backward_bias(gpu, dy, db)
    }
    fn wgrad_rows(cs: &ConvCase) -> usize {
        cs.c_out
    }
}

impl Conv2dOp {
    fn spec(cs: &ConvCase) -> Conv2dSpec {
        Conv2dSpec { stride: cs.stride, padding: cs.pad }
    }
}

struct ConvT2dOp;
impl ConvOp for ConvT2dOp {
    const OP: &'static str = "conv_transpose2d";
    fn shapes(cs: &ConvCase) -> Result<[[usize; 4]; 3]> {
        let sh = ConvT2dShape::new(&Self::spec(cs), &[cs.batch, cs.c_in, cs.h, cs.w], &[cs.c_in, cs.c_out, cs.kh, cs.kw])?;
        Ok([sh.input(), sh.weight(), sh.output()])
    }
    fn reference(cs: &ConvCase, x: &Tensor, w: &Tensor, dy: &Tensor, bias: Option<&[f64]>) -> (Tensor, Tensor, Tensor, Vec<f64>) {
        (
            cpu::conv_transpose2d::forward(x, w, bias, cs.stride, cs.pad, cs.output_padding),
            cpu::conv_transpose2d::backward_input(dy, w, &x.shape, cs.stride, cs.pad),
            cpu::conv_transpose2d::backward_weight(x, dy, &w.shape, cs.stride, cs.pad),
            cpu::conv_transpose2d::backward_bias(dy),
        )
    }
    fn forward(gpu: &Gpu, cs: &ConvCase, x: &GpuTensor, w: &GpuTensor, b: Option<&GpuTensor>, y: &GpuTensor, k: Option<ConvKernel>) -> Result<Vec<Dispatch>> {
        ops::conv_transpose2d::forward(gpu, &Self::spec(cs), x, w, b, y, k)
    }
    fn backward_input(gpu: &Gpu, cs: &ConvCase, dy: &GpuTensor, w: &GpuTensor, dx: &GpuTensor, k: Option<ConvKernel>) -> Result<Vec<Dispatch>> {
        ops::conv_transpose2d::backward_input(gpu, &Self::spec(cs), dy, w, dx, k)
    }
    fn backward_weight(gpu: &Gpu, cs: &ConvCase, x: &GpuTensor, dy: &GpuTensor, dw: &GpuTensor, k: Option<ConvKernel>) -> Result<Vec<Dispatch>> {
        ops::conv_transpose2d::backward_weight(gpu, &Self::spec(cs), x, dy, dw, k)
    }
    fn backward_bias(gpu: &Gpu, dy: &GpuTensor, db: &GpuTensor) -> Result<Dispatch> {
        ops::conv_transpose2d::backward_bias(gpu, dy, db)
    }
    fn wgrad_rows(cs: &ConvCase) -> usize {
        cs.c_in
    }
}

impl ConvT2dOp {
    fn spec(cs: &ConvCase) -> ConvT2dSpec {
        ConvT2dSpec { stride: cs.stride, padding: cs.pad, output_padding: cs.output_padding }
    }
}

/// Forward, input gradient, weight gradient (+=) and bias gradient (+=) of one conv case, on
/// each kernel `which` asks for. The bounds count the terms each output sums: C_in·taps
/// (forward), C_out·taps (input gradient), every output pixel of every sample (weight and
/// bias gradients).
fn conv_case<C: ConvOp>(gpu: &Gpu, rng: &mut Rng, cs: ConvCase, which: Kernels) -> Result<Vec<Row>> {
    let [xs_shape, w_shape, y_shape] = C::shapes(&cs)?;
    let n = |s: &[usize; 4]| s.iter().product::<usize>();
    let (xs, ws) = (rng.normals(n(&xs_shape), 1.0), rng.normals(n(&w_shape), 0.5));
    let bs = rng.normals(cs.c_out, 1.0);
    let dys = rng.normals(n(&y_shape), 1.0);
    let dw0 = rng.normals(ws.len(), 1.0);
    let db0 = rng.normals(cs.c_out, 1.0);
    let (xt, wt, dyt) = (Tensor::from_f32(&xs_shape, &xs), Tensor::from_f32(&w_shape, &ws), Tensor::from_f32(&y_shape, &dys));
    let (y_ref, dx_ref, dw_ref, db_ref) = C::reference(&cs, &xt, &wt, &dyt, cs.bias.then(|| f64s(&bs)).as_deref());
    // The size of each output's terms (see `cancellation_bound`): every output is a sum of
    // products, so the same op on squared inputs gives Σ(term²); accumulated outputs add their
    // initial value in quadrature. Only small cases can cancel by chance (a norm over many
    // outputs does not), and only there is the second reference cheap, so the big ones skip it.
    let macs = n(&y_shape) * cs.c_in * cs.kh * cs.kw;
    let with_init = |sq: &[f64], init: &[f32]| -> Vec<f64> { sq.iter().zip(init).map(|(s, &i)| (s + (i as f64).powi(2)).sqrt()).collect() };
    let (y_terms, dx_terms, dw_terms) = if macs <= 1 << 20 {
        let square = |t: &Tensor| Tensor::new(&t.shape, t.data.iter().map(|v| v * v).collect());
        let b2 = sq(&bs);
        let (y_sq, dx_sq, dw_sq, _) = C::reference(&cs, &square(&xt), &square(&wt), &square(&dyt), cs.bias.then_some(&b2[..]));
        let root = |t: Tensor| -> Vec<f64> { t.data.iter().map(|s| s.sqrt()).collect() };
        (root(y_sq), root(dx_sq), with_init(&dw_sq.data, &dw0))
    } else {
        (Vec::new(), Vec::new(), Vec::new())
    };
    // The bias gradient sums every pixel of a channel: Σdy² is cheap at any size.
    let db_terms = with_init(&cpu::reduce::sum_channels(&square_f32(&y_shape, &dys)), &db0);
    let (dw_want, db_want) = (add(&dw0, &dw_ref.data), add(&db0, &db_ref));

    let x = upload(gpu, &xs_shape, &xs, "x")?;
    let w = upload(gpu, &w_shape, &ws, "w")?;
    let b = upload(gpu, &[cs.c_out], &bs, "bias")?;
    let dy = upload(gpu, &y_shape, &dys, "dy")?;
    let y = GpuTensor::zeros(gpu, &y_shape, DType::F32, "y")?;
    let dx = GpuTensor::zeros(gpu, &xs_shape, DType::F32, "dx")?;
    let dw = GpuTensor::zeros(gpu, &w_shape, DType::F32, "dw")?;
    let db = GpuTensor::zeros(gpu, &[cs.c_out], DType::F32, "dbias")?;
    let label = format!(
        "x{xs_shape:?} w{w_shape:?} s{} p{}{}{}",
        cs.stride,
        cs.pad,
        if cs.output_padding > 0 { format!(" op{}", cs.output_padding) } else { String::new() },
        if cs.bias { " +bias" } else { "" }
    );
    let taps = cs.kh * cs.kw;
    let pixels = cs.batch * y_shape[2] * y_shape[3];
    let wgrad_terms = if C::OP == "conv2d" { pixels } else { cs.batch * cs.h * cs.w };
    let op = C::OP;
    let mut rows = Vec::new();
    for kernel in conv_kernels(gpu, which) {
        let got = run_poisoned(gpu, "forward", &C::forward(gpu, &cs, &x, &w, cs.bias.then_some(&b), &y, kernel)?, &y)?;
        rows.push(Row::compare(op, "forward", &label, &kernel_name(gpu, kernel, cs.c_out), &got, &y_ref.data, cancellation_bound(sum_bound(cs.c_in * taps + 1), &y_terms, &y_ref.data)));
        let got = run_poisoned(gpu, "backward input", &C::backward_input(gpu, &cs, &dy, &w, &dx, kernel)?, &dx)?;
        rows.push(Row::compare(op, "backward_input", &label, &kernel_name(gpu, kernel, cs.c_in), &got, &dx_ref.data, cancellation_bound(sum_bound(cs.c_out * taps), &dx_terms, &dx_ref.data)));
        dw.write_f32(gpu, &dw0)?;
        let got = run_read(gpu, "backward weight", &C::backward_weight(gpu, &cs, &x, &dy, &dw, kernel)?, &[&dw])?.remove(0);
        let kn = kernel_name(gpu, kernel, C::wgrad_rows(&cs));
        rows.push(Row::compare(op, "backward_weight +=", &label, &kn, &got, &dw_want, cancellation_bound(sum_bound(wgrad_terms + 1), &dw_terms, &dw_want)));
    }
    if cs.bias {
        db.write_f32(gpu, &db0)?;
        let got = run_read(gpu, "backward bias", &[C::backward_bias(gpu, &dy, &db)?], &[&db])?.remove(0);
        rows.push(Row::compare(op, "backward_bias +=", &label, "wg256", &got, &db_want, cancellation_bound(sum_bound(pixels + 1), &db_terms, &db_want)));
    }
    Ok(rows)
}

// ------------------------------------------------------------------------------------ network

/// Whole networks (the layers' wiring, not only their kernels): a GPU `nn::Instance` against
/// `reference::net` on the same weights, input and upstream gradient. Forward output, every
/// parameter gradient (+= into zeroed gradients), and the input gradient of the
/// pass-through backward, which must leave the parameter gradients untouched.
fn network_cases() -> Vec<Case> {
    use crate::model::{ModelConfig, ModelKind};
    let mut v = Vec::new();
    let configs = [
        ("dcgan 16x16x3", ModelConfig { model: ModelKind::Dcgan, image_size: 16, channels: 3, nz: 8, ngf: 8, ndf: 8, dropout: 0.3 }),
        ("dcgan 32x32x1", ModelConfig { model: ModelKind::Dcgan, image_size: 32, channels: 1, nz: 10, ngf: 4, ndf: 4, dropout: 0.3 }),
        ("mlp 8x8x1", ModelConfig { model: ModelKind::Mlp, image_size: 8, channels: 1, nz: 6, ngf: 8, ndf: 8, dropout: 0.3 }),
    ];
    for (name, cfg) in configs {
        for generator in [true, false] {
            let cfg = cfg.clone();
            let which = if generator { "generator" } else { "discriminator" };
            v.push(Case::new("network", format!("network {name} {which}"), move |gpu, rng| {
                let spec = if generator { cfg.generator()? } else { cfg.discriminator()? };
                network_case(gpu, rng, &spec, &format!("{name} {which}"))
            }));
        }
    }
    v
}

fn network_case(gpu: &Gpu, rng: &mut Rng, spec: &crate::nn::NetSpec, label: &str) -> Result<Vec<Row>> {
    use crate::nn::{DropoutRng, Instance, Layer, Mode, ParamStore};
    use std::collections::HashMap;
    let batch = 5; // odd, and not a tile multiple
    let store = ParamStore::new(gpu, "net", spec.params())?;
    let mut params: cpu::net::Params = HashMap::new();
    for p in &store.specs {
        let n: usize = p.shape.iter().product();
        let values: Vec<f32> = if p.name.ends_with("running_var") {
            rng.uniforms(n, 0.5, 2.0)
        } else if p.name.ends_with(".weight") && p.shape.len() == 1 {
            rng.normals(n, 0.2).iter().map(|g| 1.0 + g).collect() // BatchNorm γ around 1
        } else {
            rng.normals(n, 0.3)
        };
        store.param(&p.name)?.write_f32(gpu, &values)?;
        params.insert(p.name.clone(), f64s(&values));
    }
    let counters = GpuTensor::from_u32(gpu, &[2], &[0, rng.next_u64() as u32], "counters")?;
    let dropout = DropoutRng { seed: rng.next_u64(), counter_index: 1 };
    let net = Instance::new(gpu, spec, &store, batch, Mode::Train, &counters, dropout, None, None)?;
    let xs = rng.normals(net.input().numel(), 1.0);
    let dys = rng.normals(net.output().numel(), 1.0);
    net.input().write_f32(gpu, &xs)?;
    net.output_grad().write_f32(gpu, &dys)?;
    // The masks the dropout layers draw, from the CPU Philox (checked against the GPU's).
    let step = counters.read_u32(gpu)?[1];
    let mut masks = HashMap::new();
    for (i, l) in spec.layers.iter().enumerate() {
        if let Layer::Dropout(p) = l {
            let n = net.acts[i].numel();
            let stream = crate::nn::params::stream_of(&format!("{}.main.{i}.dropout", spec.name));
            masks.insert(i, cpu::random::dropout(&vec![0.0; n], *p as f64, dropout.seed, stream, step).1);
        }
    }
    let input = Tensor::from_f32(net.input().shape(), &xs);
    let acts = cpu::net::forward(spec, &params, &input, &masks);
    let (want_grads, want_dx) = cpu::net::backward(spec, &params, &acts, &Tensor::from_f32(net.output().shape(), &dys), &masks);

    // Each layer adds its own rounding (the longest reduction here sums ≤ 4096 terms) and
    // BatchNorm divides by the batch's deviation; four times the bound of one such reduction
    // covers a handful of layers (measured: under 1e-6).
    let bound = 4.0 * sum_bound(4096);
    let mut rows = Vec::new();
    store.grads.write_f32(gpu, &vec![0.0; store.grads.numel()])?;
    net.output().poison(gpu)?;
    gpu.run("net forward", &net.forward.iter().collect::<Vec<_>>())?;
    rows.push(Row::compare("network", "forward", label, "nn", &net.output().read_f32(gpu)?, &acts.last().expect("output").data, bound));
    gpu.run("net backward", &net.backward_params.iter().collect::<Vec<_>>())?;
    for p in store.specs.iter().filter(|p| p.kind == crate::nn::Kind::Trainable) {
        let got = store.grad(&p.name)?.read_f32(gpu)?;
        rows.push(Row::compare("network", &format!("grad {}", p.name), label, "nn", &got, &want_grads[&p.name], bound));
    }
    // The pass-through backward: the input gradient, and no parameter gradient touched.
    let sentinel = rng.normals(store.grads.numel(), 1.0);
    store.grads.write_f32(gpu, &sentinel)?;
    net.input_grad().poison(gpu)?;
    gpu.run("net backward input", &net.backward_input_only.iter().collect::<Vec<_>>())?;
    rows.push(Row::compare("network", "input grad (pass-through)", label, "nn", &net.input_grad().read_f32(gpu)?, &want_dx.data, bound));
    let after = store.grads.read_f32(gpu)?;
    let touched = after.iter().zip(&sentinel).filter(|(a, b)| a.to_bits() != b.to_bits()).count() as f64;
    rows.push(Row::scalar("network", "pass-through leaves parameter grads (values changed)", label, "nn", touched, 0.0));
    Ok(rows)
}
