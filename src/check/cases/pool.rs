//! Check cases of the pool family: 2-D average and max pooling, forward, input gradient and
//! the max pool's gather — 1×1 planes, ragged sides, stride < kernel (overlapping windows,
//! several window candidates per input), padding, a folded grid, and inputs with ties
//! (the first maximum must win, as in PyTorch).

use super::*;
use crate::ops::pool::Window;

/// (B, C, H, W, kernel, stride, padding, fold the grid, inputs with ties)
type PoolShape = (usize, usize, usize, usize, usize, usize, usize, bool, bool);

pub(super) fn pool_cases() -> Vec<Case> {
    let shapes: &[PoolShape] = &[
        (1, 1, 1, 1, 1, 1, 0, false, false),
        (1, 3, 7, 9, 2, 2, 0, false, false),
        (2, 3, 17, 17, 3, 2, 1, false, false),
        (1, 1, 65, 3, 3, 1, 1, false, false),
        (2, 5, 16, 16, 4, 2, 1, true, false),
        (3, 2, 9, 8, 3, 1, 0, false, true),
        (64, 16, 16, 16, 2, 2, 0, false, false),
    ];
    shapes
        .iter()
        .map(|&(b, c, h, w, k, s, p, fold, ties)| {
            Case::new("pool", format!("pool [{b}, {c}, {h}, {w}] k={k} s={s} p={p} fold={fold} ties={ties}"), move |gpu, rng| pool_case(gpu, rng, [b, c, h, w], Window { kernel: k, stride: s, padding: p }, fold, ties))
        })
        .collect()
}

fn pool_case(gpu: &Gpu, rng: &mut Rng, x_shape: [usize; 4], window: Window, fold: bool, ties: bool) -> Result<Vec<Row>> {
    let capped;
    let gpu = if fold {
        capped = folded(gpu, FOLD_CAP);
        &capped
    } else {
        gpu
    };
    let [b, c, h, w] = x_shape;
    let Window { kernel: k, stride: s, padding: p } = window;
    let out_shape = window.output_shape(&x_shape)?;
    let (n, oh, ow) = (b * c, out_shape[2], out_shape[3]);
    let shape = format!("{x_shape:?} k={k} s={s} p={p}{}{}", if fold { format!(" grid≤{FOLD_CAP}/dim") } else { String::new() }, if ties { " ties" } else { "" });
    // Ties: values on a grid of 0.5 in [−1, 1], so most windows hold a repeated maximum.
    let mut xs = rng.normals(n * h * w, 1.0);
    if ties {
        xs.iter_mut().for_each(|v| *v = ((*v * 2.0).round() / 2.0).clamp(-1.0, 1.0));
    }
    let dys = rng.normals(n * oh * ow, 1.0);
    let adj = rng.normals(n * h * w, 1.0);
    let (x64, dy64, adj64) = (f64s(&xs), f64s(&dys), f64s(&adj));
    let abs = |v: &[f64]| v.iter().map(|a| a.abs()).collect::<Vec<_>>();

    let x = upload(gpu, &x_shape, &xs, "x")?;
    let dy = upload(gpu, &out_shape, &dys, "dy")?;
    let adj_dx = upload(gpu, &x_shape, &adj, "adj_dx")?;
    let out = GpuTensor::zeros(gpu, &out_shape, DType::F32, "out")?;
    let dx = GpuTensor::zeros(gpu, &x_shape, DType::F32, "dx")?;
    let argmax = GpuTensor::zeros(gpu, &out_shape, DType::U32, "argmax")?;
    let mut rows = Vec::new();

    // Average: ≤ k² terms per output, ≤ ⌈k/s⌉² per input gradient, then one division.
    let bound = sum_bound(k * k + 1);
    let want = cpu::pool::avg_pool(&x64, n, h, w, k, s, p);
    let got = run_poisoned(gpu, "avg_pool_forward", &[ops::pool::avg_forward(gpu, window, &x, &out)?], &out)?;
    rows.push(Row::compare("pool", "avg_forward", &shape, "wg256", &got, &want, cancellation_bound(bound, &cpu::pool::avg_pool(&abs(&x64), n, h, w, k, s, p), &want)));
    let want = cpu::pool::avg_pool_backward(&dy64, n, h, w, k, s, p);
    let got = run_poisoned(gpu, "avg_pool_backward", &[ops::pool::avg_backward(gpu, window, &dy, &dx)?], &dx)?;
    rows.push(Row::compare("pool", "avg_backward", &shape, "wg256", &got, &want, cancellation_bound(bound, &cpu::pool::avg_pool_backward(&abs(&dy64), n, h, w, k, s, p), &want)));
    // The backward of the backward: the adjoint of dy is the average pool of the adjoint of dx.
    let want = cpu::pool::avg_pool(&adj64, n, h, w, k, s, p);
    let got = run_poisoned(gpu, "avg_pool double backward", &[ops::pool::avg_forward(gpu, window, &adj_dx, &out)?], &out)?;
    rows.push(Row::compare("pool", "avg_double_backward", &shape, "wg256", &got, &want, cancellation_bound(bound, &cpu::pool::avg_pool(&abs(&adj64), n, h, w, k, s, p), &want)));

    // Max: the value and its position exactly; the gradient sums ≤ ⌈k/s⌉² values of dy.
    let (want, want_arg) = cpu::pool::max_pool(&x64, n, h, w, k, s, p);
    argmax.write_u32(gpu, &vec![u32::MAX; argmax.numel()])?;
    let got = run_poisoned(gpu, "max_pool_forward", &[ops::pool::max_forward(gpu, window, &x, &out, &argmax)?], &out)?;
    rows.push(Row::compare("pool", "max_forward", &shape, "wg256", &got, &want, 0.0));
    let got_arg: Vec<f32> = argmax.read_u32(gpu)?.iter().map(|&a| a as f32).collect();
    rows.push(Row::compare("pool", "max_argmax", &shape, "wg256", &got_arg, &want_arg.iter().map(|&a| a as f64).collect::<Vec<_>>(), 0.0));
    let want = cpu::pool::max_pool_backward(&dy64, &want_arg, n, h, w, oh, ow);
    let got = run_poisoned(gpu, "max_pool_backward", &[ops::pool::max_backward(gpu, window, &dy, &argmax, &dx)?], &dx)?;
    rows.push(Row::compare("pool", "max_backward", &shape, "wg256", &got, &want, cancellation_bound(sum_bound(k * k), &cpu::pool::max_pool_backward(&abs(&dy64), &want_arg, n, h, w, oh, ow), &want)));
    let want = cpu::pool::max_pool_gather(&adj64, &want_arg, n, h, w, oh, ow);
    let got = run_poisoned(gpu, "max_pool_gather", &[ops::pool::max_gather(gpu, window, &adj_dx, &argmax, &out)?], &out)?;
    rows.push(Row::compare("pool", "max_double_backward", &shape, "wg256", &got, &want, 0.0));
    Ok(rows)
}
