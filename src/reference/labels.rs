//! Reference for shaders/labels.wgsl: random class labels, a batch's labels, and one-hot
//! channels concatenated to a tensor (and the gradient of that concatenation).

use super::random::block;

/// `n` labels in [0, classes): label i = ⌊w·K / 2³²⌋ for word i mod 4 of Philox block ⌊i/4⌋.
pub fn random_labels(seed: u64, stream: u32, step: u32, n: usize, classes: u32) -> Vec<u32> {
    (0..n).map(|i| ((block(seed, stream, step, (i / 4) as u32)[i % 4] as u64 * classes as u64) >> 32) as u32).collect()
}

/// Wrong labels for `given` (each < classes, classes ≥ 2): (y + 1 + ⌊w·(K − 1) / 2³²⌋) mod K
/// with w the word `random_labels` would use for label i.
pub fn mismatched_labels(seed: u64, stream: u32, step: u32, given: &[u32], classes: u32) -> Vec<u32> {
    let shifts = random_labels(seed, stream, step, given.len(), classes - 1);
    given.iter().zip(shifts).map(|(&y, s)| (y + 1 + s) % classes).collect()
}

/// The labels of the images a batch drew: `image_of[b]` is sample b's dataset index.
pub fn gather_labels(dataset_labels: &[u32], image_of: &[u32]) -> Vec<u32> {
    image_of.iter().map(|&i| dataset_labels[i as usize]).collect()
}

/// cat([x, one_hot(labels) per position], dim 1): x is [B, C, P] (flat), the result [B, C + K, P].
pub fn concat_one_hot(x: &[f64], labels: &[u32], b: usize, c: usize, p: usize, classes: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(b * (c + classes) * p);
    for n in 0..b {
        out.extend_from_slice(&x[n * c * p..(n + 1) * c * p]);
        for k in 0..classes {
            let v = if labels[n] as usize == k { 1.0 } else { 0.0 };
            out.extend(std::iter::repeat_n(v, p));
        }
    }
    out
}

/// ∂L/∂x of `concat_one_hot` from ∂L/∂out: the first C channels of each sample.
pub fn concat_one_hot_backward(dout: &[f64], b: usize, c: usize, p: usize, classes: usize) -> Vec<f64> {
    (0..b).flat_map(|n| dout[n * (c + classes) * p..(n * (c + classes) + c) * p].iter().copied()).collect()
}
