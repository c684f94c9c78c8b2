//! Memorisation: is a sample nearer to a training image than real images usually are? The
//! yardstick is the held-out images: their distances to their nearest training image, and the
//! 1st percentile of those is the threshold. A sample nearer than that to some training image
//! is flagged; by construction about 1 % of held-out images would be, and copies of training
//! images all are.

use serde::Serialize;

use super::neighbours::{quantile, Knn};

/// The quantile of held-out-to-train nearest distances below which a sample is flagged.
pub const QUANTILE: f64 = 0.01;

#[derive(Clone, Debug, Serialize)]
pub struct Memorisation {
    /// "features" or "pixels".
    pub space: &'static str,
    /// Squared distance: the 1st percentile of held-out-to-train nearest distances.
    pub threshold: f32,
    /// Share of samples strictly nearer than the threshold to a training image.
    pub flagged: f64,
    /// Median squared distance of a sample to its nearest training image, and the same for
    /// the held-out images (a sample set much nearer than the held-out one copies).
    pub median_sample_nearest: f32,
    pub median_heldout_nearest: f32,
}

impl Memorisation {
    /// From the samples' and the held-out images' nearest training images (k ≥ 1).
    pub fn new(space: &'static str, samples: &Knn, heldout: &Knn) -> Memorisation {
        let nearest = |knn: &Knn| -> Vec<f32> { (0..knn.dist.len() / knn.k).map(|i| knn.nearest(i).0).collect() };
        let (s, h) = (nearest(samples), nearest(heldout));
        let threshold = quantile(&h, QUANTILE);
        Memorisation {
            space,
            threshold,
            flagged: s.iter().filter(|&&d| d < threshold).count() as f64 / s.len().max(1) as f64,
            median_sample_nearest: quantile(&s, 0.5),
            median_heldout_nearest: quantile(&h, 0.5),
        }
    }
}
