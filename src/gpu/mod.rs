//! The long-lived GPU context: instance, adapter choice, device, queue, limits, the pipeline
//! cache and the error sink. Created once per process (wgpu's `repeated_compute` model) and
//! shared by reference; nothing here is created per kernel launch.

pub mod dispatch;
pub mod pipeline;
pub mod shaders;
pub mod tensor;

use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
pub use dispatch::{Dispatch, Grid};
pub use pipeline::KernelRef;
pub use tensor::{DType, GpuTensor};

/// Environment variable naming the adapter (same as `--adapter`).
pub const ENV_ADAPTER: &str = "SHADERGAN_ADAPTER";
/// Environment variable naming the backend (same as `--backend`).
pub const ENV_BACKEND: &str = "SHADERGAN_BACKEND";
/// Environment variable forcing the kernel family (`regblock` or `tiled`), for testing both.
pub const ENV_KERNELS: &str = "SHADERGAN_KERNELS";
/// Environment variable capping the bytes of GPU tensors shadergan creates (e.g. `512M`,
/// `2G`): on a GPU shared with other programs, fail early with a clear error instead of
/// taking memory they need. Going past it is reported exactly as the device running out.
pub const ENV_MEMORY_LIMIT: &str = "SHADERGAN_MEMORY_LIMIT";

/// Parse a byte count with an optional K/M/G suffix (powers of 1024).
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, shift) = match t.char_indices().last()? {
        (i, 'k' | 'K') => (&t[..i], 10),
        (i, 'm' | 'M') => (&t[..i], 20),
        (i, 'g' | 'G') => (&t[..i], 30),
        _ => (t, 0),
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(1 << shift)
}

const NO_ADAPTER_HINT: &str = "on a headless Linux machine install Mesa's software Vulkan driver \
(lavapipe): `apt-get install mesa-vulkan-drivers`; elsewhere install your GPU's Vulkan, Metal or DX12 driver";

/// Which adapter the user asked for. Empty means "the best one".
#[derive(Clone, Debug, Default)]
pub struct AdapterChoice {
    /// Case-insensitive substring of the adapter name, or its index in `shadergan devices`.
    pub name: Option<String>,
    /// vulkan | metal | dx12 | gl
    pub backend: Option<String>,
}

impl AdapterChoice {
    /// Fill in unset fields from `SHADERGAN_ADAPTER` / `SHADERGAN_BACKEND`.
    pub fn with_env(mut self) -> Self {
        if self.name.is_none() {
            self.name = std::env::var(ENV_ADAPTER).ok().filter(|s| !s.is_empty());
        }
        if self.backend.is_none() {
            self.backend = std::env::var(ENV_BACKEND).ok().filter(|s| !s.is_empty());
        }
        self
    }

    fn backends(&self) -> Result<wgpu::Backends> {
        match &self.backend {
            None => Ok(wgpu::Backends::all()),
            Some(b) => parse_backend(b),
        }
    }
}

pub fn parse_backend(name: &str) -> Result<wgpu::Backends> {
    match name.to_ascii_lowercase().as_str() {
        "vulkan" | "vk" => Ok(wgpu::Backends::VULKAN),
        "metal" | "mtl" => Ok(wgpu::Backends::METAL),
        "dx12" | "d3d12" => Ok(wgpu::Backends::DX12),
        "gl" | "gles" | "opengl" => Ok(wgpu::Backends::GL),
        _ => Err(Error::UnknownBackend(name.to_string())),
    }
}

/// The family of kernels that suits an adapter (see shaders/matmul.wgsl and ../shared/PLATFORM.md):
/// software rasterisers (lavapipe, llvmpipe, WARP) turn every workgroup-memory access into a
/// per-lane scalar loop, so big per-invocation register blocks win there; real GPUs want
/// workgroup-memory tiles with coalesced loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelFamily {
    RegisterBlocked,
    WorkgroupTiled,
}

