//! Nearest neighbours on the GPU: a reference set held on the device, against which blocks of
//! queries are scanned. Every squared distance is computed (shaders/distance.wgsl: −2·A·Bᵀ on
//! the matmul kernels plus the norms), one block of query rows at a time, and handed to the
//! caller, which keeps what it needs (the k nearest, counts within radii, close pairs). The
//! dispatches are prepared once per reference set; a scan only uploads queries and reads
//! distances back.

use crate::error::{Error, Result};
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor};
use crate::ops::distance;

/// Distances read back per block: at most this many f32 (64 MiB).
const BLOCK_ELEMENTS: usize = 16 << 20;

/// A reference set of `m` vectors of `dim` features on the GPU, ready to be scanned.
pub struct DistanceScan {
    m: usize,
    dim: usize,
    rows: usize,
    /// The reference set's mean, subtracted from both sets: distances do not change, but the
    /// norms in ‖a‖² + ‖b‖² − 2·a·b shrink to the scale of the distances, so the expansion's
    /// rounding (relative to the norms) stays small beside them. Without it, data far from
    /// the origin (features after a ReLU, pixels in [−1, 1]) lost digits.
    mean: Vec<f32>,
    queries: GpuTensor,
    distances: GpuTensor,
    dispatches: Vec<Dispatch>,
    // Held for the dispatches' bind groups.
    _tensors: Vec<GpuTensor>,
}

impl DistanceScan {
    /// Upload `reference` [m, dim] (row-major) and prepare the scan of up to `max_rows`
    /// queries per block (fewer when a block of distances would pass 64 MiB).
    pub fn new(gpu: &Gpu, reference: &[f32], m: usize, dim: usize, max_rows: usize) -> Result<DistanceScan> {
        if m == 0 || dim == 0 || reference.len() != m * dim {
            return Err(Error::shape("distance scan", format!("{} values are not {m} vectors of {dim}", reference.len())));
        }
        let rows = (BLOCK_ELEMENTS / m).clamp(1, max_rows.max(1));
        let mut mean = vec![0f64; dim];
        for row in reference.chunks_exact(dim) {
            for (acc, &v) in mean.iter_mut().zip(row) {
                *acc += v as f64;
            }
        }
        let mean: Vec<f32> = mean.iter().map(|s| (s / m as f64) as f32).collect();
        let mut transposed = vec![0f32; m * dim];
        for (j, row) in reference.chunks_exact(dim).enumerate() {
            for (k, &v) in row.iter().enumerate() {
                transposed[k * m + j] = v - mean[k];
            }
        }
        let b_t = GpuTensor::from_f32(gpu, &[dim, m], &transposed, "reference set (transposed)")?;
        let b_norms = GpuTensor::zeros(gpu, &[m], DType::F32, "reference norms")?;
        let norms = distance::sq_norms(gpu, &b_t, &b_norms, true)?;
        gpu.run("reference norms", &[&norms])?;
        let queries = GpuTensor::zeros(gpu, &[rows, dim], DType::F32, "query block")?;
        let q_norms = GpuTensor::zeros(gpu, &[rows], DType::F32, "query norms")?;
        let distances = GpuTensor::zeros(gpu, &[rows, m], DType::F32, "distance block")?;
        let mut dispatches = vec![distance::sq_norms(gpu, &queries, &q_norms, false)?];
        dispatches.extend(distance::sq_distances(gpu, &queries, &b_t, &q_norms, &b_norms, &distances)?);
        Ok(DistanceScan { m, dim, rows, mean, queries, distances, dispatches, _tensors: vec![b_t, b_norms, q_norms] })
    }

    /// Vectors in the reference set.
    pub fn len(&self) -> usize {
        self.m
    }

    pub fn is_empty(&self) -> bool {
        self.m == 0
    }

    /// Scan `queries` [n, dim]: `on_block(first_row, rows, d)` receives the squared distances
    /// `d[r·m + j]` of queries first_row + r to reference vector j, blocks in order.
    pub fn scan(&self, gpu: &Gpu, queries: &[f32], n: usize, mut on_block: impl FnMut(usize, usize, &[f32]) -> Result<()>) -> Result<()> {
        if queries.len() != n * self.dim {
            return Err(Error::shape("distance scan", format!("{} values are not {n} queries of {}", queries.len(), self.dim)));
        }
        let mut block = vec![0f32; self.rows * self.dim];
        let refs: Vec<&Dispatch> = self.dispatches.iter().collect();
        for first in (0..n).step_by(self.rows) {
            let rows = self.rows.min(n - first);
            // A short last block keeps the stale rows past `rows`: computed, never read.
            for (dst, src) in block.chunks_exact_mut(self.dim).zip(queries[first * self.dim..(first + rows) * self.dim].chunks_exact(self.dim)) {
                for ((d, &q), &mu) in dst.iter_mut().zip(src).zip(&self.mean) {
                    *d = q - mu;
                }
            }
            self.queries.write_f32(gpu, &block)?;
            gpu.run("distance block", &refs)?;
            let d = self.distances.read_f32(gpu)?;
            on_block(first, rows, &d[..rows * self.m])?;
        }
        Ok(())
    }
}

