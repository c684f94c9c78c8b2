//! Host side of shaders/optim.wgsl: Adam / AdamW, SGD (with momentum) and RMSprop, in place,
//! and the learning-rate schedule. Adam and RMSprop read their learning rate from a GPU tensor
//! (`Lr`), so a schedule changes it between steps without rebuilding the step.

use bytemuck::{Pod, Zeroable};

use super::elementwise::{vec4_count, vec4_grid};
use crate::error::{Error, Result};
use crate::gpu::shaders::OPTIM;
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor, KernelRef};

/// Mirrors `struct AdamParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct AdamParams {
    pub n4: u32,
    pub counter_index: u32,
    pub lr_index: u32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub decoupled: u32,
}
const _: () = assert!(std::mem::size_of::<AdamParams>() % 16 == 0);

/// Mirrors `struct SgdParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct SgdParams {
    pub n4: u32,
    pub lr: f32,
    pub weight_decay: f32,
    pub momentum: f32,
}

/// Mirrors `struct RmspropParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct RmspropParams {
    pub n4: u32,
    pub lr_index: u32,
    pub alpha: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}
const _: () = assert!(std::mem::size_of::<RmspropParams>() % 16 == 0);

/// Mirrors `struct EmaParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct EmaParams {
    pub n4: u32,
    pub counter_index: u32,
    pub beta: f32,
    pub rampup: f32,
}

/// Mirrors `struct ScheduleParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct ScheduleParams {
    pub counter_index: u32,
    pub out_index: u32,
    pub base: f32,
    pub kind: u32,
    pub horizon: u32,
    pub warmup: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}
const _: () = assert!(std::mem::size_of::<ScheduleParams>() % 16 == 0);

/// Where an optimizer reads its learning rate: element `index` of an f32 GPU tensor.
#[derive(Clone, Copy, Debug)]
pub struct Lr<'a> {
    pub tensor: &'a GpuTensor,
    pub index: usize,
}

impl Lr<'_> {
    fn check(&self, op: &str) -> Result<u32> {
        if self.tensor.dtype() != DType::F32 || self.index >= self.tensor.numel() {
            return Err(Error::shape(op, format!("learning rate slot {} of {} {:?} (f32 wanted)", self.index, self.tensor.label(), self.tensor.shape())));
        }
        Ok(self.index as u32)
    }
}

/// A tensor of constant learning rates (one per optimizer), for trainers without a schedule.
pub fn learning_rates(gpu: &Gpu, lrs: &[f32]) -> Result<GpuTensor> {
    if let Some(lr) = lrs.iter().find(|lr| !(lr.is_finite() && **lr >= 0.0)) {
        return Err(Error::invalid("--lr", format!("learning rate {lr} must be a finite number ≥ 0")));
    }
    GpuTensor::from_f32(gpu, &[lrs.len()], lrs, "learning rates")
}

/// How the learning rate moves over a run (`lr_schedule`): f(p) of the share p of the horizon
/// done, times a linear warm-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    Constant = 0,
    /// 1 − p: to 0 at the horizon (pix2pix/CycleGAN-style decay).
    Linear = 1,
    /// ½(1 + cos πp) (Loshchilov & Hutter's cosine annealing, no restarts).
    Cosine = 2,
}

/// A learning-rate schedule: lr(i) = base · min(1, (i + 1)/warmup) · f(min(i/horizon, 1)) at
/// iteration i (0-based), i read from a GPU counter.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Schedule {
    pub kind: ScheduleKind,
    /// Iterations over which f goes from 1 to 0 (the run's steps when it started).
    pub horizon: u64,
    /// Iterations of linear warm-up from base/warmup to base (0: none).
    #[serde(default)]
    pub warmup: u64,
}

