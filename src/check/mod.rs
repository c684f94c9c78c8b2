//! The GPU-vs-reference correctness suite, shared by `shadergan check` and `cargo test`.
//!
//! Every case draws fresh random inputs from a seed derived from (run seed, case name), so
//! `--seed S --op NAME` replays one case bit for bit. Outputs that a kernel overwrites are
//! poisoned with NaN before the dispatch, so an element it forgets to write fails; outputs it
//! accumulates into start from random values and are compared with start + reference.
//!
//! A row passes when ‖gpu − ref‖₂ / ‖ref‖₂ ≤ bound and every value is finite. The bounds
//! follow from f32 arithmetic (unit roundoff u = 2⁻²⁴ ≈ 6e-8):
//!   - a sum of K products accumulated in f32 has a rounding error that grows like a random
//!     walk, ≈ u·√K relative; the bound is 16·u·√K (at least 1e-6), ~2.5e-4 at K = 65 536;
//!   - elementwise arithmetic is a few roundings: 1e-6;
//!   - transcendentals (exp, log, tanh, sin, cos) carry the driver's error: 1e-5;
//!   - where a result can come out much smaller than the terms it sums (a single bias gradient,
//!     y + a·x), the bound scales by ‖terms‖/‖result‖ (`cancellation_bound`), and where the
//!     inputs make a result ill-conditioned (batch norm of values clustered far from zero), by
//!     the first-order error that f32 storage of the inputs causes (see `bn_error_scales`).
//!
//! In practice the measured errors sit one to two orders of magnitude under these.

pub mod cases;

use crate::rng::Rng;

use crate::error::Result;
use crate::gpu::Gpu;

/// f32 unit roundoff.
pub const F32_U: f64 = 5.960_464_477_539_063e-8;

/// Bound for a result made of sums of `k` f32 products.
pub fn sum_bound(k: usize) -> f64 {
    (4.0 * F32_U * (k.max(1) as f64).sqrt()).max(1e-6)
}
/// The bound `k`, which holds relative to the size of the terms a result is computed from,
/// scaled by ‖terms‖/‖result‖ where the result came out smaller than its terms: chance
/// cancellation (one bias gradient Σdy near zero, y + a·x with a·x ≈ −y, r·cos θ near
/// θ = π/2) leaves the absolute rounding error as it was but shrinks ‖ref‖, and a relative
/// comparison of such an output would measure the inputs, not the kernel. `terms[i]` is the
/// size of output i's terms: the root-sum-square for long sums (their rounding errors add in
/// quadrature), the sum of absolute values for two or three.
/// Empty `terms` means the terms' size was not computed (big cases): `k` as it is.
pub fn cancellation_bound(k: f64, terms: &[f64], want: &[f64]) -> f64 {
    let w = norm(want);
    if w == 0.0 || terms.is_empty() {
        return k;
    }
    k * (norm(terms) / w).max(1.0)
}

/// Euclidean norm.
pub fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Bound for elementwise arithmetic without transcendentals.
pub const ELEMENTWISE_BOUND: f64 = 1e-6;
/// Bound for results through exp/log/tanh/sin/cos.
pub const TRANSCENDENTAL_BOUND: f64 = 1e-5;

/// One checked output.
#[derive(Clone, Debug)]
pub struct Row {
    pub op: String,
    /// forward, backward_input, ...
    pub pass: String,
    pub shape: String,
    pub kernel: String,
    pub max_abs: f64,
    pub rel: f64,
    pub bound: f64,
    pub ok: bool,
}

impl Row {
    /// Compare `gpu` with `reference` under `bound`.
    pub fn compare(op: &str, pass: &str, shape: &str, kernel: &str, gpu: &[f32], reference: &[f64], bound: f64) -> Row {
        let (max_abs, rel) = errors(gpu, reference);
        Row {
            op: op.into(),
            pass: pass.into(),
            shape: shape.into(),
            kernel: kernel.into(),
            max_abs,
            rel,
            bound,
            ok: rel <= bound,
        }
    }

