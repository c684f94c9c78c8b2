//! Check cases of the penalty family: the WGAN-GP and R1 penalties of an input gradient (value
//! and adjoint), and whole critics' backward of the backward — a GPU `nn::Instance` built with
//! `new_second_order` against `reference::net::double_backward`: the penalty of
//! ∂(Σ_b D(x_b))/∂x and its gradient with respect to every weight.

use super::*;

pub(super) fn penalty_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for &(batch, per) in &[(1usize, 1usize), (1, 17), (3, 65), (5, 1000), (2, 3000), (300, 3)] {
        for gp in [true, false] {
            let name = if gp { "gp" } else { "r1" };
            v.push(Case::new("penalty", format!("penalty {name} {batch}x{per}"), move |gpu, rng| {
                let g_data = rng.normals(batch * per, 0.1);
                let weight = 10.0f32;
                let (value, adj_want) = cpu::penalty::penalty(&f64s(&g_data), batch, gp, weight as f64, ops::penalty::EPS as f64);
                let g = upload(gpu, &[batch, per], &g_data, "g")?;
                let adj = GpuTensor::zeros(gpu, &[batch, per], DType::F32, "adj")?;
                let stats = GpuTensor::zeros(gpu, &[8], DType::F32, "stats")?;
                let (sq, coef) = ops::penalty::scratch(gpu, batch)?;
                stats.poison(gpu)?;
                let which = if gp { ops::penalty::Penalty::Gp { lambda: weight } } else { ops::penalty::Penalty::R1 { gamma: weight } };
                let got = run_poisoned(gpu, "penalty", &ops::penalty::penalty(gpu, which, &g, &sq, &coef, &adj, &stats, 5)?, &adj)?;
                let shape = format!("B={batch} per={per}");
                // A sum of `per` squares per sample, then one over the batch; GP adds a sqrt.
                let bound = sum_bound(per) + sum_bound(batch) + TRANSCENDENTAL_BOUND;
                let got_value = stats.read_f32(gpu)?[5];
                Ok(vec![
                    Row::compare("penalty", &format!("{name}_value"), &shape, "WG/sample", &[got_value], &[value], bound),
                    Row::compare("penalty", &format!("{name}_adjoint"), &shape, "WG/sample", &got, &adj_want, bound),
                ])
            }));
        }
    }
    for &(batch, per) in &[(1usize, 1usize), (3, 65), (7, 1000)] {
        v.push(Case::new("penalty", format!("interpolate {batch}x{per}"), move |gpu, rng| {
            let (r, f, e) = (rng.normals(batch * per, 1.0), rng.normals(batch * per, 1.0), rng.uniforms(batch, 0.0, 1.0));
            let want = cpu::penalty::interpolate(&f64s(&r), &f64s(&f), &f64s(&e));
            let out = GpuTensor::zeros(gpu, &[batch, per], DType::F32, "x_hat")?;
            let d = ops::penalty::interpolate(gpu, &upload(gpu, &[batch, per], &r, "real")?, &upload(gpu, &[batch, per], &f, "fake")?, &upload(gpu, &[batch], &e, "eps")?, &out)?;
            let got = run_poisoned(gpu, "interpolate", &[d], &out)?;
            Ok(vec![Row::compare("penalty", "interpolate", &format!("B={batch} per={per}"), "elementwise", &got, &want, ELEMENTWISE_BOUND)])
        }));
    }
    for (name, spec) in critics() {
        for batch in [1usize, 3] {
            let spec = spec.clone();
            v.push(Case::new("penalty", format!("double backward {name} batch {batch}"), move |gpu, rng| double_backward_case(gpu, rng, &spec, &format!("{name} B={batch}"), batch)));
        }
    }
    v
}

