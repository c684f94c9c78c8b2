//! Host side of shaders/conv.wgsl (+ conv_subgroup.wgsl): the implicit-GEMM core that
//! conv2d and conv_transpose2d map their six passes onto. Math, modes, tiles and grids are in
//! the shader header; this module picks the kernel, the split-K factor and the scratch buffers.

use bytemuck::{Pod, Zeroable};

use super::reduce;
use super::u32_of;
use crate::error::{Error, Result};
use crate::gpu::shaders::{CONV, CONV_SUBGROUP};
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor, Grid, KernelFamily, KernelRef};

/// Mirrors `struct ConvParams` in shaders/conv.wgsl, field for field.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct ConvParams {
    pub batch: u32,
    pub cx: u32,
    pub hx: u32,
    pub wx: u32,
    pub m: u32,
    pub ho: u32,
    pub wo: u32,
    pub has_bias: u32,
    pub kh: u32,
    pub kw: u32,
    pub stride: u32,
    pub pad: u32,
    pub n: u32,
    pub k: u32,
    pub jy: u32,
    pub jx: u32,
    pub k_split: u32,
    pub accumulate: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}
const _: () = assert!(std::mem::size_of::<ConvParams>() % 16 == 0);

/// The gather modes of shaders/conv.wgsl (values match its MODE_* constants).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// out[b,m,o] = Σ A[m,(c,k)]·x[b,c,o·s−p+k]: conv2d forward, conv_transpose2d backward-input.
    Conv = 0,
    /// out[b,m,o] = Σ x[b,c,i]·w[c,m,k], o = i·s−p+k: conv_transpose2d forward, conv2d backward-input.
    ConvT = 1,
    /// dw[m,(c,k)] += Σ g[b,m,o]·x[b,c,o·s−p+k]: both weight gradients.
    WGrad = 2,
}

/// The conv GEMM kernels; all compute the same function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvKernel {
    RegBlock,
    Subgroup,
    Tiled,
}

impl ConvKernel {
    pub const ALL: [ConvKernel; 3] = [ConvKernel::RegBlock, ConvKernel::Subgroup, ConvKernel::Tiled];

    pub fn name(self) -> &'static str {
        match self {
            ConvKernel::RegBlock => "regblock",
            ConvKernel::Subgroup => "subgroup",
            ConvKernel::Tiled => "tiled",
        }
    }

    pub fn available(self, gpu: &Gpu) -> bool {
        match self {
            ConvKernel::Subgroup => subgroup_size(gpu).is_some(),
            _ => true,
        }
    }

    /// The fastest kernel for this adapter and `m` GEMM rows (PERF.md): on register-blocked
    /// adapters the subgroup kernel, except for up to 16 rows, where the subgroup kernel's
    /// 64-row tile leaves most lanes idle and the register-block kernel's 8×512 or 16×256 tile
    /// wastes least.
    pub fn choose(gpu: &Gpu, m: usize) -> ConvKernel {
        match gpu.caps.kernels {
            KernelFamily::WorkgroupTiled => ConvKernel::Tiled,
            KernelFamily::RegisterBlocked if m > 16 && ConvKernel::Subgroup.available(gpu) => ConvKernel::Subgroup,
            KernelFamily::RegisterBlocked => ConvKernel::RegBlock,
        }
    }
}

fn subgroup_size(gpu: &Gpu) -> Option<u32> {
    let sg = gpu.caps.subgroup_size;
    (gpu.caps.subgroups && sg.is_power_of_two() && (8..=64).contains(&sg)).then_some(sg)
}

/// One implicit-GEMM problem in the shader's vocabulary: the gathered tensor x [B, Cx, Hx, Wx],
/// M rows, the output (or, for WGRAD, g's) grid Ho×Wo, a KH×KW kernel, stride and padding.
#[derive(Clone, Copy, Debug)]
pub struct GemmProblem {
    pub mode: Mode,
    pub batch: usize,
    pub cx: usize,
    pub hx: usize,
    pub wx: usize,
    pub m: usize,
    pub ho: usize,
    pub wo: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
}

