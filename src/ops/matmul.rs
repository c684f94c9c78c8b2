//! Host side of shaders/matmul.wgsl and shaders/matmul_subgroup.wgsl: C = alpha·op(A)·op(B)
//! + beta·C + bias. Math, layouts, tiles and grids are documented in the shader headers.

use bytemuck::{Pod, Zeroable};

use super::{expect_shape, u32_of};
use crate::error::{Error, Result};
use crate::gpu::shaders::{MATMUL, MATMUL_SUBGROUP};
use crate::gpu::{Dispatch, Gpu, GpuTensor, Grid, KernelFamily, KernelRef};

/// Mirrors `struct MatmulParams` in both matmul shaders, field for field.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct MatmulParams {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub trans_a: u32,
    pub trans_b: u32,
    pub has_bias: u32,
    pub alpha: f32,
    pub beta: f32,
}
const _: () = assert!(std::mem::size_of::<MatmulParams>() % 16 == 0);

/// The matmul kernels; all compute the same function (see shaders/matmul.wgsl KERNELS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulKernel {
    Naive,
    RegBlock,
    RegBlockVec4,
    SubgroupVec4,
    Tiled,
}

impl MatmulKernel {
    pub const ALL: [MatmulKernel; 5] = [
        MatmulKernel::Naive,
        MatmulKernel::RegBlock,
        MatmulKernel::RegBlockVec4,
        MatmulKernel::SubgroupVec4,
        MatmulKernel::Tiled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MatmulKernel::Naive => "naive",
            MatmulKernel::RegBlock => "regblock",
            MatmulKernel::RegBlockVec4 => "regblock_vec4",
            MatmulKernel::SubgroupVec4 => "sgbcast_vec4",
            MatmulKernel::Tiled => "tiled",
        }
    }

    /// Whether this kernel can compute `spec` on `gpu` (vec4 kernels need untransposed
    /// operands with K and N multiples of 4; the subgroup kernel needs SUBGROUP with a fixed
    /// subgroup size of at least 8).
    pub fn supports(self, gpu: &Gpu, spec: &MatmulSpec) -> bool {
        let vec4 = !spec.trans_a && !spec.trans_b && spec.k % 4 == 0 && spec.n % 4 == 0;
        match self {
            MatmulKernel::Naive | MatmulKernel::RegBlock | MatmulKernel::Tiled => true,
            MatmulKernel::RegBlockVec4 => vec4,
            MatmulKernel::SubgroupVec4 => vec4 && subgroup_size(gpu).is_some(),
        }
    }

    /// The fastest kernel for this adapter and shape (measured: PERF.md).
    pub fn choose(gpu: &Gpu, spec: &MatmulSpec) -> MatmulKernel {
        match gpu.caps.kernels {
            KernelFamily::WorkgroupTiled => MatmulKernel::Tiled,
            KernelFamily::RegisterBlocked => [MatmulKernel::SubgroupVec4, MatmulKernel::RegBlockVec4]
                .into_iter()
                .find(|k| k.supports(gpu, spec))
                .unwrap_or(MatmulKernel::RegBlock),
        }
    }
}

/// The subgroup size the subgroup kernel can run with: fixed, a power of two, 8..=64.
fn subgroup_size(gpu: &Gpu) -> Option<u32> {
    let sg = gpu.caps.subgroup_size;
    (gpu.caps.subgroups && sg.is_power_of_two() && (8..=64).contains(&sg)).then_some(sg)
}

/// Problem description: sizes, transposes and the epilogue.
#[derive(Clone, Copy, Debug)]
pub struct MatmulSpec {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub trans_a: bool,
    pub trans_b: bool,
    pub alpha: f32,
    pub beta: f32,
}

impl MatmulSpec {
    /// C[M,N] = A[M,K]·B[K,N]
    pub fn new(m: usize, n: usize, k: usize) -> Self {
        MatmulSpec { m, n, k, trans_a: false, trans_b: false, alpha: 1.0, beta: 0.0 }
    }

    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.n as f64 * self.k as f64
    }
}

const OP: &str = "matmul";

/// Prepare `c = alpha·op(a)·op(b) + beta·c (+ bias)` with the given kernel, or the adapter's
/// best one when `kernel` is None.
pub fn matmul(
    gpu: &Gpu,
    spec: &MatmulSpec,
    a: &GpuTensor,
    b: &GpuTensor,
    bias: Option<&GpuTensor>,
    c: &GpuTensor,
    kernel: Option<MatmulKernel>,
) -> Result<Dispatch> {
    let (m, n, k) = (spec.m, spec.n, spec.k);
    if m == 0 || n == 0 || k == 0 {
        return Err(Error::shape(OP, format!("empty problem M={m} N={n} K={k}")));
    }
    expect_shape(OP, "a", a, &if spec.trans_a { [k, m] } else { [m, k] })?;
    expect_shape(OP, "b", b, &if spec.trans_b { [n, k] } else { [k, n] })?;
    expect_shape(OP, "c", c, &[m, n])?;
    if let Some(bias) = bias {
        expect_shape(OP, "bias", bias, &[n])?;
    }
    let kernel = kernel.unwrap_or_else(|| MatmulKernel::choose(gpu, spec));
    if !kernel.supports(gpu, spec) {
        return Err(Error::invalid(
            format!("matmul kernel {}", kernel.name()),
            format!("cannot compute M={m} N={n} K={k} trans_a={} trans_b={} on this adapter", spec.trans_a, spec.trans_b),
        ));
    }
    let params = MatmulParams {
        m: u32_of(OP, "M", m)?,
        n: u32_of(OP, "N", n)?,
        k: u32_of(OP, "K", k)?,
        trans_a: spec.trans_a as u32,
        trans_b: spec.trans_b as u32,
        has_bias: bias.is_some() as u32,
        alpha: spec.alpha,
        beta: spec.beta,
    };
    let dummy;
    let bias = match bias {
        Some(t) => t,
        None => {
            dummy = gpu.dummy()?;
            &dummy
        }
    };
    let label = format!("matmul.{} {m}x{n}x{k}", kernel.name());
    let (kref, grid) = match kernel {
        MatmulKernel::Naive => (
            KernelRef::new(&MATMUL, "matmul_naive"),
            Grid::new(gpu, &label, n.div_ceil(16) as u64, m.div_ceil(16) as u64, 1)?,
        ),
        MatmulKernel::RegBlock => (
            KernelRef::new(&MATMUL, "matmul_regblock"),
            Grid::new(gpu, &label, n.div_ceil(64) as u64, m.div_ceil(64) as u64, 1)?,
        ),
        MatmulKernel::RegBlockVec4 => (
            KernelRef::new(&MATMUL, "matmul_regblock_vec4"),
            Grid::new(gpu, &label, n.div_ceil(64) as u64, m.div_ceil(64) as u64, 1)?,
        ),
        MatmulKernel::SubgroupVec4 => {
            let sg = subgroup_size(gpu).unwrap_or(8) as usize;
            let rows = (64 / sg) * 8;
            (
                KernelRef::new(&MATMUL_SUBGROUP, "matmul_sgbcast_vec4").with("SG", sg as f64),
                Grid::new(gpu, &label, n.div_ceil(8 * sg) as u64, m.div_ceil(rows) as u64, 1)?,
            )
        }
        MatmulKernel::Tiled => (
            KernelRef::new(&MATMUL, "matmul_tiled"),
            Grid::new(gpu, &label, n.div_ceil(64) as u64, m.div_ceil(64) as u64, 1)?,
        ),
    };
    gpu.dispatch(&kref, label, &[a, b, bias], &[c], &params, grid)
}
