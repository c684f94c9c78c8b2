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
        Protocol { warmup: 2, reps: 15, min_reps: 3, budget: Duration::from_secs(300) }
    }
}

struct TimestampReader {
    queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    staging: wgpu::Buffer,
}

impl TimestampReader {
    fn new(gpu: &Gpu) -> Result<TimestampReader> {
        let queries = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("bench timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count: 2,
        });
        let resolve = gpu.create_buffer(&wgpu::BufferDescriptor {
            label: Some("bench timestamp resolve"),
            size: 16,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })?;
        let staging = gpu.create_buffer(&wgpu::BufferDescriptor {
            label: Some("bench timestamp staging"),
            size: 16,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })?;
        Ok(TimestampReader { queries, resolve, staging })
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
    let ts = gpu.caps.timestamps.then(|| TimestampReader::new(gpu)).transpose()?;
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

/// One timed case.
#[derive(Clone, Debug)]
pub struct BenchRow {
    pub kernel: String,
    pub shape: String,
    pub timing: Timing,
    pub flops: f64,
    /// Relative error of a sample of outputs against the f64 reference (validate, then time).
    pub rel_err: f64,
}

impl BenchRow {
    pub fn gflops(&self) -> f64 {
        self.flops / self.timing.median_ms() / 1e6
    }
}

/// `bench --op matmul`: every requested kernel at every size n (C = A·B, n×n×n).
pub fn bench_matmul(
    gpu: &Gpu,
    sizes: &[usize],
    kernels: &[crate::ops::matmul::MatmulKernel],
    protocol: &Protocol,
    naive_all: bool,
    mut on_row: impl FnMut(&BenchRow),
    mut on_skip: impl FnMut(String),
) -> Result<Vec<BenchRow>> {
    use crate::gpu::{DType, GpuTensor};
    use crate::ops::matmul::{matmul, MatmulKernel, MatmulSpec};
    let mut rows = Vec::new();
    let mut rng = crate::rng::Rng::new(0x5eed);
    for &n in sizes {
        let a_data = rng.normals(n * n, 1.0);
        let b_data = rng.normals(n * n, 1.0);
        let a = GpuTensor::from_f32(gpu, &[n, n], &a_data, "a")?;
        let b = GpuTensor::from_f32(gpu, &[n, n], &b_data, "b")?;
        let c = GpuTensor::zeros(gpu, &[n, n], DType::F32, "c")?;
        let spec = MatmulSpec::new(n, n, n);
        // 64 output elements in f64, enough to catch a wrong kernel without an n³ reference.
        let probes: Vec<(usize, usize)> = (0..64).map(|_| ((rng.next_u64() as usize) % n, (rng.next_u64() as usize) % n)).collect();
        let want: Vec<f64> = probes
            .iter()
            .map(|&(i, j)| (0..n).map(|k| a_data[i * n + k] as f64 * b_data[k * n + j] as f64).sum())
            .collect();
        for &kernel in kernels {
            if !kernel.supports(gpu, &spec) {
                on_skip(format!("{} {n}³: not supported on this adapter/shape", kernel.name()));
                continue;
            }
            if kernel == MatmulKernel::Naive && n > 1024 && !naive_all {
                on_skip(format!("naive {n}³: skipped (~45 s per run on lavapipe); pass --naive-all to time it"));
                continue;
            }
            let d = matmul(gpu, &spec, &a, &b, None, &c, Some(kernel))?;
            let timing = time_dispatches(gpu, &[&d], protocol)?;
            let out = c.read_f32(gpu)?;
            let got: Vec<f32> = probes.iter().map(|&(i, j)| out[i * n + j]).collect();
            let (_, rel_err) = crate::check::errors(&got, &want);
            let row = BenchRow { kernel: kernel.name().to_string(), shape: format!("{n}x{n}x{n}"), timing, flops: spec.flops(), rel_err };
            on_row(&row);
            rows.push(row);
        }
    }
    Ok(rows)
}

/// GPU time of each dispatch of `dispatches` (in order), each in its own timestamped compute
/// pass of one encoder: a per-kernel profile of a real workload such as a training step.
/// Needs TIMESTAMP_QUERY; the passes run back to back in one submit.
pub fn profile_dispatches(gpu: &Gpu, dispatches: &[Dispatch]) -> Result<Vec<(String, f64)>> {
    if !gpu.caps.timestamps {
        return Err(Error::MissingFeature { kernel: "per-kernel profile".into(), feature: "TIMESTAMP_QUERY", adapter: gpu.info.name.clone() });
    }
    let n = dispatches.len() as u32;
    let queries = gpu.device.create_query_set(&wgpu::QuerySetDescriptor { label: Some("profile"), ty: wgpu::QueryType::Timestamp, count: 2 * n });
    let size = 16 * n as u64;
    let resolve = gpu.create_buffer(&wgpu::BufferDescriptor {
        label: Some("profile resolve"),
        size,
        usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    })?;
    let staging = gpu.create_buffer(&wgpu::BufferDescriptor {
        label: Some("profile staging"),
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })?;
    let mut enc = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("profile") });
    for (i, d) in dispatches.iter().enumerate() {
        let tw = wgpu::ComputePassTimestampWrites {
            query_set: &queries,
            beginning_of_pass_write_index: Some(2 * i as u32),
            end_of_pass_write_index: Some(2 * i as u32 + 1),
        };
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(&d.label), timestamp_writes: Some(tw) });
        d.record(&mut pass);
    }
    enc.resolve_query_set(&queries, 0..2 * n, &resolve, 0);
    enc.copy_buffer_to_buffer(&resolve, 0, &staging, 0, size);
    gpu.queue.submit([enc.finish()]);
    let bytes = map_read(gpu, &staging, "profile timestamps")?;
    let stamps: &[u64] = bytemuck::cast_slice(&bytes);
    let period = gpu.queue.get_timestamp_period() as f64;
    Ok(dispatches
        .iter()
        .enumerate()
        .map(|(i, d)| (d.label.clone(), stamps[2 * i + 1].wrapping_sub(stamps[2 * i]) as f64 * period / 1e6))
        .collect())
}

