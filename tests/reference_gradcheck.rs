//! Every backward of the CPU reference against central finite differences in f64, plus the
//! known-answer vectors of Philox4x32-10. No GPU needed.
//!
//! Method: for a forward f and a random upstream gradient R, L = Σ R ⊙ f(inputs); the
//! analytic gradient from the reference backward (called with dy = R) must match the
//! five-point central difference (L(x − 2h) − 8L(x − h) + 8L(x + h) − L(x + 2h)) / 12h for
//! every input element, with h = 1e-5. In f64 its truncation error is O(h⁴·L⁽⁵⁾) ≈ 1e-20·L⁽⁵⁾
//! and the rounding error (18/12)·δL/h, δL the loss's own rounding error: ≈ 1e-11 for |L| ≈ 1,
//! so the tolerance 1e-7 (relative to max(1, |grad|)) leaves a wide margin while any wrong
//! term fails by far. Where |L| is large (a penalty of 689 on a critic with weights of std
//! 0.5) the rounding term is not small; it is added to the tolerance as 1.5·δL/h with
//! δL = 64·ε·|L| (measured: ~5·ε·|L| for these networks). (The three-point difference's
//! O(h²·L''') error came within 1e-7 for the penalties, polynomials of degree 6 in a weight:
//! 1.3e-7 at some seeds.) Where a difference would straddle a ReLU kink the function is not
//! differentiable there; `gradcheck_piecewise` skips those elements.

use shadergan::rng::Rng;
use shadergan::reference::{self as cpu, Tensor};

const H: f64 = 1e-5;
const TOL: f64 = 1e-7;

/// What a difference of `loss` values near `loss_x` can resolve besides TOL: the stencil's
/// rounding, (Σ|coefficients|/12)·δL/h with δL = 64·ε·|L|.
fn rounding_allowance(loss_x: f64) -> f64 {
    1.5 * 64.0 * f64::EPSILON * loss_x.abs() / H
}

fn randn(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.normal()).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Compare `analytic` with central differences of `loss` around `x` (a smooth loss).
fn gradcheck(what: &str, x: &[f64], analytic: &[f64], loss: impl Fn(&[f64]) -> f64) {
    gradcheck_piecewise(what, x, analytic, loss, |_| Vec::new())
}

/// ∂loss/∂x[i] by the five-point central difference with step H.
fn five_point(x: &[f64], i: usize, loss: impl Fn(&[f64]) -> f64) -> f64 {
    let at = |k: f64| {
        let mut v = x.to_vec();
        v[i] += k * H;
        loss(&v)
    };
    (at(-2.0) - 8.0 * at(-1.0) + 8.0 * at(1.0) - at(2.0)) / (12.0 * H)
}

/// As `gradcheck` for a piecewise-smooth loss whose pieces `pattern` names (the signs of every
/// ReLU's input): an element whose stencil x[i] ± 2h leaves the piece of x is skipped (the
/// difference would straddle a kink). One activation near 0 can put every element of a weight
/// tensor near a kink, so there is no cap; the count is printed, and the GPU-vs-reference rows
/// of `check` cover those points.
fn gradcheck_piecewise(what: &str, x: &[f64], analytic: &[f64], loss: impl Fn(&[f64]) -> f64, pattern: impl Fn(&[f64]) -> Vec<bool>) {
    assert_eq!(x.len(), analytic.len(), "{what}: gradient has the wrong size");
    let here = pattern(x);
    let loss_x = loss(x);
    let (mut worst, mut skipped) = (0.0f64, 0);
    for i in 0..x.len() {
        let same = [-2.0, 2.0].iter().all(|k| {
            let mut v = x.to_vec();
            v[i] += k * H;
            pattern(&v) == here
        });
        if !same {
            skipped += 1;
            continue;
        }
        let numeric = five_point(x, i, &loss);
        let err = (numeric - analytic[i]).abs() / analytic[i].abs().max(1.0);
        worst = worst.max(err);
        let allowed = TOL + rounding_allowance(loss_x) / analytic[i].abs().max(1.0);
        assert!(err < allowed, "{what}[{i}]: analytic {} vs finite difference {numeric} (error {err:.2e}, allowed {allowed:.2e}; loss {loss_x})", analytic[i]);
    }
    eprintln!("{what}: {} elements ({skipped} at a kink, skipped), worst error {worst:.1e}", x.len());
}

fn seeded(name: &str) -> Rng {
    let seed = shadergan::check::seed_from_env_or_clock();
    eprintln!("{name}: seed {seed} (replay with SHADERGAN_SEED={seed})");
    Rng::for_case(seed, name)
}

#[test]
fn matmul_backward_matches_finite_differences() {
    let mut rng = seeded("matmul");
    let (m, n, k) = (3, 5, 4);
    let (a, b, bias, r) = (randn(&mut rng, m * k), randn(&mut rng, k * n), randn(&mut rng, n), randn(&mut rng, m * n));
    let f = |a: &[f64], b: &[f64], bias: &[f64]| {
        dot(&r, &cpu::matmul::matmul(a, b, None, Some(bias), (m, n, k), (false, false), 1.0, 0.0))
    };
    let (da, db, dbias) = cpu::matmul::matmul_backward(&a, &b, &r, (m, n, k));
    gradcheck("matmul dA", &a, &da, |v| f(v, &b, &bias));
    gradcheck("matmul dB", &b, &db, |v| f(&a, v, &bias));
    gradcheck("matmul dbias", &bias, &dbias, |v| f(&a, &b, v));
}

