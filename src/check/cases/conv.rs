//! Check cases of the convs family.

use super::*;

/// Which conv kernels a case runs: every one the adapter has (small shapes), or only the one
/// the adapter uses (the large DCGAN shapes, where each kernel costs seconds on lavapipe).
#[derive(Clone, Copy)]
enum Kernels {
    All,
    Default,
}

/// Kernels to run: Some(k) forces k; None lets each op choose per pass (as training does).
fn conv_kernels(gpu: &Gpu, which: Kernels) -> Vec<Option<ConvKernel>> {
    match which {
        Kernels::All => ConvKernel::ALL.into_iter().filter(|k| k.available(gpu)).map(Some).collect(),
        Kernels::Default => vec![None],
    }
}

/// The row label of `kernel` for a pass with `m` GEMM rows.
fn kernel_name(gpu: &Gpu, kernel: Option<ConvKernel>, m: usize) -> String {
    match kernel {
        Some(k) => k.name().to_string(),
        None => format!("auto:{}", ConvKernel::choose(gpu, m).name()),
    }
}

#[derive(Clone, Copy, Debug)]
struct ConvCase {
    batch: usize,
    c_in: usize,
    h: usize,
    w: usize,
    c_out: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    pad: usize,
    /// conv_transpose2d only.
    output_padding: usize,
    bias: bool,
}

#[allow(clippy::too_many_arguments)]
const fn cc(batch: usize, c_in: usize, h: usize, w: usize, c_out: usize, k: usize, stride: usize, pad: usize, bias: bool) -> ConvCase {
    ConvCase { batch, c_in, h, w, c_out, kh: k, kw: k, stride, pad, output_padding: 0, bias }
}

pub(super) fn conv2d_cases() -> Vec<Case> {
    let small: &[ConvCase] = &[
        cc(1, 1, 1, 1, 1, 1, 1, 0, true),
        cc(1, 3, 5, 5, 2, 3, 1, 1, true),
        cc(2, 3, 7, 7, 5, 3, 2, 1, false),
        cc(1, 4, 13, 13, 3, 4, 2, 1, true),
        cc(3, 5, 17, 17, 65, 1, 1, 0, true),
        cc(2, 16, 8, 8, 64, 3, 1, 1, false),
        cc(1, 1, 127, 3, 1, 3, 1, 0, true),
        cc(2, 7, 9, 11, 13, 4, 2, 0, true),
        ConvCase { kh: 3, kw: 2, ..cc(2, 3, 10, 7, 4, 3, 2, 1, true) },
        cc(4, 32, 16, 16, 64, 4, 2, 1, false),
        // One tile and K = 549: the forward splits K (two ragged slices, bias in split 0).
        cc(2, 61, 5, 5, 3, 3, 1, 0, true),
    ];
    // DCGAN discriminators (pytorch/examples, ndf = 64, batch 64, no bias).
    let dcgan: &[ConvCase] = &[
        cc(64, 1, 32, 32, 64, 4, 2, 1, false),
        cc(64, 64, 16, 16, 128, 4, 2, 1, false),
        cc(64, 128, 8, 8, 256, 4, 2, 1, false),
        cc(64, 256, 4, 4, 1, 4, 1, 0, false),
        cc(64, 3, 64, 64, 64, 4, 2, 1, false),
        cc(64, 64, 32, 32, 128, 4, 2, 1, false),
        cc(64, 128, 16, 16, 256, 4, 2, 1, false),
        cc(64, 256, 8, 8, 512, 4, 2, 1, false),
        cc(64, 512, 4, 4, 1, 4, 1, 0, false),
    ];
    let mut v = Vec::new();
    for (cases, which, tag) in [(small, Kernels::All, ""), (dcgan, Kernels::Default, " dcgan")] {
        for &case in cases {
            v.push(Case::new("conv2d", format!("conv2d{tag} {case:?}"), move |gpu, rng| conv_case::<Conv2dOp>(gpu, rng, case, which)));
        }
    }
    v
}