/// What `bench --op train-step` measured.
pub struct TrainStepBench {
    pub timing: Timing,
    pub dispatches: usize,
    /// Buffers created during the timed iterations (after the first): must be 0.
    pub buffers_created: u64,
    /// Per-kernel GPU time of one iteration, summed by label, largest first.
    pub profile: Vec<(String, f64, usize)>,
}

/// Time one real training iteration (the trainer's whole program in one pass, one submit)
/// under `protocol`; with `profile`, also one iteration kernel by kernel.
pub fn bench_train_step(trainer: &crate::train::Trainer, protocol: &Protocol, profile: bool) -> Result<TrainStepBench> {
    bench_program(&trainer.gpu, trainer.program(), protocol, profile)
}

/// As `bench_train_step`, for any trainer's one-iteration program (the autoencoders').
pub fn bench_program(gpu: &Gpu, iteration: &[Dispatch], protocol: &Protocol, profile: bool) -> Result<TrainStepBench> {
    let program: Vec<&Dispatch> = iteration.iter().collect();
    // The first iteration compiles every pipeline (llvmpipe compiles at first dispatch) and
    // is not what is measured; the allocation count starts after it.
    time_dispatches(gpu, &program, &Protocol { warmup: 1, reps: 1, min_reps: 1, budget: protocol.budget })?;
    let (before, _) = gpu.allocated();
    let timing = time_dispatches(gpu, &program, protocol)?;
    let (after, _) = gpu.allocated();
    // The timing harness itself creates its two timestamp buffers once per call.
    let harness = if gpu.caps.timestamps { 2 } else { 0 };
    let mut by_label: Vec<(String, f64, usize)> = Vec::new();
    if profile {
        for (label, ms) in profile_dispatches(gpu, iteration)? {
            match by_label.iter_mut().find(|(l, _, _)| *l == label) {
                Some(e) => {
                    e.1 += ms;
                    e.2 += 1;
                }
                None => by_label.push((label, ms, 1)),
            }
        }
        by_label.sort_by(|a, b| b.1.total_cmp(&a.1));
    }
    Ok(TrainStepBench { timing, dispatches: program.len(), buffers_created: (after - before).saturating_sub(harness), profile: by_label })
}