/// lrs[lr.index] = base · the schedule's factor at iteration i = counters[counter_index]
/// (one invocation; record it before the optimizer steps that read it).
pub fn lr_schedule(gpu: &Gpu, schedule: &Schedule, base: f32, counters: &GpuTensor, counter_index: usize, lr: Lr) -> Result<Dispatch> {
    let op = "lr_schedule";
    let out_index = lr.check(op)?;
    if counters.dtype() != DType::U32 || counter_index >= counters.numel() {
        return Err(Error::shape(op, format!("step counter slot {counter_index} of {:?}", counters.shape())));
    }
    if !(base.is_finite() && base >= 0.0) {
        return Err(Error::invalid("--lr", format!("learning rate {base} must be a finite number ≥ 0")));
    }
    let u32_of = |what: &str, v: u64| u32::try_from(v).map_err(|_| Error::invalid("--lr-schedule", format!("{what} {v} exceeds {}", u32::MAX)));
    let params = ScheduleParams {
        counter_index: counter_index as u32,
        out_index,
        base,
        kind: schedule.kind as u32,
        horizon: u32_of("horizon", schedule.horizon.max(1))?,
        warmup: u32_of("warm-up", schedule.warmup)?,
        _pad0: 0,
        _pad1: 0,
    };
    let label = format!("{op} {:?} → {}[{}]", schedule.kind, lr.tensor.label(), lr.index);
    gpu.dispatch(&KernelRef::new(&OPTIM, op), label.clone(), &[counters], &[lr.tensor], &params, crate::gpu::Grid::new(gpu, &label, 1, 1, 1)?)
}

/// Adam hyperparameters but the learning rate, which the step reads from a GPU tensor (`Lr`)
/// (PyTorch names and defaults; DCGAN uses lr 2e-4, β1 0.5).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// AdamW: decay the weights directly instead of adding wd·w to the gradient.
    pub decoupled: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, decoupled: false }
    }
}

impl AdamConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::invalid("Adam", m));
        if !(0.0..1.0).contains(&self.beta1) || !(0.0..1.0).contains(&self.beta2) {
            return bad(format!("betas ({}, {}) must lie in [0, 1)", self.beta1, self.beta2));
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return bad(format!("eps {} must be > 0", self.eps));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(format!("weight decay {} must be ≥ 0", self.weight_decay));
        }
        Ok(())
    }
}

fn same(op: &str, ts: &[&GpuTensor]) -> Result<()> {
    for t in ts {
        if t.numel() != ts[0].numel() || t.dtype() != DType::F32 {
            return Err(Error::shape(op, format!("{} {:?} does not match {} {:?}", t.label(), t.shape(), ts[0].label(), ts[0].shape())));
        }
    }
    Ok(())
}

/// One Adam step on `param` with step count t = counters[counter_index] (≥ 1: bump it with
/// elementwise::counter_add first) and the learning rate in `lr`.
#[allow(clippy::too_many_arguments)]
pub fn adam_step(
    gpu: &Gpu,
    cfg: &AdamConfig,
    lr: Lr,
    grad: &GpuTensor,
    counters: &GpuTensor,
    counter_index: usize,
    param: &GpuTensor,
    m: &GpuTensor,
    v: &GpuTensor,
) -> Result<Dispatch> {
    let op = "adam_step";
    cfg.validate()?;
    same(op, &[param, grad, m, v])?;
    if counters.dtype() != DType::U32 || counter_index >= counters.numel() {
        return Err(Error::shape(op, format!("step counter slot {counter_index} of {:?}", counters.shape())));
    }
    let lr_index = lr.check(op)?;
    let n4 = vec4_count(op, param)?;
    let params = AdamParams {
        n4,
        counter_index: counter_index as u32,
        lr_index,
        beta1: cfg.beta1,
        beta2: cfg.beta2,
        eps: cfg.eps,
        weight_decay: cfg.weight_decay,
        decoupled: cfg.decoupled as u32,
    };
    let label = format!("{op} {} {:?}", param.label(), param.shape());
    let grid = vec4_grid(gpu, &label, n4)?;
    gpu.dispatch(&KernelRef::new(&OPTIM, op), label, &[grad, counters, lr.tensor], &[param, m, v], &params, grid)
}