impl GemmProblem {
    /// (N, K, phases) of the GEMM; for ConvT, N is the largest phase's column count.
    fn sizes(&self) -> (usize, usize, usize) {
        let s = self.stride;
        match self.mode {
            Mode::Conv => (self.batch * self.ho * self.wo, self.cx * self.kh * self.kw, 1),
            Mode::ConvT => {
                let (jy, jx) = (self.kh.div_ceil(s), self.kw.div_ceil(s));
                (self.batch * self.ho.div_ceil(s) * self.wo.div_ceil(s), self.cx * jy * jx, s * s)
            }
            Mode::WGrad => (self.cx * self.kh * self.kw, self.batch * self.ho * self.wo, 1),
        }
    }

    /// Multiply-adds ×2 actually performed (ConvT: only the taps that reach each phase).
    pub fn flops(&self) -> f64 {
        let (n, k, phases) = self.sizes();
        2.0 * self.m as f64 * n as f64 * k as f64 * phases as f64
    }
}

/// Workgroups a weight gradient should spread over before split-K stops paying: enough for
/// every lavapipe thread (and some balance) on CPU adapters, a few per SM on GPUs.
fn target_workgroups(gpu: &Gpu) -> usize {
    match gpu.caps.kernels {
        KernelFamily::RegisterBlocked => 16,
        KernelFamily::WorkgroupTiled => 256,
    }
}

