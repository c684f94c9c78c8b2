//! The command line: bad input gives exit status 1 and one line on stderr that names the flag
//! and the fix; good input works.

mod common;
use common::shadergan;


/// Exit status 1 and exactly one stderr line, `error: ...`, containing every `needle`.
fn assert_one_line_error(args: &[&str], needles: &[&str]) {
    let (code, _, stderr) = shadergan(args);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(code, 1, "{args:?}: exit status {code}, stderr {stderr}");
    assert_eq!(lines.len(), 1, "{args:?}: expected one line on stderr, got {lines:#?}");
    assert!(lines[0].starts_with("error: "), "{args:?}: {}", lines[0]);
    for n in needles {
        assert!(lines[0].contains(n), "{args:?}: {:?} does not mention {n:?}", lines[0]);
    }
}

#[test]
fn unknown_op_is_one_line_with_the_choices() {
    assert_one_line_error(&["check", "--op", "conv3d"], &["unknown op 'conv3d'", "--op", "conv2d", "matmul"]);
}

#[test]
fn unknown_adapter_is_one_line_with_the_list() {
    assert_one_line_error(&["--adapter", "no-such-gpu", "check", "--op", "loss"], &["no-such-gpu", "shadergan devices"]);
    assert_one_line_error(&["--adapter", "no-such-gpu", "devices"], &["no-such-gpu", "available"]);
    assert_one_line_error(&["--adapter", "17", "devices"], &["'17'"]);
}

#[test]
fn unknown_backend_is_one_line() {
    assert_one_line_error(&["--backend", "glide", "devices"], &["unknown backend 'glide'", "vulkan"]);
}

#[test]
fn no_adapter_on_a_backend_says_how_to_get_one() {
    // No Metal on Linux (and no DX12): the same message a machine without any driver gets.
    let backend = if cfg!(target_os = "macos") { "dx12" } else { "metal" };
    assert_one_line_error(&["--backend", backend, "devices"], &["no GPU adapter found", "mesa-vulkan-drivers"]);
}

#[test]
fn bad_bench_flags_are_one_line() {
    assert_one_line_error(&["bench", "--op", "conv9d"], &["--op conv9d", "matmul"]);
    assert_one_line_error(&["bench", "--kernels", "fastest"], &["unknown kernel 'fastest'", "--kernels", "regblock"]);
    assert_one_line_error(&["bench", "--sizes", "0"], &["--sizes"]);
}

#[test]
fn bench_times_conditional_train_steps() {
    let small = ["bench", "--op", "train-step", "--image-size", "16", "--channels", "1", "--width", "4", "--nz", "8", "--batch", "4", "--reps", "2", "--warmup", "1"];
    for mode in ["concat", "projection"] {
        let (code, stdout, stderr) = shadergan(&[&small[..], &["--conditional", mode]].concat());
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains(&format!("conditional ({mode}, 4 classes)")) && stdout.contains("ms/step") && stdout.contains("0 buffers created"), "{stdout}");
    }
    assert_one_line_error(&[&small[..], &["--model", "vae", "--conditional", "concat"]].concat(), &["--conditional concat", "--model dcgan"]);
}

#[test]
fn devices_lists_the_selected_adapter() {
    let (code, stdout, stderr) = shadergan(&["devices"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("<- selected"), "{stdout}");
}

#[test]
fn check_one_op_passes_and_reports_rows() {
    let (code, stdout, stderr) = shadergan(&["check", "--op", "loss", "--seed", "7"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("seed 7"), "{stdout}");
    assert!(stdout.contains("bce_with_logits_gradient") && stdout.contains("PASS"), "{stdout}");
    assert!(stdout.contains("checks passed"), "{stdout}");
}

#[test]
fn check_with_the_same_seed_prints_the_same_errors() {
    let (_, a, _) = shadergan(&["check", "--op", "batchnorm", "--seed", "42"]);
    let (_, b, _) = shadergan(&["check", "--op", "batchnorm", "--seed", "42"]);
    let strip = |s: &str| s.lines().filter(|l| !l.contains("checks passed in")).collect::<Vec<_>>().join("\n");
    assert_eq!(strip(&a), strip(&b), "a replayed seed must give the same inputs and, with fixed-order reductions, the same results");
}
