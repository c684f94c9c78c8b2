//! A sequential network on the CPU reference ops, in f64: forward and backward of a
//! [`NetSpec`](crate::nn::NetSpec), to check the GPU layers' wiring (which buffer feeds which
//! backward, transposes, views) as a whole, not only each kernel.

use std::collections::HashMap;

use super::{activation, batchnorm, conv2d, conv_transpose2d, layernorm, matmul, minibatch_std, pool, projection, reduce, spectral_norm, Tensor};
use crate::nn::{Layer, NetSpec};

/// Parameters and buffers by state-dict name.
pub type Params = HashMap<String, Vec<f64>>;

/// Dropout masks by layer index (training mode draws them; the reference takes them as given).
pub type Masks = HashMap<usize, Vec<f64>>;

/// Activations of every layer (acts[0] = input) in training mode (batch statistics).
/// `labels`: the class of each sample, for a network with a projection head (else empty).
pub fn forward(spec: &NetSpec, p: &Params, input: &Tensor, labels: &[u32], masks: &Masks) -> Vec<Tensor> {
    let mut acts = vec![input.clone()];
    for (i, layer) in spec.layers.iter().enumerate() {
        let y = layer_forward(layer, i, p, acts.last().expect("input"), labels, masks);
        acts.push(y);
    }
    acts
}

/// Spectral normalisation of layer `i` in a training forward: one power iteration from the
/// stored `weight_u`, giving (u, v, σ) and the parameters with `weight` = W/σ that the wrapped
/// layer computes with.
pub fn spectral_norm_state(p: &Params, i: usize) -> ((Vec<f64>, Vec<f64>, f64), Params) {
    let key = |n: &str| format!("main.{i}.{n}");
    let w = &p[&key("weight_orig")];
    let rows = p[&key("weight_u")].len();
    let state = spectral_norm::power_iteration(w, rows, w.len() / rows, &p[&key("weight_u")], crate::ops::spectral_norm::EPS as f64);
    let mut with_weight = p.clone();
    with_weight.insert(key("weight"), w.iter().map(|x| x / state.2).collect());
    (state, with_weight)
}

fn layer_forward(layer: &Layer, i: usize, p: &Params, x: &Tensor, labels: &[u32], masks: &Masks) -> Tensor {
    let w = |n: &str| &p[&format!("main.{i}.{n}")];
    let wt = |n: &str, shape: &[usize]| Tensor::new(shape, w(n).clone());
    let b = x.shape[0];
    match layer {
        Layer::Linear { in_features, out_features, bias } => {
            let y = matmul::matmul(&x.data, w("weight"), None, bias.then(|| w("bias").as_slice()), (b, *out_features, *in_features), (false, true), 1.0, 0.0);
            Tensor::new(&[b, *out_features], y)
        }
        Layer::Conv2d { c_in, c_out, kernel, stride, padding, bias } => {
            conv2d::forward(x, &wt("weight", &[*c_out, *c_in, *kernel, *kernel]), bias.then(|| w("bias").as_slice()), *stride, *padding)
        }
        Layer::ConvTranspose2d { c_in, c_out, kernel, stride, padding, output_padding, bias } => conv_transpose2d::forward(
            x,
            &wt("weight", &[*c_in, *c_out, *kernel, *kernel]),
            bias.then(|| w("bias").as_slice()),
            *stride,
            *padding,
            *output_padding,
        ),
        Layer::BatchNorm2d { .. } => batchnorm::forward_train(x, w("weight"), w("bias"), w("running_mean"), w("running_var"), 1e-5, 0.1).y,
        Layer::LayerNorm(_) => layernorm::forward(x, w("weight"), w("bias"), LN_EPS),
        Layer::Relu => Tensor::new(&x.shape, activation::forward(activation::Act::Relu, &x.data)),
        Layer::LeakyRelu(s) => Tensor::new(&x.shape, activation::forward(activation::Act::LeakyRelu(*s as f64), &x.data)),
        Layer::Tanh => Tensor::new(&x.shape, activation::forward(activation::Act::Tanh, &x.data)),
        Layer::Sigmoid => Tensor::new(&x.shape, activation::forward(activation::Act::Sigmoid, &x.data)),
        Layer::Dropout(_) => Tensor::new(&x.shape, x.data.iter().zip(&masks[&i]).map(|(a, m)| a * m).collect()),
        Layer::Flatten => Tensor::new(&[b, x.numel() / b], x.data.clone()),
        Layer::Unflatten(s) => Tensor::new(&[vec![b], s.clone()].concat(), x.data.clone()),
        Layer::SpectralNorm(inner) => layer_forward(inner, i, &spectral_norm_state(p, i).1, x, labels, masks),
        Layer::Projection { .. } => Tensor::new(&[b, 1], projection::forward(&x.data, labels, w("linear.weight"), w("linear.bias")[0], w("embed.weight"))),
        &Layer::AvgPool2d { kernel, stride, padding } => {
            let (n, h, wd) = planes(x);
            Tensor::new(&pooled(x, kernel, stride, padding), pool::avg_pool(&x.data, n, h, wd, kernel, stride, padding))
        }
        &Layer::MaxPool2d { kernel, stride, padding } => {
            let (n, h, wd) = planes(x);
            Tensor::new(&pooled(x, kernel, stride, padding), pool::max_pool(&x.data, n, h, wd, kernel, stride, padding).0)
        }
        &Layer::MinibatchStd { group } => {
            let (c, p) = channels_and_plane(x);
            Tensor::new(&[vec![b, c + 1], x.shape[2..].to_vec()].concat(), minibatch_std::forward(&x.data, b, c, p, group))
        }
    }
}