/// The k nearest reference vectors of each query: squared distances ascending, ties by index.
#[derive(Clone, Debug)]
pub struct Knn {
    pub k: usize,
    /// [n, k] squared distances, ascending per query.
    pub dist: Vec<f32>,
    /// [n, k] indices into the reference set.
    pub index: Vec<u32>,
}

impl Knn {
    /// Squared distance of query i to its k-th nearest neighbour (k is 1-based, ≤ self.k).
    pub fn kth(&self, i: usize, k: usize) -> f32 {
        self.dist[i * self.k + k - 1]
    }

    /// The nearest neighbour of query i: (squared distance, index).
    pub fn nearest(&self, i: usize) -> (f32, u32) {
        (self.dist[i * self.k], self.index[i * self.k])
    }
}

/// Keeps the k smallest (distance, index) of one query, sorted; a new value enters only when
/// it is smaller than the current k-th, so equal distances keep the lower index.
fn insert(dist: &mut [f32], index: &mut [u32], d: f32, j: u32) {
    let k = dist.len();
    if d >= dist[k - 1] {
        return;
    }
    let mut p = k - 1;
    while p > 0 && dist[p - 1] > d {
        dist[p] = dist[p - 1];
        index[p] = index[p - 1];
        p -= 1;
    }
    dist[p] = d;
    index[p] = j;
}

/// The `k` nearest neighbours of each row of one block of squared distances, for queries
/// first..first + rows; with `exclude_self` (queries = the reference set) query i skips j = i.
pub fn knn_of_block(knn: &mut Knn, first: usize, rows: usize, m: usize, d: &[f32], exclude_self: bool) {
    let k = knn.k;
    for r in 0..rows {
        let i = first + r;
        let (dist, index) = (&mut knn.dist[i * k..(i + 1) * k], &mut knn.index[i * k..(i + 1) * k]);
        for (j, &v) in d[r * m..(r + 1) * m].iter().enumerate() {
            if !(exclude_self && j == i) {
                insert(dist, index, v, j as u32);
            }
        }
    }
}

impl Knn {
    /// No neighbours yet for `n` queries (infinite distances): filled by `knn_of_block`.
    pub fn empty(n: usize, k: usize) -> Knn {
        Knn { k, dist: vec![f32::INFINITY; n * k], index: vec![u32::MAX; n * k] }
    }

    /// The `k` nearest vectors of `scan`'s reference set to each of `queries` [n, dim]; with
    /// `exclude_self` the queries are the reference set itself and query i skips vector i.
    pub fn compute(gpu: &Gpu, scan: &DistanceScan, queries: &[f32], n: usize, k: usize, exclude_self: bool) -> Result<Knn> {
        let available = scan.len() - exclude_self as usize;
        if k == 0 || k > available {
            return Err(Error::invalid("nearest neighbours", format!("k = {k} needs at least {} reference vectors, there are {}", k + exclude_self as usize, scan.len())));
        }
        let mut knn = Knn::empty(n, k);
        scan.scan(gpu, queries, n, |first, rows, d| {
            knn_of_block(&mut knn, first, rows, scan.len(), d, exclude_self);
            Ok(())
        })?;
        Ok(knn)
    }

    /// The same on the host, in f64 by direct differences: the reference the GPU scan is
    /// tested against, and fast enough for a few hundred vectors.
    pub fn brute_force(reference: &[f32], m: usize, queries: &[f32], n: usize, dim: usize, k: usize, exclude_self: bool) -> Knn {
        let mut knn = Knn::empty(n, k);
        let d = sq_distances_f64(queries, reference, n, m, dim);
        let d32: Vec<f32> = d.iter().map(|&v| v as f32).collect();
        knn_of_block(&mut knn, 0, n, m, &d32, exclude_self);
        knn
    }
}

/// Squared distances [n, m] between rows of `a` [n, dim] and `b` [m, dim], in f64.
pub fn sq_distances_f64(a: &[f32], b: &[f32], n: usize, m: usize, dim: usize) -> Vec<f64> {
    let mut d = vec![0f64; n * m];
    for i in 0..n {
        let ai = &a[i * dim..(i + 1) * dim];
        for j in 0..m {
            d[i * m + j] = ai.iter().zip(&b[j * dim..(j + 1) * dim]).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum();
        }
    }
    d
}

/// The value at quantile `q` ∈ [0, 1] of `values` (the nearest rank: sorted[⌈q·n⌉ − 1]).
pub fn quantile(values: &[f32], q: f64) -> f32 {
    let mut v = values.to_vec();
    v.sort_by(f32::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}