pub(super) fn conv_transpose2d_cases() -> Vec<Case> {
    let small: &[ConvCase] = &[
        cc(1, 1, 1, 1, 1, 1, 1, 0, true),
        cc(1, 3, 5, 5, 2, 3, 1, 1, true),
        cc(2, 3, 7, 7, 5, 3, 2, 1, false),
        cc(1, 4, 13, 13, 3, 4, 2, 1, true),
        cc(3, 5, 17, 17, 65, 1, 1, 0, true),
        cc(2, 64, 8, 8, 16, 3, 1, 1, false),
        ConvCase { output_padding: 1, ..cc(2, 7, 5, 6, 13, 3, 2, 1, true) },
        // Stride 3 with a 2-tap kernel: phase 2 of each axis receives no tap at all.
        cc(2, 3, 4, 5, 4, 2, 3, 0, true),
        ConvCase { kh: 4, kw: 3, ..cc(2, 3, 6, 5, 4, 4, 2, 1, true) },
        cc(4, 64, 8, 8, 32, 4, 2, 1, false),
    ];
    // DCGAN generators (pytorch/examples, ngf = 64, nz = 100, batch 64, no bias).
    let dcgan: &[ConvCase] = &[
        cc(64, 100, 1, 1, 256, 4, 1, 0, false),
        cc(64, 256, 4, 4, 128, 4, 2, 1, false),
        cc(64, 128, 8, 8, 64, 4, 2, 1, false),
        cc(64, 64, 16, 16, 1, 4, 2, 1, false),
        cc(64, 100, 1, 1, 512, 4, 1, 0, false),
        cc(64, 512, 4, 4, 256, 4, 2, 1, false),
        cc(64, 256, 8, 8, 128, 4, 2, 1, false),
        cc(64, 128, 16, 16, 64, 4, 2, 1, false),
        cc(64, 64, 32, 32, 3, 4, 2, 1, false),
    ];
    let mut v = Vec::new();
    for (cases, which, tag) in [(small, Kernels::All, ""), (dcgan, Kernels::Default, " dcgan")] {
        for &case in cases {
            v.push(Case::new("conv_transpose2d", format!("conv_transpose2d{tag} {case:?}"), move |gpu, rng| {
                conv_case::<ConvT2dOp>(gpu, rng, case, which)
            }));
        }
    }
    v
}

/// What differs between conv2d and conv_transpose2d in their checks; `conv_case` does the rest.
trait ConvOp {
    const OP: &'static str;
    /// Input, weight and output shapes.
    fn shapes(cs: &ConvCase) -> Result<[[usize; 4]; 3]>;
    /// (y, dx, dw, dbias) from the CPU reference.
    fn reference(cs: &ConvCase, x: &Tensor, w: &Tensor, dy: &Tensor, bias: Option<&[f64]>) -> (Tensor, Tensor, Tensor, Vec<f64>);
    fn forward(gpu: &Gpu, cs: &ConvCase, x: &GpuTensor, w: &GpuTensor, b: Option<&GpuTensor>, y: &GpuTensor, k: Option<ConvKernel>) -> Result<Vec<Dispatch>>;
    fn backward_input(gpu: &Gpu, cs: &ConvCase, dy: &GpuTensor, w: &GpuTensor, dx: &GpuTensor, k: Option<ConvKernel>) -> Result<Vec<Dispatch>>;
    fn backward_weight(gpu: &Gpu, cs: &ConvCase, x: &GpuTensor, dy: &GpuTensor, dw: &GpuTensor, k: Option<ConvKernel>) -> Result<Vec<Dispatch>>;
    fn backward_bias(gpu: &Gpu, dy: &GpuTensor, db: &GpuTensor) -> Result<Dispatch>;
    /// GEMM rows of the weight-gradient pass (C_out for conv2d, C_in for conv_transpose2d).
    fn wgrad_rows(cs: &ConvCase) -> usize;
}

struct Conv2dOp;
impl ConvOp for Conv2dOp {
    const OP: &'static str = "conv2d";
    fn shapes(cs: &ConvCase) -> Result<[[usize; 4]; 3]> {
        let sh = Conv2dShape::new(&Self::spec(cs), &[cs.batch, cs.c_in, cs.h, cs.w], &[cs.c_out, cs.c_in, cs.kh, cs.kw])?;
        Ok([sh.input(), sh.weight(), sh.output()])
    }
    fn reference(cs: &ConvCase, x: &Tensor, w: &Tensor, dy: &Tensor, bias: Option<&[f64]>) -> (Tensor, Tensor, Tensor, Vec<f64>) {
        (
            cpu::conv2d::forward(x, w, bias, cs.stride, cs.pad),
            cpu::conv2d::backward_input(dy, w, &x.shape, cs.stride, cs.pad),
            cpu::conv2d::backward_weight(x, dy, &w.shape, cs.stride, cs.pad),
            cpu::conv2d::backward_bias(dy),
        )
    }
    fn forward(gpu: &Gpu, cs: &ConvCase, x: &GpuTensor, w: &GpuTensor, b: Option<&GpuTensor>, y: &GpuTensor, k: Option<ConvKernel>) -> Result<Vec<Dispatch>> {
        ops::conv2d::forward(gpu, &Self::spec(cs), x, w, b, y, k)
    }
    fn backward_input(gpu: &Gpu, cs: &ConvCase, dy: &GpuTensor, w: &GpuTensor, dx: &GpuTensor, k: Option<ConvKernel>) -> Result<Vec<Dispatch>> {
        ops::conv2d::backward_input(gpu, &Self::spec(cs), dy, w, dx, k)
    }
    fn backward_weight(gpu: &Gpu, cs: &ConvCase, x: &GpuTensor, dy: &GpuTensor, dw: &GpuTensor, k: Option<ConvKernel>) -> Result<Vec<Dispatch>> {
        ops::conv2d::backward_weight(gpu, &Self::spec(cs), x, dy, dw, k)
    }
    fn backward_bias(gpu: &Gpu, dy: &GpuTensor, db: &GpuTensor) -> Result<Dispatch> {
        ops::conv2d::backward_bias(gpu, dy, db)
    }
    fn wgrad_rows(cs: &ConvCase) -> usize {
        cs.c_out
    }
}

