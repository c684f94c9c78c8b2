//! The batch pipeline of shaders/data.wgsl in plain Rust: per-epoch Feistel permutation with
//! cycle walking, per-sample augmentation, gather and scaling to [−1, 1].

use super::random::philox4x32_10;

const PERM_STREAM: u32 = 0x5045_524D;
const AUG_STREAM: u32 = 0x0041_5547;

fn key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

fn feistel_round(half: u32, key: u32) -> u32 {
    let mut h = half ^ key;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    h = h.wrapping_mul(0xC2B2_AE35);
    h ^ (h >> 16)
}

fn feistel(v: u32, half_bits: u32, keys: [u32; 4]) -> u32 {
    let mask = (1u32 << half_bits) - 1;
    let (mut l, mut r) = (v >> half_bits, v & mask);
    for k in keys {
        let next_r = l ^ (feistel_round(r, k) & mask);
        l = r;
        r = next_r;
    }
    (l << half_bits) | r
}

/// π_epoch(i) for i < n.
pub fn permute(i: u32, n: u32, half_bits: u32, seed: u64, epoch: u32) -> u32 {
    let keys = philox4x32_10([epoch, PERM_STREAM, 0, 0], key(seed));
    let mut v = feistel(i, half_bits, keys);
    while v >= n {
        v = feistel(v, half_bits, keys);
    }
    v
}

/// One sample's draw: (image index, flip, shift_y, shift_x, brightness offset).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleDraw {
    pub index: u32,
    pub flip: bool,
    pub shift_y: i32,
    pub shift_x: i32,
    pub delta: f64,
}

#[allow(clippy::too_many_arguments)]
pub fn draw(j: u32, b: u32, n: u32, batch: u32, half_bits: u32, seed: u64, flip: bool, max_shift: u32, brightness: f64) -> SampleDraw {
    let per_epoch = n / batch;
    let index = permute((j % per_epoch) * batch + b, n, half_bits, seed, j / per_epoch);
    let w = philox4x32_10([j, AUG_STREAM, b, 0], key(seed));
    let span = 2 * max_shift + 1;
    SampleDraw {
        index,
        flip: flip && (w[0] & 1) == 1,
        shift_y: (w[1] % span) as i32 - max_shift as i32,
        shift_x: (w[2] % span) as i32 - max_shift as i32,
        delta: brightness * (2.0 * (w[3] >> 8) as f64 / 16_777_216.0 - 1.0),
    }
}

/// Batch number j of `pixels` ([N, C, size, size] u8) as f64 [B, C, size, size] in [−1, 1].
#[allow(clippy::too_many_arguments)]
pub fn batch(pixels: &[u8], n: usize, channels: usize, size: usize, batch: usize, j: u32, half_bits: u32, seed: u64, flip: bool, max_shift: u32, brightness: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(batch * channels * size * size);
    let last = size as i32 - 1;
    for b in 0..batch {
        let d = draw(j, b as u32, n as u32, batch as u32, half_bits, seed, flip, max_shift, brightness);
        for c in 0..channels {
            for y in 0..size {
                for x in 0..size {
                    let sy = (y as i32 - d.shift_y).clamp(0, last) as usize;
                    let mut sx = x as i32 - d.shift_x;
                    if d.flip {
                        sx = last - sx;
                    }
                    let sx = sx.clamp(0, last) as usize;
                    let px = pixels[((d.index as usize * channels + c) * size + sy) * size + sx] as f64;
                    out.push((px / 127.5 - 1.0 + d.delta).clamp(-1.0, 1.0));
                }
            }
        }
    }
    out
}
