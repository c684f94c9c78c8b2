//! conv_transpose2d, NCHW, weight [C_in, C_out, KH, KW] (PyTorch): the forward as a scatter
//! (every input pixel adds a weighted KH×KW patch to the output; the GPU gathers instead),
//! the input gradient as the matching gather, direct sums for the weight and bias gradients.

use super::{par_map, Tensor};

/// PyTorch's output size (H − 1)·s − 2p + K + output_padding.
pub fn out_size(h: usize, k: usize, stride: usize, pad: usize, output_padding: usize) -> usize {
    (h - 1) * stride + k + output_padding - 2 * pad
}

/// Output coordinate that input i and tap k land on, if inside the output.
fn land(i: usize, k: usize, stride: usize, pad: usize, size: usize) -> Option<usize> {
    let o = (i * stride + k) as isize - pad as isize;
    (o >= 0 && (o as usize) < size).then_some(o as usize)
}

pub fn forward(x: &Tensor, w: &Tensor, bias: Option<&[f64]>, stride: usize, pad: usize, output_padding: usize) -> Tensor {
    let (b, ci, h, wd) = x.dims4();
    let (_, co, kh, kw) = w.dims4();
    let (ho, wo) = (out_size(h, kh, stride, pad, output_padding), out_size(wd, kw, stride, pad, output_padding));
    let images = par_map(b, |n| {
        let mut y = Tensor::zeros(&[1, co, ho, wo]);
        for o in 0..co {
            let b0 = bias.map_or(0.0, |bias| bias[o]);
            y.data[o * ho * wo..(o + 1) * ho * wo].iter_mut().for_each(|v| *v = b0);
        }
        for c in 0..ci {
            for iy in 0..h {
                for ix in 0..wd {
                    let v = x.at4(n, c, iy, ix);
                    for o in 0..co {
                        for ky in 0..kh {
                            let Some(oy) = land(iy, ky, stride, pad, ho) else { continue };
                            for kx in 0..kw {
                                let Some(ox) = land(ix, kx, stride, pad, wo) else { continue };
                                *y.at4_mut(0, o, oy, ox) += v * w.at4(c, o, ky, kx);
                            }
                        }
                    }
                }
            }
        }
        y.data
    });
    Tensor::new(&[b, co, ho, wo], images.concat())
}

/// dx[n, c, iy, ix] = Σ_{o, ky, kx} w[c, o, ky, kx] · dy[n, o, iy·s − p + ky, ix·s − p + kx]
pub fn backward_input(dy: &Tensor, w: &Tensor, x_shape: &[usize], stride: usize, pad: usize) -> Tensor {
    let (b, co, ho, wo) = dy.dims4();
    let (ci, _, kh, kw) = w.dims4();
    let (h, wd) = (x_shape[2], x_shape[3]);
    let planes = par_map(b * ci, |nc| {
        let (n, c) = (nc / ci, nc % ci);
        let mut plane = vec![0.0; h * wd];
        for iy in 0..h {
            for ix in 0..wd {
                let mut acc = 0.0;
                for o in 0..co {
                    for ky in 0..kh {
                        let Some(oy) = land(iy, ky, stride, pad, ho) else { continue };
                        for kx in 0..kw {
                            let Some(ox) = land(ix, kx, stride, pad, wo) else { continue };
                            acc += w.at4(c, o, ky, kx) * dy.at4(n, o, oy, ox);
                        }
                    }
                }
                plane[iy * wd + ix] = acc;
            }
        }
        plane
    });
    Tensor::new(x_shape, planes.concat())
}

/// dw[c, o, ky, kx] = Σ_{n, iy, ix} x[n, c, iy, ix] · dy[n, o, iy·s − p + ky, ix·s − p + kx]
pub fn backward_weight(x: &Tensor, dy: &Tensor, w_shape: &[usize], stride: usize, pad: usize) -> Tensor {
    let (b, ci, h, wd) = x.dims4();
    let (_, co, ho, wo) = dy.dims4();
    let (kh, kw) = (w_shape[2], w_shape[3]);
    let rows = par_map(ci, |c| {
        let mut row = vec![0.0; co * kh * kw];
        for o in 0..co {
            for ky in 0..kh {
                for kx in 0..kw {
                    let mut acc = 0.0;
                    for n in 0..b {
                        for iy in 0..h {
                            let Some(oy) = land(iy, ky, stride, pad, ho) else { continue };
                            for ix in 0..wd {
                                let Some(ox) = land(ix, kx, stride, pad, wo) else { continue };
                                acc += x.at4(n, c, iy, ix) * dy.at4(n, o, oy, ox);
                            }
                        }
                    }
                    row[(o * kh + ky) * kw + kx] = acc;
                }
            }
        }
        row
    });
    Tensor::new(w_shape, rows.concat())
}

pub fn backward_bias(dy: &Tensor) -> Vec<f64> {
    super::reduce::sum_channels(dy)
}
