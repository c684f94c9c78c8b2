//! Philox4x32-10 (Salmon et al., SC'11; Random123's philox4x32_10) and the samples
//! shaders/random.wgsl derives from it, computed in u64/f64.

const M0: u64 = 0xD251_1F53;
const M1: u64 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// Ten rounds on `counter` under `key`.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        let p0 = M0 * c[0] as u64;
        let p1 = M1 * c[2] as u64;
        c = [
            (p1 >> 32) as u32 ^ c[1] ^ k[0],
            p1 as u32,
            (p0 >> 32) as u32 ^ c[3] ^ k[1],
            p0 as u32,
        ];
    }
    c
}

/// The 4 words of output block i at (seed, stream, step): counter (i, stream, step, 0).
pub fn block(seed: u64, stream: u32, step: u32, i: u32) -> [u32; 4] {
    philox4x32_10([i, stream, step, 0], [seed as u32, (seed >> 32) as u32])
}

/// The first n raw words.
pub fn bits(seed: u64, stream: u32, step: u32, n: usize) -> Vec<u32> {
    (0..n.div_ceil(4) as u32).flat_map(|i| block(seed, stream, step, i)).take(n).collect()
}

/// Uniform on [low, high): u = (w >> 8)·2⁻²⁴.
pub fn uniform(seed: u64, stream: u32, step: u32, n: usize, low: f64, high: f64) -> Vec<f64> {
    bits(seed, stream, step, n).iter().map(|&w| low + (high - low) * (w >> 8) as f64 / 16_777_216.0).collect()
}

/// Normal by Box–Muller on word pairs (w0, w1), (w2, w3) of each block.
pub fn normal(seed: u64, stream: u32, step: u32, n: usize, mean: f64, std: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(n + 3);
    for i in 0..n.div_ceil(4) as u32 {
        let w = block(seed, stream, step, i);
        for (a, b) in [(w[0], w[1]), (w[2], w[3])] {
            let u1 = ((a >> 8) as f64 + 1.0) / 16_777_216.0;
            let u2 = (b >> 8) as f64 / 16_777_216.0;
            let r = (-2.0 * u1.ln()).sqrt();
            let theta = 2.0 * std::f64::consts::PI * u2;
            out.push(mean + std * r * theta.cos());
            out.push(mean + std * r * theta.sin());
        }
    }
    out.truncate(n);
    out
}

/// Dropout as shaders/random.wgsl draws it: (y, mask) with mask = 1/(1 − p) where
/// u_i ≥ p, else 0; u_i from word i mod 4 of block ⌊i/4⌋.
pub fn dropout(x: &[f64], p: f64, seed: u64, stream: u32, step: u32) -> (Vec<f64>, Vec<f64>) {
    let words = bits(seed, stream, step, x.len());
    let mask: Vec<f64> = words.iter().map(|&w| if (w >> 8) as f64 / 16_777_216.0 >= p { 1.0 / (1.0 - p) } else { 0.0 }).collect();
    (x.iter().zip(&mask).map(|(a, m)| a * m).collect(), mask)
}
