//! Every WGSL module, embedded in the binary. One file per kernel family under `shaders/`; each
//! opens with a header giving the math, layouts, work per invocation, grid and write mode.
//!
//! WGSL has no includes, so a module may be several files concatenated in order at compile
//! time: `gemm_block.wgsl` (the register-block micro-kernel) is shared by the matmul and conv
//! families, and the subgroup kernels are appended to their family's file because a module
//! that uses subgroup operations does not compile where the device lacks SUBGROUP (GL).

/// A WGSL module compiled into the binary.
#[derive(Debug)]
pub struct Shader {
    /// The module's name (its main file), used in error messages and labels.
    pub file: &'static str,
    /// The files it is made of, in order: (name, source).
    pub parts: &'static [(&'static str, &'static str)],
    pub source: &'static str,
    /// Uses subgroup operations, so it compiles only where the device has SUBGROUP (never GL).
    pub needs_subgroups: bool,
}

macro_rules! shader {
    ($name:ident, $sub:expr, $file:literal) => {
        shader!($name, $sub, $file, [$file]);
    };
    ($name:ident, $sub:expr, $file:literal, [$($part:literal),+]) => {
        pub static $name: Shader = Shader {
            file: $file,
            parts: &[$(($part, include_str!(concat!("../../shaders/", $part)))),+],
            source: concat!($(include_str!(concat!("../../shaders/", $part))),+),
            needs_subgroups: $sub,
        };
    };
}

shader!(ELEMENTWISE, false, "elementwise.wgsl");
shader!(ACTIVATION, false, "activation.wgsl");
shader!(REDUCE, false, "reduce.wgsl");
shader!(FINITE, false, "finite.wgsl");
shader!(DISTANCE, false, "distance.wgsl");
shader!(LOSS, false, "loss.wgsl");
shader!(OPTIM, false, "optim.wgsl");
shader!(SPECTRAL_NORM, false, "spectral_norm.wgsl", ["workgroup_sum.wgsl", "spectral_norm.wgsl"]);
shader!(PENALTY, false, "penalty.wgsl", ["workgroup_sum.wgsl", "penalty.wgsl"]);
shader!(VAE, false, "vae.wgsl", ["workgroup_sum.wgsl", "vae.wgsl"]);
shader!(MASK, false, "mask.wgsl");
shader!(PROJECTION, false, "projection.wgsl", ["workgroup_sum.wgsl", "projection.wgsl"]);
shader!(POOL, false, "pool.wgsl");
shader!(RANDOM, false, "random.wgsl");
shader!(DATA, false, "data.wgsl", ["random.wgsl", "data.wgsl"]);
shader!(LABELS, false, "labels.wgsl", ["random.wgsl", "labels.wgsl"]);
shader!(EMBEDDING, false, "embedding.wgsl");
shader!(MINIBATCH_STD, false, "minibatch_std.wgsl", ["workgroup_sum.wgsl", "minibatch_std.wgsl"]);
shader!(BATCHNORM, false, "batchnorm.wgsl");
shader!(LAYERNORM, false, "layernorm.wgsl");
shader!(MATMUL, false, "matmul.wgsl", ["gemm_block.wgsl", "matmul.wgsl"]);
shader!(MATMUL_SUBGROUP, true, "matmul_subgroup.wgsl", ["gemm_block.wgsl", "matmul.wgsl", "matmul_subgroup.wgsl"]);
shader!(CONV, false, "conv.wgsl", ["gemm_block.wgsl", "conv.wgsl"]);
shader!(CONV_SUBGROUP, true, "conv_subgroup.wgsl", ["gemm_block.wgsl", "conv.wgsl", "conv_subgroup.wgsl"]);

impl Shader {
    /// Whether the module includes the file `name`.
    pub fn has_part(&self, name: &str) -> bool {
        self.parts.iter().any(|(n, _)| *n == name)
    }

    /// The file and line within it of line `line` (1-based) of the module's source.
    pub fn locate(&self, line: usize) -> (&'static str, usize) {
        let mut first = 1;
        for (name, src) in self.parts {
            let lines = src.lines().count();
            if line < first + lines {
                return (name, line - first + 1);
            }
            first += lines;
        }
        (self.file, line)
    }
}

/// All modules, for validation tests and `--dump-shaders`.
pub static ALL: &[&Shader] = &[
    &ELEMENTWISE,
    &ACTIVATION,
    &REDUCE,
    &FINITE,
    &DISTANCE,
    &LOSS,
    &OPTIM,
    &SPECTRAL_NORM,
    &PENALTY,
    &VAE,
    &MASK,
    &PROJECTION,
    &POOL,
    &RANDOM,
    &DATA,
    &LABELS,
    &EMBEDDING,
    &MINIBATCH_STD,
    &BATCHNORM,
    &LAYERNORM,
    &MATMUL,
    &MATMUL_SUBGROUP,
    &CONV,
    &CONV_SUBGROUP,
];