/// (batch, c_in, h, w, c_out, k, stride, pad)
type ConvShape = (usize, usize, usize, usize, usize, usize, usize, usize);
const CONV_SHAPES: &[ConvShape] = &[
    (1, 1, 3, 3, 1, 1, 1, 0),
    (2, 2, 5, 4, 3, 3, 1, 1),
    (1, 3, 7, 7, 2, 4, 2, 1),
    (2, 2, 6, 5, 2, 3, 2, 0),
];

#[test]
fn conv2d_backward_matches_finite_differences() {
    let mut rng = seeded("conv2d");
    for &(b, ci, h, w, co, k, s, p) in CONV_SHAPES {
        let xs = [b, ci, h, w];
        let ws = [co, ci, k, k];
        let x = randn(&mut rng, xs.iter().product());
        let wt = randn(&mut rng, ws.iter().product());
        let bias = randn(&mut rng, co);
        let y = cpu::conv2d::forward(&Tensor::new(&xs, x.clone()), &Tensor::new(&ws, wt.clone()), Some(&bias), s, p);
        let r = Tensor::new(&y.shape, randn(&mut rng, y.numel()));
        let loss = |x: &[f64], w: &[f64], bias: &[f64]| {
            dot(&r.data, &cpu::conv2d::forward(&Tensor::new(&xs, x.to_vec()), &Tensor::new(&ws, w.to_vec()), Some(bias), s, p).data)
        };
        let tag = format!("conv2d x{xs:?} w{ws:?} s{s} p{p}");
        let dx = cpu::conv2d::backward_input(&r, &Tensor::new(&ws, wt.clone()), &xs, s, p);
        let dw = cpu::conv2d::backward_weight(&Tensor::new(&xs, x.clone()), &r, &ws, s, p);
        let db = cpu::conv2d::backward_bias(&r);
        gradcheck(&format!("{tag} dx"), &x, &dx.data, |v| loss(v, &wt, &bias));
        gradcheck(&format!("{tag} dw"), &wt, &dw.data, |v| loss(&x, v, &bias));
        gradcheck(&format!("{tag} dbias"), &bias, &db, |v| loss(&x, &wt, v));
    }
}

#[test]
fn conv_transpose2d_backward_matches_finite_differences() {
    let mut rng = seeded("conv_transpose2d");
    // (batch, c_in, h, w, c_out, k, stride, pad, output_padding)
    for &(b, ci, h, w, co, k, s, p, op) in
        &[(1, 1, 2, 2, 1, 1, 1, 0, 0), (2, 2, 3, 4, 3, 3, 1, 1, 0), (1, 3, 3, 3, 2, 4, 2, 1, 0), (2, 2, 3, 2, 2, 3, 2, 1, 1), (1, 2, 2, 3, 2, 2, 3, 0, 0)]
    {
        let xs = [b, ci, h, w];
        let ws = [ci, co, k, k];
        let x = randn(&mut rng, xs.iter().product());
        let wt = randn(&mut rng, ws.iter().product());
        let bias = randn(&mut rng, co);
        let y = cpu::conv_transpose2d::forward(&Tensor::new(&xs, x.clone()), &Tensor::new(&ws, wt.clone()), Some(&bias), s, p, op);
        let r = Tensor::new(&y.shape, randn(&mut rng, y.numel()));
        let loss = |x: &[f64], w: &[f64], bias: &[f64]| {
            let y = cpu::conv_transpose2d::forward(&Tensor::new(&xs, x.to_vec()), &Tensor::new(&ws, w.to_vec()), Some(bias), s, p, op);
            dot(&r.data, &y.data)
        };
        let tag = format!("conv_transpose2d x{xs:?} w{ws:?} s{s} p{p} op{op}");
        let dx = cpu::conv_transpose2d::backward_input(&r, &Tensor::new(&ws, wt.clone()), &xs, s, p);
        let dw = cpu::conv_transpose2d::backward_weight(&Tensor::new(&xs, x.clone()), &r, &ws, s, p);
        let db = cpu::conv_transpose2d::backward_bias(&r);
        gradcheck(&format!("{tag} dx"), &x, &dx.data, |v| loss(v, &wt, &bias));
        gradcheck(&format!("{tag} dw"), &wt, &dw.data, |v| loss(&x, v, &bias));
        gradcheck(&format!("{tag} dbias"), &bias, &db, |v| loss(&x, &wt, v));
    }
}

