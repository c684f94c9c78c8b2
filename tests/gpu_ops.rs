//! Every kernel, forward and backward, against the f64 CPU reference on the default adapter
//! (lavapipe in CI): the same cases `shadergan check` runs, one test per op. Fresh random
//! inputs each run; the seed is printed, and `SHADERGAN_SEED=<seed>` replays it. Set
//! `SHADERGAN_BACKEND=gl` to run them on the GL fallback.

use std::sync::OnceLock;

use shadergan::check;
use shadergan::gpu::{AdapterChoice, Gpu};

/// One device for the whole test binary. No adapter is a failure with the fix in the
/// message, never a silent skip.
fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| Gpu::new(&AdapterChoice::default()).unwrap_or_else(|e| panic!("{e}")))
}

fn check_op(op: &str) {
    let gpu = gpu();
    let seed = check::seed_from_env_or_clock();
    eprintln!("{op}: seed {seed} on {}", gpu.describe());
    let rows = check::run(gpu, Some(op), seed, |_| {}).unwrap_or_else(|e| panic!("{op}: {e}"));
    assert!(!rows.is_empty(), "{op}: no cases ran");
    let mut failed = 0;
    for r in &rows {
        if !r.ok {
            failed += 1;
        }
        eprintln!(
            "{:<5} {:<34} {:<14} {:<46} max|err| {:.2e} rel {:.2e} bound {:.1e}",
            if r.ok { "PASS" } else { "FAIL" },
            r.pass,
            r.kernel,
            r.shape,
            r.max_abs,
            r.rel,
            r.bound
        );
    }
    assert!(
        failed == 0,
        "{failed} of {} {op} checks failed; replay with SHADERGAN_SEED={seed} cargo test --release --test gpu_ops {op}",
        rows.len()
    );
}

#[test]
fn elementwise() {
    check_op("elementwise");
}

#[test]
fn reduce() {
    check_op("reduce");
}

#[test]
fn finite() {
    check_op("finite");
}

#[test]
fn distance() {
    check_op("distance");
}

#[test]
fn spectral_norm() {
    check_op("spectral_norm");
}

#[test]
fn layernorm() {
    check_op("layernorm");
}

#[test]
fn vae() {
    check_op("vae");
}

#[test]
fn mask() {
    check_op("mask");
}

#[test]
fn projection() {
    check_op("projection");
}

#[test]
fn pool() {
    check_op("pool");
}

#[test]
fn penalty() {
    check_op("penalty");
}

#[test]
fn labels() {
    check_op("labels");
}

#[test]
fn embedding() {
    check_op("embedding");
}

#[test]
fn minibatch_std() {
    check_op("minibatch_std");
}

#[test]
fn activation() {
    check_op("activation");
}

#[test]
fn loss() {
    check_op("loss");
}

#[test]
fn optim() {
    check_op("optim");
}

#[test]
fn random() {
    check_op("random");
}

#[test]
fn data() {
    check_op("data");
}

#[test]
fn batchnorm() {
    check_op("batchnorm");
}

#[test]
fn matmul() {
    check_op("matmul");
}

#[test]
fn conv2d() {
    check_op("conv2d");
}

#[test]
fn conv_transpose2d() {
    check_op("conv_transpose2d");
}

#[test]
fn network() {
    check_op("network");
}

#[test]
fn every_op_has_a_test_here() {
    let tested = ["elementwise", "reduce", "finite", "distance", "spectral_norm", "penalty", "vae", "mask", "projection", "pool", "layernorm", "activation", "loss", "optim", "random", "data", "labels", "embedding", "minibatch_std", "batchnorm", "matmul", "conv2d", "conv_transpose2d", "network"];
    for op in check::op_names() {
        assert!(tested.contains(&op), "op {op} has cases but no test in tests/gpu_ops.rs");
    }
}