impl KernelFamily {
    pub fn name(self) -> &'static str {
        match self {
            KernelFamily::RegisterBlocked => "regblock",
            KernelFamily::WorkgroupTiled => "tiled",
        }
    }
}

/// What this device can do, decided once at creation.
#[derive(Clone, Debug)]
pub struct Caps {
    /// SUBGROUP is enabled on the device (Vulkan/Metal/DX12; never on GL).
    pub subgroups: bool,
    /// The adapter reports one fixed subgroup size (lavapipe: 8); 0 when it varies or is unknown.
    pub subgroup_size: u32,
    /// TIMESTAMP_QUERY is enabled (per-pass GPU timing in `bench`).
    pub timestamps: bool,
    pub kernels: KernelFamily,
}

/// One adapter as listed by `shadergan devices`.
pub struct AdapterEntry {
    pub index: usize,
    pub adapter: wgpu::Adapter,
    pub info: wgpu::AdapterInfo,
}

impl AdapterEntry {
    pub fn describe(&self) -> String {
        let i = &self.info;
        format!(
            "[{}] {} ({:?}, {:?}) driver: {} {}",
            self.index, i.name, i.backend, i.device_type, i.driver, i.driver_info
        )
    }
}

fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    // Debug builds default to backend validation, which costs ~1.5 s per device on lavapipe
    // (../shared/PLATFORM.md §6); keep wgpu's choice but let WGPU_VALIDATION/WGPU_DEBUG override it.
    desc.flags = wgpu::InstanceFlags::from_build_config().with_env();
    wgpu::Instance::new(desc)
}

fn type_rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

fn backend_rank(b: wgpu::Backend) -> u8 {
    match b {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        _ => 1,
    }
}

/// All adapters on the chosen backends, best first: discrete > integrated > virtual > CPU, and
/// Vulkan/Metal/DX12 before GL for the same kind. The index is the position in this order.
pub fn list_adapters(choice: &AdapterChoice) -> Result<Vec<AdapterEntry>> {
    let backends = choice.backends()?;
    let inst = instance(backends);
    let mut adapters: Vec<(wgpu::Adapter, wgpu::AdapterInfo)> = pollster::block_on(inst.enumerate_adapters(backends))
        .into_iter()
        .map(|a| {
            let info = a.get_info();
            (a, info)
        })
        .collect();
    adapters.sort_by_key(|(_, i)| (type_rank(i.device_type), backend_rank(i.backend)));
    Ok(adapters
        .into_iter()
        .enumerate()
        .map(|(index, (adapter, info))| AdapterEntry { index, adapter, info })
        .collect())
}

fn backends_name(choice: &AdapterChoice) -> String {
    match &choice.backend {
        Some(b) => format!("backend '{b}'"),
        None => "any backend (Vulkan, Metal, DX12, GL)".to_string(),
    }
}