#[test]
fn batchnorm_backward_matches_finite_differences() {
    let mut rng = seeded("batchnorm");
    for shape in [[3usize, 2, 1, 1], [2, 3, 2, 3], [4, 1, 3, 1]] {
        let c = shape[1];
        let n: usize = shape.iter().product();
        let x = randn(&mut rng, n);
        let (gamma, beta) = (randn(&mut rng, c), randn(&mut rng, c));
        let (rm, rv) = (vec![0.0; c], vec![1.0; c]);
        let r = randn(&mut rng, n);
        let eps = 1e-5;
        let loss = |x: &[f64], g: &[f64], b: &[f64]| {
            dot(&r, &cpu::batchnorm::forward_train(&Tensor::new(&shape, x.to_vec()), g, b, &rm, &rv, eps, 0.1).y.data)
        };
        let (dx, dg, db) = cpu::batchnorm::backward(&Tensor::new(&shape, x.clone()), &Tensor::new(&shape, r.clone()), &gamma, eps);
        gradcheck(&format!("batchnorm {shape:?} dx"), &x, &dx.data, |v| loss(v, &gamma, &beta));
        gradcheck(&format!("batchnorm {shape:?} dgamma"), &gamma, &dg, |v| loss(&x, v, &beta));
        gradcheck(&format!("batchnorm {shape:?} dbeta"), &beta, &db, |v| loss(&x, &gamma, v));
    }
}

/// LayerNorm over [C, H, W]: its backward against differences of the forward, and its
/// backward of the backward (to dy, x and γ) against differences of P = Σ A ⊙ dx(x, dy, γ).
/// Batch 1 and ragged sample shapes, one of a single value's worth of channels.
#[test]
fn layernorm_backward_and_double_backward_match_finite_differences() {
    let mut rng = seeded("layernorm");
    for shape in [[1usize, 2, 1, 3], [3, 1, 1, 2], [2, 3, 2, 3], [1, 5, 1, 1]] {
        let per: usize = shape[1..].iter().product();
        let n: usize = shape.iter().product();
        // Each sample's σ kept ≥ 0.3: where σ nears √eps (two close values in a sample of
        // two) the derivatives grow like 1/σ³ and no step h makes central differences accurate
        // to 1e-7 in f64 — truncation needs h ≪ σ, rounding h ≫ ε/σ (CI seed
        // 1796328288669714732: [3, 1, 1, 2] dx off by 4e-7). Like the activations' kinks, the
        // region is avoided; the GPU-vs-reference rows in `check` still cover it.
        let mut x = Vec::with_capacity(n);
        while x.len() < n {
            let sample = randn(&mut rng, per);
            let mean = sample.iter().sum::<f64>() / per as f64;
            if per == 1 || sample.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / per as f64 >= 0.09 {
                x.extend(sample);
            }
        }
        let (gamma, beta) = (randn(&mut rng, per), randn(&mut rng, per));
        let (r, a) = (randn(&mut rng, n), randn(&mut rng, n));
        let eps = 1e-5;
        let t = |v: &[f64]| Tensor::new(&shape, v.to_vec());
        let loss = |x: &[f64], g: &[f64], b: &[f64]| dot(&r, &cpu::layernorm::forward(&t(x), g, b, eps).data);
        let (dx, dg, db) = cpu::layernorm::backward(&t(&x), &t(&r), &gamma, eps);
        gradcheck(&format!("layernorm {shape:?} dx"), &x, &dx.data, |v| loss(v, &gamma, &beta));
        gradcheck(&format!("layernorm {shape:?} dgamma"), &gamma, &dg, |v| loss(&x, v, &beta));
        gradcheck(&format!("layernorm {shape:?} dbeta"), &beta, &db, |v| loss(&x, &gamma, v));
        // P(x, dy, γ) = Σ a ⊙ dx.
        let p = |x: &[f64], dy: &[f64], g: &[f64]| dot(&a, &cpu::layernorm::backward(&t(x), &t(dy), g, eps).0.data);
        let (adj_dy, adj_x, adj_gamma) = cpu::layernorm::double_backward(&t(&x), &t(&r), &gamma, &t(&a), eps);
        gradcheck(&format!("layernorm {shape:?} adjoint of dy"), &r, &adj_dy.data, |v| p(&x, v, &gamma));
        gradcheck(&format!("layernorm {shape:?} adjoint of x"), &x, &adj_x.data, |v| p(v, &r, &gamma));
        gradcheck(&format!("layernorm {shape:?} adjoint of gamma"), &gamma, &adj_gamma, |v| p(&x, &r, v));
    }
}

