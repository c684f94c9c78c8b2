//! The built-in dataset: anti-aliased coloured shapes (circle, square, triangle, ring) on
//! gradient backgrounds, with the shape as class label. Generated deterministically (a fixed
//! seed, independent of the training seed), so every run and every machine sees the same
//! images, and `shadergan train` needs no download.
//!
//! Anti-aliasing: each shape is a signed distance d (in pixels, negative inside) and a pixel
//! is covered by clamp(0.5 − d, 0, 1) — a one-pixel-wide linear ramp across the edge.

use super::{convert_channels, Dataset};
use crate::rng::Rng;

pub const CLASSES: [&str; 4] = ["circle", "square", "triangle", "ring"];
const SEED: u64 = 0x5EED_5A9E_D47A_5E75;

/// HSV → RGB, all in [0, 1].
fn hsv(h: f64, s: f64, v: f64) -> [f64; 3] {
    let h6 = (h.rem_euclid(1.0)) * 6.0;
    let c = v * s;
    let x = c * (1.0 - (h6 % 2.0 - 1.0).abs());
    let (r, g, b) = match h6 as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [r + m, g + m, b + m]
}

/// Signed distance from (px, py) to the shape of `class` centred at the origin with radius r
/// and rotation `rot`.
fn sdf(class: usize, px: f64, py: f64, r: f64, rot: f64) -> f64 {
    let (s, c) = rot.sin_cos();
    let (x, y) = (c * px + s * py, -s * px + c * py);
    match class {
        0 => (x * x + y * y).sqrt() - r,
        1 => {
            let h = r * 0.8;
            let (dx, dy) = (x.abs() - h, y.abs() - h);
            (dx.max(0.0).powi(2) + dy.max(0.0).powi(2)).sqrt() + dx.max(dy).min(0.0)
        }
        2 => {
            // Equilateral triangle of circumradius r (Inigo Quilez's exact SDF).
            let k = 3f64.sqrt();
            let s = r * k / 2.0;
            let (mut x, mut y) = (x.abs() - s, -y + r / 2.0);
            if x + k * y > 0.0 {
                let (nx, ny) = ((x - k * y) / 2.0, (-k * x - y) / 2.0);
                x = nx;
                y = ny;
            }
            x -= x.clamp(-2.0 * s, 0.0);
            -(x * x + y * y).sqrt() * y.signum()
        }
        _ => ((x * x + y * y).sqrt() - r * 0.75).abs() - r * 0.25,
    }
}

/// `n` images of `size`×`size` with `channels` channels.
pub fn generate(n: usize, size: usize, channels: usize) -> Dataset {
    let mut rng = Rng::new(SEED);
    let s = size as f64;
    let mut pixels = Vec::with_capacity(n * channels * size * size);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let class = (rng.next_u64() % CLASSES.len() as u64) as usize;
        let bg_hue = rng.uniform();
        let bg_top = hsv(bg_hue, 0.3 + 0.3 * rng.uniform(), 0.25 + 0.35 * rng.uniform());
        // A gentle vertical gradient: the bottom a little darker or lighter than the top.
        let shade = 0.85 + 0.3 * rng.uniform();
        let bg_bottom = bg_top.map(|c| (c * shade).min(1.0));
        // The shape's hue sits opposite the background's, so it always stands out.
        let fg = hsv(bg_hue + 0.4 + 0.2 * rng.uniform(), 0.7 + 0.3 * rng.uniform(), 0.85 + 0.15 * rng.uniform());
        let r = s * (0.28 + 0.1 * rng.uniform());
        let (cx, cy) = (s * (0.5 + 0.1 * (rng.uniform() - 0.5)), s * (0.5 + 0.1 * (rng.uniform() - 0.5)));
        // Squares and triangles stand upright (up to ±10°): rotation multiplies the variety a
        // small generator has to learn, and the point is to see shapes within minutes.
        let rot = (rng.uniform() - 0.5) * 0.35;
        let mut rgb = vec![0u8; 3 * size * size];
        for y in 0..size {
            let t = y as f64 / (s - 1.0).max(1.0);
            for x in 0..size {
                let d = sdf(class, x as f64 + 0.5 - cx, y as f64 + 0.5 - cy, r, rot);
                let cover = (0.5 - d).clamp(0.0, 1.0);
                for ch in 0..3 {
                    let bg = bg_top[ch] * (1.0 - t) + bg_bottom[ch] * t;
                    let v = bg * (1.0 - cover) + fg[ch] * cover;
                    rgb[(ch * size + y) * size + x] = (v * 255.0).round().clamp(0.0, 255.0) as u8;
                }
            }
        }
        pixels.extend(convert_channels(&rgb, 3, channels, size * size));
        labels.push(class as u8);
    }
    Dataset {
        pixels,
        n,
        channels,
        size,
        labels: Some(labels),
        classes: CLASSES.len(),
        source: format!("synthetic shapes ({n} images: {})", CLASSES.join(", ")),
        warnings: Vec::new(),
    }
}
