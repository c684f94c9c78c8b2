//! Host side of shaders/loss.wgsl: the GAN losses (BCE with logits, least squares, hinge,
//! linear/Wasserstein) and softmax cross-entropy, value and gradient in one pass over any
//! number of elements. One dispatch when the elements fit one workgroup's chunk (a batch of
//! logits), two — partial sums, then their fixed-order sum — beyond (a reconstruction loss).

use bytemuck::{Pod, Zeroable};

use super::u32_of;
use crate::error::{Error, Result};
use crate::gpu::shaders::LOSS;
use crate::gpu::{DType, Dispatch, Gpu, GpuTensor, Grid, KernelRef};

/// Elements (softmax: rows) one workgroup reduces: CHUNK in loss.wgsl.
pub const CHUNK: usize = 1024;

/// Mirrors `struct LossParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct LossParams {
    pub n: u32,
    pub out_index: u32,
    pub scale: f32,
    pub kind: u32,
    pub groups: u32,
    pub classes: u32,
    /// Logits between consecutive elements (softmax: rows) of a column view; see `LAYOUT`.
    pub stride: u32,
    /// Where element 0 (softmax: row 0's first class) sits in logits and dlogits.
    pub offset: u32,
}
const _: () = assert!(std::mem::size_of::<LossParams>() % 16 == 0);

/// The elementwise losses of `elementwise_loss` (the `kind` codes of loss.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elementwise {
    /// −[t·log σ(x) + (1−t)·log(1−σ(x))]; statistic σ(x).
    BceWithLogits = 0,
    /// ½(x − t)²; statistic x.
    LeastSquares = 1,
    /// max(0, 1 − t·x) with t = ±1; statistic x.
    Hinge = 2,
    /// −t·x; statistic x.
    Linear = 3,
}

impl Elementwise {
    pub fn name(self) -> &'static str {
        match self {
            Elementwise::BceWithLogits => "bce_with_logits",
            Elementwise::LeastSquares => "least_squares",
            Elementwise::Hinge => "hinge",
            Elementwise::Linear => "linear",
        }
    }
}

fn check_out(op: &str, out: &GpuTensor, out_index: usize) -> Result<()> {
    if out.dtype() != DType::F32 || out_index + 2 > out.numel() {
        return Err(Error::shape(op, format!("out[{out_index}..{}] lies past {:?} (or is not f32)", out_index + 2, out.shape())));
    }
    Ok(())
}

/// The first pass, and `loss_finish` when it takes more than one workgroup.
#[allow(clippy::too_many_arguments)]
fn launch(gpu: &Gpu, entry: &'static str, label: String, reads: [&GpuTensor; 2], dlogits: &GpuTensor, out: &GpuTensor, mut params: LossParams, n: usize) -> Result<Vec<Dispatch>> {
    let groups = n.div_ceil(CHUNK).max(1);
    params.groups = u32_of(&label, "workgroups", groups)?;
    if groups == 1 {
        let grid = Grid::new(gpu, &label, 1, 1, 1)?;
        return Ok(vec![gpu.dispatch(&KernelRef::new(&LOSS, entry), label, &reads, &[dlogits, out, &gpu.dummy()?], &params, grid)?]);
    }
    let partials = GpuTensor::zeros(gpu, &[groups, 2], DType::F32, &format!("{label}.partials"))?;
    let grid = Grid::linear(gpu, &label, groups as u64)?;
    Ok(vec![
        gpu.dispatch(&KernelRef::new(&LOSS, entry), label.clone(), &reads, &[dlogits, out, &partials], &params, grid)?,
        gpu.dispatch(&KernelRef::new(&LOSS, "loss_finish"), format!("{label}.finish"), &[&partials], &[out], &params, Grid::new(gpu, &label, 1, 1, 1)?)?,
    ])
}

/// L = scale·mean ℓ(logits, targets) into out[out_index], the mean statistic into
/// out[out_index + 1], dlogits = ∂L/∂logits (overwrite).
#[allow(clippy::too_many_arguments)]
pub fn elementwise(
    gpu: &Gpu,
    kind: Elementwise,
    logits: &GpuTensor,
    targets: &GpuTensor,
    dlogits: &GpuTensor,
    out: &GpuTensor,
    out_index: usize,
    scale: f32,
) -> Result<Vec<Dispatch>> {
    let n = logits.numel();
    if targets.numel() != n || dlogits.numel() != n {
        return Err(Error::shape(
            kind.name(),
            format!("logits {:?}, targets {:?} and gradient {:?} must have the same size", logits.shape(), targets.shape(), dlogits.shape()),
        ));
    }
    elementwise_view(gpu, kind, logits, (n, 1, 0), targets, dlogits, out, out_index, scale)
}

/// `elementwise` on one column of logits [B, S, …] (S·… values per row): element b is
/// logits[b, column], its target targets[b]; only that column of dlogits (the shape of
/// logits) is written. ACGAN's discriminator takes its GAN loss on column 0 this way.
#[allow(clippy::too_many_arguments)]
pub fn elementwise_column(
    gpu: &Gpu,
    kind: Elementwise,
    logits: &GpuTensor,
    column: usize,
    targets: &GpuTensor,
    dlogits: &GpuTensor,
    out: &GpuTensor,
    out_index: usize,
    scale: f32,
) -> Result<Vec<Dispatch>> {
    let (rows, width) = rows_of(kind.name(), logits, dlogits)?;
    if column >= width || targets.numel() != rows {
        return Err(Error::shape(kind.name(), format!("column {column} of {:?} with {} targets: the column must exist and each row needs a target", logits.shape(), targets.numel())));
    }
    elementwise_view(gpu, kind, logits, (rows, width, column), targets, dlogits, out, out_index, scale)
}