impl Conv2dOp {
    fn spec(cs: &ConvCase) -> Conv2dSpec {
        Conv2dSpec { stride: cs.stride, padding: cs.pad }
    }
}

struct ConvT2dOp;
impl ConvOp for ConvT2dOp {
    const OP: &'static str = "conv_transpose2d";
    fn shapes(cs: &ConvCase) -> Result<[[usize; 4]; 3]> {
        let sh = ConvT2dShape::new(&Self::spec(cs), &[cs.batch, cs.c_in, cs.h, cs.w], &[cs.c_in, cs.c_out, cs.kh, cs.kw])?;
        Ok([sh.input(), sh.weight(), sh.output()])
    }
    fn reference(cs: &ConvCase, x: &Tensor, w: &Tensor, dy: &Tensor, bias: Option<&[f64]>) -> (Tensor, Tensor, Tensor, Vec<f64>) {
        (
            cpu::conv_transpose2d::forward(x, w, bias, cs.stride, cs.pad, cs.output_padding),
            cpu::conv_transpose2d::backward_input(dy, w, &x.shape, cs.stride, cs.pad),
            cpu::conv_transpose2d::backward_weight(x, dy, &w.shape, cs.stride, cs.pad),
            cpu::conv_transpose2d::backward_bias(dy),
        )
    }
    fn forward(gpu: &Gpu, cs: &ConvCase, x: &GpuTensor, w: &GpuTensor, b: Option<&GpuTensor>, y: &GpuTensor, k: Option<ConvKernel>) -> Result<Vec<Dispatch>> {
        ops::conv_transpose2d::forward(gpu, &Self::spec(cs), x, w, b, y, k)
    }
    fn backward_input(gpu: &Gpu, cs: &ConvCase, dy: &GpuTensor, w: &GpuTensor, dx: &GpuTensor, k: Option<ConvKernel>) -> Result<Vec<Dispatch>> {
        ops::conv_transpose2d::backward_input(gpu, &Self::spec(cs), dy, w, dx, k)
    }
    fn backward_weight(gpu: &Gpu, cs: &ConvCase, x: &GpuTensor, dy: &GpuTensor, dw: &GpuTensor, k: Option<ConvKernel>) -> Result<Vec<Dispatch>> {
        ops::conv_transpose2d::backward_weight(gpu, &Self::spec(cs), x, dy, dw, k)
    }
    fn backward_bias(gpu: &Gpu, dy: &GpuTensor, db: &GpuTensor) -> Result<Dispatch> {
        ops::conv_transpose2d::backward_bias(gpu, dy, db)
    }
    fn wgrad_rows(cs: &ConvCase) -> usize {
        cs.c_in
    }
}

impl ConvT2dOp {
    fn spec(cs: &ConvCase) -> ConvT2dSpec {
        ConvT2dSpec { stride: cs.stride, padding: cs.pad, output_padding: cs.output_padding }
    }
}

