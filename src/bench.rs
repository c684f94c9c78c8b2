//! `shadergan bench`: kernel timing with a fixed protocol (STYLE.md §3.8).
//!
//! Each case is validated against the CPU reference first, then timed: warm-up runs (the first
//! includes llvmpipe's lazy shader compile), then ≥ 15 samples, each one submit of the case's
//! dispatches followed by a device wait. With TIMESTAMP_QUERY the GPU time between the start
//! and end of the compute pass is used; otherwise host wall time around submit + wait.
//! Reported: median and min, and GFLOP/s from the median.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::gpu::tensor::map_read;
use crate::gpu::{Dispatch, Gpu};

/// How one case was timed.
#[derive(Clone, Debug)]
pub struct Timing {
    pub samples_ms: Vec<f64>,
    /// "gpu" (timestamp queries) or "host" (wall clock around submit + wait).
    pub method: &'static str,
}

impl Timing {
    pub fn median_ms(&self) -> f64 {
        let mut s = self.samples_ms.clone();
        s.sort_by(|a, b| a.total_cmp(b));
        let n = s.len();
        if n % 2 == 1 { s[n / 2] } else { 0.5 * (s[n / 2 - 1] + s[n / 2]) }
    }

    pub fn min_ms(&self) -> f64 {
        self.samples_ms.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

/// Sampling protocol: `reps` timed samples after `warmup` untimed ones. When one run takes so
/// long that `reps` would exceed `budget`, fewer samples are taken (at least `min_reps`) and
/// the row says how many.
#[derive(Clone, Copy, Debug)]
pub struct Protocol {
    pub warmup: usize,
    pub reps: usize,
    pub min_reps: usize,
    pub budget: Duration,
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol { warmup: 2, reps: 15, min_reps: 3, budget: Duration::from_secs(120) }
    }
}

struct TimestampReader {
    queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    staging: wgpu::Buffer,
}

impl TimestampReader {
    fn new(gpu: &Gpu) -> TimestampReader {
        let queries = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("bench timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count: 2,
        });
        let resolve = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("bench timestamp resolve"),
            size: 16,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("bench timestamp staging"),
            size: 16,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        TimestampReader { queries, resolve, staging }
    }
}

/// Run `dispatches` once in one pass, one submit, and wait. Returns (host ms, gpu ms if timed).
fn run_once(gpu: &Gpu, dispatches: &[&Dispatch], ts: Option<&TimestampReader>) -> Result<(f64, Option<f64>)> {
    let mut enc = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("bench") });
    {
        let timestamp_writes = ts.map(|t| wgpu::ComputePassTimestampWrites {
            query_set: &t.queries,
            beginning_of_pass_write_index: Some(0),
            end_of_pass_write_index: Some(1),
        });
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("bench"), timestamp_writes });
        for d in dispatches {
            d.record(&mut pass);
        }
    }
    if let Some(t) = ts {
        enc.resolve_query_set(&t.queries, 0..2, &t.resolve, 0);
        enc.copy_buffer_to_buffer(&t.resolve, 0, &t.staging, 0, 16);
    }
    let cmd = enc.finish();
    let start = Instant::now();
    gpu.queue.submit([cmd]);
    gpu.wait()?;
    let host_ms = start.elapsed().as_secs_f64() * 1e3;
    let gpu_ms = match ts {
        Some(t) => {
            let bytes = map_read(gpu, &t.staging, "timestamps")?;
            let stamps: &[u64] = bytemuck::cast_slice(&bytes);
            let ticks = stamps[1].wrapping_sub(stamps[0]);
            Some(ticks as f64 * gpu.queue.get_timestamp_period() as f64 / 1e6)
        }
        None => None,
    };
    Ok((host_ms, gpu_ms))
}

/// Time `dispatches` (recorded into one pass per sample) under `protocol`.
pub fn time_dispatches(gpu: &Gpu, dispatches: &[&Dispatch], protocol: &Protocol) -> Result<Timing> {
    if dispatches.is_empty() {
        return Err(Error::invalid("bench", "nothing to time"));
    }
    let ts = gpu.caps.timestamps.then(|| TimestampReader::new(gpu));
    let mut last = 0.0;
    for _ in 0..protocol.warmup.max(1) {
        let (host, _) = run_once(gpu, dispatches, ts.as_ref())?;
        last = host;
    }
    let affordable = (protocol.budget.as_secs_f64() * 1e3 / last.max(1e-3)) as usize;
    let reps = protocol.reps.min(affordable).max(protocol.min_reps);
    let mut samples = Vec::with_capacity(reps);
    let mut method = "host";
    for _ in 0..reps {
        let (host, gpu_ms) = run_once(gpu, dispatches, ts.as_ref())?;
        match gpu_ms {
            // A zero or absurd GPU duration means the timestamps are not usable on this
            // adapter; fall back to host time for the sample.
            Some(g) if g > 0.0 && g <= host * 1.05 + 0.05 => {
                method = "gpu";
                samples.push(g);
            }
            _ => samples.push(host),
        }
    }
    Ok(Timing { samples_ms: samples, method })
}