/// The minibatch standard deviation layer: dx, and the backward of the backward (adjoints of
/// dy and x for P = Σ a ⊙ dx), for groups of 1, 2 and 4 (batch 1, a ragged plane, two groups
/// of two). As for LayerNorm, every feature's σ over its group is kept ≥ 0.3: near σ = √ε the
/// derivatives grow like 1/σ³ and no difference step resolves them.
#[test]
fn minibatch_std_backward_and_double_backward_match_finite_differences() {
    let mut rng = seeded("minibatch_std");
    for (b, c, p, group) in [(1usize, 2usize, 3usize, 4usize), (2, 1, 5, 2), (4, 3, 2, 2), (4, 2, 3, 4)] {
        let (g, m) = cpu::minibatch_std::groups(b, group);
        let f = c * p;
        let mut x = randn(&mut rng, b * f);
        for n in 0..m {
            for q in 0..f {
                loop {
                    let vals: Vec<f64> = (0..g).map(|i| x[(i * m + n) * f + q]).collect();
                    let mean = vals.iter().sum::<f64>() / g as f64;
                    if g == 1 || vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / g as f64 >= 0.09 {
                        break;
                    }
                    for i in 0..g {
                        x[(i * m + n) * f + q] = randn(&mut rng, 1)[0];
                    }
                }
            }
        }
        let what = format!("minibatch_std B={b} C={c} P={p} group={group}");
        let r = randn(&mut rng, b * (c + 1) * p);
        let a = randn(&mut rng, b * f);
        let dx = cpu::minibatch_std::backward(&x, &r, b, c, p, group);
        gradcheck(&format!("{what} dx"), &x, &dx, |v| dot(&r, &cpu::minibatch_std::forward(v, b, c, p, group)));
        let pen = |x: &[f64], dy: &[f64]| dot(&a, &cpu::minibatch_std::backward(x, dy, b, c, p, group));
        let (adj_dy, adj_x) = cpu::minibatch_std::double_backward(&x, &r, &a, b, c, p, group);
        gradcheck(&format!("{what} adjoint of dy"), &r, &adj_dy, |v| pen(&x, v));
        gradcheck(&format!("{what} adjoint of x"), &x, &adj_x, |v| pen(v, &r));
    }
}

/// The VAE latent: ∂/∂(μ, log σ²) of Σ R ⊙ z + w·KL against differences, batch 1 and 3,
/// with log σ² spread over ±2; and the KL's closed form at a known point.
#[test]
fn vae_reparameterization_and_kl_gradients_match_finite_differences() {
    let mut rng = seeded("vae");
    for (batch, latent) in [(1usize, 1usize), (3, 5), (2, 17)] {
        let stats: Vec<f64> = randn(&mut rng, batch * 2 * latent).iter().map(|v| 1.5 * v).collect();
        let (eps, r) = (randn(&mut rng, batch * latent), randn(&mut rng, batch * latent));
        let w = 0.7;
        let loss = |s: &[f64]| dot(&r, &cpu::vae::reparameterize(s, &eps, latent)) + w * cpu::vae::kl(s, batch, latent);
        let analytic = cpu::vae::backward(&stats, &eps, &r, latent, w);
        gradcheck(&format!("vae B={batch} nz={latent}"), &stats, &analytic, loss);
    }
    // μ = 1, log σ² = 0: KL = ½μ² = ½; μ = 0, σ² = e: ½(e − 2).
    assert!((cpu::vae::kl(&[1.0, 0.0], 1, 1) - 0.5).abs() < 1e-15);
    assert!((cpu::vae::kl(&[0.0, 1.0], 1, 1) - 0.5 * (1f64.exp() - 2.0)).abs() < 1e-15);
    assert_eq!(cpu::vae::kl_weight(2.0, 0, 5), 2.0);
    assert_eq!(cpu::vae::kl_weight(2.0, 10, 5), 1.0);
    assert_eq!(cpu::vae::kl_weight(2.0, 10, 50), 2.0);
}

#[test]
fn activation_backward_matches_finite_differences() {
    use cpu::activation::{backward, forward, Act};
    let mut rng = seeded("activation");
    for act in [Act::Relu, Act::LeakyRelu(0.2), Act::Tanh, Act::Sigmoid] {
        // Keep away from the kink at 0 of relu/leaky_relu, where no derivative exists.
        let x: Vec<f64> = randn(&mut rng, 50).into_iter().map(|v| if v.abs() < 0.01 { v + 0.1 } else { v * 3.0 }).collect();
        let r = randn(&mut rng, 50);
        gradcheck(&format!("{act:?}"), &x, &backward(act, &x, &r), |v| dot(&r, &forward(act, v)));
    }
}

#[test]
fn bce_gradient_matches_finite_differences() {
    let mut rng = seeded("bce");
    for scale in [1.0, -1.0, 0.5] {
        let x: Vec<f64> = randn(&mut rng, 20).into_iter().map(|v| v * 4.0).collect();
        let t: Vec<f64> = (0..20).map(|i| if i % 3 == 2 { rng.uniform() } else { (i % 3) as f64 }).collect();
        let g = cpu::loss::bce_with_logits_grad(&x, &t, scale);
        gradcheck(&format!("bce scale={scale}"), &x, &g, |v| cpu::loss::bce_with_logits(v, &t, scale).0);
    }
}