/// Forward, input gradient, weight gradient (+=) and bias gradient (+=) of one conv case, on
/// each kernel `which` asks for. The bounds count the terms each output sums: C_in·taps
/// (forward), C_out·taps (input gradient), every output pixel of every sample (weight and
/// bias gradients).
fn conv_case<C: ConvOp>(gpu: &Gpu, rng: &mut Rng, cs: ConvCase, which: Kernels) -> Result<Vec<Row>> {
    let [xs_shape, w_shape, y_shape] = C::shapes(&cs)?;
    let n = |s: &[usize; 4]| s.iter().product::<usize>();
    let (xs, ws) = (rng.normals(n(&xs_shape), 1.0), rng.normals(n(&w_shape), 0.5));
    let bs = rng.normals(cs.c_out, 1.0);
    let dys = rng.normals(n(&y_shape), 1.0);
    let dw0 = rng.normals(ws.len(), 1.0);
    let db0 = rng.normals(cs.c_out, 1.0);
    let (xt, wt, dyt) = (Tensor::from_f32(&xs_shape, &xs), Tensor::from_f32(&w_shape, &ws), Tensor::from_f32(&y_shape, &dys));
    let (y_ref, dx_ref, dw_ref, db_ref) = C::reference(&cs, &xt, &wt, &dyt, cs.bias.then(|| f64s(&bs)).as_deref());
    // The size of each output's terms (see `cancellation_bound`): every output is a sum of
    // products, so the same op on squared inputs gives Σ(term²); accumulated outputs add their
    // initial value in quadrature. Only small cases can cancel by chance (a norm over many
    // outputs does not), and only there is the second reference cheap, so the big ones skip it.
    let macs = n(&y_shape) * cs.c_in * cs.kh * cs.kw;
    let with_init = |sq: &[f64], init: &[f32]| -> Vec<f64> { sq.iter().zip(init).map(|(s, &i)| (s + (i as f64).powi(2)).sqrt()).collect() };
    let (y_terms, dx_terms, dw_terms) = if macs <= 1 << 20 {
        let square = |t: &Tensor| Tensor::new(&t.shape, t.data.iter().map(|v| v * v).collect());
        let b2 = sq(&bs);
        let (y_sq, dx_sq, dw_sq, _) = C::reference(&cs, &square(&xt), &square(&wt), &square(&dyt), cs.bias.then_some(&b2[..]));
        let root = |t: Tensor| -> Vec<f64> { t.data.iter().map(|s| s.sqrt()).collect() };
        (root(y_sq), root(dx_sq), with_init(&dw_sq.data, &dw0))
    } else {
        (Vec::new(), Vec::new(), Vec::new())
    };
    // The bias gradient sums every pixel of a channel: Σdy² is cheap at any size.
    let db_terms = with_init(&cpu::reduce::sum_channels(&square_f32(&y_shape, &dys)), &db0);
    let (dw_want, db_want) = (add(&dw0, &dw_ref.data), add(&db0, &db_ref));

    let x = upload(gpu, &xs_shape, &xs, "x")?;
    let w = upload(gpu, &w_shape, &ws, "w")?;
    let b = upload(gpu, &[cs.c_out], &bs, "bias")?;
    let dy = upload(gpu, &y_shape, &dys, "dy")?;
    let y = GpuTensor::zeros(gpu, &y_shape, DType::F32, "y")?;
    let dx = GpuTensor::zeros(gpu, &xs_shape, DType::F32, "dx")?;
    let dw = GpuTensor::zeros(gpu, &w_shape, DType::F32, "dw")?;
    let db = GpuTensor::zeros(gpu, &[cs.c_out], DType::F32, "dbias")?;
    let label = format!(
        "x{xs_shape:?} w{w_shape:?} s{} p{}{}{}",
        cs.stride,
        cs.pad,
        if cs.output_padding > 0 { format!(" op{}", cs.output_padding) } else { String::new() },
        if cs.bias { " +bias" } else { "" }
    );
    let taps = cs.kh * cs.kw;
    let pixels = cs.batch * y_shape[2] * y_shape[3];
    let wgrad_terms = if C::OP == "conv2d" { pixels } else { cs.batch * cs.h * cs.w };
    let op = C::OP;
    let mut rows = Vec::new();
    for kernel in conv_kernels(gpu, which) {
        let got = run_poisoned(gpu, "forward", &C::forward(gpu, &cs, &x, &w, cs.bias.then_some(&b), &y, kernel)?, &y)?;
        rows.push(Row::compare(op, "forward", &label, &kernel_name(gpu, kernel, cs.c_out), &got, &y_ref.data, cancellation_bound(sum_bound(cs.c_in * taps + 1), &y_terms, &y_ref.data)));
        let got = run_poisoned(gpu, "backward input", &C::backward_input(gpu, &cs, &dy, &w, &dx, kernel)?, &dx)?;
        rows.push(Row::compare(op, "backward_input", &label, &kernel_name(gpu, kernel, cs.c_in), &got, &dx_ref.data, cancellation_bound(sum_bound(cs.c_out * taps), &dx_terms, &dx_ref.data)));
        dw.write_f32(gpu, &dw0)?;
        let got = run_read(gpu, "backward weight", &C::backward_weight(gpu, &cs, &x, &dy, &dw, kernel)?, &[&dw])?.remove(0);
        let kn = kernel_name(gpu, kernel, C::wgrad_rows(&cs));
        rows.push(Row::compare(op, "backward_weight +=", &label, &kn, &got, &dw_want, cancellation_bound(sum_bound(wgrad_terms + 1), &dw_terms, &dw_want)));
    }
    if cs.bias {
        db.write_f32(gpu, &db0)?;
        let got = run_read(gpu, "backward bias", &[C::backward_bias(gpu, &dy, &db)?], &[&db])?.remove(0);
        rows.push(Row::compare(op, "backward_bias +=", &label, "wg256", &got, &db_want, cancellation_bound(sum_bound(pixels + 1), &db_terms, &db_want)));
    }
    Ok(rows)
}
