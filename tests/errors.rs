//! Library-level errors: limits, shapes and aliasing are typed, one-line errors before any
//! wgpu call, never a validation panic.

use std::sync::OnceLock;

use shadergan::gpu::{AdapterChoice, DType, Gpu, GpuTensor, Grid};
use shadergan::ops;
use shadergan::ops::activation::Activation;
use shadergan::ops::conv2d::Conv2dSpec;
use shadergan::ops::matmul::{MatmulKernel, MatmulSpec};
use shadergan::Error;

fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| Gpu::new(&AdapterChoice::default()).unwrap_or_else(|e| panic!("{e}")))
}

fn zeros(shape: &[usize]) -> GpuTensor {
    GpuTensor::zeros(gpu(), shape, DType::F32, "t").unwrap()
}

#[test]
fn a_tensor_beyond_the_buffer_limit_is_a_limit_error() {
    let max = gpu().limits.max_buffer_size;
    let err = GpuTensor::zeros(gpu(), &[(max / 4 + 1) as usize], DType::F32, "huge").unwrap_err();
    assert!(matches!(err, Error::Limit { what: "buffer bytes", .. }), "{err}");
    assert!(err.to_string().contains("huge"), "{err}");
}

#[test]
fn a_binding_beyond_the_binding_limit_is_a_limit_error() {
    let max = gpu().limits.max_storage_buffer_binding_size as usize;
    let big = zeros(&[max / 4 + 4]);
    let out = zeros(&[max / 4 + 4]);
    let err = ops::activation::forward(gpu(), Activation::Relu, &big, &out).unwrap_err();
    assert!(matches!(err, Error::Limit { what: "storage binding bytes", .. }), "{err}");
}

#[test]
fn too_many_workgroups_is_a_limit_error() {
    let max = gpu().limits.max_compute_workgroups_per_dimension as u64;
    let err = Grid::new(gpu(), "test", max + 1, 1, 1).unwrap_err();
    assert!(matches!(err, Error::Limit { what: "workgroups per dimension", .. }), "{err}");
    let err = Grid::linear(gpu(), "test", max * max + 1).unwrap_err();
    assert!(matches!(err, Error::Limit { .. }), "{err}");
    // Just under the square limit folds into a valid 2-D grid.
    let g = Grid::linear(gpu(), "test", max * 3 + 1).unwrap();
    assert!(g.x as u64 <= max && g.y as u64 <= max && g.groups() > max * 3, "{g:?}");
}

#[test]
fn conv_shapes_that_do_not_fit_are_shape_errors() {
    let spec = Conv2dSpec { stride: 2, padding: 1 };
    let x = zeros(&[2, 3, 8, 8]);
    let w = zeros(&[4, 5, 3, 3]); // expects 5 input channels
    let y = zeros(&[2, 4, 4, 4]);
    let err = ops::conv2d::forward(gpu(), &spec, &x, &w, None, &y, None).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }) && err.to_string().contains("3 channels"), "{err}");
    let w = zeros(&[4, 3, 3, 3]);
    let wrong_y = zeros(&[2, 4, 5, 5]);
    let err = ops::conv2d::forward(gpu(), &spec, &x, &w, None, &wrong_y, None).unwrap_err();
    assert!(err.to_string().contains("[2, 4, 4, 4]"), "{err}");
    let err = ops::conv2d::forward(gpu(), &Conv2dSpec { stride: 0, padding: 0 }, &x, &w, None, &y, None).unwrap_err();
    assert!(err.to_string().contains("stride"), "{err}");
    let tiny = zeros(&[1, 3, 1, 1]);
    let err = ops::conv2d::forward(gpu(), &Conv2dSpec { stride: 1, padding: 0 }, &tiny, &w, None, &y, None).unwrap_err();
    assert!(err.to_string().contains("larger than the padded input"), "{err}");
}

#[test]
fn conv_transpose_output_padding_must_be_below_the_stride() {
    let spec = ops::conv_transpose2d::ConvT2dSpec { stride: 2, padding: 1, output_padding: 2 };
    let err = ops::conv_transpose2d::forward(gpu(), &spec, &zeros(&[1, 2, 3, 3]), &zeros(&[2, 2, 3, 3]), None, &zeros(&[1, 2, 7, 7]), None)
        .unwrap_err();
    assert!(err.to_string().contains("output_padding"), "{err}");
}

#[test]
fn reading_and_writing_one_buffer_in_one_dispatch_is_refused() {
    let x = zeros(&[16]);
    let err = ops::activation::forward(gpu(), Activation::Tanh, &x, &x).unwrap_err();
    assert!(err.to_string().contains("share one buffer"), "{err}");
}

#[test]
fn a_kernel_that_cannot_compute_a_shape_says_so() {
    let spec = MatmulSpec::new(8, 8, 7); // K % 4 ≠ 0: no vec4 kernel
    let err = ops::matmul::matmul(gpu(), &spec, &zeros(&[8, 7]), &zeros(&[7, 8]), None, &zeros(&[8, 8]), Some(MatmulKernel::RegBlockVec4))
        .unwrap_err();
    assert!(err.to_string().contains("regblock_vec4"), "{err}");
}

#[test]
fn batchnorm_training_needs_two_values_per_channel() {
    let x = zeros(&[1, 3, 1, 1]);
    let c = zeros(&[3]);
    let err = ops::batchnorm::forward_train(gpu(), &Default::default(), &x, &c, &c, &zeros(&[1, 3, 1, 1]), &zeros(&[2, 3]), &zeros(&[3]), &zeros(&[3]), true)
        .unwrap_err();
    assert!(err.to_string().contains("more than 1 value per channel"), "{err}");
}

