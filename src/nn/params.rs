//! A network's parameters in flat GPU buffers: trainable tensors (weights, biases, BatchNorm
//! γ/β) with their gradients and Adam moments, and non-trainable buffers (BatchNorm running
//! statistics). Each tensor sits at an offset aligned for binding, so layers bind views of it,
//! one fill zeroes every gradient and one Adam dispatch updates the whole network (the padding
//! between tensors has zero gradient, so Adam leaves it at zero).

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor};
use crate::ops::{self, random::Distribution};

/// How a tensor is initialised.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    Normal { mean: f32, std: f32 },
    /// U(−bound, bound): PyTorch's default for Linear (kaiming_uniform(a=√5) gives 1/√fan_in).
    Uniform { bound: f32 },
    Constant(f32),
}

/// Whether Adam updates the tensor (and it has a gradient).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Trainable,
    Buffer,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    /// PyTorch state-dict key, e.g. `main.1.running_mean`.
    pub name: String,
    pub shape: Vec<usize>,
    pub kind: Kind,
    pub init: Init,
}

/// Offsets are multiples of this many f32 (256 bytes: the largest min_storage_buffer_offset_alignment
/// WebGPU allows), so every view can be bound on any adapter.
const ALIGN: usize = 64;

struct Region {
    buffer: Arc<wgpu::Buffer>,
    len: usize,
}

fn region(gpu: &Gpu, len: usize, label: &str) -> Result<Region> {
    let t = GpuTensor::zeros(gpu, &[len.max(ALIGN)], DType::F32, label)?;
    Ok(Region { buffer: t.buffer().clone(), len: len.max(ALIGN) })
}

fn view(gpu: &Gpu, r: &Region, offset: usize, shape: &[usize], label: &str) -> Result<GpuTensor> {
    GpuTensor::view(gpu, r.buffer.clone(), (offset * 4) as u64, shape, DType::F32, label)
}

/// One network's parameter storage.
pub struct ParamStore {
    pub specs: Vec<ParamSpec>,
    offsets: HashMap<String, usize>,
    /// Flat views over the whole trainable region: for fills and the single Adam dispatch.
    pub params: GpuTensor,
    pub grads: GpuTensor,
    pub adam_m: GpuTensor,
    pub adam_v: GpuTensor,
    /// Flat view over the non-trainable region (running statistics); None if there is none.
    pub buffers: Option<GpuTensor>,
    trainable: Region,
    grad: Region,
    m: Region,
    v: Region,
    buffer_region: Region,
    label: String,
    /// Whether gradients and optimizer moments exist (false: `weights_only`).
    trainable_state: bool,
}

impl ParamStore {
    /// Lay out and allocate (zero-filled) storage for `specs`, with gradients and optimizer
    /// moments; `label` prefixes buffer labels.
    pub fn new(gpu: &Gpu, label: &str, specs: Vec<ParamSpec>) -> Result<ParamStore> {
        Self::build(gpu, label, specs, true)
    }

    /// Storage for the weights and buffers only, for a network that is never trained itself
    /// (a sampler, a feature extractor, the generator's moving average): no gradient or
    /// optimizer-moment memory. Asking it for a gradient is an error; `grads`, `adam_m` and
    /// `adam_v` are placeholders of one aligned block, which no update accepts.
    pub fn weights_only(gpu: &Gpu, label: &str, specs: Vec<ParamSpec>) -> Result<ParamStore> {
        Self::build(gpu, label, specs, false)
    }

    fn build(gpu: &Gpu, label: &str, specs: Vec<ParamSpec>, trainable_state: bool) -> Result<ParamStore> {
        let mut offsets = HashMap::new();
        let (mut trainable_len, mut buffer_len) = (0usize, 0usize);
        for s in &specs {
            let n: usize = s.shape.iter().product();
            let cursor = match s.kind {
                Kind::Trainable => &mut trainable_len,
                Kind::Buffer => &mut buffer_len,
            };
            if offsets.insert(s.name.clone(), *cursor).is_some() {
                return Err(Error::invalid(label, format!("parameter {} defined twice", s.name)));
            }
            *cursor += n.next_multiple_of(ALIGN);
        }
        let trainable = region(gpu, trainable_len, &format!("{label}.params"))?;
        let state_len = if trainable_state { trainable_len } else { 0 };
        let grad = region(gpu, state_len, &format!("{label}.grads"))?;
        let m = region(gpu, state_len, &format!("{label}.adam_m"))?;
        let v = region(gpu, state_len, &format!("{label}.adam_v"))?;
        let buffer_region = region(gpu, buffer_len, &format!("{label}.buffers"))?;
        let flat = |r: &Region, l: &str| view(gpu, r, 0, &[r.len], l);
        Ok(ParamStore {
            params: flat(&trainable, &format!("{label}.params"))?,
            grads: flat(&grad, &format!("{label}.grads"))?,
            adam_m: flat(&m, &format!("{label}.adam_m"))?,
            adam_v: flat(&v, &format!("{label}.adam_v"))?,
            buffers: (buffer_len > 0).then(|| flat(&buffer_region, &format!("{label}.buffers"))).transpose()?,
            specs,
            offsets,
            trainable,
            grad,
            m,
            v,
            buffer_region,
            label: label.to_string(),
            trainable_state,
        })
    }