/// Pick the adapter the user asked for, or the best one.
pub fn choose_adapter(choice: &AdapterChoice) -> Result<AdapterEntry> {
    let mut all = list_adapters(choice)?;
    if all.is_empty() {
        return Err(Error::NoAdapter { backends: backends_name(choice), hint: NO_ADAPTER_HINT });
    }
    let Some(wanted) = &choice.name else {
        return Ok(all.remove(0));
    };
    let pos = match wanted.parse::<usize>() {
        Ok(i) => all.iter().position(|e| e.index == i),
        Err(_) => {
            let w = wanted.to_lowercase();
            all.iter().position(|e| e.info.name.to_lowercase().contains(&w))
        }
    };
    match pos {
        Some(p) => Ok(all.remove(p)),
        None => Err(Error::AdapterNotFound {
            wanted: wanted.clone(),
            available: all
                .iter()
                .map(|e| format!("[{}] {} ({:?})", e.index, e.info.name, e.info.backend))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// The limits shadergan asks for: the WebGPU defaults (8 storage buffers per stage, 256
/// invocations and 16 KiB of workgroup memory per workgroup, 65535 workgroups per dimension),
/// lowered where the adapter offers less, and the buffer-size limits raised to what the adapter
/// offers, because datasets and activations of real models outgrow 128/256 MiB. Kernels check
/// their needs against these (see `dispatch.rs`) and fail with a typed error, not a panic.
pub fn requested_limits(adapter: &wgpu::Limits) -> wgpu::Limits {
    let mut want = wgpu::Limits::defaults().or_worse_values_from(adapter);
    want.max_storage_buffer_binding_size = adapter.max_storage_buffer_binding_size;
    want.max_buffer_size = adapter.max_buffer_size;
    want
}

/// Cloning is cheap and shares the device, queue and compiled pipelines.
#[derive(Clone)]
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub caps: Caps,
    /// Shared by clones (same device, same kernels); forks with other limits or sources get
    /// their own.
    pipelines: Arc<pipeline::PipelineCache>,
    /// Errors wgpu reported outside an error scope; drained by `check_errors`.
    uncaptured: Arc<Mutex<Vec<String>>>,
    /// A 4-element tensor bound where a kernel's optional input is absent (a bias).
    dummy: std::sync::OnceLock<GpuTensor>,
    /// Every buffer shadergan creates is counted here (shared by clones and forks).
    allocations: Arc<Allocations>,
    /// SHADERGAN_MEMORY_LIMIT, if set: the most bytes of storage buffers (tensors) to create.
    memory_limit: Option<u64>,
}

/// GPU buffers created through `Gpu::create_buffer*`, for the check that training allocates
/// nothing after its first step.
#[derive(Debug, Default)]
pub struct Allocations {
    buffers: std::sync::atomic::AtomicU64,
    bytes: std::sync::atomic::AtomicU64,
    /// Bytes of storage buffers (tensors), the part SHADERGAN_MEMORY_LIMIT caps; staging and
    /// uniform buffers are small or short-lived.
    tensor_bytes: std::sync::atomic::AtomicU64,
}

impl Gpu {
    /// Open the adapter the user asked for (flags, then environment, then the best one).
    pub fn new(choice: &AdapterChoice) -> Result<Gpu> {
        let choice = choice.clone().with_env();
        let entry = choose_adapter(&choice)?;
        // Picked by default, GL means no Vulkan/Metal/DX12 driver answered: say so, because GL
        // runs the same kernels several times slower and the fix is one install away.
        if choice.backend.is_none() && entry.info.backend == wgpu::Backend::Gl {
            eprintln!("warning: no Vulkan, Metal or DX12 adapter found, using OpenGL ({}); {NO_ADAPTER_HINT}", entry.info.name);
        }
        Gpu::from_adapter(entry.adapter)
    }

    pub fn from_adapter(adapter: wgpu::Adapter) -> Result<Gpu> {
        let info = adapter.get_info();
        let available = adapter.features();
        // Only the optional features kernels use, each with a fallback where missing.
        let mut features = wgpu::Features::empty();
        for f in [wgpu::Features::TIMESTAMP_QUERY, wgpu::Features::SUBGROUP] {
            if available.contains(f) {
                features |= f;
            }
        }
        let memory_limit = match std::env::var(ENV_MEMORY_LIMIT) {
            Ok(v) if !v.trim().is_empty() => Some(parse_bytes(&v).ok_or_else(|| {
                Error::invalid(ENV_MEMORY_LIMIT, format!("'{v}' is not a byte count; use e.g. 512M or 2G, or unset it"))
            })?),
            _ => None,
        };
        let limits = requested_limits(&adapter.limits());
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("shadergan"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::RequestDevice { adapter: info.name.clone(), message: e.to_string() })?;

        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().unwrap_or_else(|p| p.into_inner()).push(e.to_string());
        }));

        let kernels = match std::env::var(ENV_KERNELS).ok().as_deref() {
            Some("regblock") => KernelFamily::RegisterBlocked,
            Some("tiled") => KernelFamily::WorkgroupTiled,
            _ if info.device_type == wgpu::DeviceType::Cpu => KernelFamily::RegisterBlocked,
            _ => KernelFamily::WorkgroupTiled,
        };
        let subgroups = features.contains(wgpu::Features::SUBGROUP);
        let caps = Caps {
            subgroups,
            subgroup_size: if subgroups && info.subgroup_min_size == info.subgroup_max_size {
                info.subgroup_min_size
            } else {
                0
            },
            timestamps: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            kernels,
        };
        Ok(Gpu {
            device,
            queue,
            info,
            limits,
            caps,
            pipelines: Arc::new(pipeline::PipelineCache::default()),
            uncaptured,
            dummy: std::sync::OnceLock::new(),
            allocations: Arc::new(Allocations::default()),
            memory_limit,
        })
    }

    /// A small zero tensor to bind where an optional input is absent; the kernel's params say
    /// not to read it.
    pub fn dummy(&self) -> Result<GpuTensor> {
        if let Some(t) = self.dummy.get() {
            return Ok(t.clone());
        }
        let t = GpuTensor::zeros(self, &[4], DType::F32, "absent")?;
        Ok(self.dummy.get_or_init(|| t).clone())
    }

    /// The same device under lower limits than it really has (so every dispatch stays
    /// valid). The correctness suite uses it to exercise grid folding and dataset chunking,
    /// which the real limits reach only with huge tensors. Raising a limit here is a bug.
    pub fn with_limits(&self, lower: impl FnOnce(&mut wgpu::Limits)) -> Gpu {
        let mut limits = self.limits.clone();
        lower(&mut limits);
        let limits = limits.or_worse_values_from(&self.limits);
        Gpu {
            device: self.device.clone(),
            queue: self.queue.clone(),
            info: self.info.clone(),
            limits,
            caps: self.caps.clone(),
            pipelines: Arc::new(pipeline::PipelineCache::default()),
            uncaptured: self.uncaptured.clone(),
            dummy: std::sync::OnceLock::new(),
            // A fork counts its own allocations (tests measure one workload in isolation).
            allocations: Arc::new(Allocations::default()),
            memory_limit: self.memory_limit,
        }
    }

    /// The same device with grids folded once they pass `cap` workgroups per dimension.
    pub fn with_workgroup_cap(&self, cap: u32) -> Gpu {
        self.with_limits(|l| l.max_compute_workgroups_per_dimension = cap.max(1))
    }

    /// The same device with module `shader` compiled from `source` instead of the embedded
    /// file. The mutation tests use it to break a kernel on purpose and see the correctness
    /// suite fail.
    pub fn with_shader_source(&self, shader: &'static shaders::Shader, source: String) -> Gpu {
        let mut cache = pipeline::PipelineCache::default();
        cache.sources.insert(shader.file, source);
        Gpu { pipelines: Arc::new(cache), ..self.clone() }
    }

    /// The same device with SHADERGAN_MEMORY_LIMIT set to `bytes` (a fork, counting from zero).
    pub fn with_memory_limit(&self, bytes: u64) -> Gpu {
        Gpu { memory_limit: Some(bytes), ..self.with_limits(|_| {}) }
    }

    /// Create a buffer (counted in `allocated`). The device running out of memory, or the
    /// buffer passing SHADERGAN_MEMORY_LIMIT, is `Error::OutOfMemory` naming the buffer.
    pub fn create_buffer(&self, desc: &wgpu::BufferDescriptor) -> Result<wgpu::Buffer> {
        let storage = desc.usage.contains(wgpu::BufferUsages::STORAGE);
        self.reserve(desc.label, desc.size, storage)?;
        // Out-of-memory is reported through an error scope, not as a failed call; an error
        // scope resolves at once on native backends.
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buffer = self.device.create_buffer(desc);
        if pollster::block_on(scope.pop()).is_some() {
            return Err(self.out_of_memory(desc.label, desc.size));
        }
        self.count(desc.size, storage);
        Ok(buffer)
    }

    /// Create a buffer with contents (counted in `allocated`).
    pub fn create_buffer_init(&self, desc: &wgpu::util::BufferInitDescriptor) -> Result<wgpu::Buffer> {
        use wgpu::util::DeviceExt;
        let (size, storage) = (desc.contents.len() as u64, desc.usage.contains(wgpu::BufferUsages::STORAGE));
        self.reserve(desc.label, size, storage)?;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buffer = self.device.create_buffer_init(desc);
        if pollster::block_on(scope.pop()).is_some() {
            return Err(self.out_of_memory(desc.label, size));
        }
        self.count(size, storage);
        Ok(buffer)
    }

    fn reserve(&self, label: Option<&str>, bytes: u64, storage: bool) -> Result<()> {
        use std::sync::atomic::Ordering::Relaxed;
        match self.memory_limit {
            Some(limit) if storage && self.allocations.tensor_bytes.load(Relaxed) + bytes > limit => Err(self.out_of_memory(label, bytes)),
            _ => Ok(()),
        }
    }

    fn out_of_memory(&self, label: Option<&str>, bytes: u64) -> Error {
        use std::sync::atomic::Ordering::Relaxed;
        let limit = self.memory_limit.map(|l| format!(" ({ENV_MEMORY_LIMIT} = {} MiB)", l >> 20)).unwrap_or_default();
        Error::OutOfMemory {
            what: label.unwrap_or("a buffer").to_string(),
            bytes,
            held: self.allocations.tensor_bytes.load(Relaxed),
            device: format!("{}{limit}", self.info.name),
        }
    }

    fn count(&self, bytes: u64, storage: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        self.allocations.buffers.fetch_add(1, Relaxed);
        self.allocations.bytes.fetch_add(bytes, Relaxed);
        if storage {
            self.allocations.tensor_bytes.fetch_add(bytes, Relaxed);
        }
    }

    /// (buffers, bytes) created so far through this device's `create_buffer*`.
    pub fn allocated(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.allocations.buffers.load(Relaxed), self.allocations.bytes.load(Relaxed))
    }

    /// One line naming the adapter, for logs and run directories.
    pub fn describe(&self) -> String {
        let i = &self.info;
        format!("{} ({:?}, {:?}, driver {} {})", i.name, i.backend, i.device_type, i.driver, i.driver_info)
    }

    /// Turn errors wgpu reported asynchronously into a `Result`.
    pub fn check_errors(&self, context: &str) -> Result<()> {
        let mut errs = self.uncaptured.lock().unwrap_or_else(|p| p.into_inner());
        if errs.is_empty() {
            return Ok(());
        }
        let message = errs.join("; ");
        errs.clear();
        if message.contains("Out of Memory") {
            use std::sync::atomic::Ordering::Relaxed;
            return Err(Error::OutOfMemory { what: context.to_string(), bytes: 0, held: self.allocations.tensor_bytes.load(Relaxed), device: self.info.name.clone() });
        }
        Err(Error::Gpu { context: context.to_string(), message })
    }

    /// Block until all submitted work has finished.
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu { context: "waiting for the GPU".into(), message: e.to_string() })?;
        self.check_errors("waiting for the GPU")
    }

    /// Record `dispatches` into one compute pass of one encoder, submit once and wait.
    /// For tests, `check` and one-off work; the trainer records its own step encoder.
    pub fn run(&self, label: &str, dispatches: &[&Dispatch]) -> Result<()> {
        let mut enc = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
        {
            let mut pass =
                enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(label), timestamp_writes: None });
            for d in dispatches {
                d.record(&mut pass);
            }
        }
        self.queue.submit([enc.finish()]);
        self.wait()
    }
}