#[test]
fn bad_optimizer_hyperparameters_are_refused() {
    let p = zeros(&[8]);
    let (g, m, v) = (zeros(&[8]), zeros(&[8]), zeros(&[8]));
    let counters = GpuTensor::zeros(gpu(), &[1], DType::U32, "counters").unwrap();
    let lrs = ops::optim::learning_rates(gpu(), &[1e-3]).unwrap();
    let lr = ops::optim::Lr { tensor: &lrs, index: 0 };
    let cfg = ops::optim::AdamConfig { beta1: 1.0, ..Default::default() };
    let err = ops::optim::adam_step(gpu(), &cfg, lr, &g, &counters, 0, &p, &m, &v).unwrap_err();
    assert!(err.to_string().contains("betas"), "{err}");
    // A learning rate that is not a number, or a slot past the tensor.
    assert!(ops::optim::learning_rates(gpu(), &[f32::NAN]).is_err());
    let past = ops::optim::Lr { tensor: &lrs, index: 1 };
    let err = ops::optim::adam_step(gpu(), &Default::default(), past, &g, &counters, 0, &p, &m, &v).unwrap_err();
    assert!(err.to_string().contains("learning rate slot 1"), "{err}");
}

#[test]
fn shader_compile_errors_name_the_file_and_entry_point() {
    use shadergan::gpu::shaders;
    let broken = gpu().with_shader_source(&shaders::LOSS, shaders::LOSS.source.replacen("let tgt = targets[i];", "let tgt = targets[i]", 1));
    let err = ops::loss::bce_with_logits(&broken, &zeros(&[4]), &zeros(&[4]), &zeros(&[4]), &zeros(&[4]), 0, 1.0).unwrap_err();
    assert!(matches!(err, Error::ShaderCompile { file: "loss.wgsl", .. }), "{err}");
    let text = err.to_string();
    assert!(!text.contains('\n'), "one line: {text}");
    assert!(text.contains("at loss.wgsl:"), "names the line: {text}");
    // In a module of several files, the line is mapped back to its file.
    let broken = gpu().with_shader_source(&shaders::CONV, shaders::CONV.source.replacen("let kr = k_range(wid.z);", "let kr = k_range(wid.z)", 1));
    let spec = Conv2dSpec { stride: 1, padding: 0 };
    let kernel = Some(ops::conv::ConvKernel::RegBlock); // the kernel in conv.wgsl itself
    let err = ops::conv2d::forward(&broken, &spec, &zeros(&[1, 1, 3, 3]), &zeros(&[1, 1, 1, 1]), None, &zeros(&[1, 1, 3, 3]), kernel)
        .unwrap_err();
    assert!(err.to_string().contains("at conv.wgsl:"), "{err}");
}

#[test]
fn reductions_are_bit_identical_on_rerun() {
    use shadergan::rng::Rng;
    let mut rng = Rng::new(3);
    let xs = rng.normals(64 * 128 * 16 * 16, 1.0);
    let dys = rng.normals(64 * 256 * 8 * 8, 1.0);
    let x = GpuTensor::from_f32(gpu(), &[64, 128, 16, 16], &xs, "x").unwrap();
    let dy = GpuTensor::from_f32(gpu(), &[64, 256, 8, 8], &dys, "dy").unwrap();
    let dw = zeros(&[256, 128, 4, 4]);
    // The weight gradient splits K and sums the partials in order: deterministic.
    let run = || {
        dw.write_f32(gpu(), &vec![0.0; 256 * 128 * 16]).unwrap();
        let d = ops::conv2d::backward_weight(gpu(), &Conv2dSpec { stride: 2, padding: 1 }, &x, &dy, &dw, None).unwrap();
        gpu().run("wgrad", &d.iter().collect::<Vec<_>>()).unwrap();
        dw.read_f32(gpu()).unwrap()
    };
    let (a, b) = (run(), run());
    assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()), "weight gradient differs between runs");
}


#[test]
fn a_penalty_through_a_layer_without_a_double_backward_is_refused_naming_it() {
    use shadergan::model::{DNorm, ModelConfig, ModelKind};
    use shadergan::nn::{DropoutRng, Instance, ParamStore};
    let cfg = ModelConfig { model: ModelKind::Dcgan, image_size: 16, channels: 1, nz: 4, ngf: 4, ndf: 4, dropout: 0.0, conditional: None, spectral_norm: false, d_norm: DNorm::BatchNorm, minibatch_std: None };
    let spec = cfg.discriminator().unwrap();
    let store = ParamStore::new(gpu(), "netD", spec.params()).unwrap();
    let counters = zeros(&[2]);
    let err = Instance::new_second_order(gpu(), &spec, &store, 2, &counters, DropoutRng { seed: 0, counter_index: 0 }, None, None).err().expect("BatchNorm has no double backward").to_string();
    assert!(err.contains("main.3 BatchNorm2d") && err.contains("backward of its backward"), "{err}");
    // Without BatchNorm the same critic builds.
    let spec = ModelConfig { d_norm: DNorm::None, ..cfg }.discriminator().unwrap();
    let store = ParamStore::new(gpu(), "netD", spec.params()).unwrap();
    assert!(Instance::new_second_order(gpu(), &spec, &store, 2, &counters, DropoutRng { seed: 0, counter_index: 0 }, None, None).is_ok());
}
