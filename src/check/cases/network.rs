//! Check cases of the network family.

use super::*;

/// Whole networks (the layers' wiring, not only their kernels): a GPU `nn::Instance` against
/// `reference::net` on the same weights, input and upstream gradient. Forward output, every
/// parameter gradient (+= into zeroed gradients), and the input gradient of the
/// pass-through backward, which must leave the parameter gradients untouched.
pub(super) fn network_cases() -> Vec<Case> {
    use crate::model::{ConditionMode, Conditional, DNorm, ModelConfig, ModelKind};
    let projection = |classes| Some(Conditional { mode: ConditionMode::Projection, classes, embedding: None });
    let mut v = Vec::new();
    let configs = [
        ("dcgan 16x16x3", ModelConfig { model: ModelKind::Dcgan, image_size: 16, channels: 3, nz: 8, ngf: 8, ndf: 8, dropout: 0.3, conditional: None, spectral_norm: false, d_norm: DNorm::BatchNorm, minibatch_std: None }),
        ("dcgan 32x32x1", ModelConfig { model: ModelKind::Dcgan, image_size: 32, channels: 1, nz: 10, ngf: 4, ndf: 4, dropout: 0.3, conditional: None, spectral_norm: false, d_norm: DNorm::BatchNorm, minibatch_std: None }),
        ("mlp 8x8x1", ModelConfig { model: ModelKind::Mlp, image_size: 8, channels: 1, nz: 6, ngf: 8, ndf: 8, dropout: 0.3, conditional: None, spectral_norm: false, d_norm: DNorm::BatchNorm, minibatch_std: None }),
    ];
    // Spectrally normalised discriminators (the generator is the same as above): without and
    // with BatchNorm, and the MLP's Linear layers (no dropout: SN refuses it); and the
    // LayerNorm discriminator.
    let sn = |c: &ModelConfig, d_norm: DNorm, dropout: f32| ModelConfig { spectral_norm: true, d_norm, dropout, ..c.clone() };
    let sn_configs = [
        ("dcgan 16x16x3 sn", sn(&configs[0].1, DNorm::None, 0.3)),
        ("dcgan 32x32x1 sn+bn", sn(&configs[1].1, DNorm::BatchNorm, 0.3)),
        ("mlp 8x8x1 sn", sn(&configs[2].1, DNorm::BatchNorm, 0.0)),
        // Not spectrally normalised: the LayerNorm critic of --d-norm layernorm.
        ("dcgan 32x32x1 layernorm", ModelConfig { d_norm: DNorm::LayerNorm, ..configs[1].1.clone() }),
        // Not spectrally normalised: projection discriminators (a label input), with
        // BatchNorm, without normalisation, and the MLP's (dropout included).
        ("dcgan 16x16x3 projection", ModelConfig { conditional: projection(3), ..configs[0].1.clone() }),
        ("dcgan 32x32x1 projection no norm", ModelConfig { conditional: projection(10), d_norm: DNorm::None, ..configs[1].1.clone() }),
        ("mlp 8x8x1 projection", ModelConfig { conditional: projection(4), ..configs[2].1.clone() }),
        // The minibatch standard deviation layer (one group: the cases' batch is 5), without
        // normalisation, and with BatchNorm below a projection head.
        ("dcgan 32x32x1 minibatch std", ModelConfig { minibatch_std: Some(5), d_norm: DNorm::None, ..configs[1].1.clone() }),
        ("dcgan 16x16x3 projection minibatch std", ModelConfig { conditional: projection(3), minibatch_std: Some(5), ..configs[0].1.clone() }),
    ];
    v.push(Case::new("network", "network conv+maxpool+avgpool critic".to_string(), |gpu, rng| network_case(gpu, rng, &super::penalty::pooling_critic(), "conv+maxpool+avgpool critic")));
    for (name, cfg) in sn_configs {
        v.push(Case::new("network", format!("network {name} discriminator"), move |gpu, rng| network_case(gpu, rng, &cfg.discriminator()?, &format!("{name} discriminator"))));
    }
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
    // A projection head's labels, at random.
    let classes = spec.layers.iter().find_map(|l| if let Layer::Projection { classes, .. } = l { Some(*classes) } else { None });
    let labels: Vec<u32> = classes.map_or(Vec::new(), |k| (0..batch).map(|_| (rng.next_u64() % k as u64) as u32).collect());
    let labels_gpu = GpuTensor::from_u32(gpu, &[batch], &if labels.is_empty() { vec![0; batch] } else { labels.clone() }, "labels")?;
    let net = if classes.is_some() {
        Instance::labelled(gpu, spec, &store, batch, Mode::Train, &counters, dropout, &labels_gpu, None, false)?
    } else {
        Instance::new(gpu, spec, &store, batch, Mode::Train, &counters, dropout, None, None)?
    };
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
    let acts = cpu::net::forward(spec, &params, &input, &labels, &masks);
    let (want_grads, want_dx) = cpu::net::backward(spec, &params, &acts, &Tensor::from_f32(net.output().shape(), &dys), &labels, &masks);

    // Each layer adds its own rounding (the longest reduction here sums ≤ 4096 terms) and
    // BatchNorm divides by the batch's deviation; four times the bound of one such reduction
    // covers a handful of layers (measured: under 1e-6).
    let bound = 4.0 * sum_bound(4096);
    let mut rows = Vec::new();
    store.grads.write_f32(gpu, &vec![0.0; store.grads.numel()])?;
    net.output().poison(gpu)?;
    gpu.run("net forward", &net.forward.iter().collect::<Vec<_>>())?;
    rows.push(Row::compare("network", "forward", label, "nn", &net.output().read_f32(gpu)?, &acts.last().expect("output").data, bound));
    // Spectral norm's power iteration updated u and v in the store (its buffers).
    for (i, l) in spec.layers.iter().enumerate() {
        if let Layer::SpectralNorm(_) = l {
            let ((u, v, _), _) = cpu::net::spectral_norm_state(&params, i);
            rows.push(Row::compare("network", &format!("main.{i}.weight_u"), label, "nn", &store.param(&format!("main.{i}.weight_u"))?.read_f32(gpu)?, &u, bound));
            rows.push(Row::compare("network", &format!("main.{i}.weight_v"), label, "nn", &store.param(&format!("main.{i}.weight_v"))?.read_f32(gpu)?, &v, bound));
        }
    }
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