/// Critics with a backward of the backward: the DCGAN discriminator without BatchNorm (plain,
/// spectrally normalised, with LayerNorm, with the minibatch standard deviation), an MLP critic,
/// and ones through a transposed convolution and ReLU and through pooling.
fn critics() -> Vec<(&'static str, crate::nn::NetSpec)> {
    use crate::model::{DNorm, ModelConfig, ModelKind};
    use crate::nn::{Init, Layer, NetSpec};
    let dcgan = ModelConfig { model: ModelKind::Dcgan, image_size: 16, channels: 3, nz: 4, ngf: 4, ndf: 4, dropout: 0.0, conditional: None, spectral_norm: false, d_norm: DNorm::None, minibatch_std: None };
    let init = Init::Normal { mean: 0.0, std: 0.02 };
    let mlp = NetSpec {
        name: "critic".into(),
        input: vec![1, 5, 5],
        layers: vec![Layer::Flatten, Layer::Linear { in_features: 25, out_features: 17, bias: true }, Layer::LeakyRelu(0.2), Layer::Linear { in_features: 17, out_features: 1, bias: true }],
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
    let sn = ModelConfig { spectral_norm: true, ..dcgan.clone() }.discriminator().expect("a valid DCGAN");
    let ln = ModelConfig { d_norm: DNorm::LayerNorm, image_size: 32, ..dcgan.clone() }.discriminator().expect("a valid DCGAN");
    let dcgan_config = dcgan.clone();
    let dcgan = dcgan.discriminator().expect("a valid DCGAN");
    vec![
        ("dcgan 16x16x3 no-norm", dcgan),
        ("dcgan 16x16x3 spectral norm", sn),
        // Two LayerNorms: P reaches the layers below each through its input, biases included.
        ("dcgan 32x32x3 layernorm", ln),
        ("conv+layernorm", layernorm_critic()),
        ("mlp 5x5", mlp),
        ("convT+conv", convt),
        ("conv+maxpool+avgpool", pooling_critic()),
        // The minibatch standard deviation layer (groups of 3: one group at batch 3, groups of
        // one at batch 1): its backward depends on its input, and with LayerNorms below it P
        // reaches the layers below through three input adjoints.
        ("dcgan 16x16x3 minibatch std", ModelConfig { minibatch_std: Some(3), ..dcgan_config.clone() }.discriminator().expect("a valid DCGAN")),
        ("dcgan 32x32x3 layernorm minibatch std", ModelConfig { d_norm: DNorm::LayerNorm, image_size: 32, minibatch_std: Some(3), ..dcgan_config }.discriminator().expect("a valid DCGAN")),
    ]
}

/// A small conv net with 2-D max and average pooling (overlapping, padded windows) below a
/// Linear head: the pooling modules' passes inside a network, first and second order.
pub fn pooling_critic() -> crate::nn::NetSpec {
    use crate::nn::{Init, Layer, NetSpec};
    NetSpec {
        name: "critic".into(),
        input: vec![2, 9, 9],
        layers: vec![
            Layer::Conv2d { c_in: 2, c_out: 3, kernel: 3, stride: 1, padding: 1, bias: true },
            Layer::LeakyRelu(0.2),
            Layer::MaxPool2d { kernel: 2, stride: 2, padding: 0 },
            Layer::Conv2d { c_in: 3, c_out: 4, kernel: 3, stride: 1, padding: 1, bias: true },
            Layer::Relu,
            Layer::AvgPool2d { kernel: 3, stride: 2, padding: 1 },
            Layer::Flatten,
            Layer::Linear { in_features: 16, out_features: 1, bias: true },
        ],
        conv_init: Init::Normal { mean: 0.0, std: 0.02 },
        label_embedding: None,
    }
}

/// LayerNorm right after each convolution, the second over a ragged [2, 4, 4], with biases
/// below it: everything the sweep through the forward touches.
pub fn layernorm_critic() -> crate::nn::NetSpec {
    use crate::nn::{Init, Layer, NetSpec};
    NetSpec {
        name: "critic".into(),
        input: vec![2, 6, 6],
        layers: vec![
            Layer::Conv2d { c_in: 2, c_out: 3, kernel: 3, stride: 1, padding: 0, bias: true },
            Layer::LayerNorm(vec![3, 4, 4]),
            Layer::LeakyRelu(0.2),
            Layer::Conv2d { c_in: 3, c_out: 2, kernel: 3, stride: 1, padding: 1, bias: true },
            Layer::LayerNorm(vec![2, 4, 4]),
            Layer::LeakyRelu(0.2),
            Layer::Flatten,
            Layer::Linear { in_features: 32, out_features: 1, bias: true },
        ],
        conv_init: Init::Normal { mean: 0.0, std: 0.02 },
        label_embedding: None,
    }
}

fn double_backward_case(gpu: &Gpu, rng: &mut Rng, spec: &crate::nn::NetSpec, label: &str, batch: usize) -> Result<Vec<Row>> {
    use crate::nn::{DropoutRng, Instance, Kind, ParamStore};
    use std::collections::HashMap;
    let store = ParamStore::new(gpu, "critic", spec.params())?;
    let mut params: cpu::net::Params = HashMap::new();
    for p in &store.specs {
        let mut values = rng.normals(p.shape.iter().product(), 0.5);
        if p.name.ends_with(".weight") && layer_of(&p.name).is_some_and(|i| matches!(spec.layers[i], crate::nn::Layer::LayerNorm(_))) {
            // LayerNorm gains away from 0 (they start at 1 in training): a gain near 0 makes a
            // feature nearly equal across the batch, and the minibatch standard deviation of
            // nearly equal f32 values is ill-conditioned (relative error u·|x|/σ), in any f32
            // implementation.
            values.iter_mut().for_each(|v| *v = v.signum() * (0.5 + v.abs()));
        }
        store.param(&p.name)?.write_f32(gpu, &values)?;
        params.insert(p.name.clone(), f64s(&values));
    }
    let counters = GpuTensor::zeros(gpu, &[2], DType::U32, "counters")?;
    let net = Instance::new_second_order(gpu, spec, &store, batch, &counters, DropoutRng { seed: 0, counter_index: 1 }, None, None)?;
    let xs = rng.normals(net.input().numel(), 1.0);
    net.input().write_f32(gpu, &xs)?;
    net.output_grad().write_f32(gpu, &vec![1.0; net.output().numel()])?;
    let lambda = 10.0f32;
    let stats = GpuTensor::zeros(gpu, &[8], DType::F32, "stats")?;
    let (sq, coef) = ops::penalty::scratch(gpu, batch)?;
    let penalty = ops::penalty::penalty(gpu, ops::penalty::Penalty::Gp { lambda }, net.input_grad(), &sq, &coef, &net.adjs[0], &stats, 0)?;
    store.grads.write_f32(gpu, &vec![0.0; store.grads.numel()])?;
    net.input_grad().poison(gpu)?;
    let d: Vec<&Dispatch> = net.forward.iter().chain(&net.backward_input_only).chain(&penalty).chain(&net.double_backward).collect();
    gpu.run("critic penalty", &d)?;

    let input = Tensor::from_f32(net.input().shape(), &xs);
    let masks = cpu::net::Masks::new();
    let acts = cpu::net::forward(spec, &params, &input, &[], &masks);
    let ones = Tensor::new(&acts.last().expect("output").shape, vec![1.0; net.output().numel()]);
    let (_, deltas) = cpu::net::backward_all(spec, &params, &acts, &ones, &[], &masks);
    let (value, adj) = cpu::penalty::penalty(&deltas[0].data, batch, true, lambda as f64, ops::penalty::EPS as f64);
    let (want, sweep) = cpu::net::double_backward_traced(spec, &params, &acts, &deltas, &[], &Tensor::new(&input.shape, adj));
    // Forward, backward and its backward: three networks' worth of reductions deep.
    let bound = 8.0 * sum_bound(4096);
    let mut rows = vec![
        Row::compare("penalty", "input grad", label, "nn", &net.input_grad().read_f32(gpu)?, &deltas[0].data, bound),
        Row::compare("penalty", "gp value", label, "nn", &stats.read_f32(gpu)?[..1], &[value], bound),
    ];
    for p in store.specs.iter().filter(|p| p.kind == Kind::Trainable) {
        let got = store.grad(&p.name)?.read_f32(gpu)?;
        let swept = layer_of(&p.name).and_then(|i| sweep.get(&i)).filter(|_| p.name.ends_with(".bias"));
        match (want.get(&p.name), swept) {
            // A bias gets P's gradient only from the sweep through the forward: that sweep's
            // gradient at its layer's output summed over the batch (and positions). Through
            // the minibatch standard deviation the terms nearly cancel (a shift shared by a
            // group leaves its spread alone), so the sum is measured against Σ|terms|, what
            // f32 can resolve; measured against |Σ terms| it failed at 1.8e-4 for one seed.
            (Some(w), Some(terms)) => {
                let plane = terms.data.len() / terms.shape[0] / w.len();
                let mut magnitude = vec![0.0; w.len()];
                for (e, t) in terms.data.iter().enumerate() {
                    magnitude[(e / plane) % w.len()] += t.abs();
                }
                rows.push(Row::compare_sum("penalty", &format!("grad {}", p.name), label, "nn", &got, w, &magnitude, bound));
            }
            (Some(w), None) => rows.push(Row::compare("penalty", &format!("grad {}", p.name), label, "nn", &got, w, bound)),
            // Biases above every LayerNorm: no gradient from the penalty, and none written.
            (None, _) => rows.push(Row::scalar("penalty", &format!("grad {} (untouched: nonzero count)", p.name), label, "nn", got.iter().filter(|v| **v != 0.0).count() as f64, 0.0)),
        }
    }
    Ok(rows)
}

/// The index of the layer that owns parameter `name` (`main.{i}.…`).
fn layer_of(name: &str) -> Option<usize> {
    name.strip_prefix("main.")?.split('.').next()?.parse().ok()
}