/// (rows, values per row) of a [B, …] logits tensor whose gradient has its shape.
fn rows_of(op: &str, logits: &GpuTensor, dlogits: &GpuTensor) -> Result<(usize, usize)> {
    let shape = logits.shape();
    if shape.len() < 2 || shape.contains(&0) || dlogits.shape() != shape {
        return Err(Error::shape(op, format!("logits must be [B, C, …] with no empty dimension and the gradient of its shape; got {shape:?} and {:?}", dlogits.shape())));
    }
    Ok((shape[0], logits.numel() / shape[0]))
}

/// The elements (n, stride, offset) of logits a loss reads.
#[allow(clippy::too_many_arguments)]
fn elementwise_view(
    gpu: &Gpu,
    kind: Elementwise,
    logits: &GpuTensor,
    (n, stride, offset): (usize, usize, usize),
    targets: &GpuTensor,
    dlogits: &GpuTensor,
    out: &GpuTensor,
    out_index: usize,
    scale: f32,
) -> Result<Vec<Dispatch>> {
    let op = kind.name();
    if n == 0 {
        return Err(Error::shape(op, "no logits"));
    }
    check_out(op, out, out_index)?;
    u32_of(op, "logits", logits.numel())?;
    let params = LossParams {
        n: u32_of(op, "logits", n)?,
        out_index: out_index as u32,
        scale,
        kind: kind as u32,
        groups: 0,
        classes: 0,
        stride: stride as u32,
        offset: offset as u32,
    };
    let column = if stride == 1 { String::new() } else { format!(" column {offset}") };
    launch(gpu, "elementwise_loss", format!("{op} {:?}{column}", logits.shape()), [logits, targets], dlogits, out, params, n)
}

/// BCE with logits (see `elementwise`), the DCGAN loss.
pub fn bce_with_logits(gpu: &Gpu, logits: &GpuTensor, targets: &GpuTensor, dlogits: &GpuTensor, out: &GpuTensor, out_index: usize, scale: f32) -> Result<Vec<Dispatch>> {
    elementwise(gpu, Elementwise::BceWithLogits, logits, targets, dlogits, out, out_index, scale)
}

/// Softmax cross-entropy of logits [B, C] against labels (u32 [B], each < C): L = scale·mean
/// over rows into out[out_index], the accuracy (argmax = label) into out[out_index + 1],
/// dlogits [B, C] = ∂L/∂logits (overwrite). A label ≥ C is read as C − 1.
pub fn softmax_cross_entropy(gpu: &Gpu, logits: &GpuTensor, labels: &GpuTensor, dlogits: &GpuTensor, out: &GpuTensor, out_index: usize, scale: f32) -> Result<Vec<Dispatch>> {
    let shape = logits.shape();
    if shape.len() != 2 {
        return Err(Error::shape("softmax_cross_entropy", format!("logits must be [B, C] with B, C ≥ 1, got {shape:?}")));
    }
    softmax_cross_entropy_columns(gpu, logits, 0, shape[1], labels, dlogits, out, out_index, scale)
}

/// `softmax_cross_entropy` over the columns first..first + classes of logits [B, S, …] (S·…
/// values per row); only those columns of dlogits (the shape of logits) are written.
/// ACGAN's discriminator takes its class loss on columns 1..=K this way.
#[allow(clippy::too_many_arguments)]
pub fn softmax_cross_entropy_columns(
    gpu: &Gpu,
    logits: &GpuTensor,
    first: usize,
    classes: usize,
    labels: &GpuTensor,
    dlogits: &GpuTensor,
    out: &GpuTensor,
    out_index: usize,
    scale: f32,
) -> Result<Vec<Dispatch>> {
    let op = "softmax_cross_entropy";
    let (rows, width) = rows_of(op, logits, dlogits)?;
    if classes == 0 || first + classes > width {
        return Err(Error::shape(op, format!("columns {first}..{} of {:?}: need at least one class inside the row", first + classes, logits.shape())));
    }
    if labels.dtype() != DType::U32 || labels.numel() != rows {
        return Err(Error::shape(op, format!("labels must be u32 [{rows}]; got {:?} {:?}", labels.dtype(), labels.shape())));
    }
    check_out(op, out, out_index)?;
    u32_of(op, "logits", logits.numel())?;
    let params = LossParams {
        n: u32_of(op, "rows", rows)?,
        out_index: out_index as u32,
        scale,
        kind: 0,
        groups: 0,
        classes: classes as u32,
        stride: width as u32,
        offset: first as u32,
    };
    let columns = if classes == width { String::new() } else { format!(" columns {first}..{}", first + classes) };
    launch(gpu, op, format!("{op} {:?}{columns}", logits.shape()), [logits, labels], dlogits, out, params, rows)
}
