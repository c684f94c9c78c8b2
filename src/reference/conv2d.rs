//! conv2d, NCHW, weight [C_out, C_in, KH, KW], square stride/padding: the direct 7-deep loop
//! forward, a scatter for the input gradient, direct sums for the weight and bias gradients.

use super::{par_map, Tensor};

pub fn out_size(h: usize, k: usize, stride: usize, pad: usize) -> usize {
    (h + 2 * pad - k) / stride + 1
}

/// Input coordinate of output o and tap k, if it lies inside the image.
fn tap(o: usize, k: usize, stride: usize, pad: usize, size: usize) -> Option<usize> {
    let i = (o * stride + k) as isize - pad as isize;
    (i >= 0 && (i as usize) < size).then_some(i as usize)
}

pub fn forward(x: &Tensor, w: &Tensor, bias: Option<&[f64]>, stride: usize, pad: usize) -> Tensor {
    let (b, ci, h, wd) = x.dims4();
    let (co, _, kh, kw) = w.dims4();
    let (ho, wo) = (out_size(h, kh, stride, pad), out_size(wd, kw, stride, pad));
    let planes = par_map(b * co, |bc| {
        let (n, o) = (bc / co, bc % co);
        let mut plane = vec![0.0; ho * wo];
        for oy in 0..ho {
            for ox in 0..wo {
                let mut acc = bias.map_or(0.0, |bias| bias[o]);
                for c in 0..ci {
                    for ky in 0..kh {
                        let Some(iy) = tap(oy, ky, stride, pad, h) else { continue };
                        for kx in 0..kw {
                            let Some(ix) = tap(ox, kx, stride, pad, wd) else { continue };
                            acc += x.at4(n, c, iy, ix) * w.at4(o, c, ky, kx);
                        }
                    }
                }
                plane[oy * wo + ox] = acc;
            }
        }
        plane
    });
    Tensor::new(&[b, co, ho, wo], planes.concat())
}

/// dx: every output gradient scatters back through the taps that produced it.
pub fn backward_input(dy: &Tensor, w: &Tensor, x_shape: &[usize], stride: usize, pad: usize) -> Tensor {
    let (b, co, ho, wo) = dy.dims4();
    let (_, ci, kh, kw) = w.dims4();
    let (h, wd) = (x_shape[2], x_shape[3]);
    let images = par_map(b, |n| {
        let mut dx = Tensor::zeros(&[1, ci, h, wd]);
        for o in 0..co {
            for oy in 0..ho {
                for ox in 0..wo {
                    let g = dy.at4(n, o, oy, ox);
                    for c in 0..ci {
                        for ky in 0..kh {
                            let Some(iy) = tap(oy, ky, stride, pad, h) else { continue };
                            for kx in 0..kw {
                                let Some(ix) = tap(ox, kx, stride, pad, wd) else { continue };
                                *dx.at4_mut(0, c, iy, ix) += g * w.at4(o, c, ky, kx);
                            }
                        }
                    }
                }
            }
        }
        dx.data
    });
    Tensor::new(x_shape, images.concat())
}

/// dw[o, c, ky, kx] = Σ_{n, oy, ox} dy[n, o, oy, ox] · x[n, c, oy·s − p + ky, ox·s − p + kx]
pub fn backward_weight(x: &Tensor, dy: &Tensor, w_shape: &[usize], stride: usize, pad: usize) -> Tensor {
    let (b, ci, h, wd) = x.dims4();
    let (_, co, ho, wo) = dy.dims4();
    let (kh, kw) = (w_shape[2], w_shape[3]);
    let rows = par_map(co, |o| {
        let mut row = vec![0.0; ci * kh * kw];
        for c in 0..ci {
            for ky in 0..kh {
                for kx in 0..kw {
                    let mut acc = 0.0;
                    for n in 0..b {
                        for oy in 0..ho {
                            let Some(iy) = tap(oy, ky, stride, pad, h) else { continue };
                            for ox in 0..wo {
                                let Some(ix) = tap(ox, kx, stride, pad, wd) else { continue };
                                acc += dy.at4(n, o, oy, ox) * x.at4(n, c, iy, ix);
                            }
                        }
                    }
                    row[(c * kh + ky) * kw + kx] = acc;
                }
            }
        }
        row
    });
    Tensor::new(w_shape, rows.concat())
}

/// dbias[o] = Σ_{n, y, x} dy[n, o, y, x]
pub fn backward_bias(dy: &Tensor) -> Vec<f64> {
    super::reduce::sum_channels(dy)
}
