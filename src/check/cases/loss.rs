//! Check cases of the loss family.

use super::*;

pub(super) fn loss_cases() -> Vec<Case> {
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
    // ACGAN's head: logits [B, 1+K(, 1, 1)], BCE on column 0 and cross-entropy on columns
    // 1..=K into one NaN-poisoned gradient, so an element either call leaves unwritten (or a
    // call that strays into the other's columns) fails; batch 1, ragged, two passes.
    for &(rows, classes, spatial) in &[(1usize, 1usize, false), (17, 10, true), (64, 3, false), (1500, 10, true)] {
        v.push(Case::new("loss", format!("acgan head {rows}x(1+{classes})"), move |gpu, rng| {
            let width = 1 + classes;
            let xs = rng.normals(rows * width, 2.0);
            let ts: Vec<f32> = (0..rows).map(|_| (rng.next_u64() % 2) as f32).collect();
            let labels: Vec<u32> = (0..rows).map(|_| (rng.next_u64() % classes as u64) as u32).collect();
            let lab: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
            let xd = f64s(&xs);
            let (source, class): (Vec<f64>, Vec<f64>) = (xd.iter().step_by(width).copied().collect(), xd.chunks(width).flat_map(|r| r[1..].to_vec()).collect());
            let (bce_ref, p_ref) = cpu::loss::elementwise(cpu::loss::Kind::Bce, &source, &f64s(&ts), 1.0);
            let bce_grad = cpu::loss::elementwise_grad(cpu::loss::Kind::Bce, &source, &f64s(&ts), 1.0);
            let (ce_ref, acc_ref) = cpu::loss::softmax_cross_entropy(&class, classes, &lab, 0.5);
            let ce_grad = cpu::loss::softmax_cross_entropy_grad(&class, classes, &lab, 0.5);
            let grad_ref: Vec<f64> = (0..rows).flat_map(|b| std::iter::once(bce_grad[b]).chain(ce_grad[b * classes..(b + 1) * classes].iter().copied())).collect();
            let shape_t: Vec<usize> = if spatial { vec![rows, width, 1, 1] } else { vec![rows, width] };
            let logits = upload(gpu, &shape_t, &xs, "logits")?;
            let targets = upload(gpu, &[rows], &ts, "targets")?;
            let labels_t = GpuTensor::from_u32(gpu, &[rows], &labels, "labels")?;
            let dlogits = GpuTensor::zeros(gpu, &shape_t, DType::F32, "dlogits")?;
            let out = GpuTensor::zeros(gpu, &[4], DType::F32, "loss")?;
            out.poison(gpu)?;
            let mut d = ops::loss::elementwise_column(gpu, Elementwise::BceWithLogits, &logits, 0, &targets, &dlogits, &out, 0, 1.0)?;
            d.extend(ops::loss::softmax_cross_entropy_columns(gpu, &logits, 1, classes, &labels_t, &dlogits, &out, 2, 0.5)?);
            let got_grad = run_poisoned(gpu, "acgan head", &d, &dlogits)?;
            let got_out = out.read_f32(gpu)?;
            let shape = format!("{shape_t:?}");
            let kernel = if rows > ops::loss::CHUNK { "2-pass" } else { "wg256" };
            let k_bound = sum_bound(rows + classes).max(TRANSCENDENTAL_BOUND);
            // Both losses are sums of non-negative terms: no cancellation.
            Ok(vec![
                Row::compare("loss", "column_bce_value", &shape, kernel, &got_out[0..1], &[bce_ref], k_bound),
                Row::compare("loss", "column_bce_mean_stat", &shape, kernel, &got_out[1..2], &[p_ref], k_bound),
                Row::compare("loss", "columns_softmax_ce_value", &shape, kernel, &got_out[2..3], &[ce_ref], k_bound),
                Row::compare("loss", "columns_softmax_ce_accuracy", &shape, kernel, &got_out[3..4], &[acc_ref], 2.0 * super::F32_U),
                Row::compare("loss", "columns_gradient", &shape, kernel, &got_grad, &grad_ref, TRANSCENDENTAL_BOUND),
            ])
        }));
    }
    // A column view writes its column only: the others keep their poison.
    v.push(Case::new("loss", "column view [33, 3] column 1", |gpu, rng| {
        let (rows, width) = (33usize, 3usize);
        let xs = rng.normals(rows * width, 2.0);
        let ts: Vec<f32> = (0..rows).map(|_| rng.normals(1, 1.0)[0]).collect();
        let column: Vec<f64> = f64s(&xs).into_iter().skip(1).step_by(width).collect();
        let grad_ref = cpu::loss::elementwise_grad(cpu::loss::Kind::LeastSquares, &column, &f64s(&ts), 1.0);
        let logits = upload(gpu, &[rows, width], &xs, "logits")?;
        let targets = upload(gpu, &[rows], &ts, "targets")?;
        let dlogits = GpuTensor::zeros(gpu, &[rows, width], DType::F32, "dlogits")?;
        let out = GpuTensor::zeros(gpu, &[2], DType::F32, "loss")?;
        let got = run_poisoned(gpu, "column view", &ops::loss::elementwise_column(gpu, Elementwise::LeastSquares, &logits, 1, &targets, &dlogits, &out, 0, 1.0)?, &dlogits)?;
        let got_column: Vec<f32> = got.iter().skip(1).step_by(width).copied().collect();
        let others_written = got.iter().enumerate().filter(|(i, g)| i % width != 1 && !g.is_nan()).count();
        Ok(vec![
            Row::compare("loss", "column_gradient", "[33, 3] column 1", "wg256", &got_column, &grad_ref, TRANSCENDENTAL_BOUND),
            Row::scalar("loss", "column_others_untouched", "[33, 3] column 1", "wg256", others_written as f64, 0.0),
        ])
    }));
    v
}
