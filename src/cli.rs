//! Command-line interface: flags, their help text and their validation. `--help` is generated
//! from the doc comments here.

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "shadergan",
    version,
    about = "GAN training as hand-written WGSL compute kernels on wgpu (Vulkan, Metal, DX12, GL)",
    long_about = None
)]
pub struct Cli {
    #[command(flatten)]
    pub adapter: AdapterArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct AdapterArgs {
    /// GPU adapter: its index in `shadergan devices` or part of its name (default: the best one:
    /// discrete > integrated > CPU, Vulkan/Metal/DX12 before GL).
    #[arg(long, global = true, env = "SHADERGAN_ADAPTER")]
    pub adapter: Option<String>,
    /// Restrict adapters to one backend: vulkan, metal, dx12 or gl.
    #[arg(long, global = true, env = "SHADERGAN_BACKEND")]
    pub backend: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the GPU adapters wgpu can see, with backend and driver.
    Devices,
    /// Check every kernel against the f64 CPU reference on this adapter.
    Check(CheckArgs),
    /// Time kernels on this adapter (GPU timestamps where available).
    Bench(BenchArgs),
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Check only this op (see the list in the error message for an unknown name).
    #[arg(long)]
    pub op: Option<String>,
    /// Seed for the random inputs; a failing run prints its seed so it can be replayed.
    #[arg(long, env = "SHADERGAN_SEED")]
    pub seed: Option<u64>,
    /// Print only failing rows and the summary.
    #[arg(long)]
    pub failures_only: bool,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Which op to time. This release times `matmul`.
    #[arg(long, default_value = "matmul")]
    pub op: String,
    /// Square sizes n (C[n,n] = A[n,n]·B[n,n]), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "256,1024,2048")]
    pub sizes: Vec<usize>,
    /// Kernels to time, comma-separated (default: every kernel this adapter supports).
    #[arg(long, value_delimiter = ',')]
    pub kernels: Vec<String>,
    /// Timed samples per case (the median is reported).
    #[arg(long, default_value_t = 15)]
    pub reps: usize,
    /// Untimed runs before the samples (the first compiles the shader).
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Time the naive kernel at every size (it needs ~45 s per 2048³ run on lavapipe, so by
    /// default it stops at 1024).
    #[arg(long)]
    pub naive_all: bool,
}
