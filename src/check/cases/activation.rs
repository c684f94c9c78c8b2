//! Check cases of the activation family.

use super::*;

pub(super) fn activation_cases() -> Vec<Case> {
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