#[test]
fn gan_loss_gradients_match_finite_differences() {
    use cpu::loss::Kind;
    let mut rng = seeded("gan losses");
    for kind in [Kind::LeastSquares, Kind::Hinge, Kind::Linear] {
        for scale in [1.0, -1.0, 0.5] {
            // Hinge margins kept away from the kink, where the derivative is undefined.
            let x: Vec<f64> = randn(&mut rng, 20).into_iter().map(|v| if kind == Kind::Hinge && (v.abs() - 1.0).abs() < 0.05 { v * 1.2 } else { v * 2.0 }).collect();
            let t: Vec<f64> = (0..20).map(|i| if kind == Kind::LeastSquares { rng.uniform() } else if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
            let g = cpu::loss::elementwise_grad(kind, &x, &t, scale);
            gradcheck(&format!("{kind:?} scale={scale}"), &x, &g, |v| cpu::loss::elementwise(kind, v, &t, scale).0);
        }
    }
}

#[test]
fn softmax_cross_entropy_gradient_matches_finite_differences() {
    let mut rng = seeded("softmax ce");
    for (rows, classes) in [(1, 1), (1, 3), (5, 10), (3, 7)] {
        let x: Vec<f64> = randn(&mut rng, rows * classes).into_iter().map(|v| v * 3.0).collect();
        let labels: Vec<usize> = (0..rows).map(|r| (r * 7 + 3) % classes).collect();
        let g = cpu::loss::softmax_cross_entropy_grad(&x, classes, &labels, 0.5);
        gradcheck(&format!("softmax ce {rows}x{classes}"), &x, &g, |v| cpu::loss::softmax_cross_entropy(v, classes, &labels, 0.5).0);
    }
}

#[test]
fn one_hot_concatenation_gradient_matches_finite_differences() {
    let mut rng = seeded("concat one-hot");
    for (b, c, p, classes) in [(1, 1, 1, 1), (3, 2, 5, 4), (2, 3, 1, 10)] {
        let x = randn(&mut rng, b * c * p);
        let labels: Vec<u32> = (0..b).map(|n| ((n * 3 + 1) % classes) as u32).collect();
        let r = randn(&mut rng, b * (c + classes) * p);
        let g = cpu::labels::concat_one_hot_backward(&r, b, c, p, classes);
        gradcheck(&format!("concat one-hot {b}x{c}x{p}+{classes}"), &x, &g, |v| dot(&r, &cpu::labels::concat_one_hot(v, &labels, b, c, p, classes)));
    }
}

/// The learned label input (--label-embedding): E[y]'s gradient to the table (labels shared
/// by several samples, one class absent) and the plane concatenation's gradient to the
/// vectors, through the two in a row as the trainer records them.
#[test]
fn label_embedding_gradients_match_finite_differences() {
    let mut rng = seeded("label embedding");
    for (b, c, p, classes, dim) in [(1, 1, 1, 1, 1), (5, 2, 6, 4, 3), (3, 3, 1, 10, 2)] {
        let labels: Vec<u32> = (0..b).map(|n| ((n * 3 + 1) % classes.min(3)) as u32).collect();
        let x = randn(&mut rng, b * c * p);
        let table = randn(&mut rng, classes * dim);
        let r = randn(&mut rng, b * (c + dim) * p);
        let what = format!("label embedding {b}x{c}x{p}, {classes}x{dim}");
        let out_of = |table: &[f64], x: &[f64]| cpu::embedding::concat_planes(x, &cpu::embedding::forward(&labels, table, dim), b, c, p, dim);
        let dv = cpu::embedding::concat_planes_backward(&r, b, c, p, dim);
        let dtable = cpu::embedding::backward(&labels, &dv, classes, dim);
        gradcheck(&format!("{what} dtable"), &table, &dtable, |v| dot(&r, &out_of(v, &x)));
        let v0 = cpu::embedding::forward(&labels, &table, dim);
        gradcheck(&format!("{what} dvectors"), &v0, &dv, |v| dot(&r, &cpu::embedding::concat_planes(&x, v, b, c, p, dim)));
        // x's gradient is the first C channels, as for the one-hot concatenation.
        let dx = cpu::labels::concat_one_hot_backward(&r, b, c, p, dim);
        gradcheck(&format!("{what} dx"), &x, &dx, |v| dot(&r, &out_of(&table, v)));
    }
}

/// The projection head's gradients to φ, w, the bias and the embedding rows, batch 1 and a
/// ragged batch where several samples share a class (the scatter-add) and one class is absent.
#[test]
fn projection_head_gradients_match_finite_differences() {
    let mut rng = seeded("projection");
    for (batch, features, classes) in [(1, 3, 2), (5, 7, 4)] {
        let labels: Vec<u32> = (0..batch as u32).map(|b| (b * 2) % (classes as u32 - 1)).collect();
        let (phi, w, e) = (randn(&mut rng, batch * features), randn(&mut rng, features), randn(&mut rng, classes * features));
        let bias = randn(&mut rng, 1)[0];
        let r = randn(&mut rng, batch);
        let what = format!("projection {batch}x{features}, {classes} classes");
        let dphi = cpu::projection::backward_input(&r, &labels, &w, &e);
        let (dw, dbias, de) = cpu::projection::backward_params(&r, &labels, &phi, features, classes);
        gradcheck(&format!("{what} dphi"), &phi, &dphi, |v| dot(&r, &cpu::projection::forward(v, &labels, &w, bias, &e)));
        gradcheck(&format!("{what} dw"), &w, &dw, |v| dot(&r, &cpu::projection::forward(&phi, &labels, v, bias, &e)));
        gradcheck(&format!("{what} dbias"), &[bias], &[dbias], |v| dot(&r, &cpu::projection::forward(&phi, &labels, &w, v[0], &e)));
        gradcheck(&format!("{what} dembed"), &e, &de, |v| dot(&r, &cpu::projection::forward(&phi, &labels, &w, bias, v)));
        assert!(de[(classes - 1) * features..].iter().all(|&v| v == 0.0), "{what}: an absent class's row got a gradient");
    }
}

/// Average and max pooling: the input gradients against finite differences (max: elements
/// whose stencil moves an argmax are skipped), and the passes of the backward of the backward
/// as the transposes of the backwards: ⟨backward(dy), a⟩ = ⟨dy, double_backward(a)⟩.
#[test]
fn pooling_gradients_match_finite_differences() {
    use cpu::pool::*;
    let mut rng = seeded("pool");
    for (n, h, w, k, s, p) in [(1, 1, 1, 1, 1, 0), (2, 5, 7, 2, 2, 0), (1, 6, 5, 3, 2, 1), (3, 4, 4, 3, 1, 1)] {
        let (oh, ow) = (out_side(h, k, s, p), out_side(w, k, s, p));
        let x = randn(&mut rng, n * h * w);
        let r = randn(&mut rng, n * oh * ow);
        let a = randn(&mut rng, n * h * w);
        let what = format!("pool {n}x{h}x{w} k={k} s={s} p={p}");
        gradcheck(&format!("{what} avg"), &x, &avg_pool_backward(&r, n, h, w, k, s, p), |v| dot(&r, &avg_pool(v, n, h, w, k, s, p)));
        let (_, arg) = max_pool(&x, n, h, w, k, s, p);
        let bits = |v: &[f64]| max_pool(v, n, h, w, k, s, p).1.iter().flat_map(|&a| (0..32).map(move |b| (a >> b) & 1 == 1)).collect::<Vec<bool>>();
        gradcheck_piecewise(&format!("{what} max"), &x, &max_pool_backward(&r, &arg, n, h, w, oh, ow), |v| dot(&r, &max_pool(v, n, h, w, k, s, p).0), bits);
        for (pass, lhs, rhs) in [
            ("avg", dot(&avg_pool_backward(&r, n, h, w, k, s, p), &a), dot(&r, &avg_pool(&a, n, h, w, k, s, p))),
            ("max", dot(&max_pool_backward(&r, &arg, n, h, w, oh, ow), &a), dot(&r, &max_pool_gather(&a, &arg, n, h, w, oh, ow))),
        ] {
            assert!((lhs - rhs).abs() <= 1e-12 * lhs.abs().max(1.0), "{what} {pass}: ⟨backward(dy), a⟩ = {lhs} but ⟨dy, double backward(a)⟩ = {rhs}");
        }
    }
}

#[test]
fn bce_is_finite_and_exact_for_huge_logits() {
    // −log σ(x) for x = −1000 is 1000 (to f64 precision); log σ(1000) is 0.
    let (loss, prob) = cpu::loss::bce_with_logits(&[-1000.0, 1000.0], &[1.0, 1.0], 1.0);
    assert!((loss - 500.0).abs() < 1e-9, "loss {loss}");
    assert!((prob - 0.5).abs() < 1e-12, "mean sigmoid {prob}");
}

#[test]
fn philox_matches_random123_known_answers() {
    // Random123 kat_vectors, philox4x32 with 10 rounds.
    let cases = [
        ([0u32, 0, 0, 0], [0u32, 0], [0x6627e8d5u32, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
        ([u32::MAX; 4], [u32::MAX; 2], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]),
        ([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]),
    ];
    for (ctr, key, want) in cases {
        let got = cpu::random::philox4x32_10(ctr, key);
        assert_eq!(got, want, "philox4x32_10({ctr:08x?}, {key:08x?})");
    }
}

/// W/σ(W) with σ = uᵀWv and u, v held constant (PyTorch's spectral_norm computes them under
/// no_grad): ragged matrices, a single row and a single column; u and v from one power
/// iteration, as in training.
#[test]
fn spectral_norm_backward_matches_finite_differences() {
    let mut rng = seeded("spectral_norm");
    for (rows, cols) in [(1, 1), (1, 7), (5, 1), (3, 17), (8, 5)] {
        let w = randn(&mut rng, rows * cols);
        let u0 = randn(&mut rng, rows);
        let (u, v, sigma) = cpu::spectral_norm::power_iteration(&w, rows, cols, &u0, 1e-12);
        // One power iteration gives σ = uᵀWv with the new u, v: the identity the backward
        // differentiates.
        assert!((sigma - cpu::spectral_norm::sigma(&w, rows, cols, &u, &v)).abs() < 1e-12 * sigma.abs().max(1.0));
        let r = randn(&mut rng, rows * cols);
        let analytic = cpu::spectral_norm::backward(&w, &r, &u, &v, sigma);
        gradcheck(&format!("spectral_norm {rows}x{cols} dW"), &w, &analytic, |w| {
            let s = cpu::spectral_norm::sigma(w, rows, cols, &u, &v);
            w.iter().zip(&r).map(|(x, g)| g * x / s).sum()
        });
    }
    // Repeated power iterations converge to the largest singular value: for a diagonal
    // matrix diag(3, 2, 1) that is 3.
    let w = [3.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 1.0];
    let mut u = vec![1.0, 1.0, 1.0];
    let mut sigma = 0.0;
    for _ in 0..60 {
        let (u1, _, s) = cpu::spectral_norm::power_iteration(&w, 3, 3, &u, 1e-12);
        (u, sigma) = (u1, s);
    }
    assert!((sigma - 3.0).abs() < 1e-9, "σ of diag(3, 2, 1) converged to {sigma}");
}

/// Small critics for the penalty checks: the DCGAN discriminator without normalisation
/// (conv + LeakyReLU), an MLP critic (Linear with bias + LeakyReLU, a Flatten), one through a
/// transposed convolution and ReLU, one with two LayerNorms (whose backward depends on
/// their input, so the penalty reaches the layers below them, biases included), one with max
/// and average pooling, and one with a minibatch standard deviation layer.
fn critics() -> Vec<shadergan::nn::NetSpec> {
    use shadergan::model::{DNorm, ModelConfig, ModelKind};
    use shadergan::nn::{Init, Layer, NetSpec};
    let dcgan = ModelConfig { model: ModelKind::Dcgan, image_size: 16, channels: 1, nz: 4, ngf: 2, ndf: 2, dropout: 0.0, conditional: None, spectral_norm: false, d_norm: DNorm::None, minibatch_std: None };
    let init = Init::Normal { mean: 0.0, std: 0.02 };
    let mlp = NetSpec {
        name: "critic".into(),
        input: vec![1, 3, 3],
        layers: vec![
            Layer::Flatten,
            Layer::Linear { in_features: 9, out_features: 5, bias: true },
            Layer::LeakyRelu(0.2),
            Layer::Linear { in_features: 5, out_features: 1, bias: true },
        ],
        conv_init: init,
        label_embedding: None,
    };
    let convt = NetSpec {
        name: "critic".into(),
        input: vec![2, 3, 3],
        layers: vec![
            Layer::ConvTranspose2d { c_in: 2, c_out: 3, kernel: 4, stride: 2, padding: 1, output_padding: 0, bias: true },
            Layer::Relu,
            Layer::Conv2d { c_in: 3, c_out: 2, kernel: 3, stride: 2, padding: 0, bias: false },
            Layer::LeakyRelu(0.1),
            Layer::Flatten,
            Layer::Linear { in_features: 8, out_features: 1, bias: false },
        ],
        conv_init: init,
        label_embedding: None,
    };
    let layernorm = NetSpec {
        name: "critic".into(),
        input: vec![2, 4, 4],
        layers: vec![
            Layer::Conv2d { c_in: 2, c_out: 2, kernel: 3, stride: 1, padding: 0, bias: true },
            Layer::LayerNorm(vec![2, 2, 2]),
            Layer::LeakyRelu(0.2),
            Layer::Conv2d { c_in: 2, c_out: 3, kernel: 2, stride: 1, padding: 1, bias: true },
            Layer::LayerNorm(vec![3, 3, 3]),
            Layer::LeakyRelu(0.2),
            Layer::Flatten,
            Layer::Linear { in_features: 27, out_features: 1, bias: true },
        ],
        conv_init: init,
        label_embedding: None,
    };
    // Max pooling over LeakyReLU, then average pooling (overlapping, padded) over ReLU.
    let pooling = NetSpec {
        name: "critic".into(),
        input: vec![1, 7, 7],
        layers: vec![
            Layer::Conv2d { c_in: 1, c_out: 2, kernel: 3, stride: 1, padding: 1, bias: true },
            Layer::LeakyRelu(0.2),
            Layer::MaxPool2d { kernel: 2, stride: 2, padding: 0 },
            Layer::Conv2d { c_in: 2, c_out: 2, kernel: 3, stride: 1, padding: 1, bias: true },
            Layer::Relu,
            Layer::AvgPool2d { kernel: 3, stride: 2, padding: 1 },
            Layer::Flatten,
            Layer::Linear { in_features: 8, out_features: 1, bias: true },
        ],
        conv_init: init,
        label_embedding: None,
    };
    // StyleGAN's minibatch standard deviation between two convolutions: its backward depends
    // on its input and mixes the samples (groups of 3: one group at batch 3, of 1 at batch 1).
    let minibatch_std = NetSpec {
        name: "critic".into(),
        input: vec![1, 5, 5],
        layers: vec![
            Layer::Conv2d { c_in: 1, c_out: 2, kernel: 3, stride: 1, padding: 0, bias: true },
            Layer::LeakyRelu(0.2),
            Layer::MinibatchStd { group: 3 },
            Layer::Conv2d { c_in: 3, c_out: 2, kernel: 3, stride: 1, padding: 0, bias: true },
            Layer::LeakyRelu(0.2),
            Layer::Flatten,
            Layer::Linear { in_features: 2, out_features: 1, bias: true },
        ],
        conv_init: init,
        label_embedding: None,
    };
    vec![dcgan.discriminator().unwrap(), mlp, convt, layernorm, pooling, minibatch_std]
}

/// The penalty of a critic's input gradient at `x`, as a function of its parameters.
fn penalty_of(spec: &shadergan::nn::NetSpec, p: &cpu::net::Params, x: &Tensor, gp: bool) -> (f64, Vec<f64>, Vec<Tensor>, Vec<Tensor>) {
    let masks = cpu::net::Masks::new();
    let acts = cpu::net::forward(spec, p, x, &[], &masks);
    let out = acts.last().unwrap();
    // ∂(Σ_b D(x_b))/∂x: the per-sample input gradients.
    let (_, deltas) = cpu::net::backward_all(spec, p, &acts, &Tensor::new(&out.shape, vec![1.0; out.numel()]), &[], &masks);
    let (value, adj) = cpu::penalty::penalty(&deltas[0].data, x.shape[0], gp, 10.0, 1e-12);
    (value, adj, acts, deltas)
}

/// WGAN-GP's and R1's gradients with respect to every weight of small critics (batch 1 and 3,
/// ragged shapes), from the reference's backward of the backward, against central differences
/// of the penalty computed through the reference's first-order backward.
#[test]
fn gradient_penalty_weight_gradients_match_finite_differences() {
    let mut rng = seeded("gradient_penalty");
    for spec in critics() {
        for batch in [1, 3] {
            for gp in [true, false] {
                let mut p = cpu::net::Params::new();
                for s in spec.params() {
                    p.insert(s.name.clone(), randn(&mut rng, s.shape.iter().product()).iter().map(|v| 0.5 * v).collect());
                }
                let x = Tensor::new(&[vec![batch], spec.input.clone()].concat(), randn(&mut rng, batch * spec.input.iter().product::<usize>()));
                let (_, adj, acts, deltas) = penalty_of(&spec, &p, &x, gp);
                let analytic = cpu::net::double_backward(&spec, &p, &acts, &deltas, &[], &Tensor::new(&x.shape, adj));
                for s in spec.params() {
                    let what = format!("{} {} batch {batch} {}", spec.layers.len(), s.name, if gp { "GP" } else { "R1" });
                    let zero = vec![0.0; p[&s.name].len()];
                    // Biases above every LayerNorm shift the kinks only: the penalty's gradient to
                    // them is 0 almost everywhere.
                    let a = analytic.get(&s.name).unwrap_or(&zero);
                    let with = |v: &[f64]| {
                        let mut q = p.clone();
                        q.insert(s.name.clone(), v.to_vec());
                        q
                    };
                    // The penalty is piecewise smooth in the weights: one piece per sign
                    // pattern of the ReLU/LeakyReLU inputs and per choice of every max pool.
                    let pattern = |v: &[f64]| {
                        use shadergan::nn::Layer;
                        let acts = cpu::net::forward(&spec, &with(v), &x, &[], &cpu::net::Masks::new());
                        let mut bits = Vec::new();
                        for (i, l) in spec.layers.iter().enumerate() {
                            match *l {
                                Layer::Relu | Layer::LeakyRelu(_) => bits.extend(acts[i].data.iter().map(|a| *a > 0.0)),
                                Layer::MaxPool2d { kernel, stride, padding } => {
                                    let s = &acts[i].shape;
                                    let argmax = cpu::pool::max_pool(&acts[i].data, s[0] * s[1], s[2], s[3], kernel, stride, padding).1;
                                    bits.extend(argmax.iter().flat_map(|&a| (0..32).map(move |b| (a >> b) & 1 == 1)));
                                }
                                _ => {}
                            }
                        }
                        bits
                    };
                    gradcheck_piecewise(&what, &p[&s.name], a, |v| penalty_of(&spec, &with(v), &x, gp).0, pattern);
                }
            }
        }
    }
}

/// The penalty's adjoint ∂P/∂g against central differences, WGAN-GP and R1, batch 1 and 4.
#[test]
fn gradient_penalty_adjoint_matches_finite_differences() {
    let mut rng = seeded("penalty adjoint");
    for batch in [1, 4] {
        for gp in [true, false] {
            let g = randn(&mut rng, batch * 7);
            let (_, adj) = cpu::penalty::penalty(&g, batch, gp, 3.0, 1e-12);
            gradcheck(&format!("penalty adjoint batch {batch} gp {gp}"), &g, &adj, |v| cpu::penalty::penalty(v, batch, gp, 3.0, 1e-12).0);
        }
    }
    // Known values: g = (3, 4) has ‖g‖ = 5: GP = λ(5 − 1)² = 16λ, R1 = γ/2·25.
    assert!((cpu::penalty::penalty(&[3.0, 4.0], 1, true, 2.0, 0.0).0 - 32.0).abs() < 1e-12);
    assert!((cpu::penalty::penalty(&[3.0, 4.0], 1, false, 2.0, 0.0).0 - 25.0).abs() < 1e-12);
}
