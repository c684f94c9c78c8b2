//! Precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al.
//! 2020) from k-nearest-neighbour balls in feature space.
//!
//! Each real vector r has a ball of radius NN_k(r), the distance to its k-th nearest other real
//! vector; each fake vector likewise among the fakes.
//! - precision: the share of fakes inside at least one real ball (k = 3): realism;
//! - recall: the share of reals inside at least one fake ball (k = 3): diversity;
//! - density: (1/k)·mean over fakes of the number of real balls holding it (k = 5; 1 when the
//!   fakes are distributed as the reals, above 1 where they crowd the dense regions);
//! - coverage: the share of reals whose ball (k = 5) holds at least one fake.
//!
//! Balls are closed (≤) for precision and recall as in Kynkäänniemi et al.'s definition, open
//! (<) for density and coverage as in Naeem et al.'s reference code; with continuous features
//! the two differ only on ties.

use serde::Serialize;

use super::neighbours::{DistanceScan, Knn};
use crate::error::Result;
use crate::gpu::Gpu;

/// k for precision and recall (Kynkäänniemi et al.).
pub const K_PR: usize = 3;
/// k for density and coverage (Naeem et al.).
pub const K_DC: usize = 5;

#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Prdc {
    pub precision: f64,
    pub recall: f64,
    pub density: f64,
    pub coverage: f64,
}

impl Prdc {
    /// The four scores with their names and k, in print order.
    pub fn named(&self) -> [(&'static str, f64); 4] {
        [("precision (k=3)", self.precision), ("recall (k=3)", self.recall), ("density (k=5)", self.density), ("coverage (k=5)", self.coverage)]
    }
}

/// The radii (squared) of the balls: k-th nearest neighbour within the set (`dc` is NaN
/// where the neighbours were found only up to K_PR: the fakes need no D/C balls).
pub struct Radii {
    pub pr: Vec<f32>,
    pub dc: Vec<f32>,
}

impl Radii {
    pub fn of(knn: &Knn) -> Radii {
        let n = knn.dist.len() / knn.k;
        let at = |k: usize| (0..n).map(|i| if k <= knn.k { knn.kth(i, k) } else { f32::NAN }).collect();
        Radii { pr: at(K_PR), dc: at(K_DC) }
    }
}

/// Accumulates P/R/D/C over blocks of squared distances [fake rows, real columns].
pub struct PrdcAccumulator<'a> {
    real: &'a Radii,
    fake: &'a Radii,
    in_real_ball: usize,
    real_balls_holding: u64,
    real_hit: Vec<bool>,
    real_covered: Vec<bool>,
}

impl<'a> PrdcAccumulator<'a> {
    pub fn new(real: &'a Radii, fake: &'a Radii) -> Self {
        let m = real.pr.len();
        PrdcAccumulator { real, fake, in_real_ball: 0, real_balls_holding: 0, real_hit: vec![false; m], real_covered: vec![false; m] }
    }

    /// Fakes first..first + rows against every real: `d[r·m + j]`.
    pub fn block(&mut self, first: usize, rows: usize, d: &[f32]) {
        let m = self.real.pr.len();
        for r in 0..rows {
            let f = first + r;
            let fake_radius = self.fake.pr[f];
            let (mut inside, mut holding) = (false, 0u64);
            for (j, &dist) in d[r * m..(r + 1) * m].iter().enumerate() {
                inside |= dist <= self.real.pr[j];
                if dist < self.real.dc[j] {
                    holding += 1;
                    self.real_covered[j] = true;
                }
                if dist <= fake_radius {
                    self.real_hit[j] = true;
                }
            }
            self.in_real_ball += inside as usize;
            self.real_balls_holding += holding;
        }
    }

    pub fn finish(self) -> Prdc {
        let n = self.fake.pr.len() as f64;
        let m = self.real.pr.len() as f64;
        let share = |v: &[bool]| v.iter().filter(|&&b| b).count() as f64 / m;
        Prdc {
            precision: self.in_real_ball as f64 / n,
            recall: share(&self.real_hit),
            density: self.real_balls_holding as f64 / (K_DC as f64 * n),
            coverage: share(&self.real_covered),
        }
    }
}

/// P/R/D/C of `fake` [n, dim] against `real` [m, dim] on the GPU (both sets need more than
/// K_DC vectors).
pub fn prdc(gpu: &Gpu, real: &[f32], fake: &[f32], dim: usize) -> Result<Prdc> {
    let (m, n) = (real.len() / dim, fake.len() / dim);
    let real_scan = DistanceScan::new(gpu, real, m, dim, 4096)?;
    let real_radii = Radii::of(&Knn::compute(gpu, &real_scan, real, m, K_DC, true)?);
    let fake_scan = DistanceScan::new(gpu, fake, n, dim, 4096)?;
    let fake_radii = Radii::of(&Knn::compute(gpu, &fake_scan, fake, n, K_PR, true)?);
    drop(fake_scan);
    prdc_of(gpu, &real_scan, &real_radii, fake, &fake_radii)
}

/// The same from radii already computed: the fakes scanned against the reals once.
pub fn prdc_of(gpu: &Gpu, real_scan: &DistanceScan, real_radii: &Radii, fake: &[f32], fake_radii: &Radii) -> Result<Prdc> {
    let n = fake_radii.pr.len();
    let mut acc = PrdcAccumulator::new(real_radii, fake_radii);
    real_scan.scan(gpu, fake, n, |first, rows, d| {
        acc.block(first, rows, d);
        Ok(())
    })?;
    Ok(acc.finish())
}

/// The same in f64 on the host from all pairwise distances: the tests' reference.
pub fn prdc_brute_force(real: &[f32], fake: &[f32], dim: usize) -> Prdc {
    let (m, n) = (real.len() / dim, fake.len() / dim);
    let real_radii = Radii::of(&Knn::brute_force(real, m, real, m, dim, K_DC, true));
    let fake_radii = Radii::of(&Knn::brute_force(fake, n, fake, n, dim, K_PR, true));
    let d: Vec<f32> = super::neighbours::sq_distances_f64(fake, real, n, m, dim).iter().map(|&v| v as f32).collect();
    let mut acc = PrdcAccumulator::new(&real_radii, &fake_radii);
    acc.block(0, n, &d);
    acc.finish()
}