    /// Whether the store has gradients and optimizer moments (not `weights_only`).
    pub fn has_gradients(&self) -> bool {
        self.trainable_state
    }

    pub fn spec(&self, name: &str) -> Result<&ParamSpec> {
        self.specs.iter().find(|s| s.name == name).ok_or_else(|| Error::invalid(&self.label, format!("no parameter {name}")))
    }

    fn at(&self, name: &str, which: &str) -> Result<GpuTensor> {
        let s = self.spec(name)?;
        let off = self.offsets[name];
        if which != "param" && !self.trainable_state {
            return Err(Error::invalid(&self.label, format!("holds weights only: {name} has no {which}")));
        }
        let region = match (s.kind, which) {
            (Kind::Trainable, "param") => &self.trainable,
            (Kind::Trainable, "grad") => &self.grad,
            (Kind::Trainable, "adam_m") => &self.m,
            (Kind::Trainable, "adam_v") => &self.v,
            (Kind::Buffer, "param") => &self.buffer_region,
            _ => return Err(Error::invalid(&self.label, format!("{name} has no {which}"))),
        };
        // The device is only needed for the alignment check, which the layout guarantees.
        GpuTensor::view_unchecked(region.buffer.clone(), (off * 4) as u64, &s.shape, DType::F32, &format!("{}.{name}.{which}", self.label))
    }

    /// The tensor itself (weights, or a running statistic).
    pub fn param(&self, name: &str) -> Result<GpuTensor> {
        self.at(name, "param")
    }

    pub fn grad(&self, name: &str) -> Result<GpuTensor> {
        self.at(name, "grad")
    }

    pub fn adam_m(&self, name: &str) -> Result<GpuTensor> {
        self.at(name, "adam_m")
    }

    pub fn adam_v(&self, name: &str) -> Result<GpuTensor> {
        self.at(name, "adam_v")
    }

    /// The flat regions the trainer's state guard scans, with what each holds: ("param",
    /// weights), ("adam_m", …), ("adam_v", …) over the trainable tensors and ("buffer", …) over
    /// the running statistics.
    pub fn regions(&self) -> Vec<(&'static str, &GpuTensor)> {
        let mut r = vec![("param", &self.params)];
        if self.trainable_state {
            r.extend([("adam_m", &self.adam_m), ("adam_v", &self.adam_v)]);
        }
        if let Some(b) = &self.buffers {
            r.push(("buffer", b));
        }
        r
    }

    /// Name the element at `flat` of region `which` (see `regions`): the state-dict key, the
    /// optimizer state's key (`exp_avg.main.0.weight`) and the index within the tensor.
    pub fn locate(&self, which: &str, flat: usize) -> String {
        let kind = if which == "buffer" { Kind::Buffer } else { Kind::Trainable };
        let prefix = match which {
            "adam_m" => "exp_avg.",
            "adam_v" => "exp_avg_sq.",
            _ => "",
        };
        for s in self.specs.iter().filter(|s| s.kind == kind) {
            let (off, n) = (self.offsets[&s.name], s.shape.iter().product::<usize>());
            if (off..off + n).contains(&flat) {
                // Optimizer state under its checkpoint key: netG → optG.exp_avg.main.0.weight.
                let owner = if prefix.is_empty() { self.label.clone() } else { self.label.replacen("net", "opt", 1) };
                return format!("{owner}.{prefix}{} (element {})", s.name, flat - off);
            }
        }
        format!("{}.{which} (padding at {flat})", self.label)
    }

    /// Number of trainable scalars.
    pub fn trainable_count(&self) -> usize {
        self.specs.iter().filter(|s| s.kind == Kind::Trainable).map(|s| s.shape.iter().product::<usize>()).sum()
    }

    /// Dispatches that initialise every tensor from the Philox stream of `seed` (one stream per
    /// tensor, derived from the store's label and the tensor's name, so G's and D's
    /// `main.0.weight` differ), and zero gradients and Adam moments.
    pub fn init_dispatches(&self, gpu: &Gpu, seed: u64, counters: &GpuTensor, counter_index: usize) -> Result<Vec<Dispatch>> {
        let mut d = Vec::new();
        for s in &self.specs {
            let t = self.param(&s.name)?;
            let key = ops::random::RngKey { seed, stream: stream_of(&format!("{}.{}", self.label, s.name)), counter_index };
            d.push(match s.init {
                Init::Normal { mean, std } => ops::random::sample(gpu, Distribution::Normal { mean, std }, key, counters, &t)?,
                Init::Uniform { bound } => ops::random::sample(gpu, Distribution::Uniform { low: -bound, high: bound }, key, counters, &t)?,
                Init::Constant(c) => ops::elementwise::fill(gpu, &t, c)?,
            });
        }
        if self.trainable_state {
            for t in [&self.grads, &self.adam_m, &self.adam_v] {
                d.push(ops::elementwise::fill(gpu, t, 0.0)?);
            }
        }
        Ok(d)
    }
}

/// A stable 32-bit stream id for a tensor name (FNV-1a), so that adding a layer does not
/// change the initial values of the others.
pub fn stream_of(name: &str) -> u32 {
    let mut h = 0x811c_9dc5u32;
    for b in name.bytes() {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    h
}
