//! Check cases of the labels family: random labels, a batch's labels, one-hot concatenation
//! and its gradient. Labels are integers: every comparison is exact (bound 0).

use super::*;

/// Poison a u32 tensor with 0xFFFFFFFF (no valid label), run, read back as f32 for comparison.
fn run_labels(gpu: &Gpu, label: &str, dispatches: &[Dispatch], out: &GpuTensor) -> Result<Vec<f32>> {
    out.write_u32(gpu, &vec![u32::MAX; out.numel()])?;
    gpu.run(label, &dispatches.iter().collect::<Vec<_>>())?;
    Ok(out.read_u32(gpu)?.iter().map(|&v| v as f32).collect())
}

pub(super) fn labels_cases() -> Vec<Case> {
    let mut v = Vec::new();
    // Random labels: (count, classes, grid folded); exact against the reference, then a
    // histogram over a large draw (every class drawn, none more than 5σ from n/K).
    for &(n, classes, fold) in &[(1usize, 10usize, false), (3, 1, false), (17, 4, false), (127, 10, false), (70_001, 10, false), (3001, 7, true)] {
        v.push(Case::new("labels", format!("random_labels n={n} K={classes} fold={fold}"), move |gpu, rng| {
            let capped;
            let gpu = if fold {
                capped = folded(gpu, FOLD_CAP);
                &capped
            } else {
                gpu
            };
            let (seed, stream, step) = (rng.next_u64(), rng.next_u64() as u32, (rng.next_u64() % 1000) as u32);
            let counters = GpuTensor::from_u32(gpu, &[2], &[0, step], "counters")?;
            let labels = GpuTensor::zeros(gpu, &[n], DType::U32, "labels")?;
            let d = ops::labels::random_labels(gpu, RngKey { seed, stream, counter_index: 1 }, classes, &counters, &labels)?;
            let got = run_labels(gpu, "random labels", &[d], &labels)?;
            let want: Vec<f64> = cpu::labels::random_labels(seed, stream, step, n, classes as u32).iter().map(|&l| l as f64).collect();
            let shape = format!("n={n} K={classes}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });
            let mut rows = vec![Row::compare("labels", "random_labels", &shape, "wg256", &got, &want, 0.0)];
            if n >= 1000 {
                let mut counts = vec![0usize; classes];
                for &l in &got {
                    counts[(l as usize).min(classes - 1)] += 1;
                }
                let expect = n as f64 / classes as f64;
                let sigma = (expect * (1.0 - 1.0 / classes as f64)).sqrt();
                let worst = counts.iter().map(|&c| (c as f64 - expect).abs() / sigma).fold(0.0, f64::max);
                rows.push(Row::scalar("labels", "random_labels_balance_sigmas", &shape, "wg256", worst, 5.0));
            }
            Ok(rows)
        }));
    }
    // Wrong labels: exact against the reference; never the given label; over a large draw,
    // every shift 1..K−1 within 5σ of n/(K − 1).
    for &(n, classes) in &[(1usize, 2usize), (3, 2), (17, 4), (127, 10), (30_001, 10)] {
        v.push(Case::new("labels", format!("mismatched_labels n={n} K={classes}"), move |gpu, rng| {
            let (seed, stream, step) = (rng.next_u64(), rng.next_u64() as u32, (rng.next_u64() % 1000) as u32);
            let given: Vec<u32> = (0..n).map(|_| (rng.next_u64() % classes as u64) as u32).collect();
            let counters = GpuTensor::from_u32(gpu, &[2], &[0, step], "counters")?;
            let given_gpu = GpuTensor::from_u32(gpu, &[n], &given, "given")?;
            let labels = GpuTensor::zeros(gpu, &[n], DType::U32, "labels")?;
            let d = ops::labels::mismatched_labels(gpu, RngKey { seed, stream, counter_index: 1 }, classes, &counters, &given_gpu, &labels)?;
            let got = run_labels(gpu, "mismatched labels", &[d], &labels)?;
            let want: Vec<f64> = cpu::labels::mismatched_labels(seed, stream, step, &given, classes as u32).iter().map(|&l| l as f64).collect();
            let shape = format!("n={n} K={classes}");
            let same = got.iter().zip(&given).filter(|&(&g, &y)| g as u32 == y || g as usize >= classes).count();
            let mut rows = vec![
                Row::compare("labels", "mismatched_labels", &shape, "wg256", &got, &want, 0.0),
                Row::scalar("labels", "mismatched_labels_equal_to_given_or_out_of_range", &shape, "wg256", same as f64, 0.0),
            ];
            if n >= 1000 {
                let mut counts = vec![0usize; classes - 1];
                for (&l, &y) in got.iter().zip(&given) {
                    let shift = (l as usize + classes - y as usize) % classes;
                    counts[shift.clamp(1, classes - 1) - 1] += 1;
                }
                let expect = n as f64 / (classes - 1) as f64;
                let sigma = (expect * (1.0 - 1.0 / (classes - 1) as f64)).sqrt();
                let worst = counts.iter().map(|&c| (c as f64 - expect).abs() / sigma).fold(0.0, f64::max);
                rows.push(Row::scalar("labels", "mismatched_labels_balance_sigmas", &shape, "wg256", worst, 5.0));
            }
            Ok(rows)
        }));
    }
    // Gather: the labels of the images the data pipeline drew.
    for &(n, batch, first) in &[(1usize, 1usize, 0u32), (7, 3, 2), (1000, 64, 14)] {
        v.push(Case::new("labels", format!("gather_labels n={n} batch={batch}"), move |gpu, rng| {
            let (c, size) = (1, 4);
            let pixels: Vec<u8> = (0..n * c * size * size).map(|_| rng.next_u64() as u8).collect();
            let dataset_labels: Vec<u32> = (0..n).map(|_| (rng.next_u64() % 10) as u32).collect();
            let seed = rng.next_u64();
            let ds = ops::data::GpuDataset::upload(gpu, &pixels, n, c, size)?;
            let counters = GpuTensor::from_u32(gpu, &[2], &[0, first], "counters")?;
            let info = GpuTensor::zeros(gpu, &[batch, 8], DType::U32, "sample_info")?;
            let out = GpuTensor::zeros(gpu, &[batch, c, size, size], DType::F32, "batch")?;
            let labels_gpu = GpuTensor::from_u32(gpu, &[n], &dataset_labels, "dataset labels")?;
            let labels = GpuTensor::zeros(gpu, &[batch], DType::U32, "labels")?;
            let mut d = ops::data::batch(gpu, &ds, batch, seed, ops::data::Augment::default(), &counters, 1, &info, &out)?;
            d.push(ops::labels::gather_labels(gpu, &labels_gpu, &info, &labels)?);
            let got = run_labels(gpu, "gather labels", &d, &labels)?;
            let hb = ops::data::half_bits(n);
            let image_of: Vec<u32> = (0..batch as u32).map(|b| cpu::data::draw(first, b, n as u32, batch as u32, hb, seed, false, 0, 0.0).index).collect();
            let want: Vec<f64> = cpu::labels::gather_labels(&dataset_labels, &image_of).iter().map(|&l| l as f64).collect();
            Ok(vec![Row::compare("labels", "gather_labels", &format!("N={n} B={batch}"), "wg256", &got, &want, 0.0)])
        }));
    }
    // Concatenation: (B, C, trailing dims, K) — z as [B, nz, 1, 1], an image, an MLP input.
    let shapes: &[(usize, usize, &[usize], usize)] = &[(1, 1, &[], 1), (3, 5, &[1, 1], 4), (17, 3, &[7, 9], 10), (64, 1, &[32, 32], 10), (2, 65, &[], 3)];
    for &(b, c, rest, classes) in shapes {
        // Folded grids (≤ 8×8 workgroups of 256) only where the tensor fits them.
        let fits_folded = b * (c + classes) * rest.iter().product::<usize>() <= 64 * 256;
        for fold in [false, true].into_iter().filter(|&f| !f || fits_folded) {
            v.push(Case::new("labels", format!("concat_one_hot B={b} C={c} {rest:?} K={classes} fold={fold}"), move |gpu, rng| {
                let capped;
                let gpu = if fold {
                    capped = folded(gpu, FOLD_CAP);
                    &capped
                } else {
                    gpu
                };
                let p: usize = rest.iter().product();
                let x_shape = [&[b, c][..], rest].concat();
                let out_shape = [&[b, c + classes][..], rest].concat();
                let xs = rng.normals(b * c * p, 1.0);
                let labels: Vec<u32> = (0..b).map(|_| (rng.next_u64() % classes as u64) as u32).collect();
                let douts = rng.normals(b * (c + classes) * p, 1.0);
                let x = upload(gpu, &x_shape, &xs, "x")?;
                let y = GpuTensor::from_u32(gpu, &[b], &labels, "labels")?;
                let out = GpuTensor::zeros(gpu, &out_shape, DType::F32, "out")?;
                let dout = upload(gpu, &out_shape, &douts, "dout")?;
                let dx = GpuTensor::zeros(gpu, &x_shape, DType::F32, "dx")?;
                let got = run_poisoned(gpu, "concat", &[ops::labels::concat_one_hot(gpu, &x, &y, classes, &out)?], &out)?;
                let got_dx = run_poisoned(gpu, "concat backward", &[ops::labels::concat_one_hot_backward(gpu, &dout, classes, &dx)?], &dx)?;
                let want = cpu::labels::concat_one_hot(&f64s(&xs), &labels, b, c, p, classes);
                let want_dx = cpu::labels::concat_one_hot_backward(&f64s(&douts), b, c, p, classes);
                let shape = format!("{x_shape:?}+{classes}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() });
                Ok(vec![
                    Row::compare("labels", "concat_one_hot", &shape, "wg256", &got, &want, 0.0),
                    Row::compare("labels", "concat_one_hot_backward", &shape, "wg256", &got_dx, &want_dx, 0.0),
                ])
            }));
        }
    }
    v
}