/// One SGD step; with `momentum_buf`, PyTorch's momentum SGD (no dampening, no Nesterov).
pub fn sgd_step(
    gpu: &Gpu,
    lr: f32,
    weight_decay: f32,
    momentum: Option<(f32, &GpuTensor)>,
    grad: &GpuTensor,
    param: &GpuTensor,
) -> Result<Dispatch> {
    let op = "sgd_step";
    let ok = |v: f32| v.is_finite() && v >= 0.0;
    if !ok(lr) || !ok(weight_decay) {
        return Err(Error::invalid("SGD", format!("learning rate {lr} and weight decay {weight_decay} must be finite and ≥ 0")));
    }
    same(op, &[param, grad])?;
    let n4 = vec4_count(op, param)?;
    let label = format!("{op} {} {:?}", param.label(), param.shape());
    let grid = vec4_grid(gpu, &label, n4)?;
    match momentum {
        None => {
            let params = SgdParams { n4, lr, weight_decay, momentum: 0.0 };
            gpu.dispatch(&KernelRef::new(&OPTIM, "sgd_step"), label, &[grad], &[param], &params, grid)
        }
        Some((mu, buf)) => {
            same(op, &[param, buf])?;
            let params = SgdParams { n4, lr, weight_decay, momentum: mu };
            gpu.dispatch(&KernelRef::new(&OPTIM, "sgd_momentum_step"), label, &[grad], &[param, buf], &params, grid)
        }
    }
}

/// One RMSprop step (PyTorch's, not centered, no momentum): `sq` is the running average of
/// squared gradients (zero at the start, as PyTorch's `square_avg`); the learning rate is in `lr`.
#[allow(clippy::too_many_arguments)]
pub fn rmsprop_step(gpu: &Gpu, lr: Lr, alpha: f32, eps: f32, weight_decay: f32, grad: &GpuTensor, param: &GpuTensor, sq: &GpuTensor) -> Result<Dispatch> {
    let op = "rmsprop_step";
    let ok = |v: f32| v.is_finite() && v >= 0.0;
    if !(ok(weight_decay) && (0.0..1.0).contains(&alpha) && eps.is_finite() && eps > 0.0) {
        return Err(Error::invalid("RMSprop", format!("weight decay {weight_decay} must be ≥ 0, alpha {alpha} in [0, 1), eps {eps} > 0")));
    }
    let lr_index = lr.check(op)?;
    same(op, &[param, grad, sq])?;
    let n4 = vec4_count(op, param)?;
    let label = format!("{op} {} {:?}", param.label(), param.shape());
    let grid = vec4_grid(gpu, &label, n4)?;
    let params = RmspropParams { n4, lr_index, alpha, eps, weight_decay, _pad0: 0, _pad1: 0, _pad2: 0 };
    gpu.dispatch(&KernelRef::new(&OPTIM, op), label, &[grad, lr.tensor], &[param, sq], &params, grid)
}

/// One update of the exponential moving average `avg` of `live` with decay `beta`, at step
/// t = counters[counter_index] (the live network's optimizer steps, bumped before):
/// bias-corrected, avg ← avg + (1 − β)/(1 − βᵗ)·(live − avg), or with `rampup` r > 0 a plain
/// EMA with β_t = min(β, 0.5^(1/(r·t))). See optim.wgsl.
pub fn ema_update(gpu: &Gpu, beta: f32, rampup: Option<f32>, live: &GpuTensor, counters: &GpuTensor, counter_index: usize, avg: &GpuTensor) -> Result<Dispatch> {
    let op = "ema_update";
    if !(0.0..1.0).contains(&beta) {
        return Err(Error::invalid("EMA", format!("decay {beta} must lie in [0, 1), e.g. 0.999")));
    }
    if rampup.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        return Err(Error::invalid("EMA", format!("ramp-up {rampup:?} must be a positive number, e.g. 0.05")));
    }
    same(op, &[avg, live])?;
    if counters.dtype() != DType::U32 || counter_index >= counters.numel() {
        return Err(Error::shape(op, format!("step counter slot {counter_index} of {:?}", counters.shape())));
    }
    let n4 = vec4_count(op, avg)?;
    let params = EmaParams { n4, counter_index: counter_index as u32, beta, rampup: rampup.unwrap_or(0.0) };
    let label = format!("{op} {} {:?}", avg.label(), avg.shape());
    let grid = vec4_grid(gpu, &label, n4)?;
    gpu.dispatch(&KernelRef::new(&OPTIM, op), label, &[live, counters], &[avg], &params, grid)
}