/// Gradients of L with ∂L/∂output = `dy`: (parameter gradients by name, ∂L/∂input).
pub fn backward(spec: &NetSpec, p: &Params, acts: &[Tensor], dy: &Tensor, labels: &[u32], masks: &Masks) -> (Params, Tensor) {
    let mut grads = Params::new();
    let mut g = dy.clone();
    for (i, layer) in spec.layers.iter().enumerate().rev() {
        g = layer_backward(layer, i, p, (&acts[i], &acts[i + 1]), &g, labels, masks, &mut grads);
    }
    (grads, g)
}

#[allow(clippy::too_many_arguments)]
fn layer_backward(layer: &Layer, i: usize, p: &Params, (x, y): (&Tensor, &Tensor), g: &Tensor, labels: &[u32], masks: &Masks, grads: &mut Params) -> Tensor {
    let w = |n: &str| &p[&format!("main.{i}.{n}")];
    let wt = |n: &str, shape: &[usize]| Tensor::new(shape, w(n).clone());
    let name = |n: &str| format!("main.{i}.{n}");
    let b = x.shape[0];
    match layer {
        Layer::Linear { in_features, out_features, bias } => {
            // y = x·Wᵀ: as C = A·B with A = x, B = Wᵀ: dA = dC·B ᵀ= dC·W, dB = Aᵀ·dC = (dW)ᵀ.
            let wt_t: Vec<f64> = (0..*in_features).flat_map(|k| (0..*out_features).map(move |o| (o, k))).map(|(o, k)| w("weight")[o * in_features + k]).collect();
            let (dx, dbt, dbias) = matmul::matmul_backward(&x.data, &wt_t, &g.data, (b, *out_features, *in_features));
            let dw: Vec<f64> = (0..*out_features).flat_map(|o| (0..*in_features).map(move |k| (o, k))).map(|(o, k)| dbt[k * out_features + o]).collect();
            grads.insert(name("weight"), dw);
            if *bias {
                grads.insert(name("bias"), dbias);
            }
            Tensor::new(&x.shape, dx)
        }
        Layer::Conv2d { c_in, c_out, kernel, stride, padding, bias } => {
            let ws = [*c_out, *c_in, *kernel, *kernel];
            grads.insert(name("weight"), conv2d::backward_weight(x, g, &ws, *stride, *padding).data);
            if *bias {
                grads.insert(name("bias"), reduce::sum_channels(g));
            }
            conv2d::backward_input(g, &wt("weight", &ws), &x.shape, *stride, *padding)
        }
        Layer::ConvTranspose2d { c_in, c_out, kernel, stride, padding, bias, .. } => {
            let ws = [*c_in, *c_out, *kernel, *kernel];
            grads.insert(name("weight"), conv_transpose2d::backward_weight(x, g, &ws, *stride, *padding).data);
            if *bias {
                grads.insert(name("bias"), reduce::sum_channels(g));
            }
            conv_transpose2d::backward_input(g, &wt("weight", &ws), &x.shape, *stride, *padding)
        }
        Layer::BatchNorm2d { .. } => {
            let (dx, dgamma, dbeta) = batchnorm::backward(x, g, w("weight"), 1e-5);
            grads.insert(name("weight"), dgamma);
            grads.insert(name("bias"), dbeta);
            dx
        }
        Layer::LayerNorm(_) => {
            let (dx, dgamma, dbeta) = layernorm::backward(x, g, w("weight"), LN_EPS);
            grads.insert(name("weight"), dgamma);
            grads.insert(name("bias"), dbeta);
            dx
        }
        Layer::Relu => Tensor::new(&x.shape, activation::backward(activation::Act::Relu, &x.data, &g.data)),
        Layer::LeakyRelu(s) => Tensor::new(&x.shape, activation::backward(activation::Act::LeakyRelu(*s as f64), &x.data, &g.data)),
        Layer::Tanh => Tensor::new(&x.shape, g.data.iter().zip(&y.data).map(|(d, t)| d * (1.0 - t * t)).collect()),
        Layer::Sigmoid => Tensor::new(&x.shape, g.data.iter().zip(&y.data).map(|(d, s)| d * s * (1.0 - s)).collect()),
        Layer::Dropout(_) => Tensor::new(&x.shape, g.data.iter().zip(&masks[&i]).map(|(d, m)| d * m).collect()),
        Layer::Flatten | Layer::Unflatten(_) => Tensor::new(&x.shape, g.data.clone()),
        Layer::SpectralNorm(inner) => {
            // The wrapped layer on W/σ, then its weight gradient through W/σ (u, v constant).
            let ((u, v, sigma), with_weight) = spectral_norm_state(p, i);
            let dx = layer_backward(inner, i, &with_weight, (x, y), g, labels, masks, grads);
            let dw_sn = grads.remove(&name("weight")).expect("the wrapped layer has a weight");
            grads.insert(name("weight_orig"), spectral_norm::backward(w("weight_orig"), &dw_sn, &u, &v, sigma));
            dx
        }
        &Layer::Projection { features, classes } => {
            let (dw, dbias, de) = projection::backward_params(&g.data, labels, &x.data, features, classes);
            grads.insert(name("linear.weight"), dw);
            grads.insert(name("linear.bias"), vec![dbias]);
            grads.insert(name("embed.weight"), de);
            Tensor::new(&x.shape, projection::backward_input(&g.data, labels, w("linear.weight"), w("embed.weight")))
        }
        &Layer::AvgPool2d { kernel, stride, padding } => {
            let (n, h, wd) = planes(x);
            Tensor::new(&x.shape, pool::avg_pool_backward(&g.data, n, h, wd, kernel, stride, padding))
        }
        &Layer::MaxPool2d { kernel, stride, padding } => {
            let (n, h, wd) = planes(x);
            let argmax = pool::max_pool(&x.data, n, h, wd, kernel, stride, padding).1;
            Tensor::new(&x.shape, pool::max_pool_backward(&g.data, &argmax, n, h, wd, y.shape[2], y.shape[3]))
        }
        &Layer::MinibatchStd { group } => {
            let (c, p) = channels_and_plane(x);
            Tensor::new(&x.shape, minibatch_std::backward(&x.data, &g.data, x.shape[0], c, p, group))
        }
    }
}

