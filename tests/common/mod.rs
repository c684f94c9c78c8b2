//! Helpers shared by the command-line tests.

use std::process::Command;

/// Run the shadergan binary with `args` (no adapter/backend overrides from the environment;
/// Mesa's XDG_RUNTIME_DIR warning silenced): (exit status, stdout, stderr).
pub fn shadergan(args: &[&str]) -> (i32, String, String) {
    shadergan_env(args, &[])
}

/// Run shadergan with `args` (and `vars` set) and check that it fails with status 1 and exactly
/// one `error:` line, which contains every one of `needles`.
#[allow(dead_code)] // not every test file that includes this module refuses something
pub fn assert_one_error(args: &[&str], vars: &[(&str, &str)], needles: &[&str]) {
    let (code, _, stderr) = shadergan_env(args, vars);
    assert_eq!(code, 1, "{args:?}: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
    for n in needles {
        assert!(errors[0].contains(n), "{args:?}: {:?} lacks {n:?}", errors[0]);
    }
}

/// As `shadergan`, with these environment variables set.
pub fn shadergan_env(args: &[&str], vars: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shadergan"))
        .args(args)
        .envs(vars.iter().copied())
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .env_remove("SHADERGAN_ADAPTER")
        .env_remove("SHADERGAN_BACKEND")
        .output()
        .expect("run shadergan");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}
