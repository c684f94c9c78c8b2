//! Reference for shaders/pool.wgsl: 2-D average and max pooling on [N, H, W] planes (N = B·C),
//! written as PyTorch defines them (scatter form for the gradients, the shader gathers).

/// Output side: ⌊(side + 2p − k)/s⌋ + 1.
pub fn out_side(side: usize, k: usize, s: usize, p: usize) -> usize {
    (side + 2 * p - k) / s + 1
}

/// The input positions (iy, ix) of window (oy, ox) that lie inside the image, row-major.
fn window(oy: usize, ox: usize, h: usize, w: usize, k: usize, s: usize, p: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..k).flat_map(move |ky| (0..k).map(move |kx| (ky, kx))).filter_map(move |(ky, kx)| {
        let (iy, ix) = ((oy * s + ky) as isize - p as isize, (ox * s + kx) as isize - p as isize);
        (iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w).then_some((iy as usize, ix as usize))
    })
}

/// Mean over each k×k window, padding counted as zeros (count_include_pad=True).
pub fn avg_pool(x: &[f64], n: usize, h: usize, w: usize, k: usize, s: usize, p: usize) -> Vec<f64> {
    let (oh, ow) = (out_side(h, k, s, p), out_side(w, k, s, p));
    let mut out = vec![0.0; n * oh * ow];
    for c in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                let sum: f64 = window(oy, ox, h, w, k, s, p).map(|(iy, ix)| x[(c * h + iy) * w + ix]).sum();
                out[(c * oh + oy) * ow + ox] = sum / (k * k) as f64;
            }
        }
    }
    out
}

/// ∂L/∂x of `avg_pool`: each window's dy/k² added to the elements it covers.
pub fn avg_pool_backward(dy: &[f64], n: usize, h: usize, w: usize, k: usize, s: usize, p: usize) -> Vec<f64> {
    let (oh, ow) = (out_side(h, k, s, p), out_side(w, k, s, p));
    let mut dx = vec![0.0; n * h * w];
    for c in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for (iy, ix) in window(oy, ox, h, w, k, s, p) {
                    dx[(c * h + iy) * w + ix] += dy[(c * oh + oy) * ow + ox] / (k * k) as f64;
                }
            }
        }
    }
    dx
}

/// Maximum of each window and its position iy·W + ix in the plane (the first maximum).
pub fn max_pool(x: &[f64], n: usize, h: usize, w: usize, k: usize, s: usize, p: usize) -> (Vec<f64>, Vec<u32>) {
    let (oh, ow) = (out_side(h, k, s, p), out_side(w, k, s, p));
    let (mut out, mut arg) = (vec![0.0; n * oh * ow], vec![0u32; n * oh * ow]);
    for c in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut best: Option<(f64, usize)> = None;
                for (iy, ix) in window(oy, ox, h, w, k, s, p) {
                    let v = x[(c * h + iy) * w + ix];
                    if best.is_none_or(|(b, _)| v > b) {
                        best = Some((v, iy * w + ix));
                    }
                }
                let (v, at) = best.expect("p ≤ k/2: every window holds an input element");
                out[(c * oh + oy) * ow + ox] = v;
                arg[(c * oh + oy) * ow + ox] = at as u32;
            }
        }
    }
    (out, arg)
}

/// ∂L/∂x of `max_pool`: each window's dy added to its maximum.
pub fn max_pool_backward(dy: &[f64], argmax: &[u32], n: usize, h: usize, w: usize, oh: usize, ow: usize) -> Vec<f64> {
    let mut dx = vec![0.0; n * h * w];
    for c in 0..n {
        for o in 0..oh * ow {
            dx[c * h * w + argmax[c * oh * ow + o] as usize] += dy[c * oh * ow + o];
        }
    }
    dx
}

/// x at each window's saved argmax: the transpose of `max_pool_backward`.
pub fn max_pool_gather(x: &[f64], argmax: &[u32], n: usize, h: usize, w: usize, oh: usize, ow: usize) -> Vec<f64> {
    (0..n * oh * ow).map(|o| x[(o / (oh * ow)) * h * w + argmax[o] as usize]).collect()
}
