//! The library's error type. Every variant renders as one line that names what is wrong and,
//! where there is one, the fix.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No adapter on any backend. The hint says how to get one on this platform.
    #[error("no GPU adapter found on {backends}; {hint}")]
    NoAdapter { backends: String, hint: &'static str },

    /// `--adapter`/`SHADERGAN_ADAPTER` matched nothing.
    #[error("no adapter matches '{wanted}' (available: {available}); run `shadergan devices` to list them")]
    AdapterNotFound { wanted: String, available: String },

    /// `--backend`/`SHADERGAN_BACKEND` named a backend wgpu does not have.
    #[error("unknown backend '{0}'; use one of vulkan, metal, dx12, gl")]
    UnknownBackend(String),

    #[error("could not open a device on adapter '{adapter}': {message}")]
    RequestDevice { adapter: String, message: String },

    /// A shader failed naga or backend validation. Names the file and entry point.
    #[error("shader {file} (entry point {entry}) failed to compile: {message}")]
    ShaderCompile { file: &'static str, entry: String, message: String },

    /// A kernel would exceed one of the adapter's limits.
    #[error("{kernel}: needs {what} = {needed}, but the adapter allows at most {allowed}")]
    Limit { kernel: String, what: &'static str, needed: u64, allowed: u64 },

    /// A kernel needs an optional feature the device does not have.
    #[error("{kernel}: needs the {feature} feature, which adapter '{adapter}' does not offer")]
    MissingFeature { kernel: String, feature: &'static str, adapter: String },

    /// Tensor shapes that do not fit together.
    #[error("{op}: {message}")]
    Shape { op: String, message: String },

    /// A value that makes no sense (negative learning rate, zero stride, ...).
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },

    /// Anything wgpu reported after validation (should not happen: a bug in shadergan).
    #[error("GPU error in {context}: {message} (this is a bug in shadergan; please report it)")]
    Gpu { context: String, message: String },

    /// The device (or SHADERGAN_MEMORY_LIMIT) has no room for a buffer.
    #[error("out of GPU memory on {device}: {what} needs {} MiB more, with {} MiB already held by shadergan; lower --batch-size (or --ngf/--ndf, --image-size)", mib(*bytes), mib(*held))]
    OutOfMemory { what: String, bytes: u64, held: u64, device: String },

    #[error("reading back {what} from the GPU failed: {message}")]
    Readback { what: String, message: String },

    /// The I/O error is part of the message, not a `source`: printed once, on one line.
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },

    /// A file whose content is not what it should be.
    #[error("{}: {message}", path.display())]
    BadFile { path: PathBuf, message: String },
}

/// Bytes in MiB, one decimal (a 4 KiB staging buffer is not "0 MiB").
fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1u64 << 20) as f64)
}

impl Error {
    pub fn shape(op: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Shape { op: op.into(), message: message.into() }
    }

    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { what: what.into(), message: message.into() }
    }

    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io { path: path.into(), error }
    }

    pub fn bad_file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::BadFile { path: path.into(), message: message.into() }
    }
}