/// (C, H·W) of an NCHW tensor.
fn channels_and_plane(x: &Tensor) -> (usize, usize) {
    (x.shape[1], x.shape[2..].iter().product())
}

/// (B·C, H, W) of an NCHW tensor: the planes a pooling works on.
fn planes(x: &Tensor) -> (usize, usize, usize) {
    (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
}

/// [B, C, OH, OW] of pooling x [B, C, H, W].
fn pooled(x: &Tensor, k: usize, s: usize, p: usize) -> Vec<usize> {
    vec![x.shape[0], x.shape[1], pool::out_side(x.shape[2], k, s, p), pool::out_side(x.shape[3], k, s, p)]
}

/// As `backward`, keeping every gradient: `deltas[i]` = ∂L/∂acts[i] (deltas[n] = dy).
pub fn backward_all(spec: &NetSpec, p: &Params, acts: &[Tensor], dy: &Tensor, labels: &[u32], masks: &Masks) -> (Params, Vec<Tensor>) {
    let mut grads = Params::new();
    let mut deltas = vec![dy.clone()];
    for (i, layer) in spec.layers.iter().enumerate().rev() {
        let g = layer_backward(layer, i, p, (&acts[i], &acts[i + 1]), deltas.last().expect("dy"), labels, masks, &mut grads);
        deltas.push(g);
    }
    deltas.reverse();
    (grads, deltas)
}

/// `nn.LayerNorm`'s default eps, as the GPU module uses.
const LN_EPS: f64 = crate::ops::layernorm::EPS as f64;

/// The backward of the backward for a penalty P of the input gradient: given `adj_input` =
/// ∂P/∂deltas[0] and the gradients `deltas` of `backward_all`, P's gradient with respect to
/// every parameter (biases above every LayerNorm get none: ReLU-family networks' input
/// gradients do not depend on them almost everywhere). Conv2d, ConvTranspose2d, Linear, ReLU,
/// LeakyReLU, LayerNorm, spectral norm, the projection head, 2-D max and average pooling and
/// views.
///
/// LayerNorm's and the minibatch standard deviation's backwards depend on their input, so P
/// also has a gradient ∂P/∂acts[i] there;
/// it reaches the layers below through the forward: a first-order backward from the highest
/// such layer down, with each one's ∂P/∂input added on the way.
pub fn double_backward(spec: &NetSpec, p: &Params, acts: &[Tensor], deltas: &[Tensor], labels: &[u32], adj_input: &Tensor) -> Params {
    double_backward_traced(spec, p, acts, deltas, labels, adj_input).0
}

/// `double_backward`, and also the gradient that its sweep through the forward carries into
/// each layer it passes (keyed by layer index: ∂P/∂acts[i + 1] as seen by layer i's first-order
/// backward). A bias's gradient is that tensor summed over the batch (and positions); where the
/// terms cancel (through the minibatch standard deviation they nearly do: shifting every member
/// of a group alike leaves its spread unchanged), the check compares against Σ|terms| instead.
pub fn double_backward_traced(spec: &NetSpec, p: &Params, acts: &[Tensor], deltas: &[Tensor], labels: &[u32], adj_input: &Tensor) -> (Params, HashMap<usize, Tensor>) {
    let mut grads = Params::new();
    let mut trace = HashMap::new();
    let mut adj = adj_input.clone();
    let mut through_input: Vec<(usize, Tensor)> = Vec::new();
    for (i, layer) in spec.layers.iter().enumerate() {
        let (next, adj_x) = double_backward_layer(layer, i, p, (&acts[i], &acts[i + 1]), &deltas[i + 1], labels, &adj, &mut grads);
        adj = next;
        through_input.extend(adj_x.map(|a| (i, a)).filter(|&(i, _)| i > 0));
    }
    if let Some((top, adj_top)) = through_input.last() {
        let mut g = adj_top.clone();
        for i in (0..*top).rev() {
            let mut layer_grads = Params::new();
            trace.insert(i, g.clone());
            g = layer_backward(&spec.layers[i], i, p, (&acts[i], &acts[i + 1]), &g, labels, &Masks::new(), &mut layer_grads);
            for (k, v) in layer_grads {
                let sum = grads.entry(k).or_insert_with(|| vec![0.0; v.len()]);
                sum.iter_mut().zip(&v).for_each(|(s, x)| *s += x);
            }
            if let Some((_, a)) = through_input.iter().find(|(j, _)| *j == i) {
                g.data.iter_mut().zip(&a.data).for_each(|(s, x)| *s += x);
            }
        }
    }
    (grads, trace)
}

/// One layer's backward of the backward: the adjoint of its output gradient from that of its
/// input gradient `adj`, and (LayerNorm) the adjoint of its input; P's parameter gradients into
/// `grads`.
#[allow(clippy::too_many_arguments)]
fn double_backward_layer(layer: &Layer, i: usize, p: &Params, (x, y): (&Tensor, &Tensor), dy: &Tensor, labels: &[u32], adj: &Tensor, grads: &mut Params) -> (Tensor, Option<Tensor>) {
    let w = |n: &str| &p[&format!("main.{i}.{n}")];
    let name = format!("main.{i}.weight");
    let b = x.shape[0];
    if let Layer::LayerNorm(_) = layer {
        let (adj_dy, adj_x, adj_gamma) = layernorm::double_backward(x, dy, w("weight"), adj, LN_EPS);
        grads.insert(name, adj_gamma);
        return (adj_dy, Some(adj_x));
    }
    if let &Layer::MinibatchStd { group } = layer {
        let (c, p) = channels_and_plane(x);
        let (adj_dy, adj_x) = minibatch_std::double_backward(&x.data, &dy.data, &adj.data, b, c, p, group);
        return (Tensor::new(&y.shape, adj_dy), Some(Tensor::new(&x.shape, adj_x)));
    }
    let next = match layer {
        Layer::Conv2d { c_in, c_out, kernel, stride, padding, .. } => {
            let ws = [*c_out, *c_in, *kernel, *kernel];
            grads.insert(name, conv2d::backward_weight(adj, dy, &ws, *stride, *padding).data);
            conv2d::forward(adj, &Tensor::new(&ws, w("weight").clone()), None, *stride, *padding)
        }
        Layer::ConvTranspose2d { c_in, c_out, kernel, stride, padding, output_padding, .. } => {
            let ws = [*c_in, *c_out, *kernel, *kernel];
            grads.insert(name, conv_transpose2d::backward_weight(adj, dy, &ws, *stride, *padding).data);
            conv_transpose2d::forward(adj, &Tensor::new(&ws, w("weight").clone()), None, *stride, *padding, *output_padding)
        }
        Layer::Linear { in_features, out_features, .. } => {
            let (i_f, o_f) = (*in_features, *out_features);
            // dx = dy·W: adjoint to W is dyᵀ·adj, to dy is adj·Wᵀ.
            let dw: Vec<f64> = (0..o_f * i_f).map(|k| (0..b).map(|s| dy.data[s * o_f + k / i_f] * adj.data[s * i_f + k % i_f]).sum()).collect();
            grads.insert(name, dw);
            Tensor::new(&[b, o_f], matmul::matmul(&adj.data, w("weight"), None, None, (b, o_f, i_f), (false, true), 1.0, 0.0))
        }
        Layer::Relu => Tensor::new(&x.shape, activation::backward(activation::Act::Relu, &x.data, &adj.data)),
        Layer::LeakyRelu(s) => Tensor::new(&x.shape, activation::backward(activation::Act::LeakyRelu(*s as f64), &x.data, &adj.data)),
        Layer::Flatten | Layer::Unflatten(_) => Tensor::new(&y.shape, adj.data.clone()),
        Layer::SpectralNorm(inner) => {
            // The wrapped layer on W/σ; its weight part through W/σ (u, v constant).
            let ((u, v, sigma), with_weight) = spectral_norm_state(p, i);
            let next = double_backward_layer(inner, i, &with_weight, (x, y), dy, labels, adj, grads);
            let dw_sn = grads.remove(&name).expect("the wrapped layer has a weight");
            grads.insert(format!("main.{i}.weight_orig"), spectral_norm::backward(w("weight_orig"), &dw_sn, &u, &v, sigma));
            return (next.0, next.1);
        }
        &Layer::Projection { features, classes } => {
            // dφ = dy·(w + E[y]): adjoint to dy is ⟨adj, w + E[y]⟩; to w and E the parameter
            // backward with adj in place of φ; none to the bias.
            let (dw, _, de) = projection::backward_params(&dy.data, labels, &adj.data, features, classes);
            grads.insert(format!("main.{i}.linear.weight"), dw);
            grads.insert(format!("main.{i}.embed.weight"), de);
            Tensor::new(&[b, 1], projection::forward(&adj.data, labels, w("linear.weight"), 0.0, w("embed.weight")))
        }
        // dx = Bᵀ·dy: the adjoint of dy is B·adj (nothing reaches x: the argmax is constant).
        &Layer::AvgPool2d { kernel, stride, padding } => {
            let (n, h, wd) = planes(x);
            Tensor::new(&y.shape, pool::avg_pool(&adj.data, n, h, wd, kernel, stride, padding))
        }
        &Layer::MaxPool2d { kernel, stride, padding } => {
            let (n, h, wd) = planes(x);
            let argmax = pool::max_pool(&x.data, n, h, wd, kernel, stride, padding).1;
            Tensor::new(&y.shape, pool::max_pool_gather(&adj.data, &argmax, n, h, wd, y.shape[2], y.shape[3]))
        }
        other => panic!("the reference has no backward of the backward of {}", other.torch_name()),
    };
    (next, None)
}
