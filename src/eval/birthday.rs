//! The birthday-paradox test of Arora, Risteski & Zhang (2018): if a sample of s outputs holds
//! a pair of duplicates with probability ≥ ½, the generator's support is about s². A
//! duplicate is a pair of samples closer in feature space than a threshold (eval uses the
//! memorisation threshold: the 1st percentile of held-out-to-train nearest distances, so a
//! "duplicate" is as close as the closest 1 % of real images are to a different real image).
//!
//! All pairs of the n samples closer than the threshold are found once (a GPU scan of the
//! samples against themselves). A trial shuffles the samples; its first s form the sample of
//! size s, so the smallest s holding a close pair is the largest rank of the pair's two members,
//! minimised over the pairs. That gives every s of a trial at once, exactly, from the list of
//! close pairs: P(duplicate at s) is the share of trials whose first duplicate comes at ≤ s.

use serde::Serialize;

use crate::rng::Rng;

/// Close pairs kept at most (a collapsed generator has ~n²/2; the probabilities are then 1 at
/// every size anyway, and `truncated` says the list is partial).
pub const MAX_PAIRS: usize = 20_000_000;

/// Pairs (i < j) of samples closer than the threshold.
#[derive(Clone, Debug, Default)]
pub struct ClosePairs {
    pub pairs: Vec<(u32, u32)>,
    pub truncated: bool,
}

impl ClosePairs {
    /// Add the pairs of a block of squared distances of samples first..first + rows to all n
    /// samples (each pair once, i < j).
    pub fn block(&mut self, first: usize, rows: usize, n: usize, d: &[f32], threshold: f32) {
        for r in 0..rows {
            let i = first + r;
            for (j, &v) in d[r * n..(r + 1) * n].iter().enumerate().skip(i + 1) {
                if v < threshold {
                    if self.pairs.len() == MAX_PAIRS {
                        self.truncated = true;
                        return;
                    }
                    self.pairs.push((i as u32, j as u32));
                }
            }
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Birthday {
    /// Squared feature distance below which two samples count as duplicates.
    pub threshold: f32,
    pub trials: usize,
    pub samples: usize,
    pub close_pairs: usize,
    /// The pair list hit MAX_PAIRS: the probabilities are lower bounds.
    pub truncated: bool,
    /// (s, P(a duplicate among s samples)) at the reported sizes.
    pub probability: Vec<(usize, f64)>,
    /// The smallest s with P ≥ ½, if any s ≤ samples reaches it.
    pub crossing: Option<usize>,
    /// Arora et al.'s estimate of the support size: crossing². (A uniform distribution on N
    /// points crosses ½ at s ≈ 1.18·√N, so s² reads N·1.39 there.)
    pub support: Option<f64>,
    /// The size the closest-pairs panel is drawn at: the crossing, else the largest size.
    pub panel_size: usize,
}

/// The birthday test over `n` samples with the given close pairs: `trials` shuffles, the
/// probability reported at each of `sizes` (those ≤ n), the ½ crossing over every s.
pub fn birthday(n: usize, pairs: &ClosePairs, threshold: f32, trials: usize, sizes: &[usize], seed: u64) -> Birthday {
    let mut rng = Rng::for_case(seed, "birthday");
    let mut rank = vec![0u32; n];
    let mut order: Vec<u32> = (0..n as u32).collect();
    // first[t]: the smallest sample size of trial t that holds a close pair (n + 1: none).
    let mut first = Vec::with_capacity(trials);
    for _ in 0..trials {
        rng.shuffle(&mut order);
        for (r, &i) in order.iter().enumerate() {
            rank[i as usize] = r as u32;
        }
        let f = pairs.pairs.iter().map(|&(a, b)| rank[a as usize].max(rank[b as usize]) as usize + 1).min().unwrap_or(n + 1);
        first.push(f);
    }
    first.sort_unstable();
    let p = |s: usize| first.partition_point(|&f| f <= s) as f64 / trials.max(1) as f64;
    let crossing = (trials > 0).then(|| first[(trials - 1) / 2]).filter(|&s| s <= n);
    let probability = sizes.iter().copied().filter(|&s| s <= n).map(|s| (s, p(s))).collect();
    Birthday {
        threshold,
        trials,
        samples: n,
        close_pairs: pairs.pairs.len(),
        truncated: pairs.truncated,
        probability,
        crossing,
        support: crossing.map(|s| (s * s) as f64),
        panel_size: crossing.unwrap_or_else(|| sizes.iter().copied().filter(|&s| s <= n).max().unwrap_or(n)),
    }
}

/// The default sizes: 64, 128, …, 2048.
pub fn default_sizes() -> Vec<usize> {
    (6..=11).map(|e| 1usize << e).collect()
}