    /// A row for a sum whose terms cancel: the error is measured against ‖Σ|terms|‖, the
    /// magnitude that f32 summation (and the f32 terms' own rounding) is accurate to, instead
    /// of ‖Σ terms‖, which cancellation can make arbitrarily small (a sum's condition number is
    /// Σ|terms| / |Σ terms|). `magnitude` holds Σ|terms| per element of `reference`.
    #[allow(clippy::too_many_arguments)]
    pub fn compare_sum(op: &str, pass: &str, shape: &str, kernel: &str, gpu: &[f32], reference: &[f64], magnitude: &[f64], bound: f64) -> Row {
        // errors() gives max |gpu − ref| and rejects non-finite values and length mismatches.
        let (max_abs, _) = errors(gpu, reference);
        let diff_over_magnitude = if magnitude.len() == reference.len() && max_abs.is_finite() {
            let d2: f64 = gpu.iter().zip(reference).map(|(&g, &r)| (g as f64 - r).powi(2)).sum();
            let m2: f64 = magnitude.iter().map(|m| m * m).sum();
            if m2 > 0.0 { (d2 / m2).sqrt() } else { d2.sqrt() }
        } else {
            f64::INFINITY
        };
        Row {
            op: op.into(),
            pass: format!("{pass} (err / ‖Σ|terms|‖)"),
            shape: shape.into(),
            kernel: kernel.into(),
            max_abs,
            rel: diff_over_magnitude,
            bound,
            ok: diff_over_magnitude <= bound,
        }
    }

    /// A row for a check that is not a tensor comparison (statistics, determinism).
    pub fn scalar(op: &str, pass: &str, shape: &str, kernel: &str, error: f64, bound: f64) -> Row {
        Row {
            op: op.into(),
            pass: pass.into(),
            shape: shape.into(),
            kernel: kernel.into(),
            max_abs: error,
            rel: error,
            bound,
            ok: error <= bound,
        }
    }
}

/// (max |gpu − ref|, ‖gpu − ref‖₂ / ‖ref‖₂). Any non-finite GPU value, or a length mismatch,
/// gives an infinite error; a zero reference compares absolutely.
pub fn errors(gpu: &[f32], reference: &[f64]) -> (f64, f64) {
    if gpu.len() != reference.len() {
        return (f64::INFINITY, f64::INFINITY);
    }
    let (mut max_abs, mut diff2, mut ref2) = (0.0f64, 0.0f64, 0.0f64);
    for (&g, &r) in gpu.iter().zip(reference) {
        if !g.is_finite() {
            return (f64::INFINITY, f64::INFINITY);
        }
        let d = g as f64 - r;
        max_abs = max_abs.max(d.abs());
        diff2 += d * d;
        ref2 += r * r;
    }
    let rel = if ref2 > 0.0 { (diff2 / ref2).sqrt() } else { diff2.sqrt() };
    (max_abs, rel)
}

/// A named correctness case of one op; running it gives one row per pass and kernel.
pub struct Case {
    pub op: &'static str,
    pub name: String,
    #[allow(clippy::type_complexity)]
    pub run: Box<dyn Fn(&Gpu, &mut Rng) -> Result<Vec<Row>> + Send + Sync>,
}

impl Case {
    pub fn new(
        op: &'static str,
        name: impl Into<String>,
        run: impl Fn(&Gpu, &mut Rng) -> Result<Vec<Row>> + Send + Sync + 'static,
    ) -> Case {
        Case { op, name: name.into(), run: Box::new(run) }
    }
}

/// The op names `--op` accepts.
pub fn op_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = cases::all().iter().map(|c| c.op).collect();
    names.dedup();
    names
}

/// Run every case of `op` (all when None) with `seed`, calling `on_row` as rows arrive.
/// Returns the rows; the caller decides what a failure means.
pub fn run(gpu: &Gpu, op: Option<&str>, seed: u64, on_row: impl FnMut(&Row)) -> Result<Vec<Row>> {
    run_cases(gpu, |c| op.is_none_or(|o| c.op == o), seed, on_row)
}

/// Run the cases `select` picks, with `seed`.
pub fn run_cases(gpu: &Gpu, select: impl Fn(&Case) -> bool, seed: u64, mut on_row: impl FnMut(&Row)) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for case in cases::all().into_iter().filter(|c| select(c)) {
        let mut rng = Rng::for_case(seed, &case.name);
        for row in (case.run)(gpu, &mut rng)? {
            on_row(&row);
            rows.push(row);
        }
    }
    Ok(rows)
}

/// The seed for this run: `SHADERGAN_SEED` when set (to replay), else fresh from the clock.
pub fn seed_from_env_or_clock() -> u64 {
    if let Some(s) = std::env::var("SHADERGAN_SEED").ok().and_then(|s| s.parse().ok()) {
        return s;
    }
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
}