/// Prepare one conv GEMM: `out (op)= A ⊛ x` in `problem.mode`. `a` is the weight
/// ([M, Cx, KH, KW] for Conv, [Cx, M, KH, KW] for ConvT) or g ([B, M, Ho, Wo], WGrad).
/// Returns the dispatches in order (ConvT: weight repack first; WGrad with split-K: the
/// partial-sum reduction last), with their scratch buffers owned by the bind groups.
#[allow(clippy::too_many_arguments)]
pub fn conv_gemm(
    gpu: &Gpu,
    op: &str,
    problem: &GemmProblem,
    a: &GpuTensor,
    x: &GpuTensor,
    bias: Option<&GpuTensor>,
    out: &GpuTensor,
    kernel: Option<ConvKernel>,
) -> Result<Vec<Dispatch>> {
    let pr = problem;
    if pr.stride == 0 {
        return Err(Error::shape(op, "stride must be at least 1"));
    }
    let kernel = kernel.unwrap_or_else(|| ConvKernel::choose(gpu, pr.m));
    if !kernel.available(gpu) {
        return Err(Error::MissingFeature {
            kernel: format!("{op} ({} kernel)", kernel.name()),
            feature: "SUBGROUP with a fixed subgroup size of 8 to 64",
            adapter: gpu.info.name.clone(),
        });
    }
    let (n, k, phases) = pr.sizes();
    let s = pr.stride;
    let (jy, jx) = match pr.mode {
        Mode::ConvT => (pr.kh.div_ceil(s), pr.kw.div_ceil(s)),
        _ => (0, 0),
    };
    let u = |what: &str, v: usize| u32_of(op, what, v);
    let mut params = ConvParams {
        batch: u("batch", pr.batch)?,
        cx: u("channels", pr.cx)?,
        hx: u("height", pr.hx)?,
        wx: u("width", pr.wx)?,
        m: u("channels", pr.m)?,
        ho: u("height", pr.ho)?,
        wo: u("width", pr.wo)?,
        has_bias: bias.is_some() as u32,
        kh: u("kernel height", pr.kh)?,
        kw: u("kernel width", pr.kw)?,
        stride: u("stride", s)?,
        pad: u("padding", pr.pad)?,
        n: u("GEMM columns", n)?,
        k: u("GEMM depth", k)?,
        jy: jy as u32,
        jx: jx as u32,
        k_split: 0,
        accumulate: (pr.mode == Mode::WGrad) as u32,
        ..Default::default()
    };
    // Every u32 index the shader forms must fit: the largest is an element of x, out or a.
    for t in [a, x, out] {
        u(&format!("elements of {}", t.label()), t.numel())?;
    }
    let a_vec4 = match pr.mode {
        Mode::WGrad => (pr.ho * pr.wo) % 4 == 0,
        _ => k % 4 == 0,
    };

    // Tiles per grid slice, from the kernel's tile shape.
    let sg = subgroup_size(gpu).unwrap_or(8) as usize;
    // The register-block kernel stacks 8 lanes on rows (64×64 tile), 2 when M ≤ 16 (16×256),
    // 1 when M ≤ 8 (8×512).
    let row_lanes = if pr.m <= 8 { 1 } else if pr.m <= 16 { 2 } else { 8 };
    let (tile_m, tile_n) = match kernel {
        ConvKernel::Subgroup => (8 * sg, (64 / sg) * 8),
        ConvKernel::RegBlock => (8 * row_lanes, (64 / row_lanes) * 8),
        ConvKernel::Tiled => (64, 64),
    };
    let tiles = pr.m.div_ceil(tile_m) * n.div_ceil(tile_n);

    let mut dispatches = Vec::new();
    let dummy;
    let bias = match bias {
        Some(b) => b,
        None => {
            dummy = gpu.dummy()?;
            &dummy
        }
    };
    let shape = format!(
        "x[{},{},{},{}] M={} out {}x{} k{}x{} s{} p{}",
        pr.batch, pr.cx, pr.hx, pr.wx, pr.m, pr.ho, pr.wo, pr.kh, pr.kw, s, pr.pad
    );

    // MODE_CONVT reads the weights repacked per phase (see the shader header).
    let repacked;
    let a = if pr.mode == Mode::ConvT {
        repacked = GpuTensor::zeros(gpu, &[phases, pr.m, k], DType::F32, &format!("{op}.weight.repacked"))?;
        let total = (phases * pr.m * k) as u64;
        let grid = Grid::for_items(gpu, op, total, 256)?;
        dispatches.push(gpu.dispatch(
            &KernelRef::new(&CONV, "conv_repack_convt"),
            format!("{op}.repack {shape}"),
            &[a],
            &[&repacked],
            &params,
            grid,
        )?);
        &repacked
    } else {
        a
    };

    // Split-K where few tiles would leave the device idle: weight gradients (K = B·Ho·Wo, in the
    // tens of thousands) and forwards of few tiles and deep K (D's last layer: M = 1, N = B,
    // K = 8 192). Slices of at least `min_slice` k, a multiple of 16 (the tiled kernel's T_BK
    // and the 4-k chunk); partials summed by sum_leading in fixed order.
    let mut z = phases;
    let mut partials = None;
    let min_slice = match pr.mode {
        Mode::WGrad => Some(1024),
        Mode::Conv if tiles < target_workgroups(gpu) => Some(256),
        _ => None,
    };
    if let Some(min_slice) = min_slice {
        let want = target_workgroups(gpu).div_ceil(tiles.max(1));
        let splits = want.min(k / min_slice).max(1);
        let k_split = k.div_ceil(splits).next_multiple_of(16);
        let splits = k.div_ceil(k_split);
        // WGRAD always walks k_range by k_split; CONV only when split (k_split > 0).
        if pr.mode == Mode::WGrad || splits > 1 {
            params.k_split = u("k per split", k_split)?;
        }
        if splits > 1 {
            params.accumulate = 0;
            partials = Some(GpuTensor::zeros(gpu, &[splits, out.numel()], DType::F32, &format!("{op}.split_partials"))?);
        }
        z = splits;
    }
    let gemm_out = partials.as_ref().unwrap_or(out);

    let kref = match kernel {
        ConvKernel::RegBlock => KernelRef::new(&CONV, "conv_gemm_regblock").with("ROW_LANES", row_lanes as f64),
        ConvKernel::Tiled => KernelRef::new(&CONV, "conv_gemm_tiled"),
        ConvKernel::Subgroup => KernelRef::new(&CONV_SUBGROUP, "conv_gemm_subgroup").with("SG", sg as f64),
    }
    .with("MODE", pr.mode as u32 as f64)
    .with("A_VEC4", a_vec4 as u32 as f64);
    let label = format!("{op}.gemm.{} {shape}", kernel.name());
    let grid = Grid::new(gpu, &label, n.div_ceil(tile_n) as u64, pr.m.div_ceil(tile_m) as u64, z as u64)?;
    dispatches.push(gpu.dispatch(&kref, label, &[a, x, bias], &[gemm_out], &params, grid)?);

    if let Some(partials) = &partials {
        // WGRAD accumulates into dw (+=, a parameter gradient); a forward overwrites.
        dispatches.push(reduce::sum_leading(gpu, op, partials, out, pr.mode == Mode::WGrad)?);
    }
    Ok(dispatches)
}
